/**
 * The BTF-derived information of a parsed object: `.BTF` (compiler/btf/types.ts), `.BTF.ext`
 * (compiler/btf/ext.ts) checked against the object's sections, and the map definitions
 * (map-defs.ts).
 */
import { parseBtfExt, type BtfExt } from '../btf/ext.js';
import { failAt, hex, type Place } from '../btf/section.js';
import { parseBtf, type Btf } from '../btf/types.js';
import { readMapDefinitions, type MapDef } from './map-defs.js';
import type { ElfFile } from './elf64.js';

/** The BTF-derived information of an object. */
export interface ElfBtf {
  /** The parsed `.BTF`, when the object has one. */
  readonly btf: Btf | undefined;
  /** The parsed `.BTF.ext`, when the object has one (it needs `.BTF`). */
  readonly ext: BtfExt | undefined;
  /** Map definitions (see {@link readMapDefinitions}). */
  readonly maps: readonly MapDef[];
}

/**
 * Reads `.BTF`, `.BTF.ext` (checking that every section it names exists and every instruction
 * offset lies inside it) and the map definitions of a parsed object.
 *
 * @throws ElfError `E_BAD_ELF` for anything malformed.
 */
export function readElfBtf(elf: ElfFile): ElfBtf {
  const btfSection = elf.sectionByName('.BTF');
  const btf = btfSection ? parseBtf(btfSection.data(), { fileOffset: btfSection.offset }) : undefined;
  const extSection = elf.sectionByName('.BTF.ext');
  let ext: BtfExt | undefined;
  if (extSection) {
    const place: Place = { section: '.BTF.ext', fileOffset: extSection.offset };
    if (!btf) failAt(place, 0, 'the object has a .BTF.ext section but no .BTF section');
    ext = parseBtfExt(extSection.data(), btf, { fileOffset: extSection.offset });
    for (const records of [ext.funcInfo, ext.lineInfo, ext.coreRelos] as ReadonlyMap<string, readonly { insnOffset: number; recordOffset: number }[]>[]) {
      for (const [name, list] of records) {
        const section = elf.sectionByName(name);
        if (!section) failAt(place, list[0]!.recordOffset, `.BTF.ext has records for section ${name}, which the object does not have`);
        for (const rec of list) {
          if (rec.insnOffset >= section.size) {
            failAt(place, rec.recordOffset, `.BTF.ext has a record for offset ${hex(rec.insnOffset)} of ${name}, past the end of its ${section.size} bytes`);
          }
        }
      }
    }
  }
  return { btf, ext, maps: readMapDefinitions(elf, btf) };
}
