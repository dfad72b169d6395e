/**
 * The bundled entries (dist/bundle/, scripts/build-bundle.ts), which the package's exports
 * resolve to: they export what the per-file build exports, share one copy of every class across
 * entries, import no `node:*` module, keep the object runtime out of what the runtime entry loads
 * at start, and compile and run programs (an object calling only map helpers, which skips the
 * standard and packet helpers, and objects calling those).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_DIR, BUNDLE_ENTRIES, FILE_HINT, hintEagerFunctions } from '../build-bundle.js';
import { EAGER_FUNCTIONS } from '../eager-functions.js';
import { NODE_DIR } from '../build-node-entries.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = join(root, 'dist');
const bundle = join(dist, BUNDLE_DIR);

type Module = Record<string, unknown>;
const load = (file: string): Promise<Module> => import(pathToFileURL(file).href) as Promise<Module>;

/** The files a bundle file imports statically (`from "./chunk-X.js"`), transitively, itself included. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s*"(\.[^"]+)"/gm)) {
    staticClosure(resolve(dirname(file), m[1]!), seen);
  }
  return seen;
}

/** The ES module bundle's files (not the Node entries under node/, built from them). */
function esmFiles(): string[] {
  return readdirSync(bundle, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js') && !f.startsWith(`${NODE_DIR}/`))
    .map((f) => join(bundle, f));
}

/** An ICMP echo request in Ethernet/IPv4 (what xdp_drop_icmp drops). */
const ICMP = new Uint8Array(readFileSync(join(root, 'test-programs/examples/icmp-echo-request.pkt')));

describe('bundled entries (dist/bundle)', () => {
  beforeAll(() => {
    if (!existsSync(join(bundle, 'runtime/index.js'))) throw new Error('dist/bundle/ is missing: run npm run build');
  });

  it('export what the per-file build exports', async () => {
    for (const entry of BUNDLE_ENTRIES) {
      const [perFile, bundled] = await Promise.all([load(join(dist, entry)), load(join(bundle, entry))]);
      expect({ entry, names: Object.keys(bundled).sort() }).toEqual({ entry, names: Object.keys(perFile).sort() });
    }
  });

  it('are what the package exports resolve to, and share their classes', async () => {
    // Browsers, workers, Deno (which would otherwise take the node condition) and bundlers get
    // the ES module bundle; Node its classic-script form with V8's code cache
    // (scripts/test/node-entries.test.ts).
    const exportsField = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> }).exports;
    const require = createRequire(join(root, 'package.json'));
    for (const entry of BUNDLE_ENTRIES) {
      const conditions = exportsField[`./${dirname(entry)}`]!;
      expect(Object.keys(conditions)).toEqual(['types', 'deno', 'node', 'default']);
      expect(conditions['deno']).toBe(conditions['default']);
      expect(resolve(root, conditions['default']!)).toBe(join(bundle, entry));
      expect(resolve(root, conditions['node']!)).toBe(join(bundle, NODE_DIR, entry));
      expect(require.resolve(`bpf2wasm/${dirname(entry)}`)).toBe(join(bundle, NODE_DIR, entry));
    }
    const compiler = await load(join(bundle, 'compiler/index.js'));
    const runtime = await load(join(bundle, 'runtime/index.js'));
    const internal = await load(join(bundle, 'internal/index.js'));
    for (const name of ['CompileError', 'Bpf2WasmError', 'BpfRuntimeError', 'ErrorCode']) {
      expect(compiler[name]).toBeDefined();
      expect(compiler[name]).toBe(runtime[name]);
    }
    for (const name of Object.keys(internal)) if (name in runtime) expect(internal[name]).toBe(runtime[name]);
  });

  it('import no node:* module, and the runtime entry loads the object runtime only on demand', () => {
    const files = esmFiles();
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect({ f, nodeImport: /(?:from|import\()\s*["']node:/.test(readFileSync(f, 'utf8')) }).toEqual({ f, nodeImport: false });
    // esbuild marks each input it bundles with a `// dist/<path>` comment.
    const holds = (files: Iterable<string>, input: string): boolean =>
      [...files].some((f) => readFileSync(f, 'utf8').includes(`\n// dist/${input}\n`));
    const atStart = staticClosure(join(bundle, 'runtime/index.js'));
    expect(holds(atStart, 'runtime/instance.js')).toBe(true);
    expect(holds(atStart, 'runtime/object.js')).toBe(false);
    expect(holds(atStart, 'compiler/compile.js')).toBe(false);
    expect(holds(files, 'runtime/object.js')).toBe(true);
  });

  it('compile and run objects: map helpers only, and the standard and packet helpers', async () => {
    const { compileObject } = await load(join(bundle, 'compiler/index.js')) as typeof import('../../compiler/index.js');
    const { instantiate } = await load(join(bundle, 'runtime/index.js')) as typeof import('../../runtime/index.js');
    // xdp_drop_icmp calls bpf_map_lookup_elem only: the instance has no standard or packet helpers.
    const drop = await compileObject(new Uint8Array(readFileSync(join(root, 'test-programs/c/xdp_drop_icmp.o'))));
    expect(drop.manifest.helpers.map((h) => h.name)).toEqual(['bpf_map_lookup_elem']);
    const inst = await instantiate(drop.wasm);
    const prog = [...inst.programs][0]!;
    expect(prog.test({ dataIn: ICMP }).retval).toBe(1); // XDP_DROP
    expect(prog.test({ dataIn: ICMP }).retval).toBe(1);
    // The program counted both drops in its map (the maps module's lookup, called from Wasm).
    expect(inst.map<number, bigint[]>('drops').get(0)).toEqual([2n]);
    // printk.o calls bpf_trace_printk (a standard helper): it prints through the trace sink.
    const printk = await compileObject(new Uint8Array(readFileSync(join(root, 'test-programs/c/printk.o'))));
    const lines: string[] = [];
    const pinst = await instantiate(printk.wasm, { trace: (l) => lines.push(l) });
    for (const p of pinst.programs) p.run(new Uint8Array(64));
    expect(lines.length).toBeGreaterThan(0);
  });

  it('give the functions every compile runs V8\'s eager-compile hint, outside the runtime entry\'s chunks', () => {
    const files = esmFiles();
    const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    const unhinted = EAGER_FUNCTIONS.filter((n) => !text.includes(`\nvar ${n} = (function ${n}(`));
    // A stale list (a function renamed or gone): regenerate it, see scripts/eager-functions.ts.
    expect(unhinted).toEqual([]);
    const atStart = staticClosure(join(bundle, 'runtime/index.js'));
    for (const f of atStart) {
      const t = readFileSync(f, 'utf8');
      expect({ f, hinted: /^var \w+ = \(function /m.test(t), fileHint: t.includes(FILE_HINT) }).toEqual({ f, hinted: false, fileHint: false });
    }
    // The per-file hint: on the first line of the chunk that holds the compile path, and only there.
    const withHint = files.filter((f) => readFileSync(f, 'utf8').startsWith(`${FILE_HINT}\n`));
    expect(withHint.length).toBe(1);
    expect(readFileSync(withHint[0]!, 'utf8')).toContain('\n// dist/compiler/compile.js\n');
    expect(files.filter((f) => readFileSync(f, 'utf8').includes(FILE_HINT))).toEqual(withHint);
  });
});

describe('hintEagerFunctions', () => {
  it('turns the declarations named into parenthesised expressions at the top, keeping hoisting and the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpf2wasm-hint-'));
    try {
      mkdirSync(join(dir, 'runtime'));
      writeFileSync(join(dir, 'runtime/index.js'), 'export const r = 1;\n');
      writeFileSync(join(dir, 'dep.js'), 'export const k = 40;\n');
      writeFileSync(join(dir, 'chunk.js'), [
        'import { k } from "./dep.js";',
        'const early = f(1);',
        'function f(a) {',
        '  return g(a) + k;',
        '}',
        'function g(a) { return a + 1; }',
        'async function h() { return f(0); }',
        'export { early, f, g, h };',
      ].join('\n'));
      const got = await hintEagerFunctions(dir, ['f', 'h', 'missing']);
      expect(got).toEqual({ hinted: ['f'], missing: ['h', 'missing'] });
      const text = readFileSync(join(dir, 'chunk.js'), 'utf8');
      expect(text.startsWith(`${FILE_HINT}\nimport { k } from "./dep.js";\nvar f = (function f(a) {\n  return g(a) + k;\n});\n`)).toBe(true);
      // A chunk with nothing to hint is left as it was.
      expect(readFileSync(join(dir, 'dep.js'), 'utf8')).toBe('export const k = 40;\n');
      expect(text).toContain('function g(a) { return a + 1; }');
      const m = await load(join(dir, 'chunk.js'));
      expect(m['early']).toBe(42);
      expect(await (m['h'] as () => Promise<number>)()).toBe(41);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
