/**
 * The floor of cold start (part (g)): the smallest module of the shape bpf2wasm writes (an
 * imported memory, one exported function that loads from it), hand-encoded so that no code of
 * the project runs to make it. Compiling, instantiating and calling it first thing in a fresh
 * process or browser context measures what V8 charges for its first Wasm module whoever wrote it
 * (code space, wrappers, the engine's own start-up), the part of every cold start no compiler
 * or runtime can remove.
 *
 *   (module (import "env" "memory" (memory 1))
 *     (func (export "main") (param i32) (result i64) local.get 0 i64.load))
 */
export const FLOOR_MODULE: Uint8Array<ArrayBuffer> = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7e, // type: (i32) -> i64
  0x02, 0x0f, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01, // import env.memory, 1 page
  0x03, 0x02, 0x01, 0x00, // function 0 of type 0
  0x07, 0x08, 0x01, 0x04, 0x6d, 0x61, 0x69, 0x6e, 0x00, 0x00, // export "main"
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x29, 0x03, 0x00, 0x0b, // local.get 0; i64.load; end
]);

/** Compiles, instantiates and calls FLOOR_MODULE; returns the compile's share and the whole, in ms. */
export async function runFloor(): Promise<{ compileMs: number; totalMs: number }> {
  const t0 = performance.now();
  const module = await WebAssembly.compile(FLOOR_MODULE);
  const t1 = performance.now();
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  (instance.exports['main'] as (p: number) => bigint)(0);
  return { compileMs: t1 - t0, totalMs: performance.now() - t0 };
}
