/**
 * The deterministic "spec" stage of loading a `clang -O2 -g -target bpf` object, in the spirit
 * of libbpf's `bpf_object__open` (or cilium/ebpf's `CollectionSpec`): it reads the object and
 * applies every relocation that does not need a live kernel (or, here, a live runtime), but
 * creates nothing.
 *
 * What it produces ({@link loadObjectSpec}):
 *
 * - **Programs**: one per global or weak FUNC symbol in an executable section other than `.text`
 *   (`SEC("xdp")`, `socket`, `kprobe/...`, any custom name), as libbpf does. `.text` holds
 *   subprograms only. Static functions in a program section are not programs (libbpf refuses
 *   them); here they are merely subprograms that code of the same section can call.
 * - **Linked instructions**: a program's own instructions followed by every function it reaches
 *   through bpf-to-bpf calls (`call` with src_reg 1, resolved through an `R_BPF_64_32`
 *   relocation or pc-relative within the section) or through function references (an lddw with
 *   an `R_BPF_64_64` relocation against code, as `bpf_loop` callbacks are), each appended once,
 *   in the order the walk first meets them (libbpf's order). A "function" is the code from one
 *   FUNC symbol to the next (or to the end of the section); code not covered by a symbol is a
 *   function of its own. Call immediates are rewritten to `target - (pc + 1)` in the linked
 *   program; function references become `lddw src_reg=4` (BPF_PSEUDO_FUNC) with the same
 *   relative immediate, as the kernel expects.
 * - **Map references**: an lddw relocated against a symbol of `.maps` or `maps` becomes
 *   `lddw src_reg=1` (BPF_PSEUDO_MAP_FD) with imm = the map's index in {@link ObjectSpec.maps}.
 * - **Global data**: every non-empty data section (`.data`, `.rodata`, `.bss` and their
 *   `.data.*` / `.rodata.*` (e.g. `.rodata.str1.1`) / `.bss.*` variants) becomes an internal
 *   ARRAY map with one entry holding the section contents (zeros for `.bss`). An lddw relocated
 *   against a symbol of such a section becomes `lddw src_reg=2` (BPF_PSEUDO_MAP_VALUE) with imm =
 *   the internal map's index and imm2 = the byte offset in the section (for a section symbol the
 *   lddw's own imm, for a named symbol the symbol's value plus that imm, as libbpf computes it).
 *   Internal maps are named after their section (`.rodata`, not libbpf's `<obj>.rodata`: the
 *   loader gets bytes, not a file name).
 *
 * Map order: the BTF-defined maps of `.maps`, then the legacy maps of `maps` (the order of
 * {@link readElfBtf}), then the internal maps by section index.
 *
 * Instructions of big-endian objects are converted to the little-endian encoding the rest of
 * bpf2wasm uses (the contents of data sections are left as they are).
 *
 * - **CO-RE relocations** (`.BTF.ext` core_relos) are applied to each code section before linking,
 *   against the runtime's context BTF (compiler/btf/context-btf.ts), by libbpf's rules
 *   (compiler/elf/core-patch.ts); one that cannot be resolved poisons its instruction
 *   (`call 0xbad2310`), which faults with E_CORE_RELO if it runs. {@link ProgramSpec.coreRelos}
 *   lists what was applied, at linked instruction slots.
 *
 * - **`__kconfig` externs** become the internal read-only map `.kconfig` (compiler/elf/kconfig.ts);
 *   an lddw of one is `lddw src_reg=2` at its offset in that map's value.
 *
 * Not done here: remapping `.BTF.ext` func/line info to linked programs, `__ksym` variable externs
 * and kfunc calls by BTF id (rejected with E_UNSUPPORTED).
 */
import { ErrorCode } from '../../runtime/errors.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType } from '../../runtime/uapi/index.js';
import { readDataSection, type DataVariable } from './data.js';
import { readElfBtf } from './btf-sections.js';
import type { Btf } from '../btf/types.js';
import type { BtfExt } from '../btf/ext.js';
import type { MapDef } from './map-defs.js';
import { requireRelocatable, swapInstructions } from './extract.js';
import { applyCoreRelos, type AppliedCoreRelo } from './core-patch.js';
import { coreTargets } from '../btf/host-btf.js';
import { buildKconfigMap, type KconfigExtern, type LoadKconfig } from './kconfig.js';
import {
  E_BAD_ELF, ElfError, parseElf, relocationTypeName, RelocType, SectionFlags, SectionType, SHN, SymbolBind,
  SymbolType, type ElfFile, type ElfRelocation, type ElfSection, type ElfSymbol,
} from './elf64.js';

/** lddw pseudo sources (RFC 9669 table 14 and the kernel's BPF_PSEUDO_FUNC). */
export const LddwSource = {
  /** imm = map index (the "fd"). */
  MAP_FD: 1,
  /** imm = map index, imm2 = byte offset in the map's (single) value. */
  MAP_VALUE: 2,
  /** imm = pc-relative instruction offset of a function: target - (pc + 1). */
  FUNC: 4,
} as const;

/** A map of the object: a user-defined one or an internal map holding a data section. */
export interface MapSpec extends MapDef {
  /** Position in {@link ObjectSpec.maps}; what `lddw src_reg=1/2` immediates refer to. */
  readonly index: number;
  /** True for the maps backing data sections (`.data`, `.rodata`, `.bss`, ...). */
  readonly internal?: boolean;
  /** Internal maps: the initial value of their single entry (a copy; zeros for `.bss`). */
  readonly initialData?: Uint8Array;
  /** Internal maps of `.rodata*` sections: the program may not write them (BPF_F_RDONLY_PROG). */
  readonly readonly?: boolean;
  /** Internal maps: the section's variables, from its BTF DATASEC (`[]` without BTF). */
  readonly variables?: readonly DataVariable[];
  /** An inner map laid out in advance for this map of maps (see compileObject's innerMapPool). */
  readonly poolOf?: string;
  /** The BTF its type ids refer to, when it differs from the object's (objects linked together). */
  readonly btf?: Btf;
}

/** One function of a linked program. */
export interface LinkedFunction {
  /** The FUNC symbol at its start, or `<section>+<slot>` for code no symbol names. */
  readonly name: string;
  /** The section it comes from. */
  readonly section: string;
  /** Its first instruction slot in {@link ProgramSpec.insns}. */
  readonly pc: number;
  /** Its number of instruction slots. */
  readonly length: number;
  /**
   * Its first instruction's slot in {@link section} (where `.BTF.ext` line info points); absent
   * for functions that did not come from an ELF section.
   */
  readonly sectionPc?: number;
}

/** One program of the object, linked and relocated. */
export interface ProgramSpec {
  /** The program's function symbol. */
  readonly name: string;
  /** Its ELF section (`xdp`, `kprobe/sys_execve`, ...). */
  readonly section: string;
  /** Program type derived from the section name (see {@link programTypeOfSection}). */
  readonly type: ProgramType;
  /** Linked, relocated instructions, little-endian; the entry point is slot 0. */
  readonly insns: Uint8Array;
  /** The functions {@link insns} is made of, in order; `functions[0]` is the program itself. */
  readonly functions: readonly LinkedFunction[];
  /** The CO-RE relocations applied to its instructions, at linked slots (`pc`), in slot order. */
  readonly coreRelos?: readonly ProgramCoreRelo[];
}

/** A CO-RE relocation applied to a linked program: where, and what it did (see core-patch.ts). */
export interface ProgramCoreRelo extends AppliedCoreRelo {
  /** Its linked instruction slot in {@link ProgramSpec.insns}. */
  readonly pc: number;
  /** The ELF section the instruction came from (its `insn` is a slot of that section). */
  readonly section: string;
}

/**
 * A kfunc the object calls: an extern function (`extern ... __ksym`), resolved by name to a
 * function the host provides. Calls to it are `call` instructions with src_reg 2 (kfunc) whose
 * imm is the kfunc's index in {@link ObjectSpec.kfuncs} (the kernel puts a BTF id there).
 */
export interface KfuncSpec {
  readonly name: string;
  /** The BTF id of its FUNC (extern linkage), when the object has BTF. */
  readonly btfId?: number;
  /** The BTF `btfId` refers to, when it differs from the object's (objects linked together). */
  readonly btf?: Btf;
}

/** A whole object. */
export interface ObjectSpec {
  /**
   * True for a big-endian object (`clang -target bpfeb`). Its instructions are converted to
   * little-endian; its data and the byte order its programs assume are not.
   */
  readonly bigEndian?: boolean;
  /** kfuncs called by the programs, indexed by their calls' imm. */
  readonly kfuncs: readonly KfuncSpec[];
  /** Programs in section order, then by offset in the section. */
  readonly programs: readonly ProgramSpec[];
  readonly maps: readonly MapSpec[];
  /** Contents of the `license` section up to its first NUL (`''` when there is none). */
  readonly license: string;
  /** The parsed `.BTF`, when present. */
  readonly btf?: Btf;
  /** The parsed `.BTF.ext`, when present (its offsets are section-relative, not linked). */
  readonly btfExt?: BtfExt;
}

export type ProgramType =
  | 'socket' | 'xdp' | 'tc' | 'tc_action' | 'kprobe' | 'uprobe' | 'tracepoint' | 'raw_tracepoint'
  | 'perf_event' | 'tracing' | 'lsm' | 'cgroup_skb' | 'cgroup' | 'sk_skb' | 'sk_msg' | 'sock_ops'
  | 'flow_dissector' | 'lwt' | 'sk_lookup' | 'sk_reuseport' | 'netfilter' | 'syscall' | 'struct_ops'
  | 'unknown';

/** Section-name prefixes (matched as the whole name, or followed by `/` or `.`) and their types. */
const SECTION_TYPES: readonly (readonly [string, ProgramType])[] = [
  ['socket', 'socket'],
  ['xdp', 'xdp'], ['xdp_devmap', 'xdp'], ['xdp_cpumap', 'xdp'],
  ['tc', 'tc'], ['tcx', 'tc'], ['classifier', 'tc'], ['netkit', 'tc'],
  ['action', 'tc_action'],
  ['kprobe', 'kprobe'], ['kretprobe', 'kprobe'], ['ksyscall', 'kprobe'], ['kretsyscall', 'kprobe'],
  ['uprobe', 'uprobe'], ['uretprobe', 'uprobe'], ['usdt', 'uprobe'],
  ['tracepoint', 'tracepoint'], ['tp', 'tracepoint'],
  ['raw_tracepoint', 'raw_tracepoint'], ['raw_tp', 'raw_tracepoint'],
  ['tp_btf', 'tracing'], ['fentry', 'tracing'], ['fexit', 'tracing'], ['fmod_ret', 'tracing'], ['iter', 'tracing'],
  ['perf_event', 'perf_event'],
  ['lsm', 'lsm'],
  ['cgroup_skb', 'cgroup_skb'], ['cgroup/skb', 'cgroup_skb'], ['cgroup', 'cgroup'],
  ['sk_skb', 'sk_skb'], ['sk_msg', 'sk_msg'], ['sockops', 'sock_ops'],
  ['flow_dissector', 'flow_dissector'],
  ['lwt_in', 'lwt'], ['lwt_out', 'lwt'], ['lwt_xmit', 'lwt'], ['lwt_seg6local', 'lwt'],
  ['sk_lookup', 'sk_lookup'], ['sk_reuseport', 'sk_reuseport'], ['netfilter', 'netfilter'],
  ['syscall', 'syscall'], ['struct_ops', 'struct_ops'],
];

/**
 * The program type of a section name, from its prefix as libbpf's section definitions match it
 * (`xdp`, `xdp.frags`, `kprobe/sys_execve`, `tc/ingress`, `classifier`, ...); `'unknown'` for
 * any other name. The longest matching prefix wins (`cgroup/skb` before `cgroup`).
 */
export function programTypeOfSection(section: string): ProgramType {
  let best: readonly [string, ProgramType] | undefined;
  for (const entry of SECTION_TYPES) {
    const p = entry[0];
    const matches = section === p || (section.startsWith(p) && (section[p.length] === '/' || section[p.length] === '.'));
    if (matches && (!best || p.length > best[0].length)) best = entry;
  }
  return best ? best[1] : 'unknown';
}

/** True for the names of sections libbpf turns into global data maps. */
export function isDataSectionName(name: string): boolean {
  return ['.data', '.rodata', '.bss'].some((p) => name === p || name.startsWith(p + '.'));
}

/**
 * True for clang's mergeable string-literal sections (`.rodata.str1.1`: SHF_MERGE | SHF_STRINGS,
 * NUL-terminated strings and no variables): their contents are shown as strings.
 */
export function isStringSectionName(name: string): boolean {
  return /^\.rodata\.str\d+\.\d+$/.test(name);
}

/** One NUL-terminated string of a string section. */
export interface SectionString {
  /** Byte offset in the section. */
  readonly offset: number;
  /** The string (UTF-8, invalid bytes replaced), without its NUL. */
  readonly text: string;
}

/** The NUL-terminated strings of a string section's bytes, in order (a last unterminated one too). */
export function sectionStrings(bytes: Uint8Array): SectionString[] {
  const out: SectionString[] = [];
  const decoder = new TextDecoder('utf-8');
  for (let at = 0; at < bytes.length;) {
    const nul = bytes.indexOf(0, at);
    const end = nul < 0 ? bytes.length : nul;
    out.push({ offset: at, text: decoder.decode(bytes.subarray(at, end)) });
    at = end + 1;
  }
  return out;
}

const OP_LDDW = 0x18;
const OP_CALL = 0x85;
const CALL_SRC_LOCAL = 1;
const CALL_SRC_KFUNC = 2;

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** An executable section, its instructions (little-endian copy) and its functions. */
interface CodeSection {
  readonly section: ElfSection;
  readonly insns: Uint8Array;
  readonly slots: number;
  /** Relocations by byte offset. */
  readonly relocs: ReadonlyMap<number, ElfRelocation>;
  /** Function starts (slots), sorted, with 0 first and {@link slots} last. */
  readonly bounds: readonly number[];
  /** Names of the functions by start slot. */
  readonly names: ReadonlyMap<number, string>;
  /** The CO-RE relocations applied to {@link insns}, by section slot. */
  readonly coreRelos: readonly AppliedCoreRelo[];
}

/** A function of a code section: slots [start, end). */
interface Unit {
  readonly code: CodeSection;
  readonly start: number;
  readonly end: number;
}

/** Options of {@link loadObjectSpec}. */
export interface LoadObjectOptions {
  /**
   * A host-supplied BTF (compiler/btf/host-btf.ts `parseHostBtf`) whose types extend the target
   * of CO-RE relocations beyond the runtime's contexts.
   */
  hostBtf?: Btf;
  /** Host-supplied `CONFIG_*` values for `__kconfig` externs (see compiler/elf/kconfig.ts). */
  kconfig?: LoadKconfig;
}

/**
 * Reads an object into programs, maps and license, linking and relocating every program.
 *
 * @throws ElfError `E_BAD_ELF` for a malformed object (bad ELF, BTF or map definitions,
 *   relocations that are not on an lddw or call, unknown relocation types or targets, calls out
 *   of range), `E_UNSUPPORTED` for `__ksym` variable externs, kfunc calls by BTF id and `__kconfig` externs of unsupported types or without a value (see kconfig.ts).
 */
export function loadObjectSpec(bytes: Uint8Array, options: LoadObjectOptions = {}): ObjectSpec {
  // The CO-RE targets (the runtime's context BTF, built and parsed on first use) only where a
  // code section has CO-RE relocations: most objects have none.
  let targets: readonly Btf[] | undefined;
  const coreTargetsOnce = (): readonly Btf[] => (targets ??= coreTargets(options.hostBtf));
  const elf = parseElf(bytes);
  requireRelocatable(elf);
  const { btf, ext, maps: defs } = readElfBtf(elf);

  const maps: MapSpec[] = defs.map((d, index) => ({ ...d, index }));
  const dataMaps = new Map<number, MapSpec>();
  for (const section of elf.sections) {
    if (!isDataSection(section)) continue;
    const map = internalMap(elf, section, btf, maps.length);
    maps.push(map);
    dataMaps.set(section.index, map);
  }
  const kconfig = buildKconfigMap(elf, btf, maps.length, options.kconfig);
  if (kconfig) maps.push(kconfig.map);

  const code = new Map<number, CodeSection>();
  for (const section of elf.sections) {
    if (isCodeSection(section)) code.set(section.index, readCodeSection(elf, section, btf, ext, coreTargetsOnce));
  }

  const programs: ProgramSpec[] = [];
  const kfuncs: KfuncSpec[] = [];
  const kfuncIndex = (name: string): number => {
    let i = kfuncs.findIndex((k) => k.name === name);
    if (i < 0) {
      const fn = btf?.typeByName(name, 'func');
      i = kfuncs.push({ name, ...(fn ? { btfId: fn.id } : {}) }) - 1;
    }
    return i;
  };
  for (const cs of code.values()) {
    if (cs.section.name === '.text') continue;
    const symbols = elf.symbolsInSection(cs.section.index)
      .filter((s) => s.type === SymbolType.FUNC && (s.bind === SymbolBind.GLOBAL || s.bind === SymbolBind.WEAK))
      .sort((a, b) => a.value - b.value);
    for (const sym of symbols) {
      const linker = new Linker(elf, code, maps, dataMaps, sym.name, kfuncIndex, kconfig);
      const { insns, functions, coreRelos } = linker.link(unitAt(cs, sym.value / 8));
      programs.push({
        name: sym.name, section: cs.section.name, type: programTypeOfSection(cs.section.name), insns, functions,
        ...(coreRelos.length > 0 ? { coreRelos } : {}),
      });
    }
  }

  return {
    ...(elf.littleEndian ? {} : { bigEndian: true }),
    programs, maps, kfuncs, license: readLicense(elf),
    ...(btf ? { btf } : {}),
    ...(ext ? { btfExt: ext } : {}),
  };
}

function isCodeSection(s: ElfSection): boolean {
  return s.type === SectionType.PROGBITS && (s.flags & SectionFlags.EXECINSTR) !== 0 && s.size > 0;
}

function isDataSection(s: ElfSection): boolean {
  return (s.type === SectionType.PROGBITS || s.type === SectionType.NOBITS) &&
    (s.flags & SectionFlags.ALLOC) !== 0 && (s.flags & SectionFlags.EXECINSTR) === 0 &&
    s.size > 0 && isDataSectionName(s.name);
}

function internalMap(elf: ElfFile, section: ElfSection, btf: Btf | undefined, index: number): MapSpec {
  const readonly = section.name === '.rodata' || section.name.startsWith('.rodata.');
  if (section.size > 0xffffffff) {
    throw new ElfError(E_BAD_ELF, `data section ${section.name} is ${section.size} bytes, too large for a map value`, { section: section.name, offset: 0 });
  }
  const initialData = section.type === SectionType.NOBITS ? new Uint8Array(section.size) : new Uint8Array(section.data());
  const datasec = btf?.typeByName(section.name, 'datasec');
  const variables = btf ? readDataSection(elf, btf, section.name) : [];
  return {
    name: section.name, type: MapType.ARRAY, keySize: 4, valueSize: section.size, maxEntries: 1,
    flags: BPF_F_MMAPABLE | (readonly ? BPF_F_RDONLY_PROG : 0), pinning: 0, numaNode: 0, mapExtra: 0,
    ...(datasec ? { valueTypeId: datasec.id } : {}),
    section: section.name, offset: 0, size: section.size,
    index, internal: true, initialData, readonly, variables,
  };
}

function readLicense(elf: ElfFile): string {
  const section = elf.sectionByName('license');
  if (!section) return '';
  const data = section.data();
  const nul = data.indexOf(0);
  return new TextDecoder('utf-8').decode(nul < 0 ? data : data.subarray(0, nul));
}

function readCodeSection(elf: ElfFile, section: ElfSection, btf: Btf | undefined, ext: BtfExt | undefined, targets: () => readonly Btf[]): CodeSection {
  const where = { section: section.name };
  if (section.size % 8 !== 0) {
    throw new ElfError(E_BAD_ELF, `code section ${section.name} is ${section.size} bytes, not a whole number of 8-byte instructions`, { ...where, offset: section.size });
  }
  // A copy: relocations are applied to it, and the caller's bytes are never modified.
  const insns = new Uint8Array(section.data());
  if (!elf.littleEndian) swapInstructions(insns);
  const slots = insns.length / 8;
  const relos = ext?.coreRelos.get(section.name);
  const coreRelos = relos && btf ? applyCoreRelos(insns, section.name, relos, btf, targets()) : [];

  const relocs = new Map<number, ElfRelocation>();
  for (const r of elf.relocations.get(section.index) ?? []) {
    if (r.offset % 8 !== 0 || r.offset + 8 > section.size) {
      throw new ElfError(E_BAD_ELF, `relocation ${relocationTypeName(r.type)} at offset ${hex(r.offset)} of ${section.name} is not at an instruction of the section`, { ...where, offset: r.offset });
    }
    if (relocs.has(r.offset)) {
      throw new ElfError(E_BAD_ELF, `instruction ${r.offset / 8} of ${section.name} has two relocations`, { ...where, offset: r.offset });
    }
    relocs.set(r.offset, r);
  }

  const starts = new Set<number>([0, slots]);
  const names = new Map<number, ElfSymbol>();
  for (const sym of elf.symbolsInSection(section.index)) {
    if (sym.type !== SymbolType.FUNC) continue;
    if (sym.value % 8 !== 0 || sym.value >= section.size) {
      throw new ElfError(E_BAD_ELF, `function ${sym.name || `symbol ${sym.index}`} at offset ${hex(sym.value)} is not at an instruction of ${section.name}`, { ...where, offset: Math.min(sym.value, section.size), program: sym.name });
    }
    const slot = sym.value / 8;
    starts.add(slot);
    const previous = names.get(slot);
    // Prefer a global name over a local alias.
    if (!previous || (previous.bind === SymbolBind.LOCAL && sym.bind !== SymbolBind.LOCAL)) names.set(slot, sym);
  }
  const bounds = [...starts].sort((a, b) => a - b);
  const unitNames = new Map<number, string>();
  for (const b of bounds) if (b < slots) unitNames.set(b, names.get(b)?.name || `${section.name}+${b}`);
  return { section, insns, slots, relocs, bounds, names: unitNames, coreRelos };
}

/** The function containing `slot` (which must be inside the section). */
function unitAt(code: CodeSection, slot: number): Unit {
  const b = code.bounds;
  let lo = 0;
  let hi = b.length - 1; // b[lo] <= slot < b[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (b[mid]! <= slot) lo = mid;
    else hi = mid;
  }
  return { code, start: b[lo]!, end: b[hi]! };
}

/** Links one program: appends the functions it reaches and applies the relocations. */
class Linker {
  private readonly placed = new Map<string, number>();
  private readonly order: { unit: Unit; base: number }[] = [];
  private size = 0;

  constructor(
    private readonly elf: ElfFile,
    private readonly code: ReadonlyMap<number, CodeSection>,
    private readonly maps: readonly MapSpec[],
    private readonly dataMaps: ReadonlyMap<number, MapSpec>,
    private readonly program: string,
    private readonly kfuncIndex: (name: string) => number,
    private readonly kconfig?: { readonly map: MapSpec; readonly externs: ReadonlyMap<string, KconfigExtern> },
  ) {}

  link(entry: Unit): { insns: Uint8Array; functions: LinkedFunction[]; coreRelos: ProgramCoreRelo[] } {
    this.place(entry);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < this.order.length; i++) {
      const { unit, base } = this.order[i]!;
      chunks.push(this.relocate(unit, base));
    }
    const insns = new Uint8Array(this.size * 8);
    let at = 0;
    for (const c of chunks) {
      insns.set(c, at);
      at += c.length;
    }
    const functions = this.order.map(({ unit, base }) => ({
      name: unit.code.names.get(unit.start)!, section: unit.code.section.name, pc: base, length: unit.end - unit.start,
      sectionPc: unit.start,
    }));
    const coreRelos: ProgramCoreRelo[] = [];
    for (const { unit, base } of this.order) {
      for (const r of unit.code.coreRelos) {
        if (r.insn >= unit.start && r.insn < unit.end) coreRelos.push({ ...r, pc: base + r.insn - unit.start, section: unit.code.section.name });
      }
    }
    coreRelos.sort((a, b) => a.pc - b.pc);
    return { insns, functions, coreRelos };
  }

  /** The linked slot of a function's first instruction, appending the function if needed. */
  private place(unit: Unit): number {
    const key = `${unit.code.section.index}:${unit.start}`;
    const known = this.placed.get(key);
    if (known !== undefined) return known;
    const base = this.size;
    this.placed.set(key, base);
    this.order.push({ unit, base });
    this.size += unit.end - unit.start;
    return base;
  }

  /** Linked slot of `slot` in section `code`. */
  private linkedSlot(code: CodeSection, slot: number): number {
    const unit = unitAt(code, slot);
    return this.place(unit) + (slot - unit.start);
  }

  private fail(code: ErrorCode, unit: Unit, slot: number, detail: string): never {
    throw new ElfError(code, detail, { section: unit.code.section.name, offset: slot * 8, program: this.program });
  }

  private describe(sym: ElfSymbol): string {
    if (sym.name) return sym.name;
    return `symbol ${sym.index}`;
  }

  /** The code section a symbol is defined in, or undefined for a non-code section. */
  private codeOf(sym: ElfSymbol): CodeSection | undefined {
    return this.code.get(sym.sectionIndex);
  }

  /** Copies a function's instructions and relocates them for linked position `base`. */
  private relocate(unit: Unit, base: number): Uint8Array {
    const { code } = unit;
    const out = code.insns.slice(unit.start * 8, unit.end * 8);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const name = code.section.name;
    for (let slot = unit.start; slot < unit.end; slot++) {
      const o = (slot - unit.start) * 8;
      const pc = base + slot - unit.start;
      const opcode = out[o]!;
      const src = out[o + 1]! >> 4;
      const imm = view.getInt32(o + 4, true);
      const rel = code.relocs.get(slot * 8);
      const setSrc = (s: number): void => {
        out[o + 1] = (out[o + 1]! & 0x0f) | (s << 4);
      };

      if (opcode === OP_LDDW) {
        if (slot + 1 >= unit.end) this.fail(E_BAD_ELF, unit, slot, `the lddw at instruction ${slot} of ${name} has no second half`);
        if (code.relocs.has((slot + 1) * 8)) {
          this.fail(E_BAD_ELF, unit, slot + 1, `instruction ${slot + 1} of ${name} (the second half of an lddw) has a relocation`);
        }
        if (rel) {
          const { src: newSrc, imm: newImm, imm2 } = this.relocateLddw(unit, slot, pc, imm, rel);
          setSrc(newSrc);
          view.setInt32(o + 4, newImm, true);
          view.setInt32(o + 12, imm2, true);
        }
        slot++;
        continue;
      }

      if (opcode === OP_CALL) {
        if (rel) {
          if (rel.type !== RelocType.R_BPF_64_32) {
            this.fail(E_BAD_ELF, unit, slot, `the call at instruction ${slot} of ${name} has a relocation of type ${relocationTypeName(rel.type)} against ${this.describe(rel.symbol)}, expected R_BPF_64_32`);
          }
          const sym = rel.symbol;
          if (sym.sectionIndex === SHN.UNDEF) {
            // An extern function (a kfunc, `extern ... __ksym`): the host provides it by name.
            if (!sym.name) {
              this.fail(E_BAD_ELF, unit, slot, `the call at instruction ${slot} of ${name} calls an extern function without a name (${this.describe(sym)})`);
            }
            out[o + 1] = (CALL_SRC_KFUNC << 4) | (out[o + 1]! & 0x0f);
            view.setInt32(o + 4, this.kfuncIndex(sym.name), true);
            continue;
          }
          if (src !== CALL_SRC_LOCAL) {
            this.fail(E_BAD_ELF, unit, slot, `the call at instruction ${slot} of ${name} has a relocation against ${this.describe(sym)} but is not a bpf-to-bpf call (src_reg ${src}, expected 1)`);
          }
          const target = this.codeOf(sym);
          if (!target) {
            this.fail(E_BAD_ELF, unit, slot, `the call at instruction ${slot} of ${name} calls ${this.describe(sym)}, which is not in a code section`);
          }
          if (sym.value % 8 !== 0) {
            this.fail(E_BAD_ELF, unit, slot, `the call at instruction ${slot} of ${name} calls ${this.describe(sym)} at offset ${hex(sym.value)}, which is not an instruction boundary`);
          }
          const targetSlot = sym.value / 8 + imm + 1;
          this.checkTarget(unit, slot, target, targetSlot, `the call at instruction ${slot} of ${name} (to ${this.describe(sym)})`);
          view.setInt32(o + 4, this.linkedSlot(target, targetSlot) - (pc + 1), true);
        } else if (src === CALL_SRC_LOCAL) {
          const targetSlot = slot + imm + 1;
          this.checkTarget(unit, slot, code, targetSlot, `the call at instruction ${slot} of ${name}`);
          view.setInt32(o + 4, this.linkedSlot(code, targetSlot) - (pc + 1), true);
        } else if (src === CALL_SRC_KFUNC) {
          this.fail(ErrorCode.Unsupported, unit, slot, `the call at instruction ${slot} of ${name} is a kfunc call (BTF id ${imm}), which is not supported`);
        }
        // Helper calls (src_reg 0) stay as they are; the decoder reports unknown call sources.
        continue;
      }

      if (rel) {
        this.fail(E_BAD_ELF, unit, slot, `instruction ${slot} of ${name} (opcode ${hex(opcode)}) has a relocation (${relocationTypeName(rel.type)} against ${this.describe(rel.symbol)}), but only lddw and call instructions can be relocated`);
      }
    }
    return out;
  }

  private checkTarget(unit: Unit, slot: number, target: CodeSection, targetSlot: number, what: string): void {
    if (!Number.isInteger(targetSlot) || targetSlot < 0 || targetSlot >= target.slots) {
      this.fail(E_BAD_ELF, unit, slot, `${what} targets instruction ${targetSlot} of ${target.section.name}, outside its ${target.slots} instructions`);
    }
  }

  private relocateLddw(unit: Unit, slot: number, pc: number, imm: number, rel: ElfRelocation): { src: number; imm: number; imm2: number } {
    const name = unit.code.section.name;
    const sym = rel.symbol;
    const what = `the lddw at instruction ${slot} of ${name}`;
    if (rel.type !== RelocType.R_BPF_64_64) {
      this.fail(E_BAD_ELF, unit, slot, `${what} has a relocation of type ${relocationTypeName(rel.type)} against ${this.describe(sym)}, expected R_BPF_64_64`);
    }
    if (sym.sectionIndex === SHN.UNDEF) {
      const ext = this.kconfig?.externs.get(sym.name);
      // libbpf: the extern's offset in the .kconfig value (the instruction's own imm is ignored).
      if (ext && sym.name) return { src: LddwSource.MAP_VALUE, imm: this.kconfig!.map.index, imm2: ext.offset };
      this.fail(ErrorCode.Unsupported, unit, slot, `${what} refers to the extern ${this.describe(sym)} (__ksym or a variable of another object), which is not supported`);
    }
    const section = sym.sectionIndex < this.elf.sections.length ? this.elf.sections[sym.sectionIndex] : undefined;
    if (!section) {
      this.fail(E_BAD_ELF, unit, slot, `${what} refers to ${this.describe(sym)}, defined in special section ${hex(sym.sectionIndex)}, which is not supported`);
    }
    const isSectionSymbol = sym.type === SymbolType.SECTION;

    if (section.name === '.maps' || section.name === 'maps') {
      const offset = isSectionSymbol ? imm : sym.value;
      const map = this.maps.find((m) => !m.internal && m.section === section.name && m.offset === offset);
      if (!map) {
        this.fail(E_BAD_ELF, unit, slot, `${what} refers to ${this.describe(sym)} at offset ${hex(offset)} of ${section.name}, where no map is defined`);
      }
      return { src: LddwSource.MAP_FD, imm: map.index, imm2: 0 };
    }

    const target = this.code.get(section.index);
    if (target) {
      if (sym.value % 8 !== 0 || imm % 8 !== 0) {
        this.fail(E_BAD_ELF, unit, slot, `${what} refers to offset ${hex(sym.value)} + ${imm} of ${section.name} (${this.describe(sym)}), which is not an instruction boundary`);
      }
      const targetSlot = sym.value / 8 + imm / 8;
      this.checkTarget(unit, slot, target, targetSlot, `${what} (a reference to ${this.describe(sym)})`);
      return { src: LddwSource.FUNC, imm: this.linkedSlot(target, targetSlot) - (pc + 1), imm2: 0 };
    }

    const data = this.dataMaps.get(section.index);
    if (data) {
      const offset = isSectionSymbol ? imm : sym.value + imm;
      if (offset < 0 || offset > section.size) {
        this.fail(E_BAD_ELF, unit, slot, `${what} refers to offset ${offset} of ${section.name} (${this.describe(sym)}), outside its ${section.size} bytes`);
      }
      return { src: LddwSource.MAP_VALUE, imm: data.index, imm2: offset };
    }

    this.fail(E_BAD_ELF, unit, slot, `${what} refers to ${this.describe(sym)} in section ${section.name || `#${section.index}`}, which is neither a map, global data nor code`);
  }
}
