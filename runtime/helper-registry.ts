/**
 * Helpers as the host provides them: JS functions (or Wasm exports) registered by id and name,
 * and the adaptation between a helper's declared signature and JS values.
 */
import { GENERIC_HELPER_SIGNATURE, type HelperSignature } from './abi.js';
import { BpfRuntimeError, ErrorCode } from './errors.js';

/**
 * A helper function. With the generic signature it receives five bigints (r1..r5) and returns a
 * bigint (r0); like every i64 crossing from Wasm to JS, the bigints are signed. With a declared
 * signature, `i32` arguments arrive as (signed) numbers and `i64` ones as bigints, and the result is a number for `u32`/`s32`, a bigint for `i64`, nothing for `void`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HelperFn = (...args: any[]) => any;

/** A helper the host provides. */
export interface HelperDefinition {
  id: number;
  name?: string;
  /** Defaults to the generic (i64 x 5) -> i64. */
  signature?: HelperSignature;
  fn: HelperFn;
  /**
   * `fn` is a WebAssembly exported function with exactly the import's signature (a helper
   * written in Wasm, like the maps): it is imported as is, so calls stay inside Wasm.
   */
  direct?: boolean;
}

/** The set of helpers an instance can call, by id and by name. */
export class HelperRegistry {
  private readonly byId = new Map<number, HelperDefinition>();
  private readonly byName = new Map<string, HelperDefinition>();

  constructor(defs: Iterable<HelperDefinition> = []) {
    for (const d of defs) this.register(d);
  }

  /** Adds or replaces a helper. */
  register(def: HelperDefinition): this {
    if (!Number.isInteger(def.id) || def.id < -0x80000000 || def.id > 0xffffffff) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `helper id ${String(def.id)} is not a 32-bit integer`, { helper: def.name ?? String(def.id) });
    }
    if (typeof def.fn !== 'function') {
      throw new BpfRuntimeError(ErrorCode.BadArgument, 'helper function is not a function', { helper: def.name ?? String(def.id) });
    }
    this.byId.set(def.id | 0, def);
    if (def.name) this.byName.set(def.name, def);
    return this;
  }

  get(id: number): HelperDefinition | undefined {
    return this.byId.get(id | 0);
  }

  getByName(name: string): HelperDefinition | undefined {
    return this.byName.get(name);
  }

  /** Every registered helper. */
  list(): HelperDefinition[] {
    return [...this.byId.values()];
  }
}

/**
 * Converts what a helper returned into r0, as the Wasm boundary converts an imported function's
 * result for its declared type (ToBigInt64 for i64, ToInt32 for i32): the one conversion both
 * engines apply, through `call` and `callx` alike. A helper with an i64 result (the generic
 * signature) must return a bigint (or a boolean); a number is a TypeError, reported as
 * E_HELPER_FAILED.
 */
export function helperResult(sig: HelperSignature, r: unknown): bigint {
  switch (sig.result) {
    case 'i64':
      // BigInt.asUintN applies ToBigInt: a number, undefined or null is a TypeError, as for Wasm.
      return BigInt.asUintN(64, r as bigint);
    case 'u32':
      // Unary plus is ToNumber (a bigint is a TypeError), `| 0` is ToInt32.
      return BigInt((+(r as number) | 0) >>> 0);
    case 's32':
      return BigInt.asUintN(64, BigInt(+(r as number) | 0));
    default:
      return 0n;
  }
}

/**
 * Calls a helper with register values (bigints), converting to and from its declared signature.
 * Used by `callx`, where the helper is only known at run time.
 */
export function callWithRegisters(def: HelperDefinition, regs: bigint[]): bigint {
  const sig = def.signature ?? GENERIC_HELPER_SIGNATURE;
  // The same conversions the Wasm boundary applies to a directly imported helper.
  const args = sig.args.map((k, i) =>
    k === 'i32' ? Number(BigInt.asIntN(32, regs[i] ?? 0n)) : BigInt.asIntN(64, regs[i] ?? 0n),
  );
  return helperResult(sig, def.fn(...args));
}
