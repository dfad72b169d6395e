/**
 * The userspace view of a map, as libbpf's `bpf_map__lookup_elem` & co. and cilium/ebpf's
 * `Map` give it: raw bytes (`lookupRaw`, `updateRaw`, ...) and values decoded with the map's BTF
 * types (`get`, `set`, `entries`, ...).
 *
 * Decoding follows runtime/values.ts: integers up to 4 bytes are numbers, 8 bytes bigints,
 * structs plain objects, char arrays strings. Keys without BTF may also be given as numbers or
 * bigints (little-endian, the key's size) or bytes. Per-CPU maps read back as an array of one
 * value per CPU, and bpf2wasm runs one CPU.
 */
import type { MapManifest } from '../abi.js';
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { decodeValue, encodeValue, type TypeDesc } from '../values.js';
import { BPF_ANY, MapType } from '../uapi/index.js';
import type { MapStore } from './store.js';

/** What a map needs from the object it belongs to. */
export interface MapOwner {
  programNumber(name: string): number;
  programName(number: number): string | undefined;
  mapByName(name: string): BpfMap | undefined;
  mapByDesc(desc: number): BpfMap | undefined;
  /** The number of the host's cgroup at `path` (0 the root, then `net.cgroups`; runtime/packet/cgroups.ts), or undefined. */
  cgroupNumber(path: string): number | undefined;
  /** The path of the host's cgroup number `n`, or undefined. */
  cgroupPath(n: number): string | undefined;
}

const PERCPU = new Set<number>([MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]);
const MAP_OF_MAPS = new Set<number>([MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS]);

/** The manifest entry of each map (tooling only: `mapInfo`). */
const infos = new WeakMap<BpfMap<unknown, unknown>, MapManifest>();

/**
 * The manifest entry of a map (its descriptor address, pinning, pool, ...): for the object
 * runtime and tooling (bpf2wasm/internal), not part of the public map API.
 */
export function mapInfo(map: BpfMap<unknown, unknown>): MapManifest {
  return infos.get(map)!;
}

/**
 * What encoding a key or value accepts where decoding gives `T` (runtime/values.ts): the same
 * shapes, and also numbers for bigints (8- and 16-byte integers), 0 and 1 for booleans, missing
 * struct and union members (zero; give one member of a union), and arrays shorter than the C
 * array (the rest is zero). `unknown` stays `unknown`.
 */
export type ValueInput<T> = T extends bigint ? bigint | number
  : T extends boolean ? boolean | 0 | 1
  : T extends string | number | Uint8Array ? T
  : T extends readonly (infer E)[] ? readonly ValueInput<E>[]
  : T extends object ? { [P in keyof T]?: ValueInput<T[P]> }
  : T;

/**
 * A map of a running object. `K` and `V` are the decoded key and value types (`unknown` unless
 * the caller names them: `inst.map<number, { packets: bigint }>('stats')`, or a module written
 * by `bpf2wasm gen types` names them from BTF); methods take them as {@link ValueInput}. They
 * are not checked at run time beyond what encoding checks.
 */
export class BpfMap<K = unknown, V = unknown> {
  readonly name: string;
  readonly index: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly keyType: TypeDesc | undefined;
  readonly valueType: TypeDesc | undefined;

  /** @internal created by the object runtime. */
  constructor(private readonly store: MapStore, info: MapManifest, private readonly owner: MapOwner) {
    infos.set(this, info);
    this.name = info.name;
    this.index = info.index;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.keyType = info.keyType;
    this.valueType = info.valueType ?? dataSectionType(info);
  }

  /**
   * The number of entries: hash maps, LPM tries, queues and stacks count them; arrays (and
   * PROG_ARRAY, ARRAY_OF_MAPS, CGROUP_ARRAY) have max_entries slots, set or not.
   */
  get size(): number {
    return this.store.count(this.index);
  }

  /** True for per-CPU maps (their values read back as an array with one value per CPU). */
  get perCpu(): boolean {
    return PERCPU.has(this.type);
  }

  // ---- raw bytes ----

  lookupRaw(key: Uint8Array): Uint8Array | undefined {
    return this.store.lookup(this.index, key);
  }

  updateRaw(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
    if (this.type === MapType.PROG_ARRAY) this.checkProgramSlot(value);
    if (this.type === MapType.CGROUP_ARRAY) this.checkCgroupSlot(value);
    this.store.update(this.index, key, value, flags);
  }

  /** A CGROUP_ARRAY slot holds the host's cgroup number + 1 (runtime/packet/cgroups.ts). */
  private checkCgroupSlot(value: Uint8Array): void {
    if (!(value instanceof Uint8Array) || value.length !== 4) return; // the store reports the size
    const n = bytesToNumber(value);
    if (n === 0 || this.owner.cgroupPath(n - 1) === undefined) {
      throw new BpfRuntimeError(
        ErrorCode.BadArgument,
        `cgroup array ${this.name} holds cgroups of the host state (net.cgroups, by path, or number + 1 as raw bytes); ${n} is none of them`,
        { map: this.name },
      );
    }
  }

  /**
   * A PROG_ARRAY slot holds a program number + 1 (what the inline bpf_tail_call reads); any
   * other value would send a tail call to a program the module does not have.
   */
  private checkProgramSlot(value: Uint8Array): void {
    if (!(value instanceof Uint8Array) || value.length !== 4) return; // the store reports the size
    const n = bytesToNumber(value);
    if (n === 0 || this.owner.programName(n - 1) === undefined) {
      throw new BpfRuntimeError(
        ErrorCode.BadArgument,
        `prog array ${this.name} holds programs of this module (by name, or number + 1 as raw bytes); ${n} is none of them`,
        { map: this.name },
      );
    }
  }

  deleteRaw(key: Uint8Array): boolean {
    return this.store.delete(this.index, key);
  }

  /** Every key, in the map's iteration order (get_next_key). */
  *keysRaw(): Generator<Uint8Array> {
    let key: Uint8Array | undefined;
    for (let n = 0; n <= this.maxEntries; n++) {
      key = this.store.nextKey(this.index, key);
      if (!key) return;
      yield key;
    }
  }

  // ---- decoded ----

  /** The value at `key`, decoded; undefined when absent. */
  get(key: ValueInput<K>): V | undefined {
    const raw = this.lookupRaw(this.encodeKey(key));
    return raw === undefined ? undefined : this.decodeStored(raw) as V;
  }

  /**
   * Sets `key` to `value` (flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST). PROG_ARRAY values are program
   * names; maps of maps take a map name or a BpfMap of the same object; CGROUP_ARRAY values are
   * cgroup paths of the host state (`"/"` or one of `net.cgroups`).
   */
  set(key: ValueInput<K>, value: ValueInput<V>, flags = BPF_ANY): void {
    this.updateRaw(this.encodeKey(key), this.encodeStored(value), flags);
  }

  /** Deletes `key`; false when it was absent. */
  delete(key: ValueInput<K>): boolean {
    return this.deleteRaw(this.encodeKey(key));
  }

  /** True when `key` is present. */
  has(key: ValueInput<K>): boolean {
    return this.lookupRaw(this.encodeKey(key)) !== undefined;
  }

  /** Every key, decoded, in the map's iteration order. */
  *keys(): Generator<K> {
    for (const k of this.keysRaw()) yield this.decodeKey(k) as K;
  }

  /** Every [key, value] pair, decoded, in the map's iteration order. */
  *entries(): Generator<[K, V]> {
    const info = mapInfo(this);
    const t = info.type;
    if (t === MapType.DEVMAP || t === MapType.CPUMAP || t === MapType.XSKMAP) {
      // Redirect arrays: get_next_key walks every index, present or not; walk the present ones.
      for (const [keyAddr, valueAddr] of this.store.entries(info.desc)) {
        const mem = this.store.memoryBytes();
        yield [this.decodeKey(mem.slice(keyAddr, keyAddr + 4)) as K, this.decodeStored(mem.slice(valueAddr, valueAddr + info.valueSize)) as V];
      }
      return;
    }
    // Slot arrays (prog arrays, map-of-maps arrays, cgroup arrays): only the occupied slots, read
    // from the slots (get_next_key walks every index, and a lookup per index is slow for big ones).
    const slotArray = t === MapType.PROG_ARRAY || t === MapType.ARRAY_OF_MAPS || t === MapType.CGROUP_ARRAY;
    const keys = slotArray && info.keySize === 4 ? slotKeys(this.store.occupiedSlots(this.index)) : this.keysRaw();
    for (const k of keys) {
      const v = this.lookupRaw(k);
      if (v !== undefined) yield [this.decodeKey(k) as K, this.decodeStored(v) as V];
    }
  }

  [Symbol.iterator](): Generator<[K, V]> {
    return this.entries();
  }

  /** QUEUE / STACK: push (BPF_EXIST overwrites the oldest when full); BLOOM_FILTER: add. */
  push(value: ValueInput<V>, flags = BPF_ANY): void {
    this.store.push(this.index, this.encodeValue(value), flags);
  }

  /** QUEUE / STACK: remove and return the next value; undefined when empty. */
  pop(): V | undefined {
    const v = this.store.pop(this.index);
    return v === undefined ? undefined : this.decodeValue(v) as V;
  }

  /** QUEUE / STACK: the next value without removing it; undefined when empty. */
  peek(): V | undefined;
  /** BLOOM_FILTER: true if `value` is possibly present, false if it is certainly absent. */
  peek(value: ValueInput<V>): boolean;
  peek(value?: ValueInput<V>): V | boolean | undefined {
    if (this.type === MapType.BLOOM_FILTER) {
      if (value === undefined) {
        throw new BpfRuntimeError(ErrorCode.BadArgument, `bloom filter ${this.name}: peek(value) tests a value; there is no next value to peek`, { map: this.name });
      }
      return this.store.peek(this.index, this.encodeValue(value)) !== undefined;
    }
    if (value !== undefined) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `peek(value) tests a bloom filter's value; map ${this.name} takes peek() for its next value`, { map: this.name });
    }
    const v = this.store.peek(this.index);
    return v === undefined ? undefined : this.decodeValue(v) as V;
  }

  /**
   * QUEUE / STACK: the elements in the order pop would return them, decoded, without removing
   * any (what `bpftool map dump` cannot do for these maps without popping).
   */
  elements(): unknown[] {
    return this.store.elements(this.index).map((v) => this.decodeValue(v));
  }

  /** The decoded contents: [key, value] pairs (for printing and JSON). */
  dump(): Array<[K, V]> {
    return [...this.entries()];
  }

  // ---- encoding ----

  private encodeKey(key: unknown): Uint8Array {
    if (key instanceof Uint8Array) return checkSize(key, this.keySize, 'key', this.name);
    const type = this.keyType;
    if (type) return checkSize(this.located(() => encodeValue(type, key, undefined, 0, 'key')), this.keySize, 'key', this.name);
    return intBytes(key, this.keySize, 'key', this.name);
  }

  private decodeKey(bytes: Uint8Array): unknown {
    const type = this.keyType;
    if (type) return this.located(() => decodeValue(type, bytes));
    return bytesToInt(bytes);
  }

  private encodeValue(value: unknown): Uint8Array {
    if (value instanceof Uint8Array) return checkSize(value, this.valueSize, 'value', this.name);
    const type = this.valueType;
    if (type) return checkSize(this.located(() => encodeValue(type, value)), this.valueSize, 'value', this.name);
    return intBytes(value, this.valueSize, 'value', this.name);
  }

  private decodeValue(bytes: Uint8Array): unknown {
    const type = this.valueType;
    if (type) return this.located(() => decodeValue(type, bytes));
    return bytesToInt(bytes);
  }

  /** Runs a typedesc conversion; its errors (which know the value's path, not the map) name this map. */
  private located<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof BpfRuntimeError && e.location.map === undefined) {
        throw new BpfRuntimeError(e.code, e.detail, { ...e.location, map: this.name }, { cause: e });
      }
      throw e;
    }
  }

  private encodeStored(value: unknown): Uint8Array {
    if (this.type === MapType.PROG_ARRAY && typeof value === 'string') {
      return intBytes(this.owner.programNumber(value) + 1, 4, 'value', this.name);
    }
    if (this.type === MapType.CGROUP_ARRAY && typeof value === 'string') {
      const n = this.owner.cgroupNumber(value);
      if (n === undefined) throw new BpfRuntimeError(ErrorCode.BadArgument, `no cgroup ${value} in the host state (net.cgroups) to store in ${this.name}`, { map: this.name });
      return intBytes(n + 1, 4, 'value', this.name);
    }
    if (MAP_OF_MAPS.has(this.type) && (typeof value === 'string' || value instanceof BpfMap)) {
      const inner = typeof value === 'string' ? this.owner.mapByName(value) : value;
      if (!inner) throw new BpfRuntimeError(ErrorCode.BadArgument, `no map named ${String(value)} to store in ${this.name}`, { map: this.name });
      return intBytes(mapInfo(inner).desc, 4, 'value', this.name);
    }
    if (this.perCpu && Array.isArray(value)) {
      if (value.length !== 1) {
        throw new BpfRuntimeError(ErrorCode.BadArgument, `per-CPU map ${this.name} takes one value per CPU, and bpf2wasm runs 1 CPU`, { map: this.name });
      }
      return this.encodeValue(value[0]);
    }
    return this.encodeValue(value);
  }

  private decodeStored(bytes: Uint8Array): unknown {
    if (this.type === MapType.PROG_ARRAY) {
      const n = bytesToNumber(bytes);
      return n === 0 ? undefined : this.owner.programName(n - 1);
    }
    if (MAP_OF_MAPS.has(this.type)) return this.owner.mapByDesc(bytesToNumber(bytes))?.name;
    if (this.type === MapType.CGROUP_ARRAY) {
      const n = bytesToNumber(bytes);
      return n === 0 ? undefined : this.owner.cgroupPath(n - 1);
    }
    const v = this.decodeValue(bytes);
    return this.perCpu ? [v] : v;
  }
}

/** The value type of a data-section map: a struct of its variables. */
function dataSectionType(info: MapManifest): TypeDesc | undefined {
  if (!info.internal || !info.variables) return undefined;
  return {
    kind: 'struct', name: info.name, size: info.valueSize,
    members: info.variables.map((v) => ({ name: v.name, offset: v.offset, type: v.type ?? { kind: 'bytes', size: v.size } })),
  };
}

function checkSize(bytes: Uint8Array, size: number, what: string, map: string): Uint8Array {
  if (bytes.length !== size) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `map ${map} has ${size}-byte ${what}s, not ${bytes.length} bytes`, { map });
  }
  return bytes;
}

function intBytes(v: unknown, size: number, what: string, map: string): Uint8Array {
  if ((typeof v !== 'number' && typeof v !== 'bigint') || ![1, 2, 4, 8].includes(size)) {
    throw new BpfRuntimeError(
      ErrorCode.BadArgument,
      `map ${map} has no BTF type for its ${what}s: pass ${size} bytes as a Uint8Array${[1, 2, 4, 8].includes(size) ? ' or an integer' : ''}`,
      { map },
    );
  }
  if (typeof v === 'number' && !Number.isInteger(v)) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `${what} ${v} for map ${map} is not an integer`, { map });
  }
  const big = BigInt(v);
  const bits = BigInt(size * 8);
  if (big < -(1n << (bits - 1n)) || big >= 1n << bits) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `${what} ${String(v)} does not fit the ${size}-byte ${what}s of map ${map}`, { map });
  }
  const out = new Uint8Array(size);
  let u = BigInt.asUintN(size * 8, big);
  for (let i = 0; i < size; i++) {
    out[i] = Number(u & 0xffn);
    u >>= 8n;
  }
  return out;
}

function bytesToInt(bytes: Uint8Array): unknown {
  if (bytes.length === 8) return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (bytes.length === 1 || bytes.length === 2 || bytes.length === 4) return bytesToNumber(bytes);
  return bytes;
}

function bytesToNumber(bytes: Uint8Array): number {
  let n = 0;
  for (let i = Math.min(bytes.length, 4) - 1; i >= 0; i--) n = n * 256 + bytes[i]!;
  return n;
}

/** u32 keys (little-endian, as eBPF's) of the slot indexes. */
function* slotKeys(slots: Iterable<number>): Generator<Uint8Array> {
  for (const i of slots) {
    const k = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, i, true);
    yield k;
  }
}
