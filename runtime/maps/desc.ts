/**
 * The map descriptor: the contract between compiled programs, the maps module written in
 * AssemblyScript (wasm/maps/) and the JS side of the runtime. A map's "pointer" (what
 * `lddw src_reg=1` loads, and what helpers receive as `struct bpf_map *`) is the linear-memory
 * address of its descriptor, a 64-byte record in the maps' metadata region:
 *
 *     +0  u32 type          enum bpf_map_type
 *     +4  u32 keySize
 *     +8  u32 valueSize
 *     +12 u32 maxEntries
 *     +16 u32 flags         map_flags
 *     +20 u32 valueStride   valueSize rounded up to 8 (distance between consecutive values)
 *     +24 u32 values        address of the value storage (arrays, hash values, ring data,
 *                           prog-array / map-of-maps slots)
 *     +28 u32 meta          address of the map's private metadata (hash buckets, keys, ...)
 *     +32 u32 metaSize      its size in bytes
 *     +36 u32 count         current number of entries (hash, queue, stack, ...)
 *     +40 u32 index         the map's index in the object
 *     +44 u32 extra         map_extra (bloom filter: number of hash functions)
 *     +48 .. +63            type-specific state, owned by the maps module
 *
 * Memory the program may touch through pointers it gets from helpers (array and hash values,
 * ring buffer records, global data) lies in the value arena, directly below the stack, so that
 * checked mode confines accesses with one range [arenaBase, end of input). Descriptors and
 * metadata lie below the arena, where checked programs cannot reach them.
 *
 * This file imports nothing; wasm/maps/ keeps its own copy of these constants and a test checks
 * that the two agree.
 */

export const DESC_SIZE = 64;

export const D_TYPE = 0;
export const D_KEY_SIZE = 4;
export const D_VALUE_SIZE = 8;
export const D_MAX_ENTRIES = 12;
export const D_FLAGS = 16;
export const D_VALUE_STRIDE = 20;
export const D_VALUES = 24;
export const D_META = 28;
export const D_META_SIZE = 32;
export const D_COUNT = 36;
export const D_INDEX = 40;
export const D_EXTRA = 44;
export const D_STATE = 48;

/** `enum bpf_map_type` values bpf2wasm implements. */
export const MapType = {
  HASH: 1, ARRAY: 2, PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, PERCPU_HASH: 5, PERCPU_ARRAY: 6,
  LRU_HASH: 9, LRU_PERCPU_HASH: 10, LPM_TRIE: 11, ARRAY_OF_MAPS: 12, HASH_OF_MAPS: 13,
  DEVMAP: 14, CPUMAP: 16, XSKMAP: 17, QUEUE: 22, STACK: 23, DEVMAP_HASH: 25, RINGBUF: 27, BLOOM_FILTER: 30,
} as const;

/** Update flags (`BPF_ANY`, ...). */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

/** map_flags. */
export const BPF_F_NO_PREALLOC = 0x1;
export const BPF_F_RDONLY_PROG = 0x80;
export const BPF_F_WRONLY_PROG = 0x100;

/** The kernel's errno values helpers return (negated). */
export const Errno = {
  EPERM: 1, ENOENT: 2, E2BIG: 7, EBUSY: 16, EEXIST: 17, EINVAL: 22, ENOSPC: 28, ERANGE: 34, EOPNOTSUPP: 95, EFAULT: 14,
} as const;

/** What the layout needs to know of a map (a subset of the compiler's MapSpec). */
export interface MapShape {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  mapExtra?: number;
}
