/**
 * `__kconfig` externs (`extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;`), as libbpf does them
 * (tools/lib/bpf/libbpf.c: bpf_object__collect_externs, bpf_object__init_kconfig_map,
 * bpf_object__resolve_externs): the variables of the object's BTF DATASEC `.kconfig` (undefined
 * ELF symbols) are laid out in the single value of an internal read-only ARRAY map `.kconfig`,
 * sorted by descending alignment, then ascending size, then name, each at the next offset aligned
 * to its type; an lddw of one becomes `lddw src_reg=2` (BPF_PSEUDO_MAP_VALUE) at its offset.
 *
 * Values: the runtime's virtual externs ({@link KCONFIG_VIRTUAL}), then the host-supplied
 * `CONFIG_*` values ({@link LoadKconfig}); an extern neither gives is 0 when weak and an error when
 * strong. Types: bool, char, integers of 1, 2, 4 or 8 bytes, `enum libbpf_tristate` and char
 * arrays (libbpf's KCFG_* kinds); any other is E_UNSUPPORTED.
 */
import { ErrorCode } from '../../runtime/errors.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType } from '../../runtime/uapi/index.js';
import { BtfLinkage, type Btf, type BtfType } from '../btf/types.js';
import { E_BAD_ELF, ElfError, SHN, SymbolBind, type ElfFile } from './elf64.js';
import type { DataVariable } from './data.js';
import type { MapSpec } from './loader.js';

/** The kernel version `LINUX_KERNEL_VERSION` reads: KERNEL_VERSION(6, 8, 0), the Linux whose helper set and pt_regs the runtime follows. */
export const KCONFIG_KERNEL_VERSION = (6 << 16) | (8 << 8) | 0;

/**
 * The virtual externs the runtime answers (libbpf's `LINUX_*` names):
 * - `LINUX_KERNEL_VERSION`: {@link KCONFIG_KERNEL_VERSION};
 * - `LINUX_HAS_SYSCALL_WRAPPER`: 1, the runtime presents x86-64 pt_regs (runtime/uapi/tracing.ts),
 *   whose syscalls go through the wrapper (the syscall's registers are behind its first argument);
 * - `LINUX_HAS_BPF_COOKIE`: 0, bpf_get_attach_cookie is not implemented by the runtime.
 */
export const KCONFIG_VIRTUAL: Readonly<Record<string, number>> = {
  LINUX_KERNEL_VERSION: KCONFIG_KERNEL_VERSION,
  LINUX_HAS_SYSCALL_WRAPPER: 1,
  LINUX_HAS_BPF_COOKIE: 0,
};

/**
 * Host-supplied kconfig values by name (`CONFIG_BPF_JIT`): `true`/`false` or `'y'`/`'n'`/`'m'`
 * for bool and tristate externs, a number (or numeric text) for integers, a string for char arrays.
 */
export type LoadKconfig = Readonly<Record<string, string | number | boolean>>;

/** A `.kconfig` extern placed in the `.kconfig` map value. */
export interface KconfigExtern {
  readonly name: string;
  /** libbpf's KCFG kind of its type. */
  readonly kind: 'bool' | 'char' | 'int' | 'tristate' | 'chars';
  /** Byte offset in the map value. */
  readonly offset: number;
  readonly size: number;
  readonly weak: boolean;
}

/** What {@link buildKconfigMap} made: the map and the externs' places in its value. */
export interface KconfigMap {
  readonly map: MapSpec;
  readonly externs: ReadonlyMap<string, KconfigExtern>;
}

const where = { section: '.kconfig' };

/**
 * Builds the `.kconfig` internal map of an object whose BTF has a `.kconfig` DATASEC.
 *
 * @returns undefined when the object has no `.kconfig` externs.
 * @throws ElfError `E_UNSUPPORTED` for an extern of a type libbpf does not support in `.kconfig`
 *   and for a strong extern nobody gives a value; `E_BAD_ELF` for a variable without an undefined
 *   symbol; `E_BAD_ARGUMENT` for a host-supplied value that does not fit its extern's type.
 */
export function buildKconfigMap(elf: ElfFile, btf: Btf | undefined, index: number, values: LoadKconfig = {}): KconfigMap | undefined {
  const datasec = btf?.typeByName('.kconfig', 'datasec');
  if (!btf || !datasec || datasec.vars.length === 0) return undefined;
  const symbols = new Map(elf.symbols.filter((s) => s.sectionIndex === SHN.UNDEF && s.name).map((s) => [s.name, s]));

  const found: { name: string; kind: KconfigExtern['kind']; size: number; align: number; weak: boolean; varTypeId: number; typeId: number }[] = [];
  for (const v of datasec.vars) {
    const variable = btf.type(v.type);
    if (variable.kind !== 'var') {
      throw new ElfError(E_BAD_ELF, `the .kconfig section's BTF lists ${variable.kind} ${variable.name || v.type}, not a variable`, { ...where, offset: 0 });
    }
    const sym = symbols.get(variable.name);
    if (!sym) {
      throw new ElfError(E_BAD_ELF, `the __kconfig extern ${variable.name} has no undefined symbol in the symbol table`, { ...where, offset: 0 });
    }
    const { kind, size, align } = kindOf(btf, variable.type, variable.name);
    found.push({ name: variable.name, kind, size, align, weak: sym.bind === SymbolBind.WEAK, varTypeId: variable.id, typeId: variable.type });
  }
  found.sort((a, b) => (b.align - a.align) || (a.size - b.size) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const externs = new Map<string, KconfigExtern>();
  const variables: DataVariable[] = [];
  let end = 0;
  for (const f of found) {
    const offset = Math.ceil(end / f.align) * f.align;
    externs.set(f.name, { name: f.name, kind: f.kind, offset, size: f.size, weak: f.weak });
    variables.push({ name: f.name, varTypeId: f.varTypeId, typeId: f.typeId, linkage: BtfLinkage.EXTERN, offset, size: f.size });
    end = offset + f.size;
  }

  const value = new Uint8Array(end);
  for (const ext of externs.values()) {
    const given = Object.hasOwn(KCONFIG_VIRTUAL, ext.name) ? KCONFIG_VIRTUAL[ext.name] : Object.hasOwn(values, ext.name) ? values[ext.name] : undefined;
    if (given === undefined) {
      if (ext.weak) continue; // libbpf: a weak extern nobody resolves is 0
      throw new ElfError(ErrorCode.Unsupported,
        `the __kconfig extern ${ext.name} is a kernel configuration value the runtime does not know (it knows ${Object.keys(KCONFIG_VIRTUAL).join(', ')} and the host-supplied kconfig values; declare it __weak to read 0)`, where);
    }
    writeValue(value, ext, given);
  }

  return {
    externs,
    map: {
      name: '.kconfig', type: MapType.ARRAY, keySize: 4, valueSize: end, maxEntries: 1,
      flags: BPF_F_MMAPABLE | BPF_F_RDONLY_PROG, pinning: 0, numaNode: 0, mapExtra: 0,
      valueTypeId: datasec.id, section: '.kconfig', offset: 0, size: end,
      index, internal: true, initialData: value, readonly: true, variables,
    },
  };
}

function kindOf(btf: Btf, typeId: number, name: string): { kind: KconfigExtern['kind']; size: number; align: number } {
  const t: BtfType = btf.resolve(typeId);
  // libbpf's find_kcfg_type: any 1-byte int is a char unless it is a bool.
  if (t.kind === 'int') {
    if (t.bool) {
      if (t.size === 1) return { kind: 'bool', size: 1, align: 1 };
    } else if (t.size === 1) return { kind: 'char', size: 1, align: 1 };
    else if (t.size === 2 || t.size === 4 || t.size === 8) return { kind: 'int', size: t.size, align: t.size };
  }
  if ((t.kind === 'enum' && t.size === 4) || t.kind === 'enum64') {
    if (t.name === 'libbpf_tristate') return { kind: 'tristate', size: t.size, align: t.size };
  }
  if (t.kind === 'array' && t.nelems > 0) {
    const element = btf.resolve(t.type);
    if (element.kind === 'int' && element.size === 1 && !element.bool) return { kind: 'chars', size: t.nelems, align: 1 };
  }
  throw new ElfError(ErrorCode.Unsupported,
    `the __kconfig extern ${name} has type ${t.kind} ${t.name || `#${t.id}`}, which is not a bool, char, integer, enum libbpf_tristate or char array`, where);
}

function bad(ext: KconfigExtern, given: string | number | boolean, why: string): never {
  throw new ElfError(ErrorCode.BadArgument, `the kconfig value ${JSON.stringify(given)} for ${ext.name} (${ext.kind}, ${ext.size} bytes) ${why}`, where);
}

function writeValue(out: Uint8Array, ext: KconfigExtern, given: string | number | boolean): void {
  if (ext.kind === 'chars') {
    if (typeof given !== 'string') bad(ext, given, 'is not a string');
    const text = given.length >= 2 && given.startsWith('"') && given.endsWith('"') ? given.slice(1, -1) : given;
    const bytes = new TextEncoder().encode(text);
    // As libbpf: truncated to the array, always NUL-terminated.
    out.set(bytes.subarray(0, ext.size - 1), ext.offset);
    return;
  }
  let n: bigint;
  if (typeof given === 'boolean') n = given ? 1n : 0n;
  else if (typeof given === 'number') {
    if (!Number.isSafeInteger(given)) bad(ext, given, 'is not an integer');
    n = BigInt(given);
  } else if (given === 'y' || given === 'n' || given === 'm') {
    if (ext.kind !== 'bool' && ext.kind !== 'tristate' && ext.kind !== 'char') bad(ext, given, 'is a tristate, the extern is not bool, tristate or char');
    if (ext.kind === 'char') n = BigInt(given.charCodeAt(0));
    else if (given === 'm' && ext.kind === 'bool') bad(ext, given, 'is "m" (module), which a bool cannot hold');
    else n = given === 'y' ? 1n : given === 'm' ? 2n : 0n;
  } else if (/^-?(0x[0-9a-f]+|\d+)$/i.test(given.trim())) {
    const s = given.trim();
    n = s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
  } else bad(ext, given, 'is neither y/n/m nor a number');
  if (ext.kind === 'bool' && n !== 0n && n !== 1n) bad(ext, given, 'is not 0 or 1');
  const bits = BigInt(ext.size * 8);
  if (n < -(1n << (bits - 1n)) || n >= (1n << bits)) bad(ext, given, `does not fit in ${ext.size} bytes`);
  const u = BigInt.asUintN(Number(bits), n);
  // Little-endian, as the runtime's memory.
  for (let i = 0; i < ext.size; i++) out[ext.offset + i] = Number((u >> BigInt(8 * i)) & 0xffn);
}

/**
 * Reads a kernel config in the text format of `/proc/config.gz` and `.config` (`CONFIG_X=y`,
 * `CONFIG_HZ=1000`, `CONFIG_LOCALVERSION="-rt"`, `# CONFIG_X is not set`) into kconfig values.
 *
 * @throws Bpf2WasmError `E_BAD_ARGUMENT` naming the line for a line that is neither a comment
 *   nor `NAME=VALUE` with a CONFIG_ name.
 */
export function parseKconfig(text: string, source = 'kconfig'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const unset = /^#\s*(CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) {
      out[unset[1]!] = 'n';
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!m) {
      throw new ElfError(ErrorCode.BadArgument, `line ${i + 1} of ${source} is neither a comment nor CONFIG_NAME=VALUE: ${JSON.stringify(line.slice(0, 80))}`, { file: source, line: i + 1 });
    }
    out[m[1]!] = m[2]!;
  }
  return out;
}
