#!/usr/bin/env node
// Builds the edge examples (README "Deploying"): compiles test-programs/c/http_filter.o with the
// CLI (`bpf2wasm compile ... -o filter.wasm`), copies the precompiled maps module
// (dist/runtime/maps/maps.wasm) and bundles each platform's entry with esbuild:
//
//   examples/workers/filter.wasm, maps.wasm      next to worker.ts, for `wrangler deploy`
//   examples/workers/dist/worker.js + .wasm + config.capnp   for `workerd serve config.capnp`
//   examples/deno/dist/server.js + .wasm         for `deno run`
//   examples/node/dist/server.js + .wasm         for `node`
//
//   node examples/build.mjs [--out DIR]          (needs dist/: npm run build)
//
// esbuild, workerd and deno are dev dependencies; BPF2WASM_TOOLS (directories separated by ':')
// names other folders whose node_modules hold them.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function toolDirs() {
  return [...(process.env.BPF2WASM_TOOLS ?? '').split(':').filter(Boolean), root];
}

/** The path of an npm-installed binary (node_modules/.bin/NAME), or undefined. */
export function findTool(name) {
  for (const dir of toolDirs()) {
    const p = join(dir, 'node_modules', '.bin', name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** esbuild's JS API, or undefined where it is not installed. */
export async function loadEsbuild() {
  for (const dir of toolDirs()) {
    try {
      const path = createRequire(join(dir, 'package.json')).resolve('esbuild');
      return await import(pathToFileURL(path).href);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** workerd's configuration (Cap'n Proto text) serving worker.js with the two modules on ADDRESS. */
export function workerdConfig({ address, bindings = {} }) {
  const b = Object.entries(bindings).map(([name, text]) => `(name = ${JSON.stringify(name)}, text = ${JSON.stringify(String(text))})`);
  return `# workerd serve config.capnp (written by examples/build.mjs)
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .filterWorker)],
  sockets = [(name = "http", address = ${JSON.stringify(address)}, http = (), service = "main")],
);

const filterWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "filter.wasm", wasm = embed "filter.wasm"),
    (name = "maps.wasm", wasm = embed "maps.wasm"),
  ],
  bindings = [${b.join(', ')}],
  compatibilityDate = "2025-01-01",
);
`;
}

/** Builds everything under `out` (default: in place under examples/). Returns the directories. */
export async function buildExamples({ out } = {}) {
  const esbuild = await loadEsbuild();
  if (!esbuild) throw new Error('esbuild is not installed (npm ci installs it; or set BPF2WASM_TOOLS)');
  const cli = join(root, 'dist/compiler/cli/bin.js');
  const mapsWasm = join(root, 'dist/runtime/maps/maps.wasm');
  if (!existsSync(cli) || !existsSync(mapsWasm)) throw new Error('dist/ is missing: run npm run build');
  const base = out ? resolve(out) : join(root, 'examples');
  const dirs = {
    workers: join(base, 'workers', 'dist'),
    deno: join(base, 'deno', 'dist'),
    node: join(base, 'node', 'dist'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const filterWasm = join(dirs.workers, 'filter.wasm');
  execFileSync(process.execPath, [cli, 'compile', join(root, 'test-programs/c/http_filter.o'), '-o', filterWasm], { stdio: 'inherit' });
  for (const d of [dirs.deno, dirs.node, ...(out ? [] : [join(root, 'examples/workers')])]) copyFileSync(filterWasm, join(d, 'filter.wasm'));
  for (const d of [...Object.values(dirs), ...(out ? [] : [join(root, 'examples/workers')])]) copyFileSync(mapsWasm, join(d, 'maps.wasm'));

  const common = { bundle: true, format: 'esm', target: 'es2022', logLevel: 'warning', legalComments: 'none' };
  await esbuild.build({
    ...common, entryPoints: [join(root, 'examples/workers/worker.ts')], outfile: join(dirs.workers, 'worker.js'),
    platform: 'browser', conditions: ['workerd', 'worker', 'browser'], external: ['./filter.wasm', './maps.wasm'],
  });
  await esbuild.build({
    ...common, entryPoints: [join(root, 'examples/deno/server.ts')], outfile: join(dirs.deno, 'server.js'), platform: 'neutral',
    mainFields: ['module', 'main'],
  });
  await esbuild.build({
    ...common, entryPoints: [join(root, 'examples/node/server.ts')], outfile: join(dirs.node, 'server.js'), platform: 'node',
  });
  writeFileSync(join(dirs.workers, 'config.capnp'), workerdConfig({ address: '127.0.0.1:8787', bindings: { ADMIN_TOKEN: 'change-me' } }));
  return dirs;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const dirs = await buildExamples(i > 0 ? { out: process.argv[i + 1] } : {});
  for (const [k, d] of Object.entries(dirs)) console.log(`${k}: ${d}`);
}
