/**
 * Inline tail calls: `bpf_tail_call(ctx, prog_array, index)` between the programs of one module
 * without leaving Wasm. The PROG_ARRAY's slots hold entry numbers + 1. A call site records the
 * program to run next and ends the current one (all the way up through its callers); the entry
 * wrapper's loop then runs it, up to MAX_TAIL_CALLS in a chain, as the kernel's JIT jumps.
 */
import { D_MAX_ENTRIES, D_TYPE, D_VALUES, DESC_SIZE } from '../../runtime/maps/descriptor.js';
import { Errno, MapType, MAX_TAIL_CALL_CNT } from '../../runtime/uapi/index.js';
import { tagPc, w, type CodeSink, type Node, type WGlobal } from '../wir.js';
import {
  FN_PREFIX, get32, get64, i64c, L_ADDR, set64, TAIL_COUNT, TAIL_CTX, TAIL_PENDING, type ModuleCtx,
} from '../lower/state.js';

/** The kernel's limit on chained tail calls (MAX_TAIL_CALL_CNT). */
export const MAX_TAIL_CALLS = MAX_TAIL_CALL_CNT;

/** The globals of inline tail calls (declared when the module makes any). */
export function tailCallGlobals(): WGlobal[] {
  return [
    { name: TAIL_PENDING, type: 'i32', init: -1 },
    { name: TAIL_CTX, type: 'i64', init: 0 },
    { name: TAIL_COUNT, type: 'i32', init: 0 },
  ];
}

/**
 * `bpf_tail_call(ctx, prog_array, index)` inline: when the PROG_ARRAY slot holds a program and
 * fewer than MAX_TAIL_CALLS have been made, record it and end this program (`ret`: the function's
 * return); otherwise continue with r0 = -ENOENT, as the kernel falls through.
 */
export function inlineTailCall(ctx: ModuleCtx, pc: number, ret: () => Node[], out: CodeSink): void {
  const m = w;
  const map = (): Node => get32(2);
  const idx = (): Node => get32(3);
  const slot = (): Node => m.local.get(L_ADDR, 'i32');
  const table = ctx.options.descriptors ?? { base: 0, count: 0 };
  const nprograms = ctx.options.entries.length;
  const body: Node[] = [
    // One of the module's descriptors (64-byte aligned, inside the table), a PROG_ARRAY.
    m.local.set(L_ADDR, m.i32.sub(map(), m.i32.const(table.base))),
    m.br('tailfail', m.i32.ge_u(m.local.get(L_ADDR, 'i32'), m.i32.const(table.count * DESC_SIZE))),
    m.br('tailfail', m.i32.ne(m.i32.and(m.local.get(L_ADDR, 'i32'), m.i32.const(DESC_SIZE - 1)), m.i32.const(0))),
    m.br('tailfail', m.i32.ne(tagPc(m.i32.load(D_TYPE, 4, map()), pc), m.i32.const(MapType.PROG_ARRAY))),
    m.br('tailfail', m.i32.ge_u(idx(), m.i32.load(D_MAX_ENTRIES, 4, map()))),
    m.local.set(L_ADDR, m.i32.load(0, 4, m.i32.add(m.i32.load(D_VALUES, 4, map()), m.i32.shl(idx(), m.i32.const(2))))),
    // Slots hold program numbers + 1: 0 is empty, and a number past the programs is no program.
    m.br('tailfail', m.i32.eqz(slot())),
    m.br('tailfail', m.i32.gt_u(slot(), m.i32.const(nprograms))),
    m.br('tailfail', m.i32.ge_u(m.global.get(TAIL_COUNT, 'i32'), m.i32.const(MAX_TAIL_CALLS))),
    m.global.set(TAIL_COUNT, m.i32.add(m.global.get(TAIL_COUNT, 'i32'), m.i32.const(1))),
    m.global.set(TAIL_PENDING, m.i32.sub(slot(), m.i32.const(1))),
    m.global.set(TAIL_CTX, get64(1)),
    set64(0, m.i64.const(0n)),
    ...ret(),
  ];
  out.push(m.block('tailfail', body, 'none'), set64(0, i64c(-Errno.ENOENT)));
}

/** After a bpf-to-bpf call: if the callee made a tail call, this program ends too, all the way up. */
export function endIfTailCallPending(ret: () => Node[]): Node {
  const m = w;
  return m.if(m.i32.ge_s(m.global.get(TAIL_PENDING, 'i32'), m.i32.const(0)), m.block(null, [
    set64(0, m.i64.const(0n)), ...ret(),
  ], 'none'));
}

/** At a program's entry: no tail call pending, none made. */
export function tailCallsAtEntry(): Node[] {
  return [w.global.set(TAIL_PENDING, w.i32.const(-1)), w.global.set(TAIL_COUNT, w.i32.const(0))];
}

/**
 * After the entry program returns (in the entry wrapper, r0 in local 2, scratch in local 3):
 * while a tail call is pending, run the program it named with the context it passed (a chain of
 * at most MAX_TAIL_CALLS, counted at the call sites).
 */
export function tailCallLoop(ctx: ModuleCtx): Node {
  const { entries, layout } = ctx.options;
  const next = (): Node => w.local.get(3, 'i32');
  let dispatch: Node = w.unreachable();
  for (let k = entries.length - 1; k >= 0; k--) {
    const call = w.local.set(2, w.call(FN_PREFIX + entries[k]!.pc, [
      w.global.get(TAIL_CTX, 'i64'), w.i64.const(0n), w.i64.const(0n), w.i64.const(0n), w.i64.const(0n),
      w.i32.const(layout.stackTop),
    ], 'i64'));
    dispatch = w.if(w.i32.eq(next(), w.i32.const(k)), call, dispatch);
  }
  return w.loop('tail', w.block(null, [
    w.local.set(3, w.global.get(TAIL_PENDING, 'i32')),
    w.if(w.i32.ge_s(next(), w.i32.const(0)), w.block(null, [
      w.global.set(TAIL_PENDING, w.i32.const(-1)),
      dispatch,
      w.br('tail'),
    ], 'none')),
  ], 'none'));
}
