/**
 * Huge eBPF functions split into several Wasm functions (compiler/lower/split.ts).
 *
 * The default threshold (100,000 instructions per Wasm function) is exercised once on a large
 * generated program; everything else forces splitting with the internal `chunkInsns` option, so
 * that small programs are cut at many points: inside loops, across branches, in the middle of
 * basic blocks, inside bpf-to-bpf callees. Every result is compared with the interpreter (or the
 * conformance suite's expected r0), and the same program compiled without splitting.
 */
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_FILES, HAVE_CONFORMANCE, NO_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { assemble } from '../asm/assemble.js';
import { compile, type CompileOptions } from '../index.js';
import { instantiate, interpret, type HelperDefinition } from '../../runtime/index.js';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { instantiateObject } from '../load.js';
import { generateProgram } from '../../scripts/bench/genprog.js';

/** r0 of a run, or the error code it stopped with. */
function outcome(run: () => bigint): string {
  try {
    return run().toString();
  } catch (e) {
    return String((e as { code?: string }).code ?? (e as Error).message);
  }
}

/** The number of functions the module defines (its code section's count). */
function definedFunctions(wasm: Uint8Array): number {
  let i = 8;
  const leb = (): number => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = wasm[i++]!;
      n |= (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) return n >>> 0;
    }
  };
  while (i < wasm.length) {
    const id = wasm[i++]!;
    const size = leb();
    if (id === 10) return leb();
    i += size;
  }
  return 0;
}

async function compiledOutcome(bytes: Uint8Array, options: CompileOptions, ctx: Uint8Array = new Uint8Array(64), helpers: HelperDefinition[] = []): Promise<{ result: string; functions: number }> {
  const { wasm } = await compile(bytes, options);
  expect(WebAssembly.validate(wasm as Uint8Array<ArrayBuffer>)).toBe(true);
  const inst = await instantiate(wasm, { helpers });
  return { result: outcome(() => inst.run(ctx.slice())), functions: definedFunctions(wasm) };
}

function interpretedOutcome(bytes: Uint8Array, budget?: number, ctx: Uint8Array = new Uint8Array(64)): string {
  const inst = interpret(bytes, budget === undefined ? {} : { budget });
  return outcome(() => inst.run(ctx.slice()));
}

describe('splitting huge functions', () => {
  it('a 250k-instruction program (loops and branches) compiles at -O0 into several functions and gives the interpreter result', async () => {
    const bytes = generateProgram(250_000, 7);
    const { result, functions } = await compiledOutcome(bytes, { optLevel: 0 });
    // The function itself, its chunks (at least 2 more at 100k per chunk), the entry wrapper.
    expect(functions).toBeGreaterThanOrEqual(4);
    expect(result).toBe(interpretedOutcome(bytes));
  }, 300_000);

  it('one straight-line basic block longer than a chunk is cut into ranges', async () => {
    // r0 = 1; then 3000 times r0 = r0 * 3 + 1 (no branches at all).
    const lines = ['mov %r0, 1'];
    for (let i = 0; i < 3000; i++) lines.push('mul %r0, 3', 'add %r0, 1');
    lines.push('exit');
    const bytes = assemble(lines.join('\n'));
    const split = await compiledOutcome(bytes, { optLevel: 0, chunkInsns: 500 });
    expect(split.functions).toBeGreaterThan(10);
    expect(split.result).toBe(interpretedOutcome(bytes));
    expect(split.result).toBe((await compiledOutcome(bytes, { optLevel: 0 })).result);
  });

  const CASES: Array<{ name: string; options: Omit<CompileOptions, 'chunkInsns'>; budget?: number }> = [
    { name: 'plain', options: {} },
    { name: 'budget (enough)', options: { budget: 10_000_000 }, budget: 10_000_000 },
    { name: 'budget (exhausted)', options: { budget: 3000 }, budget: 3000 },
    { name: 'checked', options: { checked: true } },
  ];
  for (const c of CASES) {
    it(`generated programs cut every few instructions agree with the interpreter: ${c.name}`, async () => {
      for (const [n, seed] of [[400, 1], [2000, 2], [2000, 3], [6000, 4]] as const) {
        const bytes = generateProgram(n, seed);
        const reference = interpretedOutcome(bytes, c.budget);
        for (const chunkInsns of [5, 37, 400].filter((k) => k < n)) {
          const { result, functions } = await compiledOutcome(bytes, { optLevel: 0, chunkInsns, ...c.options });
          expect(functions, `n=${n} chunkInsns=${chunkInsns}`).toBeGreaterThan(2);
          expect(result, `n=${n} seed=${seed} chunkInsns=${chunkInsns}`).toBe(reference);
        }
      }
    }, 120_000);
  }

  it('split modules also go through Binaryen (-O1 and -O2) unchanged in meaning', async () => {
    const bytes = generateProgram(800, 5);
    const reference = interpretedOutcome(bytes);
    const o1 = await compiledOutcome(bytes, { optLevel: 1, chunkInsns: 60 });
    expect(o1.functions).toBeGreaterThan(2);
    expect(o1.result).toBe(reference);
    // -O2 may inline the chunks back (Binaryen's inliner): the result is what counts.
    expect((await compiledOutcome(bytes, { optLevel: 2, chunkInsns: 60 })).result).toBe(reference);
  }, 120_000);

  it('every clang program of test-programs/c cut every 4 instructions (calls, callbacks, tail calls, maps) agrees with the interpreter', async () => {
    const dir = fileURLToPath(new URL('../../test-programs/c/', import.meta.url));
    const packet = new Uint8Array(readFileSync(fileURLToPath(new URL('../../test-programs/examples/icmp-echo-request.pkt', import.meta.url))));
    let compared = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.o')).sort()) {
      const obj = new Uint8Array(readFileSync(dir + file));
      const run = async (engine: 'compiled' | 'interpreter'): Promise<string[] | null> => {
        const trace: string[] = [];
        let inst;
        try {
          inst = await instantiateObject(obj, { engine, optLevel: 0, chunkInsns: 4, trace: (l) => trace.push(l) });
        } catch (e) {
          return [`load: ${String((e as { code?: string }).code)}`];
        }
        const out: string[] = [];
        for (const p of inst.programs) {
          const packetProgram = p.type === 'xdp' || p.type === 'tc' || p.type === 'socket';
          for (let i = 0; i < 3; i++) {
            out.push(`${p.name}: ${outcome(() => (packetProgram ? BigInt(p.test({ dataIn: packet }).retval) : p.run(new Uint8Array(256))))}`);
          }
        }
        return [...out, ...trace];
      };
      const compiled = await run('compiled');
      expect(compiled, file).toEqual(await run('interpreter'));
      compared++;
    }
    expect(compared).toBeGreaterThan(20);
  }, 300_000);

  describe('the conformance suite with every function cut every 3 instructions', () => {
    if (!HAVE_CONFORMANCE) {
      it.skipIf(true)(NO_CONFORMANCE, () => {});
      return;
    }
    const HELPERS: HelperDefinition[] = [{ id: 5, fn: (a: bigint): bigint => a }];
    it.each(CONFORMANCE_FILES)('%s', async (name) => {
      const data = readConformance(name);
      let bytes: Uint8Array;
      try {
        bytes = data.asm !== undefined ? assemble(data.asm) : data.raw!;
      } catch {
        return; // files that must fail to assemble are covered by conformance.test.ts
      }
      const mem: Uint8Array = data.mem ?? new Uint8Array(0);
      let split: string;
      let whole: string;
      try {
        split = (await compiledOutcome(bytes, { optLevel: 0, chunkInsns: 3 }, mem, HELPERS)).result;
      } catch (e) {
        split = String((e as { code?: string }).code);
      }
      try {
        whole = (await compiledOutcome(bytes, { optLevel: 0 }, mem, HELPERS)).result;
      } catch (e) {
        whole = String((e as { code?: string }).code);
      }
      expect(split).toBe(whole);
      if (data.result !== undefined) expect(split).toBe(BigInt.asUintN(64, data.result).toString());
    });
  });
});
