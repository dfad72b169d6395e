/**
 * Compiler A/B: two built trees of the project (each ROOT has its `dist/`, e.g. a `git archive` of
 * main next to this worktree), loaded into one process.
 *
 *   node dist/scripts/bench/compile-ab.js [--identity] [--runs N] [--sizes 10000,100000] BEFORE AFTER
 *
 * `--identity` compiles every program of the shared conformance suite (raw and asm files) and every
 * object under test-programs/ with both trees, at the default level plus checked, budget and
 * split (tiny chunks) builds and at -O1 for the objects, and generated programs of 1k to 1M
 * instructions, and fails if any module's bytes differ.
 * Otherwise it times -O0 compiles of synthetic programs (scripts/bench/genprog.ts): warm-up first,
 * then BEFORE and AFTER alternately, `--runs` times each (default 11), and prints the medians, the
 * instructions per second and the ratio, with the load average before and after.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Tree {
  root: string;
  compile: (bytes: Uint8Array, options?: Record<string, unknown>) => Promise<{ wasm: Uint8Array }>;
  compileObject: (bytes: Uint8Array, options?: Record<string, unknown>) => Promise<{ wasm: Uint8Array }>;
  assemble: (text: string) => Uint8Array;
  parseDataFile: (text: string) => { asm?: string; raw?: Uint8Array };
  generateProgram: (n: number, seed?: number) => Uint8Array;
}

async function load(root: string): Promise<Tree> {
  const url = (p: string): string => pathToFileURL(path.join(root, 'dist', p)).href;
  const c = (await import(url('compiler/index.js'))) as Pick<Tree, 'compile' | 'compileObject' | 'assemble'>;
  const d = (await import(url('compiler/asm/datafile.js'))) as Pick<Tree, 'parseDataFile'>;
  const g = (await import(url('scripts/bench/genprog.js'))) as Pick<Tree, 'generateProgram'>;
  return { root, compile: c.compile, compileObject: c.compileObject, assemble: c.assemble, parseDataFile: d.parseDataFile, generateProgram: g.generateProgram };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function objectsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...objectsUnder(p));
    else if (e.endsWith('.o')) out.push(p);
  }
  return out.sort();
}

/** Compiles with both trees; a failure counts as output (its message must match too). */
async function both(a: Tree, b: Tree, run: (t: Tree) => Promise<{ wasm: Uint8Array }>): Promise<'same' | 'differ' | 'both-fail'> {
  const outcome = async (t: Tree): Promise<Uint8Array | string> => {
    try {
      return (await run(t)).wasm;
    } catch (e) {
      return `error: ${(e as Error).message}`;
    }
  };
  const x = await outcome(a);
  const y = await outcome(b);
  if (typeof x === 'string' || typeof y === 'string') return x === y ? 'both-fail' : 'differ';
  return same(x, y) ? 'same' : 'differ';
}

async function identity(before: Tree, after: Tree, repo: string): Promise<boolean> {
  let compared = 0;
  let failed = 0;
  // chunkInsns (internal) splits even small functions into chunks (compiler/lower/split.ts).
  const variants: Array<Record<string, unknown>> = [
    {}, { checked: true }, { budget: 1_000_000 }, { mapAllInstructions: true }, { chunkInsns: 4 }, { chunkInsns: 16, budget: 1_000_000 },
  ];
  const conformance = path.join(repo, '..', 'shared', 'conformance', 'tests');
  const dataDirs = [conformance, path.join(repo, 'test-programs')].filter(existsSync);
  const dataFiles: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      const p = path.join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.data')) dataFiles.push(p);
    }
  };
  dataDirs.forEach(walk);
  for (const file of dataFiles.sort()) {
    let bytes: Uint8Array;
    try {
      const data = after.parseDataFile(readFileSync(file, 'utf8'));
      const raw = data.raw ?? (data.asm !== undefined ? after.assemble(data.asm) : undefined);
      if (!raw) continue;
      bytes = raw;
    } catch {
      continue;
    }
    for (const v of variants) {
      const r = await both(before, after, (t) => t.compile(bytes, v));
      compared++;
      if (r === 'differ') {
        failed++;
        process.stdout.write(`DIFFERS: ${path.relative(repo, file)} ${JSON.stringify(v)}\n`);
      }
    }
  }
  for (const file of objectsUnder(path.join(repo, 'test-programs'))) {
    const bytes = new Uint8Array(readFileSync(file));
    for (const v of [...variants, { optLevel: 1 }]) {
      const r = await both(before, after, (t) => t.compileObject(bytes, v));
      compared++;
      if (r === 'differ') {
        failed++;
        process.stdout.write(`DIFFERS: ${path.relative(repo, file)} ${JSON.stringify(v)}\n`);
      }
    }
  }
  for (const n of [1_000, 10_000, 100_000, 250_000, 1_000_000]) {
    const prog = after.generateProgram(n);
    const r = await both(before, after, (t) => t.compile(prog));
    compared++;
    if (r === 'differ') {
      failed++;
      process.stdout.write(`DIFFERS: generated ${n}\n`);
    }
  }
  process.stdout.write(`${compared} compiles compared (${dataFiles.length} data files), ${failed} differ\n`);
  return failed === 0 && compared > 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timing(trees: Tree[], sizes: number[], runs: number): Promise<void> {
  const load0 = os.loadavg();
  const warm = trees[0]!.generateProgram(1_000, 2);
  for (let i = 0; i < 30; i++) for (const t of trees) await t.compile(warm);
  for (const n of sizes) {
    const prog = trees[0]!.generateProgram(n);
    for (let i = 0; i < 2; i++) for (const t of trees) await t.compile(prog);
    const times = trees.map((): number[] => []);
    const cpu = trees.map((): number[] => []);
    for (let r = 0; r < runs; r++) {
      // Alternate the order, so neither tree always runs right after the other's garbage.
      const order = r % 2 === 0 ? trees.map((_, i) => i) : trees.map((_, i) => trees.length - 1 - i);
      for (const i of order) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await trees[i]!.compile(prog);
        times[i]!.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu[i]!.push((c.user + c.system) / 1000);
      }
    }
    // CPU time (this process, all its threads: the garbage collector's helpers too) moves less
    // than wall time when other jobs share the machine.
    const meds = times.map(median);
    const cpuMeds = cpu.map(median);
    const line = trees.map((t, i) => `${path.basename(t.root)} ${meds[i]!.toFixed(2)} ms (${(n / meds[i]! / 1000).toFixed(2)}M insns/s; CPU ${cpuMeds[i]!.toFixed(2)} ms)`);
    process.stdout.write(`${n} insns, median of ${runs}: ${line.join(', ')}; ratio ${(meds[meds.length - 1]! / meds[0]!).toFixed(3)}, CPU ratio ${(cpuMeds[cpuMeds.length - 1]! / cpuMeds[0]!).toFixed(3)}\n`);
  }
  const load1 = os.loadavg();
  process.stdout.write(`load average ${load0.map((x) => x.toFixed(2)).join(' ')} -> ${load1.map((x) => x.toFixed(2)).join(' ')}\n`);
}

async function main(argv: string[]): Promise<void> {
  let runs = 11;
  let sizes = [10_000, 100_000];
  let check = false;
  const roots: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--runs') runs = Number(argv[++i]);
    else if (a === '--sizes') sizes = argv[++i]!.split(',').map(Number);
    else if (a === '--identity') check = true;
    else roots.push(path.resolve(a));
  }
  if (roots.length !== 2 || !(runs > 0) || sizes.some((n) => !(n > 0))) {
    process.stderr.write('usage: node dist/scripts/bench/compile-ab.js [--identity] [--runs N] [--sizes 10000,100000] BEFORE AFTER\n');
    process.exitCode = 2;
    return;
  }
  const trees = await Promise.all(roots.map(load));
  if (check) {
    const repo = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
    if (!(await identity(trees[0]!, trees[1]!, repo))) process.exitCode = 1;
    return;
  }
  await timing(trees, sizes, runs);
}

await main(process.argv.slice(2));
