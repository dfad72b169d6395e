/**
 * Copy and fill loops as bulk memory: a loop that copies (or fills) memory one element at a time,
 * as clang emits `for (i = 0; i < n; i++) d[i] = s[i]` for eBPF (it cannot call memcpy), gets a
 * fast path before it that does all but the last iteration with one `memory.copy` or
 * `memory.fill`, then lets the loop run its last iteration as compiled. So the registers after
 * the loop (the index, the pointers, the last value loaded) are the loop's own.
 *
 * Recognised: a loop of one block (or one block and a lone `ja` back to it) whose straight-line
 * code is 64-bit moves, adds, subtracts and constant multiplies and shifts, and either loads and
 * stores of one width that pair up (each store writes what one load read, at the same position)
 * or stores of one loop-invariant value; the addresses and the loop's compare are linear in the
 * registers, which change by constants per iteration. The meaning is computed by running the
 * block symbolically, not matched against clang's instruction order: counted loops (an index
 * compared with a bound, signed or unsigned, 32 or 64 bits, `<`, `<=`, `>`, `>=`, `!=`) and
 * pointer-bumped ones (`while (s != end)`) alike.
 *
 * The fast path is taken only when it is exact; otherwise the loop runs as it would have:
 *  - the trip count is computed at run time; a loop that would wrap around or never end runs as is;
 *  - overlapping ranges: a forward loop whose destination starts inside the source replicates a
 *    pattern, which `memory.copy` (a memmove) would not do, so that case runs the loop;
 *  - every access of the bulk iterations must lie inside linear memory (in checked mode, inside
 *    the allowed span), else the loop runs and faults at the same instruction with the same bytes
 *    written before the fault;
 *  - with a budget, the remaining budget must cover what the bulk iterations would charge (the
 *    loop header's per-iteration charge, rewrite/budget.ts), which is then charged at once; else
 *    the loop runs and stops where it would have;
 *  - a multi-byte fill value whose bytes differ runs as a loop.
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import type { Insn, InsnList, JcondInsn, MemSize, Reg } from '../../runtime/isa/insn.js';
import { w, type CodeSink, type Node } from '../wir.js';
import type { EmitOptions } from '../emit.js';
import { get64, i64c, L_A64, L_ADDR, L_BUDGET, L_LABEL, L_SPAN, L_TMP64, set64 } from '../lower/state.js';
import {
  emitContinues, evalLin, inductionSteps, konst, OPAQUE, regLin, sameLin, stepRegisters, tripCount, u64, type Lin, type TripCount, type Val,
} from './induction.js';
import { checkBase } from './checked.js';
import type { BudgetCounter } from './budget.js';
import type { SwitchPlan } from './switch-table.js';

/** Fewest bytes worth the fast path's setup (below it the loop runs as compiled). */
export const MIN_BULK_BYTES = 32;
/** Most bytes one iteration may copy (unrolled bodies). */
const MAX_BYTES_PER_ITERATION = 64;

/** Where one stream of accesses starts: the address register's value and the lowest offset. */
export interface StreamStart {
  addr: Lin;
  off: number;
}

/** A recognised loop. */
export interface CopyLoopPlan {
  header: number;
  /** The block holding only the `ja` back to the header, or null when the header jumps back itself. */
  latch: number | null;
  kind: 'copy' | 'fill';
  /** Element width, and bytes per iteration (a multiple of it). */
  width: MemSize;
  perIteration: number;
  /** The addresses go down by `perIteration` each iteration (memmove's other direction). */
  backward: boolean;
  dst: StreamStart;
  /** Copy only. */
  src: StreamStart | null;
  /** Fill only: the value stored (its low `width` bytes). */
  value: Lin | null;
  /** Registers that change by a constant per iteration. */
  steps: Array<[Reg, bigint]>;
  trip: TripCount;
}

/**
 * Finds the copy and fill loops of a function (structured, with the switch trees already
 * folded), by header block id.
 */
export function findCopyLoops(
  blocks: readonly BasicBlock[], insns: InsnList, switches: ReadonlyMap<number, SwitchPlan>,
): Map<number, CopyLoopPlan> {
  const plans = new Map<number, CopyLoopPlan>();
  // An indexed loop without a closure per block: this looks at every conditional jump.
  for (let hi = 0; hi < blocks.length; hi++) {
    const h = blocks[hi]!;
    if (h.succs.length !== 2 || switches.has(h.id)) continue;
    if (insns.kind(h.last) !== 'jcond') continue;
    const taken = h.succs[0]!;
    const fall = h.succs[1]!;
    if (taken === fall) continue;
    let latch: number | null = null;
    let continueTaken: boolean;
    if (taken === h.id) continueTaken = true;
    else if (isLatch(blocks, insns, taken, h.id)) [latch, continueTaken] = [taken, true];
    else if (isLatch(blocks, insns, fall, h.id)) [latch, continueTaken] = [fall, false];
    else continue;
    const plan = analyze(h, insns, insns.get(h.last) as JcondInsn, continueTaken, latch);
    if (plan) plans.set(h.id, plan);
  }
  return plans;
}

/** Whether block `id` holds only a `ja` back to `header`, its only predecessor (a loop's latch). */
function isLatch(blocks: readonly BasicBlock[], insns: InsnList, id: number, header: number): boolean {
  const b = blocks[id]!;
  return b.first === b.last && insns.kind(b.first) === 'ja' && b.succs.length === 1 && b.succs[0] === header
    && b.preds.length === 1 && b.preds[0] === header;
}

interface Access {
  load: boolean;
  size: MemSize;
  addr: Lin;
  off: number;
  /** Stores: the value stored. */
  value: Val;
  /** Loads: the position in `accesses`. */
  id: number;
}

/** Runs the loop's block symbolically and decides whether it is a copy or fill loop. */
function analyze(h: BasicBlock, insns: InsnList, jc: JcondInsn, continueTaken: boolean, latch: number | null): CopyLoopPlan | null {
  const vals: Val[] = [];
  for (let r = 0; r <= 10; r++) vals.push(regLin(r));
  const accesses: Access[] = [];
  const lin = (v: Val): Lin | null => (v.k === 'lin' ? v : null);
  for (let i = h.first; i < h.last; i++) {
    const insn = insns.get(i)!;
    if (stepRegisters(vals, insn)) continue;
    switch (insn.kind) {
      case 'ldx': {
        const a = lin(vals[insn.src]!);
        if (!a) return null;
        const id = accesses.length;
        accesses.push({ load: true, size: insn.size, addr: a, off: insn.off, value: OPAQUE, id });
        vals[insn.dst] = { k: 'load', id };
        break;
      }
      case 'stx':
      case 'st': {
        const a = lin(vals[insn.dst]!);
        if (!a) return null;
        const value = insn.kind === 'st' ? konst(BigInt(insn.imm)) : vals[insn.src]!;
        accesses.push({ load: false, size: insn.size, addr: a, off: insn.off, value, id: accesses.length });
        break;
      }
      default:
        return null;
    }
  }

  // Registers: unchanged, changed by a constant per iteration, or recomputed (then no value that
  // matters may read them: their value at an iteration's start is the previous iteration's).
  const { steps: step, stepOf } = inductionSteps(vals);

  // Memory: one store stream, and for a copy one load stream pairing up with it.
  const loads = accesses.filter((a) => a.load).sort((a, b) => a.off - b.off);
  const stores = accesses.filter((a) => !a.load).sort((a, b) => a.off - b.off);
  if (stores.length === 0) return null;
  const width = stores[0]!.size;
  const perIteration = stores.length * width;
  if (perIteration > MAX_BYTES_PER_ITERATION) return null;
  // Both streams move up, or both down, by the bytes of one iteration.
  let backward: boolean | undefined;
  const stream = (list: Access[]): StreamStart | null => {
    const first = list[0]!;
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!;
      if (a.size !== width || !sameLin(a.addr, first.addr) || a.off !== first.off + i * width) return null;
    }
    const s = stepOf(first.addr);
    const down = s === u64(-BigInt(perIteration));
    if (s !== BigInt(perIteration) && !down) return null;
    if (backward !== undefined && backward !== down) return null;
    backward = down;
    return { addr: first.addr, off: first.off };
  };
  const dst = stream(stores);
  if (!dst) return null;
  let src: StreamStart | null = null;
  let value: Lin | null = null;
  if (loads.length > 0) {
    if (loads.length !== stores.length) return null;
    src = stream(loads);
    if (!src) return null;
    // Each store writes what the load at the same position read.
    const rank = new Map<number, number>();
    for (let i = 0; i < stores.length; i++) {
      const v = stores[i]!.value;
      if (v.k !== 'load' || v.id !== loads[i]!.id) return null;
      rank.set(loads[i]!.id, i);
      rank.set(stores[i]!.id, i);
    }
    // Within an iteration, no load may follow a store of an element the loop has not reached
    // yet by its direction (a higher one going up, a lower one going down): with ranges a few
    // bytes apart that load would read what the store wrote. A load after a store of an element
    // already behind is fine (earlier iterations wrote below it too).
    let written: number | null = null;
    for (const a of accesses) {
      const r = rank.get(a.id)!;
      if (!a.load) written = written === null ? r : backward ? Math.min(written, r) : Math.max(written, r);
      else if (written !== null && (backward ? r >= written : r <= written)) return null;
    }
  } else {
    const v = stores[0]!.value;
    if (v.k !== 'lin' || stepOf(v) !== 0n) return null;
    for (const s of stores) if (s.value.k !== 'lin' || !sameLin(s.value, v)) return null;
    // A constant must repeat one byte (a run-time value is checked at run time).
    if (v.terms.size === 0 && !uniformBytes(v.c, width)) return null;
    value = v;
  }

  const trip = tripCount(vals, jc, continueTaken, stepOf);
  if (!trip) return null;
  const steps = [...step].filter(([r, s]) => s !== 0n && r !== 10);
  return {
    header: h.id, latch, kind: src ? 'copy' : 'fill', width, perIteration, backward: backward === true, dst, src, value, steps, trip,
  };
}

/** True if the low `width` bytes of `v` are all the same byte. */
function uniformBytes(v: bigint, width: number): boolean {
  const b = v & 0xffn;
  for (let i = 1; i < width; i++) if (((v >> BigInt(8 * i)) & 0xffn) !== b) return false;
  return true;
}

// ------------------------------------------------------------------------------ code

/**
 * Emits the fast path of a copy or fill loop, right before the loop (where every entry into the
 * loop passes): when exact, all iterations but the last in one bulk operation, the registers
 * advanced to the last iteration's start and the budget charged for the skipped iterations.
 */
export function emitCopyLoop(options: EmitOptions, plan: CopyLoopPlan, budget: BudgetCounter, out: CodeSink): void {
  const m = w;
  const label = 'C' + plan.header;
  const skipIf = (cond: Node): void => { out.push(m.br(label, cond)); };
  const tmp = (): Node => m.local.get(L_TMP64, 'i64');
  const a64 = (): Node => m.local.get(L_A64, 'i64');
  out.openBlock(label);
  // The bulk iterations (all but the last): how often the loop's compare continues.
  emitContinues(plan.trip, out, skipIf);
  const P = plan.perIteration;
  // Enough bytes to pay off, and the length fits an i32.
  const minIter = Math.ceil(MIN_BULK_BYTES / P);
  const maxIter = Math.floor(0xffffffff / P);
  skipIf(m.i64.gt_u(m.i64.sub(tmp(), i64c(minIter)), i64c(maxIter - minIter)));
  const len = (): Node => (P === 1 ? tmp() : m.i64.mul(tmp(), i64c(P)));
  // Each stream's lowest byte into an i32 local, when all its bytes are valid. Going down, the
  // bulk iterations' lowest byte is the last one's, (m - 1) iterations below the first.
  const back = (): Node => m.i64.mul(m.i64.sub(tmp(), i64c(1)), i64c(P));
  const stream = (s: StreamStart, local: number): void => {
    if (options.checked) {
      const first = m.i64.add(evalLin(s.addr), i64c(s.off));
      out.push(m.local.set(L_A64, plan.backward ? m.i64.sub(first, back()) : first));
      const span = (): Node => m.local.get(L_SPAN, 'i64');
      skipIf(m.i64.gt_u(len(), span()));
      skipIf(m.i64.gt_u(m.i64.sub(a64(), i64c(checkBase(options.layout))), m.i64.sub(span(), len())));
      out.push(m.local.set(local, m.i32.wrap(a64())));
      return;
    }
    // Unchecked: the Wasm address is the register's low 32 bits plus the offset; the register's
    // low half must not wrap over the bulk iterations, nor any address below 0 or past 4 GiB.
    out.push(m.local.set(L_A64, m.i64.extend_u(m.i32.wrap(evalLin(s.addr)))));
    if (plan.backward) {
      out.push(m.local.set(L_A64, m.i64.sub(a64(), back())));
      skipIf(m.i64.lt_s(a64(), i64c(0)));
    } else if (s.off < 0) {
      skipIf(m.i64.gt_u(m.i64.add(a64(), len()), i64c(0xffffffffn)));
    }
    if (s.off !== 0) out.push(m.local.set(L_A64, m.i64.add(a64(), i64c(s.off))));
    if (s.off < 0) skipIf(m.i64.lt_s(a64(), i64c(0)));
    const memBytes = m.i64.shl(m.i64.extend_u(m.memory.size()), i64c(16));
    skipIf(m.i64.gt_u(m.i64.add(a64(), len()), memBytes));
    out.push(m.local.set(local, m.i32.wrap(a64())));
  };
  stream(plan.dst, L_LABEL);
  const dst = (): Node => m.local.get(L_LABEL, 'i32');
  const src = (): Node => m.local.get(L_ADDR, 'i32');
  if (plan.src) {
    stream(plan.src, L_ADDR);
    // Overlapping ranges where the loop reads what it wrote (the destination ahead of the source
    // in the loop's direction): the loop's result is a repeated pattern, not a memmove.
    skipIf(plan.backward
      ? m.i32.and(m.i32.lt_u(dst(), src()), m.i64.gt_u(m.i64.add(m.i64.extend_u(dst()), len()), m.i64.extend_u(src())))
      : m.i32.and(m.i32.gt_u(dst(), src()), m.i64.lt_u(m.i64.extend_u(dst()), m.i64.add(m.i64.extend_u(src()), len()))));
  }
  const v = (): Node => m.local.get(L_A64, 'i64');
  if (plan.value) {
    out.push(m.local.set(L_A64, evalLin(plan.value)));
    if (plan.width > 1 && plan.value.terms.size > 0) {
      const ones = BigInt('0x' + '01'.repeat(plan.width));
      const low = plan.width === 8 ? v() : m.i64.and(v(), i64c((1n << BigInt(8 * plan.width)) - 1n));
      skipIf(m.i64.ne(low, m.i64.mul(m.i64.and(v(), i64c(0xffn)), i64c(ones))));
    }
  }
  if (budget.enabled) {
    // What the skipped iterations would have charged, all at once (each would pass its check).
    const perIteration = budget.chargeOf(plan.header) + (plan.latch !== null ? budget.chargeOf(plan.latch) : 0);
    const cost = (): Node => m.i64.mul(tmp(), i64c(perIteration));
    skipIf(m.i64.lt_s(m.local.get(L_BUDGET, 'i64'), cost()));
    out.push(m.local.set(L_BUDGET, m.i64.sub(m.local.get(L_BUDGET, 'i64'), cost())));
  }
  out.push(plan.value
    ? m.memory.fill(dst(), m.i32.wrap(v()), m.i32.wrap(len()))
    : m.memory.copy(dst(), src(), m.i32.wrap(len())));
  for (const [r, s] of plan.steps) {
    out.push(set64(r, m.i64.add(get64(r), s === 1n ? tmp() : m.i64.mul(tmp(), i64c(s)))));
  }
  out.close();
}
