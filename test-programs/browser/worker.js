// A module worker that imports only the runtime (no compiler, no Binaryen) and runs a module it
// receives already compiled, as Cloudflare Workers receive `.wasm` imported at deploy time.
import { instantiate } from '/dist/runtime/index.js';

self.onmessage = async (ev) => {
  try {
    const inst = await instantiate(ev.data.module);
    self.postMessage('0x' + inst.run(new Uint8Array(ev.data.input)).toString(16));
  } catch (e) {
    self.postMessage(`error: ${e && e.message}`);
  }
};
