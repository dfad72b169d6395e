/**
 * Differential testing: random valid programs (scripts/fuzz/generators.ts) give the same r0, the
 * same memory (input memory, stack, all of linear memory) and the same error (class, code,
 * instruction) on the interpreter and compiled at -O0, -O1 and -O2. At -O1 and -O2 only the
 * error's class and code are compared: Binaryen treats traps as alike and may merge or reorder two
 * trapping loads with nothing observable between them, so the compiled code can name a later
 * instruction than the one that faulted first (README, "Trap locations"; the fuzzer found the
 * reordering at -O1, test-programs/fuzz-regressions/differential-5011-79.data).
 *
 * Random objects with map calls (scripts/fuzz/map-programs.ts: updates, lookups changing values in
 * place, deletes, non-map pointers, tail calls) run on both engines, compared on r0 or the error and
 * every map's contents after each run.
 *
 * Reproducible by default (fixed seeds). BPF2WASM_FUZZ_SEED sets the seed, BPF2WASM_FUZZ_RUNS the
 * number of programs of each property (about: they run in groups of up to 16 compiled into one
 * module, with a random stack shape and sometimes checked memory mode), BPF2WASM_FUZZ_SHRINK=0
 * reports a failure without shrinking it. `npm run fuzz` runs as many as asked and keeps failing
 * cases in test-programs/fuzz-regressions/, which the last block here replays.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { disassemble } from '../asm/disasm.js';
import type { Insn } from '../../runtime/isa/insn.js';
import { ErrorCode } from '../../runtime/errors.js';
import { arbFuzzCase, arbFuzzGroup, fuzzHelpers, type FuzzCase, type FuzzGroup } from '../../scripts/fuzz/generators.js';
import { arbMapFuzzCase, FUZZ_MAPS, mapFuzzObject } from '../../scripts/fuzz/map-programs.js';
import { instantiate } from '../../runtime/instance.js';
import { interpretModule } from '../../runtime/interpreter.js';
import type { BpfInstance } from '../../runtime/program.js';
import type { BpfRuntimeError } from '../../runtime/errors.js';
import { compileObject, planObject } from '../object/compile-object.js';
import {
  checkDifferential, combinePrograms, compareOutcomes, DIFF_BUDGET, formatRegression, groupToSet, parseRegression,
  replayRegression, runInterpreter, singleProgram, type Outcome,
} from '../../scripts/fuzz/harness.js';

const SEED = process.env.BPF2WASM_FUZZ_SEED === undefined ? 0x0bf2_3a5e : Number(process.env.BPF2WASM_FUZZ_SEED);
/** Programs per group, at most (about half that on average). */
const GROUP = 16;
const AVERAGE_GROUP = 8.5;
const requested = process.env.BPF2WASM_FUZZ_RUNS === undefined ? undefined : Number(process.env.BPF2WASM_FUZZ_RUNS);
/** Groups for the all-levels property and the cheaper -O0 one (default about 1600 and 3000 programs). */
const ALL_LEVEL_GROUPS = Math.max(1, Math.round((requested ?? 1600) / AVERAGE_GROUP));
const O0_GROUPS = Math.max(1, Math.round((requested ?? 3000) / AVERAGE_GROUP));

const REGRESSIONS_DIR = fileURLToPath(new URL('../../test-programs/fuzz-regressions/', import.meta.url));
const REGRESSION_FILES = existsSync(REGRESSIONS_DIR)
  ? readdirSync(REGRESSIONS_DIR).filter((f) => f.endsWith('.data')).sort()
  : [];

/** A group that prints as the disassembly of each program (fast-check shows it for a counterexample). */
function printable(g: FuzzGroup): FuzzGroup {
  Object.defineProperty(g, fc.toStringMethod, {
    value: () => `stack ${JSON.stringify(g.stack)}${g.checked ? ', checked' : ''}${g.budget ? ', budget' : ''}${g.subEntries ? ', subfunctions entered' : ''}\n`
      + g.cases.map((c, i) => `program ${i}, mem ${c.mem ? `[${[...c.mem].join(', ')}]` : 'none'}:\n${disassemble(c.bytes)}`).join('\n'),
  });
  return g;
}

const groups = arbFuzzGroup(GROUP).map(printable);

async function property(levels: readonly (0 | 1 | 2)[], numRuns: number, seed: number): Promise<number> {
  let programs = 0;
  await fc.assert(
    fc.asyncProperty(groups, async (g) => {
      programs += g.cases.length;
      const problems = await checkDifferential(groupToSet(g), { levels, generated: true });
      if (problems.length > 0) throw new Error(problems.join('\n'));
    }),
    { seed, numRuns, endOnFailure: process.env.BPF2WASM_FUZZ_SHRINK === '0' },
  );
  return programs;
}

describe('random valid programs: the interpreter and compiled code agree', () => {
  it(`at -O0, -O1 and -O2 (seed ${SEED})`, async () => {
    const programs = await property([0, 1, 2], ALL_LEVEL_GROUPS, SEED);
    expect(programs).toBeGreaterThanOrEqual(ALL_LEVEL_GROUPS);
  }, 240_000);

  it(`at -O0, more programs (seed ${SEED + 1})`, async () => {
    const programs = await property([0], O0_GROUPS, SEED + 1);
    expect(programs).toBeGreaterThanOrEqual(O0_GROUPS);
  }, 240_000);
});

// ------------------------------------------------------------------------------ the generator

/** A name for each instruction variant the generator should produce. */
function variant(insn: Insn): string {
  switch (insn.kind) {
    case 'alu':
      return `alu${insn.width} ${insn.op}${insn.op === 'movsx' ? insn.sxBits : ''} ${insn.src === null ? 'k' : 'x'}`;
    case 'end':
      return `${insn.op}${insn.bits}`;
    case 'ldx':
      return `ldx${insn.signed ? 's' : ''}${insn.size}`;
    case 'st':
    case 'stx':
      return `${insn.kind}${insn.size}`;
    case 'atomic':
      return `atomic${insn.size} ${insn.op}${insn.fetch ? ' fetch' : ''}`;
    case 'jcond':
      return `${insn.op}${insn.width} ${insn.src === null ? 'k' : 'x'}${insn.off < 0 ? ' back' : ''}`;
    case 'ja':
      return `ja${insn.wide ? '32' : ''}${insn.off < 0 ? ' back' : ''}`;
    case 'ldabs':
    case 'ldind':
      return `${insn.kind}${insn.size}`;
    default:
      return insn.kind;
  }
}

describe('the generator', () => {
  const sample = fc.sample(arbFuzzCase(), { seed: SEED, numRuns: 1500 });

  it('covers every instruction family, operation, width and size', () => {
    const seen = new Set(sample.flatMap((c) => c.insns.map(variant)));
    const expected: string[] = [];
    for (const w of [32, 64]) {
      for (const op of ['add', 'sub', 'mul', 'div', 'sdiv', 'or', 'and', 'lsh', 'rsh', 'mod', 'smod', 'xor', 'mov', 'arsh']) {
        expected.push(`alu${w} ${op} k`, `alu${w} ${op} x`);
      }
      expected.push(`alu${w} neg k`, `alu${w} movsx8 x`, `alu${w} movsx16 x`);
      for (const op of ['jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'jlt', 'jle', 'jslt', 'jsle']) {
        expected.push(`${op}${w} k`, `${op}${w} x`);
      }
    }
    expected.push('alu64 movsx32 x');
    for (const op of ['le', 'be', 'bswap']) for (const b of [16, 32, 64]) expected.push(`${op}${b}`);
    for (const s of [1, 2, 4, 8]) expected.push(`ldx${s}`, `st${s}`, `stx${s}`);
    for (const s of [1, 2, 4]) expected.push(`ldxs${s}`, `ldabs${s}`, `ldind${s}`);
    for (const s of [4, 8]) {
      for (const op of ['add', 'or', 'and', 'xor']) expected.push(`atomic${s} ${op}`, `atomic${s} ${op} fetch`);
      expected.push(`atomic${s} xchg fetch`, `atomic${s} cmpxchg fetch`);
    }
    expected.push('lddw', 'ja', 'ja32', 'ja back', 'ja32 back', 'jne64 k back', 'jsgt32 k back', 'jlt64 k back', 'call', 'callx', 'call_local', 'exit');
    expect(expected.filter((v) => !seen.has(v))).toEqual([]);
  });

  it('programs run to the end mostly, and fault in every planned way sometimes', () => {
    const codes = new Map<string, number>();
    for (const c of sample.slice(0, 600)) {
      const [o] = runInterpreter(singleProgram(c.bytes, c.mem), fuzzHelpers, DIFF_BUDGET);
      const key = o!.ok ? 'ok' : o!.error?.code ?? 'foreign';
      codes.set(key, (codes.get(key) ?? 0) + 1);
    }
    expect(codes.get('ok') ?? 0).toBeGreaterThan(600 * 0.6);
    for (const code of [ErrorCode.MemoryFault, ErrorCode.CallDepth, ErrorCode.HelperFailed, ErrorCode.UnknownHelper]) {
      expect(codes.get(code) ?? 0, `${code} in ${JSON.stringify([...codes])}`).toBeGreaterThan(0);
    }
    expect([...codes.keys()].filter((k) => !['ok', ErrorCode.MemoryFault, ErrorCode.CallDepth, ErrorCode.HelperFailed, ErrorCode.UnknownHelper].includes(k as never))).toEqual([]);
  });

  it('shrinks to small programs', () => {
    // A property failing for any program with a callx shrinks to little more than the callx and
    // the exit sequence (r0-r9 stored, each initialised first).
    const out = fc.check(fc.property(arbFuzzCase(), (c) => !c.insns.some((i) => i.kind === 'callx')), { seed: SEED, numRuns: 1000 });
    expect(out.failed).toBe(true);
    const smallest = out.counterexample![0];
    expect(smallest.insns.length, disassemble(smallest.bytes)).toBeLessThanOrEqual(30);
  });
});

// ------------------------------------------------------------------------------ the harness

describe('the harness', () => {
  const ok = (r0: bigint, memory: Uint8Array = new Uint8Array(64)): Outcome => ({ ok: true, r0, ran: true, memory });

  it('reports a different r0, memory or error', async () => {
    expect(compareOutcomes(ok(1n), ok(1n), '-O0', 0)).toEqual([]);
    expect(compareOutcomes(ok(1n), ok(2n), '-O0', 0)).toHaveLength(1);
    const changed = new Uint8Array(64);
    changed[17] = 1;
    expect(compareOutcomes(ok(1n), ok(1n, changed), '-O0', 0)[0]).toMatch(/memory differs at 0x11/);
    const [a] = runInterpreter(singleProgram(assemble('mov32 %r1, -16\nldxb %r0, [%r1]\nexit')), () => [], 100);
    expect(a!.error?.code).toBe(ErrorCode.MemoryFault);
    expect(compareOutcomes(a!, ok(0n, a!.memory), '-O0', 0)).toHaveLength(1);
    // A real run of both engines agrees on a small program.
    expect(await checkDifferential(singleProgram(assemble('mov %r0, 7\nstxdw [%r10-8], %r0\nexit')))).toEqual([]);
  });

  it('writes and reads regression files', () => {
    const [c1, c2] = fc.sample(arbFuzzCase(), { seed: SEED, numRuns: 2 }) as [FuzzCase, FuzzCase];
    const stack = { maxCallDepth: 3, frameSize: 520 };
    const set = combinePrograms([c1, { ...c2, mem: null }], { stack });
    const options = { stack, checked: true, budget: 1000, calleeEntries: true };
    const text = formatRegression({ kind: 'differential', bytes: set.bytes, entries: set.entries, mems: set.mems, ...options, notes: ['a note\non two lines'] });
    expect(text).toMatch(/^# bpf2wasm fuzz regression \(kind: differential\)/);
    expect(text).toContain('# on two lines');
    const back = parseRegression(text);
    expect(back).toEqual({ kind: 'differential', bytes: set.bytes, entries: set.entries, mems: set.mems, ...options });
    const odd = parseRegression(formatRegression({ kind: 'bytes', bytes: new Uint8Array([1, 2, 3]) }));
    expect(odd).toEqual({ kind: 'bytes', bytes: new Uint8Array([1, 2, 3]) });
    const asm = parseRegression(formatRegression({ kind: 'asm', text: 'mov %r0, 1\nexit' }));
    expect(asm.text).toBe('mov %r0, 1\nexit');
  });
});

// ------------------------------------------------------------------------------ objects with maps

/** Everything a run of an object shows: r0 or the error, then every map's contents and the trace. */
function objectRun(inst: BpfInstance, program: string, ctx: Uint8Array): string {
  let result: string;
  try {
    result = `r0 ${inst.program(program).run(ctx)}`;
  } catch (e) {
    const err = e as BpfRuntimeError;
    result = `${err.code} ${JSON.stringify(err.location)} ${err.message}`;
  }
  const maps = FUZZ_MAPS.map((m) => {
    const map = inst.map(m.name);
    const rows = [...map.keysRaw()].map((k) => `${[...k].join('.')}=${[...(map.lookupRaw(k) ?? [])].join('.')}`);
    return `${m.name}{${rows.sort().join(' ')}}`;
  });
  return [result, ...maps].join(' ');
}

describe('random objects with map calls: the interpreter and compiled code agree', () => {
  const runs = Math.max(1, Math.round((requested ?? 120) / 4));
  it(`on r0, errors and every map, run after run (seed ${SEED + 2})`, async () => {
    let programs = 0;
    await fc.assert(
      fc.asyncProperty(arbMapFuzzCase, async (c) => {
        const spec = mapFuzzObject(c);
        const options = { checked: c.checked, optLevel: 0 as const };
        const engines = [
          await instantiate((await compileObject(spec, options)).wasm, { trace: () => {} }),
          await interpretModule(planObject(spec, options).image, { trace: () => {} }),
        ];
        for (const inst of engines) for (const s of c.slots) if (s.program < c.programs.length) inst.map('progs').set(s.index, `prog${s.program}`);
        const ctx = new Uint8Array(16);
        for (let round = 0; round < 2; round++) {
          for (let p = 0; p < c.programs.length; p++) {
            programs++;
            const [compiled, interpreted] = engines.map((inst) => objectRun(inst, `prog${p}`, ctx));
            expect(interpreted).toBe(compiled);
          }
        }
      }),
      { seed: SEED + 2, numRuns: runs, endOnFailure: process.env.BPF2WASM_FUZZ_SHRINK === '0' },
    );
    expect(programs).toBeGreaterThanOrEqual(runs * 4);
  }, 240_000);
});

// ------------------------------------------------------------------------------ regressions

describe('fuzz regressions (test-programs/fuzz-regressions/)', () => {
  let ran = 0;
  for (const name of REGRESSION_FILES) {
    it(name, async () => {
      ran++;
      const problems = await replayRegression(parseRegression(readFileSync(join(REGRESSIONS_DIR, name), 'utf8')));
      expect(problems).toEqual([]);
    }, 120_000);
  }

  it('every file in the folder ran', () => {
    // An unreadable folder or a filter gone wrong would make the block above pass vacuously.
    expect(ran).toBe(REGRESSION_FILES.length);
    if (REGRESSION_FILES.length > 0) expect(ran).toBeGreaterThan(0);
  });
});
