/**
 * The `bpf2wasm` command line, as a function of its arguments and an I/O interface so that it can
 * run (and be tested) without a process: `main(argv, io)` returns the exit status. The Node
 * adapter is compiler/cli/bin.ts.
 */
import type { HelperDefinition } from '../../runtime/helpers.js';
import type { BpfInstance } from '../../runtime/program.js';
import type { Manifest } from '../../runtime/abi.js';
import { AsmError, Bpf2WasmError, CompileError, ErrorCode, formatLocation, formatSourceLine } from '../../runtime/errors.js';
import type { SourceLine } from '../../runtime/source-lines.js';
import { assemble } from '../asm/assemble.js';
import { parseDataFile } from '../asm/datafile.js';
import { disassemble, type AsmSyntax } from '../asm/disasm.js';
import { compile, type CompileOptions, type OptLevel } from '../compile.js';
import { instantiateBytecode, type EngineKind } from '../load.js';
import { parseElf } from '../elf/reader.js';
import { extractProgram } from '../elf/program.js';
import { isStringSectionName, loadObjectSpec, sectionStrings, type LinkedFunction, type ProgramSpec } from '../elf/loader.js';
import { programSourceLines } from '../lines.js';
import { compileObject, planObject } from '../object.js';
import { interpretModule } from '../../runtime/interpreter.js';
import { loadOptional } from '../optional.js';
import { formatInspect, inspectObject } from '../inspect.js';
import { instantiate } from '../../runtime/instance.js';
import type { PerfEventArray } from '../../runtime/stdlib/perf.js';
import type { RingBuffer } from '../../runtime/stdlib/ringbuf.js';
import { formatValue } from '../../runtime/typedesc.js';
import { mapInfo, type BpfMap } from '../../runtime/maps/api.js';
import { MapType } from '../../runtime/uapi/index.js';

/** What the CLI needs from its host. */
export interface CliIO {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Monotonic clock in nanoseconds (for --repeat). */
  now(): number;
}

export const USAGE = `usage:
  bpf2wasm compile IN -o OUT.wasm [--wat] [--manifest OUT.json] [-O0|-O1|-O2]
                   [--checked] [--budget N] [--validate] [--program NAME]
  bpf2wasm run IN [--mem FILE] [--packet FILE] [--repeat N] [--json] [-O0|-O1|-O2]
               [--engine compiled|interpreter] [--checked] [--budget N|--no-budget]
               [--validate] [--program NAME]
  bpf2wasm inspect OBJ [--json]
  bpf2wasm disasm IN [--syntax llvm|conformance] [--program NAME] [--no-source]

  --checked     confine every memory access to map values, the stack and the input
  --budget N    stop a run after about N instructions (E_BUDGET); run defaults
                to 10^9 so that no program hangs the command, --no-budget lifts it
  --validate    run the kernel-style structural checks before compiling
  --engine      compiled (default) or interpreter
  --no-source   disasm of an object: leave out the C source lines (from .BTF.ext)
                and function labels it shows between the instructions by default

IN is raw eBPF bytecode (8-byte instructions), assembly text in the conformance
syntax, a conformance .data file (its -- mem is used by run), or an ELF object
from clang -target bpf. An object compiles whole: every program of its SEC()
sections (or --program NAME only, for compile), its maps in linear memory, global
data, tail calls. run OBJ --program NAME runs one program (the first by default)
with r1 pointing at --mem FILE (a context; 256 zero bytes by default) or, with
--packet FILE, at an xdp_md / __sk_buff built for the packet; it prints r0, the
trace output, ring and perf buffer records and every map's contents.
--symbol NAME compiles a bare function of the object instead (an object with a
main function runs main), as raw bytecode without maps.
`;

class UsageError extends Error {}

interface Parsed {
  command: string;
  input?: string;
  out?: string;
  wat: boolean;
  manifest?: string;
  opt: OptLevel;
  mem?: string;
  packet?: string;
  repeat: number;
  json: boolean;
  syntax: AsmSyntax;
  symbol?: string;
  program?: string;
  help: boolean;
  engine: EngineKind;
  checked: boolean;
  budget?: number;
  noBudget: boolean;
  validate: boolean;
  noSource: boolean;
}

function parseArgs(argv: string[]): Parsed {
  const first = argv[0] ?? '';
  const p: Parsed = {
    command: first.startsWith('-') ? '' : first, wat: false, opt: 1, repeat: 0, json: false, syntax: 'llvm', help: false,
    engine: 'compiled', checked: false, validate: false, noBudget: false, noSource: false,
  };
  const need = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = p.command === '' ? 0 : 1; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '-o': p.out = need(++i, a); break;
      case '--wat': p.wat = true; break;
      case '--manifest': p.manifest = need(++i, a); break;
      case '-O0': p.opt = 0; break;
      case '-O1': p.opt = 1; break;
      case '-O2': p.opt = 2; break;
      case '--mem': p.mem = need(++i, a); break;
      case '--packet': p.packet = need(++i, a); break;
      case '--json': p.json = true; break;
      case '--symbol': p.symbol = need(++i, a); break;
      case '--program': p.program = need(++i, a); break;
      case '--checked': p.checked = true; break;
      case '--validate': p.validate = true; break;
      case '--engine': {
        const v = need(++i, a);
        if (v !== 'compiled' && v !== 'interpreter') throw new UsageError(`--engine is compiled or interpreter, not ${v}`);
        p.engine = v;
        break;
      }
      case '--no-budget': p.noBudget = true; break;
      case '--no-source': p.noSource = true; break;
      case '--budget': {
        const v = need(++i, a);
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--budget takes a whole number of instructions, not ${v}`);
        p.budget = n;
        break;
      }
      case '--repeat': {
        const v = need(++i, a);
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 1e9) throw new UsageError(`--repeat takes a whole number from 1 to 10^9, not ${v}`);
        p.repeat = n;
        break;
      }
      case '--syntax': {
        const v = need(++i, a);
        if (v !== 'llvm' && v !== 'conformance') throw new UsageError(`--syntax is llvm or conformance, not ${v}`);
        p.syntax = v;
        break;
      }
      case '-h':
      case '--help':
        p.help = true;
        break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
        if (p.input !== undefined) throw new UsageError(`unexpected argument ${a}`);
        p.input = a;
    }
  }
  return p;
}

interface LoadedInput {
  bytecode: Uint8Array;
  mem?: Uint8Array;
  /** The whole ELF object, when the input is one compiled as an object. */
  object?: Uint8Array;
  /** The object's program chosen (--program, or the first). */
  program?: ProgramSpec;
  /** Its C source lines (from .BTF.ext), numbered from its first instruction. */
  source?: readonly SourceLine[];
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** Assembly text has no NUL bytes and decodes as UTF-8; eBPF bytecode nearly always has NULs. */
function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

async function loadInput(io: CliIO, path: string, symbol: string | undefined, program: string | undefined): Promise<LoadedInput> {
  const bytes = await io.readFile(path);
  if (bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b)) {
    const elf = parseElf(bytes);
    // A function in .text (the conformance runner's `main`), or a program from its SEC() section.
    const textMain = symbol === undefined && program === undefined && elf.symbolByName('main') !== undefined;
    if (symbol !== undefined || textMain) return { bytecode: extractProgram(elf, symbol !== undefined ? { symbol } : {}) };
    const spec = loadObjectSpec(bytes);
    if (spec.programs.length === 0) {
      throw new CompileError(ErrorCode.BadElf, `${path} has no programs (no functions in SEC() sections) and no main`);
    }
    const chosen = program === undefined ? spec.programs[0]! : spec.programs.find((p) => p.name === program || p.section === program);
    if (!chosen) {
      throw new CompileError(
        ErrorCode.BadArgument,
        `no program named ${program}; the object has ${spec.programs.map((p) => `${p.name} (${p.section})`).join(', ')}`,
        { program: program! },
      );
    }
    return { bytecode: chosen.insns, object: bytes, program: chosen, source: programSourceLines(spec.btfExt, [chosen]) };
  }
  if (looksLikeText(bytes)) {
    const text = new TextDecoder().decode(bytes);
    if (/^\s*--\s*\w+/m.test(text)) {
      const data = parseDataFile(text);
      if (data.asm !== undefined) {
        const out: LoadedInput = { bytecode: assembleAt(data.asm, (data.asmLine ?? 1) - 1) };
        if (data.mem) out.mem = data.mem;
        return out;
      }
      if (data.raw) {
        const out: LoadedInput = { bytecode: data.raw };
        if (data.mem) out.mem = data.mem;
        return out;
      }
      throw new CompileError(ErrorCode.EmptyProgram, `${path} has no -- asm or -- raw section`);
    }
    return { bytecode: assemble(text) };
  }
  return { bytecode: bytes };
}

/** Assembles text that starts `lineOffset` lines into its file, reporting file line numbers. */
function assembleAt(text: string, lineOffset: number): Uint8Array {
  try {
    return assemble(text);
  } catch (e) {
    if (e instanceof AsmError && e.location.line !== undefined) {
      throw new AsmError(e.code, e.detail, { ...e.location, line: e.location.line + lineOffset });
    }
    throw e;
  }
}

function hex64(v: bigint): string {
  return '0x' + v.toString(16);
}

/** JSON for decoded values: bigints as decimal strings, bytes as hex. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return [...value].map((b) => b.toString(16).padStart(2, '0')).join('');
  return value;
}

function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Context size given to object programs run without --mem / --packet: zeroes. */
const DEFAULT_CONTEXT = 256;

/**
 * `run OBJ`: compiles every program of the object (so tail calls find their targets), runs one,
 * and reports r0, trace output, ring/perf buffer records and the maps afterwards.
 */
async function runObject(p: Parsed, object: Uint8Array, io: CliIO): Promise<number> {
  const trace: string[] = [];
  // Output is kept for the first run only (--repeat would pile it up).
  let collecting = true;
  const sink = { trace: (line: string): void => { if (collecting) trace.push(line); } };
  let compiled: { manifest: Manifest };
  let inst: BpfInstance;
  if (p.engine === 'interpreter') {
    const planned = planObject(object, compileOptions(p));
    compiled = planned;
    inst = await interpretModule(planned.image, sink);
  } else {
    const c = await compileObject(object, compileOptions(p));
    compiled = c;
    inst = await instantiate(c.wasm, sink);
  }
  const program = p.program === undefined
    ? compiled.manifest.programs[0]!.name
    : compiled.manifest.programs.find((e) => e.name === p.program || e.section === p.program)!.name;
  const records: { map: string; kind: 'ringbuf' | 'perf'; data: Uint8Array }[] = [];
  const ringbufs = new Map<string, RingBuffer>();
  const perfs = new Map<string, PerfEventArray>();
  for (const m of inst.maps.values()) {
    if (m.type === MapType.RINGBUF) ringbufs.set(m.name, inst.ringbuf(m.name));
    if (m.type === MapType.PERF_EVENT_ARRAY) perfs.set(m.name, inst.perfbuf(m.name));
  }
  for (const [name, rb] of ringbufs) rb.onRecord((data) => { if (collecting) records.push({ map: name, kind: 'ringbuf', data: data.slice() }); });
  for (const [name, pb] of perfs) pb.onRecord((data) => { if (collecting) records.push({ map: name, kind: 'perf', data: data.slice() }); });

  let result: bigint;
  let packetOut: Uint8Array | undefined;
  let runOnce: () => void;
  if (p.packet !== undefined) {
    const packet = await io.readFile(p.packet);
    const handle = inst.program(program);
    const r = handle.test({ dataIn: packet });
    result = r.r0;
    packetOut = r.dataOut;
    runOnce = () => { handle.test({ dataIn: packet }); };
  } else {
    const ctx = p.mem !== undefined ? await io.readFile(p.mem) : new Uint8Array(DEFAULT_CONTEXT);
    const handle = inst.program(program);
    result = handle.run(ctx);
    runOnce = () => { handle.run(ctx); };
  }
  for (const rb of ringbufs.values()) rb.consume();
  for (const pb of perfs.values()) pb.consume();
  const firstRun = { trace: [...trace], records: [...records] };
  collecting = false;
  let medianNs: number | undefined;
  if (p.repeat > 0) medianNs = medianRunNs(runOnce, p.repeat, io, () => {
    for (const rb of ringbufs.values()) rb.consume();
    for (const pb of perfs.values()) pb.consume();
  });

  // Ring/perf buffers print as records; unused inner maps laid out in advance are left out.
  const maps = [...inst.maps.values()].filter((m) => m.type !== MapType.PERF_EVENT_ARRAY && m.type !== MapType.RINGBUF && !(mapInfo(m).poolOf !== undefined && firstEntries(m, 1).length === 0));
  if (p.json) {
    const out: Record<string, unknown> = {
      program,
      result: hex64(result),
      trace: firstRun.trace,
      // A record's type is the program's business (the map declares none): its bytes, in hex.
      records: firstRun.records.map((r) => ({ map: r.map, kind: r.kind, data: r.data })),
      maps: Object.fromEntries(maps.map((m) => [m.name, mapJson(m)])),
    };
    if (packetOut) out.packet = packetOut;
    if (medianNs !== undefined) {
      out.repeat = p.repeat;
      out.medianNs = medianNs;
    }
    io.stdout(JSON.stringify(out, jsonReplacer) + '\n');
    return 0;
  }
  const lines: string[] = [`${program}: r0 = ${hex64(result)} (${BigInt.asIntN(64, result)})`];
  if (firstRun.trace.length > 0) lines.push('trace:', ...firstRun.trace.map((t) => '  ' + t));
  for (const r of firstRun.records) lines.push(`${r.kind} ${r.map}: ${hexBytes(r.data)}`);
  for (const m of maps) lines.push(...mapText(m));
  if (medianNs !== undefined) lines.push(`repeat ${p.repeat}: median ${medianNs.toFixed(1)} ns per run`);
  io.stdout(lines.join('\n') + '\n');
  return 0;
}

function formatAny(type: BpfMap['keyType'], v: unknown): string {
  // Per-CPU values come as an array with one value per CPU.
  if (type && Array.isArray(v) && type.kind !== 'array') return `[${v.map((x) => formatValue(type, x)).join(', ')}]`;
  if (type) return formatValue(type, v);
  if (v instanceof Uint8Array) return hexBytes(v);
  return JSON.stringify(v, jsonReplacer) ?? String(v);
}

/** Entries printed per map: the text shows the first 100, --json the first 10,000. */
const TEXT_ENTRIES = 100;
const JSON_ENTRIES = 10_000;

/** Maps read element by element (no keys): listed in pop order, without popping. */
const isQueueOrStack = (m: BpfMap): boolean => m.type === MapType.QUEUE || m.type === MapType.STACK;

/** A map as `run` prints it, in the manner of `bpftool map dump`. */
function mapText(m: BpfMap): string[] {
  if (m.type === MapType.BLOOM_FILTER) return [`map ${m.name} (bloom filter): no entries to list (it answers membership queries only)`];
  if (isQueueOrStack(m)) {
    const elements = m.elements();
    const order = m.type === MapType.QUEUE ? 'queue, %n, oldest first' : 'stack, %n, newest first';
    const lines = [`map ${m.name} (${order.replace('%n', `${elements.length} element${elements.length === 1 ? '' : 's'}`)}):`];
    for (const v of elements.slice(0, TEXT_ENTRIES)) lines.push(`  ${formatAny(m.valueType, v)}`);
    if (elements.length > TEXT_ENTRIES) lines.push(`  ... ${elements.length - TEXT_ENTRIES} more`);
    return lines;
  }
  if (mapInfo(m).internal && isStringSectionName(m.name)) {
    const strings = sectionStrings(m.lookupRaw(new Uint8Array(4)) ?? new Uint8Array(0));
    return [`map ${m.name} (${strings.length} string${strings.length === 1 ? '' : 's'}):`, ...strings.map((str) => `  0x${str.offset.toString(16)}: ${JSON.stringify(str.text)}`)];
  }
  const shown = firstEntries(m, TEXT_ENTRIES);
  const size = m.type === MapType.PROG_ARRAY || m.type === MapType.ARRAY_OF_MAPS ? shown.length : m.size;
  const lines = [`map ${m.name} (${size} entr${size === 1 ? 'y' : 'ies'}):`];
  for (const [k, v] of shown) lines.push(`  ${formatAny(m.keyType, k)} => ${formatAny(m.valueType, v)}`);
  if (size > shown.length) lines.push(`  ... ${size - shown.length} more`);
  return lines;
}

/** The first `n` entries of a map, read lazily (a map may have millions). */
function firstEntries(m: BpfMap, n: number): Array<[unknown, unknown]> {
  const out: Array<[unknown, unknown]> = [];
  if (m.type === MapType.BLOOM_FILTER || isQueueOrStack(m)) return out;
  for (const e of m.entries()) {
    if (out.length >= n) break;
    out.push(e);
  }
  return out;
}

/** A map as `run --json` prints it. */
function mapJson(m: BpfMap): unknown {
  if (m.type === MapType.BLOOM_FILTER) return { bloomFilter: true, entries: [] };
  if (isQueueOrStack(m)) {
    const elements = m.elements();
    return { elements: elements.slice(0, JSON_ENTRIES), ...(elements.length > JSON_ENTRIES ? { truncated: true, size: elements.length } : {}) };
  }
  if (mapInfo(m).internal && isStringSectionName(m.name)) return { strings: sectionStrings(m.lookupRaw(new Uint8Array(4)) ?? new Uint8Array(0)) };
  const shown = firstEntries(m, JSON_ENTRIES + 1);
  const truncated = shown.length > JSON_ENTRIES;
  return {
    entries: shown.slice(0, JSON_ENTRIES).map(([key, value]) => ({ key, value })),
    ...(truncated ? { truncated: true, size: m.size } : {}),
  };
}

/**
 * What `disasm OBJ` prints before instructions, as `llvm-objdump -d -S`: `<function>:` at each
 * function of the linked program and `; file:line: source` where a new C line starts.
 */
function objectAnnotations(program: ProgramSpec, lines: readonly SourceLine[]): (pc: number) => string[] | undefined {
  const at = new Map<number, string[]>();
  const add = (pc: number, text: string): void => {
    let list = at.get(pc);
    if (!list) at.set(pc, (list = []));
    list.push(text);
  };
  for (const f of program.functions) add(f.pc, `${f.pc === 0 ? '' : '\n'}<${f.name}>:`);
  let last = '';
  let fn: LinkedFunction | undefined;
  for (const l of lines) {
    const text = `; ${formatSourceLine({ file: l.file, line: l.line, source: l.source })}`;
    const owner = program.functions.find((f) => l.pc >= f.pc && l.pc < f.pc + f.length);
    // Consecutive records of one line show once; each function shows its first line.
    if (text !== last || owner !== fn) add(l.pc, text);
    last = text;
    fn = owner;
  }
  return (pc) => at.get(pc);
}

/** Runs the CLI. Returns the process exit status. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let p: Parsed;
  try {
    p = parseArgs(argv);
  } catch (e) {
    io.stderr(`bpf2wasm: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (p.help || p.command === 'help' || p.command === '') {
    io.stdout(USAGE);
    return p.command === '' && !p.help ? 2 : 0;
  }
  if (!['compile', 'run', 'disasm', 'inspect'].includes(p.command)) {
    io.stderr(`bpf2wasm: unknown command ${p.command}\n${USAGE}`);
    return 2;
  }
  if (p.input === undefined) {
    io.stderr(`bpf2wasm: ${p.command} needs an input file\n${USAGE}`);
    return 2;
  }
  try {
    if (p.command === 'inspect') {
      const report = inspectObject(await io.readFile(p.input));
      io.stdout(p.json ? JSON.stringify(report, jsonReplacer, 2) + '\n' : formatInspect(report));
      return 0;
    }
    const input = await loadInput(io, p.input, p.symbol, p.program);
    if (input.object && p.command === 'run') return await runObject(p, input.object, io);
    switch (p.command) {
      case 'disasm':
        io.stdout(disassemble(input.bytecode, {
          syntax: p.syntax, addresses: p.syntax === 'llvm',
          ...(input.program && !p.noSource ? { annotate: objectAnnotations(input.program, input.source ?? []) } : {}),
        }));
        return 0;
      case 'compile': {
        if (p.out === undefined) throw new UsageError('compile needs -o OUT.wasm');
        const compiled = input.object
          ? await compileObject(input.object, { ...compileOptions(p), ...(p.program !== undefined ? { programs: [p.program] } : {}) })
          : await compile(input.bytecode, compileOptions(p));
        await io.writeFile(p.out, compiled.wasm);
        if (p.wat) await io.writeFile(p.out.replace(/\.wasm$/, '') + '.wat', await toWat(compiled.wasm));
        if (p.manifest !== undefined) await io.writeFile(p.manifest, JSON.stringify(compiled.manifest, null, 2) + '\n');
        io.stdout(`wrote ${p.out} (${compiled.wasm.length} bytes, ${compiled.manifest.insnCount} instructions)\n`);
        return 0;
      }
      default:
        return await runCommand(p, input, io);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`bpf2wasm: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Bpf2WasmError) {
      io.stderr(`bpf2wasm: ${p.input}: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && typeof err.message === 'string' && err.code.startsWith('E')) {
      io.stderr(`bpf2wasm: ${err.message}\n`);
      return 1;
    }
    io.stderr(`bpf2wasm: internal error (a bug in bpf2wasm, please report it): ${(e as Error)?.message ?? String(e)}\n`);
    return 70;
  }
}

/** The instruction budget `run` applies unless told otherwise: about a second of work. */
export const DEFAULT_RUN_BUDGET = 1_000_000_000;

function compileOptions(p: Parsed): CompileOptions {
  const budget = p.budget ?? (p.command === 'run' && !p.noBudget ? DEFAULT_RUN_BUDGET : undefined);
  return {
    optLevel: p.opt,
    ...(p.checked ? { checked: true } : {}),
    ...(budget !== undefined ? { budget } : {}),
    ...(p.validate ? { validate: true } : {}),
  };
}

async function runCommand(p: Parsed, input: LoadedInput, io: CliIO): Promise<number> {
  const helpers: HelperDefinition[] = [];
  const inst = await instantiateBytecode(input.bytecode, { ...compileOptions(p), engine: p.engine, helpers });
  const mem = p.mem !== undefined ? await io.readFile(p.mem) : input.mem;
  const result = inst.program().run(mem);
  let medianNs: number | undefined;
  if (p.repeat > 0) medianNs = timeRuns(inst, mem, p.repeat, io);
  if (p.json) {
    const out: Record<string, unknown> = { result: hex64(result) };
    if (medianNs !== undefined) {
      out.repeat = p.repeat;
      out.medianNs = medianNs;
    }
    io.stdout(JSON.stringify(out) + '\n');
  } else {
    io.stdout(hex64(result) + '\n');
    if (medianNs !== undefined) io.stdout(`repeat ${p.repeat}: median ${medianNs.toFixed(1)} ns per run\n`);
  }
  return 0;
}

/**
 * Times `repeat` runs in up to 31 batches and returns the median per-run time, as
 * BPF_PROG_TEST_RUN reports a duration for `repeat` runs. Input is copied in once; each run sees
 * what the previous one left, as in the kernel.
 */
function timeRuns(inst: BpfInstance, mem: Uint8Array | undefined, repeat: number, io: CliIO): number {
  const len = mem ? mem.length : 0;
  if (mem) inst.dataView(len).set(mem);
  const program = inst.program();
  return medianRunNs(() => program.runInPlace(len), repeat, io);
}

/** The median ns per call of `run` over `repeat` calls in up to 31 batches; `between` runs after each batch. */
function medianRunNs(run: () => void, repeat: number, io: CliIO, between?: () => void): number {
  const batches = Math.min(31, repeat);
  const per = Math.floor(repeat / batches);
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const n = b === batches - 1 ? repeat - per * (batches - 1) : per;
    const t0 = io.now();
    for (let i = 0; i < n; i++) run();
    samples.push((io.now() - t0) / n);
    between?.();
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}

async function toWat(wasm: Uint8Array): Promise<string> {
  const wabtInit = (await loadOptional('wabt', '--wat')).default;
  const wabt = await wabtInit();
  const mod = wabt.readWasm(wasm, { readDebugNames: true });
  try {
    mod.generateNames();
    mod.applyNames();
    return mod.toText({ foldExprs: false, inlineExport: false });
  } finally {
    mod.destroy();
  }
}

export { formatLocation };
