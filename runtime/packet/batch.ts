/**
 * Batch test runs: one call runs a packet program over many frames, each as BPF_PROG_TEST_RUN
 * runs it (testrun.ts), with the same return value, output frame, effects and map updates.
 *
 * The fast path (XDP and skb programs of compiled modules): the frames and their lengths are
 * copied into linear memory a chunk at a time (one copy per chunk for packed frames) and the
 * loop module (batch-loop.ts, built by the runtime: it imports the instance's memory and the
 * program's exported entry) runs them inside Wasm, each in the test run's buffer with the test
 * run's context, and leaves the return values and output frames in memory, read back per chunk.
 * No JS runs per frame, except the helpers the program itself calls. The packet helpers find the
 * run (state.ts) as in a test run: one run is open for the whole batch, and its per-frame parts
 * (skb headers, the room the data may grow into, what the program asked of the outside world,
 * the socket references the lookups took) follow the frame the loop is on. A frame's socket
 * state is made by the first socket helper it calls and checked when the next frame's first
 * socket helper runs or the loop returns: a frame that ended holding a reference gets the error
 * `test()` throws for it (its return value and output dropped, as `test()` gives none), and only
 * that frame. Modules that call helpers by number (callx) take the loop too; any helper may be
 * called, so the loop zeroes the XDP headroom before every frame.
 *
 * Per-frame path (the same results, one test run per frame): the interpreter; within a fast
 * batch, frames longer than the test run's linear room (XDP fragments past 3520 bytes, skbs
 * refused past 3712) and frames shorter than an Ethernet header, refused per frame as the
 * kernel's test run refuses them, never run.
 */
import { Bpf2WasmError, BpfRuntimeError, ErrorCode } from '../errors.js';
import type { Manifest } from '../abi.js';
import { CONTEXT_AREA, ETH_HLEN, PAGE_SIZE, SHINFO_SIZE, SKB_HEADROOM, SKB_MAX_DATA, SKB_ROOM_AFTER, SKB_ROOM_BEFORE, SkbPrivate, XDP_PACKET_HEADROOM } from './layout.js';
import { unreleasedIn, withRun, type PacketEffects, type PacketRun, type RunSockets, type SkbRun, type XdpRun } from './state.js';
import { contextKind, shortIpHeader, testRunPacket, type PacketEngine, type PacketProgram, type PacketTestResult, type SkbDataMode } from './testrun.js';
import {
  CLASSIC_MAX_LEN, LOOP_COPY_OUT, LOOP_FROM_MAC, LOOP_MAX_FRAMES, LOOP_MAX_LEN, LOOP_ZERO_HEADROOM, OLENS, ORIG_LENS,
  W_MAC, W_END, W_NET, W_OFF, W_PROGRESS, classicLoopModule, type BatchLoop,
} from './batch-loop.js';

/** A program's raw exported entry, for a Wasm loop to call, and how its faults become typed errors. */
export interface RawEntry {
  /** The exported Wasm function `(r1: i32, r2: i32) -> i32`. */
  fn: WebAssembly.ExportValue;
  /** The batch loop inside the program's module (compiler/batch-export.ts), when the compiler added one. */
  batch?: WebAssembly.ExportValue;
  /** What a throw out of it becomes (the typed error `test()` would have thrown). */
  fault(e: unknown): Error;
}

/** An engine that can hand its raw entries to a batch loop (the compiled engine). */
export interface BatchEngine extends PacketEngine {
  /** The raw entry of `program`, or undefined when the engine has none (the interpreter). */
  rawEntry?(program: string): RawEntry | undefined;
  readonly manifest?: Manifest;
}

/**
 * Frames packed back to back in one buffer: frame i is `lengths[i]` bytes, right after frame
 * i - 1. Copying them into linear memory is one copy per chunk (the fastest form).
 */
export interface PackedFrames {
  data: Uint8Array;
  lengths: Uint32Array;
}

/** Frames to run: an array of frames, or frames packed in one buffer. */
export type BatchFrames = readonly Uint8Array[] | PackedFrames;

/** Frames as the batch reads them; frame i starts at byte offset `at` (the lengths before it added up). */
interface FrameSource {
  count: number;
  length(i: number): number;
  frame(i: number, at: number): Uint8Array;
  /**
   * Copies frames from `first` (at byte offset `at`) back to back into `u8` at `inAt` and their
   * lengths into `u32` at `lensAt`, at most `maxFrames` frames and `maxBytes` bytes (at least
   * frame `first`, which the loop takes); returns the frames whose lengths were copied and the
   * bytes copied (the last frame's bytes may be cut: the loop stops before it).
   */
  stage(u8: Uint8Array, u32: Uint32Array, lensAt: number, inAt: number, first: number, at: number, maxFrames: number, maxBytes: number): { frames: number; bytes: number };
}

function sourceOf(frames: BatchFrames, program: string): FrameSource {
  const bad = (detail: string): BpfRuntimeError => new BpfRuntimeError(ErrorCode.BadArgument, `testBatch(): ${detail}`, { program });
  if (Array.isArray(frames)) {
    const list = frames as readonly Uint8Array[];
    for (let i = 0; i < list.length; i++) if (!(list[i] instanceof Uint8Array)) throw bad(`frame ${i} is not a Uint8Array`);
    return {
      count: list.length,
      length: (i) => list[i]!.length,
      frame: (i) => list[i]!,
      stage(u8, u32, lensAt, inAt, first, _at, maxFrames, maxBytes) {
        let k = first;
        let bytes = 0;
        const end = Math.min(list.length, first + maxFrames);
        for (; k < end; k++) {
          const f = list[k]!;
          if (bytes + f.length > maxBytes) break;
          u8.set(f, inAt + bytes);
          u32[(lensAt >> 2) + k - first] = f.length;
          bytes += f.length;
        }
        return { frames: k - first, bytes };
      },
    };
  }
  const packed = frames as PackedFrames;
  if (!packed || !(packed.data instanceof Uint8Array) || !(packed.lengths instanceof Uint32Array)) {
    throw bad('frames must be an array of Uint8Arrays or { data: Uint8Array, lengths: Uint32Array }');
  }
  const { data, lengths } = packed;
  // Four running sums instead of one: this loop is per frame, and shorter dependency chains run faster.
  const count = lengths.length;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let k = 0;
  for (; k + 4 <= count; k += 4) {
    s0 += lengths[k]!;
    s1 += lengths[k + 1]!;
    s2 += lengths[k + 2]!;
    s3 += lengths[k + 3]!;
  }
  for (; k < count; k++) s0 += lengths[k]!;
  const total = s0 + s1 + s2 + s3;
  if (total > data.length) throw bad(`the lengths add up to ${total} bytes, the data has ${data.length}`);
  return {
    count,
    length: (i) => lengths[i]!,
    frame: (i, at) => data.subarray(at, at + lengths[i]!),
    stage(u8, u32, lensAt, inAt, first, at, maxFrames, maxBytes) {
      const frames = Math.min(lengths.length - first, maxFrames);
      u32.set(lengths.subarray(first, first + frames), lensAt >> 2);
      const bytes = Math.min(total - at, maxBytes);
      u8.set(data.subarray(at, at + bytes), inAt);
      return { frames, bytes };
    },
  };
}

/** Options of a batch run. */
export interface BatchTestOptions {
  /** Socket filters: where offset 0 is (as `test()`). */
  skbData?: SkbDataMode;
  /** Keep the output frames (default true); false keeps the return values only. */
  dataOut?: boolean;
  /** Take the per-frame path even where the fast path applies (differential tests). */
  perFrame?: boolean;
}

/** The outcome of a batch run. */
export interface BatchTestResult {
  /** Each frame's return value (u32, as `test()`'s retval); 0 for a refused or faulted frame. */
  readonly retvals: Uint32Array;
  /** The typed error of each frame that was refused (a runt) or faulted, by frame index. */
  readonly errors: ReadonlyMap<number, Bpf2WasmError>;
  /** Frame `i` as the program left it (a fresh copy; undefined with `dataOut: false` or for an errored frame). */
  dataOut(i: number): Uint8Array | undefined;
  /**
   * What the program asked of the outside world on frame `i` (redirect, hash, ECN mark, tunnel
   * key, checksum level: the fields `test()` adds to its result); an empty object when nothing.
   */
  effects(i: number): PacketEffects;
  /** Nanoseconds per frame, wall clock over the whole batch (copying in and out included). */
  readonly durationNs: number;
  /** Whether the loop ran inside Wasm (see the module comment for which programs do). */
  readonly fastPath: boolean;
}

/** Whether `program` of this engine runs its batches inside Wasm. */
export function batchFastPath(engine: BatchEngine, program: PacketProgram): boolean {
  return contextKind(program.type) !== undefined && engine.rawEntry !== undefined && engine.manifest !== undefined;
}

/** Input bytes per chunk of the fast path (frames are copied in a chunk at a time). */
const CHUNK_IN = 1 << 20;
/** Output bytes per chunk; the loop stops early when the next frame might not fit. */
const CHUNK_OUT = 1 << 20;
/** The most an output frame can be: XDP the test run's page; skb the room around the data, and a pushed-back Ethernet header. */
const MAX_OUT_FRAME = { xdp: PAGE_SIZE - SHINFO_SIZE, skb: ETH_HLEN + SKB_ROOM_BEFORE + SKB_HEADROOM + SKB_MAX_DATA + SKB_ROOM_AFTER } as const;
/** Bytes from the data address to the end of the test run's buffer (the batch area follows). */
const RUN_AREA = { xdp: CONTEXT_AREA + PAGE_SIZE, skb: CONTEXT_AREA + SKB_ROOM_BEFORE + SKB_HEADROOM + SKB_MAX_DATA + SKB_ROOM_AFTER } as const;

const NO_I32 = new Int32Array(0);
const NO_U32 = new Uint32Array(0);

/** Where a batch's results go. */
class Results {
  readonly retvals: Uint32Array;
  readonly errors = new Map<number, Bpf2WasmError>();
  readonly effects = new Map<number, PacketEffects>();
  /** Output frames: frame i is outBufs[outBuf[i]].subarray(outOff[i], outOff[i] + outLen[i]); outBuf -1: none. */
  readonly outBufs: Uint8Array[] = [];
  readonly outBuf: Int32Array;
  readonly outOff: Uint32Array;
  readonly outLen: Uint32Array;

  constructor(n: number, readonly keep: boolean) {
    this.retvals = new Uint32Array(n);
    this.outBuf = keep ? new Int32Array(n).fill(-1) : NO_I32;
    this.outOff = keep ? new Uint32Array(n) : NO_U32;
    this.outLen = keep ? new Uint32Array(n) : NO_U32;
  }

  /** Frame `i`'s effects, made on first use (the packet helpers record into it). */
  effectsOf(i: number): PacketEffects {
    let e = this.effects.get(i);
    if (!e) this.effects.set(i, (e = {}));
    return e;
  }

  /** Frame `i` has no result but `err` (a fault, or references left held): what it had recorded goes. */
  failed(i: number, err: Bpf2WasmError): void {
    this.errors.set(i, err);
    this.retvals[i] = 0;
    this.effects.delete(i);
    if (this.keep) this.outBuf[i] = -1;
  }

  /** Frame `i` ran alone (testRunPacket): its result. */
  single(i: number, r: PacketTestResult): void {
    const { retval, dataOut, r0: _r0, ctxOut: _ctxOut, durationNs: _ns, ...effects } = r;
    this.retvals[i] = retval;
    if (Object.keys(effects).length > 0) this.effects.set(i, effects);
    if (this.keep) {
      this.outBuf[i] = this.outBufs.push(dataOut) - 1;
      this.outLen[i] = dataOut.length;
    }
  }

  dataOut(i: number): Uint8Array | undefined {
    if (!this.keep || this.outBuf[i]! < 0) return undefined;
    const off = this.outOff[i]!;
    return this.outBufs[this.outBuf[i]!]!.slice(off, off + this.outLen[i]!);
  }
}

/**
 * Runs `program` over every frame as `testRunPacket` would, frame after frame (maps see the
 * frames in order), inside Wasm where the program allows it.
 */
export function testBatchPacket(
  engine: BatchEngine, program: PacketProgram, input: BatchFrames, opts: BatchTestOptions = {},
): BatchTestResult {
  const kind = contextKind(program.type);
  if (!kind) {
    throw new BpfRuntimeError(ErrorCode.TestRun, `ENOTSUPP: programs of type ${program.type} have no packet test run`, { program: program.name });
  }
  const frames = sourceOf(input, program.name);
  const n = frames.count;
  const res = new Results(n, opts.dataOut ?? true);
  const t0 = performance.now();
  const fast = opts.perFrame ? undefined : prepared(engine, program);
  const skbData = opts.skbData;
  const one = (i: number, at: number): void => {
    try {
      res.single(i, testRunPacket(engine, program, { dataIn: frames.frame(i, at), time: false, skbData }));
    } catch (e) {
      if (!(e instanceof Bpf2WasmError)) throw e;
      res.errors.set(i, e);
    }
  };
  if (!fast) {
    for (let i = 0, at = 0; i < n; at += frames.length(i++)) one(i, at);
  } else {
    const fromMac = program.type === 'tc' || program.type === 'tc_action' || (program.type === 'socket' && skbData === 'mac');
    const flags = (res.keep ? LOOP_COPY_OUT : 0) | (kind === 'xdp' && fast.headroom ? LOOP_ZERO_HEADROOM : 0) | (kind === 'skb' && fromMac ? LOOP_FROM_MAC : 0);
    fastBatch(fast, flags, frames, res, one);
  }
  const durationNs = n === 0 ? 0 : ((performance.now() - t0) * 1e6) / n;
  return {
    retvals: res.retvals, errors: res.errors, durationNs, fastPath: fast !== undefined,
    dataOut: (i) => res.dataOut(i),
    effects: (i) => ({ ...res.effects.get(i) }),
  };
}

/** The loop instance of each program entry (built once). */
const loops = new WeakMap<WebAssembly.ExportValue, BatchLoop>();

/** The runtime's loop module instantiated over `entry` (a classic filter's). */
function classicLoopOf(engine: BatchEngine, entry: RawEntry): BatchLoop {
  let loop = loops.get(entry.fn);
  if (!loop) {
    const inst = new WebAssembly.Instance(classicLoopModule(), { env: { memory: engine.memory }, p: { f: entry.fn } });
    loop = inst.exports.batch as BatchLoop;
    loops.set(entry.fn, loop);
  }
  return loop;
}

/** Views of a memory's current buffer, made again only when it grew. */
function words(memory: WebAssembly.Memory, cache: { buf?: ArrayBuffer; u8?: Uint8Array; u32?: Uint32Array }): { u8: Uint8Array; u32: Uint32Array } {
  if (cache.buf !== memory.buffer) {
    cache.buf = memory.buffer;
    cache.u8 = new Uint8Array(cache.buf);
    cache.u32 = new Uint32Array(cache.buf);
  }
  return { u8: cache.u8!, u32: cache.u32! };
}

/**
 * What the fast path needs of one engine and program, made on its first batch and kept (per
 * call it would cost more than the loop over a few thousand frames): the loop, the batch area,
 * and the run state the packet helpers consult. That state is one for every batch, its per-frame
 * parts in the loop's words (skb headers, the room's end) and in the current batch's results
 * (effects, by frame).
 */
interface Prepared {
  engine: BatchEngine;
  kind: 'xdp' | 'skb';
  entry: RawEntry;
  loop: BatchLoop;
  /** XDP: a helper can reach the headroom (bpf_xdp_adjust_head/_meta), so the loop zeroes it per frame. */
  headroom: boolean;
  memory: WebAssembly.Memory;
  base: number;
  cache: { buf?: ArrayBuffer; u8?: Uint8Array; u32?: Uint32Array };
  run: PacketRun;
  /** The batch in progress: its results, and the frame its current loop call started at. */
  res: Results | undefined;
  first: number;
  /**
   * Ends the socket state of the frame that made it (see the module comment): references left
   * held fail that frame (in `leaks`), unless it is `faulted` (its fault is its error, as in
   * `test()`) or `faulted` is true (the batch is abandoned).
   */
  endSockets(faulted?: number | true): void;
  /** Frames that ended holding socket references, with their errors, for the caller to apply after it read the loop's results. */
  leaks: [number, Bpf2WasmError][];
}

const preparedOf = new WeakMap<BatchEngine, Map<string, Prepared | null>>();

/** The fast path's state for `program` of `engine`, or undefined when its batches go frame by frame. */
function prepared(engine: BatchEngine, program: PacketProgram): Prepared | undefined {
  let byName = preparedOf.get(engine);
  if (!byName) preparedOf.set(engine, (byName = new Map()));
  let p = byName.get(program.name);
  if (p === undefined) {
    const kind = contextKind(program.type);
    const entry = kind && batchFastPath(engine, program) ? engine.rawEntry!(program.name) : undefined;
    // The loop is in the module (compiler/batch-export.ts); a module compiled before it (no
    // `__batch2` export) runs its batches frame by frame.
    p = kind && entry?.batch ? prepare(engine, kind, entry, entry.batch as BatchLoop, program.name) : null;
    byName.set(program.name, p);
  }
  return p ?? undefined;
}

function prepare(engine: BatchEngine, kind: 'xdp' | 'skb', entry: RawEntry, loop: BatchLoop, program: string): Prepared {
  const memory = engine.memory;
  const base = engine.dataAddress;
  const cache = {};
  const w = (at: number): number => words(memory, cache).u32[(base + at) >> 2]!;
  const setW = (at: number, v: number): void => { words(memory, cache).u32[(base + at) >> 2] = v; };
  const frameNow = (): number => p.first + w(W_PROGRESS);
  const effectsNow = (): PacketEffects => p.res!.effectsOf(frameNow());
  // The socket state of frame `sockFrame` (sockets.ts makes it on the frame's first socket helper).
  let sockState: RunSockets | undefined;
  let sockFrame = -1;
  const endSockets = (faulted?: number | true): void => {
    const st = sockState;
    sockState = undefined;
    const leak = st && faulted !== true && sockFrame !== faulted ? unreleasedIn(st, program) : undefined;
    if (leak) p.leaks.push([sockFrame, leak]);
  };
  const sockets = {
    get(): RunSockets | undefined {
      if (sockState && sockFrame !== frameNow()) endSockets();
      return sockState;
    },
    set(s: RunSockets | undefined): void {
      sockState = s;
      sockFrame = frameNow();
    },
  };
  let run: PacketRun;
  if (kind === 'xdp') {
    const hardStart = base + CONTEXT_AREA;
    const xdp: XdpRun = {
      kind: 'xdp', ctx: base, hardStart, hardEnd: hardStart + PAGE_SIZE - SHINFO_SIZE, frags: [],
      get effects() { return effectsNow(); },
      get sockets() { return sockets.get(); }, set sockets(s) { sockets.set(s); },
    };
    run = xdp;
  } else {
    const skb: SkbRun = {
      kind: 'skb', ctx: base, head: base + CONTEXT_AREA, l2: false,
      get mac() { return w(W_MAC); }, set mac(v) { setW(W_MAC, v); },
      get network() { return w(W_NET); }, set network(v) { setW(W_NET, v); },
      get end() { return w(W_END); }, set end(v) { setW(W_END, v); },
      get effects() { return effectsNow(); },
      get sockets() { return sockets.get(); }, set sockets(s) { sockets.set(s); },
    };
    run = skb;
  }
  const m = engine.manifest!;
  const p: Prepared = {
    engine, kind, entry, memory, base, cache, run, res: undefined, first: 0, endSockets, leaks: [],
    loop,
    // A callx module may call any helper.
    headroom: m.usesCallx || m.helpers.some((h) => h.name === 'bpf_xdp_adjust_head' || h.name === 'bpf_xdp_adjust_meta'),
  };
  return p;
}

/** The fast path: chunks of frames copied in, the loop inside Wasm, results read back per chunk. */
function fastBatch(p: Prepared, flags: number, frames: FrameSource, res: Results, one: (i: number, at: number) => void): void {
  const { kind, entry, loop, memory, base, cache, run } = p;
  // The batch area after the test run's buffer: lengths, results, frames in, frames out.
  const lensAt = base + RUN_AREA[kind];
  const resAt = lensAt + 4 * LOOP_MAX_FRAMES;
  const inAt = resAt + 2 * 4 * LOOP_MAX_FRAMES;
  const outAt = inAt + CHUNK_IN;
  p.engine.ensureData(outAt + CHUNK_OUT - base);
  const outLimit = outAt + CHUNK_OUT - MAX_OUT_FRAME[kind];
  const w = (at: number): number => words(memory, cache).u32[(base + at) >> 2]!;
  p.res = res;
  if (run.kind === 'skb') run.l2 = (flags & LOOP_FROM_MAC) !== 0;
  // The headroom as the test run leaves it (the loop re-zeroes it per frame only when a helper can reach it).
  if (kind === 'xdp') words(memory, cache).u8.fill(0, base + CONTEXT_AREA, base + CONTEXT_AREA + XDP_PACKET_HEADROOM);
  const maxLen = LOOP_MAX_LEN[kind];
  const n = frames.count;
  let i = 0;
  let at = 0;
  // Frames [stFrom, stTo) have their lengths at lensAt; bytes [stAt, stAt + stBytes) of the input are at inAt.
  let stFrom = 0, stTo = 0, stAt = 0, stBytes = 0;
  const collect = (from: number, count: number): void => {
    const { u8, u32 } = words(memory, cache);
    res.retvals.set(u32.subarray(resAt >> 2, (resAt >> 2) + count), from);
    if (!res.keep || count === 0) return;
    const o = (resAt + OLENS) >> 2;
    let total = 0;
    for (let k = 0; k < count; k++) {
      res.outOff[from + k] = total;
      res.outLen[from + k] = u32[o + k]!;
      total += u32[o + k]!;
    }
    const b = res.outBufs.push(u8.slice(outAt, outAt + total)) - 1;
    res.outBuf.fill(b, from, from + count);
  };
  const failLeaks = (): void => {
    for (const [f, err] of p.leaks) res.failed(f, err);
    p.leaks.length = 0;
  };
  try {
    while (i < n) {
      const len = frames.length(i);
      if (len < ETH_HLEN || len > maxLen || (kind === 'skb' && shortIpHeader(frames.frame(i, at)) !== undefined)) {
        // Runts and (skb) IP frames shorter than their header are refused, longer frames take
        // fragments or are refused: alone, in order (the loop stops before them).
        one(i, at);
        at += len;
        i++;
        continue;
      }
      if (i >= stTo || at + len > stAt + stBytes) {
        const { u8, u32 } = words(memory, cache);
        const st = frames.stage(u8, u32, lensAt, inAt, i, at, LOOP_MAX_FRAMES, CHUNK_IN);
        stFrom = i; stTo = i + st.frames; stAt = at; stBytes = st.bytes;
      }
      p.first = i;
      let ran: number;
      try {
        ran = withRun(memory, run, () => loop(base, lensAt + 4 * (i - stFrom), stTo - i, inAt + (at - stAt), inAt + stBytes, resAt, outAt, outLimit, flags));
      } catch (x) {
        const err = entry.fault(x);
        if (!(err instanceof Bpf2WasmError)) throw err;
        // The frames before the fault ran: collect them, record the fault, go on after it.
        const k = w(W_PROGRESS);
        collect(i, k);
        p.endSockets(i + k);
        failLeaks();
        res.failed(i + k, err);
        at = w(W_OFF) - inAt + stAt + frames.length(i + k);
        i += k + 1;
        continue;
      }
      collect(i, ran);
      p.endSockets();
      failLeaks();
      at = w(W_OFF) - inAt + stAt;
      i += ran;
    }
  } finally {
    p.endSockets(true);
    p.leaks.length = 0;
    p.res = undefined;
    // The skb's header words are the run's only while it runs (as the per-frame test run's).
    if (kind === 'skb') words(memory, cache).u8.fill(0, base + SkbPrivate.mac, base + SkbPrivate.END);
  }
}

/** A frame for a classic filter: the captured bytes and the frame's original length. */
export interface ClassicFrame {
  readonly data: Uint8Array;
  readonly originalLength: number;
}

/**
 * Runs a classic filter (a `raw` program with runtime/capture/classic.ts's calling convention)
 * over `frames` and returns each frame's u32 return value: inside Wasm where the engine allows
 * it (the loop puts each frame and its original length at the data address, as `single` does),
 * else `single` per frame. A fault throws the typed error `single` would have thrown.
 */
export function classicBatch(engine: BatchEngine, program: string, frames: readonly ClassicFrame[], single: (f: ClassicFrame) => number): Uint32Array {
  const n = frames.length;
  const out = new Uint32Array(n);
  const entry = engine.manifest && !engine.manifest.usesCallx ? engine.rawEntry?.(program) : undefined;
  if (!entry) {
    for (let i = 0; i < n; i++) out[i] = single(frames[i]!);
    return out;
  }
  const loop = classicLoopOf(engine, entry);
  const memory = engine.memory;
  const base = engine.dataAddress;
  const cache = {};
  // After the largest frame and its length: lengths, original lengths, results, frames in.
  const lensAt = base + CLASSIC_MAX_LEN + 8;
  const resAt = lensAt + 2 * 4 * LOOP_MAX_FRAMES;
  const inAt = resAt + 4 * LOOP_MAX_FRAMES;
  engine.ensureData(inAt + CHUNK_IN - base);
  let i = 0;
  while (i < n) {
    if (frames[i]!.data.length > CLASSIC_MAX_LEN) {
      out[i] = single(frames[i++]!);
      continue;
    }
    const { u8, u32 } = words(memory, cache);
    let k = i;
    let bytes = 0;
    for (; k < n && k - i < LOOP_MAX_FRAMES; k++) {
      const f = frames[k]!;
      if (f.data.length > CLASSIC_MAX_LEN || bytes + f.data.length > CHUNK_IN) break;
      u8.set(f.data, inAt + bytes);
      u32[((lensAt + ORIG_LENS) >> 2) + k - i] = f.originalLength >>> 0;
      u32[(lensAt >> 2) + k - i] = f.data.length;
      bytes += f.data.length;
    }
    let ran: number;
    try {
      ran = loop(base, lensAt, k - i, inAt, inAt + bytes, resAt, 0, 0, 0);
    } catch (x) {
      throw entry.fault(x);
    }
    out.set(words(memory, cache).u32.subarray(resAt >> 2, (resAt >> 2) + ran), i);
    i += ran;
  }
  return out;
}
