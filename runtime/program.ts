/**
 * What every engine offers for running a loaded program: the compiled one (`BpfInstance`, from
 * `instantiate`) and the interpreter (`BpfInterpreter`, from `interpret`). Code written against
 * this interface runs unchanged on either.
 */
import type { ProgramEntry } from './abi.js';
import type { HelperRegistry } from './helpers.js';

/** Options of `run`. */
export interface RunOptions {
  /** The program (entry point) to run; the first one by default. */
  program?: string;
}

/** A loaded eBPF program (one or more entry points) with its memory and helpers, ready to run. */
export interface BpfProgramInstance {
  /** The entry points, in the order they were declared; the first is the default. */
  readonly programs: readonly ProgramEntry[];
  /** Linear memory laid out as runtime/abi.ts describes (stack, scratch, input data). */
  readonly memory: WebAssembly.Memory;
  /** The helpers the program can call. */
  readonly helpers: HelperRegistry;
  /** Where input memory is placed (r1 points here). */
  readonly dataAddress: number;
  /** A view of `len` bytes of memory at the data address, growing memory if needed. */
  dataView(len: number): Uint8Array;
  /**
   * Runs a program on a copy of `mem` (r1 = its address, r2 = its length; r1 = r2 = 0 without
   * memory), copies what the program wrote back into `mem`, and returns r0 as an unsigned 64-bit
   * value. Faults throw BpfRuntimeError naming the instruction.
   */
  run(mem?: Uint8Array, options?: RunOptions): bigint;
  /**
   * Runs on `len` bytes already in place at `dataAddress` and returns r0's low 32 bits (as an
   * unsigned number). `lastResult()` has the full value.
   */
  runRaw(len: number, program?: string): number;
  /** The full r0 (unsigned 64-bit) of the last successful run. */
  lastResult(): bigint;
}
