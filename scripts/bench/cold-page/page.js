// Runs in a fresh page (scripts/bench/cold.ts): imports the compiler and runtime of one build,
// then times compile + instantiate + first run of one subject at -O0, as the Node cold start
// does. The query says what: ?what=filter (the bench's generated 100-instruction program) or
// ?what=object (test-programs/c/xdp_drop_icmp.o), both ready before the clock starts, or
// ?what=floor (after the same import, V8's first Wasm module: scripts/bench/wasm-floor.ts); and
// ?build=bundle (dist/bundle/, what the package exports) or ?build=modules (the per-file build,
// dist/compiler/ and dist/runtime/). The result goes to window.coldResult:
// { importMs, afterImportMs, compileMs } or { error }.
const query = new URLSearchParams(location.search);
const what = query.get('what') ?? 'filter';
const base = query.get('build') === 'modules' ? '/dist/' : '/dist/bundle/';
async function main() {
  // The input, before the clock: genprog.js imports one small file of the per-file build
  // (dist/runtime/isa/opcodes.js), which the bundle does not share.
  const floor = what === 'floor' ? await import('/dist/scripts/bench/wasm-floor.js') : null;
  const input = what === 'object'
    ? new Uint8Array(await (await fetch('/test-programs/c/xdp_drop_icmp.o')).arrayBuffer())
    : (await import('/dist/scripts/bench/genprog.js')).generateProgram(100);
  const t0 = performance.now();
  const { compile, compileObject } = await import(base + 'compiler/index.js');
  const { instantiate } = await import(base + 'runtime/index.js');
  const t1 = performance.now();
  if (floor) {
    const r = await floor.runFloor();
    return { importMs: t1 - t0, afterImportMs: r.totalMs, compileMs: r.compileMs };
  }
  const out = what === 'object' ? await compileObject(input, { optLevel: 0 }) : await compile(input, { optLevel: 0 });
  const tc = performance.now();
  const inst = await instantiate(out.wasm);
  inst.program().run(new Uint8Array(64));
  const t2 = performance.now();
  return { importMs: t1 - t0, afterImportMs: t2 - t1, compileMs: tc - t1 };
}
main().then((r) => { window.coldResult = r; }, (e) => { window.coldResult = { error: String(e && e.stack || e) }; });
