/**
 * Builds the package's bundled entries (`dist/bundle/`), what `bpf2wasm/compiler`,
 * `bpf2wasm/runtime` and `bpf2wasm/internal` resolve to:
 *
 *   node dist/scripts/build-bundle.js      (run by `npm run build`, after tsc)
 *
 * Why: importing the compiler and runtime entries from the per-file build (`dist/compiler/`,
 * `dist/runtime/`: 112 ES module files) costs ~105-120 ms in a fresh Node process and 0.6-1 s in
 * Chromium, most of it resolving, fetching and linking the files, against ~35 ms in Node for the
 * same code in 7 files (README "Benchmarks", part (g)). The per-file build stays: the CLI, the
 * tests and the size bench use it, and the `.d.ts` files the exports name are there.
 *
 * The three entries are bundled in one esbuild run with code splitting, so the code they share is
 * in shared chunks, loaded once: a class such as `CompileError` or `BpfInstance` is the same class
 * whichever entry it is imported from (one file per entry would carry a copy each, and
 * `instanceof` across entries would fail). Splitting also keeps the object runtime
 * (`runtime/object.ts`: map store, helpers) a chunk of its own for a host that imports only the
 * runtime; `instantiate()` loads it for the first module with maps, as with the per-file build.
 *
 * Not minified: minifying did not change the cold start measurably (the import is the number of
 * files, the first run the amount of code V8 compiles), and unminified code keeps stack traces
 * and names readable. `binaryen` and `wabt` stay external (optional peer dependencies, loaded on
 * demand); the entries import no `node:*` module, and the platform is neutral, so the build fails
 * if one ever does.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The entries bundled, as paths relative to the per-file build's root (`dist/`). */
export const BUNDLE_ENTRIES = ['compiler/index.js', 'runtime/index.js', 'internal/index.js'] as const;

/** The bundle's directory inside `dist/`. */
export const BUNDLE_DIR = 'bundle';

/**
 * Bundles {@link BUNDLE_ENTRIES} of the per-file build at `distRoot` into `<distRoot>/bundle/`
 * (`compiler/index.js`, `runtime/index.js`, `internal/index.js` and shared `chunk-*.js` files),
 * replacing what was there. Returns the files written, relative to `distRoot`, with their sizes.
 */
export async function buildBundle(distRoot: string): Promise<{ file: string; bytes: number }[]> {
  const esbuild = await import('esbuild');
  const outdir = path.join(distRoot, BUNDLE_DIR);
  rmSync(outdir, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: BUNDLE_ENTRIES.map((e) => path.join(distRoot, e)),
    outbase: distRoot,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['binaryen', 'wabt'],
    chunkNames: 'chunk-[hash]',
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  return Object.entries(result.metafile.outputs)
    .map(([file, out]) => ({ file: path.relative(distRoot, path.resolve(file)), bytes: out.bytes }))
    .sort((a, b) => a.file.localeCompare(b.file));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const files = await buildBundle(distRoot);
  const total = files.reduce((s, f) => s + f.bytes, 0);
  process.stdout.write(`bundle: ${files.length} files, ${(total / 1024).toFixed(1)} KB in ${path.join(distRoot, BUNDLE_DIR)}\n`);
}
