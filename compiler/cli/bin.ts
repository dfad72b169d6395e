#!/usr/bin/env node
/**
 * Node adapter of the CLI: real files, real stdout/stderr, exit status. `main` comes from the
 * CLI's script with V8's code cache (dist/bundle/node/classic/cli/main.js, made by
 * scripts/build-node-entries.ts: one file, its functions compiled, so a command starts in about
 * half the time), or from the per-file build where that script is missing or older than it.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { loadEntry } from '../../runtime/node/classic-scripts.js';
import type * as MainModule from './main.js';

const { main } = await loadEntry(new URL('../../bundle/node/classic/', import.meta.url), 'cli/main.js', () => import('./main.js'), new URL('./main.js', import.meta.url)) as unknown as typeof MainModule;

const io = {
  readFile: async (path: string): Promise<Uint8Array> => new Uint8Array(await readFile(path)),
  readStream: (path: string): AsyncIterable<Uint8Array> => createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>,
  stderrIsTTY: process.stderr.isTTY === true,
  writeFile: (path: string, data: Uint8Array | string): Promise<void> => writeFile(path, data),
  writeStream: async (path: string) => {
    const file = await open(path, 'w');
    return {
      write: async (data: Uint8Array): Promise<void> => {
        for (let at = 0; at < data.length;) at += (await file.write(data, at)).bytesWritten;
      },
      close: (): Promise<void> => file.close(),
    };
  },
  stdout: (text: string): void => void process.stdout.write(text),
  stderr: (text: string): void => void process.stderr.write(text),
  now: (): number => Number(process.hrtime.bigint()),
};

main(process.argv.slice(2), io).then(
  (status) => {
    process.exitCode = status;
  },
  (e: unknown) => {
    process.stderr.write(`bpf2wasm: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    process.exitCode = 70;
  },
);
