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
 * crafted keys cannot pile them into one chain (4-byte keys hash by multiply-shift with the seed
 * as the multiplier, a universal family; other sizes by seeded murmur3: hash.ts). The hash only
 * places entries: iteration follows slots, so nothing a program or the user sees depends on it.
 *
 * LRU maps evict with a clock (second chance): lookups set the referenced bit, and when no slot
 * is free the hand sweeps the slots clearing bits until it finds one not referenced since the
 * last sweep. Like the kernel's LRU this approximates least-recently-used without writing on
 * every lookup.
 *
 * Every walk along links read from the metadata (a chain, the free list, the victim's chain) is
 * bounded by walkLimit: a program in unchecked mode may overwrite the metadata, and a chain it
 * makes cyclic must end the walk (as not found, or -EINVAL for an update), never hang the host.
 */
import { D_COUNT, D_KEY_SIZE, D_MAX_ENTRIES, D_META, D_META_SIZE, D_STATE, D_VALUE_SIZE, D_VALUE_STRIDE, D_VALUES, EEXIST, EINVAL, ENOENT, ENOSPC } from './desc';
import { bytesEqual, copyBytes, fmix64, hashKey, mulShift32 } from './hash';

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
/** allocSlot: the free list is corrupted. */
const CORRUPT: u32 = 0xffffffff;
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

/**
 * The most entries a table can have: maps lie below 1 GiB (runtime/maps/layout.ts MAPS_LIMIT)
 * and an entry takes at least 16 bytes of metadata.
 */
const MAX_SLOTS: u32 = 1 << 26;

/**
 * How many more links a walk may follow once it has visited an entry: a chain or a list holds at
 * most max_entries entries, and never more than MAX_SLOTS, so that a corrupted max_entries ends
 * the walk soon too (tens of milliseconds).
 */
// @ts-ignore: decorator
@inline export function walkLimit(map: u32): u32 {
  const max = load<u32>(map, D_MAX_ENTRIES);
  return max < MAX_SLOTS ? max : MAX_SLOTS;
}

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

/**
 * The hash of `key` (`ks` bytes) kept in its entry, bit 31 (REF) clear; its bucket is `& mask`.
 * 4-byte keys: mulShift32 (hash.ts), whose result is the bucket itself.
 */
function entryHash(map: u32, key: u32, ks: u32): u32 {
  if (ks == 4) return mulShift32(load<u32>(key), seedOf(map), load<u32>(map, S_MASK)) & ~REF;
  return hashKey(key, ks, seedOf(map)) & ~REF;
}

/**
 * htabFind of a table with 4-byte keys. Inlined into htabFind and into map_lookup_elem, whose
 * lookups in HASH maps with such keys (the common case) are then one call from the program. The
 * chain's first entry is tested before the loop: most lookups end there, and only a walk past
 * it needs its bound.
 */
// @ts-ignore: decorator
@inline export function htabFind4(map: u32, key: u32): u32 {
  const meta = load<u32>(map, D_META);
  const buckets = meta + HEADER;
  const mask = load<u32>(map, S_MASK);
  const entries = buckets + (mask << 2) + 4 - 16;
  const k = load<u32>(key);
  let i = load<u32>(buckets + ((mulShift32(k, load<u32>(meta), mask) & mask) << 2));
  if (i == 0) return 0;
  let e = entries + (i << 4);
  if (load<u32>(e, 8) == k) return i;
  let n = walkLimit(map);
  while ((i = load<u32>(e)) != 0) {
    if (n-- == 0) return 0;
    e = entries + (i << 4);
    if (load<u32>(e, 8) == k) return i;
  }
  return 0;
}

/** htabFind of a table with 8-byte keys (see htabFind4). */
// @ts-ignore: decorator
@inline export function htabFind8(map: u32, key: u32): u32 {
  const meta = load<u32>(map, D_META);
  const buckets = meta + HEADER;
  const mask = load<u32>(map, S_MASK);
  const entries = buckets + (mask << 2) + 4 - 16;
  const k = load<u64>(key);
  let i = load<u32>(buckets + ((fmix64(k ^ <u64>load<u32>(meta)) & mask) << 2));
  if (i == 0) return 0;
  let e = entries + (i << 4);
  if (load<u64>(e, 8) == k) return i;
  let n = walkLimit(map);
  while ((i = load<u32>(e)) != 0) {
    if (n-- == 0) return 0;
    e = entries + (i << 4);
    if (load<u64>(e, 8) == k) return i;
  }
  return 0;
}

/** The slot + 1 holding `key`, or 0. */
export function htabFind(map: u32, key: u32): u32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  if (ks == 4) return htabFind4(map, key);
  if (ks == 8) return htabFind8(map, key);
  return findKey(map, key, ks, entryHash(map, key, ks));
}

/**
 * The slot + 1 holding `key`, whose hash is `h` (bit 31 clear), or 0: the walk of every key size
 * but htabFind's 4 and 8 bytes. Its own function (three callers), so that htabFind's fast paths
 * stay small.
 */
function findKey(map: u32, key: u32, ks: u32, h: u32): u32 {
  const stride = entryStride(ks);
  const buckets = bucketsOf(map);
  const mask = load<u32>(map, S_MASK);
  const entries = buckets + (mask << 2) + 4 - stride;
  let i = load<u32>(buckets + ((h & mask) << 2));
  let n = walkLimit(map);
  while (i != 0) {
    const e = entries + i * stride;
    if ((load<u32>(e, 4) & ~REF) == h && bytesEqual(e + 8, key, ks)) return i;
    if (n-- == 0) return 0;
    i = load<u32>(e);
  }
  return 0;
}

/**
 * The address of the link (bucket head or an entry's `next`) that points to slot + 1 `i`, in the
 * chain of hash `h`; 0 if `i` is not in it (corrupted metadata).
 */
function linkTo(map: u32, h: u32, i: u32, stride: u32): u32 {
  const entries = entriesOf(map) - stride;
  let link = bucketsOf(map) + ((h & load<u32>(map, S_MASK)) << 2);
  let n = walkLimit(map);
  while (true) {
    const j = load<u32>(link);
    if (j == i) return link;
    if (j == 0 || n-- == 0) return 0;
    link = entries + j * stride;
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
 * value from `value` unless it is 0. Returns the value's address or a negative errno (-EINVAL
 * when the free list or a chain is corrupted).
 */
export function htabUpdate(map: u32, key: u32, value: u32, mode: u32, lru: bool, fullErrno: i32): i32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  const stride = entryStride(ks);
  const h = entryHash(map, key, ks);
  let i = findKey(map, key, ks, h);
  if (i != 0) {
    if (mode == MODE_NOEXIST) return -EEXIST;
    // The kernel's LRU replaces the element with a referenced one.
    if (lru) lruTouch(map, i);
  } else {
    if (mode == MODE_EXIST) return -ENOENT;
    i = allocSlot(map, stride);
    if (i == CORRUPT) return -EINVAL;
    if (i == 0) {
      if (!lru) return -fullErrno;
      i = lruEvict(map, stride);
      if (i == 0) return -EINVAL;
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

/**
 * A slot + 1 from the free list or the bump counter, 0 if the table is full, CORRUPT if the head
 * of the free list is not a free slot (a cycle in the list hands a slot out twice: the second
 * time its `next` is a chain link, not FREE).
 */
function allocSlot(map: u32, stride: u32): u32 {
  const free = load<u32>(map, S_FREE);
  const max = load<u32>(map, D_MAX_ENTRIES);
  if (free != 0) {
    if (free > max) return CORRUPT;
    const e = entriesOf(map) + (free - 1) * stride;
    if (load<u32>(e) != FREE) return CORRUPT;
    store<u32>(map, load<u32>(e, 4), S_FREE);
    return free;
  }
  const bump = load<u32>(map, S_BUMP);
  if (bump < max) {
    store<u32>(map, bump + 1, S_BUMP);
    return bump + 1;
  }
  return 0;
}

/**
 * Frees a slot by the clock (the table is full, so every slot is in use); returns slot + 1, or 0
 * if the metadata is corrupted (the victim is not in its chain).
 */
function lruEvict(map: u32, stride: u32): u32 {
  const max = walkLimit(map);
  if (max == 0) return 0;
  const entries = entriesOf(map);
  let hand = load<u32>(map, S_AUX);
  if (hand >= max) hand = 0;
  let victim: u32 = 0;
  let w: u32 = 0;
  // At most two sweeps: the first clears every referenced bit (the hand stays below max).
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
  const link = linkTo(map, w & ~REF, i, stride);
  if (link == 0) return 0;
  store<u32>(link, load<u32>(entries + victim * stride));
  store<u32>(map, load<u32>(map, D_COUNT) - 1, D_COUNT);
  return i;
}

/** Deletes `key`: 0, -ENOENT if absent, or -EINVAL if its chain is corrupted. */
export function htabDelete(map: u32, key: u32): i32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  const h = entryHash(map, key, ks);
  const i = findKey(map, key, ks, h);
  if (i == 0) return -ENOENT;
  const stride = entryStride(ks);
  const link = linkTo(map, h, i, stride);
  if (link == 0) return -EINVAL;
  const e = entriesOf(map) + (i - 1) * stride;
  store<u32>(link, load<u32>(e));
  store<u32>(e, FREE);
  store<u32>(e, load<u32>(map, S_FREE), 4);
  store<u32>(map, i, S_FREE);
  store<u32>(map, load<u32>(map, D_COUNT) - 1, D_COUNT);
  return 0;
}

/** The first slot >= `from` holding an entry, or -1. Slot order is iteration order. */
export function htabNextSlot(map: u32, from: u32): i32 {
  let bump = load<u32>(map, S_BUMP);
  const max = walkLimit(map);
  if (bump > max) bump = max;
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
