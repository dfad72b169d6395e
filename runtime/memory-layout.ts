/**
 * The memory layout of a program instance (see the picture in runtime/abi.ts), computed from the
 * stack shape. Both engines use it: the compiler bakes it into the module, the interpreter builds
 * its memory from it, so a program sees the same addresses under either.
 */
import { NULL_GUARD_SIZE, SCRATCH_SIZE, WASM_PAGE, type MemoryLayout } from './abi.js';
import { CompileError, ErrorCode } from './errors.js';

/** Checks the stack shape options; throws CompileError E_BAD_ARGUMENT when they are out of range. */
export function checkStackOptions(maxCallDepth: number, frameSize: number): void {
  if (!Number.isInteger(maxCallDepth) || maxCallDepth < 1 || maxCallDepth > 1024) {
    throw new CompileError(ErrorCode.BadArgument, `maxCallDepth must be an integer 1..1024`);
  }
  if (!Number.isInteger(frameSize) || frameSize < 8 || frameSize > 65536 || frameSize % 8 !== 0) {
    throw new CompileError(ErrorCode.BadArgument, `frameSize must be a multiple of 8 from 8 to 65536`);
  }
}

/**
 * Computes the memory layout for a stack of `maxCallDepth` frames of `frameSize` bytes: the stack
 * follows the null guard and the scratch page, the input data starts right after the stack (16-byte
 * aligned), and memory starts with room for at least 4 KiB of data.
 */
export function computeLayout(
  maxCallDepth: number,
  frameSize: number,
  maps?: { arenaBase: number; end: number },
): MemoryLayout {
  // With maps, their region (descriptors and metadata, then the value arena) comes first and the
  // stack follows the arena, so checked mode covers arena, stack and input with one range.
  const stackBase = maps ? Math.ceil(Math.max(maps.end, NULL_GUARD_SIZE + SCRATCH_SIZE) / 16) * 16 : NULL_GUARD_SIZE + SCRATCH_SIZE;
  const stackTop = stackBase + maxCallDepth * frameSize;
  // The input follows the stack directly, so checked mode can confine accesses with one range.
  const dataBase = Math.ceil(stackTop / 16) * 16;
  return {
    ...(maps ? { arenaBase: maps.arenaBase } : {}),
    stackBase,
    stackTop,
    frameSize,
    maxCallDepth,
    dataBase,
    initialPages: Math.max(1, Math.ceil((dataBase + 4096) / WASM_PAGE)),
    // (the maximum stays 4 GiB; a map region that large is refused when laid out)
    maximumPages: 65536,
  };
}
