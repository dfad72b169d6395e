/**
 * Checked memory mode (instrumentation): every load, store and atomic must fall inside
 * [checkBase, end of input), the map values, the stack region and the input memory, or the program
 * stops with E_MEMORY_FAULT naming the instruction and the address. The entry computes the span
 * once; each function keeps a local copy; each access outside the own frame is compared with it.
 */
import { FaultCode, type MemoryLayout } from '../../runtime/abi.js';
import type { MemSize, Reg } from '../../runtime/isa/insn.js';
import { w, type CodeSink, type Node } from '../wir.js';
import { CHECK_SPAN, fault, get64, i64c, L_A64, L_SPAN } from '../lower/state.js';

/** Lowest address checked mode allows: the map value arena when there are maps, else the stack. */
export function checkBase(layout: MemoryLayout): number {
  return layout.arenaBase ?? layout.stackBase;
}

/**
 * The checked address of `reg + off` (an access of `size` bytes): the full 64-bit address must
 * lie in [checkBase, end of input), whose length less checkBase the function holds in L_SPAN;
 * one unsigned comparison covers both ends.
 */
export function checkedAddress(layout: MemoryLayout, reg: Reg, off: number, size: MemSize, pc: number, out: CodeSink): [Node, number] {
  const m = w;
  const a = (): Node => m.local.get(L_A64, 'i64');
  out.push(m.local.set(L_A64, m.i64.add(get64(reg), i64c(off))));
  const outside = m.i64.gt_u(
    m.i64.sub(a(), i64c(checkBase(layout))),
    m.i64.sub(m.local.get(L_SPAN, 'i64'), i64c(size)),
  );
  out.push(m.if(outside, fault(FaultCode.MemoryFault, pc, m.i32.wrap(a()))));
  return [m.i32.wrap(a()), 0];
}

/**
 * At a program's entry (r1, r2 in the wrapper's locals 0 and 1): checked accesses may touch
 * [checkBase, end of input): the maps, the stack region and, when r1 is the data address (the
 * runtime always passes it), the input memory right after it.
 */
export function checkSpanAtEntry(layout: MemoryLayout): Node {
  const end = w.if(
    w.i32.eq(w.local.get(0, 'i32'), w.i32.const(layout.dataBase)),
    w.i64.add(w.i64.const(BigInt(layout.dataBase)), w.i64.extend_u(w.local.get(1, 'i32'))),
    w.i64.const(BigInt(layout.dataBase)),
  );
  return w.global.set(CHECK_SPAN, w.i64.sub(end, w.i64.const(BigInt(checkBase(layout)))));
}

/** At a function's entry: the local copy of the span. */
export function loadCheckSpan(): Node {
  return w.local.set(L_SPAN, w.global.get(CHECK_SPAN, 'i64'));
}
