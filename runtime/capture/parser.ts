/**
 * The seam between the capture readers (reader.ts) and the format parsers (pcap.ts, pcapng.ts): a
 * parser says how many bytes its next step needs, and turns exactly that many bytes into at most one
 * frame. The readers feed it from a buffer or a stream, so no format code ever waits on I/O.
 */
import type { CaptureError, CaptureFrame } from './frame.js';

/** A push parser for one capture format. */
export interface RecordParser {
  /** How many bytes the next step consumes (always > 0, bounded by the format's limits). */
  need(): number;
  /** Consumes exactly need() bytes starting at file offset `offset`; may return a frame. Throws CaptureError. */
  step(bytes: Uint8Array, offset: number): CaptureFrame | undefined;
  /**
   * The input ended with `have` (< need()) bytes left at `offset`: the error to report, or
   * undefined when the file may end here.
   */
  end(have: number, offset: number): CaptureError | undefined;
}

/** A DataView over `bytes` (which may be a subarray). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
