/**
 * What the first compile and run in a process does not pay for (README "Cold start"):
 * - a module whose programs call no helper imports no JavaScript function (faults are recorded at
 *   FAULT_ADDR and trap; the runtime reads and clears the record), so V8 compiles no wasm-to-JS
 *   wrapper for it, and its faults keep their code, instruction and detail;
 * - `compile` reads the clock only for a caller that asks for the phases (`onPhase`).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FAULT_ADDR } from '../../runtime/abi.js';
import { BpfRuntimeError, ErrorCode } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import { assemble } from '../asm/assemble.js';
import { compile } from '../compile.js';

/** Loops forever: only a budget stops it (at the jump, instruction 1). */
const LOOP = assemble('mov %r0, 0\nja -1\nexit');
/** Reads 8 bytes at 0x10000000: outside the input and linear memory (faults at instruction 1). */
const FAR_READ = assemble('lddw %r1, 0x10000000\nldxdw %r0, [%r1+0]\nexit');

afterEach(() => vi.restoreAllMocks());

/** The error a run throws. */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (e) {
    return e;
  }
  throw new Error('the run did not fail');
}

describe('faults without a JavaScript import', () => {
  it('a module without helpers imports only its memory; a standalone-style compile keeps env.fault', async () => {
    for (const optLevel of [0, 1] as const) {
      const { wasm } = await compile(LOOP, { optLevel, budget: 100 });
      const module = await WebAssembly.compile(wasm.slice());
      expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    }
    const { wasm } = await compile(LOOP, { budget: 100, faultImport: true });
    const names = WebAssembly.Module.imports(await WebAssembly.compile(wasm.slice())).map((i) => `${i.module}.${i.name}`);
    expect(names).toEqual(['env.memory', 'env.fault']);
  });

  for (const optLevel of [0, 1, 2] as const) {
    it(`-O${optLevel}: E_BUDGET and E_MEMORY_FAULT keep their instruction and detail, the record is cleared, the instance runs again`, async () => {
      const budget = await instantiate((await compile(LOOP, { optLevel, budget: 50 })).wasm);
      for (let run = 0; run < 2; run++) {
        const e = thrown(() => budget.program().run(new Uint8Array(8)));
        expect(e).toBeInstanceOf(BpfRuntimeError);
        expect(e).toMatchObject({ code: ErrorCode.Budget, location: { insn: 1 } });
        expect((e as Error).message).toBe('E_BUDGET at insn 1: the program exceeded its budget of 50 instructions');
      }
      const checked = await instantiate((await compile(FAR_READ, { optLevel, checked: true })).wasm);
      const p = checked.program();
      const e = thrown(() => p.run(new Uint8Array(8)));
      expect(e).toMatchObject({ code: ErrorCode.MemoryFault, location: { insn: 2, address: 0x10000000 } });
      const address = 0x10000000;
      expect((e as Error).message).toBe(`E_MEMORY_FAULT at insn 2, address 0x${address.toString(16)}: access to address 0x${address.toString(16)} outside the stack and the input memory (checked mode)`);
      expect([...new Uint32Array(checked.memory.buffer, FAULT_ADDR, 3)]).toEqual([0, 0, 0]);
      // A trap that is not a recorded fault stays a plain trap.
      const plain = await instantiate((await compile(FAR_READ, { optLevel })).wasm);
      expect(thrown(() => plain.program().run(new Uint8Array(8)))).toMatchObject({ code: ErrorCode.MemoryFault, location: { insn: 2 } });
      // An unchecked program that stores into the record's words and then traps: the stray word is
      // not taken for a fault code (and is cleared); the trap is located as any other.
      const stray = assemble(`lddw %r1, ${FAULT_ADDR}\nstw [%r1+0], 99\nlddw %r2, 0x10000000\nldxdw %r0, [%r2+0]\nexit`);
      const s = await instantiate((await compile(stray, { optLevel })).wasm);
      expect(thrown(() => s.program().run(new Uint8Array(8)))).toMatchObject({ code: ErrorCode.MemoryFault, location: { insn: 5 } });
      expect([...new Uint32Array(s.memory.buffer, FAULT_ADDR, 3)]).toEqual([0, 0, 0]);
    });
  }
});

describe('compile reads the clock only for onPhase', () => {
  it('without onPhase: no performance.now; with it: each phase in order', async () => {
    const now = vi.spyOn(performance, 'now');
    await compile(LOOP);
    expect(now).not.toHaveBeenCalled();
    const phases: [string, number][] = [];
    await compile(LOOP, { onPhase: (name, ms) => phases.push([name, ms]) });
    expect(phases.map(([name]) => name)).toEqual(['decode', 'cfg', 'emit', 'binary']);
    for (const [, ms] of phases) expect(ms).toBeGreaterThanOrEqual(0);
    expect(now).toHaveBeenCalled();
  });
});
