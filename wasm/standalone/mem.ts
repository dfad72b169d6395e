/**
 * Bounds checks on the pointers programs pass to helpers, as runtime/stdlib/access.ts
 * (ProgramMemory) makes them: a range is valid when it lies between the access floor (the map
 * value arena, so no helper touches map descriptors or metadata) and the end of memory.
 */
import { SA_FLOOR } from './config';

/** The null guard page (runtime/abi.ts NULL_GUARD_SIZE). */
export const NULL_GUARD: u32 = 0x1000;

/** Bytes of linear memory now. */
// @ts-ignore: decorator
@inline export function memEnd(): u64 {
  return <u64>memory.size() << 16;
}

/** ProgramMemory.valid: [addr, addr + len) above the floor and inside memory; len 0 is valid anywhere. */
export function valid(addr: u32, len: u64): bool {
  if (len == 0) return true;
  const floor = max<u32>(load<u32>(SA_FLOOR), NULL_GUARD);
  return addr >= floor && <u64>addr + len <= memEnd();
}

/**
 * ProgramMemory.readString's length: the bytes of the string at the 64-bit `address` read up to a
 * NUL or `count` bytes (the last then replaced by the NUL), or -1 if unreadable. Memory outside
 * linear memory is unreadable (a standalone module has no host to probe).
 */
export function stringLength(address: u64, count: u32): i32 {
  if (count == 0) return 0;
  const end = memEnd();
  if (address >= end) return -1;
  const a = <u32>address;
  if (a < max<u32>(load<u32>(SA_FLOOR), NULL_GUARD)) return -1;
  const stop = min<u64>(<u64>a + count, end);
  for (let p = <u64>a; p < stop; p++) if (load<u8>(<u32>p) == 0) return <i32>(p - a);
  return stop - a >= count ? <i32>count - 1 : -1;
}

/** ProgramMemory.read's check: `len` bytes at the 64-bit `address` are readable. */
export function readable(address: u64, len: u32): bool {
  if (len == 0) return true;
  if (address >= memEnd()) return false;
  return valid(<u32>address, len);
}
