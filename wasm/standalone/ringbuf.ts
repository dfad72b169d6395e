/**
 * BPF_MAP_TYPE_RINGBUF for standalone modules: the producer side of runtime/stdlib/ringbuf.ts
 * (same record format, placement, padding records and errors) with its positions in linear
 * memory instead of JS, and a consumer the host calls through an export.
 *
 * Records are the kernel's: an 8-byte header (u32 length with BUSY bit 31 and DISCARD bit 30,
 * then the header's offset in the area) and the data, 8-aligned. The consumer and producer
 * positions (u64, only growing) are the descriptor's state words. Unlike the JS runtime, which
 * keeps the reserved records in JS, submit and discard find the record by its header: a program
 * that overwrites a reserved record's header (the kernel's verifier forbids it) can make its
 * submit be ignored, and only its own ring buffer is affected.
 */
import { D_MAX_ENTRIES, D_STATE, D_TYPE, D_VALUES, DESC_SIZE, EINVAL, ENOENT, ENOSPC, MAP_RINGBUF, MAP_TABLE_BASE, MAP_TABLE_COUNT } from '../maps/desc';

const S_CONS: u32 = D_STATE;
const S_PROD: u32 = D_STATE + 8;
const BUSY: u32 = 0x8000_0000;
const DISCARD: u32 = 0x4000_0000;
const HDR: u32 = 8;
const MAX_RECORD: u64 = 0x3fff_ffff;
const EAGAIN: i32 = 11;
/** BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP. */
const WAKEUP_FLAGS: u64 = 3;

/** True if `map` is one of the module's descriptors and a ring buffer. */
export function isRingbuf(map: u32): bool {
  return rotr<u32>(map - load<u32>(MAP_TABLE_BASE), 6) < load<u32>(MAP_TABLE_COUNT) && load<u32>(map, D_TYPE) == MAP_RINGBUF;
}

function writeHeader(map: u32, pos: u64, word: u32): void {
  const size = load<u32>(map, D_MAX_ENTRIES);
  const off = <u32>(pos & (size - 1));
  const at = load<u32>(map, D_VALUES) + off;
  store<u32>(at, word);
  store<u32>(at, off, 4);
}

/** bpf_ringbuf_reserve: the data address of a new record of `size` bytes, or 0. */
export function reserve(map: u32, size: u64, flags: u64): u32 {
  if (!isRingbuf(map) || flags != 0 || size > MAX_RECORD) return 0;
  const rsize = load<u32>(map, D_MAX_ENTRIES);
  const len = (<u32>size + HDR + 7) & ~7;
  if (len > rsize) return 0;
  const prod = load<u64>(map, S_PROD);
  const cons = load<u64>(map, S_CONS);
  const off = <u32>(prod & (rsize - 1));
  const pad: u32 = off + len > rsize ? rsize - off : 0;
  if (prod + pad + len - cons > <u64>(rsize - 1)) return 0;
  if (pad > 0) writeHeader(map, prod, (pad - HDR) | DISCARD);
  const pos = prod + pad;
  store<u64>(map, pos + len, S_PROD);
  writeHeader(map, pos, <u32>size | BUSY);
  return load<u32>(map, D_VALUES) + <u32>(pos & (rsize - 1)) + HDR;
}

/** The ring buffer holding the reserved record whose data is at `data`, or 0. */
function owner(data: u32): u32 {
  const first = load<u32>(MAP_TABLE_BASE);
  const n = load<u32>(MAP_TABLE_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    const map = first + i * DESC_SIZE;
    if (load<u32>(map, D_TYPE) != MAP_RINGBUF) continue;
    const base = load<u32>(map, D_VALUES);
    const size = load<u32>(map, D_MAX_ENTRIES);
    if (data < base + HDR || data - base > size) continue;
    const off = data - HDR - base;
    if ((off & 7) != 0) return 0;
    const word = load<u32>(base + off);
    if ((word & BUSY) == 0 || load<u32>(base + off, 4) != off) return 0;
    return map;
  }
  return 0;
}

/** bpf_ringbuf_submit / bpf_ringbuf_discard: a pointer reserve did not return is ignored. */
export function commit(data: u32, discard: bool): void {
  const map = owner(data);
  if (map == 0) return;
  const hdr = data - HDR;
  const word = load<u32>(hdr) & ~(BUSY | DISCARD);
  store<u32>(hdr, word | (discard ? DISCARD : 0));
}

/** bpf_ringbuf_output: 0, -EINVAL (not a ring buffer, flags) or -EAGAIN (no room); the data must be valid (checked by the caller). */
export function output(map: u32, data: u32, size: u32, flags: u64): i64 {
  if (flags & ~WAKEUP_FLAGS) return -EINVAL;
  const at = reserve(map, size, 0);
  if (at == 0) return -EAGAIN;
  memory.copy(at, data, size);
  commit(at, false);
  return 0;
}

/** bpf_ringbuf_query: AVAIL_DATA, RING_SIZE, CONS_POS, PROD_POS; 0 otherwise. */
export function query(map: u32, flags: u64): i64 {
  if (!isRingbuf(map)) return 0;
  const cons = load<u64>(map, S_CONS);
  const prod = load<u64>(map, S_PROD);
  if (flags == 0) return prod - cons;
  if (flags == 1) return <i64>load<u32>(map, D_MAX_ENTRIES);
  if (flags == 2) return cons;
  if (flags == 3) return prod;
  return 0;
}

/**
 * The consumer (libbpf's ring_buffer__consume, one record): copies the next submitted record's
 * data to `out` (at most `cap` bytes) and returns its length; discarded records are skipped.
 * -ENOENT when there is none to read now (empty, or the next is still reserved), -ENOSPC (and
 * nothing consumed) when it is larger than `cap`, -EINVAL for a map that is not a ring buffer.
 */
export function consume(map: u32, out: u32, cap: u32): i32 {
  if (!isRingbuf(map)) return -EINVAL;
  const base = load<u32>(map, D_VALUES);
  const rsize = load<u32>(map, D_MAX_ENTRIES);
  const prod = load<u64>(map, S_PROD);
  let cons = load<u64>(map, S_CONS);
  while (cons < prod) {
    const at = base + <u32>(cons & (rsize - 1));
    const word = load<u32>(at);
    if (word & BUSY) break;
    const size = word & ~DISCARD;
    const len = (size + HDR + 7) & ~7;
    if ((word & DISCARD) == 0) {
      if (size > cap) return -ENOSPC;
      memory.copy(out, at + HDR, size);
      store<u64>(map, cons + len, S_CONS);
      return <i32>size;
    }
    cons += len;
    store<u64>(map, cons, S_CONS);
  }
  return -ENOENT;
}

/**
 * After a run that trapped: discards every record still reserved (a kernel program cannot end
 * holding one; here a trap can leave one, which would block the ring).
 */
export function discardReserved(): void {
  const first = load<u32>(MAP_TABLE_BASE);
  const n = load<u32>(MAP_TABLE_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    const map = first + i * DESC_SIZE;
    if (load<u32>(map, D_TYPE) != MAP_RINGBUF) continue;
    const base = load<u32>(map, D_VALUES);
    const rsize = load<u32>(map, D_MAX_ENTRIES);
    const prod = load<u64>(map, S_PROD);
    for (let pos = load<u64>(map, S_CONS); pos < prod;) {
      const at = base + <u32>(pos & (rsize - 1));
      const word = load<u32>(at);
      if (word & BUSY) store<u32>(at, (word & ~BUSY) | DISCARD);
      pos += ((word & ~(BUSY | DISCARD)) + HDR + 7) & ~7;
    }
  }
}
