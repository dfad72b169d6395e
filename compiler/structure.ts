/**
 * Control-flow structuring: turns a function's CFG into nested Wasm `block`/`loop`/`if` with
 * labelled breaks, in time linear in the size of the function.
 *
 * The algorithm is the one of Peterson, Kasami and Tokura as presented by Ramsey ("Beyond
 * Relooper", ICFP 2022), over the dominator tree in reverse postorder:
 * - a loop header (target of a back edge) becomes a `loop` whose label a back edge continues to;
 * - a node with several forward predecessors (a merge node) is placed right after a `block` that
 *   encloses its dominator's code, so that jumping to it is a `br` out of that block;
 * - any other successor is dominated by its only predecessor and is emitted inline.
 *
 * Irreducible control flow (a retreating edge to a node that does not dominate its source) has no
 * such structure; `structureFunction` reports it and the caller falls back to a dispatch loop.
 */
import { CompileError, ErrorCode } from '../runtime/errors.js';
import type { BasicBlock } from '../runtime/isa/cfg.js';

/** Structured statements. Labels are block ids: `B<id>` exits to block id, `L<id>` re-enters loop id. */
export type Stmt =
  | { k: 'block'; label: number; body: Stmt[] }
  | { k: 'loop'; label: number; body: Stmt[] }
  /**
   * The straight-line instructions of a block, without its terminating jump; `first`..`last`
   * (program instruction indices) when only a range of them (a huge block split across Wasm
   * functions, compiler/lower/split.ts).
   */
  | { k: 'code'; block: number; first?: number; last?: number }
  /** Runs the outlined statements of chunk `chunk`, which may leave to `exits` (compiler/lower/split.ts). */
  | { k: 'chunk'; chunk: number; exits: string[] }
  /** The block's conditional jump: `if (cond) then else`. */
  | { k: 'if'; block: number; then: Stmt[]; else: Stmt[] }
  /** Branch to the start of block `target`, which is a merge node (`B`) or loop header (`L`). */
  | { k: 'br'; target: number; loop: boolean }
  /** The block ends with exit. */
  | { k: 'return'; block: number }
  /** The block ends with a multi-way branch to its successors (compiler/rewrite/switch-table.ts), in their order. */
  | { k: 'switch'; block: number; targets: Array<{ target: number; loop: boolean }> };

export type StructureResult =
  | {
      ok: true;
      body: Stmt[];
      /**
       * Per block: 1 for the entry, loop headers and merge points, the blocks every other block is
       * reached from without passing a loop header or merge point (the budget is charged there).
       */
      regionHeads: Uint8Array;
    }
  | { ok: false; irreducibleAt: number };

/**
 * Control flow nested deeper than this (Wasm blocks inside blocks, or dominator-tree recursion) is
 * refused with E_TOO_COMPLEX rather than risking the host's stack in this or a later stage. clang
 * output nests far less: eBPF has no jump tables, so even a large switch is a balanced tree (and
 * becomes a table, compiler/rewrite/switch-table.ts); a 1M-instruction generated program
 * (scripts/bench/genprog.ts) nests ~2,250 levels. Engines accept far more (V8 20,000; wabt.js's
 * reader 5,000).
 */
export const MAX_NESTING = 3000;

/** The empty arm of an `if` (shared: statement lists are never appended to after structuring). */
const NO_STMTS: Stmt[] = [];

// How a block ends (see structureFunction's `terminator`).
const T_EXIT = 0;
const T_JUMP = 1;
const T_COND = 2;
const T_SWITCH = 3;

/**
 * Structures a function whose blocks[0] is the entry. `terminator(b)` says how block b ends:
 * 'exit', 'jump' (one successor, explicit jump or fallthrough), 'cond' (succs = [taken,
 * fallthrough]) or 'switch' (a multi-way branch to its succs: each forward successor is placed
 * after an enclosing block, as a merge node is, so the branch is a `br_table` to their labels).
 * Blocks unreachable from the entry are ignored. `succsOf(b)` gives b's successors (default
 * `b.succs`; compare trees folded into a switch give their leaves, compiler/rewrite/switch-table.ts);
 * predecessors are derived from them.
 */
export function structureFunction(
  blocks: BasicBlock[],
  terminator: (b: BasicBlock) => 'exit' | 'jump' | 'cond' | 'switch',
  pcOf: (b: BasicBlock) => number,
  succsOf: (b: BasicBlock) => readonly number[] = (b) => b.succs,
): StructureResult {
  const n = blocks.length;
  // Flat copies of what the passes below read many times: how each block ends, and the successor
  // and predecessor lists in CSR form (typed arrays; no per-edge objects).
  const term = new Uint8Array(n);
  const succStart = new Int32Array(n + 1);
  for (let id = 0; id < n; id++) {
    const b = blocks[id]!;
    const t = terminator(b);
    term[id] = t === 'exit' ? T_EXIT : t === 'jump' ? T_JUMP : t === 'cond' ? T_COND : T_SWITCH;
    succStart[id + 1] = succStart[id]! + succsOf(b).length;
  }
  const edges = succStart[n]!;
  const succ = new Int32Array(edges);
  const predStart = new Int32Array(n + 1);
  for (let id = 0, e = 0; id < n; id++) {
    const ss = succsOf(blocks[id]!);
    for (let j = 0; j < ss.length; j++) {
      const s = ss[j]!;
      succ[e++] = s;
      predStart[s + 1]!++;
    }
  }
  for (let id = 0; id < n; id++) predStart[id + 1]! += predStart[id]!;
  const pred = new Int32Array(edges);
  {
    const fill = predStart.slice(0, n);
    for (let id = 0; id < n; id++) for (let e = succStart[id]!; e < succStart[id + 1]!; e++) pred[fill[succ[e]!]!++] = id;
  }
  // Reverse postorder by iterative DFS.
  const rpo = new Int32Array(n).fill(-1);
  // order[i]: the block with rpo number i (the first `reached` entries; the rest unreachable).
  const order = new Int32Array(n);
  let reached = 0;
  {
    const visited = new Uint8Array(n);
    const stackNode = new Int32Array(n);
    const stackEdge = new Int32Array(n);
    let sp = 0;
    stackNode[0] = 0;
    stackEdge[0] = succStart[0]!;
    sp = 1;
    visited[0] = 1;
    const post = new Int32Array(n);
    let np = 0;
    while (sp > 0) {
      const top = stackNode[sp - 1]!;
      const e = stackEdge[sp - 1]!;
      if (e < succStart[top + 1]!) {
        stackEdge[sp - 1] = e + 1;
        const s = succ[e]!;
        if (!visited[s]) {
          visited[s] = 1;
          stackNode[sp] = s;
          stackEdge[sp] = succStart[s]!;
          sp++;
        }
      } else {
        post[np++] = top;
        sp--;
      }
    }
    for (let i = np - 1; i >= 0; i--) {
      rpo[post[i]!] = reached;
      order[reached++] = post[i]!;
    }
  }
  // Immediate dominators (Cooper, Harvey, Kennedy), indices are rpo numbers.
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (a > b) a = idom[a]!;
      while (b > a) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 1; i < reached; i++) {
      const id = order[i]!;
      let nd = -1;
      for (let e = predStart[id]!; e < predStart[id + 1]!; e++) {
        const pr = rpo[pred[e]!]!;
        if (pr < 0 || idom[pr] === -1) continue;
        nd = nd === -1 ? pr : intersect(pr, nd);
      }
      if (idom[i] !== nd) {
        idom[i] = nd;
        changed = true;
      }
    }
  }
  const dominates = (a: number, b: number): boolean => {
    // a, b rpo numbers; walk up from b.
    while (b > a) b = idom[b]!;
    return a === b;
  };
  // Classify edges.
  const isLoopHeader = new Uint8Array(n);
  const forwardIn = new Int32Array(n);
  for (let id = 0; id < n; id++) {
    const rb = rpo[id]!;
    if (rb < 0) continue;
    // A multi-way branch reaches each forward successor by a `br`: make it a merge node.
    const weight = term[id] === T_SWITCH ? 2 : 1;
    for (let e = succStart[id]!; e < succStart[id + 1]!; e++) {
      const s = succ[e]!;
      const rs = rpo[s]!;
      if (rs <= rb) {
        if (!dominates(rs, rb)) return { ok: false, irreducibleAt: pcOf(blocks[id]!) };
        isLoopHeader[s] = 1;
      } else {
        forwardIn[s]! += weight;
      }
    }
  }
  const isMerge = (id: number): boolean => forwardIn[id]! >= 2;
  // Merge children in the dominator tree, ordered by rpo descending (outermost block first).
  // Most blocks have no merge children: share one empty list rather than allocate n of them.
  const NONE: number[] = [];
  const mergeChildren: number[][] = new Array<number[]>(n).fill(NONE);
  for (let i = reached - 1; i >= 1; i--) {
    const id = order[i]!;
    if (isMerge(id)) {
      const parent = order[idom[i]!]!;
      if (mergeChildren[parent] === NONE) mergeChildren[parent] = [];
      mergeChildren[parent]!.push(id);
    }
  }

  const builder = new StatementBuilder(blocks, pcOf, term, succStart, succ, rpo, isLoopHeader, forwardIn, mergeChildren);
  let body: Stmt[];
  try {
    body = builder.build();
  } catch (e) {
    if (e instanceof RangeError) {
      throw new CompileError(ErrorCode.TooComplex, 'control flow nests too deeply to translate', { insn: pcOf(blocks[0]!) });
    }
    throw e;
  }
  const nesting = builder.nesting;
  if (nesting > MAX_NESTING) {
    throw new CompileError(
      ErrorCode.TooComplex,
      `control flow nests ${nesting} levels deep; the limit is ${MAX_NESTING}`,
      { insn: pcOf(blocks[0]!) },
    );
  }
  const regionHeads = new Uint8Array(n);
  regionHeads[0] = 1;
  for (let id = 0; id < n; id++) if (isLoopHeader[id] || isMerge(id)) regionHeads[id] = 1;
  return { ok: true, body, regionHeads };
}

/**
 * Makes the statements of a function from its dominator tree (structureFunction's analysis, in
 * its flat arrays). A class, not closures made per function: V8 keeps the optimised code of a
 * closure only while one of its instances lives, so closures made anew for every compile would
 * run unoptimised again after each full collection.
 */
class StatementBuilder {
  /** Dominator-tree recursion depth (limited to MAX_NESTING). */
  private depth = 0;
  /**
   * The deepest nesting of the lists made so far: a list inside a block or loop, or inside an
   * `if` neither of whose arms is a single `br` (which becomes br_if, lower/function.ts), is one
   * level deeper than the list holding the statement. Every list but a shared `[br]` gets the code
   * of a block (nodeCode), which records its level, so this ends as the deepest level of the body.
   */
  nesting = 0;
  /**
   * Subtrees whose code ends a statement list (the one successor of a jump, the inline arm of a
   * conditional whose other arm is a branch): queued and appended to their list later instead of
   * recursing, so a long chain of such blocks costs no host stack. Nothing else is appended to
   * a list after its tail, so the order is the same.
   */
  private readonly tailNodes: number[] = [];
  private readonly tailLists: Stmt[][] = [];
  private readonly tailLevels: number[] = [];
  /**
   * The one-statement lists `[br to]` (a loop's `L` label or a merge node's `B`), shared by every
   * branch to the same label: statements and lists are never changed after structuring, and a
   * function of 100k instructions has tens of thousands of such branches.
   */
  private readonly brLists: Stmt[][] = [];
  /** 1 + the index in brLists of the list of label 2 * block + (loop ? 1 : 0); 0 for none yet. */
  private readonly brListAt: Int32Array;

  constructor(
    private readonly blocks: BasicBlock[],
    private readonly pcOf: (b: BasicBlock) => number,
    /** How each block ends (T_EXIT ...). */
    private readonly term: Uint8Array,
    /** Successors in CSR form: block id's are succ[succStart[id] .. succStart[id + 1]). */
    private readonly succStart: Int32Array,
    private readonly succ: Int32Array,
    /** Reverse postorder number per block. */
    private readonly rpo: Int32Array,
    private readonly isLoopHeader: Uint8Array,
    /** Forward edges into each block (a switch's count twice): 2 or more is a merge node. */
    private readonly forwardIn: Int32Array,
    /** Merge children in the dominator tree, by rpo descending. */
    private readonly mergeChildren: number[][],
  ) {
    this.brListAt = new Int32Array(2 * blocks.length);
  }

  /** The statements of the whole function. */
  build(): Stmt[] {
    const body: Stmt[] = [];
    this.doTree(0, body, 0);
    while (this.tailNodes.length > 0) this.doTree(this.tailNodes.pop()!, this.tailLists.pop()!, this.tailLevels.pop()!);
    return body;
  }

  private isMerge(id: number): boolean {
    return this.forwardIn[id]! >= 2;
  }

  private enter(b: number): void {
    if (++this.depth > MAX_NESTING) {
      throw new CompileError(
        ErrorCode.TooComplex,
        `control flow nests deeper than ${MAX_NESTING} levels`,
        { insn: this.pcOf(this.blocks[b]!) },
      );
    }
  }

  private brList(to: number, loop: boolean): Stmt[] {
    const key = 2 * to + (loop ? 1 : 0);
    const at = this.brListAt[key]!;
    if (at > 0) return this.brLists[at - 1]!;
    const list: Stmt[] = [{ k: 'br', target: to, loop }];
    this.brListAt[key] = this.brLists.push(list);
    return list;
  }

  /** Appends the branch from `from` to `to`, or `to`'s subtree, to `out` (at nesting `level`). */
  private doBranch(from: number, to: number, out: Stmt[], level: number, tail = false): void {
    const rpo = this.rpo;
    if (rpo[to]! <= rpo[from]!) out.push(this.brList(to, true)[0]!);
    else if (this.isMerge(to)) out.push(this.brList(to, false)[0]!);
    else if (tail) {
      this.tailNodes.push(to);
      this.tailLists.push(out);
      this.tailLevels.push(level);
    }
    else this.doTree(to, out, level);
  }

  private isBranch(from: number, to: number): boolean {
    return this.rpo[to]! <= this.rpo[from]! || this.isMerge(to);
  }

  /** `[br]` of an edge for which isBranch holds. */
  private branchTo(from: number, to: number): Stmt[] {
    return this.brList(to, this.rpo[to]! <= this.rpo[from]!);
  }

  /** Appends the code of x itself followed by its terminator (no merge children) to `out`, at nesting `level`. */
  private nodeCode(x: number, out: Stmt[], level: number): Stmt[] {
    const { succ, succStart } = this;
    if (level > this.nesting) this.nesting = level;
    out.push({ k: 'code', block: x });
    const e = succStart[x]!;
    switch (this.term[x]) {
      case T_EXIT:
        out.push({ k: 'return', block: x });
        break;
      case T_JUMP:
        this.doBranch(x, succ[e]!, out, level, true);
        break;
      case T_COND: {
        const t = succ[e]!;
        const f = succ[e + 1]!;
        if (this.isBranch(x, t) && !this.isBranch(x, f)) {
          // `if (cond) br` then the fall-through code after it, in the same list.
          out.push({ k: 'if', block: x, then: this.branchTo(x, t), else: NO_STMTS });
          this.doBranch(x, f, out, level, true);
        } else if (this.isBranch(x, f) && !this.isBranch(x, t)) {
          out.push({ k: 'if', block: x, then: NO_STMTS, else: this.branchTo(x, f) });
          this.doBranch(x, t, out, level, true);
        } else {
          // Either both arms are a single `br` (then the `if` nests nothing) or neither is.
          const thenS: Stmt[] = [];
          const elseS: Stmt[] = [];
          this.doBranch(x, t, thenS, level + 1);
          this.doBranch(x, f, elseS, level + 1);
          out.push({ k: 'if', block: x, then: thenS, else: elseS });
        }
        break;
      }
      case T_SWITCH:
        {
          const rpo = this.rpo;
          const targets: Array<{ target: number; loop: boolean }> = [];
          for (let i = e; i < succStart[x + 1]!; i++) targets.push({ target: succ[i]!, loop: rpo[succ[i]!]! <= rpo[x]! });
          out.push({ k: 'switch', block: x, targets });
        }
        break;
    }
    return out;
  }

  /**
   * x's own code appended to `target`, then wrapped in a block per merge child but the first
   * (`ys`, lowest rpo innermost), each followed by that child's subtree; returns the outermost
   * list, which is placed at nesting `level`.
   */
  private within(x: number, ys: number[], target: Stmt[], level: number): Stmt[] {
    let inner = this.nodeCode(x, target, level + Math.max(0, ys.length - 1));
    for (let i = ys.length - 1; i >= 1; i--) {
      const y = ys[i]!;
      const next: Stmt[] = [{ k: 'block', label: y, body: inner }];
      this.doTree(y, next, level + i - 1);
      inner = next;
    }
    return inner;
  }

  /** Appends the code for the dominator subtree rooted at x to `out`, a list at nesting `level`. */
  private doTree(x: number, out: Stmt[], level: number): void {
    this.enter(x);
    // Iterate instead of recursing on the last merge child, so a long chain of merges costs no stack.
    for (;;) {
      const ys = this.mergeChildren[x]!;
      if (this.isLoopHeader[x]) {
        // The loop contains x and its merge children; the loop's code is everything x dominates.
        if (ys.length === 0) {
          const body = this.within(x, ys, [], level + 1);
          out.push({ k: 'loop', label: x, body });
          break;
        }
        const y0 = ys[0]!;
        const loopBody: Stmt[] = [{ k: 'block', label: y0, body: this.within(x, ys, [], level + 2) }];
        this.doTree(y0, loopBody, level + 1);
        out.push({ k: 'loop', label: x, body: loopBody });
        break;
      }
      if (ys.length === 0) {
        this.within(x, ys, out, level);
        break;
      }
      const inner = this.within(x, ys, [], level + 1);
      out.push({ k: 'block', label: ys[0]!, body: inner });
      x = ys[0]!;
    }
    this.depth--;
  }
}
