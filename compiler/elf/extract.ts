/**
 * Extracting one program's instruction bytes from a parsed ELF object.
 *
 * This is what the conformance runner's `--elf` mode needs (the program is the `.text`
 * section's `main` function) and what a loader starts from. Relocations are not applied: a
 * function that needs them (map or global-variable addresses, calls through `R_BPF_64_32`) is
 * rejected with `E_UNSUPPORTED` unless the caller asks to ignore them.
 */
import { ErrorCode } from '../../runtime/errors.js';
import {
  E_BAD_ELF, ElfError, ElfType, type ElfFile, type ElfRelocation, type ElfSection, type ElfSymbol, SectionFlags,
  SectionType, SHN, SymbolType, relocationTypeName,
} from './elf64.js';

const ELF_TYPE_NAMES: Readonly<Record<number, string>> = { 0: 'ET_NONE', 2: 'ET_EXEC', 3: 'ET_DYN', 4: 'ET_CORE' };

/**
 * Refuses anything but a relocatable object (e_type ET_REL, what clang -c writes), as libbpf's
 * bpf_object__elf_init does ("not a valid eBPF object file").
 *
 * @throws ElfError E_BAD_ELF naming the ELF type.
 */
export function requireRelocatable(elf: ElfFile): void {
  if (elf.type === ElfType.REL) return;
  const name = ELF_TYPE_NAMES[elf.type] ?? `unknown type ${elf.type}`;
  throw new ElfError(
    E_BAD_ELF,
    `not a valid eBPF object file: its ELF type (e_type) is ${name}, but eBPF objects are relocatable (ET_REL, as clang -c writes them)`,
    { section: '<ELF header>', offset: 16 },
  );
}

/** Which function to extract. */
export interface ExtractOptions {
  /** Section holding the function. Default `.text`. */
  section?: string;
  /** Function symbol. Default `main`. */
  symbol?: string;
  /**
   * What to do about relocations inside the extracted bytes: `'reject'` (default) throws
   * `E_UNSUPPORTED` naming the first one; `'ignore'` returns the bytes unpatched (for a caller
   * that applies them itself, using {@link ProgramLocation}).
   */
  relocations?: 'reject' | 'ignore';
}

/** Where a program lives in its object. */
export interface ProgramLocation {
  section: ElfSection;
  symbol: ElfSymbol;
  /** First byte in the section (the entry point). */
  start: number;
  /**
   * One past the last byte in the section. Normally `symbol.value + symbol.size`; the end of the
   * section when the symbol has no size, or when the function calls static functions placed after
   * it (bpf-to-bpf calls whose targets clang resolved without a relocation), which are kept so
   * the call offsets stay valid.
   */
  end: number;
  /** Relocations of the section that fall inside [start, end). */
  relocations: ElfRelocation[];
}

const OP_LDDW = 0x18;
const OP_CALL = 0x85;
const CALL_SRC_LOCAL = 1;

/**
 * Finds a function (default: `.text` / `main`) and the byte range of its code, following static
 * bpf-to-bpf calls forward as described in {@link ProgramLocation.end}.
 *
 * @throws ElfError `E_BAD_ELF` when the section or symbol is missing or unusable, `E_UNSUPPORTED`
 *   when the function calls code placed before it.
 */
export function locateProgram(elf: ElfFile, options: ExtractOptions = {}): ProgramLocation {
  requireRelocatable(elf);
  const sectionName = options.section ?? '.text';
  const symbolName = options.symbol ?? 'main';
  const section = elf.sectionByName(sectionName);
  if (!section) {
    const code = elf.sections.filter((s) => s.type === SectionType.PROGBITS && (s.flags & SectionFlags.EXECINSTR) !== 0);
    const list = code.map((s) => s.name).join(', ');
    throw new ElfError(E_BAD_ELF, `the object has no section ${sectionName}${list ? ` (its code sections are: ${list})` : ''}`, { section: sectionName });
  }
  if (section.type !== SectionType.PROGBITS) {
    throw new ElfError(E_BAD_ELF, `section ${sectionName} has type ${section.type}, not PROGBITS, so it holds no instructions`, { section: sectionName });
  }
  const symbol = findSymbol(elf, section, symbolName);
  const where = { section: sectionName, program: symbolName, offset: symbol.value };
  if (symbol.value % 8 !== 0 || symbol.size % 8 !== 0) {
    throw new ElfError(E_BAD_ELF, `function ${symbolName} (${symbol.size} bytes at offset 0x${symbol.value.toString(16)}) is not aligned to 8-byte instructions`, where);
  }
  const start = symbol.value;
  let end = symbol.size === 0 ? section.size : start + symbol.size;
  if (end > section.size) {
    throw new ElfError(E_BAD_ELF, `function ${symbolName} (${end - start} bytes at offset 0x${start.toString(16)}) extends past the end of the ${section.size}-byte section ${sectionName}`, where);
  }
  if (end <= start) {
    throw new ElfError(E_BAD_ELF, `function ${symbolName} is empty: it starts at the end of ${sectionName}`, where);
  }
  if ((end - start) % 8 !== 0) {
    throw new ElfError(E_BAD_ELF, `function ${symbolName} is ${end - start} bytes long, not a whole number of 8-byte instructions`, where);
  }

  const data = section.data();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  // Static calls to functions placed after this one: keep everything up to the section end.
  const outside = findOutsideCall(view, elf.littleEndian, start, end);
  if (outside !== undefined && outside.target >= end / 8 && end < section.size) {
    end = section.size - ((section.size - start) % 8);
  }
  const stillOutside = findOutsideCall(view, elf.littleEndian, start, end);
  if (stillOutside !== undefined) {
    throw new ElfError(
      ErrorCode.Unsupported,
      `${symbolName} calls the code at instruction ${stillOutside.target} of ${sectionName}, outside the extracted range ` +
        `(instructions ${start / 8} to ${end / 8 - 1}); linking functions placed before the entry point is not supported`,
      { section: sectionName, program: symbolName, insn: stillOutside.pc, offset: stillOutside.pc * 8 },
    );
  }
  const relocations = (elf.relocations.get(section.index) ?? []).filter((r) => r.offset >= start && r.offset < end);
  return { section, symbol, start, end, relocations };
}

/**
 * Returns a copy of the instruction bytes of one function (default: `.text` / `main`), in the
 * little-endian instruction encoding (big-endian objects are converted), ready for `compile`.
 *
 * @throws ElfError `E_BAD_ELF` for a missing section or symbol, `E_UNSUPPORTED` for code that
 *   needs relocations or linking (see {@link ExtractOptions.relocations}).
 */
export function extractProgram(elf: ElfFile, options: ExtractOptions = {}): Uint8Array {
  const loc = locateProgram(elf, options);
  const name = loc.symbol.name;
  if ((options.relocations ?? 'reject') === 'reject' && loc.relocations.length > 0) {
    const r = loc.relocations[0]!;
    const target = r.symbol.name || `symbol ${r.symbolIndex}`;
    throw new ElfError(
      ErrorCode.Unsupported,
      `${name} needs a relocation (${relocationTypeName(r.type)} against ${target}) at instruction ${Math.floor(r.offset / 8)} of ${loc.section.name}; ` +
        'maps, global variables and calls to non-static functions need a loader, which is not supported here',
      { section: loc.section.name, program: name, insn: Math.floor(r.offset / 8), offset: r.offset },
    );
  }
  const out = loc.section.data().slice(loc.start, loc.end);
  if (!elf.littleEndian) swapInstructions(out);
  return out;
}

/**
 * Converts instructions between the big-endian and little-endian encodings, in place: per 8-byte
 * slot, swaps the register nibbles, the 16-bit offset and the 32-bit immediate. The conversion is
 * its own inverse.
 */
export function swapInstructions(bytes: Uint8Array): void {
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    const regs = bytes[i + 1]!;
    bytes[i + 1] = ((regs & 0x0f) << 4) | (regs >> 4);
    swap(bytes, i + 2, i + 3);
    swap(bytes, i + 4, i + 7);
    swap(bytes, i + 5, i + 6);
  }
}

function swap(b: Uint8Array, i: number, j: number): void {
  const t = b[i]!;
  b[i] = b[j]!;
  b[j] = t;
}

function findSymbol(elf: ElfFile, section: ElfSection, name: string): ElfSymbol {
  const inSection = elf.symbols.filter((s) => s.name === name && s.sectionIndex === section.index && s.type !== SymbolType.SECTION);
  const symbol = inSection.find((s) => s.type === SymbolType.FUNC) ?? inSection[0];
  if (symbol) return symbol;
  const elsewhere = elf.symbols.find((s) => s.name === name && s.sectionIndex !== SHN.UNDEF);
  const functions = elf.symbolsInSection(section.index).filter((s) => s.type === SymbolType.FUNC).map((s) => s.name);
  let detail = `there is no symbol ${name} in section ${section.name}`;
  if (elsewhere) {
    const home = elf.sections[elsewhere.sectionIndex];
    detail += ` (${name} is defined in ${home ? `section ${home.name}` : `special section 0x${elsewhere.sectionIndex.toString(16)}`})`;
  } else if (functions.length > 0) {
    detail += ` (its functions are: ${functions.join(', ')})`;
  }
  throw new ElfError(E_BAD_ELF, detail, { section: section.name, program: name });
}

/** The first local call in [start, end) whose target lies outside it (slot indices are section-relative). */
function findOutsideCall(view: DataView, le: boolean, start: number, end: number): { pc: number; target: number } | undefined {
  for (let off = start; off + 8 <= end; off += 8) {
    const opcode = view.getUint8(off);
    if (opcode === OP_LDDW) {
      off += 8;
      continue;
    }
    if (opcode !== OP_CALL) continue;
    const regs = view.getUint8(off + 1);
    const src = le ? regs >> 4 : regs & 0x0f;
    if (src !== CALL_SRC_LOCAL) continue;
    const pc = off / 8;
    const imm = view.getInt32(off + 4, le);
    const target = pc + 1 + imm;
    if (target < start / 8 || target >= end / 8) return { pc, target };
  }
  return undefined;
}
