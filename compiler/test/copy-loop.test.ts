/**
 * Copy and fill loops as bulk memory (compiler/rewrite/copy-loop.ts): which loops are recognised
 * (clang's, test-programs/copyloops, built by scripts/build-copy-loops.sh, and the bench's memcpy
 * kernel), and that the compiled code with the fast path does exactly what the loop does: the
 * interpreter (the reference) against the compiled code at every level, plain and checked, on
 * random lengths, overlaps in both directions, ranges that cross the end of memory (or of the
 * checked span) and registers after the loop; with a budget, the compiled code with the fast
 * path stops exactly where the loop compiled without it stops.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile } from '../compile.js';
import { parseElf } from '../elf/elf64.js';
import { extractProgram } from '../elf/extract.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { computeLayout } from '../../runtime/memory-layout.js';
import { findCopyLoops, type CopyLoopPlan } from '../rewrite/copy-loop.js';
import { findSwitches } from '../rewrite/switch-table.js';
import { compareOutcomes, describeOutcome, runCompiled, runInterpreter, type Outcome, type ProgramSet } from '../../scripts/fuzz/harness.js';
import { fuzzHelpers } from '../../scripts/fuzz/generators.js';
import { loadKernel } from '../../scripts/bench/kernels.js';
import { ROOT } from '../../test/support/fixtures.js';
import { ErrorCode } from '../../runtime/errors.js';

const LEVELS = [0, 1, 2] as const;
const INTERP_BUDGET = 50_000_000;

function fixture(variant: 'O2' | 'O3' | 'v3', fn: string): Uint8Array {
  const bytes = readFileSync(path.join(ROOT, 'test-programs', 'copyloops', `copy_loops_${variant}.o`));
  const elf = parseElf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return extractProgram(elf, { section: '.text', symbol: fn });
}

function plansOf(bytes: Uint8Array): CopyLoopPlan[] {
  const program = decodeProgram(bytes);
  const cfg = buildCfg(program, [0]);
  return cfg.functions.flatMap((fn) => [...findCopyLoops(fn.blocks, program.insns, findSwitches(fn.blocks, program.insns)).values()]);
}

const COPIES = ['copy_u8', 'copy_u16', 'copy_u32', 'copy_u64', 'copy_ptr', 'copy_signed'];
const FILLS = ['fill_u8', 'fill_u32', 'zero_u64'];
const LEFT_ALONE = ['copy_strided', 'copy_plus_one'];
const WIDTH: Record<string, number> = {
  copy_u8: 1, copy_u16: 2, copy_u32: 4, copy_u64: 8, copy_ptr: 1, copy_signed: 1, copy_down: 1,
  fill_u8: 1, fill_u32: 4, zero_u64: 8, copy_strided: 1, copy_plus_one: 1,
};

/** The fixtures' input: the header (destination offset, source offset, count, fill value), then data. */
function input(len: number, dst: bigint, src: bigint, n: bigint, value: bigint, seed: number): Uint8Array {
  const mem = new Uint8Array(len);
  for (let i = 32; i < len; i++) mem[i] = (i * 131 + seed * 17 + 7) & 0xff;
  const view = new DataView(mem.buffer);
  [dst, src, n, value].forEach((v, i) => view.setBigUint64(i * 8, BigInt.asUintN(64, v), true));
  return mem;
}

/** Differences between two outcomes of compiled code (same r0 or error, same memory). */
function sameOutcome(a: Outcome, b: Outcome, what: string): string[] {
  const head = `${what}: ${describeOutcome(a)} vs ${describeOutcome(b)}`;
  if (a.ok !== b.ok || a.r0 !== b.r0) return [head];
  if (a.error?.code !== b.error?.code || a.error?.location.insn !== b.error?.location.insn) return [head];
  if (a.memory.length !== b.memory.length) return [`${head}: memory sizes differ`];
  for (let i = 0; i < a.memory.length; i++) if (a.memory[i] !== b.memory[i]) return [`${head}: memory differs at 0x${i.toString(16)}`];
  return [];
}

async function differential(set: ProgramSet, levels: readonly (0 | 1 | 2)[] = LEVELS): Promise<string[]> {
  const refs = runInterpreter(set, fuzzHelpers, INTERP_BUDGET);
  const problems: string[] = [];
  for (const level of levels) {
    const got = await runCompiled(set, fuzzHelpers, { optLevel: level });
    refs.forEach((ref, i) => problems.push(...compareOutcomes(ref, got[i]!, `-O${level} mem ${i}`, set.mems[i]?.length ?? 0, level === 0)));
  }
  return problems;
}

describe('copy and fill loops: recognition', () => {
  for (const variant of ['O2', 'O3', 'v3'] as const) {
    it(`clang -${variant}: copies and fills are recognised, other loops left alone`, () => {
      for (const fn of [...COPIES, ...FILLS]) {
        const plans = plansOf(fixture(variant, fn));
        expect(plans.map((p) => [p.kind, p.width]), fn).toEqual([[FILLS.includes(fn) ? 'fill' : 'copy', WIDTH[fn]]]);
      }
      for (const fn of LEFT_ALONE) expect(plansOf(fixture(variant, fn)), fn).toEqual([]);
    });
  }

  it('the bench memcpy kernel is one byte copy loop', async () => {
    const plans = plansOf(await loadKernel(ROOT, 'memcpy'));
    expect(plans.map((p) => [p.kind, p.width, p.perIteration])).toEqual([['copy', 1, 1]]);
  });

  it('the loop of the issue (bpf-benchmark memcpy, one pointer, counted with !=) is recognised', () => {
    const bytes = assemble([
      'mov %r2, 0', 'mov %r3, %r1',
      'loop:', 'ldxb %r4, [%r3+0]', 'stxb [%r3+4096], %r4', 'add %r3, 1', 'add %r2, 1', 'jne %r2, 4096, loop',
      'mov %r0, %r4', 'exit',
    ].join('\n'));
    expect(plansOf(bytes).map((p) => [p.kind, p.trip.k])).toEqual([['copy', 'ne']]);
  });
});

describe('copy and fill loops: the fast path does what the loop does', () => {
  const layout = computeLayout(8, 512);
  const LEN = 4096;

  for (const fn of [...COPIES, ...FILLS, ...LEFT_ALONE]) {
    it(`${fn}: random ranges, overlaps and ends of memory agree with the interpreter`, async () => {
      const bytes = fixture('O2', fn);
      // Where linear memory ends for this input (both engines size it alike).
      const probe = runInterpreter({ bytes, entries: [0], mems: [input(LEN, 64n, 64n, 0n, 0n, 0)] }, fuzzHelpers, INTERP_BUDGET)[0]!;
      const memEnd = BigInt(probe.memory.length - layout.dataBase);
      const w = BigInt(WIDTH[fn]!);
      const arbHeader = fc.record({
        n: fc.oneof(fc.bigInt({ min: 0n, max: 64n }), fc.bigInt({ min: 0n, max: 1200n })),
        dst: fc.oneof(fc.bigInt({ min: 32n, max: 2000n }), fc.constantFrom(-8n, 0n, memEnd - 100n, memEnd - 1n, BigInt(LEN) - 100n)),
        delta: fc.oneof(fc.bigInt({ min: -70n, max: 70n }), fc.bigInt({ min: -2000n, max: 2000n })),
        value: fc.oneof(fc.constantFrom(0n, 0xababababababababn, 0x1234n, -1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      });
      await fc.assert(fc.asyncProperty(fc.array(arbHeader, { minLength: 4, maxLength: 4 }), fc.boolean(), async (hs, checked) => {
        const mems = hs.map((h, i) => {
          const src = h.dst + h.delta * (h.delta % 3n === 0n ? w : 1n);
          return input(LEN, h.dst, src < 0n ? 32n : src, h.n, h.value, i);
        });
        const set: ProgramSet = { bytes, entries: [0, 0, 0, 0], mems, ...(checked ? { checked: true } : {}) };
        const problems = await differential(set, [0, 1]);
        if (problems.length > 0) throw new Error(`${JSON.stringify(hs, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n${problems.join('\n')}`);
      }), { seed: 0xc0b1, numRuns: 12 });
    }, 120_000);
  }
});
