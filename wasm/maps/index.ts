/**
 * The eBPF maps module: map operations on descriptors in the program's own linear memory (see
 * runtime/maps/desc.ts for the descriptor). Compiled programs import the `map_*` exports directly
 * as their map helpers, Wasm to Wasm, so a lookup never crosses into JS; the runtime
 * (runtime/maps/store.ts) calls the `user_*` and iteration exports for its JS API.
 *
 * Rules of this module: no heap, no strings, no static data; memory it owns outside the maps'
 * regions is the scratch area [0x1800, 0x2000) (desc.ts). Errors are the kernel's, negated.
 *
 * Program path (helper ABI): map_lookup_elem (1), map_update_elem (2), map_delete_elem (3),
 * map_push_elem (87), map_pop_elem (88), map_peek_elem (89), map_lookup_percpu_elem (195).
 * A map created with BPF_F_RDONLY_PROG refuses update, delete, push and pop from programs with
 * -EPERM (the kernel's verifier refuses to load such programs). Per-CPU maps have one CPU.
 *
 * A program chooses its helpers' map argument (r1), and the kernel's verifier, which only lets a
 * map pointer (lddw src 1) there, is not here: every export that takes a map first checks that
 * it is one of the descriptors the runtime wrote (the table at MAP_TABLE_BASE, desc.ts), so a
 * "descriptor" a program forged on its stack is refused as the kernel would a non-map: NULL from
 * lookups, -EINVAL from the others.
 */
import { arrayClear, arrayLookup, arrayNextKey, arrayUpdate, slotClear, slotDelete, slotGet, slotUpdate } from './array';
import { bloomClear, bloomInit, bloomMetaSize, bloomPeek, bloomPush } from './bloom';
import {
  BPF_EXIST, BPF_F_LOCK, BPF_F_RDONLY_PROG, D_EXTRA, D_FLAGS, D_KEY_SIZE, D_MAX_ENTRIES, D_META_SIZE, D_TYPE, D_VALUE_STRIDE,
  E2BIG, EINVAL, EOPNOTSUPP, EPERM, MAP_ARRAY, MAP_ARRAY_OF_MAPS, MAP_BLOOM_FILTER, MAP_HASH, MAP_HASH_OF_MAPS,
  MAP_LPM_TRIE, MAP_LRU_HASH, MAP_LRU_PERCPU_HASH, MAP_PERCPU_ARRAY, MAP_PERCPU_HASH, MAP_PERF_EVENT_ARRAY,
  MAP_PROG_ARRAY, MAP_QUEUE, MAP_RINGBUF, MAP_STACK, D_VALUES, ENOSPC, MAP_TABLE_BASE, MAP_TABLE_COUNT,
  MAP_CPUMAP, MAP_DEVMAP, MAP_DEVMAP_HASH, MAP_XSKMAP, D_VALUE_SIZE, MAP_CGROUP_ARRAY,
} from './desc';
import { htabClear, htabDelete, htabFind, htabFind4, htabInit, htabKeyAddr, htabMetaSize, htabNextKey, htabNextSlot, htabUpdate, htabValue, lruTouch } from './htab';
import { lpmClear, lpmDelete, lpmInit, lpmLookup, lpmMetaSize, lpmNextKey, lpmUpdate } from './lpm';
import { queueClear, queueInit, queueMetaSize, queuePush, queueTake } from './queue';

// ---- the descriptor table ----

/**
 * True if `map` is the address of one of the runtime's descriptors: `base + 64 * i` with
 * `i < count` (the table at MAP_TABLE_BASE). One rotate does both tests: `map - base` rotated
 * right by 6 is `i` when 64 divides it and at least 2^26 (more than any count: the descriptors
 * lie in a 4 GiB memory) otherwise, and an address below `base` wraps to at least `count`.
 */
// @ts-ignore: decorator
@inline function isMap(map: u32): bool {
  return rotr<u32>(map - load<u32>(MAP_TABLE_BASE), 6) < load<u32>(MAP_TABLE_COUNT);
}

// ---- classification ----

// @ts-ignore: decorator
@inline function isHash(t: u32): bool {
  return t == MAP_HASH || t == MAP_PERCPU_HASH || t == MAP_LRU_HASH || t == MAP_LRU_PERCPU_HASH || t == MAP_HASH_OF_MAPS || t == MAP_DEVMAP_HASH;
}
/**
 * Redirect arrays (DEVMAP, CPUMAP, XSKMAP): arrays whose entries are absent while their first
 * u32 (the ifindex, the queue size, the socket) is 0, as the kernel's, where such an update
 * empties the entry. Programs only look them up (and redirect through them).
 */
// @ts-ignore: decorator
@inline function isRedirectArray(t: u32): bool {
  return t == MAP_DEVMAP || t == MAP_CPUMAP || t == MAP_XSKMAP;
}
// @ts-ignore: decorator
@inline function isRedirect(t: u32): bool {
  return isRedirectArray(t) || t == MAP_DEVMAP_HASH;
}
/** A redirect array's element `load<u32>(key)`, 0 if absent or out of range. */
function redirectLookup(map: u32, key: u32): u32 {
  const a = arrayLookup(map, key);
  return a != 0 && load<u32>(a) != 0 ? a : 0;
}
// @ts-ignore: decorator
@inline function isLru(t: u32): bool {
  return t == MAP_LRU_HASH || t == MAP_LRU_PERCPU_HASH;
}
// @ts-ignore: decorator
@inline function isArray(t: u32): bool {
  return t == MAP_ARRAY || t == MAP_PERCPU_ARRAY;
}
/**
 * Slot arrays (the kernel's fd arrays): PROG_ARRAY (program number + 1), ARRAY_OF_MAPS (inner
 * descriptor address), CGROUP_ARRAY (the host's cgroup number + 1); 0 is an empty slot. Kept in
 * the metadata region: programs never get a pointer into them.
 */
// @ts-ignore: decorator
@inline function isSlots(t: u32): bool {
  return t == MAP_PROG_ARRAY || t == MAP_ARRAY_OF_MAPS || t == MAP_CGROUP_ARRAY;
}
// @ts-ignore: decorator
@inline function isQueue(t: u32): bool {
  return t == MAP_QUEUE || t == MAP_STACK;
}
// @ts-ignore: decorator
@inline function readOnlyForPrograms(map: u32): bool {
  return (load<u32>(map, D_FLAGS) & BPF_F_RDONLY_PROG) != 0;
}

/** The errno of an operation a map type does not have. */
// @ts-ignore: decorator
@inline function unsupported(t: u32): i32 {
  return t == MAP_BLOOM_FILTER || t == MAP_RINGBUF ? -EOPNOTSUPP : -EINVAL;
}

/** Largest key of a hash map (MAX_BPF_STACK, runtime/maps/layout.ts). */
const MAX_HASH_KEY: u32 = 512;

// ---- program path: helpers ----

/** bpf_map_lookup_elem: the value's address, 0 if absent; map-of-maps yield the inner map. */
export function map_lookup_elem(map: u32, key: u32): u32 {
  if (!isMap(map)) return 0;
  // The common case without a call inside the module: a HASH map with 4-byte keys. (8-byte keys
  // too would cost the runtime's size budget more than they save.)
  if (load<u32>(map, D_TYPE) == MAP_HASH && load<u32>(map, D_KEY_SIZE) == 4) {
    const i = htabFind4(map, key);
    return i == 0 ? 0 : htabValue(map, i);
  }
  return lookup(map, key);
}

/** map_lookup_elem on a checked map. */
// @ts-ignore: decorator
@inline function lookup(map: u32, key: u32): u32 {
  const t = load<u32>(map, D_TYPE);
  if (t == MAP_HASH || t == MAP_PERCPU_HASH || t == MAP_DEVMAP_HASH) {
    const i = htabFind(map, key);
    return i == 0 ? 0 : htabValue(map, i);
  }
  if (isArray(t)) return arrayLookup(map, key);
  if (isRedirectArray(t)) return redirectLookup(map, key);
  if (isLru(t)) {
    const i = htabFind(map, key);
    if (i == 0) return 0;
    lruTouch(map, i);
    return htabValue(map, i);
  }
  if (t == MAP_LPM_TRIE) return lpmLookup(map, key);
  if (t == MAP_ARRAY_OF_MAPS) return slotGet(map, load<u32>(key));
  if (t == MAP_HASH_OF_MAPS) {
    const i = htabFind(map, key);
    return i == 0 ? 0 : load<u32>(htabValue(map, i));
  }
  return 0;
}

/** bpf_map_update_elem: 0 or a negative errno. */
export function map_update_elem(map: u32, key: u32, value: u32, flags: u64): i64 {
  if (!isMap(map)) return -EINVAL;
  if (readOnlyForPrograms(map)) return -EPERM;
  const t = load<u32>(map, D_TYPE);
  if (t == MAP_HASH_OF_MAPS || isSlots(t) || isRedirect(t)) return -EINVAL;
  const r = update(map, t, key, value, flags);
  return r < 0 ? <i64>r : 0;
}

/** bpf_map_delete_elem: 0 or a negative errno (-ENOENT if absent, -EINVAL for arrays). */
export function map_delete_elem(map: u32, key: u32): i64 {
  if (!isMap(map)) return -EINVAL;
  if (readOnlyForPrograms(map)) return -EPERM;
  const t = load<u32>(map, D_TYPE);
  if (t == MAP_HASH_OF_MAPS || isSlots(t) || isRedirect(t)) return -EINVAL;
  return <i64>remove(map, t, key);
}

/** bpf_map_push_elem: queue, stack, bloom filter. */
export function map_push_elem(map: u32, value: u32, flags: u64): i64 {
  if (!isMap(map)) return -EINVAL;
  if (readOnlyForPrograms(map)) return -EPERM;
  const r = push(map, value, flags);
  return r < 0 ? <i64>r : 0;
}

/** bpf_map_pop_elem: queue, stack (-EOPNOTSUPP for a bloom filter). */
export function map_pop_elem(map: u32, value: u32): i64 {
  if (!isMap(map)) return -EINVAL;
  if (readOnlyForPrograms(map)) return -EPERM;
  const r = take(map, value, true);
  return r < 0 ? <i64>r : 0;
}

/** bpf_map_peek_elem: queue, stack, bloom filter (0 if possibly present, else -ENOENT). */
export function map_peek_elem(map: u32, value: u32): i64 {
  if (!isMap(map)) return -EINVAL;
  const r = take(map, value, false);
  return r < 0 ? <i64>r : 0;
}

/** bpf_map_lookup_percpu_elem: per-CPU maps have one CPU, 0. */
export function map_lookup_percpu_elem(map: u32, key: u32, cpu: u32): u32 {
  if (cpu != 0 || !isMap(map)) return 0;
  const t = load<u32>(map, D_TYPE);
  if (t != MAP_PERCPU_ARRAY && t != MAP_PERCPU_HASH && t != MAP_LRU_PERCPU_HASH) return 0;
  return lookup(map, key);
}

// ---- shared operations ----

/** Update of data maps: the value's address or a negative errno. */
function update(map: u32, t: u32, key: u32, value: u32, flags: u64): i32 {
  if (isArray(t) || isRedirectArray(t)) return arrayUpdate(map, key, value, flags);
  if (isHash(t)) {
    // The LRU's update does not mask BPF_F_LOCK (htab_lru_map_update_elem).
    if ((isLru(t) ? flags : flags & ~BPF_F_LOCK) > BPF_EXIST) return -EINVAL;
    return htabUpdate(map, key, value, <u32>flags & 3, isLru(t), E2BIG);
  }
  if (t == MAP_LPM_TRIE) return lpmUpdate(map, key, value, flags);
  return unsupported(t);
}

/** Delete: 0 or a negative errno. */
function remove(map: u32, t: u32, key: u32): i32 {
  if (isHash(t)) return htabDelete(map, key);
  if (isRedirectArray(t)) {
    // dev_map_delete_elem, cpu_map_delete_elem, xsk_map_delete_elem: -EINVAL out of range, else 0.
    const a = arrayLookup(map, key);
    if (a == 0) return -EINVAL;
    memory.fill(a, 0, load<u32>(map, D_VALUE_SIZE));
    return 0;
  }
  if (t == MAP_LPM_TRIE) return lpmDelete(map, key);
  if (isSlots(t)) return slotDelete(map, key);
  return unsupported(t);
}

/** Push: the element's address (queue, stack), 0 (bloom filter) or a negative errno. */
function push(map: u32, value: u32, flags: u64): i32 {
  const t = load<u32>(map, D_TYPE);
  if (isQueue(t)) return queuePush(map, value, flags);
  if (t == MAP_BLOOM_FILTER) return bloomPush(map, value, flags);
  return -EINVAL;
}

/** Pop (`remove`) or peek: the element's address (queue, stack), 0 (bloom peek) or -errno. */
function take(map: u32, value: u32, remove: bool): i32 {
  const t = load<u32>(map, D_TYPE);
  if (isQueue(t)) return queueTake(map, value, remove);
  if (t == MAP_BLOOM_FILTER) return remove ? -EOPNOTSUPP : bloomPeek(map, value);
  return -EINVAL;
}

// ---- userspace path: the runtime's JS API ----

/**
 * Lookup from userspace: the address of the value (arrays, hashes, LPM), of the slot (prog
 * array: program + 1, 0 empty; map-of-maps: the inner descriptor), or 0. LRU maps are not
 * touched, as the kernel's syscall lookup.
 */
export function user_lookup_elem(map: u32, key: u32): u32 {
  if (!isMap(map)) return 0;
  const t = load<u32>(map, D_TYPE);
  if (isHash(t)) {
    const i = htabFind(map, key);
    return i == 0 ? 0 : htabValue(map, i);
  }
  if (isArray(t)) return arrayLookup(map, key);
  if (isRedirectArray(t)) return redirectLookup(map, key);
  if (t == MAP_LPM_TRIE) return lpmLookup(map, key);
  if (isSlots(t)) {
    const i = load<u32>(key);
    if (i >= load<u32>(map, D_MAX_ENTRIES)) return 0;
    return load<u32>(map, D_VALUES) + (i << 2);
  }
  return 0;
}

/**
 * Update from userspace (ignores BPF_F_RDONLY_PROG). With `value` 0 the value is left for the
 * caller to write at the returned address. Prog arrays take a u32 program number + 1, map-of-maps
 * a u32 inner descriptor address (one of the table's). Returns the value's (or slot's) address,
 * or -errno.
 */
export function user_update_elem(map: u32, key: u32, value: u32, flags: u32): i32 {
  if (!isMap(map)) return -EINVAL;
  const t = load<u32>(map, D_TYPE);
  if ((t == MAP_HASH_OF_MAPS || t == MAP_ARRAY_OF_MAPS) && (value == 0 || !isMap(load<u32>(value)))) return -EINVAL;
  if (isSlots(t)) return slotUpdate(map, key, value, flags);
  return update(map, t, key, value, flags);
}

/** Delete from userspace: 0 or -errno (prog arrays and array-of-maps clear the slot). */
export function user_delete_elem(map: u32, key: u32): i32 {
  if (!isMap(map)) return -EINVAL;
  return remove(map, load<u32>(map, D_TYPE), key);
}

/** Push from userspace: the new element's address (0 for a bloom filter) or -errno. */
export function user_push_elem(map: u32, value: u32, flags: u32): i32 {
  if (!isMap(map)) return -EINVAL;
  return push(map, value, flags);
}

/** Pop from userspace: the element's address (copied to `value` unless 0) or -errno. */
export function user_pop_elem(map: u32, value: u32): i32 {
  if (!isMap(map)) return -EINVAL;
  return take(map, value, true);
}

/** Peek from userspace: the element's address, or for a bloom filter 0 / -ENOENT for `value`. */
export function user_peek_elem(map: u32, value: u32): i32 {
  if (!isMap(map)) return -EINVAL;
  return take(map, value, false);
}

/**
 * bpf_map_get_next_key: the key after `key` (the first when `key` is 0) copied to `next`;
 * 0, -ENOENT after the last, -EINVAL (queue, stack, not a map, a hash key size past 512) or
 * -EOPNOTSUPP (bloom filter, ring buffer).
 */
export function map_get_next_key(map: u32, key: u32, next: u32): i32 {
  if (!isMap(map)) return -EINVAL;
  const t = load<u32>(map, D_TYPE);
  if (isArray(t) || isSlots(t) || isRedirectArray(t) || t == MAP_PERF_EVENT_ARRAY) return arrayNextKey(map, key, next);
  if (isHash(t)) return load<u32>(map, D_KEY_SIZE) - 1 < MAX_HASH_KEY ? htabNextKey(map, key, next) : -EINVAL;
  if (t == MAP_LPM_TRIE) return lpmNextKey(map, key, next);
  return unsupported(t);
}

/** The program number in slot `index` of a prog array (bpf_tail_call's target), or -1. */
export function map_prog_at(map: u32, index: u32): i32 {
  if (!isMap(map) || load<u32>(map, D_TYPE) != MAP_PROG_ARRAY) return -1;
  return <i32>slotGet(map, index) - 1;
}

// ---- iteration (bpf_for_each_map_elem) ----

/**
 * The first position >= `cursor` holding an element, or -1: every index of an array, the
 * occupied slots of a hash table or LPM trie; -1 for other types and non-maps.
 */
export function map_next_slot(map: u32, cursor: u32): i32 {
  if (!isMap(map)) return -1;
  const t = load<u32>(map, D_TYPE);
  if (isArray(t)) return cursor < load<u32>(map, D_MAX_ENTRIES) ? <i32>cursor : -1;
  if (isRedirectArray(t)) {
    const max = load<u32>(map, D_MAX_ENTRIES);
    const values = load<u32>(map, D_VALUES);
    const stride = load<u32>(map, D_VALUE_STRIDE);
    for (let i = cursor; i < max; i++) if (load<u32>(values + i * stride) != 0) return <i32>i;
    return -1;
  }
  if (isHash(t) || t == MAP_LPM_TRIE) return htabNextSlot(map, cursor);
  return -1;
}

/** The key's address at position `slot` (hash, LPM), or 0 for arrays (the key is the index) and non-maps. */
export function map_slot_key(map: u32, slot: u32): u32 {
  if (!isMap(map)) return 0;
  const t = load<u32>(map, D_TYPE);
  return isHash(t) || t == MAP_LPM_TRIE ? htabKeyAddr(map, slot) : 0;
}

/** The value's address at position `slot`, or 0 for a non-map. */
export function map_slot_value(map: u32, slot: u32): u32 {
  if (!isMap(map)) return 0;
  return load<u32>(map, D_VALUES) + slot * load<u32>(map, D_VALUE_STRIDE);
}

// ---- lifecycle ----

/**
 * The metadata bytes the map's shape needs (runtime/maps/layout.ts computes the same), or
 * 0xffffffff for more than 4 GiB; 0 for a non-map.
 */
export function map_meta_size(map: u32): u32 {
  if (!isMap(map)) return 0;
  const n = metaSize(map);
  return n > 0xffffffff ? 0xffffffff : <u32>n;
}

function metaSize(map: u32): u64 {
  const t = load<u32>(map, D_TYPE);
  const ks = load<u32>(map, D_KEY_SIZE);
  const max = load<u32>(map, D_MAX_ENTRIES);
  if (isHash(t)) return htabMetaSize(ks, max);
  if (t == MAP_LPM_TRIE) return lpmMetaSize(ks, max);
  if (isQueue(t)) return queueMetaSize(load<u32>(map, D_VALUE_STRIDE), max);
  if (t == MAP_BLOOM_FILTER) return bloomMetaSize(max, load<u32>(map, D_EXTRA));
  return 0;
}

/**
 * Initialises the map's private state from its descriptor (written by the runtime) and empties
 * it; array values are zeroed. `seed` seeds the hashes of hash maps, LPM tries and bloom filters
 * (the runtime passes a random one, as the kernel). 0, -EINVAL for an unknown type or a non-map,
 * or -ENOSPC if the descriptor's metadata region is smaller than map_meta_size.
 */
export function map_init(map: u32, seed: u32): i32 {
  if (!isMap(map)) return -EINVAL;
  const t = load<u32>(map, D_TYPE);
  if (isHash(t)) return htabInit(map, 0, seed);
  if (t == MAP_LPM_TRIE) return lpmInit(map, seed);
  if (isQueue(t)) return queueInit(map);
  if (t == MAP_BLOOM_FILTER) return bloomInit(map, seed);
  if (isArray(t) || isRedirectArray(t) || isSlots(t) || t == MAP_PERF_EVENT_ARRAY || t == MAP_RINGBUF) {
    if (metaSize(map) > <u64>load<u32>(map, D_META_SIZE)) return -ENOSPC;
    clear(map);
    return 0;
  }
  return -EINVAL;
}

/** Empties the map (arrays: zeroes every value; ring buffers and perf arrays: nothing; the seed stays). */
export function map_clear(map: u32): void {
  if (isMap(map)) clear(map);
}

function clear(map: u32): void {
  const t = load<u32>(map, D_TYPE);
  if (isHash(t)) htabClear(map);
  else if (isArray(t) || isRedirectArray(t)) arrayClear(map);
  else if (isSlots(t)) slotClear(map);
  else if (t == MAP_LPM_TRIE) lpmClear(map);
  else if (isQueue(t)) queueClear(map);
  else if (t == MAP_BLOOM_FILTER) bloomClear(map);
}
