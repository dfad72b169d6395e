/**
 * Compare trees as jump tables: clang lowers a C `switch` for eBPF to a chain or a balanced tree
 * of conditional jumps on one register against constants (eBPF has no jump tables). This rewrite
 * finds such trees in a function's CFG and replaces each by one multi-way branch (`br_table`).
 *
 * A tree is a root block ending in `if rX op K` whose successors are, recursively, either inner
 * nodes (blocks that hold nothing but `if rX op K'` on the same register and width, with the
 * parent as their only predecessor, possibly after a few `rY = imm` moves to other registers:
 * clang -O3 hoists a case's constant into the compare that leads to it) or leaves (anything
 * else). A leaf reached through moves is an edge of its own: the `br_table` goes to a block that
 * does the moves of that path and then branches to the leaf. Its meaning is computed, not
 * pattern-matched: every compare is monotonic in one order (signed or unsigned; equality in
 * both), so all values below the smallest constant go to the same leaf, all above the largest
 * too, and the values in between are each evaluated through the tree. The table covers
 * [smallest, largest]; below and above are its default (or a compare before it when they
 * differ). Only dense trees become tables (span <= MAX_SPAN and <= DENSITY entries per compare).
 *
 * The structurer (compiler/structure.ts) sees the root as a block with the leaves as successors
 * ('switch' terminator); the lowering (compiler/lower/function.ts) emits the table. The budget is
 * charged for the deepest path through the tree (an upper bound, as for if-arms).
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import type { Insn, JcondInsn, JmpOp, Reg } from '../../runtime/isa/insn.js';
import { w, type Node } from '../wir.js';
import { get32, get64, i64c, set64 } from '../lower/state.js';

/** Widest table, in entries. */
export const MAX_SPAN = 512;
/** At most this many table entries per compare of the tree. */
const DENSITY = 8;
/** Fewest compares worth a table. */
const MIN_COMPARES = 3;

/** A register set to a constant on the way to a leaf (an inner node's `rY = imm`). */
export interface SwitchMove {
  reg: Reg;
  /** The register's 64-bit value after the move (a 32-bit move zero-extends). */
  value: bigint;
}

/** Where a value goes: a leaf, after the moves of the inner nodes on its path (last write per register). */
export interface SwitchEdge {
  /** Index into `leaves`. */
  leaf: number;
  moves: SwitchMove[];
}

/** A recognised tree. */
export interface SwitchPlan {
  /** The root block. */
  root: number;
  reg: Reg;
  width: 32 | 64;
  signed: boolean;
  /** The leaves, distinct block ids, in the order of the root's new successor list. */
  leaves: number[];
  /** Smallest constant (the value of table index 0), as a signed or unsigned bigint per `signed`. */
  min: bigint;
  /** The distinct (leaf, moves) destinations; a tree without moves has one per leaf. */
  edges: SwitchEdge[];
  /** Edge index per value min, min + 1, ..., max. */
  table: number[];
  /** Edge index of the values below min / above max; -1 when there are none. */
  below: number;
  above: number;
  /** Inner blocks the table replaces. */
  inner: number[];
  /**
   * Instructions on the deepest path, the root's compare counted as 1 (what the budget is
   * charged for the tree: its inner compares and moves).
   */
  depth: number;
}

/** At most this many moves before an inner node's compare. */
const MAX_MOVES = 4;

const ORDERED: Partial<Record<JmpOp, 'signed' | 'unsigned'>> = {
  jgt: 'unsigned', jge: 'unsigned', jlt: 'unsigned', jle: 'unsigned',
  jsgt: 'signed', jsge: 'signed', jslt: 'signed', jsle: 'signed',
};

/** The jump condition of `op` on values already in the compare's order. */
function holds(op: JmpOp, v: bigint, k: bigint): boolean {
  switch (op) {
    case 'jeq': return v === k;
    case 'jne': return v !== k;
    case 'jgt': case 'jsgt': return v > k;
    case 'jge': case 'jsge': return v >= k;
    case 'jlt': case 'jslt': return v < k;
    case 'jle': case 'jsle': return v <= k;
    default: return false;
  }
}

/**
 * Finds the compare trees of a function. `blocks` are the function's blocks (ids = indices);
 * `insns` the program's instructions. Trees never overlap: an inner node belongs to one tree.
 */
export function findSwitches(blocks: readonly BasicBlock[], insns: readonly Insn[]): Map<number, SwitchPlan> {
  const plans = new Map<number, SwitchPlan>();
  const taken = new Uint8Array(blocks.length);
  const compareOf = (b: BasicBlock): JcondInsn | undefined => {
    const t = insns[b.last]!;
    return t.kind === 'jcond' && t.src === null && t.op !== 'jset' ? t : undefined;
  };
  /** The moves before block `b`'s compare, or null when it holds anything else (or too many). */
  const movesOf = (b: BasicBlock, reg: Reg): SwitchMove[] | null => {
    if (b.last - b.first > MAX_MOVES) return null;
    const moves: SwitchMove[] = [];
    for (let i = b.first; i < b.last; i++) {
      const x = insns[i]!;
      if (x.kind !== 'alu' || x.op !== 'mov' || x.src !== null || x.sxBits !== 0 || x.dst === reg) return null;
      moves.push({ reg: x.dst, value: x.width === 64 ? BigInt.asUintN(64, BigInt(x.imm)) : BigInt(x.imm >>> 0) });
    }
    return moves;
  };
  /** Whether block `id`, a successor of `parent`, can be an inner node of the tree compared as `rc`. */
  const canBeInner = (id: number, parent: number, rc: JcondInsn): boolean => {
    const b = blocks[id]!;
    if (id === 0 || taken[id] || b.preds.length !== 1 || b.preds[0] !== parent) return false;
    const c = compareOf(b);
    return c !== undefined && c.dst === rc.dst && c.width === rc.width && b.succs[0] !== b.succs[1] && movesOf(b, rc.dst) !== null;
  };
  /**
   * Whether block `b` would be an inner node of the tree of its only predecessor: it is not a
   * root of its own in the first pass, so that a tree whose inner nodes come before its root in
   * the program (clang places subtrees anywhere) is found whole.
   */
  const innerOfParent = (b: BasicBlock): boolean => {
    if (b.preds.length !== 1) return false;
    const pc = compareOf(blocks[b.preds[0]!]!);
    return pc !== undefined && canBeInner(b.id, b.preds[0]!, pc);
  };
  for (let pass = 0; pass < 2; pass++) for (let ri = 0; ri < blocks.length; ri++) {
    const root = blocks[ri]!;
    if (taken[root.id]) continue;
    const rc = compareOf(root);
    if (!rc) continue;
    if (pass === 0 && innerOfParent(root)) continue;
    // Most compares are no tree: without an inner child there are fewer than MIN_COMPARES.
    const succs = root.succs;
    if (!(succs.length > 0 && canBeInner(succs[0]!, root.id, rc)) && !(succs.length > 1 && canBeInner(succs[1]!, root.id, rc))) continue;
    const isInner = (id: number, parent: number): boolean => canBeInner(id, parent, rc);
    // Collect the tree (iteratively).
    const inner: number[] = [];
    const seen = new Set<number>([root.id]);
    const stack = [root.id];
    let order: 'signed' | 'unsigned' | undefined;
    let mixed = false;
    while (stack.length > 0) {
      const id = stack.pop()!;
      const c = compareOf(blocks[id]!)!;
      const o = ORDERED[c.op];
      if (o) {
        if (order && order !== o) mixed = true;
        order = o;
      }
      if (id !== root.id) inner.push(id);
      // A tree larger than the widest table cannot be dense enough; stop collecting (linear time).
      if (inner.length > MAX_SPAN) break;
      for (const s of blocks[id]!.succs) {
        if (!seen.has(s) && isInner(s, id)) {
          seen.add(s);
          stack.push(s);
        }
      }
    }
    if (stack.length > 0) continue;
    if (mixed || inner.length + 1 < MIN_COMPARES) continue;
    const signed = order !== 'unsigned';
    const bits = rc.width;
    const norm = (imm: number): bigint => {
      // The compare's constant as the compare sees it: sign-extended to the width, in its order.
      const k = BigInt.asIntN(bits, BigInt(imm));
      return signed ? k : BigInt.asUintN(bits, k);
    };
    const innerSet = new Set(inner);
    const nodes = [root.id, ...inner];
    let min = norm(compareOf(root)!.imm);
    let max = min;
    for (const id of nodes) {
      const k = norm(compareOf(blocks[id]!)!.imm);
      if (k < min) min = k;
      if (k > max) max = k;
    }
    const span = max - min + 1n;
    if (span > BigInt(MAX_SPAN) || span > BigInt(DENSITY * nodes.length)) continue;
    const leaves: number[] = [];
    const leafIndex = (id: number): number => {
      let i = leaves.indexOf(id);
      if (i < 0) i = leaves.push(id) - 1;
      return i;
    };
    const edges: SwitchEdge[] = [];
    const edgeKeys = new Map<string, number>();
    const edgeIndex = (leaf: number, moves: Map<Reg, bigint>): number => {
      const list = [...moves].sort((a, b) => a[0] - b[0]).map(([reg, value]): SwitchMove => ({ reg, value }));
      const key = `${leaf}:${list.map((x) => `${x.reg}=${x.value}`).join(',')}`;
      let i = edgeKeys.get(key);
      if (i === undefined) {
        i = edges.push({ leaf: leafIndex(leaf), moves: list }) - 1;
        edgeKeys.set(key, i);
      }
      return i;
    };
    const evaluate = (v: bigint): number => {
      let id = root.id;
      const moves = new Map<Reg, bigint>();
      for (;;) {
        const b = blocks[id]!;
        const c = compareOf(b)!;
        const next = holds(c.op, v, norm(c.imm)) ? b.succs[0]! : b.succs[1]!;
        if (next === root.id || !innerSet.has(next)) return edgeIndex(next, moves);
        for (const mv of movesOf(blocks[next]!, rc.dst)!) moves.set(mv.reg, mv.value);
        id = next;
      }
    };
    const table: number[] = [];
    for (let v = min; v <= max; v++) table.push(evaluate(v));
    const lo = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    const below = min > lo ? evaluate(min - 1n) : -1;
    const above = max < hi ? evaluate(max + 1n) : -1;
    // Instructions on the deepest path, for the budget.
    const depthOf = (id: number): number => {
      let d = 0;
      const todo: Array<[number, number]> = [[id, 1]];
      while (todo.length > 0) {
        const [x, dx] = todo.pop()!;
        if (dx > d) d = dx;
        for (const s of blocks[x]!.succs) if (innerSet.has(s)) todo.push([s, dx + blocks[s]!.last - blocks[s]!.first + 1]);
      }
      return d;
    };
    for (const id of inner) taken[id] = 1;
    taken[root.id] = 1;
    plans.set(root.id, {
      root: root.id, reg: rc.dst, width: bits, signed, leaves, edges, min, table, below, above, inner, depth: depthOf(root.id),
    });
  }
  return plans;
}

/**
 * The successors of the function's blocks with each tree folded into its root: the root's
 * successors become its leaves and the inner blocks lose theirs (they become unreachable).
 * Nothing is copied: the structurer reads the successors through this function.
 */
export function foldedSuccessors(blocks: readonly BasicBlock[], plans: ReadonlyMap<number, SwitchPlan>): (b: BasicBlock) => readonly number[] {
  const dead = new Uint8Array(blocks.length);
  for (const p of plans.values()) for (const id of p.inner) dead[id] = 1;
  const none: readonly number[] = [];
  return (b) => (dead[b.id] ? none : plans.get(b.id)?.leaves ?? b.succs);
}

/**
 * The blocks with each tree folded into its root (successors as foldedSuccessors gives them,
 * predecessors recomputed), for the passes that walk loops and paths over the folded graph
 * (compiler/rewrite/budget.ts, loops.ts, copy-loop.ts).
 */
export function foldSwitches(blocks: readonly BasicBlock[], plans: ReadonlyMap<number, SwitchPlan>): BasicBlock[] {
  const succs = foldedSuccessors(blocks, plans);
  const out = blocks.map((b): BasicBlock => ({ id: b.id, first: b.first, last: b.last, succs: succs(b) as number[], preds: [] }));
  for (const b of out) for (const s of b.succs) out[s]!.preds.push(b.id);
  return out;
}

/**
 * The multi-way branch of a plan: `labels[i]` is the branch label of leaf i. Statements: a
 * compare for values below the table when they go elsewhere than those above it, then the
 * `br_table` (the index checked in 64 bits first for 64-bit compares, so a value that differs
 * from a table entry only above bit 31 is not taken for it). An edge with moves is a block
 * around the branch: the table leaves it, its code does the moves and branches to the leaf.
 */
export function switchBranch(plan: SwitchPlan, labels: readonly string[]): Node[] {
  const m = w;
  // Edges with moves get a block of their own, nested around the branch (innermost first).
  const withMoves = plan.edges.map((e, i) => (e.moves.length > 0 ? i : -1)).filter((i) => i >= 0);
  const edgeLabel = plan.edges.map((e, i) => (e.moves.length > 0 ? `sw${plan.root}_${i}` : labels[e.leaf]!));
  const out: Node[] = [];
  const entries = plan.table.map((i) => edgeLabel[i]!);
  // Out-of-table values: below and above, one of which may not exist.
  const dflt = plan.above >= 0 ? plan.above : plan.below;
  const dfltLabel = edgeLabel[dflt >= 0 ? dflt : plan.table[0]!]!;
  const minK = BigInt.asIntN(plan.width, plan.min);
  if (plan.width === 64) {
    const v = get64(plan.reg);
    if (plan.below >= 0 && plan.above >= 0 && plan.below !== plan.above) {
      out.push(m.br(edgeLabel[plan.below]!, plan.signed ? m.i64.lt_s(v, i64c(minK)) : m.i64.lt_u(v, i64c(minK))));
    }
    const idx = (): Node => m.i64.sub(get64(plan.reg), i64c(minK));
    if (dflt >= 0) out.push(m.br(edgeLabel[dflt]!, m.i64.gt_u(idx(), m.i64.const(BigInt(entries.length - 1)))));
    out.push(m.switch(entries, dfltLabel, m.i32.wrap(idx())));
  } else {
    const v = get32(plan.reg);
    const k = m.i32.const(Number(minK));
    if (plan.below >= 0 && plan.above >= 0 && plan.below !== plan.above) {
      out.push(m.br(edgeLabel[plan.below]!, plan.signed ? m.i32.lt_s(v, k) : m.i32.lt_u(v, k)));
    }
    out.push(m.switch(entries, dfltLabel, m.i32.sub(get32(plan.reg), k)));
  }
  let body = out;
  for (const i of withMoves) {
    const e = plan.edges[i]!;
    body = [m.block(edgeLabel[i]!, body), ...e.moves.map((mv) => set64(mv.reg, i64c(BigInt.asIntN(64, mv.value)))), m.br(labels[e.leaf]!)];
  }
  return body;
}
