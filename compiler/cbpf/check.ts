/**
 * Checks a classic program as the kernel's bpf_check_classic does (net/core/filter.c) before it is
 * attached to a socket: 1 to BPF_MAXINSNS instructions, only known codes, no division or modulo by
 * a constant zero, no constant shift by 32 or more, scratch indices below 16, every jump inside
 * the program (forward only), ancillary loads (`ld [SKF_AD_OFF + n]`) only of the kinds the kernel
 * knows, a `ret` as the last instruction, and no scratch word read on a path
 * that has not written it (`check_load_and_stores`). Errors carry the instruction index.
 */
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import {
  ALLOWED_CODES, BPF_MAXINSNS, BPF_MEMWORDS, CAlu, CClass, CJmp, CMode, CSrc, type ClassicInsn,
} from './sock-filter.js';

/** Ancillary loads (`ld [SKF_AD_OFF + n]`, linux/filter.h): the kernel knows n = 0, 4, ..., 60. */
const SKF_AD_OFF = 0xfffff000;
const SKF_AD_MAX = 64;

function fail(code: ErrorCode, insn: number, detail: string): CompileError {
  return new CompileError(code, detail, { insn });
}

/** Throws a CompileError for the first rule `insns` breaks. */
export function checkClassic(insns: readonly ClassicInsn[]): void {
  const n = insns.length;
  if (n === 0) throw new CompileError(ErrorCode.EmptyProgram, 'the classic program has no instructions');
  if (n > BPF_MAXINSNS) {
    throw new CompileError(ErrorCode.ProgramTooLarge, `the classic program has ${n} instructions; the kernel allows at most ${BPF_MAXINSNS}`);
  }
  for (let pc = 0; pc < n; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    if (!ALLOWED_CODES.has(code)) throw fail(ErrorCode.UnknownOpcode, pc, `unknown classic opcode 0x${code.toString(16)}`);
    const cls = code & 0x07;
    const op = code & 0xf0;
    if (cls === CClass.ALU && (code & CSrc.X) === 0) {
      if ((op === CAlu.DIV || op === CAlu.MOD) && k === 0) throw fail(ErrorCode.DivByZero, pc, `${op === CAlu.DIV ? 'division' : 'modulo'} by the constant 0`);
      if ((op === CAlu.LSH || op === CAlu.RSH) && k >= 32) throw fail(ErrorCode.BadShift, pc, `shift by the constant ${k} (at most 31)`);
    }
    const isMem = ((cls === CClass.LD || cls === CClass.LDX) && (code & 0xe0) === CMode.MEM) || cls === CClass.ST || cls === CClass.STX;
    if (isMem && k >= BPF_MEMWORDS) throw fail(ErrorCode.BadScratch, pc, `scratch word M[${k}] does not exist (M[0]..M[15])`);
    if (cls === CClass.LD && (code & 0xe0) === CMode.ABS && k >= SKF_AD_OFF && !((k - SKF_AD_OFF) % 4 === 0 && k - SKF_AD_OFF < SKF_AD_MAX)) {
      throw fail(ErrorCode.UnknownOpcode, pc, `unknown ancillary load at offset SKF_AD_OFF + ${k - SKF_AD_OFF}`);
    }
    if (cls === CClass.JMP) {
      if (op === CJmp.JA) {
        if (k >= n - pc - 1) throw fail(ErrorCode.JumpOutOfRange, pc, `jump by ${k} leaves the program (${n} instructions)`);
      } else if (pc + jt + 1 >= n || pc + jf + 1 >= n) {
        throw fail(ErrorCode.JumpOutOfRange, pc, `jump target ${pc + Math.max(jt, jf) + 1} is outside the program (${n} instructions)`);
      }
    }
  }
  const last = insns[n - 1]!.code;
  if (last !== (CClass.RET | CSrc.K) && last !== (CClass.RET | CSrc.A)) {
    throw fail(ErrorCode.FallOffEnd, n - 1, 'the last instruction is not a ret');
  }
  checkScratch(insns);
}

/** Every scratch read must follow a write on every path to it (jumps only go forward). */
function checkScratch(insns: readonly ClassicInsn[]): void {
  const n = insns.length;
  // valid[pc]: words written on every path reaching pc (intersection over predecessors).
  const valid = new Uint16Array(n).fill(0xffff);
  let cur = 0;
  for (let pc = 0; pc < n; pc++) {
    cur &= valid[pc]!;
    const { code, jt, jf, k } = insns[pc]!;
    const cls = code & 0x07;
    if (cls === CClass.ST || cls === CClass.STX) {
      cur |= 1 << k;
    } else if ((cls === CClass.LD || cls === CClass.LDX) && (code & 0xe0) === CMode.MEM) {
      if (!(cur & (1 << k))) throw fail(ErrorCode.UninitScratch, pc, `M[${k}] is read before every path to it has written it`);
    } else if (cls === CClass.JMP) {
      if ((code & 0xf0) === CJmp.JA) {
        valid[pc + 1 + k] = valid[pc + 1 + k]! & cur;
      } else {
        valid[pc + 1 + jt] = valid[pc + 1 + jt]! & cur;
        valid[pc + 1 + jf] = valid[pc + 1 + jf]! & cur;
      }
      cur = 0xffff; // the next instruction is reached only by jumps, which narrowed valid[] already
    }
    // (after a ret the kernel keeps the words valid before it, and so does this check)
  }
}
