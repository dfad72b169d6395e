/**
 * QUEUE (FIFO) and STACK (LIFO) maps, as kernel/bpf/queue_stack_maps.c. Elements are copied in
 * and out, never handed to programs by address, so they live in the metadata region: a ring of
 * `max_entries` elements of `valueStride` bytes. The count is the descriptor's count field.
 */
import { BPF_EXIST, BPF_NOEXIST, D_COUNT, D_MAX_ENTRIES, D_META, D_META_SIZE, D_STATE, D_TYPE, D_VALUE_SIZE, D_VALUE_STRIDE, E2BIG, EINVAL, ENOENT, ENOSPC, MAP_QUEUE } from './desc';
import { copyBytes } from './hash';

/** The ring index of the oldest element. */
const S_TAIL: u32 = D_STATE;

/** Metadata bytes of a queue or stack. */
export function queueMetaSize(valueStride: u32, maxEntries: u32): u64 {
  return <u64>valueStride * maxEntries;
}

/** Checks the metadata size and empties the ring. */
export function queueInit(map: u32): i32 {
  const need = queueMetaSize(load<u32>(map, D_VALUE_STRIDE), load<u32>(map, D_MAX_ENTRIES));
  if (need > <u64>load<u32>(map, D_META_SIZE)) return -ENOSPC;
  queueClear(map);
  return 0;
}

/** Empties the ring. */
export function queueClear(map: u32): void {
  store<u32>(map, 0, S_TAIL);
  store<u32>(map, 0, D_COUNT);
}

// @ts-ignore: decorator
@inline function slotAddr(map: u32, pos: u32): u32 {
  return load<u32>(map, D_META) + pos * load<u32>(map, D_VALUE_STRIDE);
}

/**
 * queue_stack_map_push_elem: appends `value` (unless 0); when full, -E2BIG, or with BPF_EXIST
 * the oldest element is dropped. Returns the new element's address or a negative errno.
 */
export function queuePush(map: u32, value: u32, flags: u64): i32 {
  if ((flags & BPF_NOEXIST) != 0 || flags > BPF_EXIST) return -EINVAL;
  const max = load<u32>(map, D_MAX_ENTRIES);
  let count = load<u32>(map, D_COUNT);
  let tail = load<u32>(map, S_TAIL);
  if (count == max) {
    if ((flags & BPF_EXIST) == 0) return -E2BIG;
    tail = tail + 1 == max ? 0 : tail + 1;
    count--;
  }
  let pos = tail + count;
  if (pos >= max) pos -= max;
  const dst = slotAddr(map, pos);
  if (value != 0) copyBytes(dst, value, load<u32>(map, D_VALUE_SIZE));
  store<u32>(map, tail, S_TAIL);
  store<u32>(map, count + 1, D_COUNT);
  return <i32>dst;
}

/**
 * Pop (`remove`) or peek: the oldest element of a queue, the newest of a stack. Copies it to
 * `value` (unless 0) and returns its address (valid until the next push), or -ENOENT if empty.
 */
export function queueTake(map: u32, value: u32, remove: bool): i32 {
  const count = load<u32>(map, D_COUNT);
  if (count == 0) return -ENOENT;
  const max = load<u32>(map, D_MAX_ENTRIES);
  const tail = load<u32>(map, S_TAIL);
  let pos: u32;
  if (load<u32>(map, D_TYPE) == MAP_QUEUE) {
    pos = tail;
    if (remove) store<u32>(map, tail + 1 == max ? 0 : tail + 1, S_TAIL);
  } else {
    pos = tail + count - 1;
    if (pos >= max) pos -= max;
  }
  if (remove) store<u32>(map, count - 1, D_COUNT);
  const src = slotAddr(map, pos);
  if (value != 0) copyBytes(value, src, load<u32>(map, D_VALUE_SIZE));
  return <i32>src;
}
