/**
 * The seam between the public API (program handles, test runs: runtime/program.ts) and the two
 * engines that run eBPF code: the compiled module (runtime/instance.ts) and the interpreter
 * (runtime/interpreter.ts). Everything users call is written once, over this interface; packet
 * test-run code takes an engine too.
 */
import { CORE_POISON_HELPER, FaultCode, type CorePoisonEntry, type Manifest, type MemoryLayout, type ProgramEntry } from './abi.js';
import { Bpf2WasmError, BpfRuntimeError, CompileError, ErrorCode, type ErrorLocation } from './errors.js';
import { contextKindOf } from './uapi/index.js';
import { HelperRegistry, type HelperDefinition } from './helper-registry.js';
import type { InstantiateOptions } from './instance.js';
import { helperById } from './helper-table.js';
import type { ObjectRuntime } from './object.js';

/** An entry point bound to its engine: `(r1, r2) -> r0's low 32 bits as a signed number`. */
export type BoundEntry = (r1: number, r2: number) => number;

/** What an engine offers the API layer. */
export interface Engine {
  /** The instance's linear memory (stack, scratch, input data). */
  readonly memory: WebAssembly.Memory;
  /** Where input memory (and packet contexts) are placed. */
  readonly dataAddress: number;
  /** The entry points, in manifest order. */
  readonly programs: readonly ProgramEntry[];
  /** The helpers the programs can call. */
  readonly helpers: HelperRegistry;
  /** Maps, buffers and globals of a module compiled from an ELF object (none for raw modules). */
  readonly object: ObjectRuntime | undefined;
  /** The module's manifest (compiled modules only). */
  readonly manifest?: Manifest;
  /** Grows memory so that `len` bytes fit at the data address (E_BAD_ARGUMENT when they cannot). */
  ensureData(len: number): void;
  /** The entry point `program` (which must exist) as a function, for repeated calls. */
  bind(program: string): BoundEntry;
  /** Runs `program` with r1, r2; returns r0's low 32 bits (signed). Throws typed errors only. */
  invoke(program: string, r1: number, r2: number): number;
  /**
   * Runs `program` `n` times (1 to 2^32 - 1) with r1, r2, as `n` calls of `invoke` would (a
   * fault stops at the faulting run with the same error), and returns the last run's r0 low 32
   * bits (signed). Compiled modules loop inside Wasm (their `<export>__repeat`, see
   * compiler/repeat-export.ts) where they have one; otherwise the loop is in JS.
   */
  repeat(program: string, r1: number, r2: number, n: number): number;
  /** The full r0 (unsigned 64-bit) of the last successful run. */
  lastResult(): bigint;
  /**
   * The raw exported entry of `program` for a loop inside Wasm to call (runtime/packet/batch.ts),
   * with what its throws become; engines without Wasm entries (the interpreter) have none.
   */
  rawEntry?(program: string): { fn: WebAssembly.ExportValue; batch?: WebAssembly.ExportValue; fault(e: unknown): Error } | undefined;
}

/**
 * The typed error for what a run threw (a Wasm trap, a host stack overflow, a helper's own
 * exception), the same for both engines; typed errors pass through unchanged.
 */
export function runtimeErrorOf(e: unknown, loc: ErrorLocation): Error {
  if (e instanceof Bpf2WasmError) return e;
  if (e instanceof WebAssembly.RuntimeError) {
    if (/out of bounds/i.test(e.message)) return linearMemoryFault(loc, e);
    return new BpfRuntimeError(ErrorCode.Trap, `the program trapped: ${e.message}`, loc, { cause: e });
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) {
    return new BpfRuntimeError(ErrorCode.CallDepth, 'the host stack overflowed', loc, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new BpfRuntimeError(ErrorCode.HelperFailed, `a helper threw: ${msg}`, loc, { cause: e });
}

/**
 * The typed error of an access outside linear memory (a Wasm trap in compiled code; the
 * interpreter's bounds check, which also knows the address).
 */
export function linearMemoryFault(loc: ErrorLocation, cause?: unknown): BpfRuntimeError {
  return new BpfRuntimeError(ErrorCode.MemoryFault, 'memory access outside linear memory', loc, cause === undefined ? undefined : { cause });
}

/** What a fault's message names: the module's call depth, budget and poisoned CO-RE instructions. */
export interface FaultLimits {
  maxCallDepth: number;
  budget?: number | undefined;
  corePoisons?: readonly CorePoisonEntry[] | undefined;
}

/**
 * The typed error of a fault the running code raises (the compiled module's fault record or `env.fault` import,
 * the interpreter's checks): the same code, message and location in both engines.
 */
export function faultError(code: number, insn: number, detail: number, limits: FaultLimits): BpfRuntimeError {
  switch (code) {
    case FaultCode.CallDepth:
      return new BpfRuntimeError(ErrorCode.CallDepth, `bpf-to-bpf call depth exceeds ${limits.maxCallDepth} frames`, { insn });
    case FaultCode.Budget:
      return new BpfRuntimeError(ErrorCode.Budget, `the program exceeded its budget of ${limits.budget ?? '?'} instructions`, { insn });
    case FaultCode.MemoryFault:
      return new BpfRuntimeError(
        ErrorCode.MemoryFault,
        `access to address 0x${(detail >>> 0).toString(16)} outside the stack and the input memory (checked mode)`,
        { insn, address: detail >>> 0 },
      );
    case FaultCode.UnknownHelper:
      return new BpfRuntimeError(ErrorCode.UnknownHelper, `callx to helper ${detail}, which the host does not provide`, {
        insn, helper: String(detail),
      });
    case FaultCode.CoreRelo: {
      const p = limits.corePoisons?.find((x) => x.insn === insn);
      return new BpfRuntimeError(
        ErrorCode.CoreRelo,
        p
          ? `program ${p.program} ran instruction ${insn}, poisoned by the CO-RE relocation ${p.kind} of ${p.what} (access "${p.access}"), which could not be resolved: ${p.reason}`
          : `ran instruction ${insn}, poisoned (call 0x${CORE_POISON_HELPER.toString(16)}: a CO-RE relocation that could not be resolved)`,
        p ? { insn, program: p.program } : { insn },
      );
    }
    default:
      return new BpfRuntimeError(ErrorCode.Trap, `fault ${code}`, { insn });
  }
}

/** Options that only a module compiled from an ELF object (with maps) can use. */
const OBJECT_ONLY_OPTIONS = ['env', 'trace', 'globals', 'mapsModule', 'pins', 'kfuncs', 'net'] as const;

/** Refuses object-only options for a module without maps (E_BAD_ARGUMENT), for either engine. */
export function checkObjectOnlyOptions(manifest: Manifest, options: InstantiateOptions): void {
  if (manifest.maps) return;
  const given = OBJECT_ONLY_OPTIONS.filter((k) => options[k] !== undefined);
  if (given.length > 0) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `option ${given.join(', ')} applies to modules compiled from an ELF object with maps; this module has none`);
  }
}

/** The helpers a module's manifest asks for, resolved against the runtime's and the host's. */
export interface BoundHelpers {
  /** Every helper by id (runtime's first, the host's on top): what `callx` dispatches to. */
  registry: HelperRegistry;
  /** The definition serving each import of the manifest (helpers and kfuncs), by import name. */
  imports: Map<string, HelperDefinition>;
}

/**
 * Resolves each helper and kfunc the manifest imports, the one rule for both engines: the host's
 * helpers take precedence over the runtime's (an object's maps, printk, buffers); the runtime's
 * implementation of a kernel helper id serves only a call declared under that helper's name (a
 * custom helper reusing the id must come from the host); kfuncs come from `options.kfuncs` by name.
 * A missing one is E_UNKNOWN_HELPER.
 */
export function bindHelpers(manifest: Manifest, options: InstantiateOptions, object: ObjectRuntime | undefined): BoundHelpers {
  let registry: HelperRegistry;
  const runtimeHelpers = new Set<HelperDefinition>(object?.helpers ?? []);
  if (object) {
    registry = new HelperRegistry(object.helpers);
    const own = options.helpers instanceof HelperRegistry ? options.helpers.list() : options.helpers ?? [];
    for (const h of own) registry.register(h);
  } else {
    registry = options.helpers instanceof HelperRegistry ? options.helpers : new HelperRegistry(options.helpers ?? []);
  }
  const runtimeOrHost = (def: HelperDefinition | undefined, name: string): HelperDefinition | undefined =>
    def && runtimeHelpers.has(def) && def.name !== undefined && def.name !== name ? undefined : def;
  const imports = new Map<string, HelperDefinition>();
  for (const h of manifest.helpers) {
    const kfn = h.kfunc && Object.hasOwn(options.kfuncs ?? {}, h.name) ? options.kfuncs![h.name] : undefined;
    const def: HelperDefinition | undefined = h.kfunc
      ? (typeof kfn === 'function' ? { id: h.id, name: h.name, fn: kfn } : undefined)
      : runtimeOrHost(registry.get(h.id), h.name) ?? registry.getByName(h.name);
    if (!def && object && !h.kfunc && helperById(h.id)?.name === h.name) {
      // A kernel helper the runtime does not implement: only the programs that call it fail,
      // when they call it (the object's other programs run).
      imports.set(h.importName, {
        id: h.id,
        name: h.name,
        fn: () => {
          throw new BpfRuntimeError(ErrorCode.UnknownHelper, `the program called helper ${h.name} (id ${h.id}), which bpf2wasm does not implement and the host does not provide`, { helper: h.name });
        },
      });
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
    imports.set(h.importName, def);
  }
  return { registry, imports };
}

/** Allocates a module's linear memory (E_BAD_MODULE when the host cannot). */
export function allocateMemory(layout: MemoryLayout): WebAssembly.Memory {
  try {
    return new WebAssembly.Memory({ initial: layout.initialPages, maximum: layout.maximumPages });
  } catch (e) {
    throw new BpfRuntimeError(ErrorCode.BadModule, `the module's memory of ${layout.initialPages} pages cannot be allocated: ${(e as Error).message}`);
  }
}

/** An entry point as the compiler and the interpreter take it (EntryDecl, InterpreterEntry). */
interface EntryPointDecl {
  name: string;
  pc: number;
  type?: string;
  section?: string;
}

/**
 * The manifest's program entries for the entry points given (default: one program `main` at
 * instruction 0): export names made from the names (unique, Wasm-safe), types (`raw` by default)
 * and their context kinds. The one rule for both engines; no entry points is E_BAD_ARGUMENT.
 */
export function programEntries(decls: readonly EntryPointDecl[] | undefined): ProgramEntry[] {
  const entries = decls ?? [{ name: 'main', pc: 0, type: 'raw' }];
  if (entries.length === 0) throw new CompileError(ErrorCode.BadArgument, 'no program entry points given');
  const used = new Set<string>();
  return entries.map((e) => {
    let exportName = e.name.replace(/[^A-Za-z0-9_]/g, '_') || 'prog';
    while (used.has(exportName)) exportName += '_';
    used.add(exportName);
    const type = e.type ?? 'raw';
    const entry: ProgramEntry = { name: e.name, exportName, insn: e.pc, type, context: contextKindOf(type) };
    if (e.section !== undefined) entry.section = e.section;
    return entry;
  });
}
