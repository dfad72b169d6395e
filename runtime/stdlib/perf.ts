/**
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY as bpf_perf_event_output sees it (kernel/trace/bpf_trace.c), and
 * the consumer side libbpf's `perf_buffer` provides: one buffer per CPU, samples in output order,
 * and a count of the samples lost because the buffer was full.
 *
 * Samples are copied out of linear memory when output (a perf buffer is not program-visible).
 * As in the kernel, a sample's raw data is padded with zeros so that its u32 size field plus the
 * data is a multiple of 8: outputting 5 bytes delivers 12. Each sample takes 8 (perf_event_header)
 * + 4 + that data in the per-CPU buffer until consumed.
 *
 * bpf2wasm runs on one CPU (HostEnv.cpu, 0 by default). An index other than that CPU or
 * BPF_F_CURRENT_CPU is -E2BIG at or past `maxEntries` and -EOPNOTSUPP below it (the kernel's
 * answer for an event that lives on another CPU).
 */
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { D_MAX_ENTRIES, D_TYPE } from '../maps/descriptor.js';
import { AsyncRecords } from './channel.js';
import { BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, Errno, MapType } from '../uapi/index.js';

/** bpf_perf_event_output's UAPI flags, re-exported from their home in runtime/uapi. */
export { BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK } from '../uapi/index.js';
/** Size of the perf_event_header before each sample. */
const PERF_HEADER_SIZE = 8;

export interface PerfEventArrayOptions {
  /** Map name, for errors. */
  name?: string;
  /** The map's max_entries: how many CPU slots it has (default 1). */
  maxEntries?: number;
  /** Bytes of each per-CPU buffer (default 64 KiB, libbpf's 16 pages). */
  bufferSize?: number;
}

type Item = { lost: false; cpu: number; data: Uint8Array; bytes: number } | { lost: true; cpu: number; count: number };

/** A perf event array: the program side for bpf_perf_event_output, the consumer side for the host. */
export class PerfEventArray {
  readonly name: string;
  readonly maxEntries: number;
  readonly bufferSize: number;
  private items: Item[] = [];
  private head = 0;
  private readonly used = new Map<number, number>();
  private lostTotal = 0;
  private readonly callbacks = new Set<(data: Uint8Array, cpu: number) => void>();
  private readonly lostCallbacks = new Set<(count: number, cpu: number) => void>();
  private readonly async = new AsyncRecords(() => this.consume());

  constructor(options: PerfEventArrayOptions = {}) {
    this.name = options.name ?? 'perf_event_array';
    this.maxEntries = options.maxEntries ?? 1;
    this.bufferSize = options.bufferSize ?? 64 * 1024;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 0) {
      throw new BpfRuntimeError(ErrorCode.BadMap, `perf event array max_entries ${this.maxEntries} is invalid`, { map: this.name });
    }
    if (!Number.isInteger(this.bufferSize) || this.bufferSize <= 0) {
      throw new BpfRuntimeError(ErrorCode.BadMap, `perf buffer size ${this.bufferSize} is invalid`, { map: this.name });
    }
  }

  /** The perf event array whose map descriptor (runtime/maps/descriptor.ts) is at `desc`. */
  static fromDescriptor(memory: WebAssembly.Memory, desc: number, options: Omit<PerfEventArrayOptions, 'maxEntries'> = {}): PerfEventArray {
    const view = new DataView(memory.buffer);
    if (desc <= 0 || desc + 64 > view.byteLength || view.getUint32(desc + D_TYPE, true) !== MapType.PERF_EVENT_ARRAY) {
      throw new BpfRuntimeError(ErrorCode.BadMap, `no perf event array descriptor at 0x${desc.toString(16)}`, { map: options.name ?? 'perf_event_array' });
    }
    return new PerfEventArray({ ...options, maxEntries: view.getUint32(desc + D_MAX_ENTRIES, true) });
  }

  // ---- program side ----

  /**
   * bpf_perf_event_output on `cpu` (the CPU the program runs on): 0, or -EINVAL (flags beyond
   * the index), -E2BIG (index past max_entries), -EOPNOTSUPP (another CPU's slot), -ENOSPC (the
   * buffer is full: the sample is lost and counted).
   */
  output(flags: bigint | number, data: Uint8Array, cpu = 0): number {
    const f = BigInt.asUintN(64, BigInt(flags));
    if (f & ~BPF_F_INDEX_MASK) return -Errno.EINVAL;
    let index = f & BPF_F_INDEX_MASK;
    if (index === BPF_F_CURRENT_CPU) index = BigInt(cpu);
    if (index >= BigInt(this.maxEntries)) return -Errno.E2BIG;
    if (index !== BigInt(cpu)) return -Errno.EOPNOTSUPP;
    const raw = ((4 + data.length + 7) & ~7) - 4;
    const bytes = PERF_HEADER_SIZE + 4 + raw;
    const used = this.used.get(cpu) ?? 0;
    if (used + bytes > this.bufferSize) {
      this.lostTotal++;
      const last = this.items[this.items.length - 1];
      if (last?.lost && last.cpu === cpu && this.head < this.items.length) last.count++;
      else this.items.push({ lost: true, cpu, count: 1 });
      return -Errno.ENOSPC;
    }
    const padded = new Uint8Array(raw);
    padded.set(data);
    this.items.push({ lost: false, cpu, data: padded, bytes });
    this.used.set(cpu, used + bytes);
    this.async.wake();
    return 0;
  }

  // ---- consumer side ----

  /** Samples lost so far because a buffer was full. */
  get lost(): number {
    return this.lostTotal;
  }

  /** Samples output and not yet consumed. */
  get pendingCount(): number {
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) if (!this.items[i]!.lost) n++;
    return n;
  }

  /** Calls `cb` with a copy of each sample and its CPU as consume() reads it. Returns an unsubscribe function. */
  onRecord(cb: (data: Uint8Array, cpu: number) => void): () => void {
    this.callbacks.add(cb);
    return () => this.callbacks.delete(cb);
  }

  /** Calls `cb` when consume() reaches a run of lost samples (libbpf's lost_cb). */
  onLost(cb: (count: number, cpu: number) => void): () => void {
    this.lostCallbacks.add(cb);
    return () => this.lostCallbacks.delete(cb);
  }

  /** Reads every pending sample in output order, freeing its buffer space; returns how many. */
  consume(): number {
    let n = 0;
    while (this.head < this.items.length) {
      const item = this.items[this.head++]!;
      if (item.lost) {
        for (const cb of this.lostCallbacks) cb(item.count, item.cpu);
        continue;
      }
      this.used.set(item.cpu, (this.used.get(item.cpu) ?? 0) - item.bytes);
      n++;
      for (const cb of this.callbacks) cb(item.data.slice(), item.cpu);
      this.async.push(item.data);
    }
    this.items = [];
    this.head = 0;
    return n;
  }

  /** Yields a copy of each sample's data as it is output; ends after close(). */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this.async.iterator();
  }

  /** Ends the async iterators (after the samples they already hold). */
  close(): void {
    this.async.close();
  }
}
