/**
 * The optimisation levels against each other (part (f) of `npm run bench`), the measurement the
 * default level is decided from (cold start, part (g), is scripts/bench/cold.ts).
 *
 * (f) Every program of a corpus is compiled at -O0, -O1 and -O2 and timed at the three levels in
 *     interleaved rounds (round r times -O0, -O1, -O2 one batch each), so the three medians come
 *     from the same stretch of time on a noisy machine. The corpus: the kernels of
 *     test-programs/bench (data copied in once, `runInPlace`), and every program of every clang
 *     object in test-programs/c that runs without a fault on its input: packet programs (XDP,
 *     socket, tc) on the ICMP echo request of test-programs/examples through `test({ dataIn,
 *     repeat })` (the packet placed once per batch, only the runs timed), the others on 256 zero
 *     bytes through `runInPlace`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, compileObject } from '../../compiler/index.js';
import { instantiate } from '../../runtime/index.js';
import type { BpfInstance } from '../../runtime/index.js';
import { KERNELS, loadKernel } from './kernels.js';
import { median } from './stats.js';

/** One program's run time at each level (median ns per run). */
export interface LevelRow {
  /** `kernel:<name>` or `<object>:<program>`. */
  program: string;
  /** ns per run at -O0, -O1, -O2. */
  ns: [number, number, number];
}

const LEVELS = [0, 1, 2] as const;

interface Subject {
  program: string;
  /** Builds a timer of `n` runs (ns per run) at each level, or throws if it cannot run. */
  prepare(level: 0 | 1 | 2): Promise<(n: number) => number>;
}

function inPlaceTimer(inst: BpfInstance, name: string | undefined, mem: Uint8Array): (n: number) => number {
  const program = inst.program(name);
  const len = mem.length;
  inst.dataView(len).set(mem);
  program.runInPlace(len);
  return (n) => {
    inst.dataView(len).set(mem);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) program.runInPlace(len);
    return ((performance.now() - t0) * 1e6) / n;
  };
}

async function corpus(root: string, quick: boolean): Promise<Subject[]> {
  const subjects: Subject[] = [];
  for (const k of KERNELS) {
    const bytes = await loadKernel(root, k.name);
    const input = k.input(quick);
    subjects.push({
      program: `kernel:${k.name}`,
      prepare: async (optLevel) => inPlaceTimer(await instantiate((await compile(bytes, { optLevel })).wasm), undefined, input),
    });
  }
  const packet = new Uint8Array(await readFile(path.join(root, 'test-programs/examples/icmp-echo-request.pkt')));
  const dir = path.join(root, 'test-programs/c');
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.o')).sort()) {
    const obj = new Uint8Array(await readFile(path.join(dir, file)));
    let names: { name: string; context: string }[];
    try {
      names = (await compileObject(obj, { optLevel: 0 })).manifest.programs.map((p) => ({ name: p.name, context: p.context }));
    } catch {
      continue;
    }
    for (const { name, context } of names) {
      subjects.push({
        program: `${file.replace(/\.o$/, '')}:${name}`,
        prepare: async (optLevel) => {
          const inst = await instantiate((await compileObject(obj, { optLevel })).wasm, { trace: () => {} });
          const p = inst.program(name);
          if (context === 'xdp_md' || context === '__sk_buff') {
            p.test({ dataIn: packet });
            return (n) => p.test({ dataIn: packet, repeat: n }).durationNs;
          }
          return inPlaceTimer(inst, name, new Uint8Array(256));
        },
      });
    }
  }
  return subjects;
}

/**
 * (f) Run time of the corpus at each level, interleaved. `minMs` is the time per level and
 * program; programs that fault at some level (they need an input this harness does not give)
 * are left out.
 */
export async function benchLevels(root: string, quick: boolean, minMs: number, log: (m: string) => void): Promise<LevelRow[]> {
  const rows: LevelRow[] = [];
  const rounds = quick ? 3 : 9;
  for (const s of await corpus(root, quick)) {
    let timers: Array<(n: number) => number>;
    try {
      timers = [];
      for (const l of LEVELS) timers.push(await s.prepare(l));
    } catch {
      continue;
    }
    // Batch size from a short calibration at -O0, so each batch takes ~minMs / rounds.
    let n = 1;
    for (;;) {
      const ns = timers[0]!(n);
      if (ns * n > 2e6 || n >= 1 << 24) {
        n = Math.max(1, Math.round(((minMs / rounds) * 1e6) / Math.max(ns, 1)));
        break;
      }
      n *= 4;
    }
    const samples: number[][] = [[], [], []];
    for (let r = 0; r < rounds; r++) for (const l of LEVELS) samples[l]!.push(timers[l]!(n));
    const ns = samples.map(median) as [number, number, number];
    rows.push({ program: s.program, ns });
    log(`levels ${s.program}: -O0 ${ns[0].toFixed(0)} ns, -O1 ${ns[1].toFixed(0)} ns, -O2 ${ns[2].toFixed(0)} ns`);
  }
  return rows;
}
