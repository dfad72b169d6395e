/**
 * The preallocated hash table behind HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH, HASH_OF_MAPS
 * and the LPM trie. Nothing grows and nothing is allocated: `max_entries` slots are laid out when
 * the map is created, as the kernel preallocates (BPF_F_NO_PREALLOC changes nothing here).
 *
 * Metadata (not visible to programs):
 *
 *     meta + 0                 u32 seed                 the map's hash seed (then 12 bytes free)
 *     meta + 16                u32 buckets[nBuckets]    slot + 1 of the chain's head, 0 = empty
 *     meta + 16 + 4 * nBuckets entries[maxEntries]      entryStride(keySize) bytes each:
 *                                +0 u32 next            slot + 1 of the next entry in the chain;
 *                                                       FREE on the free list
 *                                +4 u32 hash            bit 31: LRU "referenced"; on the free
 *                                                       list: slot + 1 of the next free slot
 *                                +8 key bytes
 *
 * The value of slot s lives in the value arena at `values + s * valueStride`, where programs
 * get pointers to it. nBuckets is a power of two >= max_entries, so chains average about one
 * entry. Slots are handed out by a bump counter first, then from the free list of deleted ones.
 * The seed is random per map (the runtime picks it), as the kernel's hashrnd, so a program fed
 * crafted keys cannot pile them into one chain.
 *
 * LRU maps evict with a clock (second chance): lookups set the referenced bit, and when no slot
 * is free the hand sweeps the slots clearing bits until it finds one not referenced since the
 * last sweep. Like the kernel's LRU this approximates least-recently-used without writing on
 * every lookup.
 */
import { D_COUNT, D_KEY_SIZE, D_MAX_ENTRIES, D_META, D_META_SIZE, D_STATE, D_VALUE_SIZE, D_VALUE_STRIDE, D_VALUES, EEXIST, ENOENT, ENOSPC } from './desc';
import { bytesEqual, copyBytes, fmix32, fmix64, hashKey } from './hash';

/** Number of buckets - 1. */
export const S_MASK: u32 = D_STATE;
/** Head of the free list (slot + 1), 0 when empty. */
export const S_FREE: u32 = D_STATE + 4;
/** Slots [0, bump) have been handed out at least once. */
export const S_BUMP: u32 = D_STATE + 8;
/** LRU: the clock hand (a slot). LPM trie: the address of its prefix-length counts. */
export const S_AUX: u32 = D_STATE + 12;

/** `next` of a slot on the free list. */
const FREE: u32 = 0xffffffff;
/** LRU: the slot was looked up since the clock hand last passed. */
const REF: u32 = 0x80000000;

/** update mode: the low bits of the flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
const MODE_NOEXIST: u32 = 1;
const MODE_EXIST: u32 = 2;

/** The bucket count for `maxEntries` entries: a power of two, at least max(2, maxEntries). */
export function bucketCount(maxEntries: u32): u64 {
  let n: u64 = 2;
  while (n < <u64>maxEntries) n <<= 1;
  return n;
}

/** Bytes per entry in the metadata: an 8-byte header and the key, 8-aligned. */
// @ts-ignore: decorator
@inline export function entryStride(keySize: u32): u32 {
  return (keySize + 15) & ~7;
}

/** Bytes of the metadata header (the seed). */
const HEADER: u32 = 16;

/** Metadata bytes of a hash table (header, buckets and entries). */
export function htabMetaSize(keySize: u32, maxEntries: u32): u64 {
  return HEADER + bucketCount(maxEntries) * 4 + <u64>maxEntries * entryStride(keySize);
}

// @ts-ignore: decorator
@inline function bucketsOf(map: u32): u32 {
  return load<u32>(map, D_META) + HEADER;
}

// @ts-ignore: decorator
@inline function entriesOf(map: u32): u32 {
  return bucketsOf(map) + (load<u32>(map, S_MASK) << 2) + 4;
}

// @ts-ignore: decorator
@inline function seedOf(map: u32): u32 {
  return load<u32>(load<u32>(map, D_META));
}

/**
 * Sets up the table's state from the descriptor, with hash seed `seed`; -ENOSPC if the metadata
 * (less `extraMeta` bytes at its end) is too small.
 */
export function htabInit(map: u32, extraMeta: u64, seed: u32): i32 {
  const max = load<u32>(map, D_MAX_ENTRIES);
  const need = htabMetaSize(load<u32>(map, D_KEY_SIZE), max) + extraMeta;
  if (need > <u64>load<u32>(map, D_META_SIZE)) return -ENOSPC;
  store<u32>(map, <u32>bucketCount(max) - 1, S_MASK);
  store<u32>(load<u32>(map, D_META), seed);
  htabClear(map);
  return 0;
}

/** Empties the table (the seed stays). */
export function htabClear(map: u32): void {
  memory.fill(bucketsOf(map), 0, (load<u32>(map, S_MASK) + 1) << 2);
  store<u32>(map, 0, S_FREE);
  store<u32>(map, 0, S_BUMP);
  store<u32>(map, 0, D_COUNT);
}

/** The slot + 1 holding `key`, or 0. The hot path of bpf_map_lookup_elem. */
export function htabFind(map: u32, key: u32): u32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  const meta = load<u32>(map, D_META);
  const seed = load<u32>(meta);
  const buckets = meta + HEADER;
  const mask = load<u32>(map, S_MASK);
  const entries = buckets + (mask << 2) + 4 - 16;
  if (ks == 4) {
    const k = load<u32>(key);
    let i = load<u32>(buckets + ((fmix32(k ^ seed) & mask) << 2));
    while (i != 0) {
      const e = entries + (i << 4);
      if (load<u32>(e, 8) == k) return i;
      i = load<u32>(e);
    }
    return 0;
  }
  if (ks == 8) {
    const k = load<u64>(key);
    let i = load<u32>(buckets + ((fmix64(k ^ <u64>seed) & mask) << 2));
    while (i != 0) {
      const e = entries + (i << 4);
      if (load<u64>(e, 8) == k) return i;
      i = load<u32>(e);
    }
    return 0;
  }
  const link = locate(map, key, hashKey(key, ks, seed) & ~REF);
  return link == 0 ? 0 : load<u32>(link);
}

/**
 * The address of the link (bucket head or an entry's `next`) that points to the entry holding
 * `key`, whose hash is `h` (bit 31 clear), or 0 if the key is absent.
 */
function locate(map: u32, key: u32, h: u32): u32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  const stride = entryStride(ks);
  const buckets = bucketsOf(map);
  const mask = load<u32>(map, S_MASK);
  const entries = buckets + (mask << 2) + 4 - stride;
  let link = buckets + ((h & mask) << 2);
  let i = load<u32>(link);
  while (i != 0) {
    const e = entries + i * stride;
    if ((load<u32>(e, 4) & ~REF) == h && bytesEqual(e + 8, key, ks)) return link;
    link = e;
    i = load<u32>(e);
  }
  return 0;
}

/** The address of slot + 1 `i`'s value. */
// @ts-ignore: decorator
@inline export function htabValue(map: u32, i: u32): u32 {
  return load<u32>(map, D_VALUES) + (i - 1) * load<u32>(map, D_VALUE_STRIDE);
}

/** LRU: marks slot + 1 `i` as recently used (writes only when the bit is clear). */
// @ts-ignore: decorator
@inline export function lruTouch(map: u32, i: u32): void {
  const e = entriesOf(map) + (i - 1) * entryStride(load<u32>(map, D_KEY_SIZE));
  const w = load<u32>(e, 4);
  if ((w & REF) == 0) store<u32>(e, w | REF, 4);
}

/**
 * Inserts or replaces `key` (the caller has checked the flags for EINVAL). `mode` is
 * BPF_ANY / BPF_NOEXIST / BPF_EXIST, `lru` evicts instead of failing when full, `fullErrno` is
 * what a full table returns otherwise (E2BIG for hashes, ENOSPC for the LPM trie). Copies the
 * value from `value` unless it is 0. Returns the value's address or a negative errno.
 */
export function htabUpdate(map: u32, key: u32, value: u32, mode: u32, lru: bool, fullErrno: i32): i32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  const stride = entryStride(ks);
  const h = hashKey(key, ks, seedOf(map)) & ~REF;
  const link = locate(map, key, h);
  let i: u32;
  if (link != 0) {
    if (mode == MODE_NOEXIST) return -EEXIST;
    i = load<u32>(link);
    // The kernel's LRU replaces the element with a referenced one.
    if (lru) lruTouch(map, i);
  } else {
    if (mode == MODE_EXIST) return -ENOENT;
    i = allocSlot(map, stride);
    if (i == 0) {
      if (!lru) return -fullErrno;
      i = lruEvict(map, stride);
    }
    const bucket = bucketsOf(map) + ((h & load<u32>(map, S_MASK)) << 2);
    const e = entriesOf(map) + (i - 1) * stride;
    store<u32>(e, load<u32>(bucket));
    store<u32>(e, h, 4);
    copyBytes(e + 8, key, ks);
    store<u32>(bucket, i);
    store<u32>(map, load<u32>(map, D_COUNT) + 1, D_COUNT);
  }
  const dst = htabValue(map, i);
  if (value != 0) copyBytes(dst, value, load<u32>(map, D_VALUE_SIZE));
  return <i32>dst;
}

/** A slot + 1 from the free list or the bump counter, 0 if the table is full. */
function allocSlot(map: u32, stride: u32): u32 {
  const free = load<u32>(map, S_FREE);
  if (free != 0) {
    const e = entriesOf(map) + (free - 1) * stride;
    store<u32>(map, load<u32>(e, 4), S_FREE);
    return free;
  }
  const bump = load<u32>(map, S_BUMP);
  if (bump < load<u32>(map, D_MAX_ENTRIES)) {
    store<u32>(map, bump + 1, S_BUMP);
    return bump + 1;
  }
  return 0;
}

/** Frees a slot by the clock (the table is full, so every slot is in use); returns slot + 1. */
function lruEvict(map: u32, stride: u32): u32 {
  const max = load<u32>(map, D_MAX_ENTRIES);
  const entries = entriesOf(map);
  let hand = load<u32>(map, S_AUX);
  let victim: u32 = 0;
  let w: u32 = 0;
  // At most two sweeps: the first clears every referenced bit.
  while (true) {
    const e = entries + hand * stride;
    w = load<u32>(e, 4);
    victim = hand;
    hand = hand + 1 == max ? 0 : hand + 1;
    if ((w & REF) == 0) break;
    store<u32>(e, w & ~REF, 4);
  }
  store<u32>(map, hand, S_AUX);
  const i = victim + 1;
  const ve = entries + victim * stride;
  let link = bucketsOf(map) + ((w & load<u32>(map, S_MASK)) << 2);
  while (load<u32>(link) != i) link = entries + (load<u32>(link) - 1) * stride;
  store<u32>(link, load<u32>(ve));
  store<u32>(map, load<u32>(map, D_COUNT) - 1, D_COUNT);
  return i;
}

/** Deletes `key`: 0, or -ENOENT if absent. */
export function htabDelete(map: u32, key: u32): i32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  const link = locate(map, key, hashKey(key, ks, seedOf(map)) & ~REF);
  if (link == 0) return -ENOENT;
  const i = load<u32>(link);
  const e = entriesOf(map) + (i - 1) * entryStride(ks);
  store<u32>(link, load<u32>(e));
  store<u32>(e, FREE);
  store<u32>(e, load<u32>(map, S_FREE), 4);
  store<u32>(map, i, S_FREE);
  store<u32>(map, load<u32>(map, D_COUNT) - 1, D_COUNT);
  return 0;
}

/** The first slot >= `from` holding an entry, or -1. Slot order is iteration order. */
export function htabNextSlot(map: u32, from: u32): i32 {
  const bump = load<u32>(map, S_BUMP);
  const stride = entryStride(load<u32>(map, D_KEY_SIZE));
  const entries = entriesOf(map);
  for (let s = from; s < bump; s++) {
    if (load<u32>(entries + s * stride) != FREE) return <i32>s;
  }
  return -1;
}

/** The address of slot `s`'s key. */
export function htabKeyAddr(map: u32, s: u32): u32 {
  return entriesOf(map) + s * entryStride(load<u32>(map, D_KEY_SIZE)) + 8;
}

/**
 * bpf_map_get_next_key on the table: the key after `key` in slot order, or the first one when
 * `key` is 0 or absent (as the kernel restarts). Copies it to `next`; 0 or -ENOENT at the end.
 */
export function htabNextKey(map: u32, key: u32, next: u32): i32 {
  let from: u32 = 0;
  if (key != 0) from = htabFind(map, key);
  const s = htabNextSlot(map, from);
  if (s < 0) return -ENOENT;
  copyBytes(next, htabKeyAddr(map, <u32>s), load<u32>(map, D_KEY_SIZE));
  return 0;
}
