/**
 * CompileOptions.mapAllInstructions: the instruction map (bpf2wasm.insnmap) records where the
 * code of every instruction starts, not only of the ones that can trap, at -O0; traps still name
 * the instruction that faulted, and the option changes nothing else in the module.
 */
import { describe, expect, it } from 'vitest';
import { assemble, compile } from '../index.js';
import { instantiate, isBpf2WasmError } from '../../runtime/index.js';
import { INSN_MAP_SECTION } from '../../runtime/abi.js';

/** The instructions the section names, in offset order. */
function mappedInsns(wasm: Uint8Array): number[] {
  const payload = WebAssembly.Module.customSections(new WebAssembly.Module(wasm as BufferSource), INSN_MAP_SECTION)[0]!;
  const w = new Uint32Array(payload.slice(0));
  const n = w[0]!;
  return [...w.subarray(1 + n, 1 + 2 * n)];
}

/** The bytes of the code section (id 10). */
function codeSection(wasm: Uint8Array): Uint8Array {
  let o = 8;
  while (o < wasm.length) {
    const id = wasm[o++]!;
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = wasm[o++]!;
      size |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
    }
    if (id === 10) return wasm.slice(o, o + size);
    o += size;
  }
  throw new Error('no code section');
}

const PROGRAM = `mov %r0, 1
mov %r3, 7
add %r3, %r0
lsh %r3, 2
ldxdw %r4, [%r1+0]
jeq %r4, 0, skip
mov %r0, %r3
skip:
ldxdw %r0, [%r1+4096]
exit`;

describe('mapAllInstructions', () => {
  it('maps every instruction with code at -O0, in program order', async () => {
    const bytes = assemble(PROGRAM);
    const sparse = mappedInsns((await compile(bytes, { optLevel: 0 })).wasm);
    const full = mappedInsns((await compile(bytes, { optLevel: 0, mapAllInstructions: true })).wasm);
    expect(new Set(sparse)).toEqual(new Set([4, 7]));             // the loads only
    expect([...new Set(full)]).toEqual([0, 1, 2, 3, 4, 6, 7]);     // all but the jump and exit
  });

  it('leaves trap locations as they were', async () => {
    const bytes = assemble(PROGRAM);
    for (const mapAllInstructions of [false, true]) {
      const { wasm } = await compile(bytes, { optLevel: 0, checked: true, mapAllInstructions });
      const inst = await instantiate(wasm);
      let err: unknown;
      try {
        inst.run(new Uint8Array(8));
      } catch (e) {
        err = e;
      }
      expect(isBpf2WasmError(err) && err.code).toBe('E_MEMORY_FAULT');
      expect(isBpf2WasmError(err) && err.location.insn).toBe(7);
    }
  });

  it('is ignored above -O0 and changes no code', async () => {
    const bytes = assemble(PROGRAM);
    const a = await compile(bytes, { optLevel: 0 });
    const b = await compile(bytes, { optLevel: 0, mapAllInstructions: true });
    expect(codeSection(b.wasm)).toEqual(codeSection(a.wasm));
    expect(b.wasm.length).toBeGreaterThan(a.wasm.length);
    const o1 = mappedInsns((await compile(bytes, { optLevel: 1, mapAllInstructions: true })).wasm);
    expect(new Set(o1)).toEqual(new Set([4, 7]));
  });
});
