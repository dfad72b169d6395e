/**
 * C source lines (.BTF.ext line info) carried to runtime faults, compile errors and `disasm`:
 * compiler/object/lines.ts renumbers them to the module's instructions, runtime/source-lines.ts stores
 * them in the `bpf2wasm.lines` section and adds `{ file, line, source }` to errors.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bpf2WasmError, BpfRuntimeError, CompileError, ErrorCode } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import { encodeSourceLines, LINES_SECTION, SourceLineTable, withSourceLine, type SourceLine } from '../../runtime/source-lines.js';
import { main, type CliIO } from '../cli/main.js';
import { compile } from '../compile.js';
import { loadObjectSpec } from '../elf/loader.js';
import { programSourceLines } from '../object/lines.js';
import { compileObject } from '../object/compile-object.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const object = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(root, 'test-programs/c', `${name}.o`)));
const FAULT_LINE = { file: './test-programs/c/fault.c', line: 17, source: 'return *p == 5 ? 1 : 2;' };

async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    readFile: async (p) => new Uint8Array(readFileSync(path.join(root, p))),
    writeFile: async () => undefined,
    stdout: (t) => { out += t; },
    stderr: (t) => { err += t; },
    now: () => 0,
  };
  const status = await main(argv, io);
  return { status, out, err };
}

function thrown(f: () => unknown): Bpf2WasmError {
  try {
    f();
  } catch (e) {
    if (e instanceof Bpf2WasmError) return e;
    throw e;
  }
  throw new Error('nothing was thrown');
}

describe('runtime faults name the C line', () => {
  it.each([0, 1, 2] as const)('a checked out-of-bounds read (-O%i): location and message carry fault.c:17 and its text', async (optLevel) => {
    const { wasm } = await compileObject(object('fault'), { optLevel, checked: true });
    expect(WebAssembly.Module.customSections(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), LINES_SECTION)).toHaveLength(1);
    const inst = await instantiate(wasm);
    const e = thrown(() => inst.run(new Uint8Array(256), { program: 'read_past_end' }));
    expect(e).toBeInstanceOf(BpfRuntimeError);
    expect(e.code).toBe(ErrorCode.MemoryFault);
    expect(e.location).toMatchObject({ insn: 0, ...FAULT_LINE });
    expect(e.message).toMatch(/^E_MEMORY_FAULT at insn 0, address 0x[0-9a-f]+: .*; \.\/test-programs\/c\/fault\.c:17: return \*p == 5 \? 1 : 2;$/);
  });

  it('the CLI prints file:line and the source text', async () => {
    const r = await cli('run', 'test-programs/c/fault.o', '--checked');
    expect(r.status).toBe(1);
    expect(r.err).toContain('E_MEMORY_FAULT at insn 0');
    expect(r.err).toContain('fault.c:17: return *p == 5 ? 1 : 2;');
  });

  it('a module without line info (raw bytecode) keeps its message as it was', async () => {
    const { wasm } = await compile(new Uint8Array([0x71, 0x11, 0x00, 0x10, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]), { checked: true });
    const inst = await instantiate(wasm);
    const e = thrown(() => inst.run(new Uint8Array(16)));
    expect(e.location.file).toBeUndefined();
    expect(e.message).not.toContain(';');
  });
});

describe('compile errors name the C line, through linking', () => {
  it('an invalid instruction in .text code linked into the second program names xdp_root.c:19', async () => {
    const spec = loadObjectSpec(object('xdp_root'));
    const third = spec.programs.find((p) => p.name === 'xdp_third')!;
    const mix = third.functions.find((f) => f.name === 'mix')!;
    // `r0 *= 31` is mix's second instruction; make it an unknown opcode.
    third.insns[(mix.pc + 1) * 8] = 0xff;
    const global = spec.programs[0]!.insns.length / 8 + mix.pc + 1;
    const e = await compileObject(spec, { optLevel: 0 }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(CompileError);
    expect((e as CompileError).code).toBe(ErrorCode.UnknownOpcode);
    expect((e as CompileError).location).toMatchObject({ insn: global, file: './test-programs/c/xdp_root.c', line: 19, source: 'return x * 31 + 7;' });
    expect((e as CompileError).message).toContain('xdp_root.c:19: return x * 31 + 7;');
  });
});

describe('the line table', () => {
  it('rows are renumbered per program and per linked function', () => {
    const spec = loadObjectSpec(object('xdp_root'));
    const rows = programSourceLines(spec.btfExt, spec.programs);
    const at = (pc: number) => rows.filter((r) => r.pc === pc).map((r) => `${r.line} ${r.source}`);
    // xdp_second at 0 (mix at 3), xdp_third at 7 (mix at 10), xdp_root at 14.
    expect(at(0)).toEqual(['24 return mix(2);']);
    expect(at(3)).toEqual(['18 static __attribute__((noinline)) int mix(int x) {']);
    expect(at(4)).toEqual(['19 return x * 31 + 7;']);
    expect(at(7)).toEqual(['29 return mix(3);']);
    expect(at(11)).toEqual(['19 return x * 31 + 7;']);
    expect(at(14)).toEqual(['45 int xdp_root(struct xdp_md *ctx) {']);
    expect(rows.every((r, i) => i === 0 || rows[i - 1]!.pc <= r.pc)).toBe(true);
    expect(programSourceLines(undefined, spec.programs)).toEqual([]);
  });

  it('encodes and decodes: lookup gives the last row at or before an instruction', () => {
    const rows: SourceLine[] = [
      { pc: 5, file: 'a.c', line: 3, source: 'x = 1;' },
      { pc: 0, file: 'a.c', line: 2, source: 'int f() {' },
      { pc: 9, file: 'b.h', line: 7, source: 'x = 1;' },
    ];
    const t = new SourceLineTable(encodeSourceLines(rows));
    expect(t.size).toBe(3);
    expect([0, 4, 5, 8, 9, 100].map((pc) => t.lookup(pc)?.line)).toEqual([2, 2, 3, 3, 7, 7]);
    expect(new SourceLineTable(encodeSourceLines([{ pc: 3, file: 'a.c', line: 1, source: '' }])).lookup(2)).toBeUndefined();
  });

  it('a malformed section gives an empty table, never an exception', () => {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const bad = [
      undefined, new Uint8Array(0), new Uint8Array([0xff, 0xfe]), enc(null), enc({ v: 2, files: [], text: [], rows: [] }),
      enc({ v: 1, files: ['a'], text: ['t'], rows: [0, 0, 1] }), enc({ v: 1, files: ['a'], text: ['t'], rows: [0, 1, 1, 0] }),
      enc({ v: 1, files: ['a'], text: ['t'], rows: [5, 0, 1, 0, 4, 0, 1, 0] }), enc({ v: 1, files: [1], text: ['t'], rows: [0, 0, 1, 0] }),
      enc({ v: 1, files: ['a'], text: ['t'], rows: [-1, 0, 1, 0] }), enc({ v: 1, files: ['a'], text: ['t'], rows: [0.5, 0, 1, 0] }),
    ];
    for (const payload of bad) expect(new SourceLineTable(payload).size).toBe(0);
    // Random bytes, and random JSON of about the right shape.
    const shaped = fc.record({
      v: fc.oneof(fc.constant(1), fc.jsonValue()), files: fc.array(fc.oneof(fc.string(), fc.integer())),
      text: fc.array(fc.string()), rows: fc.array(fc.oneof(fc.nat(8), fc.integer(), fc.double(), fc.string())),
    }).map((v) => new TextEncoder().encode(JSON.stringify(v)));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), shaped), fc.nat(), (bytes, pc) => {
      const t = new SourceLineTable(bytes);
      const row = t.lookup(pc);
      if (row) expect(row.pc).toBeLessThanOrEqual(pc);
      if (t.size === 0) expect(row).toBeUndefined();
    }), { numRuns: 500 });
  });

  it('withSourceLine keeps class, code, detail and cause; leaves errors without an instruction alone', () => {
    const t = new SourceLineTable(encodeSourceLines([{ pc: 0, file: 'f.c', line: 9, source: 'return 1;' }]));
    const cause = new Error('inner');
    const e = new BpfRuntimeError(ErrorCode.MemoryFault, 'boom', { insn: 2, address: 16 }, { cause });
    const out = withSourceLine(e, t);
    expect(out).toBeInstanceOf(BpfRuntimeError);
    expect(out).toMatchObject({ code: ErrorCode.MemoryFault, detail: 'boom', cause, location: { insn: 2, address: 16, file: 'f.c', line: 9, source: 'return 1;' } });
    expect(out.message).toBe('E_MEMORY_FAULT at insn 2, address 0x10: boom; f.c:9: return 1;');
    const noInsn = new BpfRuntimeError(ErrorCode.MapOp, 'x', { map: 'm' });
    expect(withSourceLine(noInsn, t)).toBe(noInsn);
    expect(withSourceLine(e, undefined)).toBe(e);
    const plain = new Error('not ours');
    expect(withSourceLine(plain, t)).toBe(plain);
    expect(withSourceLine(out, t)).toBe(out);
  });
});

describe('disasm OBJ interleaves the C lines (llvm-objdump -S)', () => {
  it('function labels and the C line before the instructions that start it', async () => {
    const r = await cli('disasm', 'test-programs/c/xdp_root.o', '--program', 'xdp_third');
    expect(r.status).toBe(0);
    expect(r.out).toBe([
      '<xdp_third>:',
      '; ./test-programs/c/xdp_root.c:29: return mix(3);',
      '   0:\tr1 = 3',
      '   1:\tcall pc+1',
      '   2:\texit',
      '',
      '<mix>:',
      '; ./test-programs/c/xdp_root.c:18: static __attribute__((noinline)) int mix(int x) {',
      '   3:\tr0 = r1',
      '; ./test-programs/c/xdp_root.c:19: return x * 31 + 7;',
      '   4:\tr0 *= 31',
      '   5:\tr0 += 7',
      '   6:\texit',
      '',
    ].join('\n'));
  });

  it('--no-source prints the instructions only', async () => {
    const r = await cli('disasm', 'test-programs/c/fault.o', '--no-source');
    expect(r.out).toBe('   0:\tr1 = *(u8 *)(r1 + 4096)\n   1:\tr0 = 1\n   2:\tif r1 == 5 goto +1\n   3:\tr0 = 2\n   4:\texit\n');
  });
});
