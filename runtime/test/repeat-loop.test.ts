/**
 * The repeat loop inside Wasm (compiler/repeat-export.ts: `<export>__repeat`, which
 * `test({ repeat })`, the packet test run and `runInPlace(len, repeat)` time) against the loop
 * in JS (modules compiled without it, as modules compiled before it) and the interpreter: the
 * same r0, memory, maps, trace output, and the same error at the same instruction when run k
 * faults or exceeds its budget, at -O0, -O1 and -O2.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../compiler/asm/assemble.js';
import { compile, compileObject, type CompileOptions } from '../../compiler/index.js';
import { Bpf2WasmError, ErrorCode } from '../errors.js';
import { instantiate } from '../instance.js';
import { interpret } from '../interpreter.js';
import { engineOf, type BpfInstance } from '../program.js';

const objectBytes = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../../test-programs/c/${name}.o`, import.meta.url)));

type Variant = 'wasm-loop' | 'js-loop' | 'interpreter';
const VARIANTS: Variant[] = ['wasm-loop', 'js-loop', 'interpreter'];
const LEVELS = [0, 1, 2] as const;

/** The program `src` on one variant; the compiled ones at `optLevel`. */
async function load(src: string, variant: Variant, optLevel: 0 | 1 | 2, options: CompileOptions = {}): Promise<BpfInstance> {
  const bytes = assemble(src);
  if (variant === 'interpreter') {
    return interpret(bytes, {
      ...(options.budget !== undefined ? { budget: options.budget } : {}),
      ...(options.checked ? { checked: true } : {}),
    });
  }
  const { wasm } = await compile(bytes, { ...options, optLevel, repeatLoops: variant === 'wasm-loop' });
  const inst = await instantiate(wasm);
  // The module has the loop exactly when it was compiled with it, and the engine takes it.
  const exported = WebAssembly.Module.exports(new WebAssembly.Module(wasm.slice())).some((e) => e.name === 'main__repeat');
  expect(exported).toBe(variant === 'wasm-loop');
  expect((engineOf(inst) as unknown as { hasRepeatLoop(p: string): boolean }).hasRepeatLoop('main')).toBe(variant === 'wasm-loop');
  return inst;
}

/** What a call did: its value, or its typed error (code, message, location). */
function outcome<T>(f: () => T): { value: T } | { code: string; message: string; location: unknown } {
  try {
    return { value: f() };
  } catch (e) {
    if (!(e instanceof Bpf2WasmError)) throw e;
    return { code: e.code, message: e.message, location: e.location };
  }
}

/** A counter at [r1] incremented per run; r0 = the counter with bit 32 set (a 64-bit r0). */
const COUNTER = 'ldxdw %r0, [%r1]\nadd %r0, 1\nstxdw [%r1], %r0\nlddw %r3, 0x100000000\nor %r0, %r3\nexit';

/** Run 3 (the counter reaching 3) reads far outside memory; the others return the counter. */
const FAULT_ON_THIRD = [
  'ldxdw %r2, [%r1]', 'add %r2, 1', 'stxdw [%r1], %r2', 'jne %r2, 3, ok',
  'lddw %r3, 0x7fff0000', 'ldxdw %r0, [%r3]', 'ok:', 'mov %r0, %r2', 'exit',
].join('\n');

/** Run k loops k times: its instruction count grows with the counter, so a budget stops a later run. */
const GROWING = [
  'ldxdw %r2, [%r1]', 'add %r2, 1', 'stxdw [%r1], %r2', 'mov %r0, 0',
  'loop:', 'add %r0, 1', 'sub %r2, 1', 'jne %r2, 0, loop', 'exit',
].join('\n');

const counterOf = (data: Uint8Array): bigint => new DataView(data.buffer, data.byteOffset).getBigUint64(0, true);

describe('repeat loop inside Wasm', () => {
  for (const O of LEVELS) {
    describe(`-O${O}`, () => {
      it('test({ repeat }): the same r0 (all 64 bits), retval and memory after the last run as the JS loop and the interpreter', async () => {
        for (const repeat of [1, 2, 7, 1000]) {
          const seen = [];
          for (const v of VARIANTS) {
            const t = (await load(COUNTER, v, O)).program().test({ dataIn: new Uint8Array(8), repeat });
            seen.push({ r0: t.r0, retval: t.retval, counter: counterOf(t.dataOut) });
          }
          expect(seen[0]).toEqual({ r0: BigInt(repeat) | (1n << 32n), retval: repeat, counter: BigInt(repeat) });
          expect(seen[1]).toEqual(seen[0]);
          expect(seen[2]).toEqual(seen[0]);
        }
      });

      it('runInPlace(len, repeat): runs on the memory in place, each run seeing what the last left; the last r0', async () => {
        const seen = [];
        for (const v of VARIANTS) {
          const inst = await load(COUNTER, v, O);
          inst.dataView(8).fill(0);
          const first = inst.program().runInPlace(8, 5);
          const second = inst.program().runInPlace(8, 3);
          seen.push({ first, second, counter: counterOf(inst.dataView(8)), r0: inst.lastResult() });
        }
        expect(seen[0]).toEqual({ first: 5, second: 8, counter: 8n, r0: 8n | (1n << 32n) });
        expect(seen[1]).toEqual(seen[0]);
        expect(seen[2]).toEqual(seen[0]);
      });

      for (const checked of [false, true]) {
        it(`a fault in run 3 of 10 stops the loop with the JS loop's error and location${checked ? ' (checked mode)' : ''}; the instance runs again`, async () => {
          const seen = [];
          for (const v of VARIANTS) {
            const inst = await load(FAULT_ON_THIRD, v, O, checked ? { checked: true } : {});
            const p = inst.program();
            inst.dataView(8).fill(0);
            const fault = outcome(() => p.runInPlace(8, 10));
            const afterFault = counterOf(inst.dataView(8));
            // The instance is usable: the next runs go on from the counter the faulting run left.
            const next = outcome(() => p.test({ dataIn: new Uint8Array(8), repeat: 2 }).r0);
            seen.push({ fault, afterFault, next });
          }
          const first = seen[0]!;
          expect('code' in first.fault && first.fault.code).toBe(ErrorCode.MemoryFault);
          expect('location' in first.fault && (first.fault.location as { insn?: number }).insn).toBe(6); // ldxdw %r0, [%r3] (lddw is two slots)
          expect(first.afterFault).toBe(3n);
          expect(first.next).toEqual({ value: 2n });
          expect(seen[1]).toEqual(first);
          // The interpreter stops at the same run and instruction (it also knows the address of
          // an unchecked access outside memory, which a Wasm trap does not tell).
          const i = seen[2]!;
          expect([i.afterFault, i.next, 'code' in i.fault && i.fault.code, 'location' in i.fault && (i.fault.location as { insn?: number }).insn])
            .toEqual([3n, { value: 2n }, ErrorCode.MemoryFault, 6]);
        });
      }

      it('a helper that throws in run 4 stops the loop with the same E_HELPER_FAILED at the call instruction; the instance runs again', async () => {
        const seen = [];
        for (const v of VARIANTS) {
          const bytes = assemble('mov %r6, %r1\ncall 5\nstxdw [%r6], %r0\nexit');
          let calls = 0;
          const helpers = [{ id: 5, fn: (): bigint => {
            if (++calls === 4) throw new Error('the fourth call');
            return BigInt(calls);
          } }];
          const inst = v === 'interpreter'
            ? interpret(bytes, { helpers })
            : await instantiate((await compile(bytes, { optLevel: O, repeatLoops: v === 'wasm-loop' })).wasm, { helpers });
          inst.dataView(8).fill(0);
          const stop = outcome(() => inst.program().runInPlace(8, 10));
          const stored = counterOf(inst.dataView(8));
          const next = outcome(() => inst.program().runInPlace(8, 2));
          seen.push({ stop, stored, calls, next, after: counterOf(inst.dataView(8)) });
        }
        const first = seen[0]!;
        expect('code' in first.stop && first.stop.code).toBe(ErrorCode.HelperFailed);
        expect('location' in first.stop && (first.stop.location as { insn?: number }).insn).toBe(1);
        expect([first.stored, first.calls, first.next, first.after]).toEqual([3n, 6, { value: 6 }, 6n]);
        expect(seen[1]).toEqual(first);
        expect(seen[2]).toEqual(first);
      });

      it('the budget is per run: runs under it repeat without a stop; the run that exceeds it stops the loop at the same instruction', async () => {
        // Each run of COUNTER is 6 slots: under a budget of 8 it never stops, however many runs.
        for (const v of VARIANTS) {
          const t = (await load(COUNTER, v, O, { budget: 8 })).program().test({ dataIn: new Uint8Array(8), repeat: 500 });
          expect(counterOf(t.dataOut)).toBe(500n);
        }
        const seen = [];
        for (const v of VARIANTS) {
          const inst = await load(GROWING, v, O, { budget: 40 });
          inst.dataView(8).fill(0);
          const stop = outcome(() => inst.program().runInPlace(8, 100));
          seen.push({ stop, runs: counterOf(inst.dataView(8)) });
        }
        const first = seen[0]!;
        expect('code' in first.stop && first.stop.code).toBe(ErrorCode.Budget);
        expect(first.runs).toBeGreaterThan(3n);
        expect(first.runs).toBeLessThan(100n);
        expect(seen[1]).toEqual(first);
        // The interpreter charges every instruction, compiled code each loop-free stretch at its
        // start (see the README, Safety): it stops too, maybe a run or two later.
        expect('code' in seen[2]!.stop && seen[2]!.stop.code).toBe(ErrorCode.Budget);
      });
    });
  }

  it('every run is a call: the loop of a constant program (`mov r0, 12345678; exit`) calls a function of the module each iteration, at every level', async () => {
    const wabt = await (await import('wabt')).default();
    const objects = ['core_ctx', 'xdp_counter', 'tail_calls'];
    for (const O of LEVELS) {
      const modules = [(await compile(assemble('mov %r0, 12345678\nexit'), { optLevel: O })).wasm];
      for (const o of objects) modules.push((await compileObject(objectBytes(o), { optLevel: O })).wasm);
      for (const wasm of modules) {
        const text = wabt.readWasm(wasm, { bulk_memory: true }).toText({});
        const exports = new Map([...text.matchAll(/\(export "([^"]+)" \(func (\d+)\)\)/g)].map((m) => [m[1]!, Number(m[2])]));
        const loops = [...exports].filter(([name]) => name.endsWith('__repeat'));
        expect(loops.length).toBeGreaterThan(0);
        for (const [name, index] of loops) {
          const body = text.split(`(func (;${index};)`)[1]!.split(/\n {2}\(/)[0]!;
          const loopBody = body.slice(body.indexOf('loop'));
          // A call (of the program's function, or of the entry) inside the loop.
          expect(loopBody, `-O${O} ${name}`).toMatch(/\bcall \d+/);
        }
      }
    }
  });

  it('bad repeat counts for runInPlace are E_BAD_ARGUMENT; 0 runs once, as test()', async () => {
    const inst = await load(COUNTER, 'wasm-loop', 0);
    for (const repeat of [-1, 1.5, NaN, 2 ** 32]) {
      const r = outcome(() => inst.program().runInPlace(8, repeat));
      expect('code' in r && r.code).toBe(ErrorCode.BadArgument);
    }
    inst.dataView(8).fill(0);
    expect(inst.program().runInPlace(8, 0)).toBe(1);
  });

  it('a map counter incremented per run (kprobe, HASH map, helpers) reads N after repeat N, as from the JS loop', async () => {
    for (const O of LEVELS) {
      const counts = [];
      for (const repeatLoops of [true, false]) {
        const { wasm } = await compileObject(objectBytes('uid_counter'), { optLevel: O, repeatLoops });
        const inst = await instantiate(wasm);
        inst.program('hello').test({ dataIn: new Uint8Array(64), repeat: 777 });
        counts.push([...inst.map('counter_table').entries()].map(([k, v]) => [k, v]));
      }
      expect(counts[0]).toEqual([[0, 777n]]);
      expect(counts[1]).toEqual(counts[0]);
    }
  });

  it('packet test runs: an XDP counter (ARRAY map, atomic add) reads N after test({ dataIn, repeat: N }); the same retval and frame', async () => {
    const frame = new Uint8Array(64).fill(0xab);
    for (const O of LEVELS) {
      const seen = [];
      for (const repeatLoops of [true, false]) {
        const { wasm } = await compileObject(objectBytes('xdp_counter'), { optLevel: O, repeatLoops });
        const inst = await instantiate(wasm);
        const t = inst.program('count_packets').test({ dataIn: frame, repeat: 1234 });
        seen.push({ retval: t.retval, dataOut: [...t.dataOut], count: [...inst.map('pkt_count').entries()] });
      }
      expect(seen[0]!.retval).toBe(2);
      expect(seen[0]!.count).toEqual([[0, 1234n]]);
      expect(seen[1]).toEqual(seen[0]);
    }
  });

  it('tail calls: every run of a program that tail-calls runs the target (the entry\'s tail-call loop in the copy)', async () => {
    const ctx = new Uint8Array(16);
    new DataView(ctx.buffer).setBigUint64(8, 226n, true);
    for (const O of LEVELS) {
      const seen = [];
      for (const repeatLoops of [true, false]) {
        const lines: string[] = [];
        const { wasm } = await compileObject(objectBytes('tail_calls'), { optLevel: O, repeatLoops });
        const inst = await instantiate(wasm, { trace: (line) => lines.push(line) });
        const t = inst.program('hello').test({ dataIn: ctx, repeat: 9 });
        seen.push({ r0: t.r0, lines });
      }
      expect(seen[0]!.lines).toEqual(Array<string>(9).fill('Delete a timer'));
      expect(seen[1]).toEqual(seen[0]);
    }
  });
});
