/**
 * The C source lines of linked programs, from the object's `.BTF.ext` line info (which numbers
 * instructions by their slot in their ELF section): one row per line_info record, renumbered to
 * the slot of the instruction in the compiled module (programs are laid out one after another).
 * The compiler writes the rows into the module's `bpf2wasm.lines` section (runtime/source-lines.ts),
 * and `disasm` prints them between instructions.
 */
import type { SourceLine } from '../../runtime/source-lines.js';
import type { BtfExt } from '../btf/ext.js';
import type { ProgramSpec } from '../elf/loader.js';

/**
 * The source rows of `programs`, laid out from slot `base` on in order (the first program at
 * `base`, the next after it, ...). Empty without line info.
 */
export function programSourceLines(ext: BtfExt | undefined, programs: readonly ProgramSpec[], base = 0): SourceLine[] {
  const out: SourceLine[] = [];
  if (!ext) return out;
  let at = base;
  for (const p of programs) {
    for (const f of p.functions) {
      if (f.sectionPc === undefined) continue;
      const records = ext.lineInfo.get(f.section) ?? [];
      const end = f.sectionPc + f.length;
      // The line in force at the function's first instruction, if its record lies before it.
      const first = ext.lineAt(f.section, f.sectionPc);
      for (const r of records) {
        if (r.insn < f.sectionPc || r.insn >= end) continue;
        if (r.line === 0) continue;
        out.push({ pc: at + f.pc + (r.insn - f.sectionPc), file: r.fileName, line: r.line, source: r.source.trim() });
      }
      if (first && first.insn < f.sectionPc && first.line !== 0 && !out.some((l) => l.pc === at + f.pc)) {
        out.push({ pc: at + f.pc, file: first.fileName, line: first.line, source: first.source.trim() });
      }
    }
    at += p.insns.length / 8;
  }
  return out.sort((a, b) => a.pc - b.pc);
}
