/**
 * Objects on both engines through the public entry `instantiateObject({ engine })`: the
 * interpreter runs an object without compiling any Wasm (given the precompiled maps module), and
 * the two engines agree on results, maps, trace output and errors. The programs of
 * test-programs/c run on both engines in programs.test.ts; this file covers what is particular
 * to the engine choice.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BpfRuntimeError, CompileError, ErrorCode } from '../../runtime/errors.js';
import { mapsWasmBytes } from '../../runtime/maps/maps-wasm.js';
import type { BpfInstance } from '../../runtime/program.js';
import { cObject } from '../../test/support/fixtures.js';
import { rejectedWith, thrownBy } from '../../test/support/thrown.js';
import { instantiateObject, type EngineKind } from '../load.js';

const ENGINES: readonly EngineKind[] = ['compiled', 'interpreter'];

/** raw_tracepoint arguments: args[1] = the syscall number. */
function args(nr: bigint): Uint8Array {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setBigInt64(8, nr, true);
  return b;
}

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Makes the host refuse to compile Wasm from bytes, as Cloudflare Workers do (Node's own internals,
 * which compile their HTTP parser lazily, are let through). Returns the refused attempts.
 */
function forbidWasmCompilation(): string[] {
  const refused: string[] = [];
  const { compile, instantiate, Module } = WebAssembly;
  const ours = (): boolean => !/node:internal\/deps/.test(new Error().stack ?? '');
  // Such a host refuses the synchronous compile too (the runtime compiles small modules so).
  const forbidden = vi.spyOn(WebAssembly, 'Module').mockImplementation(function (bytes: BufferSource) {
    if (!ours()) return new Module(bytes);
    refused.push('Module');
    throw new WebAssembly.CompileError('WebAssembly.Module(): Wasm code generation disallowed by embedder');
  } as unknown as () => WebAssembly.Module);
  // Modules made before (the precompiled maps module) are still modules.
  (forbidden as unknown as { prototype: unknown }).prototype = Module.prototype;
  vi.spyOn(WebAssembly, 'compile').mockImplementation((bytes) => {
    if (!ours()) return compile(bytes);
    refused.push('compile');
    return Promise.reject(new Error('Wasm code generation disallowed by embedder'));
  });
  vi.spyOn(WebAssembly, 'instantiate').mockImplementation(((m: unknown, imports?: WebAssembly.Imports) => {
    if (m instanceof WebAssembly.Module) return instantiate(m, imports);
    if (!ours()) return instantiate(m as BufferSource, imports);
    refused.push('instantiate');
    return Promise.reject(new Error('Wasm code generation disallowed by embedder'));
  }) as typeof WebAssembly.instantiate);
  return refused;
}

describe('instantiateObject', () => {
  it('the interpreter runs an object on a host that forbids compiling Wasm, given the precompiled maps module', async () => {
    const mapsModule = new WebAssembly.Module(mapsWasmBytes());
    const refused = forbidWasmCompilation();
    // The compiled engine needs run-time compilation: refused here (the stub works).
    await rejectedWith(instantiateObject(cObject('tail_calls'), { engine: 'compiled', mapsModule, optLevel: 0, trace: () => {} }), BpfRuntimeError);
    expect(refused).toEqual(['Module', 'compile']);
    refused.length = 0;
    const trace: string[] = [];
    const inst = await instantiateObject(cObject('tail_calls'), { engine: 'interpreter', mapsModule, trace: (l) => trace.push(l) });
    expect(inst.program('hello').run(args(59n))).toBe(0n);
    expect(inst.program('hello').run(args(222n))).toBe(0n);
    expect(inst.program('hello').run(args(7n))).toBe(0n);
    expect(trace).toEqual(['execve syscall', 'Create a timer', 'Another syscall: 7']);
    expect(refused).toEqual([]);
  });

  it('both engines give the same r0, maps and globals for every length (bpf_loop with a callback)', async () => {
    const insts: BpfInstance[] = [];
    for (const engine of ENGINES) insts.push(await instantiateObject(cObject('loop_callback'), { engine }));
    for (const n of [14, 15, 100, 144, 145, 146, 999, 1000, 1500]) {
      const out = insts.map((inst) => {
        const r = inst.program('sum_squares').test({ dataIn: new Uint8Array(n) });
        return [r.retval, inst.getGlobal('result'), inst.getGlobal('iterations')];
      });
      expect(out[1]).toEqual(out[0]);
    }
    expect(insts[1]!.getGlobal('iterations')).toBe(145n);
  });

  it('the callback\'s frame below its caller: the same results, or the same E_CALL_DEPTH, for small call depth limits', async () => {
    for (const maxCallDepth of [1, 2]) {
      const results = [];
      for (const engine of ENGINES) {
        const inst = await instantiateObject(cObject('loop_callback'), { engine, maxCallDepth });
        try {
          results.push(inst.program('sum_squares').test({ dataIn: new Uint8Array(20) }).retval);
        } catch (e) {
          results.push((e as BpfRuntimeError).code + ' ' + JSON.stringify((e as BpfRuntimeError).location));
        }
      }
      expect(results[1]).toEqual(results[0]);
    }
  });

  it('the budget stops a run on both engines with E_BUDGET; the instance stays usable', async () => {
    for (const engine of ENGINES) {
      const inst = await instantiateObject(cObject('loop_callback'), { engine, budget: 200 });
      const e = thrownBy(() => inst.program('sum_squares').test({ dataIn: new Uint8Array(1000) }), BpfRuntimeError);
      expect(e.code).toBe(ErrorCode.Budget);
      expect(e.message).toMatch(/budget of 200 instructions/);
      expect(inst.program('sum_squares').test({ dataIn: new Uint8Array(14) }).retval).toBe(2);
    }
  });

  it('a missing kfunc is E_UNKNOWN_HELPER with the same message on both engines', async () => {
    const messages: string[] = [];
    for (const engine of ENGINES) {
      const e = await rejectedWith(instantiateObject(cObject('kfuncs'), { engine }), BpfRuntimeError);
      expect(e.code).toBe(ErrorCode.UnknownHelper);
      messages.push(e.message);
    }
    expect(messages[1]).toBe(messages[0]);
  });

  it('an unknown engine is E_BAD_ARGUMENT', async () => {
    const e = await rejectedWith(instantiateObject(cObject('tail_calls'), { engine: 'jit' as EngineKind }), CompileError);
    expect(e.code).toBe(ErrorCode.BadArgument);
  });
});
