/**
 * If-conversion: a conditional branch around a few register-only ALU instructions (clang's
 * `if (v >> 16) { v >>= 16; r |= 16; }` and `x = c ? 1 : 0` shapes) becomes straight-line code
 * whose results are picked with Wasm `select`, so the engine emits conditional moves instead of
 * a hard-to-predict branch. V8 does not do this by itself; it is what made Binaryen's -O1 pay
 * (the log2 kernel ran 2x faster), done here in the project's own lowering at every level.
 *
 * Converted: a hammock (`if (c) br L; code; br L`, the code skipped when the branch is taken, in
 * either polarity) and a diamond (`if (c) { code; br L } else { code; br L }`), when the code is at
 * most MAX_SELECT_INSNS instructions that only compute registers from registers and constants
 * (no memory, calls, division or modulo: nothing that can trap, fault or cost much when run for
 * nothing). Each instruction's result is selected between its new and its old value under the
 * condition, evaluated once before the instructions change any register. A move the branch block
 * already made (clang hoists it above the branch and repeats it in the arm) is left out.
 */
import type { BasicBlock } from '../../runtime/isa/cfg.js';
import type { Insn, InsnList } from '../../runtime/isa/insn.js';
import { w, type Node } from '../wir.js';
import { lowerAlu } from './alu.js';
import { i64c, L_LABEL, set64 } from './state.js';

/** The largest arm converted, in instructions (both arms of a diamond count). */
export const MAX_SELECT_INSNS = 3;

/** Whether `insn` may run unconditionally under a select: a cheap register-only computation. */
function selectable(insn: Insn): boolean {
  if (insn.kind === 'alu') {
    return insn.op !== 'div' && insn.op !== 'mod' && insn.op !== 'sdiv' && insn.op !== 'smod' && insn.dst !== 10;
  }
  return insn.kind === 'lddw' && insn.src === 0;
}

/**
 * The instructions of `blk` without its terminator (a jump, or the fall-through), if they can be
 * converted, at most `room` of them; otherwise null.
 */
export function selectableArm(insns: InsnList, blk: BasicBlock, room: number): Insn[] | null {
  // Refused by size and kind first, without decoding (a large program's instructions are decoded
  // anew on every get): most arms asked about hold a load, store or call.
  const end = insns.kind(blk.last) === 'ja' ? blk.last - 1 : blk.last;
  if (end - blk.first + 1 > room) return null;
  for (let i = blk.first; i <= end; i++) {
    const kind = insns.kind(i);
    if (kind !== 'alu' && kind !== 'lddw') return null;
  }
  const out: Insn[] = [];
  for (let i = blk.first; i <= blk.last; i++) {
    const insn = insns.get(i)!;
    if (i === blk.last && insn.kind === 'ja') break;
    if (!selectable(insn) || out.length >= room) return null;
    out.push(insn);
  }
  return out;
}

/** How far back from its jump the branch block is searched for a move an arm repeats. */
const MOVE_LOOKBACK = 16;

/**
 * `arm` without the moves that change nothing: `X = Y` (a register or an immediate, at either
 * width) where the branch block already did the same move before its jump, with neither X nor Y
 * written since, nor by the arm before it. clang hoists a move above the branch and repeats it in
 * the arm (`r5 = r7; if (r4 > r7) goto L; r5 = r7; r5 >>= 32`, what it makes of
 * `if (v >> 32) v >>= 32`); without it the arm is often one instruction, whose select takes the
 * compare as its operand, which V8 emits as a compare and a conditional move instead of keeping
 * the condition as a value and testing it (Binaryen's copy folding does the same at -O1). The
 * budget is charged from the blocks' instruction counts, so it does not change.
 */
export function withoutRepeatedMoves(arm: readonly Insn[], insns: InsnList, branch: BasicBlock): readonly Insn[] {
  let out: Insn[] | null = null;
  let written = 0; // a bit per register the arm has written so far
  for (let k = 0; k < arm.length; k++) {
    const a = arm[k]!;
    const repeated = a.kind === 'alu' && a.op === 'mov' && a.dst !== a.src && (written & (1 << a.dst)) === 0
      && (a.src === null || (written & (1 << a.src)) === 0) && movedBefore(a, insns, branch);
    if (repeated) {
      out ??= arm.slice(0, k);
      continue;
    }
    // Arms hold only ALU instructions and lddw (selectable), which write their dst.
    written |= 1 << (a as Extract<Insn, { kind: 'alu' | 'lddw' }>).dst;
    out?.push(a);
  }
  return out ?? arm;
}

/** Whether the branch block (ending with its jump) did `mov` before it and left both registers alone since. */
function movedBefore(mov: Extract<Insn, { kind: 'alu' }>, insns: InsnList, branch: BasicBlock): boolean {
  for (let i = branch.last - 1; i >= branch.first && i >= branch.last - MOVE_LOOKBACK; i--) {
    const x = insns.get(i)!;
    // Only instructions whose only register write is their dst (stores write none); anything
    // else (calls, atomics, legacy packet loads) ends the search.
    if (x.kind === 'st' || x.kind === 'stx') continue;
    if (x.kind !== 'alu' && x.kind !== 'lddw' && x.kind !== 'ldx' && x.kind !== 'end') return false;
    if (x.dst === mov.dst) {
      return x.kind === 'alu' && x.op === 'mov' && x.width === mov.width && x.src === mov.src && (mov.src !== null || x.imm === mov.imm);
    }
    if (x.dst === mov.src) return false;
  }
  return false;
}

/** The register update of one convertible instruction: [local index, new value]. */
function update(insn: Insn): { index: number; value: Node } {
  const set = insn.kind === 'lddw' ? set64(insn.dst, i64c(insn.value)) : lowerAlu(insn as Extract<Insn, { kind: 'alu' }>);
  if (set.k !== 'local.set') throw new Error('if-conversion: an instruction did not lower to a register update');
  return { index: set.index, value: set.value };
}

/**
 * Statements running `whenTrue` where `cond` holds and `whenFalse` where it does not, both as
 * selects (either may be empty).
 */
export function selectArms(cond: Node, whenTrue: readonly Insn[], whenFalse: readonly Insn[]): Node[] {
  const out: Node[] = [];
  const single = whenTrue.length + whenFalse.length === 1;
  // With one instruction the condition is an operand of its select, read before the update;
  // otherwise it is computed once into a scratch local (the dispatch loop's, unused here).
  const c = (): Node => (single ? cond : w.local.get(L_LABEL, 'i32'));
  if (!single) out.push(w.local.set(L_LABEL, cond));
  for (const insn of whenTrue) {
    const { index, value } = update(insn);
    out.push(w.local.set(index, w.select(c(), value, w.local.get(index, 'i64'))));
  }
  for (const insn of whenFalse) {
    const { index, value } = update(insn);
    out.push(w.local.set(index, w.select(c(), w.local.get(index, 'i64'), value)));
  }
  return out;
}
