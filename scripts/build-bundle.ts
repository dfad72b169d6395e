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
 * The functions every compile runs are compiled by V8 with the chunk that holds them, not on
 * their first call (`hintEagerFunctions`, the list in scripts/eager-functions.ts).
 *
 * Not minified: minifying did not change the cold start measurably (the import is the number of
 * files, the first run the amount of code V8 compiles), and unminified code keeps stack traces
 * and names readable. `binaryen` and `wabt` stay external (optional peer dependencies, loaded on
 * demand); the entries import no `node:*` module, and the platform is neutral, so the build fails
 * if one ever does.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EAGER_FUNCTIONS, staticClosure } from './eager-functions.js';

/** The entries bundled, as paths relative to the per-file build's root (`dist/`). */
export const BUNDLE_ENTRIES = ['compiler/index.js', 'runtime/index.js', 'internal/index.js'] as const;

/** The bundle's directory inside `dist/`. */
export const BUNDLE_DIR = 'bundle';

/**
 * Bundles {@link BUNDLE_ENTRIES} of the per-file build at `distRoot` into `<distRoot>/bundle/`
 * (`compiler/index.js`, `runtime/index.js`, `internal/index.js` and shared `chunk-*.js` files),
 * replacing what was there. Returns the files written, relative to `distRoot`, with their sizes.
 */
export async function buildBundle(distRoot: string): Promise<{ files: { file: string; bytes: number }[]; eager: { hinted: string[]; missing: string[] } }> {
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
  const eager = await hintEagerFunctions(outdir, EAGER_FUNCTIONS);
  const files = Object.keys(result.metafile.outputs)
    .map((file) => {
      const abs = path.resolve(file);
      return { file: path.relative(distRoot, abs), bytes: readFileSync(abs).byteLength };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
  return { files, eager };
}

/**
 * The per-file form of the hint, for the V8s that know it (Chrome 136 and later, so Chromium,
 * Deno and workerd today; Node 20's V8 11 does not): every function of the file is compiled as
 * the file loads, on the thread that streams it in Chromium. Given to the chunks that hold the
 * functions every compile runs, the compiler's chunk: there the first compile otherwise stops
 * ~150 times to compile a function, and the rest of the chunk is mostly what a compile runs.
 * It trades import time for the time after the import. Measured in Chromium (12 alternating
 * fresh contexts each, idle, chunks served from loopback): after the import 17.0 -> 9.8 ms for
 * the filter and 29.4 -> 16.8 ms for the object, the import 18-25 ms longer (no download for the
 * compile to overlap on loopback), the total ~12 ms longer (README "Cold start", session 7).
 * Hinting the compiler entry too gained nothing after the import and cost import time; the
 * runtime's own chunks are left alone (a host that only runs modules would pay for them).
 */
export const FILE_HINT = '//# allFunctionsCalledOnLoad';

/**
 * V8's eager-compile hint for the functions every compile runs (scripts/eager-functions.ts): in
 * the chunks the runtime entry does not load at start, each top-level `function NAME(...) {...}`
 * named in `names` becomes `var NAME = (function NAME(...) {...});`, moved to the top of its
 * chunk (after the imports), which keeps the declaration's hoisting. V8 compiles a parenthesised
 * function expression with the script instead of on its first call, so the compiler's first
 * compile in a process does not stop to parse and compile them one by one (README "Cold start").
 * Such a chunk also gets the per-file hint ({@link FILE_HINT}) as its first line.
 * Returns the names hinted and those found nowhere (a stale list: regenerate it).
 */
export async function hintEagerFunctions(outdir: string, names: readonly string[]): Promise<{ hinted: string[]; missing: string[] }> {
  const ts = (await import('typescript')).default;
  const wanted = new Set(names);
  const files = readdirSync(outdir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')).map((f) => path.join(outdir, f));
  const runtimeAtStart = staticClosure(path.join(outdir, 'runtime', 'index.js'));
  const hinted: string[] = [];
  for (const file of files) {
    if (runtimeAtStart.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
    let afterImports = 0;
    const moved: { start: number; end: number; name: string }[] = [];
    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st)) afterImports = st.end;
      else if (ts.isFunctionDeclaration(st) && st.name && st.body && wanted.has(st.name.text) && !st.asteriskToken && !st.modifiers?.length) {
        moved.push({ start: st.getStart(sf), end: st.end, name: st.name.text });
      }
    }
    if (moved.length === 0) continue;
    let rest = '';
    let at = afterImports;
    for (const m of moved) {
      rest += text.slice(at, m.start);
      at = m.end;
    }
    rest += text.slice(at);
    const hoisted = moved.map((m) => `var ${m.name} = (${text.slice(m.start, m.end)});`).join('\n');
    writeFileSync(file, `${FILE_HINT}\n${text.slice(0, afterImports)}\n${hoisted}\n${rest}`);
    hinted.push(...moved.map((m) => m.name));
  }
  return { hinted, missing: names.filter((n) => !hinted.includes(n)) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const { files, eager } = await buildBundle(distRoot);
  const total = files.reduce((s, f) => s + f.bytes, 0);
  if (eager.missing.length > 0) {
    process.stderr.write(`bundle: no function to hint for ${eager.missing.join(', ')} (stale scripts/eager-functions.ts: node dist/scripts/eager-functions.js)\n`);
  }
  process.stdout.write(`bundle: ${files.length} files, ${(total / 1024).toFixed(1)} KB in ${path.join(distRoot, BUNDLE_DIR)}\n`);
}
