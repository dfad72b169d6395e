/**
 * The `bpf2wasm` command line, as a function of its arguments and an I/O interface so that it can
 * run (and be tested) without a process: `main(argv, io)` returns the exit status. The Node
 * adapter is compiler/cli/bin.ts.
 */
import type { HelperDefinition } from '../../runtime/helpers.js';
import type { BpfProgramInstance } from '../../runtime/program.js';
import { AsmError, Bpf2WasmError, CompileError, ErrorCode, formatLocation } from '../../runtime/errors.js';
import { assemble } from '../asm/assemble.js';
import { parseDataFile } from '../asm/datafile.js';
import { disassemble, type AsmSyntax } from '../asm/disasm.js';
import { compile, type CompileOptions, type OptLevel } from '../compile.js';
import { load, type Engine } from '../load.js';
import { parseElf } from '../elf/reader.js';
import { extractProgram } from '../elf/program.js';
import { loadObjectSpec } from '../elf/loader.js';

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
                   [--checked] [--budget N] [--validate]
  bpf2wasm run IN [--mem FILE] [--repeat N] [--json] [-O0|-O1|-O2]
               [--engine compiled|interpreter] [--checked] [--budget N] [--validate]
  bpf2wasm disasm IN [--syntax llvm|conformance]

  --checked     confine every memory access to the stack and the input memory
  --budget N    stop a run after about N instructions (E_BUDGET)
  --validate    run the kernel-style structural checks before compiling
  --engine      compiled (default) or interpreter

IN is raw eBPF bytecode (8-byte instructions), assembly text in the conformance
syntax, a conformance .data file (its -- mem is used by run), or an ELF object
from clang -target bpf: --program NAME picks a program from its SEC() sections
(the first by default; .text subprograms are linked in), --symbol NAME a bare
function (an object with a main function runs main). Programs that use maps or
global data are not supported yet.
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
  repeat: number;
  json: boolean;
  syntax: AsmSyntax;
  symbol?: string;
  program?: string;
  help: boolean;
  engine: Engine;
  checked: boolean;
  budget?: number;
  validate: boolean;
}

function parseArgs(argv: string[]): Parsed {
  const first = argv[0] ?? '';
  const p: Parsed = {
    command: first.startsWith('-') ? '' : first, wat: false, opt: 1, repeat: 0, json: false, syntax: 'llvm', help: false,
    engine: 'compiled', checked: false, validate: false,
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
    const chosen = program === undefined ? spec.programs[0]! : spec.programs.find((p) => p.name === program);
    if (!chosen) {
      throw new CompileError(
        ErrorCode.BadArgument,
        `no program named ${program}; the object has ${spec.programs.map((p) => `${p.name} (${p.section})`).join(', ')}`,
        { program: program! },
      );
    }
    return { bytecode: chosen.insns };
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
  if (!['compile', 'run', 'disasm'].includes(p.command)) {
    io.stderr(`bpf2wasm: unknown command ${p.command}\n${USAGE}`);
    return 2;
  }
  if (p.input === undefined) {
    io.stderr(`bpf2wasm: ${p.command} needs an input file\n${USAGE}`);
    return 2;
  }
  try {
    const input = await loadInput(io, p.input, p.symbol, p.program);
    switch (p.command) {
      case 'disasm':
        io.stdout(disassemble(input.bytecode, { syntax: p.syntax, addresses: p.syntax === 'llvm' }));
        return 0;
      case 'compile': {
        if (p.out === undefined) throw new UsageError('compile needs -o OUT.wasm');
        const compiled = await compile(input.bytecode, compileOptions(p));
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

function compileOptions(p: Parsed): CompileOptions {
  return {
    optLevel: p.opt,
    ...(p.checked ? { checked: true } : {}),
    ...(p.budget !== undefined ? { budget: p.budget } : {}),
    ...(p.validate ? { validate: true } : {}),
  };
}

async function runCommand(p: Parsed, input: LoadedInput, io: CliIO): Promise<number> {
  const helpers: HelperDefinition[] = [];
  const inst = await load(input.bytecode, { ...compileOptions(p), engine: p.engine, helpers });
  const mem = p.mem !== undefined ? await io.readFile(p.mem) : input.mem;
  const result = inst.run(mem ? mem.slice() : undefined);
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
function timeRuns(inst: BpfProgramInstance, mem: Uint8Array | undefined, repeat: number, io: CliIO): number {
  const len = mem ? mem.length : 0;
  if (mem) inst.dataView(len).set(mem);
  const batches = Math.min(31, repeat);
  const per = Math.floor(repeat / batches);
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const n = b === batches - 1 ? repeat - per * (batches - 1) : per;
    const t0 = io.now();
    for (let i = 0; i < n; i++) inst.runRaw(len);
    samples.push((io.now() - t0) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}

async function toWat(wasm: Uint8Array): Promise<string> {
  const wabtInit = (await import('wabt')).default;
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
