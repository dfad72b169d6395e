/**
 * The map descriptor contract, copied from runtime/maps/desc.ts (AssemblyScript cannot import the
 * runtime's TypeScript). runtime/test/maps.test.ts checks that every constant here has the value
 * it has there, so edit both together.
 *
 * Only `export const NAME: T = <integer literal>;` lines belong in this file: the test reads them
 * as text.
 */

export const DESC_SIZE: u32 = 64;

export const D_TYPE: u32 = 0;
export const D_KEY_SIZE: u32 = 4;
export const D_VALUE_SIZE: u32 = 8;
export const D_MAX_ENTRIES: u32 = 12;
export const D_FLAGS: u32 = 16;
export const D_VALUE_STRIDE: u32 = 20;
export const D_VALUES: u32 = 24;
export const D_META: u32 = 28;
export const D_META_SIZE: u32 = 32;
export const D_COUNT: u32 = 36;
export const D_INDEX: u32 = 40;
export const D_EXTRA: u32 = 44;
export const D_STATE: u32 = 48;

// enum bpf_map_type (MapType in desc.ts)
export const MAP_HASH: u32 = 1;
export const MAP_ARRAY: u32 = 2;
export const MAP_PROG_ARRAY: u32 = 3;
export const MAP_PERF_EVENT_ARRAY: u32 = 4;
export const MAP_PERCPU_HASH: u32 = 5;
export const MAP_PERCPU_ARRAY: u32 = 6;
export const MAP_CGROUP_ARRAY: u32 = 8;
export const MAP_LRU_HASH: u32 = 9;
export const MAP_LRU_PERCPU_HASH: u32 = 10;
export const MAP_LPM_TRIE: u32 = 11;
export const MAP_ARRAY_OF_MAPS: u32 = 12;
export const MAP_HASH_OF_MAPS: u32 = 13;
export const MAP_DEVMAP: u32 = 14;
export const MAP_CPUMAP: u32 = 16;
export const MAP_XSKMAP: u32 = 17;
export const MAP_QUEUE: u32 = 22;
export const MAP_STACK: u32 = 23;
export const MAP_DEVMAP_HASH: u32 = 25;
export const MAP_RINGBUF: u32 = 27;
export const MAP_BLOOM_FILTER: u32 = 30;

// update flags
export const BPF_ANY: u64 = 0;
export const BPF_NOEXIST: u64 = 1;
export const BPF_EXIST: u64 = 2;
export const BPF_F_LOCK: u64 = 4;

// map_flags
export const BPF_F_NO_PREALLOC: u32 = 0x1;
export const BPF_F_RDONLY_PROG: u32 = 0x80;
export const BPF_F_WRONLY_PROG: u32 = 0x100;

// errno (Errno in desc.ts); helpers return them negated
export const EPERM: i32 = 1;
export const ENOENT: i32 = 2;
export const E2BIG: i32 = 7;
export const EFAULT: i32 = 14;
export const EBUSY: i32 = 16;
export const EEXIST: i32 = 17;
export const EINVAL: i32 = 22;
export const ENOSPC: i32 = 28;
export const ERANGE: i32 = 34;
export const EOPNOTSUPP: i32 = 95;

// The module's share of the runtime scratch page (runtime/maps/store.ts has the same numbers).
/** Start of the maps' scratch area [0x1800, 0x2000). */
export const SCRATCH_BASE: u32 = 0x1800;
/** End (exclusive) of the maps' scratch area. */
export const SCRATCH_END: u32 = 0x2000;
/** Private to this module: the LPM trie's masked key (up to 4 + 256 bytes). */
export const LPM_KEY_BUF: u32 = 0x1800;
/**
 * The descriptor table, written by the runtime (MapStore.create) and only read here: u32 address
 * of the first descriptor, then u32 number of descriptors. They are contiguous, DESC_SIZE bytes
 * apart (runtime/maps/layout.ts); every export that takes a map accepts only one of them.
 */
export const MAP_TABLE_BASE: u32 = 0x1978;
/** The number of descriptors at MAP_TABLE_BASE (see there). */
export const MAP_TABLE_COUNT: u32 = 0x197c;
