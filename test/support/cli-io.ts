/**
 * An in-memory CliIO for CLI tests: files from a record (strings encoded as UTF-8), a missing
 * file fails as Node's ENOENT does, writes are dropped, stdout and stderr are collected.
 */
import type { CliIO } from '../../compiler/cli/io.js';

/** A CliIO over `files`, collecting what the CLI prints in `out` and `err`. */
export function memoryIO(files: Record<string, Uint8Array | string>): CliIO & { out: string; err: string } {
  const enc = new TextEncoder();
  const o = {
    out: '',
    err: '',
    async readFile(p: string): Promise<Uint8Array> {
      const f = files[p];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      return typeof f === 'string' ? enc.encode(f) : f;
    },
    async writeFile(): Promise<void> {},
    stdout(t: string): void { o.out += t; },
    stderr(t: string): void { o.err += t; },
    now: (): number => 0,
  };
  return o;
}
