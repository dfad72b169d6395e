/**
 * 64-bit unsigned division and modulo on 32-bit values as 32-bit operations: C code that divides
 * `unsigned int`s (or `int`s clang proved non-negative) compiles for eBPF cpu v1, which has no
 * 32-bit compares, to 64-bit `div`/`mod` on registers zero-extended first (`r4 <<= 32; r4 >>= 32`).
 * Wasm's `i64.div_u` is what V8 emits as a 64-bit divide, which costs several times a 32-bit one
 * on x86-64 CPUs before Ice Lake; clang's own wasm32 code divides in 32 bits. When both operands
 * are known to be below 2^32 the quotient and remainder are the same in 32 bits, so the lowering
 * may divide there and zero-extend.
 *
 * What is known is computed per basic block, forward from its start (nothing is known at a block
 * start): a register holds a value below 2^32 after a 32-bit ALU operation (which zero-extends),
 * a 64-bit move of such a register or of a non-negative immediate, a right shift by 32 or more,
 * an `and` with a non-negative immediate or with such a register, an unsigned division of such a
 * value (the quotient is not larger) or a modulo of one (the remainder is below the divisor, or the
 * value itself when the divisor is 0), an unsigned load of 1, 2 or 4 bytes, a 16- or 32-bit byte
 * swap, and a `lddw` of a constant below 2^32. Anything else that writes a register (calls clobber
 * r0-r5) makes it unknown.
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import type { AluInsn, Insn, InsnList, Reg } from '../../runtime/isa/insn.js';
import { w, type Node } from '../wir.js';
import { get32, set64 } from '../lower/state.js';

const U32_LIMIT = 1n << 32n;

/**
 * The instruction indices (`pc`) of the 64-bit `div` and `mod` instructions of `blocks` whose
 * operands are both below 2^32 where they run.
 */
export function findNarrowDivisions(blocks: readonly BasicBlock[], insns: InsnList): Set<number> {
  const out = new Set<number>();
  for (const b of blocks) {
    let any = false;
    for (let i = b.first; i <= b.last; i++) {
      const x = insns.get(i)!;
      if (x.kind === 'alu' && (x.op === 'div' || x.op === 'mod')) any = true;
    }
    if (any) addNarrowDivisions(b, insns, out);
  }
  return out;
}

/**
 * Adds to `out` the `pc` of the 64-bit `div` and `mod` instructions of block `b` whose operands
 * are both below 2^32 (the lowering asks for each block that has a division, when it meets the
 * first one, rather than walking every block of the function first).
 */
export function addNarrowDivisions(b: BasicBlock, insns: InsnList, out: Set<number>): void {
  const known = new Uint8Array(11);
  for (let i = b.first; i <= b.last; i++) {
    // Stores and jumps write no register: not decoded (a large program's instructions are
    // decoded anew on every get).
    const kind = insns.kind(i);
    if (kind === 'st' || kind === 'stx' || kind === 'ja' || kind === 'jcond' || kind === 'exit') continue;
    const x = insns.peek(i)!;
    if (x.kind === 'alu' && x.width === 64 && (x.op === 'div' || x.op === 'mod')) {
      const srcKnown = x.src === null ? x.imm >= 0 : known[x.src] === 1;
      if (known[x.dst] === 1 && srcKnown) out.add(x.pc);
    }
    step(x, known);
  }
}

/** Updates `known` (1: the register is below 2^32) for the effect of `x`. */
function step(x: Insn, known: Uint8Array): void {
  switch (x.kind) {
    case 'alu': {
      if (x.width === 32) {
        setKnown(known, x.dst, true);
        return;
      }
      const srcKnown = x.src === null ? x.imm >= 0 : known[x.src] === 1;
      switch (x.op) {
        case 'mov':
          setKnown(known, x.dst, x.sxBits === 0 && srcKnown);
          return;
        case 'rsh':
          setKnown(known, x.dst, known[x.dst] === 1 || (x.src === null && (x.imm & 63) >= 32));
          return;
        case 'and':
          setKnown(known, x.dst, known[x.dst] === 1 || srcKnown);
          return;
        case 'div':
        case 'mod':
          setKnown(known, x.dst, known[x.dst] === 1);
          return;
        default:
          setKnown(known, x.dst, false);
          return;
      }
    }
    case 'ldx':
      setKnown(known, x.dst, !x.signed && x.size < 8);
      return;
    case 'end':
      setKnown(known, x.dst, x.bits < 64);
      return;
    case 'lddw':
      setKnown(known, x.dst, x.src === 0 && x.value >= 0n && x.value < U32_LIMIT);
      return;
    case 'call':
    case 'call_local':
    case 'callx':
    case 'kfunc':
      for (let r = 0; r <= 5; r++) known[r] = 0;
      return;
    case 'atomic':
      // A fetching atomic writes the old value into src (r0 for cmpxchg).
      known[x.src] = 0;
      known[0] = 0;
      return;
    case 'ldabs':
    case 'ldind':
      for (let r = 0; r <= 5; r++) known[r] = 0;
      return;
    default:
      return;
  }
}

/** Sets whether register `r` is below 2^32 (a function, not a closure made per instruction). */
function setKnown(known: Uint8Array, r: Reg, v: boolean): void {
  known[r] = v ? 1 : 0;
}

/**
 * `dst /= src` or `dst %= src` (64-bit, unsigned) on operands below 2^32, as 32-bit Wasm: the same
 * values as the 64-bit lowering, division by zero giving 0 and modulo by zero leaving dst.
 */
export function lowerNarrowDivision(insn: AluInsn): Node {
  const m = w;
  const d = get32(insn.dst);
  const zero = m.i32.const(0);
  let v: Node;
  if (insn.src === null) {
    const s = m.i32.const(insn.imm);
    if (insn.op === 'div') v = insn.imm === 0 ? zero : m.i32.div_u(d, s);
    else v = insn.imm === 0 ? d : m.i32.rem_u(d, s);
  } else {
    const s = get32(insn.src);
    v = insn.op === 'div' ? m.if(m.i32.eqz(s), zero, m.i32.div_u(d, s)) : m.if(m.i32.eqz(s), d, m.i32.rem_u(d, s));
  }
  return set64(insn.dst, m.i64.extend_u(v));
}
