/**
 * A large program's instructions are decoded on demand for the compiler (compiler/lazy-program.ts):
 * the lazy list must answer exactly what the instruction objects of an ordinary decode say, for
 * every kind of instruction (the conformance suite's programs, padded past the threshold with
 * unreachable `exit`s so the same instructions decode both ways).
 */
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_FILES, HAVE_CONFORMANCE, NO_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { assemble } from '../asm/assemble.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { decodeForCompile, LAZY_MIN_SLOTS } from '../lazy-program.js';
import { insnsOf, insnTarget, insnUsesFrame, type Program } from '../../runtime/isa/insn.js';
import { generateProgram } from '../../scripts/bench/genprog.js';

const EXIT = [0x95, 0, 0, 0, 0, 0, 0, 0];

/** `bytes` followed by `exit`s up to `slots` slots. */
function padded(bytes: Uint8Array, slots: number): Uint8Array {
  const out = new Uint8Array(slots * 8);
  out.set(bytes);
  for (let at = bytes.length; at < out.length; at += 8) out.set(EXIT, at);
  return out;
}

/** Checks the lazy list of `lazy` against the objects of `eager` (a prefix of the same instructions). */
function expectSame(eager: Program, lazy: Program): void {
  const list = insnsOf(lazy);
  for (let i = 0; i < eager.insns.length; i++) {
    const insn = eager.insns[i]!;
    expect(list.get(i)).toEqual(insn);
    expect(list.peek(i)).toEqual(insn);
    expect(list.kind(i)).toBe(insn.kind);
    expect(list.pc(i)).toBe(insn.pc);
    expect(list.target(i)).toBe(insnTarget(insn));
    expect(list.usesFrame(i)).toBe(insnUsesFrame(insn));
  }
}

function programBytes(name: string): Uint8Array | undefined {
  const data = readConformance(name);
  try {
    return data.raw ?? (data.asm !== undefined ? assemble(data.asm) : undefined);
  } catch {
    return undefined;
  }
}

describe('lazy decoding of large programs', () => {
  it.skipIf(!HAVE_CONFORMANCE)(`answers as the decoded objects for every conformance program ${HAVE_CONFORMANCE ? '' : NO_CONFORMANCE}`, () => {
    let checked = 0;
    const kinds = new Set<string>();
    for (const name of CONFORMANCE_FILES) {
      const bytes = programBytes(name);
      if (!bytes || bytes.length === 0) continue;
      let eager: Program;
      try {
        eager = decodeProgram(bytes);
      } catch {
        continue;
      }
      for (const insn of eager.insns) kinds.add(insn.kind);
      expectSame(eager, decodeForCompile(padded(bytes, LAZY_MIN_SLOTS + 1)));
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
    // The suite covers most kinds (helper calls, kfunc and ldabs/ldind come from other tests' programs).
    for (const k of ['alu', 'end', 'lddw', 'ldx', 'st', 'stx', 'atomic', 'ja', 'jcond', 'call_local', 'exit']) {
      expect(kinds).toContain(k);
    }
  });

  it('decodes a program below the threshold as decodeProgram does', () => {
    const bytes = generateProgram(LAZY_MIN_SLOTS - 1);
    expect(decodeForCompile(bytes)).toEqual(decodeProgram(bytes));
  });

  it('answers as the decoded objects for a generated program', () => {
    const bytes = generateProgram(5_000);
    expectSame(decodeProgram(bytes), decodeForCompile(padded(bytes, LAZY_MIN_SLOTS)));
  });

  it('reports the same errors as an ordinary decode', () => {
    // An unknown opcode at slot 3 and a truncated lddw at the end, in a program past the threshold.
    const bad = padded(generateProgram(64), LAZY_MIN_SLOTS + 10);
    bad[3 * 8] = 0xff;
    expect(() => decodeForCompile(bad)).toThrow(/unknown opcode 0xff/);
    for (const bytes of [bad, bad.subarray(0, bad.length - 3), new Uint8Array(0)]) {
      let message = '';
      try {
        decodeProgram(bytes);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).not.toBe('');
      expect(() => decodeForCompile(bytes)).toThrow(message);
    }
    const truncated = padded(new Uint8Array(0), LAZY_MIN_SLOTS);
    truncated.set([0x18, 1, 0, 0, 1, 0, 0, 0], truncated.length - 8);
    expect(() => decodeForCompile(truncated)).toThrow(expect.objectContaining({ code: 'E_TRUNCATED_LDDW' }));
  });

  it('keeps its own bytes, and the objects once they are made', () => {
    const bytes = padded(generateProgram(100), LAZY_MIN_SLOTS);
    const program = decodeForCompile(bytes);
    const list = insnsOf(program);
    const first = list.get(0);
    bytes.fill(0);
    expect(list.get(0)).toEqual(first);
    // A new object per call until the array is made; then the array's objects.
    expect(list.get(0)).not.toBe(list.get(0));
    const insns = program.insns;
    expect(program.insns).toBe(insns);
    expect(insns).toHaveLength(list.length);
    expect(list.get(5)).toBe(insns[5]);
    expect(list.get(list.length)).toBeUndefined();
    expect(list.get(-1)).toBeUndefined();
    expect(list.peek(5)).toBe(insns[5]);
    expect(list.peek(list.length)).toBeUndefined();
    expect(list.peek(-1)).toBeUndefined();
  });
});
