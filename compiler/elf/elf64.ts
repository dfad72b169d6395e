/**
 * ELF64 reader for eBPF objects (`clang -O2 -g -target bpf -c`).
 *
 * Parses the file header, the section headers and their names, every symbol table and every
 * relocation section into a plain typed object model. It validates everything it reads: any
 * malformed input gives an {@link ElfError} (code `E_BAD_ELF`) saying what is wrong and where,
 * never a RangeError, a hang or an allocation larger than the file justifies (every table count
 * is checked against the bytes that actually hold the table before anything is allocated).
 *
 * Both byte orders are parsed: `bpfel` (little-endian, the normal case) and `bpfeb`
 * (big-endian). {@link ElfFile.littleEndian} says which; consumers that interpret section
 * contents (instructions, BTF) must honour it. `extractProgram` (extract.ts) converts
 * big-endian instructions to the little-endian encoding the rest of bpf2wasm uses.
 *
 * The reader knows nothing about maps, BTF or program types; it is the foundation a loader
 * builds on.
 */
import { Bpf2WasmError, ErrorCode, type ErrorLocation } from '../../runtime/errors.js';

/** Error code of every malformed-ELF error (to be added to the ErrorCode table). */
export const E_BAD_ELF = ErrorCode.BadElf;

/**
 * A malformed or unsupported ELF object.
 *
 * `location.section` names the section involved, or a structural part of the file in angle
 * brackets (`<ELF header>`, `<section headers>`); `location.offset` is the
 * byte offset inside that section or part. `fileOffset` is the same place as an absolute offset
 * in the file, when known.
 */
export class ElfError extends Bpf2WasmError {
  /** Absolute byte offset in the file of the offending bytes, when known. */
  readonly fileOffset: number | undefined;

  constructor(code: ErrorCode, detail: string, location: ErrorLocation = {}, fileOffset?: number) {
    super(code, detail, location);
    this.fileOffset = fileOffset;
  }
}

/** e_machine of eBPF objects. */
export const EM_BPF = 247;

/** Sizes of the ELF64 structures this reader parses. */
export const ELF64_EHDR_SIZE = 64;
export const ELF64_SHDR_SIZE = 64;
export const ELF64_PHDR_SIZE = 56;
export const ELF64_SYM_SIZE = 24;
export const ELF64_REL_SIZE = 16;
export const ELF64_RELA_SIZE = 24;

/** e_type values. */
export const ElfType = { NONE: 0, REL: 1, EXEC: 2, DYN: 3, CORE: 4 } as const;

/** sh_type values that matter to eBPF objects. */
export const SectionType = {
  NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, HASH: 5, DYNAMIC: 6, NOTE: 7, NOBITS: 8,
  REL: 9, DYNSYM: 11, SYMTAB_SHNDX: 18, LLVM_ADDRSIG: 0x6fff4c03,
} as const;

/** sh_flags bits. */
export const SectionFlags = {
  WRITE: 0x1, ALLOC: 0x2, EXECINSTR: 0x4, MERGE: 0x10, STRINGS: 0x20, INFO_LINK: 0x40,
  EXCLUDE: 0x80000000,
} as const;

/** Symbol types (low nibble of st_info). */
export const SymbolType = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;

/** Symbol bindings (high nibble of st_info). */
export const SymbolBind = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;

/** Special section indices (st_shndx). */
export const SHN = { UNDEF: 0, LORESERVE: 0xff00, ABS: 0xfff1, COMMON: 0xfff2, XINDEX: 0xffff } as const;

/** eBPF relocation types. */
export const RelocType = {
  R_BPF_NONE: 0,
  /** lddw imm pair: 64-bit address of a map or global variable. */
  R_BPF_64_64: 1,
  /** 64-bit data word (DWARF, BTF.ext). */
  R_BPF_64_ABS64: 2,
  /** 32-bit data word. */
  R_BPF_64_ABS32: 3,
  /** 32-bit data word the dynamic loader must not touch (BTF, BTF.ext). */
  R_BPF_64_NODYLD32: 4,
  /** call imm: bpf-to-bpf call to a function symbol. */
  R_BPF_64_32: 10,
} as const;

const RELOC_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(RelocType).map(([name, value]) => [value as number, name]),
);

/** Name of an eBPF relocation type (`R_BPF_64_64`), or `type N` for unknown ones. */
export function relocationTypeName(type: number): string {
  return RELOC_NAMES.get(type) ?? `type ${type}`;
}

/** Bytes a relocation of this type patches, counted from its offset. */
export function relocationWidth(type: number): number {
  switch (type) {
    case RelocType.R_BPF_64_64: return 16; // both halves of an lddw
    case RelocType.R_BPF_64_ABS64: return 8;
    case RelocType.R_BPF_64_ABS32: return 4;
    case RelocType.R_BPF_64_NODYLD32: return 4;
    case RelocType.R_BPF_64_32: return 8; // the call instruction
    default: return 1;
  }
}

/** One section header, with a view of its bytes. Index 0 is the null section. */
export interface ElfSection {
  /** Index in the section header table. */
  readonly index: number;
  /** Name from the section name string table (`''` when there is none). */
  readonly name: string;
  /** sh_type (see {@link SectionType}). */
  readonly type: number;
  /** sh_flags (see {@link SectionFlags}). */
  readonly flags: number;
  readonly addr: number;
  /** File offset of the contents. */
  readonly offset: number;
  /** Size in bytes (in memory for NOBITS, which occupies no file bytes). */
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: number;
  readonly entsize: number;
  /** The contents: a view into the input (no copy). Empty for NOBITS and NULL sections. */
  data(): Uint8Array;
}

/** One symbol table entry. */
export interface ElfSymbol {
  /** Index in its symbol table (what relocations refer to). */
  readonly index: number;
  /** Name from the linked string table; an unnamed section symbol gets its section's name. */
  readonly name: string;
  /** st_value: in a relocatable object, the byte offset in the symbol's section. */
  readonly value: number;
  /** st_size in bytes (0 when unknown). */
  readonly size: number;
  /** See {@link SymbolType}. */
  readonly type: number;
  /** See {@link SymbolBind}. */
  readonly bind: number;
  /** Visibility (low 2 bits of st_other). */
  readonly visibility: number;
  /** Section index (`SHN_XINDEX` already resolved); may be a special index such as SHN.ABS. */
  readonly sectionIndex: number;
}

/** One relocation entry. */
export interface ElfRelocation {
  /** Byte offset in the relocated (target) section. */
  readonly offset: number;
  /** Index of the symbol in the symbol table the relocation section links to. */
  readonly symbolIndex: number;
  /** That symbol. */
  readonly symbol: ElfSymbol;
  /** See {@link RelocType}. */
  readonly type: number;
  /** Explicit addend (RELA sections only; eBPF uses REL, whose addend is in the patched bytes). */
  readonly addend: bigint | undefined;
  /** Index of the relocation section this entry came from. */
  readonly relocationSection: number;
}

/** A parsed ELF64 object. */
export interface ElfFile {
  /** The input bytes. */
  readonly bytes: Uint8Array;
  /** True for `bpfel`, false for `bpfeb` objects. */
  readonly littleEndian: boolean;
  /** e_type (see {@link ElfType}); clang writes ET_REL. */
  readonly type: number;
  /** e_machine: always {@link EM_BPF}. */
  readonly machine: number;
  /** e_flags. */
  readonly flags: number;
  /** EI_OSABI. */
  readonly osabi: number;
  /** All sections, indexed by section index (index 0 is the null section). */
  readonly sections: readonly ElfSection[];
  /** The symbols of the SHT_SYMTAB table (or SHT_DYNSYM when there is none); `[]` if none. */
  readonly symbols: readonly ElfSymbol[];
  /** Every symbol table, by the index of its section. */
  readonly symbolTables: ReadonlyMap<number, readonly ElfSymbol[]>;
  /** Relocations by the index of the section they patch (`.rel.text` -> index of `.text`). */
  readonly relocations: ReadonlyMap<number, readonly ElfRelocation[]>;
  /** The first section with this name. */
  sectionByName(name: string): ElfSection | undefined;
  /**
   * The symbol of {@link symbols} with this name, preferring a defined function or object over
   * other kinds (section and file symbols, undefined references).
   */
  symbolByName(name: string): ElfSymbol | undefined;
  /** The symbols of {@link symbols} defined in the given section. */
  symbolsInSection(index: number): ElfSymbol[];
}

const HEADER = '<ELF header>';
const SECTION_HEADERS = '<section headers>';

/** Known e_machine values, to tell people what they passed instead of a BPF object. */
const MACHINE_NAMES: ReadonlyMap<number, string> = new Map([
  [3, 'x86'], [8, 'MIPS'], [20, 'PowerPC'], [21, 'PowerPC64'], [22, 's390'], [40, 'ARM'],
  [62, 'x86-64'], [183, 'AArch64'], [243, 'RISC-V'], [258, 'LoongArch'],
]);

function hex(n: number | bigint): string {
  return '0x' + n.toString(16);
}

function fail(detail: string, section: string, offset: number, fileOffset?: number): never {
  throw new ElfError(E_BAD_ELF, detail, { section, offset }, fileOffset ?? offset);
}

/** Raw section header fields before names are resolved. */
interface RawSection {
  index: number;
  nameOffset: number;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** File offset of this header. */
  headerOffset: number;
}

/** Field offsets inside a section header, for error locations. */
const SH = { name: 0, type: 4, flags: 8, addr: 16, offset: 24, size: 32, link: 40, info: 44, entsize: 56 };

/**
 * Parses an ELF64 eBPF object.
 *
 * @throws ElfError (code `E_BAD_ELF`) for anything that is not a well-formed ELF64 EM_BPF file.
 */
export function parseElf(bytes: Uint8Array): ElfFile {
  // A plain Uint8Array view even for a Node Buffer, whose subarray/slice are views of the caller's
  // memory: section data() stays a read-only view, and a copy taken with slice() is a copy.
  return new Parser(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).parse();
}

class Parser {
  private readonly view: DataView;
  private readonly length: number;
  private le = true;
  private raw: RawSection[] = [];
  private labels: string[] = [];
  private readonly decoder = new TextDecoder('utf-8');
  /** Decoded names per string table section, by offset. */
  private readonly strings = new Map<number, Map<number, string>>();
  /** Bytes of names still allowed to be decoded (bounds the work on overlapping names). */
  private stringBudget: number;
  private type = 0;
  private sectionNames: string[] = [];

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
    this.stringBudget = 4 * this.length + 65536;
  }

  parse(): ElfFile {
    const { shoff, shnum, shstrndx, flags, osabi } = this.parseHeader();
    this.readSectionHeaders(shoff, shnum);
    this.labels = this.raw.map((s) => `#${s.index}`);
    this.validateSections(shoff, shnum);
    const names = this.readSectionNames(shstrndx);
    this.sectionNames = names;
    this.labels = this.raw.map((s, i) => (names[i] ? names[i]! : `#${s.index}`));

    const bytes = this.bytes;
    const sections: ElfSection[] = this.raw.map((s, i) => {
      const hasData = s.type !== SectionType.NOBITS && s.type !== SectionType.NULL;
      return {
        index: s.index, name: names[i]!, type: s.type, flags: s.flags, addr: s.addr, offset: s.offset,
        size: s.size, link: s.link, info: s.info, addralign: s.addralign, entsize: s.entsize,
        data: () => (hasData ? bytes.subarray(s.offset, s.offset + s.size) : new Uint8Array(0)),
      };
    });

    const symbolTables = new Map<number, ElfSymbol[]>();
    for (const s of this.raw) {
      if (s.type === SectionType.SYMTAB || s.type === SectionType.DYNSYM) {
        symbolTables.set(s.index, this.readSymbols(s));
      }
    }
    const relocations = new Map<number, ElfRelocation[]>();
    for (const s of this.raw) {
      if (s.type === SectionType.REL || s.type === SectionType.RELA) {
        const list = this.readRelocations(s, symbolTables.get(s.link)!);
        const existing = relocations.get(s.info);
        if (existing) for (const r of list) existing.push(r);
        else relocations.set(s.info, list);
      }
    }
    for (const list of relocations.values()) list.sort((a, b) => a.offset - b.offset);

    const main = this.raw.find((s) => s.type === SectionType.SYMTAB) ?? this.raw.find((s) => s.type === SectionType.DYNSYM);
    const symbols: readonly ElfSymbol[] = main ? symbolTables.get(main.index)! : [];
    const byName = new Map<string, ElfSection>();
    for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);

    return {
      bytes, littleEndian: this.le, type: this.type, machine: EM_BPF, flags, osabi, sections, symbols,
      symbolTables, relocations,
      sectionByName: (name) => byName.get(name),
      symbolByName: (name) => pickSymbol(symbols.filter((sym) => sym.name === name)),
      symbolsInSection: (index) => symbols.filter((sym) => sym.sectionIndex === index && index !== SHN.UNDEF),
    };
  }

  // ---- primitive reads (callers have bounds-checked the range) ----

  private u8(off: number): number {
    return this.view.getUint8(off);
  }
  private u16(off: number): number {
    return this.view.getUint16(off, this.le);
  }
  private u32(off: number): number {
    return this.view.getUint32(off, this.le);
  }
  private u64big(off: number): bigint {
    return this.view.getBigUint64(off, this.le);
  }
  /** A 64-bit field that must fit a JS number exactly. */
  private u64(off: number, what: string, section: string, base: number): number {
    const v = this.u64big(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      fail(`${what} is ${hex(v)}, far larger than any eBPF object could need`, section, off - base, off);
    }
    return Number(v);
  }

  // ---- file header ----

  private parseHeader(): { shoff: number; shnum: number; shstrndx: number; flags: number; osabi: number } {
    const b = this.bytes;
    const magic = [0x7f, 0x45, 0x4c, 0x46];
    for (let i = 0; i < Math.min(4, this.length); i++) {
      if (b[i] !== magic[i]) fail('this is not an ELF file: it does not start with the bytes 7f 45 4c 46 ("\\x7fELF")', HEADER, i);
    }
    if (this.length < ELF64_EHDR_SIZE) {
      fail(`the file is truncated: it has ${this.length} bytes, fewer than the ${ELF64_EHDR_SIZE}-byte ELF64 header`, HEADER, this.length);
    }
    const cls = b[4]!;
    if (cls === 1) fail('this is a 32-bit ELF file (ELFCLASS32); eBPF objects are ELF64 (compile with -target bpf)', HEADER, 4);
    if (cls !== 2) fail(`invalid ELF class ${cls} (expected 2, ELFCLASS64)`, HEADER, 4);
    const data = b[5]!;
    if (data !== 1 && data !== 2) fail(`invalid ELF data encoding ${data} (expected 1, little-endian, or 2, big-endian)`, HEADER, 5);
    this.le = data === 1;
    if (b[6] !== 1) fail(`unsupported ELF version ${b[6]} in e_ident (expected 1)`, HEADER, 6);

    this.type = this.u16(16);
    const machine = this.u16(18);
    if (machine !== EM_BPF) {
      const known = MACHINE_NAMES.get(machine);
      fail(`this object is for machine ${machine}${known ? ` (${known})` : ''}, not eBPF (EM_BPF, ${EM_BPF}); compile with clang -target bpf`, HEADER, 18);
    }
    const version = this.u32(20);
    if (version !== 1) fail(`unsupported ELF version ${version} in e_version (expected 1)`, HEADER, 20);
    let shoff = this.u64(40, 'the section header offset (e_shoff)', HEADER, 0);
    const flags = this.u32(48);
    const ehsize = this.u16(52);
    if (ehsize !== ELF64_EHDR_SIZE) fail(`the header size (e_ehsize) is ${ehsize}, not ${ELF64_EHDR_SIZE}`, HEADER, 52);
    const phentsize = this.u16(54);
    const phnum = this.u16(56);
    const shentsize = this.u16(58);
    let shnum = this.u16(60);
    let shstrndx = this.u16(62);

    if (phnum !== 0) {
      const phoff = this.u64(32, 'the program header offset (e_phoff)', HEADER, 0);
      if (phentsize !== ELF64_PHDR_SIZE) fail(`the program header entry size (e_phentsize) is ${phentsize}, not ${ELF64_PHDR_SIZE}`, HEADER, 54);
      this.checkTable(phoff, phnum, ELF64_PHDR_SIZE, 'program header table', HEADER, 32);
    }
    if (shoff === 0) {
      if (shnum !== 0) fail(`the file says it has ${shnum} sections but no section header table (e_shoff is 0)`, HEADER, 60);
      if (shstrndx !== SHN.UNDEF) fail(`the section name table index (e_shstrndx) is ${shstrndx} but there are no sections`, HEADER, 62);
      return { shoff, shnum: 0, shstrndx: 0, flags, osabi: b[7]! };
    }
    if (shentsize !== ELF64_SHDR_SIZE) fail(`the section header entry size (e_shentsize) is ${shentsize}, not ${ELF64_SHDR_SIZE}`, HEADER, 58);
    if (shoff < ELF64_EHDR_SIZE) fail(`the section header table (e_shoff ${hex(shoff)}) overlaps the ELF header`, HEADER, 40);
    if (shoff > this.length - ELF64_SHDR_SIZE) {
      fail(`the section header table starts at ${hex(shoff)}, past the end of the ${this.length}-byte file`, HEADER, 40);
    }
    // Extended numbering: counts that do not fit 16 bits live in section header 0.
    if (shnum === 0) {
      shnum = this.u64(shoff + SH.size, 'the extended section count (sh_size of section 0)', SECTION_HEADERS, shoff);
      if (shnum === 0) fail('the section header table is present but holds no sections', SECTION_HEADERS, SH.size, shoff + SH.size);
    }
    if (shstrndx === SHN.XINDEX) shstrndx = this.u32(shoff + SH.link);
    this.checkTable(shoff, shnum, ELF64_SHDR_SIZE, 'section header table', HEADER, 40);
    if (shstrndx !== SHN.UNDEF && shstrndx >= shnum) {
      fail(`the section name table index (e_shstrndx) is ${shstrndx}, but there are only ${shnum} sections`, HEADER, 62);
    }
    return { shoff, shnum, shstrndx, flags, osabi: b[7]! };
  }

  /** Checks that `count` entries of `entsize` bytes at `offset` lie inside the file. */
  private checkTable(offset: number, count: number, entsize: number, what: string, section: string, at: number): void {
    if (offset > this.length || count > Math.floor((this.length - offset) / entsize)) {
      fail(`the ${what} (${count} entries of ${entsize} bytes at ${hex(offset)}) runs past the end of the ${this.length}-byte file`, section, at);
    }
  }

  // ---- section headers ----

  private readSectionHeaders(shoff: number, shnum: number): void {
    for (let i = 0; i < shnum; i++) {
      const h = shoff + i * ELF64_SHDR_SIZE;
      const field = (f: number, what: string) => this.u64(h + f, `${what} of section #${i}`, SECTION_HEADERS, shoff);
      this.raw.push({
        index: i,
        nameOffset: this.u32(h + SH.name),
        type: this.u32(h + SH.type),
        flags: field(SH.flags, 'the flags'),
        addr: field(SH.addr, 'the address'),
        offset: field(SH.offset, 'the offset'),
        size: field(SH.size, 'the size'),
        link: this.u32(h + SH.link),
        info: this.u32(h + SH.info),
        addralign: field(48, 'the alignment'),
        entsize: field(SH.entsize, 'the entry size'),
        headerOffset: h,
      });
    }
  }

  private failHeader(s: RawSection, field: number, detail: string, shoff: number): never {
    fail(`section ${this.labels[s.index]}: ${detail}`, SECTION_HEADERS, s.headerOffset - shoff + field, s.headerOffset + field);
  }

  private validateSections(shoff: number, shnum: number): void {
    const tableEnd = shoff + shnum * ELF64_SHDR_SIZE;
    for (const s of this.raw) {
      if (s.type !== SectionType.NOBITS && s.type !== SectionType.NULL && s.size > 0) {
        if (s.offset > this.length || s.size > this.length - s.offset) {
          this.failHeader(s, SH.size, `its contents (${s.size} bytes at ${hex(s.offset)}) run past the end of the ${this.length}-byte file`, shoff);
        }
        if (s.offset < ELF64_EHDR_SIZE) this.failHeader(s, SH.offset, `its contents (at ${hex(s.offset)}) overlap the ELF header`, shoff);
        if (s.offset < tableEnd && s.offset + s.size > shoff) {
          this.failHeader(s, SH.offset, `its contents (${s.size} bytes at ${hex(s.offset)}) overlap the section header table`, shoff);
        }
      }
      switch (s.type) {
        case SectionType.SYMTAB:
        case SectionType.DYNSYM:
          this.checkEntries(s, ELF64_SYM_SIZE, 'symbol table', shoff);
          this.checkLink(s, [SectionType.STRTAB], 'a string table', shnum, shoff);
          break;
        case SectionType.REL:
        case SectionType.RELA:
          this.checkEntries(s, s.type === SectionType.REL ? ELF64_REL_SIZE : ELF64_RELA_SIZE, 'relocation section', shoff);
          this.checkLink(s, [SectionType.SYMTAB, SectionType.DYNSYM], 'a symbol table', shnum, shoff);
          if (s.info >= shnum) this.failHeader(s, SH.info, `it relocates section ${s.info}, but there are only ${shnum} sections`, shoff);
          if (s.info === s.index) this.failHeader(s, SH.info, 'it claims to relocate itself', shoff);
          break;
        case SectionType.SYMTAB_SHNDX:
          this.checkEntries(s, 4, 'extended section index table', shoff);
          this.checkLink(s, [SectionType.SYMTAB], 'a symbol table', shnum, shoff);
          break;
        default:
          break;
      }
    }
  }

  private checkEntries(s: RawSection, entsize: number, what: string, shoff: number): void {
    if (s.entsize !== entsize) this.failHeader(s, SH.entsize, `the ${what} has entry size ${s.entsize}, expected ${entsize}`, shoff);
    if (s.size % entsize !== 0) this.failHeader(s, SH.size, `the ${what} is ${s.size} bytes, not a multiple of its ${entsize}-byte entries`, shoff);
  }

  private checkLink(s: RawSection, types: number[], what: string, shnum: number, shoff: number): void {
    if (s.link === 0 || s.link >= shnum) {
      this.failHeader(s, SH.link, `it must link to ${what}, but its link is ${s.link} (there are ${shnum} sections)`, shoff);
    }
    if (!types.includes(this.raw[s.link]!.type)) {
      this.failHeader(s, SH.link, `it must link to ${what}, but section ${s.link} has type ${this.raw[s.link]!.type}`, shoff);
    }
  }

  // ---- strings ----

  private readSectionNames(shstrndx: number): string[] {
    if (shstrndx === SHN.UNDEF) return this.raw.map(() => '');
    const table = this.raw[shstrndx]!;
    if (table.type !== SectionType.STRTAB) {
      fail(`the section name table (section ${shstrndx}, e_shstrndx) has type ${table.type}, not a string table (3)`, HEADER, 62);
    }
    return this.raw.map((s) => (s.index === 0 && s.nameOffset === 0 ? '' : this.readString(table, s.nameOffset, `the name of section #${s.index}`)));
  }

  /** Reads the NUL-terminated string at `off` in string table `table`. */
  private readString(table: RawSection, off: number, what: string): string {
    let cache = this.strings.get(table.index);
    if (!cache) this.strings.set(table.index, (cache = new Map()));
    const hit = cache.get(off);
    if (hit !== undefined) return hit;
    const label = this.labels[table.index]!;
    if (off >= table.size) {
      fail(`${what} starts at offset ${hex(off)}, past the end of the ${table.size}-byte string table ${label}`, label, off, table.offset + Math.min(off, table.size));
    }
    const start = table.offset + off;
    const end = table.offset + table.size;
    const limit = Math.min(end, start + this.stringBudget + 1);
    const nul = this.bytes.subarray(start, limit).indexOf(0);
    if (nul < 0) {
      if (limit === end) fail(`${what} (at offset ${hex(off)} of ${label}) is not NUL-terminated`, label, off, start);
      fail(`${what} (at offset ${hex(off)} of ${label}) is one of too many long, overlapping names`, label, off, start);
    }
    this.stringBudget -= nul + 1;
    const name = this.decoder.decode(this.bytes.subarray(start, start + nul));
    cache.set(off, name);
    return name;
  }

  // ---- symbols ----

  private readSymbols(table: RawSection): ElfSymbol[] {
    const label = this.labels[table.index]!;
    const strtab = this.raw[table.link]!;
    const count = table.size / ELF64_SYM_SIZE;
    const xindex = this.raw.find((s) => s.type === SectionType.SYMTAB_SHNDX && s.link === table.index);
    if (xindex && xindex.size / 4 !== count) {
      const l = this.labels[xindex.index]!;
      fail(`${l} has ${xindex.size / 4} entries but its symbol table ${label} has ${count}`, l, 0, xindex.offset);
    }
    const out: ElfSymbol[] = [];
    for (let i = 0; i < count; i++) {
      const rel = i * ELF64_SYM_SIZE;
      const at = table.offset + rel;
      const nameOffset = this.u32(at);
      const info = this.u8(at + 4);
      const other = this.u8(at + 5);
      let shndx = this.u16(at + 6);
      const value = this.u64(at + 8, `the value of symbol ${i}`, label, table.offset);
      const size = this.u64(at + 16, `the size of symbol ${i}`, label, table.offset);
      const name = nameOffset === 0 ? '' : this.readString(strtab, nameOffset, `the name of symbol ${i} in ${label}`);
      const what = `symbol ${i}${name ? ` (${name})` : ''}`;
      if (shndx === SHN.XINDEX) {
        if (!xindex) fail(`${what} uses an extended section index, but there is no SHT_SYMTAB_SHNDX section`, label, rel + 6, at + 6);
        shndx = this.u32(xindex.offset + i * 4);
        if (shndx >= this.raw.length) {
          const l = this.labels[xindex.index]!;
          fail(`${what} is in section ${shndx}, but there are only ${this.raw.length} sections`, l, i * 4, xindex.offset + i * 4);
        }
      } else if (shndx < SHN.LORESERVE && shndx >= this.raw.length) {
        fail(`${what} is in section ${shndx}, but there are only ${this.raw.length} sections`, label, rel + 6, at + 6);
      }
      const home = shndx !== SHN.UNDEF && shndx < this.raw.length ? this.raw[shndx] : undefined;
      if (home && this.type === ElfType.REL && home.type !== SectionType.NULL && (value > home.size || size > home.size - value)) {
        fail(`${what} (${size} bytes at offset ${hex(value)}) extends past the end of its ${home.size}-byte section ${this.labels[home.index]}`, label, rel + 8, at + 8);
      }
      const type = info & 0xf;
      // Section symbols are unnamed in clang objects; name them after their section, as readelf does.
      const shown = name === '' && type === SymbolType.SECTION && home ? this.sectionNames[home.index]! : name;
      out.push({ index: i, name: shown, value, size, type, bind: info >> 4, visibility: other & 3, sectionIndex: shndx });
    }
    return out;
  }

  // ---- relocations ----

  private readRelocations(s: RawSection, symbols: readonly ElfSymbol[]): ElfRelocation[] {
    const label = this.labels[s.index]!;
    const rela = s.type === SectionType.RELA;
    const entsize = rela ? ELF64_RELA_SIZE : ELF64_REL_SIZE;
    const target = s.info !== 0 ? this.raw[s.info]! : undefined;
    const checkOffsets = target !== undefined && this.type === ElfType.REL && target.type !== SectionType.NULL;
    const count = s.size / entsize;
    const out: ElfRelocation[] = [];
    for (let i = 0; i < count; i++) {
      const rel = i * entsize;
      const at = s.offset + rel;
      const offset = this.u64(at, `the offset of relocation ${i}`, label, s.offset);
      const info = this.u64big(at + 8);
      const symbolIndex = Number(info >> 32n);
      const type = Number(info & 0xffffffffn);
      if (symbolIndex >= symbols.length) {
        fail(`relocation ${i} refers to symbol ${symbolIndex}, but the symbol table has ${symbols.length} symbols`, label, rel + 8, at + 8);
      }
      if (checkOffsets) {
        const width = relocationWidth(type);
        if (offset > target.size || width > target.size - offset) {
          fail(`relocation ${i} (${relocationTypeName(type)}) patches ${width} bytes at offset ${hex(offset)}, past the end of the ${target.size}-byte section ${this.labels[target.index]}`, label, rel, at);
        }
      }
      const addend = rela ? this.view.getBigInt64(at + 16, this.le) : undefined;
      out.push({ offset, symbolIndex, symbol: symbols[symbolIndex]!, type, addend, relocationSection: s.index });
    }
    return out;
  }
}

/** Prefers a defined function/object, then any defined symbol, then anything. */
function pickSymbol(candidates: ElfSymbol[]): ElfSymbol | undefined {
  const defined = (s: ElfSymbol) => s.sectionIndex !== SHN.UNDEF;
  const real = (s: ElfSymbol) => s.type === SymbolType.FUNC || s.type === SymbolType.OBJECT;
  return (
    candidates.find((s) => defined(s) && real(s) && s.bind !== SymbolBind.LOCAL) ??
    candidates.find((s) => defined(s) && real(s)) ??
    candidates.find((s) => defined(s) && s.type !== SymbolType.SECTION && s.type !== SymbolType.FILE) ??
    candidates.find(defined) ??
    candidates[0]
  );
}
