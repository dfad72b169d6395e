/**
 * Batch test runs: one call runs a packet program over many frames, each as BPF_PROG_TEST_RUN
 * runs it (testrun.ts), with the same return value, output frame and map updates.
 *
 * The fast path (XDP programs of compiled modules): the frames are copied into linear memory in
 * chunks, and a small Wasm module built here (it imports the instance's memory and the program's
 * exported entry) loops over them inside Wasm: for each frame it zeroes the context and the
 * headroom, copies the frame to the test run's page at the same place testrun.ts puts it (256
 * bytes of headroom, no metadata, the loopback device), fills `struct xdp_md`, calls the program,
 * and copies [data_meta, data_end) out with the return value. No JS runs per frame, except the
 * helpers the program itself calls. The packet helpers find the run (state.ts) as in a test run:
 * one run is open for the whole chunk, and its page is the same for every frame.
 *
 * Per-frame path (the same results, one test run per frame): tc, socket filter and other skb
 * programs; the interpreter; modules that call a helper recording what the program asks of the
 * outside world (redirects, hash, ECN, tunnel keys, checksum level: reported per run by `test()`)
 * or helpers by number (callx); and, within a fast batch, frames that need fragments (longer than
 * 3520 bytes). Frames shorter than an Ethernet header are refused per frame (as the kernel's test
 * run refuses them) on both paths and never run.
 */
import { Bpf2WasmError, BpfRuntimeError, ErrorCode } from '../errors.js';
import type { Manifest } from '../abi.js';
import { CONTEXT_AREA, ETH_HLEN, LOOPBACK, PAGE_SIZE, SHINFO_SIZE, XDP_MAX_LINEAR, XDP_PACKET_HEADROOM, XdpMd } from './layout.js';
import { withRun, type XdpRun } from './state.js';
import { contextKind, testRunPacket, type PacketEngine, type PacketProgram, type SkbDataMode } from './testrun.js';

/** A program's raw exported entry, for a Wasm loop to call, and how its faults become typed errors. */
export interface RawEntry {
  /** The exported Wasm function `(r1: i32, r2: i32) -> i32`. */
  fn: WebAssembly.ExportValue;
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

/** Frames as the batch reads them. */
interface FrameSource {
  count: number;
  length(i: number): number;
  frame(i: number): Uint8Array;
  /** Copies frames [from, to) back to back into `u8` at `at`. */
  copy(u8: Uint8Array, at: number, from: number, to: number): void;
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
      copy(u8, at, from, to) {
        for (let k = from; k < to; k++) {
          const f = list[k]!;
          u8.set(f, at);
          at += f.length;
        }
      },
    };
  }
  const packed = frames as PackedFrames;
  if (!packed || !(packed.data instanceof Uint8Array) || !(packed.lengths instanceof Uint32Array)) {
    throw bad('frames must be an array of Uint8Arrays or { data: Uint8Array, lengths: Uint32Array }');
  }
  const { data, lengths } = packed;
  const offsets = new Float64Array(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) offsets[i + 1] = offsets[i]! + lengths[i]!;
  if (offsets[lengths.length]! > data.length) throw bad(`the lengths add up to ${offsets[lengths.length]} bytes, the data has ${data.length}`);
  return {
    count: lengths.length,
    length: (i) => lengths[i]!,
    frame: (i) => data.subarray(offsets[i]!, offsets[i + 1]!),
    copy(u8, at, from, to) {
      u8.set(data.subarray(offsets[from]!, offsets[to]!), at);
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
  /** Nanoseconds per frame, wall clock over the whole batch (copying in and out included). */
  readonly durationNs: number;
  /** Whether the loop ran inside Wasm (see the module comment for which programs do). */
  readonly fastPath: boolean;
}

/** Helpers that record a run's effects (state.ts PacketEffects), which `test()` reports per run. */
const EFFECT_HELPERS: ReadonlySet<string> = new Set([
  'bpf_redirect', 'bpf_redirect_map', 'bpf_redirect_neigh', 'bpf_redirect_peer', 'bpf_set_hash', 'bpf_get_hash_recalc',
  'bpf_set_hash_invalid', 'bpf_skb_ecn_set_ce', 'bpf_skb_set_tunnel_key', 'bpf_csum_level',
  // Socket references are tracked per run (runtime/packet/sockets.ts).
  'bpf_sk_lookup_tcp', 'bpf_sk_lookup_udp', 'bpf_skc_lookup_tcp',
]);

/** Whether `program` of this engine runs its batches inside Wasm. */
export function batchFastPath(engine: BatchEngine, program: PacketProgram): boolean {
  if (contextKind(program.type) !== 'xdp' || !engine.rawEntry || !engine.manifest) return false;
  const m = engine.manifest;
  if (m.usesCallx) return false;
  return !m.helpers.some((h) => EFFECT_HELPERS.has(h.name));
}

/** Input bytes per chunk of the fast path (frames are copied in a chunk at a time). */
const CHUNK_IN = 1 << 20;
/** Output bytes per chunk; the loop stops early when the next frame might not fit. */
const CHUNK_OUT = 1 << 20;
/** The most a frame can grow to in the test run's page (bpf_xdp_adjust_head/_tail). */
const MAX_OUT_FRAME = PAGE_SIZE - SHINFO_SIZE;

/**
 * Runs `program` over every frame as `testRunPacket` would, frame after frame (maps see the
 * frames in order), inside Wasm where the program allows it.
 */
export function testBatchPacket(
  engine: BatchEngine, program: PacketProgram, input: BatchFrames, opts: BatchTestOptions = {},
): BatchTestResult {
  if (!contextKind(program.type)) {
    throw new BpfRuntimeError(ErrorCode.TestRun, `ENOTSUPP: programs of type ${program.type} have no packet test run`, { program: program.name });
  }
  const frames = sourceOf(input, program.name);
  const keep = opts.dataOut ?? true;
  const n = frames.count;
  const retvals = new Uint32Array(n);
  const errors = new Map<number, Bpf2WasmError>();
  const outs: (Uint8Array | undefined)[] = keep ? new Array<Uint8Array | undefined>(n) : [];
  const t0 = performance.now();
  const entry = !opts.perFrame && batchFastPath(engine, program) ? engine.rawEntry!(program.name) : undefined;
  const one = (i: number): void => {
    try {
      const r = testRunPacket(engine, program, { dataIn: frames.frame(i), time: false, ...(opts.skbData ? { skbData: opts.skbData } : {}) });
      retvals[i] = r.retval;
      if (keep) outs[i] = r.dataOut;
    } catch (e) {
      if (!(e instanceof Bpf2WasmError)) throw e;
      errors.set(i, e);
    }
  };
  if (!entry) {
    for (let i = 0; i < n; i++) one(i);
  } else {
    new FastBatch(engine, program.name, entry, zeroHeadroom(engine)).run(frames, retvals, errors, keep ? outs : undefined, one);
  }
  const durationNs = n === 0 ? 0 : ((performance.now() - t0) * 1e6) / n;
  return {
    retvals, errors, durationNs, fastPath: entry !== undefined,
    dataOut: (i) => (keep ? outs[i]?.slice() : undefined),
  };
}

/** The loop module of each memory's programs, by entry function (built once). */
const loops = new WeakMap<WebAssembly.ExportValue, BatchLoop>();

/** `batch(base, desc, n, res, out, outLimit, flags) -> frames done`: see LOOP_WASM. */
type BatchLoop = (base: number, desc: number, n: number, res: number, out: number, outLimit: number, flags: number) => number;
/** Loop flag: copy each output frame out. */
const LOOP_COPY_OUT = 1;
/** Loop flag: zero the headroom before each frame. */
const LOOP_ZERO_HEADROOM = 2;

/**
 * Whether the headroom must be zeroed before every frame, as the test run does. A program reaches
 * the headroom only after moving data or data_meta below where the frame starts, which only
 * bpf_xdp_adjust_head and bpf_xdp_adjust_meta do; otherwise it stays as zeroed before the first frame.
 */
function zeroHeadroom(engine: BatchEngine): boolean {
  return engine.manifest!.helpers.some((h) => h.name === 'bpf_xdp_adjust_head' || h.name === 'bpf_xdp_adjust_meta');
}

/** The fast path over one engine and program. */
class FastBatch {
  private readonly loop: BatchLoop;

  constructor(private readonly engine: BatchEngine, private readonly name: string, private readonly entry: RawEntry, private readonly zeroHeadroom: boolean) {
    let loop = loops.get(entry.fn);
    if (!loop) {
      const inst = new WebAssembly.Instance(loopModule(), { env: { memory: engine.memory }, p: { f: entry.fn } });
      loop = inst.exports.batch as BatchLoop;
      loops.set(entry.fn, loop);
    }
    this.loop = loop;
  }

  run(
    frames: FrameSource, retvals: Uint32Array, errors: Map<number, Bpf2WasmError>,
    outs: (Uint8Array | undefined)[] | undefined, one: (i: number) => void,
  ): void {
    const e = this.engine;
    const base = e.dataAddress;
    const hardStart = base + CONTEXT_AREA;
    // Batch area after the test run's page: descriptors, results, frames in, frames out.
    const area = hardStart + PAGE_SIZE;
    const run: XdpRun = { kind: 'xdp', ctx: base, hardStart, hardEnd: hardStart + PAGE_SIZE - SHINFO_SIZE, frags: [], effects: {} };
    // The headroom as the test run leaves it (the loop re-zeroes it per frame only when a helper can reach it).
    e.ensureData(CONTEXT_AREA + PAGE_SIZE);
    new Uint8Array(e.memory.buffer).fill(0, hardStart, hardStart + XDP_PACKET_HEADROOM);
    let i = 0;
    const n = frames.count;
    while (i < n) {
      // Frames the fast path does not take go alone, in order.
      const len0 = frames.length(i);
      if (len0 < ETH_HLEN || len0 > XDP_MAX_LINEAR) {
        one(i++);
        continue;
      }
      // The chunk: consecutive fast frames up to CHUNK_IN bytes.
      let j = i;
      let bytes = 0;
      while (j < n) {
        const len = frames.length(j);
        if (len < ETH_HLEN || len > XDP_MAX_LINEAR || bytes + len > CHUNK_IN) break;
        bytes += len;
        j++;
      }
      const count = j - i;
      const desc = area + 8;
      const res = desc + count * 8;
      const inAt = res + count * 12;
      const outAt = inAt + bytes;
      e.ensureData(outAt + CHUNK_OUT - base);
      const buf = e.memory.buffer;
      const u8 = new Uint8Array(buf);
      const u32 = new Uint32Array(buf);
      frames.copy(u8, inAt, i, j);
      let at = inAt;
      for (let k = 0; k < count; k++) {
        const len = frames.length(i + k);
        u32[(desc >> 2) + 2 * k] = at;
        u32[(desc >> 2) + 2 * k + 1] = len;
        at += len;
      }
      // Runs [done, count) of the chunk; after a fault, the faulting frame is recorded and the loop goes on.
      let done = 0;
      while (done < count) {
        let ran: number;
        try {
          const flags = (outs ? LOOP_COPY_OUT : 0) | (this.zeroHeadroom ? LOOP_ZERO_HEADROOM : 0);
          ran = withRun(e.memory, run, () => this.loop(base, desc + done * 8, count - done, res + done * 12, outAt, outAt + CHUNK_OUT - MAX_OUT_FRAME, flags));
        } catch (x) {
          const k = done + new Uint32Array(e.memory.buffer)[(base + CONTEXT_AREA - 4) >> 2]!;
          const err = this.entry.fault(x);
          if (!(err instanceof Bpf2WasmError)) throw err;
          // The frames before the fault ran: collect them, then record the fault.
          this.collect(done, k, res, retvals, outs, i);
          errors.set(i + k, err);
          done = k + 1;
          continue;
        }
        this.collect(done, done + ran, res, retvals, outs, i);
        done += ran;
      }
      i = j;
    }
  }

  /** Reads results [from, to) of the chunk starting at frame `first`. */
  private collect(from: number, to: number, res: number, retvals: Uint32Array, outs: (Uint8Array | undefined)[] | undefined, first: number): void {
    const buf = this.engine.memory.buffer;
    const u32 = new Uint32Array(buf);
    const u8 = new Uint8Array(buf);
    for (let k = from; k < to; k++) {
      const r = (res >> 2) + 3 * k;
      retvals[first + k] = u32[r]!;
      if (outs) outs[first + k] = u8.slice(u32[r + 1]!, u32[r + 1]! + u32[r + 2]!);
    }
  }
}

let loopMod: WebAssembly.Module | undefined;
function loopModule(): WebAssembly.Module {
  return (loopMod ??= new WebAssembly.Module(LOOP_WASM));
}

// ---- the loop module, encoded by hand (no compiler at run time) ----

const I32 = 0x7f;
const uleb = (v: number): number[] => {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
};
const sleb = (v: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

// Params: 0 base, 1 desc, 2 n, 3 res, 4 out, 5 outLimit, 6 flags. Locals: 7 i, 8 off, 9 len, 10 meta, 11 dm, 12 olen, 13 r.
const [BASE, DESC, N, RES, OUT, LIMIT, FLAGS, I, OFF, LEN, META, DM, OLEN, R] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
const and = 0x71;
const ifThen = (cond: number[], then: number[]): number[] => [...cond, 0x04, 0x40, ...then, 0x0b];
const get = (l: number): number[] => [0x20, l];
const set = (l: number): number[] => [0x21, l];
const c = (v: number): number[] => [0x41, ...sleb(v)];
const add = 0x6a;
const mul = 0x6c;
const sub = 0x6b;
const load = (off: number): number[] => [0x28, 2, ...uleb(off)];
const store = (off: number): number[] => [0x36, 2, ...uleb(off)];
const copy = [0xfc, 0x0a, 0, 0];
const fill = [0xfc, 0x0b, 0];

const body: number[] = [
  // meta = base + CONTEXT_AREA + XDP_PACKET_HEADROOM
  ...get(BASE), ...c(CONTEXT_AREA + XDP_PACKET_HEADROOM), add, ...set(META),
  0x02, 0x40, // block
  0x03, 0x40, // loop
  ...get(I), ...get(N), 0x4f /* i32.ge_u */, 0x0d, 1, // br_if out of the block
  // out may not have room for one more frame: stop, the caller drains and resumes.
  ...get(OUT), ...get(LIMIT), 0x4b /* i32.gt_u */, 0x0d, 1,
  // progress word (the last word of the context area, which no context struct reaches) = i
  ...get(BASE), ...get(I), ...store(CONTEXT_AREA - 4),
  // off, len = desc[i]
  ...get(DESC), ...get(I), ...c(8), mul, add, ...load(0), ...set(OFF),
  ...get(DESC), ...get(I), ...c(8), mul, add, ...load(4), ...set(LEN),
  // zero the context and the headroom, copy the frame in
  ...get(BASE), ...c(0), ...c(XdpMd.SIZE), ...fill,
  ...ifThen([...get(FLAGS), ...c(LOOP_ZERO_HEADROOM), and], [...get(BASE), ...c(CONTEXT_AREA), add, ...c(0), ...c(XDP_PACKET_HEADROOM), ...fill]),
  ...get(META), ...get(OFF), ...get(LEN), ...copy,
  // xdp_md
  ...get(BASE), ...get(META), ...store(XdpMd.data),
  ...get(BASE), ...get(META), ...get(LEN), add, ...store(XdpMd.data_end),
  ...get(BASE), ...get(META), ...store(XdpMd.data_meta),
  ...get(BASE), ...c(LOOPBACK.ifindex), ...store(XdpMd.ingress_ifindex),
  // r = program(base, CONTEXT_AREA + PAGE_SIZE)
  ...get(BASE), ...c(CONTEXT_AREA + PAGE_SIZE), 0x10, 0, ...set(R),
  // dm = data_meta, olen = data_end - dm
  ...get(BASE), ...load(XdpMd.data_meta), ...set(DM),
  ...get(BASE), ...load(XdpMd.data_end), ...get(DM), sub, ...set(OLEN),
  ...ifThen([...get(FLAGS), ...c(LOOP_COPY_OUT), and], [...get(OUT), ...get(DM), ...get(OLEN), ...copy]),
  // res[i] = r, out, olen
  ...get(RES), ...get(I), ...c(12), mul, add, ...set(OFF),
  ...get(OFF), ...get(R), ...store(0),
  ...get(OFF), ...get(OUT), ...store(4),
  ...get(OFF), ...get(OLEN), ...store(8),
  // out += olen when copying out (flags & 1)
  ...get(OUT), ...get(OLEN), ...get(FLAGS), ...c(LOOP_COPY_OUT), and, mul, add, ...set(OUT),
  ...get(I), ...c(1), add, ...set(I),
  0x0c, 0, // br loop
  0x0b, // end loop
  0x0b, // end block
  ...get(I),
  0x0b, // end function
];
const code = [1, 7, I32, ...body]; // one local group: 7 i32
const fnBody = [...uleb(code.length), ...code];

/** The loop module: imports env.memory and p.f (the program), exports `batch`. */
const LOOP_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [2, 0x60, 2, I32, I32, 1, I32, 0x60, 7, I32, I32, I32, I32, I32, I32, I32, 1, I32]),
  ...section(2, [2, ...name('env'), ...name('memory'), 0x02, 0x00, 0x00, ...name('p'), ...name('f'), 0x00, 0x00]),
  ...section(3, [1, 1]),
  ...section(7, [1, ...name('batch'), 0x00, 0x01]),
  ...section(10, [1, ...fnBody]),
]);
