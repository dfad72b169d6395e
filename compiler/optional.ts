/**
 * The compiler's optional packages: `binaryen` (validation and optimisation at -O1/-O2) and
 * `wabt` (`.wat` output). Neither is installed with bpf2wasm (they are optional peer
 * dependencies: see the README's Dependencies section); each is imported on first use, and when
 * it is absent the feature that needs it fails with a MissingDependencyError
 * (`E_MISSING_DEPENDENCY`) naming the package to install. The runtime and -O0 never load them.
 */
import { MissingDependencyError } from '../runtime/errors.js';

// Literal specifiers, so that bundlers see (and can leave out or split) both packages.
const importBinaryen = () => import('binaryen');
const importWabt = () => import('wabt');

/** The optional packages and what importing each gives. */
export interface OptionalModules {
  binaryen: Awaited<ReturnType<typeof importBinaryen>>;
  wabt: Awaited<ReturnType<typeof importWabt>>;
}

/** Imports one optional package (replaceable, to test what happens when one is absent). */
export type OptionalImporter = <K extends keyof OptionalModules>(name: K) => Promise<OptionalModules[K]>;

const defaultImporter: OptionalImporter = (name) =>
  (name === 'binaryen' ? importBinaryen() : importWabt()) as Promise<OptionalModules[typeof name]>;

let importer: OptionalImporter = defaultImporter;
const cache = new Map<keyof OptionalModules, Promise<unknown>>();

/**
 * Replaces the importer (undefined restores the real one) and forgets what was loaded. For tests
 * that simulate an absent package; not part of the public API.
 */
export function setOptionalImporter(next: OptionalImporter | undefined): void {
  importer = next ?? defaultImporter;
  cache.clear();
}

/**
 * Imports optional package `name` once. `purpose` names the feature for the error message
 * (`-O1`, `--wat`).
 *
 * @throws MissingDependencyError (E_MISSING_DEPENDENCY) when the package is not installed.
 */
export function loadOptional<K extends keyof OptionalModules>(name: K, purpose: string): Promise<OptionalModules[K]> {
  let p = cache.get(name) as Promise<OptionalModules[K]> | undefined;
  if (!p) {
    p = importer(name).catch((e: unknown) => {
      cache.delete(name);
      if (!isModuleNotFound(e, name)) throw e;
      throw new MissingDependencyError(name, `${purpose} needs the optional package ${name}, which is not installed: npm install ${name}`, { cause: e });
    });
    cache.set(name, p);
  }
  return p;
}

/**
 * True when `e` is the import failure of a package that cannot be found: Node's
 * ERR_MODULE_NOT_FOUND (or CommonJS MODULE_NOT_FOUND) or a browser's unresolvable bare
 * specifier (a TypeError naming it). Errors thrown while a present package loads are not.
 */
export function isModuleNotFound(e: unknown, name: string): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return e.message.includes(name);
  return e instanceof TypeError && /resolve|specifier|failed to fetch|import/i.test(e.message) && e.message.includes(name);
}
