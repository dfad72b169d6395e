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
import { insnsOf } from '../../runtime/isa/insn.js';
import { computeLayout } from '../../runtime/memory-layout.js';
import { findCopyLoops, type CopyLoopPlan } from '../rewrite/copy-loop.js';
import { findSwitches } from '../rewrite/switch-table.js';
import { compareOutcomes, runCompiled, runInterpreter, sameOutcome, type Outcome, type ProgramSet } from '../../scripts/fuzz/harness.js';
import { fuzzHelpers } from '../../scripts/fuzz/generators.js';
import { loadKernel } from '../../scripts/bench/kernels.js';
import { ROOT } from '../../test/support/fixtures.js';
import { ErrorCode } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/index.js';

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
  return cfg.functions.flatMap((fn) => [...findCopyLoops(fn.blocks, insnsOf(program), findSwitches(fn.blocks, insnsOf(program))).values()]);
}

const COPIES = ['copy_u8', 'copy_u16', 'copy_u32', 'copy_u64', 'copy_ptr', 'copy_signed', 'copy_down'];
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

// ------------------------------------------------------------------------------ generated loops

interface LoopCase {
  width: 1 | 2 | 4 | 8;
  unroll: 1 | 2 | 3;
  kind: 'copy' | 'fill-reg' | 'fill-imm';
  addressing: 'bumped' | 'indexed' | 'shared';
  /** For `shared`: the destination's offset from the source pointer. */
  shift: number;
  /** Loads all before the stores (else each store right after its load). */
  batched: boolean;
  /** Unrolled elements in descending order of address. */
  descending: boolean;
  /** The pointers go down (bumped and shared addressing). */
  backward: boolean;
  counter: 'up' | 'down' | 'ptr';
  compare: string;
  /** Leave the loop on the jump taken, continuing through a lone `ja` back (clang's other shape). */
  latch: boolean;
  /** Skip the loop when the count is 0 (else a `!=` loop with 0 runs until it faults). */
  guard: boolean;
  fillImm: number;
  bound: number | null;
}

const SZ: Record<number, string> = { 1: 'b', 2: 'h', 4: 'w', 8: 'dw' };
const NEG: Record<string, string> = {
  jlt: 'jge', jge: 'jlt', jgt: 'jle', jle: 'jgt', jne: 'jeq', jeq: 'jne', jslt: 'jsge', jsge: 'jslt', jsgt: 'jsle', jsle: 'jsgt',
};

const arbLoop: fc.Arbitrary<LoopCase> = fc.record({
  width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
  unroll: fc.constantFrom(1 as const, 1 as const, 2 as const, 3 as const),
  kind: fc.constantFrom('copy' as const, 'copy' as const, 'fill-reg' as const, 'fill-imm' as const),
  addressing: fc.constantFrom('bumped' as const, 'indexed' as const, 'shared' as const),
  shift: fc.oneof(fc.integer({ min: -40, max: 40 }), fc.integer({ min: -3000, max: 3000 })),
  batched: fc.boolean(),
  descending: fc.boolean(),
  backward: fc.boolean(),
  counter: fc.constantFrom('up' as const, 'down' as const, 'ptr' as const),
  compare: fc.constantFrom('jlt', 'jgt', 'jle', 'jne', 'jslt', 'jsgt', 'jge', 'jsge', 'jlt32', 'jne32', 'jsgt32'),
  latch: fc.boolean(),
  guard: fc.boolean(),
  fillImm: fc.constantFrom(0, -1, 0x41414141, 0x1234, 7),
  bound: fc.option(fc.integer({ min: 0, max: 600 }), { freq: 4 }),
});

/** The case as assembly: r1 = memory; the header gives the offsets, the count and the fill value. */
function loopProgram(c: LoopCase): string {
  const W = c.width;
  const S = W * c.unroll;
  const counter = c.addressing === 'indexed' ? 'up' : c.counter;
  const L: string[] = [
    'ldxdw %r2, [%r1+0]', 'ldxdw %r3, [%r1+8]', 'ldxdw %r5, [%r1+16]', 'ldxdw %r9, [%r1+24]',
    'add %r2, %r1', 'add %r3, %r1', 'mov %r0, 0', 'mov %r6, 0', 'mov %r7, 0', 'mov %r8, 0',
  ];
  if (c.guard) L.push('jeq %r5, 0, exit');
  const [op, w32] = c.compare.endsWith('32') ? [c.compare.slice(0, -2), '32'] : [c.compare, ''];
  // The compare that continues the loop: `cont` (as the jump), and the one that leaves it.
  let cont: string;
  if (counter === 'up') {
    // r4 counts from 0 by `step` up to r5 (or a constant bound).
    const step = c.addressing === 'indexed' ? S : 1;
    if (step !== 1) L.push(`mul %r5, ${step}`);
    L.push('mov %r4, 0');
    const bound = c.bound === null ? '%r5' : String(c.bound * step);
    if (c.bound === null && (op === 'jle' || op === 'jsle')) L.push(`sub %r5, ${step}`);
    const ge = op === 'jge' || op === 'jsge';
    const o = op === 'jgt' || op === 'jsgt' || ge ? op.replace('g', 'l').replace(ge ? 'le' : 'lt', ge ? 'lt' : 'lt') : op;
    cont = `${o}${w32} %r4, ${bound}`;
    L.push('loop:');
    emitBody(c, L);
    L.push(`add %r4, ${step}`);
  } else if (counter === 'down') {
    L.push('mov %r4, %r5');
    const o = op === 'jlt' || op === 'jslt' ? op.replace('l', 'g') : op === 'jle' || op === 'jsle' ? op.replace('le', 'ge') : op;
    const k = o.endsWith('ge') ? 1 : 0;
    cont = `${o}${w32} %r4, ${k}`;
    L.push('loop:');
    emitBody(c, L);
    L.push('add %r4, -1');
  } else {
    // The source pointer runs up (or down) to its end.
    const down = c.backward && c.addressing !== 'indexed';
    L.push(`mul %r5, ${down ? -S : S}`, 'add %r5, %r3');
    let o = op === 'jle' || op === 'jsle' || op === 'jge' || op === 'jsge' ? 'jne' : op;
    if (down ? o.includes('l') : o.includes('g')) o = down ? o.replace('l', 'g') : o.replace('g', 'l');
    cont = `${o}${w32} %r3, %r5`;
    L.push('loop:');
    emitBody(c, L);
  }
  if (c.latch) {
    const [mn, ...rest] = cont.split(' ');
    const base = mn!.replace('32', '');
    L.push(`${NEG[base]}${mn!.endsWith('32') ? '32' : ''} ${rest.join(' ')}, exit`, 'ja loop');
  } else {
    L.push(`${cont}, loop`);
  }
  // Every register after the loop, mixed into r0.
  L.push('exit:');
  for (const r of [2, 3, 4, 5, 6, 7, 8, 9]) L.push('mul %r0, 31', `add %r0, %r${r}`);
  L.push('exit');
  return L.join('\n');
}

function emitBody(c: LoopCase, L: string[]): void {
  const W = c.width;
  const S = W * c.unroll;
  const sz = SZ[W]!;
  const val = (u: number): string => `%r${c.batched ? 6 + u : 6}`;
  const srcAt = (u: number): string => {
    if (c.addressing === 'indexed') return `[%r7+${u * W}]`;
    return `[%r3+${u * W}]`;
  };
  const dstAt = (u: number): string => {
    if (c.addressing === 'indexed') return `[%r8+${u * W}]`;
    if (c.addressing === 'shared') {
      const o = c.shift + u * W;
      return o < 0 ? `[%r3${o}]` : `[%r3+${o}]`;
    }
    return `[%r2+${u * W}]`;
  };
  if (c.addressing === 'indexed') L.push('mov %r7, %r3', 'add %r7, %r4', 'mov %r8, %r2', 'add %r8, %r4');
  const store = (u: number): string =>
    c.kind === 'copy' ? `stx${sz} ${dstAt(u)}, ${val(u)}` : c.kind === 'fill-reg' ? `stx${sz} ${dstAt(u)}, %r9` : `st${sz} ${dstAt(u)}, ${c.fillImm}`;
  const order = [...Array(c.unroll).keys()];
  if (c.descending) order.reverse();
  if (c.kind === 'copy' && c.batched) {
    for (const u of order) L.push(`ldx${sz} ${val(u)}, ${srcAt(u)}`);
    for (const u of order) L.push(store(u));
  } else {
    for (const u of order) {
      if (c.kind === 'copy') L.push(`ldx${sz} ${val(u)}, ${srcAt(u)}`);
      L.push(store(u));
    }
  }
  if (c.addressing !== 'indexed') {
    const d = c.backward ? -S : S;
    L.push(`add %r3, ${d}`);
    if (c.addressing === 'bumped') L.push(`add %r2, ${d}`);
  }
}

const arbMem = (memEnd: bigint, len: number): fc.Arbitrary<{ dst: bigint; src: bigint; n: bigint; value: bigint }> => fc.record({
  n: fc.oneof(fc.bigInt({ min: 0n, max: 40n }), fc.bigInt({ min: 0n, max: 500n })),
  dst: fc.oneof(fc.bigInt({ min: 32n, max: 2500n }), fc.constantFrom(memEnd - 64n, memEnd - 3n, BigInt(len) - 64n, BigInt(len) - 5n)),
  delta: fc.oneof(fc.bigInt({ min: -40n, max: 40n }), fc.bigInt({ min: -2500n, max: 2500n })),
  value: fc.oneof(fc.constantFrom(0n, (1n << 64n) - 1n, 0x3c3c3c3c3c3c3c3cn), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
}).map(({ n, dst, delta, value }) => ({ n, dst, src: dst + delta < 32n ? 32n : dst + delta, value }));

describe('copy and fill loops: generated loops', () => {
  const layout = computeLayout(8, 512);
  const LEN = 4096;
  const probe = runInterpreter({ bytes: assemble('mov %r0, 0\nexit'), entries: [0], mems: [new Uint8Array(LEN)] }, fuzzHelpers, 10)[0]!;
  const memEnd = BigInt(probe.memory.length - layout.dataBase);

  it('agree with the interpreter at every level, plain and checked (registers, memory, faults)', async () => {
    let recognised = 0;
    let runs = 0;
    await fc.assert(fc.asyncProperty(arbLoop, fc.array(arbMem(memEnd, LEN), { minLength: 3, maxLength: 3 }), fc.boolean(), async (c, hs, checked) => {
      const text = loopProgram(c);
      const bytes = assemble(text);
      runs++;
      if (plansOf(bytes).length > 0) recognised++;
      const mems = hs.map((h, i) => input(LEN, h.dst, h.src, h.n, h.value, i));
      const set: ProgramSet = { bytes, entries: [0, 0, 0], mems, ...(checked ? { checked: true } : {}) };
      const problems = await differential(set, runs % 4 === 0 ? LEVELS : [0, 1]);
      if (problems.length > 0) throw new Error(`${text}\n${JSON.stringify(hs, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n${problems.join('\n')}`);
    }), { seed: 0x10095, numRuns: 150 });
    // The property must exercise the rewrite, not only the loops it leaves alone.
    expect(recognised).toBeGreaterThan(runs / 2);
  }, 600_000);

  it('unrolled bodies that store an element before loading one the loop reaches earlier agree too (ranges a few bytes apart)', async () => {
    // Going up, a store of a higher element before the load of a lower one reads back what it
    // wrote when the destination is less than two elements below the source (going down, the
    // mirror image): such bodies are left as loops, the others take the fast path.
    const base: LoopCase = {
      width: 2, unroll: 2, kind: 'copy', addressing: 'bumped', shift: 0, batched: false, descending: true, backward: false,
      counter: 'down', compare: 'jne', latch: false, guard: true, fillImm: 0, bound: null,
    };
    const cases = [base, { ...base, descending: false, backward: true }, { ...base, width: 1 as const, unroll: 3 as const }];
    for (const c of cases) {
      const bytes = assemble(loopProgram(c));
      const mems = [-5n, -4n, -3n, -2n, -1n, 0n, 1n, 2n, 3n, 4n, 5n].map((d, i) => input(LEN, 1000n, 1000n - d, 200n, 0n, i));
      const problems = await differential({ bytes, entries: mems.map(() => 0), mems }, [0]);
      expect(problems, loopProgram(c)).toEqual([]);
    }
    expect(plansOf(assemble(loopProgram(base)))).toEqual([]);
    expect(plansOf(assemble(loopProgram({ ...base, descending: false })))).toHaveLength(1);
  });

  it('with a budget, the fast path stops exactly where the loop compiled without it stops', async () => {
    let stopped = 0;
    await fc.assert(fc.asyncProperty(
      arbLoop, fc.array(arbMem(memEnd, LEN), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 6000 }), fc.boolean(),
      async (c, hs, budget, checked) => {
        const bytes = assemble(loopProgram(c));
        const mems = hs.map((h, i) => input(LEN, h.dst, h.src, h.n, h.value, i));
        const set: ProgramSet = { bytes, entries: [0, 0, 0], mems, budget, ...(checked ? { checked: true } : {}) };
        for (const optLevel of [0, 1] as const) {
          const loop = await runCompiled(set, fuzzHelpers, { optLevel, bulkMemory: false });
          const bulk = await runCompiled(set, fuzzHelpers, { optLevel });
          const problems = loop.flatMap((o, i) => sameOutcome(o, bulk[i]!, `-O${optLevel} mem ${i}, budget ${budget}`));
          stopped += loop.filter((o) => o.error?.code === ErrorCode.Budget).length;
          if (problems.length > 0) throw new Error(`${loopProgram(c)}\n${problems.join('\n')}`);
        }
      }), { seed: 0xb0d6e7, numRuns: 80 });
    expect(stopped).toBeGreaterThan(20);
  }, 600_000);
});

describe('copy and fill loops: the fast path is taken', () => {
  it('the bench memcpy kernel (1 MiB byte copy) compiles to memory.copy, and without bulkMemory to the loop alone, with the same result', async () => {
    // Whether the bulk path runs is shown by the code, not by timing it (npm run bench times it).
    const bytes = await loadKernel(ROOT, 'memcpy');
    const mem = new Uint8Array(2 << 20);
    for (let i = 0; i < mem.length / 2; i++) mem[i] = (i * 31 + 7) & 0xff;
    const wabt = await (await import('wabt')).default();
    const run = async (bulkMemory: boolean): Promise<[number, bigint, Uint8Array]> => {
      const { wasm } = await compile(bytes, { optLevel: 0, bulkMemory });
      const text = wabt.readWasm(wasm, { bulk_memory: true }).toText({});
      const copies = text.match(/memory\.copy/g)?.length ?? 0;
      const inst = await instantiate(wasm);
      const view = inst.dataView(mem.length);
      view.set(mem);
      inst.program().runInPlace(mem.length);
      return [copies, inst.lastResult(), view.slice()];
    };
    const [loopCopies, loopR0, loopMem] = await run(false);
    const [bulkCopies, bulkR0, bulkMem] = await run(true);
    expect(loopCopies).toBe(0);
    expect(bulkCopies).toBeGreaterThanOrEqual(1);
    expect(bulkR0).toBe(loopR0);
    expect(Buffer.compare(bulkMem, loopMem)).toBe(0);
    // The copy really happened: the upper half now holds the lower half's bytes.
    expect(Buffer.compare(bulkMem.subarray(0, 1 << 20), bulkMem.subarray(1 << 20))).toBe(0);
  });
});
