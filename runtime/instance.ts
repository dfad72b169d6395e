/**
 * A running instance of a compiled module: one linear memory laid out as runtime/abi.ts describes,
 * helpers supplied as Wasm imports, and calls into the programs' exports.
 */
import {
  FAULT_ADDR, FaultCode, IMPORT_CALLX, IMPORT_ENV, IMPORT_FAULT, IMPORT_HELPERS, IMPORT_MEMORY, INSN_MAP_SECTION,
  REPEAT_EXPORT_SUFFIX, RESULT_ADDR, type Manifest, type ProgramEntry,
} from './abi.js';
import { Bpf2WasmError, BpfRuntimeError, ErrorCode } from './errors.js';
import {
  allocateMemory, bindHelpers, checkObjectOnlyOptions, faultError, runtimeErrorOf, type BoundEntry, type Engine, type FaultLimits,
} from './engine.js';
import { callWithRegisters, HelperRegistry, type HelperDefinition } from './helper-registry.js';
import { InsnMap, trapOffsetFromStack } from './insnmap.js';
import { SourceLineTable, withSourceLine } from './source-lines.js';
import { helperById } from './helper-table.js';
import { readManifest } from './manifest.js';
import { ensureRoom, unknownProgram } from './memory.js';
import { createObject } from './object-loader.js';
import { BpfInstance } from './program.js';
import { BATCH_EXPORT_SUFFIX } from './packet/batch-loop.js';
import type { ObjectRuntime, ObjectOptions } from './object.js';
import { compileModule, instantiateModule } from './wasm-compile.js';

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

/** The codes the module's fault function records at FAULT_ADDR. */
const FAULT_CODES: ReadonlySet<number> = new Set(Object.values(FaultCode));

/** A program's repeat loop export: `(r1, r2, n) -> r0's low half` (n read as unsigned). */
type RepeatLoop = (r1: number, r2: number, n: number) => number;

/** The compiled engine: a Wasm instance whose exports are the programs (runtime/engine.ts). */
class CompiledEngine implements Engine {
  readonly memory: WebAssembly.Memory;
  readonly helpers: HelperRegistry;
  private readonly sourceLines: SourceLineTable;
  readonly object: ObjectRuntime | undefined;
  readonly programs: readonly ProgramEntry[];
  readonly dataAddress: number;
  private readonly entries = new Map<string, BoundEntry>();
  private readonly raws = new Map<string, WebAssembly.ExportValue>();
  private readonly batches = new Map<string, WebAssembly.ExportValue>();
  private readonly repeats = new Map<string, RepeatLoop>();
  private readonly insnMap: InsnMap;
  private words: Uint32Array;
  private readonly limits: FaultLimits;

  constructor(
    module: WebAssembly.Module,
    readonly manifest: Manifest,
    instance: WebAssembly.Instance,
    memory: WebAssembly.Memory,
    helpers: HelperRegistry,
    object: ObjectRuntime | undefined,
    limits: FaultLimits,
  ) {
    this.limits = limits;
    this.object = object;
    this.memory = memory;
    this.helpers = helpers;
    this.programs = manifest.programs;
    this.dataAddress = manifest.layout.dataBase;
    this.words = new Uint32Array(memory.buffer);
    this.insnMap = new InsnMap(WebAssembly.Module.customSections(module, INSN_MAP_SECTION)[0]);
    this.sourceLines = SourceLineTable.of(module);
    for (const p of manifest.programs) {
      const fn = instance.exports[p.exportName];
      if (typeof fn !== 'function') {
        throw new BpfRuntimeError(ErrorCode.BadModule, `the module does not export program ${p.name}`, { program: p.name });
      }
      const raw = fn as BoundEntry;
      this.raws.set(p.name, fn);
      // The batch loop the compiler put in the module for packet programs (compiler/batch-export.ts).
      const batch = instance.exports[p.exportName + BATCH_EXPORT_SUFFIX];
      if (typeof batch === 'function') this.batches.set(p.name, batch);
      // The repeat loop (compiler/repeat-export.ts); modules compiled before it have none. Its
      // three parameters tell it from a program exported under that name.
      const loop = instance.exports[p.exportName + REPEAT_EXPORT_SUFFIX];
      if (typeof loop === 'function' && loop.length === 3) this.repeats.set(p.name, loop as RepeatLoop);
      this.entries.set(p.name, (r1, r2) => {
        try {
          return raw(r1, r2);
        } catch (e) {
          this.object?.afterFault();
          throw withSourceLine(this.translate(e), this.sourceLines);
        }
      });
    }
  }

  ensureData(len: number): void {
    ensureRoom(this.memory, this.dataAddress, len);
  }

  bind(program: string): BoundEntry {
    const fn = this.entries.get(program);
    if (!fn) throw unknownProgram(program, this.programs);
    return fn;
  }

  invoke(program: string, r1: number, r2: number): number {
    return this.bind(program)(r1, r2);
  }

  repeat(program: string, r1: number, r2: number, n: number): number {
    const loop = this.repeats.get(program);
    if (!loop) {
      const fn = this.bind(program);
      let r = 0;
      for (let i = 0; i < n; i++) r = fn(r1, r2);
      return r;
    }
    try {
      return loop(r1, r2, n | 0);
    } catch (e) {
      this.object?.afterFault();
      throw withSourceLine(this.translate(e), this.sourceLines);
    }
  }

  /** Whether `program` has its repeat loop inside the module (tooling and tests). */
  hasRepeatLoop(program: string): boolean {
    return this.repeats.has(program);
  }

  rawEntry(program: string): { fn: WebAssembly.ExportValue; batch?: WebAssembly.ExportValue; fault(e: unknown): Error } | undefined {
    const fn = this.raws.get(program);
    if (!fn) return undefined;
    const batch = this.batches.get(program);
    return {
      fn,
      ...(batch ? { batch } : {}),
      fault: (e) => {
        this.object?.afterFault();
        return withSourceLine(this.translate(e), this.sourceLines);
      },
    };
  }

  private currentWords(): Uint32Array {
    if (this.words.buffer !== this.memory.buffer) this.words = new Uint32Array(this.memory.buffer);
    return this.words;
  }

  lastResult(): bigint {
    this.currentWords();
    const lo = this.words[RESULT_ADDR >> 2]!;
    const hi = this.words[(RESULT_ADDR >> 2) + 1]!;
    // Most results fit 32 bits: one small BigInt instead of a 64-bit read.
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Turns a trap or a helper's exception into a typed error naming the eBPF instruction. */
  private translate(e: unknown): Error {
    if (e instanceof Bpf2WasmError) return e;
    if (e instanceof WebAssembly.RuntimeError) {
      // The module's fault function recorded why it trapped (compiler/emit.ts faultFunction);
      // cleared once read, so the memory after a fault is the interpreter's.
      const words = this.currentWords();
      const at = FAULT_ADDR >> 2;
      const code = words[at]!;
      if (code !== 0) {
        // As signed i32s, as the import received them.
        const insn = words[at + 1]! | 0, detail = words[at + 2]! | 0;
        words.fill(0, at, at + 3);
        // Only the module's fault function writes a known code there; anything else is a store of
        // an unchecked program into the scratch page, and the trap is located as any other.
        if (FAULT_CODES.has(code)) return faultError(code, insn, detail, this.limits);
      }
    }
    const offset = trapOffsetFromStack(e instanceof Error ? e.stack : undefined);
    const insn = offset === undefined ? undefined : this.insnMap.lookup(offset);
    return runtimeErrorOf(e, insn === undefined ? {} : { insn });
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
      module = await compileModule(wasm instanceof Uint8Array ? wasm.slice() : wasm);
    } catch (e) {
      throw new BpfRuntimeError(ErrorCode.BadModule, `not a valid WebAssembly module: ${(e as Error).message}`);
    }
  }
  const manifest = readManifest(module);
  const { layout } = manifest;
  const memory = allocateMemory(layout);
  checkObjectOnlyOptions(manifest, options);
  const object = manifest.maps ? await createObject(memory, manifest, options) : undefined;
  const { registry: helpers, imports } = bindHelpers(manifest, options, object);
  const limits: FaultLimits = { maxCallDepth: layout.maxCallDepth, budget: manifest.budget, corePoisons: manifest.corePoisons };
  // Modules this version compiles record faults themselves; `env.fault` serves callx and modules
  // that import it (compiled for a standalone host, or by an earlier version).
  const fault = (code: number, insn: number, detail: number): never => {
    throw faultError(code, insn, detail, limits);
  };
  const helperImports: Record<string, WebAssembly.ImportValue> = {};
  for (const h of manifest.helpers) {
    const def = imports.get(h.importName)!;
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
    instance = await instantiateModule(module, {
      [IMPORT_ENV]: { [IMPORT_MEMORY]: memory, [IMPORT_FAULT]: fault },
      [IMPORT_HELPERS]: helperImports,
    });
  } catch (e) {
    throw new BpfRuntimeError(ErrorCode.BadModule, `the module could not be instantiated: ${(e as Error).message}`);
  }
  object?.attach(instance.exports);
  return new BpfInstance(new CompiledEngine(module, manifest, instance, memory, helpers, object, limits));
}
