/**
 * The instruction budget (instrumentation): charged at region heads, once per loop iteration for
 * the loop's body, checked at function entries and loop heads; exceeding it stops the program
 * with E_BUDGET. Each function keeps the budget
 * in a local and hands it over in the BUDGET global around calls and on return.
 */
import { FaultCode } from '../../runtime/abi.js';
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import { w, type CodeSink, type Node } from '../wir.js';
import type { LoopInfo } from './loops.js';
import { BUDGET, fault, L_BUDGET } from '../lower/state.js';

/** The budget instrumentation of one function (inert when the module has no budget). */
export class BudgetCounter {
  /**
   * Per block: what it pays when the code reaches it (a region head: see plan), 0 for the blocks
   * a head paid for; null until planned, or for the dispatch loop, where every block pays its own
   * instructions.
   */
  private charges: Float64Array | null = null;

  constructor(readonly enabled: boolean) {}

  /**
   * Decides where the budget is charged, per loop iteration rather than per block. The region
   * heads are the entry, loop headers, the targets of loop exits and, outside loops, merge
   * points; a head pays up front for the longest path from it to the next heads (inner loops,
   * the back edge, the loop's exits), so the code between two heads carries no counter: a loop
   * pays once per iteration for its whole body (inner loops pay for their own iterations), and
   * straight-line code, if-arms and merges inside loops are left alone, which keeps Binaryen free
   * to turn them into selects. `extra(id)` instructions are charged with block `id` (the
   * compares of a tree the block ends with, compiler/rewrite/switch-table.ts).
   */
  plan(blocks: readonly BasicBlock[], loops: LoopInfo, extra: (id: number) => number): void {
    if (!this.enabled) return;
    const { rpo, order, isHeader, loopOf, parentOf } = loops;
    const n = blocks.length;
    const head = new Uint8Array(n);
    if (n > 0) head[0] = 1;
    /** Whether block b lies inside the loop headed by h. */
    const inside = (b: number, h: number): boolean => {
      for (let l = loopOf[b]!; l !== -1; l = parentOf[l]!) if (l === h) return true;
      return false;
    };
    for (const id of order) {
      const b = blocks[id]!;
      if (isHeader[id]) {
        head[id] = 1;
        continue;
      }
      let forward = 0;
      for (const p of b.preds) {
        if (rpo[p]! < 0) continue;
        forward++;
        // Reached from a loop it is not part of: the loop's exit.
        const l = loopOf[p]!;
        if (l !== -1 && !inside(id, l)) head[id] = 1;
      }
      if (forward >= 2 && loopOf[id] === -1) head[id] = 1;
    }
    // Longest path from each block to the next heads, in postorder (forward edges only reach
    // later blocks; every edge back goes to a loop header, a head).
    const longest = new Float64Array(n);
    for (let i = order.length - 1; i >= 0; i--) {
      const id = order[i]!;
      const b = blocks[id]!;
      let tail = 0;
      for (const s of b.succs) if (!head[s] && longest[s]! > tail) tail = longest[s]!;
      longest[id] = b.last - b.first + 1 + extra(id) + tail;
    }
    const charges = new Float64Array(n);
    for (const id of order) if (head[id]) charges[id] = longest[id]!;
    this.charges = charges;
  }

  /** What reaching block `id` charges (0 when a head before it paid); planned functions only. */
  chargeOf(id: number): number {
    return this.charges ? this.charges[id]! : 0;
  }

  /**
   * Charges a block's instructions to the budget: the region's charge at a region head (see
   * plan), nothing elsewhere; unplanned (the dispatch loop), every block pays its own
   * instructions and `extra`.
   */
  charge(blk: BasicBlock, out: CodeSink, extra = 0): void {
    if (!this.enabled) return;
    const n = this.charges ? this.charges[blk.id]! : blk.last - blk.first + 1 + extra;
    if (n === 0) return;
    out.push(w.local.set(L_BUDGET, w.i64.sub(w.local.get(L_BUDGET, 'i64'), w.i64.const(BigInt(n)))));
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
