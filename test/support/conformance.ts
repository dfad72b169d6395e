/**
 * Test support: the shared bpf_conformance suite (../shared/conformance/tests next to the
 * repository, or BPF2WASM_CONFORMANCE_DIR). Tests that use it skip with NO_CONFORMANCE when it is
 * not checked out.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDataFile, type DataFile } from '../../compiler/asm/datafile.js';

/** The suite's folder; overridable so the skip and the empty-folder failure can be exercised. */
export const CONFORMANCE_DIR = process.env.BPF2WASM_CONFORMANCE_DIR
  ?? fileURLToPath(new URL('../../../shared/conformance/tests/', import.meta.url));
/** True if the suite is checked out. */
export const HAVE_CONFORMANCE = existsSync(CONFORMANCE_DIR);
/** Its `.data` files, sorted. */
export const CONFORMANCE_FILES: readonly string[] = HAVE_CONFORMANCE
  ? readdirSync(CONFORMANCE_DIR).filter((f) => f.endsWith('.data')).sort()
  : [];
/** The reason given when tests skip for want of the suite. */
export const NO_CONFORMANCE = `skipped: ${CONFORMANCE_DIR} not found (the shared conformance suite is not checked out)`;

/** One `.data` file of the suite, parsed. */
export function readConformance(name: string): DataFile {
  return parseDataFile(readFileSync(path.join(CONFORMANCE_DIR, name), 'utf8'));
}
