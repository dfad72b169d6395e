/**
 * The standalone linker's parts and its behaviour on bad input: the body re-indexer (code.ts)
 * on every instruction family it accepts and on the ones it refuses; standalone compilation of
 * mutated objects (only typed errors, or a module every engine accepts, never a crash or an
 * internal error).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import { readBodies, readSections, Section } from '../standalone/binary.js';
import { remapBody } from '../standalone/code.js';
import { compileStandalone } from '../standalone/standalone.js';
import { cObject } from '../../test/support/fixtures.js';
import { arbMutation, FAMILIES, mutateObject, sitesOf } from './object-mutations.js';

async function wat(text: string): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const m = wabt.parseWat('t.wat', text, { multi_value: true, bulk_memory: true, sign_extension: true, sat_float_to_int: true, reference_types: true });
  return new Uint8Array(m.toBinary({}).buffer);
}

/** A function using every family the re-indexer knows. */
const ALL = `(module
  (type $t2 (func (param i32) (result i32 i32)))
  (import "env" "f" (func $imp (param i32) (result i32)))
  (memory 1)
  (table 2 funcref)
  (global $g (mut i64) (i64.const 7))
  (func $callee (param i32) (result i32 i32) (local.get 0) (local.get 0))
  (func $main (param i32 i64) (result i64) (local f32 f64)
    (block $b (result i32) (local.get 0) (br_if $b) (drop) (i32.const 1))
    (drop)
    (loop $l (br_table $l $l 0 (i32.const 0)) )
    (if (i32.const 1) (then (nop)) (else (unreachable)))
    (call $imp (i32.const -5)) (drop)
    (call_indirect (type $t2) (i32.const 3) (i32.const 0)) (drop) (drop)
    (block (type $t2) (param i32) (result i32 i32) (local.get 0) (local.tee 0)) (drop) (drop)
    (select (result i32) (i32.const 1) (i32.const 2) (i32.const 0)) (drop)
    (global.set $g (i64.add (global.get $g) (i64.const -123456789012)))
    (local.set 2 (f32.const 1.5)) (local.set 3 (f64.const -2.25))
    (i64.store offset=8 align=4 (i32.const 16) (i64.extend8_s (local.get 1)))
    (drop (i32.trunc_sat_f32_s (local.get 2)))
    (memory.copy (i32.const 0) (i32.const 8) (i32.const 4))
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 4))
    (drop (memory.grow (memory.size)))
    (drop (ref.is_null (ref.func $callee)))
    (drop (table.size 0))
    (return (i64.load (i32.const 16))))
  (elem declare func $callee)
)`;

describe('code.ts: re-indexing function bodies', () => {
  it('identity remapping gives the same bytes for every instruction family it knows', async () => {
    const bytes = await wat(ALL);
    const bodies = readBodies(readSections(bytes).find((s) => s.id === Section.Code)!.payload);
    for (const b of bodies) expect(remapBody(b, { func: (i) => i, type: (i) => i, global: (i) => i })).toEqual(b);
  });

  it('moves call, ref.func, call_indirect, block type and global indices, and nothing else', async () => {
    const bytes = await wat(ALL);
    const body = readBodies(readSections(bytes).find((s) => s.id === Section.Code)!.payload)[1]!;
    const seen = { func: [] as number[], type: [] as number[], global: [] as number[] };
    const out = remapBody(body, {
      func: (i) => (seen.func.push(i), i + 200),
      type: (i) => (seen.type.push(i), i + 300),
      global: (i) => (seen.global.push(i), i + 5),
    });
    expect(seen).toEqual({ func: [0, 1], type: [0, 0], global: [0, 0] });
    // The remapped body decodes again, with the new indices.
    const again = { func: [] as number[], type: [] as number[], global: [] as number[] };
    remapBody(out, { func: (i) => (again.func.push(i), i), type: (i) => (again.type.push(i), i), global: (i) => (again.global.push(i), i) });
    expect(again).toEqual({ func: [200, 201], type: [300, 300], global: [5, 5] });
  });

  it('refuses SIMD, threads, segment access and unknown opcodes as internal errors, and truncated bodies', () => {
    const id = { func: (i: number): number => i, type: (i: number): number => i, global: (i: number): number => i };
    const cases = [
      [0, 0xfd, 12, ...new Array(16).fill(0), 0x1a, 0x0b], // v128.const
      [0, 0xfe, 0x00, 0x02, 0x00, 0x0b], // memory.atomic.notify
      [0, 0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 8, 0, 0, 0x0b], // memory.init
      [0, 0xfc, 9, 0, 0x0b], // data.drop
      [0, 0x06, 0x0b], // try (exceptions)
      [0, 0x12, 0, 0x0b], // return_call
      [0, 0x41], // truncated
      [0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x0b], // LEB too long
    ];
    for (const c of cases) {
      try {
        remapBody(new Uint8Array(c), id);
        throw new Error(`accepted ${c.map((x) => x.toString(16)).join(' ')}`);
      } catch (e) {
        expect(e).toBeInstanceOf(Bpf2WasmError);
        expect((e as Bpf2WasmError).code).toBe(ErrorCode.Internal);
      }
    }
  });
});

describe('compileStandalone on mutated objects: typed errors or a valid module', () => {
  const FIXTURES = ['printk', 'tail_calls', 'ringbuf_hello', 'loop_callback', 'lpm_blocklist'];
  it('no crash, no internal error, no invalid module', async () => {
    const pristine = new Map(FIXTURES.map((n) => [n, cObject(n)]));
    const sites = new Map(FIXTURES.map((n) => [n, sitesOf(pristine.get(n)!)]));
    const family = fc.constantFrom(...FAMILIES);
    await fc.assert(fc.asyncProperty(fc.constantFrom(...FIXTURES), family.chain((f) => fc.array(arbMutation(f), { minLength: 1, maxLength: 3 })), async (name, mutations) => {
      const bytes = mutateObject(pristine.get(name)!, sites.get(name)!, mutations);
      let wasm: Uint8Array;
      try {
        ({ wasm } = await compileStandalone(bytes, { optLevel: 0 }));
      } catch (e) {
        expect(e).toBeInstanceOf(Bpf2WasmError);
        expect((e as Bpf2WasmError).code).not.toBe(ErrorCode.Internal);
        return;
      }
      expect(WebAssembly.validate(new Uint8Array(wasm))).toBe(true);
    }), { numRuns: 150 });
  });
});
