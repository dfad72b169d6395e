/**
 * Compiling and instantiating the runtime's Wasm modules (programs, the maps module): small
 * modules compile synchronously, large ones with the engine's asynchronous API; instances are
 * made synchronously.
 *
 * Why: `WebAssembly.compile` and `WebAssembly.instantiate` hand the work to the engine's
 * threads and resolve in a later task. For the few-kilobyte modules bpf2wasm writes that round
 * trip is most of the cost: in fresh Chromium contexts (part (g) of the bench), an object with a
 * map went from ~46 to ~26 ms after the import (median of 10, interleaved, load 2-4) with the
 * program and the maps module compiled and instantiated synchronously, and the 100-instruction
 * filter from ~12 to ~11 ms. Browsers refuse synchronous compiles of large modules on the main
 * thread (Chromium above 8 MB, with a RangeError) and a large synchronous compile would block
 * it, so above {@link SYNC_COMPILE_MAX_BYTES} the asynchronous API is used as before. A
 * synchronous step that fails for any reason (bad bytes, a missing import, a host's refusal)
 * is redone asynchronously, so failures are reported exactly as before, by
 * `WebAssembly.compile()` and `WebAssembly.instantiate()`.
 */

/** Modules up to this size (bytes) are compiled synchronously. */
export const SYNC_COMPILE_MAX_BYTES = 128 * 1024;

/** The module of `bytes`. */
export async function compileModule(bytes: Uint8Array | ArrayBuffer): Promise<WebAssembly.Module> {
  if (bytes.byteLength <= SYNC_COMPILE_MAX_BYTES) {
    try {
      return new WebAssembly.Module(bytes as BufferSource);
    } catch {
      // Redone below: its error, if any, is the one reported.
    }
  }
  return WebAssembly.compile(bytes as BufferSource);
}

/** An instance of `module`, made synchronously (asynchronously where that fails). */
export async function instantiateModule(module: WebAssembly.Module, imports: WebAssembly.Imports): Promise<WebAssembly.Instance> {
  try {
    return new WebAssembly.Instance(module, imports);
  } catch {
    // Redone below: its error, if any, is the one reported.
  }
  return WebAssembly.instantiate(module, imports);
}
