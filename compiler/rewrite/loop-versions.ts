/**
 * Loop versions: a second copy of a loop, entered when a test at the loop's entry proves that
 * the per-iteration checks of the instrumentation cannot fire in it, so the copy leaves them out.
 * The loop's meaning is unchanged: whenever the test fails, the loop runs as compiled before.
 *
 * A loop qualifies when it is innermost, has no calls, and returns to its header only through
 * one latch whose compare (or, when the latch is a lone `ja`, its predecessor's) is counted (rewrite/induction.ts): an induction
 * variable changing by a constant per iteration against a loop-invariant bound, so the number of
 * iterations that can start (T) is known at the entry, or the test fails. Early exits anywhere
 * (strcmp's `break` on the first difference) are fine: T bounds the iterations, it need not
 * be exact.
 *  - The budget (rewrite/budget.ts): the loop's header pays the same charge per iteration in both
 *    copies (the budget left is always the same), but the copy omits the header's check
 *    `budget < 0`. The test: budget >= T · charge, so none of the T checks could have fired.
 *  - Checked mode (rewrite/checked.ts): a load or store in the loop whose address is linear in
 *    induction variables and invariant registers has address A0 + k·S in iteration k; the copy
 *    omits its check when the test finds both A0 and A0 + (T-1)·S inside the allowed span (the
 *    addresses in between are, with no wrap: |S| and T are bounded).
 * So a program stops at the same instruction, with the same state and the same budget left, as
 * with the checks in every iteration.
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import type { Insn, InsnList, JcondInsn, MemSize, Reg } from '../../runtime/isa/insn.js';
import { w, type CodeSink, type Node } from '../wir.js';
import type { EmitOptions } from '../emit.js';
import { i64c, L_A64, L_BUDGET, L_SPAN, L_TMP64 } from '../lower/state.js';
import { checkBase } from './checked.js';
import type { BudgetCounter } from './budget.js';
import type { LoopInfo } from './loops.js';
import {
  emitContinues, evalLin, inductionSteps, MAX_STEP, OPAQUE, regLin, sameLin, stepRegisters, tripCount, u64, type Lin, type TripCount, type Val,
} from './induction.js';

/**
 * Most instructions a loop statement (with any code placed inside it) may hold to get a second
 * copy: the checks matter in small loops, and a second copy of a large loop can cost more than it
 * saves (the 64-way switch kernel's loop, 1.3x slower with a budget in one trial).
 */
export const MAX_VERSIONED_INSNS = 200;
/** Most iterations the entry test accepts (so that T · charge and (T-1) · S cannot overflow). */
const MAX_TRIPS = 1n << 32n;
/** Largest per-iteration charge the test accepts. */
const MAX_CHARGE = 1 << 20;

/** An access whose check the fast copy omits. */
export interface HoistedAccess {
  /** The access's instruction (its pc). */
  pc: number;
  /** The address (register plus offset) in iteration 0, in the registers at the loop's entry. */
  addr: Lin;
  off: number;
  size: MemSize;
  /** Change of the address per iteration (mod 2^64, |S| <= MAX_STEP). */
  step: bigint;
}

/** A loop with a fast copy. */
export interface LoopVersionPlan {
  header: number;
  trip: TripCount;
  /** Accesses checked once at the entry instead of in every iteration (checked mode). */
  hoisted: HoistedAccess[];
}

/**
 * Finds the loops of a function (structured, switch trees folded) worth a fast copy under the
 * instrumentation in `options` (budget, checked mode), by header block id.
 */
export function findLoopVersions(
  blocks: readonly BasicBlock[], insns: InsnList, loops: LoopInfo, options: EmitOptions, budget: boolean,
  folded: ReadonlySet<number>,
): Map<number, LoopVersionPlan> {
  const plans = new Map<number, LoopVersionPlan>();
  if (!budget && !options.checked) return plans;
  const { order, isHeader, loopOf, parentOf, rpo } = loops;
  // Loops that contain another loop are not innermost.
  const outer = new Uint8Array(blocks.length);
  for (const id of order) if (isHeader[id] && parentOf[id]! !== -1) outer[parentOf[id]!] = 1;
  // Each innermost loop's blocks in reverse postorder, in one pass.
  const bodies = new Map<number, number[]>();
  for (const b of order) {
    const h = loopOf[b]!;
    if (h === -1 || outer[h]) continue;
    const list = bodies.get(h);
    if (list) list.push(b);
    else bodies.set(h, [b]);
  }
  for (const [h, body] of bodies) {
    const plan = analyze(h, body, blocks, insns, rpo, options, budget, folded);
    if (plan) plans.set(h, plan);
  }
  return plans;
}

function analyze(
  h: number, body: number[], blocks: readonly BasicBlock[], insns: InsnList, rpo: Int32Array, options: EmitOptions,
  budget: boolean, folded: ReadonlySet<number>,
): LoopVersionPlan | null {
  let size = 0;
  for (const id of body) size += blocks[id]!.last - blocks[id]!.first + 1;
  if (size > MAX_VERSIONED_INSNS) return null;
  const inLoop = new Set(body);
  // One latch, ending with a compare whose other successor leaves the loop.
  const latches = blocks[h]!.preds.filter((p) => inLoop.has(p) && rpo[p]! >= 0);
  if (latches.length !== 1) return null;
  // The compare's block: the latch, or the one before a latch holding nothing but `ja` back to
  // the header (clang's other shape); `back` is the successor that continues the loop.
  let x = latches[0]!;
  let back = h;
  const lx = blocks[x]!;
  if (lx.first === lx.last && insns.kind(lx.first) === 'ja' && x !== h) {
    const ps = lx.preds.filter((p) => rpo[p]! >= 0);
    if (ps.length !== 1) return null;
    [back, x] = [x, ps[0]!];
  }
  const jc = insns.get(blocks[x]!.last)!;
  if (jc.kind !== 'jcond' || folded.has(x)) return null;
  const [taken, fall] = blocks[x]!.succs as [number, number];
  if (taken === fall || (taken !== back && fall !== back) || inLoop.has(taken === back ? fall : taken)) return null;

  // Symbolic values, block by block in reverse postorder (the body without its back edge is
  // acyclic): each block starts from what all its predecessors agree on.
  const ends = new Map<number, Val[]>();
  const accesses: Array<{ pc: number; reg: Reg; addr: Val; off: number; size: MemSize }> = [];
  for (const id of body) {
    const b = blocks[id]!;
    if (folded.has(id)) return null;
    let vals: Val[];
    if (id === h) {
      vals = [];
      for (let r = 0; r <= 10; r++) vals.push(regLin(r));
    } else {
      const ins = b.preds.filter((p) => rpo[p]! >= 0).map((p) => ends.get(p));
      if (ins.length === 0 || ins.some((v) => v === undefined)) return null;
      vals = ins[0]!.slice();
      for (const other of ins.slice(1)) for (let r = 0; r <= 10; r++) if (!sameVal(vals[r]!, other![r]!)) vals[r] = OPAQUE;
    }
    for (let i = b.first; i <= b.last; i++) {
      const insn = insns.get(i)!;
      if (stepRegisters(vals, insn)) continue;
      switch (insn.kind) {
        case 'ldx':
          accesses.push({ pc: insn.pc, reg: insn.src, addr: vals[insn.src]!, off: insn.off, size: insn.size });
          vals[insn.dst] = OPAQUE;
          break;
        case 'st':
        case 'stx':
          accesses.push({ pc: insn.pc, reg: insn.dst, addr: vals[insn.dst]!, off: insn.off, size: insn.size });
          break;
        case 'atomic':
          if (insn.op === 'cmpxchg') vals[0] = OPAQUE;
          else if (insn.fetch) vals[insn.src] = OPAQUE;
          break;
        case 'ja':
        case 'jcond':
        case 'exit':
          break;
        default:
          // Calls (and legacy packet loads, which may return): the budget and registers move.
          return null;
      }
    }
    ends.set(id, vals);
  }

  // Induction variables: what the latch hands back to the header is the register plus a constant.
  const end = ends.get(x)!;
  const { stepOf } = inductionSteps(end);
  const trip = tripCount(end, jc as JcondInsn, taken === back, stepOf);
  if (!trip) return null;

  const hoisted: HoistedAccess[] = [];
  if (options.checked) {
    const { frameSize } = options.layout;
    for (const a of accesses) {
      const reg = a.reg;
      if (reg === 10 && a.off >= -frameSize && a.off + a.size <= 0) continue; // never checked
      if (a.addr.k !== 'lin') continue;
      const s = stepOf(a.addr);
      if (s === null) continue;
      const signed = BigInt.asIntN(64, s);
      if (signed > MAX_STEP || signed < -MAX_STEP) continue;
      hoisted.push({ pc: a.pc, addr: a.addr, off: a.off, size: a.size, step: s });
    }
  }
  if (!budget && hoisted.length === 0) return null;
  return { header: h, trip, hoisted };
}

function sameVal(a: Val, b: Val): boolean {
  if (a.k === 'lin' && b.k === 'lin') return sameLin(a, b);
  return false;
}

/**
 * The entry test of a loop with a fast copy, into `out`: branches to `slow` (an enclosing block
 * after which the loop runs as compiled) unless the fast copy is exact. Uses L_TMP64 and L_A64.
 */
export function emitVersionTest(options: EmitOptions, plan: LoopVersionPlan, budget: BudgetCounter, slow: string, out: CodeSink): void {
  const m = w;
  const tmp = (): Node => m.local.get(L_TMP64, 'i64');
  const a64 = (): Node => m.local.get(L_A64, 'i64');
  const fail = (cond: Node): void => { out.push(m.br(slow, cond)); };
  emitContinues(plan.trip, out, fail);
  // T: the iterations that may start, bounded so that the products below stay exact (and
  // checked before adding 1, which would wrap 2^64 - 1 continues to T = 0).
  fail(m.i64.ge_u(tmp(), i64c(MAX_TRIPS)));
  out.push(m.local.set(L_TMP64, m.i64.add(tmp(), i64c(1))));
  if (budget.enabled) {
    const charge = budget.chargeOf(plan.header);
    if (charge > MAX_CHARGE) out.push(m.br(slow));
    else fail(m.i64.lt_s(m.local.get(L_BUDGET, 'i64'), m.i64.mul(tmp(), i64c(charge))));
  }
  const base = BigInt(checkBase(options.layout));
  for (const a of plan.hoisted) {
    const room = (): Node => m.i64.sub(m.local.get(L_SPAN, 'i64'), i64c(a.size));
    // First and last address, less checkBase, inside [0, span - size].
    out.push(m.local.set(L_A64, m.i64.sub(m.i64.add(evalLin(a.addr), i64c(a.off)), i64c(base))));
    fail(m.i64.gt_u(a64(), room()));
    fail(m.i64.gt_u(m.i64.add(a64(), m.i64.mul(m.i64.sub(tmp(), i64c(1)), i64c(a.step))), room()));
  }
}
