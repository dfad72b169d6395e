/**
 * Map UAPI facts (linux/bpf.h): `enum bpf_map_type`, the update flags of `bpf_map_update_elem`,
 * `map_flags`, and libbpf's `enum libbpf_pin_type`. The one home of these numbers: the compiler,
 * the runtime, the CLI and the tests import them from here.
 */

/** `enum bpf_map_type` (linux/bpf.h), every type the UAPI defines (bpf2wasm implements a subset). */
export const MapType = {
  UNSPEC: 0, HASH: 1, ARRAY: 2, PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, PERCPU_HASH: 5, PERCPU_ARRAY: 6,
  STACK_TRACE: 7, CGROUP_ARRAY: 8, LRU_HASH: 9, LRU_PERCPU_HASH: 10, LPM_TRIE: 11, ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13, DEVMAP: 14, SOCKMAP: 15, CPUMAP: 16, XSKMAP: 17, SOCKHASH: 18, CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20, PERCPU_CGROUP_STORAGE: 21, QUEUE: 22, STACK: 23, SK_STORAGE: 24,
  DEVMAP_HASH: 25, STRUCT_OPS: 26, RINGBUF: 27, INODE_STORAGE: 28, TASK_STORAGE: 29, BLOOM_FILTER: 30,
  USER_RINGBUF: 31, CGRP_STORAGE: 32, ARENA: 33,
} as const;

/** A value of {@link MapType}. */
export type MapTypeValue = (typeof MapType)[keyof typeof MapType];

const MAP_TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(MapType).map(([k, v]) => [v as number, k]));

/** `BPF_MAP_TYPE_HASH` for 1, `map type N` for a number the UAPI does not name. */
export function mapTypeName(type: number): string {
  const n = MAP_TYPE_NAMES.get(type);
  return n ? `BPF_MAP_TYPE_${n}` : `map type ${type}`;
}

/** Update flags of `bpf_map_update_elem`: create or update. */
export const BPF_ANY = 0;
/** Update flag: create only (EEXIST if present). */
export const BPF_NOEXIST = 1;
/** Update flag: update only (ENOENT if absent). */
export const BPF_EXIST = 2;
/** Update flag: take the value's `struct bpf_spin_lock`. */
export const BPF_F_LOCK = 4;

/** map_flags: hash maps allocate elements on demand. */
export const BPF_F_NO_PREALLOC = 0x1;
/** map_flags: the program may only read the map (`.rodata`). */
export const BPF_F_RDONLY_PROG = 0x80;
/** map_flags: the program may only write the map. */
export const BPF_F_WRONLY_PROG = 0x100;
/** map_flags: the map's memory can be mapped (libbpf sets it on global data maps). */
export const BPF_F_MMAPABLE = 0x400;

/** `enum libbpf_pin_type`: how a map declared with `__uint(pinning, ...)` is pinned. */
export const MapPinning = { NONE: 0, BY_NAME: 1 } as const;
