import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/thrown.js';
import { ErrorCode } from '../../runtime/errors.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import {
  E_BAD_ELF, EM_BPF, ElfError, ElfType, RelocType, SectionFlags, SectionType, SHN, SymbolBind, SymbolType,
  parseElf, relocationTypeName, type ElfFile,
} from '../elf/elf64.js';
import { extractProgram, locateProgram, swapInstructions } from '../elf/extract.js';
import { buildElf, relBytes, runnerStyleObject, StrTab, symtabBytes, type SymSpec } from '../../test/support/elf-writer.js';
import { elfFixture } from '../../test/support/fixtures.js';
import { slotBytes } from '../../test/support/slots.js';

const fixture = elfFixture;

const FIXTURES = ['sum.o', 'sum.be.o', 'helper.o', 'globals.o', 'xdp_map.o'];

const insn = slotBytes;
const MOV_R0_42 = insn(0xb7, 0x00, 0, 42);
const EXIT = insn(0x95, 0, 0, 0);

/** Expects `fn` to throw an ElfError with `code`, a one-line message and a location. */
function expectElfError(fn: () => unknown, code: string = E_BAD_ELF): ElfError {
  const err = thrownBy(fn, ElfError);
  expect(err.code).toBe(code);
  expect(err.message).not.toContain('\n');
  expect(err.location.section).toBeTypeOf('string');
  return err;
}

function patch(bytes: Uint8Array, at: number, value: number | bigint, width: 1 | 2 | 4 | 8): Uint8Array {
  const copy = bytes.slice();
  const v = new DataView(copy.buffer);
  if (width === 1) v.setUint8(at, Number(value));
  else if (width === 2) v.setUint16(at, Number(value), true);
  else if (width === 4) v.setUint32(at, Number(value), true);
  else v.setBigUint64(at, BigInt(value), true);
  return copy;
}

/** File offset of a field of section `index`'s header. */
function shdr(elf: ElfFile, index: number, field: number): number {
  const shoff = Number(new DataView(elf.bytes.buffer, elf.bytes.byteOffset).getBigUint64(40, true));
  return shoff + index * 64 + field;
}

// ---------------------------------------------------------------------------------------------

describe('parseElf on clang objects', () => {
  it('parses sum.o: header, sections, symbols', () => {
    const elf = parseElf(fixture('sum.o'));
    expect(elf.littleEndian).toBe(true);
    expect(elf.type).toBe(ElfType.REL);
    expect(elf.machine).toBe(EM_BPF);
    expect(elf.sections[0]!.type).toBe(SectionType.NULL);
    const text = elf.sectionByName('.text')!;
    expect(text.type).toBe(SectionType.PROGBITS);
    expect(text.flags & (SectionFlags.ALLOC | SectionFlags.EXECINSTR)).toBe(6);
    expect(text.size).toBe(160);
    expect(text.data().length).toBe(160);
    expect(text.data()[0]).toBe(0xb7);
    for (const name of ['.strtab', '.symtab', '.BTF', '.BTF.ext', '.rel.BTF.ext', '.debug_info']) {
      expect(elf.sectionByName(name), name).toBeDefined();
    }
    expect(elf.sectionByName('.nope')).toBeUndefined();
    elf.sections.forEach((s, i) => expect(s.index).toBe(i));

    const main = elf.symbolByName('main')!;
    expect(main).toMatchObject({ value: 0, size: 128, type: SymbolType.FUNC, bind: SymbolBind.GLOBAL, sectionIndex: text.index });
    const callee = elf.symbolByName('twice_plus_one')!;
    expect(callee).toMatchObject({ value: 128, size: 32, type: SymbolType.FUNC, bind: SymbolBind.LOCAL });
    expect(elf.symbols[0]).toMatchObject({ index: 0, name: '', sectionIndex: SHN.UNDEF });
    expect(elf.symbols.find((s) => s.type === SymbolType.FILE)?.sectionIndex).toBe(SHN.ABS);
    expect(elf.symbolTables.size).toBe(1);
    expect(elf.symbolsInSection(text.index).map((s) => s.name)).toEqual(expect.arrayContaining(['main', 'twice_plus_one', '.text']));
  });

  it('parses the relocations of sum.o (none for .text, NODYLD32 for .BTF.ext)', () => {
    const elf = parseElf(fixture('sum.o'));
    const text = elf.sectionByName('.text')!;
    expect(elf.relocations.has(text.index)).toBe(false);
    const btfExt = elf.sectionByName('.BTF.ext')!;
    const rels = elf.relocations.get(btfExt.index)!;
    expect(rels.length).toBeGreaterThan(5);
    for (const r of rels) {
      expect(r.type).toBe(RelocType.R_BPF_64_NODYLD32);
      expect(r.symbol.name).toBe('.text');
      expect(r.symbol.type).toBe(SymbolType.SECTION);
      expect(r.addend).toBeUndefined();
      expect(elf.sections[r.relocationSection]!.name).toBe('.rel.BTF.ext');
    }
    const sorted = rels.map((r) => r.offset);
    expect(sorted).toEqual([...sorted].sort((a, b) => a - b));
  });

  it('parses globals.o: .rel.text, .bss (NOBITS) and .rodata', () => {
    const elf = parseElf(fixture('globals.o'));
    const text = elf.sectionByName('.text')!;
    const rels = elf.relocations.get(text.index)!;
    expect(rels.map((r) => [r.offset, relocationTypeName(r.type), r.symbol.name])).toEqual([
      [0x28, 'R_BPF_64_64', 'counter'],
      [0x58, 'R_BPF_64_32', 'times_three'],
      [0x90, 'R_BPF_64_64', 'table'],
    ]);
    const bss = elf.sectionByName('.bss')!;
    expect(bss.type).toBe(SectionType.NOBITS);
    expect(bss.size).toBe(4);
    expect(bss.data().length).toBe(0);
    expect(elf.symbolByName('counter')).toMatchObject({ type: SymbolType.OBJECT, sectionIndex: bss.index, size: 4 });
    const rodata = elf.sectionByName('.rodata')!;
    expect(Array.from(new Uint32Array(rodata.data().slice().buffer))).toEqual([1, 2, 3, 4]);
    expect(elf.symbolByName('table')!.sectionIndex).toBe(rodata.index);
  });

  it('parses xdp_map.o: program section, .relxdp, .maps and license', () => {
    const elf = parseElf(fixture('xdp_map.o'));
    const xdp = elf.sectionByName('xdp')!;
    expect(elf.sectionByName('.text')!.size).toBe(0);
    expect(elf.sections[elf.sectionByName('.relxdp')!.index]!.info).toBe(xdp.index);
    const rels = elf.relocations.get(xdp.index)!;
    expect(rels).toHaveLength(1);
    expect(rels[0]).toMatchObject({ offset: 0x28, type: RelocType.R_BPF_64_64 });
    expect(rels[0]!.symbol.name).toBe('counts');
    expect(rels[0]!.symbol.sectionIndex).toBe(elf.sectionByName('.maps')!.index);
    expect(new TextDecoder().decode(elf.sectionByName('license')!.data())).toBe('GPL\0');
    expect(elf.symbolByName('count_packets')).toMatchObject({ sectionIndex: xdp.index, size: 104, type: SymbolType.FUNC });
  });

  it('parses the big-endian sum.be.o like sum.o', () => {
    const le = parseElf(fixture('sum.o'));
    const be = parseElf(fixture('sum.be.o'));
    expect(be.littleEndian).toBe(false);
    expect(be.sections.map((s) => [s.name, s.type, s.size])).toEqual(le.sections.map((s) => [s.name, s.type, s.size]));
    expect(be.symbols.map((s) => [s.name, s.value, s.size, s.type, s.bind])).toEqual(
      le.symbols.map((s) => [s.name, s.value, s.size, s.type, s.bind]),
    );
    const rels = (f: typeof le) => [...f.relocations].map(([at, list]) => [at, list.map((r) => [r.offset, r.symbolIndex, r.symbol.name, r.type])]);
    expect(rels(be)).toEqual(rels(le));
    expect(rels(le).length).toBeGreaterThan(0);
  });

  it('accepts a view into a larger buffer', () => {
    const raw = fixture('helper.o');
    const big = new Uint8Array(raw.length + 100);
    big.set(raw, 37);
    const elf = parseElf(big.subarray(37, 37 + raw.length));
    expect(elf.sectionByName('.text')!.data()).toEqual(parseElf(raw).sectionByName('.text')!.data());
  });

  it('parses the object bpf_conformance_runner writes (symbol names in .shstrtab)', () => {
    const elf = parseElf(runnerStyleObject([...MOV_R0_42, ...EXIT]));
    expect(elf.symbolByName('main')).toMatchObject({ value: 0, size: 16, sectionIndex: 3 });
    expect(extractProgram(elf)).toEqual(Uint8Array.from([...MOV_R0_42, ...EXIT]));
  });

  it('supports extended section numbering (e_shnum = 0, count in section 0)', () => {
    const bytes = fixture('helper.o');
    const elf = parseElf(bytes);
    const n = elf.sections.length;
    let forged = patch(bytes, 60, 0, 2);
    forged = patch(forged, shdr(elf, 0, 32), n, 8);
    expect(parseElf(forged).sections.length).toBe(n);
    expectElfError(() => parseElf(patch(forged, shdr(elf, 0, 32), 2n ** 40n, 8)));
  });
});

describe('extractProgram', () => {
  it('extracts .text/main of sum.o, keeping the static callee placed after it', () => {
    const elf = parseElf(fixture('sum.o'));
    const loc = locateProgram(elf);
    expect([loc.start, loc.end]).toEqual([0, 160]);
    const bytes = extractProgram(elf);
    expect(bytes).toEqual(elf.sectionByName('.text')!.data());
    expect(bytes.buffer).not.toBe(elf.bytes.buffer); // a copy
    expect(decodeProgram(bytes).insns.length).toBeGreaterThan(0);
  });

  it('converts big-endian instructions to the little-endian encoding', () => {
    const le = extractProgram(parseElf(fixture('sum.o')));
    const be = extractProgram(parseElf(fixture('sum.be.o')));
    expect(be).toEqual(le);
    const twice = le.slice();
    swapInstructions(twice);
    swapInstructions(twice);
    expect(twice).toEqual(le);
  });

  it('extracts exactly the symbol when it makes no outside calls', () => {
    const bytes = extractProgram(parseElf(fixture('helper.o')));
    expect(bytes.length).toBe(32);
    expect(bytes[8]).toBe(0x85); // call 5
  });

  it('takes the rest of the section when the symbol has size 0', () => {
    const names = new StrTab();
    const entry = names.add('entry');
    const code = [...MOV_R0_42, ...MOV_R0_42, ...EXIT];
    const bytes = buildElf(
      [
        { name: '.strtab', type: SectionType.STRTAB },
        { name: '.text', type: SectionType.PROGBITS, flags: 6, data: Uint8Array.from(code) },
        {
          name: '.symtab', type: SectionType.SYMTAB, link: '.strtab', entsize: 24,
          data: symtabBytes([
            { name: 0, value: 0, size: 0, type: 0, bind: 0, shndx: 0 },
            { name: entry, value: 8, size: 0, type: SymbolType.FUNC, bind: SymbolBind.GLOBAL, shndx: 2 },
          ]),
        },
      ],
      '.strtab',
      names,
    );
    expect(extractProgram(parseElf(bytes), { symbol: 'entry' })).toEqual(Uint8Array.from(code.slice(8)));
  });

  it('reads names from string tables that are not all ASCII as UTF-8, invalid bytes replaced', () => {
    // Names are UTF-8; an invalid byte reads as U+FFFD.
    const names = new StrTab();
    const entry = names.add('entr\u00e9e');
    const other = names.add('zzz');
    const code = [...MOV_R0_42, ...EXIT];
    const bytes = buildElf(
      [
        { name: '.strtab', type: SectionType.STRTAB },
        { name: 'sec\u00e7\u00e3o', type: SectionType.PROGBITS, flags: 6, data: Uint8Array.from(code) },
        {
          name: '.symtab', type: SectionType.SYMTAB, link: '.strtab', entsize: 24,
          data: symtabBytes([
            { name: 0, value: 0, size: 0, type: 0, bind: 0, shndx: 0 },
            { name: entry, value: 0, size: 16, type: SymbolType.FUNC, bind: SymbolBind.GLOBAL, shndx: 2 },
            { name: other, value: 0, size: 0, type: SymbolType.NOTYPE, bind: SymbolBind.GLOBAL, shndx: 2 },
          ]),
        },
      ],
      '.strtab',
      names,
    );
    const elf = parseElf(bytes);
    const strtab = elf.sectionByName('.strtab')!;
    // A lone 0xff (invalid UTF-8) in the middle of the second symbol's name.
    const patched = patch(bytes, strtab.offset + other + 1, 0xff, 1);
    const again = parseElf(patched);
    expect(again.sections.map((x) => x.name)).toEqual(['', '.strtab', 'sec\u00e7\u00e3o', '.symtab']);
    expect(again.symbols.map((x) => x.name)).toEqual(['', 'entr\u00e9e', 'z\ufffdz']);
    expect(elf.symbols.map((x) => x.name)).toEqual(['', 'entr\u00e9e', 'zzz']);
  });

  it('reads the names of all-ASCII string tables, including a lone 0x7f', () => {
    const names = new StrTab();
    const entry = names.add('main\u007f');
    const bytes = buildElf(
      [
        { name: '.strtab', type: SectionType.STRTAB },
        { name: '.text', type: SectionType.PROGBITS, flags: 6, data: Uint8Array.from([...MOV_R0_42, ...EXIT]) },
        {
          name: '.symtab', type: SectionType.SYMTAB, link: '.strtab', entsize: 24,
          data: symtabBytes([
            { name: 0, value: 0, size: 0, type: 0, bind: 0, shndx: 0 },
            { name: entry, value: 0, size: 16, type: SymbolType.FUNC, bind: SymbolBind.GLOBAL, shndx: 2 },
          ]),
        },
      ],
      '.strtab',
      names,
    );
    expect(parseElf(bytes).symbols.map((x) => x.name)).toEqual(['', 'main\u007f']);
  });

  it('rejects relocations by default and ignores them on request', () => {
    const elf = parseElf(fixture('globals.o'));
    const err = expectElfError(() => extractProgram(elf), ErrorCode.Unsupported);
    expect(err.detail).toContain('R_BPF_64_64 against counter');
    expect(err.location).toMatchObject({ section: '.text', program: 'main', insn: 5 });
    const loc = locateProgram(elf);
    expect([loc.start, loc.end]).toEqual([0x18, 0xe8]);
    expect(loc.relocations.map((r) => r.symbol.name)).toEqual(['counter', 'times_three', 'table']);
    expect(extractProgram(elf, { relocations: 'ignore' }).length).toBe(0xe8 - 0x18);

    const xdp = parseElf(fixture('xdp_map.o'));
    expectElfError(() => extractProgram(xdp, { section: 'xdp', symbol: 'count_packets' }), ErrorCode.Unsupported);
    expect(extractProgram(xdp, { section: 'xdp', symbol: 'count_packets', relocations: 'ignore' }).length).toBe(104);
  });

  it('rejects a call to code placed before the entry point', () => {
    const names = new StrTab();
    const main = names.add('main');
    const code = [...MOV_R0_42, ...EXIT, ...insn(0x85, 0x10, 0, -3), ...EXIT];
    const bytes = buildElf(
      [
        { name: '.strtab', type: SectionType.STRTAB },
        { name: '.text', type: SectionType.PROGBITS, flags: 6, data: Uint8Array.from(code) },
        {
          name: '.symtab', type: SectionType.SYMTAB, link: '.strtab', entsize: 24,
          data: symtabBytes([
            { name: 0, value: 0, size: 0, type: 0, bind: 0, shndx: 0 },
            { name: main, value: 16, size: 16, type: SymbolType.FUNC, bind: SymbolBind.GLOBAL, shndx: 2 },
          ]),
        },
      ],
      '.strtab',
      names,
    );
    const err = expectElfError(() => extractProgram(parseElf(bytes)), ErrorCode.Unsupported);
    expect(err.location.insn).toBe(2);
  });

  it('reports a missing section or symbol with E_BAD_ELF', () => {
    const elf = parseElf(fixture('xdp_map.o'));
    expect(expectElfError(() => extractProgram(elf, { section: '.nope' })).detail).toContain('xdp');
    expect(expectElfError(() => extractProgram(elf)).detail).toContain('no symbol main in section .text');
    expect(expectElfError(() => extractProgram(elf, { symbol: 'counts' })).detail).toContain('.maps');
    expect(expectElfError(() => extractProgram(elf, { section: 'xdp', symbol: 'main' })).detail).toContain('count_packets');
    expectElfError(() => extractProgram(elf, { section: '.symtab', symbol: 'main' }));
  });
});

describe('parseElf on malformed input', () => {
  it('rejects non-ELF and empty input', () => {
    expectElfError(() => parseElf(new Uint8Array(0)));
    expect(expectElfError(() => parseElf(new TextEncoder().encode('#!/bin/sh\necho hi\n'))).detail).toContain('not an ELF file');
    expect(expectElfError(() => parseElf(Uint8Array.from([0x7f, 0x45]))).detail).toContain('truncated');
  });

  for (const name of ['helper.o', 'sum.o']) {
    it(`rejects every truncation of ${name}`, () => {
      const bytes = fixture(name);
      for (let n = 0; n < bytes.length; n++) {
        expectElfError(() => parseElf(bytes.subarray(0, n)));
      }
    });
  }

  it('rejects bad header fields with clear messages', () => {
    const bytes = fixture('helper.o');
    const cases: [number, number | bigint, 1 | 2 | 4 | 8, string][] = [
      [0, 0x7e, 1, 'not an ELF file'],
      [3, 0x47, 1, 'not an ELF file'],
      [4, 1, 1, '32-bit'],
      [4, 3, 1, 'invalid ELF class'],
      [5, 0, 1, 'data encoding'],
      [5, 3, 1, 'data encoding'],
      [6, 2, 1, 'version'],
      [18, 62, 2, 'x86-64'],
      [18, 0x1234, 2, 'not eBPF'],
      [20, 2, 4, 'e_version'],
      [52, 52, 2, 'e_ehsize'],
      [58, 40, 2, 'e_shentsize'],
      [60, 0xffff, 2, 'section header table'],
      [40, 2n ** 40n, 8, 'past the end'],
      [40, 2n ** 63n, 8, 'far larger'],
      // The limit is 2^53 - 1 (the largest exact JS integer).
      [40, 2n ** 53n, 8, 'is 0x20000000000000, far larger'],
      [40, 2n ** 53n - 1n, 8, 'past the end'],
      [40, 2n ** 32n + 0x40n, 8, 'past the end'],
      [40, 8, 8, 'overlaps the ELF header'],
      [40, 0, 8, 'no section header table'],
      [62, 0xfff0, 2, 'e_shstrndx'],
      [56, 3, 2, 'e_phentsize'],
    ];
    for (const [at, value, width, text] of cases) {
      const err = expectElfError(() => parseElf(patch(bytes, at, value, width)));
      expect(err.detail, `${at}=${value}`).toContain(text);
      expect(err.location.section).toMatch(/^<.*>$/);
    }
    // e_shstrndx pointing at a section that is not a string table.
    const elf = parseElf(bytes);
    const symtab = elf.sectionByName('.symtab')!.index;
    expect(expectElfError(() => parseElf(patch(bytes, 62, symtab, 2))).detail).toContain('not a string table');
    // Program headers past the end.
    let ph = patch(bytes, 56, 3, 2);
    ph = patch(ph, 54, 56, 2);
    ph = patch(ph, 32, bytes.length - 10, 8);
    const phErr = expectElfError(() => parseElf(ph));
    expect(phErr.detail).toContain('program header table');
    expect(phErr.location).toEqual({ section: '<ELF header>', offset: 32 });
  });

  it('rejects forged section headers', () => {
    const bytes = fixture('globals.o');
    const elf = parseElf(bytes);
    const idx = (n: string) => elf.sectionByName(n)!.index;
    const text = idx('.text');
    const symtab = idx('.symtab');
    const strtab = idx('.strtab');
    const reltext = idx('.rel.text');
    const cases: [number, number, number | bigint, 4 | 8, string][] = [
      [text, 24, bytes.length + 8, 8, 'past the end'],
      [text, 32, 2n ** 40n, 8, 'past the end'],
      [text, 32, 2n ** 62n, 8, 'far larger'],
      [text, 24, 0, 8, 'overlap the ELF header'],
      [text, 24, shdr(elf, 0, 0), 8, 'overlap the section header table'],
      [symtab, 56, 0, 8, 'entry size'],
      [symtab, 56, 23, 8, 'entry size'],
      [symtab, 32, elf.sections[symtab]!.size - 5, 8, 'not a multiple'],
      [symtab, 40, 9999, 4, 'link'],
      [symtab, 40, text, 4, 'link'],
      [symtab, 40, 0, 4, 'link'],
      [reltext, 40, strtab, 4, 'symbol table'],
      [reltext, 44, 9999, 4, 'relocates section'],
      [reltext, 44, reltext, 4, 'itself'],
      [reltext, 56, 24, 8, 'entry size'],
      [text, 0, 0xffffff, 4, 'past the end'],
    ];
    for (const [section, field, value, width, text2] of cases) {
      const err = expectElfError(() => parseElf(patch(bytes, shdr(elf, section, field), value, width)));
      expect(err.detail, `section ${section} field ${field}`).toContain(text2);
      expect(err.fileOffset).toBeTypeOf('number');
    }
  });

  it('rejects forged symbols, strings and relocations', () => {
    const bytes = fixture('globals.o');
    const elf = parseElf(bytes);
    const symtab = elf.sectionByName('.symtab')!;
    const strtab = elf.sectionByName('.strtab')!;
    const main = elf.symbolByName('main')!;
    const sym = symtab.offset + main.index * 24;
    const name = (e: ElfError) => e.location.section;

    let err = expectElfError(() => parseElf(patch(bytes, sym, strtab.size + 3, 4)));
    expect(err.detail).toContain('past the end');
    expect(name(err)).toBe('.strtab');
    expect(expectElfError(() => parseElf(patch(bytes, sym + 6, 0xfe00, 2))).detail).toContain('only');
    expect(expectElfError(() => parseElf(patch(bytes, sym + 6, SHN.XINDEX, 2))).detail).toContain('SHT_SYMTAB_SHNDX');
    err = expectElfError(() => parseElf(patch(bytes, sym + 8, 0x10000, 8)));
    expect(err.detail).toContain('extends past the end');
    expect(name(err)).toBe('.symtab');
    expect(err.location.offset).toBe(main.index * 24 + 8);
    expectElfError(() => parseElf(patch(bytes, sym + 16, 2n ** 52n, 8)));

    // A string table whose last string loses its terminator.
    const unterminated = patch(bytes, strtab.offset + strtab.size - 1, 0x41, 1);
    expect(expectElfError(() => parseElf(unterminated)).detail).toContain('not NUL-terminated');

    const rel = elf.sectionByName('.rel.text')!;
    expect(expectElfError(() => parseElf(patch(bytes, rel.offset + 8 + 4, 5000, 4))).detail).toContain('refers to symbol 5000');
    expect(expectElfError(() => parseElf(patch(bytes, rel.offset, 0xe0, 8))).detail).toContain('past the end');
    expect(expectElfError(() => parseElf(patch(bytes, rel.offset, 2n ** 60n, 8))).detail).toContain('far larger');
  });

  it('bounds the work on many overlapping, long names', () => {
    const names = new StrTab();
    names.add('x'.repeat(200_000));
    const count = 5000;
    const syms: SymSpec[] = [];
    for (let i = 0; i < count; i++) syms.push({ name: 1 + i, value: 0, size: 0, type: 0, bind: 1, shndx: 0 });
    const bytes = buildElf(
      [
        { name: '.strtab', type: SectionType.STRTAB },
        { name: '.symtab', type: SectionType.SYMTAB, link: '.strtab', entsize: 24, data: symtabBytes(syms) },
      ],
      '.strtab',
      names,
    );
    const t0 = performance.now();
    expect(expectElfError(() => parseElf(bytes)).detail).toContain('too many long, overlapping names');
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('throws only ElfError for random mutations of the fixtures (property)', () => {
    const inputs = FIXTURES.map((n) => fixture(n));
    const headerSpans = inputs.map((b) => {
      const le = b[5] === 1;
      const shoff = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(40, le));
      return { b, shoff, le };
    });
    const interesting = [0n, 1n, 2n, 3n, 0xffn, 0xffffn, 0xffff_ffffn, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
    const mutation = fc.oneof(
      // a random byte anywhere
      fc.record({ kind: fc.constant('byte' as const), pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      // an interesting 64-bit value in the ELF header or the section header table
      fc.record({ kind: fc.constant('header' as const), pos: fc.nat(), value: fc.constantFrom(...interesting) }),
      // a truncation
      fc.record({ kind: fc.constant('cut' as const), pos: fc.nat(), value: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.nat({ max: inputs.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (which, muts) => {
        const { b, shoff, le } = headerSpans[which]!;
        let bytes = b.slice();
        for (const m of muts) {
          if (m.kind === 'byte') {
            bytes[m.pos % bytes.length] = m.value;
          } else if (m.kind === 'header') {
            const span = 64 + (bytes.length - shoff);
            let at = m.pos % span;
            at = at < 64 ? at & ~3 : shoff + ((at - 64) & ~3);
            const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
            if (at + 8 <= bytes.length) v.setBigUint64(at, m.value, le);
          } else {
            bytes = bytes.slice(0, m.pos % (bytes.length + 1));
          }
        }
        let elf: ElfFile;
        try {
          elf = parseElf(bytes);
        } catch (e) {
          if (!(e instanceof ElfError)) throw e;
          expect(e.message).not.toContain('\n');
          return;
        }
        for (const s of elf.sections) s.data();
        for (const section of ['.text', 'xdp']) {
          for (const symbol of ['main', 'count_packets']) {
            try {
              extractProgram(elf, { section, symbol, relocations: 'ignore' });
            } catch (e) {
              if (!(e instanceof ElfError)) throw e;
            }
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
