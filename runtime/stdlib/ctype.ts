/**
 * The kernel's `<linux/ctype.h>` classes (lib/ctype.c), which are Latin-1 rather than C-locale
 * ASCII: 0xa0 is a space and 0xa1..0xbf are punctuation. The format checker of the printf-like
 * helpers and `bpf_strtol` classify bytes with these, so they do too.
 */

const C = 0x01; // control
const S = 0x02; // white space (isspace)
const P = 0x04; // punctuation
const D = 0x08; // digit
const U = 0x10; // upper case
const L = 0x20; // lower case
const X = 0x40; // hex digit
const SP = 0x80; // the space character (hard space 0xa0 too)

const TABLE = new Uint8Array(256);
function fill(from: number, to: number, cls: number): void {
  for (let c = from; c <= to; c++) TABLE[c] = cls;
}
fill(0x00, 0x1f, C);
fill(0x09, 0x0d, C | S);
TABLE[0x20] = S | SP;
fill(0x21, 0x2f, P);
fill(0x30, 0x39, D);
fill(0x3a, 0x40, P);
fill(0x41, 0x46, U | X);
fill(0x47, 0x5a, U);
fill(0x5b, 0x60, P);
fill(0x61, 0x66, L | X);
fill(0x67, 0x7a, L);
fill(0x7b, 0x7e, P);
TABLE[0x7f] = C;
TABLE[0xa0] = S | SP;
fill(0xa1, 0xbf, P);
fill(0xc0, 0xde, U);
TABLE[0xd7] = P;
fill(0xdf, 0xff, L);
TABLE[0xf7] = P;

/** `isspace`: \t \n \v \f \r, space and 0xa0. */
export function isSpace(c: number): boolean {
  return (TABLE[c & 0xff]! & S) !== 0;
}

/** `ispunct`. */
export function isPunct(c: number): boolean {
  return (TABLE[c & 0xff]! & P) !== 0;
}

/** `isprint`: punctuation, letters, digits and the space characters. */
export function isPrint(c: number): boolean {
  return (TABLE[c & 0xff]! & (P | U | L | D | SP)) !== 0;
}

/** `isalnum`. */
export function isAlnum(c: number): boolean {
  return (TABLE[c & 0xff]! & (U | L | D)) !== 0;
}

/** `isascii`. */
export function isAscii(c: number): boolean {
  return c >= 0 && c <= 0x7f;
}

/** `isdigit`. */
export function isDigit(c: number): boolean {
  return (TABLE[c & 0xff]! & D) !== 0;
}

/** `isxdigit`. */
export function isXDigit(c: number): boolean {
  return (TABLE[c & 0xff]! & (D | X)) !== 0;
}
