/**
 * Runs the bad-input corpus in test-programs/errors (format: test-programs/errors/README.md):
 * every file must fail with exactly the error code and location its `-- error` section names,
 * at the stage where that error belongs (assemble, decode, CFG, validation, code generation,
 * instantiation or run).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { parseDataFile } from '../asm/datafile.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { compile, type CompileOptions } from '../compile.js';
import { validateProgram, ValidateErrorCode } from '../validate.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import type { HelperDefinition } from '../../runtime/helper-registry.js';
import { decodeProgram } from '../../runtime/isa/decode.js';

const CORPUS_DIR = process.env.BPF2WASM_ERRORS_DIR
  ?? fileURLToPath(new URL('../../test-programs/errors/', import.meta.url));
const FILES = readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.data')).sort();

/** The helpers of the test host: 5 returns r1 (as the conformance suite's), 6 throws. */
const HOST_HELPERS: HelperDefinition[] = [
  { id: 5, name: 'identity', fn: (r1: bigint) => r1 },
  {
    id: 6, name: 'fail', fn: () => {
      throw new Error('helper 6 always fails');
    },
  },
];

/**
 * Error codes no corpus file needs to cover: bugs of bpf2wasm itself, module and ELF problems
 * (not bytecode), and E_TOO_COMPLEX, which needs thousands of nested blocks (see
 * compiler/structure.ts MAX_NESTING) and is tested where the structurer is.
 */
const NOT_IN_CORPUS: ReadonlySet<string> = new Set([
  ErrorCode.Internal, ErrorCode.BadModule, ErrorCode.BadElf, ErrorCode.Trap, ErrorCode.TooComplex,
  // Errors of objects and their maps: compiler/test/object-errors.test.ts and runtime/test/maps.test.ts.
  ErrorCode.BadMap, ErrorCode.MapOp, ErrorCode.BadObject,
  // Capture files and classic BPF: runtime/test/capture.test.ts and compiler/test/cbpf.test.ts.
  ErrorCode.BadCapture, ErrorCode.LinkType, ErrorCode.DivByZero, ErrorCode.BadScratch,
  ErrorCode.UninitScratch, ErrorCode.BadShift,
  // A host helper running the instance again: API use, not a bad program (runtime/test/api.test.ts).
  ErrorCode.Reentrant,
  // Not about programs: an optional package is absent (compiler/test/optional.test.ts).
  ErrorCode.MissingDependency,
  // Inputs a packet test run refuses (frames, contexts): runtime/test/packet.test.ts.
  ErrorCode.TestRun,
  // Malformed host network state (net), not a program: runtime/test/fib.test.ts, sockets.test.ts.
  ErrorCode.HostState,
  // Objects compiled as standalone modules: compiler/test/standalone.test.ts.
  ErrorCode.StandaloneHelper,
  // Poisoned CO-RE relocations come from ELF objects' .BTF.ext: compiler/test/programs.test.ts (core_poison).
  ErrorCode.CoreRelo,
]);

interface Expected {
  code: string;
  insn?: number;
  line?: number;
}

interface Case {
  name: string;
  text: string;
  expected: Expected;
  directives: Map<string, string>;
}

function parseExpected(name: string, error: string | undefined): Expected {
  if (error === undefined) throw new Error(`${name} has no -- error section`);
  const first = error.split('\n')[0]!.trim();
  const m = /^(E_[A-Z0-9_]+)(?:\s+at\s+(insn|line)\s+(\d+))?$/.exec(first);
  if (!m) throw new Error(`${name}: the first line of -- error must be 'CODE' or 'CODE at insn N' or 'CODE at line N', not '${first}'`);
  const out: Expected = { code: m[1]! };
  if (m[2] === 'insn') out.insn = Number(m[3]);
  if (m[2] === 'line') out.line = Number(m[3]);
  return out;
}

/** `# name: value` comment lines before the first section. */
function parseDirectives(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('--')) break;
    const m = /^#\s*([a-z-]+):\s*(.*?)\s*$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

const KNOWN_DIRECTIVES = new Set(['helpers', 'max-insns', 'frame-size', 'max-call-depth', 'bytes', 'budget', 'checked']);

function loadCases(): Case[] {
  return FILES.map((name) => {
    const text = readFileSync(join(CORPUS_DIR, name), 'utf8');
    const data = parseDataFile(text);
    return { name, text, expected: parseExpected(name, data.error), directives: parseDirectives(text) };
  });
}

function num(d: Map<string, string>, key: string): number | undefined {
  const v = d.get(key);
  return v === undefined ? undefined : Number(v);
}

/** Checks a thrown value against the expectation. */
function expectError(e: unknown, expected: Expected, stage: string, lineBase = 0): void {
  if (!(e instanceof Bpf2WasmError)) throw new Error(`${stage} threw a non-bpf2wasm error: ${String(e)}`, { cause: e });
  expect(e.code, `${stage}: ${e.message}`).toBe(expected.code);
  if (expected.line !== undefined) {
    expect(e.location.line === undefined ? undefined : e.location.line + lineBase, e.message).toBe(expected.line);
  } else {
    expect(e.location.insn, e.message).toBe(expected.insn);
  }
}

/** Runs one case through every stage; returns the stage that failed. */
async function runCase(c: Case): Promise<string> {
  const data = parseDataFile(c.text);
  const { directives: d, expected } = c;
  for (const key of d.keys()) expect(KNOWN_DIRECTIVES.has(key), `${c.name}: unknown directive '${key}'`).toBe(true);

  let bytes: Uint8Array;
  try {
    if (data.raw !== undefined) bytes = data.raw;
    else if (data.asm !== undefined) bytes = assemble(data.asm);
    else throw new Error(`${c.name} has neither -- asm nor -- raw`);
  } catch (e) {
    expectError(e, expected, 'assemble', (data.asmLine ?? 1) - 1);
    return 'assemble';
  }
  const cut = num(d, 'bytes');
  if (cut !== undefined) bytes = bytes.slice(0, cut);

  const helperIds = d.get('helpers')?.split(/[\s,]+/).filter((s) => s !== '').map(Number);
  const options: CompileOptions & { validate?: boolean } = { validate: true };
  if (helperIds) options.helpers = helperIds.map((id) => ({ id }));
  const maxInsns = num(d, 'max-insns');
  if (maxInsns !== undefined) options.maxInsns = maxInsns;
  const frameSize = num(d, 'frame-size');
  if (frameSize !== undefined) options.frameSize = frameSize;
  const maxCallDepth = num(d, 'max-call-depth');
  if (maxCallDepth !== undefined) options.maxCallDepth = maxCallDepth;
  const budget = num(d, 'budget');
  if (budget !== undefined) options.budget = budget;
  if (d.get('checked') !== undefined) options.checked = true;

  let wasm: Uint8Array;
  try {
    // compile() runs the validator for `validate: true` too; the explicit steps name the stage.
    const program = decodeProgram(bytes, maxInsns !== undefined ? { maxInsns } : {});
    const cfg = buildCfg(program);
    validateProgram(program, cfg, { bytes, ...(frameSize !== undefined ? { frameSize } : {}) });
    wasm = (await compile(bytes, options)).wasm;
  } catch (e) {
    expectError(e, expected, 'compile');
    return 'compile';
  }

  let instance;
  try {
    instance = await instantiate(wasm, { helpers: HOST_HELPERS });
  } catch (e) {
    expectError(e, expected, 'instantiate');
    return 'instantiate';
  }
  try {
    const r0 = instance.run(data.mem);
    throw new Error(`${c.name} compiled and ran to completion (r0 = 0x${r0.toString(16)}), expected ${expected.code}`);
  } catch (e) {
    expectError(e, expected, 'run');
    return 'run';
  }
}

describe('bad-input corpus', () => {
  const cases = loadCases();

  it('is not empty', () => {
    expect(FILES.length, `no .data files in ${CORPUS_DIR}`).toBeGreaterThan(0);
  });

  it('covers every error code the assembler, compiler, validator and runtime raise for bad programs', () => {
    const codes = new Set<string>([...Object.values(ErrorCode), ...Object.values(ValidateErrorCode)]);
    const covered = new Set(cases.map((c) => c.expected.code));
    const missing = [...codes].filter((code) => !NOT_IN_CORPUS.has(code) && !covered.has(code));
    expect(missing).toEqual([]);
  });

  for (const c of FILES) {
    it(c, async () => {
      const found = cases.find((x) => x.name === c)!;
      await runCase(found);
    });
  }

  it('puts each error at its stage', async () => {
    // Spot checks that the runner did not pass a case for the wrong reason.
    const stageOf = async (name: string): Promise<string> => runCase(cases.find((c) => c.name === name)!);
    expect(await stageOf('asm-syntax.data')).toBe('assemble');
    expect(await stageOf('uninit-r0-at-exit.data')).toBe('compile');
    expect(await stageOf('unknown-helper-at-load.data')).toBe('instantiate');
    expect(await stageOf('call-depth-recursion.data')).toBe('run');
    expect(await stageOf('callx-unknown-helper.data')).toBe('run');
  });
});

describe('compile with validate: true', () => {
  it('rejects an uninitialised read on its own, and only when asked', async () => {
    const bytes = assemble('mov %r1, %r6\nmov %r0, 0\nexit');
    const e = await compile(bytes, { validate: true }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(Bpf2WasmError);
    expect({ code: (e as Bpf2WasmError).code, insn: (e as Bpf2WasmError).location.insn }).toEqual({ code: 'E_UNINIT_REGISTER', insn: 0 });
    await expect(compile(bytes)).resolves.toBeDefined();
  });
});
