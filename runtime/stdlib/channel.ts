/**
 * Async iteration over the records a ring buffer or perf event array delivers: what epoll on the
 * buffer's fd is to libbpf's consumers. Each iterator gets every record delivered after it was
 * created; a wakeup from the producer drains the buffer in a microtask when an iterator waits.
 */

/** One async iterator's queue. */
class Stream {
  readonly queue: Uint8Array[] = [];
  head = 0;
  readonly waiters: Array<(r: IteratorResult<Uint8Array, undefined>) => void> = [];
  done = false;

  push(data: Uint8Array): void {
    const w = this.waiters.shift();
    if (w) w({ value: data, done: false });
    else this.queue.push(data);
  }

  take(): Uint8Array | undefined {
    if (this.head >= this.queue.length) return undefined;
    const v = this.queue[this.head++]!;
    if (this.head > 256 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return v;
  }

  end(): void {
    this.done = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }
}

/** The async side of a record producer. `drain` consumes what is available (and calls `push`). */
export class AsyncRecords {
  private readonly streams = new Set<Stream>();
  private closed = false;
  private scheduled = false;

  constructor(private readonly drain: () => void) {}

  /** True while some iterator is open (so records are worth copying for it). */
  get active(): boolean {
    return this.streams.size > 0;
  }

  /** Hands a copy of a record to every open iterator. */
  push(data: Uint8Array): void {
    for (const s of this.streams) s.push(data.slice());
  }

  /** The producer has new records: drain them soon if an iterator is waiting for one. */
  wake(): void {
    if (this.scheduled) return;
    let waiting = false;
    for (const s of this.streams) if (s.waiters.length > 0) waiting = true;
    if (!waiting) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  /** Ends every iterator once it has returned what it already holds; later ones end at once. */
  close(): void {
    this.closed = true;
    for (const s of this.streams) if (s.head >= s.queue.length) s.end();
  }

  /** A new iterator over the records delivered from now on. */
  iterator(): AsyncIterableIterator<Uint8Array> {
    const stream = new Stream();
    if (this.closed) stream.done = true;
    else this.streams.add(stream);
    const finish = (): IteratorResult<Uint8Array, undefined> => {
      this.streams.delete(stream);
      stream.end();
      return { value: undefined, done: true };
    };
    const it: AsyncIterableIterator<Uint8Array> = {
      next: (): Promise<IteratorResult<Uint8Array, undefined>> => {
        let v = stream.take();
        if (v) return Promise.resolve({ value: v, done: false });
        if (stream.done || this.closed) return Promise.resolve(finish());
        // Records already in the buffer are there to be read, wakeup or not.
        this.drain();
        v = stream.take();
        if (v) return Promise.resolve({ value: v, done: false });
        return new Promise((resolve) => stream.waiters.push(resolve));
      },
      return: (): Promise<IteratorResult<Uint8Array, undefined>> => Promise.resolve(finish()),
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }
}
