/**
 * Classic BPF: parsing tcpdump's -dd and -ddd text, the kernel's bpf_check_classic rules (each
 * error with its code and instruction index), the translation's semantics instruction by
 * instruction on both engines (libpcap's: captured bytes, wire length, out-of-bounds loads reject),
 * and random programs checked against a small reference interpreter written from libpcap's
 * bpf_filter rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BPF_MAXINSNS, CAlu, CClass, CJmp, CMisc, CMode, CSize, CSrc, checkClassic, classicToEbpf, formatClassicDdd, parseClassic,
  type ClassicInsn,
} from '../cbpf/index.js';
import { instantiateBytecode } from '../load.js';
import { runClassicOnBytes } from '../../runtime/capture/classic.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import type { BpfInstance } from '../../runtime/program.js';

const { LD, LDX, ST, STX, ALU, JMP, RET, MISC } = CClass;
const I = (code: number, k = 0, jt = 0, jf = 0): ClassicInsn => ({ code, jt, jf, k: k >>> 0 });
const retA = I(RET | CSrc.A);
const retK = (k: number): ClassicInsn => I(RET | CSrc.K, k);

const DD = `{ 0x28, 0, 0, 0x0000000c },
{ 0x15, 0, 1, 0x00000800 },
{ 0x6, 0, 0, 0x00040000 },
{ 0x6, 0, 0, 0x00000000 },
`;
const DDD = '4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n';

describe('parsing tcpdump output', () => {
  it('reads -dd and -ddd forms of the same program alike', () => {
    expect(parseClassic(DD)).toEqual(parseClassic(DDD));
    expect(parseClassic(DDD)[1]).toEqual({ code: 0x15, jt: 0, jf: 1, k: 0x800 });
    expect(formatClassicDdd(parseClassic(DD))).toBe(DDD);
  });
  const bad: Array<[string, string, number]> = [
    ['neither form', 'ld [12]\nret #0\n', 1],
    ['a bad -dd line', '{ 0x28, 0, 0, 12 },\n{ 0x15 0 1 },\n', 2],
    ['a count that does not match', '3\n6 0 0 0\n', 1],
    ['a bad -ddd line', '2\n6 0 0 0\n6 0 x 0\n', 3],
    ['a code above 16 bits', '1\n70000 0 0 0\n', 2],
    ['jt above 8 bits', '{ 0x15, 256, 0, 0 },\n', 1],
    ['k above 32 bits', '1\n6 0 0 4294967296\n', 2],
    ['nothing', '\n\n', 1],
  ];
  for (const [what, text, line] of bad) {
    it(`E_ASM_SYNTAX with the line: ${what}`, () => {
      try {
        parseClassic(text);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(Bpf2WasmError);
        expect((e as Bpf2WasmError).code).toBe(ErrorCode.AsmSyntax);
        expect((e as Bpf2WasmError).location).toEqual({ line });
      }
    });
  }
});

function expectCheck(insns: ClassicInsn[], code: string, insn?: number): void {
  try {
    checkClassic(insns);
    expect.unreachable('accepted');
  } catch (e) {
    expect(e).toBeInstanceOf(Bpf2WasmError);
    expect((e as Bpf2WasmError).code).toBe(code);
    expect((e as Bpf2WasmError).location).toEqual(insn === undefined ? {} : { insn });
  }
}

describe('bpf_check_classic rules', () => {
  it('accepts tcpdump programs and programs writing scratch words on every path before reading them', () => {
    checkClassic(parseClassic(DDD));
    checkClassic([I(LD | CMode.IMM, 1), I(JMP | CJmp.JEQ | CSrc.K, 1, 0, 2), I(ST, 3), I(JMP | CJmp.JA, 1), I(ST, 3), I(LDX | CMode.MEM, 3), retA]);
  });
  it('empty program', () => expectCheck([], ErrorCode.EmptyProgram));
  it('more than BPF_MAXINSNS (4096) instructions', () => {
    checkClassic([...Array<ClassicInsn>(BPF_MAXINSNS - 1).fill(I(LD | CMode.IMM, 1)), retA]);
    expectCheck([...Array<ClassicInsn>(BPF_MAXINSNS).fill(I(LD | CMode.IMM, 1)), retA], ErrorCode.ProgramTooLarge);
  });
  it('unknown opcodes (including RET X, LD DW, an eBPF-only ALU op)', () => {
    expectCheck([I(LD | CMode.IMM), I(RET | CSrc.X)], ErrorCode.UnknownOpcode, 1);
    expectCheck([I(LD | 0x18 | CMode.ABS), retA], ErrorCode.UnknownOpcode, 0);
    expectCheck([I(ALU | 0xb0 | CSrc.K), retA], ErrorCode.UnknownOpcode, 0);
    expectCheck([I(0xffff), retA], ErrorCode.UnknownOpcode, 0);
    expectCheck([I(LD | CSize.H | CMode.LEN), retA], ErrorCode.UnknownOpcode, 0);
  });
  it('ancillary loads the kernel does not know', () => {
    checkClassic([I(LD | CSize.W | CMode.ABS, 0xfffff000 + 60), retA]); // SKF_AD_VLAN_TPID
    checkClassic([I(LD | CSize.B | CMode.ABS, 0xfff00000), retA]); // SKF_NET_OFF: not ancillary
    expectCheck([I(LD | CSize.W | CMode.ABS, 0xfffff000 + 64), retA], ErrorCode.UnknownOpcode, 0);
    expectCheck([I(LD | CSize.W | CMode.ABS, 0xfffff000 + 2), retA], ErrorCode.UnknownOpcode, 0);
  });
  it('jumps out of range, forward past the end or backward', () => {
    expectCheck([I(JMP | CJmp.JA, 1), retA], ErrorCode.JumpOutOfRange, 0);
    expectCheck([I(JMP | CJmp.JA, 0xffffffff), retA], ErrorCode.JumpOutOfRange, 0);
    expectCheck([retA, I(JMP | CJmp.JEQ | CSrc.K, 0, 1, 0), retA], ErrorCode.JumpOutOfRange, 1);
    expectCheck([I(JMP | CJmp.JGT | CSrc.X, 0, 0, 5), retA], ErrorCode.JumpOutOfRange, 0);
  });
  it('no final ret', () => expectCheck([retA, I(LD | CMode.IMM, 1)], ErrorCode.FallOffEnd, 1));
  it('division and modulo by a constant zero', () => {
    expectCheck([I(ALU | CAlu.DIV | CSrc.K, 0), retA], ErrorCode.DivByZero, 0);
    expectCheck([I(LD | CMode.IMM), I(ALU | CAlu.MOD | CSrc.K, 0), retA], ErrorCode.DivByZero, 1);
  });
  it('constant shifts by 32 or more', () => {
    expectCheck([I(ALU | CAlu.LSH | CSrc.K, 32), retA], ErrorCode.BadShift, 0);
    expectCheck([I(ALU | CAlu.RSH | CSrc.K, 99), retA], ErrorCode.BadShift, 0);
  });
  it('scratch indices of 16 or more', () => {
    for (const code of [LD | CMode.MEM, LDX | CMode.MEM, ST, STX]) expectCheck([I(code, 16), retA], ErrorCode.BadScratch, 0);
  });
  it('scratch words read before every path has written them', () => {
    expectCheck([I(LD | CMode.MEM, 0), retA], ErrorCode.UninitScratch, 0);
    expectCheck([I(JMP | CJmp.JEQ | CSrc.K, 0, 0, 1), I(ST, 2), I(LDX | CMode.MEM, 2), retA], ErrorCode.UninitScratch, 2);
  });
});

// ---- semantics -----------------------------------------------------------------------------------

/** A reference for libpcap's bpf_filter (pcap's bpf_filter.c rules), written independently of convert.ts. */
function reference(insns: readonly ClassicInsn[], data: Uint8Array, wirelen: number): number {
  let A = 0;
  let X = 0;
  const M = new Uint32Array(16);
  const buflen = data.length;
  const load = (k: number, size: number): number | undefined => {
    if (k + size > buflen) return undefined;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + data[k + i]!;
    return v;
  };
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    const cls = code & 7;
    const size = (code & 0x18) === CSize.W ? 4 : (code & 0x18) === CSize.H ? 2 : 1;
    if (cls === LD || cls === LDX) {
      const mode = code & 0xe0;
      let v: number | undefined;
      if (mode === CMode.IMM) v = k;
      else if (mode === CMode.LEN) v = wirelen;
      else if (mode === CMode.MEM) v = M[k]!;
      else if (mode === CMode.ABS) v = load(k, size);
      else if (mode === CMode.IND) v = X + k > 0xffffffff ? undefined : load(X + k, size);
      else if (mode === CMode.MSH) v = k < buflen ? (data[k]! & 0xf) * 4 : undefined;
      if (v === undefined) return 0;
      if (cls === LD) A = v >>> 0;
      else X = v >>> 0;
    } else if (cls === ST) M[k] = A;
    else if (cls === STX) M[k] = X;
    else if (cls === ALU) {
      const op = code & 0xf0;
      const s = code & CSrc.X ? X : k;
      switch (op) {
        case CAlu.ADD: A = (A + s) >>> 0; break;
        case CAlu.SUB: A = (A - s) >>> 0; break;
        case CAlu.MUL: A = Number((BigInt(A) * BigInt(s)) & 0xffffffffn); break;
        case CAlu.DIV: if (s === 0) return 0; A = Math.floor(A / s) >>> 0; break;
        case CAlu.MOD: if (s === 0) return 0; A = (A % s) >>> 0; break;
        case CAlu.AND: A = (A & s) >>> 0; break;
        case CAlu.OR: A = (A | s) >>> 0; break;
        case CAlu.XOR: A = (A ^ s) >>> 0; break;
        case CAlu.LSH: A = s < 32 ? (A << s) >>> 0 : 0; break;
        case CAlu.RSH: A = s < 32 ? A >>> s : 0; break;
        case CAlu.NEG: A = (0 - A) >>> 0; break;
      }
    } else if (cls === JMP) {
      const op = code & 0xf0;
      const s = code & CSrc.X ? X : k;
      if (op === CJmp.JA) { pc += k; continue; }
      const taken = op === CJmp.JEQ ? A === s : op === CJmp.JGT ? A > s : op === CJmp.JGE ? A >= s : (A & s) !== 0;
      pc += taken ? jt : jf;
    } else if (cls === RET) return (code & CSrc.A ? A : k) >>> 0;
    else if (cls === MISC) {
      if ((code & 0xf8) === CMisc.TAX) X = A;
      else A = X;
    }
  }
  return 0;
}

const engines: Array<[string, (b: Uint8Array) => Promise<BpfInstance>]> = [
  ['interpreter', (b) => instantiateBytecode(b, { engine: 'interpreter' })],
  ['compiled -O0', (b) => instantiateBytecode(b, { optLevel: 0 })],
  ['compiled -O1', (b) => instantiateBytecode(b, { optLevel: 1 })],
];

async function runAll(insns: ClassicInsn[], data: Uint8Array, wirelen = data.length): Promise<number[]> {
  const { bytecode } = classicToEbpf(insns);
  const out: number[] = [];
  for (const [, make] of engines) out.push(runClassicOnBytes(await make(bytecode), data, wirelen));
  return out;
}

const pkt = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
pkt[14] = 0x46; // IHL 6 for MSH

describe('translation semantics, on every engine', () => {
  const cases: Array<[string, ClassicInsn[], number, Uint8Array?, number?]> = [
    ['ret #k is the u32 k', [retK(0xffffffff)], 0xffffffff],
    ['ld len is the wire length, not the captured length', [I(LD | CSize.W | CMode.LEN), retA], 1514, pkt, 1514],
    ['ldx len', [I(LDX | CSize.W | CMode.LEN), I(MISC | CMisc.TXA), retA], 99, pkt, 99],
    ['ld [k] in network byte order', [I(LD | CSize.W | CMode.ABS, 60), retA], ((pkt[60]! << 24) | (pkt[61]! << 16) | (pkt[62]! << 8) | pkt[63]!) >>> 0],
    ['ldh [k]', [I(LD | CSize.H | CMode.ABS, 12), retA], (pkt[12]! << 8) | pkt[13]!],
    ['ld [k] past the captured bytes rejects, even within the wire length', [I(LD | CSize.W | CMode.ABS, 61), retK(1)], 0, pkt, 1000],
    ['ldb [k] at the last captured byte', [I(LD | CSize.B | CMode.ABS, 63), retA], pkt[63]!],
    ['ld [k] with k >= 2^31 rejects', [I(LD | CSize.B | CMode.ABS, 0xfff00000), retK(1)], 0],
    ['an ancillary load rejects (libpcap reading a capture has no ancillary data)', [I(LD | CSize.B | CMode.ABS, 0xfffff000), retK(1)], 0],
    ['ld [x + k]', [I(LDX | CMode.IMM, 3), I(LD | CSize.H | CMode.IND, 4), retA], (pkt[7]! << 8) | pkt[8]!],
    ['ld [x + k] whose sum wraps 32 bits rejects (libpcap)', [I(LDX | CMode.IMM, 0xffffffff), I(LD | CSize.B | CMode.IND, 2), retK(1)], 0],
    ['ld [x + k] past the end rejects', [I(LDX | CMode.IMM, 60), I(LD | CSize.W | CMode.IND, 1), retK(1)], 0],
    ['ldx 4*([k]&0xf) keeps A', [I(LD | CMode.IMM, 7), I(LDX | CSize.B | CMode.MSH, 14), I(ALU | CAlu.ADD | CSrc.X), retA], 7 + 24],
    ['ldx msh past the end rejects', [I(LDX | CSize.B | CMode.MSH, 64), retK(1)], 0],
    ['division by X = 0 rejects', [I(LD | CMode.IMM, 5), I(ALU | CAlu.DIV | CSrc.X), retK(1)], 0],
    ['modulo by X = 0 rejects', [I(LD | CMode.IMM, 5), I(ALU | CAlu.MOD | CSrc.X), retK(1)], 0],
    ['division and modulo are unsigned', [I(LD | CMode.IMM, 0xfffffff0), I(LDX | CMode.IMM, 7), I(ALU | CAlu.MOD | CSrc.X), retA], 0xfffffff0 % 7],
    ['shift by X >= 32 gives 0', [I(LD | CMode.IMM, 0xffff), I(LDX | CMode.IMM, 32), I(ALU | CAlu.LSH | CSrc.X), retA], 0],
    ['right shift by X = 33 gives 0', [I(LD | CMode.IMM, 0xffff), I(LDX | CMode.IMM, 33), I(ALU | CAlu.RSH | CSrc.X), retA], 0],
    ['shift by X = 31', [I(LD | CMode.IMM, 3), I(LDX | CMode.IMM, 31), I(ALU | CAlu.LSH | CSrc.X), retA], 0x80000000],
    ['32-bit arithmetic wraps', [I(LD | CMode.IMM, 0xffffffff), I(ALU | CAlu.ADD | CSrc.K, 2), retA], 1],
    ['neg', [I(LD | CMode.IMM, 1), I(ALU | CAlu.NEG), retA], 0xffffffff],
    ['unsigned compares with k >= 2^31', [I(LD | CMode.IMM, 0x80000000), I(JMP | CJmp.JGE | CSrc.K, 0x80000000, 0, 1), retK(1), retK(2)], 1],
    ['jgt x', [I(LD | CMode.IMM, 5), I(LDX | CMode.IMM, 9), I(JMP | CJmp.JGT | CSrc.X, 0, 0, 1), retK(1), retK(2)], 2],
    ['jset', [I(LD | CMode.IMM, 6), I(JMP | CJmp.JSET | CSrc.K, 4, 1, 0), retK(1), retK(2)], 2],
    ['scratch words', [I(LD | CMode.IMM, 11), I(ST, 15), I(LDX | CMode.IMM, 22), I(STX, 0), I(LD | CMode.MEM, 0), I(LDX | CMode.MEM, 15), I(ALU | CAlu.SUB | CSrc.X), retA], 11],
    ['tax / txa', [I(LD | CMode.IMM, 9), I(MISC | CMisc.TAX), I(LD | CMode.IMM, 1), I(MISC | CMisc.TXA), retA], 9],
    ['an empty frame', [I(LD | CSize.W | CMode.LEN), retA], 0, new Uint8Array(0), 0],
  ];
  for (const [name, insns, want, data, wirelen] of cases) {
    it(name, async () => {
      const d = data ?? pkt;
      expect(reference(insns, d, wirelen ?? d.length)).toBe(want);
      expect(await runAll(insns, d, wirelen)).toEqual(engines.map(() => want));
    });
  }
});

/** A random valid classic program: forward jumps, scratch written before read, a final ret. */
const program = fc.array(fc.tuple(fc.nat(20), fc.nat(0xffffffff), fc.nat(3), fc.nat(3)), { minLength: 1, maxLength: 24 }).map((raw) => {
  const n = raw.length + 1;
  const insns: ClassicInsn[] = raw.map(([kind, k, jt, jf], pc) => {
    const left = n - pc - 2;
    const small = k % 80;
    switch (kind) {
      case 0: return I(LD | CSize.W | CMode.ABS, small);
      case 1: return I(LD | CSize.H | CMode.ABS, small);
      case 2: return I(LD | CSize.B | CMode.IND, k % 3 === 0 ? k : small);
      case 3: return I(LDX | CSize.B | CMode.MSH, small);
      case 4: return I(LD | CMode.IMM, k);
      case 5: return I(LDX | CMode.IMM, k % 2 ? k % 40 : k);
      case 6: return I(LD | CSize.W | CMode.LEN);
      case 7: return I(ST, 1);
      case 8: return I(ALU | [CAlu.ADD, CAlu.SUB, CAlu.MUL, CAlu.AND, CAlu.OR, CAlu.XOR][k % 6]! | CSrc.X);
      case 9: return I(ALU | [CAlu.DIV, CAlu.MOD][k % 2]! | CSrc.X);
      case 10: return I(ALU | [CAlu.LSH, CAlu.RSH][k % 2]! | CSrc.X);
      case 11: return I(ALU | [CAlu.DIV, CAlu.MOD, CAlu.LSH, CAlu.RSH][k % 4]! | CSrc.K, k % 4 < 2 ? (k % 1000) + 1 : k % 32);
      case 12: return I(ALU | CAlu.NEG);
      case 13: return I(MISC | CMisc.TAX);
      case 14: return I(MISC | CMisc.TXA);
      case 15: return I(JMP | [CJmp.JEQ, CJmp.JGT, CJmp.JGE, CJmp.JSET][k % 4]! | (k & 1 ? CSrc.X : CSrc.K), k, Math.min(jt, left), Math.min(jf, left));
      case 16: return I(JMP | CJmp.JA, Math.min(jt, left));
      case 17: return retA;
      case 18: return retK(k);
      default: return I(ALU | CAlu.ADD | CSrc.K, k);
    }
  });
  // M[1] is read only after an unconditional write at the start.
  return [I(ST, 1), ...insns.map((i) => (i.code === ST ? I(LD | CMode.MEM, 1) : i)), retA];
});

describe('random classic programs', () => {
  it('every engine returns what the libpcap reference returns', async () => {
    await fc.assert(fc.asyncProperty(program, fc.uint8Array({ maxLength: 90 }), fc.nat(2000), async (insns, data, extra) => {
      checkClassic(insns);
      const want = reference(insns, data, data.length + extra);
      const { bytecode } = classicToEbpf(insns);
      for (const [name, make] of engines.slice(0, 2)) {
        expect(runClassicOnBytes(await make(bytecode), data, data.length + extra), name).toBe(want);
      }
    }), { numRuns: 300, seed: 42 });
  });
});
