/**
 * Compiles a whole ELF object (as `clang -O2 -target bpf` writes it) into one Wasm module: every
 * program (or the ones asked for) as an export, their maps laid out in linear memory, map and
 * variable references resolved to addresses, the kernel's helpers declared from the UAPI table,
 * tail calls between the object's programs compiled inline, and array lookups inlined.
 *
 * The module's manifest describes the maps (types from BTF, initial data, static slots) so the
 * runtime can create them without the object.
 */
import { CORE_POISON_HELPER, DEFAULT_MAX_CALL_DEPTH, type CorePoisonEntry, type Manifest, type MapManifest } from '../../runtime/abi.js';
import { toBase64 } from '../../runtime/base64.js';
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import { abiSignature, allHelpers, helperById, type HelperProto } from '../../runtime/helper-table.js';
import type { LddwInsn } from '../../runtime/isa/insn.js';
import { MapType } from '../../runtime/uapi/index.js';
import { layoutMaps, MAPS_BASE, type MapPlacement } from '../../runtime/maps/placement.js';
import { compile, planModule, type CompiledModule, type CompileOptions, type EntryDecl, type HelperDecl } from '../compile.js';
import type { ArrayMapInfo } from '../rewrite/array-lookup.js';
import type { InterpreterImage } from '../../runtime/interpreter.js';
import type { Btf } from '../btf/types.js';
import { GENERIC_HELPER_SIGNATURE, type HelperArgKind, type HelperResultKind, type HelperSignature } from '../../runtime/abi.js';
import { programSourceLines } from './lines.js';
import { encodeSourceLines, SourceLineTable, withSourceLine, type SourceLine } from '../../runtime/source-lines.js';
import { loadObjectSpec, LddwSource, type MapSpec, type ObjectSpec, type ProgramSpec } from '../elf/loader.js';
import { mapTypeDescs } from '../btf/typedesc.js';
import { parseHostBtf } from '../btf/host-btf.js';
import { callsSockCasts, sockCastManifest } from '../btf/sock-layout.js';
import type { LoadKconfig } from '../elf/kconfig.js';
import { linkObjects } from './link.js';

export interface ObjectCompileOptions extends Omit<
  CompileOptions, 'entries' | 'resolveLddw' | 'helpers' | 'mapsRegion' | 'tailCalls' | 'arrayMap' | 'manifestExtras'
> {
  /** The programs to compile, by function or section name; all by default. */
  programs?: readonly string[];
  /**
   * Helpers beyond the kernel's (custom helpers by id, with a name and a signature); an entry with
   * a kernel helper's id replaces its declaration.
   */
  helpers?: readonly HelperDecl[];
  /** Compile lookups in constant array maps to address arithmetic (default true). */
  inlineArrayLookups?: boolean;
  /**
   * Inner maps to lay out in advance for each map of maps declared with an inner map definition
   * (`__array(values, struct inner)`), for user code to create at run time and store in the outer
   * map (`ObjectRuntime.createInnerMap`): linear memory is laid out at compile time. Default: up
   * to 4 (at most the outer map's max_entries), none for inner maps over 1 MiB.
   */
  innerMapPool?: number;
  /**
   * A raw BTF blob (such as `/sys/kernel/btf/vmlinux`) whose types extend the target of CO-RE
   * relocations: relocations on types the runtime does not present (`struct task_struct`)
   * resolve against it by libbpf's rules; the runtime's contexts keep their own layouts. Applies
   * to objects given as bytes (an `ObjectSpec` was relocated when it was loaded). A malformed blob
   * is an ElfError `E_BAD_ELF` naming the option and the offset in the blob.
   */
  btf?: Uint8Array;
  /**
   * Values for the object's `__kconfig` externs by name (`{ CONFIG_HZ: 1000, CONFIG_BPF_JIT: true }`,
   * or the text of a kernel config: see compiler/elf/kconfig.ts `parseKconfig`). The runtime's
   * virtual `LINUX_*` externs are not taken from here. Applies to objects given as bytes.
   */
  kconfig?: LoadKconfig;
}

/** Inner maps over this many bytes get no pool by default. */
const INNER_POOL_MAX_BYTES = 1 << 20;

/** A compiled object: the module, its manifest and the object's parsed description. */
export interface CompiledObject extends CompiledModule {
  spec: ObjectSpec;
}

const OP_CALL = 0x85;

/** Where the maps region starts: right after the null guard and the runtime's scratch page. */
export { MAPS_BASE };

/** The kernel's helpers as compile-time declarations (ids, names, Wasm signatures). */
export function kernelHelperDecls(): HelperDecl[] {
  return allHelpers().map(declare);
}

/** The kernel helper `id` as a compile-time declaration, if the kernel defines it. */
function kernelHelperDecl(id: number): HelperDecl | undefined {
  const h = helperById(id);
  return h && declare(h);
}

function declare(h: HelperProto): HelperDecl {
  return {
    id: h.id,
    name: h.name,
    signature: abiSignature(h),
    ...(h.args?.some((a) => a.kind === 'callback') ? { callback: true } : {}),
  };
}

/**
 * Compiles an ELF object (bytes, or the spec `loadObjectSpec` returned), or several objects into
 * one module, where maps pinned by name are shared (see compiler/object/link.ts).
 *
 * @throws ElfError for a malformed object, CompileError for programs or maps bpf2wasm rejects.
 */
export async function compileObject(
  input: Uint8Array | ObjectSpec | readonly (Uint8Array | ObjectSpec)[],
  options: ObjectCompileOptions = {},
): Promise<CompiledObject> {
  const { spec, bytes, compileOptions, lines } = prepareObject(input, options);
  const compiled = await compile(bytes, compileOptions).catch((e: unknown) => {
    // A compile error at an instruction also names its C line.
    throw withSourceLine(e, lines);
  });
  return { ...compiled, spec };
}

/** An object prepared for the interpreter: what it runs, the manifest and the object's description. */
export interface PlannedObject {
  /** The interpreter's input (runtime/interpreter.ts `interpretModule`). */
  image: InterpreterImage;
  /** The manifest the compiled module would carry (the same options give the same manifest). */
  manifest: Manifest;
  spec: ObjectSpec;
}

/**
 * Prepares an ELF object (or several, linked) for the interpreter exactly as `compileObject`
 * prepares it for code generation (program selection, map layout, relocations, helper
 * declarations, tail calls, inline array lookups, the manifest), without generating any code.
 *
 * @throws what `compileObject` throws before code generation.
 */
export function planObject(
  input: Uint8Array | ObjectSpec | readonly (Uint8Array | ObjectSpec)[],
  options: ObjectCompileOptions = {},
): PlannedObject {
  const { spec, bytes, compileOptions, lines } = prepareObject(input, options);
  let planned: ReturnType<typeof planModule>;
  try {
    planned = planModule(bytes, compileOptions);
  } catch (e) {
    // A compile error at an instruction also names its C line.
    throw withSourceLine(e, lines);
  }
  const { program, emitted, manifest } = planned;
  const { resolveLddw, descriptors } = compileOptions;
  const image: InterpreterImage = {
    program,
    manifest,
    ...(resolveLddw ? { resolveLddw } : {}),
    callFixups: emitted.fixups,
    ...(descriptors ? { descriptors } : {}),
    sourceLines: lines,
  };
  return { image, manifest, spec };
}

/** An object laid out for code generation: the spec, the instruction stream and the compiler's options. */
interface PreparedObject {
  spec: ObjectSpec;
  bytes: Uint8Array;
  compileOptions: CompileOptions;
  /** The C source lines of the programs' instructions (from .BTF.ext), for errors. */
  lines: { lookup(pc: number): SourceLine | undefined };
}

/** Everything `compileObject` does before compiling: the programs' stream, map layout, resolvers. */
function prepareObject(
  input: Uint8Array | ObjectSpec | readonly (Uint8Array | ObjectSpec)[],
  options: ObjectCompileOptions = {},
): PreparedObject {
  const { programs: wanted, helpers: custom, inlineArrayLookups = true, innerMapPool, btf: hostBtfBytes, kconfig, ...rest } = options;
  const hostBtf = hostBtfBytes === undefined ? undefined : parseHostBtf(hostBtfBytes);
  const load = (x: Uint8Array | ObjectSpec): ObjectSpec => (x instanceof Uint8Array ? loadObjectSpec(x, { ...(hostBtf ? { hostBtf } : {}), ...(kconfig ? { kconfig } : {}) }) : x);
  const spec = Array.isArray(input) ? linkObjects(input.map(load)) : load(input as Uint8Array | ObjectSpec);
  if (spec.bigEndian) {
    // Its programs load and store multi-byte values in big-endian order, in memory that is
    // little-endian here: data, maps and contexts would all read back swapped.
    throw new CompileError(
      ErrorCode.Unsupported,
      'the object is big-endian (clang -target bpfeb); bpf2wasm runs little-endian eBPF: build it with -target bpf or bpfel',
    );
  }
  const programs = selectPrograms(spec, wanted);
  const allMaps = withInnerMapPools(spec.maps, innerMapPool);

  // One instruction stream: the programs one after the other (calls and callbacks are relative).
  let slots = 0;
  const entries: EntryDecl[] = [];
  for (const p of programs) {
    entries.push({ name: p.name, pc: slots, type: p.type, section: p.section });
    slots += p.insns.length / 8;
  }
  const bytes = new Uint8Array(slots * 8);
  let at = 0;
  for (const p of programs) {
    bytes.set(p.insns, at);
    at += p.insns.length;
  }

  const layout = layoutMaps(allMaps.map((m) => ({
    name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries,
    flags: m.flags, mapExtra: m.mapExtra,
  })), MAPS_BASE);
  const placement = (insn: LddwInsn): { map: MapSpec; at: MapPlacement } => {
    const map = spec.maps[insn.imm];
    const at = map ? layout.placements[insn.imm] : undefined;
    if (!map || !at) {
      throw new CompileError(ErrorCode.BadObject, `lddw refers to map ${insn.imm}, but the object has ${spec.maps.length} maps`, { insn: insn.pc });
    }
    return { map, at };
  };

  const resolveLddw = (insn: LddwInsn): bigint => {
    switch (insn.src) {
      case LddwSource.MAP_FD:
        return BigInt(placement(insn).at.desc);
      case LddwSource.MAP_VALUE: {
        const { map, at } = placement(insn);
        const off = insn.imm2 >>> 0;
        if (map.maxEntries !== 1 || map.type !== MapType.ARRAY || off >= map.valueSize) {
          throw new CompileError(
            ErrorCode.BadObject,
            `lddw takes the address of offset ${off} in map ${map.name}, which is not inside its single value`,
            { insn: insn.pc, map: map.name },
          );
        }
        return BigInt(at.values + off);
      }
      default:
        throw new CompileError(ErrorCode.Unsupported, `lddw with source ${insn.src} is not supported`, { insn: insn.pc });
    }
  };

  const arrayMap = (insn: LddwInsn): ArrayMapInfo | undefined => {
    if (insn.src !== LddwSource.MAP_FD) return undefined;
    const map = spec.maps[insn.imm];
    const at = layout.placements[insn.imm];
    if (!map || !at || (map.type !== MapType.ARRAY && map.type !== MapType.PERCPU_ARRAY)) return undefined;
    return { values: at.values, stride: Math.ceil(map.valueSize / 8) * 8, maxEntries: map.maxEntries };
  };

  // The helpers the programs call (every `call` with source 0 in the stream compile() decodes,
  // and only those: declaring all of the kernel's ~200 costs ~1 ms of a cold start): the host's
  // custom declaration, else the kernel's. Helper ids no kernel defines (custom helpers called
  // through a function pointer cast from a number) compile to imports with the generic
  // signature; the host must provide them by id when it instantiates the module, or
  // instantiation fails naming them.
  const customById = new Map((custom ?? []).map((h) => [h.id, h]));
  const helperDecls = new Map<number, HelperDecl>();
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    if (bytes[i] !== OP_CALL || (bytes[i + 1]! & 0xf0) !== 0) continue;
    const id = new DataView(bytes.buffer, bytes.byteOffset + i + 4, 4).getInt32(0, true);
    if (id !== CORE_POISON_HELPER && !helperDecls.has(id)) helperDecls.set(id, customById.get(id) ?? kernelHelperDecl(id) ?? { id, name: `helper_${id >>> 0}` });
  }

  const maps = allMaps.map((m, i) => mapManifest(spec, m, layout.placements[i]!));
  // Key copies for bpf_for_each_map_elem callbacks, one per call depth, after the arena.
  const keySlot = Math.ceil(Math.max(8, ...allMaps.map((m) => m.keySize)) / 8) * 8;
  const keySlots = rest.maxCallDepth ?? DEFAULT_MAX_CALL_DEPTH;
  const keyScratch = { address: Math.ceil(layout.arenaEnd / 16) * 16, slotSize: keySlot, slots: keySlots };
  const scratchEnd = keyScratch.address + keySlot * keySlots;
  // The socket structs of the bpf_skc_to_* casts, after the key copies (inside checked mode's span).
  const sockCasts = callsSockCasts(helperDecls.keys()) ? sockCastManifest(Math.ceil(scratchEnd / 16) * 16, hostBtf) : undefined;
  const sourceLines = programSourceLines(spec.btfExt, programs);
  // The instructions poisoned by CO-RE relocations, at module slots, for E_CORE_RELO's message.
  const corePoisons: CorePoisonEntry[] = [];
  programs.forEach((p, i) => {
    for (const r of p.coreRelos ?? []) {
      if (r.poisoned === undefined) continue;
      corePoisons.push({ insn: entries[i]!.pc + r.pc, program: p.name, kind: r.kindName, what: r.what, access: r.relo.accessString, reason: r.poisoned });
    }
  });
  // Built on the first lookup: only errors look lines up.
  let table: SourceLineTable | undefined;
  const lines = { lookup: (pc: number) => (table ??= new SourceLineTable(encodeSourceLines(sourceLines))).lookup(pc) };
  const compileOptions: CompileOptions = {
    ...rest,
    sourceLines,
    entries,
    helpers: [...helperDecls.values()],
    resolveLddw,
    mapsRegion: { arenaBase: layout.arenaBase, end: sockCasts ? sockCasts.address + sockCasts.slots * sockCasts.slotSize : scratchEnd },
    tailCalls: true,
    descriptors: { base: layout.metaBase, count: allMaps.length },
    resolveKfunc: (imm, pc) => {
      const k = spec.kfuncs[imm];
      if (!k) throw new CompileError(ErrorCode.BadObject, `kfunc call ${imm} refers to no extern function of the object`, { insn: pc });
      return { id: imm, name: k.name, signature: kfuncSignature(k.btf ?? spec.btf, k.btfId) };
    },
    ...(inlineArrayLookups ? { arrayMap } : {}),
    manifestExtras: { maps, license: spec.license, keyScratch, ...(corePoisons.length > 0 ? { corePoisons } : {}), ...(sockCasts ? { sockCasts } : {}) },
  };
  return { spec, bytes, compileOptions, lines };
}

/** The object's maps followed by the pools of inner maps for its maps of maps. */
function withInnerMapPools(maps: readonly MapSpec[], pool: number | undefined): MapSpec[] {
  if (pool !== undefined && (!Number.isInteger(pool) || pool < 0 || pool > 1024)) {
    throw new CompileError(ErrorCode.BadArgument, `innerMapPool must be an integer from 0 to 1024, not ${String(pool)}`);
  }
  const out = [...maps];
  for (const outer of maps) {
    const inner = outer.innerMap;
    if (!inner || (outer.type !== MapType.ARRAY_OF_MAPS && outer.type !== MapType.HASH_OF_MAPS)) continue;
    const bytes = inner.maxEntries * (inner.keySize + inner.valueSize);
    const n = pool ?? (bytes > INNER_POOL_MAX_BYTES ? 0 : Math.min(4, outer.maxEntries));
    for (let i = 0; i < n; i++) {
      out.push({ ...inner, name: `${outer.name}.inner.${i}`, index: out.length, poolOf: outer.name });
    }
  }
  return out;
}

function selectPrograms(spec: ObjectSpec, wanted: readonly string[] | undefined): ProgramSpec[] {
  if (spec.programs.length === 0) {
    throw new CompileError(ErrorCode.BadObject, 'the object has no programs (no executable section other than .text)');
  }
  if (!wanted) return [...spec.programs];
  const out: ProgramSpec[] = [];
  for (const name of wanted) {
    const found = spec.programs.filter((p) => p.name === name || p.section === name);
    if (found.length === 0) {
      throw new CompileError(
        ErrorCode.BadObject,
        `the object has no program ${name}; it has ${spec.programs.map((p) => `${p.name} (${p.section})`).join(', ')}`,
        { program: name },
      );
    }
    for (const p of found) if (!out.includes(p)) out.push(p);
  }
  return out;
}

function mapManifest(spec: ObjectSpec, m: MapSpec, at: MapPlacement): MapManifest {
  const types = mapTypeDescs(m, m.btf ?? spec.btf);
  return {
    name: m.name, index: m.index, type: m.type, keySize: m.keySize, valueSize: m.valueSize,
    maxEntries: m.maxEntries, flags: m.flags, mapExtra: m.mapExtra, pinning: m.pinning,
    desc: at.desc, values: at.values, valuesSize: at.valuesSize, meta: at.meta, metaSize: at.metaSize,
    ...(m.internal ? { internal: true } : {}),
    ...(m.readonly ? { readonly: true } : {}),
    ...(m.initialData && m.initialData.some((b) => b !== 0) ? { initialData: toBase64(m.initialData) } : {}),
    ...(types.key ? { keyType: types.key } : {}),
    ...(types.value ? { valueType: types.value } : {}),
    ...(types.variables ? { variables: types.variables } : {}),
    ...(m.initialValues && m.initialValues.length > 0
      ? {
          initialValues: m.initialValues.map((v) => (m.type === MapType.PROG_ARRAY
            ? { index: v.index, program: v.symbol }
            : { index: v.index, map: v.symbol })),
        }
      : {}),
    ...(m.innerMap
      ? {
          innerMap: m.innerMap.name,
          innerDef: {
            type: m.innerMap.type, keySize: m.innerMap.keySize, valueSize: m.innerMap.valueSize,
            maxEntries: m.innerMap.maxEntries, flags: m.innerMap.flags,
          },
        }
      : {}),
    ...(m.poolOf !== undefined ? { poolOf: m.poolOf } : {}),
  };
}

/**
 * The Wasm signature of a kfunc from its BTF prototype, by the helpers' rules: pointers and
 * integers up to 32 bits are i32, 64-bit integers i64; results likewise (signed 32-bit ones
 * sign-extended), void gives r0 = 0. Without BTF: the generic (i64 x 5) -> i64.
 */
export function kfuncSignature(btf: Btf | undefined, btfId: number | undefined): HelperSignature {
  const fn = btf && btfId !== undefined ? btf.type(btfId) : undefined;
  const proto = fn && fn.kind === 'func' ? btf!.type(fn.type) : undefined;
  if (!btf || !proto || proto.kind !== 'func_proto' || proto.params.length > 5 || proto.variadic) {
    return { args: [...GENERIC_HELPER_SIGNATURE.args], result: GENERIC_HELPER_SIGNATURE.result };
  }
  const kindOf = (id: number): { size: number; signed: boolean; ptr: boolean } => {
    const t = btf.resolve(id);
    if (t.kind === 'ptr') return { size: 4, signed: false, ptr: true };
    if (t.kind === 'int') return { size: t.size, signed: t.signed, ptr: false };
    if (t.kind === 'enum') return { size: t.size, signed: false, ptr: false };
    return { size: 8, signed: false, ptr: false };
  };
  const args: HelperArgKind[] = proto.params.map((p) => (kindOf(p.type).size <= 4 ? 'i32' : 'i64'));
  let result: HelperResultKind;
  if (proto.returnType === 0) result = 'void';
  else {
    const r = kindOf(proto.returnType);
    result = r.size > 4 ? 'i64' : r.signed ? 's32' : 'u32';
  }
  return { args, result };
}
