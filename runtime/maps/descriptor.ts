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
