/**
 * runtime/wasm-compile.ts: small modules compile synchronously, large ones (and any a
 * synchronous attempt refuses, as a browser's main thread does above its limit) asynchronously;
 * instances are made synchronously, asynchronously where that fails; the errors are the
 * asynchronous API's.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compileModule, instantiateModule, SYNC_COMPILE_MAX_BYTES } from '../wasm-compile.js';

/** A module exporting `f() -> i32` returning 42, padded with a custom section to `size` bytes or more. */
function moduleOf(size = 0): Uint8Array {
  const body = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
    0x03, 0x02, 0x01, 0x00, // func 0: type 0
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f"
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b]; // code: i32.const 42
  if (size <= body.length) return new Uint8Array(body);
  // A custom section "pad": id 0, LEB128 size, name length 3, "pad", filler.
  const leb = (n: number): number[] => { const out: number[] = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };
  // Section id, payload size (LEB128), name length, "pad": the filler makes up the rest.
  let fill = size - body.length - 5 - leb(size).length;
  if (body.length + 5 + leb(4 + fill).length + fill !== size) fill += 1;
  const payload = 4 + fill;
  return new Uint8Array([...body, 0x00, ...leb(payload), 0x03, 0x70, 0x61, 0x64, ...new Uint8Array(fill)]);
}

/** The error `p` rejects with (a test failure if it resolves). */
async function failure(p: Promise<unknown>): Promise<Error> {
  const got = await p.then(() => null, (e: unknown) => e as Error);
  if (got === null) throw new Error('expected a rejection');
  return got;
}

const f = (i: WebAssembly.Instance): number => (i.exports['f'] as () => number)();

describe('compileModule / instantiateModule', () => {
  afterEach(() => vi.restoreAllMocks());

  it('compile a small module synchronously, a large one asynchronously; both run', async () => {
    const compile = vi.spyOn(WebAssembly, 'compile');
    const instantiate = vi.spyOn(WebAssembly, 'instantiate');
    const small = await compileModule(moduleOf());
    const atLimit = moduleOf(SYNC_COMPILE_MAX_BYTES);
    expect(atLimit.byteLength).toBe(SYNC_COMPILE_MAX_BYTES);
    await compileModule(atLimit);
    expect(compile).not.toHaveBeenCalled();
    expect(f(await instantiateModule(small, {}))).toBe(42);
    expect(instantiate).not.toHaveBeenCalled();
    const large = await compileModule(moduleOf(SYNC_COMPILE_MAX_BYTES + 1));
    expect(compile).toHaveBeenCalledTimes(1);
    expect(f(await instantiateModule(large, {}))).toBe(42);
  });

  it('fall back to the asynchronous API when a synchronous attempt is refused (a RangeError, as a browser main thread above its limit)', async () => {
    const Module = WebAssembly.Module;
    const Instance = WebAssembly.Instance;
    const refuse = (what: string) => function (): never { throw new RangeError(`${what}: too large for the main thread`); };
    vi.spyOn(WebAssembly, 'Module').mockImplementation(refuse('Module') as unknown as () => WebAssembly.Module);
    const compile = vi.spyOn(WebAssembly, 'compile');
    const m = await compileModule(moduleOf());
    expect(compile).toHaveBeenCalledTimes(1);
    vi.restoreAllMocks();
    expect(m).toBeInstanceOf(Module);
    vi.spyOn(WebAssembly, 'Instance').mockImplementation(refuse('Instance') as unknown as () => WebAssembly.Instance);
    const instantiate = vi.spyOn(WebAssembly, 'instantiate');
    const inst = await instantiateModule(m, {});
    expect(instantiate).toHaveBeenCalledTimes(1);
    vi.restoreAllMocks();
    expect(inst).toBeInstanceOf(Instance);
    expect(f(inst)).toBe(42);
  });

  it('report what the asynchronous API reports: a CompileError for bad bytes, a LinkError for missing imports', async () => {
    const bad = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00]);
    const asyncError = await failure(WebAssembly.compile(bad));
    const ours = await failure(compileModule(bad));
    expect(ours).toBeInstanceOf(WebAssembly.CompileError);
    expect(ours.message).toBe(asyncError.message);
    expect(asyncError.message).toMatch(/^WebAssembly\.compile\(\)/);
    // A module importing a function.
    const imp = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
      0x02, 0x07, 0x01, 0x01, 0x65, 0x01, 0x67, 0x00, 0x00]);
    const m = await compileModule(imp);
    for (const imports of [{}, { e: { g: 1 } }] as WebAssembly.Imports[]) {
      const asyncError = await failure(WebAssembly.instantiate(m, imports));
      const ours = await failure(instantiateModule(m, imports));
      expect([ours.constructor, ours.message]).toEqual([asyncError.constructor, asyncError.message]);
      expect(asyncError.message).toMatch(/^WebAssembly\.instantiate\(\)/);
    }
  });
});
