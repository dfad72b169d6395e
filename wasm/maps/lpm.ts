/**
 * LPM_TRIE maps (longest-prefix match), with the semantics of kernel/bpf/lpm_trie.c but not its
 * structure: entries live in the preallocated hash table (htab.ts) keyed by the key with the bits
 * past its prefix length cleared, and a count per prefix length says which lengths exist. A lookup
 * probes the existing lengths from the longest allowed down, one hash lookup each (at most 33 for
 * IPv4, 129 for IPv6), which keeps every operation allocation-free and bounded.
 *
 * Keys are `struct bpf_lpm_trie_key { u32 prefixlen; u8 data[]; }`, data in network order (the
 * most significant bit of data[0] first). Metadata: the hash table's, then u32 counts[maxLen + 1].
 * get_next_key walks slot order (the kernel walks post-order; the order is unspecified) and
 * yields stored keys, whose bits past the prefix are zero.
 *
 * Every operation first checks the descriptor's key size (5..260, as the layout refuses others):
 * the probes and the masked key in LPM_KEY_BUF are bounded by it, and a program in unchecked
 * mode may have overwritten it.
 */
import { BPF_EXIST, D_COUNT, D_KEY_SIZE, D_MAX_ENTRIES, D_META, EINVAL, ENOENT, ENOSPC, LPM_KEY_BUF } from './desc';
import { copyBytes, zeroBytes } from './hash';
import { htabClear, htabDelete, htabFind, htabInit, htabMetaSize, htabNextKey, htabUpdate, htabValue, S_AUX } from './htab';

/** Metadata bytes of an LPM trie. */
export function lpmMetaSize(keySize: u32, maxEntries: u32): u64 {
  return htabMetaSize(keySize, maxEntries) + countsSize(keySize);
}

/** A key size the trie can have: u32 prefixlen and 1..256 bytes of data. */
// @ts-ignore: decorator
@inline function goodKeySize(keySize: u32): bool {
  return keySize - 5 <= 255;
}

// @ts-ignore: decorator
@inline function countsSize(keySize: u32): u64 {
  return <u64>((keySize - 4) * 8 + 1) * 4;
}

/** Sets up the table and the prefix-length counts. */
export function lpmInit(map: u32, seed: u32): i32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  if (!goodKeySize(ks)) return -EINVAL;
  const err = htabInit(map, countsSize(ks), seed);
  if (err != 0) return err;
  store<u32>(map, load<u32>(map, D_META) + <u32>htabMetaSize(ks, load<u32>(map, D_MAX_ENTRIES)), S_AUX);
  lpmClear(map);
  return 0;
}

/** Empties the trie. */
export function lpmClear(map: u32): void {
  htabClear(map);
  const ks = load<u32>(map, D_KEY_SIZE);
  if (goodKeySize(ks)) memory.fill(load<u32>(map, S_AUX), 0, <u32>countsSize(ks));
}

/**
 * Clears the bits of the key at LPM_KEY_BUF from bit `len` up to bit `was` (the buffer's data
 * is zero from `was` on already) and sets its prefix length to `len`.
 */
function truncate(len: u32, was: u32): void {
  const data = LPM_KEY_BUF + 4;
  const whole = (len + 7) >> 3;
  const end = (was + 7) >> 3;
  if (end > whole) zeroBytes(data + whole, end - whole);
  if ((len & 7) != 0) {
    const p = data + (len >> 3);
    store<u8>(p, load<u8>(p) & <u8>(<u32>0xff << (8 - (len & 7))));
  }
  store<u32>(LPM_KEY_BUF, len);
}

/**
 * Copies `key` to LPM_KEY_BUF with its bits past the prefix cleared (the stored form) and
 * returns the prefix length, or -1 if it exceeds the trie's.
 */
function canonical(map: u32, key: u32): i32 {
  const ks = load<u32>(map, D_KEY_SIZE);
  if (!goodKeySize(ks)) return -1;
  const dataSize = ks - 4;
  const len = load<u32>(key);
  if (len > dataSize * 8) return -1;
  copyBytes(LPM_KEY_BUF + 4, key + 4, dataSize);
  truncate(len, dataSize * 8);
  return <i32>len;
}

/** trie_lookup_elem: the value of the longest stored prefix of `key`'s data, or 0. */
export function lpmLookup(map: u32, key: u32): u32 {
  if (load<u32>(map, D_COUNT) == 0) return 0;
  const ks = load<u32>(map, D_KEY_SIZE);
  if (!goodKeySize(ks)) return 0;
  const maxLen = (ks - 4) * 8;
  let len = load<u32>(key);
  if (len > maxLen) len = maxLen;
  const counts = load<u32>(map, S_AUX);
  copyBytes(LPM_KEY_BUF + 4, key + 4, maxLen >> 3);
  let was = maxLen;
  while (true) {
    if (load<u32>(counts + (len << 2)) != 0) {
      truncate(len, was);
      was = len;
      const i = htabFind(map, LPM_KEY_BUF);
      if (i != 0) return htabValue(map, i);
    }
    if (len == 0) return 0;
    len--;
  }
  return 0;
}

/**
 * trie_update_elem: -EINVAL for unknown flags or a prefix longer than the trie's; the exact
 * prefix is replaced (-EEXIST with BPF_NOEXIST) or added (-ENOENT with BPF_EXIST, -ENOSPC when
 * full, as kernels since 6.14). Returns the value's address or a negative errno.
 */
export function lpmUpdate(map: u32, key: u32, value: u32, flags: u64): i32 {
  if (flags > BPF_EXIST) return -EINVAL;
  const len = canonical(map, key);
  if (len < 0) return -EINVAL;
  const before = load<u32>(map, D_COUNT);
  const r = htabUpdate(map, LPM_KEY_BUF, value, <u32>flags, false, ENOSPC);
  if (r > 0 && load<u32>(map, D_COUNT) != before) {
    const c = load<u32>(map, S_AUX) + (<u32>len << 2);
    store<u32>(c, load<u32>(c) + 1);
  }
  return r;
}

/** trie_delete_elem: 0, -EINVAL for a prefix too long, -ENOENT if the exact prefix is absent. */
export function lpmDelete(map: u32, key: u32): i32 {
  const len = canonical(map, key);
  if (len < 0) return -EINVAL;
  const r = htabDelete(map, LPM_KEY_BUF);
  if (r == 0) {
    const c = load<u32>(map, S_AUX) + (<u32>len << 2);
    store<u32>(c, load<u32>(c) - 1);
  }
  return r;
}

/** trie_get_next_key: an invalid or absent key restarts from the first entry. */
export function lpmNextKey(map: u32, key: u32, next: u32): i32 {
  if (!goodKeySize(load<u32>(map, D_KEY_SIZE))) return -EINVAL;
  if (key == 0 || canonical(map, key) < 0) return htabNextKey(map, 0, next);
  if (htabFind(map, LPM_KEY_BUF) == 0) return htabNextKey(map, 0, next);
  return htabNextKey(map, LPM_KEY_BUF, next);
}
