/**
 * Load-time checks of the interpreter: the control-flow rules the compiler enforces in
 * compiler/cfg.ts (which the runtime cannot import), with the same error codes, the same
 * instruction indices and the same order, so that a program the compiler rejects is rejected here
 * with the same error.
 *
 * - Every program entry starts an instruction; every bpf-to-bpf call target is in range and not
 *   the second half of a lddw (checked for every call in the program, reachable or not).
 * - The entries and every call target start functions; a function runs to the next start.
 * - For each function reachable from an entry through calls, in the compiler's work-list order:
 *   its last instruction is exit or an unconditional jump, and every jump stays inside it.
 *
 * It also works out which instructions are reachable, since only those are code-generated (and so
 * only those can fail to code-generate: kfuncs, unresolved lddw, missing helpers).
 */
import { CompileError, ErrorCode } from './errors.js';
import type { Insn, Program } from './isa/insn.js';

/** One function reachable from the entries. */
export interface CheckedFunction {
  /** Slot index of the first instruction. */
  startPc: number;
  /** Slot index one past the last instruction. */
  endPc: number;
}

export interface CheckResult {
  /** The reachable functions, sorted by start. */
  functions: CheckedFunction[];
  /** Per index into `program.insns`: 1 if the instruction can execute. */
  reachable: Uint8Array;
}

function fail(code: ErrorCode, pc: number, detail: string): never {
  throw new CompileError(code, detail, { insn: pc });
}

/** Runs the checks; throws CompileError exactly where the compiler's `buildCfg` would. */
export function checkProgram(program: Program, entryPcs: readonly number[]): CheckResult {
  const { insns, slotCount, slotToInsn } = program;

  const checkTarget = (from: Insn, target: number, what: 'jump' | 'call'): void => {
    if (target < 0 || target >= slotCount) {
      fail(
        what === 'jump' ? ErrorCode.JumpOutOfRange : ErrorCode.BadCallTarget,
        from.pc,
        `${what} target ${target} is outside the program (0..${slotCount - 1})`,
      );
    }
    if (slotToInsn[target] === -1) {
      fail(
        what === 'jump' ? ErrorCode.JumpIntoLddw : ErrorCode.BadCallTarget,
        from.pc,
        `${what} target ${target} is the second half of a lddw instruction`,
      );
    }
  };

  for (const e of entryPcs) {
    if (e < 0 || e >= slotCount || slotToInsn[e] === -1) {
      throw new CompileError(ErrorCode.BadCallTarget, `program entry ${e} is not the start of an instruction`, { insn: e });
    }
  }
  const startSet = new Set<number>(entryPcs);
  for (const insn of insns) {
    if (insn.kind === 'call_local') {
      checkTarget(insn, insn.target, 'call');
      startSet.add(insn.target);
    }
  }
  const starts = [...startSet].sort((a, b) => a - b);
  const endOf = (f: number): number => (f + 1 < starts.length ? starts[f + 1]! : slotCount);
  /** Index in `starts` of the function holding slot `pc` (the last start <= pc). */
  const functionOf = (pc: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= pc) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  const reachable = new Uint8Array(insns.length);
  const seen = new Set<number>();
  const work: number[] = [];
  for (const e of entryPcs) {
    const f = functionOf(e);
    if (!seen.has(f)) {
      seen.add(f);
      work.push(f);
    }
  }
  const pending: number[] = [];
  // The compiler takes functions from the end of its work list; so do we, so that the first
  // function to fail is the same one.
  while (work.length > 0) {
    const f = work.pop()!;
    const startPc = starts[f]!;
    const endPc = endOf(f);
    const first = slotToInsn[startPc]!;
    const end = endPc >= slotCount ? insns.length : slotToInsn[endPc]!;
    const last = insns[end - 1]!;
    if (last.kind !== 'exit' && last.kind !== 'ja') {
      fail(
        ErrorCode.FallOffEnd,
        last.pc,
        'execution can fall off the end of the function: its last instruction must be exit or an unconditional jump',
      );
    }
    for (let i = first; i < end; i++) {
      const insn = insns[i]!;
      if (insn.kind !== 'ja' && insn.kind !== 'jcond') continue;
      checkTarget(insn, insn.target, 'jump');
      if (insn.target < startPc || insn.target >= endPc) {
        fail(
          ErrorCode.JumpAcrossFunction,
          insn.pc,
          `jump target ${insn.target} is outside the function that spans instructions ${startPc}..${endPc - 1}`,
        );
      }
    }
    // Reachability inside the function, instruction by instruction. The last instruction is exit
    // or ja, so falling through never leaves the function.
    pending.length = 0;
    pending.push(first);
    reachable[first] = 1;
    const visit = (i: number): void => {
      if (!reachable[i]) {
        reachable[i] = 1;
        pending.push(i);
      }
    };
    while (pending.length > 0) {
      const i = pending.pop()!;
      const insn = insns[i]!;
      if (insn.kind === 'exit') continue;
      if (insn.kind === 'ja') {
        visit(slotToInsn[insn.target]!);
        continue;
      }
      if (insn.kind === 'jcond') visit(slotToInsn[insn.target]!);
      visit(i + 1);
    }
    // Calls from reachable code make their targets' functions reachable (in program order, as the
    // compiler scans its blocks).
    for (let i = first; i < end; i++) {
      const insn = insns[i]!;
      if (!reachable[i] || insn.kind !== 'call_local') continue;
      const g = functionOf(insn.target);
      if (!seen.has(g)) {
        seen.add(g);
        work.push(g);
      }
    }
  }
  const functions = [...seen].sort((a, b) => a - b).map((f) => ({ startPc: starts[f]!, endPc: endOf(f) }));
  return { functions, reachable };
}
