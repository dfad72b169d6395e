/**
 * The package's Node entries (dist/bundle/node/, scripts/build-node-entries.ts,
 * runtime/node/classic-scripts.ts): the ES module bundle's chunks as classic scripts with V8's
 * code cache. They export what the ES module bundle exports, share classes across entries, load
 * only the entry's own chunks, use caches V8 accepts (for the Node that built them), survive
 * caches V8 refuses (wrong, truncated, garbage, another V8's), and fall back to the ES module
 * bundle where the scripts are missing (the entry bundled into an application).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, symlinkSync, utimesSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTool } from '../../examples/build.mjs';
import { BUNDLE_DIR, BUNDLE_ENTRIES } from '../build-bundle.js';
import { CLASSIC_DIR, CLI_SCRIPT, NODE_DIR } from '../build-node-entries.js';
import { CODE_CACHE_MANIFEST, type CodeCacheManifest } from '../../runtime/node/classic-scripts.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = join(root, 'dist');
const bundle = join(dist, BUNDLE_DIR);
const nodeDir = join(bundle, NODE_DIR);
const classic = join(nodeDir, CLASSIC_DIR);
const loaderUrl = pathToFileURL(join(dist, 'runtime/node/classic-scripts.js')).href;
const DENO = findTool('deno') as string | undefined;
const XDP_DROP_ICMP = join(root, 'test-programs/c/xdp_drop_icmp.o');
const ICMP = join(root, 'test-programs/examples/icmp-echo-request.pkt');

/** Runs an ES module in a fresh node process (cwd: the project, so `bpf2wasm/...` resolves to itself); its last stdout line as JSON. */
function inFreshNode(code: string, ...args: string[]): unknown {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code, ...args], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

/** The script (named as the ES module bundle's file it is made from) that holds an input of the per-file build. */
function scriptHolding(input: string): string {
  // esbuild marks each input it bundles with a `// dist/<path>` comment (the transform drops them).
  const f = readdirSync(bundle, { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.js') && !n.startsWith(`${NODE_DIR}/`))
    .find((n) => readFileSync(join(bundle, n), 'utf8').includes(`\n// dist/${input}\n`));
  if (!f) throw new Error(`no script holds ${input}`);
  return f.split('\\').join('/');
}

describe('Node entries (dist/bundle/node)', () => {
  beforeAll(() => {
    readFileSync(join(classic, CODE_CACHE_MANIFEST)); // fails with ENOENT before `npm run build`
  });

  it('export what the ES module bundle exports', async () => {
    for (const entry of BUNDLE_ENTRIES) {
      const [esm, node] = await Promise.all([import(pathToFileURL(join(bundle, entry)).href), import(pathToFileURL(join(nodeDir, entry)).href)]) as Record<string, unknown>[];
      expect({ entry, names: Object.keys(node!).sort() }).toEqual({ entry, names: Object.keys(esm!).sort() });
    }
  });

  it('are what bpf2wasm/* resolves to in Node: scripts with accepted caches, classes shared, programs run', () => {
    const got = inFreshNode(`
      import { readFileSync } from 'node:fs';
      const compiler = await import('bpf2wasm/compiler');
      const runtime = await import('bpf2wasm/runtime');
      const internal = await import('bpf2wasm/internal');
      const { loadedScripts } = await import(process.argv[1]);
      const out = await compiler.compileObject(new Uint8Array(readFileSync(process.argv[2])));
      const inst = await runtime.instantiate(out.wasm);
      const prog = [...inst.programs][0];
      const retvals = [prog.test({ dataIn: new Uint8Array(readFileSync(process.argv[3])) }).retval, prog.test({ dataIn: new Uint8Array(64) }).retval].map(Number);
      let typed = null;
      try { await compiler.compile(new Uint8Array(3)); } catch (e) { typed = [e instanceof runtime.CompileError, e instanceof runtime.Bpf2WasmError, e.code]; }
      console.log(JSON.stringify({
        shared: ['CompileError', 'Bpf2WasmError', 'ErrorCode'].map((n) => compiler[n] !== undefined && compiler[n] === runtime[n])
          .concat(Object.keys(internal).filter((n) => n in runtime).map((n) => internal[n] === runtime[n])),
        retvals, drops: inst.map('drops').get(0).map(String), typed,
        scripts: loadedScripts().map((s) => [s.file, s.cache]),
      }));
    `, loaderUrl, XDP_DROP_ICMP, ICMP) as { shared: boolean[]; retvals: number[]; drops: string[]; typed: unknown[]; scripts: [string, string][] };
    expect(new Set(got.shared)).toEqual(new Set([true]));
    expect(got.retvals).toEqual([1, 2]); // XDP_DROP for the ICMP packet, XDP_PASS for zeros
    expect(got.drops).toEqual(['1']);
    expect(got.typed).toEqual([true, true, 'E_TRUNCATED_INPUT']);
    // Every script loaded came from dist/bundle/node/classic/ with a cache V8 took.
    expect(got.scripts.length).toBeGreaterThanOrEqual(BUNDLE_ENTRIES.length + 3);
    for (const [file, cache] of got.scripts) expect({ file, cache, under: file.startsWith(classic) }).toEqual({ file, cache: 'accepted', under: true });
  });

  it('load for the runtime entry only the chunks the ES module runtime entry imports', () => {
    const got = inFreshNode(`
      const runtime = await import('bpf2wasm/runtime');
      const { loadedScripts } = await import(process.argv[1]);
      console.log(JSON.stringify(loadedScripts().map((s) => s.file)));
    `, loaderUrl) as string[];
    const names = got.map((f) => f.slice(classic.length + 1).split('\\').join('/'));
    expect(names).toContain('runtime/index.js');
    expect(names).not.toContain(scriptHolding('compiler/compile.js'));
    expect(names).not.toContain(scriptHolding('runtime/object.js'));
    // The ES module runtime entry's static imports, and nothing else.
    const esmImports = [...readFileSync(join(bundle, 'runtime/index.js'), 'utf8').matchAll(/from\s*"\.\.\/([^"]+)"/g)].map((m) => m[1]!);
    expect(names.sort()).toEqual(['runtime/index.js', ...new Set(esmImports)].sort().filter((n, i, a) => a.indexOf(n) === i).sort());
  });

  describe('caches V8 refuses, and missing scripts', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'bpf2wasm-classic-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** A copy of the scripts with the manifest `edit` makes of the real one; then the runtime entry loaded and a program run. */
    function loadCopy(name: string, edit: (m: CodeCacheManifest, copy: string) => CodeCacheManifest | null): { cache: string[]; retval: number; mode: string } {
      const copy = join(dir, name);
      cpSync(classic, copy, { recursive: true });
      const m = edit(JSON.parse(readFileSync(join(classic, CODE_CACHE_MANIFEST), 'utf8')) as CodeCacheManifest, copy);
      if (m === null) rmSync(join(copy, CODE_CACHE_MANIFEST));
      else writeFileSync(join(copy, CODE_CACHE_MANIFEST), JSON.stringify(m));
      return inFreshNode(`
        const { loadEntry, loadedScripts } = await import(process.argv[1]);
        const { pathToFileURL } = await import('node:url');
        const esm = (e) => () => import(new URL(e, process.argv[3]).href);
        const runtime = await loadEntry(pathToFileURL(process.argv[2] + '/'), 'runtime/index.js', esm('runtime/index.js'));
        const compiler = await loadEntry(pathToFileURL(process.argv[2] + '/'), 'compiler/index.js', esm('compiler/index.js'));
        const out = await compiler.compile(compiler.assemble('mov %r0, 7\\nexit'));
        const retval = Number((await runtime.instantiate(out.wasm)).program().run(new Uint8Array(8)));
        console.log(JSON.stringify({ cache: loadedScripts().map((s) => s.cache), retval, mode: loadedScripts().length ? 'classic' : 'esm' }));
      `, loaderUrl, copy, `${pathToFileURL(bundle).href}/`) as { cache: string[]; retval: number; mode: string };
    }

    it('a cache made for another script (V8 refuses it): compiled as usual, same result', () => {
      const got = loadCopy('swapped', (m, copy) => {
        const files = Object.keys(m.caches);
        // Each script gets the cache of the next one (all differ in length, so V8's check refuses them).
        files.forEach((f, i) => copyFileSync(join(classic, m.caches[files[(i + 1) % files.length]!]!), join(copy, m.caches[f]!)));
        return m;
      });
      expect(got.retval).toBe(7);
      expect(got.cache.length).toBeGreaterThan(3);
      expect(new Set(got.cache)).toEqual(new Set(['rejected']));
    });

    it('truncated and garbage caches: refused, same result', () => {
      const got = loadCopy('damaged', (m, copy) => {
        Object.values(m.caches).forEach((c, i) => {
          const bytes = readFileSync(join(classic, c));
          writeFileSync(join(copy, c), i % 2 ? bytes.subarray(0, bytes.length >> 1) : Buffer.from(bytes.map((b, k) => (b * 31 + k) & 0xff)));
        });
        return m;
      });
      expect(got.retval).toBe(7);
      expect(new Set(got.cache)).toEqual(new Set(['rejected']));
    });

    it('caches made by another V8, or none: not read, compiled as usual', () => {
      for (const [name, edit] of [['other-v8', (m: CodeCacheManifest) => ({ ...m, v8: `${m.v8}-other` })], ['no-manifest', () => null]] as const) {
        const got = loadCopy(name, edit);
        expect({ name, retval: got.retval }).toEqual({ name, retval: 7 });
        expect({ name, cache: new Set(got.cache) }).toEqual({ name, cache: new Set(['none']) });
      }
    });

    it('a script older than the file it was made from (a partial rebuild): the ES modules', () => {
      const copy = join(dir, 'stale');
      cpSync(classic, copy, { recursive: true });
      const source = join(dir, 'stale-source.js');
      writeFileSync(source, '');
      const later = new Date(Date.now() + 60_000);
      utimesSync(source, later, later);
      const got = inFreshNode(`
        const { loadEntry, loadedScripts } = await import(process.argv[1]);
        const { pathToFileURL } = await import('node:url');
        const m = await loadEntry(pathToFileURL(process.argv[2] + '/'), 'runtime/index.js', () => import(process.argv[3]), pathToFileURL(process.argv[4]));
        console.log(JSON.stringify({ scripts: loadedScripts().length, instantiate: typeof m.instantiate }));
      `, loaderUrl, copy, pathToFileURL(join(bundle, 'runtime/index.js')).href, source);
      expect(got).toEqual({ scripts: 0, instantiate: 'function' });
    });

    it('a script that throws while it loads: its error, again at the next import (not taken for a cycle)', () => {
      const copy = join(dir, 'throws');
      cpSync(classic, copy, { recursive: true });
      writeFileSync(join(copy, 'runtime/index.js'), '(function (exports, require, module, __import) {\n"use strict";\nthrow new Error("boom at load");\n})\n');
      const got = inFreshNode(`
        const { loadEntry } = await import(process.argv[1]);
        const { pathToFileURL } = await import('node:url');
        const errors = [];
        for (let i = 0; i < 2; i++) {
          try { await loadEntry(pathToFileURL(process.argv[2] + '/'), 'runtime/index.js', () => { throw new Error('esm'); }); } catch (e) { errors.push(e.message); }
        }
        console.log(JSON.stringify(errors));
      `, loaderUrl, copy);
      expect(got).toEqual(['boom at load', 'boom at load']);
    });

    it('no scripts where the entry looks: the ES module bundle, for every entry after', () => {
      const got = loadCopy('missing', (m, copy) => {
        rmSync(join(copy, 'runtime'), { recursive: true });
        return m;
      });
      expect(got).toEqual({ cache: [], retval: 7, mode: 'esm' });
    });

    it('an application bundle of the Node entry (esbuild, platform node) runs from the ES module bundle', async () => {
      const esbuild = await import('esbuild');
      const entry = join(dir, 'app.mjs');
      writeFileSync(entry, [
        "import { compile, assemble } from 'bpf2wasm/compiler';",
        "import { instantiate } from 'bpf2wasm/runtime';",
        "const out = await compile(assemble('mov %r0, 9\\nexit'));",
        'console.log(JSON.stringify(Number((await instantiate(out.wasm)).program().run(new Uint8Array(8)))));',
      ].join('\n'));
      const outfile = join(dir, 'app-bundle', 'app.mjs');
      // The application's node_modules/bpf2wasm is this package.
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(root, join(dir, 'node_modules', 'bpf2wasm'), 'dir');
      await esbuild.build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', logLevel: 'error', external: ['binaryen', 'wabt'] });
      const text = readFileSync(outfile, 'utf8');
      expect(text).toContain('loadEntry'); // esbuild took the node condition
      expect(JSON.parse(execFileSync(process.execPath, [outfile], { encoding: 'utf8' }).trim())).toBe(9);
    });
  });

  it('the command line runs from its script with the cache V8 takes, printing what the per-file CLI prints', async () => {
    const got = inFreshNode(`
      const { loadEntry, loadedScripts } = await import(process.argv[1]);
      const { pathToFileURL } = await import('node:url');
      const { main } = await loadEntry(pathToFileURL(process.argv[2] + '/'), 'cli/main.js', () => { throw new Error('no script'); });
      const out = [];
      const io = { readFile: async (f) => new Uint8Array((await import('node:fs')).readFileSync(f)), stdout: (t) => out.push(t), stderr: (t) => out.push(t), stderrIsTTY: false, now: () => 0 };
      const status = await main(['disasm', process.argv[3]], io);
      console.log(JSON.stringify({ status, out: out.join(''), caches: loadedScripts().map((s) => [s.file.slice(process.argv[2].length + 1), s.cache]) }));
    `, loaderUrl, classic, XDP_DROP_ICMP) as { status: number; out: string; caches: [string, string][] };
    expect(got.caches).toEqual([[CLI_SCRIPT, 'accepted']]);
    // The per-file CLI, in this process: the same text.
    const { main } = await import(pathToFileURL(join(dist, 'compiler/cli/main.js')).href) as typeof import('../../compiler/cli/main.js');
    const out: string[] = [];
    const status = await main(['disasm', XDP_DROP_ICMP], { readFile: async (f: string) => new Uint8Array(readFileSync(f)), stdout: (t: string) => out.push(t), stderr: (t: string) => out.push(t), stderrIsTTY: false, now: () => 0 } as never);
    expect({ status: got.status, out: got.out }).toEqual({ status, out: out.join('') });
    expect(got.out).toContain('r0 = ');
    // bin.js itself: a run, and an error (a non-zero status and one line, no stack trace).
    const ok = execFileSync(process.execPath, [join(dist, 'compiler/cli/bin.js'), 'run', join(root, 'test-programs/examples/ipv4-checksum.data')], { encoding: 'utf8' });
    expect(ok).toMatch(/^0x[0-9a-f]+\n$/);
    let failed: { status: number | null; stderr: string } | null = null;
    try {
      execFileSync(process.execPath, [join(dist, 'compiler/cli/bin.js'), 'run', join(tmpdir(), `bpf2wasm-missing-${process.pid}.o`)], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      failed = e as { status: number | null; stderr: string };
    }
    expect(failed?.status).not.toBe(0);
    expect(failed?.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed?.stderr).not.toMatch(/\n\s+at /);
  });

  it.skipIf(!DENO)('are not what Deno resolves to (the "deno" condition: the ES module bundle, with the compile hint its V8 knows)', () => {
    const app = mkdtempSync(join(tmpdir(), 'bpf2wasm-deno-'));
    try {
      mkdirSync(join(app, 'node_modules'));
      symlinkSync(root, join(app, 'node_modules', 'bpf2wasm'), 'dir');
      writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module', dependencies: { bpf2wasm: '*' } }));
      writeFileSync(join(app, 'app.mjs'), [
        "import { compile, assemble } from 'bpf2wasm/compiler';",
        "import { instantiate } from 'bpf2wasm/runtime';",
        "const out = await compile(assemble('mov %r0, 5\\nexit'));",
        "console.log(JSON.stringify({ r: Number((await instantiate(out.wasm)).program().run(new Uint8Array(8))), at: ['compiler', 'runtime'].map((e) => import.meta.resolve('bpf2wasm/' + e)) }));",
      ].join('\n'));
      const out = execFileSync(DENO!, ['run', '--node-modules-dir=manual', '--allow-read', '--allow-env', 'app.mjs'], {
        cwd: app, encoding: 'utf8', env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(app, 'deno-cache'), NO_COLOR: '1' },
      });
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ r: 5, at: ['compiler', 'runtime'].map((e) => pathToFileURL(join(bundle, e, 'index.js')).href) });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });

  it('are strict functions with no dynamic import left, and the sources export no binding that changes (the scripts export values)', () => {
    for (const f of readdirSync(classic, { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.js'))) {
      const text = readFileSync(join(classic, f), 'utf8');
      expect({ f, head: text.slice(0, text.indexOf('\n', text.indexOf('\n') + 1)) }).toEqual({ f, head: '(function (exports, require, module, __import) {\n"use strict";' });
    }
    const sources = ['compiler', 'runtime', 'internal'].flatMap((d) => readdirSync(join(root, d), { recursive: true, encoding: 'utf8' })
      .filter((n) => n.endsWith('.ts') && !n.endsWith('.d.ts') && !n.split(/[\\/]/).includes('test')).map((n) => join(root, d, n)));
    expect(sources.length).toBeGreaterThan(100);
    for (const f of sources) expect({ f, mutable: /^\s*export\s+(?:let|var)\s/m.test(readFileSync(f, 'utf8')) }).toEqual({ f, mutable: false });
  });
});
