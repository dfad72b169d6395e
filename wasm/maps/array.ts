/**
 * Array maps (ARRAY, PERCPU_ARRAY) and slot arrays (PROG_ARRAY, ARRAY_OF_MAPS), as
 * kernel/bpf/arraymap.c. Values of arrays live in the arena at `values + index * valueStride`,
 * always present (zeroed at creation). Slot arrays keep one u32 per index in the metadata region
 * (the descriptor's `values` points there): ARRAY_OF_MAPS an inner map's descriptor address,
 * PROG_ARRAY a program number + 1; 0 is an empty slot.
 */
import { BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, D_MAX_ENTRIES, D_VALUE_SIZE, D_VALUE_STRIDE, D_VALUES, E2BIG, EEXIST, EINVAL, ENOENT } from './desc';
import { copyBytes } from './hash';

/** The address of element `load<u32>(key)`'s value, or 0 if out of range. */
// @ts-ignore: decorator
@inline export function arrayLookup(map: u32, key: u32): u32 {
  const i = load<u32>(key);
  if (i >= load<u32>(map, D_MAX_ENTRIES)) return 0;
  return load<u32>(map, D_VALUES) + i * load<u32>(map, D_VALUE_STRIDE);
}

/** array_map_update_elem: the value's address or -EINVAL / -E2BIG / -EEXIST. */
export function arrayUpdate(map: u32, key: u32, value: u32, flags: u64): i32 {
  if ((flags & ~BPF_F_LOCK) > BPF_EXIST) return -EINVAL;
  const i = load<u32>(key);
  if (i >= load<u32>(map, D_MAX_ENTRIES)) return -E2BIG;
  if ((flags & BPF_NOEXIST) != 0) return -EEXIST;
  const dst = load<u32>(map, D_VALUES) + i * load<u32>(map, D_VALUE_STRIDE);
  if (value != 0) copyBytes(dst, value, load<u32>(map, D_VALUE_SIZE));
  return <i32>dst;
}

/** Zeroes every element. */
export function arrayClear(map: u32): void {
  memory.fill(load<u32>(map, D_VALUES), 0, load<u32>(map, D_MAX_ENTRIES) * load<u32>(map, D_VALUE_STRIDE));
}

/** array_map_get_next_key: 0 and the next index in `next`, or -ENOENT after the last. */
export function arrayNextKey(map: u32, key: u32, next: u32): i32 {
  const max = load<u32>(map, D_MAX_ENTRIES);
  if (max == 0) return -ENOENT;
  const i = key == 0 ? max : load<u32>(key);
  if (i >= max) {
    store<u32>(next, 0);
    return 0;
  }
  if (i == max - 1) return -ENOENT;
  store<u32>(next, i + 1);
  return 0;
}

/** The content of slot `load<u32>(key)` (0 if empty or out of range). */
// @ts-ignore: decorator
@inline export function slotGet(map: u32, i: u32): u32 {
  if (i >= load<u32>(map, D_MAX_ENTRIES)) return 0;
  return load<u32>(load<u32>(map, D_VALUES) + (i << 2));
}

/**
 * bpf_fd_array_map_update_elem from userspace: `value` holds the slot's new u32 content, a
 * program number + 1 (PROG_ARRAY) or an inner map's descriptor address (ARRAY_OF_MAPS); 0, the
 * empty slot, is -EINVAL (delete empties a slot). Returns the slot's address or -EINVAL / -E2BIG.
 */
export function slotUpdate(map: u32, key: u32, value: u32, flags: u64): i32 {
  if (flags != BPF_ANY) return -EINVAL;
  const i = load<u32>(key);
  if (i >= load<u32>(map, D_MAX_ENTRIES)) return -E2BIG;
  const v = load<u32>(value);
  if (v == 0) return -EINVAL;
  const slot = load<u32>(map, D_VALUES) + (i << 2);
  store<u32>(slot, v);
  return <i32>slot;
}

/** fd_array_map_delete_elem: 0, -E2BIG out of range, -ENOENT if the slot is empty. */
export function slotDelete(map: u32, key: u32): i32 {
  const i = load<u32>(key);
  if (i >= load<u32>(map, D_MAX_ENTRIES)) return -E2BIG;
  const slot = load<u32>(map, D_VALUES) + (i << 2);
  if (load<u32>(slot) == 0) return -ENOENT;
  store<u32>(slot, 0);
  return 0;
}

/** Empties every slot. */
export function slotClear(map: u32): void {
  memory.fill(load<u32>(map, D_VALUES), 0, load<u32>(map, D_MAX_ENTRIES) << 2);
}
