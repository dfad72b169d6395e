/**
 * The variables of an object's data sections (`.data`, `.bss`, `.rodata`, ...), placed by the
 * symbol table, as their BTF DATASEC lists them.
 */
import { failAt, hex, type Place } from '../btf/section.js';
import type { Btf } from '../btf/types.js';
import { SymbolType, type ElfFile, type ElfSymbol } from './elf64.js';

/** One variable of a data section (`.data`, `.bss`, `.rodata`, ...), placed by the symbol table. */
export interface DataVariable {
  readonly name: string;
  /** The BTF VAR type id. */
  readonly varTypeId: number;
  /** The variable's type id (the VAR's type). */
  readonly typeId: number;
  /** See {@link BtfLinkage}. */
  readonly linkage: number;
  /** Byte offset in the ELF section. */
  readonly offset: number;
  readonly size: number;
}

/**
 * The variables of a data section as its BTF DATASEC lists them, with their real offsets:
 * clang leaves the DATASEC offsets of global variables at 0 (libbpf patches them from the symbol
 * table), so offsets and sizes come from the symbol of the same name when there is one.
 *
 * @returns `[]` when the BTF has no DATASEC of that name.
 * @throws ElfError `E_BAD_ELF` (section `sectionName`) for a variable outside the section.
 */
export function readDataSection(elf: ElfFile, btf: Btf, sectionName: string): DataVariable[] {
  const datasec = btf.typeByName(sectionName, 'datasec');
  if (!datasec) return [];
  const section = elf.sectionByName(sectionName);
  const place: Place = { section: sectionName, fileOffset: section?.offset };
  if (!section) failAt(place, 0, `the BTF describes section ${sectionName}, which the object does not have`);
  const symbols = symbolsByName(elf, section.index);
  return datasec.vars.map((v) => {
    const t = btf.types[v.type]!;
    const sym = symbols.get(t.name);
    const offset = sym ? sym.value : v.offset;
    const size = sym && sym.size > 0 ? sym.size : v.size;
    if (offset > section.size || size > section.size - offset) {
      failAt(place, Math.min(offset, section.size), `variable ${t.name} (${size} bytes at offset ${hex(offset)}) lies outside the ${section.size}-byte section ${sectionName}`);
    }
    const typeId = t.kind === 'var' || t.kind === 'func' ? t.type : 0;
    const linkage = t.kind === 'var' || t.kind === 'func' ? t.linkage : 0;
    return { name: t.name, varTypeId: v.type, typeId, linkage, offset, size };
  }).sort((a, b) => a.offset - b.offset);
}

/** Named data symbols of a section, by name (the first of each name). */
export function symbolsByName(elf: ElfFile, index: number): Map<string, ElfSymbol> {
  const symbols = new Map<string, ElfSymbol>();
  for (const sym of elf.symbolsInSection(index)) {
    if (sym.type !== SymbolType.SECTION && sym.type !== SymbolType.FILE && sym.name !== '' && !symbols.has(sym.name)) symbols.set(sym.name, sym);
  }
  return symbols;
}
