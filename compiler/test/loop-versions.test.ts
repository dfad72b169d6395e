/**
 * Loop versions (compiler/rewrite/loop-versions.ts): an innermost counted loop gets a fast copy
 * without the header's budget check and the checked-mode checks of its induction-variable
 * accesses, entered only when a test at the loop's entry proves none of them could fire. The
 * reference is the same program compiled without the copies (`loopVersions: false`): with a
 * budget and in checked mode, both must stop at the same instruction with the same memory, r0
 * and error, at every budget; without a budget the interpreter is the reference as well. Loops
 * are generated with early exits (strcmp's shape), counters going up or down by various steps,
 * 32- and 64-bit compares of every kind, and inputs near the end of memory.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile } from '../compile.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { insnsOf } from '../../runtime/isa/insn.js';
import { computeLayout } from '../../runtime/memory-layout.js';
import { analyzeLoops } from '../rewrite/loops.js';
import { findLoopVersions } from '../rewrite/loop-versions.js';
import type { EmitOptions } from '../emit.js';
import { compareOutcomes, runCompiled, runInterpreter, sameOutcome, type Outcome, type ProgramSet } from '../../scripts/fuzz/harness.js';
import { fuzzHelpers } from '../../scripts/fuzz/generators.js';
import { loadKernel } from '../../scripts/bench/kernels.js';
import { ROOT } from '../../test/support/fixtures.js';
import { CONFORMANCE_FILES, HAVE_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { ErrorCode } from '../../runtime/errors.js';
import { BpfRuntimeError } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/index.js';

const LEN = 4096;
const layout = computeLayout(8, 512);

/** The loops of a program that get a fast copy (budget and checked mode on). */
function versionsOf(bytes: Uint8Array): number {
  const program = decodeProgram(bytes);
  const cfg = buildCfg(program, [0]);
  const options = { checked: true, layout } as unknown as EmitOptions;
  return cfg.functions.reduce((n, fn) => n + findLoopVersions(fn.blocks, insnsOf(program), analyzeLoops(fn.blocks), options, true, new Set()).size, 0);
}

interface LoopCase {
  /** Element width and the counter's step (negative: counting down from n). */
  width: 1 | 2 | 4 | 8;
  step: number;
  /** The compare that continues the loop (suffix 32: a 32-bit compare). */
  compare: string;
  /** Compare with the register holding n, or with a constant. */
  bound: number | null;
  /** Second stream loaded (strcmp), and where the loop leaves early. */
  second: boolean;
  exitOnDiff: boolean;
  exitOnZero: boolean;
  /** Store the loaded value into the second stream (a store whose check may be hoisted). */
  store: boolean;
  /** The counter indexes the streams (else pointers are bumped along with it). */
  indexed: boolean;
  /** Leave through the jump taken and continue with a lone `ja` back (clang's other shape). */
  jaLatch: boolean;
}

const arbCase: fc.Arbitrary<LoopCase> = fc.record({
  width: fc.constantFrom(1 as const, 1 as const, 2 as const, 4 as const, 8 as const),
  step: fc.constantFrom(1, 1, 2, 3, -1, -1, -2),
  compare: fc.constantFrom('jlt', 'jle', 'jgt', 'jge', 'jne', 'jslt', 'jsle', 'jsgt', 'jsge', 'jlt32', 'jne32', 'jsgt32', 'jge32'),
  bound: fc.option(fc.integer({ min: 0, max: 700 }), { freq: 3 }),
  second: fc.boolean(),
  exitOnDiff: fc.boolean(),
  exitOnZero: fc.boolean(),
  store: fc.boolean(),
  indexed: fc.boolean(),
  jaLatch: fc.constantFrom(false, false, false, true),
});

const SZ: Record<number, string> = { 1: 'b', 2: 'h', 4: 'w', 8: 'dw' };
const NEG: Record<string, string> = {
  jlt: 'jge', jge: 'jlt', jgt: 'jle', jle: 'jgt', jne: 'jeq', jeq: 'jne', jslt: 'jsge', jsge: 'jslt', jsgt: 'jsle', jsle: 'jsgt',
};

/**
 * The case as assembly. r1 = memory, whose header holds the offsets of the two streams, n and
 * a start value; r4 counts from the start (up) or from n (down) by `step`, compared with n or a
 * constant (up) or the start (down).
 */
export function loopProgram(c: LoopCase): string {
  const W = c.width;
  const sz = SZ[W]!;
  const L: string[] = [
    'ldxdw %r2, [%r1+0]', 'ldxdw %r3, [%r1+8]', 'ldxdw %r5, [%r1+16]', 'ldxdw %r9, [%r1+24]',
    'add %r2, %r1', 'add %r3, %r1', 'mov %r0, 0', 'mov %r6, 0', 'mov %r7, 0', 'mov %r8, 0',
  ];
  const down = c.step < 0;
  L.push(down ? 'mov %r4, %r5' : 'mov %r4, %r9');
  const bound = down ? '%r9' : c.bound === null ? '%r5' : String(c.bound);
  L.push('loop:');
  if (c.indexed) {
    L.push('mov %r7, %r4', `mul %r7, ${W}`, 'mov %r8, %r7', 'add %r7, %r2', 'add %r8, %r3');
  } else {
    L.push('mov %r7, %r2', 'mov %r8, %r3');
  }
  L.push(`ldx${sz} %r6, [%r7+0]`);
  if (c.second) L.push(`ldx${sz} %r0, [%r8+0]`);
  if (c.exitOnDiff) L.push(c.second ? 'jne %r6, %r0, exit' : 'jgt %r6, 200, exit');
  if (c.store) L.push(`stx${sz} [%r8+0], %r6`);
  if (c.exitOnZero) L.push('jeq %r6, 0, exit');
  if (!c.indexed) L.push(`add %r2, ${c.step * W}`, `add %r3, ${c.step * W}`);
  L.push(`add %r4, ${c.step}`);
  const [op, w32] = c.compare.endsWith('32') ? [c.compare.slice(0, -2), '32'] : [c.compare, ''];
  // Counting down the compare goes the other way.
  const flip: Record<string, string> = { jlt: 'jgt', jle: 'jge', jgt: 'jlt', jge: 'jle', jslt: 'jsgt', jsle: 'jsge', jsgt: 'jslt', jsge: 'jsle', jne: 'jne' };
  let o = op;
  if (down ? o.includes('l') : o.includes('g')) o = flip[o]!;
  if (c.jaLatch) L.push(`${NEG[o]}${w32} %r4, ${bound}, exit`, 'ja loop');
  else L.push(`${o}${w32} %r4, ${bound}, loop`);
  L.push('exit:');
  for (const r of [2, 3, 4, 5, 6, 7, 8, 9]) L.push('mul %r0, 31', `add %r0, %r${r}`);
  L.push('exit');
  return L.join('\n');
}

/** Input: header (offsets of the streams, n, start), then bytes mostly alike with sparse differences and zeros. */
function input(h: { a: bigint; b: bigint; n: bigint; start: bigint; alike: boolean }, seed: number): Uint8Array {
  const mem = new Uint8Array(LEN);
  for (let i = 32; i < LEN; i++) {
    if (h.alike) {
      mem[i] = 0x41;
      continue;
    }
    const hash = (i * 2654435761 + seed * 40503) >>> 0;
    mem[i] = hash % 211 === 0 ? 0 : hash % 157 === 0 ? (hash >>> 8) & 0xff : 0x41;
  }
  const view = new DataView(mem.buffer);
  [h.a, h.b, h.n, h.start].forEach((v, i) => view.setBigUint64(i * 8, BigInt.asUintN(64, v), true));
  return mem;
}

describe('loop versions: the fast copy stops where the loop stops', () => {
  const probe = runInterpreter({ bytes: assemble('mov %r0, 0\nexit'), entries: [0], mems: [new Uint8Array(LEN)] }, fuzzHelpers, 10)[0]!;
  const memEnd = BigInt(probe.memory.length - layout.dataBase);
  const arbMem = fc.record({
    a: fc.oneof(fc.bigInt({ min: 32n, max: 3000n }), fc.constantFrom(memEnd - 40n, memEnd - 3n, BigInt(LEN) - 40n, 0n, -64n)),
    b: fc.oneof(fc.bigInt({ min: 32n, max: 3000n }), fc.constantFrom(memEnd - 20n, BigInt(LEN) - 9n, BigInt(LEN) + 100n)),
    n: fc.oneof(fc.bigInt({ min: 0n, max: 50n }), fc.bigInt({ min: 0n, max: 900n }), fc.constantFrom(-1n, 1n << 32n, (1n << 63n) + 5n)),
    start: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 30n }), fc.constantFrom(-3n, -1n, (1n << 32n) - 2n)),
    /** Start at n: a `!=` loop then continues 2^64 - 1 (or 2^32 - 1) times. */
    startAtN: fc.boolean(),
    /**
     * Place the first stream so that the iterations' last access ends near the end of memory or
     * of the input (the checked span), and make the data alike (no early exit before it).
     */
    toEnd: fc.option(fc.record({ end: fc.constantFrom(memEnd, BigInt(LEN)), adj: fc.constantFrom(-1, 0, 0, 0, 1), bump: fc.constantFrom(-1n, 0n, 1n, 1n) }), { freq: 2 }),
  });
  type Header = { a: bigint; b: bigint; n: bigint; start: bigint; startAtN: boolean; toEnd: { end: bigint; adj: number; bump: bigint } | null };
  /** The header for case `c` (see toEnd). */
  const headerFor = (c: LoopCase, h: Header): Header & { alike: boolean } => {
    if (!h.toEnd) return { ...h, start: h.startAtN ? h.n : h.start, alike: false };
    const W = BigInt(c.width);
    const n = c.bound !== null ? BigInt(c.bound) : h.n < 0n || h.n > 900n ? 300n : h.n;
    const a = h.toEnd.end - n * W + BigInt(h.toEnd.adj) * W + h.toEnd.bump;
    return { ...h, n, start: 0n, a, b: a - 1000n, alike: true };
  };

  it('with budgets around exhaustion and in checked mode: same stop, r0 and memory as without the copies (-O0, -O1)', async () => {
    let versioned = 0;
    let runs = 0;
    const stops = { budget: 0, fault: 0, done: 0 };
    await fc.assert(fc.asyncProperty(
      arbCase, fc.array(arbMem, { minLength: 4, maxLength: 4 }), fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.constant(1_000_000)), fc.boolean(),
      async (c, hs, budget, checked) => {
        const text = loopProgram(c);
        const bytes = assemble(text);
        runs++;
        if (versionsOf(bytes) > 0) versioned++;
        const mems = hs.map((h, i) => input(headerFor(c, h), i));
        const set: ProgramSet = { bytes, entries: [0, 0, 0, 0], mems, budget, ...(checked ? { checked: true } : {}) };
        for (const optLevel of runs % 3 === 0 ? [0, 1] as const : [0] as const) {
          const ref = await runCompiled(set, fuzzHelpers, { optLevel, loopVersions: false });
          const got = await runCompiled(set, fuzzHelpers, { optLevel });
          const problems = ref.flatMap((o, i) => sameOutcome(o, got[i]!, `-O${optLevel} mem ${i}, budget ${budget}${checked ? ', checked' : ''}`));
          if (problems.length > 0) {
            throw new Error(`${text}\n${JSON.stringify(hs, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n${problems.join('\n')}`);
          }
          for (const o of ref) {
            if (o.ok) stops.done++;
            else if (o.error?.code === ErrorCode.Budget) stops.budget++;
            else if (o.error?.code === ErrorCode.MemoryFault) stops.fault++;
          }
        }
      }), { seed: 0x5eed1, numRuns: 120 });
    // The property must exercise the copies and every way of stopping.
    expect(versioned).toBeGreaterThan(runs / 2);
    expect(stops.budget).toBeGreaterThan(20);
    expect(stops.fault).toBeGreaterThan(20);
    expect(stops.done).toBeGreaterThan(20);
  }, 600_000);

  it('without a budget: the interpreter gives the same r0, memory and faults (plain and checked)', async () => {
    let versioned = 0;
    await fc.assert(fc.asyncProperty(arbCase, fc.array(arbMem, { minLength: 4, maxLength: 4 }), fc.boolean(), async (c, hs, checked) => {
      const text = loopProgram(c);
      const bytes = assemble(text);
      if (versionsOf(bytes) > 0) versioned++;
      const mems = hs.map((h, i) => input(headerFor(c, h), i));
      const set: ProgramSet = { bytes, entries: [0, 0, 0, 0], mems, ...(checked ? { checked: true } : {}) };
      const refs = runInterpreter(set, fuzzHelpers, 50_000_000);
      const got = await runCompiled(set, fuzzHelpers, { optLevel: 0 });
      const problems = refs.flatMap((ref, i) => compareOutcomes(ref, got[i]!, `mem ${i}${checked ? ', checked' : ''}`, mems[i]!.length, true));
      if (problems.length > 0) throw new Error(`${text}\n${JSON.stringify(hs, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n${problems.join('\n')}`);
    }), { seed: 0x5eed2, numRuns: 60 });
    expect(versioned).toBeGreaterThan(30);
  }, 600_000);
});

describe('loop versions: which loops get a copy', () => {
  const base: LoopCase = {
    width: 1, step: 1, compare: 'jlt', bound: null, second: true, exitOnDiff: true, exitOnZero: true, store: false, indexed: true, jaLatch: false,
  };
  it('counted loops with early exits, either latch shape, counting up or down, 32- or 64-bit compares', () => {
    for (const c of [base, { ...base, jaLatch: true }, { ...base, step: -1 }, { ...base, compare: 'jne32' }, { ...base, indexed: false, store: true }]) {
      expect(versionsOf(assemble(loopProgram(c))), JSON.stringify(c)).toBe(1);
    }
  });

  it('a loop whose compare continues 2^64 - 1 times (T would wrap to 0) runs as compiled', async () => {
    // r4 starts at n and continues while r4 != n after adding 1: 2^64 - 1 more iterations.
    const c: LoopCase = { ...base, compare: 'jne', second: false, exitOnDiff: false, exitOnZero: false };
    const text = loopProgram(c).replace('mov %r4, %r9', 'mov %r4, %r5');
    const bytes = assemble(text);
    expect(versionsOf(bytes)).toBe(1);
    const mem = input({ a: 64n, b: 64n, n: 100n, start: 0n, alike: true }, 0);
    for (const checked of [false, true]) {
      const set: ProgramSet = { bytes, entries: [0], mems: [mem], budget: 500, ...(checked ? { checked: true } : {}) };
      const [ref] = await runCompiled(set, fuzzHelpers, { optLevel: 0, loopVersions: false });
      const [got] = await runCompiled(set, fuzzHelpers, { optLevel: 0 });
      expect(ref!.error?.code).toBe(ErrorCode.Budget);
      expect(sameOutcome(ref!, got!, checked ? 'checked' : 'plain')).toEqual([]);
    }
  });

  it('not a loop whose bound moves, nor one with a call', () => {
    // The bound register changes in the loop.
    const moving = loopProgram(base).replace('loop:', 'loop:\nadd %r5, 1');
    expect(versionsOf(assemble(moving))).toBe(0);
    const call = loopProgram(base).replace('loop:', 'loop:\ncall 1');
    expect(versionsOf(assemble(call))).toBe(0);
  });
});

describe('loop versions: the bench strcmp kernel', () => {
  /** The kernel's input: two equal strings of `half` bytes each, differing at `diffAt` (if given). */
  const mem = (half: number, diffAt?: number): Uint8Array => {
    const m = new Uint8Array(2 * half);
    for (let i = 0; i < half; i++) m[i] = m[half + i] = 0x61 + (i % 26);
    if (diffAt !== undefined) m[half + diffAt] = 0x30;
    return m;
  };

  it('has a fast copy with a budget and in checked mode, and stops at the same budget as without it', async () => {
    const bytes = await loadKernel(ROOT, 'strcmp');
    expect(versionsOf(bytes)).toBe(1);
    const wabt = await (await import('wabt')).default();
    const loops = async (options: Record<string, unknown>): Promise<number> => {
      // The program's loops only: without the repeat loop the module adds around the entry.
      const { wasm } = await compile(bytes, { optLevel: 0, repeatLoops: false, ...options });
      return wabt.readWasm(wasm, {}).toText({}).match(/^\s*loop\b/gm)?.length ?? 0;
    };
    expect(await loops({})).toBe(1);
    expect(await loops({ budget: 100 })).toBe(2);
    expect(await loops({ checked: true })).toBe(2);
    expect(await loops({ budget: 100, loopVersions: false })).toBe(1);
    // The smallest budget that lets a run finish, with and without the copy (bisection).
    const input = mem(300, 200);
    const finishes = async (budget: number, loopVersions: boolean): Promise<boolean> => {
      const { wasm } = await compile(bytes, { optLevel: 0, budget, loopVersions });
      try {
        (await instantiate(wasm)).program().run(input);
        return true;
      } catch (e) {
        if (e instanceof BpfRuntimeError && e.code === ErrorCode.Budget) return false;
        throw e;
      }
    };
    const minBudget = async (loopVersions: boolean): Promise<number> => {
      let [lo, hi] = [0, 100_000];
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (await finishes(mid, loopVersions)) hi = mid;
        else lo = mid;
      }
      return hi;
    };
    const [withCopy, without] = [await minBudget(true), await minBudget(false)];
    expect(withCopy).toBe(without);
    // The entry's 9, then 13 per iteration: the 201st check (the iteration that finds the
    // difference) must pass; the exit after it is not checked (one loop-free stretch).
    expect(without).toBe(9 + 200 * 13);
  }, 120_000);
});

describe('loop versions: the conformance suite with a budget and in checked mode', () => {
  it.skipIf(!HAVE_CONFORMANCE)('every file stops (or finishes) alike with and without the copies, at -O0 and -O1', async () => {
    let versioned = 0;
    for (const name of CONFORMANCE_FILES) {
      const data = readConformance(name);
      if (data.asm === undefined && data.raw === undefined) continue;
      let bytes: Uint8Array;
      try {
        bytes = data.asm !== undefined ? assemble(data.asm) : data.raw!;
        if (versionsOf(bytes) > 0) versioned++;
      } catch {
        continue; // files that are meant not to compile: nothing to compare
      }
      for (const budget of [30, 1_000_000]) {
        for (const checked of [false, true]) {
          const set: ProgramSet = { bytes, entries: [0], mems: [data.mem ? data.mem.slice() : null], budget, ...(checked ? { checked: true } : {}) };
          for (const optLevel of [0, 1] as const) {
            const ref = await runCompiled(set, fuzzHelpers, { optLevel, loopVersions: false });
            const got = await runCompiled(set, fuzzHelpers, { optLevel });
            expect(sameOutcome(ref[0]!, got[0]!, `${name} -O${optLevel} budget ${budget}${checked ? ' checked' : ''}`)).toEqual([]);
          }
        }
      }
    }
    expect(versioned).toBeGreaterThan(0);
  }, 600_000);
});
