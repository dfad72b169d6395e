/**
 * Node-only: loads the package's bundled entries (dist/bundle/) as classic scripts with V8's
 * code cache, which is what `bpf2wasm/compiler`, `bpf2wasm/runtime` and `bpf2wasm/internal`
 * resolve to in Node (the `node` condition of package.json's exports). Browsers, workers, Deno
 * and bundlers get the ES module bundle itself.
 *
 * Why: in a fresh Node process V8 compiles each function of ours on its first call, so the first
 * compile of a small filter is mostly V8 compiling the compiler (README "Cold start"). Node 20
 * has no code cache for ES modules (Node 22's `module.enableCompileCache()` is one), but a
 * `vm.Script` takes one: the build (scripts/build-node-entries.ts) turns each chunk of the ES
 * module bundle into a function, one script per chunk, runs a compile, an instantiate and a
 * test run with them, and stores V8's code cache of each script next to it; loading them here
 * hands V8 that cache, so the import deserialises bytecode instead of parsing, and the first
 * compile finds its functions compiled.
 *
 * The chunks keep the bundle's layout: the runtime entry loads only its own chunks (the
 * compiler's are loaded by the compiler entry), and a class is the same class whichever entry
 * it comes from. A chunk's exports are its values once it has run (the package exports no
 * mutable binding; a test checks). A cache V8 refuses (another Node or V8, other V8 flags) is
 * ignored by V8, which then compiles the script as usual; where the scripts are missing (this
 * module bundled into an application by a bundler) the ES module bundle is imported instead.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';

/** What the build writes next to the scripts: the V8 the caches were made by, and their files. */
export interface CodeCacheManifest {
  /** `process.versions.v8` of the process that made the caches. */
  v8: string;
  /** Script file (relative to the scripts' directory) -> its cache file, relative too. */
  caches: Record<string, string>;
}

/** The manifest's file name, in the scripts' directory. */
export const CODE_CACHE_MANIFEST = 'code-cache.json';

/** The parameters of the function each script is: the names its transformed text uses. */
export const SCRIPT_PARAMS = ['exports', 'require', 'module', '__import'] as const;

/** One loaded script. */
export interface LoadedScript {
  /** Absolute path of the script. */
  file: string;
  script: vm.Script;
  /** 'accepted' or 'rejected' by V8; 'none' where there was no cache for this V8. */
  cache: 'accepted' | 'rejected' | 'none';
}

type Exports = Record<string, unknown>;
type ScriptFunction = (exports: Exports, require: (spec: string) => Exports, module: { exports: Exports }, __import: (spec: string) => Promise<unknown>) => void;

const loaded = new Map<string, { info: LoadedScript; exports: Exports | null }>();
const manifests = new Map<string, CodeCacheManifest | null>();
let mode: 'classic' | 'esm' | undefined;

/**
 * The exports of one entry (`entry` relative to `dir`, the scripts' directory): from the classic
 * scripts, or from `esm()` (the ES modules the script was made from) where the script is not
 * there or is older than `source`, the file it was made from (a partial rebuild: `tsc` alone).
 * The choice is made once per process, at the first entry loaded, so that all entries share
 * their classes.
 */
export async function loadEntry(dir: URL, entry: string, esm: () => Promise<Exports>, source?: URL): Promise<Exports> {
  const file = fileURLToPath(new URL(entry, dir));
  mode ??= existsSync(file) && !newer(source, file) ? 'classic' : 'esm';
  return mode === 'esm' ? esm() : loadScript(file, fileURLToPath(dir));
}

/** Whether `source` exists and was written after `file`. */
function newer(source: URL | undefined, file: string): boolean {
  if (source === undefined || source.protocol !== 'file:') return false;
  try {
    return statSync(fileURLToPath(source)).mtimeMs > statSync(file).mtimeMs;
  } catch {
    return false;
  }
}

/** The scripts loaded so far, in load order (for the build, which makes their caches, and tests). */
export function loadedScripts(): LoadedScript[] {
  return [...loaded.values()].map((l) => l.info);
}

/** The manifest of `dir` if its caches are for this process's V8, else null. */
function manifestOf(dir: string): CodeCacheManifest | null {
  if (!manifests.has(dir)) {
    let m: CodeCacheManifest | null = null;
    try {
      const parsed = JSON.parse(readFileSync(path.join(dir, CODE_CACHE_MANIFEST), 'utf8')) as CodeCacheManifest;
      if (parsed.v8 === process.versions.v8 && typeof parsed.caches === 'object') m = parsed;
    } catch {
      // No manifest: the build made no caches (or they were removed); V8 compiles as usual.
    }
    manifests.set(dir, m);
  }
  return manifests.get(dir)!;
}

/** Runs the script at `file` (once per process) and returns its exports. */
function loadScript(file: string, dir: string): Exports {
  const seen = loaded.get(file);
  if (seen) {
    // The bundle's chunks import each other without cycles; a cycle here is a build fault.
    if (seen.exports === null) throw new Error(`bpf2wasm: ${file} imports itself through a cycle (rebuild the package)`);
    return seen.exports;
  }
  const text = readFileSync(file, 'utf8');
  const rel = path.relative(dir, file).split(path.sep).join('/');
  const cacheName = manifestOf(dir)?.caches[rel];
  const cachedData = cacheName !== undefined ? readCache(path.join(dir, cacheName)) : undefined;
  const script = new vm.Script(text, { filename: file, ...(cachedData ? { cachedData } : {}) });
  const info: LoadedScript = { file, script, cache: cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'none' };
  loaded.set(file, { info, exports: null });
  const here = pathToFileURL(file);
  const pathOf = (spec: string): string => fileURLToPath(new URL(spec, here));
  const relative = (spec: string): boolean => spec.startsWith('./') || spec.startsWith('../');
  const module = { exports: {} as Exports };
  try {
    const fn = script.runInThisContext() as ScriptFunction;
    fn(module.exports, (spec) => {
      if (!relative(spec)) throw new Error(`bpf2wasm: ${file} requires '${spec}' (rebuild the package)`);
      return loadScript(pathOf(spec), dir);
    }, module, (spec) => (relative(spec) ? Promise.resolve().then(() => loadScript(pathOf(spec), dir)) : import(spec)));
  } catch (e) {
    // Not half-loaded: a later import runs it again (and fails again, with its own error).
    loaded.delete(file);
    throw e;
  }
  // The values, once the chunk has run: plain properties, not the getters of a live binding.
  const exports: Exports = {};
  for (const key of Object.keys(module.exports)) exports[key] = module.exports[key];
  loaded.set(file, { info, exports });
  return exports;
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}
