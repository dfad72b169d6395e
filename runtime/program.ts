/**
 * What users run: an instance (`BpfInstance`, from `instantiate` or `interpret`) and its program
 * handles (`BpfProgram`), written once over the engine seam (runtime/engine.ts), so both engines
 * offer exactly the same API.
 *
 * Conventions (one for every call):
 * - Inputs are never modified; outputs are fresh copies.
 * - r0 is an unsigned 64-bit `bigint`, except the u32 `retval` of `test()` (as the kernel
 *   reports it) and the number returned by the fast path `runInPlace`.
 */
import type { Manifest, ProgramEntry } from './abi.js';
import { BpfRuntimeError, ErrorCode } from './errors.js';
import type { BoundEntry, Engine } from './engine.js';
import type { HelperRegistry } from './helpers.js';
import { unknownProgram } from './memory.js';
import type { BpfMap } from './maps/api.js';
import type { ObjectRuntime, TraceSink } from './object.js';
import type { RingBuffer } from './stdlib/ringbuf.js';
import type { PerfEventArray } from './stdlib/perf.js';
import type { ContextKind } from './uapi/index.js';
import { CONTEXT_AREA, SkBuff, XdpMd, writeSkbContext, writeXdpContext, type PacketContextOptions } from './context.js';

/** How `test()` builds what r1 points at: a packet context, or the caller's bytes. */
export type PacketKind = 'xdp' | 'skb' | 'raw';

/** The packet kind of a program from the context struct the compiler recorded in the manifest. */
function packetKind(context: ContextKind): PacketKind {
  return context === 'xdp_md' ? 'xdp' : context === '__sk_buff' ? 'skb' : 'raw';
}

/** Input of `BpfProgram.test`, shaped like libbpf's `bpf_prog_test_run_opts`. */
export interface TestRunOptions {
  /**
   * The packet (packet program types: xdp, socket, tc, ...), or for raw programs the memory r1
   * points at (r2 = its length; r1 = r2 = 0 without it). Copied in once; never modified.
   */
  dataIn?: Uint8Array;
  /**
   * The context struct (`struct xdp_md` / `struct __sk_buff` bytes) whose settable fields the
   * run starts from, as the kernel's `ctx_in`: xdp `ingress_ifindex`, `rx_queue_index`; skb
   * `mark`, `priority`, `ingress_ifindex`/`ifindex`, `cb`. Pointer fields (`data`, `data_end`,
   * `data_meta`) must be zero. Not allowed for raw programs (E_BAD_ARGUMENT).
   */
  ctxIn?: Uint8Array;
  /** Number of runs over the same data (timed together); 0 or absent means 1, as the kernel. */
  repeat?: number;
  /**
   * Where an skb program's packet data starts: `l2` (default: at the Ethernet header, as tc
   * programs see it) or `l3` (at the network header, as the kernel's test run gives socket
   * filters). Only for skb program types.
   */
  skbData?: 'l2' | 'l3';
}

/** Result of `BpfProgram.test`, shaped like `BPF_PROG_TEST_RUN`'s output. */
export interface TestRunResult {
  /** r0's low 32 bits, unsigned (the kernel's `retval`). */
  retval: number;
  /** The full r0, unsigned 64-bit. */
  r0: bigint;
  /** The packet (or raw memory) after the last run: a fresh copy. */
  dataOut: Uint8Array;
  /** The context struct after the last run (packet program types only): a fresh copy. */
  ctxOut?: Uint8Array;
  /** Time per run in nanoseconds: the total over `repeat` runs divided by `repeat`, as the kernel. */
  durationNs: number;
}

/** A program of an instance, as cilium/ebpf's `*Program` or libbpf's `struct bpf_program`. */
export class BpfProgram {
  /** The program's name (its ELF function name, or the entry name given at load). */
  readonly name: string;
  /** Its type from the ELF section (`xdp`, `socket`, `tc`, ...), or `raw`. */
  readonly type: string;
  /** The ELF section it came from, when known. */
  readonly section: string | undefined;
  /** The struct r1 points to (`xdp_md`, `__sk_buff`, ...), as the compiler decided it; `raw` for bytes as given. */
  readonly context: ContextKind;
  readonly #gate: Gate;
  readonly #engine: Engine;
  #entry: BoundEntry | undefined;
  #views: Views | undefined;

  /** @internal handles come from `BpfInstance.program()` and `.programs`. */
  constructor(gate: Gate, engine: Engine, entry: ProgramEntry) {
    this.#gate = gate;
    this.#engine = engine;
    this.name = entry.name;
    this.type = entry.type;
    this.section = entry.section;
    this.context = entry.context;
  }

  /**
   * Runs the program once with a copy of `ctx` in memory (r1 = its address, r2 = its length;
   * r1 = r2 = 0 without it) and returns r0 (unsigned 64-bit). `ctx` is never modified: use
   * `test()` for what the program wrote. Faults throw BpfRuntimeError naming the instruction.
   */
  run(ctx?: Uint8Array): bigint {
    const e = this.#engine;
    if (ctx !== undefined && !(ctx instanceof Uint8Array)) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, 'run(ctx): ctx must be a Uint8Array', { program: this.name });
    }
    const len = ctx ? ctx.length : 0;
    const fn = this.#bound();
    // The gate first: a refused nested run must not touch the outer run's memory either.
    enter(this.#gate, this.name);
    try {
      if (ctx) {
        e.ensureData(len);
        new Uint8Array(e.memory.buffer, e.dataAddress, len).set(ctx);
      }
      fn(ctx ? e.dataAddress : 0, len);
    } finally {
      this.#gate.running = undefined;
    }
    return e.lastResult();
  }

  /**
   * The fast path: runs on `len` bytes already in place at the instance's `dataView(len)`
   * (r1 = the data address, r2 = len) and returns r0's low 32 bits as an unsigned number
   * (`inst.lastResult()` has the full r0). `len` must be a non-negative 32-bit integer.
   */
  runInPlace(len: number): number {
    if (len >>> 0 !== len) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `runInPlace: length ${String(len)} is not a non-negative 32-bit integer`, { program: this.name });
    }
    return this.#guarded(this.#engine.dataAddress, len) >>> 0;
  }

  /**
   * A test run, as libbpf's `bpf_prog_test_run_opts` (BPF_PROG_TEST_RUN): builds the program's
   * context (packet types) around `dataIn`, runs `repeat` times and returns r0, the data and
   * context after the last run, and the time per run.
   */
  test(options: TestRunOptions = {}): TestRunResult {
    const { dataIn, ctxIn, skbData } = options;
    const repeat = checkRepeat(options.repeat, this.name);
    if (dataIn !== undefined && !(dataIn instanceof Uint8Array)) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, 'test(): dataIn must be a Uint8Array', { program: this.name });
    }
    if (ctxIn !== undefined && !(ctxIn instanceof Uint8Array)) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, 'test(): ctxIn must be a Uint8Array', { program: this.name });
    }
    const kind = packetKind(this.context);
    const e = this.#engine;
    const fn = this.#bound();
    enter(this.#gate, this.name);
    try {
      return this.#testRun(kind, fn, dataIn, ctxIn, skbData, repeat);
    } finally {
      this.#gate.running = undefined;
    }
  }

  #testRun(
    kind: PacketKind, fn: BoundEntry, dataIn: Uint8Array | undefined, ctxIn: Uint8Array | undefined,
    skbData: TestRunOptions['skbData'], repeat: number,
  ): TestRunResult {
    const e = this.#engine;
    let r1: number;
    let r2: number;
    let out: (v: Views) => Pick<TestRunResult, 'dataOut' | 'ctxOut'>;
    if (kind === 'raw') {
      if (ctxIn !== undefined) {
        throw new BpfRuntimeError(ErrorCode.BadArgument, `test(): program ${this.name} is of type ${this.type}, which takes no context struct (ctxIn); pass its memory as dataIn`, { program: this.name });
      }
      if (skbData !== undefined) {
        throw new BpfRuntimeError(ErrorCode.BadArgument, `test(): skbData applies to skb programs, not to ${this.name} (${this.type})`, { program: this.name });
      }
      const len = dataIn ? dataIn.length : 0;
      if (dataIn) {
        e.ensureData(len);
        new Uint8Array(e.memory.buffer, e.dataAddress, len).set(dataIn);
      }
      r1 = dataIn ? e.dataAddress : 0;
      r2 = len;
      out = (v) => ({ dataOut: v.bytes.slice(e.dataAddress, e.dataAddress + len) });
    } else {
      e.ensureData(CONTEXT_AREA + (dataIn ? dataIn.length : 0));
      const placed = placePacket((this.#views = viewsOf(e, this.#views)), e.dataAddress, kind, dataIn ?? EMPTY, ctxIn, skbData, this.name);
      r1 = placed.ctx;
      r2 = placed.length;
      out = placed.out;
    }
    const start = now();
    for (let i = 0; i < repeat; i++) fn(r1, r2);
    const total = now() - start;
    const r0 = e.lastResult();
    const { dataOut, ctxOut } = out((this.#views = viewsOf(e, this.#views)));
    const result: TestRunResult = { retval: Number(BigInt.asUintN(32, r0)), r0, dataOut, durationNs: Math.round((total * 1e6) / repeat) };
    if (ctxOut) result.ctxOut = ctxOut;
    return result;
  }

  #bound(): BoundEntry {
    return (this.#entry ??= this.#engine.bind(this.name));
  }

  #guarded(r1: number, r2: number): number {
    const fn = this.#bound();
    enter(this.#gate, this.name);
    try {
      return fn(r1, r2);
    } finally {
      this.#gate.running = undefined;
    }
  }
}

function checkRepeat(repeat: number | undefined, program: string): number {
  if (repeat === undefined || repeat === 0) return 1;
  if (!Number.isInteger(repeat) || repeat < 0 || repeat > 0xffffffff) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `test(): repeat ${String(repeat)} is not a 32-bit unsigned integer`, { program });
  }
  return repeat;
}

/** Milliseconds from a monotonic clock (performance.now: browsers, workers, Node). */
function now(): number {
  return globalThis.performance.now();
}

/** The settable fields of a context struct in `ctx_in`, by kind: [offset, size, option]. */
const SETTABLE: Record<'xdp' | 'skb', { size: number; pointers: readonly number[] }> = {
  xdp: { size: XdpMd.SIZE, pointers: [XdpMd.data, XdpMd.data_end, XdpMd.data_meta] },
  skb: { size: SkBuff.SIZE, pointers: [SkBuff.data, SkBuff.data_end, SkBuff.data_meta] },
};

/** The Ethernet header length, which `skbData: 'l3'` leaves out of the skb's data. */
const ETH_HLEN = 14;

const EMPTY = new Uint8Array(0);

/**
 * Places a packet and its context at the data address with the context writers of
 * runtime/context.ts, and says how to read them back after the run.
 */
function placePacket(
  views: Views,
  base: number,
  kind: 'xdp' | 'skb',
  dataIn: Uint8Array,
  ctxIn: Uint8Array | undefined,
  skbData: 'l2' | 'l3' | undefined,
  program: string,
): { ctx: number; length: number; out: (v: Views) => Pick<TestRunResult, 'dataOut' | 'ctxOut'> } {
  const bad = (why: string): BpfRuntimeError => new BpfRuntimeError(ErrorCode.BadArgument, `test(): ${why}`, { program });
  if (skbData !== undefined && (kind !== 'skb' || (skbData !== 'l2' && skbData !== 'l3'))) {
    throw bad(kind !== 'skb' ? `skbData applies to skb programs, not to ${program}` : `skbData must be 'l2' or 'l3', not ${String(skbData)}`);
  }
  const l3 = skbData === 'l3';
  if (l3 && dataIn.length < ETH_HLEN) throw bad(`skbData 'l3' needs a packet with an Ethernet header (${ETH_HLEN} bytes), got ${dataIn.length}`);
  const opts: PacketContextOptions = {};
  let ctxView: DataView | undefined;
  if (ctxIn) {
    const { size, pointers } = SETTABLE[kind];
    if (ctxIn.length > size) throw bad(`ctxIn is ${ctxIn.length} bytes, more than the ${size} of the context struct`);
    const padded = new Uint8Array(size);
    padded.set(ctxIn);
    ctxView = new DataView(padded.buffer);
    for (const off of pointers) if (ctxView.getUint32(off, true) !== 0) throw bad(`ctxIn sets pointer field at offset ${off}, which the run fills`);
    if (kind === 'xdp') {
      opts.ifindex = ctxView.getUint32(XdpMd.ingress_ifindex, true) || 1;
      opts.rxQueue = ctxView.getUint32(XdpMd.rx_queue_index, true);
    } else {
      opts.mark = ctxView.getUint32(SkBuff.mark, true);
      opts.priority = ctxView.getUint32(SkBuff.priority, true);
      opts.ifindex = ctxView.getUint32(SkBuff.ifindex, true) || ctxView.getUint32(SkBuff.ingress_ifindex, true) || 1;
    }
  }
  const packet = l3 ? dataIn.subarray(ETH_HLEN) : dataIn;
  const write = kind === 'xdp' ? writeXdpContext : writeSkbContext;
  const at = write(views, base, packet, opts);
  if (kind === 'skb') {
    if (l3) views.view.setUint32(at.ctx + SkBuff.protocol, dataIn[12]! | (dataIn[13]! << 8), true);
    if (ctxView) views.bytes.set(new Uint8Array(ctxView.buffer, SkBuff.cb, SkBuff.hash - SkBuff.cb), at.ctx + SkBuff.cb);
  }
  const ctxSize = SETTABLE[kind].size;
  return {
    ctx: at.ctx,
    length: at.length,
    out: ({ bytes, view: v }) => {
      // The program may have moved the packet's bounds (adjust_head and the like): read them back.
      const data = v.getUint32(at.ctx + (kind === 'xdp' ? XdpMd.data : SkBuff.data), true);
      const end = v.getUint32(at.ctx + (kind === 'xdp' ? XdpMd.data_end : SkBuff.data_end), true);
      const ok = data <= end && end <= bytes.length;
      const body = ok ? bytes.slice(data, end) : bytes.slice(at.data, at.dataEnd);
      let dataOut = body;
      if (l3) {
        dataOut = new Uint8Array(ETH_HLEN + body.length);
        dataOut.set(dataIn.subarray(0, ETH_HLEN));
        dataOut.set(body, ETH_HLEN);
      }
      return { dataOut, ctxOut: bytes.slice(at.ctx, at.ctx + ctxSize) };
    },
  };
}

/** Views of linear memory, made again only when memory grew (views cost more than the writes). */
interface Views {
  buffer: ArrayBuffer;
  bytes: Uint8Array;
  view: DataView;
}

function viewsOf(e: Engine, cached: Views | undefined): Views {
  const buffer = e.memory.buffer;
  return cached?.buffer === buffer ? cached : { buffer, bytes: new Uint8Array(buffer), view: new DataView(buffer) };
}

/** Trace output (bpf_printk) of an instance: where lines go, and a stream of them. */
export interface TraceOutput {
  /** Replaces where each line goes (console.log by default, or the `trace` option). */
  onLine(sink: TraceSink): void;
  /**
   * The lines printed from now on, as an async iterator (reading trace_pipe); `return()` (a
   * `break` out of `for await`) ends it.
   */
  lines(): AsyncIterableIterator<string>;
}

/** The run in progress on an instance, shared by its handles. */
interface Gate {
  running: string | undefined;
}

/** Refuses a run while one of the same instance is in progress (a helper running it again). */
function enter(gate: Gate, program: string): void {
  if (gate.running !== undefined) {
    throw new BpfRuntimeError(
      ErrorCode.Reentrant,
      `program ${program} was run while ${gate.running} of the same instance is running (from a helper); runs of one instance share its stack and cannot nest`,
      { program },
    );
  }
  gate.running = program;
}

const engines = new WeakMap<BpfInstance, Engine>();

/**
 * A loaded module, ready to run: its programs (handles), maps, buffers, globals and trace
 * output; the same on both engines (`instantiate`: compiled Wasm; `interpret`: the interpreter).
 */
export class BpfInstance {
  readonly #engine: Engine;
  readonly #handles = new Map<string, BpfProgram>();
  readonly #list: readonly BpfProgram[];

  /** @internal use `instantiate()` or `interpret()`. */
  constructor(engine: Engine) {
    this.#engine = engine;
    engines.set(this, engine);
    const gate: Gate = { running: undefined };
    this.#list = engine.programs.map((p) => {
      const h = new BpfProgram(gate, engine, p);
      this.#handles.set(p.name, h);
      return h;
    });
  }

  /** The programs, in the order of the module (an ELF object's section order). */
  get programs(): readonly BpfProgram[] {
    return this.#list;
  }

  /** A program by name (the first one without a name); E_BAD_ARGUMENT for an unknown name. */
  program(name?: string): BpfProgram {
    if (name === undefined) return this.#list[0]!;
    const h = this.#handles.get(name);
    if (!h) throw unknownProgram(String(name), this.#list);
    return h;
  }

  /** The instance's linear memory. */
  get memory(): WebAssembly.Memory {
    return this.#engine.memory;
  }

  /** The helpers the programs can call. */
  get helpers(): HelperRegistry {
    return this.#engine.helpers;
  }

  /** Where input memory is placed (r1 points here for `run` and `runInPlace`). */
  get dataAddress(): number {
    return this.#engine.dataAddress;
  }

  /** A view of `len` bytes of memory at the data address (for `runInPlace`), growing memory if needed. */
  dataView(len: number): Uint8Array {
    this.#engine.ensureData(len);
    return new Uint8Array(this.#engine.memory.buffer, this.#engine.dataAddress, len);
  }

  /** The full r0 (unsigned 64-bit) of the last successful run. */
  lastResult(): bigint {
    return this.#engine.lastResult();
  }

  /**
   * Shorthand for `program(options.program).run(ctx)`: runs the first (or the named) program
   * with a copy of `ctx` and returns r0 (unsigned 64-bit); `ctx` is never modified.
   */
  run(ctx?: Uint8Array, options: { program?: string } = {}): bigint {
    return this.program(options.program).run(ctx);
  }

  #object(): ObjectRuntime {
    const o = this.#engine.object;
    if (!o) throw new BpfRuntimeError(ErrorCode.BadArgument, 'this module was not compiled from an object with maps');
    return o;
  }

  /** The object's maps by name (empty for modules without maps). */
  get maps(): ReadonlyMap<string, BpfMap> {
    return this.#engine.object?.maps ?? new Map<string, BpfMap>();
  }

  /**
   * One map of the object, by name; `K` and `V` type its keys and values (as the decoded BTF
   * types give them: see the README). E_BAD_ARGUMENT for an unknown name.
   */
  map<K = unknown, V = unknown>(name: string): BpfMap<K, V> {
    return this.#object().map(name) as BpfMap<K, V>;
  }

  /** The ring buffer of a RINGBUF map: consume records with a callback or `for await`. */
  ringbuf(name: string): RingBuffer {
    return this.#object().ringbuf(name);
  }

  /** The perf buffer of a PERF_EVENT_ARRAY map. */
  perfbuf(name: string): PerfEventArray {
    return this.#object().perf(name);
  }

  /** Trace output (bpf_printk): its sink and a stream of lines. */
  get trace(): TraceOutput {
    const o = this.#object();
    return { onLine: (sink) => o.onTrace(sink), lines: () => o.traceLines() };
  }

  /** Reads a global variable (of `.data`, `.rodata`, `.bss`, ...), decoded with its BTF type. */
  getGlobal(name: string): unknown {
    return this.#object().getGlobal(name);
  }

  /** Writes a global variable (`.rodata` too, as skeletons do before load). */
  setGlobal(name: string, value: unknown): void {
    this.#object().setGlobal(name, value);
  }

  /** The names of the global variables, by data section. */
  globals(): Record<string, string[]> {
    return this.#engine.object?.globals() ?? {};
  }

  /**
   * A new inner map for the map of maps `outer` (as bpf_map_create), from the pool laid out at
   * compile time; E_MAP_OP (ENOSPC) when the pool is used up.
   */
  createInnerMap(outer: string): BpfMap {
    return this.#object().createInnerMap(outer);
  }
}

/** Tooling only (re-exported by bpf2wasm/internal): the engine under an instance. */
export function engineOf(inst: BpfInstance): Engine {
  return engines.get(inst)!;
}

/** Tooling only (bpf2wasm/internal): the manifest of a compiled module's instance. */
export function manifestOf(inst: BpfInstance): Manifest {
  const m = engines.get(inst)!.manifest;
  if (!m) throw new BpfRuntimeError(ErrorCode.BadArgument, 'an interpreted program has no module manifest');
  return m;
}
