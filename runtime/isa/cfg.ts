/**
 * Control-flow graph: splits a decoded program into eBPF functions (the entry and every target of
 * a bpf-to-bpf call, each a contiguous range of instructions as the kernel requires) and each
 * function into basic blocks.
 *
 * The checks that need more than one instruction happen here: jump and call targets in range,
 * not into the second half of lddw, not across functions, and no function that falls off its end.
 */
import { CompileError, ErrorCode } from '../errors.js';
import { insnsOf, LDDW_PSEUDO_FUNC, type Insn, type InsnList, type LddwInsn, type Program } from './insn.js';

/** A basic block: instructions `program.insns[first..last]` inclusive. */
export interface BasicBlock {
  id: number;
  /** Index into program.insns of the first instruction. */
  first: number;
  /** Index into program.insns of the last instruction. */
  last: number;
  /** Successor block ids. For a conditional jump: [taken, fallthrough]. */
  succs: number[];
  preds: number[];
}

/** One eBPF function (the entry program or a bpf-to-bpf callee). */
export interface FunctionCfg {
  /** Slot index of the first instruction. */
  startPc: number;
  /** Slot index one past the last instruction. */
  endPc: number;
  /** Blocks reachable from the entry, in program order; blocks[0] is the entry. */
  blocks: BasicBlock[];
  /**
   * Indices into program.insns, ascending, of the instructions in reachable blocks that later
   * stages look for (call, call_local, callx, kfunc, lddw, ldabs, ldind): they read this list
   * instead of walking every instruction again.
   */
  sites: readonly number[];
  /** Whether an instruction of a reachable block loads, stores or does an atomic through r10. */
  usesFrame: boolean;
}

export interface ProgramCfg {
  program: Program;
  /** Functions reachable from the entries, sorted by start. */
  functions: FunctionCfg[];
  /** Function index by start slot. */
  functionAt: Map<number, number>;
}

export { LDDW_PSEUDO_FUNC };

/** The function a `lddw src_reg=4` refers to (its imm is relative to the next instruction slot). */
export function pseudoFuncTarget(insn: Extract<Insn, { kind: 'lddw' }>): number {
  return insn.pc + 1 + insn.imm;
}

// buildFunction's per-instruction flags.
const F_SITE = 1;
const F_FRAME = 2;

function fail(code: (typeof ErrorCode)[keyof typeof ErrorCode], pc: number, detail: string): never {
  throw new CompileError(code, detail, { insn: pc });
}

/**
 * Builds the CFG of every function reachable by calls from the entry points (instruction indices of
 * the programs' first instructions). Unreachable blocks are dropped (the validator reports them).
 */
export function buildCfg(program: Program, entryPcs: readonly number[] = [0]): ProgramCfg {
  const { slotCount, slotToInsn } = program;
  const insns = insnsOf(program);

  const checkTarget = (fromPc: number, target: number, what: 'jump' | 'call'): void => {
    if (target < 0 || target >= slotCount) {
      fail(
        what === 'jump' ? ErrorCode.JumpOutOfRange : ErrorCode.BadCallTarget,
        fromPc,
        `${what} target ${target} is outside the program (0..${slotCount - 1})`,
      );
    }
    if (slotToInsn[target] === -1) {
      fail(
        what === 'jump' ? ErrorCode.JumpIntoLddw : ErrorCode.BadCallTarget,
        fromPc,
        `${what} target ${target} is the second half of a lddw instruction`,
      );
    }
  };

  // Function boundaries: every call target starts a function (as the kernel's check_subprogs).
  for (const e of entryPcs) {
    if (e < 0 || e >= slotCount || slotToInsn[e] === -1) {
      throw new CompileError(ErrorCode.BadCallTarget, `program entry ${e} is not the start of an instruction`, { insn: e });
    }
  }
  const starts = new Set<number>(entryPcs);
  // An indexed loop: this runs once per compile, often before it is optimised, and a for-of
  // would then allocate an iterator result per instruction.
  for (let i = 0; i < insns.length; i++) {
    const kind = insns.kind(i);
    if (kind === 'call_local') {
      checkTarget(insns.pc(i), insns.target(i), 'call');
      starts.add(insns.target(i));
    } else if (kind === 'lddw') {
      const insn = insns.get(i) as LddwInsn;
      if (insn.src === LDDW_PSEUDO_FUNC) {
        // A callback's address: its target starts a function too (the kernel's check_subprogs).
        checkTarget(insn.pc, pseudoFuncTarget(insn), 'call');
        starts.add(pseudoFuncTarget(insn));
      }
    }
  }
  const sorted = [...starts].sort((a, b) => a - b);
  // Function ranges partition [first start, slotCount); code before the first start belongs to no
  // function (it can only be reached by jumps, which are checked to stay inside their function).
  const ranges = sorted.map((s, i) => ({ start: s, end: i + 1 < sorted.length ? sorted[i + 1]! : slotCount }));
  const functionOfPc = (pc: number): number => {
    let lo = 0;
    let hi = ranges.length - 1;
    if (pc < ranges[0]!.start) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ranges[mid]!.start <= pc) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  // Which functions are reachable from the entry through calls.
  const reachable = new Set<number>(entryPcs.map(functionOfPc));
  const work = [...reachable];
  const functions: FunctionCfg[] = [];
  const functionAt = new Map<number, number>();
  const built = new Map<number, FunctionCfg>();
  while (work.length > 0) {
    const f = work.pop()!;
    const fn = buildFunction(program, insns, ranges[f]!.start, ranges[f]!.end, checkTarget);
    built.set(f, fn);
    for (let si = 0; si < fn.sites.length; si++) {
      const site = fn.sites[si]!;
      const kind = insns.kind(site);
      const insn = kind === 'lddw' ? insns.get(site) as LddwInsn : undefined;
      const callee = kind === 'call_local' ? insns.target(site)
        : insn !== undefined && insn.src === LDDW_PSEUDO_FUNC ? pseudoFuncTarget(insn) : -1;
      if (callee >= 0) {
        const g = functionOfPc(callee);
        if (!reachable.has(g)) {
          reachable.add(g);
          work.push(g);
        }
      }
    }
  }
  for (const f of [...built.keys()].sort((a, b) => a - b)) {
    const fn = built.get(f)!;
    functionAt.set(fn.startPc, functions.length);
    functions.push(fn);
  }
  return { program, functions, functionAt };
}

function buildFunction(
  program: Program,
  insns: InsnList,
  startPc: number,
  endPc: number,
  checkTarget: (fromPc: number, target: number, what: 'jump' | 'call') => void,
): FunctionCfg {
  const { slotToInsn } = program;
  const firstInsn = slotToInsn[startPc]!;
  const endInsn = endPc >= program.slotCount ? insns.length : slotToInsn[endPc]!;
  const lastKind = insns.kind(endInsn - 1);
  // As the kernel: the last instruction of every function must be exit or an unconditional jump.
  if (lastKind !== 'exit' && lastKind !== 'ja') {
    fail(
      ErrorCode.FallOffEnd,
      insns.pc(endInsn - 1),
      'execution can fall off the end of the function: its last instruction must be exit or an unconditional jump',
    );
  }
  // Leaders, and in the same walk what later stages look for (FunctionCfg.sites, usesFrame): each
  // walk over 100k instruction objects costs a few milliseconds of cache misses.
  const leader = new Uint8Array(endInsn - firstInsn + 1);
  const flags = new Uint8Array(endInsn - firstInsn);
  leader[0] = 1;
  for (let i = firstInsn; i < endInsn; i++) {
    const kind = insns.kind(i);
    if (kind === 'alu' || kind === 'end') continue;
    if (kind === 'ldx' || kind === 'st' || kind === 'stx' || kind === 'atomic') {
      if (insns.usesFrame(i)) flags[i - firstInsn] = F_FRAME;
      continue;
    }
    if (kind === 'ja' || kind === 'jcond') {
      const target = insns.target(i);
      checkTarget(insns.pc(i), target, 'jump');
      if (target < startPc || target >= endPc) {
        fail(
          ErrorCode.JumpAcrossFunction,
          insns.pc(i),
          `jump target ${target} is outside the function that spans instructions ${startPc}..${endPc - 1}`,
        );
      }
      leader[slotToInsn[target]! - firstInsn] = 1;
    } else if (kind !== 'exit') {
      flags[i - firstInsn] = F_SITE;
    }
    if (kind === 'exit' || kind === 'ja' || kind === 'jcond') leader[i + 1 - firstInsn] = 1;
  }
  // Blocks over the whole range, in typed arrays (first instruction, successors): the objects are
  // made only for the reachable blocks, at their final ids, with their final successor and
  // predecessor lists (a compile of 100k instructions makes tens of thousands of them, and each
  // object, list and array grown by push is memory the collector must copy or the OS must map).
  const span = endInsn - firstInsn;
  const blockOfInsn = new Int32Array(span);
  const firstOf = new Int32Array(span + 1);
  let count = 0;
  for (let i = firstInsn; i < endInsn; ) {
    let j = i;
    while (j + 1 < endInsn && !leader[j + 1 - firstInsn]) j++;
    firstOf[count] = i;
    for (let k = i; k <= j; k++) blockOfInsn[k - firstInsn] = count;
    count++;
    i = j + 1;
  }
  firstOf[count] = endInsn;
  // Successors: nsucc[b] of them, in succA[b] (the taken target for a conditional jump) and succB[b].
  const nsucc = new Uint8Array(count);
  const succA = new Int32Array(count);
  const succB = new Int32Array(count);
  const blockAtPc = (pc: number): number => blockOfInsn[slotToInsn[pc]! - firstInsn]!;
  for (let b = 0; b < count; b++) {
    const t = firstOf[b + 1]! - 1;
    const kind = insns.kind(t);
    if (kind === 'exit') continue;
    if (kind === 'ja') {
      nsucc[b] = 1;
      succA[b] = blockAtPc(insns.target(t));
    } else if (kind === 'jcond') {
      nsucc[b] = 2;
      succA[b] = blockAtPc(insns.target(t));
      succB[b] = b + 1;
    } else {
      nsucc[b] = 1;
      succA[b] = b + 1;
    }
  }
  // Reachability from the entry block; renumber in program order.
  const seen = new Uint8Array(count);
  const stack = new Int32Array(count);
  let sp = 0;
  stack[sp++] = 0;
  seen[0] = 1;
  while (sp > 0) {
    const b = stack[--sp]!;
    for (let k = 0; k < nsucc[b]!; k++) {
      const s = k === 0 ? succA[b]! : succB[b]!;
      if (!seen[s]) {
        seen[s] = 1;
        stack[sp++] = s;
      }
    }
  }
  const sites: number[] = [];
  let usesFrame = false;
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i]!;
    if (f === 0 || !seen[blockOfInsn[i]!]) continue;
    if (f === F_SITE) sites.push(firstInsn + i);
    else usesFrame = true;
  }
  const newId = new Int32Array(count).fill(-1);
  let kept = 0;
  for (let b = 0; b < count; b++) if (seen[b]) newId[b] = kept++;
  // Predecessor lists at their exact length, in order of the source block: gathered first in
  // typed arrays (counts, then the lists end to end), then each made whole with its values. A
  // literal of constants such as `[-1]` would share a copy-on-write store with every other one,
  // and each later write into it would copy it.
  const predStart = new Int32Array(kept + 1);
  for (let b = 0; b < count; b++) {
    if (!seen[b]) continue;
    for (let k = 0; k < nsucc[b]!; k++) predStart[newId[k === 0 ? succA[b]! : succB[b]!]! + 1]!++;
  }
  for (let id = 0; id < kept; id++) predStart[id + 1]! += predStart[id]!;
  const predList = new Int32Array(predStart[kept]!);
  const predFill = predStart.slice(0, kept);
  for (let b = 0; b < count; b++) {
    if (!seen[b]) continue;
    for (let k = 0; k < nsucc[b]!; k++) predList[predFill[newId[k === 0 ? succA[b]! : succB[b]!]!]!++] = newId[b]!;
  }
  const blocks: BasicBlock[] = new Array<BasicBlock>(kept);
  for (let b = 0; b < count; b++) {
    if (!seen[b]) continue;
    const id = newId[b]!;
    const n = nsucc[b]!;
    const p = predStart[id]!;
    const c = predStart[id + 1]! - p;
    blocks[id] = {
      id, first: firstOf[b]!, last: firstOf[b + 1]! - 1,
      succs: n === 0 ? [] : n === 1 ? [newId[succA[b]!]!] : [newId[succA[b]!]!, newId[succB[b]!]!],
      preds: c === 0 ? [] : c === 1 ? [predList[p]!] : c === 2 ? [predList[p]!, predList[p + 1]!] : Array.from(predList.subarray(p, p + c)),
    };
  }
  return { startPc, endPc, blocks, sites, usesFrame };
}
