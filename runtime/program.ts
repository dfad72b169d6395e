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
import type { HelperRegistry } from './helper-registry.js';
import { unknownProgram } from './memory.js';
import type { BpfMap } from './maps/api.js';
import type { ObjectRuntime, TraceSink } from './object.js';
import type { RingBuffer } from './stdlib/ringbuf.js';
import type { PerfEventArray } from './stdlib/perf.js';
import type { ContextKind } from './uapi/index.js';
import { testRunPacket, type SkbDataMode } from './packet/testrun.js';
import type { PacketEffects } from './packet/state.js';
import { testBatchPacket, type BatchFrames, type BatchTestOptions, type BatchTestResult } from './packet/batch.js';

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
   * Socket filters only: where offset 0 of the packet is (`skb->data`, LD_ABS offset 0,
   * `skb->len`): `network` (default, what BPF_PROG_TEST_RUN gives socket filters, and an AF_PACKET
   * SOCK_DGRAM socket) or `mac` (the Ethernet header, as an AF_PACKET SOCK_RAW socket: tcpdump's).
   */
  skbData?: SkbDataMode;
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
  /** What a packet program asked of the outside world: `bpf_redirect*` target and flags. */
  redirect?: PacketEffects['redirect'];
  /** `bpf_skb_set_tunnel_key`'s key. */
  tunnelKey?: PacketEffects['tunnelKey'];
  /** The frames `bpf_clone_redirect` sent: target ifindex, flags, the bytes when cloned. */
  clones?: PacketEffects['clones'];
  /** `bpf_skb_ecn_set_ce` marked the packet Congestion Experienced. */
  ecnMarked?: boolean;
  /** skb->hash after `bpf_set_hash`, `bpf_get_hash_recalc` or `bpf_set_hash_invalid`. */
  hash?: number;
  /** The checksum level after `bpf_csum_level` calls. */
  csumLevel?: number;
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
   * `repeat` (a 32-bit unsigned integer; 0 or absent: 1) runs it that many times back to back on
   * the same memory, each run seeing what the previous left, inside Wasm for compiled modules
   * (one call from JS in all), and returns the last run's r0; a fault stops at the faulting run.
   */
  runInPlace(len: number, repeat?: number): number {
    if (len >>> 0 !== len) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `runInPlace: length ${String(len)} is not a non-negative 32-bit integer`, { program: this.name });
    }
    if (repeat === undefined) return this.#guarded(this.#engine.dataAddress, len) >>> 0;
    const n = checkRepeat(repeat, this.name, 'runInPlace');
    this.#bound();
    enter(this.#gate, this.name);
    try {
      return this.#engine.repeat(this.name, this.#engine.dataAddress, len, n) >>> 0;
    } finally {
      this.#gate.running = undefined;
    }
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

  /**
   * A test run of every frame in `frames` (an array, or `{ data, lengths }`: frames packed back
   * to back, the fastest form), one after the other, each exactly as `test({ dataIn })`
   * runs it (same return value, output frame and map updates), for packet programs. XDP programs
   * of compiled modules loop inside Wasm (see runtime/packet/batch.ts for which take that path);
   * a frame that is refused (shorter than an Ethernet header) or faults is recorded in `errors`
   * and the batch goes on.
   */
  testBatch(frames: BatchFrames, options: BatchTestOptions = {}): BatchTestResult {
    if (packetKind(this.context) === 'raw') {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `testBatch(): program ${this.name} is of type ${this.type}, which is not a packet program`, { program: this.name });
    }
    if (options.skbData !== undefined && this.type !== 'socket') {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `testBatch(): skbData applies to socket filters, not to ${this.name} (${this.type})`, { program: this.name });
    }
    enter(this.#gate, this.name);
    try {
      return testBatchPacket(this.#engine, this, frames, options);
    } finally {
      this.#gate.running = undefined;
    }
  }

  #testRun(
    kind: PacketKind, fn: BoundEntry, dataIn: Uint8Array | undefined, ctxIn: Uint8Array | undefined,
    skbData: TestRunOptions['skbData'], repeat: number,
  ): TestRunResult {
    if (kind !== 'raw') {
      // Packet programs: the context, the buffer and the checks of BPF_PROG_TEST_RUN.
      // A plain literal: conditional spreads here cost ~2 µs per call (a dictionary-mode object).
      return testRunPacket(this.#engine, this, { dataIn, ctxIn, skbData, repeat });
    }
    if (ctxIn !== undefined) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `test(): program ${this.name} is of type ${this.type}, which takes no context struct (ctxIn); pass its memory as dataIn`, { program: this.name });
    }
    if (skbData !== undefined) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `test(): skbData applies to socket filters, not to ${this.name} (${this.type})`, { program: this.name });
    }
    const e = this.#engine;
    const len = dataIn ? dataIn.length : 0;
    if (dataIn) {
      e.ensureData(len);
      new Uint8Array(e.memory.buffer, e.dataAddress, len).set(dataIn);
    }
    const r1 = dataIn ? e.dataAddress : 0;
    // The runs loop inside Wasm (the module's repeat loop, compiler/repeat-export.ts), as the
    // kernel loops inside the kernel: the time is the program's, not that of calls from JS.
    const start = now();
    if (repeat === 1) fn(r1, len);
    else e.repeat(this.name, r1, len, repeat);
    const total = now() - start;
    const r0 = e.lastResult();
    const dataOut = new Uint8Array(e.memory.buffer, e.dataAddress, len).slice();
    return { retval: Number(BigInt.asUintN(32, r0)), r0, dataOut, durationNs: Math.round((total * 1e6) / repeat) };
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

function checkRepeat(repeat: number | undefined, program: string, what = 'test()'): number {
  if (repeat === undefined || repeat === 0) return 1;
  if (!Number.isInteger(repeat) || repeat < 0 || repeat > 0xffffffff) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `${what}: repeat ${String(repeat)} is not a 32-bit unsigned integer`, { program });
  }
  return repeat;
}

/** Milliseconds from a monotonic clock (performance.now: browsers, workers, Node). */
function now(): number {
  return globalThis.performance.now();
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
