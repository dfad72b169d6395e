/**
 * A running instance of a compiled module: one linear memory laid out as runtime/abi.ts describes,
 * helpers supplied as Wasm imports, and calls into the programs' exports.
 */
import {
  FaultCode, IMPORT_CALLX, IMPORT_ENV, IMPORT_FAULT, IMPORT_HELPERS, IMPORT_MEMORY, INSN_MAP_SECTION,
  RESULT_ADDR, type Manifest, type ProgramEntry,
} from './abi.js';
import { Bpf2WasmError, BpfRuntimeError, ErrorCode } from './errors.js';
import { callWithRegisters, HelperRegistry, type HelperDefinition } from './helpers.js';
import { InsnMap, trapOffsetFromStack } from './insnmap.js';
import { helperById } from './helper-table.js';
import { readManifest } from './manifest.js';
import { ensureRoom, unknownProgram } from './memory.js';
import type { BpfProgramInstance } from './program.js';
import { ObjectRuntime, type ObjectOptions } from './object.js';
import type { BpfMap } from './maps/api.js';
import type { MemoryViews } from './context.js';
import { contextKind, testRunPacket, type PacketEngine, type SkbDataMode } from './packet/testrun.js';

const NO_PACKET_OPTIONS: { program?: string; skbData?: SkbDataMode } = {};

export interface InstantiateOptions extends ObjectOptions {
  /**
   * Helpers by id (and name). A helper the module imports but neither the host nor the runtime
   * (for modules compiled from objects: maps, bpf_printk, ring buffers, ...) provides fails here.
   * The host's helpers take precedence over the runtime's.
   */
  helpers?: Iterable<HelperDefinition> | HelperRegistry;
  /**
   * kfuncs (extern functions the object's programs call, `extern ... __ksym`) by name. Arguments
   * and results follow the kfunc's BTF prototype as helpers' do: pointers and 32-bit integers are
   * numbers, 64-bit integers bigints.
   */
  kfuncs?: Record<string, HelperDefinition['fn']>;
}

/** What a packet run returns. */
export interface PacketRunResult {
  /** r0: the XDP action, or the socket filter's byte count. */
  result: bigint;
  /** The packet as the program left it. */
  packet: Uint8Array;
}

type EntryFn = (r1: number, r2: number) => number;

/** A compiled module, instantiated and ready to run. */
export class BpfInstance implements BpfProgramInstance {
  /** What the module needs and offers. */
  readonly manifest: Manifest;
  /** The instance's linear memory (stack, scratch, input data). */
  readonly memory: WebAssembly.Memory;
  readonly helpers: HelperRegistry;
  private readonly entries = new Map<string, EntryFn>();
  private readonly defaultProgram: string;
  private readonly insnMap: InsnMap;
  /** Maps, buffers and globals of a module compiled from an ELF object. */
  readonly object: ObjectRuntime | undefined;

  /** @internal use `instantiate()`. */
  constructor(
    module: WebAssembly.Module,
    manifest: Manifest,
    instance: WebAssembly.Instance,
    memory: WebAssembly.Memory,
    helpers: HelperRegistry,
    object?: ObjectRuntime,
  ) {
    this.object = object;
    this.manifest = manifest;
    this.memory = memory;
    this.helpers = helpers;
    this.insnMap = new InsnMap(WebAssembly.Module.customSections(module, INSN_MAP_SECTION)[0]);
    for (const p of manifest.programs) {
      const fn = instance.exports[p.exportName];
      if (typeof fn !== 'function') {
        throw new BpfRuntimeError(ErrorCode.BadModule, `the module does not export program ${p.name}`, { program: p.name });
      }
      this.entries.set(p.name, fn as EntryFn);
    }
    this.defaultProgram = manifest.programs[0]!.name;
  }

  /** The programs in the module. */
  get programs(): readonly ProgramEntry[] {
    return this.manifest.programs;
  }

  /** Where input memory is placed (r1 points here). */
  get dataAddress(): number {
    return this.manifest.layout.dataBase;
  }

  /** A view of `len` bytes of linear memory at the data address, growing memory if needed. */
  dataView(len: number): Uint8Array {
    this.ensureData(len);
    return new Uint8Array(this.memory.buffer, this.dataAddress, len);
  }

  /**
   * Runs a program on a copy of `mem` (r1 = its address, r2 = its length; r1 = r2 = 0 without
   * memory), copies what the program wrote back into `mem`, and returns r0 as an unsigned 64-bit
   * value. Faults throw BpfRuntimeError naming the instruction.
   */
  run(mem?: Uint8Array, options: { program?: string } = {}): bigint {
    const fn = this.entry(options.program);
    const len = mem ? mem.length : 0;
    if (mem) this.dataView(len).set(mem);
    this.invoke(fn, mem ? this.dataAddress : 0, len);
    if (mem) mem.set(new Uint8Array(this.memory.buffer, this.dataAddress, len));
    return this.lastResult();
  }

  /**
   * The fast path: runs on `len` bytes already in place at `dataAddress` and returns r0's low 32
   * bits (as an unsigned number). `lastResult()` has the full value.
   */
  runRaw(len: number, program?: string): number {
    return this.invoke(this.entry(program), this.dataAddress, len) >>> 0;
  }

  /** The object's maps by name (empty for modules without maps). */
  get maps(): ReadonlyMap<string, BpfMap> {
    return this.object?.maps ?? new Map();
  }

  /** One map of the object, by name. */
  map(name: string): BpfMap {
    return this.requireObject().map(name);
  }

  private requireObject(): ObjectRuntime {
    if (!this.object) throw new BpfRuntimeError(ErrorCode.BadArgument, 'this module was not compiled from an object with maps');
    return this.object;
  }

  /**
   * Runs a packet program as the kernel's test run does (runtime/packet/testrun.ts) over a frame
   * of any length (shorter than an Ethernet header too), socket filters from the Ethernet header
   * unless `skbData: 'network'`; returns r0 and the frame as the program left it. Programs of
   * other types run with r1 pointing at a copy of the bytes.
   */
  runPacket(packet: Uint8Array, options: { program?: string; skbData?: SkbDataMode } = NO_PACKET_OPTIONS): PacketRunResult {
    const name = options.program ?? this.defaultProgram;
    this.entry(name);
    const type = this.manifest.programs.find((p) => p.name === name)?.type ?? 'raw';
    const program = { name, type: contextKind(type) ? type : type === 'sk_skb' ? 'tc' : 'xdp' };
    const r = testRunPacket(this.packetEngine, program, { dataIn: packet, allowRunts: true, time: false, skbData: options.skbData ?? 'mac' });
    return { result: r.r0, packet: r.dataOut };
  }

  /** This instance as the packet test run's engine. */
  get packetEngine(): PacketEngine {
    this.cachedEngine ??= {
      memory: this.memory,
      dataAddress: this.dataAddress,
      ensureData: (len) => this.ensureData(len),
      invoke: (program, r1, r2) => this.invoke(this.entry(program), r1, r2),
      lastResult: () => this.lastResult(),
    };
    return this.cachedEngine;
  }

  private cachedEngine: PacketEngine | undefined;

  private cachedViews: (MemoryViews & { buffer: ArrayBuffer; words: Uint32Array }) | undefined;

  /** Views of linear memory, made again only when memory grew (its buffer changes). */
  private views(): MemoryViews & { words: Uint32Array } {
    const buffer = this.memory.buffer;
    if (this.cachedViews?.buffer !== buffer) {
      this.cachedViews = { buffer, bytes: new Uint8Array(buffer), view: new DataView(buffer), words: new Uint32Array(buffer) };
    }
    return this.cachedViews;
  }

  /** The full r0 of the last run. */
  lastResult(): bigint {
    const { words } = this.views();
    const lo = words[RESULT_ADDR >> 2]!;
    const hi = words[(RESULT_ADDR >> 2) + 1]!;
    // Most results fit 32 bits: one small BigInt instead of a 64-bit read.
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  private entry(program: string | undefined): EntryFn {
    const name = program ?? this.defaultProgram;
    const fn = this.entries.get(name);
    if (!fn) {
      throw unknownProgram(name, this.manifest.programs);
    }
    return fn;
  }

  private ensureData(len: number): void {
    ensureRoom(this.memory, this.dataAddress, len);
  }

  private invoke(fn: EntryFn, r1: number, r2: number): number {
    try {
      return fn(r1, r2);
    } catch (e) {
      this.object?.afterFault();
      throw this.translate(e);
    }
  }

  /** Turns a trap or a helper's exception into a typed error naming the eBPF instruction. */
  private translate(e: unknown): Error {
    if (e instanceof Bpf2WasmError) return e;
    const stack = e instanceof Error ? e.stack : undefined;
    const offset = trapOffsetFromStack(stack);
    const insn = offset === undefined ? undefined : this.insnMap.lookup(offset);
    const loc = insn === undefined ? {} : { insn };
    if (e instanceof WebAssembly.RuntimeError) {
      if (/out of bounds/i.test(e.message)) {
        return new BpfRuntimeError(ErrorCode.MemoryFault, 'memory access outside linear memory', loc, { cause: e });
      }
      return new BpfRuntimeError(ErrorCode.Trap, `the program trapped: ${e.message}`, loc, { cause: e });
    }
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      return new BpfRuntimeError(ErrorCode.CallDepth, 'the host stack overflowed', loc, { cause: e });
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new BpfRuntimeError(ErrorCode.HelperFailed, `a helper threw: ${msg}`, loc, { cause: e });
  }
}

/**
 * Wraps a helper so that whatever it throws becomes an Error created inside the call, whose stack
 * (with the calling Wasm frame) lets the runtime name the eBPF instruction of the call.
 */
function guardHelper(fn: HelperDefinition['fn'], arity: number): WebAssembly.ImportValue {
  const rethrow = (x: unknown): never => {
    if (x instanceof Error) throw x;
    throw new Error(typeof x === 'string' ? x : `helper threw ${String(x)}`, { cause: x });
  };
  switch (arity) {
    case 0: return () => { try { return fn(); } catch (x) { return rethrow(x); } };
    case 1: return (a: unknown) => { try { return fn(a); } catch (x) { return rethrow(x); } };
    case 2: return (a: unknown, b: unknown) => { try { return fn(a, b); } catch (x) { return rethrow(x); } };
    case 3: return (a: unknown, b: unknown, c: unknown) => { try { return fn(a, b, c); } catch (x) { return rethrow(x); } };
    case 4: return (a: unknown, b: unknown, c: unknown, d: unknown) => { try { return fn(a, b, c, d); } catch (x) { return rethrow(x); } };
    default: return (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) => { try { return fn(a, b, c, d, e); } catch (x) { return rethrow(x); } };
  }
}

/**
 * Instantiates a compiled module (bytes or an already compiled WebAssembly.Module, which is what
 * platforms that forbid compiling at run time hand you).
 */
export async function instantiate(
  wasm: Uint8Array | ArrayBuffer | WebAssembly.Module,
  options: InstantiateOptions = {},
): Promise<BpfInstance> {
  let module: WebAssembly.Module;
  if (wasm instanceof WebAssembly.Module) {
    module = wasm;
  } else {
    try {
      module = await WebAssembly.compile(wasm instanceof Uint8Array ? wasm.slice() : wasm);
    } catch (e) {
      throw new BpfRuntimeError(ErrorCode.BadModule, `not a valid WebAssembly module: ${(e as Error).message}`);
    }
  }
  const manifest = readManifest(module);
  const { layout } = manifest;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: layout.initialPages, maximum: layout.maximumPages });
  } catch (e) {
    throw new BpfRuntimeError(ErrorCode.BadModule, `the module's memory of ${layout.initialPages} pages cannot be allocated: ${(e as Error).message}`);
  }
  const object = manifest.maps ? await ObjectRuntime.create(memory, manifest, options) : undefined;
  let helpers: HelperRegistry;
  const runtimeHelpers = new Set<HelperDefinition>(object?.helpers ?? []);
  if (object) {
    // The runtime's helpers first, the host's on top.
    helpers = new HelperRegistry(object.helpers);
    const own = options.helpers instanceof HelperRegistry ? options.helpers.list() : options.helpers ?? [];
    for (const h of own) helpers.register(h);
  } else {
    helpers = options.helpers instanceof HelperRegistry ? options.helpers : new HelperRegistry(options.helpers ?? []);
  }

  const fault = (code: number, insn: number, detail: number): never => {
    switch (code) {
      case FaultCode.CallDepth:
        throw new BpfRuntimeError(
          ErrorCode.CallDepth,
          `bpf-to-bpf call depth exceeds ${layout.maxCallDepth} frames`,
          { insn },
        );
      case FaultCode.Budget:
        throw new BpfRuntimeError(ErrorCode.Budget, `the program exceeded its budget of ${manifest.budget ?? '?'} instructions`, { insn });
      case FaultCode.MemoryFault:
        throw new BpfRuntimeError(
          ErrorCode.MemoryFault,
          `access to address 0x${(detail >>> 0).toString(16)} outside the stack and the input memory (checked mode)`,
          { insn, address: detail >>> 0 },
        );
      case FaultCode.UnknownHelper:
        throw new BpfRuntimeError(ErrorCode.UnknownHelper, `callx to helper ${detail}, which the host does not provide`, {
          insn, helper: String(detail),
        });
      default:
        throw new BpfRuntimeError(ErrorCode.Trap, `fault ${code}`, { insn });
    }
  };
  // The runtime's implementation of a kernel helper id serves only a call compiled under that
  // helper's name: a custom helper that reuses the id must come from the host.
  const runtimeOrHost = (def: HelperDefinition | undefined, name: string): HelperDefinition | undefined =>
    def && runtimeHelpers.has(def) && def.name !== undefined && def.name !== name ? undefined : def;
  const helperImports: Record<string, WebAssembly.ImportValue> = {};
  for (const h of manifest.helpers) {
    const kfn = h.kfunc && Object.hasOwn(options.kfuncs ?? {}, h.name) ? options.kfuncs![h.name] : undefined;
    const def: HelperDefinition | undefined = h.kfunc
      ? (typeof kfn === 'function' ? { id: h.id, name: h.name, fn: kfn } : undefined)
      : runtimeOrHost(helpers.get(h.id), h.name) ?? helpers.getByName(h.name);
    if (!def && object && !h.kfunc && helperById(h.id)?.name === h.name) {
      // A kernel helper the runtime does not implement: only the programs that call it fail,
      // when they call it (the object's other programs run).
      helperImports[h.importName] = guardHelper(() => {
        throw new BpfRuntimeError(ErrorCode.UnknownHelper, `the program called helper ${h.name} (id ${h.id}), which bpf2wasm does not implement and the host does not provide`, { helper: h.name });
      }, h.signature.args.length);
      continue;
    }
    if (!def) {
      throw new BpfRuntimeError(
        ErrorCode.UnknownHelper,
        h.kfunc
          ? `the program calls kfunc ${h.name}, which the host does not provide (options.kfuncs.${h.name})`
          : `the program calls helper ${h.name} (id ${h.id}), which the host does not provide`,
        { helper: h.name },
      );
    }
    helperImports[h.importName] = def.direct ? def.fn as WebAssembly.ImportValue : guardHelper(def.fn, h.signature.args.length);
  }
  if (manifest.usesCallx) {
    helperImports[IMPORT_CALLX] = (id: number, pc: number, ...regs: bigint[]): bigint => {
      const def = helpers.get(id);
      if (!def) return fault(FaultCode.UnknownHelper, pc, id);
      return callWithRegisters(def, regs);
    };
  }
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, {
      [IMPORT_ENV]: { [IMPORT_MEMORY]: memory, [IMPORT_FAULT]: fault },
      [IMPORT_HELPERS]: helperImports,
    });
  } catch (e) {
    throw new BpfRuntimeError(ErrorCode.BadModule, `the module could not be instantiated: ${(e as Error).message}`);
  }
  object?.attach(instance.exports);
  return new BpfInstance(module, manifest, instance, memory, helpers, object);
}
