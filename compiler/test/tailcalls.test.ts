/**
 * Inline bpf_tail_call (compiler/emit.ts) against forged PROG_ARRAY pointers: only the module's
 * own descriptors name programs; anything else falls through with r0 = -ENOENT, as a failed tail
 * call does in the kernel, without a trap.
 */
import { describe, expect, it } from 'vitest';
import { cObject } from '../../test/support/fixtures.js';
import { assemble } from '../asm/assemble.js';
import { loadObjectSpec, type ObjectSpec } from '../elf/loader.js';
import { compileObject } from '../object/compile-object.js';
import { instantiate } from '../../runtime/instance.js';

const spec = loadObjectSpec(cObject('tail_calls'));
const ENOENT = BigInt.asUintN(64, -2n);

/** tail_calls.o with `hello` replaced by `source`. */
function withHello(source: string): ObjectSpec {
  const insns = assemble(source);
  return {
    ...spec,
    programs: spec.programs.map((p) => (p.name === 'hello'
      ? { ...p, insns, functions: [{ name: 'hello', section: p.section, pc: 0, length: insns.length / 8 }] }
      : p)),
  };
}

/** A fake PROG_ARRAY descriptor at r10-64 whose one slot (at r10-8) names program 0. */
const FORGED = [
  'stw [%r10-64], 3', 'stw [%r10-52], 1', 'mov %r2, %r10', 'sub %r2, 8', 'stxw [%r10-40], %r2', 'stw [%r10-8], 1',
];

describe('inline tail calls', () => {
  it.each([0, 1] as const)('a forged PROG_ARRAY descriptor falls through with -ENOENT (-O%i, checked)', async (optLevel) => {
    const { wasm } = await compileObject(withHello([...FORGED, 'mov %r2, %r10', 'sub %r2, 64', 'mov %r3, 0', 'call 12', 'exit'].join('\n')), { optLevel, checked: true });
    const traces: string[] = [];
    const inst = await instantiate(wasm, { trace: (l) => traces.push(l) });
    expect(inst.run(new Uint8Array(16), { program: 'hello' })).toBe(ENOENT);
    expect(traces).toEqual([]);
  });

  it('a misaligned pointer into the real descriptor table falls through too', async () => {
    const source = ['lddw %r2, 0', 'add %r2, 4', 'mov %r3, 59', 'call 12', 'exit'].join('\n');
    // lddw src 1 (the map) is what clang writes; here the immediate is patched to map 0 below.
    const s = withHello(source);
    const hello = s.programs.find((p) => p.name === 'hello')!;
    hello.insns[1] = (hello.insns[1]! & 0x0f) | (1 << 4);
    const { wasm } = await compileObject(s);
    const inst = await instantiate(wasm, { trace: () => undefined });
    expect(inst.run(new Uint8Array(16), { program: 'hello' })).toBe(ENOENT);
  });

  it('the real PROG_ARRAY pointer still tail-calls', async () => {
    const source = ['lddw %r2, 0', 'mov %r3, 59', 'call 12', 'mov %r0, 77', 'exit'].join('\n');
    const s = withHello(source);
    const hello = s.programs.find((p) => p.name === 'hello')!;
    hello.insns[1] = (hello.insns[1]! & 0x0f) | (1 << 4);
    const { wasm } = await compileObject(s);
    const traces: string[] = [];
    const inst = await instantiate(wasm, { trace: (l) => traces.push(l) });
    // Slot 59 holds hello_exec, which prints and returns 0.
    expect(inst.run(new Uint8Array(16), { program: 'hello' })).toBe(0n);
    expect(traces).toEqual(['execve syscall']);
  });
});
