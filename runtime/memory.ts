/** Linear-memory chores shared by both engines. */
import { WASM_PAGE } from './abi.js';
import { BpfRuntimeError, ErrorCode } from './errors.js';

/**
 * Grows `memory` so that `len` bytes fit at `base`; throws E_BAD_ARGUMENT for a bad length or
 * when the input cannot fit in a 32-bit linear memory.
 */
export function ensureRoom(memory: WebAssembly.Memory, base: number, len: number): void {
  if (!Number.isInteger(len) || len < 0) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `input length ${len} is not a non-negative integer`);
  }
  const need = base + len;
  const have = memory.buffer.byteLength;
  if (need <= have) return;
  try {
    memory.grow(Math.ceil((need - have) / WASM_PAGE));
  } catch {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `input of ${len} bytes does not fit in linear memory`);
  }
}

/** The error for a program name that an instance does not have. */
export function unknownProgram(name: string, available: ReadonlyArray<{ name: string }>): BpfRuntimeError {
  return new BpfRuntimeError(
    ErrorCode.BadArgument,
    `no program named ${name}; the module has ${available.map((p) => p.name).join(', ')}`,
    { program: name },
  );
}
