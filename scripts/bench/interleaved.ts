/**
 * Before/after comparisons on a loaded machine: the bench kernels (scripts/bench/kernels.ts)
 * compiled plain, checked and with a budget by several built trees of the project (each ROOT has
 * its `dist/`, e.g. a `git archive` of an older commit next to this one), all instances created
 * first, then timed in interleaved rounds; each figure is the best single run over the rounds
 * (>= 60 ms of runs per round), which stays within a few percent where medians move by several
 * times. Ratios are against the first tree's plain build.
 *
 *   node dist/scripts/bench/interleaved.js [--opt 0|1|2] [--rounds N] [--kernels a,b] ROOT...
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Tree {
  root: string;
  compile: (bytes: Uint8Array, options: Record<string, unknown>) => Promise<{ wasm: Uint8Array }>;
  instantiate: (wasm: Uint8Array) => Promise<{ program(): { run(ctx?: Uint8Array): bigint; runInPlace(len: number): number }; dataView(len: number): Uint8Array }>;
  kernels: { KERNELS: ReadonlyArray<{ name: string; input(quick: boolean): Uint8Array }>; loadKernel(root: string, name: string): Promise<Uint8Array> };
}

const VARIANTS: Record<string, Record<string, unknown>> = {
  plain: {},
  checked: { checked: true },
  budget: { budget: Number.MAX_SAFE_INTEGER },
};

async function load(root: string): Promise<Tree> {
  const url = (p: string): string => pathToFileURL(path.join(root, 'dist', p)).href;
  const c = (await import(url('compiler/index.js'))) as Pick<Tree, 'compile'>;
  const r = (await import(url('runtime/index.js'))) as Pick<Tree, 'instantiate'>;
  const kernels = (await import(url('scripts/bench/kernels.js'))) as Tree['kernels'];
  return { root, compile: c.compile, instantiate: r.instantiate, kernels };
}

async function main(argv: string[]): Promise<void> {
  let opt = 1;
  let rounds = 5;
  let only: string[] | null = null;
  const roots: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--opt') opt = Number(argv[++i]);
    else if (a === '--rounds') rounds = Number(argv[++i]);
    else if (a === '--kernels') only = argv[++i]!.split(',');
    else roots.push(path.resolve(a));
  }
  if (roots.length === 0 || ![0, 1, 2].includes(opt) || !(rounds > 0)) {
    process.stderr.write('usage: node dist/scripts/bench/interleaved.js [--opt 0|1|2] [--rounds N] [--kernels a,b] ROOT...\n');
    process.exitCode = 2;
    return;
  }
  const trees = await Promise.all(roots.map(load));
  process.stdout.write(`-O${opt}, best of ${rounds} interleaved rounds; ratio vs the first tree's plain build\n`);
  for (const kernel of trees[0]!.kernels.KERNELS) {
    if (only && !only.includes(kernel.name)) continue;
    const input = kernel.input(false);
    const runs: Array<{ name: string; run: () => void; best: number; r0: bigint }> = [];
    for (const t of trees) {
      const bytes = await t.kernels.loadKernel(t.root, kernel.name);
      for (const [variant, options] of Object.entries(VARIANTS)) {
        const inst = await t.instantiate((await t.compile(bytes, { optLevel: opt, ...options })).wasm);
        const r0 = inst.program().run(input);
        inst.dataView(input.length).set(input);
        const p = inst.program();
        runs.push({ name: `${path.basename(t.root)}:${variant}`, run: () => p.runInPlace(input.length), best: Infinity, r0 });
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (const r of runs) {
        const start = performance.now();
        while (performance.now() - start < 60) {
          const t0 = performance.now();
          r.run();
          r.best = Math.min(r.best, performance.now() - t0);
        }
      }
    }
    const same = runs.every((r) => r.r0 === runs[0]!.r0);
    const base = runs[0]!.best;
    const cells = runs.map((r) => `${r.name} ${(r.best * 1000).toFixed(0)} µs (${(r.best / base).toFixed(2)}x)`);
    process.stdout.write(`${kernel.name.padEnd(7)} ${cells.join('  ')}${same ? '' : '  r0 DIFFERS'}\n`);
    if (!same) process.exitCode = 1;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`interleaved: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
