/**
 * Test support: a small ELF64 writer for hand-made and forged objects (section contents and
 * headers laid out as a relocatable eBPF object), and the object bpf_conformance_runner writes.
 */
import { EM_BPF, ElfType, SectionFlags, SectionType, SymbolBind, SymbolType } from '../../compiler/elf/elf64.js';
import { StrTab } from './strtab.js';

export { StrTab };

/** One section to write. */
export interface SecSpec {
  name: string;
  type: number;
  flags?: number;
  data?: Uint8Array;
  /** Index or name of the linked section. */
  link?: number | string;
  info?: number | string;
  entsize?: number;
  /** Overrides the size (NOBITS). */
  size?: number;
}

/** One symbol (Elf64_Sym). */
export interface SymSpec {
  name: number; // string table offset
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

/** The contents of a symbol table. */
export function symtabBytes(syms: SymSpec[]): Uint8Array {
  const out = new Uint8Array(24 * syms.length);
  const v = new DataView(out.buffer);
  syms.forEach((s, i) => {
    const o = i * 24;
    v.setUint32(o, s.name, true);
    v.setUint8(o + 4, (s.bind << 4) | s.type);
    v.setUint16(o + 6, s.shndx, true);
    v.setBigUint64(o + 8, BigInt(s.value), true);
    v.setBigUint64(o + 16, BigInt(s.size), true);
  });
  return out;
}

/** The contents of a relocation section (Elf64_Rel). */
export function relBytes(rels: { offset: number; sym: number; type: number }[]): Uint8Array {
  const out = new Uint8Array(16 * rels.length);
  const v = new DataView(out.buffer);
  rels.forEach((r, i) => {
    v.setBigUint64(i * 16, BigInt(r.offset), true);
    v.setBigUint64(i * 16 + 8, (BigInt(r.sym) << 32n) | BigInt(r.type), true);
  });
  return out;
}

/**
 * Lays out: ELF header, section contents (8-aligned), section header table. Section 0 is the
 * null section, `sections` follow in order; `shstrtab` names the section-name string table,
 * whose contents are `names` plus every section name.
 */
export function buildElf(sections: SecSpec[], shstrtab: string, names: StrTab = new StrTab()): Uint8Array {
  const all: SecSpec[] = [{ name: '', type: SectionType.NULL }, ...sections];
  const index = (ref: number | string | undefined): number =>
    typeof ref === 'string' ? all.findIndex((s) => s.name === ref) : ref ?? 0;
  const nameOffsets = all.map((s) => names.add(s.name));
  const shstrIndex = index(shstrtab);
  const datas = all.map((s, i) => (i === shstrIndex ? names.bytes() : s.data ?? new Uint8Array(0)));
  let off = 64;
  const offsets = datas.map((d, i) => {
    if (all[i]!.type === SectionType.NOBITS || i === 0) return i === 0 ? 0 : off;
    off = (off + 7) & ~7;
    const at = off;
    off += d.length;
    return at;
  });
  const shoff = (off + 7) & ~7;
  const out = new Uint8Array(shoff + 64 * all.length);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, ElfType.REL, true);
  v.setUint16(18, EM_BPF, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, all.length, true);
  v.setUint16(62, shstrIndex, true);
  all.forEach((s, i) => {
    if (s.type !== SectionType.NOBITS) out.set(datas[i]!, offsets[i]!);
    const h = shoff + i * 64;
    v.setUint32(h, nameOffsets[i]!, true);
    v.setUint32(h + 4, s.type, true);
    v.setBigUint64(h + 8, BigInt(s.flags ?? 0), true);
    v.setBigUint64(h + 24, BigInt(offsets[i]!), true);
    v.setBigUint64(h + 32, BigInt(s.size ?? datas[i]!.length), true);
    v.setUint32(h + 40, index(s.link), true);
    v.setUint32(h + 44, index(s.info), true);
    v.setBigUint64(h + 48, 8n, true);
    v.setBigUint64(h + 56, BigInt(s.entsize ?? 0), true);
  });
  return out;
}

/** What bpf_conformance_runner writes for --elf: symtab names live in .shstrtab (ELFIO style). */
export function runnerStyleObject(code: number[]): Uint8Array {
  const names = new StrTab();
  const main = names.add('main');
  const text = Uint8Array.from(code);
  return buildElf(
    [
      { name: '.shstrtab', type: SectionType.STRTAB },
      {
        name: '.symtab', type: SectionType.SYMTAB, link: '.shstrtab', info: 1, entsize: 24,
        data: symtabBytes([
          { name: 0, value: 0, size: 0, type: 0, bind: 0, shndx: 0 },
          { name: main, value: 0, size: text.length, type: SymbolType.FUNC, bind: SymbolBind.GLOBAL, shndx: 3 },
        ]),
      },
      { name: '.text', type: SectionType.PROGBITS, flags: SectionFlags.ALLOC | SectionFlags.EXECINSTR, data: text },
    ],
    '.shstrtab',
    names,
  );
}
