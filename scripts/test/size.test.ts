/**
 * The size of the runtime entry point as a user's bundler ships it: runtime/index.ts bundled by
 * esbuild (`--bundle --minify --format=esm`, binaryen and wabt external; scripts/bench/size.ts,
 * the code `npm run bench` part (i) uses on dist/). Deterministic, so budgets are asserted: with
 * code splitting, what every user loads at start (the entry chunk and its static imports) stays
 * under RUNTIME_BUDGET_BYTES (issue 10: 100 KB), the object runtime being a chunk loaded on demand;
 * as one file (dynamic imports inlined, as Workers bundles ship it) the runtime stays under
 * RUNTIME_CEILING_BYTES. Also that the bundle holds no compiler code. Skips with a notice where
 * esbuild is not installed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT as root } from '../../test/support/fixtures.js';
import { bundleSize, loadEsbuild, splitSize, RUNTIME_BUDGET_BYTES, RUNTIME_CEILING_BYTES } from '../bench/size.js';

const esbuild = await loadEsbuild();

describe('bundle size', () => {
  if (!esbuild) it.skipIf(true)('skipped: esbuild is not installed', () => {});

  it.skipIf(!esbuild)(`bpf2wasm/runtime with code splitting loads at most ${RUNTIME_BUDGET_BYTES / 1000} KB minified at start, the object runtime on demand`, async () => {
    const split = await splitSize(esbuild!, root, 'runtime/index.ts');
    const report = split.chunks.map((c) => `${c.name} (${c.loaded}) ${c.minified}: ${c.largest.slice(0, 4).map((l) => `${l.input} ${l.bytes}`).join(', ')}`).join('; ');
    expect(split.start, report).toBeLessThanOrEqual(RUNTIME_BUDGET_BYTES);
    expect(split.chunks[0]!.name).toBe('entry');
    // The object runtime (map store, embedded maps module, standard and packet helpers) is one
    // chunk loaded on demand, and it holds what it should: a chunk that no longer splits off fails.
    const object = split.chunks.find((c) => c.name === 'runtime/object.ts');
    expect(object?.loaded, report).toBe('on demand');
    expect(object!.largest.map((l) => l.input), report).toEqual(expect.arrayContaining(['runtime/maps/maps-wasm.ts', 'runtime/maps/store.ts', 'runtime/packet/helpers.ts']));
    const total = split.chunks.reduce((n, c) => n + c.minified, 0);
    expect(split.start).toBeLessThan(total);
  });

  it.skipIf(!esbuild)(`bpf2wasm/runtime as one file minified stays under ${RUNTIME_CEILING_BYTES / 1000} KB`, async () => {
    const size = await bundleSize(esbuild!, root, 'bpf2wasm/runtime', 'runtime/index.ts');
    const report = `${size.minified} bytes minified, ${size.gzipped} gzipped; largest: ${size.largest.map((l) => `${l.input} ${l.bytes}`).join(', ')}`;
    expect(size.minified, report).toBeLessThanOrEqual(RUNTIME_CEILING_BYTES);
    expect(size.gzipped).toBeLessThan(size.minified);
    // The runtime never bundles the compiler (nor Binaryen, which is external anyway).
    expect(size.inputs.length).toBeGreaterThan(10);
    expect(size.inputs.filter((i) => !i.startsWith('runtime/'))).toEqual([]);
  });

  it.skipIf(!esbuild)('the compiler without Binaryen bundles, and is larger than the runtime it includes', async () => {
    const runtime = await bundleSize(esbuild!, root, 'bpf2wasm/runtime', 'runtime/index.ts');
    const compiler = await bundleSize(esbuild!, root, 'bpf2wasm/compiler', 'compiler/index.ts');
    expect(compiler.minified).toBeGreaterThan(runtime.minified);
  });
});
