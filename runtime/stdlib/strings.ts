/**
 * bpf_strtol / bpf_strtoul / bpf_strncmp on byte strings, as kernel/bpf/helpers.c implements them
 * (`__bpf_strtoull` over lib/kstrtox.c's `_parse_integer`).
 */
import { isSpace, isXDigit } from './ctype.js';
import { Errno } from '../uapi/index.js';

/** The base bits of bpf_strtol's flags; any other bit set is -EINVAL. */
export const BPF_STRTOX_BASE_MASK = 0x1f;

const U64_MAX = (1n << 64n) - 1n;
const MINUS = 0x2d;

/** What __bpf_strtoull found: the characters consumed, the magnitude and its sign. */
interface ParsedInteger {
  consumed: number;
  value: bigint;
  negative: boolean;
}

/**
 * `__bpf_strtoull`: skips leading white space, takes one optional `-` (never `+`), then an
 * integer in base 0 (auto: `0x` hex, `0` octal, else decimal), 8, 10 or 16 (`0x` allowed).
 * At most 63 characters after the sign are looked at. Returns a negative errno: -EINVAL for bad
 * flags or no digits, -ERANGE if the magnitude does not fit 64 bits.
 */
function parseUnsigned(buf: Uint8Array, flags: bigint): ParsedInteger | number {
  let base = Number(flags & BigInt(BPF_STRTOX_BASE_MASK));
  if (buf.length === 0) return -Errno.EINVAL;
  if (base !== 0 && base !== 8 && base !== 10 && base !== 16) return -Errno.EINVAL;
  if (flags & ~BigInt(BPF_STRTOX_BASE_MASK)) return -Errno.EINVAL;

  let pos = 0;
  while (pos < buf.length && isSpace(buf[pos]!)) pos++;
  const negative = pos < buf.length && buf[pos] === MINUS;
  if (negative) pos++;
  if (pos === buf.length) return -Errno.EINVAL;

  // The kernel copies what is left into a 64-byte NUL-terminated buffer.
  const str = buf.subarray(pos, pos + 63);
  const at = (i: number): number => (i < str.length ? str[i]! : 0);
  const lower = (c: number): number => c | 0x20;

  // _parse_integer_fixup_radix
  let i = 0;
  if (base === 0) {
    if (at(0) === 0x30) base = lower(at(1)) === 0x78 && isXDigit(at(2)) ? 16 : 8;
    else base = 10;
  }
  if (base === 16 && at(0) === 0x30 && lower(at(1)) === 0x78) i = 2;

  // _parse_integer: keeps going after an overflow, which it only reports.
  const start = i;
  let value = 0n;
  let overflow = false;
  const b = BigInt(base);
  for (;; i++) {
    const c = at(i);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (lower(c) >= 0x61 && lower(c) <= 0x66) digit = lower(c) - 0x61 + 10;
    else break;
    if (digit >= base) break;
    value = value * b + BigInt(digit);
    if (value > U64_MAX) {
      overflow = true;
      value &= U64_MAX;
    }
  }
  if (overflow) return -Errno.ERANGE;
  if (i === start) return -Errno.EINVAL;
  return { consumed: pos + i, value, negative };
}

/**
 * bpf_strtol: the number of characters consumed and the value (a signed 64-bit bigint), or a
 * negative errno (-EINVAL, -ERANGE when the value does not fit a long).
 */
export function strtol(buf: Uint8Array, flags: bigint): { consumed: number; value: bigint } | number {
  const r = parseUnsigned(buf, BigInt.asUintN(64, flags));
  if (typeof r === 'number') return r;
  if (r.negative) {
    if (r.value > 1n << 63n) return -Errno.ERANGE;
    return { consumed: r.consumed, value: BigInt.asIntN(64, -r.value) };
  }
  if (r.value >= 1n << 63n) return -Errno.ERANGE;
  return { consumed: r.consumed, value: r.value };
}

/**
 * bpf_strtoul: the number of characters consumed and the value (an unsigned 64-bit bigint), or a
 * negative errno (-EINVAL also for a negative number, -ERANGE when it does not fit 64 bits).
 */
export function strtoul(buf: Uint8Array, flags: bigint): { consumed: number; value: bigint } | number {
  const r = parseUnsigned(buf, BigInt.asUintN(64, flags));
  if (typeof r === 'number') return r;
  if (r.negative) return -Errno.EINVAL;
  return { consumed: r.consumed, value: r.value };
}

/**
 * The kernel's strncmp: compares at most `n` bytes, stopping after a NUL; -1, 0 or 1. `s2`
 * is read through `byteAt`, which returns undefined past readable memory; then the result is
 * undefined (the caller returns -EFAULT).
 */
export function strncmp(s1: Uint8Array, n: number, byteAt: (i: number) => number | undefined): number | undefined {
  for (let i = 0; i < n; i++) {
    const c1 = s1[i]!;
    const c2 = byteAt(i);
    if (c2 === undefined) return undefined;
    if (c1 !== c2) return c1 < c2 ? -1 : 1;
    if (c1 === 0) break;
  }
  return 0;
}
