/**
 * Hashing, key comparison and short copies. The 4- and 8-byte cases are the hot paths of hash-map
 * lookups. Hash tables hash 4-byte keys by multiply-shift (mulShift32: one multiply by the map's
 * seed made odd, the bucket from the product's high bits); 8-byte keys use murmur3's 64-bit
 * finaliser (fmix64), longer keys murmur3_x86_32, the bloom filter hashKey. Every map has its
 * own seed (htab.ts, bloom.ts).
 */

/**
 * The bucket of 4-byte key `k` in a table of `mask + 1` buckets (a power of two): the top bits of
 * `k * (seed | 1)`, Dietzfelbinger's multiply-shift. With a random odd multiplier two distinct
 * keys share a bucket with probability at most 2 / buckets, whatever the keys, so keys crafted
 * without the seed cannot pile into one chain (the reason the kernel seeds its jhash). Its
 * latency (a multiply and a shift) is a third of fmix32's, and a lookup waits for it. The result
 * is below `mask + 1` for a well-formed mask; callers still mask it (a program may overwrite the
 * metadata in unchecked mode).
 */
// @ts-ignore: decorator
@inline export function mulShift32(k: u32, seed: u32, mask: u32): u32 {
  return (k * (seed | 1)) >>> clz<u32>(mask);
}

/** murmur3's 32-bit finaliser: a bijection with full avalanche. */
// @ts-ignore: decorator
@inline export function fmix32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

/** murmur3's 64-bit finaliser, folded to 32 bits. */
// @ts-ignore: decorator
@inline export function fmix64(k: u64): u32 {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccd;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53;
  k ^= k >> 33;
  return <u32>k ^ <u32>(k >> 32);
}

/** murmur3_x86_32 of `len` bytes at `p`. */
export function murmur3(p: u32, len: u32, seed: u32): u32 {
  let h = seed;
  let i: u32 = 0;
  while (len - i >= 4) {
    let k = load<u32>(p + i);
    k *= 0xcc9e2d51;
    k = rotl<u32>(k, 15);
    k *= 0x1b873593;
    h ^= k;
    h = rotl<u32>(h, 13);
    h = h * 5 + 0xe6546b64;
    i += 4;
  }
  const rest = len - i;
  if (rest != 0) {
    let k: u32 = load<u8>(p + i);
    if (rest > 1) k |= <u32>load<u8>(p + i + 1) << 8;
    if (rest > 2) k |= <u32>load<u8>(p + i + 2) << 16;
    k *= 0xcc9e2d51;
    k = rotl<u32>(k, 15);
    k *= 0x1b873593;
    h ^= k;
  }
  return fmix32(h ^ len);
}

/** The hash of a `len`-byte key at `p`. */
// @ts-ignore: decorator
@inline export function hashKey(p: u32, len: u32, seed: u32): u32 {
  if (len == 4) return fmix32(load<u32>(p) ^ seed);
  if (len == 8) return fmix64(load<u64>(p) ^ <u64>seed);
  return murmur3(p, len, seed);
}

/** True if the `len` bytes at `a` and `b` are equal. */
// @ts-ignore: decorator
@inline export function bytesEqual(a: u32, b: u32, len: u32): bool {
  let i: u32 = 0;
  while (len - i >= 8) {
    if (load<u64>(a + i) != load<u64>(b + i)) return false;
    i += 8;
  }
  if (len - i >= 4) {
    if (load<u32>(a + i) != load<u32>(b + i)) return false;
    i += 4;
  }
  while (i < len) {
    if (load<u8>(a + i) != load<u8>(b + i)) return false;
    i++;
  }
  return true;
}

/**
 * Copies `len` bytes from `src` to `dst` (the regions do not overlap). Short copies use plain
 * loads and stores: engines run `memory.copy` out of line, which costs more than the copy itself
 * for a key or a counter.
 */
export function copyBytes(dst: u32, src: u32, len: u32): void {
  if (len > 64) {
    memory.copy(dst, src, len);
    return;
  }
  let i: u32 = 0;
  while (len - i >= 8) {
    store<u64>(dst + i, load<u64>(src + i));
    i += 8;
  }
  if (len - i >= 4) {
    store<u32>(dst + i, load<u32>(src + i));
    i += 4;
  }
  while (i < len) {
    store<u8>(dst + i, load<u8>(src + i));
    i++;
  }
}

/** Zeroes `len` bytes at `dst`, with plain stores when short (see copyBytes). */
export function zeroBytes(dst: u32, len: u32): void {
  if (len > 64) {
    memory.fill(dst, 0, len);
    return;
  }
  let i: u32 = 0;
  while (len - i >= 8) {
    store<u64>(dst + i, 0);
    i += 8;
  }
  while (i < len) {
    store<u8>(dst + i, 0);
    i++;
  }
}
