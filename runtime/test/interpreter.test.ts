/**
 * The reference interpreter: the conformance suite, the edge cases of every instruction family,
 * and a differential check against the compiled engine (same r0, same memory, same error) at every
 * optimisation level.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/thrown.js';
import { CONFORMANCE_FILES, HAVE_CONFORMANCE, NO_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { assemble } from '../../compiler/asm/assemble.js';
import { parseDataFile } from '../../compiler/asm/datafile.js';
import { compile, type OptLevel } from '../../compiler/index.js';
import { computeLayout as compilerLayout } from '../../internal/index.js';
import { RESULT_ADDR, type MemoryLayout } from '../abi.js';
import { Bpf2WasmError, BpfRuntimeError, CompileError, ErrorCode } from '../errors.js';
import { HelperRegistry, type HelperDefinition } from '../helper-registry.js';
import { instantiate } from '../index.js';
import { E_BUDGET, interpret, type InterpretOptions } from '../interpreter.js';
import { computeLayout } from '../memory-layout.js';
import { engineOf } from '../program.js';
import type { BpfInstance } from '../program.js';
import { asmLine, regValue } from '../../scripts/fuzz/generators.js';

// ------------------------------------------------------------------------------ harness


const OPT_LEVELS: readonly OptLevel[] = [0, 1, 2];
const IDENTITY5: HelperDefinition = { id: 5, fn: (a: bigint): bigint => a };

interface Case {
  /** Assembly text or program bytes. */
  src: string | Uint8Array;
  mem?: Uint8Array;
  /** Helpers for both engines (a fresh list per engine is made by `helpers()` when given). */
  helpers?: () => HelperDefinition[];
  entries?: { name: string; pc: number }[];
  program?: string;
  maxCallDepth?: number;
  frameSize?: number;
}

type Outcome =
  | { ok: true; r0: bigint; mem: Uint8Array | undefined; memory: Uint8Array; low: number }
  | { ok: false; code: string; insn: number | undefined; error: Bpf2WasmError };

function bytesOf(src: string | Uint8Array): Uint8Array {
  return typeof src === 'string' ? assemble(src) : src;
}

function exec(inst: BpfInstance, c: Case): Outcome {
  const input = c.mem ? c.mem.slice() : undefined;
  try {
    const { r0, dataOut } = inst.program(c.program).test(input ? { dataIn: input } : {});
    expect(input).toEqual(c.mem);
    const mem = input ? dataOut : undefined;
    return { ok: true, r0, mem, memory: new Uint8Array(inst.memory.buffer).slice(), low: Number(r0 & 0xffffffffn) };
  } catch (e) {
    return failure(e);
  }
}

function failure(e: unknown): Outcome {
  if (!(e instanceof Bpf2WasmError)) throw e;
  return { ok: false, code: e.code, insn: e.location.insn, error: e };
}

function interpOutcome(c: Case, extra: InterpretOptions = {}): Outcome {
  let inst: BpfInstance;
  try {
    inst = interpret(bytesOf(c.src), {
      helpers: c.helpers ? c.helpers() : [IDENTITY5],
      ...(c.entries ? { entries: c.entries } : {}),
      ...(c.maxCallDepth !== undefined ? { maxCallDepth: c.maxCallDepth } : {}),
      ...(c.frameSize !== undefined ? { frameSize: c.frameSize } : {}),
      ...extra,
    });
  } catch (e) {
    return failure(e);
  }
  return exec(inst, c);
}

async function compiledOutcome(c: Case, optLevel: OptLevel): Promise<Outcome> {
  try {
    const { wasm } = await compile(bytesOf(c.src), {
      optLevel,
      ...(c.entries ? { entries: c.entries } : {}),
      ...(c.maxCallDepth !== undefined ? { maxCallDepth: c.maxCallDepth } : {}),
      ...(c.frameSize !== undefined ? { frameSize: c.frameSize } : {}),
    });
    const inst = await instantiate(wasm, { helpers: c.helpers ? c.helpers() : [IDENTITY5] });
    return exec(inst, c);
  } catch (e) {
    return failure(e);
  }
}

function describeOutcome(o: Outcome): string {
  return o.ok ? `r0 = 0x${o.r0.toString(16)}` : `${o.code} at insn ${String(o.insn)}`;
}

/**
 * `strictInsn: false` compares the error code but not the instruction: Binaryen's -O2 may merge
 * two identical faulting loads, so the compiled engine names the later one (reported as a
 * compiler issue); the interpreter names the first, which is what the program does.
 */
function expectSameOutcome(interp: Outcome, compiled: Outcome, what: string, strictInsn = true): void {
  const msg = `${what}: interpreter ${describeOutcome(interp)}, compiled ${describeOutcome(compiled)}`;
  expect(interp.ok, msg).toBe(compiled.ok);
  if (interp.ok && compiled.ok) {
    expect(interp.r0, msg).toBe(compiled.r0);
    expect(interp.mem, msg).toEqual(compiled.mem);
    expect(interp.memory.length, msg).toBe(compiled.memory.length);
    expect(Buffer.from(interp.memory).equals(Buffer.from(compiled.memory)), `${msg}: memory differs`).toBe(true);
  } else if (!interp.ok && !compiled.ok) {
    expect(interp.code, msg).toBe(compiled.code);
    if (strictInsn) expect(interp.insn, msg).toBe(compiled.insn);
    expect(interp.error.constructor, msg).toBe(compiled.error.constructor);
  }
}

/** Runs `c` on the interpreter and on compiled code at every level; they must agree. Returns the interpreter's outcome. */
async function same(c: Case, levels: readonly OptLevel[] = OPT_LEVELS): Promise<Outcome> {
  const interp = interpOutcome(c);
  for (const level of levels) expectSameOutcome(interp, await compiledOutcome(c, level), `-O${level}`);
  return interp;
}

/** Like `same`, expecting success; returns r0. */
async function sameR0(c: Case | string): Promise<bigint> {
  const o = await same(typeof c === 'string' ? { src: c } : c);
  if (!o.ok) throw new Error(`expected success, got ${describeOutcome(o)}: ${o.error.message}`);
  return o.r0;
}

/** Like `same`, expecting a failure; returns it. */
async function sameError(c: Case | string): Promise<Extract<Outcome, { ok: false }>> {
  const o = await same(typeof c === 'string' ? { src: c } : c);
  if (o.ok) throw new Error(`expected a failure, got r0 = 0x${o.r0.toString(16)}`);
  return o;
}

function interpError(fn: () => unknown): Bpf2WasmError {
  return thrownBy(fn, Bpf2WasmError);
}

const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const INT64_MIN = 0x8000000000000000n;

// ------------------------------------------------------------------------------ conformance

describe('conformance suite', () => {
  it.skipIf(!HAVE_CONFORMANCE)('the shared folder holds .data files', () => {
    // An empty folder would make every check below pass vacuously.
    expect(CONFORMANCE_FILES.length).toBeGreaterThan(0);
  });
  if (!HAVE_CONFORMANCE) it.skipIf(true)(NO_CONFORMANCE, () => {});

  const load = (name: string) => {
    const data = readConformance(name);
    if (data.asm === undefined) throw new Error(`${name} has no -- asm section`);
    return { data, bytes: assemble(data.asm) };
  };

  it.skipIf(!HAVE_CONFORMANCE)('every file gives its -- result (or fails for -- error) on the interpreter', () => {
    expect(CONFORMANCE_FILES.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for (const name of CONFORMANCE_FILES) {
      const { data, bytes } = load(name);
      const out = interpOutcome({ src: bytes, ...(data.mem ? { mem: data.mem } : {}) });
      if (data.error !== undefined) {
        if (out.ok) failures.push(`${name}: expected an error (${data.error}), got r0 = 0x${out.r0.toString(16)}`);
      } else if (!out.ok) {
        failures.push(`${name}: ${out.error.message}`);
      } else if (out.r0 !== data.result) {
        failures.push(`${name}: r0 = 0x${out.r0.toString(16)}, expected 0x${data.result?.toString(16)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  describe.skipIf(!HAVE_CONFORMANCE)('differential: the interpreter agrees with compiled code at -O0, -O1, -O2', () => {
    for (const name of CONFORMANCE_FILES) {
      it(name, async () => {
        const { data, bytes } = load(name);
        await same({ src: bytes, ...(data.mem ? { mem: data.mem } : {}) });
      });
    }
  });
});

// ------------------------------------------------------------------------------ layout and API

describe('layout', () => {
  it('matches the compiler for every stack shape', () => {
    for (const [depth, frame] of [[1, 8], [8, 512], [3, 520], [1024, 65536], [7, 4096], [13, 24]] as const) {
      expect(computeLayout(depth, frame)).toEqual(compilerLayout(depth, frame));
    }
  });

  it('the interpreter memory has the layout: r10 = stackTop, data at dataBase', async () => {
    const inst = interpret(assemble('mov %r0, %r10\nexit'), { maxCallDepth: 3, frameSize: 64 });
    const layout: MemoryLayout = computeLayout(3, 64);
    expect(engineOf(inst)).toMatchObject({ layout });
    expect(inst.run()).toBe(BigInt(layout.stackTop));
    expect(inst.dataAddress).toBe(layout.dataBase);
    expect(inst.memory.buffer.byteLength).toBe(layout.initialPages * 65536);
    await same({ src: 'mov %r0, %r10\nexit', maxCallDepth: 3, frameSize: 64 });
  });

  it('refuses bad stack options as the compiler does', async () => {
    for (const opts of [{ maxCallDepth: 0 }, { maxCallDepth: 1.5 }, { frameSize: 12 }, { frameSize: 4 }]) {
      const e = await sameError({ src: 'exit', ...opts });
      expect(e.code).toBe(ErrorCode.BadArgument);
    }
    expect(interpError(() => interpret(assemble('exit'), { entries: [] })).code).toBe(ErrorCode.BadArgument);
  });
});

describe('API', () => {
  it('r1 = data address and r2 = length with memory, both 0 without', async () => {
    const inst = interpret(assemble('mov %r0, %r1\nlsh %r0, 32\nor %r0, %r2\nexit'));
    expect(inst.run()).toBe(0n);
    expect(inst.run(new Uint8Array(5))).toBe((BigInt(inst.dataAddress) << 32n) | 5n);
    await sameR0({ src: 'mov %r0, %r1\nlsh %r0, 32\nor %r0, %r2\nexit', mem: new Uint8Array(5) });
  });

  it('run leaves its input alone, test returns the memory after; runInPlace works in place and returns the low half', () => {
    const inst = interpret(assemble('ldxdw %r0, [%r1]\nadd %r0, 1\nstxdw [%r1], %r0\nlddw %r3, 0x100000000\nor %r0, %r3\nexit'));
    const mem = new Uint8Array(8);
    mem[0] = 41;
    expect(inst.run(mem)).toBe(0x100000000n + 42n);
    expect(mem[0]).toBe(41);
    const t = inst.program().test({ dataIn: mem });
    expect([t.r0, t.retval, t.dataOut[0], mem[0]]).toEqual([0x100000000n + 42n, 42, 42, 41]);
    inst.dataView(8)[0] = 9;
    expect(inst.program().runInPlace(8)).toBe(10);
    expect(inst.lastResult()).toBe(0x10000000an);
    expect(inst.dataView(8)[0]).toBe(10);
  });

  it('the full r0 is stored at RESULT_ADDR, and lastResult reads it', () => {
    const inst = interpret(assemble('lddw %r0, 0xfedcba9876543210\nexit'));
    expect(inst.program().runInPlace(0)).toBe(0x76543210);
    expect(new DataView(inst.memory.buffer).getBigUint64(RESULT_ADDR, true)).toBe(0xfedcba9876543210n);
    expect(inst.lastResult()).toBe(0xfedcba9876543210n);
  });

  it('grows memory for large inputs', async () => {
    const mem = new Uint8Array(200_000);
    mem[199_999] = 7;
    const src = 'mov %r0, %r2\nsub %r0, 1\nadd %r0, %r1\nldxb %r0, [%r0]\nexit';
    expect(await sameR0({ src, mem })).toBe(7n);
  });

  it('several entry points, chosen by name; an unknown name is E_BAD_ARGUMENT', async () => {
    const src = 'mov %r0, 1\nexit\nmov %r0, 2\nexit';
    const entries = [{ name: 'one', pc: 0 }, { name: 'two', pc: 2 }];
    expect(await sameR0({ src, entries })).toBe(1n);
    expect(await sameR0({ src, entries, program: 'two' })).toBe(2n);
    const inst = interpret(assemble(src), { entries });
    expect(inst.programs.map((p) => [p.name, p.type])).toEqual([['one', 'raw'], ['two', 'raw']]);
    expect(inst.program('two').runInPlace(0)).toBe(2);
    expect((await sameError({ src, entries, program: 'three' })).code).toBe(ErrorCode.BadArgument);
  });

  it('takes a decoded program as well as bytes', async () => {
    const { decodeProgram } = await import('../isa/decode.js');
    expect(interpret(decodeProgram(assemble('mov %r0, 3\nexit'))).run()).toBe(3n);
  });

  it('memory persists between runs, as in a compiled instance', async () => {
    const src = 'ldxdw %r0, [%r10-8]\nadd %r0, 1\nstxdw [%r10-8], %r0\nexit';
    const interp = interpret(assemble(src));
    const { wasm } = await compile(assemble(src));
    const compiled = await instantiate(wasm);
    for (let i = 1n; i <= 3n; i++) {
      expect(interp.run()).toBe(i);
      expect(compiled.run()).toBe(i);
    }
  });
});

// ------------------------------------------------------------------------------ arithmetic edge cases

describe('arithmetic', () => {
  it('sdiv / smod of INT_MIN by -1 (64 and 32 bits, register and immediate)', async () => {
    expect(await sameR0('lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit')).toBe(INT64_MIN);
    expect(await sameR0('lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit')).toBe(INT64_MIN);
    expect(await sameR0('lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit')).toBe(0n);
    expect(await sameR0('lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit')).toBe(0n);
    expect(await sameR0('lddw %r0, 0xffffffff80000000\nsdiv32 %r0, -1\nexit')).toBe(0x80000000n);
    expect(await sameR0('mov32 %r0, 0x80000000\nmov %r1, -1\nsdiv32 %r0, %r1\nexit')).toBe(0x80000000n);
    expect(await sameR0('mov32 %r0, 0x80000000\nsmod32 %r0, -1\nexit')).toBe(0n);
  });

  it('division by zero gives 0, modulo by zero leaves dst (32-bit: its low half, zero-extended)', async () => {
    expect(await sameR0('mov %r0, 77\nmov %r1, 0\ndiv %r0, %r1\nexit')).toBe(0n);
    expect(await sameR0('mov %r0, 77\ndiv %r0, 0\nexit')).toBe(0n);
    expect(await sameR0('mov %r0, -77\nmov %r1, 0\nsdiv %r0, %r1\nexit')).toBe(0n);
    expect(await sameR0('mov %r0, -77\nmov %r1, 0\nmod %r0, %r1\nexit')).toBe(U64(-77n));
    expect(await sameR0('mov %r0, -77\nsmod %r0, 0\nexit')).toBe(U64(-77n));
    expect(await sameR0('mov %r0, -77\nmov %r1, 0\nmod32 %r0, %r1\nexit')).toBe(U64(-77n) & 0xffffffffn);
    expect(await sameR0('mov %r0, -77\nsmod32 %r0, 0\nexit')).toBe(U64(-77n) & 0xffffffffn);
    expect(await sameR0('mov %r0, -77\ndiv32 %r0, 0\nexit')).toBe(0n);
    // A divisor whose low half is zero is zero for 32-bit division only.
    expect(await sameR0('mov %r0, 9\nlddw %r1, 0x100000000\ndiv32 %r0, %r1\nexit')).toBe(0n);
    expect(await sameR0('mov %r0, 9\nlddw %r1, 0x100000000\ndiv %r0, %r1\nexit')).toBe(0n);
    expect(await sameR0('mov %r0, 9\nlddw %r1, 0x100000000\nmod %r0, %r1\nexit')).toBe(9n);
  });

  it('signed division and modulo: truncation, the sign of smod follows the dividend', async () => {
    expect(await sameR0('mov %r0, -7\nsdiv %r0, 2\nexit')).toBe(U64(-3n));
    expect(await sameR0('mov %r0, -7\nsmod %r0, 2\nexit')).toBe(U64(-1n));
    expect(await sameR0('mov %r0, 7\nsmod %r0, -2\nexit')).toBe(1n);
    expect(await sameR0('mov32 %r0, -7\nsmod32 %r0, 2\nexit')).toBe(0xffffffffn);
    expect(await sameR0('mov32 %r0, -7\nsdiv32 %r0, 2\nexit')).toBe(0xfffffffdn);
    expect(await sameR0('mov %r0, -1\ndiv %r0, 3\nexit')).toBe(0x5555555555555555n);
    expect(await sameR0('mov32 %r0, -1\ndiv32 %r0, 3\nexit')).toBe(0x55555555n);
  });

  it('shift counts are masked to the width', async () => {
    expect(await sameR0('mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit')).toBe(2n);
    expect(await sameR0('mov %r0, 1\nlsh %r0, 63\nexit')).toBe(INT64_MIN);
    expect(await sameR0('mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit')).toBe(2n);
    expect(await sameR0('mov %r0, -1\nmov %r1, 64\nrsh %r0, %r1\nexit')).toBe(U64(-1n));
    expect(await sameR0('mov %r0, -1\nrsh32 %r0, 36\nexit')).toBe(0x0fffffffn);
    expect(await sameR0('lddw %r0, 0x8000000000000000\narsh %r0, 127\nexit')).toBe(U64(-1n));
    expect(await sameR0('mov32 %r0, 0x80000000\nmov %r1, -1\narsh32 %r0, %r1\nexit')).toBe(0xffffffffn);
    expect(await sameR0('mov %r0, -1\nmov %r1, -1\nlsh32 %r0, %r1\nexit')).toBe(0x80000000n);
  });

  it('immediates: sign-extended for ALU64, 32 bits for ALU32; 32-bit results zero the upper half', async () => {
    expect(await sameR0('mov %r0, -1\nexit')).toBe(U64(-1n));
    expect(await sameR0('mov32 %r0, -1\nexit')).toBe(0xffffffffn);
    expect(await sameR0('mov %r0, 0\nadd %r0, -1\nexit')).toBe(U64(-1n));
    expect(await sameR0('mov %r0, 0\nadd32 %r0, -1\nexit')).toBe(0xffffffffn);
    expect(await sameR0('lddw %r0, 0xffffffffffffffff\nadd32 %r0, 1\nexit')).toBe(0n);
    expect(await sameR0('lddw %r0, 0x123456789\nmov32 %r0, %r0\nexit')).toBe(0x23456789n);
    expect(await sameR0('lddw %r0, 0x7fffffffffffffff\nadd %r0, 1\nexit')).toBe(INT64_MIN);
    expect(await sameR0('lddw %r0, 0x8000000000000000\nneg %r0\nexit')).toBe(INT64_MIN);
    expect(await sameR0('mov32 %r0, 0x80000000\nneg32 %r0\nexit')).toBe(0x80000000n);
    expect(await sameR0('mov %r0, 0\nneg %r0\nexit')).toBe(0n);
    expect(await sameR0('lddw %r0, 0xffffffff00000002\nmul32 %r0, 0x7fffffff\nexit')).toBe(0xfffffffen);
    expect(await sameR0('lddw %r0, 0x100000001\nlddw %r1, 0x100000001\nmul %r0, %r1\nexit')).toBe(0x200000001n);
    expect(await sameR0('lddw %r0, 0x100000001\nmul %r0, -1\nexit')).toBe(U64(-0x100000001n));
    expect(await sameR0('lddw %r0, 0xffffffffffffffff\nmul %r0, %r0\nexit')).toBe(1n);
    expect(await sameR0('lddw %r0, 0xffffffff00000000\nor32 %r0, 1\nexit')).toBe(1n);
    expect(await sameR0('mov %r0, 5\nxor %r0, -1\nexit')).toBe(U64(~5n));
    expect(await sameR0('mov %r0, 5\nsub32 %r0, 6\nexit')).toBe(0xffffffffn);
  });

  it('movsx', async () => {
    expect(await sameR0('mov %r1, 0x80\nmovsx864 %r0, %r1\nexit')).toBe(U64(-128n));
    expect(await sameR0('mov %r1, 0x8000\nmovsx1664 %r0, %r1\nexit')).toBe(U64(-32768n));
    expect(await sameR0('mov32 %r1, 0x80000000\nmovsx3264 %r0, %r1\nexit')).toBe(U64(-0x80000000n));
    expect(await sameR0('mov %r1, 0x80\nmovsx832 %r0, %r1\nexit')).toBe(0xffffff80n);
    expect(await sameR0('lddw %r1, 0x1234567800007fff\nmovsx1632 %r0, %r1\nexit')).toBe(0x7fffn);
  });

  it('byte order: le truncates, be and bswap swap', async () => {
    const v = 'lddw %r0, 0x0102030405060708\n';
    expect(await sameR0(`${v}le16 %r0\nexit`)).toBe(0x0708n);
    expect(await sameR0(`${v}le32 %r0\nexit`)).toBe(0x05060708n);
    expect(await sameR0(`${v}le64 %r0\nexit`)).toBe(0x0102030405060708n);
    expect(await sameR0(`${v}be16 %r0\nexit`)).toBe(0x0807n);
    expect(await sameR0(`${v}be32 %r0\nexit`)).toBe(0x08070605n);
    expect(await sameR0(`${v}be64 %r0\nexit`)).toBe(0x0807060504030201n);
    expect(await sameR0(`${v}bswap16 %r0\nexit`)).toBe(0x0807n);
    expect(await sameR0(`${v}bswap32 %r0\nexit`)).toBe(0x08070605n);
    expect(await sameR0(`${v}bswap64 %r0\nexit`)).toBe(0x0807060504030201n);
  });
});

// ------------------------------------------------------------------------------ jumps

describe('jumps', () => {
  it('JMP immediates are sign-extended to 64 bits; JMP32 compares the low halves', async () => {
    expect(await sameR0('mov %r1, -1\nmov %r0, 1\njeq %r1, -1, +1\nmov %r0, 2\nexit')).toBe(1n);
    expect(await sameR0('mov32 %r1, -1\nmov %r0, 1\njeq %r1, -1, +1\nmov %r0, 2\nexit')).toBe(2n);
    expect(await sameR0('mov32 %r1, -1\nmov %r0, 1\njeq32 %r1, -1, +1\nmov %r0, 2\nexit')).toBe(1n);
    expect(await sameR0('lddw %r1, 0x100000005\nmov %r0, 1\njeq32 %r1, 5, +1\nmov %r0, 2\nexit')).toBe(1n);
    expect(await sameR0('mov %r1, -1\nmov %r0, 1\njsgt %r1, 0, +1\nmov %r0, 2\nexit')).toBe(2n);
    expect(await sameR0('mov %r1, -1\nmov %r0, 1\njgt %r1, 0, +1\nmov %r0, 2\nexit')).toBe(1n);
    expect(await sameR0('lddw %r1, 0x80000000\nmov %r0, 1\njslt32 %r1, 0, +1\nmov %r0, 2\nexit')).toBe(1n);
    expect(await sameR0('lddw %r1, 0x80000000\nmov %r0, 1\njslt %r1, 0, +1\nmov %r0, 2\nexit')).toBe(2n);
    expect(await sameR0('lddw %r1, 0x100000000\nmov %r0, 1\njset32 %r1, -1, +1\nmov %r0, 2\nexit')).toBe(2n);
    expect(await sameR0('lddw %r1, 0x100000000\nmov %r0, 1\njset %r1, -1, +1\nmov %r0, 2\nexit')).toBe(1n);
  });

  it('a loop runs', async () => {
    expect(await sameR0('mov %r0, 0\nmov %r1, 10\nloop:\nadd %r0, %r1\nsub %r1, 1\njne %r1, 0, loop\nexit')).toBe(55n);
  });

  it('control-flow errors are the compiler\'s, with the same instruction', async () => {
    const cases: Array<[string, string]> = [
      ['mov %r0, 0\nja +5\nexit', ErrorCode.JumpOutOfRange],
      ['mov %r0, 0\njeq %r0, 0, +1\nlddw %r0, 1\nexit', ErrorCode.JumpIntoLddw],
      ['mov %r0, 0', ErrorCode.FallOffEnd],
      ['mov %r0, 0\njeq %r0, 0, +1', ErrorCode.FallOffEnd],
      ['call local f\nexit\nf:\nmov %r0, 1\nja -4\nexit', ErrorCode.JumpAcrossFunction],
      ['call local f\nexit\nf:\nmov %r0, 1', ErrorCode.FallOffEnd],
      ['mov %r0, 0\nexit\nja +100', ErrorCode.JumpOutOfRange],
    ];
    for (const [src, code] of cases) {
      const e = await sameError(src);
      expect(e.code, src).toBe(code);
      expect(e.error).toBeInstanceOf(CompileError);
    }
    // A bad call target (even in dead code) and a bad entry.
    const badCall = new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0, 0x85, 0x10, 0, 0, 50, 0, 0, 0]);
    expect((await sameError({ src: badCall })).code).toBe(ErrorCode.BadCallTarget);
    expect((await sameError({ src: 'exit', entries: [{ name: 'x', pc: 3 }] })).code).toBe(ErrorCode.BadCallTarget);
  });

  it('unreachable functions are not checked (as the compiler does not build them)', async () => {
    // func is called only from dead code: its falling off the end is not reported... but the
    // dead call itself makes `func` a function boundary.
    expect(await sameR0('mov %r0, 4\nexit\ncall local func\nexit\nfunc:\nmov %r0, 1')).toBe(4n);
  });
});

// ------------------------------------------------------------------------------ memory

describe('memory', () => {
  it('loads and stores of every size, sign-extending loads', async () => {
    const mem = Uint8Array.from([0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0, 0, 0, 0, 0, 0, 0, 0]);
    const src = [
      'ldxb %r2, [%r1]', 'ldxh %r3, [%r1]', 'ldxw %r4, [%r1]', 'ldxdw %r5, [%r1]',
      'ldxsb %r6, [%r1]', 'ldxsh %r7, [%r1]', 'ldxsw %r8, [%r1]',
      'mov %r0, %r2', 'add %r0, %r3', 'add %r0, %r4', 'add %r0, %r5', 'xor %r0, %r6', 'xor %r0, %r7', 'xor %r0, %r8',
      'stb [%r1+8], -1', 'sth [%r1+9], -2', 'stw [%r1+11], 0x12345678',
      'stxdw [%r10-8], %r5', 'ldxw %r9, [%r10-6]', 'stxh [%r1+15], %r9',
      'exit',
    ].join('\n');
    const o = await same({ src, mem });
    expect(o.ok).toBe(true);
  });

  it('a fault names the instruction and the address; a negative offset wraps in 32 bits', async () => {
    const past = await sameError('mov %r0, 0\nlddw %r1, 0xfffffff0\nldxw %r0, [%r1+0x7ff0]\nexit');
    expect(past.code).toBe(ErrorCode.MemoryFault);
    expect(past.insn).toBe(3);
    expect(past.error.location).toEqual({ insn: 3, address: 0xfffffff0 + 0x7ff0 });
    const inst = interpret(assemble('mov %r0, 0\nldxw %r0, [%r1+6]\nexit'));
    // Without memory r1 = 0: address 6 is in the null guard, which is readable memory.
    expect(inst.run()).toBe(0n);
    const beyond = interpError(() => interpret(assemble('lddw %r1, 0x7ffffff0\nldxdw %r0, [%r1+16]\nexit')).run());
    expect(beyond).toBeInstanceOf(BpfRuntimeError);
    expect(beyond.code).toBe(ErrorCode.MemoryFault);
    expect(beyond.location).toEqual({ insn: 2, address: 0x80000000 });
    const neg = interpError(() => interpret(assemble('mov %r1, 4\nstxdw [%r1-8], %r1\nexit')).run());
    expect(neg.location).toEqual({ insn: 1, address: 0xfffffffc });
    expect((await sameError('mov %r1, 4\nstxdw [%r1-8], %r1\nexit')).insn).toBe(1);
    // The upper half of the base register is ignored.
    expect(await sameR0({ src: 'lddw %r2, 0x500000000\nadd %r1, %r2\nldxb %r0, [%r1]\nexit', mem: Uint8Array.of(99) })).toBe(99n);
    // An access straddling the end of memory faults.
    const inst2 = interpret(assemble('ldxdw %r0, [%r1]\nexit'));
    const end = inst2.memory.buffer.byteLength;
    const straddle = interpError(() => interpret(assemble(`lddw %r1, ${end - 4}\nldxdw %r0, [%r1]\nexit`)).run());
    expect(straddle.location).toEqual({ insn: 2, address: end - 4 });
    expect((await sameError(`lddw %r1, ${end - 4}\nldxdw %r0, [%r1]\nexit`)).code).toBe(ErrorCode.MemoryFault);
    expect(await sameR0(`lddw %r1, ${end - 8}\nldxdw %r0, [%r1]\nexit`)).toBe(0n);
  });

  it('atomics: add, or, and, xor (with and without fetch), xchg, cmpxchg', async () => {
    const mem = new Uint8Array(16);
    new DataView(mem.buffer).setBigUint64(0, 0xf0f0f0f0_f0f0f0f0n, true);
    const src = [
      'mov %r2, 0x0f', 'lock add [%r1], %r2', 'lock fetch or [%r1], %r2', 'mov %r6, %r2',
      'lddw %r3, 0xffffffff00000001', 'lock and32 [%r1+8], %r3', 'lock fetch xor32 [%r1+4], %r3',
      'mov %r4, 7', 'lock xchg [%r1+8], %r4',
      'mov %r0, %r4', 'lock cmpxchg [%r1+8], %r2', 'mov %r7, %r0',
      'lddw %r0, 0xabcdef0000000000', 'lock cmpxchg32 [%r1+8], %r3', 'mov %r8, %r0',
      'mov %r0, %r6', 'add %r0, %r2', 'xor %r0, %r3', 'xor %r0, %r7', 'xor %r0, %r8', 'exit',
    ].join('\n');
    const o = await same({ src, mem });
    expect(o.ok).toBe(true);
  });

  it('cmpxchg32 compares the low half of r0 and writes the old value zero-extended', async () => {
    const mem = Uint8Array.from([5, 0, 0, 0]);
    const src = 'lddw %r0, 0xffffffff00000005\nmov %r2, 9\nlock cmpxchg32 [%r1], %r2\nldxw %r3, [%r1]\nlsh %r3, 32\nor %r0, %r3\nexit';
    expect(await sameR0({ src, mem })).toBe(0x0000000900000005n);
  });

  it('legacy packet loads: network byte order; outside the packet the current function returns 0', async () => {
    const mem = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
    expect(await sameR0({ src: 'ldabsw 1\nexit', mem })).toBe(0x22334455n);
    expect(await sameR0({ src: 'ldabsh 4\nexit', mem })).toBe(0x5566n);
    expect(await sameR0({ src: 'ldabsb 5\nexit', mem })).toBe(0x66n);
    expect(await sameR0({ src: 'mov %r6, 2\nldindh %r6, 1\nexit', mem })).toBe(0x4455n);
    expect(await sameR0({ src: 'mov %r0, 7\nldabsw 3\nmov %r0, 1\nexit', mem })).toBe(0n);
    expect(await sameR0({ src: 'mov %r6, -1\nldindb %r6, 1\nexit', mem })).toBe(0x11n);
    expect(await sameR0({ src: 'mov %r6, -2\nldindb %r6, 1\nmov %r0, 9\nexit', mem })).toBe(0n);
    expect(await sameR0({ src: 'lddw %r6, 0x100000000\nldindb %r6, 1\nexit', mem })).toBe(0x22n);
    expect(await sameR0({ src: 'ldabsb 0\nexit' })).toBe(0n);
    // In a callee: only the callee returns (with 0).
    const callee = 'mov %r6, 3\ncall local f\nadd %r0, %r6\nexit\nf:\nldabsw 100\nmov %r0, 50\nexit';
    expect(await sameR0({ src: callee, mem })).toBe(3n);
  });
});

// ------------------------------------------------------------------------------ calls

describe('calls', () => {
  it('bpf-to-bpf: r1-r5 passed, r6-r9 and the caller\'s r1-r5 kept, callee registers start at 0', async () => {
    const src = [
      'mov %r1, 1', 'mov %r2, 2', 'mov %r6, 6', 'call local f',
      // r0 = callee result; the caller's r1, r2, r6 are unchanged.
      'lsh %r0, 8', 'add %r0, %r1', 'lsh %r0, 8', 'add %r0, %r2', 'lsh %r0, 8', 'add %r0, %r6', 'exit',
      'f:', 'mov %r0, %r6', 'add %r0, %r7', 'add %r0, %r1', 'add %r0, %r2', 'mov %r1, 100', 'mov %r6, 100',
      'add %r0, %r3', 'exit',
    ].join('\n');
    expect(await sameR0(src)).toBe(0x03010206n);
  });

  it('each call gets the frame below the caller\'s', async () => {
    const src = 'mov %r1, %r10\ncall local f\nexit\nf:\nmov %r0, %r1\nsub %r0, %r10\nexit';
    expect(await sameR0(src)).toBe(512n);
    expect(await sameR0({ src, frameSize: 64 })).toBe(64n);
  });

  it('call depth: E_CALL_DEPTH at the call that would not fit', async () => {
    const rec = 'mov %r1, 0\ncall local f\nexit\nf:\nadd %r1, 1\nmov %r0, %r1\njge %r1, 20, +1\ncall local f\nexit';
    const e = await sameError(rec);
    expect(e.code).toBe(ErrorCode.CallDepth);
    expect(e.insn).toBe(6);
    expect(e.error.location).toEqual({ insn: 6 });
    // Depth 8 allows 7 nested calls: recursion to depth 7 works.
    expect(await sameR0(rec.replace('20', '7'))).toBe(7n);
    expect((await sameError(rec.replace('20', '8'))).code).toBe(ErrorCode.CallDepth);
    // With one frame no call fits.
    const one = await sameError({ src: 'call local f\nexit\nf:\nexit', maxCallDepth: 1 });
    expect(one.code).toBe(ErrorCode.CallDepth);
    expect(one.insn).toBe(0);
  });

  it('helpers get signed i64 arguments; the result goes through ToBigInt64', async () => {
    const seen: unknown[] = [];
    const helpers = (): HelperDefinition[] => [{
      id: 7,
      fn: (...args: unknown[]) => {
        seen.push(args);
        return -2n;
      },
    }];
    const src = 'mov %r1, -1\nlddw %r2, 0x8000000000000000\nmov32 %r3, -1\ncall 7\nexit';
    expect(await sameR0({ src, helpers })).toBe(U64(-2n));
    expect(seen[0]).toEqual([-1n, -INT64_MIN, 0xffffffffn, 0n, 0n]);
    expect(new Set(seen.map((s) => JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))).size).toBe(1);
  });

  it('helpers with declared signatures: i32 arguments as signed numbers, u32/s32/void results', () => {
    const args: unknown[] = [];
    const inst = interpret(assemble('mov32 %r1, -1\nmov %r2, 7\ncall 1\nmov %r6, %r0\ncall 2\nlsh %r0, 1\nadd %r0, %r6\ncall 3\nexit'), {
      helpers: [
        { id: 1, signature: { args: ['i32', 'i64'], result: 'u32' }, fn: (a: number, b: bigint) => { args.push(a, b); return -1; } },
        { id: 2, signature: { args: [], result: 's32' }, fn: () => -1 },
        { id: 3, signature: { args: ['i32'], result: 'void' }, fn: (a: number) => { args.push(a); return 99n; } },
      ],
    });
    expect(inst.run()).toBe(0n);
    expect(args).toEqual([-1, 7n, -1]);
    const inst2 = interpret(assemble('call 1\nmov %r6, %r0\ncall 2\nexit'), {
      helpers: [
        { id: 1, signature: { args: [], result: 'u32' }, fn: () => -1 },
        { id: 2, signature: { args: [], result: 's32' }, fn: () => -1 },
      ],
    });
    expect(inst2.run()).toBe(U64(-1n));
  });

  it('a helper that throws: E_HELPER_FAILED at the call; a BpfRuntimeError passes through', async () => {
    const helpers = (): HelperDefinition[] => [{ id: 9, fn: () => { throw new Error('boom'); } }];
    const e = await sameError({ src: 'mov %r0, 0\ncall 9\nexit', helpers });
    expect(e.code).toBe(ErrorCode.HelperFailed);
    expect(e.insn).toBe(1);
    expect(e.error.message).toMatch(/boom/);
    const own = new BpfRuntimeError(ErrorCode.BadArgument, 'mine');
    const thrown = interpError(() => interpret(assemble('call 9\nexit'), { helpers: [{ id: 9, fn: () => { throw own; } }] }).run());
    expect(thrown).toBe(own);
  });

  it('a generic helper returning a number fails as at the Wasm boundary', async () => {
    const helpers = (): HelperDefinition[] => [{ id: 9, fn: () => 5 }];
    const e = await sameError({ src: 'mov %r0, 0\ncall 9\nexit', helpers });
    expect(e.code).toBe(ErrorCode.HelperFailed);
    expect(e.insn).toBe(1);
    // A boolean converts (ToBigInt), as it does for Wasm.
    expect(await sameR0({ src: 'call 9\nexit', helpers: () => [{ id: 9, fn: () => true }] })).toBe(1n);
  });

  it('a helper the program calls but the host lacks fails at load time', async () => {
    const e = await sameError({ src: 'mov %r0, 0\ncall 12\nexit', helpers: () => [] });
    expect(e.code).toBe(ErrorCode.UnknownHelper);
    expect(e.insn).toBeUndefined();
    expect(e.error.location.helper).toBe('helper_12');
    // Found by name as well.
    expect(await sameR0({ src: 'call 12\nexit', helpers: () => [{ id: 99, name: 'helper_12', fn: () => 3n }] })).toBe(3n);
    // A call in dead code needs nothing.
    expect(await sameR0({ src: 'mov %r0, 1\nexit\ncall 12\nexit', helpers: () => [] })).toBe(1n);
  });

  it('callx: the helper id is the low half of the register; an unknown id is E_UNKNOWN_HELPER', async () => {
    expect(await sameR0('mov %r1, 42\nlddw %r3, 0xffffffff00000005\ncallx %r3\nexit')).toBe(42n);
    const e = await sameError('mov %r0, 0\nmov %r3, 6\ncallx %r3\nexit');
    expect(e.code).toBe(ErrorCode.UnknownHelper);
    expect(e.insn).toBe(2);
    expect(e.error.location).toEqual({ insn: 2, helper: '6' });
    const neg = await sameError('mov %r3, -1\ncallx %r3\nexit');
    expect(neg.error.location).toEqual({ insn: 1, helper: '-1' });
    // A negative id reaches a helper registered with the unsigned spelling.
    expect(await sameR0({ src: 'mov %r3, -1\ncallx %r3\nexit', helpers: () => [{ id: 0xffffffff, fn: () => 8n }] })).toBe(8n);
    // callx converts a result as call does (helperResult): a number where a bigint is due fails.
    expect((await sameError({ src: 'mov %r3, 9\ncallx %r3\nexit', helpers: () => [{ id: 9, fn: () => 5 }] })).code).toBe(ErrorCode.HelperFailed);
    expect(await sameR0({ src: 'mov %r3, 9\ncallx %r3\nexit', helpers: () => [{ id: 9, fn: () => 5n }] })).toBe(5n);
    const thrown = await sameError({ src: 'mov %r3, 9\ncallx %r3\nexit', helpers: () => [{ id: 9, fn: () => { throw new TypeError('x'); } }] });
    expect(thrown.code).toBe(ErrorCode.HelperFailed);
    expect(thrown.insn).toBe(1);
  });

  it('a helper may not run the instance again (E_REENTRANT): runs share the stack', () => {
    let inst: BpfInstance | undefined;
    inst = interpret(assemble('mov %r6, 100\ncall 1\nadd %r0, %r6\nexit'), {
      helpers: [{ id: 1, fn: () => inst!.run() }],
    });
    expect(interpError(() => inst!.run()).code).toBe(ErrorCode.Reentrant);
  });

  it('a helper that grows memory: the program sees the new memory', async () => {
    let inst: BpfInstance | undefined;
    inst = interpret(assemble('call 1\nlddw %r1, 0x20000\nstxdw [%r1], %r0\nldxdw %r0, [%r1]\nexit'), {
      helpers: [{ id: 1, fn: () => { inst!.memory.grow(2); return 77n; } }],
    });
    expect(inst.run()).toBe(77n);
  });

  it('kfunc and unresolved lddw pseudo sources are E_UNSUPPORTED at load, as in the compiler', async () => {
    const kfunc = await sameError('mov %r0, 0\ncall runtime 7, 0\nexit');
    expect(kfunc.code).toBe(ErrorCode.Unsupported);
    expect(kfunc.insn).toBe(1);
    const map = await sameError('lddw %r1, 0x5, map_fd\nmov %r0, 0\nexit');
    expect(map.code).toBe(ErrorCode.Unsupported);
    expect(map.insn).toBe(0);
    // In dead code they are never generated, so never rejected.
    expect(await sameR0('mov %r0, 2\nexit\ncall runtime 7, 0\nlddw %r1, 0x5, map_fd\nexit')).toBe(2n);
    // A resolver supplies the value.
    const inst = interpret(assemble('lddw %r0, 0x5, map_fd\nexit'), { resolveLddw: (i) => BigInt(i.imm) * 1000n - 1n });
    expect(inst.run()).toBe(4999n);
  });
});

// ------------------------------------------------------------------------------ budget

describe('budget', () => {
  it('an endless loop stops with E_BUDGET at the instruction that exceeds it', () => {
    const inst = interpret(assemble('mov %r0, 0\nloop:\nadd %r0, 1\nja loop'), { budget: 1000 });
    const e = interpError(() => inst.run());
    expect(e).toBeInstanceOf(BpfRuntimeError);
    expect(e.code).toBe(E_BUDGET);
    expect(e.code).toBe('E_BUDGET');
    expect([1, 2]).toContain(e.location.insn);
  });

  it('a budget exactly large enough suffices; one less does not', () => {
    const bytes = assemble('mov %r0, 1\nlddw %r1, 2\nadd %r0, %r1\nexit');
    expect(interpret(bytes, { budget: 4 }).run()).toBe(3n);
    const e = interpError(() => interpret(bytes, { budget: 3 }).run());
    expect(e.code).toBe(E_BUDGET);
    expect(e.location.insn).toBe(4);
    // Per-run override.
    expect(interpError(() => interpret(bytes, { budget: -1 })).code).toBe(ErrorCode.BadArgument);
  });

  it('the budget counts callee instructions', () => {
    const bytes = assemble('call local f\nexit\nf:\nmov %r0, 1\nexit');
    expect(interpret(bytes, { budget: 4 }).run()).toBe(1n);
    expect(interpError(() => interpret(bytes, { budget: 3 }).run()).location.insn).toBe(1);
  });
});

// ------------------------------------------------------------------------------ random programs

describe('differential on random programs', () => {
  // The generators are shared with the compiler's differential and robustness tests.
  const value = regValue;
  const line = asmLine;

  it('random straight-line and forward-branching programs agree on r0 and memory', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(value, { minLength: 10, maxLength: 10 }), fc.array(line, { minLength: 1, maxLength: 30 }), fc.uint8Array({ minLength: 0, maxLength: 16 }), fc.boolean(), async (init, body, mem, pointer) => {
        // A jump `+k` must land inside the body or on the epilogue.
        const lines = body.map((l, i) => l.replace(/, \+(\d)$/, (_m, k: string) => `, +${Math.min(Number(k), body.length - 1 - i)}`));
        const src = [
          // r1 is the input pointer or a random value.
          ...init.map((v, r) => (r === 1 && pointer ? '' : `lddw %r${r}, 0x${v.toString(16)}`)).filter((l) => l !== ''),
          ...lines,
          ...Array.from({ length: 10 }, (_v, r) => `stxdw [%r10-${8 * (r + 1) + 64}], %r${r}`),
          'exit',
        ].join('\n');
        const c: Case = { src, mem };
        const interp = interpOutcome(c);
        expectSameOutcome(interp, await compiledOutcome(c, 0), `-O0\n${src}`);
        expectSameOutcome(interp, await compiledOutcome(c, 2), `-O2\n${src}`, false);
      }),
      { numRuns: Number(process.env.BPF2WASM_FUZZ_RUNS ?? 60) },
    );
  });

  it('random programs with bpf-to-bpf calls and helper calls agree', async () => {
    const clamp = (lines: string[]): string[] =>
      lines.map((l, i) => l.replace(/, \+(\d)$/, (_m, k: string) => `, +${Math.min(Number(k), lines.length - 1 - i)}`));
    const callLine = fc.constantFrom('call local f', 'call local g', 'call 5', 'callx %r3', 'callx %r5');
    const withCalls = fc.array(fc.oneof({ weight: 4, arbitrary: line }, { weight: 1, arbitrary: callLine }), { minLength: 1, maxLength: 20 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(value, { minLength: 10, maxLength: 10 }), withCalls, fc.array(line, { maxLength: 10 }),
        fc.array(fc.oneof({ weight: 4, arbitrary: line }, { weight: 1, arbitrary: fc.constant('call local f') }), { maxLength: 10 }),
        fc.uint8Array({ minLength: 0, maxLength: 16 }),
        async (init, main, fBody, gBody, mem) => {
          const src = [
            ...init.map((v, r) => (r === 1 ? '' : `lddw %r${r}, 0x${v.toString(16)}`)).filter((l) => l !== ''),
            ...clamp(main),
            ...Array.from({ length: 10 }, (_v, r) => `stxdw [%r10-${8 * (r + 1) + 64}], %r${r}`),
            'exit',
            'f:', ...clamp([...fBody, 'stxdw [%r10-8], %r6', 'exit']),
            'g:', ...clamp([...gBody, 'stxdw [%r10-16], %r7', 'exit']),
          ].join('\n');
          const c: Case = { src, mem, helpers: () => [IDENTITY5, { id: 6, fn: (a: bigint, b: bigint) => a ^ (b << 3n) }] };
          const interp = interpOutcome(c);
          expectSameOutcome(interp, await compiledOutcome(c, 0), `-O0\n${src}`);
          expectSameOutcome(interp, await compiledOutcome(c, 2), `-O2\n${src}`, false);
        },
      ),
      { numRuns: Number(process.env.BPF2WASM_FUZZ_RUNS ?? 40) },
    );
  });
});

// ------------------------------------------------------------------------------ registry

describe('helpers registry', () => {
  it('accepts a HelperRegistry and exposes it', () => {
    const reg = new HelperRegistry([IDENTITY5]);
    const inst = interpret(assemble('mov %r1, 3\ncall 5\nexit'), { helpers: reg });
    expect(inst.helpers).toBe(reg);
    expect(inst.run()).toBe(3n);
  });
});
