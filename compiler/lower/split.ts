/**
 * Splitting a huge eBPF function into several Wasm functions ("chunks"), so that no Wasm function
 * exceeds what engines accept (V8: 7,654,321 bytes of code per function) and each stays small
 * enough to compile quickly.
 *
 * The structured body (compiler/structure.ts) is split by outlining suffixes of statement lists:
 * when a list does not fit the room left in the current function, its remaining statements move
 * to a new chunk and are replaced by a `chunk` statement, the call site. A straight-line block
 * longer than a quarter of the limit is first cut into instruction ranges, so a single basic block
 * can be split too. Suffixes are taken at any depth, also inside loops, arms and blocks.
 *
 * A chunk is a Wasm function taking every local of the eBPF function as a parameter (registers,
 * frame pointer, scratch, budget, check span: the same local indices), so its code is lowered
 * exactly as inline code would be. Leaving a chunk:
 *  - by falling off its end, or by a branch to a label of the enclosing code (a `br` to a block
 *    or loop outside the suffix): the chunk stores its locals in the CHUNK_STATE globals, sets
 *    CHUNK_EXIT to 0 (fell off) or to 1 + the label's index in `exits`, and returns; the call site
 *    reloads the locals and branches to that label (lower/function.ts);
 *  - by the eBPF function's exit: it sets CHUNK_EXIT to CHUNK_RETURN and returns r0 (the budget
 *    already handed over), and the call site returns that value.
 * Inside the chunk, each exit label is an enclosing `block` of the same name, so the lowering of
 * the statements themselves does not change.
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import type { Stmt } from '../structure.js';

/**
 * Functions with more instructions than this are split, into chunks of at most about this many
 * instructions each: well below the engines' per-function limit even in checked mode with a
 * budget (under 30 bytes of Wasm per instruction), and quick to compile.
 */
export const CHUNK_INSNS = 100_000;

/** CHUNK_EXIT value of a chunk that ran the eBPF function's exit (its result is r0). */
export const CHUNK_RETURN = -1;

/** An outlined suffix: its statements and the labels outside it that they branch to. */
export interface Chunk {
  body: Stmt[];
  /** Labels (`B12`, `L7`) defined outside the chunk that its statements branch to. */
  exits: string[];
}

/** The statement lists of a split function: chunks[0] is the function's own body. */
export interface SplitPlan {
  chunks: Chunk[];
}

/**
 * The label strings of the first LABEL_CACHE block ids, made once: code generation names a label
 * for every branch, block and loop, and the direct writer finds a branch's depth by comparing it
 * with the open labels, which is quickest when they are the same string.
 */
const LABEL_CACHE = 8192;
const labelStrings: Array<Array<string | undefined>> = [new Array<string | undefined>(LABEL_CACHE), new Array<string | undefined>(LABEL_CACHE)];

/** The label a `br` or switch target names (see lower/function.ts). */
export function branchLabel(target: number, loop: boolean): string {
  if (target >= 0 && target < LABEL_CACHE) {
    const cache = labelStrings[loop ? 1 : 0]!;
    return cache[target] ??= (loop ? 'L' : 'B') + target;
  }
  return (loop ? 'L' : 'B') + target;
}

/**
 * Splits `body` (the structured statements of a function whose blocks are `blocks`) into chunks
 * of at most about `cap` instructions each. Returns null when the body fits in one function.
 */
export function planSplit(body: Stmt[], blocks: readonly BasicBlock[], cap = CHUNK_INSNS): SplitPlan | null {
  // Container sizes, measured once, without recursion (a 1M-instruction function nests thousands
  // of levels deep, and the host stack is also what the structurer and the lowering recurse on).
  // The structurer makes one `block` per merge node, one `loop` per loop header and one `if` per
  // conditional block (compiler/structure.ts), so a typed array by kind and block id holds their
  // sizes (a Map of hundreds of thousands of statements was a tenth of a 1M-instruction compile);
  // the few copies fitStmt makes, with fewer statements under the same id, are in `copySizes`.
  const known = new Int32Array(3 * blocks.length);
  const copySizes = new Map<Stmt, number>();
  const keyOf = (s: Extract<Stmt, { k: 'block' | 'loop' | 'if' }>): number =>
    s.k === 'if' ? 3 * s.block + 2 : s.k === 'loop' ? 3 * s.label + 1 : 3 * s.label;
  const codeSize = (s: Extract<Stmt, { k: 'code' }>): number => {
    const b = blocks[s.block]!;
    return (s.last ?? b.last) - (s.first ?? b.first) + 1;
  };
  /** The size of `s`; a container's is already known (measured below, or when fitStmt made it). */
  const size = (s: Stmt): number => {
    if (s.k === 'code') return codeSize(s);
    if (s.k !== 'block' && s.k !== 'loop' && s.k !== 'if') return 1;
    return copySizes.get(s) ?? known[keyOf(s)]!;
  };
  const listSize = (list: readonly Stmt[]): number => {
    let n = 0;
    for (let i = 0; i < list.length; i++) n += size(list[i]!);
    return n;
  };
  const measure = (s: Extract<Stmt, { k: 'block' | 'loop' | 'if' }>): number =>
    s.k === 'if' ? 1 + listSize(s.then) + listSize(s.else) : 1 + listSize(s.body);
  {
    // Containers in preorder (each before those it holds), then measured from the last.
    const containers: Array<Extract<Stmt, { k: 'block' | 'loop' | 'if' }>> = [];
    const todo: Array<readonly Stmt[]> = [body];
    while (todo.length > 0) {
      const list = todo.pop()!;
      for (let i = 0; i < list.length; i++) {
        const s = list[i]!;
        if (s.k === 'block' || s.k === 'loop') {
          containers.push(s);
          todo.push(s.body);
        } else if (s.k === 'if') {
          containers.push(s);
          todo.push(s.then, s.else);
        }
      }
    }
    for (let i = containers.length - 1; i >= 0; i--) known[keyOf(containers[i]!)] = measure(containers[i]!);
  }
  if (listSize(body) <= cap) return null;

  const chunks: Chunk[] = [{ body: [], exits: [] }];
  const piece = Math.max(1, Math.floor(cap / 4));

  /** Cuts straight-line code longer than a quarter of the cap into ranges (in place of the statement). */
  const cutCode = (list: readonly Stmt[]): Stmt[] => {
    const out: Stmt[] = [];
    for (const s of list) {
      if (s.k !== 'code' || codeSize(s) <= piece) {
        out.push(s);
        continue;
      }
      const b = blocks[s.block]!;
      const last = s.last ?? b.last;
      for (let first = s.first ?? b.first; first <= last; first += piece) {
        out.push({ k: 'code', block: s.block, first, last: Math.min(last, first + piece - 1) });
      }
    }
    return out;
  };

  /** A copy of `list` whose own code takes at most about `room` instructions; the rest is outlined. */
  const fitList = (input: readonly Stmt[], room: number): Stmt[] => {
    const list = cutCode(input);
    const out: Stmt[] = [];
    let used = 0;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      const n = size(s);
      if (used + n <= room) {
        out.push(s);
        used += n;
        continue;
      }
      const left = room - used;
      const container = s.k === 'block' || s.k === 'loop' || s.k === 'if';
      if (container && (left >= room / 4 || used === 0)) {
        // Room enough to split inside the statement; what follows it is outlined next round.
        // (Inline rather than a function of its own: this recursion is as deep as the function
        // nests, thousands of levels in a 1M-instruction program, and each level costs host stack.)
        const inside = Math.max(left, 1);
        let fitted: typeof s;
        if (s.k === 'if') {
          const t = listSize(s.then);
          const e = listSize(s.else);
          const thenRoom = Math.max(1, Math.floor(((inside - 1) * t) / Math.max(1, t + e)));
          fitted = {
            k: 'if', block: s.block,
            then: t > 0 ? fitList(s.then, thenRoom) : s.then,
            else: e > 0 ? fitList(s.else, Math.max(1, inside - 1 - thenRoom)) : s.else,
          };
        } else {
          fitted = { k: s.k, label: s.label, body: fitList(s.body, inside - 1) };
        }
        // A copy: its statements are originals and copies already measured.
        copySizes.set(fitted, measure(fitted));
        out.push(fitted);
        used += size(fitted);
        continue;
      }
      if (used === 0) {
        // Nothing placed yet and the statement cannot be split: keep it here (a lone code range
        // of at most `piece` instructions, or a small statement).
        out.push(s);
        used += n;
        continue;
      }
      out.push(outline(list.slice(i)));
      return out;
    }
    return out;
  };

  /**
   * Moves `suffix` to a new chunk; returns its call site. The exits are found in the chunk's own
   * statements once they are fitted (a chunk outlined from it contributes its exits), not in the
   * whole suffix: that walked everything after the cut again for every chunk, quadratic in the
   * number of chunks. The labels and their order are the same (see outerLabels).
   */
  const outline = (suffix: Stmt[]): Stmt => {
    const index = chunks.length;
    const chunk: Chunk = { body: [], exits: [] };
    chunks.push(chunk);
    chunk.body = fitList(suffix, cap);
    chunk.exits = outerLabels(chunk.body);
    return { k: 'chunk', chunk: index, exits: chunk.exits };
  };

  chunks[0]!.body = fitList(body, cap);
  return { chunks };
}

/**
 * The labels that statements of `list` branch to without defining them (in first-use order, lists
 * visited last-in first-out). A `chunk` statement stands for the suffix it replaced: its exits are
 * that suffix's labels in this same order, and as the suffix ends its list, its nested lists were
 * the last pushed, so they come out in the same place as when the suffix itself is walked.
 */
function outerLabels(list: readonly Stmt[]): string[] {
  // Labels as numbers while walking, 2 * block + (loop ? 1 : 0): no string made and hashed per
  // statement (a chunk's exits, strings, are read back into numbers).
  const defined = new Set<number>();
  const used: number[] = [];
  const seen = new Set<number>();
  const use = (key: number): void => {
    if (!seen.has(key)) {
      seen.add(key);
      used.push(key);
    }
  };
  const todo: Array<readonly Stmt[]> = [list];
  while (todo.length > 0) {
    for (const s of todo.pop()!) {
      switch (s.k) {
        case 'block': defined.add(2 * s.label); todo.push(s.body); break;
        case 'loop': defined.add(2 * s.label + 1); todo.push(s.body); break;
        case 'if': todo.push(s.then, s.else); break;
        case 'br': use(2 * s.target + (s.loop ? 1 : 0)); break;
        case 'switch': for (const t of s.targets) use(2 * t.target + (t.loop ? 1 : 0)); break;
        case 'chunk': for (const l of s.exits) use(labelKey(l)); break;
        default: break;
      }
    }
  }
  return used.filter((k) => !defined.has(k)).map((k) => branchLabel(k >> 1, (k & 1) === 1));
}

/** The number outerLabels uses for a label made by branchLabel. */
function labelKey(label: string): number {
  return 2 * Number(label.slice(1)) + (label[0] === 'L' ? 1 : 0);
}
