// A module worker that imports only the runtime (no compiler, no Binaryen) and runs modules it
// receives already compiled, as Cloudflare Workers receive `.wasm` imported at deploy time: a
// plain program, and an object with a map together with the precompiled maps module.
import { instantiate } from '/dist/runtime/index.js';

self.onmessage = async (ev) => {
  try {
    const inst = await instantiate(ev.data.module);
    const checksum = '0x' + inst.run(new Uint8Array(ev.data.input)).toString(16);
    const counter = await instantiate(ev.data.counter, { mapsModule: ev.data.mapsModule });
    for (let i = 0; i < 5; i++) counter.program().test({ dataIn: new Uint8Array(64) });
    self.postMessage(`${checksum} count=${counter.map('pkt_count').get(0)}`);
  } catch (e) {
    self.postMessage(`error: ${e && e.message}`);
  }
};
