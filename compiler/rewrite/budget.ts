/**
 * The instruction budget (instrumentation): charged at region heads, checked at function entries
 * and loop heads; exceeding it stops the program with E_BUDGET. Each function keeps the budget
 * in a local and hands it over in the BUDGET global around calls and on return.
 */
import { FaultCode } from '../../runtime/abi.js';
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import { w, type CodeSink, type Node } from '../wir.js';
import { BUDGET, fault, L_BUDGET } from '../lower/state.js';

/** The budget instrumentation of one function (inert when the module has no budget). */
export class BudgetCounter {
  /** Blocks where the budget is charged (see charge); null: every block (dispatch loop). */
  regionHeads: Uint8Array | null = null;
  /** The constant of the current region's charge, raised as the region's blocks are emitted. */
  private pending: { value: bigint } | null = null;

  constructor(readonly enabled: boolean) {}

  /**
   * Charges a block's instructions to the budget. A region head (entry, loop header, merge point)
   * pays up front for itself and for the blocks inlined after it up to the next head: those run at
   * most once per pass through the head, so the charge is an upper bound (a branch not taken is
   * paid for too), and straight-line code and if-arms carry no counter updates, which keeps
   * Binaryen free to turn them into selects. `extra` instructions are charged with the block
   * (the compares of a tree the block ends with, compiler/rewrite/switch-table.ts).
   */
  charge(blk: BasicBlock, out: CodeSink, extra = 0): void {
    if (!this.enabled) return;
    const n = BigInt(blk.last - blk.first + 1 + extra);
    if (this.regionHeads && !this.regionHeads[blk.id] && this.pending) {
      this.pending.value += n;
      return;
    }
    const amount = w.i64.const(n) as Extract<Node, { k: 'i64.const' }>;
    this.pending = amount;
    out.push(w.local.set(L_BUDGET, w.i64.sub(w.local.get(L_BUDGET, 'i64'), amount)));
  }

  /** Starts a new region: the next charge gets its own counter update (a split function's chunk, compiler/lower/split.ts). */
  startRegion(): void {
    this.pending = null;
  }

  /** Stops the program if the budget is exhausted (at function entries and loop heads). */
  check(pc: number, out: CodeSink | Node[]): void {
    if (!this.enabled) return;
    out.push(w.if(w.i64.lt_s(w.local.get(L_BUDGET, 'i64'), w.i64.const(0n)), fault(FaultCode.Budget, pc, w.i32.const(0))));
  }

  /** At function entry: the local copy of the budget, then the check. */
  enter(pc: number, out: Node[]): void {
    if (!this.enabled) return;
    out.push(w.local.set(L_BUDGET, w.global.get(BUDGET, 'i64')));
    this.check(pc, out);
  }

  /** Before a call or a return: the remaining budget to the BUDGET global. */
  handOver(): Node {
    return w.global.set(BUDGET, w.local.get(L_BUDGET, 'i64'));
  }

  /** After a call: what the callee left. */
  takeBack(): Node {
    return w.local.set(L_BUDGET, w.global.get(BUDGET, 'i64'));
  }
}

/** At a program's entry: the budget of a run. */
export function budgetAtEntry(budget: number): Node {
  return w.global.set(BUDGET, w.i64.const(BigInt(budget)));
}
