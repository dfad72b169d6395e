/**
 * Builds what the package's exports resolve to in Node (`dist/bundle/node/`): the ES module
 * bundle's files as classic scripts with V8's code cache, loaded by
 * runtime/node/classic-scripts.ts (which says why):
 *
 *   node dist/scripts/build-node-entries.js      (run by `npm run build`, after the bundle)
 *
 * - `dist/bundle/node/classic/<file>`: each file of dist/bundle/ as the body of a function
 *   `(exports, require, module, __import)`, strict: esbuild's ESM -> CommonJS transform, then
 *   every dynamic `import(...)` renamed `__import(...)` (the loader serves a chunk itself and
 *   hands anything else, `binaryen` or `wabt`, to Node's `import()`).
 * - `dist/bundle/node/<entry>` for each entry: an ES module that loads the entry's script and
 *   exports its names (read from the ES module bundle), or imports the ES module bundle where
 *   the scripts are not there.
 * - `dist/bundle/node/classic/cli/main.js`: the command line's `main` (compiler/cli/main.ts,
 *   which takes its files and streams from the Node adapter, compiler/cli/bin.ts) bundled whole
 *   as one script, which bin.ts loads the same way: the CLI is a process of its own, so it shares
 *   nothing with the entries, and one file is the fastest to start (a `bpf2wasm run` of a small
 *   program: ~0.29 s from the 100-odd files of the per-file build).
 * - The code caches: a child process imports the entries, runs the workload below (the cold
 *   start bench's: a generated 100-instruction program and a clang object with a map, compiled,
 *   instantiated and run; a packet test run; the CLI's `run` of both, and `disasm`), and writes
 *   each script's `createCachedData()` (which then holds every function the workload compiled)
 *   to `<file>.cache`, and the manifest with the V8 it was made by. A process of another V8
 *   ignores them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CODE_CACHE_MANIFEST, SCRIPT_PARAMS, type CodeCacheManifest } from '../runtime/node/classic-scripts.js';
import { BUNDLE_DIR, BUNDLE_ENTRIES } from './build-bundle.js';

/** The Node entries' directory inside `dist/bundle/`. */
export const NODE_DIR = 'node';
/** The scripts' directory inside it. */
export const CLASSIC_DIR = 'classic';

/** The per-file build's loader, from an entry stub at `node/<group>/index.js`. */
const LOADER_FROM_STUB = '../../../runtime/node/classic-scripts.js';

/** The CLI's script, relative to the scripts' directory (compiler/cli/bin.ts loads it). */
export const CLI_SCRIPT = 'cli/main.js';

/**
 * Writes `dist/bundle/node/` from `dist/bundle/` (replacing it), then the code caches. Returns
 * the scripts written and whether each got a cache.
 */
export async function buildNodeEntries(distRoot: string): Promise<{ scripts: string[]; cached: string[] }> {
  const bundle = path.join(distRoot, BUNDLE_DIR);
  const out = path.join(bundle, NODE_DIR);
  const classic = path.join(out, CLASSIC_DIR);
  rmSync(out, { recursive: true, force: true });
  const esbuild = await import('esbuild');
  const files = readdirSync(bundle, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js') && !f.startsWith(`${NODE_DIR}${path.sep}`))
    .sort();
  for (const f of files) {
    const { code } = await esbuild.transform(readFileSync(path.join(bundle, f), 'utf8'), { format: 'cjs', loader: 'js', target: 'es2022', logLevel: 'error' });
    mkdirSync(path.dirname(path.join(classic, f)), { recursive: true });
    writeFileSync(path.join(classic, f), await asScript(code, f));
  }
  // The CLI: one bundle of compiler/cli/main.js (no node:* in it; bin.ts is the Node adapter).
  const cli = await esbuild.build({
    entryPoints: [path.join(distRoot, 'compiler/cli/main.js')], bundle: true, write: false, format: 'esm', platform: 'neutral',
    target: 'es2022', external: ['binaryen', 'wabt'], legalComments: 'none', logLevel: 'warning',
  });
  const { code: cliCode } = await esbuild.transform(cli.outputFiles[0]!.text, { format: 'cjs', loader: 'js', target: 'es2022', logLevel: 'error' });
  mkdirSync(path.dirname(path.join(classic, CLI_SCRIPT)), { recursive: true });
  writeFileSync(path.join(classic, CLI_SCRIPT), await asScript(cliCode, CLI_SCRIPT));
  files.push(CLI_SCRIPT);
  for (const entry of BUNDLE_ENTRIES) {
    const names = Object.keys(await import(pathToFileURL(path.join(bundle, entry)).href) as object).sort();
    mkdirSync(path.dirname(path.join(out, entry)), { recursive: true });
    writeFileSync(path.join(out, entry), stub(entry, names));
  }
  const cached = makeCodeCaches(out, distRoot);
  return { scripts: files.map((f) => f.split(path.sep).join('/')), cached };
}

/**
 * The function a transformed chunk becomes: strict (ES modules are), its dynamic imports
 * renamed. Fails on what the loader could not serve: a dynamic import of a computed specifier,
 * or a `require` of anything but a sibling chunk.
 */
async function asScript(code: string, name: string): Promise<string> {
  const ts = (await import('typescript')).default;
  const sf = ts.createSourceFile(name, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const edits: number[] = [];
  const visit = (n: import('typescript').Node): void => {
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = n.arguments[0];
      if (n.arguments.length !== 1 || !arg || !ts.isStringLiteral(arg)) throw new Error(`${name}: a dynamic import of a computed specifier`);
      edits.push(n.expression.getStart(sf));
    }
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'require') {
      const arg = n.arguments[0];
      if (!arg || !ts.isStringLiteral(arg) || !/^\.\.?\//.test(arg.text)) throw new Error(`${name}: require of ${arg?.getText(sf)}, not a chunk`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  let text = code;
  for (const at of edits.sort((a, b) => b - a)) text = `${text.slice(0, at)}__import${text.slice(at + 'import'.length)}`;
  return `(function (${SCRIPT_PARAMS.join(', ')}) {\n"use strict";\n${text}})\n`;
}

/** The ES module an entry resolves to in Node. */
function stub(entry: string, names: readonly string[]): string {
  return [
    `// The Node entry of bpf2wasm/${path.posix.dirname(entry)} (scripts/build-node-entries.ts): the bundle's`,
    '// scripts with V8\'s code cache, or the ES module bundle where they are missing or older.',
    `import { loadEntry } from '${LOADER_FROM_STUB}';`,
    `const m = await loadEntry(new URL('../${CLASSIC_DIR}/', import.meta.url), '${entry}', () => import('../../${entry}'), new URL('../../${entry}', import.meta.url));`,
    `export const { ${names.join(', ')} } = m;`,
    '',
  ].join('\n');
}

/**
 * The workload whose functions the caches hold, run by a child process with the Node entries
 * (argv: the entries' directory, the project root); it then writes each script's cache.
 */
const WARM_UP = `
const [out, root] = process.argv.slice(1);
const { readFileSync, writeFileSync, renameSync } = await import('node:fs');
const path = await import('node:path');
const { pathToFileURL } = await import('node:url');
const entry = (e) => import(pathToFileURL(path.join(out, e)).href);
const { compile, compileObject } = await entry('compiler/index.js');
const { instantiate } = await entry('runtime/index.js');
await entry('internal/index.js');
const { generateProgram } = await import(pathToFileURL(path.join(root, 'dist/scripts/bench/genprog.js')).href);
const filter = await instantiate((await compile(generateProgram(100))).wasm);
filter.program().run(new Uint8Array(64));
const object = await instantiate((await compileObject(new Uint8Array(readFileSync(path.join(root, 'test-programs/c/xdp_drop_icmp.o'))))).wasm);
const packet = new Uint8Array(readFileSync(path.join(root, 'test-programs/examples/icmp-echo-request.pkt')));
for (const p of object.programs) { p.run(new Uint8Array(64)); p.test({ dataIn: packet }); }
const { loadedScripts, loadEntry } = await import(pathToFileURL(path.join(root, 'dist/runtime/node/classic-scripts.js')).href);
const classic = path.join(out, ${JSON.stringify(CLASSIC_DIR)});
// The CLI, with files read for real and everything written dropped.
const { main } = await loadEntry(pathToFileURL(classic + path.sep), ${JSON.stringify(CLI_SCRIPT)}, () => { throw new Error('no CLI script'); });
const io = {
  readFile: async (f) => new Uint8Array(readFileSync(f)), readStream: () => { throw new Error('no streams in the warm-up'); },
  stderrIsTTY: false, writeFile: async () => {}, writeStream: async () => ({ write: async () => {}, close: async () => {} }),
  stdout: () => {}, stderr: () => {}, now: () => Number(process.hrtime.bigint()),
};
const cliRuns = [
  ['run', path.join(root, 'test-programs/examples/ipv4-checksum.data')],
  ['run', path.join(root, 'test-programs/c/xdp_drop_icmp.o'), '--packet', path.join(root, 'test-programs/examples/icmp-echo-request.pkt')],
  ['disasm', path.join(root, 'test-programs/c/xdp_drop_icmp.o')],
];
for (const args of cliRuns) if (await main(args, io) !== 0) throw new Error('warm-up: bpf2wasm ' + args.join(' ') + ' failed');
const caches = {};
for (const s of loadedScripts()) {
  const rel = path.relative(classic, s.file).split(path.sep).join('/');
  writeFileSync(s.file + '.cache.tmp', s.script.createCachedData());
  renameSync(s.file + '.cache.tmp', s.file + '.cache');
  caches[rel] = rel + '.cache';
}
writeFileSync(path.join(classic, ${JSON.stringify(CODE_CACHE_MANIFEST)}), JSON.stringify({ v8: process.versions.v8, caches }, null, 2) + '\\n');
process.stdout.write(JSON.stringify(Object.keys(caches)));
`;

/** Runs {@link WARM_UP} in a fresh process; returns the scripts cached. */
function makeCodeCaches(out: string, distRoot: string): string[] {
  const root = path.resolve(distRoot, '..');
  const got = execFileSync(process.execPath, ['--input-type=module', '-e', WARM_UP, out, root], { encoding: 'utf8' });
  const manifest = JSON.parse(readFileSync(path.join(out, CLASSIC_DIR, CODE_CACHE_MANIFEST), 'utf8')) as CodeCacheManifest;
  if (manifest.v8 !== process.versions.v8) throw new Error(`code caches made by V8 ${manifest.v8}, not ${process.versions.v8}`);
  return JSON.parse(got) as string[];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const { scripts, cached } = await buildNodeEntries(distRoot);
  process.stdout.write(`node entries: ${scripts.length} scripts, ${cached.length} with a code cache in ${path.join(distRoot, BUNDLE_DIR, NODE_DIR)}\n`);
}
