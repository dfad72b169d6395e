/**
 * `bpf2wasm gen types` (compiler/gen/): the generated modules compile with `tsc --strict`
 * (and stricter flags), code that uses them correctly compiles, misuse fails with the expected
 * diagnostics, and at run time every map entry and global has the shape its generated type
 * says, checked against TypeScript's own view of the type (the checker), not the generator's
 * rules.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cObject, objectFiles, repoBytes, ROOT } from '../../test/support/fixtures.js';
import { BpfRuntimeError, ErrorCode, isBpf2WasmError } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import type { BpfInstance } from '../../runtime/program.js';
import type { BpfMap } from '../../runtime/maps/api.js';
import { main, type CliIO } from '../cli/main.js';
import { generateTypes } from '../gen/types.js';
import { TsTypeWriter } from '../gen/tstype.js';
import type { TypeDesc } from '../../runtime/values.js';
import { compileObject } from '../object/compile-object.js';

const root = ROOT;
const objectBytes = cObject;

/** The fixtures: counters, a struct-valued map, enums/unions/per-CPU/queue/prog array, globals, maps of maps, buffers. */
const FIXTURES = [
  'uid_counter', 'xdp_counter', 'map_options', 'typed_maps', 'rodata_config', 'global_data', 'map_in_map',
  'ringbuf_hello', 'perfbuf_hello', 'tail_calls', 'lpm_blocklist', 'string_literals',
] as const;
type Fixture = (typeof FIXTURES)[number];
const prefix = (f: string): string => f.split('_').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');

// ---------------------------------------------------------------------------------------------
// Compile-time: tsc --strict over the generated modules and usage files

/** Correct uses: each must compile without a diagnostic. */
const GOOD: Record<string, string> = {
  uid_counter: `
    import { instantiateUidCounter, type UidCounterInstance } from './uid_counter.js';
    export async function use(wasm: Uint8Array): Promise<bigint> {
      const inst: UidCounterInstance = await instantiateUidCounter(wasm);
      inst.program('hello').run();
      const counts = inst.map('counter_table');
      counts.set(1000, 3n);
      counts.set(1000, 3);
      const n: bigint | undefined = counts.get(1000);
      for (const [uid, count] of counts) { const u: number = uid; const c: bigint = count; void u; void c; }
      for (const k of counts.keys()) { const u: number = k; void u; }
      counts.delete(1000);
      return (n ?? 0n) + (counts.has(0) ? 1n : 0n);
    }`,
  map_options: `
    import { instantiateMapOptions, type FlowKey, type FlowStatsT } from './map_options.js';
    export async function use(wasm: Uint8Array): Promise<void> {
      const inst = await instantiateMapOptions(wasm);
      const flows = inst.map('flows');
      const key: FlowKey = { saddr: 1, daddr: 2, sport: 3, dport: 4, proto: 6 };
      flows.set(key, { packets: 1n, bytes: 60 });
      flows.set({ saddr: 1 }, { packets: 1n });
      const s: FlowStatsT | undefined = flows.get(key);
      const p: bigint | undefined = s?.packets;
      void p;
      const seen = inst.map('seen');
      seen.push(7);
      const maybe: boolean = seen.peek(7);
      void maybe;
      const scratch = inst.map('scratch');
      const v: [Uint8Array] | undefined = scratch.get(new Uint8Array(16));
      void v;
    }`,
  typed_maps: `
    import { instantiateTypedMaps, type Event, type State } from './typed_maps.js';
    export async function use(wasm: Uint8Array): Promise<void> {
      const inst = await instantiateTypedMaps(wasm, { globals: { label: 'tiny', current_state: 'IDLE' } });
      inst.program('record').test({ dataIn: new Uint8Array(64) });
      const e: Event | undefined = inst.map('events').get(1);
      if (e) {
        const comm: string | number[] = e.comm;
        const st: State = e.state;
        const named: 'IDLE' | 'RUNNING' | 'DONE' | number = st;
        const d: bigint = e.delta;
        const u: boolean = e.urgent;
        const ports: number = e.ports.sport + e.ports.dport + e.ipv4 + e.raw[0]! + e.hist.length + e.flags + e.kind;
        void comm; void named; void d; void u; void ports;
      }
      inst.map('events').set(2, { pid: 1, comm: 'x', state: 'DONE', delta: 3, ipv4: 1 });
      inst.map('words').set(0, { wide: 5n });
      const w = inst.map('words').get(0);
      const halves: number[] | undefined = w?.halves;
      void halves;
      inst.map('by_state').set('RUNNING', 2n);
      inst.map('by_comm').set('bash', -1);
      const per: [{ packets: bigint; bytes: bigint }] | undefined = inst.map('percpu_stats').get(0);
      void per;
      inst.map('pending').push(4);
      const q: number | undefined = inst.map('pending').pop();
      const top: number | undefined = inst.map('pending').peek();
      void q; void top;
      inst.map('jumps').set(0, 'record');
      const target: 'record' | 'dispatch' | undefined = inst.map('jumps').get(0);
      void target;
      const total: bigint = inst.getGlobal('total');
      inst.setGlobal('total', 5);
      inst.setGlobal('last_addr', { bytes: [10, 0, 0, 1] });
      const label: string | number[] = inst.getGlobal('label');
      void total; void label;
      inst.run(undefined, { program: 'dispatch' });
    }`,
  rodata_config: `
    import { instantiateRodataConfig } from './rodata_config.js';
    export async function use(wasm: Uint8Array): Promise<number> {
      const inst = await instantiateRodataConfig(wasm, { globals: { min_len: 10, verbose: true } });
      inst.setGlobal('target_uid', 1000);
      const v: boolean = inst.getGlobal('verbose');
      return inst.getGlobal('min_len') + (v ? 1 : 0);
    }`,
  map_in_map: `
    import { instantiateMapInMap } from './map_in_map.js';
    export async function use(wasm: Uint8Array): Promise<void> {
      const inst = await instantiateMapInMap(wasm);
      const name: string | undefined = inst.map('outer').get(0);
      const inner = inst.createInnerMap('outer_hash');
      inner.set(1n, 2n);
      inst.map('outer_hash').set(3, inner.name);
      inst.map('inner_a').set(1, 5);
      void name;
    }`,
  runtime_generics: `
    import { instantiate, type BpfInstance, type BpfMap, type ValueInput } from 'bpf2wasm/runtime';
    interface Stats { packets: bigint; bytes: bigint; name: string | number[]; ok: boolean; tags: number[] }
    export async function use(wasm: Uint8Array): Promise<void> {
      const inst: BpfInstance = await instantiate(wasm);
      const m = inst.map<number, Stats>('stats');
      m.set(1, { packets: 1, bytes: 2n, name: 'x', ok: 1, tags: [1] });
      m.set(1, {});
      const v: Stats | undefined = m.get(1);
      const deleted: boolean = m.delete(1);
      const has: boolean = m.has(1);
      for (const [k, s] of m) { const n: number = k; const p: bigint = s.packets; void n; void p; }
      for (const [k, s] of m.entries()) { const n: number = k; const p: bigint = s.bytes; void n; void p; }
      for (const k of m.keys()) { const n: number = k; void n; }
      const all: Array<[number, Stats]> = m.dump();
      const q = inst.map<never, number>('queue');
      q.push(1);
      const popped: number | undefined = q.pop();
      const peeked: number | undefined = q.peek();
      const bloom = inst.map<never, number>('bloom');
      const maybe: boolean = bloom.peek(5);
      // A typed map is still a BpfMap (of unknown keys and values): covariant in K and V.
      const untyped: BpfMap = m;
      const unknownValue: unknown = untyped.get(new Uint8Array(4));
      const input: ValueInput<{ a: bigint; b: number[] }> = { a: 1, b: [2] };
      void v; void deleted; void has; void all; void popped; void peeked; void maybe; void unknownValue; void input;
    }`,
  ringbuf_hello: `
    import { instantiateRingbufHello } from './ringbuf_hello.js';
    export async function use(wasm: Uint8Array): Promise<void> {
      const inst = await instantiateRingbufHello(wasm);
      inst.ringbuf('output');
    }`,
};

/** Misuse: each must fail with exactly these diagnostics (code and a part of the message). */
const BAD: Record<string, { fixture: Fixture; body: string; errors: [number, string][] }> = {
  generic_wrong_key: {
    fixture: 'uid_counter',
    body: `plain.map<number, bigint>('counter_table').get('1');`,
    errors: [[2345, `Argument of type 'string' is not assignable to parameter of type 'number'`]],
  },
  generic_wrong_member: {
    fixture: 'uid_counter',
    body: `plain.map<number, { packets: bigint }>('s').set(1, { packet: 1n });`,
    errors: [[2561, `'packet' does not exist in type '{ packets?: number | bigint; }'`]],
  },
  generic_pop_is_typed: {
    fixture: 'uid_counter',
    body: `const s: string | undefined = plain.map<never, number>('q').pop(); void s;`,
    errors: [[2322, `Type 'number | undefined' is not assignable to type 'string | undefined'`]],
  },
  generic_bloom_peek_is_boolean: {
    fixture: 'uid_counter',
    body: `const n: number | undefined = plain.map<never, number>('b').peek(1); void n;`,
    errors: [[2322, `Type 'boolean' is not assignable to type 'number'`]],
  },
  wrong_map_name: {
    fixture: 'uid_counter',
    body: `inst.map('counter_tabel');`,
    errors: [[2345, `Argument of type '"counter_tabel"' is not assignable to parameter of type '"counter_table"'`]],
  },
  wrong_key_type: {
    fixture: 'uid_counter',
    body: `inst.map('counter_table').get('1000');`,
    errors: [[2345, `Argument of type 'string' is not assignable to parameter of type 'number'`]],
  },
  wrong_value_type: {
    fixture: 'uid_counter',
    body: `inst.map('counter_table').set(1, 'many');`,
    errors: [[2345, `Argument of type 'string' is not assignable to parameter of type 'number | bigint'`]],
  },
  decoded_value_is_bigint: {
    fixture: 'uid_counter',
    body: `const n: number | undefined = inst.map('counter_table').get(1); void n;`,
    errors: [[2322, `Type 'bigint | undefined' is not assignable to type 'number | undefined'`]],
  },
  wrong_program_name: {
    fixture: 'uid_counter',
    body: `inst.program('helo');`,
    errors: [[2345, `Argument of type '"helo"' is not assignable to parameter of type '"hello"'`]],
  },
  wrong_program_option: {
    fixture: 'typed_maps',
    body: `inst.run(undefined, { program: 'recrd' });`,
    errors: [[2820, `Type '"recrd"' is not assignable to type 'TypedMapsProgramName | undefined'. Did you mean '"record"'?`]],
  },
  unknown_struct_member: {
    fixture: 'map_options',
    body: `inst.map('flows').set({ saddr: 1, port: 2 }, { packets: 1n });`,
    errors: [[2561, `'port' does not exist in type '{ saddr?: number; daddr?: number; sport?: number; dport?: number; proto?: number; }'`]],
  },
  wrong_enum_name: {
    fixture: 'typed_maps',
    body: `inst.map('by_state').set('STOPPED', 1n);`,
    errors: [[2345, `Argument of type '"STOPPED"' is not assignable to parameter of type 'State'`]],
  },
  queue_has_no_key: {
    fixture: 'typed_maps',
    body: `inst.map('pending').get(0);`,
    errors: [[2345, `Argument of type '0' is not assignable to parameter of type 'never'`]],
  },
  prog_array_takes_program_names: {
    fixture: 'typed_maps',
    body: `inst.map('jumps').set(0, 'nowhere');`,
    errors: [[2345, `Argument of type '"nowhere"' is not assignable to parameter of type 'TypedMapsProgramName'`]],
  },
  per_cpu_values_are_arrays: {
    fixture: 'typed_maps',
    body: `const s = inst.map('percpu_stats').get(0); if (s) { const p: bigint = s.packets; void p; }`,
    errors: [[2339, `Property 'packets' does not exist on type '[Stats]'`]],
  },
  char_array_may_be_bytes: {
    fixture: 'typed_maps',
    body: `const e = inst.map('events').get(1); if (e) e.comm.startsWith('b');`,
    errors: [[2339, `Property 'startsWith' does not exist on type 'string | number[]'`]],
  },
  wrong_global_name: {
    fixture: 'rodata_config',
    body: `inst.getGlobal('min_length');`,
    errors: [[2345, `Argument of type '"min_length"' is not assignable to parameter of type 'keyof RodataConfigGlobals'`]],
  },
  wrong_global_type: {
    fixture: 'rodata_config',
    body: `inst.setGlobal('verbose', 'yes');`,
    errors: [[2345, `Argument of type '"yes"' is not assignable to parameter of type 'boolean | 0 | 1'`]],
  },
  wrong_global_option: {
    fixture: 'rodata_config',
    body: `void instantiateRodataConfig(new Uint8Array(), { globals: { min_len: 'long' } });`,
    errors: [[2322, `Type 'string' is not assignable to type 'number'`]],
  },
  ringbuf_is_not_a_map: {
    fixture: 'ringbuf_hello',
    body: `inst.map('output');`,
    // (its one other map is the string literals' section)
    errors: [[2345, `Argument of type '"output"' is not assignable to parameter of type '".rodata.str1.1"'`]],
  },
  no_inner_maps_for_plain_maps: {
    fixture: 'map_in_map',
    body: `inst.createInnerMap('inner_a');`,
    errors: [[2345, `Argument of type '"inner_a"' is not assignable to parameter of type 'keyof MapInMapInnerMaps'`]],
  },
};

/** Every other committed object (test-programs/c and elf): its module must compile too. */
const OTHERS = ['c', 'elf'].flatMap((d) => objectFiles(`test-programs/${d}`)
  .filter((f) => !FIXTURES.includes(f.slice(0, -2) as Fixture))
  .map((f) => `${d}/${f}`));

const STRICT: ts.CompilerOptions = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noPropertyAccessFromIndexSignature: true,
  noUnusedLocals: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: [],
  skipLibCheck: true,
  noEmit: true,
  baseUrl: root,
  paths: { 'bpf2wasm/runtime': [path.join(root, 'runtime/index.ts')] },
};

let dir: string;
let program: ts.Program;
const files = new Map<string, string>();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'bpf2wasm-gen-types-'));
  for (const f of FIXTURES) {
    const file = path.join(dir, `${f}.ts`);
    writeFileSync(file, generateTypes(objectBytes(f), { name: f, source: `${f}.o` }));
    files.set(f, file);
  }
  for (const rel of OTHERS) {
    const bytes = repoBytes(`test-programs/${rel}`);
    let source: string;
    try {
      source = generateTypes(bytes, { name: path.basename(rel, '.o') });
    } catch (e) {
      // Big-endian objects cannot run here: refused as compileObject refuses them.
      expect(rel).toMatch(/\.be\.o$/);
      expect(e).toMatchObject({ code: ErrorCode.Unsupported });
      continue;
    }
    const file = path.join(dir, `other_${rel.replace(/\W/g, '_')}.ts`);
    writeFileSync(file, source);
    files.set(`other:${rel}`, file);
  }
  for (const [f, body] of Object.entries(GOOD)) {
    const file = path.join(dir, `use_${f}.ts`);
    writeFileSync(file, body);
    files.set(`use_${f}`, file);
  }
  for (const [name, { fixture, body }] of Object.entries(BAD)) {
    const p = prefix(fixture);
    const file = path.join(dir, `bad_${name}.ts`);
    writeFileSync(file, [
      `import type { BpfInstance } from 'bpf2wasm/runtime';`,
      `import { instantiate${p}, type ${p}Instance } from './${fixture}.js';`,
      `void instantiate${p};`,
      `export function misuse(inst: ${p}Instance, plain: BpfInstance): void {`,
      `  void inst; void plain;`,
      `  ${body}`,
      `}`,
      '',
    ].join('\n'));
    files.set(`bad_${name}`, file);
  }
  program = ts.createProgram([...files.values()], STRICT);
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function diagnosticsOf(key: string): { code: number; text: string }[] {
  const sf = program.getSourceFile(files.get(key)!)!;
  return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].map((d) => ({
    code: d.code,
    text: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

describe('gen types: the generated modules under tsc --strict', () => {
  it.each(FIXTURES)('%s.ts compiles without a diagnostic', (f) => {
    expect(diagnosticsOf(f)).toEqual([]);
  });

  it('the modules of every other committed object compile too', () => {
    expect(OTHERS.length).toBeGreaterThanOrEqual(10);
    for (const rel of OTHERS) {
      const key = `other:${rel}`;
      if (files.has(key)) expect(diagnosticsOf(key), rel).toEqual([]);
    }
    expect(OTHERS.filter((rel) => !files.has(`other:${rel}`))).toEqual(['elf/sum.be.o']);
  });

  it.each(Object.keys(GOOD))('correct use of %s compiles', (f) => {
    expect(diagnosticsOf(`use_${f}`)).toEqual([]);
  });

  it.each(Object.keys(BAD))('misuse %s fails with the expected diagnostic', (name) => {
    const got = diagnosticsOf(`bad_${name}`);
    const want = BAD[name]!.errors;
    expect(got.map((d) => d.code)).toEqual(want.map(([code]) => code));
    want.forEach(([, text], i) => expect(got[i]!.text).toContain(text));
  });

  it('the module imports nothing but the runtime entry', () => {
    for (const f of FIXTURES) {
      const source = readFileSync(files.get(f)!, 'utf8');
      const imports = [...source.matchAll(/\bfrom\s+("[^"]*"|'[^']*')/g)].map((m) => m[1]);
      expect(imports).toEqual(['"bpf2wasm/runtime"']);
    }
  });

  it('a snapshot of one generated module (typed_maps.o)', () => {
    expect(readFileSync(files.get('typed_maps')!, 'utf8')).toMatchSnapshot();
  });
});

// ---------------------------------------------------------------------------------------------
// Run time: the values have the shapes the types say

/** Why `value` does not have the TypeScript type `type` (undefined when it does). */
function mismatch(checker: ts.TypeChecker, value: unknown, type: ts.Type, where: string, depth = 0): string | undefined {
  if (depth > 32) return `${where}: too deep`;
  if (type.isUnion()) {
    const why = type.types.map((t) => mismatch(checker, value, t, where, depth + 1));
    return why.some((w) => w === undefined) ? undefined : `${where}: ${show(value)} is none of ${checker.typeToString(type)} (${why.join('; ')})`;
  }
  const f = type.flags;
  if (f & ts.TypeFlags.Never) return `${where}: a value of type never`;
  if (f & ts.TypeFlags.StringLiteral) return value === (type as ts.StringLiteralType).value ? undefined : `${where}: ${show(value)} is not ${checker.typeToString(type)}`;
  if (f & ts.TypeFlags.BooleanLiteral) return value === (checker.typeToString(type) === 'true') ? undefined : `${where}: ${show(value)} is not ${checker.typeToString(type)}`;
  if (f & ts.TypeFlags.Number) return typeof value === 'number' ? undefined : `${where}: ${show(value)} is not a number`;
  if (f & ts.TypeFlags.BigInt) return typeof value === 'bigint' ? undefined : `${where}: ${show(value)} is not a bigint`;
  if (f & ts.TypeFlags.String) return typeof value === 'string' ? undefined : `${where}: ${show(value)} is not a string`;
  if (f & ts.TypeFlags.Boolean) return typeof value === 'boolean' ? undefined : `${where}: ${show(value)} is not a boolean`;
  if (checker.isTupleType(type)) {
    const elems = checker.getTypeArguments(type as ts.TypeReference);
    if (!Array.isArray(value) || value.length !== elems.length) return `${where}: ${show(value)} is not a tuple of ${elems.length}`;
    for (let i = 0; i < elems.length; i++) {
      const why = mismatch(checker, value[i], elems[i]!, `${where}[${i}]`, depth + 1);
      if (why) return why;
    }
    return undefined;
  }
  if (checker.isArrayType(type)) {
    const [elem] = checker.getTypeArguments(type as ts.TypeReference);
    if (!Array.isArray(value)) return `${where}: ${show(value)} is not an array`;
    for (let i = 0; i < value.length; i++) {
      const why = mismatch(checker, value[i], elem!, `${where}[${i}]`, depth + 1);
      if (why) return why;
    }
    return undefined;
  }
  if (type.getSymbol()?.getName() === 'Uint8Array') return value instanceof Uint8Array ? undefined : `${where}: ${show(value)} is not a Uint8Array`;
  if (f & ts.TypeFlags.Object) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return `${where}: ${show(value)} is not an object`;
    const props = checker.getPropertiesOfType(type);
    const index = checker.getIndexInfosOfType(type);
    for (const key of Object.keys(value)) {
      if (!props.some((p) => p.getName() === key)) {
        if (index.length === 0) return `${where}: the value has ${key}, which the type does not`;
        const why = mismatch(checker, (value as Record<string, unknown>)[key], index[0]!.type, `${where}.${key}`, depth + 1);
        if (why) return why;
      }
    }
    for (const p of props) {
      const name = p.getName();
      if (!Object.prototype.hasOwnProperty.call(value, name)) return `${where}: the value has no ${name}`;
      const why = mismatch(checker, (value as Record<string, unknown>)[name], checker.getTypeOfSymbol(p), `${where}.${name}`, depth + 1);
      if (why) return why;
    }
    return undefined;
  }
  return `${where}: cannot check against ${checker.typeToString(type)}`;
}

function show(v: unknown): string {
  return typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[array of ${v.length}]` : String(v);
}

/** The types of an exported interface's properties, from the checker. */
function propertiesOf(fixture: Fixture, iface: string): Map<string, ts.Type> {
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(files.get(fixture)!)!;
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(sf)!);
  const sym = exports.find((s) => s.getName() === iface);
  if (!sym) throw new Error(`${fixture}.ts exports no ${iface}`);
  const type = checker.getDeclaredTypeOfSymbol(sym);
  return new Map(checker.getPropertiesOfType(type).map((p) => [p.getName(), checker.getTypeOfSymbol(p)]));
}

/** The generated module, importing the runtime's source so the instances are the ones the test makes. */
async function importGenerated(fixture: Fixture): Promise<Record<string, unknown>> {
  const file = path.join(dir, `run_${fixture}.ts`);
  writeFileSync(file, generateTypes(objectBytes(fixture), { name: fixture, runtimeModule: pathToFileURL(path.join(root, 'runtime/index.ts')).href }));
  return (await import(/* @vite-ignore */ pathToFileURL(file).href)) as Record<string, unknown>;
}

type Instantiator = (wasm: Uint8Array, options?: object) => Promise<BpfInstance>;

/** Runs the fixture's programs so its maps hold values. */
const EXERCISE: Partial<Record<Fixture, (inst: BpfInstance) => void>> = {
  uid_counter: (inst) => inst.program('hello').run(),
  xdp_counter: (inst) => void inst.program('count_packets').test({ dataIn: new Uint8Array(64) }),
  typed_maps: (inst) => {
    inst.program('record').test({ dataIn: new Uint8Array(64) });
    inst.map('jumps').set(0, 'record');
    inst.map('pending').push(5);
    // Bytes that are not UTF-8: the char array decodes as its element values (string | number[]).
    inst.setGlobal('label', [-1, 0x41]); // (char is signed)
  },
  map_options: (inst) => {
    const packet = new Uint8Array(60);
    inst.program('account').test({ dataIn: packet });
    inst.map('scratch').set(new Uint8Array(16), [new Uint8Array(64).fill(7)]);
  },
  global_data: (inst) => void inst.program('track').test({ dataIn: new Uint8Array(80) }),
  lpm_blocklist: (inst) => {
    inst.map('blocklist').set({ prefixlen: 24, addr: 0x0000000a }, 0n);
    inst.program().test({ dataIn: new Uint8Array(64) });
  },
  map_in_map: (inst) => {
    const inner = (inst as unknown as { createInnerMap(n: string): BpfMap<bigint, bigint> }).createInnerMap('outer_hash');
    inner.set(1n, 2n);
    inst.map('outer_hash').set(3, inner.name);
  },
};

describe('gen types: the values at run time have the generated types', () => {
  it.each(FIXTURES)('%s: every map entry and global matches its type', async (fixture) => {
    const mod = await importGenerated(fixture);
    const make = mod[`instantiate${prefix(fixture)}`] as Instantiator;
    const { wasm } = await compileObject(objectBytes(fixture));
    const inst = await make(wasm, { trace: () => {} });
    EXERCISE[fixture]?.(inst);
    const checker = program.getTypeChecker();
    let checked = 0;
    for (const [name, mapType] of propertiesOf(fixture, `${prefix(fixture)}Maps`)) {
      const [keyType, valueType] = checker.getTypeArguments(mapType as ts.TypeReference);
      const map = inst.map(name);
      if (keyType!.flags & ts.TypeFlags.Never) {
        // Keyless maps (queue, stack, bloom filter): their values through peek.
        if (map.type === 30) continue;
        const v = map.peek();
        if (v !== undefined) {
          expect(mismatch(checker, v, valueType!, `${name}.peek()`)).toBeUndefined();
          checked++;
        }
        continue;
      }
      for (const [k, v] of map.entries()) {
        expect(mismatch(checker, k, keyType!, `${name} key`)).toBeUndefined();
        // Empty PROG_ARRAY / map-of-maps slots read back as undefined, as get() says (V | undefined).
        if (v === undefined && (map.type === 3 || map.type === 12)) continue;
        expect(mismatch(checker, v, valueType!, `${name}[${show(k)}]`)).toBeUndefined();
        checked++;
      }
    }
    for (const [name, type] of propertiesOf(fixture, `${prefix(fixture)}Globals`)) {
      expect(mismatch(checker, inst.getGlobal(name), type, name)).toBeUndefined();
      checked++;
    }
    if (fixture !== 'ringbuf_hello' && fixture !== 'perfbuf_hello') expect(checked).toBeGreaterThan(0);
  });

  it('typed_maps: the values are the ones the program wrote', async () => {
    const mod = await importGenerated('typed_maps');
    const { wasm } = await compileObject(objectBytes('typed_maps'));
    const inst = await (mod.instantiateTypedMaps as Instantiator)(wasm);
    inst.program('record').test({ dataIn: new Uint8Array(64) });
    expect(inst.map('events').get(1)).toEqual({
      pid: 42, comm: 'bpf2wasm', state: 'RUNNING', delta: -5n, urgent: true, flags: 5, kind: 17,
      ipv4: 0x0100007f, raw: [0x7f, 0, 0, 1], ports: { sport: 80, dport: 443 }, hist: [1, 0, 0, 4],
    });
    expect(inst.map('words').get(0)).toEqual({ wide: 0x1122334455667788n, halves: [0x55667788, 0x11223344] });
    expect([...inst.map('by_state').entries()]).toEqual([['DONE', 1n]]);
    expect([...inst.map('by_comm').entries()]).toEqual([['bpf2wasm', -7]]);
    expect(inst.map('percpu_stats').get(0)).toEqual([{ packets: 1n, bytes: 64n }]);
    expect(inst.map('pending').pop()).toBe(99);
    expect(inst.getGlobal('total')).toBe(64n);
    expect(inst.getGlobal('last_addr')).toEqual({ bytes: [10, 0, 0, 1] });
    expect(inst.getGlobal('current_state')).toBe('DONE');
    expect(inst.getGlobal('label')).toBe('typed');
  });

  it('the wrapper refuses a module compiled from another object, naming what differs', async () => {
    const mod = await importGenerated('uid_counter');
    const { wasm } = await compileObject(objectBytes('xdp_counter'));
    const err = await (mod.instantiateUidCounter as Instantiator)(wasm).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BpfRuntimeError);
    expect((err as BpfRuntimeError).code).toBe(ErrorCode.BadArgument);
    expect((err as Error).message).toContain('it has no program hello');
  });

  it('the wrapper refuses a map of another size', async () => {
    const mod = await importGenerated('typed_maps');
    const { wasm } = await compileObject(objectBytes('typed_maps'));
    const inst = await instantiate(wasm);
    const forged = new Proxy(inst, {
      get(target, prop) {
        if (prop === 'maps') {
          const m = new Map(target.maps);
          m.set('events', { ...m.get('events')!, valueSize: 48 } as BpfMap);
          return m;
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    expect(() => (mod.asTypedMaps as (i: BpfInstance) => unknown)(forged)).toThrow(/map events is of type 1 with 4-byte keys and 48-byte values, not type 1, 4 and 56/);
  });
});

// ---------------------------------------------------------------------------------------------
// The library function and the CLI

describe('generateTypes and bpf2wasm gen types', () => {
  it('does not modify the object', () => {
    const bytes = objectBytes('typed_maps');
    const copy = bytes.slice();
    generateTypes(bytes);
    expect(bytes).toEqual(copy);
  });

  it('malformed objects give typed errors, never a crash', () => {
    const bytes = objectBytes('typed_maps');
    for (const bad of [new Uint8Array(0), bytes.subarray(0, 63), Uint8Array.from(bytes, (b, i) => (i >= 0x28 && i < 0x40 ? 0xff : b))]) {
      let thrown: unknown;
      try {
        generateTypes(bad);
      } catch (e) {
        thrown = e;
      }
      expect(isBpf2WasmError(thrown)).toBe(true);
    }
    expect(() => generateTypes(bytes, { name: '--' })).toThrow(expect.objectContaining({ code: ErrorCode.BadArgument }));
  });

  it('names avoid clashes: a C type named like a generated one, or twice with two layouts, gets another', () => {
    const w = new TsTypeWriter(['FlowKey']);
    const u32: TypeDesc = { kind: 'int', size: 4, signed: false, name: '__u32' };
    const a: TypeDesc = { kind: 'struct', name: 'struct flow_key', size: 4, members: [{ name: 'x', offset: 0, type: u32 }] };
    const b: TypeDesc = { kind: 'struct', name: 'struct flow_key', size: 4, members: [{ name: 'y', offset: 0, type: u32 }] };
    const s: TypeDesc = { kind: 'enum', name: 'string', size: 4, signed: false, values: [{ name: 'A', value: '0' }] };
    expect([w.typeOf(a), w.typeOf(b), w.typeOf(a), w.typeOf(s)]).toEqual(['FlowKey2', 'FlowKey3', 'FlowKey2', 'StringType']);
    expect(w.declarations.map((d) => d.name)).toEqual(['FlowKey2', 'FlowKey3', 'StringType']);
    expect(generateTypes(objectBytes('typed_maps'), { name: 'stats' })).toContain('export interface Stats {');
  });

  it('member names that are not identifiers are quoted; anonymous members merge; unnamed bitfields are left out', () => {
    const u8: TypeDesc = { kind: 'int', size: 1, signed: false };
    const inner: TypeDesc = { kind: 'union', size: 1, members: [{ name: 'a', offset: 0, type: u8 }, { name: 'b-c', offset: 0, type: u8 }] };
    const d: TypeDesc = {
      kind: 'struct', size: 3, members: [
        { name: '', offset: 0, type: inner },
        { name: '', offset: 1, bitOffset: 0, bitSize: 3, type: u8 },
        { name: '__proto__', offset: 2, type: { kind: 'int', size: 1, signed: false, bool: true } },
      ],
    };
    expect(new TsTypeWriter().typeOf(d)).toBe('{ a: number; "b-c": number; "__proto__": boolean }');
  });

  function io(files: Record<string, Uint8Array>): CliIO & { out: string; err: string; written: Map<string, string> } {
    const self = {
      out: '', err: '', written: new Map<string, string>(),
      readFile: async (p: string) => {
        const f = files[p];
        if (!f) throw Object.assign(new Error(`ENOENT: no such file, open '${p}'`), { code: 'ENOENT' });
        return f;
      },
      writeFile: async (p: string, d: Uint8Array | string) => void self.written.set(p, String(d)),
      stdout: (t: string) => void (self.out += t),
      stderr: (t: string) => void (self.err += t),
      now: () => 0,
    };
    return self;
  }

  it('bpf2wasm gen types OBJ -o OUT.ts writes the module; to stdout without -o', async () => {
    const files = { 'objs/uid_counter.o': objectBytes('uid_counter') };
    const a = io(files);
    expect(await main(['gen', 'types', 'objs/uid_counter.o', '-o', 'uid.ts'], a)).toBe(0);
    expect(a.written.get('uid.ts')).toBe(generateTypes(files['objs/uid_counter.o'], { name: 'uid_counter', source: 'uid_counter.o' }));
    const b = io(files);
    expect(await main(['gen', 'types', 'objs/uid_counter.o', '--name', 'counter'], b)).toBe(0);
    expect(b.out).toContain('export async function instantiateCounter(');
  });

  it('bad command lines and inputs exit 1 or 2 with a message', async () => {
    const files = { 'x.o': objectBytes('uid_counter'), 'junk.o': new Uint8Array([1, 2, 3]) };
    const cases: [string[], number, string][] = [
      [['gen'], 2, 'gen needs a kind of output'],
      [['gen', 'skeleton', 'x.o'], 2, 'gen has no kind skeleton'],
      [['gen', 'types'], 2, 'gen types needs an ELF object'],
      [['gen', 'types', 'x.o', '-o'], 2, '-o needs a value'],
      [['gen', 'types', 'x.o', '--frob'], 2, 'unknown option --frob'],
      [['gen', 'types', 'x.o', 'y.o'], 2, 'takes one object'],
      [['gen', 'types', 'missing.o'], 1, 'ENOENT'],
      [['gen', 'types', 'junk.o'], 1, 'junk.o: E_'],
    ];
    for (const [argv, status, text] of cases) {
      const t = io(files);
      expect(await main(argv, t), argv.join(' ')).toBe(status);
      expect(t.err).toContain(text);
    }
  });
});

describe('BpfMap.peek: the overload called is the one the map type takes', () => {
  it('peek() on a bloom filter and peek(value) on a queue are E_BAD_ARGUMENT naming the map', async () => {
    const bloomInst = await instantiate((await compileObject(objectBytes('map_options'))).wasm);
    const bloom = bloomInst.map<never, number>('seen');
    bloom.push(7);
    expect(bloom.peek(7)).toBe(true);
    const queueInst = await instantiate((await compileObject(objectBytes('typed_maps'))).wasm);
    const queue = queueInst.map<never, number>('pending');
    queue.push(3);
    expect(queue.peek()).toBe(3);
    const calls: [() => unknown, string][] = [
      [() => (bloom.peek as () => unknown)(), 'seen'],
      [() => (queue.peek as (v: number) => unknown)(3), 'pending'],
    ];
    for (const [call, map] of calls) {
      let thrown: unknown;
      try {
        call();
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(BpfRuntimeError);
      expect((thrown as BpfRuntimeError).code).toBe(ErrorCode.BadArgument);
      expect((thrown as BpfRuntimeError).location.map).toBe(map);
    }
    expect(queue.pop()).toBe(3); // the refused peek(value) left the queue alone
  });
});
