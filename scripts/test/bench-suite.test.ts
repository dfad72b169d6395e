/**
 * Smoke test of the bench's suite part (scripts/bench/suite.ts) on a checkout-shaped directory
 * of this test's own kernels (`bpf_progs/*.bpf.c`, one with a `.mem` input and one without, one
 * naming its entry `main` as older checkouts do): every build runs, every result agrees, and
 * without a directory the bench says how to get the suite. Nothing about speed is asserted.
 * Skipped without clang. The `--suite`/`--ubpf` command line and the uBPF directory checks need
 * no uBPF; the uBPF column itself runs only when UBPF_DIR names a built uBPF checkout (skipped
 * otherwise).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  benchSuite, formatSuite, locateUbpf, parseSuiteArgs, SUITE_HINT, SuiteArgError, suiteMain, suiteProgramsDir, UBPF_HINT,
} from '../bench/suite.js';
import { ROOT } from '../../test/support/fixtures.js';

const clang = process.env['CLANG'] || 'clang';
const noClang = spawnSync(clang, ['--version']).status !== 0;
/** A built uBPF checkout to run the uBPF column against (optional). */
const ubpfDir = process.env['UBPF_DIR'];

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

const XOR = `typedef unsigned long long u64;
u64 bpf_main(unsigned char *mem) {
  u64 h = 0;
  for (int i = 0; i < 64; i++) h = (h << 5) + (h >> 3) + (mem[i] ^ (u64)i);
  return h;
}
`;

const EXPECTED: Record<string, bigint> = {
  count: BigInt(Array.from({ length: 499 }, (_, i) => i + 1).reduce((n, i) => n + (i % 3 === 0 ? 1 : 0) + (i % 5 === 0 ? 1 : 0), 0)),
  sum: [10n, 20n, 1n << 40n, 999n].reduce((a, x) => a + ((x * 7n + 1n) % 1000n), 0n),
};

/** A checkout-shaped directory of this test's two kernels: `dir/bpf_progs/{count,sum}.bpf.c`. */
async function checkout(): Promise<{ dir: string; progs: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-suite-'));
  const progs = path.join(dir, 'bpf_progs');
  mkdirSync(progs);
  writeFileSync(path.join(progs, 'sum.bpf.c'), SUM);
  writeFileSync(path.join(progs, 'count.bpf.c'), COUNT);
  const mem = new DataView(new ArrayBuffer(8 * 5));
  [4n, 10n, 20n, 1n << 40n, 999n].forEach((v, i) => mem.setBigUint64(i * 8, v, true));
  writeFileSync(path.join(progs, 'sum.mem'), new Uint8Array(mem.buffer));
  return { dir, progs };
}

describe('bench part suite', () => {
  it('without a directory: the hint', () => {
    expect(SUITE_HINT).toMatch(/--suite/);
    expect(suiteProgramsDir(os.tmpdir() + '/no-such-suite-dir')).toBeNull();
  });

  it.skipIf(noClang)('builds and runs a checkout-shaped directory; every result agrees', async () => {
    const { dir, progs } = await checkout();
    try {
      expect(suiteProgramsDir(dir)).toBe(progs);

      const report = await benchSuite(dir, { root: ROOT, rounds: 1, minMs: 2 });
      expect(report.rows.map((r) => r.kernel)).toEqual(['count', 'sum']);
      for (const row of report.rows) {
        expect(row.notes.filter((n) => !/wasm32 build failed/.test(n)), row.kernel).toEqual([]);
        expect(row.bpf2wasmResult, row.kernel).toBe(BigInt.asUintN(32, EXPECTED[row.kernel]!).toString());
        expect(row.nativeResult, row.kernel).toBe(row.bpf2wasmResult);
        expect(row.match, row.kernel).toBe(true);
        expect(row.o0Ns).not.toBeNull();
        expect(row.o1Ns).not.toBeNull();
        expect(row.o0JsCallNs).not.toBeNull();
        // No --ubpf: no uBPF column, and the report says how to get one.
        expect(row.ubpfNs).toBeNull();
        expect(row.ubpfResult).toBeNull();
      }
      expect(report.ubpf).toBeNull();
      const text = formatSuite(report);
      expect(text).toMatch(/load average/);
      expect(text).toMatch(/bpf2wasm runs loop inside Wasm/);
      expect(text).toMatch(/called from JS once per run .*: count [0-9.]+ [nµm]?s, sum [0-9.]+ [nµm]?s/);
      expect(text).toContain(UBPF_HINT.split('\n')[0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it.skipIf(noClang || !ubpfDir)('with UBPF_DIR: the uBPF JIT column runs, and a differing r0 is marked', async () => {
    const { dir, progs } = await checkout();
    // Loads, shifts, xor and add only: any uBPF version must agree on it.
    writeFileSync(path.join(progs, 'xor.bpf.c'), XOR);
    writeFileSync(path.join(progs, 'xor.mem'), new Uint8Array(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 255)));
    try {
      const report = await benchSuite(dir, { root: ROOT, rounds: 1, minMs: 2, ubpf: ubpfDir! });
      expect(report.warnings).toEqual([]);
      expect(report.ubpf?.lib).toMatch(/libubpf\.a$/);
      for (const row of report.rows) {
        expect(row.ubpfNs, row.kernel).not.toBeNull();
        expect(row.ubpfResult, row.kernel).not.toBeNull();
        // The column takes part in the check: a uBPF r0 that differs makes the row ✗.
        expect(row.match, row.kernel).toBe(row.ubpfResult === row.bpf2wasmResult && row.nativeResult === row.bpf2wasmResult);
      }
      const xor = report.rows.find((r) => r.kernel === 'xor')!;
      expect(xor.ubpfResult).toBe(xor.nativeResult);
      expect(xor.match).toBe(true);
      expect(formatSuite(report)).toMatch(/geomean bpf2wasm vs uBPF JIT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('bench part suite: --suite and --ubpf on the command line', () => {
  it('neither flag: not the suite part', () => {
    expect(parseSuiteArgs([])).toBeNull();
    expect(parseSuiteArgs(['--quick', '--part', 'run'])).toBeNull();
  });

  it('--suite DIR, with --ubpf UBPF, --quick and --json in any order', () => {
    expect(parseSuiteArgs(['--suite', 'a'])).toEqual({ suite: 'a', quick: false, json: false });
    expect(parseSuiteArgs(['--json', '--ubpf', 'u', '--suite', 'a', '--quick'])).toEqual({ suite: 'a', ubpf: 'u', quick: true, json: true });
  });

  it('--suite without a directory: how to get the suite', () => {
    expect(parseSuiteArgs(['--suite'])).toEqual({ status: 2, out: SUITE_HINT });
    expect(parseSuiteArgs(['--suite', '--quick'])).toEqual({ status: 2, out: SUITE_HINT });
  });

  it('bad uses of --ubpf: a message and status 2', () => {
    expect(parseSuiteArgs(['--suite', 'a', '--ubpf'])).toMatchObject({ status: 2, error: expect.stringMatching(/--ubpf needs a directory/), out: UBPF_HINT });
    expect(parseSuiteArgs(['--ubpf', 'u'])).toMatchObject({ status: 2, error: '--ubpf DIR goes with --suite DIR' });
    expect(parseSuiteArgs(['--suite', 'a', '--ubpf', 'u', '--ubpf', 'v'])).toMatchObject({ status: 2, error: '--ubpf given twice' });
    expect(parseSuiteArgs(['--suite', 'a', '--part', 'run'])).toMatchObject({ status: 2, error: 'unknown argument --part with --suite' });
  });
});

describe('bench part suite: the --ubpf directory', () => {
  const made: string[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tmp = async (): Promise<string> => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'bench-ubpf-'));
    made.push(d);
    return d;
  };

  it('missing, not a directory, no ubpf.h, no libubpf.a: a SuiteArgError saying which', async () => {
    const d = await tmp();
    expect(() => locateUbpf(path.join(d, 'none'))).toThrow(SuiteArgError);
    expect(() => locateUbpf(path.join(d, 'none'))).toThrow(`--ubpf ${path.join(d, 'none')}: no such directory`);
    writeFileSync(path.join(d, 'file'), '');
    expect(() => locateUbpf(path.join(d, 'file'))).toThrow(/: not a directory$/);
    expect(() => locateUbpf(d)).toThrow(/no vm\/inc\/ubpf\.h/);
    mkdirSync(path.join(d, 'vm', 'inc'), { recursive: true });
    writeFileSync(path.join(d, 'vm', 'inc', 'ubpf.h'), '');
    expect(() => locateUbpf(d)).toThrow(/no libubpf\.a under it; build uBPF first \(cmake -S/);
  });

  it('a CMake-shaped build: ubpf.h, the generated ubpf_config.h and libubpf.a are found', async () => {
    const d = await tmp();
    mkdirSync(path.join(d, 'vm', 'inc'), { recursive: true });
    mkdirSync(path.join(d, 'build', 'vm'), { recursive: true });
    mkdirSync(path.join(d, 'build', 'lib'), { recursive: true });
    writeFileSync(path.join(d, 'vm', 'inc', 'ubpf.h'), '');
    writeFileSync(path.join(d, 'build', 'vm', 'ubpf_config.h'), '');
    writeFileSync(path.join(d, 'build', 'lib', 'libubpf.a'), '');
    expect(locateUbpf(d)).toEqual({
      dir: d, include: [path.join(d, 'vm', 'inc'), path.join(d, 'build', 'vm')], lib: path.join(d, 'build', 'lib', 'libubpf.a'),
    });
  });

  it('the bench with a missing --ubpf directory: one line on stderr, status 2, no stack', async () => {
    const d = await tmp();
    mkdirSync(path.join(d, 'bpf_progs'));
    writeFileSync(path.join(d, 'bpf_progs', 'count.bpf.c'), COUNT);
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const status = await suiteMain(['--suite', d, '--ubpf', path.join(d, 'no-ubpf')], ROOT);
    expect(status).toBe(2);
    expect(err).toEqual([`bench: --ubpf ${path.join(d, 'no-ubpf')}: no such directory\n`]);
  });

  it('the bench with a missing --suite directory: one line on stderr, status 2', async () => {
    const d = await tmp();
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(await suiteMain(['--suite', path.join(d, 'none')], ROOT)).toBe(2);
    expect(err).toEqual([`bench: --suite ${path.join(d, 'none')}: no bpf_progs/*.bpf.c (expected a checkout of eunomia-bpf/bpf-benchmark)\n`]);
  });

  it.skipIf(noClang)('a --ubpf directory whose build is not a uBPF: the column is empty, with the reason', async () => {
    const { dir } = await checkout();
    made.push(dir);
    const u = await tmp();
    mkdirSync(path.join(u, 'vm', 'inc'), { recursive: true });
    writeFileSync(path.join(u, 'vm', 'inc', 'ubpf.h'), '/* not uBPF */\n');
    writeFileSync(path.join(u, 'libubpf.a'), 'not an archive');
    const report = await benchSuite(dir, { root: ROOT, rounds: 1, minMs: 2, ubpf: u });
    expect(report.warnings.some((w) => w.startsWith('uBPF harness (against '))).toBe(true);
    for (const row of report.rows) {
      expect(row.ubpfNs, row.kernel).toBeNull();
      expect(row.match, row.kernel).toBe(true);
    }
  }, 120_000);
});
