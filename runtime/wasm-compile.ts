/**
 * Compiling small Wasm modules on the calling thread. `WebAssembly.compile` hands the work to the
 * engine's background threads and resolves through the event loop: for a few kilobytes that trip
 * costs more than the compile (~0.1-0.5 ms of a fresh process's first `instantiate()`), so small
 * modules go through `new WebAssembly.Module`, which browsers allow on their main thread (up to
 * 4 KB always, any size since Chromium 114), with the asynchronous compile as the fallback.
 */

/** Modules up to this many bytes are compiled synchronously wherever bpf2wasm compiles them. */
export const SYNC_COMPILE_MAX = 4096;

/**
 * The module compiled synchronously, or undefined when that fails (bad bytes, a host that refuses
 * synchronous compiles of this size): the caller then compiles asynchronously, which reports a
 * failure exactly as it always did (its message names `WebAssembly.compile()`).
 */
export function compileSync(bytes: BufferSource): WebAssembly.Module | undefined {
  try {
    return new WebAssembly.Module(bytes);
  } catch {
    return undefined;
  }
}
