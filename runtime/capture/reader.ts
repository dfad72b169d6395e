/**
 * Reading capture files: pcap or pcapng, told apart by their first four bytes, from bytes in
 * memory or from a stream of chunks (an async iterable or a ReadableStream), so that a capture of
 * any size runs in constant memory: the reader holds at most one chunk and one record.
 *
 * Frames come out in file order; a truncated or corrupt file throws a CaptureError (E_BAD_CAPTURE,
 * with the frame index and byte offset) after every frame before the fault has been delivered.
 */
import { CaptureError, type CaptureFrame } from './frame.js';
import type { RecordParser } from './parser.js';
import { isPcapMagic, PcapParser } from './pcap.js';
import { isPcapngMagic, PcapngParser } from './pcapng.js';

/** Where capture bytes come from. */
export type CaptureSource = Uint8Array | AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

/** The capture format of a file, from its first four bytes, or undefined for neither. */
export function captureFormat(first4: Uint8Array): 'pcap' | 'pcapng' | undefined {
  if (first4.length < 4) return undefined;
  if (isPcapngMagic(first4)) return 'pcapng';
  if (isPcapMagic(first4)) return 'pcap';
  return undefined;
}

function parserFor(first4: Uint8Array, have: number): RecordParser {
  const format = captureFormat(first4);
  if (format === 'pcapng') return new PcapngParser();
  if (format === 'pcap') return new PcapParser();
  if (have < 4) throw new CaptureError('truncated-file-header', `a capture file needs at least 4 bytes, this one has ${have}`, { frame: 0, offset: 0 });
  throw new CaptureError('bad-magic', 'neither a pcap nor a pcapng file (unknown magic number)', { frame: 0, offset: 0 });
}

/** Reads every frame of a capture held in memory. */
export function* readCaptureSync(bytes: Uint8Array): Generator<CaptureFrame, void, undefined> {
  const parser = parserFor(bytes.subarray(0, 4), bytes.length);
  let pos = 0;
  for (;;) {
    const n = parser.need();
    if (bytes.length - pos < n) {
      const err = parser.end(bytes.length - pos, pos);
      if (err) throw err;
      return;
    }
    const frame = parser.step(bytes.subarray(pos, pos + n), pos);
    pos += n;
    if (frame) yield frame;
  }
}

/** Reads every frame of a capture from bytes or a stream of chunks, in constant memory. */
export async function* readCapture(source: CaptureSource): AsyncGenerator<CaptureFrame, void, undefined> {
  if (source instanceof Uint8Array) {
    yield* readCaptureSync(source);
    return;
  }
  const chunks = chunksOf(source)[Symbol.asyncIterator]();
  let buf: Uint8Array = new Uint8Array(0);
  let pos = 0;
  let base = 0; // file offset of buf[0]
  let done = false;
  /** Makes at least n bytes available from pos (fewer at the end of input); returns how many. */
  const fill = async (n: number): Promise<number> => {
    if (buf.length - pos >= n || done) return buf.length - pos;
    const parts: Uint8Array[] = [buf.subarray(pos)];
    let have = buf.length - pos;
    while (have < n) {
      const r = await chunks.next();
      if (r.done) {
        done = true;
        break;
      }
      if (!(r.value instanceof Uint8Array)) throw new TypeError('capture source chunks must be Uint8Arrays');
      parts.push(r.value);
      have += r.value.length;
    }
    base += pos;
    buf = parts.length === 2 && parts[0]!.length === 0 ? parts[1]! : concat(parts, have);
    pos = 0;
    return have;
  };
  const have4 = await fill(4);
  const parser = parserFor(buf.subarray(0, 4), have4);
  for (;;) {
    const n = parser.need();
    // Await only when the buffer runs short: most records are already in the current chunk.
    const have = buf.length - pos >= n ? n : await fill(n);
    if (have < n) {
      const err = parser.end(have, base + pos);
      if (err) throw err;
      return;
    }
    const frame = parser.step(buf.subarray(pos, pos + n), base + pos);
    pos += n;
    if (frame) yield frame;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function* chunksOf(source: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (Symbol.asyncIterator in source) {
    yield* source as AsyncIterable<Uint8Array>;
    return;
  }
  const reader = (source as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    reader.releaseLock();
  }
}
