/**
 * Type descriptors: BTF -> descriptor (compiler/btf/typedesc.ts) on the committed clang objects
 * and on hand-built BTF, and the runtime's decoding, encoding and formatting
 * (runtime/values.ts): round trips, bitfields, enums, nested and anonymous members, char
 * arrays, integer edge cases one by one, and forged descriptors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cObject, objectFiles } from '../../test/support/fixtures.js';
import { BpfRuntimeError, ErrorCode } from '../../runtime/errors.js';
import {
  checkTypeDesc, decodeValue, encodeValue, formatValue, isCharArray, type TypeDesc,
} from '../../runtime/values.js';
import { BtfKind, type Btf } from '../btf/types.js';
import { type MapDef } from '../elf/map-defs.js';
import { loadObjectSpec, type ObjectSpec } from '../elf/loader.js';
import { ElfError } from '../elf/elf64.js';
import { BtfWriter } from '../../test/support/btf-writer.js';
import { mapTypeDescs, TYPEDESC_MAX_NESTING, TYPEDESC_MAX_NODES, typeDescOf } from '../btf/typedesc.js';

const C_OBJECTS = objectFiles('test-programs/c');

const specs = new Map<string, ObjectSpec>();
function spec(name: string): ObjectSpec {
  let s = specs.get(name);
  if (!s) specs.set(name, (s = loadObjectSpec(cObject(name))));
  return s;
}
function map(object: string, name: string) {
  const s = spec(object);
  const m = s.maps.find((x) => x.name === name);
  if (!m) throw new Error(`${object} has no map ${name}`);
  return { map: m, descs: mapTypeDescs(m, s.btf) };
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (s: string) => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)));

/** Runs `f`, expecting a BpfRuntimeError E_BAD_ARGUMENT; returns its detail. */
function badArgument(f: () => unknown): string {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a BpfRuntimeError').toBeInstanceOf(BpfRuntimeError);
  expect((caught as BpfRuntimeError).code).toBe(ErrorCode.BadArgument);
  return (caught as BpfRuntimeError).detail;
}

const U32: TypeDesc = { kind: 'int', name: '__u32', size: 4, signed: false };
const U64: TypeDesc = { kind: 'int', name: '__u64', size: 8, signed: false };
const INT: TypeDesc = { kind: 'int', name: 'int', size: 4, signed: true };
const CHAR: TypeDesc = { kind: 'int', name: 'char', size: 1, signed: true, char: true };

// ---------------------------------------------------------------------------------------------
// Hand-built types: ./btf-writer.ts.


/**
 * The BTF clang 14 (`-O2 -g -target bpf`) emits for this struct, type for type, and the bytes of
 * a global initialised as below (its .data section), so the layout the descriptor describes is
 * the compiler's, not ours:
 *
 *     enum state { IDLE = 0, RUNNING = 3, DONE = -2 };
 *     enum big { BIG_MIN = 0, BIG_MAX = 0xffffffffffffffffULL };   // clang 14: ENUM, 32-bit values
 *     struct flags {
 *       unsigned int a : 3; int b : 5; unsigned long long c : 40; enum state st : 4; _Bool on : 1;
 *       unsigned short tail;
 *       union { __u32 word; struct { __u16 lo, hi; }; };
 *       char name[6]; enum big bg; float f; double d;
 *     } gflags = { .a = 5, .b = -7, .c = 0x12345678AB, .st = DONE, .on = 1, .tail = 0xbeef,
 *                  .word = 0x11223344, .name = "hi", .bg = BIG_MAX, .f = 1.5f, .d = -2.25 };
 */
function clangFlags(): { btf: Btf; id: number; bytes: Uint8Array } {
  const w = new BtfWriter();
  const uint = w.int('unsigned int', 4);
  const int = w.int('int', 4, 1);
  const ull = w.int('unsigned long long', 8);
  const state = w.enum('state', 4, [['IDLE', 0], ['RUNNING', 3], ['DONE', 4294967294]]);
  const bool = w.int('_Bool', 1, 4);
  const ushort = w.int('unsigned short', 2);
  const u32 = w.ref(BtfKind.TYPEDEF, uint, '__u32');
  const u16 = w.ref(BtfKind.TYPEDEF, ushort, '__u16');
  const halves = w.struct('', 4, [['lo', u16, 0], ['hi', u16, 16]]);
  const either = w.struct('', 4, [['word', u32, 0], ['', halves, 0]], true);
  const char = w.int('char', 1, 1);
  const index = w.int('__ARRAY_SIZE_TYPE__', 4);
  const name = w.array(char, index, 6);
  const big = w.enum('big', 8, [['BIG_MIN', 0], ['BIG_MAX', 4294967295]]);
  const float = w.raw('float', BtfKind.FLOAT, 0, 4);
  const double = w.raw('double', BtfKind.FLOAT, 0, 8);
  const id = w.struct('flags', 48, [
    ['a', uint, 0, 3], ['b', int, 3, 5], ['c', ull, 8, 40], ['st', state, 48, 4], ['on', bool, 52, 1],
    ['tail', ushort, 64, 0], ['', either, 96, 0], ['name', name, 128, 0], ['bg', big, 192, 0],
    ['f', float, 256, 0], ['d', double, 320, 0],
  ]);
  const bytes = fromHex('cdab785634121e00efbe0000443322116869000000000000ffffffffffffffff0000c03f0000000000000000000002c0');
  return { btf: w.parse(), id, bytes };
}

// ---------------------------------------------------------------------------------------------

describe('typeDescOf and mapTypeDescs on the committed objects', () => {
  it('finds the objects', () => {
    expect(C_OBJECTS.length).toBeGreaterThan(10);
  });

  it('uid_counter: a HASH of __u32 -> __u64', () => {
    expect(map('uid_counter', 'counter_table').descs).toEqual({ key: U32, value: U64 });
  });

  it('map_options: struct key with padding, typedef-named struct value, maps without BTF types', () => {
    const u16: TypeDesc = { kind: 'int', name: '__u16', size: 2, signed: false };
    const u8: TypeDesc = { kind: 'int', name: '__u8', size: 1, signed: false };
    expect(map('map_options', 'flows').descs).toEqual({
      key: {
        kind: 'struct', name: 'struct flow_key', size: 16, members: [
          { name: 'saddr', offset: 0, type: U32 }, { name: 'daddr', offset: 4, type: U32 },
          { name: 'sport', offset: 8, type: u16 }, { name: 'dport', offset: 10, type: u16 },
          { name: 'proto', offset: 12, type: u8 },
        ],
      },
      value: {
        kind: 'struct', name: 'flow_stats_t', size: 16, members: [
          { name: 'packets', offset: 0, type: U64 }, { name: 'bytes', offset: 8, type: U64 },
        ],
      },
    });
    expect(map('map_options', 'seen').descs).toEqual({ value: U32 });
    expect(map('map_options', 'scratch').descs).toEqual({});
    expect(map('ringbuf_hello', 'output').descs).toEqual({});
    expect(map('tail_calls', 'syscall').descs).toEqual({ key: U32 });
    expect(map('legacy_maps', 'legacy_counts').descs).toEqual({});
  });

  it('map_in_map: the inner map definition has types too', () => {
    const outer = spec('map_in_map').maps.find((m) => m.name === 'outer_hash')!;
    expect(mapTypeDescs(outer.innerMap!, spec('map_in_map').btf)).toEqual({ key: U64, value: U64 });
  });

  it('global_data: variables of .data and .bss, and the section as one struct', () => {
    const data = map('global_data', '.data');
    const config: TypeDesc = {
      kind: 'struct', name: 'struct config', size: 8,
      members: [{ name: 'step', offset: 0, type: U32 }, { name: 'limit', offset: 4, type: U32 }],
    };
    expect(data.descs.variables).toEqual([
      { name: 'config', offset: 0, size: 8, type: config },
      { name: 'calls_left', offset: 8, size: 4, type: INT },
    ]);
    expect(data.descs.key).toEqual(U32);
    expect(decodeValue(data.descs.value!, data.map.initialData!)).toEqual({ config: { step: 2, limit: 1000 }, calls_left: 3 });

    const bss = map('global_data', '.bss');
    expect(bss.descs.variables!.map((v) => [v.name, v.offset, v.size])).toEqual([['packets', 0, 8], ['bytes', 8, 8], ['last_bytes', 16, 8]]);
    // __u8[8] is an array of numbers, not a string: only char arrays are strings.
    expect(decodeValue(bss.descs.value!, bss.map.initialData!)).toEqual({ packets: 0n, bytes: 0n, last_bytes: [0, 0, 0, 0, 0, 0, 0, 0] });
  });

  it('rodata_config: const volatile scalars, _Bool and a char array string', () => {
    const { map: m, descs } = map('rodata_config', '.rodata');
    const value = descs.value!;
    const decoded = decodeValue(value, m.initialData!);
    expect(decoded).toEqual({ target_uid: 0, min_len: 64, verbose: false, 'filter.____fmt': 'short packet: %u' });
    expect(formatValue(value, decoded)).toBe('{ target_uid: 0, min_len: 64, verbose: false, filter.____fmt: "short packet: %u" }');
    // Overriding one variable changes exactly its bytes.
    const encoded = encodeValue(value, { ...(decoded as object), min_len: 10 });
    const expected = m.initialData!.slice();
    expected[4] = 10;
    expect(hex(encoded)).toBe(hex(expected));
    expect(descs.variables![3]!.type).toEqual({ kind: 'array', elem: CHAR, count: 17, size: 17 });
    expect(isCharArray(descs.variables![3]!.type)).toBe(true);
  });

  it('an internal map without variables (string literals) has only a key', () => {
    expect(map('string_literals', '.rodata.str1.1').descs).toEqual({ key: U32, variables: [] });
  });

  it('core_read: a pointer member to the struct itself is a ptr, not a cycle', () => {
    const btf = spec('core_read').btf!;
    const desc = typeDescOf(btf, btf.typeByName('task_struct', 'struct')!.id);
    expect(desc).toEqual({
      kind: 'struct', name: 'struct task_struct', size: 24, members: [
        { name: 'pid', offset: 0, type: INT }, { name: 'tgid', offset: 4, type: INT },
        { name: 'real_parent', offset: 8, type: { kind: 'ptr', name: 'struct task_struct *', size: 8 } },
        { name: 'flags', offset: 16, type: { kind: 'int', name: 'unsigned int', size: 4, signed: false } },
      ],
    });
    const bytes = encodeValue(desc, { pid: 100, tgid: 100, real_parent: 0xffff888000001000n });
    expect(decodeValue(desc, bytes)).toEqual({ pid: 100, tgid: 100, real_parent: 0xffff888000001000n, flags: 0 });
    expect(formatValue(desc, decodeValue(desc, bytes))).toBe('{ pid: 100, tgid: 100, real_parent: 0xffff888000001000, flags: 0 }');
  });

  it('__sk_buff: the anonymous unions of __bpf_md_ptr members are merged into the struct', () => {
    const btf = spec('rodata_config').btf!;
    const desc = typeDescOf(btf, btf.typeByName('__sk_buff', 'struct')!.id);
    expect(desc.size).toBe(192);
    const decoded = decodeValue(desc, new Uint8Array(192)) as Record<string, unknown>;
    expect(decoded).toHaveProperty('flow_keys', 0n);
    expect(decoded).toHaveProperty('sk', 0n);
    expect(Object.keys(decoded)).not.toContain('');
    expect(decoded.cb).toEqual([0, 0, 0, 0, 0]);
    const bytes = encodeValue(desc, { len: 60, sk: 0x1000 });
    expect(bytes[0]).toBe(60);
    expect(new DataView(bytes.buffer).getBigUint64(168, true)).toBe(0x1000n);
  });

  it.each(C_OBJECTS)('%s: every descriptor is well-formed, has the map\'s sizes, and survives a round trip', (file) => {
    const s = spec(file.replace(/\.o$/, ''));
    for (const m of s.maps) {
      const d = mapTypeDescs(m, s.btf);
      const parts: [TypeDesc | undefined, number][] = [[d.key, m.keySize], [d.value, m.valueSize]];
      for (const v of d.variables ?? []) parts.push([v.type, v.type.size]);
      for (const [desc, size] of parts) {
        if (!desc) continue;
        checkTypeDesc(JSON.parse(JSON.stringify(desc)));
        expect(desc.size).toBe(size);
        fc.assert(fc.property(fc.uint8Array({ minLength: desc.size, maxLength: desc.size }), (bytes) => {
          // Bytes -> value -> bytes -> value is stable (bytes themselves are not: padding, NUL tails, bools).
          const value = decodeValue(desc, bytes);
          expect(decodeValue(desc, encodeValue(desc, value))).toEqual(value);
        }), { numRuns: 20 });
      }
    }
  });
});

describe('typeDescOf on hand-built BTF', () => {
  it('decodes clang\'s bitfield, enum, anonymous union, char array and float layout', () => {
    const { btf, id, bytes } = clangFlags();
    const desc = typeDescOf(btf, id);
    expect(desc.kind === 'struct' && desc.members.slice(0, 5)).toEqual([
      { name: 'a', offset: 0, bitOffset: 0, bitSize: 3, type: { kind: 'int', name: 'unsigned int', size: 4, signed: false } },
      { name: 'b', offset: 0, bitOffset: 3, bitSize: 5, type: INT },
      { name: 'c', offset: 1, bitOffset: 0, bitSize: 40, type: { kind: 'int', name: 'unsigned long long', size: 8, signed: false } },
      {
        name: 'st', offset: 6, bitOffset: 0, bitSize: 4, type: {
          kind: 'enum', name: 'enum state', size: 4, signed: false,
          values: [{ name: 'IDLE', value: '0' }, { name: 'RUNNING', value: '3' }, { name: 'DONE', value: '4294967294' }],
        },
      },
      { name: 'on', offset: 6, bitOffset: 4, bitSize: 1, type: { kind: 'int', name: '_Bool', size: 1, signed: false, bool: true } },
    ]);
    const value = {
      a: 5, b: -7, c: 0x12345678abn, st: 'DONE', on: true, tail: 0xbeef, word: 0x11223344, lo: 0x3344, hi: 0x1122,
      name: 'hi', bg: 0xffffffffffffffffn, f: 1.5, d: -2.25,
    };
    expect(decodeValue(desc, bytes)).toEqual(value);
    expect(hex(encodeValue(desc, value))).toBe(hex(bytes));
    // The union written through one member only.
    const { word: _w, lo: _l, hi: _h, ...rest } = value;
    expect(hex(encodeValue(desc, { ...rest, word: 0x11223344 }))).toBe(hex(bytes));
    expect(hex(encodeValue(desc, { ...rest, lo: 0x3344, hi: 0x1122 }))).toBe(hex(bytes));
    expect(formatValue(desc, value)).toBe(
      '{ a: 5, b: -7, c: 78187493547, st: DONE, on: true, tail: 48879, word: 287454020, lo: 13124, hi: 4386, name: "hi", bg: 18446744073709551615, f: 1.5, d: -2.25 }',
    );
  });

  it('bitfields: each one\'s range, signed ones one by one, neighbours untouched', () => {
    const { btf, id } = clangFlags();
    const desc = typeDescOf(btf, id);
    const field = (v: Record<string, unknown>) => decodeValue(desc, encodeValue(desc, v)) as Record<string, unknown>;
    expect(field({ a: 7 }).a).toBe(7);
    expect(field({ b: -16 }).b).toBe(-16);
    expect(field({ b: 15 }).b).toBe(15);
    expect(field({ b: -1, a: 0 })).toMatchObject({ a: 0, b: -1, c: 0n });
    expect(field({ c: 0xffffffffffn }).c).toBe(0xffffffffffn);
    expect(field({ c: 0xffffffffffn, st: 'RUNNING' })).toMatchObject({ b: 0, st: 'RUNNING', on: false });
    expect(field({ st: 3 }).st).toBe('RUNNING');
    expect(field({ st: 5 }).st).toBe(5);
    expect(field({ on: 1 }).on).toBe(true);
    expect(badArgument(() => encodeValue(desc, { a: 8 }))).toMatch(/^value\.a: 8 is out of range for a 3-bit field/);
    badArgument(() => encodeValue(desc, { a: -1 }));
    badArgument(() => encodeValue(desc, { b: 16 }));
    badArgument(() => encodeValue(desc, { b: -17 }));
    badArgument(() => encodeValue(desc, { c: 1n << 40n }));
    badArgument(() => encodeValue(desc, { on: 2 }));
    badArgument(() => encodeValue(desc, { st: 'STOPPED' }));
  });

  it('bitfields without kind_flag (the int type carries the bits) and a non-byte-aligned start', () => {
    const w = new BtfWriter();
    const bits3 = w.int('unsigned int', 4, 0, 3);
    const sbits4 = w.int('int', 4, 1, 4);
    const u8 = w.int('unsigned char', 1);
    const id = w.struct('old', 4, [['x', bits3, 4], ['y', sbits4, 7], ['z', u8, 16]]);
    const desc = typeDescOf(w.parse(), id);
    expect(desc.kind === 'struct' && desc.members.map((m) => [m.name, m.offset, m.bitOffset, m.bitSize])).toEqual([
      ['x', 0, 4, 3], ['y', 0, 7, 4], ['z', 2, undefined, undefined],
    ]);
    const bytes = encodeValue(desc, { x: 5, y: -3, z: 0xaa });
    // x = 101 at bits 4-6; y = 1101 at bits 7-10; z at byte 2.
    expect(hex(bytes)).toBe(hex(new Uint8Array([0xd0, 0x06, 0xaa, 0])));
    expect(decodeValue(desc, bytes)).toEqual({ x: 5, y: -3, z: 0xaa });
  });

  it('enums: signed, unsigned, 64-bit beyond 2^53, unknown values as numbers', () => {
    const w = new BtfWriter();
    const small = w.enum('level', 1, [['LOW', -1], ['HIGH', 1]], true);
    const e64 = w.enum64('huge', [['MIN', -(1n << 63n)], ['BIG', (1n << 62n) + 1n], ['M1', -1n]], true);
    const u64e = w.enum64('mask', [['ALL', (1n << 64n) - 1n]]);
    const btf = w.parse();
    const s = typeDescOf(btf, small);
    expect(s).toEqual({ kind: 'enum', name: 'enum level', size: 1, signed: true, values: [{ name: 'LOW', value: '-1' }, { name: 'HIGH', value: '1' }] });
    expect(decodeValue(s, new Uint8Array([0xff]))).toBe('LOW');
    expect(decodeValue(s, new Uint8Array([0x7f]))).toBe(127);
    expect(Array.from(encodeValue(s, 'LOW'))).toEqual([0xff]);
    expect(Array.from(encodeValue(s, -128))).toEqual([0x80]);
    badArgument(() => encodeValue(s, 128));
    badArgument(() => encodeValue(s, 1.5));

    const h = typeDescOf(btf, e64);
    expect(h.kind === 'enum' && h.values.map((v) => v.value)).toEqual(['-9223372036854775808', '4611686018427387905', '-1']);
    for (const name of ['MIN', 'BIG', 'M1']) expect(decodeValue(h, encodeValue(h, name))).toBe(name);
    expect(decodeValue(h, encodeValue(h, 7n))).toBe(7n);
    expect(decodeValue(h, encodeValue(h, 7))).toBe(7n);
    badArgument(() => encodeValue(h, 1n << 63n));

    const m = typeDescOf(btf, u64e);
    expect(Array.from(encodeValue(m, 'ALL'))).toEqual(new Array(8).fill(0xff));
    expect(decodeValue(m, new Uint8Array(8).fill(0xff))).toBe('ALL');
    badArgument(() => encodeValue(m, -1));
  });

  it('typedef names are kept, modifiers dropped; char encodings; opaque kinds become bytes', () => {
    const w = new BtfWriter();
    const uint = w.int('unsigned int', 4);
    const u32 = w.ref(BtfKind.TYPEDEF, uint, '__u32');
    const cv = w.ref(BtfKind.CONST, w.ref(BtfKind.VOLATILE, u32));
    const myU32 = w.ref(BtfKind.TYPEDEF, cv, 'my_u32');
    const anon = w.struct('', 4, [['v', cv, 0]]);
    const anonT = w.ref(BtfKind.TYPEDEF, anon, 'anon_t');
    const charEnc = w.int('uchar', 1, 2);
    const index = w.int('__ARRAY_SIZE_TYPE__', 4);
    const str = w.array(charEnc, index, 4);
    const uchar = w.int('unsigned char', 1);
    const raw = w.array(uchar, index, 4);
    const fwd = w.raw('opaque', BtfKind.FWD, 0, 0);
    const ptrFwd = w.ref(BtfKind.PTR, fwd);
    const ld = w.raw('long double', BtfKind.FLOAT, 0, 16);
    const u128 = w.int('unsigned __int128', 16);
    const holder = w.struct('holder', 40, [['p', ptrFwd, 0], ['ld', ld, 64], ['big', u128, 192]]);
    const btf = w.parse();

    expect(typeDescOf(btf, cv)).toEqual(U32);
    expect(typeDescOf(btf, myU32)).toEqual({ ...U32, name: 'my_u32' });
    expect(typeDescOf(btf, anonT)).toEqual({ kind: 'struct', name: 'anon_t', size: 4, members: [{ name: 'v', offset: 0, type: U32 }] });
    expect(typeDescOf(btf, anon)).toEqual({ kind: 'struct', size: 4, members: [{ name: 'v', offset: 0, type: U32 }] });
    expect(decodeValue(typeDescOf(btf, str), new Uint8Array([0x6f, 0x6b, 0, 0x41]))).toBe('ok');
    expect(decodeValue(typeDescOf(btf, raw), new Uint8Array([0x6f, 0x6b, 0, 0x41]))).toEqual([0x6f, 0x6b, 0, 0x41]);
    expect(typeDescOf(btf, fwd)).toEqual({ kind: 'bytes', name: 'struct opaque', size: 0 });
    expect(typeDescOf(btf, 0)).toEqual({ kind: 'bytes', name: 'void', size: 0 });
    const h = typeDescOf(btf, holder);
    expect(h).toEqual({
      kind: 'struct', name: 'struct holder', size: 40, members: [
        { name: 'p', offset: 0, type: { kind: 'ptr', name: 'struct opaque *', size: 8 } },
        { name: 'ld', offset: 8, type: { kind: 'bytes', name: 'long double', size: 16 } },
        { name: 'big', offset: 24, type: { kind: 'int', name: 'unsigned __int128', size: 16, signed: false } },
      ],
    });
    const max128 = (1n << 128n) - 1n;
    const encoded = encodeValue(h, { p: 1, ld: [1, 2], big: max128 });
    expect(decodeValue(h, encoded)).toEqual({ p: 1n, ld: new Uint8Array([1, 2, ...new Array(14).fill(0)]), big: max128 });
    badArgument(() => encodeValue(h, { big: max128 + 1n }));
    expect(formatValue(h, decodeValue(h, encoded))).toBe(`{ p: 0x1, ld: <01 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00>, big: ${max128} }`);
  });

  it('a struct that contains itself (forged) is cut off at the nesting limit', () => {
    const w = new BtfWriter();
    // Type 1 is a struct whose only member is type 1.
    const self = w.struct('loop', 4, [['again', 1, 0]]);
    const desc = typeDescOf(w.parse(), self);
    let d: TypeDesc = desc;
    let depth = 0;
    while (d.kind === 'struct') {
      d = d.members[0]!.type;
      depth++;
    }
    expect(d).toEqual({ kind: 'bytes', name: 'struct loop', size: 4 });
    expect(depth).toBe(TYPEDESC_MAX_NESTING + 1);
    checkTypeDesc(desc);
  });

  it('exponentially shared members stop at the node budget', () => {
    const w = new BtfWriter();
    let t = w.int('int', 4, 1);
    let size = 4;
    for (let i = 0; i < 14; i++) {
      t = w.struct(`s${i}`, size * 2, [['x', t, 0], ['y', t, size * 8]]);
      size *= 2;
    }
    const desc = typeDescOf(w.parse(), t);
    let nodes = 0;
    const count = (d: TypeDesc): void => {
      nodes++;
      if (d.kind === 'struct' || d.kind === 'union') d.members.forEach((m) => count(m.type));
      if (d.kind === 'array') count(d.elem);
    };
    count(desc);
    expect(nodes).toBeLessThanOrEqual(2 * TYPEDESC_MAX_NODES);
    expect(desc.size).toBe(65536);
    checkTypeDesc(desc);
    expect(JSON.stringify(desc)).toContain('"kind":"bytes"');
  });

  it('a cyclic typedef chain is an ElfError; mapTypeDescs leaves that part out', () => {
    const w = new BtfWriter();
    const a = w.ref(BtfKind.TYPEDEF, 2, 'a');
    w.ref(BtfKind.TYPEDEF, 1, 'b');
    const uint = w.int('unsigned int', 4);
    const btf = w.parse();
    expect(() => typeDescOf(btf, a)).toThrow(ElfError);
    expect(() => typeDescOf(btf, 99)).toThrow(ElfError);
    const def: MapDef = {
      name: 'm', type: 1, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0, pinning: 0, numaNode: 0, mapExtra: 0,
      keyTypeId: a, valueTypeId: uint, section: '.maps', offset: 0, size: 32,
    };
    expect(mapTypeDescs(def, btf)).toEqual({ value: { kind: 'int', name: 'unsigned int', size: 4, signed: false } });
    // A type whose size disagrees with the map's is left out too.
    expect(mapTypeDescs({ ...def, keyTypeId: uint, valueSize: 8 }, btf)).toEqual({ key: { kind: 'int', name: 'unsigned int', size: 4, signed: false } });
    expect(mapTypeDescs(def)).toEqual({});
  });
});

describe('decodeValue / encodeValue', () => {
  const s8: TypeDesc = { kind: 'int', size: 1, signed: true };
  const u8: TypeDesc = { kind: 'int', size: 1, signed: false };
  const s16: TypeDesc = { kind: 'int', size: 2, signed: true };
  const s64: TypeDesc = { kind: 'int', size: 8, signed: true };

  it('integer edges one by one, little-endian', () => {
    const cases: [TypeDesc, unknown, string][] = [
      [s8, -128, '80'], [s8, 127, '7f'], [s8, -1, 'ff'], [s8, 0, '00'], [u8, 255, 'ff'],
      [s16, -32768, '0080'], [s16, 0x1234, '3412'],
      [INT, -2147483648, '00000080'], [INT, 2147483647, 'ffffff7f'], [U32, 0xffffffff, 'ffffffff'],
      [s64, -(1n << 63n), '0000000000000080'], [s64, -1n, 'ffffffffffffffff'], [s64, 0n, '0000000000000000'],
      [U64, (1n << 64n) - 1n, 'ffffffffffffffff'], [U64, 0x0102030405060708n, '0807060504030201'],
    ];
    for (const [desc, value, bytes] of cases) {
      expect(hex(encodeValue(desc, value)), `${String(value)}`).toBe(bytes);
      expect(decodeValue(desc, fromHex(bytes))).toBe(value);
    }
    // Numbers are accepted for 8-byte ints, bigints for small ones.
    expect(hex(encodeValue(U64, 1))).toBe('0100000000000000');
    expect(hex(encodeValue(U32, 1n))).toBe('01000000');
    const outOfRange: [TypeDesc, unknown][] = [
      [s8, 128], [s8, -129], [u8, 256], [u8, -1], [U32, 2 ** 32], [U32, -1], [INT, 2 ** 31],
      [s64, 1n << 63n], [s64, -(1n << 63n) - 1n], [U64, 1n << 64n], [U64, -1n],
    ];
    for (const [desc, value] of outOfRange) expect(badArgument(() => encodeValue(desc, value))).toMatch(/out of range/);
    for (const value of [1.5, NaN, Infinity, '1', null, undefined, {}, true]) {
      expect(badArgument(() => encodeValue(U32, value))).toMatch(/expected an integer/);
    }
  });

  it('bool, float and pointer', () => {
    const bool: TypeDesc = { kind: 'int', name: '_Bool', size: 1, signed: false, bool: true };
    expect(decodeValue(bool, new Uint8Array([2]))).toBe(true);
    expect(Array.from(encodeValue(bool, true))).toEqual([1]);
    expect(Array.from(encodeValue(bool, 0))).toEqual([0]);
    badArgument(() => encodeValue(bool, 2));
    badArgument(() => encodeValue(bool, 'yes'));
    const f32: TypeDesc = { kind: 'float', size: 4 };
    const f64: TypeDesc = { kind: 'float', size: 8 };
    expect(decodeValue(f32, encodeValue(f32, 0.1))).toBe(Math.fround(0.1));
    expect(decodeValue(f64, encodeValue(f64, -0.1))).toBe(-0.1);
    expect(Number.isNaN(decodeValue(f64, encodeValue(f64, NaN)))).toBe(true);
    badArgument(() => encodeValue(f64, 1n));
    const ptr: TypeDesc = { kind: 'ptr', size: 8 };
    expect(decodeValue(ptr, encodeValue(ptr, 0x1000))).toBe(0x1000n);
    badArgument(() => encodeValue(ptr, -1));
  });

  it('char arrays: strings up to the first NUL, exact fit without a terminator, UTF-8', () => {
    const comm: TypeDesc = { kind: 'array', elem: CHAR, count: 16, size: 16 };
    expect(hex(encodeValue(comm, 'bash'))).toBe('62617368' + '00'.repeat(12));
    expect(decodeValue(comm, encodeValue(comm, 'x'.repeat(16)))).toBe('x'.repeat(16));
    expect(decodeValue(comm, encodeValue(comm, 'héllo'))).toBe('héllo');
    expect(decodeValue(comm, encodeValue(comm, [0x61, 0, 0x62]))).toBe('a');
    expect(badArgument(() => encodeValue(comm, 'x'.repeat(17)))).toMatch(/17 bytes does not fit char\[16\]/);
    // Bytes that are not UTF-8 text decode as the (signed char) element values, losslessly.
    const notText = new Uint8Array(16);
    notText.set([0xff, 0x41]);
    const values = decodeValue(comm, notText);
    expect(values).toEqual([-1, 0x41, ...new Array(14).fill(0)]);
    expect(hex(encodeValue(comm, values))).toBe(hex(notText));
    // A char array named only by its element's name (hand-written descriptors).
    expect(decodeValue({ kind: 'array', elem: { kind: 'int', name: 'char', size: 1, signed: true }, count: 3, size: 3 }, new Uint8Array([0x68, 0x69, 0x21]))).toBe('hi!');
  });

  it('arrays, nested structs, partial objects and error paths', () => {
    const pair: TypeDesc = { kind: 'struct', name: 'struct pair', size: 8, members: [{ name: 'a', offset: 0, type: INT }, { name: 'b', offset: 4, type: U32 }] };
    const outer: TypeDesc = {
      kind: 'struct', name: 'struct outer', size: 28, members: [
        { name: 'id', offset: 0, type: U32 },
        { name: 'pairs', offset: 4, type: { kind: 'array', elem: pair, count: 3, size: 24 } },
      ],
    };
    const bytes = encodeValue(outer, { id: 7, pairs: [{ a: -1 }, undefined, { b: 9 }] });
    expect(decodeValue(outer, bytes)).toEqual({ id: 7, pairs: [{ a: -1, b: 0 }, { a: 0, b: 0 }, { a: 0, b: 9 }] });
    expect(formatValue(outer, decodeValue(outer, bytes))).toBe('{ id: 7, pairs: [{ a: -1, b: 0 }, { a: 0, b: 0 }, { a: 0, b: 9 }] }');
    expect(badArgument(() => encodeValue(outer, { pairs: [{}, { c: 1 }] }))).toMatch(/^value\.pairs\[1\]: struct pair has no member "c"/);
    expect(badArgument(() => encodeValue(outer, { pairs: [{ b: -1 }] }, undefined, 0, 'key'))).toMatch(/^key\.pairs\[0\]\.b: -1 is out of range/);
    badArgument(() => encodeValue(outer, { pairs: [{}, {}, {}, {}] }));
    badArgument(() => encodeValue(outer, { pairs: 'no' }));
    badArgument(() => encodeValue(outer, [1, 2]));
    badArgument(() => encodeValue(outer, null));
    // Typed arrays are arrays too.
    const words: TypeDesc = { kind: 'array', elem: U32, count: 2, size: 8 };
    expect(decodeValue(words, encodeValue(words, new Uint32Array([1, 2])))).toEqual([1, 2]);
  });

  it('writes into a given buffer at an offset, zeroing only the value\'s bytes', () => {
    const out = new Uint8Array(8).fill(0xee);
    const pair: TypeDesc = { kind: 'struct', size: 4, members: [{ name: 'lo', offset: 0, type: { kind: 'int', size: 2, signed: false } }] };
    expect(encodeValue(pair, { lo: 0x0102 }, out, 2)).toBe(out);
    expect(hex(out)).toBe('eeee02010000eeee');
    expect(decodeValue(pair, out, 2)).toEqual({ lo: 0x0102 });
    badArgument(() => encodeValue(pair, {}, out, 5));
    badArgument(() => decodeValue(pair, out, 5));
    badArgument(() => decodeValue(U64, new Uint8Array(7)));
  });

  it('opaque bytes and a member called __proto__', () => {
    const blob: TypeDesc = { kind: 'bytes', size: 3 };
    expect(decodeValue(blob, encodeValue(blob, new Uint8Array([1, 2])))).toEqual(new Uint8Array([1, 2, 0]));
    badArgument(() => encodeValue(blob, [1, 2, 3, 4]));
    badArgument(() => encodeValue(blob, [256]));
    const odd: TypeDesc = { kind: 'struct', size: 4, members: [{ name: '__proto__', offset: 0, type: U32 }] };
    const v = decodeValue(odd, new Uint8Array([5, 0, 0, 0])) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(hex(encodeValue(odd, JSON.parse('{"__proto__": 6}')))).toBe('06000000');
  });

  it('formatValue cuts long arrays and renders what it does not recognise as it is', () => {
    const big: TypeDesc = { kind: 'array', elem: U32, count: 40, size: 160 };
    expect(formatValue(big, decodeValue(big, new Uint8Array(160)))).toBe(`[${new Array(32).fill('0').join(', ')}, ... 8 more]`);
    expect(formatValue(U32, 'not a number')).toBe('"not a number"');
    expect(formatValue({ kind: 'struct', size: 0, members: [] }, {})).toBe('{}');
  });
});

describe('checkTypeDesc on forged descriptors', () => {
  const forged: [string, unknown][] = [
    ['not an object', 5],
    ['unknown kind', { kind: 'quux', size: 1 }],
    ['int size', { kind: 'int', size: 3, signed: false }],
    ['missing signed', { kind: 'int', size: 4 }],
    ['negative size', { kind: 'bytes', size: -1 }],
    ['float size', { kind: 'float', size: 2 }],
    ['pointer size', { kind: 'ptr', size: 4 }],
    ['array size', { kind: 'array', elem: { kind: 'int', size: 4, signed: false }, count: 2, size: 4 }],
    ['many empty elements', { kind: 'array', elem: { kind: 'struct', size: 0, members: [] }, count: 1e9, size: 0 }],
    ['member outside', { kind: 'struct', size: 4, members: [{ name: 'x', offset: 2, type: { kind: 'int', size: 4, signed: false } }] }],
    ['bitfield outside', { kind: 'struct', size: 1, members: [{ name: 'x', offset: 0, bitOffset: 4, bitSize: 5, type: { kind: 'int', size: 1, signed: false } }] }],
    ['bitfield on a struct', { kind: 'struct', size: 4, members: [{ name: 'x', offset: 0, bitSize: 3, type: { kind: 'struct', size: 4, members: [] } }] }],
    ['enum value', { kind: 'enum', size: 4, signed: false, values: [{ name: 'A', value: '1e3' }] }],
    ['members not a list', { kind: 'union', size: 4, members: {} }],
  ];
  it.each(forged)('%s', (_, desc) => {
    badArgument(() => checkTypeDesc(desc));
    badArgument(() => decodeValue(desc as TypeDesc, new Uint8Array(64)));
  });

  it('a cyclic object graph is rejected by depth, not by a stack overflow', () => {
    const cyclic: { kind: 'struct'; size: number; members: { name: string; offset: number; type: unknown }[] } = { kind: 'struct', size: 0, members: [] };
    cyclic.members.push({ name: 'self', offset: 0, type: cyclic });
    expect(badArgument(() => checkTypeDesc(cyclic))).toMatch(/nested more than/);
  });

  it('accepts every descriptor JSON round trips to', () => {
    const { btf, id } = clangFlags();
    const desc = JSON.parse(JSON.stringify(typeDescOf(btf, id))) as unknown;
    expect(checkTypeDesc(desc)).toBe(desc);
  });
});
