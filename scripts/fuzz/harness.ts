/**
 * The checks behind the differential and robustness tests and `npm run fuzz`, and the regression
 * file format, shared so that a case the fuzzer keeps is replayed by exactly the check that
 * failed.
 *
 * - `checkDifferential`: a program runs on the interpreter and compiled at -O0, -O1 and -O2; the
 *   outcomes (r0, or the error's class, code and instruction) and the linear memory (input
 *   memory, stack region, and all of it) must agree. Generated programs must also pass the
 *   validator and survive a disassemble/assemble round trip.
 * - `checkBytes`: arbitrary bytes through the decoder, the compiler (every level, with and without
 *   validation) and the interpreter: only typed errors (never E_INTERNAL), and every module passes
 *   WebAssembly.validate, Binaryen's and wabt's validators and instantiates; the interpreter loads
 *   exactly what the compiler compiles, with the same error otherwise; what decodes disassembles
 *   and assembles back to the same instructions; and when the interpreter finishes within its
 *   budget, the compiled code (given a budget too, compile option `budget`) agrees with it at
 *   every level, and in checked memory mode.
 * - `checkElf`, `checkAsm`: random objects and assembly text: only typed errors; what assembles
 *   round-trips through the disassembler.
 *
 * Each check returns the list of problems found (empty: the input passed).
 */
import { assemble } from '../../compiler/asm/assemble.js';
import { CONST_TABLE_BASE, CONST_TABLE_END } from '../../runtime/abi.js';
import { disassemble, formatInsn } from '../../compiler/asm/disasm.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { compile, type CompileOptions, type CompiledModule, type OptLevel } from '../../compiler/compile.js';
import { readDataSection } from '../../compiler/elf/data.js';
import { readElfBtf } from '../../compiler/elf/btf-sections.js';
import { readMapDefinitions } from '../../compiler/elf/map-defs.js';
import { extractProgram, locateProgram } from '../../compiler/elf/extract.js';
import { parseElf } from '../../compiler/elf/elf64.js';
import { validateProgram } from '../../compiler/validate.js';
import type { MemoryLayout } from '../../runtime/abi.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import type { HelperDefinition } from '../../runtime/helper-registry.js';
import type { BpfInstance } from '../../runtime/program.js';
import { instantiate } from '../../runtime/instance.js';
import { interpret } from '../../runtime/interpreter.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import type { Insn } from '../../runtime/isa/insn.js';
import { computeLayout } from '../../runtime/memory-layout.js';
import { DEFAULT_STACK, fuzzHelpers, type FuzzGroup, type HelperEnv, type StackShape } from './generators.js';

export const OPT_LEVELS: readonly OptLevel[] = [0, 1, 2];
/** Instruction budget of differential runs: generated programs stay far below it. */
export const DIFF_BUDGET = 5_000_000;
/** Instruction budget of runs of random bytes. */
export const BYTES_BUDGET = 20_000;

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

// ================================================================ outcomes

/** What one engine did with one program and input. */
export interface Outcome {
  /** True if it ran to the end. */
  ok: boolean;
  r0: bigint;
  /** The typed error, when it failed. */
  error?: Bpf2WasmError;
  /** Something else thrown (always a problem). */
  foreign?: unknown;
  /** False if it failed before running (decode, compile, load, instantiate). */
  ran: boolean;
  /** The whole linear memory after the run (empty if it never ran). */
  memory: Uint8Array;
}

function failed(e: unknown, ran: boolean, memory: Uint8Array): Outcome {
  return e instanceof Bpf2WasmError
    ? { ok: false, r0: 0n, error: e, ran, memory }
    : { ok: false, r0: 0n, foreign: e, ran, memory };
}

const EMPTY = new Uint8Array(0);

function snapshot(m: WebAssembly.Memory): Uint8Array {
  return new Uint8Array(m.buffer).slice();
}

/** Programs to run in one module: concatenated bytecode, the entry of each, and its input memory. */
export interface ProgramSet {
  bytes: Uint8Array;
  /** Instruction index of each program's entry. */
  entries: number[];
  /** Input memory of each program; null: run without (r1 = r2 = 0). */
  mems: (Uint8Array | null)[];
  /** Stack shape; the default (8 frames of 512 bytes) when absent. */
  stack?: StackShape;
  /** Checked memory mode (compile and interpret option `checked`). */
  checked?: boolean;
  /** Instruction budget of both engines (compile option `budget`); unset: none for the compiled code. */
  budget?: number;
  /** Some entries are subfunctions, which read r1-r5 as arguments (the validator is told so). */
  calleeEntries?: boolean;
}

/** One program as a set. */
export function singleProgram(bytes: Uint8Array, mem: Uint8Array | null = new Uint8Array(0)): ProgramSet {
  return { bytes, entries: [0], mems: [mem] };
}

/** Options of a set built from generated programs. */
export interface CombineOptions {
  stack?: StackShape;
  /** Also enter each program's subfunctions (see `FuzzGroup.subEntries`). */
  subEntries?: boolean;
}

/**
 * Concatenates programs into one set: each is self-contained (relative jumps and calls), so each
 * runs from its own entry exactly as it would alone. Compiling many programs into one module
 * costs far less than compiling each (Binaryen's per-module work dominates for small programs).
 */
export function combinePrograms(
  cases: readonly { bytes: Uint8Array; mem: Uint8Array | null; functions?: number[] }[],
  options: CombineOptions = {},
): ProgramSet {
  const bytes = new Uint8Array(cases.reduce((n, c) => n + c.bytes.length, 0));
  const entries: number[] = [];
  const mems: (Uint8Array | null)[] = [];
  let at = 0;
  let calleeEntries = false;
  for (const c of cases) {
    entries.push(at / 8);
    mems.push(c.mem);
    if (options.subEntries) {
      for (const f of c.functions ?? []) {
        entries.push(at / 8 + f);
        mems.push(c.mem);
        calleeEntries = true;
      }
    }
    bytes.set(c.bytes, at);
    at += c.bytes.length;
  }
  const set: ProgramSet = { bytes, entries, mems };
  const { stack } = options;
  if (stack && (stack.maxCallDepth !== DEFAULT_STACK.maxCallDepth || stack.frameSize !== DEFAULT_STACK.frameSize)) set.stack = stack;
  if (calleeEntries) set.calleeEntries = true;
  return set;
}

/** A generated group as a set. */
export function groupToSet(g: FuzzGroup): ProgramSet {
  const set = combinePrograms(g.cases, { stack: g.stack, subEntries: g.subEntries });
  if (g.checked) set.checked = true;
  if (g.budget) set.budget = DIFF_BUDGET;
  return set;
}

function stackOf(set: ProgramSet): StackShape {
  return set.stack ?? DEFAULT_STACK;
}

/** Helper functions for one instance; `bind` gives them the instance once it exists. */
export type HelperFactory = (env: HelperEnv) => HelperDefinition[];

function helpersWithEnv(factory: HelperFactory): { helpers: HelperDefinition[]; bind: (inst: { memory: WebAssembly.Memory }) => void } {
  const env: HelperEnv = {};
  return { helpers: factory(env), bind: (inst) => { env.memory = () => inst.memory; } };
}

const entryName = (i: number): string => `p${i}`;
const entryDecls = (set: ProgramSet): { name: string; pc: number }[] => set.entries.map((pc, i) => ({ name: entryName(i), pc }));

/**
 * Runs each program of a loaded instance on memory as a fresh instance has it: zeroed but for the
 * module's constant tables (runtime/abi.ts CONST_TABLE_BASE, written by its data segments).
 * The snapshots read the tables as zeros while they are intact (the interpreter has none);
 * a run that changed them shows as a difference.
 */
function runAll(inst: BpfInstance, set: ProgramSet): Outcome[] {
  const tables = new Uint8Array(inst.memory.buffer).slice(CONST_TABLE_BASE, CONST_TABLE_END);
  const after = (): Uint8Array => {
    const m = snapshot(inst.memory);
    if (Buffer.compare(m.subarray(CONST_TABLE_BASE, CONST_TABLE_END), tables) === 0) m.fill(0, CONST_TABLE_BASE, CONST_TABLE_END);
    return m;
  };
  return set.mems.map((mem, i) => {
    const bytes = new Uint8Array(inst.memory.buffer);
    bytes.fill(0);
    bytes.set(tables, CONST_TABLE_BASE);
    try {
      const r0 = inst.run(mem?.slice(), { program: entryName(i) });
      return { ok: true, r0, ran: true, memory: after() };
    } catch (e) {
      return failed(e, true, after());
    }
  });
}

/**
 * Compiles Wasm bytes synchronously: on a busy machine this is several times faster than the
 * asynchronous compile `instantiate` does with bytes, which waits for background threads.
 * A module the engine refuses is a compiler bug, reported as a non-typed error.
 */
function wasmModule(wasm: Uint8Array): WebAssembly.Module {
  try {
    return new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new Error(`the engine cannot compile the module: ${errorText(e)}`, { cause: e });
  }
}

/** Runs every program of a set on the interpreter. */
export function runInterpreter(set: ProgramSet, helpers: HelperFactory, budget: number): Outcome[] {
  const h = helpersWithEnv(helpers);
  let inst;
  try {
    inst = interpret(set.bytes, {
      helpers: h.helpers, budget: set.budget ?? budget, entries: entryDecls(set), ...stackOf(set), ...(set.checked ? { checked: true } : {}),
    });
  } catch (e) {
    return set.mems.map(() => failed(e, false, EMPTY));
  }
  h.bind(inst);
  return runAll(inst, set);
}

/** Compiles a set (with `options`) into one module, instantiates it and runs every program. */
export async function runCompiled(set: ProgramSet, helpers: HelperFactory, options: CompileOptions): Promise<Outcome[]> {
  const h = helpersWithEnv(helpers);
  let inst;
  try {
    const { wasm } = await compile(set.bytes, {
      ...(set.budget !== undefined ? { budget: set.budget } : {}),
      ...options, entries: entryDecls(set), ...stackOf(set), ...(set.checked ? { checked: true } : {}),
    });
    inst = await instantiate(wasmModule(wasm), { helpers: h.helpers });
  } catch (e) {
    return set.mems.map(() => failed(e, false, EMPTY));
  }
  h.bind(inst);
  return runAll(inst, set);
}

/** `r0 = 0x2a`, `E_MEMORY_FAULT at insn 7 (BpfRuntimeError)`, ... */
export function describeOutcome(o: Outcome): string {
  if (o.ok) return `r0 = 0x${o.r0.toString(16)}`;
  if (o.error) {
    const at = o.error.location.insn === undefined ? '' : ` at insn ${o.error.location.insn}`;
    return `${o.error.code}${at} (${o.error.constructor.name}${o.ran ? '' : ', before running'})`;
  }
  return `non-typed exception ${errorText(o.foreign)}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
}

function regionOf(addr: number, layout: MemoryLayout): string {
  if (addr >= layout.stackBase && addr < layout.stackTop) {
    const depth = Math.floor((layout.stackTop - 1 - addr) / layout.frameSize);
    const fp = layout.stackTop - depth * layout.frameSize;
    return `stack, frame ${depth}, r10${addr - fp}`;
  }
  if (addr >= layout.dataBase) return `input memory + ${addr - layout.dataBase}`;
  return 'scratch/guard';
}

/** The first difference between two memories, or null. */
function memoryDiff(layout: MemoryLayout, a: Uint8Array, b: Uint8Array, from = 0, to = Math.max(a.length, b.length)): string | null {
  if (a.length !== b.length) return `memory sizes differ: ${a.length} vs ${b.length} bytes`;
  const end = Math.min(to, a.length);
  if (Buffer.compare(a.subarray(from, end), b.subarray(from, end)) === 0) return null;
  for (let i = from; i < end; i++) {
    if (a[i] !== b[i]) {
      return `memory differs at 0x${i.toString(16)} (${regionOf(i, layout)}): 0x${a[i]!.toString(16)} vs 0x${b[i]!.toString(16)}`;
    }
  }
  return null;
}

/**
 * Differences between two outcomes of compiled code: the same r0, or the same error at the same
 * instruction, and the same memory afterwards (empty when they agree; one line naming `what`).
 */
export function sameOutcome(a: Outcome, b: Outcome, what: string): string[] {
  const head = `${what}: ${describeOutcome(a)} vs ${describeOutcome(b)}`;
  if (a.ok !== b.ok || a.r0 !== b.r0) return [head];
  if (a.error?.code !== b.error?.code || a.error?.location.insn !== b.error?.location.insn) return [head];
  if (a.memory.length !== b.memory.length) return [`${head}: memory sizes differ`];
  for (let i = 0; i < a.memory.length; i++) if (a.memory[i] !== b.memory[i]) return [`${head}: memory differs at 0x${i.toString(16)}`];
  return [];
}

/**
 * Compares an engine's outcome with the reference (the interpreter). `strictInsn: false` compares
 * an error's class and code but not its instruction: at -O1/-O2 Binaryen treats traps as alike and
 * may merge or reorder two trapping loads with nothing observable between them, so the compiled
 * code can name the later one (README, "Trap locations"); r0 and memory must still agree.
 */
export function compareOutcomes(
  ref: Outcome, got: Outcome, what: string, memLen: number, strictInsn = true, stack: StackShape = DEFAULT_STACK,
): string[] {
  const layout = computeLayout(stack.maxCallDepth, stack.frameSize);
  const problems: string[] = [];
  const head = `${what}: interpreter ${describeOutcome(ref)}, compiled ${describeOutcome(got)}`;
  if (got.foreign !== undefined) return [`${head}: ${errorText(got.foreign)}`];
  if (ref.ok !== got.ok) return [head];
  if (ref.ok) {
    if (ref.r0 !== got.r0) return [head];
  } else if (ref.error && got.error) {
    const a = ref.error;
    const b = got.error;
    if (a.code !== b.code || a.constructor !== b.constructor || (strictInsn && a.location.insn !== b.location.insn)) {
      return [head];
    }
  }
  if (ref.ran && got.ran) {
    // The input memory, then the stack, then everything (scratch, the rest of the data area).
    const dataEnd = layout.dataBase + memLen;
    const diff = memoryDiff(layout, ref.memory, got.memory, layout.dataBase, dataEnd)
      ?? memoryDiff(layout, ref.memory, got.memory, layout.stackBase, layout.stackTop)
      ?? memoryDiff(layout, ref.memory, got.memory);
    if (diff !== null) problems.push(`${what}: ${describeOutcome(ref)} on both, but ${diff}`);
  } else if (ref.ran !== got.ran) {
    problems.push(`${head}: one failed before running, the other while running`);
  }
  return problems;
}

// ================================================================ differential

export interface DifferentialOptions {
  levels?: readonly OptLevel[];
  /** The program is a generated valid one: it must load, pass the validator and round-trip through the assembler. */
  generated?: boolean;
  budget?: number;
}

/**
 * Runs a set of programs on the interpreter and compiled at each level with the fuzz helpers;
 * returns every disagreement.
 */
export async function checkDifferential(set: ProgramSet, options: DifferentialOptions = {}): Promise<string[]> {
  const problems: string[] = [];
  const levels = options.levels ?? OPT_LEVELS;
  const name = (i: number): string => (set.entries.length > 1 ? `program ${i} (entry ${set.entries[i]}), ` : '');
  const refs = runInterpreter(set, fuzzHelpers, options.budget ?? DIFF_BUDGET);
  refs.forEach((ref, i) => {
    if (ref.foreign !== undefined) problems.push(`${name(i)}interpreter: ${describeOutcome(ref)}`);
    if (options.generated) {
      if (!ref.ran) problems.push(`${name(i)}the interpreter refused a generated program: ${describeOutcome(ref)}`);
      if (ref.error?.code === ErrorCode.Budget) problems.push(`${name(i)}a generated program did not finish within the budget (a generator bug)`);
    }
  });
  if (options.generated) problems.push(...checkValidAndRoundTrip(set));
  if (refs.some((r) => r.error?.code === ErrorCode.Budget)) return problems;
  for (const level of levels) {
    const got = await runCompiled(set, fuzzHelpers, { optLevel: level, helpers: fuzzHelpers() });
    refs.forEach((ref, i) => {
      problems.push(...compareOutcomes(ref, got[i]!, `${name(i)}-O${level}`, set.mems[i]?.length ?? 0, level === 0, stackOf(set)));
    });
  }
  return problems;
}

/** A generated program passes the validator and `assemble(disassemble(bytes))` gives it back. */
function checkValidAndRoundTrip(set: ProgramSet): string[] {
  const problems: string[] = [];
  const { bytes, entries } = set;
  try {
    const program = decodeProgram(bytes);
    validateProgram(program, buildCfg(program, entries), {
      bytes, entryPcs: entries, frameSize: stackOf(set).frameSize, ...(set.calleeEntries ? { entryRegs: [1, 2, 3, 4, 5, 10] } : {}),
    });
  } catch (e) {
    problems.push(`the validator rejected a generated program: ${errorText(e)}`);
  }
  try {
    const again = assemble(disassemble(bytes));
    if (Buffer.compare(again, bytes) !== 0) {
      const slot = firstDifferentSlot(bytes, again);
      problems.push(`assemble(disassemble(program)) differs from the program at slot ${slot}`);
    }
  } catch (e) {
    problems.push(`disassemble/assemble round trip failed: ${errorText(e)}`);
  }
  return problems;
}

function firstDifferentSlot(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return Math.floor(i / 8);
  return -1;
}

// ================================================================ robustness

type Wabt = Awaited<ReturnType<typeof import('wabt')>>;
type BinaryenNs = typeof import('binaryen')['default'];
let wabtPromise: Promise<Wabt> | undefined;
let binaryenPromise: Promise<BinaryenNs> | undefined;

const loadWabt = (): Promise<Wabt> => (wabtPromise ??= import('wabt').then((m) => m.default()));
const loadBinaryen = (): Promise<BinaryenNs> => (binaryenPromise ??= import('binaryen').then((m) => m.default));

/** Problems with an error that should be typed: not a Bpf2WasmError, an unknown code, E_INTERNAL. */
export function typedErrorProblems(e: unknown, what: string): string[] {
  if (!(e instanceof Bpf2WasmError)) return [`${what}: threw a non-typed ${errorText(e)}${e instanceof Error && e.stack ? `\n${e.stack.split('\n').slice(1, 4).join('\n')}` : ''}`];
  if (!ERROR_CODES.has(e.code)) return [`${what}: error code ${String(e.code)} is not in the ErrorCode table`];
  if (e.code === ErrorCode.Internal) return [`${what}: ${e.message}`];
  return [];
}

/** WebAssembly.validate, Binaryen's and wabt's validators. */
export async function validateModule(wasm: Uint8Array, what: string): Promise<string[]> {
  const problems: string[] = [];
  if (!WebAssembly.validate(wasm as Uint8Array<ArrayBuffer>)) problems.push(`${what}: WebAssembly.validate rejects the module`);
  const binaryen = await loadBinaryen();
  try {
    const m = binaryen.readBinary(wasm);
    try {
      m.setFeatures(binaryen.Features.SignExt | binaryen.Features.MutableGlobals | binaryen.Features.BulkMemory);
      if (!m.validate()) problems.push(`${what}: Binaryen's validator rejects the module`);
    } finally {
      m.dispose();
    }
  } catch (e) {
    problems.push(`${what}: Binaryen cannot read the module: ${errorText(e)}`);
  }
  const wabt = await loadWabt();
  try {
    const m = wabt.readWasm(wasm, {});
    try {
      m.validate();
    } finally {
      m.destroy();
    }
  } catch (e) {
    problems.push(`${what}: wabt rejects the module: ${errorText(e)}`);
  }
  return problems;
}

/** Generic helpers for every helper id a program calls statically (pure, deterministic). */
export function helpersFor(bytes: Uint8Array): HelperDefinition[] {
  const ids = new Set<number>();
  try {
    for (const insn of decodeProgram(bytes).insns) if (insn.kind === 'call') ids.add(insn.helper);
  } catch {
    // Undecodable: it calls nothing.
  }
  return [...ids].map((id) => ({
    id,
    fn: (a: bigint, b: bigint, c: bigint): bigint => BigInt.asIntN(64, (a ^ (b * 3n) ^ (c << 7n)) + BigInt(id)),
  }));
}

function sameError(a: Bpf2WasmError, b: Bpf2WasmError): boolean {
  return a.code === b.code && a.location.insn === b.location.insn;
}

export interface BytesOptions {
  mem?: Uint8Array;
  /**
   * Also run the compiled module (with the compile option `budget`) and compare it with the
   * interpreter when both finish. Default true.
   */
  runCompiled?: boolean;
}

/** Random bytes as a program (see the module comment). */
export async function checkBytes(bytes: Uint8Array, options: BytesOptions = {}): Promise<string[]> {
  const problems: string[] = [];
  const mem = options.mem ?? new Uint8Array(16);
  const helpers = helpersFor(bytes);
  // Compile at every level without validation, then at -O1 with it.
  const results: { what: string; result: CompiledModule | Bpf2WasmError; validate: boolean }[] = [];
  const configs: { level: OptLevel; validate: boolean }[] = [
    { level: 0, validate: false }, { level: 1, validate: false }, { level: 2, validate: false }, { level: 1, validate: true },
  ];
  for (const { level, validate } of configs) {
    const what = `compile -O${level}${validate ? ' with validation' : ''}`;
    try {
      results.push({ what, result: await compile(bytes, { optLevel: level, validate }), validate });
    } catch (e) {
      const p = typedErrorProblems(e, what);
      problems.push(...p);
      if (p.length > 0) return problems;
      results.push({ what, result: e as Bpf2WasmError, validate });
    }
  }
  // Every level accepts or rejects alike (the levels differ only in Binaryen's passes).
  const plain = results.filter((r) => !r.validate);
  const first = plain[0]!;
  for (const r of plain.slice(1)) {
    const a = first.result;
    const b = r.result;
    if ((a instanceof Bpf2WasmError) !== (b instanceof Bpf2WasmError)
      || (a instanceof Bpf2WasmError && b instanceof Bpf2WasmError && !sameError(a, b))) {
      problems.push(`${first.what} and ${r.what} disagree: ${outcomeText(a)} vs ${outcomeText(b)}`);
    }
  }
  // Validation only adds rejections.
  const validated = results.find((r) => r.validate)!;
  const o1 = plain[1]!;
  if (!(validated.result instanceof Bpf2WasmError) && o1.result instanceof Bpf2WasmError) {
    problems.push(`${validated.what} accepts what ${o1.what} rejects (${outcomeText(o1.result)})`);
  }
  for (const r of results) {
    if (r.result instanceof Bpf2WasmError) continue;
    problems.push(...await validateModule(r.result.wasm, r.what));
    try {
      await instantiate(wasmModule(r.result.wasm), { helpers });
    } catch (e) {
      problems.push(...typedErrorProblems(e, `${r.what}, instantiate`));
      if (e instanceof Bpf2WasmError) problems.push(`${r.what}: the module does not instantiate: ${e.message}`);
    }
  }

  problems.push(...checkListing(bytes));

  // The interpreter loads exactly what the compiler compiles, with the same error.
  const compiled = first.result;
  const set = singleProgram(bytes, mem);
  const ref = runInterpreter(set, () => helpers, BYTES_BUDGET)[0]!;
  if (ref.foreign !== undefined) problems.push(`interpreter: ${describeOutcome(ref)}`);
  if (ref.error && !ref.ran) {
    problems.push(...typedErrorProblems(ref.error, 'interpreter load'));
    if (!(compiled instanceof Bpf2WasmError)) {
      problems.push(`the interpreter refuses what the compiler compiles: ${describeOutcome(ref)}`);
    } else if (!sameError(compiled, ref.error)) {
      problems.push(`the interpreter and the compiler refuse with different errors: ${describeOutcome(ref)} vs ${outcomeText(compiled)}`);
    }
  } else if (compiled instanceof Bpf2WasmError) {
    problems.push(`the interpreter loads what the compiler refuses (${outcomeText(compiled)})`);
  }
  if (ref.ran && ref.error) problems.push(...typedErrorProblems(ref.error, 'interpreter run'));

  // Both engines run it when the interpreter finished within the budget: then the compiled code
  // finishes too (it executes the same instructions), unless the engines disagree.
  if ((options.runCompiled ?? true) && ref.ran && ref.error?.code !== ErrorCode.Budget && ref.foreign === undefined) {
    for (const level of OPT_LEVELS) {
      const got = (await runCompiled(set, () => helpers, { optLevel: level, budget: BYTES_BUDGET * 4 }))[0]!;
      if (got.error?.code === ErrorCode.Budget) {
        problems.push(`-O${level}: the interpreter finished (${describeOutcome(ref)}) but the compiled code exhausted a 4x budget`);
        continue;
      }
      problems.push(...compareOutcomes(ref, got, `-O${level}`, mem.length, level === 0));
    }
    // And in checked memory mode.
    const checkedSet: ProgramSet = { ...set, checked: true };
    const refChecked = runInterpreter(checkedSet, () => helpers, BYTES_BUDGET)[0]!;
    if (refChecked.foreign !== undefined) problems.push(`interpreter, checked: ${describeOutcome(refChecked)}`);
    if (refChecked.ran && refChecked.error?.code !== ErrorCode.Budget && refChecked.foreign === undefined) {
      const got = (await runCompiled(checkedSet, () => helpers, { optLevel: 1, budget: BYTES_BUDGET * 4 }))[0]!;
      if (got.error?.code === ErrorCode.Budget) {
        problems.push(`-O1 checked: the interpreter finished (${describeOutcome(refChecked)}) but the compiled code exhausted a 4x budget`);
      } else {
        problems.push(...compareOutcomes(refChecked, got, '-O1 checked', mem.length, false));
      }
    }
  }
  return problems;
}

/**
 * What decodes disassembles to text that assembles to the same instructions (the bytes may differ
 * where the input had non-zero unused fields, which the decoder drops).
 */
function checkListing(bytes: Uint8Array): string[] {
  let program;
  try {
    program = decodeProgram(bytes);
  } catch {
    return [];
  }
  // neg has no operand: the decoder keeps the unused imm, which the listing (rightly) leaves out.
  const show = (insn: Insn | undefined): string => JSON.stringify(
    insn?.kind === 'alu' && insn.op === 'neg' ? { ...insn, imm: 0 } : insn,
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
  );
  try {
    const again = decodeProgram(assemble(disassemble(program)));
    const a = program.insns;
    const b = again.insns;
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (show(a[i]) !== show(b[i])) return [`disassemble/assemble changes instruction ${i}: ${show(a[i])} became ${show(b[i])}`];
    }
  } catch (e) {
    return [`the disassembly of a decodable program does not assemble back: ${errorText(e)}`];
  }
  return [];
}

function outcomeText(r: CompiledModule | Bpf2WasmError): string {
  if (!(r instanceof Bpf2WasmError)) return 'a module';
  return `${r.code}${r.location.insn === undefined ? '' : ` at insn ${r.location.insn}`}`;
}

/**
 * Random bytes as an ELF object: parse; read BTF, .BTF.ext, map definitions and data sections;
 * locate and extract `main` and every section's code. Only typed errors.
 */
export function checkElf(bytes: Uint8Array): string[] {
  let elf;
  try {
    elf = parseElf(bytes);
  } catch (e) {
    return typedErrorProblems(e, 'parseElf');
  }
  const problems: string[] = [];
  try {
    const { btf } = readElfBtf(elf);
    if (btf) {
      for (const name of ['.data', '.rodata', '.bss', '.maps']) readDataSection(elf, btf, name);
    }
  } catch (e) {
    problems.push(...typedErrorProblems(e, 'readElfBtf/readDataSection'));
  }
  try {
    readMapDefinitions(elf, undefined);
  } catch (e) {
    problems.push(...typedErrorProblems(e, 'readMapDefinitions without BTF'));
  }
  for (const relocations of ['reject', 'ignore'] as const) {
    try {
      locateProgram(elf, { relocations });
      extractProgram(elf, { relocations });
    } catch (e) {
      problems.push(...typedErrorProblems(e, `extractProgram (relocations: ${relocations})`));
    }
  }
  try {
    for (const s of elf.sections) {
      if (s.name.length > 0) locateProgram(elf, { section: s.name });
    }
  } catch (e) {
    problems.push(...typedErrorProblems(e, 'locateProgram'));
  }
  return problems;
}

/** Random text as assembly: only typed errors; what assembles disassembles and round-trips. */
export function checkAsm(text: string): string[] {
  let bytes: Uint8Array;
  try {
    bytes = assemble(text);
  } catch (e) {
    return typedErrorProblems(e, 'assemble');
  }
  let listing: string;
  try {
    listing = disassemble(bytes);
  } catch (e) {
    // The assembler writes what it is told, including programs the decoder refuses (r10 as a
    // destination, nothing at all); the decoder says so with a typed error.
    return typedErrorProblems(e, 'disassemble the assembler\'s output');
  }
  try {
    const again = assemble(listing);
    if (Buffer.compare(again, bytes) !== 0) return [`assemble(disassemble(x)) differs from x at slot ${firstDifferentSlot(bytes, again)}`];
  } catch (e) {
    return [`the assembler's output does not round-trip: ${errorText(e)}`];
  }
  return [];
}

// ================================================================ regression files

export type RegressionKind = 'differential' | 'bytes' | 'elf' | 'asm';

/** One kept failing case. */
export interface Regression {
  kind: RegressionKind;
  /** Program bytes (differential, bytes) or the object (elf). */
  bytes?: Uint8Array;
  /** Assembly text (asm). */
  text?: string;
  /** Input memory of each program (differential, bytes); null: none. */
  mems?: (Uint8Array | null)[];
  /** Entry of each program (differential); [0] when absent. */
  entries?: number[];
  /** Stack shape (differential); the default when absent. */
  stack?: StackShape;
  /** Checked memory mode (differential). */
  checked?: boolean;
  /** Instruction budget of both engines (differential). */
  budget?: number;
  /** Some entries are subfunctions (differential). */
  calleeEntries?: boolean;
  /** What went wrong, for the reader (comment lines). */
  notes?: string[];
}

function hexBytes(b: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    lines.push([...b.subarray(i, i + 16)].map((x) => x.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n');
}

/**
 * Writes a case in the conformance `.data` format: `-- raw` (program words, each with its
 * disassembly as a comment) when the bytes are whole instructions, a `-- bytes` hex dump
 * otherwise (and for ELF objects), `-- asm` for assembly text, `-- mem`; the kind and the
 * problems as `#` comments at the top.
 */
export function formatRegression(r: Regression): string {
  const out: string[] = [`# bpf2wasm fuzz regression (kind: ${r.kind}); replayed by compiler/test/differential.test.ts`];
  for (const n of r.notes ?? []) for (const line of n.split('\n')) out.push(`# ${line}`);
  if (r.kind === 'asm') {
    out.push('-- asm', (r.text ?? '').split('\n').map((l) => (l.startsWith('--') ? ` ${l}` : l)).join('\n'));
  } else if (r.bytes && r.bytes.length % 8 === 0 && r.kind !== 'elf' && r.bytes.length > 0) {
    let text: string[] | null = null;
    try {
      const program = decodeProgram(r.bytes);
      text = [];
      for (const insn of program.insns) {
        text[insn.pc] = formatInsn(insn);
      }
    } catch {
      text = null;
    }
    out.push('-- raw');
    const view = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
    for (let i = 0; i < r.bytes.length / 8; i++) {
      const word = `0x${view.getBigUint64(i * 8, true).toString(16).padStart(16, '0')}`;
      const asm = text?.[i];
      out.push(asm ? `${word}  # ${String(i).padStart(3)}: ${asm}` : word);
    }
  } else {
    out.push('-- bytes', hexBytes(r.bytes ?? new Uint8Array(0)));
  }
  if (r.entries && (r.entries.length !== 1 || r.entries[0] !== 0)) out.push('-- entries', r.entries.join(' '));
  const options = [
    ...(r.stack ? [`maxCallDepth ${r.stack.maxCallDepth}`, `frameSize ${r.stack.frameSize}`] : []),
    ...(r.checked ? ['checked'] : []),
    ...(r.budget !== undefined ? [`budget ${r.budget}`] : []),
    ...(r.calleeEntries ? ['calleeEntries'] : []),
  ];
  if (options.length > 0) out.push('-- options', options.join(' '));
  (r.mems ?? []).forEach((m, i) => out.push(i === 0 ? '-- mem' : `-- mem.${i}`, m === null ? 'none' : hexBytes(m)));
  return out.join('\n') + '\n';
}

/** Reads a file written by `formatRegression` (the kind from its first line, else `differential`). */
export function parseRegression(text: string): Regression {
  const kindMatch = /^# bpf2wasm fuzz regression \(kind: (\w+)\)/.exec(text);
  const kind = (kindMatch?.[1] ?? 'differential') as RegressionKind;
  if (!['differential', 'bytes', 'elf', 'asm'].includes(kind)) throw new Error(`unknown regression kind ${kind}`);
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of text.split(/\r?\n/)) {
    const header = /^--\s+(\S+)\s*$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1]!.toLowerCase(), current);
      continue;
    }
    current?.push(line);
  }
  const hexOf = (lines: string[]): Uint8Array => {
    const toks = lines.map((l) => l.replace(/#.*/, '')).join(' ').split(/\s+/).filter((t) => t !== '');
    return Uint8Array.from(toks.map((t) => parseInt(t.replace(/^0x/i, ''), 16)));
  };
  const r: Regression = { kind };
  const raw = sections.get('raw');
  if (raw) {
    const words = raw.map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
    const bytes = new Uint8Array(words.length * 8);
    const view = new DataView(bytes.buffer);
    words.forEach((w, i) => view.setBigUint64(i * 8, BigInt(w), true));
    r.bytes = bytes;
  }
  const b = sections.get('bytes');
  if (b) r.bytes = hexOf(b);
  const asm = sections.get('asm');
  if (asm) {
    // The file's last newline (and blank lines before the next section) are not part of the text.
    while (asm.length > 0 && asm[asm.length - 1] === '') asm.pop();
    r.text = asm.join('\n');
  }
  const options = sections.get('options');
  if (options) {
    const text = options.map((l) => l.replace(/#.*/, '')).join(' ');
    const depth = /maxCallDepth\s+(\d+)/.exec(text);
    const frame = /frameSize\s+(\d+)/.exec(text);
    if (depth || frame) {
      r.stack = {
        maxCallDepth: depth ? Number(depth[1]) : DEFAULT_STACK.maxCallDepth,
        frameSize: frame ? Number(frame[1]) : DEFAULT_STACK.frameSize,
      };
    }
    if (/\bchecked\b/.test(text)) r.checked = true;
    const budget = /budget\s+(\d+)/.exec(text);
    if (budget) r.budget = Number(budget[1]);
    if (/\bcalleeEntries\b/.test(text)) r.calleeEntries = true;
  }
  const entries = sections.get('entries');
  if (entries) r.entries = entries.join(' ').split(/\s+/).filter((t) => t !== '').map(Number);
  const mems: (Uint8Array | null)[] = [];
  for (let i = 0; ; i++) {
    const m = sections.get(i === 0 ? 'mem' : `mem.${i}`);
    if (!m) break;
    mems.push(m.join(' ').trim() === 'none' ? null : hexOf(m));
  }
  if (mems.length > 0) r.mems = mems;
  return r;
}

/** Replays a regression with the check of its kind; returns the problems (none once fixed). */
export async function replayRegression(r: Regression): Promise<string[]> {
  switch (r.kind) {
    case 'differential': {
      const entries = r.entries ?? [0];
      const mems = entries.map((_e, i) => (r.mems?.[i] === undefined ? new Uint8Array(0) : r.mems[i]!));
      return checkDifferential({
        bytes: r.bytes ?? new Uint8Array(0), entries, mems, ...(r.stack ? { stack: r.stack } : {}), ...(r.checked ? { checked: true } : {}),
        ...(r.budget !== undefined ? { budget: r.budget } : {}), ...(r.calleeEntries ? { calleeEntries: true } : {}),
      });
    }
    case 'bytes':
      return checkBytes(r.bytes ?? new Uint8Array(0), r.mems?.[0] ? { mem: r.mems[0] } : {});
    case 'elf':
      return checkElf(r.bytes ?? new Uint8Array(0));
    case 'asm':
      return checkAsm(r.text ?? '');
  }
}
