/**
 * Adversarial tests for the object path: ELF object -> compileObject -> instantiate -> run, the
 * BpfMap API, the manifest the runtime trusts, checked mode around map metadata, and the CLI's
 * `inspect` and `run OBJ`.
 *
 * The standard: bad input gets a typed error (a Bpf2WasmError with a stable code, a location and
 * a sentence) and nothing else. No input may crash the process (a TypeError, RangeError or raw
 * WebAssembly trap escaping), hang it, or corrupt a map descriptor.
 *
 * Mutated objects come from the committed fixtures (test-programs/c/*.o, test-programs/loader/*.o)
 * with a few targeted edits each (see `Family`): ELF header and section header fields, symbol
 * values, relocation offsets and types, BTF bytes, map definition attributes (BTF `__uint`
 * array lengths and legacy `struct bpf_map_def` words), instruction fields, random bytes,
 * truncation. Every case compiles in checked mode with a budget, instantiates, runs each program
 * once, checks that no map descriptor changed, and reads every map. Fixed seeds by default;
 * BPF2WASM_FUZZ_SEED changes them and BPF2WASM_FUZZ_RUNS scales the counts (1000 = default).
 *
 * Tests marked `it.fails` pin bugs outside the files this suite may fix; each names the bug.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { runFrame } from '../../test/support/frames.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { rejectedWith } from '../../test/support/thrown.js';
import { assemble } from '../asm/assemble.js';
import { main, type CliIO } from '../cli/main.js';
import type { HelperDecl } from '../compile.js';
import { loadObjectSpec, type MapSpec, type ObjectSpec, type ProgramSpec } from '../elf/loader.js';
import { formatInspect, inspectObject } from '../object/inspect.js';
import { compileObject } from '../object/compile-object.js';
import {
  arbMutation, btfMapAttributes, FAMILIES, legacyMapWord, mutateObject, setU32, sitesOf, tamperManifest, type Family, type Mutation,
} from './object-mutations.js';
import type { Manifest } from '../../runtime/abi.js';
import { Bpf2WasmError, ErrorCode, type ErrorLocation } from '../../runtime/errors.js';
import type { HelperDefinition } from '../../runtime/helper-registry.js';
import { instantiate } from '../../runtime/instance.js';
import { manifestOf, type BpfInstance } from '../../runtime/program.js';
import { BpfMap } from '../../runtime/maps/api.js';
import { D_COUNT, D_STATE } from '../../runtime/maps/descriptor.js';
import { BPF_NOEXIST, MapType } from '../../runtime/uapi/index.js';
import { checkMapsLayout } from '../../runtime/maps/placement.js';
import { mapsWasmBytes } from '../../runtime/maps/maps-wasm.js';
import { MAPS_SCRATCH } from '../../runtime/maps/store.js';

// ------------------------------------------------------------------------------ fixtures

const SEED = process.env.BPF2WASM_FUZZ_SEED === undefined ? 0x0b1e_c7ed : Number(process.env.BPF2WASM_FUZZ_SEED);
const SCALE = process.env.BPF2WASM_FUZZ_RUNS === undefined ? 1 : Math.max(0.01, Number(process.env.BPF2WASM_FUZZ_RUNS) / 1000);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

interface Fixture {
  name: string;
  bytes: Uint8Array;
}

const FIXTURES: readonly Fixture[] = ['c', 'loader'].flatMap((sub) => {
  const dir = fileURLToPath(new URL(`../../test-programs/${sub}/`, import.meta.url));
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.o')).sort()
    .map((f) => ({ name: `${sub}/${f}`, bytes: new Uint8Array(readFileSync(join(dir, f))) }));
});

function fixture(name: string): Uint8Array {
  const f = FIXTURES.find((x) => x.name === name);
  if (!f) throw new Error(`fixture ${name} is missing`);
  return f.bytes.slice();
}

/** custom_helpers.o calls helpers 1000, 1001 and 42, which the host provides. */
const CUSTOM_DECLS: readonly HelperDecl[] = [
  { id: 1000, name: 'builtin_max' },
  { id: 1001, name: 'my_helper' },
  { id: 42, name: 'builtin_mul' },
];
const CUSTOM_HELPERS: readonly HelperDefinition[] = [
  { id: 1000, name: 'builtin_max', fn: (a: bigint, b: bigint) => (a > b ? a : b) },
  { id: 1001, name: 'my_helper', fn: (a: bigint, b: bigint) => a - b },
  { id: 42, name: 'builtin_mul', fn: (a: bigint, b: bigint) => a * b },
];

const PACKET_TYPES = new Set(['xdp', 'socket', 'tc', 'tc_action', 'cgroup_skb', 'sk_skb', 'lwt']);
/** Small enough that every case stays fast, large enough for every fixture's real work. */
const BUDGET = 100_000;
const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

// ------------------------------------------------------------------------------ checks

/** Problems with something thrown: not a Bpf2WasmError, an unknown code, E_INTERNAL, no location. */
function errorProblems(e: unknown, what: string): string[] {
  if (!(e instanceof Bpf2WasmError)) {
    const stack = e instanceof Error && e.stack ? `\n${e.stack.split('\n').slice(0, 5).join('\n')}` : '';
    return [`${what}: threw ${e instanceof Error ? e.constructor.name : typeof e} ${e instanceof Error ? e.message : String(e)}${stack}`];
  }
  if (!ERROR_CODES.has(e.code)) return [`${what}: code ${String(e.code)} is not in the ErrorCode table`];
  if (e.code === ErrorCode.Internal) return [`${what}: ${e.message}`];
  const missing = missingLocation(e.code, e.location);
  return missing ? [`${what}: ${e.code} has no ${missing} in its location: ${e.message}`] : [];
}

/** The location part an error of this code must carry, or undefined if it has it. */
function missingLocation(code: string, loc: ErrorLocation): string | undefined {
  switch (code) {
    case ErrorCode.BadElf:
      return loc.section === undefined ? 'section' : undefined;
    case ErrorCode.BadMap:
      return loc.map === undefined ? 'map' : undefined;
    case ErrorCode.MapOp:
      return loc.map === undefined ? 'map' : undefined;
    case ErrorCode.UnknownHelper:
      return loc.helper === undefined && loc.insn === undefined ? 'helper or insn' : undefined;
    case ErrorCode.Unsupported:
      return Object.keys(loc).length === 0 ? 'insn, section, program or map' : undefined;
    case ErrorCode.MemoryFault:
    case ErrorCode.Budget:
    case ErrorCode.CallDepth:
      return loc.insn === undefined ? 'insn' : undefined;
    default:
      // Decoding and control-flow errors name the instruction. (E_BAD_OBJECT is located where
      // something applies, which the specific tests check: an object without programs has nothing.)
      return DECODE_CODES.has(code) && loc.insn === undefined ? 'insn' : undefined;
  }
}

const DECODE_CODES: ReadonlySet<string> = new Set([
  ErrorCode.UnknownOpcode, ErrorCode.BadRegister, ErrorCode.WriteR10, ErrorCode.TruncatedLddw, ErrorCode.BadLddw,
  ErrorCode.ReservedField, ErrorCode.JumpOutOfRange, ErrorCode.JumpIntoLddw, ErrorCode.FallOffEnd,
  ErrorCode.BadCallTarget, ErrorCode.JumpAcrossFunction,
]);

/** The descriptor bytes nothing but map creation may write: all but `count` and the type's state. */
function descriptorSnapshot(inst: BpfInstance): Map<string, string> {
  const out = new Map<string, string>();
  const mem = new Uint8Array(inst.memory.buffer);
  for (const m of manifestOf(inst).maps ?? []) {
    const fixed = [...mem.subarray(m.desc, m.desc + D_COUNT), ...mem.subarray(m.desc + D_COUNT + 4, m.desc + D_STATE)];
    out.set(m.name, Buffer.from(fixed).toString('hex'));
  }
  return out;
}

function descriptorProblems(before: Map<string, string>, inst: BpfInstance, what: string): string[] {
  const after = descriptorSnapshot(inst);
  return [...before].filter(([name, hex]) => after.get(name) !== hex)
    .map(([name, hex]) => `${what}: the descriptor of map ${name} changed: ${hex} -> ${after.get(name)}`);
}

/** Runs one program once: packet programs on a 64-byte packet, others on 256 zero bytes. */
function runOnce(inst: BpfInstance, program: { name: string; type: string }): void {
  if (PACKET_TYPES.has(program.type)) runFrame(inst, new Uint8Array(64), program.name);
  else inst.run(new Uint8Array(256), { program: program.name });
}

/**
 * compileObject -> instantiate -> run every program once -> read every map (at most 64 entries:
 * a mutated max_entries may be large). Returns the problems found.
 */
async function exercise(bytes: Uint8Array, optLevel: 0 | 1 = 0): Promise<string[]> {
  let wasm: Uint8Array;
  try {
    wasm = (await compileObject(bytes, { budget: BUDGET, checked: true, optLevel, helpers: CUSTOM_DECLS })).wasm;
  } catch (e) {
    return errorProblems(e, 'compileObject');
  }
  let inst: BpfInstance;
  try {
    inst = await instantiate(wasm, { trace: () => {}, helpers: CUSTOM_HELPERS });
  } catch (e) {
    return errorProblems(e, 'instantiate');
  }
  const problems: string[] = [];
  const before = descriptorSnapshot(inst);
  for (const p of inst.programs) {
    try {
      runOnce(inst, p);
    } catch (e) {
      problems.push(...errorProblems(e, `run ${p.name}`));
    }
  }
  problems.push(...descriptorProblems(before, inst, 'after the runs'));
  problems.push(...readMaps(inst));
  return problems;
}

/** Reads at most 64 entries of every map (a mutated or tampered max_entries may be huge). */
function readMaps(inst: BpfInstance): string[] {
  const problems: string[] = [];
  for (const m of inst.maps.values()) {
    try {
      let n = 0;
      for (const entry of m.entries()) {
        void entry;
        if (++n >= 64) break;
      }
    } catch (e) {
      problems.push(...errorProblems(e, `entries of map ${m.name}`));
    }
  }
  return problems;
}

// ------------------------------------------------------------------------------ mutations

const SITES = new Map(FIXTURES.map((f) => [f.name, sitesOf(f.bytes)]));

/** Applies `mutations` to a copy of fixture `f`. */
function mutateFixture(f: Fixture, mutations: readonly Mutation[]): Uint8Array {
  return mutateObject(f.bytes, SITES.get(f.name)!, mutations);
}

/** A fixture with 1-3 mutations of `family` (plus, sometimes, one of any other family). */
function arbCase(family: Family): fc.Arbitrary<{ fixture: number; mutations: Mutation[]; optLevel: 0 | 1 }> {
  const other = fc.constantFrom(...FAMILIES).chain(arbMutation);
  return fc.record({
    fixture: fc.nat(FIXTURES.length - 1),
    mutations: fc.tuple(fc.array(arbMutation(family), { minLength: 1, maxLength: 3 }), fc.option(other, { nil: undefined }))
      .map(([own, extra]) => (extra ? [...own, extra] : own)),
    optLevel: fc.constantFrom(0 as const, 1 as const),
  });
}

// ------------------------------------------------------------------------------ mutated objects

describe('mutated objects: only typed errors, no corrupted descriptors', () => {
  it('finds the fixtures (a moved folder must not turn this suite green)', () => {
    expect(FIXTURES.filter((f) => f.name.startsWith('c/')).length).toBeGreaterThanOrEqual(15);
    expect(FIXTURES.some((f) => f.name.startsWith('loader/'))).toBe(true);
  });

  it('every pristine fixture compiles, instantiates and runs each program once', async () => {
    for (const f of FIXTURES) expect(await exercise(f.bytes), f.name).toEqual([]);
  });

  const RUNS_PER_FAMILY: [Family, number][] = [
    ['header', 80], ['sectionHeader', 200], ['symbol', 200], ['relocation', 200], ['btf', 200],
    ['mapDefinition', 250], ['code', 250], ['bytes', 150], ['truncate', 60],
  ];
  for (const [family, n] of RUNS_PER_FAMILY) {
    it(`${family} mutations`, async () => {
      await fc.assert(
        fc.asyncProperty(arbCase(family), async ({ fixture: i, mutations, optLevel }) => {
          const f = FIXTURES[i]!;
          const problems = await exercise(mutateFixture(f, mutations), optLevel);
          if (problems.length > 0) throw new Error(`${f.name}: ${problems.join('\n')}`);
        }),
        { seed: SEED, numRuns: runs(n) },
      );
    }, Math.max(60_000, runs(n) * 100));
  }
});

// ------------------------------------------------------------------------------ hand-made objects

/** A map definition for a hand-made spec. */
function mapSpec(index: number, name: string, type: number, keySize: number, valueSize: number, maxEntries: number, flags = 0): MapSpec {
  return { name, index, type, keySize, valueSize, maxEntries, flags, pinning: 0, numaNode: 0, mapExtra: 0, section: '.maps', offset: index * 32, size: 32 };
}

/** An object of one XDP program `prog` (assembly) and `maps`. */
function handSpec(asm: string, maps: MapSpec[]): ObjectSpec {
  const insns = assemble(asm);
  const program: ProgramSpec = { name: 'prog', section: 'xdp', type: 'xdp', insns, functions: [{ name: 'prog', section: 'xdp', pc: 0, length: insns.length / 8 }] };
  return { programs: [program], maps, license: 'GPL', kfuncs: [] };
}

/** The same spec with map `name` changed. */
function withMap(spec: ObjectSpec, name: string, patch: Partial<MapSpec>): ObjectSpec {
  return { ...spec, maps: spec.maps.map((m) => (m.name === name ? { ...m, ...patch } : m)) };
}

function typedError(p: Promise<unknown> | (() => unknown)): Promise<Bpf2WasmError> {
  return rejectedWith(p, Bpf2WasmError);
}

async function compileAndLoad(input: Uint8Array | ObjectSpec, extra: { helpers?: HelperDefinition[] } = {}): Promise<BpfInstance> {
  const { wasm } = await compileObject(input, { budget: BUDGET, checked: true, optLevel: 0 });
  return instantiate(wasm, { trace: () => {}, ...extra });
}

describe('map definitions bpf2wasm refuses: E_BAD_MAP naming the map', () => {
  const legacy = (word: number, value: number, also?: [number, number]): Uint8Array => {
    const b = fixture('c/legacy_maps.o');
    setU32(b, legacyMapWord(b, 'legacy_array', word), value);
    if (also) setU32(b, legacyMapWord(b, 'legacy_array', also[0]), also[1]);
    return b;
  };

  it.each([
    ['max_entries 0', 3, 0],
    ['value_size 0', 2, 0],
    ['key_size 8 on an array', 1, 8],
    ['BPF_MAP_TYPE_SOCKMAP', 0, 15],
    ['BPF_MAP_TYPE_ARENA', 0, 33],
    ['an unknown type', 0, 1234],
    ['value_size above KMALLOC_MAX_SIZE', 2, (4 << 20) + 8],
    ['max_entries 2^32 - 1', 3, 0xffffffff],
    ['BPF_F_NO_PREALLOC on an array', 4, 1],
  ])('legacy map with %s', async (_, word, value) => {
    const e = await typedError(compileObject(legacy(word, value)));
    expect(e.code).toBe(ErrorCode.BadMap);
    expect(e.location.map).toBe('legacy_array');
  });

  it('a 1 GiB array map', async () => {
    // 2^27 values of 8 bytes: allocating (and zeroing) that much linear memory takes seconds and
    // fails outright in many browsers, so the layout refuses it.
    const e = await typedError(compileObject(legacy(2, 8, [3, 1 << 27])));
    expect(e.code).toBe(ErrorCode.BadMap);
    expect(e.location.map).toBe('legacy_array');
  });

  it.each([
    ['max_entries', 0],
    ['type', 15],
    ['type', 0],
  ])('BTF map with __uint(%s, %d)', async (attribute, value) => {
    const b = fixture('c/xdp_counter.o');
    const attr = btfMapAttributes(b).find((a) => a.map === 'pkt_count' && a.attribute === attribute)!;
    expect(attr).toBeDefined();
    const e = await typedError(compileObject(setU32(b, attr.at, value)));
    expect(e.code).toBe(ErrorCode.BadMap);
    expect(e.location.map).toBe('pkt_count');
  });

  it.each([
    ['max_entries 0', { maxEntries: 0 }],
    ['value_size 0', { valueSize: 0 }],
    ['a 1 GiB array', { valueSize: 4 << 20, maxEntries: 256 }],
    ['type SOCKMAP', { type: 15 }],
    ['a fractional max_entries', { maxEntries: 1.5 }],
    ['a negative key size', { keySize: -4 }],
  ] as [string, Partial<MapSpec>][])('a spec with %s', async (_, patch) => {
    const spec = withMap(loadObjectSpec(fixture('c/xdp_counter.o')), 'pkt_count', patch);
    const e = await typedError(compileObject(spec));
    expect(e.code).toBe(ErrorCode.BadMap);
    expect(e.location.map).toBe('pkt_count');
  });
});

describe('references an object cannot satisfy', () => {
  const maps = [mapSpec(0, 'counts', MapType.ARRAY, 4, 8, 4)];

  it('lddw of a map index beyond the maps: E_BAD_OBJECT at the instruction', async () => {
    const e = await typedError(compileObject(handSpec('mov %r0, 0\nlddw %r1, 0x5, map_fd\nexit', maps)));
    expect(e.code).toBe(ErrorCode.BadObject);
    expect(e.location.insn).toBe(1);
  });

  it('lddw of a negative map index: E_BAD_OBJECT', async () => {
    const e = await typedError(compileObject(handSpec('mov %r0, 0\nlddw %r1, 0xffffffff, map_fd\nexit', maps)));
    expect(e.code).toBe(ErrorCode.BadObject);
    expect(e.location.insn).toBe(1);
  });

  it('lddw of a map index in an object without maps: E_BAD_OBJECT', async () => {
    const e = await typedError(compileObject(handSpec('mov %r0, 0\nlddw %r1, 0x0, map_fd\nexit', [])));
    expect(e.code).toBe(ErrorCode.BadObject);
  });

  it('lddw of a variable past the end of its data section: E_BAD_OBJECT naming the map', async () => {
    const data = { ...mapSpec(1, '.data', MapType.ARRAY, 4, 8, 1), internal: true };
    // imm 1 (the map), imm2 8 (the offset): one past the 8-byte value.
    const e = await typedError(compileObject(handSpec('mov %r0, 0\nlddw %r1, 0x800000001, map_value_by_fd\nexit', [...maps, data])));
    expect(e.code).toBe(ErrorCode.BadObject);
    expect(e.location).toMatchObject({ insn: 1, map: '.data' });
  });

  it('a map value address in a map that is not a single-value array: E_BAD_OBJECT', async () => {
    const e = await typedError(compileObject(handSpec('mov %r0, 0\nlddw %r1, 0x0, map_value_by_fd\nexit', maps)));
    expect(e.code).toBe(ErrorCode.BadObject);
    expect(e.location).toMatchObject({ insn: 1, map: 'counts' });
  });

  it('a program the object does not have: E_BAD_OBJECT naming it', async () => {
    const e = await typedError(compileObject(fixture('c/xdp_counter.o'), { programs: ['nope'] }));
    expect(e.code).toBe(ErrorCode.BadObject);
    expect(e.location.program).toBe('nope');
  });

  it('running a program the module does not have: E_BAD_ARGUMENT naming it', async () => {
    const inst = await compileAndLoad(fixture('c/xdp_counter.o'));
    for (const run of [() => inst.run(new Uint8Array(8), { program: 'nope' }), () => runFrame(inst, new Uint8Array(8), 'nope')]) {
      const e = await typedError(run);
      expect(e.code).toBe(ErrorCode.BadArgument);
      expect(e.location.program).toBe('nope');
    }
  });

  it('an object without programs: E_BAD_OBJECT', async () => {
    const spec = loadObjectSpec(fixture('c/xdp_counter.o'));
    const e = await typedError(compileObject({ ...spec, programs: [] }));
    expect(e.code).toBe(ErrorCode.BadObject);
  });
});

describe('helpers at instantiate', () => {
  it('a custom helper the host does not provide: E_UNKNOWN_HELPER naming it', async () => {
    const { wasm } = await compileObject(fixture('c/custom_helpers.o'), { helpers: CUSTOM_DECLS });
    const e = await typedError(instantiate(wasm, { trace: () => {}, helpers: CUSTOM_HELPERS.filter((h) => h.id !== 1001) }));
    expect(e.code).toBe(ErrorCode.UnknownHelper);
    expect(e.location.helper).toBe('my_helper');
  });

  it('with every custom helper provided, the program runs', async () => {
    const { wasm } = await compileObject(fixture('c/custom_helpers.o'), { helpers: CUSTOM_DECLS });
    const inst = await instantiate(wasm, { trace: () => {}, helpers: CUSTOM_HELPERS });
    expect(runFrame(inst, new Uint8Array(0)).r0).toBe(19n);
  });

  it('a call to a helper id no kernel defines compiles, and fails at instantiate naming it', async () => {
    const { wasm } = await compileObject(handSpec('call 4000\nexit', []));
    const e = await typedError(instantiate(wasm, { trace: () => {} }));
    expect(e.code).toBe(ErrorCode.UnknownHelper);
    expect(e.location.helper).toBe('helper_4000');
  });
});

// ------------------------------------------------------------------------------ tampered manifests

type Edit = (m: Manifest & { maps: NonNullable<Manifest['maps']> }) => unknown;

/** legacy_maps.o: map 0 legacy_counts (hash), map 1 legacy_array (array). */
const LEGACY_WASM = compileObject(fixture('c/legacy_maps.o'), { budget: BUDGET, checked: true, optLevel: 0 }).then((c) => c.wasm);

/** Instantiates the tampered module and, if that works, runs it and reads its maps. */
async function tamperedOutcome(edit: Edit): Promise<string[]> {
  let inst: BpfInstance;
  try {
    inst = await instantiate(tamperManifest(await LEGACY_WASM, edit as (m: Manifest) => unknown), { trace: () => {} });
  } catch (e) {
    return errorProblems(e, 'instantiate');
  }
  const problems: string[] = [];
  try {
    runOnce(inst, inst.programs[0]!);
  } catch (e) {
    problems.push(...errorProblems(e, 'run'));
  }
  problems.push(...readMaps(inst));
  return problems;
}

/** Expects instantiate itself to refuse the manifest with E_BAD_MODULE or E_BAD_MAP. */
async function expectRefused(edit: Edit): Promise<void> {
  const e = await typedError(instantiate(tamperManifest(await LEGACY_WASM, edit as (m: Manifest) => unknown), { trace: () => {} }));
  expect([ErrorCode.BadModule, ErrorCode.BadMap]).toContain(e.code);
}

describe('a tampered manifest: E_BAD_MODULE or E_BAD_MAP at instantiate, never a crash', () => {
  it.each<[string, Edit]>([
    ['a descriptor far beyond 4 GiB', (m) => { m.maps[0]!.desc = 2 ** 40; }],
    ['a map type the maps module does not know', (m) => { m.maps[0]!.type = 99; }],
    ['a hash map whose metadata is too small for its max_entries', (m) => { m.maps[0]!.maxEntries = 1 << 20; }],
    ['a program export that does not exist', (m) => { m.programs[0]!.exportName = 'nope'; }],
    ['a callback export that does not exist', (m) => { m.callbacks = [{ number: 1, insn: 0, exportName: 'nope' }]; }],
    ['an ABI version from elsewhere', (m) => { m.abiVersion = 999; }],
    ['a program context kind the runtime does not know', (m) => { (m.programs[0] as { context: string }).context = 'sk_buff'; }],
    ['a program without a context kind', (m) => { delete (m.programs[0] as { context?: string }).context; }],
  ])('%s', async (_, edit) => {
    await expectRefused(edit);
  });

  /** Tamperings of the map list and the layout that the runtime must refuse. */
  const MAP_TAMPERINGS: [string, Edit][] = [
    ['two maps sharing a descriptor', (m) => { m.maps[0]!.desc = m.maps[1]!.desc; }],
    ['two maps sharing values', (m) => { m.maps[1]!.values = m.maps[0]!.values; }],
    ['array values over the stack', (m) => { m.maps[1]!.values = m.layout.stackBase; }],
    ['array values in the null guard', (m) => { m.maps[1]!.values = 0; }],
    ['array values past the end of memory', (m) => { m.maps[1]!.values = 0xffff_ff00; }],
    ['a negative descriptor address', (m) => { m.maps[0]!.desc = -64; }],
    ['a fractional descriptor address', (m) => { m.maps[0]!.desc = 8192.5; }],
    ['an array whose max_entries exceeds its values', (m) => { m.maps[1]!.maxEntries = 0xffff_ffff; }],
    ['a map list that is not an array', (m) => { (m as { maps: unknown }).maps = 5; }],
    ['a null map entry', (m) => { (m.maps as unknown[])[0] = null; }],
    ['an arena that starts in the null guard', (m) => { m.layout.arenaBase = 0; }],
    ['a stack inside the maps', (m) => { m.layout.stackBase = m.maps[1]!.values; }],
    ['a key scratch area over the metadata', (m) => { m.keyScratch = { address: m.maps[0]!.meta, slotSize: 8, slots: 8 }; }],
  ];

  // The runtime does not trust the manifest's map placements and layout (nor its JSON shapes):
  // ObjectRuntime.create checks them with checkMapsLayout first, readManifest the rest.
  it.each<[string, Edit]>([
    ...MAP_TAMPERINGS,
    ['initial data that is not base64', (m) => { m.maps[1]!.initialData = '!!!!'; }],
    ['more initial pages than Wasm allows', (m) => { m.layout.initialPages = 70_000; }],
    ['a maximum of 0 pages', (m) => { m.layout.maximumPages = 0; }],
    ['no programs', (m) => { m.programs = []; }],
    ['no layout', (m) => { (m as { layout: unknown }).layout = null; }],
  ])('%s', async (_, edit) => {
    await expectRefused(edit);
  });

  it('checkMapsLayout accepts the manifest of every fixture', async () => {
    for (const f of FIXTURES) {
      const { manifest } = await compileObject(f.bytes, { helpers: CUSTOM_DECLS });
      expect(() => checkMapsLayout(manifest), f.name).not.toThrow();
    }
  });

  it.each(MAP_TAMPERINGS)('checkMapsLayout refuses %s', async (_, edit) => {
    const { manifest } = await compileObject(fixture('c/legacy_maps.o'));
    const m = structuredClone(manifest);
    edit(m as Parameters<Edit>[0]);
    const e = await typedError(() => checkMapsLayout(m));
    expect([ErrorCode.BadModule, ErrorCode.BadMap]).toContain(e.code);
    if (e.code === ErrorCode.BadMap) expect(e.location.map).toBeDefined();
  });

  // The key scratch slots are sized for every map, the inner-map pools laid out with them included
  // (bpf_for_each_map_elem copies whole keys there).
  it('the key scratch area fits the keys of every map, inner-map pools included', async () => {
    const spec = loadObjectSpec(fixture('c/map_in_map.o'));
    const outer = spec.maps.find((m) => m.name === 'outer')!;
    const inner = { ...outer.innerMap!, type: MapType.HASH, keySize: 16, valueSize: 8, maxEntries: 4 };
    const { manifest } = await compileObject(withMap(spec, 'outer', { innerMap: inner }));
    expect(manifest.maps!.some((m) => m.keySize === 16)).toBe(true);
    expect(() => checkMapsLayout(manifest)).not.toThrow();
  });

  /** Every field of both maps set to odd values: the problems found (computed once). */
  let sweep: Promise<string[]> | undefined;
  const tamperSweep = (): Promise<string[]> => (sweep ??= (async () => {
    const fields = ['desc', 'values', 'valuesSize', 'meta', 'metaSize', 'maxEntries', 'keySize', 'valueSize', 'type', 'flags', 'index'] as const;
    const values = [-1, 0, 1, 4, 63, 64, 0x2000, 0x3000, 0xffff, 0x10000, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 0.5, Number.NaN];
    const problems: string[] = [];
    for (const map of [0, 1]) {
      for (const field of fields) {
        for (const v of values) {
          const found = await tamperedOutcome((m) => { (m.maps[map] as unknown as Record<string, number>)[field] = v; });
          problems.push(...found.map((p) => `maps[${map}].${field} = ${v}: ${p}`));
        }
      }
    }
    return problems;
  })());

  it('whatever the tampering of a map field: only typed errors naming the map', async () => {
    expect(await tamperSweep()).toEqual([]);
  });
});

// ------------------------------------------------------------------------------ map API misuse

describe('map API misuse: typed errors naming the map', () => {
  it('array maps: wrong key size, wrong types, out-of-range keys, flags', async () => {
    const inst = await compileAndLoad(fixture('c/xdp_counter.o'));
    const m = inst.map('pkt_count');
    const expectError = async (f: () => unknown, code: string, errno?: string): Promise<void> => {
      const e = await typedError(f);
      expect(e.code, e.message).toBe(code);
      expect(e.location.map, e.message).toBe('pkt_count');
      if (errno) expect(e.detail).toContain(errno);
    };
    await expectError(() => m.set(new Uint8Array(3), 1n), ErrorCode.BadArgument);
    await expectError(() => m.set(0, new Uint8Array(3)), ErrorCode.BadArgument);
    await expectError(() => m.get('zero'), ErrorCode.BadArgument);
    await expectError(() => m.get(1.5), ErrorCode.BadArgument);
    await expectError(() => m.set(-1, 1n), ErrorCode.BadArgument);
    await expectError(() => m.set(0, 'one'), ErrorCode.BadArgument);
    await expectError(() => m.set(0, { packets: 1 }), ErrorCode.BadArgument);
    await expectError(() => m.set(0, 2n ** 64n), ErrorCode.BadArgument);
    await expectError(() => m.set(1, 1n), ErrorCode.MapOp, 'E2BIG');
    await expectError(() => m.set(0xffff_ffff, 1n), ErrorCode.MapOp, 'E2BIG');
    await expectError(() => m.set(0, 1n, BPF_NOEXIST), ErrorCode.MapOp, 'EEXIST');
    await expectError(() => m.set(0, 1n, -1), ErrorCode.BadArgument);
    await expectError(() => m.set(0, 1n, 7), ErrorCode.MapOp, 'EINVAL');
    await expectError(() => m.delete(0), ErrorCode.MapOp, 'EINVAL');
    await expectError(() => m.push(1n), ErrorCode.MapOp);
    await expectError(() => m.pop(), ErrorCode.MapOp);
    expect(m.get(1)).toBeUndefined();
    // Nothing above changed the map.
    expect(m.dump()).toEqual([[0, 0n]]);
  });

  it('hash maps: BPF_NOEXIST on an existing key, BPF_EXIST on a missing one, full', async () => {
    const inst = await compileAndLoad(fixture('c/legacy_maps.o'));
    const m = inst.map('legacy_counts');
    m.set(5, 1n);
    const e1 = await typedError(() => m.set(5, 2n, BPF_NOEXIST));
    expect([e1.code, e1.location.map]).toEqual([ErrorCode.MapOp, 'legacy_counts']);
    expect(e1.detail).toContain('EEXIST');
    const e2 = await typedError(() => m.set(6, 2n, 2));
    expect(e2.detail).toContain('ENOENT');
    expect(m.delete(6)).toBe(false);
    for (let k = 100; m.dump().length < 64; k++) m.set(k, 1n);
    const e3 = await typedError(() => m.set(1000, 1n));
    expect([e3.code, e3.location.map]).toEqual([ErrorCode.MapOp, 'legacy_counts']);
    expect(e3.detail).toContain('E2BIG');
    expect(m.get(5)).toBe(1n);
  });

  it('a PROG_ARRAY refuses programs the module does not have, by name, number or raw bytes', async () => {
    const inst = await compileAndLoad(fixture('c/tail_calls.o'));
    const m = inst.map('syscall');
    const byName = await typedError(() => m.set(1, 'nope'));
    expect(byName.code).toBe(ErrorCode.BadArgument);
    expect(byName.location.program).toBe('nope');
    const outOfRange = await typedError(() => m.set(300, 'hello_exec'));
    expect([outOfRange.code, outOfRange.location.map]).toEqual([ErrorCode.MapOp, 'syscall']);
    for (const set of [() => m.set(1, 5), () => m.set(1, 1000), () => m.updateRaw(new Uint8Array([1, 0, 0, 0]), new Uint8Array([0xe8, 3, 0, 0]))]) {
      const e = await typedError(set);
      expect(e.code).toBe(ErrorCode.BadArgument);
      expect(e.location.map).toBe('syscall');
    }
    // The slot stayed empty: the tail call falls through.
    expect(m.get(1)).toBeUndefined();
    const ctx = new Uint8Array(16);
    ctx[8] = 1;
    expect(inst.run(ctx, { program: 'hello' })).toBe(0n);
  });

  it('a PROG_ARRAY lists its occupied slots (as a lookup of every index finds them), also with 2^24 slots', async () => {
    const spec = loadObjectSpec(fixture('c/tail_calls.o'));
    const small = spec.maps.find((m) => m.name === 'syscall')!.maxEntries;
    let initial: [number, string][] = [];
    for (const maxEntries of [small, 1 << 24]) {
      const inst = await compileAndLoad(withMap(spec, 'syscall', { maxEntries }));
      const m = inst.map<number, string>('syscall');
      m.delete(1);
      if (maxEntries === small) {
        // Every index looked up, as the lookup-per-key walk did.
        for (let k = 0; k < maxEntries; k++) { const v = m.get(k); if (v !== undefined) initial.push([k, v]); }
        expect(initial.length).toBeGreaterThan(1);
        expect({ maxEntries, entries: [...m.entries()] }).toEqual({ maxEntries, entries: initial });
        initial = initial.filter(([k]) => k !== 1);
      } else {
        m.set(maxEntries - 1, 'hello_exec');
        expect({ maxEntries, entries: [...m.entries()] }).toEqual({ maxEntries, entries: [...initial, [maxEntries - 1, 'hello_exec']] });
      }
    }
  });

  it('maps of maps refuse themselves, unknown maps and raw addresses', async () => {
    const inst = await compileAndLoad(fixture('c/map_in_map.o'));
    const outer = inst.map('outer');
    for (const set of [() => outer.set(0, 'outer'), () => outer.set(0, 'nope'), () => outer.updateRaw(new Uint8Array(4), new Uint8Array([1, 2, 3, 4]))]) {
      const e = await typedError(set);
      expect(e.code).toBe(ErrorCode.BadArgument);
      expect(e.location.map).toBe('outer');
    }
    expect(outer.get(0)).toBe('inner_a');
  });

  it('maps without keys or lookups: typed errors', async () => {
    const opts = await compileAndLoad(fixture('c/map_options.o'));
    for (const f of [() => opts.map('seen').get(1), () => [...opts.map('seen').keys()], () => opts.map('seen').peek()]) {
      const e = await typedError(f);
      expect(e.location.map).toBe('seen');
    }
    const scratch = await typedError(() => opts.map('scratch').set(new Uint8Array(16), [new Uint8Array(64), new Uint8Array(64)]));
    expect([scratch.code, scratch.location.map]).toEqual([ErrorCode.BadArgument, 'scratch']);
    const rb = await compileAndLoad(fixture('c/ringbuf_hello.o'));
    for (const f of [() => rb.map('output').get(0), () => [...rb.map('output').keys()]]) {
      const e = await typedError(f);
      expect(e.location.map).toBe('output');
    }
  });

  it('a map that does not exist: E_BAD_ARGUMENT naming it', async () => {
    const inst = await compileAndLoad(fixture('c/xdp_counter.o'));
    const e = await typedError(() => inst.map('nope'));
    expect([e.code, e.location.map]).toEqual([ErrorCode.BadArgument, 'nope']);
  });
});

describe('global variables', () => {
  it('that do not exist: E_BAD_ARGUMENT, from getGlobal, setGlobal and the globals option', async () => {
    const inst = await compileAndLoad(fixture('c/global_data.o'));
    for (const f of [() => inst.getGlobal('nope'), () => inst.setGlobal('nope', 1)]) {
      expect((await typedError(f)).code).toBe(ErrorCode.BadArgument);
    }
    const { wasm } = await compileObject(fixture('c/global_data.o'));
    expect((await typedError(instantiate(wasm, { globals: { nope: 1 } }))).code).toBe(ErrorCode.BadArgument);
  });

  it('of the wrong shape or size: E_BAD_ARGUMENT, and the variable keeps its value', async () => {
    const inst = await compileAndLoad(fixture('c/global_data.o'));
    for (const v of [5, { step: 'x' }, { nope: 1 }, new Uint8Array(3), [1, 2]]) {
      expect((await typedError(() => inst.setGlobal('config', v))).code).toBe(ErrorCode.BadArgument);
    }
    expect(inst.getGlobal('config')).toEqual({ step: 2, limit: 1000 });
  });
});

// ------------------------------------------------------------------------------ checked mode

/**
 * Checked mode confines the program's own loads and stores to [arenaBase, end of input). Helpers
 * write through pointers the program passes: none may reach the descriptors and metadata below
 * arenaBase. Each program passes the address of map `counts`'s descriptor (or its metadata) as the
 * destination of a helper that writes; the descriptor and the map's contents must survive, and
 * the helper must fail (a negative errno or a typed error).
 */
describe('checked mode keeps map metadata safe', () => {
  const MAPS = [
    mapSpec(0, 'counts', MapType.HASH, 4, 8, 4),
    mapSpec(1, 'queue', MapType.QUEUE, 0, 64, 4),
    mapSpec(2, 'array', MapType.ARRAY, 4, 64, 2),
  ];
  const DESC = 'lddw %r1, 0x0, map_fd';

  /** Runs `asm` (which leaves the helper's result in r0) and checks the maps survived. */
  async function expectMetadataSafe(asm: string): Promise<void> {
    const inst = await compileAndLoad(handSpec(asm, MAPS));
    const counts = inst.map('counts');
    counts.set(1, 10n);
    const before = descriptorSnapshot(inst);
    const meta = manifestOf(inst).maps![0]!;
    const metaBefore = new Uint8Array(inst.memory.buffer, meta.meta, meta.metaSize).slice();
    let result: bigint | undefined;
    try {
      result = runFrame(inst, new Uint8Array(64)).r0;
    } catch (e) {
      expect(errorProblems(e, 'run')).toEqual([]);
    }
    expect(descriptorProblems(before, inst, 'after the run')).toEqual([]);
    expect(Buffer.from(new Uint8Array(inst.memory.buffer, meta.meta, meta.metaSize)).equals(Buffer.from(metaBefore))).toBe(true);
    expect(counts.dump()).toEqual([[1, 10n]]);
    if (result !== undefined) expect(BigInt.asIntN(64, result)).toBeLessThan(0n);
  }

  it('the descriptor is below arenaBase and the program cannot store to it', async () => {
    const inst = await compileAndLoad(handSpec(`${DESC}\nstdw [%r1+0], 0\nmov %r0, 0\nexit`, MAPS));
    expect(manifestOf(inst).maps![0]!.desc).toBeLessThan(manifestOf(inst).layout.arenaBase!);
    const e = await typedError(() => runFrame(inst, new Uint8Array(64)));
    expect([e.code, e.location.insn]).toEqual([ErrorCode.MemoryFault, 2]);
  });

  it('bpf_get_current_comm (16) into the descriptor', async () => {
    await expectMetadataSafe(`${DESC}\nmov %r2, 16\ncall 16\nexit`);
  });

  it('bpf_probe_read (4) and bpf_probe_read_kernel (113) into the descriptor', async () => {
    for (const id of [4, 113]) {
      await expectMetadataSafe(`stdw [%r10-16], -1\nstdw [%r10-8], -1\n${DESC}\nmov %r2, 16\nmov %r3, %r10\nsub %r3, 16\ncall ${id}\nexit`);
    }
  });

  it('bpf_probe_read_str (45) into the descriptor', async () => {
    await expectMetadataSafe(`stdw [%r10-8], 0x41414141\n${DESC}\nmov %r2, 8\nmov %r3, %r10\nsub %r3, 8\ncall 45\nexit`);
  });

  it('bpf_map_pop_elem (88) and bpf_map_peek_elem (89) into the descriptor', async () => {
    for (const id of [88, 89]) {
      await expectMetadataSafe([
        'stdw [%r10-8], -1', 'lddw %r1, 0x1, map_fd', 'mov %r2, %r10', 'sub %r2, 64', 'mov %r3, 0', 'call 87',
        'lddw %r1, 0x1, map_fd', 'lddw %r2, 0x0, map_fd', `call ${id}`, 'exit',
      ].join('\n'));
    }
  });

  it('bpf_snprintf (165) into the descriptor', async () => {
    await expectMetadataSafe([
      'stdw [%r10-8], 0x78257825', 'stdw [%r10-16], -1', 'stdw [%r10-24], -1',
      DESC, 'mov %r2, 32', 'mov %r3, %r10', 'sub %r3, 8', 'mov %r4, %r10', 'sub %r4, 24', 'mov %r5, 16', 'call 165', 'exit',
    ].join('\n'));
  });

  it('bpf_strtol (105) and bpf_strtoul (106) into the descriptor', async () => {
    for (const id of [105, 106]) {
      await expectMetadataSafe(`stw [%r10-8], 0x00313131\nmov %r1, %r10\nsub %r1, 8\nmov %r2, 4\nmov %r3, 0\nlddw %r4, 0x0, map_fd\ncall ${id}\nexit`);
    }
  });

  it('bpf_get_current_comm into the hash map\'s metadata (its buckets and keys)', async () => {
    const inst = await compileAndLoad(handSpec('mov %r0, 0\nexit', MAPS));
    const meta = manifestOf(inst).maps![0]!.meta;
    await expectMetadataSafe(`lddw %r1, ${meta}\nmov %r2, 16\ncall 16\nexit`);
  });

  it('a write that starts in the arena and runs down into metadata is refused too', async () => {
    const inst = await compileAndLoad(handSpec('mov %r0, 0\nexit', MAPS));
    const below = manifestOf(inst).layout.arenaBase! - 8;
    await expectMetadataSafe(`lddw %r1, ${below}\nmov %r2, 16\ncall 16\nexit`);
  });

  /**
   * A 64-byte fake descriptor at r10-64 (ARRAY, key 4, value 16, max_entries 1, stride 16, values
   * = `desc`, a real descriptor), a key 0 at r10-72 and 16 bytes of ones at r10-88. The helpers
   * trust no r1 (the kernel's verifier only lets map pointers, lddw src 1, there): the maps
   * module takes only the descriptors the runtime wrote (its descriptor table).
   */
  const forgedArray = (desc: number): string[] => [
    'stw [%r10-64], 2', 'stw [%r10-60], 4', 'stw [%r10-56], 16', 'stw [%r10-52], 1', 'stw [%r10-48], 0',
    'stw [%r10-44], 16', `stw [%r10-40], ${desc}`, 'stw [%r10-36], 0', 'stw [%r10-32], 0', 'stw [%r10-28], 0',
    'stw [%r10-24], 0', 'stw [%r10-20], 0', 'stdw [%r10-16], 0', 'stdw [%r10-8], 0',
    'stw [%r10-72], 0', 'stdw [%r10-88], -1', 'stdw [%r10-80], -1',
  ];

  it('bpf_map_update_elem (2) with a forged map pointer cannot write into metadata', async () => {
    const inst = await compileAndLoad(handSpec('mov %r0, 0\nexit', MAPS));
    const desc = manifestOf(inst).maps![0]!.desc;
    await expectMetadataSafe([
      ...forgedArray(desc), 'mov %r1, %r10', 'sub %r1, 64', 'mov %r2, %r10', 'sub %r2, 72', 'mov %r3, %r10', 'sub %r3, 88', 'mov %r4, 0', 'call 2', 'exit',
    ].join('\n'));
  });

  it('every map helper with a forged map pointer: NULL or -EINVAL, and nothing written', async () => {
    const desc = manifestOf(await compileAndLoad(handSpec('mov %r0, 0\nexit', MAPS))).maps![0]!.desc;
    const key = ['mov %r2, %r10', 'sub %r2, 72'];
    const value = ['mov %r2, %r10', 'sub %r2, 88'];
    const helpers: [id: number, args: string[], expected: bigint][] = [
      [1, key, 0n],
      [2, [...key, 'mov %r3, %r10', 'sub %r3, 88', 'mov %r4, 0'], -22n],
      [3, key, -22n],
      [87, [...value, 'mov %r3, 0'], -22n],
      [88, value, -22n],
      [89, value, -22n],
      [195, [...key, 'mov %r3, 0'], 0n],
    ];
    for (const [id, args, expected] of helpers) {
      const inst = await compileAndLoad(handSpec([...forgedArray(desc), 'mov %r1, %r10', 'sub %r1, 64', ...args, `call ${id}`, 'exit'].join('\n'), MAPS));
      expect(manifestOf(inst).maps![0]!.desc).toBe(desc);
      const counts = inst.map('counts');
      counts.set(1, 10n);
      const before = descriptorSnapshot(inst);
      const result = runFrame(inst, new Uint8Array(64)).r0;
      expect([id, BigInt.asIntN(64, result)]).toEqual([id, expected]);
      expect(descriptorProblems(before, inst, `after helper ${id}`)).toEqual([]);
      expect(counts.dump()).toEqual([[1, 10n]]);
    }
  });
});

/**
 * What a checked program reaches by passing its stack as a map pointer (`mov %r1, %r10; sub %r1,
 * 64; call 1`) after writing a fake HASH descriptor there whose metadata (also on its stack) has a
 * bucket chain that loops: the maps module must not follow the chain forever, outside the
 * instruction budget. With `registered`, the descriptor is in the module's descriptor table, as
 * a real map whose metadata an unchecked program overwrote (max_entries too, with `maxEntries`).
 * This runs the maps module on exactly those bytes in a worker, which can be stopped.
 */
function lookupInForgedHash(cyclic: boolean, registered = false, maxEntries = 4): Promise<'returned' | 'hung' | string> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const memory = new WebAssembly.Memory({ initial: 1 });
    WebAssembly.instantiate(workerData.bytes, { env: { memory } }).then(({ instance }) => {
      const v = new DataView(memory.buffer);
      const desc = 0x8000, meta = 0x8100, key = 0x8200;
      if (workerData.registered) {
        v.setUint32(workerData.table, desc, true);    // the descriptor table: desc
        v.setUint32(workerData.table + 4, 1, true);   // and nothing else
      }
      v.setUint32(desc + 0, 1, true);      // type: HASH
      v.setUint32(desc + 4, 4, true);      // key size 4
      v.setUint32(desc + 8, 8, true);      // value size 8
      v.setUint32(desc + 12, workerData.maxEntries, true); // max_entries
      v.setUint32(desc + 20, 8, true);     // value stride
      v.setUint32(desc + 28, meta, true);  // metadata
      v.setUint32(desc + 48, 0, true);     // bucket mask 0: one bucket
      v.setUint32(meta + 16, 1, true);     // bucket 0 -> entry 1
      v.setUint32(meta + 20, workerData.cyclic ? 1 : 0, true); // entry 1 -> entry 1, or the end
      v.setUint32(meta + 28, 7, true);     // entry 1's key: 7
      v.setUint32(key, 1, true);           // looked up: 1
      instance.exports.map_lookup_elem(desc, key);
      parentPort.postMessage('returned');
    }, (e) => parentPort.postMessage(String(e)));`;
  const worker = new Worker(source, { eval: true, workerData: { bytes: mapsWasmBytes(), cyclic, registered, maxEntries, table: MAPS_SCRATCH.mapTable } });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve('hung');
    }, 3000);
    worker.on('message', (m: string) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(m);
    });
    worker.on('error', (e) => {
      clearTimeout(timer);
      resolve(String(e));
    });
  });
}

describe('forged map pointers (checked mode)', () => {
  it('the harness: the same forged map with a chain that ends returns', async () => {
    expect(await lookupInForgedHash(false)).toBe('returned');
    expect(await lookupInForgedHash(false, true)).toBe('returned');
  }, 10_000);

  // See lookupInForgedHash: the maps module takes only the descriptors in its table.
  it('bpf_map_lookup_elem (1) on a forged hash map with a cyclic chain returns', async () => {
    expect(await lookupInForgedHash(true)).toBe('returned');
  }, 10_000);

  // And every walk along links read from metadata is bounded, by max_entries and at most 2^26.
  it('bpf_map_lookup_elem (1) on a real hash map whose chain was made cyclic returns', async () => {
    expect(await lookupInForgedHash(true, true)).toBe('returned');
    expect(await lookupInForgedHash(true, true, 0xffff_ffff)).toBe('returned');
  }, 10_000);
});

// ------------------------------------------------------------------------------ CLI

interface FakeIO extends CliIO {
  out: string;
  err: string;
}

function fakeIO(files: Record<string, Uint8Array>): FakeIO {
  const io: FakeIO = {
    out: '',
    err: '',
    async readFile(p: string): Promise<Uint8Array> {
      const f = files[p];
      if (!f) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      return f.slice();
    },
    async writeFile(): Promise<void> {},
    stdout(t: string): void {
      io.out += t;
    },
    stderr(t: string): void {
      io.err += t;
    },
    now: () => 0,
  };
  return io;
}

/** True if the object does not load, or each of its maps has fewer than `n` entries. */
function mapsBelow(bytes: Uint8Array, n: number): boolean {
  try {
    return loadObjectSpec(bytes).maps.every((m) => m.maxEntries < n);
  } catch {
    return true;
  }
}

/** Exit 1, and exactly one line on stderr with the code and no stack trace. */
function expectOneErrorLine(io: FakeIO, status: number, code: string): void {
  expect(status, io.err).toBe(1);
  expect(io.err.endsWith('\n'), JSON.stringify(io.err)).toBe(true);
  expect(io.err.trimEnd().split('\n'), JSON.stringify(io.err)).toHaveLength(1);
  expect(io.err).toContain(code);
  expect(io.err).not.toMatch(/^\s+at /m);
}

describe('CLI', () => {
  const files = (): Record<string, Uint8Array> => ({
    'xdp_counter.o': fixture('c/xdp_counter.o'),
    'legacy_maps.o': fixture('c/legacy_maps.o'),
    'global_data.o': fixture('c/global_data.o'),
    'garbage.o': new Uint8Array([1, 2, 3, 4, 5, 0]),
    'short.o': new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]),
    'pkt': new Uint8Array(64),
  });

  it.each([['garbage.o'], ['short.o']])('inspect %s: exit 1, one line with E_BAD_ELF', async (name) => {
    for (const json of [[], ['--json']]) {
      const io = fakeIO(files());
      expectOneErrorLine(io, await main(['inspect', name, ...json], io), ErrorCode.BadElf);
      expect(io.out).toBe('');
    }
  });

  it('inspect and run on mutated objects: exit 0 or exit 1 with one typed line, never a crash', async () => {
    const base = fixture('c/legacy_maps.o');
    await fc.assert(
      fc.asyncProperty(fc.array(arbMutation('mapDefinition'), { minLength: 1, maxLength: 2 }), fc.boolean(), async (mutations, inspect) => {
        const bytes = mutateFixture({ name: 'c/legacy_maps.o', bytes: base }, mutations);
        // `run --json` prints every entry of every map: a large (valid) array exhausts the heap
        // (the bug pinned by 'run reads only the entries it prints of a large map').
        fc.pre(inspect || mapsBelow(bytes, 1 << 16));
        const io = fakeIO({ 'm.o': bytes, pkt: new Uint8Array(64) });
        const status = await main(inspect ? ['inspect', 'm.o', '--json'] : ['run', 'm.o', '--checked', '--budget', '100000', '--packet', 'pkt', '--json'], io);
        if (status === 0) {
          expect(() => JSON.parse(io.out)).not.toThrow();
        } else {
          expect(status, io.err).toBe(1);
          expect(io.err.trimEnd().split('\n')).toHaveLength(1);
          expect(io.err).toMatch(/E_[A-Z0-9_]+/);
        }
      }),
      { seed: SEED, numRuns: runs(40) },
    );
  });

  it('inspectObject on mutated objects: a report that formats and serialises, or a typed error', async () => {
    const families: Family[] = ['sectionHeader', 'symbol', 'relocation', 'btf', 'mapDefinition', 'bytes', 'truncate'];
    await fc.assert(
      fc.property(fc.constantFrom(...families).chain((f) => arbCase(f)), ({ fixture: i, mutations }) => {
        const f = FIXTURES[i]!;
        let report: ReturnType<typeof inspectObject>;
        try {
          report = inspectObject(mutateFixture(f, mutations));
        } catch (e) {
          const problems = errorProblems(e, 'inspectObject');
          if (problems.length > 0) throw new Error(`${f.name}: ${problems.join('\n')}`);
          return;
        }
        expect(typeof formatInspect(report)).toBe('string');
        expect(() => JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toThrow();
      }),
      { seed: SEED, numRuns: runs(600) },
    );
  });

  it('run --program nope: exit 1, one line naming the program', async () => {
    const io = fakeIO(files());
    const status = await main(['run', 'xdp_counter.o', '--program', 'nope'], io);
    expectOneErrorLine(io, status, ErrorCode.BadArgument);
    expect(io.err).toContain('program nope');
  });

  it('run on an object with maps prints r0 and the maps\' contents', async () => {
    const io = fakeIO(files());
    expect(await main(['run', 'legacy_maps.o', '--packet', 'pkt'], io)).toBe(0);
    expect(io.err).toBe('');
    expect(io.out).toContain('count_legacy: r0 = 0x0');
    expect(io.out).toContain('map legacy_counts (1 entry):');
    expect(io.out).toMatch(/^ {2}64 => "?1"?$/m);
    expect(io.out).toContain('map legacy_array (16 entries):');
  });

  it('run --json parses, with the maps keyed by name', async () => {
    const io = fakeIO(files());
    expect(await main(['run', 'global_data.o', '--packet', 'pkt', '--json'], io)).toBe(0);
    const out = JSON.parse(io.out) as { program: string; result: string; maps: Record<string, { entries: { key: unknown; value: unknown }[] }> };
    expect(out.program).toBe('track');
    expect(out.result).toBe('0x2');
    expect(out.maps['.data']!.entries[0]!.value).toEqual({ config: { step: 2, limit: 1000 }, calls_left: 2 });
    expect(out.maps['.bss']!.entries[0]!.value).toMatchObject({ packets: '2', bytes: '64' });
  });

  it('inspect --json parses', async () => {
    const io = fakeIO(files());
    expect(await main(['inspect', 'xdp_counter.o', '--json'], io)).toBe(0);
    const report = JSON.parse(io.out) as { maps: { name: string }[]; programs: { name: string }[] };
    expect(report.maps.map((m) => m.name)).toEqual(['pkt_count']);
    expect(report.programs.map((p) => p.name)).toEqual(['count_packets']);
  });

  // `run` reads only the entries it prints (the first 100; --json the first 10,000): a valid
  // array map may have 2^27 entries.
  it('run reads only the entries it prints of a large map', async () => {
    const b = fixture('c/legacy_maps.o');
    setU32(b, legacyMapWord(b, 'legacy_array', 3), 1 << 14);
    const io = fakeIO({ 'big.o': b, pkt: new Uint8Array(64) });
    const lookups = vi.spyOn(BpfMap.prototype, 'lookupRaw');
    try {
      expect(await main(['run', 'big.o', '--packet', 'pkt'], io)).toBe(0);
      expect(io.out).toContain('map legacy_array (16384 entries):');
      expect(lookups.mock.calls.length).toBeLessThan(1000);
    } finally {
      lookups.mockRestore();
    }
  });

  it('run on an object whose map bpf2wasm refuses: exit 1, one line naming the map', async () => {
    const b = fixture('c/legacy_maps.o');
    setU32(b, legacyMapWord(b, 'legacy_array', 3), 0);
    const io = fakeIO({ 'bad.o': b });
    expectOneErrorLine(io, await main(['run', 'bad.o'], io), ErrorCode.BadMap);
    expect(io.err).toContain('map legacy_array');
  });
});
