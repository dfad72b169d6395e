/**
 * 64-bit division and modulo on 32-bit values done in 32 bits (compiler/rewrite/narrow-div.ts):
 * generated blocks that make operands known below 2^32 in each of the ways the analysis knows (or
 * in ways it must not trust), then divide, run by the interpreter (the reference) and compiled at
 * every level; and clang -O3's trial division (test-programs/suite-shapes/shapes_O3.o, rebuilt by
 * scripts/build-suite-shapes.sh) really divides in 32 bits.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile } from '../compile.js';
import { parseElf } from '../elf/elf64.js';
import { extractProgram } from '../elf/extract.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { insnsOf } from '../../runtime/isa/insn.js';
import { findNarrowDivisions } from '../rewrite/narrow-div.js';
import { checkDifferential, singleProgram, type ProgramSet } from '../../scripts/fuzz/harness.js';
import { ROOT } from '../../test/support/fixtures.js';

/** How an operand register gets its value: some make it known below 2^32, some must not. */
const PREP = [
  (r: number) => [`lsh %r${r}, 32`, `rsh %r${r}, 32`],
  (r: number) => [`and %r${r}, 0xffff`],
  (r: number) => [`mov32 %r${r}, %r${r}`],
  (r: number) => [`ldxw %r${r}, [%r1+${8 * (r - 2)}]`],
  (r: number) => [`ldxh %r${r}, [%r1+${8 * (r - 2)}]`],
  (r: number) => [`rsh %r${r}, 33`],
  (r: number) => [`mov %r${r}, 77`],
  // Not known: a 64-bit value, a shift by less than 32, an and with a negative mask, a signed
  // load, a sign-extending move, a negative immediate.
  (r: number) => [],
  (r: number) => [`rsh %r${r}, 31`],
  (r: number) => [`and %r${r}, -2`],
  (r: number) => [`ldxsw %r${r}, [%r1+${8 * (r - 2)}]`],
  (r: number) => [`movsx3264 %r${r}, %r${r}`],
  (r: number) => [`mov %r${r}, -5`],
  (r: number) => [`lsh %r${r}, 32`, `rsh %r${r}, 32`, `add %r${r}, %r${r}`],
] as const;

interface DivCase {
  a: number;
  b: number;
  op: 'div' | 'mod';
  imm: number | null;
  then: 'div' | 'mod' | null;
  values: [bigint, bigint];
}

const arbU64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 20n }),
  fc.constantFrom(0n, 1n, 0xffffffffn, 0x100000000n, 0x1_0000_0007n, (1n << 64n) - 1n, 1n << 63n, 0x8000_0000n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);

const arbCase: fc.Arbitrary<DivCase> = fc.record({
  a: fc.integer({ min: 0, max: PREP.length - 1 }),
  b: fc.integer({ min: 0, max: PREP.length - 1 }),
  op: fc.constantFrom('div' as const, 'mod' as const),
  imm: fc.option(fc.constantFrom(0, 1, 3, 7, 1000, -1, -7, 0x7fffffff), { nil: null }),
  then: fc.constantFrom(null, 'div' as const, 'mod' as const),
  values: fc.tuple(arbU64, arbU64),
});

function program(c: DivCase): string {
  const lines = ['ldxdw %r2, [%r1+0]', 'ldxdw %r3, [%r1+8]', ...PREP[c.a]!(2), ...PREP[c.b]!(3)];
  lines.push(c.imm === null ? `${c.op} %r2, %r3` : `${c.op} %r2, ${c.imm}`);
  // A second division on the first one's result (a quotient or remainder stays known).
  if (c.then) lines.push(`${c.then} %r2, %r3`);
  lines.push('mov %r0, %r2', 'exit');
  return lines.join('\n');
}

function memOf(values: readonly bigint[]): Uint8Array {
  const mem = new Uint8Array(16);
  const view = new DataView(mem.buffer);
  values.forEach((v, i) => view.setBigUint64(i * 8, v, true));
  return mem;
}

function narrowed(bytes: Uint8Array): number {
  const program = decodeProgram(bytes);
  const cfg = buildCfg(program, [0]);
  return cfg.functions.reduce((n, fn) => n + findNarrowDivisions(fn.blocks, insnsOf(program)).size, 0);
}

async function watOf(wasm: Uint8Array): Promise<string> {
  const wabt = await (await import('wabt')).default();
  const mod = wabt.readWasm(wasm, {});
  try {
    return mod.toText({});
  } finally {
    mod.destroy();
  }
}

describe('64-bit division on 32-bit values', () => {
  it('generated operands agree with the interpreter at every level, narrowed or not', async () => {
    let withNarrow = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(arbCase, async (c) => {
        runs++;
        const bytes = assemble(program(c));
        if (narrowed(bytes) > 0) withNarrow++;
        const [x, y] = c.values;
        const set: ProgramSet = { bytes, entries: [0, 0, 0], mems: [memOf([x, y]), memOf([y, x]), memOf([x, 0n])] };
        const problems = await checkDifferential(set, { levels: [0, 1, 2] });
        if (problems.length > 0) throw new Error(`${program(c)}\n${problems.join('\n')}`);
      }),
      { seed: 0x32d1f, numRuns: 150 },
    );
    // Both sides of the analysis are exercised.
    expect(withNarrow).toBeGreaterThan(runs / 5);
    expect(withNarrow).toBeLessThan(runs);
  }, 240_000);

  it('only operands known below 2^32 are narrowed', () => {
    expect(narrowed(assemble('ldxdw %r2, [%r1+0]\nlsh %r2, 32\nrsh %r2, 32\nmov32 %r3, 7\ndiv %r2, %r3\nmov %r0, %r2\nexit'))).toBe(1);
    // The divisor is a full 64-bit value.
    expect(narrowed(assemble('ldxdw %r2, [%r1+0]\nlsh %r2, 32\nrsh %r2, 32\nldxdw %r3, [%r1+8]\ndiv %r2, %r3\nmov %r0, %r2\nexit'))).toBe(0);
    // A helper call clobbers r1-r5: what was known before it is not after.
    expect(narrowed(assemble('mov32 %r2, 9\nmov32 %r3, 7\ncall 5\ndiv %r2, %r3\nmov %r0, %r2\nexit'))).toBe(0);
    // Facts do not cross blocks.
    expect(narrowed(assemble('mov32 %r2, 9\nmov32 %r3, 7\nja next\nnext:\ndiv %r2, %r3\nmov %r0, %r2\nexit'))).toBe(0);
  });

  it('clang -O3\'s trial division divides in 32 bits and agrees with the interpreter', async () => {
    const file = readFileSync(path.join(ROOT, 'test-programs', 'suite-shapes', 'shapes_O3.o'));
    const bytes = extractProgram(parseElf(new Uint8Array(file.buffer, file.byteOffset, file.byteLength)), { section: '.text', symbol: 'trial_div' });
    expect(narrowed(bytes)).toBeGreaterThanOrEqual(1);
    const text = await watOf((await compile(bytes, { optLevel: 0 })).wasm);
    expect(text).toMatch(/i32\.div_u|i32\.rem_u/);
    expect(text).not.toMatch(/i64\.div_u/);
    for (const extra of [{}, { checked: true }, { budget: 10_000_000 }]) {
      expect(await checkDifferential({ ...singleProgram(bytes, new Uint8Array(16)), ...extra }, { levels: [0, 1, 2] })).toEqual([]);
    }
  });
});
