/**
 * Test support: the repository's files as tests read them (compiled C objects, hand-made ELF
 * fixtures). Every read returns fresh bytes, so a test may change them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A path below the repository root. */
export function repoPath(...parts: string[]): string {
  return path.join(ROOT, ...parts);
}

/** The bytes of a file below the repository root (a fresh copy). */
export function repoBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(repoPath(rel)));
}

/** `test-programs/c/<name>.o`, a clang-built object. */
export function cObject(name: string): Uint8Array {
  return repoBytes(`test-programs/c/${name}.o`);
}

/** `test-programs/elf/<name>`, a hand-made ELF fixture. */
export function elfFixture(name: string): Uint8Array {
  return repoBytes(`test-programs/elf/${name}`);
}

/** The `.o` files of a folder below the root, sorted by name (none if the folder is missing). */
export function objectFiles(rel: string): string[] {
  const dir = repoPath(rel);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.o')).sort() : [];
}
