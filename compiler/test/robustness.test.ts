/**
 * Robustness: random bytes fed to the decoder, the compiler, the interpreter, the ELF reader and
 * the assembler. Every input either gives a typed error (a Bpf2WasmError whose code is in the
 * ErrorCode table, never E_INTERNAL) or a module that passes WebAssembly.validate, Binaryen's and
 * wabt's validators and instantiates. Never another exception, never a hang: runs of random code
 * are bounded by instruction budgets (the interpreter's, and the compile option `budget`), and
 * every test has a time limit.
 *
 * Inputs (scripts/fuzz/generators.ts): fully random bytes; random instruction slots; random valid
 * instructions with random control flow; valid programs with flipped bits, random opcode bytes,
 * changed fields, truncations, broken lddw pairs, shifted jumps; random and damaged ELF objects
 * (BTF, .BTF.ext, maps, data sections); assembly-ish text. The checks are in
 * scripts/fuzz/harness.ts (`checkBytes`, `checkElf`, `checkAsm`), shared with `npm run fuzz`
 * (`--kind bytes`). Besides typed errors, `checkBytes` holds the engines to each other: the
 * interpreter refuses exactly what the compiler refuses, and when it finishes within its budget
 * the compiled code (with a budget too) agrees with it at every level and in checked mode.
 *
 * Fixed seeds by default; BPF2WASM_FUZZ_SEED sets them, BPF2WASM_FUZZ_RUNS scales the number of
 * cases (1000 = the default counts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { disassemble } from '../asm/disasm.js';
import { compile } from '../compile.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import {
  arbAsmText, arbElfBytes, arbFuzzCase, arbMutatedProgram, arbMutation, arbRandomCfg, arbRandomCfgProgram, arbRandomSlots, mutate,
  VALID_OPCODES,
} from '../../scripts/fuzz/generators.js';
import { checkAsm, checkBytes, checkElf, typedErrorProblems, validateModule } from '../../scripts/fuzz/harness.js';

const SEED = process.env.BPF2WASM_FUZZ_SEED === undefined ? 0x0b17_f11b : Number(process.env.BPF2WASM_FUZZ_SEED);
const SCALE = process.env.BPF2WASM_FUZZ_RUNS === undefined ? 1 : Math.max(0.01, Number(process.env.BPF2WASM_FUZZ_RUNS) / 1000);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
/** Per test; a synchronous hang cannot be interrupted, but anything slow fails instead of stalling the suite. */
const TIMEOUT = 120_000;

/** The ELF objects of test-programs/elf and test-programs/c (clang output with BTF, maps, relocations). */
const ELF_FIXTURES = ['elf', 'c'].flatMap((sub) => {
  const dir = fileURLToPath(new URL(`../../test-programs/${sub}/`, import.meta.url));
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.o')).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
});

/** Shows a byte input as hex (and its disassembly when it decodes) in a counterexample. */
function printable(bytes: Uint8Array): Uint8Array {
  Object.defineProperty(bytes, fc.toStringMethod, {
    value: () => {
      let listing = '';
      try {
        listing = `\n${disassemble(bytes)}`;
      } catch {
        // not a program
      }
      return `bytes(${bytes.length}) ${Buffer.from(bytes).toString('hex')}${listing}`;
    },
  });
  return bytes;
}

async function noProblems(check: (x: Uint8Array) => Promise<string[]> | string[], arb: fc.Arbitrary<Uint8Array>, numRuns: number, seed: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arb.map(printable), async (bytes) => {
      const problems = await check(bytes);
      if (problems.length > 0) throw new Error(problems.join('\n'));
    }),
    { seed, numRuns },
  );
}

const asProgram = (bytes: Uint8Array): Promise<string[]> => checkBytes(bytes);

describe('random bytes through the decoder, the compiler and both engines', () => {
  it('fully random byte arrays (0-400 bytes)', async () => {
    await noProblems(asProgram, fc.uint8Array({ minLength: 0, maxLength: 400 }), runs(400), SEED);
  }, TIMEOUT);

  it('random instruction slots (mostly valid opcodes, random fields)', async () => {
    await noProblems(asProgram, arbRandomSlots, runs(400), SEED + 1);
  }, TIMEOUT);

  it('random valid instructions with random control flow (loops, irreducible, overlapping functions)', async () => {
    await noProblems(asProgram, arbRandomCfgProgram, runs(150), SEED + 2);
  }, TIMEOUT);

  it('larger random control flow in one function (up to 300 instructions)', async () => {
    await noProblems(asProgram, arbRandomCfg(300, 'max', false), runs(12), SEED + 7);
  }, TIMEOUT);

  it('valid programs, mutated: flipped bits, opcode bytes, fields, truncation, lddw halves, jump offsets', async () => {
    await noProblems(asProgram, arbMutatedProgram, runs(300), SEED + 3);
  }, TIMEOUT);

  it('each mutation alone', async () => {
    // One property per kind of mutation, so that each gets its share.
    const kinds = ['flip', 'opcode', 'field', 'truncate', 'lddw', 'jump', 'splice'] as const;
    for (const [i, kind] of kinds.entries()) {
      const arb = fc.tuple(arbFuzzCase({ maxStmts: 8, maxSubs: 2 }), arbMutation.filter((m) => m.m === kind))
        .map(([c, m]) => mutate(c.bytes, [m]));
      await noProblems(asProgram, arb, runs(20), SEED + 10 + i);
    }
  }, TIMEOUT);

  it('the valid-opcode table is what the decoder accepts', () => {
    // Sanity of the generator: the table has every class and nothing the decoder refuses outright.
    expect(VALID_OPCODES.length).toBeGreaterThan(100);
    expect(VALID_OPCODES).toContain(0x18);
    expect(new Set(VALID_OPCODES.map((o) => o & 7)).size).toBe(8);
  });
});

describe('the checks themselves', () => {
  it('accept a typed error and refuse anything else', () => {
    expect(typedErrorProblems(new Bpf2WasmError(ErrorCode.UnknownOpcode, 'x'), 'w')).toEqual([]);
    expect(typedErrorProblems(new Bpf2WasmError(ErrorCode.Internal, 'x'), 'w')).toHaveLength(1);
    expect(typedErrorProblems(new Bpf2WasmError('E_NOT_A_CODE' as ErrorCode, 'x'), 'w')).toHaveLength(1);
    expect(typedErrorProblems(new TypeError('x'), 'w')).toHaveLength(1);
  });

  it('the three validators accept a compiled module and refuse a broken one', async () => {
    const { wasm } = await compile(new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]), { optLevel: 0 });
    expect(await validateModule(wasm, 'm')).toEqual([]);
    // Cut inside the last section (a cut at a section boundary would leave a valid module).
    const broken = wasm.slice(0, wasm.length - 1);
    expect((await validateModule(broken, 'm')).length).toBeGreaterThanOrEqual(3);
  });
});

describe('random ELF objects', () => {
  it(`random bytes and damaged fixtures (${ELF_FIXTURES.length}) give typed errors only`, async () => {
    expect(ELF_FIXTURES.length).toBeGreaterThan(0);
    await noProblems(checkElf, arbElfBytes(ELF_FIXTURES), runs(1500), SEED + 4);
  }, TIMEOUT);

  it('random bytes behind a valid ELF header', async () => {
    const header = ELF_FIXTURES[0]!.slice(0, 64);
    const arb = fc.uint8Array({ minLength: 0, maxLength: 600 }).map((tail) => Uint8Array.from([...header, ...tail]));
    await noProblems(checkElf, arb, runs(500), SEED + 5);
  }, TIMEOUT);
});

describe('random assembly text', () => {
  it('gives typed errors only; what assembles round-trips through the disassembler', async () => {
    await fc.assert(
      fc.property(arbAsmText, (text) => {
        const problems = checkAsm(text);
        if (problems.length > 0) throw new Error(problems.join('\n'));
      }),
      { seed: SEED + 6, numRuns: runs(2000) },
    );
  }, TIMEOUT);
});
