// Runs in the page: the compiler (with Binaryen at -O1) and the runtime, both engines, checked
// mode, a trap mapped to its instruction, and the runtime alone in a module worker.
import { assemble, compile, compileObject, instantiateBytecode } from '/dist/compiler/index.js';
import { instantiate } from '/dist/runtime/index.js';

const CHECKSUM = `mov %r0, 0
loop:
jlt %r2, 2, fold
ldxh %r3, [%r1+0]
be16 %r3
add %r0, %r3
add %r1, 2
sub %r2, 2
ja loop
fold:
mov %r3, %r0
rsh %r3, 16
and %r0, 0xffff
add %r0, %r3
xor %r0, 0xffff
exit`;
const HEADER = new Uint8Array([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);

async function main() {
  const out = {};
  const bytes = assemble(CHECKSUM);
  for (const optLevel of [0, 1]) {
    const { wasm } = await compile(bytes, { optLevel });
    const inst = await instantiate(wasm);
    out[`O${optLevel}`] = '0x' + inst.run(HEADER.slice()).toString(16);
  }
  const interp = await instantiateBytecode(bytes, { engine: 'interpreter', checked: true });
  out.interpreter = '0x' + interp.run(HEADER.slice()).toString(16);
  const faulting = await instantiate((await compile(assemble('mov %r1, 0x7fff0000\nmov %r2, 1\nldxdw %r0, [%r1+16]\nexit'))).wasm);
  try {
    faulting.run();
    out.fault = 'no fault';
  } catch (e) {
    out.fault = `${e.code} insn ${e.location.insn}`;
  }
  // A clang object with maps: the XDP counter, its ARRAY map read back from JS, and a ring buffer.
  const obj = new Uint8Array(await (await fetch('/test-programs/c/xdp_counter.o')).arrayBuffer());
  const counter = await instantiate((await compileObject(obj)).wasm);
  for (let i = 0; i < 3; i++) counter.program().test({ dataIn: new Uint8Array(64) });
  out.xdpCounter = String(counter.map('pkt_count').get(0));
  const rbObj = new Uint8Array(await (await fetch('/test-programs/c/ringbuf_hello.o')).arrayBuffer());
  const rb = await instantiate((await compileObject(rbObj)).wasm, { env: { pid: 7, tgid: 42 } });
  const records = [];
  rb.ringbuf('output').onRecord((d) => records.push(new DataView(d.buffer, d.byteOffset).getUint32(0, true)));
  rb.run(new Uint8Array(256));
  rb.ringbuf('output').consume();
  out.ringbuf = records.join(',');
  // The runtime alone, in a worker, on a module compiled here (as an edge host would receive it).
  const { wasm } = await compile(bytes, { optLevel: 1 });
  const module = await WebAssembly.compile(wasm);
  const counterModule = await WebAssembly.compile((await compileObject(obj)).wasm);
  const mapsModule = await WebAssembly.compileStreaming(fetch('/dist/runtime/maps/maps.wasm'));
  const worker = new Worker('./worker.js', { type: 'module' });
  out.worker = await new Promise((resolve) => {
    worker.onmessage = (ev) => resolve(ev.data);
    worker.onerror = (ev) => resolve(`worker error: ${ev.message}`);
    worker.postMessage({ module, input: HEADER, counter: counterModule, mapsModule });
  });
  return out;
}

main().then(
  (r) => { window.results = r; },
  (e) => { window.results = { error: String(e && e.stack || e) }; },
);
