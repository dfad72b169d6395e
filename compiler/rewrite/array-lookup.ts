/**
 * Inline lookups in constant array maps: `bpf_map_lookup_elem(&array, &key)` becomes
 * `key < max_entries ? values + key * stride : NULL`, as the kernel's verifier inlines it
 * (`map_gen_lookup`), when the lddw that loads r1 is in the call's basic block.
 */
import { insnsOf, type Insn, type LddwInsn, type Program } from '../../runtime/isa/insn.js';
import { tagPc, w, type CodeSink, type Node } from '../wir.js';
import type { EmitOptions } from '../emit.js';
import { L_ADDR, set64 } from '../lower/state.js';
import { address } from '../lower/load-store.js';

/** Where a constant array map's values are, for inline lookups. */
export interface ArrayMapInfo {
  values: number;
  stride: number;
  maxEntries: number;
}

/**
 * The array a `bpf_map_lookup_elem` at `callIndex` (an index in `program.insns`) looks up, if it
 * can be inlined: the `lddw r1, map` that defines r1 is in the same block (which starts at one of
 * `blockStarts`) and nothing overwrote r1 since.
 */
export function arrayLookupAt(
  program: Program, callIndex: number, blockStarts: ReadonlySet<number>, arrayMap: (insn: LddwInsn) => ArrayMapInfo | undefined,
): ArrayMapInfo | undefined {
  const def = findR1Lddw(program, callIndex, blockStarts);
  return def ? arrayMap(def) : undefined;
}

/** The `lddw r1, map` that defines r1 at the call, if it is in the same basic block. */
function findR1Lddw(program: Program, callIndex: number, blockStarts: ReadonlySet<number>): LddwInsn | undefined {
  const insns = insnsOf(program);
  for (let i = callIndex - 1; i >= 0; i--) {
    const insn = insns.get(i)!;
    if (insn.kind === 'lddw' && insn.dst === 1) return insn.src === 1 ? insn : undefined;
    if (writesR1(insn)) return undefined;
    // Stop at the block's start: a jump target may bring another r1.
    if (blockStarts.has(insn.pc)) return undefined;
  }
  return undefined;
}

/** True if `insn` may change r1 (calls clobber r1..r5). */
function writesR1(insn: Insn): boolean {
  switch (insn.kind) {
    case 'alu': case 'end': case 'lddw': case 'ldx':
      return insn.dst === 1;
    case 'atomic':
      return insn.fetch && insn.src === 1;
    case 'call': case 'call_local': case 'callx': case 'kfunc': case 'ldabs': case 'ldind':
      return true;
    default:
      return false;
  }
}

/** The inline lookup at the call site `pc`: r0 = the value's address or NULL. */
export function inlineArrayLookup(options: EmitOptions, arr: ArrayMapInfo, pc: number, out: CodeSink): void {
  const m = w;
  const [ptr, off] = address(options, 2, 0, 4, pc, out);
  const key = (): Node => m.local.get(L_ADDR, 'i32');
  out.push(m.local.set(L_ADDR, tagPc(m.i32.load(off, 4, ptr), pc)));
  out.push(set64(0, m.i64.extend_u(m.if(
    m.i32.lt_u(key(), m.i32.const(arr.maxEntries)),
    m.i32.add(m.i32.const(arr.values), m.i32.mul(key(), m.i32.const(arr.stride))),
    m.i32.const(0),
  ))));
}
