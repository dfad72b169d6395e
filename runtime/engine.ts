/**
 * The seam between the public API (program handles, test runs: runtime/program.ts) and the two
 * engines that run eBPF code: the compiled module (runtime/instance.ts) and the interpreter
 * (runtime/interpreter.ts). Everything users call is written once, over this interface; packet
 * test-run code takes an engine too.
 */
import type { Manifest, ProgramEntry } from './abi.js';
import { Bpf2WasmError, BpfRuntimeError, ErrorCode, type ErrorLocation } from './errors.js';
import type { HelperRegistry } from './helper-registry.js';
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
  /** The full r0 (unsigned 64-bit) of the last successful run. */
  lastResult(): bigint;
}

/**
 * The typed error for what a run threw (a Wasm trap, a host stack overflow, a helper's own
 * exception), the same for both engines; typed errors pass through unchanged.
 */
export function runtimeErrorOf(e: unknown, loc: ErrorLocation): Error {
  if (e instanceof Bpf2WasmError) return e;
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
