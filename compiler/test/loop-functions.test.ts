/**
 * The batch and repeat loops the direct writer appends (WModule `appended`, built by
 * compiler/repeat-export.ts `loopFunctions` from the entries' trees) against the same loops added
 * to the written module afterwards (compiler/batch-export.ts `addLoopExports`, which decodes the
 * entries' bodies again, as -O1 and -O2 still do): the same module, byte for byte, and a module
 * that runs.
 */
import { describe, expect, it } from 'vitest';
import { INSN_MAP_SECTION, MANIFEST_SECTION } from '../../runtime/abi.js';
import { instantiate } from '../../runtime/instance.js';
import { assemble } from '../asm/assemble.js';
import { addLoopExports, batchExports, shiftInsnMap } from '../batch-export.js';
import { compile, planModule, type CompileOptions } from '../compile.js';
import { encodeInsnMapColumns } from '../../runtime/insnmap.js';
import { insnMapHasOffsetIn, repeatExports } from '../repeat-export.js';
import { appendCustomSections } from '../sections.js';
import { writeModule } from '../wasm-writer.js';

/** The module `compile` wrote before the writer appended the loops: written, then the loops added to the bytes. */
async function reference(bytes: Uint8Array, options: CompileOptions): Promise<Uint8Array> {
  const { emitted, manifest } = planModule(bytes, options);
  const written = writeModule(emitted.module);
  const insnMap = encodeInsnMapColumns(written.insnOffsets, written.insnIndices);
  const loops = addLoopExports(written.binary, [
    ...batchExports(manifest.programs.flatMap((p) => {
      const kind = p.context === 'xdp_md' ? 'xdp' as const : p.context === '__sk_buff' ? 'skb' as const : undefined;
      return kind ? [{ exportName: p.exportName, kind }] : [];
    })),
    ...(options.repeatLoops === false ? [] : repeatExports(manifest.programs, true, (s, e) => insnMapHasOffsetIn(insnMap, s, e))),
  ]);
  return appendCustomSections(loops.binary, [
    [INSN_MAP_SECTION, shiftInsnMap(insnMap, loops.shift)],
    [MANIFEST_SECTION, new TextEncoder().encode(JSON.stringify(manifest))],
  ]);
}

const exportsOf = (wasm: Uint8Array): string[] => WebAssembly.Module.exports(new WebAssembly.Module(wasm.slice())).map((e) => e.name);

// A load from r1 (a mapped instruction), a helper call, a bpf-to-bpf call: r0 = 4 + the u32 at r1.
const PROGRAM = [
  'mov %r6, %r1',
  'ldxw %r7, [%r6+0]',
  'mov %r1, 5',
  'call 5',
  'call local fn',
  'add %r0, %r7',
  'exit',
  'fn: mov %r0, 4',
  'exit',
].join('\n');

const CASES: Array<[string, CompileOptions]> = [
  ['one raw program', {}],
  ['every instruction mapped', { mapAllInstructions: true }],
  ['checked, with a budget', { checked: true, budget: 1000 }],
  ['without repeat loops (batch loops only)', { repeatLoops: false, entries: [{ name: 'x', pc: 0, type: 'xdp' }] }],
  ['xdp and tc entries (batch and repeat loops)', { entries: [{ name: 'x', pc: 0, type: 'xdp' }, { name: 't', pc: 0, type: 'tc' }] }],
  ['a loop name an entry already has (that loop left out)', {
    entries: [{ name: 'main', pc: 0 }, { name: 'main__repeat', pc: 0, type: 'xdp' }, { name: 'main__repeat__batch2', pc: 0 }],
  }],
  ['helpers declared, programs split into chunks', { helpers: [{ id: 5 }], chunkInsns: 2 }],
];

describe('loops written with the module (WModule appended)', () => {
  for (const [name, options] of CASES) {
    it(`${name}: the same bytes as adding them to the written module, and a module that runs`, async () => {
      const bytes = assemble(PROGRAM);
      const { wasm } = await compile(bytes, { ...options, optLevel: 0 });
      const expected = await reference(bytes, options);
      expect(wasm.length).toBe(expected.length);
      expect(Buffer.from(wasm).equals(Buffer.from(expected))).toBe(true);
      const names = exportsOf(wasm);
      for (const e of options.entries ?? [{ name: 'main' }]) {
        expect(names).toContain(e.name);
        if (options.repeatLoops !== false && !names.includes(`${e.name}__repeat`)) {
          // Left out only where an entry of that name exists.
          expect((options.entries ?? []).some((o) => o.name === `${e.name}__repeat`)).toBe(true);
        }
      }
      const inst = await instantiate(wasm, { helpers: [{ id: 5, fn: (): bigint => 0n }] });
      const raw = (options.entries ?? [{ name: 'main' }]).find((e) => !('type' in e));
      if (raw) {
        const prog = inst.program(raw.name);
        const ctx = new Uint8Array(64);
        ctx[0] = 41;
        const once = prog.run(ctx);
        expect(once).toBe(45n);
        expect(prog.test({ dataIn: ctx, repeat: 3 }).retval).toBe(45);
      }
    });
  }

  it('the instruction map names the instruction behind a fault in a module with appended loops', async () => {
    const bytes = assemble('ldxdw %r0, [%r1+0]\nmov %r1, 0\nldxdw %r0, [%r1+8]\nexit');
    const { wasm } = await compile(bytes, { optLevel: 0, checked: true });
    expect(exportsOf(wasm)).toContain('main__repeat');
    const inst = await instantiate(wasm);
    expect(() => inst.program().run(new Uint8Array(16))).toThrow(expect.objectContaining({ location: expect.objectContaining({ insn: 2 }) }));
  });

  it('names are written as UTF-8 (ASCII byte by byte, others through the encoder): a helper import named héllo_🙂', async () => {
    const { wasm } = await compile(assemble('call 5\nexit'), { optLevel: 0, helpers: [{ id: 5, name: 'héllo_🙂' }] });
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(wasm.slice())).map((i) => `${i.module}.${i.name}`);
    expect(imports).toContain('helpers.héllo_🙂');
    expect(exportsOf(wasm)).toEqual(expect.arrayContaining(['main', 'main__repeat']));
  });
});
