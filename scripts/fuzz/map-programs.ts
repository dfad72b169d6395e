/**
 * Random objects whose programs call maps: an object spec (the form `compileObject` and
 * `planObject` take after the ELF loader) with a HASH, an ARRAY, an LRU_HASH and a PROG_ARRAY, and
 * two or three programs made of random statements: updates (any flags, invalid ones included),
 * lookups that read and change the value in place (plain or atomic), deletes, lookups through a
 * pointer that is no map, and tail calls through the PROG_ARRAY. Each program folds what the
 * helpers returned into r0. Used by the engines' differential test (compiler/test/differential.test.ts).
 */
import fc from 'fast-check';
import type { MapSpec, ObjectSpec, ProgramSpec } from '../../compiler/elf/loader.js';
import { MapType } from '../../runtime/uapi/index.js';

/** The maps of every generated object: index, name, type, max_entries. */
export const FUZZ_MAPS: readonly { name: string; type: number; maxEntries: number; keySize: number; valueSize: number }[] = [
  { name: 'hash', type: MapType.HASH, maxEntries: 6, keySize: 4, valueSize: 8 },
  { name: 'array', type: MapType.ARRAY, maxEntries: 4, keySize: 4, valueSize: 8 },
  { name: 'lru', type: MapType.LRU_HASH, maxEntries: 4, keySize: 4, valueSize: 8 },
  { name: 'progs', type: MapType.PROG_ARRAY, maxEntries: 4, keySize: 4, valueSize: 4 },
];
const PROGS = 3;

/** One statement of a generated program. */
export type MapStmt =
  | { k: 'update'; map: number; key: number; value: bigint; flags: number }
  | { k: 'lookup'; map: number; key: number; add: number; atomic: boolean }
  | { k: 'delete'; map: number; key: number }
  | { k: 'badptr'; ptr: number; key: number }
  | { k: 'tail'; slot: number };

/** A generated object: its programs' statements and the PROG_ARRAY slots (program numbers). */
export interface MapFuzzCase {
  programs: MapStmt[][];
  slots: { index: number; program: number }[];
  checked: boolean;
}

const key = fc.integer({ min: 0, max: 8 });
const dataMap = fc.integer({ min: 0, max: 2 });
const stmt: fc.Arbitrary<MapStmt> = fc.oneof(
  fc.record({ k: fc.constant('update' as const), map: dataMap, key, value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), flags: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ k: fc.constant('lookup' as const), map: dataMap, key, add: fc.integer({ min: -5, max: 1000 }), atomic: fc.boolean() }),
  fc.record({ k: fc.constant('delete' as const), map: dataMap, key }),
  fc.record({ k: fc.constant('badptr' as const), ptr: fc.constantFrom(0, 8, 0x1000, 0x2000, 0x2001, 0x2040, 0x2080, 0x20c0, 0x3000, 0x7fff_fff0), key }),
  fc.record({ k: fc.constant('tail' as const), slot: fc.integer({ min: -1, max: 5 }) }),
);

/** Random objects with map calls. */
export const arbMapFuzzCase: fc.Arbitrary<MapFuzzCase> = fc.record({
  programs: fc.array(fc.array(stmt, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: PROGS }),
  slots: fc.array(fc.record({ index: fc.integer({ min: 0, max: 3 }), program: fc.integer({ min: 0, max: PROGS - 1 }) }), { maxLength: 4 }),
  checked: fc.boolean(),
});

// Instruction encoding (8-byte slots).
function insn(op: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  b[0] = op;
  b[1] = (src << 4) | dst;
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return [...b];
}
const lddw = (dst: number, src: number, value: bigint): number[] => [
  ...insn(0x18, dst, src, 0, Number(BigInt.asIntN(32, value))),
  ...insn(0, 0, 0, 0, Number(BigInt.asIntN(32, value >> 32n))),
];
const mov = (dst: number, imm: number): number[] => insn(0xb7, dst, 0, 0, imm);
const movr = (dst: number, src: number): number[] => insn(0xbf, dst, src, 0, 0);
const addi = (dst: number, imm: number): number[] => insn(0x07, dst, 0, 0, imm);
const addr = (dst: number, src: number): number[] => insn(0x0f, dst, src, 0, 0);
const xorr = (dst: number, src: number): number[] => insn(0xaf, dst, src, 0, 0);
const stw = (off: number, imm: number): number[] => insn(0x62, 10, 0, off, imm);
const call = (id: number): number[] => insn(0x85, 0, 0, 0, id);
const slotsOf = (code: number[]): number => code.length / 8;
/** r2 = &key (the key stored at r10 - 4). */
const keyArg = (k: number): number[] => [...stw(-4, k), ...movr(2, 10), ...addi(2, -4)];

function lower(s: MapStmt): number[] {
  switch (s.k) {
    case 'update':
      return [
        ...keyArg(s.key), ...lddw(3, 0, s.value), ...insn(0x7b, 10, 3, -16, 0),
        ...lddw(1, 1, BigInt(s.map)), ...movr(3, 10), ...addi(3, -16), ...mov(4, s.flags), ...call(2), ...addr(8, 0),
      ];
    case 'lookup': {
      const found = s.atomic
        ? [...insn(0x79, 1, 0, 0, 0), ...xorr(6, 1), ...mov(1, s.add), ...insn(0xdb, 0, 1, 0, 0)]
        : [...insn(0x79, 1, 0, 0, 0), ...xorr(6, 1), ...addi(1, s.add), ...insn(0x7b, 0, 1, 0, 0)];
      const notFound = addi(7, 1);
      return [
        ...keyArg(s.key), ...lddw(1, 1, BigInt(s.map)), ...call(1),
        ...insn(0x15, 0, 0, slotsOf(found) + 1, 0), ...found, ...insn(0x05, 0, 0, slotsOf(notFound), 0), ...notFound,
      ];
    }
    case 'delete':
      return [...keyArg(s.key), ...lddw(1, 1, BigInt(s.map)), ...call(3), ...addr(8, 0)];
    case 'badptr':
      return [...keyArg(s.key), ...lddw(1, 0, BigInt(s.ptr)), ...call(1), ...insn(0x15, 0, 0, 1, 0), ...addi(7, 3)];
    case 'tail':
      return [...movr(1, 9), ...lddw(2, 1, 3n), ...mov(3, s.slot), ...call(12), ...addr(7, 0)];
  }
}

/** The program `prog<n>` of a case: r9 keeps the context; r6, r7, r8 fold results into r0. */
function programCode(stmts: readonly MapStmt[]): Uint8Array {
  const code = [...movr(9, 1), ...mov(6, 0), ...mov(7, 0), ...mov(8, 0)];
  for (const s of stmts) code.push(...lower(s));
  code.push(...movr(0, 6), ...addr(0, 7), ...xorr(0, 8), ...insn(0x95, 0, 0, 0, 0));
  return Uint8Array.from(code);
}

/** The object spec of a case. */
export function mapFuzzObject(c: MapFuzzCase): ObjectSpec {
  const programs: ProgramSpec[] = c.programs.map((stmts, i) => {
    const insns = programCode(stmts);
    const name = `prog${i}`;
    return { name, section: `raw_tracepoint/${name}`, type: 'raw_tracepoint', insns, functions: [{ name, section: `raw_tracepoint/${name}`, pc: 0, length: insns.length / 8 }] };
  });
  const maps: MapSpec[] = FUZZ_MAPS.map((m, index) => ({
    ...m, index, flags: 0, pinning: 0, numaNode: 0, mapExtra: 0, section: '.maps', offset: index * 32, size: 32,
  }));
  return { kfuncs: [], programs, maps, license: 'GPL' };
}
