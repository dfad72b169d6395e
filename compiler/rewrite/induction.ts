/**
 * Induction variables and trip counts of loops, shared by the rewrites that act on a whole loop
 * at its entry (copy and fill loops, rewrite/copy-loop.ts; loop versions, rewrite/loop-versions.ts):
 * values linear in the registers at an iteration's start (mod 2^64), the symbolic effect of
 * register-only instructions on them, the closed form of how often a loop's compare continues,
 * and the code computing it at the loop's entry.
 */
import type { Insn, JcondInsn, JmpOp, Reg } from '../../runtime/isa/insn.js';
import { w, type CodeSink, type Node } from '../wir.js';
import { get64, i64c, L_A64, L_TMP64 } from '../lower/state.js';

/** Largest per-iteration change of a compared value. */
export const MAX_STEP = 1n << 16n;

/** A value linear in the registers at the start of an iteration: Σ coeff·reg + c (mod 2^64). */
export interface Lin {
  k: 'lin';
  terms: Map<Reg, bigint>;
  c: bigint;
}

/** A symbolic register value: linear, what load `id` read, or unknown. */
export type Val = Lin | { k: 'load'; id: number } | { k: 'opaque' };

/** An unknown value. */
export const OPAQUE: Val = { k: 'opaque' };
/** `v` mod 2^64. */
export const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
/** A constant. */
export const konst = (c: bigint): Lin => ({ k: 'lin', terms: new Map(), c: u64(c) });
/** A register's value at an iteration's start. */
export const regLin = (r: Reg): Lin => ({ k: 'lin', terms: new Map([[r, 1n]]), c: 0n });

/** a + b (or a - b). */
export function addLin(a: Lin, b: Lin, sign: 1n | -1n = 1n): Lin {
  const terms = new Map(a.terms);
  for (const [r, k] of b.terms) {
    const v = u64((terms.get(r) ?? 0n) + sign * k);
    if (v === 0n) terms.delete(r);
    else terms.set(r, v);
  }
  return { k: 'lin', terms, c: u64(a.c + sign * b.c) };
}

/** a · f. */
export function scaleLin(a: Lin, f: bigint): Lin {
  const terms = new Map<Reg, bigint>();
  for (const [r, k] of a.terms) {
    const v = u64(k * f);
    if (v !== 0n) terms.set(r, v);
  }
  return { k: 'lin', terms, c: u64(a.c * f) };
}

/** Whether a and b are the same linear value. */
export function sameLin(a: Lin, b: Lin): boolean {
  if (a.c !== b.c || a.terms.size !== b.terms.size) return false;
  for (const [r, k] of a.terms) if (b.terms.get(r) !== k) return false;
  return true;
}


/**
 * The symbolic effect of a register-only instruction (ALU, byte swap, lddw of a constant) on
 * `vals`: 64-bit moves, adds, subtracts, constant multiplies and shifts stay linear, anything else
 * is unknown. Returns false for any other instruction (memory, calls, jumps), leaving `vals` alone.
 */
export function stepRegisters(vals: Val[], insn: Insn): boolean {
  const lin = (v: Val): Lin | null => (v.k === 'lin' ? v : null);
  switch (insn.kind) {
    case 'alu': {
      if (insn.width !== 64) {
        vals[insn.dst] = OPAQUE;
        return true;
      }
      const d = lin(vals[insn.dst]!);
      const s = insn.src === null ? konst(BigInt(insn.imm)) : lin(vals[insn.src]!);
      switch (insn.op) {
        case 'mov':
          vals[insn.dst] = insn.src === null ? konst(BigInt(insn.imm)) : vals[insn.src]!;
          break;
        case 'add':
        case 'sub':
          vals[insn.dst] = d && s ? addLin(d, s, insn.op === 'add' ? 1n : -1n) : OPAQUE;
          break;
        case 'mul':
          vals[insn.dst] = d && s && s.terms.size === 0 ? scaleLin(d, s.c) : d && s && d.terms.size === 0 ? scaleLin(s, d.c) : OPAQUE;
          break;
        case 'lsh':
          vals[insn.dst] = d && s && s.terms.size === 0 ? scaleLin(d, 1n << (s.c & 63n)) : OPAQUE;
          break;
        case 'neg':
          vals[insn.dst] = d ? scaleLin(d, -1n) : OPAQUE;
          break;
        default:
          vals[insn.dst] = OPAQUE;
      }
      return true;
    }
    case 'end':
      vals[insn.dst] = OPAQUE;
      return true;
    case 'lddw':
      vals[insn.dst] = insn.src === 0 ? konst(insn.value) : OPAQUE;
      return true;
    default:
      return false;
  }
}

/**
 * The induction steps of a loop: the registers that the latch hands back to the header as the
 * register plus a constant (`steps`, the constant per iteration), and `stepOf(v)`, what a value
 * linear in the registers moves by per iteration (null when it reads a register that is not one).
 */
export function inductionSteps(end: readonly Val[]): { steps: Map<Reg, bigint>; stepOf: (v: Lin) => bigint | null } {
  const steps = new Map<Reg, bigint>();
  for (let r = 0; r <= 10; r++) {
    const v = end[r]!;
    if (v.k === 'lin' && v.terms.size === 1 && v.terms.get(r as Reg) === 1n) steps.set(r as Reg, v.c);
  }
  const stepOf = (v: Lin): bigint | null => {
    let s = 0n;
    for (const [r, k] of v.terms) {
      const sr = steps.get(r);
      if (sr === undefined) return null;
      s += k * sr;
    }
    return u64(s);
  };
  return { steps, stepOf };
}

/** How many iterations the loop runs, computed at its entry. */
export type TripCount =
  /** Runs until `x_k == y` where `x` moves by ±2^shift: the bulk iterations are d >> shift (d = ±(y - x0)), when exact. */
  | { k: 'ne'; d: Lin; width: 32 | 64; shift: number }
  /** Runs while `x_k < y` (unsigned, mod 2^width), x_k = x0 + k·step, step > 0. */
  | { k: 'lt'; x: Lin; y: Lin; width: 32 | 64; step: bigint };

const NEGATE: Partial<Record<JmpOp, JmpOp>> = {
  jeq: 'jne', jne: 'jeq', jgt: 'jle', jle: 'jgt', jge: 'jlt', jlt: 'jge',
  jsgt: 'jsle', jsle: 'jsgt', jsge: 'jslt', jslt: 'jsge',
};
const MIRROR: Partial<Record<JmpOp, JmpOp>> = {
  jeq: 'jeq', jne: 'jne', jgt: 'jlt', jlt: 'jgt', jge: 'jle', jle: 'jge',
  jsgt: 'jslt', jslt: 'jsgt', jsge: 'jsle', jsle: 'jsge',
};

/**
 * The loop's trip count as a closed form: the compare at the end of the block, on values linear
 * in the registers, one side moving by a constant per iteration. Everything is brought to
 * "continue while x < y, x counting up" (signed compares by flipping the sign bit, `<=` by
 * comparing with y + 1, counting down by complementing both sides) or to "continue until x == y".
 */
export function tripCount(vals: Val[], jc: JcondInsn, continueTaken: boolean, stepOf: (v: Lin) => bigint | null): TripCount | null {
  const lhs = vals[jc.dst]!;
  const rhs = jc.src === null ? konst(BigInt(jc.imm)) : vals[jc.src]!;
  if (lhs.k !== 'lin' || rhs.k !== 'lin') return null;
  let op: JmpOp | undefined = continueTaken ? jc.op : NEGATE[jc.op];
  if (!op) return null;
  const width = jc.width;
  const mod = 1n << BigInt(width);
  const sl = stepOf(lhs);
  const sr = stepOf(rhs);
  if (sl === null || sr === null) return null;
  const [l, r] = [sl % mod, sr % mod];
  if ((l === 0n) === (r === 0n)) return null;
  let [x, y, s] = l !== 0n ? [lhs, rhs, l] : [rhs, lhs, r];
  if (l === 0n) op = MIRROR[op]!;
  const signedStep = (v: bigint): bigint => (v >= mod / 2n ? v - mod : v);
  if (op === 'jeq') return null;
  if (op === 'jne') {
    const ss = signedStep(s);
    const t = ss < 0n ? -ss : ss;
    if ((t & (t - 1n)) !== 0n) return null;
    const shift = t.toString(2).length - 1;
    return { k: 'ne', d: ss < 0n ? addLin(x, y, -1n) : addLin(y, x, -1n), width, shift };
  }
  if (op === 'jsgt' || op === 'jsge' || op === 'jslt' || op === 'jsle') {
    const flip = konst(mod / 2n);
    x = addLin(x, flip);
    y = addLin(y, flip);
    op = ({ jsgt: 'jgt', jsge: 'jge', jslt: 'jlt', jsle: 'jle' } as const)[op];
  }
  if (op === 'jle') [y, op] = [addLin(y, konst(1n)), 'jlt'];
  if (op === 'jge') [y, op] = [addLin(y, konst(-1n)), 'jgt'];
  if (op === 'jgt') {
    // Counting down: ~x < ~y, and ~x counts up.
    const not = (v: Lin): Lin => addLin(scaleLin(v, -1n), konst(-1n));
    [x, y, s, op] = [not(x), not(y), (mod - s) % mod, 'jlt'];
  }
  if (op !== 'jlt') return null;
  const ss = signedStep(s);
  if (ss <= 0n || ss > MAX_STEP) return null;
  return { k: 'lt', x, y, width, step: ss };
}

/** A linear value from the registers' current values (i64). */
export function evalLin(v: Lin): Node {
  const m = w;
  let e: Node | null = null;
  for (const [r, k] of v.terms) {
    const sk = BigInt.asIntN(64, k);
    const term = sk === 1n || sk === -1n ? get64(r) : m.i64.mul(get64(r), i64c(k));
    e = e === null ? (sk === -1n ? m.i64.sub(i64c(0), term) : term) : sk === -1n ? m.i64.sub(e, term) : m.i64.add(e, term);
  }
  if (e === null) return i64c(v.c);
  return v.c === 0n ? e : m.i64.add(e, i64c(v.c));
}


/**
 * At the loop's entry, how many times its compare continues the loop (the iterations after the
 * first that start; 0 when the first compare leaves) into L_TMP64, exactly, or `fail(cond)`
 * (a branch taken when `cond` holds) when it would wrap around or never end. Uses L_A64.
 */
export function emitContinues(trip: TripCount, out: CodeSink, fail: (cond: Node) => void): void {
  const m = w;
  const tmp = (): Node => m.local.get(L_TMP64, 'i64');
  const a64 = (): Node => m.local.get(L_A64, 'i64');
  const mask = (e: Node, width: 32 | 64): Node => (width === 32 ? m.i64.and(e, i64c(0xffffffffn)) : e);
  if (trip.k === 'lt') {
    const max = (1n << BigInt(trip.width)) - trip.step; // y <= max: x never wraps before reaching y
    out.push(m.local.set(L_A64, mask(evalLin(trip.x), trip.width)));
    out.push(m.local.set(L_TMP64, mask(evalLin(trip.y), trip.width)));
    fail(m.i64.gt_u(m.i64.sub(tmp(), i64c(1)), i64c(max - 1n)));
    const diff = m.i64.sub(m.i64.sub(tmp(), a64()), i64c(1));
    const q = trip.step === 1n ? diff : m.i64.div_u(diff, i64c(trip.step));
    out.push(m.local.set(L_TMP64, m.select(m.i64.lt_u(a64(), tmp()), m.i64.add(q, i64c(1)), i64c(0))));
  } else {
    out.push(m.local.set(L_TMP64, mask(evalLin(trip.d), trip.width)));
    if (trip.shift > 0) {
      fail(m.i32.eqz(m.i64.eqz(m.i64.and(tmp(), i64c((1n << BigInt(trip.shift)) - 1n)))));
      out.push(m.local.set(L_TMP64, m.i64.shr_u(tmp(), i64c(trip.shift))));
    }
  }
}
