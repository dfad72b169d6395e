/**
 * kfunc calls (test-programs/c/kfuncs.c): extern `__ksym` functions become imports by name, with
 * the Wasm signature of their BTF prototype, provided by the host through `kfuncs`.
 */
import { describe, expect, it } from 'vitest';
import { runFrame } from '../../test/support/frames.js';
import { cObject } from '../../test/support/fixtures.js';
import { compileObject } from '../object/compile-object.js';
import { loadObjectSpec } from '../elf/loader.js';
import { instantiate } from '../../runtime/instance.js';
import { Bpf2WasmError } from '../../runtime/errors.js';

const obj = cObject('kfuncs');

describe('kfuncs', () => {
  it('the loader records the extern functions and rewrites their calls to kfunc calls', () => {
    const spec = loadObjectSpec(obj);
    expect(spec.kfuncs.map((k) => k.name)).toEqual(['bpf2wasm_hash', 'bpf2wasm_note']);
    expect(spec.kfuncs.every((k) => k.btfId !== undefined)).toBe(true);
    const insns = spec.programs[0]!.insns;
    const calls: Array<[number, number]> = [];
    for (let i = 0; i < insns.length; i += 8) {
      if (insns[i] === 0x85) calls.push([insns[i + 1]! >> 4, new DataView(insns.buffer, insns.byteOffset + i + 4, 4).getInt32(0, true)]);
    }
    expect(calls).toEqual([[2, 0], [2, 1]]);
  });

  it('imports them by name with their BTF signatures', async () => {
    const { manifest } = await compileObject(obj);
    expect(manifest.helpers.map((h) => [h.name, h.kfunc, h.signature])).toEqual([
      ['bpf2wasm_hash', true, { args: ['i32', 'i32'], result: 'i64' }],
      ['bpf2wasm_note', true, { args: ['i32'], result: 'void' }],
    ]);
  });

  it('fails to instantiate without them, naming the first', async () => {
    const { wasm } = await compileObject(obj);
    const e = await instantiate(wasm).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(Bpf2WasmError);
    expect((e as Bpf2WasmError).code).toBe('E_UNKNOWN_HELPER');
    expect((e as Bpf2WasmError).location.helper).toBe('bpf2wasm_hash');
    // A kfunc is found by name only: a helper registered under that name does not count.
    const e2 = await instantiate(wasm, {
      helpers: [{ id: 0, name: 'bpf2wasm_hash', fn: () => 0n }],
      kfuncs: { bpf2wasm_note: () => undefined },
    }).then(() => null, (x: unknown) => x);
    expect((e2 as Bpf2WasmError).code).toBe('E_UNKNOWN_HELPER');
  });

  it.each([0, 1, 2] as const)('runs with host kfuncs at -O%i', async (optLevel) => {
    const { wasm } = await compileObject(obj, { optLevel });
    const notes: number[] = [];
    const inst = await instantiate(wasm, {
      kfuncs: {
        bpf2wasm_hash: (data: number, len: number): bigint =>
          BigInt(new Uint8Array(inst.memory.buffer, data >>> 0, len >>> 0).reduce((a, b) => a + b, 0)),
        bpf2wasm_note: (code: number): void => { notes.push(code); },
      },
    });
    expect(runFrame(inst, Uint8Array.from([1, 2, 3, 4])).r0).toBe(1n);
    expect(runFrame(inst, Uint8Array.from([1, 2, 3, 5])).r0).toBe(2n);
    expect(runFrame(inst, Uint8Array.from([1, 2])).r0).toBe(0n);
    expect(notes).toEqual([10, 11]);
  });
});
