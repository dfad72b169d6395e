/**
 * eBPF maps in linear memory (wasm/maps/, runtime/maps/): the layout and its validation, every
 * map type's semantics and errno on the program path (the helpers compiled programs import) and
 * the JS API, a differential check of hash maps and LPM tries against plain JS models, and the
 * contracts between the pieces: desc.ts and the AssemblyScript copy of its constants agree, the
 * metadata sizes agree, the helper exports link with the helper ABI's signatures, and the
 * embedded module is what scripts/build-wasm.mjs builds.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ROOT as root } from '../../test/support/fixtures.js';
import { BpfRuntimeError, CompileError, ErrorCode } from '../errors.js';
import * as desc from '../maps/descriptor.js';
import type { MapShape } from '../maps/descriptor.js';
import * as uapi from '../uapi/index.js';
import { BPF_EXIST, BPF_F_LOCK, BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, BPF_NOEXIST, Errno, MapType } from '../uapi/index.js';
import { layoutMaps, SUPPORTED_MAP_TYPES, type MapsLayout } from '../maps/placement.js';
import { MAPS_WASM_SIZE, mapsWasmBytes } from '../maps/maps-wasm.js';
import { checkModule, inspectModule } from '../../scripts/build-wasm.mjs';
import { KEY_RING_SLOTS, MAP_HELPER_EXPORTS, MAPS_SCRATCH, MapStore, type MapsExports } from '../maps/store.js';

const BASE = 0x2000;

// ------------------------------------------------------------------------------ harness

/** A store on a fresh memory, with an area past the maps playing the program's stack. */
class Harness {
  private at: number;
  constructor(readonly store: MapStore, readonly layout: MapsLayout, readonly memory: WebAssembly.Memory) {
    this.at = layout.arenaEnd;
  }

  static async create(...shapes: Partial<MapShape>[]): Promise<Harness> {
    const full = shapes.map((s, i) => shape(s, i));
    const layout = layoutMaps(full, BASE);
    const memory = new WebAssembly.Memory({ initial: 1 });
    // A fixed seed keeps failures reproducible; the seeding itself is tested on its own.
    const store = await MapStore.create(memory, full.map((s, i) => ({ shape: s, placement: layout.placements[i]!, index: i })), { seed: 1 });
    memory.grow(1);
    return new Harness(store, layout, memory);
  }

  get u8(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  /** Copies bytes into the "program" area; returns their address. */
  put(bytes: Uint8Array | number[]): number {
    const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    const addr = this.at;
    this.u8.set(b, addr);
    this.at += Math.ceil(Math.max(b.length, 1) / 8) * 8;
    if (this.at > this.memory.buffer.byteLength - 4096) this.at = this.layout.arenaEnd;
    return addr;
  }

  /** A zeroed buffer of `n` bytes in the program area. */
  buf(n: number): number {
    return this.put(new Uint8Array(n));
  }

  read(addr: number, n: number): Uint8Array {
    return this.u8.slice(addr, addr + n);
  }

  desc(i = 0): number {
    return this.store.descOf(i);
  }

  // The program path, as a compiled program calls the helpers.
  lookup(key: Uint8Array | number[], map = 0): number {
    return this.store.raw.map_lookup_elem(this.desc(map), this.put(key)) >>> 0;
  }
  update(key: Uint8Array | number[], value: Uint8Array | number[], flags: bigint | number = 0, map = 0): number {
    return Number(this.store.raw.map_update_elem(this.desc(map), this.put(key), this.put(value), BigInt(flags)));
  }
  delete(key: Uint8Array | number[], map = 0): number {
    return Number(this.store.raw.map_delete_elem(this.desc(map), this.put(key)));
  }
  push(value: Uint8Array | number[], flags: bigint | number = 0, map = 0): number {
    return Number(this.store.raw.map_push_elem(this.desc(map), this.put(value), BigInt(flags)));
  }
  pop(n: number, map = 0): { ret: number; value: Uint8Array } {
    const at = this.buf(n);
    const ret = Number(this.store.raw.map_pop_elem(this.desc(map), at));
    return { ret, value: this.read(at, n) };
  }
  peek(n: number | Uint8Array, map = 0): { ret: number; value: Uint8Array } {
    const at = typeof n === 'number' ? this.buf(n) : this.put(n);
    const len = typeof n === 'number' ? n : n.length;
    const ret = Number(this.store.raw.map_peek_elem(this.desc(map), at));
    return { ret, value: this.read(at, len) };
  }
}

function shape(s: Partial<MapShape>, i = 0): MapShape {
  return { name: s.name ?? `m${i}`, type: s.type ?? MapType.HASH, keySize: s.keySize ?? 4, valueSize: s.valueSize ?? 8,
    maxEntries: s.maxEntries ?? 16, flags: s.flags ?? 0, ...(s.mapExtra === undefined ? {} : { mapExtra: s.mapExtra }) };
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};
const u64 = (n: bigint | number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(n)), true);
  return b;
};
const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
/** An LPM key: u32 prefixlen then the data bytes. */
const lpmKey = (len: number, ...data: number[]): Uint8Array => Uint8Array.from([...u32(len), ...data]);

function expectError(fn: () => unknown, code: string, map?: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    expect((e as { code: string }).code).toBe(code);
    if (map !== undefined) expect((e as { location: { map?: string } }).location.map).toBe(map);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

const { EPERM, ENOENT, E2BIG, EEXIST, EINVAL, ENOSPC, EOPNOTSUPP } = Errno;

// ------------------------------------------------------------------------------ contracts

describe('contracts', () => {
  it('the AssemblyScript copy of desc.ts has the same constants', () => {
    const text = readFileSync(join(root, 'wasm/maps/desc.ts'), 'utf8');
    const as = new Map<string, number>();
    for (const m of text.matchAll(/^export const (\w+): \w+ = (0x[0-9a-f]+|\d+);$/gm)) as.set(m[1]!, Number(m[2]));
    const expected = new Map<string, number>();
    for (const [k, v] of Object.entries(desc)) if (typeof v === 'number') expected.set(k, v);
    // The AssemblyScript module names the map types it implements, the flags and the errnos it returns.
    for (const [k, v] of Object.entries(MapType)) if (SUPPORTED_MAP_TYPES.has(v)) expected.set(`MAP_${k}`, v);
    for (const [k, v] of Object.entries(uapi)) if (/^BPF_(ANY|NOEXIST|EXIST|F_LOCK|F_NO_PREALLOC|F_RDONLY_PROG|F_WRONLY_PROG)$/.test(k)) expected.set(k, v as number);
    for (const [k, v] of Object.entries(Errno)) if (as.has(k)) expected.set(k, v);
    expected.set('SCRATCH_BASE', MAPS_SCRATCH.base);
    expected.set('SCRATCH_END', MAPS_SCRATCH.end);
    expected.set('LPM_KEY_BUF', MAPS_SCRATCH.lpmKey);
    expected.set('MAP_TABLE_BASE', MAPS_SCRATCH.mapTable);
    expected.set('MAP_TABLE_COUNT', MAPS_SCRATCH.mapTable + 4);
    expect(expected.size).toBeGreaterThan(40);
    expect(Object.fromEntries(as)).toEqual(Object.fromEntries(expected));
  });

  it('the scratch area is divided without overlaps', () => {
    const s = MAPS_SCRATCH;
    expect(s.base).toBe(0x1800);
    expect(s.end).toBe(0x2000);
    expect(s.lpmKey + 4 + 256).toBeLessThanOrEqual(s.mapTable);
    expect(s.mapTable + 8).toBeLessThanOrEqual(s.keyRing);
    expect(s.keyRing + 4 * KEY_RING_SLOTS).toBeLessThanOrEqual(s.key);
    expect(s.value - s.key).toBeGreaterThanOrEqual(512);
    expect(s.end - s.value).toBeGreaterThanOrEqual(512);
  });

  it('the embedded module is what scripts/build-wasm.mjs builds', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'scripts/build-wasm.mjs'), '--check'], { cwd: root });
    expect(stdout).toMatch(/up to date/);
  });

  it('the build refuses a module that would touch memory it does not own', async () => {
    const wabt = await (await import('wabt')).default();
    const bad = wabt.parseWat('bad.wat', `(module
      (import "env" "memory" (memory 1))
      (import "env" "abort" (func (param i32)))
      (global (mut i32) (i32.const 0))
      (data (i32.const 0x100) "x")
      (data (i32.const 0x1900) "ok")
      (func (export "map_lookup_elem") (param i32 i64) (result i32) (i32.const 0)))`).toBinary({}).buffer;
    const problems = checkModule(bad).join('\n');
    expect(problems).toMatch(/imports env.memory, env.abort/);
    expect(problems).toMatch(/data segment \[0x100/);
    expect(problems).not.toMatch(/0x1900/);
    expect(problems).toMatch(/1 globals/);
    expect(problems).toMatch(/export map_lookup_elem has signature \(i32 i64 -> i32\)/);
    expect(problems).toMatch(/missing export map_update_elem/);
    expect(checkModule(mapsWasmBytes())).toEqual([]);
    expect(inspectModule(mapsWasmBytes()).data).toEqual([]);
  });

  it('the embedded module decodes and validates', () => {
    const bytes = mapsWasmBytes();
    expect(bytes.length).toBe(MAPS_WASM_SIZE);
    expect([...bytes.subarray(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);
    expect(WebAssembly.validate(bytes)).toBe(true);
    const mod = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
  });

  it('the helpers link as imports with the helper ABI signatures and run Wasm to Wasm', async () => {
    const wabt = await (await import('wabt')).default();
    const wat = `(module
      (import "env" "memory" (memory 1))
      (import "helpers" "h1" (func $lookup (param i32 i32) (result i32)))
      (import "helpers" "h2" (func $update (param i32 i32 i32 i64) (result i64)))
      (import "helpers" "h3" (func $delete (param i32 i32) (result i64)))
      (import "helpers" "h87" (func $push (param i32 i32 i64) (result i64)))
      (import "helpers" "h88" (func $pop (param i32 i32) (result i64)))
      (import "helpers" "h89" (func $peek (param i32 i32) (result i64)))
      (import "helpers" "h195" (func $percpu (param i32 i32 i32) (result i32)))
      (func (export "update") (param i32 i32 i32 i64) (result i64) (call $update (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
      (func (export "lookup") (param i32 i32) (result i32) (call $lookup (local.get 0) (local.get 1)))
      (func (export "delete") (param i32 i32) (result i64) (call $delete (local.get 0) (local.get 1))))`;
    const { buffer } = wabt.parseWat('helpers.wat', wat).toBinary({});
    const h = await Harness.create({ type: MapType.HASH });
    const imports: Record<string, Function> = {};
    for (const [id, fn] of Object.entries(h.store.helperImports)) imports[`h${id}`] = fn;
    expect(Object.keys(imports).sort()).toEqual(Object.keys(MAP_HELPER_EXPORTS).map((id) => `h${id}`).sort());
    const instance = new WebAssembly.Instance(new WebAssembly.Module(buffer as Uint8Array<ArrayBuffer>), { env: { memory: h.memory }, helpers: imports });
    const ex = instance.exports as { update: Function; lookup: Function; delete: Function };
    const k = h.put(u32(7));
    expect(ex.update(h.desc(), k, h.put(u64(99)), 0n)).toBe(0n);
    expect(readU32(h.read(ex.lookup(h.desc(), k), 4))).toBe(99);
    expect(ex.delete(h.desc(), k)).toBe(0n);
    expect(ex.delete(h.desc(), k)).toBe(-BigInt(ENOENT));
  });

  it('layout.ts and the maps module agree on every metadata size', async () => {
    const shapes: MapShape[] = [];
    for (const max of [1, 2, 3, 100, 1000, 4097]) {
      for (const keySize of [1, 4, 7, 8, 13, 64, 512]) shapes.push(shape({ type: MapType.HASH, keySize, maxEntries: max }, shapes.length));
      for (const keySize of [5, 8, 20, 260]) shapes.push(shape({ type: MapType.LPM_TRIE, keySize, maxEntries: max, flags: BPF_F_NO_PREALLOC }, shapes.length));
      for (const valueSize of [1, 8, 13]) shapes.push(shape({ type: MapType.QUEUE, keySize: 0, valueSize, maxEntries: max }, shapes.length));
      for (const mapExtra of [0, 1, 7, 15]) shapes.push(shape({ type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: max, mapExtra }, shapes.length));
      shapes.push(shape({ type: MapType.LRU_HASH, maxEntries: max }, shapes.length));
      shapes.push(shape({ type: MapType.HASH_OF_MAPS, valueSize: 4, maxEntries: max }, shapes.length));
    }
    const layout = layoutMaps(shapes, BASE);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const store = await MapStore.create(memory, shapes.map((s, i) => ({ shape: s, placement: layout.placements[i]!, index: i })));
    shapes.forEach((s, i) => {
      expect([s.name, store.raw.map_meta_size(store.descOf(i))]).toEqual([s.name, layout.placements[i]!.metaSize]);
    });
  });

  it('writes descriptors as desc.ts describes them', async () => {
    const h = await Harness.create({ type: MapType.ARRAY, valueSize: 12, maxEntries: 3, flags: BPF_F_RDONLY_PROG }, { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, mapExtra: 3 });
    const v = new DataView(h.memory.buffer);
    const d = h.desc(0);
    const p = h.layout.placements[0]!;
    expect([d + desc.D_TYPE, d + desc.D_KEY_SIZE, d + desc.D_VALUE_SIZE, d + desc.D_MAX_ENTRIES, d + desc.D_FLAGS, d + desc.D_VALUE_STRIDE, d + desc.D_VALUES, d + desc.D_INDEX]
      .map((a) => v.getUint32(a, true))).toEqual([MapType.ARRAY, 4, 12, 3, BPF_F_RDONLY_PROG, 16, p.values, 0]);
    expect(v.getUint32(h.desc(1) + desc.D_EXTRA, true)).toBe(3);
    expect(v.getUint32(h.desc(1) + desc.D_INDEX, true)).toBe(1);
    expect(h.store.indexOfDesc(h.desc(1))).toBe(1);
    expect(h.store.indexOfDesc(12345)).toBeUndefined();
  });
});

// ------------------------------------------------------------------------------ layout

describe('layout', () => {
  it('places descriptors and metadata below a 16-aligned value arena', () => {
    const l = layoutMaps([
      shape({ type: MapType.HASH, maxEntries: 10, valueSize: 3 }),
      shape({ type: MapType.ARRAY, maxEntries: 5, valueSize: 20 }, 1),
      shape({ type: MapType.PROG_ARRAY, valueSize: 4, maxEntries: 4 }, 2),
      shape({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 }, 3),
      shape({ type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 3 }, 4),
    ], 0x2004);
    expect(l.metaBase).toBe(0x2010);
    expect(l.placements.map((p) => p.desc)).toEqual([0, 1, 2, 3, 4].map((i) => 0x2010 + 64 * i));
    const [hash, array, prog, ring, queue] = l.placements;
    expect(hash!.metaSize).toBe(16 + 16 * 4 + 10 * 16); // seed header, buckets, entries
    expect(hash!.valuesSize).toBe(10 * 8);
    expect(array!.valuesSize).toBe(5 * 24);
    expect(array!.metaSize).toBe(0);
    expect(prog!.valuesSize).toBe(16);
    expect(prog!.values).toBeLessThan(l.metaEnd);
    expect(ring!.values % 16).toBe(0);
    expect(ring!.valuesSize).toBe(4096);
    expect(queue!.values).toBe(0);
    expect(queue!.metaSize).toBe(24);
    expect(l.arenaBase).toBeGreaterThanOrEqual(l.metaEnd);
    expect(l.arenaBase % 16).toBe(0);
    for (const p of [hash!, array!, ring!]) {
      expect(p.values).toBeGreaterThanOrEqual(l.arenaBase);
      expect(p.values + p.valuesSize).toBeLessThanOrEqual(l.arenaEnd);
    }
    for (const p of [hash!, queue!]) expect(p.meta + p.metaSize).toBeLessThanOrEqual(l.metaEnd);
  });

  it('an empty object takes no room', () => {
    expect(layoutMaps([], BASE)).toEqual({ placements: [], metaBase: BASE, metaEnd: BASE, arenaBase: BASE, arenaEnd: BASE });
  });

  const bad: [string, Partial<MapShape>][] = [
    ['unknown type', { type: 7 }],
    ['array key size', { type: MapType.ARRAY, keySize: 8 }],
    ['array value size 0', { type: MapType.ARRAY, valueSize: 0 }],
    ['array max_entries 0', { type: MapType.ARRAY, maxEntries: 0 }],
    ['array no_prealloc', { type: MapType.ARRAY, flags: BPF_F_NO_PREALLOC }],
    ['value too large', { type: MapType.ARRAY, valueSize: (4 << 20) + 1 }],
    ['percpu value too large', { type: MapType.PERCPU_HASH, valueSize: 32769 }],
    ['hash key size 0', { type: MapType.HASH, keySize: 0 }],
    ['hash key size 513', { type: MapType.HASH, keySize: 513 }],
    ['hash max_entries 0', { type: MapType.HASH, maxEntries: 0 }],
    ['lru no_prealloc', { type: MapType.LRU_HASH, flags: BPF_F_NO_PREALLOC }],
    ['hash of maps value size', { type: MapType.HASH_OF_MAPS, valueSize: 8 }],
    ['prog array value size', { type: MapType.PROG_ARRAY, valueSize: 8 }],
    ['lpm without no_prealloc', { type: MapType.LPM_TRIE, keySize: 8 }],
    ['lpm key size 4', { type: MapType.LPM_TRIE, keySize: 4, flags: BPF_F_NO_PREALLOC }],
    ['lpm key size 261', { type: MapType.LPM_TRIE, keySize: 261, flags: BPF_F_NO_PREALLOC }],
    ['queue with a key', { type: MapType.QUEUE, keySize: 4 }],
    ['stack max_entries 0', { type: MapType.STACK, keySize: 0, maxEntries: 0 }],
    ['bloom 16 hashes', { type: MapType.BLOOM_FILTER, keySize: 0, mapExtra: 16 }],
    ['map_extra on a hash', { type: MapType.HASH, mapExtra: 1 }],
    ['ringbuf not a power of 2', { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 3 * 4096 }],
    ['ringbuf below a page', { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 2048 }],
    ['ringbuf value size', { type: MapType.RINGBUF, keySize: 0, valueSize: 4, maxEntries: 4096 }],
    ['negative size', { type: MapType.HASH, keySize: -1 }],
    ['fractional entries', { type: MapType.HASH, maxEntries: 1.5 }],
    ['too large in total', { type: MapType.ARRAY, valueSize: 4096, maxEntries: 1 << 20 }],
  ];
  it.each(bad)('refuses %s with E_BAD_MAP at the map', (_, s) => {
    expectError(() => layoutMaps([shape({}, 0), shape({ ...s, name: 'bad' }, 1)], BASE), ErrorCode.BadMap, 'bad');
    expect(() => layoutMaps([shape({ ...s, name: 'bad' })], BASE)).toThrow(CompileError);
  });

  it('accepts what the kernel accepts at the edges', () => {
    const ok: Partial<MapShape>[] = [
      { type: MapType.HASH, keySize: 512, valueSize: 1, maxEntries: 1 },
      { type: MapType.LPM_TRIE, keySize: 5, flags: BPF_F_NO_PREALLOC },
      { type: MapType.LPM_TRIE, keySize: 260, flags: BPF_F_NO_PREALLOC },
      { type: MapType.PERF_EVENT_ARRAY, valueSize: 4, maxEntries: 0 },
      { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 1 << 16 },
      { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 1, mapExtra: 15 },
      { type: MapType.ARRAY, valueSize: 4 << 20, maxEntries: 1 },
      { type: MapType.HASH, flags: BPF_F_NO_PREALLOC },
    ];
    expect(layoutMaps(ok.map((s, i) => shape(s, i)), BASE).placements).toHaveLength(ok.length);
  });

  it('sizes bloom filters as the kernel: max_entries * hashes * 7/5 bits, a power of 2, at least 64', () => {
    // The bit array's bytes, after the 16-byte seed header.
    const size = (maxEntries: number, mapExtra = 0): number =>
      layoutMaps([shape({ type: MapType.BLOOM_FILTER, keySize: 0, maxEntries, mapExtra })], BASE).placements[0]!.metaSize - 16;
    expect(size(1)).toBe(8);
    expect(size(100)).toBe(128); // 500 / 5 * 7 = 700 bits -> 1024
    expect(size(100, 1)).toBe(32); // 140 bits -> 256
    expect(size(1000, 15)).toBe(4096); // 21000 bits -> 32768
  });
});

// ------------------------------------------------------------------------------ arrays

describe('ARRAY and PERCPU_ARRAY', () => {
  it('every index exists, zeroed; out of range is NULL', async () => {
    const h = await Harness.create({ type: MapType.ARRAY, valueSize: 12, maxEntries: 4 });
    const p = h.layout.placements[0]!;
    for (let i = 0; i < 4; i++) expect(h.lookup(u32(i))).toBe(p.values + 16 * i);
    expect([...h.read(h.lookup(u32(3)), 12)]).toEqual(new Array(12).fill(0));
    expect(h.lookup(u32(4))).toBe(0);
    expect(h.lookup(u32(0xffffffff))).toBe(0);
  });

  it('update: E2BIG past the end, EEXIST with BPF_NOEXIST, EINVAL for unknown flags; BPF_F_LOCK passes', async () => {
    const h = await Harness.create({ type: MapType.ARRAY, valueSize: 4, maxEntries: 2 });
    expect(h.update(u32(1), u32(7))).toBe(0);
    expect(readU32(h.read(h.lookup(u32(1)), 4))).toBe(7);
    expect(h.update(u32(1), u32(8), BPF_EXIST)).toBe(0);
    expect(h.update(u32(1), u32(9), BPF_EXIST | BPF_F_LOCK)).toBe(0);
    expect(readU32(h.read(h.lookup(u32(1)), 4))).toBe(9);
    expect(h.update(u32(2), u32(1))).toBe(-E2BIG);
    expect(h.update(u32(0), u32(1), BPF_NOEXIST)).toBe(-EEXIST);
    expect(h.update(u32(0), u32(1), 3)).toBe(-EINVAL);
    expect(h.update(u32(0), u32(1), 8)).toBe(-EINVAL);
    expect(h.update(u32(0), u32(1), 1n << 32n)).toBe(-EINVAL);
    // EINVAL is checked before E2BIG, as array_map_update_elem does.
    expect(h.update(u32(5), u32(1), 3)).toBe(-EINVAL);
  });

  it('delete is EINVAL; get_next_key walks 0..n-1 and starts over from an out-of-range key', async () => {
    const h = await Harness.create({ type: MapType.ARRAY, maxEntries: 3 });
    expect(h.delete(u32(0))).toBe(-EINVAL);
    expect(h.store.nextKey(0)).toEqual(u32(0));
    expect(h.store.nextKey(0, u32(0))).toEqual(u32(1));
    expect(h.store.nextKey(0, u32(2))).toBeUndefined();
    expect(h.store.nextKey(0, u32(9))).toEqual(u32(0));
    expect([...h.store.keys(0)].map(readU32)).toEqual([0, 1, 2]);
    expectError(() => h.store.delete(0, u32(0)), ErrorCode.MapOp, 'm0');
  });

  it('percpu: lookup_percpu_elem gives CPU 0 and NULL for other CPUs', async () => {
    const h = await Harness.create({ type: MapType.PERCPU_ARRAY, valueSize: 8, maxEntries: 2 }, { type: MapType.ARRAY, maxEntries: 2 });
    const addr = h.lookup(u32(1));
    expect(addr).not.toBe(0);
    expect(h.store.raw.map_lookup_percpu_elem(h.desc(), h.put(u32(1)), 0) >>> 0).toBe(addr);
    expect(h.store.raw.map_lookup_percpu_elem(h.desc(), h.put(u32(1)), 1)).toBe(0);
    expect(h.store.raw.map_lookup_percpu_elem(h.desc(1), h.put(u32(1)), 0)).toBe(0);
  });

  it('the JS API copies values in and out', async () => {
    const h = await Harness.create({ type: MapType.ARRAY, valueSize: 3, maxEntries: 2 });
    h.store.update(0, u32(1), Uint8Array.of(1, 2, 3));
    expect(h.store.lookup(0, u32(1))).toEqual(Uint8Array.of(1, 2, 3));
    expect(h.store.lookup(0, u32(2))).toBeUndefined();
    expectError(() => h.store.update(0, u32(2), Uint8Array.of(1, 2, 3)), ErrorCode.MapOp, 'm0');
    expect(() => h.store.update(0, u32(2), Uint8Array.of(1, 2, 3))).toThrow(/E2BIG/);
    expectError(() => h.store.update(0, u32(0), Uint8Array.of(1, 2)), ErrorCode.BadArgument, 'm0');
    expectError(() => h.store.lookup(0, Uint8Array.of(1)), ErrorCode.BadArgument, 'm0');
    expectError(() => h.store.update(0, u32(0), Uint8Array.of(1, 2, 3), -1), ErrorCode.BadArgument, 'm0');
    expectError(() => h.store.lookup(5, u32(0)), ErrorCode.BadArgument);
    h.store.clear(0);
    expect(h.store.lookup(0, u32(1))).toEqual(new Uint8Array(3));
    expect(h.store.count(0)).toBe(2);
  });

  it('big values go straight to their storage', async () => {
    const size = 100_000;
    const h = await Harness.create({ type: MapType.ARRAY, valueSize: size, maxEntries: 2 }, { type: MapType.HASH, valueSize: size, maxEntries: 2 });
    const v = Uint8Array.from({ length: size }, (_, i) => i * 7);
    h.store.update(0, u32(1), v);
    h.store.update(1, u32(1), v);
    // (compared as Buffers: a deep equal of 100k elements is slow)
    expect(Buffer.from(h.store.lookup(0, u32(1))!).equals(Buffer.from(v))).toBe(true);
    expect(Buffer.from(h.store.lookup(1, u32(1))!).equals(Buffer.from(v))).toBe(true);
  });
});

// ------------------------------------------------------------------------------ hash maps

describe('HASH', () => {
  it('insert, replace, delete, reinsert', async () => {
    const h = await Harness.create({ type: MapType.HASH, valueSize: 8, maxEntries: 4 });
    expect(h.lookup(u32(1))).toBe(0);
    expect(h.update(u32(1), u64(10))).toBe(0);
    const addr = h.lookup(u32(1));
    expect(addr).toBeGreaterThanOrEqual(h.layout.arenaBase);
    expect(h.read(addr, 8)).toEqual(u64(10));
    expect(h.update(u32(1), u64(11))).toBe(0);
    expect(h.lookup(u32(1))).toBe(addr);
    expect(h.read(addr, 8)).toEqual(u64(11));
    expect(h.delete(u32(1))).toBe(0);
    expect(h.lookup(u32(1))).toBe(0);
    expect(h.delete(u32(1))).toBe(-ENOENT);
    expect(h.update(u32(1), u64(12))).toBe(0);
    expect(h.read(h.lookup(u32(1)), 8)).toEqual(u64(12));
    expect(h.store.count(0)).toBe(1);
  });

  it('BPF_NOEXIST on an existing key is EEXIST, BPF_EXIST on a missing one ENOENT, unknown flags EINVAL', async () => {
    const h = await Harness.create({ type: MapType.HASH });
    expect(h.update(u32(1), u64(1), BPF_EXIST)).toBe(-ENOENT);
    expect(h.update(u32(1), u64(1), BPF_NOEXIST)).toBe(0);
    expect(h.update(u32(1), u64(2), BPF_NOEXIST)).toBe(-EEXIST);
    expect(h.update(u32(1), u64(3), BPF_EXIST)).toBe(0);
    expect(h.update(u32(1), u64(4), BPF_EXIST | BPF_F_LOCK)).toBe(0);
    expect(h.update(u32(1), u64(5), 3)).toBe(-EINVAL);
    expect(h.update(u32(1), u64(5), 8)).toBe(-EINVAL);
    expect(h.read(h.lookup(u32(1)), 8)).toEqual(u64(4));
  });

  it('full: E2BIG for a new key, replacing still works, a delete makes room', async () => {
    const h = await Harness.create({ type: MapType.HASH, maxEntries: 3, flags: BPF_F_NO_PREALLOC });
    for (let i = 0; i < 3; i++) expect(h.update(u32(i), u64(i))).toBe(0);
    expect(h.update(u32(3), u64(3))).toBe(-E2BIG);
    expect(h.update(u32(2), u64(20))).toBe(0);
    expect(h.delete(u32(0))).toBe(0);
    expect(h.update(u32(3), u64(3))).toBe(0);
    expect(h.update(u32(4), u64(4))).toBe(-E2BIG);
    expect([...h.store.keys(0)].map(readU32).sort()).toEqual([1, 2, 3]);
  });

  it.each([1, 3, 4, 8, 13, 16, 64, 512])('keys of %i bytes', async (keySize) => {
    const h = await Harness.create({ type: MapType.HASH, keySize, valueSize: 4, maxEntries: 64 });
    const key = (i: number): Uint8Array => Uint8Array.from({ length: keySize }, (_, j) => (j === keySize - 1 ? i : (i * 31 + j) & 0xff));
    for (let i = 0; i < 50; i++) expect(h.update(key(i), u32(i))).toBe(0);
    for (let i = 0; i < 50; i++) expect(readU32(h.read(h.lookup(key(i)), 4))).toBe(i);
    expect(h.lookup(key(200))).toBe(0);
    for (let i = 0; i < 50; i += 2) expect(h.delete(key(i))).toBe(0);
    for (let i = 0; i < 50; i++) expect(h.lookup(key(i)) !== 0).toBe(i % 2 === 1);
    expect([...h.store.keys(0)]).toHaveLength(25);
  });

  it('get_next_key walks every key once; a missing key starts over; ENOENT at the end', async () => {
    const h = await Harness.create({ type: MapType.HASH, keySize: 8, maxEntries: 100 });
    for (let i = 0; i < 60; i++) h.store.update(0, u64(i * 1000), u64(i));
    const seen = [...h.store.keys(0)].map((k) => Number(new DataView(k.buffer).getBigUint64(0, true)));
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i * 1000));
    const keys = [...h.store.keys(0)];
    expect(h.store.nextKey(0, u64(12345))).toEqual(keys[0]);
    const next = h.buf(8);
    expect(h.store.raw.map_get_next_key(h.desc(), h.put(keys[58]!), next)).toBe(0);
    expect(h.read(next, 8)).toEqual(keys[59]);
    expect(h.store.raw.map_get_next_key(h.desc(), h.put(keys[59]!), next)).toBe(-ENOENT);
    const empty = await Harness.create({ type: MapType.HASH });
    expect(empty.store.nextKey(0)).toBeUndefined();
  });

  it('holds 10k entries with 4-byte keys', async () => {
    const h = await Harness.create({ type: MapType.HASH, valueSize: 8, maxEntries: 10_000 });
    for (let i = 0; i < 10_000; i++) expect(h.update(u32(i * 2654435761), u64(i))).toBe(0);
    expect(h.update(u32(1), u64(0))).toBe(-E2BIG);
    expect(h.store.count(0)).toBe(10_000);
    for (let i = 0; i < 10_000; i += 97) expect(h.read(h.lookup(u32(i * 2654435761)), 8)).toEqual(u64(i));
    expect([...h.store.keys(0)]).toHaveLength(10_000);
    expect([...h.store.entries(h.desc())]).toHaveLength(10_000);
  });

  it('seeds every map at random unless a seed is given', async () => {
    const shapes = [shape({ type: MapType.HASH }), shape({ type: MapType.HASH }, 1)];
    const layout = layoutMaps(shapes, BASE);
    const seedsOf = async (seed?: number): Promise<number[]> => {
      const memory = new WebAssembly.Memory({ initial: 1 });
      await MapStore.create(memory, shapes.map((s, i) => ({ shape: s, placement: layout.placements[i]!, index: i })), seed === undefined ? {} : { seed });
      return layout.placements.map((p) => new DataView(memory.buffer).getUint32(p.meta, true));
    };
    const [a, b] = [await seedsOf(), await seedsOf()];
    expect(a).not.toEqual(b);
    expect(a[0]).not.toBe(a[1]);
    expect(await seedsOf(42)).toEqual(await seedsOf(42));
    expect(await seedsOf(42)).not.toEqual(await seedsOf(43));
  });

  it('draws random seeds only when a map keeps one (arrays and queues alone never touch crypto)', async () => {
    const create = async (types: number[]): Promise<{ calls: number; seeds: number[] }> => {
      const shapes = types.map((type, i) => shape({ type, ...(type === MapType.QUEUE ? { keySize: 0 } : {}) }, i));
      const layout = layoutMaps(shapes, BASE);
      const memory = new WebAssembly.Memory({ initial: 1 });
      const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
      try {
        await MapStore.create(memory, shapes.map((s, i) => ({ shape: s, placement: layout.placements[i]!, index: i })));
        const seeds = layout.placements.map((p, i) => (types[i] === MapType.HASH ? new DataView(memory.buffer).getUint32(p.meta, true) : 0));
        return { calls: spy.mock.calls.length, seeds };
      } finally {
        spy.mockRestore();
      }
    };
    expect((await create([MapType.ARRAY, MapType.QUEUE, MapType.PERCPU_ARRAY])).calls).toBe(0);
    const mixed = [await create([MapType.ARRAY, MapType.HASH]), await create([MapType.ARRAY, MapType.HASH])];
    expect(mixed.map((m) => m.calls)).toEqual([1, 1]);
    expect(mixed[0]!.seeds[1]).not.toBe(mixed[1]!.seeds[1]);
  });

  it('the JS API: delete reports whether the key was there', async () => {
    const h = await Harness.create({ type: MapType.HASH });
    h.store.update(0, u32(5), u64(1));
    expect(() => h.store.update(0, u32(5), u64(1), BPF_NOEXIST)).toThrow(/EEXIST/);
    expect(h.store.valueAddress(0, u32(5))).toBe(h.lookup(u32(5)));
    expect(h.store.delete(0, u32(5))).toBe(true);
    expect(h.store.delete(0, u32(5))).toBe(false);
    expect(h.store.valueAddress(0, u32(5))).toBe(0);
    h.store.update(0, u32(6), u64(1));
    h.store.clear(0);
    expect(h.store.count(0)).toBe(0);
    expect(h.store.lookup(0, u32(6))).toBeUndefined();
  });

  it('PERCPU_HASH: one CPU', async () => {
    const h = await Harness.create({ type: MapType.PERCPU_HASH, valueSize: 4 });
    expect(h.update(u32(1), u32(5))).toBe(0);
    const a = h.lookup(u32(1));
    expect(h.store.raw.map_lookup_percpu_elem(h.desc(), h.put(u32(1)), 0) >>> 0).toBe(a);
    expect(h.store.raw.map_lookup_percpu_elem(h.desc(), h.put(u32(1)), 1)).toBe(0);
  });

  // 4-byte keys hash by multiply-shift (wasm/maps/hash.ts): keys that differ only in some bits
  // (ports, counters, addresses in one subnet, multiples of a power of two) still spread over the
  // buckets, so chains stay short. A hash that kept the low bits would put all of the shifted
  // patterns in one bucket.
  it.each([
    ['consecutive', (i: number) => i],
    ['multiples of 2^8', (i: number) => i << 8],
    ['multiples of 2^16', (i: number) => i << 16],
    ['multiples of 2^22', (i: number) => (i << 22) >>> 0],
    ['10.0.0.0/22 in network order', (i: number) => (0x0a | ((i >> 8) << 16) | ((i & 0xff) << 24)) >>> 0],
  ])('4-byte keys spread over the buckets: %s', async (_name, keyAt) => {
    const n = 1024;
    const h = await Harness.create({ type: MapType.HASH, valueSize: 4, maxEntries: n });
    for (let i = 0; i < n; i++) expect(h.update(u32(keyAt(i)), u32(i))).toBe(0);
    for (let i = 0; i < n; i++) expect(h.read(h.lookup(u32(keyAt(i))), 4)).toEqual(u32(i));
    const t = htabOf(h);
    const v = new DataView(h.memory.buffer);
    let used = 0;
    let longest = 0;
    let total = 0;
    for (let b = 0; b < t.nBuckets; b++) {
      let len = 0;
      for (let s = v.getUint32(t.bucket(b), true); s !== 0 && len <= n; s = v.getUint32(t.entry(s - 1), true)) len++;
      if (len > 0) used++;
      longest = Math.max(longest, len);
      total += len;
    }
    expect(total).toBe(n);
    // 1024 keys at random in 1024 buckets: ~632 used, the longest chain ~5.
    expect(used).toBeGreaterThan(550);
    expect(longest).toBeLessThanOrEqual(8);
  });
});

describe('LRU_HASH and LRU_PERCPU_HASH', () => {
  it.each([MapType.LRU_HASH, MapType.LRU_PERCPU_HASH])('type %i evicts an entry not used recently instead of failing', async (type) => {
    const h = await Harness.create({ type, maxEntries: 8 });
    for (let i = 0; i < 8; i++) expect(h.update(u32(i), u64(i))).toBe(0);
    for (const i of [0, 2, 4, 6]) expect(h.lookup(u32(i))).not.toBe(0);
    for (let i = 8; i < 12; i++) expect(h.update(u32(i), u64(i))).toBe(0);
    expect(h.store.count(0)).toBe(8);
    for (const i of [0, 2, 4, 6, 8, 9, 10, 11]) expect(h.lookup(u32(i))).not.toBe(0);
    for (const i of [1, 3, 5, 7]) expect(h.lookup(u32(i))).toBe(0);
  });

  it('an update counts as a use, as the kernel marks the replacing element', async () => {
    const h = await Harness.create({ type: MapType.LRU_HASH, maxEntries: 3 });
    for (let i = 0; i < 3; i++) h.update(u32(i), u64(i));
    expect(h.update(u32(0), u64(100))).toBe(0);
    expect(h.update(u32(3), u64(3))).toBe(0);
    expect(h.lookup(u32(0))).not.toBe(0);
    expect(h.lookup(u32(1))).toBe(0);
  });

  it('JS lookups do not mark entries used', async () => {
    const h = await Harness.create({ type: MapType.LRU_HASH, maxEntries: 2 });
    h.update(u32(0), u64(0));
    h.update(u32(1), u64(1));
    expect(h.store.lookup(0, u32(0))).toEqual(u64(0));
    h.update(u32(2), u64(2));
    expect(h.store.lookup(0, u32(0))).toBeUndefined();
  });

  it('flags: EEXIST / ENOENT as hash maps; BPF_F_LOCK is EINVAL (not masked by the LRU)', async () => {
    const h = await Harness.create({ type: MapType.LRU_HASH, maxEntries: 2 });
    expect(h.update(u32(1), u64(1), BPF_EXIST)).toBe(-ENOENT);
    expect(h.update(u32(1), u64(1), BPF_NOEXIST)).toBe(0);
    expect(h.update(u32(1), u64(1), BPF_NOEXIST)).toBe(-EEXIST);
    expect(h.update(u32(1), u64(1), BPF_F_LOCK)).toBe(-EINVAL);
  });

  it('keeps working through many evictions', async () => {
    const h = await Harness.create({ type: MapType.LRU_HASH, maxEntries: 64 });
    for (let i = 0; i < 5000; i++) {
      expect(h.update(u32(i), u64(i))).toBe(0);
      expect(h.read(h.lookup(u32(i)), 8)).toEqual(u64(i));
      if (i % 3 === 0) h.lookup(u32(i - 10));
      if (i % 7 === 0) h.delete(u32(i - 5));
    }
    expect(h.store.count(0)).toBeLessThanOrEqual(64);
    const keys = [...h.store.keys(0)];
    expect(keys).toHaveLength(h.store.count(0));
    for (const k of keys) expect(h.lookup(k)).not.toBe(0);
  });
});

// ------------------------------------------------------------------------------ LPM trie

describe('LPM_TRIE', () => {
  const ipv4 = (len: number, a: number, b = 0, c = 0, d = 0): Uint8Array => lpmKey(len, a, b, c, d);
  const create = (maxEntries = 16, keySize = 8): Promise<Harness> =>
    Harness.create({ type: MapType.LPM_TRIE, keySize, valueSize: 4, maxEntries, flags: BPF_F_NO_PREALLOC });
  const value = (h: Harness, key: Uint8Array): number | undefined => {
    const a = h.lookup(key);
    return a === 0 ? undefined : readU32(h.read(a, 4));
  };

  it('finds the longest matching prefix: 10.0.0.0/8 vs 10.1.0.0/16', async () => {
    const h = await create();
    expect(h.update(ipv4(8, 10), u32(8))).toBe(0);
    expect(h.update(ipv4(16, 10, 1), u32(16))).toBe(0);
    expect(value(h, ipv4(32, 10, 1, 2, 3))).toBe(16);
    expect(value(h, ipv4(32, 10, 2, 2, 3))).toBe(8);
    expect(value(h, ipv4(32, 11, 1, 2, 3))).toBeUndefined();
    // The key's own prefix length bounds the match.
    expect(value(h, ipv4(12, 10, 1))).toBe(8);
    expect(value(h, ipv4(16, 10, 1))).toBe(16);
    expect(value(h, ipv4(7, 10, 1))).toBeUndefined();
    expect(h.update(ipv4(0, 0), u32(0))).toBe(0);
    expect(value(h, ipv4(32, 11, 1, 2, 3))).toBe(0);
    expect(value(h, ipv4(200, 10, 1, 0, 0))).toBe(16);
  });

  it('matches bit by bit, not byte by byte', async () => {
    const h = await create();
    h.update(ipv4(25, 192, 168, 1, 128), u32(25));
    h.update(ipv4(23, 192, 168, 0), u32(23));
    expect(value(h, ipv4(32, 192, 168, 1, 200))).toBe(25);
    expect(value(h, ipv4(32, 192, 168, 1, 100))).toBe(23);
    expect(value(h, ipv4(32, 192, 168, 2, 1))).toBeUndefined();
    // Bits past the prefix are ignored on update and delete.
    expect(h.update(ipv4(23, 192, 168, 1, 99), u32(99), BPF_EXIST)).toBe(0);
    expect(value(h, ipv4(32, 192, 168, 0, 1))).toBe(99);
    expect(h.delete(ipv4(23, 192, 168, 1, 255))).toBe(0);
    expect(value(h, ipv4(32, 192, 168, 0, 1))).toBeUndefined();
  });

  it('update and delete take the exact prefix, with the kernel errors', async () => {
    const h = await create(2);
    expect(h.update(ipv4(33, 10), u32(1))).toBe(-EINVAL);
    expect(h.update(ipv4(8, 10), u32(1), 3)).toBe(-EINVAL);
    expect(h.update(ipv4(8, 10), u32(1), BPF_F_LOCK)).toBe(-EINVAL);
    expect(h.update(ipv4(8, 10), u32(1), BPF_EXIST)).toBe(-ENOENT);
    expect(h.update(ipv4(8, 10), u32(1), BPF_NOEXIST)).toBe(0);
    expect(h.update(ipv4(8, 10), u32(2), BPF_NOEXIST)).toBe(-EEXIST);
    expect(h.update(ipv4(16, 10, 1), u32(3))).toBe(0);
    expect(h.update(ipv4(24, 10, 1, 1), u32(4))).toBe(-ENOSPC);
    expect(h.update(ipv4(16, 10, 1), u32(5))).toBe(0);
    expect(h.delete(ipv4(33, 10))).toBe(-EINVAL);
    expect(h.delete(ipv4(12, 10))).toBe(-ENOENT);
    expect(h.delete(ipv4(8, 10))).toBe(0);
    expect(h.delete(ipv4(8, 10))).toBe(-ENOENT);
    expect(value(h, ipv4(32, 10, 1, 1, 1))).toBe(5);
    expect(value(h, ipv4(32, 10, 2, 1, 1))).toBeUndefined();
  });

  it('get_next_key visits every prefix; an invalid key starts over', async () => {
    const h = await create();
    const keys = [ipv4(8, 10), ipv4(16, 10, 1), ipv4(24, 10, 1, 2), ipv4(0, 0), ipv4(32, 1, 2, 3, 4)];
    for (const k of keys) h.store.update(0, k, u32(1));
    const walked = [...h.store.keys(0)].map((k) => [...k].join('.')).sort();
    expect(walked).toEqual(keys.map((k) => [...k].join('.')).sort());
    expect(h.store.nextKey(0, ipv4(40, 1))).toEqual(h.store.nextKey(0));
  });

  it('IPv6 keys (128-bit prefixes)', async () => {
    const h = await create(8, 20);
    const v6 = (len: number, ...head: number[]): Uint8Array => lpmKey(len, ...head, ...new Array(16 - head.length).fill(0));
    h.store.update(0, v6(32, 0x20, 0x01, 0x0d, 0xb8), u32(32));
    h.store.update(0, v6(64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1), u32(64));
    h.store.update(0, v6(128, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1), u32(128));
    expect(value(h, v6(128, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1))).toBe(128);
    expect(value(h, v6(128, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2))).toBe(64);
    expect(value(h, v6(128, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 2))).toBe(32);
    expect(value(h, v6(128, 0x20, 0x02))).toBeUndefined();
  });

  it('agrees with a naive longest-prefix model on random operations', async () => {
    const h = await create(24, 6);
    const model = new Map<string, { len: number; data: number; value: number }>();
    const norm = (len: number, data: number): number => (len === 0 ? 0 : (data >>> (16 - len)) << (16 - len));
    const key = (len: number, data: number): Uint8Array => lpmKey(len, (data >> 8) & 0xff, data & 0xff);
    await fc.assert(fc.property(
      fc.array(fc.record({ op: fc.constantFrom('update', 'delete', 'lookup'), len: fc.integer({ min: 0, max: 18 }), data: fc.integer({ min: 0, max: 0xffff }), v: fc.nat() }), { maxLength: 60 }),
      (ops) => {
        h.store.clear(0);
        model.clear();
        for (const { op, len, data, v } of ops) {
          const id = `${len}/${norm(len, data)}`;
          if (op === 'update') {
            const r = h.update(key(len, data), u32(v));
            if (len > 16) expect(r).toBe(-EINVAL);
            else if (!model.has(id) && model.size === 24) expect(r).toBe(-ENOSPC);
            else {
              expect(r).toBe(0);
              model.set(id, { len, data: norm(len, data), value: v });
            }
          } else if (op === 'delete') {
            const r = h.delete(key(len, data));
            expect(r).toBe(len > 16 ? -EINVAL : model.delete(id) ? 0 : -ENOENT);
          } else {
            let best: { len: number; value: number } | undefined;
            const q = Math.min(len, 16);
            for (const e of model.values()) {
              if (e.len <= q && norm(e.len, data) === e.data && (!best || e.len > best.len)) best = e;
            }
            expect(value(h, key(len, data))).toBe(best === undefined ? undefined : best.value >>> 0);
          }
        }
        expect(h.store.count(0)).toBe(model.size);
      },
    ), { numRuns: 150 });
  });
});

// ------------------------------------------------------------------------------ queue, stack, bloom

describe('QUEUE and STACK', () => {
  it('a queue is FIFO, a stack LIFO; pop and peek on empty are ENOENT', async () => {
    const h = await Harness.create({ type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 3 }, { type: MapType.STACK, keySize: 0, valueSize: 4, maxEntries: 3 });
    for (const m of [0, 1]) {
      expect(h.pop(4, m).ret).toBe(-ENOENT);
      expect(h.peek(4, m).ret).toBe(-ENOENT);
      for (const v of [1, 2, 3]) expect(h.push(u32(v), 0, m)).toBe(0);
      expect(h.push(u32(4), 0, m)).toBe(-E2BIG);
    }
    expect(readU32(h.peek(4, 0).value)).toBe(1);
    expect([1, 2, 3].map(() => readU32(h.pop(4, 0).value))).toEqual([1, 2, 3]);
    expect(readU32(h.peek(4, 1).value)).toBe(3);
    expect([1, 2, 3].map(() => readU32(h.pop(4, 1).value))).toEqual([3, 2, 1]);
    expect(h.pop(4, 0).ret).toBe(-ENOENT);
  });

  it('BPF_EXIST overwrites the oldest element when full; BPF_NOEXIST and unknown flags are EINVAL', async () => {
    const h = await Harness.create({ type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 3 }, { type: MapType.STACK, keySize: 0, valueSize: 4, maxEntries: 3 });
    for (const m of [0, 1]) {
      for (const v of [1, 2, 3, 4, 5]) expect(h.push(u32(v), BPF_EXIST, m)).toBe(0);
      expect(h.push(u32(6), BPF_NOEXIST, m)).toBe(-EINVAL);
      expect(h.push(u32(6), 4, m)).toBe(-EINVAL);
    }
    expect([0, 1, 2].map(() => readU32(h.store.pop(0)!))).toEqual([3, 4, 5]);
    expect([0, 1, 2].map(() => readU32(h.store.pop(1)!))).toEqual([5, 4, 3]);
  });

  it('wraps around its ring many times', async () => {
    const h = await Harness.create({ type: MapType.QUEUE, keySize: 0, valueSize: 8, maxEntries: 5 });
    const model: bigint[] = [];
    for (let i = 0; i < 200; i++) {
      if (i % 3 !== 2 && model.length < 5) {
        h.store.push(0, u64(i));
        model.push(BigInt(i));
      } else {
        const v = h.store.pop(0);
        const m = model.shift();
        expect(v === undefined ? undefined : new DataView(v.buffer).getBigUint64(0, true)).toBe(m);
      }
    }
  });

  it('lookup, update and delete from programs fail as the kernel; get_next_key is EINVAL', async () => {
    const h = await Harness.create({ type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 3 });
    expect(h.lookup([])).toBe(0);
    expect(h.update([], u32(1))).toBe(-EINVAL);
    expect(h.delete([])).toBe(-EINVAL);
    expectError(() => h.store.nextKey(0), ErrorCode.MapOp, 'm0');
  });

  it('the JS API: update with an empty key pushes, lookup peeks', async () => {
    const h = await Harness.create({ type: MapType.STACK, keySize: 0, valueSize: 2, maxEntries: 2 });
    h.store.update(0, new Uint8Array(0), Uint8Array.of(1, 2));
    h.store.push(0, Uint8Array.of(3, 4));
    expect(() => h.store.push(0, Uint8Array.of(5, 6))).toThrow(/E2BIG/);
    expect(h.store.lookup(0, new Uint8Array(0))).toEqual(Uint8Array.of(3, 4));
    expect(h.store.peek(0)).toEqual(Uint8Array.of(3, 4));
    expect(h.store.pop(0)).toEqual(Uint8Array.of(3, 4));
    expect(h.store.pop(0)).toEqual(Uint8Array.of(1, 2));
    expect(h.store.pop(0)).toBeUndefined();
    expect(h.store.count(0)).toBe(0);
  });
});

describe('BLOOM_FILTER', () => {
  it('push adds; peek finds every added value and few others', async () => {
    const h = await Harness.create({ type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 100 });
    for (let i = 0; i < 100; i++) expect(h.push(u32(i * 7919))).toBe(0);
    for (let i = 0; i < 100; i++) expect(h.peek(u32(i * 7919)).ret).toBe(0);
    let positives = 0;
    for (let i = 0; i < 2000; i++) if (h.peek(u32(1_000_000 + i)).ret === 0) positives++;
    expect(positives).toBeLessThan(100);
    expect(h.peek(u32(1_000_000)).ret === 0 || h.peek(u32(1_000_000)).ret === -ENOENT).toBe(true);
  });

  it('flags other than BPF_ANY are EINVAL; pop, update, delete are EOPNOTSUPP', async () => {
    const h = await Harness.create({ type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 8, maxEntries: 10, mapExtra: 3 });
    expect(h.push(u64(1), BPF_EXIST)).toBe(-EINVAL);
    expect(h.pop(8).ret).toBe(-EOPNOTSUPP);
    expect(h.update([], u64(1))).toBe(-EOPNOTSUPP);
    expect(h.delete([])).toBe(-EOPNOTSUPP);
    expect(h.lookup([])).toBe(0);
    expectError(() => h.store.nextKey(0), ErrorCode.MapOp, 'm0');
  });

  it('the JS API: peek takes the value and returns it when possibly present', async () => {
    const h = await Harness.create({ type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 13, maxEntries: 10 });
    const v = Uint8Array.from({ length: 13 }, (_, i) => i);
    expect(h.store.peek(0, v)).toBeUndefined();
    h.store.push(0, v);
    expect(h.store.peek(0, v)).toEqual(v);
    expectError(() => h.store.peek(0), ErrorCode.BadArgument, 'm0');
    expectError(() => h.store.valueAddress(0, new Uint8Array(0)), ErrorCode.MapOp, 'm0');
    h.store.clear(0);
    expect(h.store.peek(0, v)).toBeUndefined();
  });
});

// ------------------------------------------------------------------------------ slots

describe('PROG_ARRAY and maps of maps', () => {
  it('prog array: userspace fills slots with program + 1; programs see NULL; tail calls find the program', async () => {
    const h = await Harness.create({ type: MapType.PROG_ARRAY, valueSize: 4, maxEntries: 4 });
    h.store.update(0, u32(2), u32(5 + 1));
    expect(h.store.lookup(0, u32(2))).toEqual(u32(6));
    expect(h.store.lookup(0, u32(1))).toBeUndefined();
    expect(h.lookup(u32(2))).toBe(0);
    expect(h.store.progAt(h.desc(), 2)).toBe(5);
    expect(h.store.progAt(h.desc(), 1)).toBeUndefined();
    expect(h.store.progAt(h.desc(), 4)).toBeUndefined();
    expect(h.store.raw.map_prog_at(h.desc(), 0xffffffff)).toBe(-1);
    // The slot is where the compiler's inline bpf_tail_call reads it.
    expect(h.read(h.layout.placements[0]!.values + 8, 4)).toEqual(u32(6));
    expect(h.update(u32(1), u32(1))).toBe(-EINVAL);
    expect(h.delete(u32(2))).toBe(-EINVAL);
    expect(() => h.store.update(0, u32(1), u32(1), BPF_NOEXIST)).toThrow(/EINVAL/);
    expect(() => h.store.update(0, u32(4), u32(1))).toThrow(/E2BIG/);
    expect(() => h.store.update(0, u32(1), u32(0))).toThrow(/EINVAL/);
    expect(h.store.delete(0, u32(2))).toBe(true);
    expect(h.store.delete(0, u32(2))).toBe(false);
    expect(() => h.store.delete(0, u32(9))).toThrow(/E2BIG/);
    expect([...h.store.keys(0)].map(readU32)).toEqual([0, 1, 2, 3]);
  });

  it('array of maps: lookup yields the inner map, whose lookups work', async () => {
    const h = await Harness.create(
      { type: MapType.ARRAY_OF_MAPS, valueSize: 4, maxEntries: 2 },
      { type: MapType.HASH, valueSize: 4 },
      { type: MapType.ARRAY_OF_MAPS, valueSize: 4, maxEntries: 1 },
    );
    h.store.update(1, u32(3), u32(33));
    h.store.update(0, u32(1), u32(h.desc(1)));
    expect(h.lookup(u32(0))).toBe(0);
    const inner = h.lookup(u32(1));
    expect(inner).toBe(h.desc(1));
    expect(readU32(h.read(h.store.raw.map_lookup_elem(inner, h.put(u32(3))), 4))).toBe(33);
    expect(h.lookup(u32(2))).toBe(0);
    expect(h.store.lookup(0, u32(1))).toEqual(u32(h.desc(1)));
    expect(h.update(u32(0), u32(h.desc(1)))).toBe(-EINVAL);
    expectError(() => h.store.update(0, u32(0), u32(0x1234)), ErrorCode.BadArgument, 'm0');
    expectError(() => h.store.update(0, u32(0), u32(h.desc(2))), ErrorCode.BadArgument, 'm0');
    expect(h.store.delete(0, u32(1))).toBe(true);
    expect(h.lookup(u32(1))).toBe(0);
  });

  it('hash of maps: lookup yields the inner map; the slots are out of programs reach', async () => {
    const h = await Harness.create({ type: MapType.HASH_OF_MAPS, keySize: 8, valueSize: 4, maxEntries: 4 }, { type: MapType.ARRAY, maxEntries: 1 });
    expect(h.layout.placements[0]!.values).toBeLessThan(h.layout.arenaBase);
    h.store.update(0, u64(77), u32(h.desc(1)));
    expect(h.lookup(u64(77))).toBe(h.desc(1));
    expect(h.lookup(u64(78))).toBe(0);
    expect(h.store.lookup(0, u64(77))).toEqual(u32(h.desc(1)));
    expect(() => h.store.update(0, u64(77), u32(h.desc(1)), BPF_NOEXIST)).toThrow(/EEXIST/);
    expect(h.update(u64(1), u32(h.desc(1)))).toBe(-EINVAL);
    expect(h.delete(u64(77))).toBe(-EINVAL);
    expect(h.store.delete(0, u64(77))).toBe(true);
    expect(h.lookup(u64(77))).toBe(0);
  });
});

// ------------------------------------------------------------------------------ flags, other types

describe('BPF_F_RDONLY_PROG and the types handled elsewhere', () => {
  it('programs may read but not change a read-only map; userspace may', async () => {
    const h = await Harness.create(
      { type: MapType.HASH, flags: BPF_F_RDONLY_PROG },
      { type: MapType.QUEUE, keySize: 0, valueSize: 4, flags: BPF_F_RDONLY_PROG },
    );
    expect(h.update(u32(1), u64(1))).toBe(-EPERM);
    h.store.update(0, u32(1), u64(5));
    expect(h.read(h.lookup(u32(1)), 8)).toEqual(u64(5));
    expect(h.delete(u32(1))).toBe(-EPERM);
    expect(h.push(u32(1), 0, 1)).toBe(-EPERM);
    h.store.push(1, u32(9));
    expect(h.pop(4, 1).ret).toBe(-EPERM);
    expect(readU32(h.peek(4, 1).value)).toBe(9);
  });

  it('ring buffers and perf event arrays get descriptors; map operations are refused', async () => {
    const h = await Harness.create(
      { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 8192 },
      { type: MapType.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: 0 },
    );
    const v = new DataView(h.memory.buffer);
    expect(v.getUint32(h.desc(0) + desc.D_VALUES, true)).toBe(h.layout.placements[0]!.values);
    expect(v.getUint32(h.desc(0) + desc.D_MAX_ENTRIES, true)).toBe(8192);
    expect(h.layout.placements[0]!.values).toBeGreaterThanOrEqual(h.layout.arenaBase);
    expect(h.lookup([], 0)).toBe(0);
    expect(h.update([], [], 0, 0)).toBe(-EOPNOTSUPP);
    expect(h.delete([], 0)).toBe(-EOPNOTSUPP);
    expect(h.push([], 0, 0)).toBe(-EINVAL);
    expect(h.update(u32(0), u32(0), 0, 1)).toBe(-EINVAL);
    expect(h.lookup(u32(0), 1)).toBe(0);
    expectError(() => h.store.lookup(0, new Uint8Array(0)), ErrorCode.MapOp, 'm0');
    expect([...h.store.entries(h.desc(0))]).toEqual([]);
  });
});

// ------------------------------------------------------------------------------ iteration

describe('entries (bpf_for_each_map_elem)', () => {
  it('arrays yield every index, the key a u32 in the scratch area', async () => {
    const h = await Harness.create({ type: MapType.ARRAY, valueSize: 4, maxEntries: 5 });
    const seen: [number, number][] = [];
    for (const [k, v] of h.store.entries(h.desc())) {
      expect(k).toBeGreaterThanOrEqual(MAPS_SCRATCH.keyRing);
      expect(k).toBeLessThan(MAPS_SCRATCH.key);
      seen.push([readU32(h.read(k, 4)), v]);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => [i, h.layout.placements[0]!.values + 8 * i]));
  });

  it('nested walks keep their own array keys', async () => {
    const h = await Harness.create({ type: MapType.ARRAY, maxEntries: 3 });
    const pairs: string[] = [];
    for (const [k1] of h.store.entries(h.desc())) {
      for (const [k2] of h.store.entries(h.desc())) pairs.push(`${readU32(h.read(k1, 4))}${readU32(h.read(k2, 4))}`);
    }
    expect(pairs).toEqual(['00', '01', '02', '10', '11', '12', '20', '21', '22']);
  });

  it('hash maps yield each element with its key; deleting during the walk is safe', async () => {
    const h = await Harness.create({ type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 32 });
    for (let i = 0; i < 20; i++) h.store.update(0, u32(i), u32(i * 10));
    const seen = new Map<number, number>();
    for (const [k, v] of h.store.entries(h.desc())) {
      const key = readU32(h.read(k, 4));
      seen.set(key, readU32(h.read(v, 4)));
      expect(v).toBe(h.lookup(u32(key)));
      if (key % 2 === 0) h.store.delete(0, u32(key));
    }
    expect(seen.size).toBe(20);
    for (const [k, v] of seen) expect(v).toBe(k * 10);
    expect([...h.store.entries(h.desc())]).toHaveLength(10);
    expectError(() => [...h.store.entries(0x1234)], ErrorCode.BadArgument);
  });
});

// ------------------------------------------------------------------------------ differential

describe('differential: hash maps against a JS Map', () => {
  const ops = fc.array(fc.record({
    op: fc.constantFrom('update', 'update', 'delete', 'lookup', 'next'),
    key: fc.integer({ min: 0, max: 40 }),
    value: fc.nat(),
    flags: fc.constantFrom(0, 0, 1, 2, 3, 4),
  }), { maxLength: 120 });

  it.each([4, 8, 6])('%i-byte keys, program path, small map (full often)', async (keySize) => {
    const h = await Harness.create({ type: MapType.HASH, keySize, valueSize: 4, maxEntries: 12 });
    const key = (k: number): Uint8Array => Uint8Array.from({ length: keySize }, (_, i) => (i === 0 ? k : i === 1 ? k >> 3 : 0));
    await fc.assert(fc.property(ops, (list) => {
      h.store.clear(0);
      const model = new Map<number, number>();
      for (const { op, key: k, value, flags } of list) {
        if (op === 'update') {
          const mode = flags & ~BPF_F_LOCK;
          const exists = model.has(k);
          const expected = mode > BPF_EXIST ? -EINVAL
            : exists && mode === BPF_NOEXIST ? -EEXIST
              : !exists && mode === BPF_EXIST ? -ENOENT
                : !exists && model.size === 12 ? -E2BIG : 0;
          expect(h.update(key(k), u32(value), flags)).toBe(expected);
          if (expected === 0) model.set(k, value);
        } else if (op === 'delete') {
          expect(h.delete(key(k))).toBe(model.delete(k) ? 0 : -ENOENT);
        } else if (op === 'lookup') {
          const a = h.lookup(key(k));
          expect(a === 0 ? undefined : readU32(h.read(a, 4))).toBe(model.get(k));
        } else {
          const keys = [...h.store.keys(0)].map((b) => b[0]!);
          expect(keys.sort((x, y) => x - y)).toEqual([...model.keys()].sort((x, y) => x - y));
        }
        expect(h.store.count(0)).toBe(model.size);
      }
    }), { numRuns: 200 });
  });
});

// ------------------------------------------------------------------------------ memory

describe('the store and linear memory', () => {
  it('grows the memory to hold the maps and keeps working after the program grows it', async () => {
    const shapes = [shape({ type: MapType.ARRAY, valueSize: 1024, maxEntries: 200 })];
    const layout = layoutMaps(shapes, BASE);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const store = await MapStore.create(memory, [{ shape: shapes[0]!, placement: layout.placements[0]!, index: 7 }]);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(layout.arenaEnd);
    store.update(7, u32(199), new Uint8Array(1024).fill(3));
    memory.grow(2);
    expect(store.lookup(7, u32(199))).toEqual(new Uint8Array(1024).fill(3));
    expect(store.descOf(7)).toBe(layout.placements[0]!.desc);
    expectError(() => store.descOf(0), ErrorCode.BadArgument);
  });

  it('refuses a placement smaller than the shape needs', async () => {
    const s = shape({ type: MapType.HASH, maxEntries: 100 });
    const p = { ...layoutMaps([s], BASE).placements[0]!, metaSize: 16 };
    const memory = new WebAssembly.Memory({ initial: 1 });
    await expect(MapStore.create(memory, [{ shape: s, placement: p, index: 0 }])).rejects.toSatisfy((e: unknown) => e instanceof BpfRuntimeError && e.code === ErrorCode.BadMap);
  });
});

// ------------------------------------------------------------------------------ forged descriptors, corrupted metadata

type Arg = number | bigint;
type Call = [name: keyof MapsExports, ...args: Arg[]];

interface Isolated {
  /** Each call's result (undefined for map_clear), or `trap: ...` if it trapped. */
  results: (Arg | undefined | string)[];
  /** Each call's duration in ms. */
  ms: number[];
  /** The memory after the calls. */
  memory: Uint8Array;
}

/**
 * Runs `calls` on the raw maps module over a copy of `memory` (descriptor table included) in a
 * worker that is stopped after `limitMs`: a walk that never ends fails the test instead of
 * hanging the suite, since nothing interrupts a loop in Wasm.
 */
function isolated(memory: WebAssembly.Memory, calls: Call[], limitMs = 10_000): Promise<Isolated> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { bytes, image, calls } = workerData;
    const memory = new WebAssembly.Memory({ initial: image.byteLength / 65536 });
    new Uint8Array(memory.buffer).set(image);
    WebAssembly.instantiate(bytes, { env: { memory } }).then(({ instance }) => {
      const results = [], ms = [];
      for (const [name, ...args] of calls) {
        const t0 = performance.now();
        try {
          results.push(instance.exports[name](...args));
        } catch (e) {
          results.push('trap: ' + e.message);
        }
        ms.push(performance.now() - t0);
      }
      parentPort.postMessage({ results, ms, memory: new Uint8Array(memory.buffer).slice() });
    }, (e) => parentPort.postMessage({ error: String(e) }));`;
  const image = new Uint8Array(memory.buffer).slice();
  const worker = new Worker(source, { eval: true, workerData: { bytes: mapsWasmBytes(), image, calls } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`hung: the maps module did not return within ${limitMs} ms`));
    }, limitMs);
    worker.on('message', (m: Isolated & { error?: string }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve(m);
    });
    worker.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

type DescField = 'type' | 'keySize' | 'valueSize' | 'maxEntries' | 'flags' | 'valueStride' | 'values' | 'meta' | 'metaSize' | 'count';
const DESC_FIELDS: Record<DescField, number> = {
  type: desc.D_TYPE, keySize: desc.D_KEY_SIZE, valueSize: desc.D_VALUE_SIZE, maxEntries: desc.D_MAX_ENTRIES, flags: desc.D_FLAGS,
  valueStride: desc.D_VALUE_STRIDE, values: desc.D_VALUES, meta: desc.D_META, metaSize: desc.D_META_SIZE, count: desc.D_COUNT,
};

/** A 64-byte descriptor as a program would forge one (type-specific state zero). */
function forgeDesc(fields: Partial<Record<DescField, number>>): Uint8Array {
  const b = new Uint8Array(desc.DESC_SIZE);
  const v = new DataView(b.buffer);
  for (const [k, val] of Object.entries(fields)) v.setUint32(DESC_FIELDS[k as DescField], val >>> 0, true);
  return b;
}

/** htab.ts's state words in the descriptor. */
const S_MASK = desc.D_STATE;
const S_FREE = desc.D_STATE + 4;
const S_BUMP = desc.D_STATE + 8;
const S_AUX = desc.D_STATE + 12;
/** bloom.ts's number of hash functions. */
const S_NR_HASH = desc.D_STATE + 4;

/** Where the hash table of map `i` keeps its buckets and entries (wasm/maps/htab.ts). */
function htabOf(h: Harness, i = 0): { nBuckets: number; bucket: (b: number) => number; entry: (slot: number) => number } {
  const v = new DataView(h.memory.buffer);
  const d = h.desc(i);
  const buckets = v.getUint32(d + desc.D_META, true) + 16;
  const nBuckets = v.getUint32(d + S_MASK, true) + 1;
  const stride = (v.getUint32(d + desc.D_KEY_SIZE, true) + 15) & ~7;
  return { nBuckets, bucket: (b) => buckets + 4 * b, entry: (slot) => buckets + 4 * nBuckets + slot * stride };
}

function setU32(h: Harness, addr: number, value: number): void {
  new DataView(h.memory.buffer).setUint32(addr, value >>> 0, true);
}

/** Every bucket of map `i`'s table leads to slot 0, whose `next` leads back to itself. */
function loopEveryBucket(h: Harness, i = 0): void {
  const t = htabOf(h, i);
  for (let b = 0; b < t.nBuckets; b++) setU32(h, t.bucket(b), 1);
  setU32(h, t.entry(0), 1);
}

/** A key of `size` bytes made from `i`. */
function keyOf(size: number, i: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let o = 0; o < size; o++) b[o] = (i * 31 + o * 7 + 1) & 0xff;
  new DataView(b.buffer).setUint32(0, i, true);
  return b;
}

describe('forged descriptors: the module takes only the descriptors the store wrote', () => {
  /** What each export returns for an address that is not a map: the kernel's answer for a non-map. */
  const REFUSED: Record<keyof MapsExports, [args: (map: number, key: number, value: number, out: number) => Arg[], refused: Arg | undefined]> = {
    map_lookup_elem: [(m, k) => [m, k], 0],
    map_update_elem: [(m, k, v) => [m, k, v, 0n], -BigInt(EINVAL)],
    map_delete_elem: [(m, k) => [m, k], -BigInt(EINVAL)],
    map_push_elem: [(m, _, v) => [m, v, 0n], -BigInt(EINVAL)],
    map_pop_elem: [(m, _k, _v, o) => [m, o], -BigInt(EINVAL)],
    map_peek_elem: [(m, _k, _v, o) => [m, o], -BigInt(EINVAL)],
    map_lookup_percpu_elem: [(m, k) => [m, k, 0], 0],
    user_lookup_elem: [(m, k) => [m, k], 0],
    user_update_elem: [(m, k, v) => [m, k, v, 0], -EINVAL],
    user_delete_elem: [(m, k) => [m, k], -EINVAL],
    user_push_elem: [(m, _, v) => [m, v, 0], -EINVAL],
    user_pop_elem: [(m, _k, _v, o) => [m, o], -EINVAL],
    user_peek_elem: [(m, _k, _v, o) => [m, o], -EINVAL],
    map_get_next_key: [(m, k, _v, o) => [m, k, o], -EINVAL],
    map_prog_at: [(m) => [m, 0], -1],
    map_next_slot: [(m) => [m, 0], -1],
    map_slot_key: [(m) => [m, 0], 0],
    map_slot_value: [(m) => [m, 0], 0],
    map_meta_size: [(m) => [m], 0],
    map_init: [(m) => [m, 1], -EINVAL],
    map_clear: [(m) => [m], undefined],
  };

  it('every export that takes a map is covered here', () => {
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(mapsWasmBytes())).map((e) => e.name).sort();
    expect(Object.keys(REFUSED).sort()).toEqual(exports);
  });

  it('every export refuses a forged, misaligned or out-of-table address and writes nothing', async () => {
    const h = await Harness.create(
      { type: MapType.HASH },
      { type: MapType.ARRAY, valueSize: 16, maxEntries: 1 },
      { type: MapType.QUEUE, keySize: 0, valueSize: 8, maxEntries: 4 },
      { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4 },
      { type: MapType.PROG_ARRAY, valueSize: 4, maxEntries: 4 },
      { type: MapType.LPM_TRIE, keySize: 8, flags: BPF_F_NO_PREALLOC },
      { type: MapType.ARRAY_OF_MAPS, valueSize: 4, maxEntries: 2 },
      { type: MapType.PERCPU_HASH },
    );
    const count = 8;
    h.store.update(0, u32(0), u64(1));
    h.store.update(4, u32(0), u32(1));
    h.store.push(2, u64(5));
    h.store.update(6, u32(0), u32(h.desc(1)));
    const key = h.put(u32(0));
    const value = h.put(new Uint8Array(64).fill(0xff));
    const out = h.buf(64);
    // A hash table whose one bucket's chain loops, on the "stack" too.
    const loopMeta = h.buf(64);
    setU32(h, loopMeta + 16, 1);
    setU32(h, loopMeta + 20, 1);
    setU32(h, loopMeta + 28, 7);
    const loopHash = forgeDesc({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4, valueStride: 8, values: h.desc(0), meta: loopMeta, metaSize: 64 });
    const forged: [string, number][] = [
      ['a copy of a real hash descriptor on the stack', h.put(h.read(h.desc(0), desc.DESC_SIZE))],
      ['an ARRAY on the stack whose values are a real descriptor', h.put(forgeDesc({ type: MapType.ARRAY, keySize: 4, valueSize: 64, maxEntries: 1, valueStride: 64, values: h.desc(0) }))],
      ['a QUEUE on the stack whose ring is a real descriptor', h.put(forgeDesc({ type: MapType.QUEUE, valueSize: 64, maxEntries: 1, valueStride: 64, meta: h.desc(1), metaSize: 64, count: 1 }))],
      ['a HASH on the stack whose chain loops', h.put(loopHash)],
      ['a PROG_ARRAY on the stack', h.put(forgeDesc({ type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, valueStride: 8, values: h.desc(0) }))],
      ['a descriptor + 4', h.desc(1) + 4],
      ['a descriptor + 1', h.desc(1) + 1],
      ['a descriptor - 8', h.desc(1) - 8],
      ['the last descriptor + 63', h.desc(count - 1) + 63],
      ['one past the table', h.layout.metaBase + desc.DESC_SIZE * count],
      ['one before the table', h.layout.metaBase - desc.DESC_SIZE],
      ['a hash map\'s metadata', h.layout.placements[0]!.meta],
      ['an array\'s values', h.layout.placements[1]!.values],
      ['the descriptor table itself', MAPS_SCRATCH.mapTable],
      ['0', 0],
      ['0xffffffc0', 0xffffffc0],
    ];
    const names = Object.keys(REFUSED) as (keyof MapsExports)[];
    const calls: Call[] = [];
    const expected: (Arg | undefined)[] = [];
    for (const [, addr] of forged) {
      for (const name of names) {
        const [args, refused] = REFUSED[name];
        calls.push([name, ...args(addr, key, value, out)]);
        expected.push(refused);
      }
    }
    const r = await isolated(h.memory, calls);
    const got = r.results.map((x, i) => `${forged[Math.floor(i / names.length)]![0]}: ${calls[i]![0]} -> ${String(x)}`);
    expect(got).toEqual(expected.map((x, i) => `${forged[Math.floor(i / names.length)]![0]}: ${calls[i]![0]} -> ${String(x)}`));
    expect(Buffer.from(r.memory).equals(Buffer.from(h.u8))).toBe(true);
    // The real descriptors still work.
    expect(h.lookup(u32(0), 0)).not.toBe(0);
    expect(h.store.raw.map_lookup_elem(h.desc(1), key)).toBe(h.layout.placements[1]!.values);
    expect(h.store.raw.map_prog_at(h.desc(4), 0)).toBe(0);
    expect(h.store.raw.map_lookup_elem(h.desc(6), key)).toBe(h.desc(1));
    expect(h.pop(8, 2).ret).toBe(0);
  });

  it('maps of maps take only descriptors as inner maps, from the module too', async () => {
    const h = await Harness.create(
      { type: MapType.ARRAY_OF_MAPS, valueSize: 4, maxEntries: 2 },
      { type: MapType.HASH_OF_MAPS, valueSize: 4, maxEntries: 2 },
      { type: MapType.ARRAY, maxEntries: 1 },
    );
    for (const m of [0, 1]) {
      for (const inner of [h.desc(2) + 4, h.put(h.read(h.desc(2), 64)), 0, h.layout.metaBase + 3 * 64]) {
        expect(h.store.raw.user_update_elem(h.desc(m), h.put(u32(0)), h.put(u32(inner)), 0)).toBe(-EINVAL);
      }
      expect(h.store.raw.user_update_elem(h.desc(m), h.put(u32(0)), h.put(u32(h.desc(2))), 0)).toBeGreaterThan(0);
      expect(h.lookup(u32(0), m)).toBe(h.desc(2));
    }
  });

  it('a store without maps, and the module where no store wrote a table, take no address as a map', async () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const store = await MapStore.create(memory, []);
    const v = new DataView(memory.buffer);
    expect([v.getUint32(MAPS_SCRATCH.mapTable, true), v.getUint32(MAPS_SCRATCH.mapTable + 4, true)]).toEqual([0, 0]);
    for (const addr of [0, 0x2000, 0x8000, 0xffffffc0]) {
      expect(store.raw.map_lookup_elem(addr, 0x9000)).toBe(0);
      expect(store.raw.map_init(addr, 1)).toBe(-EINVAL);
    }
    const raw = (await WebAssembly.instantiate(mapsWasmBytes(), { env: { memory: new WebAssembly.Memory({ initial: 1 }) } })).instance.exports as unknown as MapsExports;
    expect(raw.map_init(0x2000, 1)).toBe(-EINVAL);
    expect(raw.map_update_elem(0x2000, 0x3000, 0x4000, 0n)).toBe(-BigInt(EINVAL));
  });

  it('create refuses placements the descriptor table cannot describe, naming the map', async () => {
    const shapes = [shape({ type: MapType.HASH }, 0), shape({ type: MapType.ARRAY, maxEntries: 4 }, 1)];
    const layout = layoutMaps(shapes, BASE);
    const create = (edit: (p: MapsLayout['placements']) => void, s = shapes): Promise<MapStore> => {
      const ps = layout.placements.map((p) => ({ ...p }));
      edit(ps);
      return MapStore.create(new WebAssembly.Memory({ initial: 1 }), s.map((m, i) => ({ shape: m, placement: ps[i]!, index: i })));
    };
    const cases: [string, (p: MapsLayout['placements']) => void, string, RegExp, MapShape[]?][] = [
      ['descriptors with a gap', (p) => { p[1]!.desc += 64; }, 'm1', /contiguous/],
      ['descriptors in the scratch page', (p) => { p[0]!.desc = 0x1f80; p[1]!.desc = 0x1fc0; }, 'm0', /scratch page/],
      ['values too small for max_entries', (p) => { p[1]!.valuesSize = 8; }, 'm1', /value storage/],
      ['values over the descriptors', (p) => { p[1]!.values = p[0]!.desc; }, 'm1', /overlapping/],
      ['metadata over another map\'s values', (p) => { p[0]!.meta = p[1]!.values; }, 'm1', /overlapping/],
      ['a fractional address', (p) => { p[0]!.meta = 0.5; }, 'm0', /32-bit/],
      ['values past the maps\' limit', (p) => { p[1]!.values = 2 ** 30; }, 'm1', /MiB/],
      ['keys longer than the JS API passes', () => {}, 'm0', /600-byte keys/, [shape({ type: MapType.HASH, keySize: 600 }, 0), shapes[1]!]],
    ];
    for (const [what, edit, map, detail, s] of cases) {
      const e = await create(edit, s).then(() => undefined, (x: unknown) => x);
      expect(e, what).toBeInstanceOf(BpfRuntimeError);
      expect([what, (e as BpfRuntimeError).code, (e as BpfRuntimeError).location.map]).toEqual([what, ErrorCode.BadMap, map]);
      expect((e as BpfRuntimeError).message, what).toMatch(detail);
    }
    // Any order of the maps is fine: the table is by address.
    const memory = new WebAssembly.Memory({ initial: 1 });
    const store = await MapStore.create(memory, [1, 0].map((i) => ({ shape: shapes[i]!, placement: layout.placements[i]!, index: i })));
    store.update(0, u32(3), u64(4));
    expect(store.lookup(0, u32(3))).toEqual(u64(4));
    expect(store.raw.map_lookup_elem(layout.placements[1]!.desc, 0x1a00)).not.toBe(0);
  });
});

describe('corrupted metadata (unchecked programs may write it): every walk ends', () => {
  const prompt = (r: Isolated): void => {
    for (const ms of r.ms) expect(ms).toBeLessThan(5000);
  };

  it.each([4, 8, 16, 13])('%i-byte keys: a bucket chain that loops ends the walk: misses, updates and deletes return', async (ks) => {
    const h = await Harness.create({ type: MapType.HASH, keySize: ks, maxEntries: 64 });
    for (let i = 0; i < 4; i++) h.store.update(0, keyOf(ks, i), u64(i));
    loopEveryBucket(h);
    const d = h.desc();
    const val = h.put(u64(9));
    const calls: Call[] = [
      ['map_lookup_elem', d, h.put(keyOf(ks, 50))],
      ['map_lookup_elem', d, h.put(keyOf(ks, 0))],
      ['map_update_elem', d, h.put(keyOf(ks, 51)), val, BigInt(BPF_EXIST)],
      ['map_delete_elem', d, h.put(keyOf(ks, 53))],
      ['user_lookup_elem', d, h.put(keyOf(ks, 50))],
      ['map_get_next_key', d, h.put(keyOf(ks, 50)), h.buf(ks)],
      ['map_update_elem', d, h.put(keyOf(ks, 52)), val, 0n],
      ['map_lookup_elem', d, h.put(keyOf(ks, 52))],
    ];
    const r = await isolated(h.memory, calls);
    prompt(r);
    expect(r.results.slice(0, 6)).toEqual([0, h.layout.placements[0]!.values, -BigInt(ENOENT), -BigInt(ENOENT), 0, 0]);
    expect(r.results[6]).toBe(0n);
    expect(r.results[7]).not.toBe(0);
    // And with max_entries overwritten too, the walk stops after at most 2^26 links.
    setU32(h, d + desc.D_MAX_ENTRIES, 0xffffffff);
    const r2 = await isolated(h.memory, [['map_lookup_elem', d, h.put(keyOf(ks, 50))], ['map_delete_elem', d, h.put(keyOf(ks, 50))]]);
    prompt(r2);
    expect(r2.results).toEqual([0, -BigInt(ENOENT)]);
  });

  it('a cycle in the free list: the slot is not handed out twice', async () => {
    const h = await Harness.create({ type: MapType.HASH, maxEntries: 8 });
    h.store.update(0, u32(1), u64(1));
    h.store.update(0, u32(2), u64(2));
    h.store.delete(0, u32(1));
    h.store.delete(0, u32(2));
    // The free list is slot 1 -> slot 0 -> end; make slot 0 lead to itself.
    const t = htabOf(h);
    expect(new DataView(h.memory.buffer).getUint32(h.desc() + S_FREE, true)).toBe(2);
    setU32(h, t.entry(0) + 4, 1);
    const d = h.desc();
    const val = h.put(u64(7));
    const r = await isolated(h.memory, [
      ['map_update_elem', d, h.put(u32(10)), val, 0n],
      ['map_update_elem', d, h.put(u32(11)), val, 0n],
      ['map_update_elem', d, h.put(u32(12)), val, 0n],
      ['map_lookup_elem', d, h.put(u32(10))],
      ['map_lookup_elem', d, h.put(u32(11))],
      ['map_lookup_elem', d, h.put(u32(12))],
    ]);
    prompt(r);
    expect(r.results.slice(0, 3)).toEqual([0n, 0n, -BigInt(EINVAL)]);
    expect(r.results.slice(3).map((x) => x !== 0)).toEqual([true, true, false]);
    // A free-list head past max_entries is refused the same way.
    setU32(h, d + S_FREE, 1000);
    const r2 = await isolated(h.memory, [['map_update_elem', d, h.put(u32(13)), val, 0n]]);
    expect(r2.results).toEqual([-BigInt(EINVAL)]);
  });

  it('LRU eviction: a victim missing from its chain, a chain that loops, a hand past the end', async () => {
    const full = async (): Promise<Harness> => {
      const h = await Harness.create({ type: MapType.LRU_HASH, maxEntries: 4 });
      for (let i = 0; i < 4; i++) h.store.update(0, u32(i), u64(i));
      return h;
    };
    const insert = (h: Harness): Promise<Isolated> => isolated(h.memory, [
      ['map_update_elem', h.desc(), h.put(u32(100)), h.put(u64(100)), 0n],
      ['map_lookup_elem', h.desc(), h.put(u32(100))],
    ]);
    // Every chain empty: the victim is in none.
    let h = await full();
    const t = htabOf(h);
    for (let b = 0; b < t.nBuckets; b++) setU32(h, t.bucket(b), 0);
    let r = await insert(h);
    prompt(r);
    expect(r.results).toEqual([-BigInt(EINVAL), 0]);
    // Every chain loops through slot 0, and the hand points at slot 1.
    h = await full();
    loopEveryBucket(h);
    setU32(h, h.desc() + S_AUX, 1);
    r = await insert(h);
    prompt(r);
    expect(r.results).toEqual([-BigInt(EINVAL), 0]);
    // A clock hand past max_entries starts over.
    h = await full();
    setU32(h, h.desc() + S_AUX, 0xffffffff);
    r = await insert(h);
    prompt(r);
    expect(r.results[0]).toBe(0n);
    expect(r.results[1]).not.toBe(0);
  });

  it('LPM trie: an overwritten key size is refused; a chain that loops ends each probe', async () => {
    const h = await Harness.create({ type: MapType.LPM_TRIE, keySize: 8, maxEntries: 16, flags: BPF_F_NO_PREALLOC });
    h.store.update(0, lpmKey(16, 192, 168, 0, 0), u64(1));
    h.store.update(0, lpmKey(8, 10, 0, 0, 0), u64(2));
    h.store.update(0, lpmKey(24, 10, 1, 2, 0), u64(3));
    const d = h.desc();
    const probe = lpmKey(32, 10, 1, 2, 3);
    expect(h.lookup(probe)).not.toBe(0);
    for (const ks of [0, 3, 4, 261, 0xffffffff]) {
      setU32(h, d + desc.D_KEY_SIZE, ks);
      const r = await isolated(h.memory, [
        ['map_lookup_elem', d, h.put(probe)],
        ['map_update_elem', d, h.put(probe), h.put(u64(4)), 0n],
        ['map_delete_elem', d, h.put(probe)],
        ['map_get_next_key', d, 0, h.buf(8)],
        ['user_lookup_elem', d, h.put(probe)],
      ]);
      prompt(r);
      expect([ks, ...r.results]).toEqual([ks, 0, -BigInt(EINVAL), -BigInt(EINVAL), -EINVAL, 0]);
    }
    setU32(h, d + desc.D_KEY_SIZE, 8);
    // Slot 0 holds 192.168.0.0/16: every probe for 10.1.2.3 walks the loop and misses.
    loopEveryBucket(h);
    const r = await isolated(h.memory, [['map_lookup_elem', d, h.put(probe)], ['map_delete_elem', d, h.put(lpmKey(8, 10, 0, 0, 0))]]);
    prompt(r);
    expect(r.results).toEqual([0, -BigInt(ENOENT)]);
  });

  it('bloom filter: an overwritten number of hash functions is refused', async () => {
    const h = await Harness.create({ type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4 });
    h.store.push(0, u32(5));
    for (const n of [0, 16, 0xffffffff]) {
      setU32(h, h.desc() + S_NR_HASH, n);
      const r = await isolated(h.memory, [['map_push_elem', h.desc(), h.put(u32(6)), 0n], ['map_peek_elem', h.desc(), h.put(u32(5))]]);
      prompt(r);
      expect(r.results).toEqual([-BigInt(EINVAL), -BigInt(EINVAL)]);
    }
    expectError(() => h.store.push(0, u32(7)), ErrorCode.MapOp, 'm0');
  });

  it('iteration: a bump counter past max_entries stops at max_entries; get_next_key cannot go round in circles', async () => {
    const h = await Harness.create({ type: MapType.HASH, maxEntries: 8 });
    for (let i = 0; i < 3; i++) h.store.update(0, u32(i), u64(i));
    setU32(h, h.desc() + S_BUMP, 0xffffffff);
    const r = await isolated(h.memory, [['map_next_slot', h.desc(), 8], ['map_next_slot', h.desc(), 1000], ['map_get_next_key', h.desc(), 0, h.buf(4)]]);
    prompt(r);
    expect(r.results).toEqual([-1, -1, 0]);
    setU32(h, h.desc() + S_BUMP, 3);
    // Slot 2 gets slot 0's key (and hash): the walk 0 -> 1 -> 2 -> (the key is found at 0) -> 1 -> ...
    const t = htabOf(h);
    h.u8.copyWithin(t.entry(2) + 4, t.entry(0) + 4, t.entry(0) + 12);
    let n = 0;
    let thrown: unknown;
    try {
      for (const _ of h.store.keys(0)) if (++n > 100) break;
    } catch (e) {
      thrown = e;
    }
    expect(n).toBeLessThanOrEqual(8);
    expect(thrown).toBeInstanceOf(BpfRuntimeError);
    expect((thrown as BpfRuntimeError).code).toBe(ErrorCode.MapOp);
  });

  it('the JS API reads and writes only the map\'s own storage, and a trap is E_MAP_OP', async () => {
    const h = await Harness.create(
      { type: MapType.ARRAY, maxEntries: 4 },
      { type: MapType.HASH },
      { type: MapType.STACK, keySize: 0, valueSize: 8, maxEntries: 4 },
    );
    const d = h.desc(0);
    const before = h.read(h.desc(1), desc.DESC_SIZE);
    // The array's values moved onto another descriptor.
    setU32(h, d + desc.D_VALUES, h.desc(1));
    expectError(() => h.store.update(0, u32(0), u64(-1)), ErrorCode.MapOp, 'm0');
    expectError(() => h.store.lookup(0, u32(0)), ErrorCode.MapOp, 'm0');
    expectError(() => [...h.store.entries(d)], ErrorCode.MapOp, 'm0');
    expect(h.read(h.desc(1), desc.DESC_SIZE)).toEqual(before);
    setU32(h, d + desc.D_VALUES, h.layout.placements[0]!.values);
    // max_entries raised past the storage.
    setU32(h, d + desc.D_MAX_ENTRIES, 1000);
    expectError(() => h.store.update(0, u32(500), u64(1)), ErrorCode.MapOp, 'm0');
    expectError(() => [...h.store.entries(d)], ErrorCode.MapOp, 'm0');
    setU32(h, d + desc.D_MAX_ENTRIES, 4);
    expect([...h.store.entries(d)]).toHaveLength(4);
    // A stack count past its ring.
    h.store.push(2, u64(1));
    setU32(h, h.desc(2) + desc.D_COUNT, 1000);
    expectError(() => h.store.pop(2), ErrorCode.MapOp, 'm2');
    expectError(() => h.store.push(2, u64(1), BPF_EXIST), ErrorCode.MapOp, 'm2');
    // Metadata moved past the end of memory: the module traps, the store says E_MAP_OP.
    h.store.update(1, u32(0), u64(0));
    setU32(h, h.desc(1) + desc.D_META, 0x7ffffff0);
    expectError(() => h.store.lookup(1, u32(0)), ErrorCode.MapOp, 'm1');
    expectError(() => h.store.update(1, u32(0), u64(0)), ErrorCode.MapOp, 'm1');
    expectError(() => h.store.delete(1, u32(0)), ErrorCode.MapOp, 'm1');
    expectError(() => h.store.nextKey(1), ErrorCode.MapOp, 'm1');
    expectError(() => h.store.clear(1), ErrorCode.MapOp, 'm1');
  });
});
