import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { validateProgram, ValidateErrorCode, type ValidateOptions } from '../validate.js';
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { CONFORMANCE_FILES, HAVE_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { concatBytes as concat, slot } from '../../test/support/slots.js';

// ------------------------------------------------------------------ helpers

const EXIT = slot(0x95);
const MOV_R0_0 = slot(0xb7, 0, 0, 0, 0);

/** Decodes, builds the CFG and validates; returns the error or null. */
function validate(input: string | Uint8Array, options: Omit<ValidateOptions, 'bytes'> = {}): CompileError | null {
  const bytes = typeof input === 'string' ? assemble(input) : input;
  const program = decodeProgram(bytes);
  const cfg = buildCfg(program, options.entryPcs ?? [0]);
  try {
    validateProgram(program, cfg, { ...options, bytes });
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(CompileError);
    return e as CompileError;
  }
}

function accepts(input: string | Uint8Array, options: Omit<ValidateOptions, 'bytes'> = {}): void {
  const e = validate(input, options);
  expect(e, e?.message).toBeNull();
}

function rejects(input: string | Uint8Array, code: string, insn: number, options: Omit<ValidateOptions, 'bytes'> = {}): CompileError {
  const e = validate(input, options);
  expect(e, 'expected a rejection').not.toBeNull();
  expect(e!.code).toBe(code);
  expect(e!.location.insn).toBe(insn);
  // One plain sentence: no sentence break inside, no trailing period needed.
  expect(e!.detail).not.toMatch(/\.\s+[A-Z]/);
  return e!;
}

const asm = (...lines: string[]): string => lines.join('\n');

// ------------------------------------------------------------------ conformance

describe('conformance programs', () => {
  it.skipIf(!HAVE_CONFORMANCE)('accepts every conformance program without an error section', () => {
    const files = CONFORMANCE_FILES;
    expect(files.length).toBeGreaterThan(0);
    const rejected: string[] = [];
    for (const name of files) {
      const data = readConformance(name);
      if (data.error !== undefined) continue;
      const bytes = data.raw ?? assemble(data.asm!);
      const e = validate(bytes);
      if (e) rejected.push(`${name}: ${e.message}`);
    }
    expect(rejected).toEqual([]);
  });
});

// ------------------------------------------------------------------ reserved fields

describe('reserved fields', () => {
  const cases: [string, Uint8Array][] = [
    ['alu immediate form with a source register', slot(0xb7, 0, 1, 0, 1)],
    ['alu register form with an immediate', concat(MOV_R0_0, slot(0x0f, 0, 1, 0, 5))],
    ['neg with an immediate', concat(MOV_R0_0, slot(0x87, 0, 0, 0, 1))],
    ['neg with a source register', concat(MOV_R0_0, slot(0x87, 0, 3, 0, 0))],
    ['end with a source register', concat(MOV_R0_0, slot(0xd4, 0, 1, 0, 16))],
    ['end with an offset', concat(MOV_R0_0, slot(0xdc, 0, 0, 4, 32))],
    ['ldx with an immediate', slot(0x79, 0, 1, 0, 1)],
    ['st with a source register', concat(MOV_R0_0, slot(0x7a, 10, 1, -8, 1))],
    ['stx with an immediate', concat(MOV_R0_0, slot(0x7b, 10, 1, -8, 1))],
    ['ja with a register', concat(MOV_R0_0, slot(0x05, 1, 0, 0, 0))],
    ['ja with an immediate', concat(MOV_R0_0, slot(0x05, 0, 0, 0, 7))],
    ['ja32 with an offset', concat(MOV_R0_0, slot(0x06, 0, 0, 3, 0))],
    ['jcond register form with an immediate', concat(MOV_R0_0, slot(0x1d, 0, 1, 0, 1))],
    ['jcond immediate form with a source register', concat(MOV_R0_0, slot(0x15, 0, 1, 0, 1))],
    ['helper call with a destination register', slot(0x85, 1, 0, 0, 5)],
    ['helper call with an offset', slot(0x85, 0, 0, 1, 5)],
    ['exit with an immediate', concat(MOV_R0_0, slot(0x95, 0, 0, 0, 1))],
    ['exit with a register', concat(MOV_R0_0, slot(0x95, 1, 0, 0, 0))],
    ['lddw with an offset', concat(slot(0x18, 0, 0, 1, 1), slot(0, 0, 0, 0, 0))],
    ['ldabs with a register', slot(0x20, 1, 0, 0, 0)],
    ['callx with an offset', concat(MOV_R0_0, slot(0x8d, 0, 0, 1, 0))],
  ];
  for (const [name, prefix] of cases) {
    it(`rejects ${name}`, () => {
      const bytes = concat(prefix, EXIT);
      const bad = prefix.length / 8 - 1 - (name.startsWith('lddw') ? 1 : 0);
      rejects(bytes, ErrorCode.ReservedField, bad);
    });
  }

  it('accepts the canonical encodings of the same instructions', () => {
    accepts(asm(
      'mov %r0, 1', 'add %r0, %r0', 'neg %r0', 'le16 %r0', 'be32 %r0', 'stdw [%r10-8], 1', 'stxdw [%r10-8], %r0',
      'ldxdw %r0, [%r10-8]', 'ja +0', 'ja32 +0', 'jeq %r0, %r0, +0', 'jeq %r0, 1, +0', 'lddw %r0, 0x123456789',
      'call 5', 'exit',
    ));
  });

  it('is skipped without the raw bytes (decoding drops unused fields)', () => {
    const bytes = concat(slot(0xb7, 0, 1, 0, 1), EXIT);
    const program = decodeProgram(bytes);
    expect(() => validateProgram(program, buildCfg(program))).not.toThrow();
  });

  it('accepts an exit with an offset, as the kernel does', () => {
    accepts(concat(MOV_R0_0, slot(0x95, 0, 0, 5, 0)));
  });
});

// ------------------------------------------------------------------ unreachable

describe('unreachable instructions', () => {
  it('rejects code after exit', () => {
    rejects(asm('mov %r0, 0', 'exit', 'mov %r0, 1', 'exit'), ValidateErrorCode.Unreachable, 2);
  });

  it('rejects code jumped over', () => {
    rejects(asm('mov %r0, 0', 'ja l', 'mov %r0, 1', 'l:', 'exit'), ValidateErrorCode.Unreachable, 2);
  });

  it('rejects a branch target behind an always-taken jump, pointing at the first dead instruction', () => {
    rejects(asm('mov %r0, 0', 'ja +2', 'lddw %r0, 1', 'exit'), ValidateErrorCode.Unreachable, 2);
  });

  it('rejects functions that only call each other (a dead call cycle)', () => {
    rejects(asm(
      'mov %r0, 0', 'exit',
      'f:', 'call local g', 'exit',
      'g:', 'call local f', 'exit',
    ), ValidateErrorCode.Unreachable, 2);
  });

  it('rejects a call only reachable from dead code', () => {
    rejects(asm('mov %r0, 0', 'exit', 'call local f', 'exit', 'f:', 'mov %r0, 1', 'exit'), ValidateErrorCode.Unreachable, 2);
  });

  it('accepts both arms of a branch and a called function', () => {
    accepts(asm(
      'mov %r0, 0', 'jeq %r1, 0, l', 'call local f', 'l:', 'exit',
      'f:', 'mov %r0, 1', 'exit',
    ));
  });

  it('accepts functions reachable only from a second entry point', () => {
    const text = asm('mov %r0, 0', 'exit', 'mov %r0, 1', 'exit');
    rejects(text, ValidateErrorCode.Unreachable, 2);
    accepts(text, { entryPcs: [0, 2] });
  });
});

// ------------------------------------------------------------------ infinite loops

describe('infinite loops', () => {
  it('rejects a jump to itself', () => {
    rejects(asm('mov %r0, 0', 'ja -1'), ValidateErrorCode.InfiniteLoop, 1);
  });

  it('rejects a loop whose conditional branches all stay inside it', () => {
    rejects(asm(
      'mov %r0, 0', 'l:', 'add %r0, 1', 'jeq %r0, 10, m', 'ja l', 'm:', 'mov %r0, 0', 'ja l',
    ), ValidateErrorCode.InfiniteLoop, 1);
  });

  it('names the first loop when several are trapped', () => {
    rejects(asm(
      'mov %r0, 0', 'jeq %r1, 0, b', 'a:', 'ja a', 'b:', 'ja b',
    ), ValidateErrorCode.InfiniteLoop, 2);
  });

  it('rejects a trapped loop behind a branch even if another path exits', () => {
    rejects(asm('mov %r0, 0', 'jeq %r1, 0, l', 'exit', 'l:', 'add %r0, 1', 'ja l'), ValidateErrorCode.InfiniteLoop, 3);
  });

  it('rejects a trapped loop in a called function', () => {
    rejects(asm('call local f', 'exit', 'f:', 'mov %r0, 0', 'l:', 'ja l'), ValidateErrorCode.InfiniteLoop, 3);
  });

  it('accepts a loop that can exit, bounded or not', () => {
    accepts(asm('mov %r0, 0', 'l:', 'add %r0, 1', 'jne %r0, 10, l', 'exit'));
    accepts(asm('mov %r0, 0', 'l:', 'jeq %r1, 0, l', 'exit'));
  });

  it('accepts unbounded recursion (the call depth limit stops it at run time)', () => {
    accepts(asm('call local f', 'exit', 'f:', 'call local f', 'exit'));
  });
});

// ------------------------------------------------------------------ uninitialised registers

describe('uninitialised registers', () => {
  it('rejects exit without setting r0', () => {
    const e = rejects('exit', ValidateErrorCode.UninitRegister, 0);
    expect(e.detail).toMatch(/r0/);
  });

  it('rejects r0 set on one path only', () => {
    rejects(asm('jeq %r1, 0, l', 'mov %r0, 1', 'l:', 'exit'), ValidateErrorCode.UninitRegister, 2);
  });

  it('rejects a read of a never written register, naming it', () => {
    const e = rejects(asm('mov %r0, %r3', 'exit'), ValidateErrorCode.UninitRegister, 0);
    expect(e.detail).toMatch(/\br3\b/);
  });

  it('rejects an ALU operation on an uninitialised destination', () => {
    rejects(asm('add %r0, 1', 'exit'), ValidateErrorCode.UninitRegister, 0);
    rejects(asm('mov %r0, 0', 'neg %r4', 'exit'), ValidateErrorCode.UninitRegister, 1);
    rejects(asm('mov %r0, 0', 'be16 %r5', 'exit'), ValidateErrorCode.UninitRegister, 1);
  });

  it('rejects uninitialised jump operands', () => {
    rejects(asm('mov %r0, 0', 'jeq %r3, 0, +0', 'exit'), ValidateErrorCode.UninitRegister, 1);
    rejects(asm('mov %r0, 0', 'jeq %r1, %r7, +0', 'exit'), ValidateErrorCode.UninitRegister, 1);
  });

  it('rejects uninitialised base addresses and stored values', () => {
    rejects(asm('ldxdw %r0, [%r4]', 'exit'), ValidateErrorCode.UninitRegister, 0);
    rejects(asm('mov %r0, 0', 'stw [%r3+0], 1', 'exit'), ValidateErrorCode.UninitRegister, 1);
    rejects(asm('mov %r0, 0', 'stxdw [%r10-8], %r6', 'exit'), ValidateErrorCode.UninitRegister, 1);
    rejects(asm('mov %r0, 0', 'lock add [%r10-8], %r6', 'exit'), ValidateErrorCode.UninitRegister, 1);
  });

  it('rejects cmpxchg without r0 and callx with an uninitialised register', () => {
    rejects(asm('mov %r2, 1', 'lock cmpxchg [%r10-8], %r2', 'exit'), ValidateErrorCode.UninitRegister, 1);
    rejects(asm('callx %r3', 'exit'), ValidateErrorCode.UninitRegister, 0);
  });

  it('rejects r6-r9 in a callee', () => {
    const e = rejects(asm(
      'mov %r6, 1', 'call local f', 'exit',
      'f:', 'mov %r0, %r6', 'exit',
    ), ValidateErrorCode.UninitRegister, 3);
    expect(e.detail).toMatch(/r6/);
    expect(e.detail).toMatch(/only r1-r5 and r10/);
  });

  it('rejects r1-r5 after a helper call and after a local call', () => {
    rejects(asm('mov %r1, 1', 'call 5', 'mov %r0, %r1', 'exit'), ValidateErrorCode.UninitRegister, 2);
    rejects(asm('mov %r3, 1', 'call local f', 'add %r0, %r3', 'exit', 'f:', 'mov %r0, 0', 'exit'), ValidateErrorCode.UninitRegister, 2);
  });

  it('rejects r2 at the entry by default (as the kernel) and accepts it when asked', () => {
    rejects(asm('mov %r0, %r2', 'exit'), ValidateErrorCode.UninitRegister, 0);
    accepts(asm('mov %r0, %r2', 'exit'), { entryRegs: [1, 2, 10] });
  });

  it('accepts r1 and r10 at the entry, r1-r5 in a callee, r0 and r6-r9 across calls', () => {
    accepts(asm(
      'mov %r6, %r1', 'mov %r2, %r10', 'mov %r3, 3', 'mov %r4, 4', 'mov %r5, 5',
      'call local f', 'add %r0, %r6', 'call 5', 'add %r0, %r6', 'exit',
      'f:', 'mov %r0, %r1', 'add %r0, %r2', 'add %r0, %r3', 'add %r0, %r4', 'add %r0, %r5', 'exit',
    ));
  });

  it('accepts registers written on every path and in a loop before use', () => {
    accepts(asm(
      'jeq %r1, 0, a', 'mov %r3, 1', 'ja b', 'a:', 'mov %r3, 2', 'b:',
      'mov %r0, 0', 'l:', 'add %r0, %r3', 'jlt %r0, 100, l', 'exit',
    ));
  });

  it('rejects a register written only later in a loop body', () => {
    rejects(asm(
      'mov %r0, 0', 'l:', 'jgt %r0, 5, x', 'add %r0, %r4', 'mov %r4, 1', 'ja l', 'x:', 'exit',
    ), ValidateErrorCode.UninitRegister, 2);
  });

  it('accepts results of fetch atomics and legacy loads', () => {
    accepts(asm('mov %r1, 1', 'stxdw [%r10-8], %r1', 'mov %r2, 1', 'lock fetch add [%r10-8], %r2', 'mov %r0, %r2', 'exit'));
    accepts(asm('mov %r6, %r1', 'ldabsb 0', 'exit'));
    rejects(asm('ldabsb 0', 'mov %r0, %r1', 'exit'), ValidateErrorCode.UninitRegister, 1);
  });
});

// ------------------------------------------------------------------ stack frame

describe('stack offsets', () => {
  it('accepts the whole frame', () => {
    accepts(asm('stdw [%r10-512], 1', 'stb [%r10-1], 1', 'ldxdw %r0, [%r10-8]', 'exit'));
  });

  it('rejects an access below the frame', () => {
    const e = rejects(asm('mov %r0, 0', 'stdw [%r10-520], 1', 'exit'), ValidateErrorCode.StackOutOfFrame, 1);
    expect(e.detail).toMatch(/r10-520/);
  });

  it('rejects an access crossing r10', () => {
    rejects(asm('ldxdw %r0, [%r10-4]', 'exit'), ValidateErrorCode.StackOutOfFrame, 0);
    rejects(asm('mov %r0, 0', 'stxb [%r10+0], %r0', 'exit'), ValidateErrorCode.StackOutOfFrame, 1);
    rejects(asm('mov %r0, 0', 'lock add [%r10+8], %r0', 'exit'), ValidateErrorCode.StackOutOfFrame, 1);
  });

  it('follows copies of r10 moved by constants', () => {
    rejects(asm('mov %r2, %r10', 'add %r2, -512', 'mov %r0, 0', 'stdw [%r2-8], 0', 'exit'), ValidateErrorCode.StackOutOfFrame, 3);
    rejects(asm('mov %r2, %r10', 'sub %r2, -8', 'ldxb %r0, [%r2-8]', 'exit'), ValidateErrorCode.StackOutOfFrame, 2);
    accepts(asm('mov %r2, %r10', 'sub %r2, 16', 'stdw [%r2+8], 0', 'ldxdw %r0, [%r2+8]', 'exit'));
  });

  it('does not guess when the offset differs between paths or is not constant', () => {
    accepts(asm(
      'mov %r2, %r10', 'jeq %r1, 0, l', 'add %r2, -1000', 'l:', 'stdw [%r2-8], 0', 'mov %r0, 0', 'exit',
    ));
    accepts(asm('mov %r2, %r10', 'add %r2, %r1', 'stdw [%r2-8], 0', 'mov %r0, 0', 'exit'));
    accepts(asm('mov32 %r2, %r10', 'add %r2, -1000', 'ldxdw %r0, [%r2]', 'exit'));
  });

  it('forgets r1-r5 copies of r10 across calls but keeps r6-r9', () => {
    accepts(asm('mov %r1, %r10', 'call 5', 'mov %r1, 0', 'mov %r0, 0', 'exit'));
    rejects(asm('mov %r6, %r10', 'call 5', 'stdw [%r6+0], 1', 'exit'), ValidateErrorCode.StackOutOfFrame, 2);
  });

  it('uses the frame size option', () => {
    const text = asm('stdw [%r10-72], 1', 'mov %r0, 0', 'exit');
    accepts(text);
    rejects(text, ValidateErrorCode.StackOutOfFrame, 0, { frameSize: 64 });
  });

  it('checks callees against their own frame', () => {
    rejects(asm('call local f', 'exit', 'f:', 'mov %r0, 0', 'stxdw [%r10-1024], %r0', 'exit'), ValidateErrorCode.StackOutOfFrame, 3);
  });
});

// ------------------------------------------------------------------ order and messages

describe('reporting', () => {
  it('reports the first failing instruction of a function', () => {
    rejects(asm('mov %r0, %r5', 'stdw [%r10+0], 1', 'exit'), ValidateErrorCode.UninitRegister, 0);
    rejects(asm('stdw [%r10+0], 1', 'mov %r0, %r5', 'exit'), ValidateErrorCode.StackOutOfFrame, 0);
  });

  it('runs fast on a large program', () => {
    const lines = ['mov %r0, 0'];
    for (let i = 0; i < 20_000; i++) lines.push(`jeq %r1, ${i}, +1`, 'add %r0, 1');
    lines.push('exit');
    const bytes = assemble(lines.join('\n'));
    const program = decodeProgram(bytes);
    const cfg = buildCfg(program);
    const t = performance.now();
    validateProgram(program, cfg, { bytes });
    expect(performance.now() - t).toBeLessThan(2000);
  });
});
