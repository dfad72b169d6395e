/**
 * Bundle sizes of the library's entry points, as a user's bundler would ship them: each built
 * entry of dist/ bundled by esbuild (`--bundle --minify --format=esm`, esbuild's default browser
 * platform, Binaryen and wabt left external, as they are optional peers loaded on demand), its bytes minified and gzipped (level
 * 9); the runtime also with code splitting (`--splitting`: what every user loads at start, and
 * the chunks its dynamic imports load on demand). Measured at bench time from dist/ with
 * esbuild's JS API, so the figures are the build's.
 * Used by `npm run bench` (part (i)) and scripts/test/size.test.ts (the budget).
 */
import { gzipSync } from 'node:zlib';
import path from 'node:path';

/**
 * The runtime's goal in bytes, minified (issue 10: <= 100 KB): what every user loads, i.e. the
 * entry chunk and the chunks it imports statically when a bundler splits the dynamic imports
 * (the object runtime is loaded on demand: runtime/object-loader.ts). scripts/test/size.test.ts
 * asserts it.
 */
export const RUNTIME_BUDGET_BYTES = 100 * 1000;

/**
 * The most the runtime may weigh as one file (no splitting: the dynamically imported chunks
 * inlined, as a Workers bundle ships it): 184.0 KB when set; 188.4 KB with the socket-state and
 * perf-output packet helpers (s3-sockhelpers); 197.9 KB with CGROUP_ARRAY, the host's cgroups,
 * the cgroup helpers and the raw SYN cookie helpers (SipHash-2-4; s4-cgroup: 5.4 KB of it in
 * runtime/packet/cgroups.ts and syncookie.ts), plus a little room; 207.7 KB with the BTF socket
 * casts bpf_skc_to_* (s5-skc: 6.6 KB in runtime/packet/sock-cast.ts, 1.9 KB of HostSocket.kernel
 * checks and the cast area's wiring), plus a little room. A change that needs more raises it on
 * purpose and says why.
 */
export const RUNTIME_CEILING_BYTES = 210 * 1000;

/** One bundled entry. */
export interface BundleSize {
  /** What was bundled, e.g. `bpf2wasm/runtime`. */
  entry: string;
  /** The built file, relative to dist/. */
  file: string;
  minified: number;
  gzipped: number;
  /** The largest inputs by bytes in the minified output, largest first. */
  largest: { input: string; bytes: number }[];
  /** Every input file bundled, relative to the root. */
  inputs: string[];
  /** The same entry bundled with code splitting (`--splitting`), when measured. */
  split?: SplitSize;
}

/** One output file of a split bundle. */
export interface ChunkSize {
  /** The module the chunk is the dynamic import of (relative to the root), or `shared` / `entry`. */
  name: string;
  /** Loaded at start (the entry and what it imports statically) or on demand (a dynamic import). */
  loaded: 'start' | 'on demand';
  minified: number;
  gzipped: number;
  /** The largest inputs by bytes in the chunk, largest first. */
  largest: { input: string; bytes: number }[];
}

/** An entry bundled with code splitting: what every user loads, and the chunks loaded on demand. */
export interface SplitSize {
  /** Minified bytes loaded at start: the entry chunk and the chunks it imports statically. */
  start: number;
  /** The same, gzipped chunk by chunk. */
  startGzipped: number;
  chunks: ChunkSize[];
}

/** The entries measured: the runtime, and the compiler without Binaryen and wabt. */
export const SIZE_ENTRIES: readonly { entry: string; file: string }[] = [
  { entry: 'bpf2wasm/runtime', file: 'runtime/index.js' },
  { entry: 'bpf2wasm/compiler (no Binaryen, no wabt)', file: 'compiler/index.js' },
];

type Esbuild = typeof import('esbuild');

/** esbuild's JS API, or undefined where it is not installed (a dev dependency). */
export async function loadEsbuild(): Promise<Esbuild | undefined> {
  try {
    return await import('esbuild');
  } catch {
    return undefined;
  }
}

/**
 * Bundles `<root>/<file>` with esbuild as a user's bundler would, and measures it. `root` is
 * dist/ for the built package (the bench); the size test bundles the TypeScript sources, which
 * esbuild reads directly (the same output within a few bytes, and never stale).
 */
export async function bundleSize(esbuild: Esbuild, root: string, entry: string, file: string): Promise<BundleSize> {
  const result = await esbuild.build({
    entryPoints: [path.join(root, file)],
    bundle: true,
    minify: true,
    format: 'esm',
    external: ['binaryen', 'wabt'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const out = result.outputFiles[0]!.contents;
  const meta = Object.values(result.metafile.outputs)[0]!;
  const all = Object.entries(meta.inputs)
    .map(([input, v]) => ({ input: path.relative(root, path.resolve(input)), bytes: v.bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes);
  return {
    entry, file, minified: out.length, gzipped: gzipSync(out, { level: 9 }).length,
    largest: all.slice(0, 8), inputs: all.map((i) => i.input).sort(),
  };
}

/**
 * Bundles `<root>/<file>` with code splitting (`--splitting`, as a browser bundler such as Vite or
 * esbuild with splitting ships it: each dynamic import its own chunk) and measures each chunk:
 * those loaded at start (the entry and its static imports, transitively) and those loaded on
 * demand.
 */
export async function splitSize(esbuild: Esbuild, root: string, file: string): Promise<SplitSize> {
  const result = await esbuild.build({
    entryPoints: [path.join(root, file)],
    bundle: true,
    minify: true,
    format: 'esm',
    splitting: true,
    outdir: path.join(root, '.size-split'),
    external: ['binaryen', 'wabt'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const outputs = result.metafile.outputs;
  const key = (p: string): string => path.resolve(p);
  const bytesOf = new Map(result.outputFiles.map((f) => [key(f.path), f.contents]));
  const entryKey = Object.keys(outputs).find((k) => outputs[k]!.entryPoint && path.resolve(outputs[k]!.entryPoint!) === path.resolve(root, file))!;
  const atStart = new Set<string>();
  const visit = (k: string): void => {
    if (atStart.has(k)) return;
    atStart.add(k);
    for (const i of outputs[k]!.imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
  };
  visit(entryKey);
  const chunks: ChunkSize[] = [];
  for (const [k, meta] of Object.entries(outputs)) {
    if (k.endsWith('.map')) continue;
    const bytes = bytesOf.get(key(k))!;
    const name = k === entryKey ? 'entry' : meta.entryPoint ? path.relative(root, path.resolve(meta.entryPoint)) : 'shared';
    const largest = Object.entries(meta.inputs)
      .map(([input, v]) => ({ input: path.relative(root, path.resolve(input)), bytes: v.bytesInOutput }))
      .sort((a, b) => b.bytes - a.bytes).slice(0, 8);
    chunks.push({ name, loaded: atStart.has(k) ? 'start' : 'on demand', minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length, largest });
  }
  chunks.sort((a, b) => (a.loaded === b.loaded ? 0 : a.loaded === 'start' ? -1 : 1) || (a.name === 'entry' ? -1 : b.name === 'entry' ? 1 : 0));
  const start = chunks.filter((c) => c.loaded === 'start');
  return { start: start.reduce((n, c) => n + c.minified, 0), startGzipped: start.reduce((n, c) => n + c.gzipped, 0), chunks };
}

/** Every entry of SIZE_ENTRIES, bundled from `distRoot` (the built package); the runtime also split. */
export async function bundleSizes(esbuild: Esbuild, distRoot: string): Promise<BundleSize[]> {
  const out: BundleSize[] = [];
  for (const e of SIZE_ENTRIES) {
    const size = await bundleSize(esbuild, distRoot, e.entry, e.file);
    if (e.file === 'runtime/index.js') size.split = await splitSize(esbuild, distRoot, e.file);
    out.push(size);
  }
  return out;
}
