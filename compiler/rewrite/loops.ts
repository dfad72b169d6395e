/**
 * Loops of a function's CFG, for the rewrites that work per loop (the budget charged per
 * iteration, rewrite/budget.ts; copy and fill loops, rewrite/copy-loop.ts): reverse postorder,
 * the natural loop of every header and each block's innermost loop. Linear in the size of the
 * function times the loop nesting depth; no recursion. Meant for reducible flow (the structured
 * path; irreducible functions take the dispatch loop, which needs none of this).
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';

/** The loops of one function. */
export interface LoopInfo {
  /** Reverse-postorder number per block id; -1 for blocks unreachable from the entry. */
  rpo: Int32Array;
  /** Block ids in reverse postorder (reachable blocks only). */
  order: number[];
  /** 1 for loop headers (targets of an edge from a block at or after them in reverse postorder). */
  isHeader: Uint8Array;
  /** The header of the innermost loop containing each block (itself for a header); -1 outside loops. */
  loopOf: Int32Array;
  /** The header of the loop enclosing loop `h` (by header id); -1 for outermost loops. */
  parentOf: Int32Array;
}

/** Computes reverse postorder and the natural loops of `blocks` (blocks[0] is the entry). */
export function analyzeLoops(blocks: readonly BasicBlock[]): LoopInfo {
  const n = blocks.length;
  const rpo = new Int32Array(n).fill(-1);
  const order: number[] = [];
  if (n > 0) {
    const visited = new Uint8Array(n);
    const stack: Array<[number, number]> = [[0, 0]];
    visited[0] = 1;
    const post: number[] = [];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const b = blocks[top[0]]!;
      if (top[1] < b.succs.length) {
        const s = b.succs[top[1]++]!;
        if (!visited[s]) {
          visited[s] = 1;
          stack.push([s, 0]);
        }
      } else {
        post.push(top[0]);
        stack.pop();
      }
    }
    for (let i = post.length - 1; i >= 0; i--) {
      rpo[post[i]!] = order.length;
      order.push(post[i]!);
    }
  }
  const isHeader = new Uint8Array(n);
  for (const id of order) {
    for (const s of blocks[id]!.succs) if (rpo[s]! <= rpo[id]!) isHeader[s] = 1;
  }
  // Natural loops, innermost first (an inner header comes later in reverse postorder): walk back
  // from each back edge's source to the header; a block already in an inner loop is skipped over
  // to that loop's header, which then nests in this one.
  const loopOf = new Int32Array(n).fill(-1);
  const parentOf = new Int32Array(n).fill(-1);
  for (let i = order.length - 1; i >= 0; i--) {
    const h = order[i]!;
    if (!isHeader[h]) continue;
    loopOf[h] = h;
    const work: number[] = [];
    for (const p of blocks[h]!.preds) if (rpo[p]! >= rpo[h]!) work.push(p);
    while (work.length > 0) {
      const b = work.pop()!;
      if (loopOf[b] === -1) {
        loopOf[b] = h;
        for (const p of blocks[b]!.preds) if (rpo[p]! >= 0) work.push(p);
        continue;
      }
      // b is in a loop found before: climb to the outermost one, which is h or nests in h.
      let t = loopOf[b]!;
      while (parentOf[t] !== -1) t = parentOf[t]!;
      if (t === h) continue;
      parentOf[t] = h;
      // Continue from the inner loop's entries (its header's predecessors outside it).
      for (const p of blocks[t]!.preds) if (rpo[p]! >= 0 && rpo[p]! < rpo[t]!) work.push(p);
    }
  }
  return { rpo, order, isHeader, loopOf, parentOf };
}
