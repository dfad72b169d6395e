/**
 * `bpf2wasm gen types`: a TypeScript module that gives typed access to one ELF object's
 * programs, maps and global variables, as `bpftool gen skeleton` does for C and cilium's
 * `bpf2go` for Go. The module imports only `bpf2wasm/runtime` and holds:
 *
 * - `<Name>ProgramName`: the union of the object's program names;
 * - `<Name>Maps`: each map's `BpfMap<K, V>`, with K and V the TypeScript types of what the
 *   runtime decodes (compiler/gen/tstype.ts; per-CPU values as `[V]`, one per CPU; PROG_ARRAY
 *   values as program names; map-of-maps values as map names; CGROUP_ARRAY values as cgroup paths);
 * - `<Name>Globals`: the `.data` / `.rodata` / `.bss` variables;
 * - `<Name>Instance`: a `BpfInstance` whose `program`, `map`, `ringbuf`, `perfbuf`,
 *   `getGlobal`, `setGlobal` and `createInnerMap` accept only the object's names and return
 *   their types;
 * - `instantiate<Name>(wasm, options)` and `as<Name>(instance)`, which check that the module
 *   really is the object's (every program, map and global present, maps of the same type and
 *   sizes) before handing out the typed view.
 *
 * The types come from the same descriptors the compiler puts in the module's manifest
 * (compiler/btf/typedesc.ts), so they describe exactly what `BpfMap.get` returns.
 */
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import { MapType, mapTypeName } from '../../runtime/uapi/index.js';
import type { TypeDesc } from '../../runtime/values.js';
import { loadObjectSpec, type MapSpec, type ObjectSpec } from '../elf/loader.js';
import { mapTypeDescs } from '../btf/typedesc.js';
import { docText, pascalCase, propertyName, TsTypeWriter } from './tstype.js';

/** Options of {@link generateTypes}. */
export interface GenerateTypesOptions {
  /**
   * The object's name in the generated identifiers (`uid_counter` -> `UidCounterMaps`,
   * `instantiateUidCounter`); default `object`.
   */
  name?: string;
  /** Where the generated module imports the runtime from; default `bpf2wasm/runtime`. */
  runtimeModule?: string;
  /** Names the source in the generated header comment (a file name); default none. */
  source?: string;
}

const PERCPU = new Set<number>([MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]);
const MAP_OF_MAPS = new Set<number>([MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS]);
/** Maps without keys: their values go through push/pop/peek. */
const KEYLESS = new Set<number>([MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER]);

/**
 * The TypeScript module for the ELF object `objectBytes` (see the file comment). The object is
 * only read; it is never modified.
 *
 * @throws ElfError for a malformed object; CompileError `E_UNSUPPORTED` for a big-endian one
 *   (bpf2wasm cannot run it), `E_BAD_ARGUMENT` for a name that gives no identifier.
 */
export function generateTypes(objectBytes: Uint8Array, options: GenerateTypesOptions = {}): string {
  const spec = loadObjectSpec(objectBytes);
  if (spec.bigEndian) {
    throw new CompileError(ErrorCode.Unsupported, 'the object is big-endian (clang -target bpfeb); bpf2wasm runs little-endian eBPF objects only');
  }
  return new ModuleWriter(spec, options).write();
}

/** What the generated wrapper checks at run time: [name, map type, key size, value size]. */
type MapShape = [string, number, number, number];

class ModuleWriter {
  readonly #spec: ObjectSpec;
  readonly #prefix: string;
  readonly #runtime: string;
  readonly #source: string | undefined;
  readonly #types: TsTypeWriter;
  readonly #names: Record<'programName' | 'maps' | 'innerMaps' | 'globals' | 'instance' | 'options' | 'ringbufName' | 'perfbufName', string>;

  constructor(spec: ObjectSpec, options: GenerateTypesOptions) {
    this.#spec = spec;
    const name = options.name ?? 'object';
    if (typeof name !== 'string' || !/[A-Za-z0-9]/.test(name)) {
      throw new CompileError(ErrorCode.BadArgument, `gen types: the name ${JSON.stringify(name)} gives no TypeScript identifier`);
    }
    this.#prefix = pascalCase(name);
    this.#runtime = options.runtimeModule ?? 'bpf2wasm/runtime';
    this.#source = options.source;
    const p = this.#prefix;
    this.#names = {
      programName: `${p}ProgramName`, maps: `${p}Maps`, innerMaps: `${p}InnerMaps`, globals: `${p}Globals`,
      instance: `${p}Instance`, options: `${p}Options`, ringbufName: `${p}RingbufName`, perfbufName: `${p}PerfbufName`,
    };
    this.#types = new TsTypeWriter([
      ...Object.values(this.#names), `instantiate${p}`, `as${p}`, 'SHAPE', 'checkShape',
    ]);
  }

  write(): string {
    const spec = this.#spec;
    const n = this.#names;
    const programs = spec.programs.map((prog) => prog.name);
    const user = spec.maps.filter((m) => !m.internal);
    const ringbufs = user.filter((m) => m.type === MapType.RINGBUF).map((m) => m.name);
    const perfbufs = user.filter((m) => m.type === MapType.PERF_EVENT_ARRAY).map((m) => m.name);
    const typedMaps = spec.maps.filter((m) => m.type !== MapType.RINGBUF && m.type !== MapType.PERF_EVENT_ARRAY);

    const mapLines = typedMaps.map((m) => {
      const { key, value } = this.#mapTypes(m, m);
      return `  /** ${docText(describeMap(m))} */\n  readonly ${propertyName(m.name)}: BpfMap<${key}, ${value}>;`;
    });
    const innerLines = user.filter((m) => MAP_OF_MAPS.has(m.type) && m.innerMap).map((m) => {
      const { key, value } = this.#mapTypes(m.innerMap!, m);
      return `  /** Inner maps of ${docText(m.name)}: ${docText(describeMap(m.innerMap!))} */\n  readonly ${propertyName(m.name)}: BpfMap<${key}, ${value}>;`;
    });
    const globals = this.#globals();
    const globalLines = globals.map((g) => `  /** ${docText(g.doc)} */\n  ${propertyName(g.name)}: ${this.#types.typeOf(g.type)};`);
    const shape: { programs: string[]; maps: MapShape[]; globals: string[] } = {
      programs,
      maps: spec.maps.map((m): MapShape => [m.name, m.type, m.keySize, m.valueSize]),
      globals: globals.map((g) => g.name),
    };
    const union = (names: readonly string[]): string => (names.length ? names.map((x) => JSON.stringify(x)).join(' | ') : 'never');
    const p = this.#prefix;
    const what = this.#source ? ` from ${docText(this.#source)}` : '';

    // Only what the module uses, so that it compiles under noUnusedLocals.
    const mapImport = mapLines.length + innerLines.length > 0 ? ' type BpfMap,' : '';
    return `/* Generated by \`bpf2wasm gen types\`${what}: do not edit, generate it again when the object changes. */
import {
  BpfRuntimeError, ErrorCode, instantiate,
  type BpfInstance,${mapImport} type BpfProgram, type InstantiateOptions, type PerfEventArray, type RingBuffer,
  type ValueInput,
} from ${JSON.stringify(this.#runtime)};

${this.#types.declarations.map((d) => d.source).join('\n\n')}${this.#types.declarations.length ? '\n\n' : ''}/** The programs of the object. */
export type ${n.programName} = ${union(programs)};

/** The maps of the object (ring and perf buffers are under \`ringbuf()\` and \`perfbuf()\`). */
export interface ${n.maps} {
${block(mapLines)}}

/** The inner maps \`createInnerMap(outer)\` makes, by outer map. */
export interface ${n.innerMaps} {
${block(innerLines)}}

/** The global variables of the object's data sections (\`.data\`, \`.rodata\`, \`.bss\`, ...). */
export interface ${n.globals} {
${block(globalLines)}}

/** The RINGBUF maps of the object. */
export type ${n.ringbufName} = ${union(ringbufs)};
/** The PERF_EVENT_ARRAY maps of the object. */
export type ${n.perfbufName} = ${union(perfbufs)};

/** Options of {@link instantiate${p}}: the runtime's, with \`globals\` typed. */
export interface ${n.options} extends Omit<InstantiateOptions, 'globals'> {
  /** Global variables to set before any program runs (\`.rodata\` configuration, as skeletons do). */
  globals?: { [N in keyof ${n.globals}]?: ValueInput<${n.globals}[N]> };
}

/** A running instance of the object, typed by its programs, maps and globals. */
export interface ${n.instance} extends Omit<
  BpfInstance, 'program' | 'run' | 'map' | 'ringbuf' | 'perfbuf' | 'getGlobal' | 'setGlobal' | 'createInnerMap'
> {
  /** A program by name. */
  program(name: ${n.programName}): BpfProgram;
  /** Runs the first (or the named) program with a copy of \`ctx\`; returns r0 (unsigned 64-bit). */
  run(ctx?: Uint8Array, options?: { program?: ${n.programName} }): bigint;
  /** A map by name, typed by its BTF key and value types. */
  map<N extends keyof ${n.maps}>(name: N): ${n.maps}[N];
  /** The ring buffer of a RINGBUF map. */
  ringbuf(name: ${n.ringbufName}): RingBuffer;
  /** The perf buffer of a PERF_EVENT_ARRAY map. */
  perfbuf(name: ${n.perfbufName}): PerfEventArray;
  /** Reads a global variable. */
  getGlobal<N extends keyof ${n.globals}>(name: N): ${n.globals}[N];
  /** Writes a global variable (\`.rodata\` too). */
  setGlobal<N extends keyof ${n.globals}>(name: N, value: ValueInput<${n.globals}[N]>): void;
  /** A new inner map for the map of maps \`outer\`. */
  createInnerMap<N extends keyof ${n.innerMaps}>(outer: N): ${n.innerMaps}[N];
}

/** What the object has, checked against a module before it is typed as the object's. */
const SHAPE = ${JSON.stringify(shape)};

function checkShape(inst: BpfInstance): void {
  const fail = (why: string): never => {
    throw new BpfRuntimeError(ErrorCode.BadArgument, ${JSON.stringify(`the module is not the object ${this.#source ?? p} was generated from: `)} + why);
  };
  const programs = new Set(inst.programs.map((prog) => prog.name));
  for (const name of SHAPE.programs) if (!programs.has(name)) fail(\`it has no program \${name}\`);
  for (const [name, type, keySize, valueSize] of SHAPE.maps as [string, number, number, number][]) {
    const m = inst.maps.get(name);
    if (!m) fail(\`it has no map \${name}\`);
    else if (m.type !== type || m.keySize !== keySize || m.valueSize !== valueSize) {
      fail(\`map \${name} is of type \${m.type} with \${m.keySize}-byte keys and \${m.valueSize}-byte values, not type \${type}, \${keySize} and \${valueSize}\`);
    }
  }
  const globals = new Set<string>();
  for (const names of Object.values(inst.globals())) for (const name of names) globals.add(name);
  for (const name of SHAPE.globals) if (!globals.has(name)) fail(\`it has no global variable \${name}\`);
}

/** Types an instance of the object (from \`instantiate\` or \`interpret\`), after checking it is one. */
export function as${p}(inst: BpfInstance): ${n.instance} {
  checkShape(inst);
  return inst as unknown as ${n.instance};
}

/** Instantiates the compiled object (\`bpf2wasm compile\`) and types it. */
export async function instantiate${p}(wasm: BufferSource | WebAssembly.Module, options: ${n.options} = {}): Promise<${n.instance}> {
  return as${p}(await instantiate(wasm, options as InstantiateOptions));
}
`;
  }

  /**
   * K and V of a map, by the runtime's rules (runtime/maps/api.ts): BTF types when the map
   * has them, else integers by size; `owner` is the map whose type decides (the outer map of
   * an inner map definition).
   */
  #mapTypes(def: MapSpec | NonNullable<MapSpec['innerMap']>, owner: MapSpec): { key: string; value: string } {
    const descs = mapTypeDescs(def, owner.btf ?? this.#spec.btf);
    const key = KEYLESS.has(def.type) ? 'never' : descs.key ? this.#types.typeOf(descs.key) : untypedInt(def.keySize);
    let value: string;
    if (def.type === MapType.PROG_ARRAY) value = this.#names.programName;
    else if (MAP_OF_MAPS.has(def.type) || def.type === MapType.CGROUP_ARRAY) value = 'string';
    else if (descs.value) value = this.#types.typeOf(descs.value);
    else if ('internal' in def && def.internal) value = 'Record<string, never>';
    else value = untypedInt(def.valueSize);
    if (PERCPU.has(def.type)) value = `[${value}]`;
    return { key, value };
  }

  /** The typed global variables, the first of each name (as `getGlobal` finds them). */
  #globals(): { name: string; type: TypeDesc; doc: string }[] {
    const out = new Map<string, { name: string; type: TypeDesc; doc: string }>();
    for (const m of this.#spec.maps) {
      if (!m.internal) continue;
      for (const v of mapTypeDescs(m, m.btf ?? this.#spec.btf).variables ?? []) {
        if (!out.has(v.name)) out.set(v.name, { name: v.name, type: v.type, doc: `${m.name} + ${v.offset} (${v.size} bytes)` });
      }
    }
    return [...out.values()];
  }
}

/** Lines of an interface body: each followed by a newline (none for an empty body). */
function block(lines: readonly string[]): string {
  return lines.map((l) => `${l}\n`).join('');
}

/** The type of a key or value without BTF, as the runtime decodes it: integers by size, else bytes. */
function untypedInt(size: number): string {
  return size === 8 ? 'bigint' : size === 1 || size === 2 || size === 4 ? 'number' : 'Uint8Array';
}

function describeMap(m: { name: string; type: number; keySize: number; valueSize: number; maxEntries: number }): string {
  const type = mapTypeName(m.type);
  return `\`${m.name}\`: ${type}, ${m.keySize}-byte keys, ${m.valueSize}-byte values, max_entries ${m.maxEntries}`;
}
