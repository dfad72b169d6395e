/**
 * Smoke test of the bench's suite part (scripts/bench/suite.ts) on a checkout-shaped directory
 * of this test's own kernels (`bpf_progs/*.bpf.c`, one with a `.mem` input and one without, one
 * naming its entry `main` as older checkouts do): every build runs, every result agrees, and
 * without a directory the bench says how to get the suite. Nothing about speed is asserted.
 * Skipped without clang.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchSuite, formatSuite, SUITE_HINT, suiteProgramsDir } from '../bench/suite.js';
import { ROOT } from '../../test/support/fixtures.js';

const clang = process.env['CLANG'] || 'clang';
const noClang = spawnSync(clang, ['--version']).status !== 0;

const SUM = `#include <sys/cdefs.h>
typedef unsigned long long u64;
static __always_inline u64 mix(u64 x) { return x * 7 + 1; }
u64 bpf_main(u64 *mem) {
  u64 acc = 0;
  for (u64 i = 1; i <= mem[0]; i++) acc += mix(mem[i]) % 1000;
  return acc;
}
`;
const COUNT = `int main() {
  int n = 0;
  for (unsigned i = 1; i < 500; i++) n += (i % 3 == 0) + (i % 5 == 0);
  return n;
}
`;

describe('bench part suite', () => {
  it('without a directory: the hint', () => {
    expect(SUITE_HINT).toMatch(/--suite/);
    expect(suiteProgramsDir(os.tmpdir() + '/no-such-suite-dir')).toBeNull();
  });

  it.skipIf(noClang)('builds and runs a checkout-shaped directory; every result agrees', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-suite-'));
    try {
      const progs = path.join(dir, 'bpf_progs');
      mkdirSync(progs);
      writeFileSync(path.join(progs, 'sum.bpf.c'), SUM);
      writeFileSync(path.join(progs, 'count.bpf.c'), COUNT);
      const mem = new DataView(new ArrayBuffer(8 * 5));
      [4n, 10n, 20n, 1n << 40n, 999n].forEach((v, i) => mem.setBigUint64(i * 8, v, true));
      writeFileSync(path.join(progs, 'sum.mem'), new Uint8Array(mem.buffer));
      expect(suiteProgramsDir(dir)).toBe(progs);

      const report = await benchSuite(dir, { root: ROOT, rounds: 1, minMs: 2 });
      expect(report.rows.map((r) => r.kernel)).toEqual(['count', 'sum']);
      const expected: Record<string, bigint> = {
        count: BigInt(Array.from({ length: 499 }, (_, i) => i + 1).reduce((n, i) => n + (i % 3 === 0 ? 1 : 0) + (i % 5 === 0 ? 1 : 0), 0)),
        sum: [10n, 20n, 1n << 40n, 999n].reduce((a, x) => a + ((x * 7n + 1n) % 1000n), 0n),
      };
      for (const row of report.rows) {
        expect(row.notes.filter((n) => !/wasm32 build failed/.test(n)), row.kernel).toEqual([]);
        expect(row.bpf2wasmResult, row.kernel).toBe(BigInt.asUintN(32, expected[row.kernel]!).toString());
        expect(row.nativeResult, row.kernel).toBe(row.bpf2wasmResult);
        expect(row.match, row.kernel).toBe(true);
        expect(row.o0Ns).not.toBeNull();
        expect(row.o1Ns).not.toBeNull();
      }
      expect(formatSuite(report)).toMatch(/load average/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
