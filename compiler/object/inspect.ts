/**
 * `bpf2wasm inspect`: what an eBPF object holds, as a JSON-serialisable report and as text in
 * the spirit of `bpftool prog show` / `bpftool map show` and `readelf -S -r`.
 *
 * The report covers the programs (as the loader links them), the maps (user maps, then the
 * internal maps holding data sections, with their BTF key and value types and variables), the
 * ELF sections, the relocations a loader applies (those of code sections and of `.maps`/`maps`;
 * the DWARF and BTF ones only matter to debuggers), a summary of the BTF, and the license.
 */
import { BtfKind, btfKindName, type Btf } from '../btf/types.js';
import { type MapDef } from '../elf/map-defs.js';
import { mapTypeName } from '../../runtime/uapi/index.js';
import { isStringSectionName, loadObjectSpec, sectionStrings, type MapSpec, type ObjectSpec, type SectionString } from '../elf/loader.js';
import {
  parseElf, relocationTypeName, RelocType, SectionFlags, SectionType, SHN, SymbolType, type ElfFile, type ElfRelocation,
  type ElfSection,
} from '../elf/elf64.js';

/** One function of a linked program. */
export interface InspectFunction {
  readonly name: string;
  /** The section its code comes from (`.text` for subprograms). */
  readonly section: string;
  /** First instruction slot in the linked program. */
  readonly pc: number;
  /** Number of instruction slots. */
  readonly length: number;
}

export interface InspectProgram {
  readonly name: string;
  readonly section: string;
  /** Program type from the section name (`xdp`, `kprobe`, ..., `unknown`). */
  readonly type: string;
  /** Instruction slots of the linked program (subprograms included; lddw counts 2). */
  readonly insns: number;
  readonly functions: readonly InspectFunction[];
}

export interface InspectSection {
  readonly index: number;
  readonly name: string;
  /** `PROGBITS`, `NOBITS`, `REL`, ... (`0x…` for types without a name). */
  readonly type: string;
  readonly size: number;
  /** readelf's flag letters: W (write), A (alloc), X (execute), M (merge), S (strings), I (info link), E (exclude). */
  readonly flags: string;
}

export interface InspectVariable {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  /** C spelling of its type (`struct config`, `const volatile __u32`). */
  readonly type: string;
}

export interface InspectMap {
  /** Position in the object's map list (what `lddw src_reg=1/2` refers to); -1 for inner maps. */
  readonly index: number;
  readonly name: string;
  /** `enum bpf_map_type`. */
  readonly type: number;
  /** `BPF_MAP_TYPE_HASH` (or `map type N`). */
  readonly typeName: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly pinning: number;
  readonly numaNode: number;
  readonly mapExtra: number;
  /** C spelling of the key type, when BTF gives one. */
  readonly keyType?: string;
  /** C spelling of the value type, when BTF gives one (`section .data` for data sections). */
  readonly valueType?: string;
  /** True for the maps backing data sections. */
  readonly internal: boolean;
  /** Internal maps: read-only to programs (`.rodata*`). */
  readonly readonly?: boolean;
  /** Internal maps: the section's variables. */
  readonly variables?: readonly InspectVariable[];
  /** Internal maps of string sections (`.rodata.str1.1`): the strings, with their offsets. */
  readonly strings?: readonly SectionString[];
  /** Maps of maps: the inner map's definition. */
  readonly innerMap?: InspectMap;
  /** Prog arrays and maps of maps: slots filled by the static initializer. */
  readonly initialValues?: readonly { readonly index: number; readonly symbol: string }[];
}

export interface InspectBtf {
  /** Number of types (void excluded). */
  readonly types: number;
  /** Types per kind name (`struct`, `int`, ...), kinds that occur only, in kind order. */
  readonly kinds: Readonly<Record<string, number>>;
  /** True when the object has `.BTF.ext`. */
  readonly ext: boolean;
  /** Records of `.BTF.ext`, summed over sections. */
  readonly funcInfo: number;
  readonly lineInfo: number;
  readonly coreRelos: number;
}

export interface InspectRelocation {
  /** The section patched. */
  readonly section: string;
  /** Byte offset in that section. */
  readonly offset: number;
  /** `R_BPF_64_64`, `R_BPF_64_32`, ... */
  readonly type: string;
  /** The symbol's name (a section symbol's is its section's). */
  readonly symbol: string;
  /**
   * What it resolves to: `map NAME`, `function NAME`, `SECTION+0xOFF` (with the variable or the
   * string literal there, when known), `extern NAME`.
   */
  readonly target: string;
}

/** A CO-RE relocation as the loader applied it against the runtime's context BTF. */
export interface InspectCoreRelo {
  /** The code section and the instruction slot in it. */
  readonly section: string;
  readonly insn: number;
  /** `byte_off`, `field_exists`, `enumval_value`, ... */
  readonly kind: string;
  readonly access: string;
  /** What it refers to: `struct __sk_buff___local.mark`. */
  readonly what: string;
  /** The value clang put there and the one it got (decimal strings: values are 64-bit). */
  readonly from: string;
  readonly to?: string;
  /** Why the instruction was poisoned, when it was. */
  readonly poisoned?: string;
}

/** Everything `bpf2wasm inspect` shows. Plain data: `JSON.stringify` gives the `--json` output. */
export interface InspectReport {
  readonly programs: readonly InspectProgram[];
  readonly maps: readonly InspectMap[];
  readonly sections: readonly InspectSection[];
  readonly relocations: readonly InspectRelocation[];
  /** CO-RE relocations applied (by section, then instruction); empty without any. */
  readonly coreRelocations: readonly InspectCoreRelo[];
  /** Absent when the object has no `.BTF`. */
  readonly btf?: InspectBtf;
  /** The `license` section's string (`''` when there is none). */
  readonly license: string;
}

/**
 * Inspects an eBPF ELF object.
 *
 * @throws ElfError `E_BAD_ELF` for a malformed object, `E_UNSUPPORTED` for what the loader does
 *   not handle (externs, kfunc calls), as {@link loadObjectSpec} reports them.
 */
export function inspectObject(bytes: Uint8Array): InspectReport {
  const elf = parseElf(bytes);
  const spec = loadObjectSpec(bytes);
  const btf = spec.btf;
  const report: InspectReport = {
    programs: spec.programs.map((p) => ({
      name: p.name, section: p.section, type: p.type, insns: p.insns.length / 8,
      functions: p.functions.map((f) => ({ name: f.name, section: f.section, pc: f.pc, length: f.length })),
    })),
    maps: spec.maps.map((m) => inspectMap(m, btf)),
    sections: elf.sections.slice(1).map((s) => ({
      index: s.index, name: s.name, type: sectionTypeName(s.type), size: s.size, flags: sectionFlagLetters(s.flags),
    })),
    relocations: loaderRelocations(elf, spec),
    coreRelocations: coreRelocations(spec),
    ...(btf ? { btf: btfSummary(spec) } : {}),
    license: spec.license,
  };
  return report;
}

/**
 * The C spelling of a BTF type: `__u32`, `struct data_t`, `char[16]`, `const volatile __u32`,
 * `struct task_struct *`; anonymous structs, unions and enums are `struct {...}`.
 */
export function cTypeName(btf: Btf, id: number): string {
  return btf.describe(id).replace(/ <anon>/g, ' {...}');
}

function inspectMap(m: MapDef & Partial<Pick<MapSpec, 'index' | 'internal' | 'readonly' | 'variables' | 'initialData'>>, btf: Btf | undefined): InspectMap {
  const typeOf = (id: number | undefined) => (id !== undefined && btf ? cTypeName(btf, id) : undefined);
  const keyType = typeOf(m.keyTypeId);
  const valueType = typeOf(m.valueTypeId);
  return {
    index: m.index ?? -1, name: m.name, type: m.type, typeName: mapTypeName(m.type), keySize: m.keySize,
    valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags, pinning: m.pinning, numaNode: m.numaNode,
    mapExtra: m.mapExtra,
    ...(keyType !== undefined ? { keyType } : {}),
    ...(valueType !== undefined ? { valueType } : {}),
    internal: m.internal === true,
    ...(m.internal ? {
      readonly: m.readonly === true,
      variables: (m.variables ?? []).map((v) => ({ name: v.name, offset: v.offset, size: v.size, type: btf && v.typeId ? cTypeName(btf, v.typeId) : 'void' })),
      ...(isStringSectionName(m.name) && m.initialData ? { strings: sectionStrings(m.initialData) } : {}),
    } : {}),
    ...(m.innerMap ? { innerMap: inspectMap(m.innerMap, btf) } : {}),
    ...(m.initialValues ? { initialValues: m.initialValues.map((v) => ({ index: v.index, symbol: v.symbol })) } : {}),
  };
}

const SECTION_TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(SectionType).map(([k, v]) => [v as number, k]));

function sectionTypeName(type: number): string {
  return SECTION_TYPE_NAMES.get(type) ?? `0x${type.toString(16)}`;
}

const FLAG_LETTERS: readonly (readonly [number, string])[] = [
  [SectionFlags.WRITE, 'W'], [SectionFlags.ALLOC, 'A'], [SectionFlags.EXECINSTR, 'X'], [SectionFlags.MERGE, 'M'],
  [SectionFlags.STRINGS, 'S'], [SectionFlags.INFO_LINK, 'I'], [SectionFlags.EXCLUDE, 'E'],
];

function sectionFlagLetters(flags: number): string {
  return FLAG_LETTERS.filter(([bit]) => (flags & bit) !== 0).map(([, l]) => l).join('');
}

function btfSummary(spec: ObjectSpec): InspectBtf {
  const btf = spec.btf!;
  const counts = new Map<string, number>();
  for (const t of btf.types.slice(1)) counts.set(t.kind, (counts.get(t.kind) ?? 0) + 1);
  const kinds: Record<string, number> = {};
  for (let kind = 0; kind <= BtfKind.ENUM64; kind++) {
    const n = counts.get(btfKindName(kind));
    if (n) kinds[btfKindName(kind)] = n;
  }
  const sum = (m: ReadonlyMap<string, readonly unknown[]> | undefined) => [...(m?.values() ?? [])].reduce((n, l) => n + l.length, 0);
  const ext = spec.btfExt;
  return {
    types: btf.types.length - 1, kinds, ext: ext !== undefined,
    funcInfo: sum(ext?.funcInfo), lineInfo: sum(ext?.lineInfo), coreRelos: sum(ext?.coreRelos),
  };
}

/** The CO-RE relocations the loader applied, once each (a subprogram's appear in every program that links it). */
function coreRelocations(spec: ObjectSpec): InspectCoreRelo[] {
  const seen = new Map<string, InspectCoreRelo>();
  for (const p of spec.programs) {
    for (const r of p.coreRelos ?? []) {
      const key = `${r.section}:${r.insn}`;
      if (seen.has(key)) continue;
      seen.set(key, {
        section: r.section, insn: r.insn, kind: r.kindName, access: r.relo.accessString, what: r.what, from: String(r.from),
        ...(r.to !== undefined ? { to: String(r.to) } : {}),
        ...(r.poisoned !== undefined ? { poisoned: r.poisoned } : {}),
      });
    }
  }
  return [...seen.values()].sort((a, b) => (a.section < b.section ? -1 : a.section > b.section ? 1 : a.insn - b.insn));
}

/** Relocations of code sections and map sections, by section index then offset. */
function loaderRelocations(elf: ElfFile, spec: ObjectSpec): InspectRelocation[] {
  const out: InspectRelocation[] = [];
  const indices = [...elf.relocations.keys()].sort((a, b) => a - b);
  for (const index of indices) {
    const section = elf.sections[index];
    if (!section) continue;
    const isCode = section.type === SectionType.PROGBITS && (section.flags & SectionFlags.EXECINSTR) !== 0;
    const isMaps = section.name === '.maps' || section.name === 'maps';
    if (!isCode && !isMaps) continue;
    for (const rel of elf.relocations.get(index)!) {
      out.push({
        section: section.name, offset: rel.offset, type: relocationTypeName(rel.type), symbol: rel.symbol.name,
        target: relocationTarget(elf, spec, section, rel),
      });
    }
  }
  return out;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** Describes what a relocation points at (see {@link InspectRelocation.target}). */
function relocationTarget(elf: ElfFile, spec: ObjectSpec, patched: ElfSection, rel: ElfRelocation): string {
  const sym = rel.symbol;
  if (sym.sectionIndex === SHN.UNDEF) return `extern ${sym.name || `symbol ${rel.symbolIndex}`}`;
  const section = elf.sections[sym.sectionIndex];
  if (!section) return `${sym.name || `symbol ${rel.symbolIndex}`} (special section ${hex(sym.sectionIndex)})`;
  // REL relocations keep their addend in the patched field: an instruction's imm.
  const data = patched.data();
  const isInsn = rel.type === RelocType.R_BPF_64_64 || rel.type === RelocType.R_BPF_64_32;
  const imm = isInsn && rel.offset + 8 <= data.length
    ? new DataView(data.buffer, data.byteOffset, data.byteLength).getInt32(rel.offset + 4, elf.littleEndian)
    : 0;
  const isSectionSymbol = sym.type === SymbolType.SECTION;

  if (section.name === '.maps' || section.name === 'maps') {
    const offset = isSectionSymbol ? imm : sym.value;
    const map = spec.maps.find((m) => !m.internal && m.section === section.name && m.offset === offset);
    return map ? `map ${map.name}` : `${section.name}+${hex(offset)}`;
  }
  if ((section.flags & SectionFlags.EXECINSTR) !== 0) {
    // A call's imm counts instructions after the call; an lddw's (a function reference) bytes.
    const offset = rel.type === RelocType.R_BPF_64_32 ? sym.value + (imm + 1) * 8 : rel.type === RelocType.R_BPF_64_64 ? sym.value + imm : sym.value;
    const fn = elf.symbolsInSection(section.index).find((s) => s.type === SymbolType.FUNC && s.value === offset && s.name);
    return fn ? `function ${fn.name}` : `${section.name}+${hex(offset)}`;
  }
  const offset = sym.value + (rel.type === RelocType.R_BPF_64_64 ? imm : 0);
  const where = `${section.name}+${hex(offset)}`;
  const variable = spec.maps.find((m) => m.internal && m.section === section.name)?.variables
    ?.find((v) => offset >= v.offset && offset < v.offset + Math.max(v.size, 1));
  if (variable) return `${where} (${variable.name}${offset === variable.offset ? '' : `+${offset - variable.offset}`})`;
  if ((section.flags & SectionFlags.STRINGS) !== 0 && section.type !== SectionType.NOBITS) {
    const bytes = section.data();
    if (offset >= 0 && offset < bytes.length) {
      const end = bytes.indexOf(0, offset);
      const text = new TextDecoder().decode(bytes.subarray(offset, end < 0 ? bytes.length : end));
      return `${where} ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)}`;
    }
  }
  return where;
}

// ---------------------------------------------------------------------------------------------
// Text

/** Left-aligned columns (numbers right-aligned), two spaces apart, indented by two. */
function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => '  ' + r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function shortMapType(m: InspectMap): string {
  return m.typeName.startsWith('BPF_MAP_TYPE_') ? m.typeName.slice('BPF_MAP_TYPE_'.length).toLowerCase() : m.typeName;
}

function mapLines(m: InspectMap, indent: string): string[] {
  // Continuation lines start under the map type, as bpftool's do.
  const more = `${indent}   `;
  const head = `${indent}${m.index >= 0 ? `${m.index}: ` : 'inner: '}${shortMapType(m)}  name ${m.name}  flags ${hex(m.flags)}` +
    `${m.internal ? `  internal${m.readonly ? ' readonly' : ''}` : ''}${m.pinning ? `  pinning ${m.pinning}` : ''}`;
  const size = (n: number, type: string | undefined) => `${n}B${type !== undefined ? ` (${type})` : ''}`;
  let second = `${more}key ${size(m.keySize, m.keyType)}  value ${size(m.valueSize, m.valueType)}  max_entries ${m.maxEntries}`;
  if (m.numaNode) second += `  numa_node ${m.numaNode}`;
  if (m.mapExtra) second += `  map_extra ${m.mapExtra}`;
  const lines = [head, second];
  for (const v of m.variables ?? []) lines.push(`${more}${hex(v.offset).padEnd(6)} ${v.name}: ${v.type} (${v.size}B)`);
  for (const str of m.strings ?? []) lines.push(`${more}${hex(str.offset).padEnd(6)} ${JSON.stringify(str.text)}`);
  if (m.initialValues?.length) {
    lines.push(`${more}values: ${m.initialValues.map((v) => `[${v.index}] ${v.symbol}`).join(', ')}`);
  }
  if (m.innerMap) lines.push(...mapLines(m.innerMap, more));
  return lines;
}

/** The report as readable text: programs and maps as `bpftool ... show` lists them, then tables. */
export function formatInspect(report: InspectReport): string {
  const out: string[] = [];
  out.push(`license: ${report.license || '(none)'}`);
  if (report.btf) {
    const b = report.btf;
    const kinds = Object.entries(b.kinds).map(([k, n]) => `${k} ${n}`).join(', ');
    out.push(`btf: ${b.types} types (${kinds})` +
      (b.ext ? `; .BTF.ext: ${b.funcInfo} func_info, ${b.lineInfo} line_info, ${b.coreRelos} CO-RE relocations` : '; no .BTF.ext'));
  } else {
    out.push('btf: none');
  }

  out.push('', `programs (${report.programs.length}):`);
  report.programs.forEach((p, i) => {
    out.push(`  ${i}: ${p.type}  name ${p.name}  section ${p.section}  insns ${p.insns}`);
    if (p.functions.length > 1) {
      out.push(`     functions: ${p.functions.map((f) => `${f.name}@${f.pc}${f.section === p.section ? '' : ` (${f.section})`}`).join(', ')}`);
    }
  });

  out.push('', `maps (${report.maps.length}):`);
  for (const m of report.maps) out.push(...mapLines(m, '  '));

  out.push('', 'sections:');
  out.push(...table(['[Nr]', 'Name', 'Type', 'Size', 'Flags'],
    report.sections.map((s) => [`[${String(s.index).padStart(2)}]`, s.name, s.type, s.size, s.flags])));

  out.push('', `relocations (${report.relocations.length}):`);
  if (report.relocations.length > 0) {
    out.push(...table(['Section', 'Offset', 'Type', 'Symbol', 'Target'],
      report.relocations.map((r) => [r.section, hex(r.offset), r.type, r.symbol, r.target])));
  }
  if (report.coreRelocations.length > 0) {
    out.push('', `CO-RE relocations (${report.coreRelocations.length}, against the runtime's context BTF):`);
    out.push(...table(['Section', 'Insn', 'Kind', 'Access', 'Field or type', 'Value'],
      report.coreRelocations.map((r) => [r.section, r.insn, r.kind, r.access, r.what, r.poisoned !== undefined ? `poisoned: ${r.poisoned}` : `${r.from} -> ${r.to!}`])));
  }
  return out.join('\n') + '\n';
}
