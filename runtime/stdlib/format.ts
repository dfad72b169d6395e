/**
 * The kernel's formatting for bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf: the format
 * check and argument capture of `bpf_bprintf_prepare` (kernel/bpf/helpers.c) followed by the
 * rendering of `bstr_printf` (lib/vsprintf.c).
 *
 * Accepted conversions, as the kernel accepts them:
 *
 *     %d %i %u %x %X        int-sized; with `l` or `ll` 64-bit (%ld %lli %llx ...)
 *     %c                    one byte
 *     %s %pks %pus          a string read from memory (at most what is left of the kernel's
 *                           512-byte argument buffer); an unreadable one prints as ""
 *     %p %pK %px %ps %pS    a pointer
 *     %pI4 %pi4 %pI6 %pi6   an IPv4/IPv6 address read from memory (zeros if unreadable)
 *     %%
 *
 * with the flags `0 + - space` and a decimal width. Anything else (`%#x`, `%.3d`, `%*d`, `%hd`,
 * `%lc`, `%pB`, `%pM`, `%sx`, more conversions than arguments, a control character in the text)
 * is -EINVAL; running out of the 512-byte argument buffer is -ENOSPC. Bytes >= 0x80 are accepted
 * in the text but not right after `%` (Linux 6.1.x stable and later).
 *
 * Where bpf2wasm departs from the kernel, on purpose:
 * - Pointers print unhashed (as with the `no_hash_pointers` boot option): the kernel prints a
 *   hash keyed by a random boot secret for %p and %pK, which cannot be reproduced and protects
 *   nothing in a sandbox. %ps/%pS print `0x<hex>` as for an address without a symbol.
 * - %pB (a backtrace symbol, Linux 6.2+) is rejected with -EINVAL: there are no symbols.
 *
 * Kernel quirks kept: pre-formatted pieces (%pI4 and friends, %pks/%pus) ignore the width, and
 * once the output buffer is full they are not counted in the returned length (bstr_printf only
 * advances when `str < end`; with bpf_snprintf(NULL, 0, ...) they never count).
 */
import { isAlnum, isAscii, isDigit, isPrint, isPunct, isSpace } from './ctype.js';
import { Errno } from '../uapi/index.js';

/** Most arguments bpf_trace_vprintk and bpf_snprintf take (MAX_BPRINTF_VARARGS). */
export const MAX_BPRINTF_VARARGS = 12;
/** Arguments of bpf_trace_printk (MAX_TRACE_PRINTK_VARARGS). */
export const MAX_TRACE_PRINTK_VARARGS = 3;
/** Size of the kernel's output buffer for trace lines, with the NUL (MAX_BPRINTF_BUF). */
export const MAX_BPRINTF_BUF = 1024;
/** Size of the kernel's buffer for captured arguments and strings (MAX_BPRINTF_BIN_ARGS). */
export const MAX_BPRINTF_BIN_ARGS = 512;
const FIELD_WIDTH_MAX = (1 << 23) - 1;

/** Where `%s` and `%pI4` read from; see ProgramMemory.read / readString. */
export interface FormatMemory {
  read(address: bigint, length: number): Uint8Array | undefined;
  readString(address: bigint, count: number): Uint8Array | undefined;
}

/** The formatted text, as a C buffer of `size` bytes holds it, and the full length. */
export interface FormatOutput {
  /** The first min(length, size - 1) bytes (what precedes the NUL in the buffer). */
  bytes: Uint8Array;
  /** The length of the whole formatted text, as bstr_printf returns it. */
  length: number;
}

// printf_spec flags (lib/vsprintf.c).
const SIGN = 1;
const LEFT = 2;
const PLUS = 4;
const SPACE = 8;
const ZEROPAD = 16;
const SMALL = 32;

const ch = (s: string): number => s.charCodeAt(0);
const PERCENT = ch('%');

type Piece =
  | { kind: 'text'; bytes: Uint8Array }
  | { kind: 'num'; value: bigint; base: 10 | 16; flags: number; width: number }
  | { kind: 'char'; code: number; flags: number; width: number }
  | { kind: 'str'; bytes: Uint8Array; flags: number; width: number }
  /** Formatted while preparing (%pI4, %pks); printed without width. */
  | { kind: 'pre'; bytes: Uint8Array }
  | { kind: 'ptr'; value: bigint; ext: number; flags: number; width: number };

/** A checked format with its arguments captured, ready to render (bpf_bprintf_prepare's result). */
export interface PreparedFormat {
  readonly pieces: readonly Piece[];
}

/**
 * Checks `fmt` (the bytes before its NUL) against the kernel's rules and captures the arguments
 * (u64 values; strings and addresses are read from `mem` now, as the kernel copies them).
 * Returns a negative errno for an invalid format.
 */
export function prepareFormat(fmt: Uint8Array, args: readonly bigint[], mem: FormatMemory): PreparedFormat | number {
  const at = (i: number): number => (i < fmt.length ? fmt[i]! : 0);
  const pieces: Piece[] = [];
  let used = 0; // bytes of the kernel's bin_args buffer taken so far
  let numSpec = 0;
  let textStart = 0;
  const text = (end: number): void => {
    if (end > textStart) pieces.push({ kind: 'text', bytes: fmt.subarray(textStart, end) });
  };
  // bstr_printf skips every alphanumeric character after %p, whatever the checker consumed.
  const afterPointer = (p: number): number => {
    let j = p + 1;
    while (isAlnum(at(j))) j++;
    return j;
  };
  const takeNumber = (size: number): number => {
    used = (used + 3) & ~3;
    if (MAX_BPRINTF_BIN_ARGS - used < size) return -Errno.ENOSPC;
    used += size;
    return 0;
  };
  // %s, %pks, %pus: the string must end the conversion; it is copied now, truncated to the room left.
  const takeString = (i: number, arg: bigint): Uint8Array | number => {
    const next = at(i + 1);
    if (next !== 0 && !isSpace(next) && !isPunct(next)) return -Errno.EINVAL;
    if (used >= MAX_BPRINTF_BIN_ARGS) return -Errno.ENOSPC;
    const s = mem.readString(arg, MAX_BPRINTF_BIN_ARGS - used) ?? new Uint8Array(0);
    used += s.length + 1;
    return s;
  };

  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (isAscii(c) && !isPrint(c) && !isSpace(c)) return -Errno.EINVAL;
    if (c !== PERCENT) continue;
    if (at(i + 1) === PERCENT) {
      text(i + 1);
      i++;
      textStart = i + 1;
      continue;
    }
    if (numSpec >= args.length) return -Errno.EINVAL;
    text(i);
    const arg = BigInt.asUintN(64, args[numSpec]!);
    i++;
    if (!isAscii(at(i))) return -Errno.EINVAL;

    let flags = 0;
    for (;; i++) {
      const f = at(i);
      if (f === ch('0')) flags |= ZEROPAD;
      else if (f === ch('+')) flags |= PLUS;
      else if (f === ch('-')) flags |= LEFT;
      else if (f === ch(' ')) flags |= SPACE;
      else break;
    }
    let width = -1;
    if (at(i) >= ch('1') && at(i) <= ch('9')) {
      width = 0;
      for (; isDigit(at(i)); i++) width = Math.min(width * 10 + at(i) - ch('0'), FIELD_WIDTH_MAX);
    }

    const conv = at(i);
    if (conv === ch('p')) {
      const e1 = at(i + 1);
      const e2 = at(i + 2);
      textStart = afterPointer(i);
      if ((e1 === ch('k') || e1 === ch('u')) && e2 === ch('s')) {
        i += 2;
        const s = takeString(i, arg);
        if (typeof s === 'number') return s;
        pieces.push({ kind: 'pre', bytes: s });
      } else if (e1 === 0 || isSpace(e1) || isPunct(e1) || e1 === ch('K') || e1 === ch('x') || e1 === ch('s') || e1 === ch('S')) {
        const err = takeNumber(8);
        if (err < 0) return err;
        pieces.push({ kind: 'ptr', value: arg, ext: e1, flags, width });
        i++;
      } else {
        if ((e1 !== ch('i') && e1 !== ch('I')) || (e2 !== ch('4') && e2 !== ch('6'))) return -Errno.EINVAL;
        i += 2;
        const len = e2 === ch('4') ? 4 : 16;
        if (MAX_BPRINTF_BIN_ARGS - used < len) return -Errno.ENOSPC;
        const ip = formatIp(mem.read(arg, len) ?? new Uint8Array(len), e1 === ch('i'));
        used = Math.min(MAX_BPRINTF_BIN_ARGS, used + ip.length + 1);
        pieces.push({ kind: 'pre', bytes: ip });
      }
    } else if (conv === ch('s')) {
      const s = takeString(i, arg);
      if (typeof s === 'number') return s;
      pieces.push({ kind: 'str', bytes: s, flags, width });
      textStart = i + 1;
    } else if (conv === ch('c')) {
      if (used >= MAX_BPRINTF_BIN_ARGS) return -Errno.ENOSPC;
      used += 1;
      pieces.push({ kind: 'char', code: Number(arg & 0xffn), flags, width });
      textStart = i + 1;
    } else {
      let size = 4;
      if (at(i) === ch('l')) { size = 8; i++; }
      if (at(i) === ch('l')) { size = 8; i++; }
      const k = at(i);
      if (k !== ch('i') && k !== ch('d') && k !== ch('u') && k !== ch('x') && k !== ch('X')) return -Errno.EINVAL;
      const err = takeNumber(size);
      if (err < 0) return err;
      const value = size === 4 ? arg & 0xffffffffn : arg;
      const signed = k === ch('d') || k === ch('i');
      pieces.push({
        kind: 'num',
        value: signed ? BigInt.asIntN(size * 8, value) : value,
        base: k === ch('x') || k === ch('X') ? 16 : 10,
        flags: flags | (signed ? SIGN : 0) | (k === ch('x') ? SMALL : 0),
        width,
      });
      textStart = i + 1;
    }
    numSpec++;
  }
  text(fmt.length);
  return { pieces };
}

/** Renders a prepared format into a C buffer of `size` bytes (with its NUL), as bstr_printf does. */
export function renderFormat(prepared: PreparedFormat, size: number): FormatOutput {
  const out = new Output(size);
  for (const p of prepared.pieces) {
    switch (p.kind) {
      case 'text':
        out.bytes(p.bytes);
        break;
      case 'num':
        formatNumber(out, p.value, p.base, p.flags, p.width);
        break;
      case 'char':
        if (!(p.flags & LEFT)) out.repeat(ch(' '), p.width - 1);
        out.byte(p.code);
        if (p.flags & LEFT) out.repeat(ch(' '), p.width - 1);
        break;
      case 'str':
        formatString(out, p.bytes, p.flags, p.width);
        break;
      case 'pre':
        if (out.length < size) out.bytes(p.bytes);
        break;
      case 'ptr':
        if (p.ext === ch('s') || p.ext === ch('S')) {
          formatString(out, ascii(`0x${p.value.toString(16)}`), p.flags, p.width);
        } else if (p.width === -1) {
          formatNumber(out, p.value, 16, p.flags | SMALL | ZEROPAD, 16);
        } else {
          formatNumber(out, p.value, 16, p.flags | SMALL, p.width);
        }
        break;
    }
  }
  return { bytes: out.result(), length: out.length };
}

/** prepareFormat then renderFormat: the formatted text, or a negative errno. */
export function formatBpf(fmt: Uint8Array, args: readonly bigint[], mem: FormatMemory, size: number): FormatOutput | number {
  const prepared = prepareFormat(fmt, args, mem);
  return typeof prepared === 'number' ? prepared : renderFormat(prepared, size);
}

/**
 * The trace line a formatted buffer makes: up to its first NUL (the trace event copies a C
 * string), decoded as UTF-8, without one trailing newline (bpf_printk formats usually end in "\n").
 */
export function traceLine(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  const text = decoder.decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

const decoder = new TextDecoder();

/** number() of lib/vsprintf.c, without precision and the `#` prefix (bpf formats allow neither). */
function formatNumber(out: Output, num: bigint, base: 10 | 16, flags: number, width: number): void {
  if (flags & LEFT) flags &= ~ZEROPAD;
  let n = BigInt.asUintN(64, num);
  let sign = 0;
  if (flags & SIGN) {
    const s = BigInt.asIntN(64, n);
    if (s < 0n) {
      sign = ch('-');
      n = -s;
      width--;
    } else if (flags & PLUS) {
      sign = ch('+');
      width--;
    } else if (flags & SPACE) {
      sign = ch(' ');
      width--;
    }
  }
  let digits = n.toString(base);
  if (!(flags & SMALL)) digits = digits.toUpperCase();
  width -= digits.length;
  if (!(flags & (ZEROPAD | LEFT))) {
    out.repeat(ch(' '), width);
    width = -1;
  }
  if (sign) out.byte(sign);
  if (!(flags & LEFT)) {
    out.repeat(flags & ZEROPAD ? ch('0') : ch(' '), width);
    width = -1;
  }
  out.bytes(ascii(digits));
  out.repeat(ch(' '), width);
}

/** string() of lib/vsprintf.c: the bytes, padded with spaces to the width. */
function formatString(out: Output, bytes: Uint8Array, flags: number, width: number): void {
  const pad = width - bytes.length;
  if (!(flags & LEFT)) out.repeat(ch(' '), pad);
  out.bytes(bytes);
  if (flags & LEFT) out.repeat(ch(' '), pad);
}

/** %pI4 `1.2.3.4`, %pi4 `001.002.003.004`, %pI6 `0001:0db8:...`, %pi6 32 hex digits. */
function formatIp(raw: Uint8Array, leadingZeros: boolean): Uint8Array {
  if (raw.length === 4) {
    return ascii([...raw].map((b) => (leadingZeros ? String(b).padStart(3, '0') : String(b))).join('.'));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(raw[i]!.toString(16).padStart(2, '0') + raw[i + 1]!.toString(16).padStart(2, '0'));
  }
  return ascii(groups.join(leadingZeros ? '' : ':'));
}

function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/**
 * A C output buffer of `size` bytes: writes past its end are counted but dropped, like
 * vsnprintf's `str`/`end` pair. Storage grows with what is actually kept, so a huge width costs
 * a count, not memory.
 */
class Output {
  length = 0;
  private buf = new Uint8Array(64);

  constructor(private readonly size: number) {}

  byte(b: number): void {
    if (this.length < this.size) {
      this.reserve(this.length + 1);
      this.buf[this.length] = b;
    }
    this.length++;
  }

  bytes(src: Uint8Array): void {
    const room = this.size - this.length;
    if (room > 0) {
      const n = Math.min(room, src.length);
      this.reserve(this.length + n);
      this.buf.set(src.subarray(0, n), this.length);
    }
    this.length += src.length;
  }

  repeat(b: number, count: number): void {
    if (count <= 0) return;
    const room = this.size - this.length;
    if (room > 0) {
      const n = Math.min(room, count);
      this.reserve(this.length + n);
      this.buf.fill(b, this.length, this.length + n);
    }
    this.length += count;
  }

  result(): Uint8Array {
    return this.buf.slice(0, Math.max(0, Math.min(this.length, this.size - 1)));
  }

  private reserve(n: number): void {
    if (n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(n, this.buf.length * 2));
    next.set(this.buf);
    this.buf = next;
  }
}
