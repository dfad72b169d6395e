/**
 * The optimisation levels against each other (part (f) of `npm run bench`) and cold start
 * (part (g)), the measurements the default level is decided from.
 *
 * (f) Every program of a corpus is compiled at -O0, -O1 and -O2 and timed at the three levels in
 *     interleaved rounds (round r times -O0, -O1, -O2 one batch each), so the three medians come
 *     from the same stretch of time on a noisy machine. The corpus: the kernels of
 *     test-programs/bench (data copied in once, `runInPlace`), and every program of every clang
 *     object in test-programs/c that runs without a fault on its input: packet programs (XDP,
 *     socket, tc) on the ICMP echo request of test-programs/examples through `test({ dataIn,
 *     repeat })` (the packet placed once per batch, only the runs timed), the others on 256 zero
 *     bytes through `runInPlace`.
 * (g) A fresh `node` process per sample imports the compiler and the runtime, then compiles,
 *     instantiates and runs once a 100-instruction program (scripts/bench/genprog.ts) and a clang
 *     object with a map (test-programs/c/xdp_drop_icmp.o), at each level; the import and the rest
 *     are reported apart (the target is the time after the import).
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

/** Cold start in a fresh process at one level (medians over the samples, ms). */
export interface ColdRow {
  what: string;
  optLevel: 0 | 1 | 2;
  importMs: number;
  /** Compile + instantiate + first run, after the import. */
  afterImportMs: number;
  /** The compile alone (the rest of afterImportMs is instantiate + first run). */
  compileMs: number;
  samples: number;
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

/** The script a fresh process runs for (g); prints one JSON line. */
const COLD_SCRIPT = `
const [distRoot, level, what, objPath] = process.argv.slice(1);
const t0 = performance.now();
const { compile, compileObject } = await import(distRoot + '/compiler/index.js');
const { instantiate } = await import(distRoot + '/runtime/index.js');
const { generateProgram } = await import(distRoot + '/scripts/bench/genprog.js');
const { readFileSync } = await import('node:fs');
const input = what === 'object' ? new Uint8Array(readFileSync(objPath)) : generateProgram(100);
const t1 = performance.now();
const optLevel = Number(level);
const out = what === 'object' ? await compileObject(input, { optLevel }) : await compile(input, { optLevel });
const tc = performance.now();
const inst = await instantiate(out.wasm);
inst.program().run(new Uint8Array(64));
const t2 = performance.now();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, afterImportMs: t2 - t1, compileMs: tc - t1 }) + '\\n');
`;

/** (g) Cold start in fresh `node` processes, `samples` per level and subject, interleaved. */
export function benchColdStart(root: string, samples: number, log: (m: string) => void, levels: readonly (0 | 1 | 2)[] = LEVELS): ColdRow[] {
  // The built package: this file's own tree when it runs from dist/, else the project's dist/.
  const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const distRoot = existsSync(path.join(here, 'compiler', 'index.js')) ? here : path.join(root, 'dist');
  if (!existsSync(path.join(distRoot, 'compiler', 'index.js'))) throw new Error(`no built package at ${distRoot} (npm run build)`);
  const obj = path.join(root, 'test-programs/c/xdp_drop_icmp.o');
  const rows: ColdRow[] = [];
  for (const what of ['filter', 'object'] as const) {
    const got: Array<{ importMs: number; afterImportMs: number; compileMs: number }[]> = [[], [], []];
    for (let i = 0; i < samples; i++) {
      for (const l of levels) {
        const out = execFileSync(process.execPath, ['--input-type=module', '-e', COLD_SCRIPT, distRoot, String(l), what, obj], { encoding: 'utf8' });
        got[l]!.push(JSON.parse(out.trim()) as { importMs: number; afterImportMs: number; compileMs: number });
      }
    }
    for (const l of levels) {
      const row: ColdRow = {
        what: what === 'filter' ? '100-insn program' : 'xdp_drop_icmp.o (1 map)',
        optLevel: l,
        importMs: median(got[l]!.map((g) => g.importMs)),
        afterImportMs: median(got[l]!.map((g) => g.afterImportMs)),
        compileMs: median(got[l]!.map((g) => g.compileMs)),
        samples,
      };
      rows.push(row);
      log(`cold ${row.what} -O${l}: import ${row.importMs.toFixed(1)} ms, then ${row.afterImportMs.toFixed(1)} ms`);
    }
  }
  return rows;
}
