/** Lowering of conditional jumps: the i32 condition of a `jcond` (JMP and JMP32). */
import type { JcondInsn } from '../../runtime/isa/insn.js';
import { w, type Node } from '../wir.js';
import { get32, get64, i64c } from './state.js';

/** The condition under which `insn` jumps, as an i32. */
export function lowerCond(insn: JcondInsn): Node {
  const m = w;
  if (insn.width === 64) {
    const a = get64(insn.dst);
    const c = insn.src === null ? i64c(insn.imm) : get64(insn.src);
    switch (insn.op) {
      case 'jeq': return m.i64.eq(a, c);
      case 'jne': return m.i64.ne(a, c);
      case 'jgt': return m.i64.gt_u(a, c);
      case 'jge': return m.i64.ge_u(a, c);
      case 'jlt': return m.i64.lt_u(a, c);
      case 'jle': return m.i64.le_u(a, c);
      case 'jsgt': return m.i64.gt_s(a, c);
      case 'jsge': return m.i64.ge_s(a, c);
      case 'jslt': return m.i64.lt_s(a, c);
      case 'jsle': return m.i64.le_s(a, c);
      case 'jset': return m.i64.ne(m.i64.and(a, c), m.i64.const(0n));
    }
  }
  const a = get32(insn.dst);
  const c = insn.src === null ? m.i32.const(insn.imm | 0) : get32(insn.src);
  switch (insn.op) {
    case 'jeq': return m.i32.eq(a, c);
    case 'jne': return m.i32.ne(a, c);
    case 'jgt': return m.i32.gt_u(a, c);
    case 'jge': return m.i32.ge_u(a, c);
    case 'jlt': return m.i32.lt_u(a, c);
    case 'jle': return m.i32.le_u(a, c);
    case 'jsgt': return m.i32.gt_s(a, c);
    case 'jsge': return m.i32.ge_s(a, c);
    case 'jslt': return m.i32.lt_s(a, c);
    case 'jsle': return m.i32.le_s(a, c);
    case 'jset': return m.i32.ne(m.i32.and(a, c), m.i32.const(0));
  }
}
