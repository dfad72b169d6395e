/**
 * Smoke test of `npm run bench`: runs the bench in --quick mode in-process and checks that every
 * kernel's eBPF result (r0 of the Wasm run) equals the native result. It asserts nothing about
 * speed. Without a C compiler the native comparison is skipped.
 */
import { describe, expect, it } from 'vitest';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { formatReport, parseBenchArgs, reportJson, runBench } from '../bench.js';
import { FLOOR_LABEL } from '../bench/cold.js';
import { generateProgram } from '../bench/genprog.js';
import { KERNELS } from '../bench/kernels.js';
import { nativeUnavailable } from '../bench/native.js';

const noNative = nativeUnavailable();
if (noNative) console.warn(`bench smoke test: skipping the native comparison: ${noNative}`);

describe('bench', () => {
  it('parses --quick, --json and --part NAME (repeatable); anything else is a usage error', () => {
    expect(parseBenchArgs([])).toEqual({ quick: false, json: false });
    expect(parseBenchArgs(['--part', 'packet', '--quick', '--part', 'maps'])).toEqual({ quick: true, json: false, parts: ['packet', 'maps'] });
    for (const bad of [['--part'], ['--part', 'nope'], ['--fast'], ['packet']]) expect(parseBenchArgs(bad), bad.join(' ')).toMatchObject({ status: 2 });
    expect(parseBenchArgs(['--help'])).toMatchObject({ status: 0 });
    // --help names the suite part's flags, --ubpf included.
    expect(parseBenchArgs(['--help'])).toMatchObject({ usage: expect.stringMatching(/--suite DIR \[--ubpf UBPF\]/) });
  });

  it('generates valid programs of the exact size', () => {
    for (const n of [64, 1_000, 10_000]) {
      const bytes = generateProgram(n);
      expect(bytes.length).toBe(n * 8);
      const program = decodeProgram(bytes);
      expect(program.slotCount).toBe(n);
      expect(() => buildCfg(program)).not.toThrow();
      expect(generateProgram(n)).toEqual(bytes);
    }
  });

  it.skipIf(noNative !== null)(
    `--quick: every kernel's eBPF result equals the native one${noNative ? ` (skipped: ${noNative})` : ''}`,
    async () => {
      const report = await runBench({ quick: true, progress: false });

      expect(report.run.map((r) => r.kernel)).toEqual(KERNELS.map((k) => k.name));
      for (const row of report.run) {
        expect({ kernel: row.kernel, result: row.wasmResult }).toEqual({ kernel: row.kernel, result: row.nativeResult });
        expect(row.match).toBe(true);
      }
      // Known values of the kernels on their inputs (native and eBPF agree on them above).
      expect(report.run.find((r) => r.kernel === 'primes')?.wasmResult).toBe('1229');
      expect(report.run.find((r) => r.kernel === 'strcmp')?.wasmResult).toBe(String(1 << 20));

      expect(report.compile.some((r) => r.insnsPerSec !== null)).toBe(true);
      expect(report.call.length).toBeGreaterThan(0);
      expect(report.targets.map((t) => t.name)).toHaveLength(14);
      // Sizes bundled from dist/ (esbuild is a dev dependency) and cold start in Chromium (or why not).
      expect(report.sizes.map((r) => r.file)).toEqual(['runtime/index.js', 'compiler/index.js']);
      for (const r of report.sizes) expect(r.gzipped).toBeLessThan(r.minified);
      // The runtime split: what loads at start is less than the one file, the object runtime on demand.
      const split = report.sizes[0]!.split!;
      expect(split.start).toBeLessThan(report.sizes[0]!.minified);
      expect(split.chunks.filter((c) => c.loaded === 'on demand').map((c) => c.name)).toContain('runtime/object.js');
      expect(report.coldBrowser.map((r) => `${r.build} ${r.visit}`)).toEqual([
        'bundle 1', 'modules 1', 'bundle 1', 'modules 1', 'bundle 1', 'bundle 3', 'bundle 3',
      ]);
      // The third visits (a profile on disk) run where the first ones do.
      for (const r of report.coldBrowser.slice(5)) expect(r.skipped).toBe(report.coldBrowser[0]!.skipped);
      // The floor row: V8's first module alone, after the same import (no project code runs in it).
      const floor = report.coldBrowser[4]!;
      expect(floor.what).toBe(FLOOR_LABEL);
      if (floor.skipped === undefined) expect(floor.compileMs!).toBeLessThanOrEqual(floor.afterImportMs!);
      expect(report.cold.filter((r) => r.what === FLOOR_LABEL).map((r) => r.build)).toEqual(['bundle']);
      // In Node, the package's Node entries next to the bundle; V8 took their code caches (built by this Node).
      const nodeRows = report.cold.filter((r) => r.build === 'node');
      expect(nodeRows.map((r) => r.optLevel)).toEqual([0, 0]);
      for (const r of nodeRows) expect(r.codeCache).toBe('accepted');
      for (const r of report.coldBrowser) expect(r.skipped !== undefined || r.afterImportMs! > 0).toBe(true);
      // The levels compared on the kernels at least (each faulting-free program at all three).
      expect(report.levels.map((r) => r.program)).toEqual(expect.arrayContaining(KERNELS.map((k) => `kernel:${k.name}`)));
      for (const r of report.levels) for (const ns of r.ns) expect(ns).toBeGreaterThan(0);
      // The packet part: the batch path and the per-frame path have figures (native and kernel where possible).
      expect(report.packet.find((r) => r.path.includes('packed'))?.nsPerFrame).toBeGreaterThan(0);
      expect(report.packet.find((r) => r.path.includes('per frame'))?.nsPerFrame).toBeGreaterThan(0);
      // The clang map program computed its sums through both maps.
      expect(report.maps.map((r) => [r.map.split(' ')[0], r.ok])).toEqual([['hash10k', true], ['array10k', true]]);
      // The safety variants compute what the plain code computes (timings only differ).
      expect(report.safety.map((r) => [r.kernel, r.sameResult])).toEqual(KERNELS.map((k) => [k.name, true]));
      expect(formatReport(report)).toContain('summary vs targets:');
      expect(JSON.parse(reportJson(report)).run).toHaveLength(KERNELS.length);
    },
    180_000,
  );
});
