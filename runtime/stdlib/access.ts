/**
 * Bounds-checked access to the program's linear memory (and the host memory it may probe) for the
 * standard helpers. Every pointer and length a program passes goes through here, so a bad one
 * yields `undefined`/`false` (which the helper turns into the kernel's errno) and never a JS
 * exception or a write outside the destination.
 *
 * Addresses below NULL_GUARD_SIZE are the null guard page: no object lives there, so they fault
 * like NULL does in the kernel. Views are made afresh on every call because memory may grow.
 */
import { NULL_GUARD_SIZE } from '../abi.js';
import type { HostEnv } from './host.js';

const U32_LIMIT = 0x1_0000_0000n;

/** The program's memory as the helpers read and write it. */
export class ProgramMemory {
  /** Lowest address a pointer argument may reach (the null guard, or more: see `floor`). */
  private readonly floor: number;

  /**
   * @param floor lowest address pointer arguments may reach (default: just above the null
   *   guard). The runtime passes the start of the map value arena, so that no helper reads or
   *   writes map descriptors and metadata for a program, whatever pointer it passes.
   */
  constructor(
    readonly memory: WebAssembly.Memory,
    private readonly probe?: HostEnv['probeRead'],
    floor = NULL_GUARD_SIZE,
  ) {
    this.floor = Math.max(floor, NULL_GUARD_SIZE);
  }

  /** A fresh byte view of all of linear memory. */
  bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  /** A fresh DataView of all of linear memory. */
  view(): DataView {
    return new DataView(this.memory.buffer);
  }

  /**
   * True if [addr, addr + len) lies in linear memory above the null guard. A zero length is
   * valid anywhere (the kernel's `ARG_CONST_SIZE_OR_ZERO` lets NULL go with size 0).
   */
  valid(addr: number, len: number): boolean {
    if (len === 0) return true;
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || len < 0) return false;
    return addr >= this.floor && addr + len <= this.memory.buffer.byteLength;
  }

  /** Copies `len` bytes at `addr` out of linear memory, or undefined if out of bounds. */
  copyOut(addr: number, len: number): Uint8Array | undefined {
    if (!this.valid(addr, len)) return undefined;
    return this.bytes().slice(addr, addr + len);
  }

  /** Writes `data` at `addr`; false (and nothing written) if it does not fit. */
  write(addr: number, data: Uint8Array): boolean {
    if (!this.valid(addr, data.length)) return false;
    this.bytes().set(data, addr);
    return true;
  }

  /** Zeroes [addr, addr + len) if it is valid. */
  zero(addr: number, len: number): void {
    if (len > 0 && this.valid(addr, len)) this.bytes().fill(0, addr, addr + len);
  }

  /** Writes a little-endian u64; false if out of bounds. */
  writeU64(addr: number, value: bigint): boolean {
    if (!this.valid(addr, 8)) return false;
    this.view().setBigUint64(addr, BigInt.asUintN(64, value), true);
    return true;
  }

  /**
   * Reads `len` bytes at a 64-bit address the way copy_from_kernel_nofault does: from linear
   * memory if the address is in it, else from the host's `probeRead`. Undefined on a fault.
   */
  read(address: bigint, len: number): Uint8Array | undefined {
    const a = BigInt.asUintN(64, address);
    if (len === 0) return new Uint8Array(0);
    const size = this.memory.buffer.byteLength;
    if (a < BigInt(size)) {
      const addr = Number(a);
      return addr >= this.floor && addr + len <= size ? this.bytes().slice(addr, addr + len) : undefined;
    }
    const got = this.probe?.(a, len);
    return got && got.length >= len ? got.slice(0, len) : undefined;
  }

  /**
   * Reads a NUL-terminated string the way strncpy_from_kernel_nofault(dst, src, count) does: it
   * reads bytes until a NUL or until `count` bytes have been read, and the last byte read is
   * replaced by the terminator. Returns the string's bytes without the NUL (so at most
   * `count - 1` of them), or undefined if a byte it had to read is not readable.
   */
  readString(address: bigint, count: number): Uint8Array | undefined {
    if (count <= 0) return new Uint8Array(0);
    const a = BigInt.asUintN(64, address);
    const size = this.memory.buffer.byteLength;
    let src: Uint8Array;
    if (a < BigInt(size)) {
      const addr = Number(a);
      if (addr < this.floor) return undefined;
      src = this.bytes().subarray(addr, Math.min(addr + count, size));
    } else {
      const got = this.probe?.(a, count);
      if (!got) return undefined;
      src = got.subarray(0, Math.min(got.length, count));
    }
    const nul = src.indexOf(0);
    if (nul >= 0) return src.slice(0, nul);
    return src.length >= count ? src.slice(0, count - 1) : undefined;
  }

  /**
   * The NUL-terminated string at `addr` in linear memory (a constant string such as a format),
   * without its NUL; undefined if `addr` is out of bounds or no NUL follows before the end of
   * memory (or within `limit` bytes).
   */
  cString(addr: number, limit = Infinity): Uint8Array | undefined {
    const size = this.memory.buffer.byteLength;
    if (!Number.isSafeInteger(addr) || addr < NULL_GUARD_SIZE || addr >= size) return undefined;
    const end = Math.min(size, addr + limit);
    const src = this.bytes().subarray(addr, end);
    const nul = src.indexOf(0);
    return nul >= 0 ? src.slice(0, nul) : undefined;
  }
}

/** A u64 length as a number if it is below 2^32, else undefined (no such range fits in memory). */
export function smallLength(len: bigint): number | undefined {
  const u = BigInt.asUintN(64, len);
  return u < U32_LIMIT ? Number(u) : undefined;
}
