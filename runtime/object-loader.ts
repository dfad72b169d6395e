/**
 * Loads the object runtime (runtime/object.ts: the map store and its embedded maps module, the
 * standard and packet helpers, globals, ring and perf buffers) on demand, as its own chunk for
 * bundlers that split dynamic imports: modules without maps (and hosts that only run them) never
 * load it. Both places that create one (`instantiate`, `interpretModule`) are already async.
 *
 * Where the object runtime is already loaded (the compiler imports it statically, so a host that
 * compiles and runs has it), it is used as it is: `import()` of an already loaded module still
 * costs a trip through the module loader, and where the chunk that re-exports it is a file of
 * its own, a fetch (10-50 ms in Chromium, README "Benchmarks").
 */
import type { Manifest } from './abi.js';
import type { ObjectOptions, ObjectRuntime } from './object.js';

let loaded: typeof ObjectRuntime | undefined;

/** Called once by runtime/object.ts as it is evaluated: the object runtime is there. */
export function objectRuntimeLoaded(runtime: typeof ObjectRuntime): void {
  loaded = runtime;
}

/** Creates the runtime side of an object module (ObjectRuntime.create), loading its code first. */
export async function createObject(memory: WebAssembly.Memory, manifest: Manifest, options: ObjectOptions): Promise<ObjectRuntime> {
  const Runtime = loaded ?? (await import('./object.js')).ObjectRuntime;
  return Runtime.create(memory, manifest, options);
}
