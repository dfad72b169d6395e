/**
 * Shift pairs that extend a register's low bits. clang for eBPF cpu v1 and v2, which have no
 * 32-bit compares, zero-extends a 32-bit value as `r <<= 32; r >>= 32` and sign-extends it as
 * `r <<= 32; r s>>= 32` (and an 8- or 16-bit value with 56 or 48). Lowered one instruction at a
 * time these are two 64-bit shifts, which V8 emits as two instructions on the value's path. As one
 * Wasm operation, a zero-extension (`i64.extend_i32_u` of the low half, `i64.and` with 0xffff or
 * 0xff) or `i64.extend32_s` (`extend16_s`, `extend8_s`), V8 emits one instruction (`movl`,
 * `movzx`, `movsx`); Binaryen's optimize-instructions does the same at -O1. The independent
 * suite's log2_int kernel, whose loop body has two such pairs, ran ~11% faster at -O0.
 *
 * Both instructions are in one basic block (nothing jumps between them) and only compute a
 * register, so nothing observable changes: the budget is charged per block from the instruction
 * counts, not from the code, and neither instruction can trap.
 */
import type { Insn } from '../../runtime/isa/insn.js';
import { w, type Node } from '../wir.js';
import { get32, get64, set64 } from '../lower/state.js';

/** The masks of the 16- and 8-bit zero-extensions (shared leaves: WIR nodes are immutable). */
const MASK16 = w.i64.constNum(0xffff);
const MASK8 = w.i64.constNum(0xff);

/**
 * The lowering of `a` and `b` together when they are `r <<= K; r >>= K` (zero-extension of the low
 * 64-K bits) or `r <<= K; r s>>= K` (sign-extension), 64-bit with immediate K of 32, 48 or 56, on
 * the same register (not r10); otherwise null.
 */
export function lowerExtendPair(a: Insn, b: Insn | undefined): Node | null {
  if (a.kind !== 'alu' || a.op !== 'lsh' || a.width !== 64 || a.src !== null || a.dst === 10) return null;
  if (b === undefined || b.kind !== 'alu' || b.width !== 64 || b.src !== null || b.dst !== a.dst || b.imm !== a.imm) return null;
  const bits = 64 - a.imm;
  if (bits !== 32 && bits !== 16 && bits !== 8) return null;
  const r = get64(a.dst);
  if (b.op === 'rsh') {
    // 32 bits: `i64.extend_i32_u(i32.wrap_i64 r)`, which needs no 64-bit constant in the code.
    return set64(a.dst, bits === 32 ? w.i64.extend_u(get32(a.dst)) : w.i64.and(r, bits === 16 ? MASK16 : MASK8));
  }
  if (b.op === 'arsh') {
    return set64(a.dst, bits === 32 ? w.i64.extend32_s(r) : bits === 16 ? w.i64.extend16_s(r) : w.i64.extend8_s(r));
  }
  return null;
}
