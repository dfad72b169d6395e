/**
 * binaryen and wabt are optional packages (compiler/optional.ts): with either absent, -O0 and the
 * runtime still work, and what needs the package fails with E_MISSING_DEPENDENCY naming it.
 * Absence is simulated by an importer that imports a package that does not exist (a real
 * ERR_MODULE_NOT_FOUND from Node).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, MissingDependencyError } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import { assemble } from '../asm/assemble.js';
import { main, type CliIO } from '../cli/main.js';
import { compile } from '../compile.js';
import { isModuleNotFound, setOptionalImporter, type OptionalImporter } from '../optional.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PROGRAM = assemble('mov %r0, 41\nadd %r0, 1\nexit');

/** An importer for which `missing` is not installed (importing it fails as Node fails). */
function without(missing: string): OptionalImporter {
  return (async (name: string) => {
    if (name === missing) return import(/* @vite-ignore */ `bpf2wasm-not-installed-${name}`);
    return name === 'binaryen' ? import('binaryen') : import('wabt');
  }) as OptionalImporter;
}

afterEach(() => setOptionalImporter(undefined));

describe('optional packages', () => {
  it('without binaryen: -O0 compiles and runs, -O1 and -O2 fail with E_MISSING_DEPENDENCY', async () => {
    setOptionalImporter(without('binaryen'));
    const { wasm } = await compile(PROGRAM, { optLevel: 0 });
    expect((await instantiate(wasm)).run()).toBe(42n);
    for (const optLevel of [1, 2] as const) {
      const e = await compile(PROGRAM, { optLevel }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(MissingDependencyError);
      expect(e).toMatchObject({ code: ErrorCode.MissingDependency, dependency: 'binaryen' });
      expect((e as Error).message).toBe(`E_MISSING_DEPENDENCY: -O${optLevel} needs the optional package binaryen, which is not installed: npm install binaryen`);
    }
    // Once it is there again, -O1 works (the failure is not cached).
    setOptionalImporter(undefined);
    expect((await instantiate((await compile(PROGRAM, { optLevel: 1 })).wasm)).run()).toBe(42n);
  });

  it('without wabt: the CLI compiles, and --wat says what to install', async () => {
    setOptionalImporter(without('wabt'));
    const written = new Map<string, Uint8Array | string>();
    let err = '';
    const io: CliIO = {
      readFile: async (p) => new Uint8Array(readFileSync(path.join(root, p))),
      writeFile: async (p, d) => { written.set(p, d); },
      stdout: () => undefined,
      stderr: (t) => { err += t; },
      now: () => 0,
    };
    expect(await main(['compile', 'test-programs/c/xdp_counter.o', '-O0', '-o', 'out.wasm'], io)).toBe(0);
    expect(await main(['compile', 'test-programs/c/xdp_counter.o', '-O0', '-o', 'out.wasm', '--wat'], io)).toBe(1);
    expect(err).toContain('E_MISSING_DEPENDENCY: --wat needs the optional package wabt, which is not installed: npm install wabt');
    expect(written.has('out.wat')).toBe(false);
  });

  it('an error thrown while a present package loads is not taken for absence', async () => {
    const broken = new Error('binaryen: out of memory while instantiating');
    setOptionalImporter((async () => { throw broken; }) as OptionalImporter);
    const e = await compile(PROGRAM, { optLevel: 1 }).then(() => undefined, (x: unknown) => x);
    expect(e).not.toBeInstanceOf(MissingDependencyError);
    expect(e).toMatchObject({ code: ErrorCode.Internal });
    expect((e as Error).cause).toBe(broken);
  });

  it('isModuleNotFound: Node and browser spellings, for the package asked about only', async () => {
    const specifier = 'bpf2wasm-not-installed-binaryen';
    const nodeError = await import(/* @vite-ignore */ specifier).then(() => undefined, (e: unknown) => e);
    expect(isModuleNotFound(nodeError, 'bpf2wasm-not-installed-binaryen')).toBe(true);
    expect(isModuleNotFound(nodeError, 'wabt')).toBe(false);
    expect(isModuleNotFound(new TypeError('Failed to resolve module specifier "binaryen"'), 'binaryen')).toBe(true);
    expect(isModuleNotFound(new TypeError('x is not a function'), 'binaryen')).toBe(false);
    expect(isModuleNotFound('binaryen', 'binaryen')).toBe(false);
  });
});
