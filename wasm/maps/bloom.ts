/**
 * BLOOM_FILTER maps, as kernel/bpf/bloom_filter.c: push adds a value, peek answers "possibly
 * present" (0) or "certainly absent" (-ENOENT). The bit array lives in the metadata region and
 * is sized as the kernel sizes it (bloomMetaSize); map_extra's low 4 bits are the number of hash
 * functions (5 when 0). Hash function i is the key hash seeded with the map's seed + i.
 *
 * Metadata: u32 seed (random per map, as the kernel's), 12 bytes free, then the bits.
 *
 * Push and peek refuse a state with other than 1..15 hash functions with -EINVAL: a program in
 * unchecked mode may have overwritten it, and the loop over the functions must stay short.
 */
import { BPF_ANY, D_EXTRA, D_MAX_ENTRIES, D_META, D_META_SIZE, D_STATE, D_VALUE_SIZE, EINVAL, ENOENT, ENOSPC } from './desc';
import { hashKey } from './hash';

/** Number of bits - 1. */
const S_BIT_MASK: u32 = D_STATE;
/** Number of hash functions. */
const S_NR_HASH: u32 = D_STATE + 4;

/** A number of hash functions the filter can have (1..15). */
// @ts-ignore: decorator
@inline function goodNrHash(n: u32): bool {
  return n - 1 < 15;
}

/** The number of hash functions for `mapExtra`. */
// @ts-ignore: decorator
@inline function nrHashFuncs(mapExtra: u32): u32 {
  const n = mapExtra & 0xf;
  return n == 0 ? 5 : n;
}

/** Bytes of the metadata header (the seed). */
const HEADER: u32 = 16;

/** Metadata bytes: the header and the bit array. */
export function bloomMetaSize(maxEntries: u32, mapExtra: u32): u64 {
  return HEADER + bloomBitsSize(maxEntries, mapExtra);
}

/**
 * The bit array's size in bytes: max_entries * nr_hashes / ln 2 bits (7/5 approximating 1/ln 2),
 * rounded up to a power of two, at least 64; 2^32 bits when that overflows, as the kernel.
 */
function bloomBitsSize(maxEntries: u32, mapExtra: u32): u64 {
  const k = nrHashFuncs(mapExtra);
  const product = <u64>maxEntries * k;
  if (product > 0xffffffff) return 1 << 29;
  const bits = (product / 5) * 7;
  if (bits > 0xffffffff || bits > (<u64>1 << 31)) return 1 << 29;
  let n: u64 = 64;
  while (n < bits) n <<= 1;
  return n >> 3;
}

/** Checks the metadata size, sets the state and the seed, and clears the bits. */
export function bloomInit(map: u32, seed: u32): i32 {
  const max = load<u32>(map, D_MAX_ENTRIES);
  if (bloomMetaSize(max, load<u32>(map, D_EXTRA)) > <u64>load<u32>(map, D_META_SIZE)) return -ENOSPC;
  const size = bloomBitsSize(max, load<u32>(map, D_EXTRA));
  store<u32>(map, <u32>(size * 8 - 1), S_BIT_MASK);
  store<u32>(load<u32>(map, D_META), seed);
  store<u32>(map, nrHashFuncs(load<u32>(map, D_EXTRA)), S_NR_HASH);
  bloomClear(map);
  return 0;
}

/** Clears every bit (the seed stays). */
export function bloomClear(map: u32): void {
  memory.fill(load<u32>(map, D_META) + HEADER, 0, (load<u32>(map, S_BIT_MASK) >> 3) + 1);
}

/** bloom_map_push_elem: sets the value's bits; -EINVAL unless flags is BPF_ANY. */
export function bloomPush(map: u32, value: u32, flags: u64): i32 {
  if (flags != BPF_ANY) return -EINVAL;
  const meta = load<u32>(map, D_META);
  const seed = load<u32>(meta);
  const bits = meta + HEADER;
  const mask = load<u32>(map, S_BIT_MASK);
  const n = load<u32>(map, S_NR_HASH);
  if (!goodNrHash(n)) return -EINVAL;
  const size = load<u32>(map, D_VALUE_SIZE);
  for (let i: u32 = 0; i < n; i++) {
    const h = hashKey(value, size, seed + i) & mask;
    const p = bits + (h >> 3);
    store<u8>(p, load<u8>(p) | <u8>(<u32>1 << (h & 7)));
  }
  return 0;
}

/** bloom_map_peek_elem: 0 if every bit of the value is set, else -ENOENT. */
export function bloomPeek(map: u32, value: u32): i32 {
  const meta = load<u32>(map, D_META);
  const seed = load<u32>(meta);
  const bits = meta + HEADER;
  const mask = load<u32>(map, S_BIT_MASK);
  const n = load<u32>(map, S_NR_HASH);
  if (!goodNrHash(n)) return -EINVAL;
  const size = load<u32>(map, D_VALUE_SIZE);
  for (let i: u32 = 0; i < n; i++) {
    const h = hashKey(value, size, seed + i) & mask;
    if ((load<u8>(bits + (h >> 3)) & <u8>(<u32>1 << (h & 7))) == 0) return -ENOENT;
  }
  return 0;
}
