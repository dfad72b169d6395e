/**
 * Running a classic BPF filter (translated by compiler/cbpf) over capture frames, with libpcap's
 * semantics: the program sees the captured bytes, `len` is the frame's original length from its
 * record, a load past the captured bytes rejects the frame, and the return value is the number of
 * bytes to keep (0: drop).
 *
 * Calling convention (the translation relies on it): the input memory holds the captured bytes
 * followed by the original length as a little-endian u32, and the program runs on the captured
 * bytes only (`runInPlace(caplen)`: r1 = their address, r2 = caplen, so the legacy packet loads are
 * bounded by the captured length), reading the original length at r1 + r2. Both engines run it
 * (`instantiate(compile(...))` and `interpret(...)`, both `BpfInstance`s): the entry is a plain `raw` program.
 */
import { engineOf, type BpfInstance } from '../program.js';
import { classicBatch, type ClassicFrame } from '../packet/batch.js';
import { requireEthernet, type CaptureFrame } from './frame.js';

/** Bytes after the captured bytes holding the original length. */
export const CLASSIC_LEN_TRAILER = 4;

/** What a classic filter needs of an engine (both engines have it). */
export type ClassicEngine = Pick<BpfInstance, 'dataView' | 'program'>;

/** The verdict of a filter on one frame. */
export interface ClassicVerdict {
  frame: CaptureFrame;
  /** The filter's return value (u32): the bytes to keep, 0 to drop. */
  retval: number;
}

/** Runs the filter on one frame's bytes and original length; returns its u32 return value. */
export function runClassicOnBytes(engine: ClassicEngine, data: Uint8Array, originalLength: number, program?: string): number {
  const n = data.length;
  const mem = engine.dataView(n + CLASSIC_LEN_TRAILER);
  mem.set(data);
  new DataView(mem.buffer, mem.byteOffset + n, CLASSIC_LEN_TRAILER).setUint32(0, originalLength >>> 0, true);
  return engine.program(program).runInPlace(n);
}

/**
 * Runs the filter on many frames (captured bytes and original lengths) and returns their u32
 * return values, as `runClassicOnBytes` frame after frame: compiled filters loop inside Wasm
 * (runtime/packet/batch.ts, no JS per frame), the interpreter goes frame by frame.
 */
export function runClassicBatch(inst: BpfInstance, frames: readonly ClassicFrame[], program?: string): Uint32Array {
  const name = inst.program(program).name;
  return classicBatch(engineOf(inst), name, frames, (f) => runClassicOnBytes(inst, f.data, f.originalLength, program));
}

/**
 * Runs the filter over frames (any iterable, e.g. readCapture's output) and yields one verdict per
 * frame. A frame that is not Ethernet throws E_LINK_TYPE naming its link type.
 */
export async function* runClassicFilter(
  engine: ClassicEngine,
  frames: AsyncIterable<CaptureFrame> | Iterable<CaptureFrame>,
  program?: string,
): AsyncGenerator<ClassicVerdict, void, undefined> {
  for await (const frame of frames) {
    requireEthernet(frame);
    yield { frame, retval: runClassicOnBytes(engine, frame.data, frame.originalLength, program) };
  }
}
