/**
 * runtime/wasm-compile.ts: small modules compile synchronously, and where the host refuses that
 * (a browser's main-thread limit, a platform that forbids compiling), callers fall back to the
 * asynchronous compile with its own result and errors.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compileSync } from '../wasm-compile.js';
import { MAPS_WASM_SIZE } from '../maps/maps-wasm.js';

const EMPTY = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const RealModule = WebAssembly.Module;

afterEach(() => {
  WebAssembly.Module = RealModule;
  vi.restoreAllMocks();
});

describe('compileSync', () => {
  it('gives a module for valid bytes and undefined for bad ones', () => {
    expect(compileSync(EMPTY)).toBeInstanceOf(RealModule);
    expect(compileSync(Uint8Array.from([...EMPTY, 0x01, 0xff]))).toBeUndefined();
    expect(compileSync(new Uint8Array(0))).toBeUndefined();
  });

  it('the maps module compiles without WebAssembly.compile, and with it where the synchronous compile is refused', async () => {
    const compile = vi.spyOn(WebAssembly, 'compile');
    vi.resetModules();
    const first = await import('../maps/store.js');
    expect(await first.mapsModule()).toBeInstanceOf(RealModule);
    expect(compile).not.toHaveBeenCalled();

    // A host that refuses synchronous compiles of this size (Chromium before 114 on its main thread).
    WebAssembly.Module = function refused(): never {
      throw new RangeError(`WebAssembly.Module must not compile ${MAPS_WASM_SIZE} bytes here`);
    } as unknown as typeof WebAssembly.Module;
    vi.resetModules();
    const second = await import('../maps/store.js');
    const module = await second.mapsModule();
    WebAssembly.Module = RealModule;
    expect(module).toBeInstanceOf(RealModule);
    expect(compile).toHaveBeenCalledTimes(1);
    expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain('map_lookup_elem');
  });
});
