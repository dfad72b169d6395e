/**
 * The call-site rewrites, decided before any code is generated (as the kernel's verifier fixes up
 * call sites before the JIT runs): which helper calls become inline code instead of an import
 * call. Lowering (compiler/lower/function.ts) asks this plan at each call.
 *
 *  - `bpf_tail_call` with EmitOptions.tailCalls: an inline tail call (rewrite/tail-call.ts).
 *  - `bpf_map_lookup_elem` on a constant array map with EmitOptions.arrayMap: address arithmetic
 *    (rewrite/array-lookup.ts).
 */
import { BpfFunc } from '../../runtime/helper-table.js';
import { insnsOf } from '../../runtime/isa/insn.js';
import type { ProgramCfg } from '../../runtime/isa/cfg.js';
import type { EmitOptions } from '../emit.js';
import { arrayLookupAt, type ArrayMapInfo } from './array-lookup.js';

/** What a call site becomes. */
export type CallFixup =
  | { kind: 'tail_call' }
  | { kind: 'array_lookup'; map: ArrayMapInfo };

/** The call sites to rewrite, by instruction slot. */
export function planCallFixups(cfg: ProgramCfg, options: EmitOptions): Map<number, CallFixup> {
  const fixups = new Map<number, CallFixup>();
  const insns = insnsOf(cfg.program);
  const { tailCalls, arrayMap } = options;
  if (!tailCalls && !arrayMap) return fixups;
  for (const fn of cfg.functions) {
    let blockStarts: Set<number> | undefined;
    for (const b of fn.blocks) {
      for (let i = b.first; i <= b.last; i++) {
        const insn = insns.get(i)!;
        if (insn.kind !== 'call') continue;
        if (insn.helper === BpfFunc.tail_call && tailCalls) {
          fixups.set(insn.pc, { kind: 'tail_call' });
        } else if (insn.helper === BpfFunc.map_lookup_elem && arrayMap) {
          blockStarts ??= new Set(fn.blocks.map((blk) => insns.pc(blk.first)));
          const map = arrayLookupAt(cfg.program, i, blockStarts, arrayMap);
          if (map) fixups.set(insn.pc, { kind: 'array_lookup', map });
        }
      }
    }
  }
  return fixups;
}
