/**
 * Bundle sizes of the library's entry points, as a user's bundler would ship them: each built
 * entry of dist/ bundled by esbuild (`--bundle --minify --format=esm`, esbuild's default browser
 * platform, Binaryen and wabt left external, as they are optional peers loaded on demand), its bytes minified and gzipped (level
 * 9). Measured at bench time from dist/ with esbuild's JS API, so the figures are the build's.
 * Used by `npm run bench` (part (i)) and scripts/test/size.test.ts (the budget).
 */
import { gzipSync } from 'node:zlib';
import path from 'node:path';

/** The runtime entry's goal in bytes, minified (issue 10: <= 100 KB; not met, see the README). */
export const RUNTIME_BUDGET_BYTES = 100 * 1000;

/**
 * The most the runtime entry may weigh minified (scripts/test/size.test.ts): 155 KB when set, plus
 * what this session's other branches add when merged (measured on them: the host-state packet
 * helpers ~22 KB, the batch path ~4 KB), plus a little room. A change that needs more raises it on
 * purpose and says why; once those merges are in, lower it to the merged size plus room. Raised to
 * 188 KB for the socket-state and perf-output packet helpers (s3-sockhelpers: +3.6 KB, 181.8 ->
 * 185.4 KB); moving runtime/packet behind a dynamic import (s3-lazy) takes all of them out of the entry.
 */
export const RUNTIME_CEILING_BYTES = 188 * 1000;

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

/** Every entry of SIZE_ENTRIES, bundled from `distRoot` (the built package). */
export async function bundleSizes(esbuild: Esbuild, distRoot: string): Promise<BundleSize[]> {
  const out: BundleSize[] = [];
  for (const e of SIZE_ENTRIES) out.push(await bundleSize(esbuild, distRoot, e.entry, e.file));
  return out;
}
