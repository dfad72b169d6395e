import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONFORMANCE_FILES, HAVE_CONFORMANCE, NO_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { assemble, assembleInsns } from '../asm/assemble.js';
import { parseDataFile } from '../asm/datafile.js';
import { disassemble, formatInsn } from '../asm/disasm.js';
import { encodeInsn, encodeProgram } from '../encode.js';
import { AsmError, ErrorCode } from '../../runtime/errors.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import type { AluOp, AtomicOp, Insn, JmpOp, MemSize } from '../../runtime/isa/insn.js';

// ------------------------------------------------------------------ helpers


function loadConformance(): { name: string; asm: string; bytes: Uint8Array; raw?: Uint8Array }[] {
  return CONFORMANCE_FILES.map((name) => {
    const data = readConformance(name);
    if (data.asm === undefined) throw new Error(`${name} has no -- asm section`);
    return { name, asm: data.asm, bytes: assemble(data.asm), raw: data.raw };
  });
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

function fromHex(text: string): Uint8Array {
  return Uint8Array.from(text.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

/** Runs `fn`, expecting an AsmError; returns it for code and location checks. */
function asmError(fn: () => unknown): AsmError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AsmError);
    return e as AsmError;
  }
  throw new Error('expected an AsmError, but nothing was thrown');
}

function expectAsmError(text: string, line: number): void {
  const e = asmError(() => assemble(text));
  expect(e.code).toBe(ErrorCode.AsmSyntax);
  expect(e.location.line).toBe(line);
}

// ------------------------------------------------------------------ random canonical instructions

const reg = fc.integer({ min: 0, max: 10 });
/** Registers an instruction may write (the decoder rejects writes to r10). */
const wreg = fc.integer({ min: 0, max: 9 });
const imm32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const off16 = fc.integer({ min: -0x8000, max: 0x7fff });
const width = fc.constantFrom<32 | 64>(32, 64);
const memSize = fc.constantFrom<MemSize>(1, 2, 4, 8);
const pc = 0;

const plainAluOps: AluOp[] = ['add', 'sub', 'mul', 'div', 'sdiv', 'or', 'and', 'lsh', 'rsh', 'mod', 'smod', 'xor', 'mov', 'arsh'];
const jmpOps: JmpOp[] = ['jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'jlt', 'jle', 'jslt', 'jsle'];

const arbInsn: fc.Arbitrary<Insn> = fc.oneof(
  fc.record({ op: fc.constantFrom(...plainAluOps), width, dst: wreg, src: fc.option(reg, { nil: null }), imm: imm32 })
    .map(({ op, width, dst, src, imm }): Insn => ({ kind: 'alu', pc, op, width, dst, src, imm: src === null ? imm : 0, sxBits: 0 })),
  fc.record({ width, dst: wreg }).map(({ width, dst }): Insn => ({ kind: 'alu', pc, op: 'neg', width, dst, src: null, imm: 0, sxBits: 0 })),
  fc.record({ wide: fc.boolean(), sx: fc.constantFrom<8 | 16 | 32>(8, 16, 32), dst: wreg, src: reg })
    .map(({ wide, sx, dst, src }): Insn => {
      const w = wide || sx === 32 ? 64 : 32;
      return { kind: 'alu', pc, op: 'movsx', width: w, dst, src, imm: 0, sxBits: sx };
    }),
  fc.record({ op: fc.constantFrom<'le' | 'be' | 'bswap'>('le', 'be', 'bswap'), bits: fc.constantFrom<16 | 32 | 64>(16, 32, 64), dst: wreg })
    .map((r): Insn => ({ kind: 'end', pc, ...r })),
  fc.record({ dst: wreg, src: fc.integer({ min: 0, max: 6 }), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) })
    .map(({ dst, src, value }): Insn => ({
      kind: 'lddw', pc, dst, src, value,
      imm: Number(BigInt.asIntN(32, value)), imm2: Number(BigInt.asIntN(32, value >> 32n)),
    })),
  fc.record({ size: memSize, signed: fc.boolean(), dst: wreg, src: reg, off: off16 })
    .map(({ size, signed, ...r }): Insn => ({ kind: 'ldx', pc, size, signed: signed && size !== 8, ...r })),
  fc.record({ size: memSize, dst: reg, off: off16, imm: imm32 }).map((r): Insn => ({ kind: 'st', pc, ...r })),
  fc.record({ size: memSize, dst: reg, src: reg, off: off16 }).map((r): Insn => ({ kind: 'stx', pc, ...r })),
  fc.record({
    op: fc.constantFrom<AtomicOp>('add', 'or', 'and', 'xor', 'xchg', 'cmpxchg'), fetch: fc.boolean(),
    size: fc.constantFrom<4 | 8>(4, 8), dst: reg, src: reg, off: off16,
  }).map(({ op, fetch, src, ...r }): Insn => {
    const f = fetch || op === 'xchg' || op === 'cmpxchg';
    // A fetch into r10 is rejected by the decoder; cmpxchg writes r0 instead.
    const s = f && op !== 'cmpxchg' && src === 10 ? 9 : src;
    return { kind: 'atomic', pc, op, fetch: f, src: s, ...r };
  }),
  fc.record({ wide: fc.boolean(), off: off16, off32: imm32 })
    .map(({ wide, off, off32 }): Insn => ({ kind: 'ja', pc, wide, off: wide ? off32 : off, target: 0 })),
  fc.record({ op: fc.constantFrom(...jmpOps), width, dst: reg, src: fc.option(reg, { nil: null }), imm: imm32, off: off16 })
    .map(({ src, imm, ...r }): Insn => ({ kind: 'jcond', pc, src, imm: src === null ? imm : 0, target: 0, ...r })),
  imm32.map((helper): Insn => ({ kind: 'call', pc, helper })),
  imm32.map((imm): Insn => ({ kind: 'call_local', pc, imm, target: 0 })),
  fc.record({ btfId: imm32, off: off16 }).map((r): Insn => ({ kind: 'kfunc', pc, ...r })),
  reg.map((r): Insn => ({ kind: 'callx', pc, reg: r })),
  fc.constant<Insn>({ kind: 'exit', pc }),
  fc.record({ size: fc.constantFrom<1 | 2 | 4>(1, 2, 4), imm: imm32 }).map((r): Insn => ({ kind: 'ldabs', pc, src: 0, ...r })),
  fc.record({ size: fc.constantFrom<1 | 2 | 4>(1, 2, 4), src: reg, imm: imm32 }).map((r): Insn => ({ kind: 'ldind', pc, ...r })),
);

/** Fills in `pc` and jump targets the way the decoder computes them. */
function placed(insns: Insn[]): Insn[] {
  let at = 0;
  return insns.map((i) => {
    const out: Insn = { ...i, pc: at };
    if (out.kind === 'ja' || out.kind === 'jcond') out.target = at + out.off + 1;
    if (out.kind === 'call_local') out.target = at + out.imm + 1;
    at += i.kind === 'lddw' ? 2 : 1;
    return out;
  });
}

const arbProgram = fc.array(arbInsn, { minLength: 1, maxLength: 24 }).map(placed);

// ------------------------------------------------------------------ (a) conformance files

describe('conformance files', () => {
  it.skipIf(!HAVE_CONFORMANCE)('the shared folder holds .data files', () => {
    // An empty folder means a broken checkout, not a passing suite.
    expect(CONFORMANCE_FILES.length).toBeGreaterThan(0);
  });

  if (!HAVE_CONFORMANCE) it.skipIf(true)(NO_CONFORMANCE, () => {});

  it.skipIf(!HAVE_CONFORMANCE)('every file assembles and decodes; -- raw, where present, matches', () => {
    const failures: string[] = [];
    let withRaw = 0;
    for (const name of CONFORMANCE_FILES) {
      try {
        const data = readConformance(name);
        if (data.asm === undefined && data.raw === undefined) throw new Error('no -- asm and no -- raw');
        if (data.asm !== undefined) {
          const bytes = assemble(data.asm);
          decodeProgram(bytes);
          if (data.raw !== undefined) {
            withRaw++;
            if (hex(bytes) !== hex(data.raw)) throw new Error(`assembled ${hex(bytes)}\n      raw ${hex(data.raw)}`);
          }
        }
        if (data.result === undefined && data.error === undefined) throw new Error('no -- result and no -- error');
      } catch (e) {
        failures.push(`${name}: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
    expect(CONFORMANCE_FILES.length).toBeGreaterThan(0);
    if (withRaw === 0) console.info('asm.test: no conformance file has a -- raw section; compared none');
  });

  it.skipIf(!HAVE_CONFORMANCE)('assemble(disassemble(x)) == x for every conformance program', () => {
    for (const { name, bytes } of loadConformance()) {
      const text = disassemble(bytes);
      expect(hex(assemble(text)), name).toBe(hex(bytes));
      expect(() => disassemble(bytes, { syntax: 'llvm', addresses: true }), name).not.toThrow();
    }
  });

  it.skipIf(!HAVE_CONFORMANCE)('ja exit jumps to the first exit (prime.data)', () => {
    const prime = loadConformance().find((f) => f.name === 'prime.data');
    expect(prime).toBeDefined();
    const prog = decodeProgram(prime!.bytes);
    const firstExit = prog.insns.find((i) => i.kind === 'exit')!.pc;
    const jaExit = prog.insns.find((i) => i.kind === 'ja')!;
    expect(jaExit.kind === 'ja' && jaExit.target).toBe(firstExit);
  });
});

// ------------------------------------------------------------------ exact encodings

describe('assemble: encodings from RFC 9669', () => {
  const cases: [string, string][] = [
    ['mov32 %r0, 1', 'b4 00 00 00 01 00 00 00'],
    ['mov %r1, %r2', 'bf 21 00 00 00 00 00 00'],
    ['add %r0, -1', '07 00 00 00 ff ff ff ff'],
    ['add64 %r0, 0xffffffff', '07 00 00 00 ff ff ff ff'],
    ['sub32 %r3, %r4', '1c 43 00 00 00 00 00 00'],
    ['sdiv32 %r1, %r2', '3c 21 01 00 00 00 00 00'],
    ['smod %r1, 3', '97 01 01 00 03 00 00 00'],
    ['arsh32 %r1, 7', 'c4 01 00 00 07 00 00 00'],
    ['neg %r3', '87 03 00 00 00 00 00 00'],
    ['neg32 %r3', '84 03 00 00 00 00 00 00'],
    ['movsx832 %r2, %r1', 'bc 12 08 00 00 00 00 00'],
    ['movsx1664 %r8, %r7', 'bf 78 10 00 00 00 00 00'],
    ['movsx3264 %r0, %r9', 'bf 90 20 00 00 00 00 00'],
    ['be16 %r0', 'dc 00 00 00 10 00 00 00'],
    ['le32 %r1', 'd4 01 00 00 20 00 00 00'],
    ['swap64 %r2', 'd7 02 00 00 40 00 00 00'],
    ['bswap16 %r2', 'd7 02 00 00 10 00 00 00'],
    ['lddw %r0, 0x1122334455667788', '18 00 00 00 88 77 66 55 00 00 00 00 44 33 22 11'],
    ['lddw %r0, 2147483648', '18 00 00 00 00 00 00 80 00 00 00 00 00 00 00 00'],
    ['lddw %r1, -1', '18 01 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff'],
    ['lddw %r1, 0x5, map_fd', '18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00'],
    ['lddw %r1, 7, 4', '18 41 00 00 07 00 00 00 00 00 00 00 00 00 00 00'],
    ['ldxw %r0, [%r1+4]', '61 10 04 00 00 00 00 00'],
    ['ldxdw %r0, [%r1]', '79 10 00 00 00 00 00 00'],
    ['ldxb %r0, [%r1+0x2]', '71 10 02 00 00 00 00 00'],
    ['ldxsb %r0, [%r10-1]', '91 a0 ff ff 00 00 00 00'],
    ['ldxsh %r0, [%r10 - 2]', '89 a0 fe ff 00 00 00 00'],
    ['ldxsw %r0, [%r10-4]', '81 a0 fc ff 00 00 00 00'],
    ['stw [%r1+2], 0x44332211', '62 01 02 00 11 22 33 44'],
    ['stdw [%r10-8], 0xcd', '7a 0a f8 ff cd 00 00 00'],
    ['sth [%r0], 0x1234', '6a 00 00 00 34 12 00 00'],
    ['stxdw [%r10-8], %r2', '7b 2a f8 ff 00 00 00 00'],
    ['stxb [%r1+32767], %r2', '73 21 ff 7f 00 00 00 00'],
    ['lock add [%r10-8], %r1', 'db 1a f8 ff 00 00 00 00'],
    ['lock fetch add32 [%r10-8], %r1', 'c3 1a f8 ff 01 00 00 00'],
    ['lock fetch or [%r10-8], %r3', 'db 3a f8 ff 41 00 00 00'],
    ['lock and32 [%r10-8], %r1', 'c3 1a f8 ff 50 00 00 00'],
    ['lock fetch xor [%r10-8], %r3', 'db 3a f8 ff a1 00 00 00'],
    ['lock xchg [%r10-8], %r1', 'db 1a f8 ff e1 00 00 00'],
    ['lock cmpxchg32 [%r10-8], %r1', 'c3 1a f8 ff f1 00 00 00'],
    ['jeq %r1, 5, +3', '15 01 03 00 05 00 00 00'],
    ['jne32 %r1, %r2, -1', '5e 21 ff ff 00 00 00 00'],
    ['jset %r1, 0x80000000, +1', '45 01 01 00 00 00 00 80'],
    ['jsle32 %r1, -3, 2', 'd6 01 02 00 fd ff ff ff'],
    ['ja +2', '05 00 02 00 00 00 00 00'],
    ['ja32 -1', '06 00 00 00 ff ff ff ff'],
    ['call 5', '85 00 00 00 05 00 00 00'],
    ['call helper 5', '85 00 00 00 05 00 00 00'],
    ['call %r2', '8d 02 00 00 00 00 00 00'],
    ['callx %r2', '8d 02 00 00 00 00 00 00'],
    ['call helper %r3', '8d 03 00 00 00 00 00 00'],
    ['call local +3', '85 10 00 00 03 00 00 00'],
    ['call runtime 7, 2', '85 20 02 00 07 00 00 00'],
    ['exit', '95 00 00 00 00 00 00 00'],
    ['ldabsw 4', '20 00 00 00 04 00 00 00'],
    ['ldindh %r1, 4', '48 10 00 00 04 00 00 00'],
    ['ADD %r0, 1 # upper-case mnemonic, trailing comment', '07 00 00 00 01 00 00 00'],
  ];
  it.each(cases)('%s', (text, expected) => {
    expect(hex(assemble(text))).toBe(hex(fromHex(expected)));
  });

  it('resolves labels in slots (lddw counts two), forwards and backwards', () => {
    const insns = assembleInsns(['top:', 'jeq %r1, 0, out', 'lddw %r0, 1', 'ja top', 'out: exit'].join('\n'));
    expect(insns.map((i) => i.pc)).toEqual([0, 1, 3, 4]);
    expect(insns[0]).toMatchObject({ kind: 'jcond', off: 3, target: 4 });
    expect(insns[2]).toMatchObject({ kind: 'ja', off: -4, target: 0 });
  });

  it('ja32 and call local take labels in imm', () => {
    const bytes = assemble(['ja32 L', 'call local f', 'L: exit', 'f: mov %r0, 1', 'exit'].join('\n'));
    expect(hex(bytes.subarray(0, 16))).toBe(hex(fromHex('06 00 00 00 01 00 00 00 85 10 00 00 01 00 00 00')));
  });

  it('an explicit exit: label wins over the implicit first-exit one', () => {
    const insns = assembleInsns(['ja exit', 'exit', 'exit:', 'exit'].join('\n'));
    expect(insns[0]).toMatchObject({ kind: 'ja', target: 2 });
  });
});

// ------------------------------------------------------------------ (b) round trips

describe('round trip', () => {
  it('decode(encode(insns)) == insns, and assemble(disassemble(x)) == x, for random canonical programs', () => {
    fc.assert(
      fc.property(arbProgram, (insns) => {
        const bytes = encodeProgram(insns);
        const prog = decodeProgram(bytes);
        expect(prog.insns).toEqual(insns);
        const text = disassemble(prog, { syntax: 'conformance' });
        expect(hex(assemble(text))).toBe(hex(bytes));
        expect(hex(assemble(disassemble(bytes, { addresses: false })))).toBe(hex(bytes));
        disassemble(prog, { syntax: 'llvm' });
      }),
      { numRuns: 400 },
    );
  });

  it('encodeInsn gives 8 bytes, 16 for lddw', () => {
    fc.assert(
      fc.property(arbInsn, (insn) => {
        expect(encodeInsn(insn).length).toBe(insn.kind === 'lddw' ? 16 : 8);
      }),
      { numRuns: 200 },
    );
  });

  it('addresses are slot indices', () => {
    const text = disassemble(assemble('lddw %r0, 1\nexit'), { addresses: true });
    expect(text).toBe('   0:\tlddw %r0, 0x1\n   2:\texit\n');
  });
});

// ------------------------------------------------------------------ llvm syntax

describe('llvm syntax', () => {
  const cases: [string, string][] = [
    ['mov %r0, %r1', 'r0 = r1'],
    ['mov32 %r0, %r1', 'w0 = w1'],
    ['add %r0, 5', 'r0 += 5'],
    ['add32 %r0, -1', 'w0 += -1'],
    ['sdiv %r0, %r1', 'r0 s/= r1'],
    ['smod32 %r0, %r1', 'w0 s%= w1'],
    ['arsh %r0, 3', 'r0 s>>= 3'],
    ['neg %r0', 'r0 = -r0'],
    ['neg32 %r2', 'w2 = -w2'],
    ['movsx864 %r0, %r1', 'r0 = (s8)r1'],
    ['movsx1632 %r0, %r1', 'w0 = (s16)w1'],
    ['lddw %r1, 0x1122334455667788', 'r1 = 0x1122334455667788 ll'],
    ['lddw %r1, 3, map_fd', 'ld_pseudo\tr1, 1, 0x3'],
    ['ldxw %r0, [%r1+4]', 'r0 = *(u32 *)(r1 + 4)'],
    ['ldxsb %r0, [%r1]', 'r0 = *(s8 *)(r1 + 0)'],
    ['stxdw [%r10-8], %r1', '*(u64 *)(r10 - 8) = r1'],
    ['stw [%r10-8], 5', '*(u32 *)(r10 - 8) = 5'],
    ['lock add [%r1], %r2', 'lock *(u64 *)(r1 + 0) += r2'],
    ['lock or32 [%r1+4], %r2', 'lock *(u32 *)(r1 + 4) |= w2'],
    ['lock fetch add [%r1], %r2', 'r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)'],
    ['lock fetch and32 [%r1], %r2', 'w2 = atomic_fetch_and((u32 *)(r1 + 0), w2)'],
    ['lock xchg [%r1], %r0', 'r0 = xchg_64(r1 + 0, r0)'],
    ['lock xchg32 [%r1], %r3', 'w3 = xchg32_32(r1 + 0, w3)'],
    ['lock cmpxchg [%r1], %r2', 'r0 = cmpxchg_64(r1 + 0, r0, r2)'],
    ['lock cmpxchg32 [%r1-2], %r2', 'w0 = cmpxchg32_32(r1 - 2, w0, w2)'],
    ['be16 %r0', 'r0 = be16 r0'],
    ['le32 %r0', 'r0 = le32 r0'],
    ['swap64 %r0', 'r0 = bswap64 r0'],
    ['jgt %r1, 3, +1', 'if r1 > 3 goto +1'],
    ['jslt32 %r1, %r2, -4', 'if w1 s< w2 goto -4'],
    ['jset %r1, %r2, +1', 'if r1 & r2 goto +1'],
    ['ja +3', 'goto +3'],
    ['ja32 +3', 'gotol +3'],
    ['call 1', 'call 1'],
    ['call local -5', 'call pc-5'],
    ['callx %r2', 'callx r2'],
    ['exit', 'exit'],
    ['ldabsb 5', 'r0 = *(u8 *)skb[5]'],
    ['ldindw %r3, 0', 'r0 = *(u32 *)skb[r3]'],
  ];
  it.each(cases)('%s -> %s', (text, expected) => {
    expect(disassemble(assemble(text), { syntax: 'llvm' })).toBe(`${expected}\n`);
  });
});

// ------------------------------------------------------------------ (c) against the real llvm-mc

function haveTool(name: string): boolean {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}
const HAVE_LLVM = haveTool('llvm-mc') && haveTool('llvm-objcopy');
const NO_LLVM = 'skipped: llvm-mc / llvm-objcopy not installed (CI installs the llvm package)';

/** Assembles LLVM-syntax lines with llvm-mc; returns .text bytes, or the 1-based lines it rejected. */
function llvmAssemble(lines: string[]): { bytes?: Uint8Array; rejected: number[]; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bpf2wasm-asm-'));
  try {
    const src = join(dir, 'x.s');
    const obj = join(dir, 'x.o');
    const bin = join(dir, 'x.bin');
    writeFileSync(src, lines.join('\n') + '\n');
    const mc = spawnSync('llvm-mc', ['-triple', 'bpfel', '-filetype=obj', src, '-o', obj], { encoding: 'utf8' });
    if (mc.status !== 0) {
      const rejected = [...mc.stderr.matchAll(/x\.s:(\d+):\d+: error/g)].map((m) => Number(m[1]));
      return { rejected, stderr: mc.stderr };
    }
    const oc = spawnSync('llvm-objcopy', ['-O', 'binary', '--only-section=.text', obj, bin], { encoding: 'utf8' });
    if (oc.status !== 0) throw new Error(`llvm-objcopy failed: ${oc.stderr}`);
    return { bytes: new Uint8Array(readFileSync(bin)), rejected: [], stderr: '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Instructions LLVM 14's assembler can spell with the same encoding as ours. Left out: st imm,
 * jset, mod and fetch atomics (its parser lacks them), v4 instructions, callx (LLVM <= 18 puts
 * the register in imm, the suite in dst), bpf-to-bpf and kfunc calls (no syntax for src=1/2),
 * lddw pseudo sources, and ldind with an immediate.
 */
function llvm14Spellable(i: Insn): boolean {
  switch (i.kind) {
    case 'alu':
      return !['mod', 'smod', 'sdiv', 'movsx'].includes(i.op);
    case 'end':
      return i.op !== 'bswap';
    case 'lddw':
      return i.src === 0;
    case 'ldx':
      return !i.signed;
    case 'atomic':
      return !i.fetch;
    case 'ja':
      return !i.wide;
    case 'jcond':
      return i.op !== 'jset';
    case 'ldind':
      return i.imm === 0;
    case 'stx':
    case 'call':
    case 'exit':
    case 'ldabs':
      return true;
    default:
      return false;
  }
}

/** Compares our bytes with llvm-mc's, instruction by instruction, for a useful failure message. */
function compareWithLlvm(insns: Insn[]): void {
  const lines = insns.map((i) => formatInsn(i, 'llvm'));
  const r = llvmAssemble(lines);
  expect(r.stderr).toBe('');
  const ours = encodeProgram(insns);
  if (hex(r.bytes!) !== hex(ours)) {
    let at = 0;
    for (const [n, insn] of insns.entries()) {
      const len = insn.kind === 'lddw' ? 16 : 8;
      const a = hex(ours.subarray(at, at + len));
      const b = hex(r.bytes!.subarray(at, at + len));
      expect(`${lines[n]}: ${b}`).toBe(`${lines[n]}: ${a}`);
      at += len;
    }
  }
  expect(hex(r.bytes!)).toBe(hex(ours));
}

describe('llvm syntax against llvm-mc', () => {
  if (!HAVE_LLVM) it.skipIf(true)(NO_LLVM, () => {});

  it.skipIf(!HAVE_LLVM)('hand-picked and random pre-v4 instructions assemble to the same bytes', () => {
    const hand = assembleInsns([
      'mov %r0, %r1', 'mov32 %r0, %r1', 'mov %r0, -1', 'mov32 %r0, 0xffffffff', 'add %r0, 5', 'add32 %r9, -2147483648',
      'sub %r1, %r2', 'mul32 %r3, 7', 'div %r4, %r5', 'or %r1, 0x7fffffff', 'and32 %r1, %r2', 'lsh %r1, 63',
      'rsh32 %r1, %r2', 'xor %r6, %r7', 'arsh %r8, 3', 'arsh32 %r8, %r9', 'neg %r0', 'neg32 %r1',
      'be16 %r0', 'be32 %r1', 'be64 %r2', 'le16 %r3', 'le32 %r4', 'le64 %r5',
      'lddw %r0, 0x1122334455667788', 'lddw %r9, -1', 'lddw %r1, 0',
      'ldxb %r0, [%r1]', 'ldxh %r0, [%r1+2]', 'ldxw %r0, [%r10-4]', 'ldxdw %r0, [%r10-32768]',
      'stxb [%r1+32767], %r2', 'stxh [%r1], %r2', 'stxw [%r10-4], %r0', 'stxdw [%r10-8], %r9',
      'lock add [%r1], %r2', 'lock or [%r1+8], %r2', 'lock and [%r10-8], %r3', 'lock xor [%r1], %r4',
      'lock add32 [%r1], %r2', 'lock or32 [%r1], %r2', 'lock and32 [%r1], %r2', 'lock xor32 [%r1-4], %r2',
      'jeq %r1, 5, +3', 'jgt %r1, %r2, -1', 'jge32 %r1, 0, +0', 'jne %r1, -2147483648, +32767',
      'jsgt %r1, %r2, -32768', 'jsge32 %r1, %r2, +1', 'jlt %r1, 1, +1', 'jle32 %r1, %r10, +1',
      'jslt %r1, -1, +1', 'jsle32 %r1, 2, +1', 'ja +5', 'ja -1',
      'call 1', 'call 0x7fffffff', 'exit', 'ldabsb 5', 'ldabsh -1', 'ldabsw 0', 'ldindb %r3, 0', 'ldindw %r1, 0',
    ].join('\n'));
    expect(hand.every(llvm14Spellable)).toBe(true);
    const conformance = HAVE_CONFORMANCE
      ? loadConformance().flatMap((f) => decodeProgram(f.bytes).insns).filter(llvm14Spellable)
      : [];
    const random = fc.sample(arbInsn.filter(llvm14Spellable), { numRuns: 400, seed: 9669 });
    compareWithLlvm([...hand, ...conformance, ...random]);
  });

  it.skipIf(!HAVE_LLVM)('newer instructions match llvm-mc wherever this llvm-mc version accepts them', () => {
    const insns = assembleInsns([
      'stb [%r10-1], 5', 'sth [%r1+2], -1', 'stw [%r10-8], 0x7fffffff', 'stdw [%r10-8], -5',
      'jset %r1, %r2, +1', 'jset32 %r1, 7, -1', 'mod %r1, %r2', 'mod32 %r1, 3',
      'lock fetch add [%r1], %r2', 'lock fetch or32 [%r1+4], %r2', 'lock fetch and [%r1], %r2', 'lock fetch xor32 [%r1], %r2',
      'lock xchg [%r1], %r0', 'lock xchg32 [%r1], %r3', 'lock cmpxchg [%r1], %r2', 'lock cmpxchg32 [%r1-2], %r2',
      'sdiv %r0, %r1', 'sdiv32 %r0, 3', 'smod %r0, -3', 'smod32 %r0, %r1',
      'movsx864 %r0, %r1', 'movsx1664 %r0, %r1', 'movsx3264 %r0, %r1', 'movsx832 %r0, %r1', 'movsx1632 %r0, %r1',
      'ldxsb %r0, [%r1]', 'ldxsh %r0, [%r1+2]', 'ldxsw %r0, [%r10-4]',
      'bswap16 %r0', 'bswap32 %r1', 'bswap64 %r2', 'ja32 +5', 'ja32 -70000',
    ].join('\n'));
    const lines = insns.map((i) => formatInsn(i, 'llvm'));
    const first = llvmAssemble(lines);
    const accepted = insns.filter((_, n) => !first.rejected.includes(n + 1));
    if (first.bytes === undefined && first.rejected.length === 0) throw new Error(`llvm-mc failed: ${first.stderr}`);
    console.info(`asm.test: llvm-mc accepted ${accepted.length} of ${insns.length} post-LLVM-14 instructions`);
    if (accepted.length > 0) compareWithLlvm(accepted);
  });
});

// ------------------------------------------------------------------ (d) errors

describe('assembler errors carry E_ASM_SYNTAX and the line', () => {
  it('unknown mnemonic', () => expectAsmError('mov %r0, 1\n\nfrob %r1, 2\nexit', 3));
  it('unknown atomic operation', () => expectAsmError('lock sub [%r1], %r2', 1));
  it('invalid sign-extension variants', () => {
    expectAsmError('exit\nmovsx3232 %r0, %r1', 2);
    expectAsmError('ldxsdw %r0, [%r1]', 1);
  });
  it('wrong operand count', () => {
    expectAsmError('# comment\nadd %r0', 2);
    expectAsmError('exit %r0', 1);
    expectAsmError('jeq %r1, 1', 1);
    expectAsmError('lock add [%r1]', 1);
    expectAsmError('call', 1);
  });
  it('empty operand', () => expectAsmError('add %r0, , 1', 1));
  it('bad register', () => {
    expectAsmError('mov %r11, 1', 1);
    expectAsmError('mov r1, 1', 1);
    expectAsmError('exit\nldxw %r0, [%rx+4]', 2);
  });
  it('bad memory operand', () => expectAsmError('ldxw %r0, %r1+4', 1));
  it('not a number', () => expectAsmError('mov %r0, 12abc', 1));
  it('undefined label', () => expectAsmError('mov %r0, 0\nja nowhere\nexit', 2));
  it('undefined exit label when the program has no exit', () => expectAsmError('ja exit', 1));
  it('duplicate label', () => expectAsmError('a:\nexit\na:\nexit', 3));
  it('immediate out of range', () => {
    expectAsmError('mov %r0, 0x100000000', 1);
    expectAsmError('mov %r0, -2147483649', 1);
    expectAsmError('exit\nlddw %r0, 0x10000000000000000', 2);
    expectAsmError('lddw %r0, 1, map_nothing', 1);
  });
  it('offset out of 16-bit range', () => {
    expectAsmError('ldxw %r0, [%r1+32768]', 1);
    expectAsmError('stxw [%r1-32769], %r0', 1);
    expectAsmError('ja +32768', 1);
    expectAsmError('jeq %r1, 0, -32769', 1);
  });
  it('label too far for a 16-bit jump is reported at the jump', () => {
    const text = ['mov %r0, 0', 'ja far', ...Array<string>(32768).fill('mov %r0, 1'), 'far: exit'].join('\n');
    expectAsmError(text, 2);
    // ja32 reaches it.
    expect(() => assemble(text.replace('ja far', 'ja32 far'))).not.toThrow();
  });
});

// ------------------------------------------------------------------ data files

describe('parseDataFile', () => {
  const sample = [
    '# Copyright line',
    '-- c',
    '#include <stdint.h>',
    'int x;',
    '-- asm',
    'mov %r0, 1 # comment',
    'exit',
    '-- raw',
    '0x00000001000000b7',
    '149',
    '-- mem',
    '00 01 0xff',
    'aa # trailing comment',
    '-- result',
    '0x1',
    '-- no register offset',
    'call instruction',
  ].join('\n');

  it('reads every section', () => {
    const d = parseDataFile(sample);
    expect(d.c).toBe('#include <stdint.h>\nint x;');
    expect(d.asm).toBe('mov %r0, 1 # comment\nexit');
    expect(d.asmLine).toBe(6);
    expect(hex(d.raw!)).toBe(hex(assemble(d.asm!)));
    expect([...d.mem!]).toEqual([0, 1, 0xff, 0xaa]);
    expect(d.result).toBe(1n);
    expect(d.error).toBeUndefined();
  });

  it('reads -- error and wraps negative results to u64', () => {
    const d = parseDataFile('-- asm\nexit\n-- result\n-1\n-- error\nsomething went wrong\n');
    expect(d.result).toBe(0xffff_ffff_ffff_ffffn);
    expect(d.error).toBe('something went wrong');
  });

  it('malformed sections throw E_ASM_SYNTAX with the file line', () => {
    const cases: [string, number][] = [
      ['-- asm\nexit\n-- asm\nexit', 3],
      ['-- mem\n00 01\nzz', 3],
      ['-- mem\n100', 2],
      ['-- raw\n0x95\n0xgg', 3],
      ['-- raw\n0x10000000000000000', 2],
      ['-- result\nnope', 2],
      ['-- result\n1\n2', 3],
    ];
    for (const [text, line] of cases) {
      const e = asmError(() => parseDataFile(text));
      expect(e.code, text).toBe(ErrorCode.AsmSyntax);
      expect(e.location.line, text).toBe(line);
    }
  });
});
