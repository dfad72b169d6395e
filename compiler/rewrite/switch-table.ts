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
 * A tree that only picks a constant (each path sets one register rD to a constant, by a move in
 * an inner node or in a leaf of nothing but `rD = K` (and `ja`; a leaf of only `ja` stands for its
 * target), and goes on to the same block J,
 * clang's shape of `switch (x) { case 0: v = 56; break; ... }` for eBPF, which has no lookup
 * tables) becomes a lookup instead of a branch, as clang makes it for other targets: the in-table
 * constants (8, 16 or 32 bits each, at most MAX_LOOKUP_WORDS i64 words of them) are a table in
 * the module's constant region (ConstTables, runtime/abi.ts CONST_TABLE_BASE); an out-of-table
 * value sets its constant and branches to J, any other loads its entry, then `br J`: no indirect
 * branch to mispredict. When the region is full (or with `constTables: false`) the constants are
 * packed into the i64 words instead, the word picked by a tree of `select`s, the entry shifted
 * out, out-of-table values picked by a `select`. With a budget the tree's charge also covers the
 * leaves it skips (the longest), so it stays an upper bound.
 *
 * The structurer (compiler/structure.ts) sees the root as a block with the leaves as successors
 * ('switch' terminator); the lowering (compiler/lower/function.ts) emits the table. The budget is
 * charged for the deepest path through the tree (an upper bound, as for if-arms).
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import type { AluInsn, Insn, InsnList, JcondInsn, JmpOp, Reg } from '../../runtime/isa/insn.js';
import { w, type Node } from '../wir.js';
import { get32, get64, i64c, set64 } from '../lower/state.js';
import { CONST_TABLE_BASE, CONST_TABLE_END } from '../../runtime/abi.js';

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
   * charged for the tree: its inner compares and moves; for a lookup also the leaves it skips).
   */
  depth: number;
  /** Set when the tree is a lookup rather than a branch. */
  lookup?: SwitchLookup;
}

/** At most this many moves before an inner node's compare. */
const MAX_MOVES = 4;
/** At most this many i64 words of packed constants in a lookup. */
const MAX_LOOKUP_WORDS = 16;

/** A tree that picks a constant: `reg = table value; br leaves[join]` (see the file comment). */
export interface SwitchLookup {
  reg: Reg;
  /** Leaf index of the block every path goes on to. */
  join: number;
  /** Bits per packed entry (8, 16 or 32). */
  bits: 8 | 16 | 32;
  /** The in-table values packed, entry i at bits [(i % (64 / bits)) * bits, ...) of word i / (64 / bits). */
  words: bigint[];
  /** The values below and above the table (null where there are none). */
  below: bigint | null;
  above: bigint | null;
  /** Most instructions of skipped leaves on one path (charged to the budget with the tree). */
  skipped: number;
  /** The in-table values, entry i for the value min + i. */
  entries: bigint[];
  /**
   * Where the entries lie in memory as a constant table of `bits`-bit words (ConstTables), when
   * the module had room for it: the lookup is then a load, else the packed words' `select`s.
   */
  address?: number;
}

/**
 * The module's constant tables: placed in [CONST_TABLE_BASE, CONST_TABLE_END) (runtime/abi.ts,
 * inside the null guard, where checked mode faults and the runtime places nothing), written by
 * the module's active data segments at instantiation. Equal tables share one place.
 */
export class ConstTables {
  private next = CONST_TABLE_BASE;
  private readonly placed = new Map<string, number>();
  readonly segments: Array<{ address: number; bytes: Uint8Array }> = [];

  /** The address of a table of `bytes` aligned to `align`, or undefined when there is no room. */
  place(bytes: Uint8Array, align: number): number | undefined {
    const key = `${align}:${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
    const known = this.placed.get(key);
    if (known !== undefined) return known;
    const at = Math.ceil(this.next / align) * align;
    if (at + bytes.length > CONST_TABLE_END) return undefined;
    this.next = at + bytes.length;
    this.placed.set(key, at);
    this.segments.push({ address: at, bytes });
    return at;
  }

  /** Places the table of a lookup (sets `lookup.address` when there is room). */
  placeLookup(lookup: SwitchLookup): void {
    const size = lookup.bits / 8;
    const bytes = new Uint8Array(lookup.entries.length * size);
    const dv = new DataView(bytes.buffer);
    lookup.entries.forEach((v, i) => {
      if (size === 1) dv.setUint8(i, Number(v));
      else if (size === 2) dv.setUint16(i * 2, Number(v), true);
      else dv.setUint32(i * 4, Number(v), true);
    });
    const at = this.place(bytes, size);
    if (at !== undefined) lookup.address = at;
  }
}

/** Options of {@link findSwitches}. */
export interface SwitchOptions {
  /** Whether trees that pick a constant may become lookups. Default true. */
  lookups?: boolean;
}

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
 * The per-block tests of findSwitches' search, with the compares it decoded. A class, not
 * closures made per search: V8 keeps the optimised code of a closure only while one of its
 * instances lives, so closures made anew for every compile would run unoptimised again after
 * each full collection.
 */
class TreeSearch {
  /** Blocks already in a tree. */
  readonly taken: Uint8Array;
  /**
   * Block id -> its compare, null for none, undefined until asked (the search asks several times
   * per block, and a large program's instructions are decoded anew on every get).
   */
  private readonly compares: Array<JcondInsn | null | undefined>;

  constructor(private readonly blocks: readonly BasicBlock[], private readonly insns: InsnList) {
    this.taken = new Uint8Array(blocks.length);
    this.compares = new Array<JcondInsn | null | undefined>(blocks.length);
  }

  compareOf(b: BasicBlock): JcondInsn | undefined {
    let c = this.compares[b.id];
    if (c === undefined) {
      const t = this.insns.kind(b.last) === 'jcond' ? this.insns.get(b.last) as JcondInsn : undefined;
      c = t !== undefined && t.src === null && t.op !== 'jset' ? t : null;
      this.compares[b.id] = c;
    }
    return c ?? undefined;
  }

  /**
   * Whether block `b` holds nothing but at most MAX_MOVES `rY = imm` (rY not `reg`) before its
   * compare: movesOf's test, without making the list (it runs for every compare).
   */
  onlyMoves(b: BasicBlock, reg: Reg): boolean {
    if (b.last - b.first > MAX_MOVES) return false;
    for (let i = b.first; i < b.last; i++) {
      const x = this.insns.get(i)!;
      if (x.kind !== 'alu' || x.op !== 'mov' || x.src !== null || x.sxBits !== 0 || x.dst === reg) return false;
    }
    return true;
  }

  /** The moves before block `b`'s compare, or null when it holds anything else (or too many). */
  movesOf(b: BasicBlock, reg: Reg): SwitchMove[] | null {
    if (!this.onlyMoves(b, reg)) return null;
    const moves: SwitchMove[] = [];
    for (let i = b.first; i < b.last; i++) {
      const x = this.insns.get(i) as AluInsn;
      moves.push({ reg: x.dst, value: x.width === 64 ? BigInt.asUintN(64, BigInt(x.imm)) : BigInt(x.imm >>> 0) });
    }
    return moves;
  }

  /**
   * canBeInner's tests that need no decoded instruction: most compares fail them, and are then
   * no tree root without their compare being decoded.
   */
  mayBeInner(id: number, parent: number): boolean {
    const b = this.blocks[id]!;
    return id !== 0 && !this.taken[id] && b.preds.length === 1 && b.preds[0] === parent && this.insns.kind(b.last) === 'jcond'
      && b.succs[0] !== b.succs[1] && b.last - b.first <= MAX_MOVES;
  }

  /** Whether block `id`, a successor of `parent`, can be an inner node of the tree compared as `rc`. */
  canBeInner(id: number, parent: number, rc: JcondInsn): boolean {
    const b = this.blocks[id]!;
    if (id === 0 || this.taken[id] || b.preds.length !== 1 || b.preds[0] !== parent) return false;
    const c = this.compareOf(b);
    return c !== undefined && c.dst === rc.dst && c.width === rc.width && b.succs[0] !== b.succs[1] && this.onlyMoves(b, rc.dst);
  }

  /**
   * Whether block `b` would be an inner node of the tree of its only predecessor: it is not a
   * root of its own in the first pass, so that a tree whose inner nodes come before its root in
   * the program (clang places subtrees anywhere) is found whole.
   */
  innerOfParent(b: BasicBlock): boolean {
    if (b.preds.length !== 1) return false;
    const pc = this.compareOf(this.blocks[b.preds[0]!]!);
    return pc !== undefined && this.canBeInner(b.id, b.preds[0]!, pc);
  }
}

/**
 * Finds the compare trees of a function. `blocks` are the function's blocks (ids = indices);
 * `insns` the program's instructions. Trees never overlap: an inner node belongs to one tree.
 */
export function findSwitches(blocks: readonly BasicBlock[], insns: InsnList, options: SwitchOptions = {}): Map<number, SwitchPlan> {
  const plans = new Map<number, SwitchPlan>();
  const search = new TreeSearch(blocks, insns);
  const taken = search.taken;
  /**
   * The tree rooted at `root` (whose compare is `rc`), or undefined when it is none or not dense
   * enough. A function of its own rather than the loop body: the closures it makes would
   * otherwise make the loop allocate a scope for every block.
   */
  const planTree = (root: BasicBlock, rc: JcondInsn): SwitchPlan | undefined => {
    const isInner = (id: number, parent: number): boolean => search.canBeInner(id, parent, rc);
    // Collect the tree (iteratively).
    const inner: number[] = [];
    const seen = new Set<number>([root.id]);
    const stack = [root.id];
    let order: 'signed' | 'unsigned' | undefined;
    let mixed = false;
    while (stack.length > 0) {
      const id = stack.pop()!;
      const c = search.compareOf(blocks[id]!)!;
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
    if (stack.length > 0) return undefined;
    if (mixed || inner.length + 1 < MIN_COMPARES) return undefined;
    const signed = order !== 'unsigned';
    const bits = rc.width;
    const norm = (imm: number): bigint => {
      // The compare's constant as the compare sees it: sign-extended to the width, in its order.
      const k = BigInt.asIntN(bits, BigInt(imm));
      return signed ? k : BigInt.asUintN(bits, k);
    };
    const innerSet = new Set(inner);
    const nodes = [root.id, ...inner];
    let min = norm(search.compareOf(root)!.imm);
    let max = min;
    for (const id of nodes) {
      const k = norm(search.compareOf(blocks[id]!)!.imm);
      if (k < min) min = k;
      if (k > max) max = k;
    }
    const span = max - min + 1n;
    if (span > BigInt(MAX_SPAN) || span > BigInt(DENSITY * nodes.length)) return undefined;
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
        const c = search.compareOf(b)!;
        const next = holds(c.op, v, norm(c.imm)) ? b.succs[0]! : b.succs[1]!;
        if (next === root.id || !innerSet.has(next)) return edgeIndex(next, moves);
        for (const mv of search.movesOf(blocks[next]!, rc.dst)!) moves.set(mv.reg, mv.value);
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
    const plan: SwitchPlan = {
      root: root.id, reg: rc.dst, width: bits, signed, leaves, edges, min, table, below, above, inner, depth: depthOf(root.id),
    };
    const lookup = options.lookups === false ? undefined : lookupOf(plan, blocks, insns);
    if (lookup) {
      plan.lookup = lookup;
      plan.depth += lookup.skipped;
    }
    return plan;
  };
  for (let pass = 0; pass < 2; pass++) for (let ri = 0; ri < blocks.length; ri++) {
    const root = blocks[ri]!;
    if (taken[root.id]) continue;
    // Most compares are no tree: without an inner child there are fewer than MIN_COMPARES.
    const succs = root.succs;
    if (!(succs.length > 0 && search.mayBeInner(succs[0]!, root.id))
      && !(succs.length > 1 && search.mayBeInner(succs[1]!, root.id))) continue;
    const rc = search.compareOf(root);
    if (!rc) continue;
    if (pass === 0 && search.innerOfParent(root)) continue;
    if (!(succs.length > 0 && search.canBeInner(succs[0]!, root.id, rc))
      && !(succs.length > 1 && search.canBeInner(succs[1]!, root.id, rc))) continue;
    const plan = planTree(root, rc);
    if (plan) plans.set(root.id, plan);
  }
  return plans;
}

/**
 * The lookup a plan is, when every edge sets one register to a constant and goes on to one
 * block that is itself a leaf (so it has a label); undefined otherwise.
 */
function lookupOf(plan: SwitchPlan, blocks: readonly BasicBlock[], insns: InsnList): SwitchLookup | undefined {
  let reg: Reg | undefined;
  let join: number | undefined;
  // Instructions of the leaves the lookup skips (their `ja` hops included), most on one path.
  let skipped = 0;
  // A constant, or the switch value itself (clang's `rD = rX` for `case 21: v = 21`): its 64 or low 32 bits.
  const values: Array<bigint | 'self64' | 'self32'> = [];
  for (const e of plan.edges) {
    let id = plan.leaves[e.leaf]!;
    // A leaf of nothing but `ja` (clang's way to the default) stands for its target.
    let hops = 0;
    for (; hops < 4 && blocks[id]!.first === blocks[id]!.last && insns.kind(blocks[id]!.first) === 'ja'; hops++) id = blocks[id]!.succs[0]!;
    const b = blocks[id]!;
    // The leaf is `rD = K` (then `ja`, or falling through) into the join ...
    const first = insns.get(b.first)!;
    const leafMove = first.kind === 'alu' && first.op === 'mov' && (first.src === null || first.src === plan.reg) && first.sxBits === 0
      && (b.last === b.first || (b.last === b.first + 1 && insns.kind(b.last) === 'ja')) && b.succs.length === 1 ? first : undefined;
    let r: Reg;
    let to: number;
    let value: bigint | 'self64' | 'self32';
    skipped = Math.max(skipped, hops + (leafMove ? b.last - b.first + 1 : 0));
    if (leafMove) {
      r = leafMove.dst;
      to = b.succs[0]!;
      if (leafMove.src !== null) {
        // A 64-bit copy of a register compared in 32 bits has high bits the tree never saw.
        if (leafMove.width === 64 && plan.width === 32) return undefined;
        value = leafMove.width === 64 ? 'self64' : 'self32';
      } else {
        value = leafMove.width === 64 ? BigInt.asUintN(64, BigInt(leafMove.imm)) : BigInt(leafMove.imm >>> 0);
      }
    } else {
      // ... or the join itself, reached through a move of rD on the way.
      const mv = e.moves.find((x) => x.reg === (reg ?? x.reg));
      if (!mv) return undefined;
      r = mv.reg;
      to = id;
      value = mv.value;
    }
    if (e.moves.some((x) => x.reg !== r)) return undefined;
    if ((reg !== undefined && reg !== r) || (join !== undefined && join !== to) || r === plan.reg) return undefined;
    reg = r;
    join = to;
    values.push(value);
  }
  const joinLeaf = join === undefined ? -1 : plan.leaves.indexOf(join);
  if (reg === undefined || joinLeaf < 0) return undefined;
  const inTable = plan.table.map((e, i) => {
    const v = values[e]!;
    return v === 'self64' ? BigInt.asUintN(64, plan.min + BigInt(i)) : v === 'self32' ? BigInt.asUintN(32, plan.min + BigInt(i)) : v;
  });
  const below = plan.below >= 0 ? values[plan.below]! : null;
  const above = plan.above >= 0 ? values[plan.above]! : null;
  if (typeof below === 'string' || typeof above === 'string') return undefined;
  const widest = inTable.reduce((m, v) => (v > m ? v : m), 0n);
  const bits = widest < 1n << 8n ? 8 : widest < 1n << 16n ? 16 : widest < 1n << 32n ? 32 : 0;
  if (bits === 0) return undefined;
  const per = 64 / bits;
  const words: bigint[] = new Array<bigint>(Math.ceil(inTable.length / per)).fill(0n);
  if (words.length > MAX_LOOKUP_WORDS) return undefined;
  inTable.forEach((v, i) => {
    words[Math.floor(i / per)]! |= v << BigInt((i % per) * bits);
  });
  return {
    reg, join: joinLeaf, bits, words, below, above, skipped, entries: inTable,
  };
}

/**
 * A lookup plan's statements: the register set from the packed words (or the out-of-table
 * value), then the branch to the join.
 */
function lookupBranch(plan: SwitchPlan, lookup: SwitchLookup, labels: readonly string[]): Node[] {
  const m = w;
  const n = plan.table.length;
  const minK = BigInt.asIntN(plan.width, plan.min);
  // The index as i32 and whether it is in the table (a 64-bit compare is range-checked in 64 bits).
  let idx: Node;
  let inRange: Node;
  let isBelow: Node;
  if (plan.width === 64) {
    const d = m.i64.sub(get64(plan.reg), i64c(minK));
    inRange = m.i64.le_u(d, m.i64.const(BigInt(n - 1)));
    idx = m.i32.wrap(d);
    isBelow = plan.signed ? m.i64.lt_s(get64(plan.reg), i64c(minK)) : m.i64.lt_u(get64(plan.reg), i64c(minK));
  } else {
    const k = m.i32.const(Number(minK));
    idx = m.i32.sub(get32(plan.reg), k);
    inRange = m.i32.le_u(idx, m.i32.const(n - 1));
    isBelow = plan.signed ? m.i32.lt_s(get32(plan.reg), k) : m.i32.lt_u(get32(plan.reg), k);
  }
  const { below, above } = lookup;
  const outside = below !== null && above !== null && below !== above
    ? m.select(isBelow, i64c(BigInt.asIntN(64, below)), i64c(BigInt.asIntN(64, above)))
    : i64c(BigInt.asIntN(64, (above ?? below ?? 0n)));
  if (lookup.address !== undefined) {
    // A load from the module's constant table, as clang makes it for other targets: an
    // out-of-table value sets the out-of-table constant and branches to the join first (a
    // well-predicted branch; the load only ever reads inside the table).
    const size = lookup.bits / 8;
    const ptr = size === 1 ? idx : m.i32.shl(idx, m.i32.const(Math.log2(size)));
    const entry = size === 1 ? m.i64.load8_u(lookup.address, 0, ptr) : size === 2 ? m.i64.load16_u(lookup.address, 1, ptr) : m.i64.load32_u(lookup.address, 2, ptr);
    const join = labels[lookup.join]!;
    if (below === null && above === null) return [set64(lookup.reg, entry), m.br(join)];
    return [set64(lookup.reg, outside), m.br(join, m.i32.eqz(inRange)), set64(lookup.reg, entry), m.br(join)];
  }
  const per = 64 / lookup.bits;
  const shiftPer = Math.log2(per);
  const wordIndex = m.i32.shr_u(idx, m.i32.const(shiftPer));
  const pick = (lo: number, hi: number): Node => {
    if (hi - lo === 1) return i64c(lookup.words[lo]!);
    const mid = (lo + hi) >> 1;
    return m.select(m.i32.lt_u(wordIndex, m.i32.const(mid)), pick(lo, mid), pick(mid, hi));
  };
  const shift = m.i64.extend_u(m.i32.mul(m.i32.and(idx, m.i32.const(per - 1)), m.i32.const(lookup.bits)));
  const mask = (1n << BigInt(lookup.bits)) - 1n;
  const entry = m.i64.and(m.i64.shr_u(pick(0, lookup.words.length), shift), i64c(mask));
  const value = below === null && above === null ? entry : m.select(inRange, entry, outside);
  return [set64(lookup.reg, value), m.br(labels[lookup.join]!)];
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
  if (plan.lookup) return lookupBranch(plan, plan.lookup, labels);
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
