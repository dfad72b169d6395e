/**
 * BPF_MAP_TYPE_RINGBUF: the kernel's ring buffer (kernel/bpf/ringbuf.c) over a data area in the
 * program's linear memory, and the consumer side libbpf's `ring_buffer` provides.
 *
 * Records are a kernel-format 8-byte header (u32 length with the BUSY bit 31 and DISCARD bit 30,
 * then a u32 that here holds the header's offset in the area) followed by the data, 8-aligned.
 * bpf_ringbuf_reserve returns a pointer to the data inside the area, so the program writes
 * records in place. Positions only grow, as the kernel's `consumer_pos`/`producer_pos` do.
 *
 * One difference from the kernel: its data pages are mapped twice, so a record may straddle the
 * end of the area and still be contiguous. Linear memory cannot do that, so a record that would
 * straddle is placed at the start of the area and the tail it skips becomes a discarded padding
 * record. That padding counts as used space (in AVAIL_DATA too) until consumed.
 *
 * The producer's bookkeeping (positions, which records are reserved) lives here, not in linear
 * memory: a program that scribbles over a header or passes a pointer that bpf_ringbuf_reserve did
 * not return (the kernel's verifier forbids both) cannot corrupt it; such a submit is ignored.
 */
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { D_MAX_ENTRIES, D_TYPE, D_VALUES } from '../maps/descriptor.js';
import { AsyncRecords } from './channel.js';
import {
  Errno, MapType, BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP, BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS,
  BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ,
} from '../uapi/index.js';

/** The ring buffer's UAPI flags, re-exported from their home in runtime/uapi. */
export {
  BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP, BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS,
  BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ,
} from '../uapi/index.js';
/** The largest record the kernel reserves (RINGBUF_MAX_RECORD_SZ = UINT_MAX / 4). */
const RINGBUF_MAX_RECORD_SZ = 0x3fff_ffffn;

const BUSY = 0;
const COMMITTED = 1;
const DISCARDED = 2;

interface RingRecord {
  /** Position of the header (logical, growing). */
  pos: number;
  /** Where the record's space starts: `pos`, or the padding placed before it. */
  start: number;
  /** Header plus data, rounded up to 8. */
  len: number;
  /** Data bytes. */
  size: number;
  state: typeof BUSY | typeof COMMITTED | typeof DISCARDED;
}

/** A ring buffer map: the program side for the helpers, the consumer side for the host. */
export class RingBuffer {
  private cons = 0;
  private prod = 0;
  private records: RingRecord[] = [];
  private head = 0;
  /** Reserved records by the data address bpf_ringbuf_reserve returned. */
  private readonly reserved = new Map<number, RingRecord>();
  private readonly callbacks = new Set<(data: Uint8Array) => void>();
  private readonly async = new AsyncRecords(() => this.consume());

  /**
   * @param base address of the data area in `memory` (the descriptor's `values`), 8-aligned
   * @param size its size in bytes (the map's max_entries), a power of two of at least 16
   */
  constructor(
    readonly memory: WebAssembly.Memory,
    readonly base: number,
    readonly size: number,
    readonly name = 'ringbuf',
  ) {
    if (!Number.isInteger(size) || size < 16 || size > 0x4000_0000 || (size & (size - 1)) !== 0) {
      throw new BpfRuntimeError(ErrorCode.BadMap, `ring buffer size ${size} is not a power of two between 16 and 2^30`, { map: name });
    }
    if (!Number.isInteger(base) || base <= 0 || base % 8 !== 0 || base + size > memory.buffer.byteLength) {
      throw new BpfRuntimeError(ErrorCode.BadMap, `ring buffer data area 0x${base.toString(16)} (+${size}) is not 8-aligned inside linear memory`, { map: name });
    }
  }

  /** The ring buffer whose map descriptor (runtime/maps/descriptor.ts) is at `desc`. */
  static fromDescriptor(memory: WebAssembly.Memory, desc: number, name = 'ringbuf'): RingBuffer {
    const view = new DataView(memory.buffer);
    if (desc <= 0 || desc + 64 > view.byteLength || view.getUint32(desc + D_TYPE, true) !== MapType.RINGBUF) {
      throw new BpfRuntimeError(ErrorCode.BadMap, `no ring buffer descriptor at 0x${desc.toString(16)}`, { map: name });
    }
    return new RingBuffer(memory, view.getUint32(desc + D_VALUES, true), view.getUint32(desc + D_MAX_ENTRIES, true), name);
  }

  // ---- program side (the helpers) ----

  /**
   * bpf_ringbuf_reserve: the address of `size` bytes for a new record, or 0 if flags are not 0,
   * the record is larger than the ring, or there is not enough free space (records not yet
   * consumed, reserved or not, count against it).
   */
  reserve(size: bigint | number, flags: bigint | number = 0n): number {
    if (BigInt(flags) !== 0n) return 0;
    const sz = BigInt.asUintN(64, BigInt(size));
    if (sz > RINGBUF_MAX_RECORD_SZ) return 0;
    const len = (Number(sz) + BPF_RINGBUF_HDR_SZ + 7) & ~7;
    if (len > this.size) return 0;
    const off = this.prod % this.size;
    const pad = off + len > this.size ? this.size - off : 0;
    // The kernel keeps the producer at most size - 1 bytes ahead of the consumer.
    if (this.prod + pad + len - this.cons > this.size - 1) return 0;
    const view = new DataView(this.memory.buffer);
    const start = this.prod;
    if (pad > 0) {
      this.push({ pos: start, start, len: pad, size: pad - BPF_RINGBUF_HDR_SZ, state: DISCARDED });
      this.writeHeader(view, start, (pad - BPF_RINGBUF_HDR_SZ) | BPF_RINGBUF_DISCARD_BIT);
    }
    const rec: RingRecord = { pos: start + pad, start, len, size: Number(sz), state: BUSY };
    this.push(rec);
    this.prod = start + pad + len;
    this.writeHeader(view, rec.pos, rec.size | BPF_RINGBUF_BUSY_BIT);
    const data = this.base + (rec.pos % this.size) + BPF_RINGBUF_HDR_SZ;
    this.reserved.set(data, rec);
    return data;
  }

  /** bpf_ringbuf_submit: publishes a reserved record. A pointer reserve did not return is ignored. */
  submit(data: number, flags: bigint | number = 0n): void {
    this.commit(data, BigInt(flags), false);
  }

  /** bpf_ringbuf_discard: drops a reserved record (consumers skip it). Unknown pointers are ignored. */
  discard(data: number, flags: bigint | number = 0n): void {
    this.commit(data, BigInt(flags), true);
  }

  /** bpf_ringbuf_output: copies `data` into a new record; 0, -EINVAL (flags) or -EAGAIN (no room). */
  output(data: Uint8Array, flags: bigint | number = 0n): number {
    const f = BigInt.asUintN(64, BigInt(flags));
    if (f & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) return -Errno.EINVAL;
    const addr = this.reserve(data.length, 0n);
    if (addr === 0) return -Errno.EAGAIN;
    new Uint8Array(this.memory.buffer).set(data, addr);
    this.commit(addr, f, false);
    return 0;
  }

  /** bpf_ringbuf_query: AVAIL_DATA, RING_SIZE, CONS_POS or PROD_POS; 0 for other flags. */
  query(flags: bigint | number): bigint {
    switch (BigInt.asUintN(64, BigInt(flags))) {
      case BPF_RB_AVAIL_DATA: return BigInt(this.prod - this.cons);
      case BPF_RB_RING_SIZE: return BigInt(this.size);
      case BPF_RB_CONS_POS: return BigInt(this.cons);
      case BPF_RB_PROD_POS: return BigInt(this.prod);
      default: return 0n;
    }
  }

  /**
   * Discards every record still reserved. The verifier makes a kernel program submit or discard
   * what it reserves; a program that trapped in between would otherwise block the ring forever.
   */
  discardReserved(): number {
    const n = this.reserved.size;
    for (const data of [...this.reserved.keys()]) this.commit(data, BPF_RB_NO_WAKEUP, true);
    return n;
  }

  // ---- consumer side ----

  /** Bytes between the consumer and the producer (records, reserved or not, and padding). */
  get availableData(): number {
    return this.prod - this.cons;
  }

  get consumerPosition(): number {
    return this.cons;
  }

  get producerPosition(): number {
    return this.prod;
  }

  /** Records reserved and not yet submitted or discarded. */
  get reservedCount(): number {
    return this.reserved.size;
  }

  /**
   * Calls `cb` with a copy of each record's data as consume() reads it (consume() runs when you
   * call it, and after a wakeup while an async iterator waits). Returns a function that unsubscribes.
   */
  onRecord(cb: (data: Uint8Array) => void): () => void {
    this.callbacks.add(cb);
    return () => this.callbacks.delete(cb);
  }

  /**
   * Reads every record submitted so far, in reservation order, up to the first one still reserved
   * (which blocks those after it, as in the kernel); discarded records are skipped. Returns how
   * many records were delivered.
   */
  consume(): number {
    let n = 0;
    while (this.head < this.records.length) {
      const rec = this.records[this.head]!;
      if (rec.state === BUSY) break;
      this.head++;
      this.cons = rec.pos + rec.len;
      if (rec.state !== COMMITTED) continue;
      n++;
      if (this.callbacks.size > 0 || this.async.active) {
        const at = this.base + (rec.pos % this.size) + BPF_RINGBUF_HDR_SZ;
        // One copy up front: a callback may grow memory, detaching views of the old buffer.
        const data = new Uint8Array(this.memory.buffer).slice(at, at + rec.size);
        for (const cb of this.callbacks) cb(data.slice());
        this.async.push(data);
      }
    }
    if (this.head > 64 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
    return n;
  }

  /** Yields a copy of each record as it is submitted; ends after close(). */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this.async.iterator();
  }

  /** Ends the async iterators (after the records they already hold). */
  close(): void {
    this.async.close();
  }

  private push(rec: RingRecord): void {
    this.records.push(rec);
  }

  private writeHeader(view: DataView, pos: number, lenWord: number): void {
    const off = pos % this.size;
    view.setUint32(this.base + off, lenWord >>> 0, true);
    view.setUint32(this.base + off + 4, off, true);
  }

  private commit(data: number, flags: bigint, discard: boolean): void {
    const rec = this.reserved.get(data >>> 0);
    if (!rec) return;
    this.reserved.delete(data >>> 0);
    rec.state = discard ? DISCARDED : COMMITTED;
    this.writeHeader(new DataView(this.memory.buffer), rec.pos, rec.size | (discard ? BPF_RINGBUF_DISCARD_BIT : 0));
    const f = BigInt.asUintN(64, flags);
    // The kernel wakes consumers when asked to, or when this record is the next one to read.
    if (f & BPF_RB_FORCE_WAKEUP || (!(f & BPF_RB_NO_WAKEUP) && rec.start === this.cons)) this.async.wake();
  }
}
