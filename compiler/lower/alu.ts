/**
 * Lowering of arithmetic: ALU and ALU64 instructions and byte swaps (`end`). Semantics follow
 * RFC 9669 exactly: division by zero gives 0, modulo by zero leaves dst unchanged, signed division
 * of INT_MIN by -1 wraps (Wasm would trap), shift counts are masked to the width.
 */
import type { AluInsn, EndInsn } from '../../runtime/isa/insn.js';
import { w, type Node } from '../wir.js';
import { get32, get64, i64c, set32, set64 } from './state.js';

/** `dst op= src` (or imm) at the instruction's width. */
export function lowerAlu(insn: AluInsn): Node {
  if (insn.src === null) return insn.width === 64 ? lowerAlu64(insn) : lowerAlu32(insn);
  // With a source register the statement depends only on the operation, width and registers
  // (and movsx's bits), and WIR nodes are never changed: each is made once and shared (half
  // the ALU instructions of a large program, among a few thousand shapes).
  const forms = (REG_FORMS[insn.width === 64 ? 1 : 0][insn.op] ??= []);
  const at = ((insn.dst * REGS + insn.src) << 3) + (insn.sxBits >> 3);
  return (forms[at] ??= insn.width === 64 ? lowerAlu64(insn) : lowerAlu32(insn));
}

/** Registers r0-r10. */
const REGS = 11;
/** The register-form statements made so far, by width (32, 64) and operation; see lowerAlu. */
const REG_FORMS: [Partial<Record<AluInsn['op'], Node[]>>, Partial<Record<AluInsn['op'], Node[]>>] = [{}, {}];

function lowerAlu64(insn: AluInsn): Node {
  const m = w;
  // Operands are shared leaves (nodes are immutable), so each is built once.
  const d = get64(insn.dst);
  const isImm = insn.src === null;
  // ALU64 immediates are sign-extended to 64 bits.
  const s = isImm ? i64c(insn.imm) : get64(insn.src!);
  const zero = m.i64.constNum(0);
  let v: Node;
  switch (insn.op) {
    case 'add': v = m.i64.add(d, s); break;
    case 'sub': v = m.i64.sub(d, s); break;
    case 'mul': v = m.i64.mul(d, s); break;
    case 'or': v = m.i64.or(d, s); break;
    case 'and': v = m.i64.and(d, s); break;
    case 'xor': v = m.i64.xor(d, s); break;
    // Wasm masks shift counts to the width, as RFC 9669 requires.
    case 'lsh': v = m.i64.shl(d, s); break;
    case 'rsh': v = m.i64.shr_u(d, s); break;
    case 'arsh': v = m.i64.shr_s(d, s); break;
    case 'neg': v = m.i64.sub(zero, d); break;
    case 'mov': v = s; break;
    case 'movsx':
      v = insn.sxBits === 8 ? m.i64.extend8_s(s) : insn.sxBits === 16 ? m.i64.extend16_s(s) : m.i64.extend32_s(s);
      break;
    // Division by zero gives 0; modulo by zero leaves dst unchanged.
    case 'div':
      if (isImm) v = insn.imm === 0 ? zero : m.i64.div_u(d, s);
      else v = m.if(m.i64.eqz(s), zero, m.i64.div_u(d, s));
      break;
    case 'mod':
      if (isImm) v = insn.imm === 0 ? d : m.i64.rem_u(d, s);
      else v = m.if(m.i64.eqz(s), d, m.i64.rem_u(d, s));
      break;
    // Signed: x / -1 is -x (INT_MIN / -1 wraps to INT_MIN; Wasm would trap); Wasm's rem_s of
    // INT_MIN by -1 is already 0.
    case 'sdiv':
      if (isImm) {
        v = insn.imm === 0 ? zero : insn.imm === -1 ? m.i64.sub(zero, d) : m.i64.div_s(d, s);
      } else {
        v = m.if(
          m.i64.eqz(s),
          zero,
          m.if(m.i64.eq(s, m.i64.const(-1n)), m.i64.sub(zero, d), m.i64.div_s(d, s)),
        );
      }
      break;
    case 'smod':
      if (isImm) v = insn.imm === 0 ? d : m.i64.rem_s(d, s);
      else v = m.if(m.i64.eqz(s), d, m.i64.rem_s(d, s));
      break;
  }
  return set64(insn.dst, v);
}

function lowerAlu32(insn: AluInsn): Node {
  const m = w;
  const d = get32(insn.dst);
  const isImm = insn.src === null;
  const s = isImm ? m.i32.const(insn.imm | 0) : get32(insn.src!);
  const zero = m.i32.const(0);
  let v: Node;
  switch (insn.op) {
    case 'add': v = m.i32.add(d, s); break;
    case 'sub': v = m.i32.sub(d, s); break;
    case 'mul': v = m.i32.mul(d, s); break;
    case 'or': v = m.i32.or(d, s); break;
    case 'and': v = m.i32.and(d, s); break;
    case 'xor': v = m.i32.xor(d, s); break;
    case 'lsh': v = m.i32.shl(d, s); break;
    case 'rsh': v = m.i32.shr_u(d, s); break;
    case 'arsh': v = m.i32.shr_s(d, s); break;
    case 'neg': v = m.i32.sub(zero, d); break;
    case 'mov': v = s; break;
    case 'movsx': v = insn.sxBits === 8 ? m.i32.extend8_s(s) : m.i32.extend16_s(s); break;
    case 'div':
      if (isImm) v = insn.imm === 0 ? zero : m.i32.div_u(d, s);
      else v = m.if(m.i32.eqz(s), zero, m.i32.div_u(d, s));
      break;
    case 'mod':
      if (isImm) v = insn.imm === 0 ? d : m.i32.rem_u(d, s);
      else v = m.if(m.i32.eqz(s), d, m.i32.rem_u(d, s));
      break;
    case 'sdiv':
      if (isImm) {
        v = insn.imm === 0 ? zero : insn.imm === -1 ? m.i32.sub(zero, d) : m.i32.div_s(d, s);
      } else {
        v = m.if(
          m.i32.eqz(s),
          zero,
          m.if(m.i32.eq(s, m.i32.const(-1)), m.i32.sub(zero, d), m.i32.div_s(d, s)),
        );
      }
      break;
    case 'smod':
      if (isImm) v = insn.imm === 0 ? d : m.i32.rem_s(d, s);
      else v = m.if(m.i32.eqz(s), d, m.i32.rem_s(d, s));
      break;
  }
  return set32(insn.dst, v);
}

/** Byte swaps: to-LE truncates (little-endian host), to-BE reverses the low `bits`. */
export function lowerEnd(insn: EndInsn): Node {
  const m = w;
  const r = insn.dst;
  if (insn.op === 'le') {
    // Little-endian host: to-LE only truncates.
    if (insn.bits === 64) return m.nop();
    if (insn.bits === 32) return set32(r, get32(r));
    return set32(r, m.i32.and(get32(r), m.i32.const(0xffff)));
  }
  if (insn.bits === 16) return set32(r, bswap16(m, get32(r)));
  if (insn.bits === 32) return set32(r, bswap32(m, get32(r), () => get32(r)));
  // 64-bit: swap each half and exchange them.
  const lo = m.i64.extend_u(bswap32(m, get32(r), () => get32(r)));
  const hiWord = (): Node => m.i32.wrap(m.i64.shr_u(get64(r), m.i64.const(32n)));
  const hi = m.i64.extend_u(bswap32(m, hiWord(), hiWord));
  return set64(r, m.i64.or(m.i64.shl(lo, m.i64.const(32n)), hi));
}

/** Swaps the two low bytes of an i32 (upper half must be ignored by the caller's truncation). */
export function bswap16(m: typeof w, x: Node): Node {
  // ((x & 0xff) << 8) | ((x >> 8) & 0xff); sharing the pure node x is fine in a tree of WIR.
  const copy = x;
  return m.i32.or(
    m.i32.shl(m.i32.and(x, m.i32.const(0xff)), m.i32.const(8)),
    m.i32.and(m.i32.shr_u(copy, m.i32.const(8)), m.i32.const(0xff)),
  );
}

/** Byte-reverses an i32: rotl(x & 0xff00ff00, 8) | rotr(x & 0x00ff00ff, 8). */
export function bswap32(m: typeof w, x: Node, again: () => Node): Node {
  return m.i32.or(
    m.i32.rotl(m.i32.and(x, m.i32.const(0xff00ff00 | 0)), m.i32.const(8)),
    m.i32.rotr(m.i32.and(again(), m.i32.const(0x00ff00ff)), m.i32.const(8)),
  );
}
