/**
 * The kernel's bpf_trace_printk / bpf_trace_vprintk / bpf_snprintf formatting, as
 * runtime/stdlib/format.ts implements it for the JS runtime (same conversions, flags, widths,
 * errors and quirks; see there), without a heap: `format` walks the format twice, first to check
 * it and account for the kernel's 512-byte argument buffer (`emit` false), then to write the text
 * into a C buffer of `size` bytes (`emit` true). Output state lives in the scratch words SA_OUT_*.
 */
import { SA_DIGITS, SA_OUT_BASE, SA_OUT_EMIT, SA_OUT_LEN, SA_OUT_SIZE, SA_OUT_USED } from './config';
import { readable, stringLength } from './mem';

const EINVAL: i32 = 22;
const ENOSPC: i32 = 28;
/** MAX_BPRINTF_BIN_ARGS. */
const BIN_ARGS: u32 = 512;
const FIELD_WIDTH_MAX: i32 = (1 << 23) - 1;

const SIGN: u32 = 1;
const LEFT: u32 = 2;
const PLUS: u32 = 4;
const SPACE: u32 = 8;
const ZEROPAD: u32 = 16;
const SMALL: u32 = 32;

// ---- ctype (lib/ctype.c, Latin-1) ----
function isSpace(c: u32): bool {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0xa0;
}
function isPunct(c: u32): bool {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e)
    || (c >= 0xa1 && c <= 0xbf) || c == 0xd7 || c == 0xf7;
}
function isDigit(c: u32): bool {
  return c >= 0x30 && c <= 0x39;
}
function isAlnum(c: u32): bool {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0xc0 && c <= 0xff && c != 0xd7 && c != 0xf7);
}
function isPrint(c: u32): bool {
  return c >= 0x20 && c <= 0x7e;
}

/** The format byte at `j`, or 0 past its end. */
function byteAt(fmt: u32, fmtLen: u32, j: u32): u32 {
  return j < fmtLen ? <u32>load<u8>(fmt + j) : 0;
}

// ---- output: a C buffer of SA_OUT_SIZE bytes at SA_OUT_BASE; writes past the end are counted ----
function outByte(b: u32): void {
  const len = load<u32>(SA_OUT_LEN);
  if (load<u32>(SA_OUT_EMIT) != 0 && len < load<u32>(SA_OUT_SIZE)) store<u8>(load<u32>(SA_OUT_BASE) + len, <u8>b);
  store<u32>(SA_OUT_LEN, len + 1);
}
function outBytes(src: u32, n: u32): void {
  if (n == 0) return; // (memory.copy traps on a source past memory even for no bytes)
  const len = load<u32>(SA_OUT_LEN);
  const size = load<u32>(SA_OUT_SIZE);
  if (load<u32>(SA_OUT_EMIT) != 0 && len < size) memory.copy(load<u32>(SA_OUT_BASE) + len, src, min<u32>(n, size - len));
  store<u32>(SA_OUT_LEN, len + n);
}
function outRepeat(b: u32, count: i32): void {
  if (count <= 0) return;
  const len = load<u32>(SA_OUT_LEN);
  const size = load<u32>(SA_OUT_SIZE);
  if (load<u32>(SA_OUT_EMIT) != 0 && len < size) memory.fill(load<u32>(SA_OUT_BASE) + len, <u8>b, min<u32>(<u32>count, size - len));
  store<u32>(SA_OUT_LEN, len + <u32>count);
}

/** The digits of `n` in `base` at SA_DIGITS (upper case unless `small`); returns their count. */
function digits(n: u64, base: u32, small: bool): i32 {
  let k = 0;
  do {
    const d = <u32>(n % base);
    store<u8>(SA_DIGITS + 39 - k, <u8>(d < 10 ? 0x30 + d : (small ? 0x61 : 0x41) + d - 10));
    n /= base;
    k++;
  } while (n != 0);
  return k;
}

/** number() of lib/vsprintf.c, without precision and `#`. */
function formatNumber(num: u64, base: u32, flags: u32, width: i32): void {
  if (flags & LEFT) flags &= ~ZEROPAD;
  let n = num;
  let sign: u32 = 0;
  if (flags & SIGN) {
    if (<i64>n < 0) {
      sign = 0x2d;
      n = 0 - n;
      width--;
    } else if (flags & PLUS) {
      sign = 0x2b;
      width--;
    } else if (flags & SPACE) {
      sign = 0x20;
      width--;
    }
  }
  const k = digits(n, base, (flags & SMALL) != 0);
  width -= k;
  if (!(flags & (ZEROPAD | LEFT))) {
    outRepeat(0x20, width);
    width = -1;
  }
  if (sign) outByte(sign);
  if (!(flags & LEFT)) {
    outRepeat(flags & ZEROPAD ? 0x30 : 0x20, width);
    width = -1;
  }
  outBytes(SA_DIGITS + 40 - k, k);
  outRepeat(0x20, width);
}

/** string(): `n` bytes at `src` padded with spaces to the width. */
function formatString(src: u32, n: u32, flags: u32, width: i32): void {
  const pad = width - <i32>n;
  if (!(flags & LEFT)) outRepeat(0x20, pad);
  outBytes(src, n);
  if (flags & LEFT) outRepeat(0x20, pad);
}

/** %pI4 / %pi4 / %pI6 / %pi6 of the bytes at `addr` (zeros when unreadable): writes it (when `emit`), returns its length. */
function formatIp(addr: u64, v6: bool, leading: bool, emit: bool): u32 {
  const ok = readable(addr, v6 ? 16 : 4);
  let len: u32 = 0;
  if (!v6) {
    for (let i: u32 = 0; i < 4; i++) {
      if (i > 0) {
        if (emit) outByte(0x2e);
        len++;
      }
      const b = ok ? <u32>load<u8>(<u32>addr + i) : 0;
      if (leading) {
        if (emit) {
          outByte(0x30 + b / 100);
          outByte(0x30 + (b / 10) % 10);
          outByte(0x30 + b % 10);
        }
        len += 3;
      } else {
        const k = <u32>digits(b, 10, true);
        if (emit) outBytes(SA_DIGITS + 40 - k, k);
        len += k;
      }
    }
    return len;
  }
  for (let i: u32 = 0; i < 16; i++) {
    if (!leading && i > 0 && (i & 1) == 0) {
      if (emit) outByte(0x3a);
      len++;
    }
    const b = ok ? <u32>load<u8>(<u32>addr + i) : 0;
    if (emit) {
      const hi = b >> 4;
      const lo = b & 15;
      outByte(hi < 10 ? 0x30 + hi : 0x61 + hi - 10);
      outByte(lo < 10 ? 0x30 + lo : 0x61 + lo - 10);
    }
    len += 2;
  }
  return len;
}

/**
 * Formats `fmtLen` bytes of format at `fmt` (no NUL among them) with `nargs` u64 arguments at
 * `args`. With `emit` false nothing is written: the result is the length or a negative errno
 * (prepareFormat's checks). With `emit` true (after a successful check) the text goes to the
 * `size`-byte buffer at `out` (renderFormat; no NUL written) and the result is the full length.
 */
export function format(fmt: u32, fmtLen: u32, args: u32, nargs: u32, out: u32, size: u32, emit: bool): i64 {
  store<u32>(SA_OUT_BASE, out);
  store<u32>(SA_OUT_LEN, 0);
  store<u32>(SA_OUT_SIZE, size);
  store<u32>(SA_OUT_EMIT, emit ? 1 : 0);
  let used: u32 = 0;
  let numSpec: u32 = 0;
  let textStart: u32 = 0;
  for (let i: u32 = 0; i < fmtLen; i++) {
    const c = <u32>load<u8>(fmt + i);
    if (c < 0x80 && !isPrint(c) && !isSpace(c)) return -EINVAL;
    if (c != 0x25) continue;
    if (byteAt(fmt, fmtLen, i + 1) == 0x25) {
      outBytes(fmt + textStart, i + 1 - textStart);
      i++;
      textStart = i + 1;
      continue;
    }
    if (numSpec >= nargs) return -EINVAL;
    if (i > textStart) outBytes(fmt + textStart, i - textStart);
    const arg = load<u64>(args + numSpec * 8);
    i++;
    if (byteAt(fmt, fmtLen, i) >= 0x80) return -EINVAL;
    let flags: u32 = 0;
    for (;; i++) {
      const f = byteAt(fmt, fmtLen, i);
      if (f == 0x30) flags |= ZEROPAD;
      else if (f == 0x2b) flags |= PLUS;
      else if (f == 0x2d) flags |= LEFT;
      else if (f == 0x20) flags |= SPACE;
      else break;
    }
    let width: i32 = -1;
    if (byteAt(fmt, fmtLen, i) >= 0x31 && byteAt(fmt, fmtLen, i) <= 0x39) {
      width = 0;
      for (; isDigit(byteAt(fmt, fmtLen, i)); i++) width = min<i32>(width * 10 + <i32>byteAt(fmt, fmtLen, i) - 0x30, FIELD_WIDTH_MAX);
    }
    const conv = byteAt(fmt, fmtLen, i);
    if (conv == 0x70) { // p
      const e1 = byteAt(fmt, fmtLen, i + 1);
      const e2 = byteAt(fmt, fmtLen, i + 2);
      let j = i + 1;
      while (isAlnum(byteAt(fmt, fmtLen, j))) j++;
      textStart = j;
      if ((e1 == 0x6b || e1 == 0x75) && e2 == 0x73) { // %pks %pus
        i += 2;
        const next = byteAt(fmt, fmtLen, i + 1);
        if (next != 0 && !isSpace(next) && !isPunct(next)) return -EINVAL;
        if (used >= BIN_ARGS) return -ENOSPC;
        const n = max<i32>(stringLength(arg, BIN_ARGS - used), 0);
        used += <u32>n + 1;
        if (load<u32>(SA_OUT_LEN) < size) outBytes(<u32>arg, <u32>n);
      } else if (e1 == 0 || isSpace(e1) || isPunct(e1) || e1 == 0x4b || e1 == 0x78 || e1 == 0x73 || e1 == 0x53) {
        used = (used + 3) & ~3;
        if (BIN_ARGS - used < 8) return -ENOSPC;
        used += 8;
        if (e1 == 0x73 || e1 == 0x53) {
          // "0x" + hex, as a string with the width
          const k = digits(arg, 16, true);
          store<u8>(SA_DIGITS + 38 - k, 0x30);
          store<u8>(SA_DIGITS + 39 - k, 0x78);
          formatString(SA_DIGITS + 38 - k, k + 2, flags, width);
        } else if (width == -1) {
          formatNumber(arg, 16, flags | SMALL | ZEROPAD, 16);
        } else {
          formatNumber(arg, 16, flags | SMALL, width);
        }
        i++;
      } else {
        if ((e1 != 0x69 && e1 != 0x49) || (e2 != 0x34 && e2 != 0x36)) return -EINVAL;
        i += 2;
        const v6 = e2 == 0x36;
        const need: u32 = v6 ? 16 : 4;
        if (BIN_ARGS - used < need) return -ENOSPC;
        const show = load<u32>(SA_OUT_LEN) < size;
        const len = formatIp(arg, v6, e1 == 0x69, show);
        used = min<u32>(BIN_ARGS, used + len + 1);
      }
    } else if (conv == 0x73) { // s
      const next = byteAt(fmt, fmtLen, i + 1);
      if (next != 0 && !isSpace(next) && !isPunct(next)) return -EINVAL;
      if (used >= BIN_ARGS) return -ENOSPC;
      const n = max<i32>(stringLength(arg, BIN_ARGS - used), 0);
      used += <u32>n + 1;
      formatString(<u32>arg, <u32>n, flags, width);
      textStart = i + 1;
    } else if (conv == 0x63) { // c
      if (used >= BIN_ARGS) return -ENOSPC;
      used += 1;
      if (!(flags & LEFT)) outRepeat(0x20, width - 1);
      outByte(<u32>(arg & 0xff));
      if (flags & LEFT) outRepeat(0x20, width - 1);
      textStart = i + 1;
    } else {
      let sz: u32 = 4;
      if (byteAt(fmt, fmtLen, i) == 0x6c) { sz = 8; i++; }
      if (byteAt(fmt, fmtLen, i) == 0x6c) { sz = 8; i++; }
      const k = byteAt(fmt, fmtLen, i);
      if (k != 0x69 && k != 0x64 && k != 0x75 && k != 0x78 && k != 0x58) return -EINVAL;
      used = (used + 3) & ~3;
      if (BIN_ARGS - used < sz) return -ENOSPC;
      used += sz;
      const signed = k == 0x64 || k == 0x69;
      let value = sz == 4 ? arg & 0xffffffff : arg;
      if (signed && sz == 4) value = <u64><i64><i32><u32>value;
      formatNumber(value, k == 0x78 || k == 0x58 ? 16 : 10, flags | (signed ? SIGN : 0) | (k == 0x78 ? SMALL : 0), width);
      textStart = i + 1;
    }
    numSpec++;
  }
  if (fmtLen > textStart) outBytes(fmt + textStart, fmtLen - textStart);
  return <i64>load<u32>(SA_OUT_LEN);
}
