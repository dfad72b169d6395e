/**
 * The maps of a running object: the AssemblyScript maps module (wasm/maps/, embedded in
 * maps-wasm.ts) instantiated on the program's own memory, the descriptors it works on, and a JS
 * API on raw bytes for the host (the kernel's syscall side: lookup, update, delete, get_next_key,
 * push, pop, peek).
 *
 * Programs call the module's exports directly (`helperImports`), Wasm to Wasm. The JS API passes
 * keys through the maps' scratch area [0x1800, 0x2000) and copies values straight to and from
 * their storage: an update asks the module for the value's address (it writes nothing when given
 * no value) and copies the bytes there, so values of any size work without a staging buffer. The
 * exceptions are values the module itself reads: bloom filter values (hashed; at most
 * VALUE_BUF_SIZE bytes from JS) and the u32 of prog arrays and map-of-maps.
 *
 * The module accepts as a map only one of the descriptors `create` wrote: it reads their table
 * (first address and count) at MAPS_SCRATCH.mapTable, so a program passing a "descriptor" it
 * forged gets NULL or -EINVAL. `create` refuses placements that would put the descriptors,
 * metadata or values anywhere but in order past the scratch page (contiguous descriptors, then
 * disjoint regions big enough for their shapes), and the JS API copies to and from an address
 * the module returns only if it lies in the map's own storage: a program in unchecked mode may
 * overwrite metadata, which then yields E_MAP_OP, never a write elsewhere, a RangeError or a
 * WebAssembly trap.
 */
import { WASM_PAGE } from '../abi.js';
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import {
  D_COUNT, D_EXTRA, D_FLAGS, D_INDEX, D_KEY_SIZE, D_MAX_ENTRIES, D_META, D_META_SIZE, D_TYPE, D_VALUE_SIZE, D_VALUE_STRIDE,
  D_STATE, D_VALUES, DESC_SIZE, type MapShape,
} from './descriptor.js';
import { BpfFunc } from '../helper-table.js';
import { Errno, MapType } from '../uapi/index.js';
import { MAPS_LIMIT, typeName, type MapPlacement } from './placement.js';
import { mapsWasmBytes } from './maps-wasm.js';
import { compileModule, instantiateModule } from '../wasm-compile.js';

/** QUEUE / STACK state owned by the maps module: the ring index of the oldest element (wasm/maps/queue.ts S_TAIL). */
const D_QUEUE_TAIL = D_STATE;

/** The maps' share of the runtime scratch page, and how it is divided. */
export const MAPS_SCRATCH = {
  /** Start of the area (the runtime owns 0x1000..0x1800). */
  base: 0x1800,
  /** End of the area (exclusive). */
  end: 0x2000,
  /** Private to the maps module: the LPM trie's masked key (4 + 256 bytes). */
  lpmKey: 0x1800,
  /**
   * The descriptor table, read by the maps module and written only by `MapStore.create`: u32
   * address of the first descriptor, u32 number of descriptors (wasm/maps/desc.ts
   * MAP_TABLE_BASE and MAP_TABLE_COUNT). The module takes nothing else as a map.
   */
  mapTable: 0x1978,
  /** Array keys handed out by `entries()`: a ring of KEY_RING_SLOTS u32. */
  keyRing: 0x1980,
  /** Keys passed from JS. */
  key: 0x1a00,
  /** Values the module reads (bloom filter, slots) and get_next_key results. */
  value: 0x1c00,
} as const;

/** Number of array-key slots in the ring: nested `entries()` walks up to this deep keep their keys. */
export const KEY_RING_SLOTS = 32;
/** Largest key from JS (the kernel's largest, a hash map's 512). */
export const KEY_BUF_SIZE = MAPS_SCRATCH.value - MAPS_SCRATCH.key;
/** Largest bloom filter value from JS. */
export const VALUE_BUF_SIZE = MAPS_SCRATCH.end - MAPS_SCRATCH.value;

/** The maps module's exports (see wasm/maps/index.ts). Addresses are linear-memory addresses. */
export interface MapsExports {
  map_lookup_elem(map: number, key: number): number;
  map_update_elem(map: number, key: number, value: number, flags: bigint): bigint;
  map_delete_elem(map: number, key: number): bigint;
  map_push_elem(map: number, value: number, flags: bigint): bigint;
  map_pop_elem(map: number, value: number): bigint;
  map_peek_elem(map: number, value: number): bigint;
  map_lookup_percpu_elem(map: number, key: number, cpu: number): number;
  user_lookup_elem(map: number, key: number): number;
  user_update_elem(map: number, key: number, value: number, flags: number): number;
  user_delete_elem(map: number, key: number): number;
  user_push_elem(map: number, value: number, flags: number): number;
  user_pop_elem(map: number, value: number): number;
  user_peek_elem(map: number, value: number): number;
  map_get_next_key(map: number, key: number, next: number): number;
  map_prog_at(map: number, index: number): number;
  map_next_slot(map: number, cursor: number): number;
  map_slot_key(map: number, slot: number): number;
  map_slot_value(map: number, slot: number): number;
  map_meta_size(map: number): number;
  map_init(map: number, seed: number): number;
  map_clear(map: number): void;
}

/** Helper id -> the export that implements it (Wasm signatures in scripts/build-wasm.mjs). */
export const MAP_HELPER_EXPORTS = {
  [BpfFunc.map_lookup_elem]: 'map_lookup_elem',
  [BpfFunc.map_update_elem]: 'map_update_elem',
  [BpfFunc.map_delete_elem]: 'map_delete_elem',
  [BpfFunc.map_push_elem]: 'map_push_elem',
  [BpfFunc.map_pop_elem]: 'map_pop_elem',
  [BpfFunc.map_peek_elem]: 'map_peek_elem',
  [BpfFunc.map_lookup_percpu_elem]: 'map_lookup_percpu_elem',
} as const satisfies Record<number, keyof MapsExports>;

/** One map to create: its shape, its placement from `layoutMaps`, and its index in the object. */
export interface StoreMap {
  shape: MapShape;
  placement: MapPlacement;
  index: number;
  /** Maps of maps declared with an inner map definition: what every inner map must match. */
  inner?: MapShape;
}

export interface MapStoreOptions {
  /**
   * Seeds the maps' hashes deterministically (map i gets a seed derived from this and i), for
   * reproducible benchmarks and tests. By default every map gets a random seed, as the kernel's
   * hashrnd, so crafted keys cannot collide on purpose.
   */
  seed?: number;
  /**
   * The maps module already compiled. Where compiling Wasm from bytes is forbidden (Cloudflare
   * Workers), ship `mapsWasmBytes()` as a .wasm and pass the module the platform gives you.
   */
  module?: WebAssembly.Module;
}

interface MapEntry {
  name: string;
  index: number;
  type: number;
  desc: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  inner?: MapShape;
  /** Where addresses of values (or queue elements, or slots) the module returns must lie. */
  storage: readonly [start: number, end: number];
  /** Where keys of hash maps and LPM tries lie (their metadata). */
  meta: readonly [start: number, end: number];
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** The maps module, compiled once per realm (synchronously: it is ~10 KB, see runtime/wasm-compile.ts). */
export function mapsModule(): Promise<WebAssembly.Module> {
  compiled ??= compileModule(mapsWasmBytes()).catch((e: unknown) => {
    compiled = undefined;
    throw e;
  });
  return compiled;
}

/** The errno's name (`ENOENT`) for a negative return value. */
export function errnoName(ret: number): string {
  for (const [k, v] of Object.entries(Errno)) if (v === -ret) return k;
  return `errno ${-ret}`;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such element',
  EEXIST: 'the element exists and BPF_NOEXIST was given',
  E2BIG: 'the map is full or the index is out of range',
  ENOSPC: 'the map is full',
  EINVAL: 'invalid argument or flags',
  EPERM: 'not permitted',
  EOPNOTSUPP: 'not supported by this map type',
};

const isArrayType = (t: number): boolean => t === MapType.ARRAY || t === MapType.PERCPU_ARRAY;
const isQueueType = (t: number): boolean => t === MapType.QUEUE || t === MapType.STACK;
const isMapOfMaps = (t: number): boolean => t === MapType.ARRAY_OF_MAPS || t === MapType.HASH_OF_MAPS;
/** Slot arrays: a u32 per index the maps module reads itself (program number + 1, inner descriptor, cgroup number + 1). */
const isSlotArray = (t: number): boolean => t === MapType.PROG_ARRAY || t === MapType.ARRAY_OF_MAPS || t === MapType.CGROUP_ARRAY;

/** The maps of one running object, in the memory of its program. */
export class MapStore {
  /** The program's linear memory, shared with the maps module. */
  readonly memory: WebAssembly.Memory;
  /** The maps module's raw exports (for wiring more helpers, e.g. bpf_tail_call's `map_prog_at`). */
  readonly raw: MapsExports;
  /**
   * The map helpers by helper id (those of MAP_HELPER_EXPORTS): the module's raw Wasm functions, to pass straight as a compiled program's
   * imports. Their Wasm signatures are those of MAP_HELPER_EXPORTS.
   */
  readonly helperImports: Readonly<Record<number, Function>>;
  private readonly byIndex = new Map<number, MapEntry>();
  private readonly byDesc = new Map<number, MapEntry>();
  private view = new DataView(new ArrayBuffer(0));
  private u8 = new Uint8Array(0);
  private ringNext = 0;

  private constructor(memory: WebAssembly.Memory, raw: MapsExports, maps: readonly StoreMap[]) {
    this.memory = memory;
    this.raw = raw;
    const helpers: Record<number, Function> = {};
    for (const [id, name] of Object.entries(MAP_HELPER_EXPORTS)) helpers[Number(id)] = raw[name];
    this.helperImports = Object.freeze(helpers);
    for (const m of maps) {
      const p = m.placement;
      const meta = [p.meta, p.meta + p.metaSize] as const;
      const e: MapEntry = {
        name: m.shape.name, index: m.index, type: m.shape.type, desc: p.desc,
        keySize: m.shape.keySize, valueSize: m.shape.valueSize, maxEntries: m.shape.maxEntries,
        flags: m.shape.flags, ...(m.inner ? { inner: m.inner } : {}),
        storage: isQueueType(m.shape.type) ? meta : [p.values, p.values + p.valuesSize], meta,
      };
      if (this.byIndex.has(m.index)) throw new BpfRuntimeError(ErrorCode.BadArgument, `two maps have index ${m.index}`, { map: e.name });
      this.byIndex.set(m.index, e);
      this.byDesc.set(e.desc, e);
    }
  }

  /**
   * Instantiates the maps module on `memory` (growing it to hold every map), writes each map's
   * descriptor and initialises it: hash maps empty, array values zeroed. Initial contents
   * (global data sections) are written after this.
   */
  static async create(memory: WebAssembly.Memory, maps: readonly StoreMap[], options: MapStoreOptions = {}): Promise<MapStore> {
    const table = checkPlacements(maps);
    const module = options.module ?? await mapsModule();
    const instance = await instantiateMaps(module, memory);
    const store = new MapStore(memory, instance.exports as unknown as MapsExports, maps);
    store.growFor(maps);
    for (const m of maps) store.writeDescriptor(m);
    store.bytes();
    store.view.setUint32(MAPS_SCRATCH.mapTable, table.base, true);
    store.view.setUint32(MAPS_SCRATCH.mapTable + 4, table.count, true);
    // Random seeds only where a map keeps one: in Node, the first crypto.getRandomValues loads
    // WebCrypto (~1 ms of cold start), which an object of arrays and ring buffers never needs.
    const seeds = maps.some((m) => !UNSEEDED.has(m.shape.type)) ? mapSeeds(maps.length, options.seed) : new Uint32Array(maps.length);
    for (const [i, m] of maps.entries()) {
      const r = store.raw.map_init(m.placement.desc, seeds[i]!);
      if (r < 0) {
        throw new BpfRuntimeError(ErrorCode.BadMap, `the maps module cannot set up the map (${errnoName(r)}): its placement does not match its shape`, { map: m.shape.name });
      }
    }
    return store;
  }

  private growFor(maps: readonly StoreMap[]): void {
    let end = 0;
    let last: string | undefined;
    for (const { shape, placement: p } of maps) {
      const e = Math.max(p.desc + DESC_SIZE, p.meta + p.metaSize, p.values + p.valuesSize);
      if (e > end) [end, last] = [e, shape.name];
    }
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    try {
      this.memory.grow(Math.ceil((end - have) / WASM_PAGE));
    } catch {
      throw new BpfRuntimeError(ErrorCode.BadMap, `the maps need ${end} bytes of linear memory, which cannot be allocated`, last === undefined ? {} : { map: last });
    }
  }

  private writeDescriptor({ shape, placement: p, index }: StoreMap): void {
    const d = p.desc;
    this.bytes().fill(0, d, d + DESC_SIZE);
    const v = this.view;
    v.setUint32(d + D_TYPE, shape.type, true);
    v.setUint32(d + D_KEY_SIZE, shape.keySize, true);
    v.setUint32(d + D_VALUE_SIZE, shape.valueSize, true);
    v.setUint32(d + D_MAX_ENTRIES, shape.maxEntries, true);
    v.setUint32(d + D_FLAGS, shape.flags, true);
    v.setUint32(d + D_VALUE_STRIDE, Math.ceil(shape.valueSize / 8) * 8, true);
    v.setUint32(d + D_VALUES, p.values, true);
    v.setUint32(d + D_META, p.meta, true);
    v.setUint32(d + D_META_SIZE, p.metaSize, true);
    v.setUint32(d + D_COUNT, 0, true);
    v.setUint32(d + D_INDEX, index, true);
    v.setUint32(d + D_EXTRA, shape.mapExtra ?? 0, true);
  }

  /** The memory's bytes (re-made after the memory grows). */
  private bytes(): Uint8Array {
    if (this.u8.buffer !== this.memory.buffer) {
      this.u8 = new Uint8Array(this.memory.buffer);
      this.view = new DataView(this.memory.buffer);
    }
    return this.u8;
  }

  private u32(addr: number): number {
    this.bytes();
    return this.view.getUint32(addr, true);
  }

  private copyOut(addr: number, len: number): Uint8Array {
    return this.bytes().slice(addr, addr + len);
  }

  /**
   * `addr` (returned by the module for `op`) if `len` bytes from it lie in `region`, the map's
   * own storage; otherwise the map's metadata was overwritten (a program in unchecked mode can)
   * and nothing is read or written there.
   */
  private inside(e: MapEntry, op: string, addr: number, len: number, region = e.storage): number {
    if (addr >= region[0] && addr + len <= region[1] && addr + len <= this.memory.buffer.byteLength) return addr;
    throw new BpfRuntimeError(
      ErrorCode.MapOp,
      `${op} failed: the maps module gave the address 0x${(addr >>> 0).toString(16)}, outside the map's storage; its metadata has been overwritten`,
      { map: e.name },
    );
  }

  /**
   * Calls the module for `op`. It traps only on metadata a program overwrote (addresses past the
   * end of memory); the trap becomes E_MAP_OP naming the map.
   */
  private call<T>(e: MapEntry, op: string, f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (!(err instanceof WebAssembly.RuntimeError)) throw err;
      throw new BpfRuntimeError(ErrorCode.MapOp, `${op} failed: the maps module trapped (${err.message}); the map's metadata has been overwritten`, { map: e.name });
    }
  }

  private entry(index: number): MapEntry {
    const e = this.byIndex.get(index);
    if (!e) throw new BpfRuntimeError(ErrorCode.BadArgument, `no map has index ${index}`);
    return e;
  }

  private fail(e: MapEntry, op: string, ret: number): BpfRuntimeError {
    const name = errnoName(ret);
    return new BpfRuntimeError(ErrorCode.MapOp, `${op} failed with ${name}: ${ERRNO_TEXT[name] ?? 'error'}`, { map: e.name });
  }

  private unsupported(e: MapEntry, op: string): BpfRuntimeError {
    return new BpfRuntimeError(ErrorCode.MapOp, `${op} failed with EOPNOTSUPP: ${typeName(e.type)} maps have no ${op}`, { map: e.name });
  }

  /** Writes `key` (checked against the map's key size) to the key buffer; returns its address. */
  private putKey(e: MapEntry, key: Uint8Array): number {
    if (!(key instanceof Uint8Array) || key.length !== e.keySize) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `the key must be ${e.keySize} bytes, got ${describe(key)}`, { map: e.name });
    }
    this.bytes().set(key, MAPS_SCRATCH.key);
    return MAPS_SCRATCH.key;
  }

  private checkValue(e: MapEntry, value: Uint8Array): void {
    if (!(value instanceof Uint8Array) || value.length !== e.valueSize) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `the value must be ${e.valueSize} bytes, got ${describe(value)}`, { map: e.name });
    }
  }

  private checkFlags(e: MapEntry, flags: number): number {
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `flags must be a 32-bit unsigned integer, got ${flags}`, { map: e.name });
    }
    return flags | 0;
  }

  /** The descriptor address (the map's pointer) of the map with object index `index`. */
  descOf(index: number): number {
    return this.entry(index).desc;
  }

  /** The object index of the map whose descriptor is at `desc`, or undefined. */
  indexOfDesc(desc: number): number | undefined {
    return this.byDesc.get(desc)?.index;
  }

  /**
   * A copy of the value for `key`, or undefined. Prog arrays give their u32 slot (program
   * number + 1), cgroup arrays theirs (the host's cgroup number + 1), map-of-maps the u32 inner descriptor address; the LPM trie matches the longest prefix;
   * a queue or stack (empty key) peeks. LRU maps are not marked used (as the kernel's syscall).
   */
  lookup(index: number, key: Uint8Array): Uint8Array | undefined {
    const e = this.entry(index);
    if (isQueueType(e.type)) {
      this.putKey(e, key);
      return this.peek(index);
    }
    const addr = this.valueAddress(index, key);
    if (addr === 0) return undefined;
    if (isSlotArray(e.type)) {
      const v = this.u32(addr);
      return v === 0 ? undefined : u32Bytes(v);
    }
    return this.copyOut(addr, e.valueSize);
  }

  /**
   * The address of the value for `key` in linear memory (what bpf_map_lookup_elem returns a
   * program), or 0. For prog arrays and map-of-maps, the address of the slot.
   */
  valueAddress(index: number, key: Uint8Array): number {
    const e = this.entry(index);
    if (e.type === MapType.BLOOM_FILTER || e.type === MapType.RINGBUF || e.type === MapType.PERF_EVENT_ARRAY) {
      throw this.unsupported(e, 'lookup');
    }
    const k = this.putKey(e, key);
    const addr = this.call(e, 'lookup', () => this.raw.user_lookup_elem(e.desc, k) >>> 0);
    return addr === 0 ? 0 : this.inside(e, 'lookup', addr, isSlotArray(e.type) ? 4 : e.valueSize);
  }

  /**
   * Sets the value for `key` (flags BPF_ANY, BPF_NOEXIST, BPF_EXIST); throws E_MAP_OP with the
   * kernel's errno. Prog arrays take a u32 program number + 1 (what bpf_tail_call's slot holds),
   * cgroup arrays the host's cgroup number + 1 (runtime/packet/cgroups.ts),
   * map-of-maps the u32 descriptor address of another map of the object. On a queue, stack or bloom filter (empty key) this is
   * `push`, as the kernel's syscall.
   */
  update(index: number, key: Uint8Array, value: Uint8Array, flags = 0): void {
    const e = this.entry(index);
    if (isQueueType(e.type) || e.type === MapType.BLOOM_FILTER) {
      this.putKey(e, key);
      this.push(index, value, flags);
      return;
    }
    const f = this.checkFlags(e, flags);
    this.checkValue(e, value);
    const k = this.putKey(e, key);
    let ret: number;
    if (isSlotArray(e.type) || isMapOfMaps(e.type)) {
      if (isMapOfMaps(e.type)) this.checkInner(e, value);
      this.bytes().set(value, MAPS_SCRATCH.value);
      ret = this.call(e, 'update', () => this.raw.user_update_elem(e.desc, k, MAPS_SCRATCH.value, f));
      if (ret < 0) throw this.fail(e, 'update', ret);
      return;
    }
    ret = this.call(e, 'update', () => this.raw.user_update_elem(e.desc, k, 0, f));
    if (ret < 0) throw this.fail(e, 'update', ret);
    this.bytes().set(value, this.inside(e, 'update', ret, value.length));
  }

  /** An inner map must be another map of this object, not itself a map-of-maps (as the kernel). */
  private checkInner(e: MapEntry, value: Uint8Array): void {
    const desc = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true);
    const inner = this.byDesc.get(desc);
    if (!inner) throw new BpfRuntimeError(ErrorCode.BadArgument, `0x${desc.toString(16)} is not the descriptor of a map of this object`, { map: e.name });
    if (isMapOfMaps(inner.type)) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `map ${inner.name} is a map-of-maps and cannot be an inner map`, { map: e.name });
    }
    // As the kernel's bpf_map_meta_equal: type, key and value sizes and flags must match the
    // inner map definition (max_entries too, as without BPF_F_INNER_MAP).
    const t = e.inner;
    if (t && (t.type !== inner.type || t.keySize !== inner.keySize || t.valueSize !== inner.valueSize ||
      t.flags !== inner.flags || t.maxEntries !== inner.maxEntries)) {
      throw new BpfRuntimeError(
        ErrorCode.MapOp,
        `map ${inner.name} does not match the inner map definition of ${e.name} (EINVAL): ` +
          `type ${inner.type}/${t.type}, key ${inner.keySize}/${t.keySize}, value ${inner.valueSize}/${t.valueSize}, ` +
          `max_entries ${inner.maxEntries}/${t.maxEntries}, flags 0x${inner.flags.toString(16)}/0x${t.flags.toString(16)}`,
        { map: e.name },
      );
    }
  }

  /** Deletes `key`: true if it was there, false if not (ENOENT); other errors throw E_MAP_OP. */
  delete(index: number, key: Uint8Array): boolean {
    const e = this.entry(index);
    const k = this.putKey(e, key);
    const ret = this.call(e, 'delete', () => this.raw.user_delete_elem(e.desc, k));
    if (ret === -Errno.ENOENT) return false;
    if (ret < 0) throw this.fail(e, 'delete', ret);
    return true;
  }

  /**
   * bpf_map_get_next_key: the key after `key`, the first key without one (or when `key` is not in
   * the map, as the kernel restarts), undefined after the last.
   */
  nextKey(index: number, key?: Uint8Array): Uint8Array | undefined {
    const e = this.entry(index);
    const k = key === undefined ? 0 : this.putKey(e, key);
    const ret = this.call(e, 'get_next_key', () => this.raw.map_get_next_key(e.desc, k, MAPS_SCRATCH.value));
    if (ret === -Errno.ENOENT) return undefined;
    if (ret < 0) throw this.fail(e, 'get_next_key', ret);
    return this.copyOut(MAPS_SCRATCH.value, e.keySize);
  }

  /**
   * Every key, by get_next_key; at most max_entries of them (more means that a program overwrote
   * the metadata, and get_next_key could go round in circles: E_MAP_OP).
   */
  *keys(index: number): Generator<Uint8Array, void, undefined> {
    const e = this.entry(index);
    let n = 0;
    for (let k = this.nextKey(index); k !== undefined; k = this.nextKey(index, k)) {
      if (++n > e.maxEntries) {
        throw new BpfRuntimeError(ErrorCode.MapOp, `get_next_key failed: more than max_entries (${e.maxEntries}) keys; the map's metadata has been overwritten`, { map: e.name });
      }
      yield k;
    }
  }

  /**
   * Pushes `value` onto a queue or stack (BPF_EXIST overwrites the oldest when full, else a full
   * map throws E2BIG) or adds it to a bloom filter.
   */
  push(index: number, value: Uint8Array, flags = 0): void {
    const e = this.entry(index);
    const f = this.checkFlags(e, flags);
    this.checkValue(e, value);
    if (e.type === MapType.BLOOM_FILTER) {
      const v = this.putValue(e, value);
      const ret = this.call(e, 'push', () => this.raw.user_push_elem(e.desc, v, f));
      if (ret < 0) throw this.fail(e, 'push', ret);
      return;
    }
    const ret = this.call(e, 'push', () => this.raw.user_push_elem(e.desc, 0, f));
    if (ret < 0) throw this.fail(e, 'push', ret);
    this.bytes().set(value, this.inside(e, 'push', ret, value.length));
  }

  /** Removes and returns the oldest (queue) or newest (stack) element; undefined when empty. */
  pop(index: number): Uint8Array | undefined {
    const e = this.entry(index);
    const ret = this.call(e, 'pop', () => this.raw.user_pop_elem(e.desc, 0));
    if (ret === -Errno.ENOENT) return undefined;
    if (ret < 0) throw this.fail(e, 'pop', ret);
    return this.copyOut(this.inside(e, 'pop', ret, e.valueSize), e.valueSize);
  }

  /**
   * Returns the element pop would return, without removing it; undefined when empty. For a bloom
   * filter, pass the value: it comes back if possibly present, undefined if certainly absent.
   */
  peek(index: number, value?: Uint8Array): Uint8Array | undefined {
    const e = this.entry(index);
    if (e.type === MapType.BLOOM_FILTER) {
      if (value === undefined) throw new BpfRuntimeError(ErrorCode.BadArgument, `peek on a bloom filter needs the value to test`, { map: e.name });
      this.checkValue(e, value);
      const v = this.putValue(e, value);
      const ret = this.call(e, 'peek', () => this.raw.user_peek_elem(e.desc, v));
      if (ret === -Errno.ENOENT) return undefined;
      if (ret < 0) throw this.fail(e, 'peek', ret);
      return value.slice();
    }
    const ret = this.call(e, 'peek', () => this.raw.user_peek_elem(e.desc, 0));
    if (ret === -Errno.ENOENT) return undefined;
    if (ret < 0) throw this.fail(e, 'peek', ret);
    return this.copyOut(this.inside(e, 'peek', ret, e.valueSize), e.valueSize);
  }

  /**
   * A queue's or stack's elements in the order pop would return them (oldest first for a queue,
   * newest first for a stack), copied out without changing the map: the listing `bpf2wasm run`
   * prints, which must not consume what it shows. Reads the ring wasm/maps/queue.ts keeps: slot
   * `(tail + i) % max_entries` of `valueStride` bytes at `meta`, `tail` at {@link D_QUEUE_TAIL}.
   */
  elements(index: number): Uint8Array[] {
    const e = this.entry(index);
    if (!isQueueType(e.type)) {
      throw new BpfRuntimeError(ErrorCode.MapOp, `only queues and stacks have elements to list`, { map: e.name });
    }
    const count = this.u32(e.desc + D_COUNT);
    const max = this.u32(e.desc + D_MAX_ENTRIES);
    const tail = this.u32(e.desc + D_QUEUE_TAIL);
    const meta = this.u32(e.desc + D_META);
    const stride = this.u32(e.desc + D_VALUE_STRIDE);
    if (count > max || (max > 0 && tail >= max)) throw new BpfRuntimeError(ErrorCode.MapOp, `the ring of this ${e.type === MapType.QUEUE ? 'queue' : 'stack'} is corrupt`, { map: e.name });
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const n = e.type === MapType.QUEUE ? i : count - 1 - i;
      const pos = (tail + n) % max;
      out.push(this.copyOut(this.inside(e, 'list', meta + pos * stride, e.valueSize), e.valueSize));
    }
    return out;
  }

  private putValue(e: MapEntry, value: Uint8Array): number {
    if (value.length > VALUE_BUF_SIZE) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `bloom filter values from JS are limited to ${VALUE_BUF_SIZE} bytes`, { map: e.name });
    }
    this.bytes().set(value, MAPS_SCRATCH.value);
    return MAPS_SCRATCH.value;
  }

  /** Empties the map (array values become zero). */
  clear(index: number): void {
    const e = this.entry(index);
    this.call(e, 'clear', () => this.raw.map_clear(e.desc));
  }

  /**
   * The occupied indexes of a prog array, map-of-maps array or cgroup array (a slot holds a
   * nonzero word), in order, read from the slots directly: get_next_key walks every index,
   * present or not, and a lookup per index made listing a map of 10^8 slots take minutes.
   * Other map types yield nothing.
   */
  *occupiedSlots(index: number): Generator<number, void, undefined> {
    const e = this.entry(index);
    if (!isSlotArray(e.type)) return;
    const n = e.maxEntries;
    const base = this.inside(e, 'get_next_key', this.raw.map_slot_value(e.desc, 0) >>> 0, 4 * n);
    for (let i = 0; i < n;) {
      // The memory may grow while the caller holds an entry: the view is made anew after each.
      const at = (k: number): number => (base & 3 ? this.u32(base + 4 * k) : words[k]!);
      const words = base & 3 ? new Uint32Array(0) : new Uint32Array(this.memory.buffer, base, n);
      while (i < n && at(i) === 0) i++;
      if (i < n) yield i++;
    }
  }

  /** The bytes of linear memory now (for reading what `entries` points at). */
  memoryBytes(): Uint8Array {
    return this.bytes();
  }

  /** The number of elements: hash maps, LPM tries, queues and stacks count them; arrays have max_entries. */
  count(index: number): number {
    const e = this.entry(index);
    if (isArrayType(e.type) || isSlotArray(e.type)) return e.maxEntries;
    return this.u32(e.desc + D_COUNT);
  }

  /**
   * The program number in slot `slot` of the prog array at `desc` (bpf_tail_call), or undefined,
   * also when `desc` is not one of the maps' descriptors.
   */
  progAt(desc: number, slot: number): number | undefined {
    const r = this.raw.map_prog_at(desc >>> 0, slot >>> 0);
    return r < 0 ? undefined : r;
  }

  /**
   * The elements of the map at `desc` for bpf_for_each_map_elem, as (key address, value
   * address) pairs in linear memory: every index of an array (its key, a u32 in the scratch
   * area, is valid until the walk moves on), the elements of a hash map or LPM trie in slot
   * order. An element deleted during the walk is skipped; one added may or may not be seen.
   * Other map types yield nothing. Positions past max_entries, or addresses outside the map's
   * storage (metadata a program overwrote), end the walk with E_MAP_OP.
   */
  *entries(desc: number): Generator<[keyAddr: number, valueAddr: number], void, undefined> {
    const e = this.byDesc.get(desc);
    if (!e) throw new BpfRuntimeError(ErrorCode.BadArgument, `0x${(desc >>> 0).toString(16)} is not a map descriptor`);
    const array = isArrayType(e.type) || e.type === MapType.DEVMAP || e.type === MapType.CPUMAP || e.type === MapType.XSKMAP;
    let keySlot = 0;
    if (array) {
      keySlot = MAPS_SCRATCH.keyRing + 4 * this.ringNext;
      this.ringNext = (this.ringNext + 1) % KEY_RING_SLOTS;
    }
    const op = 'for_each_map_elem';
    const next = (cursor: number): number => {
      const s = this.call(e, op, () => this.raw.map_next_slot(desc, cursor));
      if (s >= 0 && (s < cursor || s >= e.maxEntries)) {
        throw new BpfRuntimeError(ErrorCode.MapOp, `${op} failed: the maps module gave position ${s} after ${cursor}, of max_entries ${e.maxEntries}; the map's metadata has been overwritten`, { map: e.name });
      }
      return s;
    };
    for (let s = next(0); s >= 0; s = next(s + 1)) {
      let keyAddr: number;
      if (array) {
        this.bytes();
        this.view.setUint32(keySlot, s, true);
        keyAddr = keySlot;
      } else {
        keyAddr = this.inside(e, op, this.raw.map_slot_key(desc, s) >>> 0, e.keySize, e.meta);
      }
      yield [keyAddr, this.inside(e, op, this.raw.map_slot_value(desc, s) >>> 0, e.valueSize)];
    }
  }
}

/**
 * Checks the placements before anything is written, and returns the descriptor table: the maps
 * module takes as a map only an address `base + 64 * i` with `i < count`, so the descriptors must
 * be contiguous, as layoutMaps places them (in any order of `maps`). They, and every map's
 * metadata and values, must lie past the scratch page and below MAPS_LIMIT, the regions must not
 * overlap, and each map's values must hold max_entries values (the module indexes them without
 * knowing their size; it checks the metadata's in map_init). Keys from JS go through the scratch
 * area, so keys are at most KEY_BUF_SIZE bytes. E_BAD_MAP naming the map otherwise.
 */
function checkPlacements(maps: readonly StoreMap[]): { base: number; count: number } {
  if (maps.length === 0) return { base: 0, count: 0 };
  const bad = (m: StoreMap, detail: string): BpfRuntimeError =>
    new BpfRuntimeError(ErrorCode.BadMap, `map ${m.shape.name} ${detail}`, { map: m.shape.name });
  // The descriptors' region goes first, so that a region starting where they do is the culprit.
  const regions: [start: number, end: number, m: StoreMap | undefined, what: string][] = [[0, 0, undefined, 'descriptors']];
  for (const m of maps) {
    const p = m.placement;
    for (const field of ['desc', 'values', 'valuesSize', 'meta', 'metaSize'] as const) {
      if (!isU32(p[field])) throw bad(m, `has the ${field} ${String(p[field])}, not a 32-bit unsigned integer`);
    }
    for (const field of ['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const) {
      if (!isU32(m.shape[field])) throw bad(m, `has the ${field} ${String(m.shape[field])}, not a 32-bit unsigned integer`);
    }
    if (m.shape.keySize > KEY_BUF_SIZE) throw bad(m, `has ${m.shape.keySize}-byte keys; bpf2wasm's largest is ${KEY_BUF_SIZE}`);
    const need = valueStorage(m.shape);
    if (need > 0 && p.valuesSize < need) {
      throw bad(m, `has ${p.valuesSize} bytes of value storage, less than the ${need} its ${m.shape.maxEntries} values need`);
    }
    if (p.metaSize > 0) regions.push([p.meta, p.meta + p.metaSize, m, 'metadata']);
    if (p.valuesSize > 0) regions.push([p.values, p.values + p.valuesSize, m, 'values']);
  }
  const sorted = [...maps].sort((a, b) => a.placement.desc - b.placement.desc);
  const base = sorted[0]!.placement.desc;
  sorted.forEach((m, i) => {
    if (m.placement.desc !== base + i * DESC_SIZE) {
      throw bad(m, `has its descriptor at 0x${m.placement.desc.toString(16)}, not 0x${(base + i * DESC_SIZE).toString(16)}: the descriptors must be contiguous, ${DESC_SIZE} bytes apart`);
    }
  });
  regions[0] = [base, base + maps.length * DESC_SIZE, undefined, 'descriptors'];
  regions.sort((a, b) => a[0] - b[0]);
  let prev: (typeof regions)[number] | undefined;
  for (const r of regions) {
    const [start, end, owner, what] = r;
    const m = owner ?? sorted[0]!;
    if (start < MAPS_SCRATCH.end) throw bad(m, `has its ${what} at 0x${start.toString(16)}, in the null guard or the scratch page`);
    if (end > MAPS_LIMIT) throw bad(m, `has its ${what} end at 0x${end.toString(16)}, past the ${MAPS_LIMIT / 2 ** 20} MiB bpf2wasm gives maps`);
    if (prev && start < prev[1]) {
      const other = prev[2] ? `the ${prev[3]} of map ${prev[2].shape.name}` : 'the descriptors';
      throw bad(m, `has its ${what} at 0x${start.toString(16)}, overlapping ${other}`);
    }
    prev = r;
  }
  return { base, count: maps.length };
}

/** The bytes of value storage (the descriptor's `values`) a map of this shape indexes. */
function valueStorage(s: MapShape): number {
  const stride = Math.ceil(s.valueSize / 8) * 8;
  switch (s.type) {
    case MapType.ARRAY: case MapType.PERCPU_ARRAY: case MapType.HASH: case MapType.PERCPU_HASH:
    case MapType.LRU_HASH: case MapType.LRU_PERCPU_HASH: case MapType.HASH_OF_MAPS: case MapType.LPM_TRIE:
    case MapType.DEVMAP: case MapType.CPUMAP: case MapType.XSKMAP: case MapType.DEVMAP_HASH:
      return s.maxEntries * stride;
    case MapType.PROG_ARRAY: case MapType.ARRAY_OF_MAPS: case MapType.CGROUP_ARRAY:
      return s.maxEntries * 4;
    case MapType.RINGBUF:
      return s.maxEntries;
    default:
      return 0;
  }
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/**
 * Map types whose map_init ignores the seed (wasm/maps/index.ts: arrays, slots, redirect arrays,
 * queues, perf arrays, ring buffers); every other type (hash maps, LPM tries, bloom filters, and
 * any type added later) gets one.
 */
const UNSEEDED: ReadonlySet<number> = new Set([
  MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.DEVMAP, MapType.CPUMAP,
  MapType.XSKMAP, MapType.QUEUE, MapType.STACK, MapType.PERF_EVENT_ARRAY, MapType.RINGBUF, MapType.CGROUP_ARRAY,
]);

/** One hash seed per map: random, or derived from `seed` (splitmix32). */
function mapSeeds(n: number, seed: number | undefined): Uint32Array {
  const out = new Uint32Array(n);
  if (seed === undefined && typeof globalThis.crypto?.getRandomValues === 'function') {
    globalThis.crypto.getRandomValues(out);
    return out;
  }
  let s = seed ?? Math.floor(Math.random() * 2 ** 32);
  for (let i = 0; i < n; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    out[i] = (z ^ (z >>> 16)) >>> 0;
  }
  return out;
}

function u32Bytes(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

function describe(x: unknown): string {
  return x instanceof Uint8Array ? `${x.length} bytes` : typeof x;
}

/**
 * Instantiates the maps module. It imports only `env.memory` and exports plain functions of
 * numbers (no AssemblyScript strings or arrays cross), so the instance's exports are used as
 * they are: `@assemblyscript/loader`, which would only wrap the same instantiation, is not
 * needed (it cost 6 KB of bundle, and in Node its `Response` check loads the fetch stack, ~30 ms
 * of cold start).
 */
function instantiateMaps(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<WebAssembly.Instance> {
  return instantiateModule(module, { env: { memory } });
}
