/**
 * The standalone linker: one module from the support module (wasm/standalone/, built into
 * support-wasm.ts) and a program module as `compileObject` writes it with `faultImport` (faults call
 * `env.fault`), with no import but WASI.
 *
 * Index spaces: the support module's function imports (WASI) and functions come first, those
 * that something reaches (the hooks, the host interface, the helpers the program imports, and
 * what they call), in their order, their bodies re-indexed (code.ts); its `env.memory` and
 * `env.table` imports become the module's own
 * memory (exported) and table (the program's callbacks at their numbers, for bpf_loop and
 * bpf_for_each_map_elem). The program's types, globals and functions follow; its bodies are
 * re-indexed (code.ts) and its imports bound to the support module's exports: `env.fault` to
 * `bpf2wasm_fault`, each `helpers.NAME` to the export NAME (a helper it lacks was refused
 * before linking, see standalone.ts). Each program gets an export `NAME(addr: i32, len: i32) ->
 * i64` that marks the run (bpf2wasm_begin), calls the program's entry wrapper and returns the
 * full r0 (bpf2wasm_end).
 */
import { IMPORT_ENV, IMPORT_FAULT, IMPORT_HELPERS, IMPORT_MEMORY, type Manifest } from '../../runtime/abi.js';
import {
  Kind, linkError, readBodies, readDataSegments, readExports, readFunctions, readGlobals, readImports, readSections, readTypes, Section,
  section, vector, Writer, type Export, type RawSection,
} from './binary.js';
import { remapBody } from './code.js';
import type { DataSegment } from './image.js';

/** The custom section describing a standalone module for its host (JSON). */
export const STANDALONE_SECTION = 'bpf2wasm.standalone';

/** The support module's exports the linker calls or re-exports. */
const HOOK_FAULT = 'bpf2wasm_fault';
const HOOK_BEGIN = 'bpf2wasm_begin';
const HOOK_END = 'bpf2wasm_end';
/** Re-exported for the host. */
export const HOST_EXPORTS = [
  'bpf2wasm_input', 'bpf2wasm_status', 'bpf2wasm_status_insn', 'bpf2wasm_status_detail',
  'bpf2wasm_map_lookup', 'bpf2wasm_map_update', 'bpf2wasm_map_delete', 'bpf2wasm_map_next_key', 'bpf2wasm_ringbuf_consume',
] as const;

/** What the linker takes. */
export interface LinkInput {
  support: Uint8Array;
  program: Uint8Array;
  manifest: Manifest;
  segments: readonly DataSegment[];
  /** The JSON of the bpf2wasm.standalone section. */
  description: string;
}

interface Parsed {
  sections: RawSection[];
  get(id: number): Uint8Array | undefined;
}

function parse(bytes: Uint8Array, what: string, allowed: readonly number[]): Parsed {
  const sections = readSections(bytes);
  for (const s of sections) {
    if (s.id !== Section.Custom && !allowed.includes(s.id)) throw linkError(`the ${what} module has section ${s.id}`);
  }
  return { sections, get: (id) => sections.find((s) => s.id === id)?.payload };
}

/** The support module's functions by export name (their indices in both modules). */
export function supportExports(support: Uint8Array): Map<string, Export> {
  const s = parse(support, 'support', [Section.Type, Section.Import, Section.Function, Section.Export, Section.Code]);
  return new Map(readExports(s.get(Section.Export) ?? new Uint8Array([0])).filter((e) => e.kind === Kind.Func).map((e) => [e.name, e]));
}

/** Links the standalone module. */
export function linkStandalone(input: LinkInput): Uint8Array {
  const { manifest } = input;
  const empty = new Uint8Array([0]);
  const sup = parse(input.support, 'support', [Section.Type, Section.Import, Section.Function, Section.Export, Section.Code]);
  const prog = parse(input.program, 'program', [Section.Type, Section.Import, Section.Function, Section.Global, Section.Export, Section.Code, Section.Data, Section.DataCount]);

  const supTypes = readTypes(sup.get(Section.Type) ?? empty);
  const supImports = readImports(sup.get(Section.Import) ?? empty);
  const supFuncs = readFunctions(sup.get(Section.Function) ?? empty);
  const supExports = new Map(readExports(sup.get(Section.Export) ?? empty).map((e) => [e.name, e]));
  const supBodies = readBodies(sup.get(Section.Code) ?? empty);
  const supFuncImports = supImports.filter((i) => i.kind === Kind.Func);
  for (const i of supImports) {
    if (i.kind === Kind.Func ? i.module !== 'wasi_snapshot_preview1' : i.module !== IMPORT_ENV) {
      throw linkError(`the support module imports ${i.module}.${i.field}`);
    }
  }
  const typeOfSupFunc = (index: number): Uint8Array => {
    const t = index < supFuncImports.length ? supFuncImports[index]!.type! : supFuncs[index - supFuncImports.length]!;
    return supTypes[t]!;
  };
  const supFunc = (name: string): number => {
    const e = supExports.get(name);
    if (!e || e.kind !== Kind.Func) throw linkError(`the support module does not export ${name}`);
    return e.index;
  };

  const progTypes = readTypes(prog.get(Section.Type) ?? empty);
  const progImports = readImports(prog.get(Section.Import) ?? empty);
  const progFuncs = readFunctions(prog.get(Section.Function) ?? empty);
  const progGlobals = readGlobals(prog.get(Section.Global) ?? empty);
  const progExports = readExports(prog.get(Section.Export) ?? empty);
  const progBodies = readBodies(prog.get(Section.Code) ?? empty);

  // Program function imports -> support functions, with the same type.
  const importTarget: number[] = [];
  for (const imp of progImports) {
    if (imp.kind === Kind.Memory && imp.module === IMPORT_ENV && imp.field === IMPORT_MEMORY) continue;
    if (imp.kind !== Kind.Func) throw linkError(`the program imports ${imp.module}.${imp.field} of kind ${imp.kind}`);
    let target: number;
    if (imp.module === IMPORT_ENV && imp.field === IMPORT_FAULT) target = supFunc(HOOK_FAULT);
    else if (imp.module === IMPORT_HELPERS) target = supFunc(imp.field);
    else throw linkError(`the program imports ${imp.module}.${imp.field}`);
    const want = progTypes[imp.type!]!;
    const have = typeOfSupFunc(target);
    if (!sameBytes(want, have)) throw linkError(`helper ${imp.field} has another signature in the support module`);
    importTarget.push(target);
  }
  // Keep only the support functions something reaches (the hooks, the host's exports, the
  // helpers the program imports, and what they call), and only the WASI functions those use.
  const roots = [HOOK_BEGIN, HOOK_END, ...HOST_EXPORTS].map(supFunc).concat(importTarget);
  const kept = reachable(roots, supFuncImports.length, supBodies);
  const newIndex = new Map<number, number>();
  [...kept].sort((a, b) => a - b).forEach((old, i) => newIndex.set(old, i));
  const moved = (old: number): number => {
    const n = newIndex.get(old);
    if (n === undefined) throw linkError(`support function ${old} was dropped but is used`);
    return n;
  };
  const keptImports = supFuncImports.filter((_, i) => kept.has(i));
  const keptFuncs: number[] = [];
  const keptBodies: Uint8Array[] = [];
  supFuncs.forEach((t, i) => {
    const old = supFuncImports.length + i;
    if (!kept.has(old)) return;
    keptFuncs.push(t);
    keptBodies.push(remapBody(supBodies[i]!, { func: moved, type: (x) => x, global: (x) => x }));
  });
  const keptCount = keptImports.length + keptFuncs.length;
  const hook = (name: string): number => moved(supFunc(name));
  const progImportCount = importTarget.length;
  const typeBase = supTypes.length;
  const funcBase = keptCount - progImportCount;
  const remap = {
    func: (i: number): number => (i < progImportCount ? moved(importTarget[i]!) : funcBase + i),
    type: (i: number): number => {
      if (i >= progTypes.length) throw linkError(`type index ${i} out of range`);
      return typeBase + i;
    },
    global: (i: number): number => {
      if (i >= progGlobals.length) throw linkError(`global index ${i} out of range`);
      return i;
    },
  };
  const progExport = (name: string): number => {
    const e = progExports.find((x) => x.name === name && x.kind === Kind.Func);
    if (!e) throw linkError(`the program module does not export ${name}`);
    return remap.func(e.index);
  };

  // Types: the support's, the program's, then the entry export type (i32 i32) -> i64.
  const entryType = new Uint8Array([0x60, 2, 0x7f, 0x7f, 1, 0x7e]);
  const types = [...supTypes, ...progTypes, entryType];
  const entryTypeIndex = types.length - 1;

  // Functions: support, program (re-indexed), entry exports.
  const funcTypes = [...keptFuncs, ...progFuncs.map((t) => remap.type(t))];
  const bodies = [...keptBodies, ...progBodies.map((b) => remapBody(b, remap))];
  const exports: Array<{ name: string; kind: number; index: number }> = [{ name: 'memory', kind: Kind.Memory, index: 0 }];
  for (const name of HOST_EXPORTS) exports.push({ name, kind: Kind.Func, index: hook(name) });
  const reserved = new Set(exports.map((e) => e.name));
  for (const p of manifest.programs) {
    if (reserved.has(p.exportName) || p.exportName.startsWith('bpf2wasm_')) {
      throw linkError(`program ${p.name} would be exported as ${p.exportName}, a name the module's interface uses`);
    }
    const body = new Writer().u32(0) // no locals
      .u8(0x10).u32(hook(HOOK_BEGIN))
      .u8(0x20).u32(0).u8(0x20).u32(1)
      .u8(0x10).u32(progExport(p.exportName))
      .u8(0x1a) // drop the low half
      .u8(0x10).u32(hook(HOOK_END))
      .u8(0x0b).result();
    funcTypes.push(entryTypeIndex);
    bodies.push(body);
    exports.push({ name: p.exportName, kind: Kind.Func, index: keptImports.length + funcTypes.length - 1 });
    reserved.add(p.exportName);
  }

  // The callback table: entry n is callback n (0 stays null).
  const callbacks = [...(manifest.callbacks ?? [])].sort((a, b) => a.number - b.number);
  const tableSize = (callbacks.at(-1)?.number ?? 0) + 1;
  const elems: number[] = [];
  for (let n = 1; n < tableSize; n++) {
    const cb = callbacks.find((c) => c.number === n);
    if (!cb) throw linkError(`callback ${n} is missing from the manifest`);
    elems.push(progExport(cb.exportName));
  }

  const out = new Writer();
  out.bytes(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
  section(out, Section.Type, vector(types));
  section(out, Section.Import, vector(keptImports.map((i) => new Writer().name(i.module).name(i.field).u8(Kind.Func).u32(i.type!).result())));
  section(out, Section.Function, vector(funcTypes.map((t) => new Writer().u32(t).result())));
  section(out, Section.Table, vector([new Writer().u8(0x70).u8(1).u32(tableSize).u32(tableSize).result()]));
  const { layout } = manifest;
  section(out, Section.Memory, vector([new Writer().u8(1).u32(layout.initialPages).u32(layout.maximumPages).result()]));
  if (progGlobals.length > 0) section(out, Section.Global, vector(progGlobals));
  section(out, Section.Export, vector(exports.map((e) => new Writer().name(e.name).u8(e.kind).u32(e.index).result())));
  if (elems.length > 0) {
    const e = new Writer().u32(0).u8(0x41).s32(1).u8(0x0b).u32(elems.length);
    for (const f of elems) e.u32(f);
    section(out, Section.Element, vector([e.result()]));
  }
  section(out, Section.Code, vector(bodies.map((b) => new Writer().sized(b).result())));
  // The program's own segments (its constant tables, in the null guard) with the initial image.
  const segments = [...readDataSegments(prog.get(Section.Data) ?? empty), ...input.segments];
  section(out, Section.Data, vector(segments.map((s) => new Writer().u32(0).u8(0x41).s32(s.address).u8(0x0b).sized(s.bytes).result())));
  section(out, Section.Custom, new Writer().name(STANDALONE_SECTION).bytes(new TextEncoder().encode(input.description)).result());
  return out.result();
}

/** The functions reachable from `roots` through direct calls and ref.func in the support bodies. */
function reachable(roots: readonly number[], importCount: number, bodies: readonly Uint8Array[]): Set<number> {
  const seen = new Set<number>();
  const work = [...roots];
  while (work.length > 0) {
    const f = work.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    if (f < importCount) continue;
    const body = bodies[f - importCount];
    if (!body) throw linkError(`support function ${f} does not exist`);
    remapBody(body, { func: (i) => (work.push(i), i), type: (i) => i, global: (i) => i });
  }
  return seen;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
