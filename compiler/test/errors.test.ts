/**
 * Every error the compiler and the runtime raise on purpose: one test per error, asserting the
 * stable `code` and `location.insn` (never the English text), and that every failure is a
 * Bpf2WasmError subclass.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile, type CompileOptions, type OptLevel } from '../index.js';
import {
  Bpf2WasmError, BpfRuntimeError, CompileError, ErrorCode, instantiate, type HelperDefinition,
} from '../../runtime/index.js';
import { concatBytes, slot } from '../../test/support/slots.js';

const OPT_LEVELS: readonly OptLevel[] = [0, 1, 2];

// ------------------------------------------------------------------------------ raw encoding

const prog = concatBytes;

const MOV0 = slot(0xb7, 0, 0, 0, 0); // mov r0, 0
const EXIT = slot(0x95);
const JA = (off: number): Uint8Array => slot(0x05, 0, 0, off);
const LDDW = (dst: number, lo: number, hi: number, src = 0): Uint8Array[] => [slot(0x18, dst, src, 0, lo), slot(0x00, 0, 0, 0, hi)];
const CALL_LOCAL = (imm: number): Uint8Array => slot(0x85, 0, 1, 0, imm);

// ------------------------------------------------------------------------------ expectations

async function compileError(bytes: Uint8Array | string, options: CompileOptions = {}): Promise<CompileError> {
  const input = typeof bytes === 'string' ? assemble(bytes) : bytes;
  try {
    await compile(input, options);
  } catch (e) {
    expect(e, `threw ${String(e)}`).toBeInstanceOf(CompileError);
    return e as CompileError;
  }
  throw new Error('expected a CompileError, but the program compiled');
}

async function expectCompileError(
  bytes: Uint8Array | string, code: ErrorCode, insn: number | undefined, options: CompileOptions = {},
): Promise<CompileError> {
  const e = await compileError(bytes, options);
  expect({ code: e.code, insn: e.location.insn }).toEqual({ code, insn });
  return e;
}

async function runtimeError(
  src: Uint8Array | string, opt: OptLevel, o: { mem?: Uint8Array; helpers?: HelperDefinition[]; compile?: CompileOptions } = {},
): Promise<BpfRuntimeError> {
  const bytes = typeof src === 'string' ? assemble(src) : src;
  const { wasm } = await compile(bytes, { ...o.compile, optLevel: opt });
  const inst = await instantiate(wasm, { helpers: o.helpers ?? [] });
  try {
    const r0 = inst.run(o.mem);
    throw new Error(`expected a runtime error, but the program returned 0x${r0.toString(16)}`);
  } catch (e) {
    expect(e, `threw ${String(e)}`).toBeInstanceOf(BpfRuntimeError);
    return e as BpfRuntimeError;
  }
}

// ------------------------------------------------------------------------------ input format

describe('compile errors: input format', () => {
  it('E_EMPTY_PROGRAM', async () => {
    await expectCompileError(new Uint8Array(0), ErrorCode.EmptyProgram, undefined);
  });

  it('E_TRUNCATED_INPUT (not a multiple of 8 bytes)', async () => {
    const e = await expectCompileError(new Uint8Array([...prog(MOV0), 0x95, 0, 0, 0]), ErrorCode.TruncatedInput, 1);
    expect(e.location.offset).toBe(8);
  });

  it('E_PROGRAM_TOO_LARGE with a small maxInsns', async () => {
    const p = prog(MOV0, MOV0, MOV0, MOV0, EXIT);
    await expectCompileError(p, ErrorCode.ProgramTooLarge, undefined, { maxInsns: 4 });
    // The limit itself is allowed.
    await expect(compile(p, { maxInsns: 5, optLevel: 0 })).resolves.toBeDefined();
  });

  it('E_PROGRAM_TOO_LARGE for a real program of 1,000,001 instructions (the default limit)', async () => {
    const n = 1_000_001;
    const bytes = new Uint8Array(n * 8);
    for (let i = 0; i < n - 1; i++) bytes[i * 8] = 0xb7; // mov r0, 0
    bytes[(n - 1) * 8] = 0x95;
    const t0 = performance.now();
    await expectCompileError(bytes, ErrorCode.ProgramTooLarge, undefined);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

// ------------------------------------------------------------------------------ decoding

describe('compile errors: decoding', () => {
  // Each bad slot sits at instruction 1, after a valid `mov r0, 0`.
  const UNKNOWN: Array<[string, Uint8Array]> = [
    ['opcode 0x00 (LD class, IMM mode, W size)', slot(0x00)],
    ['LD class with MEM mode', slot(0x60, 0, 1)],
    ['LDX class with IMM mode', slot(0x01, 0, 1)],
    ['LDX with MEMSX and DW size (no ldsxdw)', slot(0x99, 0, 1)],
    ['ST class with ATOMIC mode', slot(0xc2, 1, 0, 0, 0)],
    ['ST class with MEMSX mode', slot(0x82, 1, 0)],
    ['STX class with MEMSX mode', slot(0x83, 1, 2)],
    ['atomic of byte size', slot(0xd3, 1, 2, 0, 0)],
    ['atomic of half-word size', slot(0xcb, 1, 2, 0, 0)],
    ['legacy LD ABS of DW size', slot(0x38, 0, 0, 0, 0)],
    ['END with imm 8', slot(0xd4, 1, 0, 0, 8)],
    ['END with imm 0', slot(0xdc, 1, 0, 0, 0)],
    ['ALU64 END with the X bit', slot(0xdf, 1, 0, 0, 16)],
    ['sdiv with off = 2', slot(0x3f, 1, 2, 2)],
    ['smod32 with off = 2', slot(0x94, 1, 0, 2, 3)],
    ['add with a non-zero offset', slot(0x0f, 1, 2, 1)],
    ['movsx32 from 32 bits (ALU mov X off 32)', slot(0xbc, 1, 2, 32)],
    ['movsx with off 7', slot(0xbf, 1, 2, 7)],
    ['movsx from an immediate (mov K off 8)', slot(0xb7, 1, 0, 8, 1)],
    ['neg with the X bit', slot(0x8f, 1, 2)],
    ['ALU code 0xe0', slot(0xe7, 1, 0, 0, 1)],
    ['ALU32 code 0xf0', slot(0xf4, 1, 0, 0, 1)],
    ['JMP code 0xe0', slot(0xe5, 1, 0, 0, 0)],
    ['ja with the X bit', slot(0x0d)],
    ['JMP32 call', slot(0x86, 0, 0, 0, 1)],
    ['JMP32 exit', slot(0x96)],
    ['exit with the X bit', slot(0x9d)],
    ['call with src = 3', slot(0x85, 0, 3, 0, 1)],
    ['atomic with imm 0x02', slot(0xdb, 1, 2, 0, 0x02)],
    ['atomic with imm 0xe0 (xchg without fetch)', slot(0xdb, 1, 2, 0, 0xe0)],
    ['atomic32 with imm 0xf0 (cmpxchg without fetch)', slot(0xc3, 1, 2, 0, 0xf0)],
    ['lddw with source 7', LDDW(1, 0, 0, 7)[0]!],
  ];
  for (const [what, bad] of UNKNOWN) {
    it(`E_UNKNOWN_OPCODE: ${what}`, async () => {
      const body = bad[0] === 0x18 ? [bad, slot(0, 0, 0, 0, 0)] : [bad];
      await expectCompileError(prog(MOV0, ...body, EXIT), ErrorCode.UnknownOpcode, 1);
    });
  }

  it('E_BAD_REGISTER: dst r11', async () => {
    await expectCompileError(prog(MOV0, slot(0xb7, 11, 0, 0, 1), EXIT), ErrorCode.BadRegister, 1);
  });

  it('E_BAD_REGISTER: src r15', async () => {
    await expectCompileError(prog(MOV0, MOV0, slot(0x0f, 1, 15), EXIT), ErrorCode.BadRegister, 2);
  });

  it('E_BAD_REGISTER: memory base r12, jump operand r13, callx r14', async () => {
    await expectCompileError(prog(MOV0, slot(0x79, 0, 12), EXIT), ErrorCode.BadRegister, 1);
    await expectCompileError(prog(MOV0, slot(0x1d, 13, 1, 0), EXIT), ErrorCode.BadRegister, 1);
    await expectCompileError(prog(MOV0, slot(0x8d, 14), EXIT), ErrorCode.BadRegister, 1);
  });

  it('E_WRITE_R10: ALU', async () => {
    await expectCompileError(prog(MOV0, slot(0xb7, 10, 0, 0, 1), EXIT), ErrorCode.WriteR10, 1);
    await expectCompileError(prog(MOV0, MOV0, slot(0x07, 10, 0, 0, 8), EXIT), ErrorCode.WriteR10, 2);
    await expectCompileError(prog(MOV0, slot(0xdc, 10, 0, 0, 16), EXIT), ErrorCode.WriteR10, 1); // be16 r10
  });

  it('E_WRITE_R10: ldx', async () => {
    await expectCompileError(prog(MOV0, slot(0x79, 10, 1, 0), EXIT), ErrorCode.WriteR10, 1);
  });

  it('E_WRITE_R10: lddw', async () => {
    await expectCompileError(prog(MOV0, ...LDDW(10, 1, 2), EXIT), ErrorCode.WriteR10, 1);
  });

  it('E_WRITE_R10: atomic fetch into r10', async () => {
    // lock fetch add [r1+0], r10: the old value would go to r10.
    await expectCompileError(prog(MOV0, slot(0xdb, 1, 10, 0, 0x01), EXIT), ErrorCode.WriteR10, 1);
    await expectCompileError(prog(MOV0, slot(0xdb, 1, 10, 0, 0xe1), EXIT), ErrorCode.WriteR10, 1); // xchg
  });

  it('E_TRUNCATED_LDDW', async () => {
    await expectCompileError(prog(MOV0, EXIT, LDDW(1, 1, 2)[0]!), ErrorCode.TruncatedLddw, 2);
  });

  it('E_BAD_LDDW (second slot not all zero)', async () => {
    // The location is the second slot.
    await expectCompileError(prog(MOV0, slot(0x18, 1, 0, 0, 1), slot(0x95), EXIT), ErrorCode.BadLddw, 2);
    await expectCompileError(prog(MOV0, slot(0x18, 1, 0, 0, 1), slot(0, 1), EXIT), ErrorCode.BadLddw, 2);
    await expectCompileError(prog(MOV0, slot(0x18, 1, 0, 0, 1), slot(0, 0, 0, 4), EXIT), ErrorCode.BadLddw, 2);
  });
});

// ------------------------------------------------------------------------------ control flow

describe('compile errors: control flow', () => {
  it('E_JUMP_OUT_OF_RANGE forward', async () => {
    await expectCompileError(prog(MOV0, JA(5), EXIT), ErrorCode.JumpOutOfRange, 1);
    // A jump to one past the end is out of range too.
    await expectCompileError(prog(MOV0, slot(0x15, 0, 0, 1, 0), EXIT), ErrorCode.JumpOutOfRange, 1);
  });

  it('E_JUMP_OUT_OF_RANGE backward', async () => {
    await expectCompileError(prog(MOV0, MOV0, JA(-4), EXIT), ErrorCode.JumpOutOfRange, 2);
  });

  it('E_JUMP_OUT_OF_RANGE ja32', async () => {
    await expectCompileError(prog(MOV0, slot(0x06, 0, 0, 0, 100), EXIT), ErrorCode.JumpOutOfRange, 1);
    await expectCompileError(prog(MOV0, slot(0x06, 0, 0, 0, -3), EXIT), ErrorCode.JumpOutOfRange, 1);
  });

  it('E_JUMP_INTO_LDDW', async () => {
    // 0 ja +2 -> slot 3 = second half of the lddw at 2.
    await expectCompileError(prog(JA(2), MOV0, ...LDDW(0, 1, 2), EXIT), ErrorCode.JumpIntoLddw, 0);
    await expectCompileError(prog(MOV0, ...LDDW(0, 1, 2), slot(0x15, 0, 0, -2, 0), EXIT), ErrorCode.JumpIntoLddw, 3);
  });

  it('E_FALL_OFF_END: the last instruction is not exit or ja', async () => {
    await expectCompileError(prog(MOV0), ErrorCode.FallOffEnd, 0);
    await expectCompileError(prog(MOV0, EXIT, MOV0), ErrorCode.FallOffEnd, 2);
    // A conditional jump at the end can fall through.
    await expectCompileError(prog(MOV0, slot(0x15, 0, 0, -2, 0)), ErrorCode.FallOffEnd, 1);
  });

  it('E_FALL_OFF_END: a function runs into the next call target', async () => {
    // 0 call f; 1 mov r0, 1 (main ends here, falling into f); 2 f: mov r0, 2; 3 exit
    await expectCompileError(prog(CALL_LOCAL(1), slot(0xb7, 0, 0, 0, 1), slot(0xb7, 0, 0, 0, 2), EXIT), ErrorCode.FallOffEnd, 1);
  });

  it('E_BAD_CALL_TARGET: out of range', async () => {
    await expectCompileError(prog(MOV0, CALL_LOCAL(100), EXIT), ErrorCode.BadCallTarget, 1);
    await expectCompileError(prog(MOV0, CALL_LOCAL(-3), EXIT), ErrorCode.BadCallTarget, 1);
  });

  it('E_BAD_CALL_TARGET: into the second half of lddw', async () => {
    // 0 call +2 -> slot 3, the second half of the lddw at 2.
    await expectCompileError(prog(CALL_LOCAL(2), EXIT, ...LDDW(0, 1, 2), EXIT), ErrorCode.BadCallTarget, 0);
  });

  it('E_BAD_CALL_TARGET: an entry point outside the program', async () => {
    await expectCompileError(prog(MOV0, EXIT), ErrorCode.BadCallTarget, 7, { entries: [{ name: 'p', pc: 7 }] });
  });

  it('E_JUMP_ACROSS_FUNCTION', async () => {
    // 0 call f (-> 3); 1 ja +2 (-> 4, inside f); 2 exit; 3 f: mov; 4 exit
    await expectCompileError(prog(CALL_LOCAL(2), JA(2), EXIT, MOV0, EXIT), ErrorCode.JumpAcrossFunction, 1);
    // And from a callee back into main.
    await expectCompileError(prog(MOV0, CALL_LOCAL(1), EXIT, slot(0x15, 0, 0, -4, 0), EXIT), ErrorCode.JumpAcrossFunction, 3);
  });

  it('E_UNKNOWN_HELPER when the host declares its helpers', async () => {
    const p = 'mov %r0, 0\ncall 1\ncall 2\nexit';
    await expectCompileError(p, ErrorCode.UnknownHelper, 2, { helpers: [{ id: 1 }] });
    // Without a helper list any id compiles.
    await expect(compile(assemble(p), { optLevel: 0 })).resolves.toBeDefined();
  });

  it('E_UNSUPPORTED: lddw with a pseudo source in raw bytecode', async () => {
    await expectCompileError(prog(MOV0, ...LDDW(1, 3, 0, 1), EXIT), ErrorCode.Unsupported, 1);
    await expectCompileError(prog(MOV0, MOV0, ...LDDW(1, 3, 0, 2), EXIT), ErrorCode.Unsupported, 2);
  });

  it('E_UNSUPPORTED: kfunc call', async () => {
    await expectCompileError(prog(MOV0, slot(0x85, 0, 2, 0, 1234), EXIT), ErrorCode.Unsupported, 1);
  });

  it('E_TOO_COMPLEX: loops nested deeper than the compiler handles', async () => {
    // h0..hN each start a loop; the tests after them branch back to h(N-1)..h0 in turn, so
    // loop i is nested in loop i-1.
    const n = 4100;
    const slots: Uint8Array[] = [MOV0];
    for (let i = 0; i < n; i++) slots.push(slot(0x07, 0, 0, 0, 1)); // h_i: add r0, 1
    for (let i = n - 1; i >= 0; i--) {
      const at = slots.length;
      const target = 1 + i;
      // jne r1/r2, 0, h_i: alternating registers, so the tests are no compare tree (a br_table).
      slots.push(slot(0x55, 1 + (i % 2), 0, target - at - 1, 0));
    }
    slots.push(EXIT);
    const e = await compileError(prog(...slots));
    expect(e.code).toBe(ErrorCode.TooComplex);
    expect(typeof e.location.insn).toBe('number');
  });

  it('E_BAD_ARGUMENT: invalid compile options', async () => {
    const p = prog(MOV0, EXIT);
    await expectCompileError(p, ErrorCode.BadArgument, undefined, { optLevel: 3 as OptLevel });
    await expectCompileError(p, ErrorCode.BadArgument, undefined, { maxCallDepth: 0 });
    await expectCompileError(p, ErrorCode.BadArgument, undefined, { frameSize: 12 });
    await expectCompileError(p, ErrorCode.BadArgument, undefined, { entries: [] });
  });
});

// ------------------------------------------------------------------------------ runtime

describe('runtime errors', () => {
  // A program of ~40 instructions with one bad access at `at` (by kind), the rest valid stack traffic.
  type Kind = 'ldx' | 'stx' | 'st' | 'atomic' | 'ldx-neg';
  function faultProgram(kind: Kind, before: number, after: number): { text: string; insn: number } {
    const lines = ['lddw %r6, 0x7ff00000', 'add %r6, %r1', 'mov %r0, 0'];
    let pc = 4; // lddw is two slots
    for (let i = 0; i < before; i++) {
      lines.push(i % 2 ? `stxdw [%r10-${8 * ((i % 8) + 1)}], %r0` : `add %r0, ${i}`);
      pc++;
    }
    const insn = pc;
    switch (kind) {
      case 'ldx': lines.push('ldxw %r3, [%r6+16]'); break;
      case 'ldx-neg': lines.push('mov %r7, 0', 'ldxdw %r3, [%r7-8]'); break;
      case 'stx': lines.push('stxh [%r6+2], %r0'); break;
      case 'st': lines.push('stdw [%r6+0], 7'); break;
      case 'atomic': lines.push('lock fetch add [%r6+8], %r0'); break;
    }
    for (let i = 0; i < after; i++) lines.push(i % 2 ? `ldxdw %r4, [%r10-${8 * ((i % 8) + 1)}]` : `add %r0, %r4`);
    lines.push('add %r0, %r3', 'exit');
    return { text: lines.join('\n'), insn: kind === 'ldx-neg' ? insn + 1 : insn };
  }

  describe.each(OPT_LEVELS)('-O%i', (opt) => {
    for (const kind of ['ldx', 'ldx-neg', 'stx', 'st', 'atomic'] as const) {
      it(`E_MEMORY_FAULT names the faulting ${kind} at several positions`, async () => {
        for (const [before, after] of [[0, 3], [7, 20], [25, 0]] as const) {
          const { text, insn } = faultProgram(kind, before, after);
          const e = await runtimeError(text, opt, { mem: new Uint8Array(16) });
          expect({ code: e.code, insn: e.location.insn }, `${kind} at ${insn}`).toEqual({ code: ErrorCode.MemoryFault, insn });
        }
      });
    }

    it('E_MEMORY_FAULT in a loop, in a callee and after a helper call', async () => {
      const loop = await runtimeError(`
        mov %r0, 0
      loop:
        add %r0, 1
        mov %r3, %r0
        lsh %r3, 14
        ldxb %r4, [%r3+0]
        jlt %r0, 5, loop
        exit`, opt);
      // 0x4000, 0x8000 and 0xc000 are inside the one-page memory; 0x10000 is not.
      expect({ code: loop.code, insn: loop.location.insn }).toEqual({ code: ErrorCode.MemoryFault, insn: 4 });

      const callee = await runtimeError(`
        mov %r1, 3
        call local f
        exit
      f:
        mov %r0, %r1
        lddw %r2, 0x7fff0000
        add %r2, %r1
        stxw [%r2+0], %r1
        exit`, opt);
      expect({ code: callee.code, insn: callee.location.insn }).toEqual({ code: ErrorCode.MemoryFault, insn: 7 });

      const afterHelper = await runtimeError(`
        mov %r1, 9
        call 1
        mov %r6, %r0
        lsh %r6, 28
        ldxdw %r0, [%r6+0]
        exit`, opt, { helpers: [{ id: 1, fn: (a: bigint): bigint => a }] });
      expect({ code: afterHelper.code, insn: afterHelper.location.insn }).toEqual({ code: ErrorCode.MemoryFault, insn: 4 });
    });

    it('a fault at instruction 0 is named too (load, store and helper call)', async () => {
      const load = await runtimeError('ldxdw %r0, [%r1-8]\nexit', opt);
      expect({ code: load.code, insn: load.location.insn }).toEqual({ code: ErrorCode.MemoryFault, insn: 0 });
      const helpers: HelperDefinition[] = [{ id: 1, fn: (): bigint => { throw new Error('boom'); } }];
      const call = await runtimeError('call 1\nexit', opt, { helpers });
      expect({ code: call.code, insn: call.location.insn }).toEqual({ code: ErrorCode.HelperFailed, insn: 0 });
      const st = await runtimeError('stdw [%r1-8], 1\nmov %r0, 0\nexit', opt);
      expect({ code: st.code, insn: st.location.insn }).toEqual({ code: ErrorCode.MemoryFault, insn: 0 });
    });

    it('E_CALL_DEPTH at the call that exceeds the limit', async () => {
      // 0 mov; 1 call f; 2 exit; 3 f: add; 4 call f (infinite recursion); 5 exit
      const e = await runtimeError('mov %r1, 0\ncall local f\nexit\nf:\nadd %r1, 1\ncall local f\nexit', opt);
      expect({ code: e.code, insn: e.location.insn }).toEqual({ code: ErrorCode.CallDepth, insn: 4 });
    });

    it('E_HELPER_FAILED when a helper throws, at the call', async () => {
      const helpers: HelperDefinition[] = [{ id: 3, fn: (): bigint => { throw new Error('boom'); } }];
      const e = await runtimeError('mov %r0, 0\nmov %r1, 1\nadd %r0, 1\ncall 3\nexit', opt, { helpers });
      expect({ code: e.code, insn: e.location.insn }).toEqual({ code: ErrorCode.HelperFailed, insn: 3 });
      expect(e.cause).toBeInstanceOf(Error);
    });

    it('E_HELPER_FAILED through callx', async () => {
      const helpers: HelperDefinition[] = [{ id: 3, fn: (): bigint => { throw new Error('boom'); } }];
      const x = await runtimeError('mov %r0, 0\nmov %r2, 3\ncallx %r2\nexit', opt, { helpers });
      expect({ code: x.code, insn: x.location.insn }).toEqual({ code: ErrorCode.HelperFailed, insn: 2 });
    });

    it('E_HELPER_FAILED names the call even when the helper throws a non-Error', async () => {
      // A thrown string carries no stack trace, so the location cannot come from one.
      const helpers: HelperDefinition[] = [{ id: 4, fn: (): bigint => { throw 'a string'; } }];
      const s = await runtimeError('mov %r0, 0\ncall 4\nexit', opt, { helpers });
      expect({ code: s.code, insn: s.location.insn }).toEqual({ code: ErrorCode.HelperFailed, insn: 1 });
    });

    it('E_UNKNOWN_HELPER from callx at run time', async () => {
      const e = await runtimeError('mov %r0, 0\nmov %r1, 1\nmov %r2, 77\ncallx %r2\nexit', opt);
      expect({ code: e.code, insn: e.location.insn }).toEqual({ code: ErrorCode.UnknownHelper, insn: 3 });
    });
  });

  it('E_UNKNOWN_HELPER at instantiate when the host lacks an imported helper', async () => {
    const { wasm } = await compile(assemble('call 12\nexit'), { optLevel: 0 });
    const e = await instantiate(wasm, { helpers: [{ id: 5, fn: (a: bigint): bigint => a }] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BpfRuntimeError);
    expect((e as BpfRuntimeError).code).toBe(ErrorCode.UnknownHelper);
  });

  it('E_BAD_ARGUMENT: running a program that does not exist', async () => {
    const { wasm } = await compile(assemble('mov %r0, 1\nexit'), { optLevel: 0 });
    const inst = await instantiate(wasm);
    expect(() => inst.run(undefined, { program: 'nope' })).toThrow(BpfRuntimeError);
    try {
      inst.run(undefined, { program: 'nope' });
    } catch (e) {
      expect((e as BpfRuntimeError).code).toBe(ErrorCode.BadArgument);
    }
  });

  describe('E_BAD_MODULE', () => {
    async function badModule(bytes: Uint8Array): Promise<void> {
      const e = await instantiate(bytes).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BpfRuntimeError);
      expect((e as BpfRuntimeError).code).toBe(ErrorCode.BadModule);
    }
    const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    /** A custom section (id 0) with `name` and `payload` (sizes below 128). */
    function custom(name: string, payload: string): number[] {
      const n = [...new TextEncoder().encode(name)];
      const p = [...new TextEncoder().encode(payload)];
      const body = [n.length, ...n, ...p];
      return [0, body.length, ...body];
    }

    it('random bytes', async () => {
      let seed = 12345;
      const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      await badModule(Uint8Array.from({ length: 64 }, rnd));
      await badModule(new Uint8Array(0));
      await badModule(Uint8Array.from([...HEADER, 0x01, 0xff]));
    });

    it('bytes that are no module say what the engine\'s asynchronous compile says, small or large', async () => {
      // Small modules are compiled synchronously (runtime/instance.ts); a failure goes through
      // WebAssembly.compile, so the message is the one it always was.
      for (const bytes of [Uint8Array.from([...HEADER, 0x01, 0xff]), Uint8Array.from({ length: 5000 }, (_, i) => (i < 8 ? HEADER[i]! : 0x7f))]) {
        const expected = await WebAssembly.compile(bytes).then(() => 'compiled', (x: unknown) => (x as Error).message);
        expect(expected).not.toBe('compiled');
        const e = await instantiate(bytes).catch((x: unknown) => x);
        expect((e as BpfRuntimeError).code).toBe(ErrorCode.BadModule);
        expect((e as BpfRuntimeError).detail).toBe(`not a valid WebAssembly module: ${expected}`);
      }
    });

    it('a valid module without the manifest', async () => {
      await badModule(Uint8Array.from(HEADER));
    });

    it('a manifest that is not JSON, from another ABI, or incomplete', async () => {
      await badModule(Uint8Array.from([...HEADER, ...custom('bpf2wasm.manifest', '{')]));
      await badModule(Uint8Array.from([...HEADER, ...custom('bpf2wasm.manifest', '{"abiVersion":999}')]));
      await badModule(Uint8Array.from([...HEADER, ...custom('bpf2wasm.manifest', '{"abiVersion":1}')]));
      await badModule(Uint8Array.from([...HEADER, ...custom('bpf2wasm.manifest', 'null')]));
    });
  });
});

// ------------------------------------------------------------------------------ nothing else escapes

describe('only Bpf2WasmError escapes', () => {
  /** xorshift32, so failures reproduce. */
  function rng(seed: number): () => number {
    let s = seed >>> 0 || 1;
    return () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s;
    };
  }

  it('helpers that return the wrong type, and bad helper definitions', async () => {
    const cases: Array<{ src: string; helpers: HelperDefinition[]; decl?: CompileOptions['helpers'] }> = [
      { src: 'mov %r0, 0\ncall 1\nexit', helpers: [{ id: 1, fn: (): unknown => 5 }] }, // a number where a bigint is due
      { src: 'mov %r0, 0\ncall 1\nexit', helpers: [{ id: 1, fn: (): unknown => undefined }] },
      { src: 'mov %r0, 0\ncall 1\nexit', helpers: [{ id: 1, fn: (): unknown => 'x' }] },
      {
        src: 'mov %r0, 0\ncall 2\nexit',
        helpers: [{ id: 2, signature: { args: [], result: 'u32' }, fn: (): unknown => ({ valueOf: (): never => { throw new Error('no'); } }) }],
        decl: [{ id: 2, signature: { args: [], result: 'u32' } }],
      },
    ];
    for (const [i, c] of cases.entries()) {
      for (const optLevel of [0, 1] as const) {
        const { wasm } = await compile(assemble(c.src), { optLevel, ...(c.decl ? { helpers: c.decl } : {}) });
        const inst = await instantiate(wasm, { helpers: c.helpers });
        // The run must throw: a helper result the boundary cannot convert is never a value.
        let e: unknown;
        try {
          inst.run();
        } catch (x) {
          e = x;
        }
        expect(e, `case ${i} -O${optLevel}: ${String(e)}`).toBeInstanceOf(Bpf2WasmError);
        expect((e as Bpf2WasmError).code, `case ${i}`).toBe(ErrorCode.HelperFailed);
        expect((e as Bpf2WasmError).location.insn, `case ${i}`).toBe(1);
      }
    }
    // Definitions the registry refuses.
    const { wasm } = await compile(assemble('mov %r0, 0\nexit'), { optLevel: 0 });
    for (const bad of [{ id: 1.5, fn: (): bigint => 0n }, { id: 2 ** 40, fn: (): bigint => 0n }, { id: 1, fn: 'nope' }]) {
      const e = await instantiate(wasm, { helpers: [bad as unknown as HelperDefinition] }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BpfRuntimeError);
      expect((e as BpfRuntimeError).code).toBe(ErrorCode.BadArgument);
    }
  });

  it('random bytes never make compile throw anything else', async () => {
    const r = rng(2024);
    for (let t = 0; t < 300; t++) {
      const n = 1 + (r() % 12);
      const bytes = Uint8Array.from({ length: n * 8 + (t % 25 === 0 ? 3 : 0) }, () => r() & 0xff);
      try {
        await compile(bytes, { optLevel: 0 });
      } catch (e) {
        expect(e, `case ${t}: ${String(e)}`).toBeInstanceOf(Bpf2WasmError);
        expect((e as Bpf2WasmError).code, `case ${t}`).not.toBe(ErrorCode.Internal);
      }
    }
  });

  it('random well-formed programs (forward jumps only) compile, run or fail with a Bpf2WasmError', async () => {
    const r = rng(77);
    const OPS = [0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x57, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97, 0x9f,
      0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0x04, 0x0c, 0x34, 0x3c, 0x94, 0x9c, 0xb4, 0xbc, 0xc4, 0xd4, 0xdc, 0xd7];
    const MEM = [0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x63, 0x6b, 0x73, 0x7b, 0x62, 0x6a, 0x72, 0x7a, 0xdb, 0xc3];
    const JMP = [0x15, 0x1d, 0x25, 0x2d, 0x35, 0x55, 0x5d, 0x65, 0xa5, 0xad, 0xc5, 0xd5, 0x16, 0x1e, 0x56, 0xa6, 0x05];
    const helpers: HelperDefinition[] = [{ id: 1, fn: (a: bigint): bigint => a ^ 0x55n }];
    const outcomes = { ran: 0, compileError: 0, runtimeError: 0 };
    for (let t = 0; t < 40; t++) {
      const n = 4 + (r() % 24);
      const slots: Uint8Array[] = [];
      for (let i = 0; i < n - 1; i++) {
        const k = r() % 10;
        const dst = r() % 10;
        const src = r() % 11;
        if (k < 5) {
          const op = OPS[r() % OPS.length]!;
          const end = (op & 0xf0) === 0xd0;
          const sx = (op & 0xf0) === 0x30 || (op & 0xf0) === 0x90 ? r() % 2 : 0; // sdiv/smod now and then
          slots.push(slot(op, dst, src, sx, end ? [16, 32, 64][r() % 3]! : (r() % 2 ? r() % 70 : r()) | 0));
        } else if (k < 8) {
          const op = MEM[r() % MEM.length]!;
          const imm = op === 0xdb || op === 0xc3 ? [0, 1, 0x40, 0x41, 0x50, 0xa0, 0xe1, 0xf1][r() % 8]! : r() % 256;
          // Mostly the stack, sometimes the input memory, sometimes garbage.
          const base = r() % 4 === 0 ? src : 10;
          const off = base === 10 ? -8 * (1 + (r() % 8)) : (r() % 64) - 8;
          if ((op & 0x07) === 0x01) slots.push(slot(op, dst, base, off));
          else if ((op & 0x07) === 0x02) slots.push(slot(op, base, 0, off, imm));
          else slots.push(slot(op, base, (op === 0xdb || op === 0xc3) && dst === 10 ? 1 : dst, off, imm));
        } else if (k < 9) {
          const op = JMP[r() % JMP.length]!;
          const remaining = n - 1 - i;
          slots.push(slot(op, dst, src, r() % remaining, r() % 8));
        } else {
          slots.push(slot(0x85, 0, 0, 0, 1));
        }
      }
      slots.push(EXIT);
      const bytes = prog(...slots);
      // Outcome per level: r0 and memory, or the error code. -O0 and -O2 must agree.
      const seen: string[] = [];
      for (const optLevel of [0, 2] as const) {
        let compiled = false;
        try {
          const { wasm } = await compile(bytes, { optLevel });
          compiled = true;
          const inst = await instantiate(wasm, { helpers });
          const mem = Uint8Array.from({ length: 64 }, (_, i) => i * 7);
          const { r0, dataOut } = inst.program().test({ dataIn: mem });
          seen.push(`r0=0x${r0.toString(16)} mem=${Array.from(dataOut).join(',')}`);
          outcomes.ran++;
        } catch (e) {
          outcomes[compiled ? 'runtimeError' : 'compileError']++;
          expect(e, `case ${t} -O${optLevel}: ${String(e)}`).toBeInstanceOf(Bpf2WasmError);
          expect((e as Bpf2WasmError).code, `case ${t} -O${optLevel}: ${String(e)}`).not.toBe(ErrorCode.Internal);
          seen.push(`error ${(e as Bpf2WasmError).code} at ${String((e as Bpf2WasmError).location.insn)}`);
        }
      }
      expect(seen[1], `case ${t}: -O2 differs from -O0`).toBe(seen[0]);
    }
    // The generator is only useful if most programs get as far as running.
    expect(outcomes.ran, JSON.stringify(outcomes)).toBeGreaterThan(40);
  });
});
