/**
 * Loads the object runtime (runtime/object.ts: the map store and its embedded maps module, the
 * standard and packet helpers, globals, ring and perf buffers) on demand, as its own chunk for
 * bundlers that split dynamic imports: modules without maps (and hosts that only run them) never
 * load it. Both places that create one (`instantiate`, `interpretModule`) are already async.
 */
import type { Manifest } from './abi.js';
import type { ObjectOptions, ObjectRuntime } from './object.js';

/** Creates the runtime side of an object module (ObjectRuntime.create), loading its code first. */
export async function createObject(memory: WebAssembly.Memory, manifest: Manifest, options: ObjectOptions): Promise<ObjectRuntime> {
  const { ObjectRuntime: Runtime } = await import('./object.js');
  return Runtime.create(memory, manifest, options);
}
