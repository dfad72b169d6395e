// Runs in a fresh page (scripts/bench/cold.ts): imports the compiler and runtime, then times
// compile + instantiate + first run of one subject at -O0, as the Node cold start does. The
// query says what: ?what=filter (the bench's generated 100-instruction program) or ?what=object
// (test-programs/c/xdp_drop_icmp.o, fetched before the clock starts). The result goes to
// window.coldResult: { importMs, afterImportMs, compileMs } or { error }.
const what = new URLSearchParams(location.search).get('what') ?? 'filter';
async function main() {
  const objectBytes = what === 'object' ? new Uint8Array(await (await fetch('/test-programs/c/xdp_drop_icmp.o')).arrayBuffer()) : null;
  const t0 = performance.now();
  const { compile, compileObject } = await import('/dist/compiler/index.js');
  const { instantiate } = await import('/dist/runtime/index.js');
  const { generateProgram } = await import('/dist/scripts/bench/genprog.js');
  const input = objectBytes ?? generateProgram(100);
  const t1 = performance.now();
  const out = objectBytes ? await compileObject(input, { optLevel: 0 }) : await compile(input, { optLevel: 0 });
  const tc = performance.now();
  const inst = await instantiate(out.wasm);
  inst.program().run(new Uint8Array(64));
  const t2 = performance.now();
  return { importMs: t1 - t0, afterImportMs: t2 - t1, compileMs: tc - t1 };
}
main().then((r) => { window.coldResult = r; }, (e) => { window.coldResult = { error: String(e && e.stack || e) }; });
