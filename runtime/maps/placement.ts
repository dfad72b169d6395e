/**
 * Where the maps of an object live in linear memory: their descriptors and private metadata
 * first, then the value arena that programs reach through helper-returned pointers.
 *
 *     base ┌──────────────────────────────┐  metaBase
 *          │ descriptors, 64 bytes each   │  (a map's pointer is its descriptor's address)
 *          │ metadata: hash buckets and   │  not reachable by checked programs
 *          │ keys, queue rings, bloom     │
 *          │ bits, prog-array and         │
 *          │ map-of-maps slots            │
 *          ├──────────────────────────────┤  metaEnd <= arenaBase
 *          │ value arena: array, hash and │  what programs may touch
 *          │ LPM values, ring buffer data │
 *          └──────────────────────────────┘  arenaEnd
 *
 * Validation follows the kernel's map_alloc_check functions (kernel/bpf/arraymap.c, hashtab.c,
 * lpm_trie.c, queue_stack_maps.c, bloom_filter.c, ringbuf.c): a shape the kernel refuses to
 * create is refused here with E_BAD_MAP. The metadata sizes must agree with what the maps module
 * (wasm/maps/) computes; runtime/test/maps.test.ts checks them against its `map_meta_size`.
 */
import { NULL_GUARD_SIZE, SCRATCH_SIZE } from '../abi.js';
import { Bpf2WasmError, BpfRuntimeError, CompileError, ErrorCode } from '../errors.js';
import { DESC_SIZE, type MapShape } from './descriptor.js';
import { BPF_F_NO_PREALLOC, MapType } from '../uapi/index.js';

/** Where one map lives. */
export interface MapPlacement {
  /** The descriptor's address: the map's pointer. */
  desc: number;
  /**
   * The value storage (the descriptor's `values`): in the arena for arrays, hashes, the LPM trie
   * and ring buffers; in the metadata region for prog-array and map-of-maps slots (never handed
   * to programs); 0 for maps without values (queue, stack, bloom filter, perf event array).
   */
  values: number;
  valuesSize: number;
  /** The private metadata (0 and 0 when the type needs none). */
  meta: number;
  metaSize: number;
}

/** The placement of every map, in the order given, and the two regions' bounds. */
export interface MapsLayout {
  placements: MapPlacement[];
  /** Start of the descriptors and metadata (the `base` given, 16-aligned). */
  metaBase: number;
  /** End of the metadata region. */
  metaEnd: number;
  /** Start of the value arena (16-aligned). */
  arenaBase: number;
  /** End of the value arena: the first free address after the maps. */
  arenaEnd: number;
}

/** Largest key of a hash map (MAX_BPF_STACK). */
export const MAX_HASH_KEY_SIZE = 512;
/** Largest value (KMALLOC_MAX_SIZE on x86-64). */
export const MAX_VALUE_SIZE = 4 << 20;
/** Largest value of a per-CPU map (PCPU_MIN_UNIT_SIZE). */
export const MAX_PERCPU_VALUE_SIZE = 32 << 10;
/** LPM trie keys: `u32 prefixlen` and 1..256 bytes of data. */
export const LPM_KEY_SIZE_MIN = 5;
export const LPM_KEY_SIZE_MAX = 4 + 256;
/**
 * Everything the maps occupy must end below this address (1 GiB). Linear memory is allocated for
 * all of it at instantiation and array maps are zeroed, so a larger region costs seconds and that
 * much resident memory before a program runs, and many browsers (32-bit and mobile ones) cannot
 * allocate it at all.
 */
export const MAPS_LIMIT = 2 ** 30;

/** The map types bpf2wasm implements (the maps module in wasm/maps and the runtime's stdlib). */
export const SUPPORTED_MAP_TYPES: ReadonlySet<number> = new Set<number>([
  MapType.HASH, MapType.ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE, MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS, MapType.QUEUE, MapType.STACK, MapType.RINGBUF, MapType.BLOOM_FILTER,
  MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP, MapType.CGROUP_ARRAY,
]);

const align = (n: number, a: number): number => Math.ceil(n / a) * a;
const valueStride = (valueSize: number): number => align(valueSize, 8);

/** Bucket count of a hash table: a power of two >= max(2, maxEntries) (wasm/maps/htab.ts). */
function bucketCount(maxEntries: number): number {
  let n = 2;
  while (n < maxEntries) n *= 2;
  return n;
}

/** Bytes of the header (the hash seed) of hash table and bloom filter metadata. */
const SEED_HEADER = 16;

/** Metadata bytes of a hash table: header, buckets, and entries of an 8-byte header and the key. */
function hashMetaSize(keySize: number, maxEntries: number): number {
  return SEED_HEADER + bucketCount(maxEntries) * 4 + maxEntries * align(8 + keySize, 8);
}

/** Bloom filter metadata: the header and the bit array, sized as kernel/bpf/bloom_filter.c. */
function bloomMetaSize(maxEntries: number, mapExtra: number): number {
  const k = (mapExtra & 0xf) === 0 ? 5 : mapExtra & 0xf;
  const product = maxEntries * k;
  if (product > 0xffffffff) return SEED_HEADER + 2 ** 29;
  const bits = Math.floor(product / 5) * 7;
  if (bits > 2 ** 31) return SEED_HEADER + 2 ** 29;
  let n = 64;
  while (n < bits) n *= 2;
  return SEED_HEADER + n / 8;
}

interface Sizes {
  meta: number;
  /** Value storage in the arena. */
  arena: number;
  /** Value storage (slots) in the metadata region. */
  slots: number;
}

/**
 * Lays out `maps` from `base` (the first free address): descriptors and metadata first, then
 * the value arena, each 16-aligned. Throws CompileError E_BAD_MAP, located at the map's name,
 * for a shape the kernel would refuse or one that does not fit below {@link MAPS_LIMIT}.
 */
export function layoutMaps(maps: readonly MapShape[], base: number): MapsLayout {
  const sizes = maps.map((m) => checkShape(m));
  const metaBase = align(base, 16);
  let cursor = metaBase + maps.length * DESC_SIZE;
  const placements: MapPlacement[] = maps.map((_, i) => ({
    desc: metaBase + i * DESC_SIZE, values: 0, valuesSize: 0, meta: 0, metaSize: 0,
  }));
  maps.forEach((m, i) => {
    const s = sizes[i]!;
    const p = placements[i]!;
    if (s.meta > 0) {
      cursor = align(cursor, 16);
      p.meta = cursor;
      p.metaSize = s.meta;
      cursor += s.meta;
    }
    if (s.slots > 0) {
      cursor = align(cursor, 16);
      p.values = cursor;
      p.valuesSize = s.slots;
      cursor += s.slots;
    }
    checkLimit(m, cursor);
  });
  const metaEnd = align(cursor, 16);
  const arenaBase = metaEnd;
  cursor = arenaBase;
  maps.forEach((m, i) => {
    const s = sizes[i]!;
    if (s.arena === 0) return;
    cursor = align(cursor, 16);
    placements[i]!.values = cursor;
    placements[i]!.valuesSize = s.arena;
    cursor += s.arena;
    checkLimit(m, cursor);
  });
  return { placements, metaBase, metaEnd, arenaBase, arenaEnd: align(cursor, 16) };
}

/** Where compileObject lays out maps from: right after the null guard and the scratch page. */
export const MAPS_BASE = NULL_GUARD_SIZE + SCRATCH_SIZE;

/** What {@link checkMapsLayout} reads of each map of a manifest (MapManifest has these fields). */
export interface PlacedMap extends MapShape, MapPlacement {
  index: number;
}

/**
 * Checks the maps a module's manifest describes before the runtime creates them: every shape is
 * one {@link layoutMaps} accepts, and every placement is exactly where `layoutMaps` puts it
 * (from {@link MAPS_BASE}, in manifest order), so that descriptors, metadata and values never
 * overlap each other, the null guard, the scratch page or the stack, and all of them lie in
 * memory; the value arena starts where the layout says and the key scratch area (for
 * bpf_for_each_map_elem) lies between the arena and the stack. The runtime cannot trust a
 * manifest it did not make: it may have been edited, or come from another version of the
 * compiler. Returns the maps, typed.
 *
 * @throws BpfRuntimeError `E_BAD_MODULE` when the map list, the layout or the key scratch area is
 *   malformed or misplaced, `E_BAD_MAP` (located at the map) for a shape bpf2wasm refuses or a
 *   placement that differs.
 */
export function checkMapsLayout(
  manifest: { maps?: unknown; layout?: unknown; keyScratch?: unknown },
  base = MAPS_BASE,
): PlacedMap[] {
  const badModule = (detail: string): never => {
    throw new BpfRuntimeError(ErrorCode.BadModule, `the module manifest ${detail}`);
  };
  const badMap = (name: string, detail: string): never => {
    throw new BpfRuntimeError(ErrorCode.BadMap, `the module manifest ${detail}`, { map: name });
  };
  const { maps = [], layout, keyScratch } = manifest;
  if (!Array.isArray(maps)) badModule('has a map list that is not an array');
  const shapes: PlacedMap[] = (maps as unknown[]).map((raw, i) => {
    if (typeof raw !== 'object' || raw === null) badModule(`has map ${i}, which is not an object`);
    const m = raw as Record<string, unknown>;
    const name = typeof m.name === 'string' ? m.name : `#${i}`;
    for (const field of ['index', 'type', 'keySize', 'valueSize', 'maxEntries', 'flags', 'desc', 'values', 'valuesSize', 'meta', 'metaSize'] as const) {
      if (!isU32(m[field])) badMap(name, `gives map ${name} the ${field} ${String(m[field])}, not a 32-bit unsigned integer`);
    }
    if (m.index !== i) badMap(name, `lists map ${name} at position ${i} with index ${String(m.index)}`);
    if (m.mapExtra !== undefined && !isU32(m.mapExtra)) badMap(name, `gives map ${name} the map_extra ${String(m.mapExtra)}`);
    return { ...(m as unknown as PlacedMap), name };
  });
  const names = new Set<string>();
  for (const m of shapes) {
    if (names.has(m.name)) badMap(m.name, `has two maps named ${m.name}`);
    names.add(m.name);
  }
  let expected: MapsLayout;
  try {
    expected = layoutMaps(shapes, base);
  } catch (e) {
    if (e instanceof Bpf2WasmError) throw new BpfRuntimeError(e.code, `the module manifest describes a map bpf2wasm refuses: ${e.detail}`, e.location);
    throw e;
  }
  shapes.forEach((m, i) => {
    const want = expected.placements[i]!;
    for (const field of ['desc', 'values', 'valuesSize', 'meta', 'metaSize'] as const) {
      if (m[field] !== want[field]) badMap(m.name, `places map ${m.name}'s ${field} at ${m[field]}, where the layout of its maps has ${want[field]}`);
    }
  });
  if (shapes.length === 0) return shapes;
  if (typeof layout !== 'object' || layout === null) badModule('has no memory layout');
  const { arenaBase, stackBase } = layout as { arenaBase?: unknown; stackBase?: unknown };
  if (arenaBase !== expected.arenaBase) badModule(`says the value arena starts at ${String(arenaBase)}, not ${expected.arenaBase}`);
  if (!isU32(stackBase) || stackBase < expected.arenaEnd) {
    badModule(`puts the stack at ${String(stackBase)}, inside the maps (which end at ${expected.arenaEnd})`);
  }
  if (keyScratch !== undefined) {
    const k = (typeof keyScratch === 'object' && keyScratch !== null ? keyScratch : {}) as Record<string, unknown>;
    const { address, slotSize, slots } = k;
    const keys = Math.max(0, ...shapes.map((m) => m.keySize));
    if (!isU32(address) || !isU32(slotSize) || !isU32(slots) || slotSize < keys || address < expected.arenaEnd ||
        address + slotSize * slots > (stackBase as number)) {
      badModule(`puts the key scratch area (${JSON.stringify(keyScratch)}) outside the space between the maps and the stack, or makes it too small for their keys`);
    }
  }
  return shapes;
}

function checkLimit(m: MapShape, end: number): void {
  if (end >= MAPS_LIMIT) {
    throw bad(m, `the maps need ${Math.ceil(end / 2 ** 20)} MiB of memory, more than the ${MAPS_LIMIT / 2 ** 20} MiB bpf2wasm gives maps`);
  }
}

function bad(m: MapShape, sentence: string): CompileError {
  return new CompileError(ErrorCode.BadMap, sentence, { map: m.name });
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** Checks one shape as the kernel's map_alloc_check does and returns its storage sizes. */
function checkShape(m: MapShape): Sizes {
  const { type, keySize, valueSize, maxEntries, flags } = m;
  const extra = m.mapExtra ?? 0;
  if (!isU32(type) || !SUPPORTED_MAP_TYPES.has(type)) throw bad(m, `map type ${String(type)} is not supported`);
  for (const [field, v] of [['key size', keySize], ['value size', valueSize], ['max_entries', maxEntries], ['map_flags', flags], ['map_extra', extra]] as const) {
    if (!isU32(v)) throw bad(m, `the ${field} ${String(v)} is not a 32-bit unsigned integer`);
  }
  if (extra !== 0 && type !== MapType.BLOOM_FILTER) throw bad(m, `map_extra is only meaningful for bloom filters, got ${extra}`);
  const name = typeName(type);
  const needKey = (n: number): void => {
    if (keySize !== n) throw bad(m, `${name} maps need a key size of ${n}, got ${keySize}`);
  };
  const needValue = (n: number): void => {
    if (valueSize !== n) throw bad(m, `${name} maps need a value size of ${n}, got ${valueSize}`);
  };
  const needEntries = (): void => {
    if (maxEntries === 0) throw bad(m, `${name} maps need max_entries > 0`);
  };
  const needValueSize = (max: number): void => {
    if (valueSize === 0) throw bad(m, `${name} maps need a value size > 0`);
    if (valueSize > max) throw bad(m, `the value size ${valueSize} exceeds the kernel's limit of ${max} for ${name} maps`);
  };
  const stride = valueStride(valueSize);
  switch (type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
      needKey(4);
      needValueSize(type === MapType.PERCPU_ARRAY ? MAX_PERCPU_VALUE_SIZE : MAX_VALUE_SIZE);
      needEntries();
      if (flags & BPF_F_NO_PREALLOC) throw bad(m, `BPF_F_NO_PREALLOC is not allowed on ${name} maps`);
      return { meta: 0, arena: maxEntries * stride, slots: 0 };
    case MapType.PROG_ARRAY:
    case MapType.ARRAY_OF_MAPS:
    case MapType.CGROUP_ARRAY:
      needKey(4);
      needValue(4);
      needEntries();
      return { meta: 0, arena: 0, slots: maxEntries * 4 };
    case MapType.DEVMAP:
    case MapType.CPUMAP:
    case MapType.XSKMAP:
      // Values: ifindex (or struct bpf_devmap_val), queue size (or struct bpf_cpumap_val), socket.
      needKey(4);
      if (type === MapType.XSKMAP) needValue(4);
      else if (valueSize !== 4 && valueSize !== 8) throw bad(m, `${name} maps need a value size of 4 or 8, got ${valueSize}`);
      needEntries();
      return { meta: 0, arena: maxEntries * stride, slots: 0 };
    case MapType.DEVMAP_HASH:
      needKey(4);
      if (valueSize !== 4 && valueSize !== 8) throw bad(m, `${name} maps need a value size of 4 or 8, got ${valueSize}`);
      needEntries();
      return { meta: hashMetaSize(keySize, maxEntries), arena: maxEntries * stride, slots: 0 };
    case MapType.PERF_EVENT_ARRAY:
      // max_entries 0 is allowed: libbpf sets it to the number of CPUs.
      needKey(4);
      needValue(4);
      return { meta: 0, arena: 0, slots: 0 };
    case MapType.HASH:
    case MapType.PERCPU_HASH:
    case MapType.LRU_HASH:
    case MapType.LRU_PERCPU_HASH:
    case MapType.HASH_OF_MAPS: {
      if (keySize === 0) throw bad(m, `${name} maps need a key size > 0`);
      if (keySize > MAX_HASH_KEY_SIZE) throw bad(m, `the key size ${keySize} exceeds the kernel's limit of ${MAX_HASH_KEY_SIZE}`);
      if (type === MapType.HASH_OF_MAPS) needValue(4);
      else needValueSize(type === MapType.PERCPU_HASH || type === MapType.LRU_PERCPU_HASH ? MAX_PERCPU_VALUE_SIZE : MAX_VALUE_SIZE);
      needEntries();
      if ((type === MapType.LRU_HASH || type === MapType.LRU_PERCPU_HASH) && flags & BPF_F_NO_PREALLOC) {
        throw bad(m, `LRU maps cannot have BPF_F_NO_PREALLOC (the kernel returns ENOTSUPP)`);
      }
      const meta = hashMetaSize(keySize, maxEntries);
      const values = maxEntries * stride;
      // Map-of-maps values are descriptor addresses: kept out of the programs' reach.
      return type === MapType.HASH_OF_MAPS ? { meta, arena: 0, slots: values } : { meta, arena: values, slots: 0 };
    }
    case MapType.LPM_TRIE:
      if (keySize < LPM_KEY_SIZE_MIN || keySize > LPM_KEY_SIZE_MAX) {
        throw bad(m, `lpm_trie maps need a key size of ${LPM_KEY_SIZE_MIN}..${LPM_KEY_SIZE_MAX} (u32 prefixlen and 1..256 bytes of data), got ${keySize}`);
      }
      needValueSize(MAX_VALUE_SIZE - 256 - 32);
      needEntries();
      if (!(flags & BPF_F_NO_PREALLOC)) throw bad(m, `lpm_trie maps must be created with BPF_F_NO_PREALLOC, as the kernel requires`);
      return { meta: hashMetaSize(keySize, maxEntries) + ((keySize - 4) * 8 + 1) * 4, arena: maxEntries * stride, slots: 0 };
    case MapType.QUEUE:
    case MapType.STACK:
      needKey(0);
      needValueSize(MAX_VALUE_SIZE);
      needEntries();
      return { meta: maxEntries * stride, arena: 0, slots: 0 };
    case MapType.BLOOM_FILTER:
      needKey(0);
      needValueSize(MAX_VALUE_SIZE);
      needEntries();
      if (extra > 0xf) throw bad(m, `bloom_filter maps take 0..15 hash functions in map_extra, got ${extra}`);
      return { meta: bloomMetaSize(maxEntries, extra), arena: 0, slots: 0 };
    case MapType.RINGBUF:
      needKey(0);
      needValue(0);
      if (maxEntries < 4096 || maxEntries % 4096 !== 0 || (maxEntries & (maxEntries - 1)) !== 0) {
        throw bad(m, `ringbuf maps need max_entries a power of 2 and a multiple of 4096, got ${maxEntries}`);
      }
      return { meta: 0, arena: maxEntries, slots: 0 };
    default:
      throw bad(m, `map type ${type} is not supported`);
  }
}

/** The kernel's name of a map type, lower case without the prefix (`hash`, `lru_hash`). */
export function typeName(type: number): string {
  for (const [k, v] of Object.entries(MapType)) if (v === type) return k.toLowerCase();
  return `type ${type}`;
}
