/**
 * The instruction budget charged per loop iteration (compiler/rewrite/budget.ts): a loop pays
 * once per iteration, at its header, for the longest path through its body, and the straight-line
 * code, if-arms and merges inside it carry no counter. The smallest budget that lets a run finish
 * is computed by hand and found by bisection at every level; the interpreter counts each
 * instruction executed.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile } from '../compile.js';
import { instantiate, interpret } from '../../runtime/index.js';
import { BpfRuntimeError, ErrorCode } from '../../runtime/errors.js';

// Entry (2 insns) -> loop: header (2), an arm of 2 or 3, a merge (2) with the back edge -> exit (1).
const LOOP = assemble([
  'mov %r0, 0', 'mov %r1, 0',
  'loop:', 'add %r0, 1', 'jset %r1, 1, odd',
  'add %r0, 10', 'ja next',
  'odd:', 'add %r0, 100', 'add %r0, 100', 'add %r0, 100',
  'next:', 'add %r1, 1', 'jlt %r1, 10, loop',
  'exit',
].join('\n'));
const R0 = 10n + 5n * 10n + 5n * 300n;

/** The smallest budget with which `run` finishes (E_BUDGET below it). */
async function minBudget(run: (budget: number) => Promise<bigint>): Promise<number> {
  let [lo, hi] = [0, 256];
  expect(await run(hi)).toBe(R0);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    try {
      await run(mid);
      hi = mid;
    } catch (e) {
      if (!(e instanceof BpfRuntimeError) || e.code !== ErrorCode.Budget) throw e;
      lo = mid;
    }
  }
  return hi;
}

describe('the budget per loop iteration', () => {
  for (const optLevel of [0, 1, 2] as const) {
    it(`-O${optLevel}: the loop pays its longest path once per iteration, checked at its head`, async () => {
      // Entry pays 2; each iteration's check needs the 7 (2 + 3 + 2) of the iterations before it
      // and the entry's 2: the 10th check passes with 2 + 9 * 7 = 65 left to charge from.
      const got = await minBudget(async (budget) => {
        const { wasm } = await compile(LOOP, { optLevel, budget });
        return (await instantiate(wasm)).program().run();
      });
      expect(got).toBe(65);
    });
  }

  it('the interpreter counts every instruction executed (68: 2 + 5 * 6 + 5 * 7 + 1)', async () => {
    expect(await minBudget(async (budget) => interpret(LOOP, { budget }).program().run())).toBe(68);
  });
});
