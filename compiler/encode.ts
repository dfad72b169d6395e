/**
 * Encoder: normalised instructions -> bytes, the inverse of runtime/isa/decode.ts.
 *
 * For every instruction the decoder accepts, `encodeInsn(decode(bytes))` gives back `bytes`
 * whenever the unused fields were zero (the canonical form). Encoding goes through the same
 * tables the decoder uses, so the two cannot drift apart silently.
 */
import { ErrorCode, InternalError } from '../runtime/errors.js';
import { ALU_OPS, ATOMIC_OPS, JMP_OPS } from '../runtime/isa/decode.js';
import type { AluOp, AtomicOp, Insn, JmpOp } from '../runtime/isa/insn.js';
import {
  AluCode, CallSrc, Class, EndSource, ModeCode, Op, Source, sizeCode,
} from '../runtime/isa/opcodes.js';

/** Raw fields of one 8-byte slot, before packing. */
interface Fields {
  opcode: number;
  dst?: number;
  src?: number;
  off?: number;
  imm?: number;
}

function invert<K, V>(map: ReadonlyMap<K, V>): Map<V, K> {
  const out = new Map<V, K>();
  for (const [k, v] of map) out.set(v, k);
  return out;
}

const ALU_CODES = invert(ALU_OPS) as Map<AluOp, number>;
const JMP_CODES = invert(JMP_OPS) as Map<JmpOp, number>;
/** Keyed by `op` plus `+fetch`, since the decoder's values are objects. */
const ATOMIC_CODES = new Map<string, number>(
  [...ATOMIC_OPS].map(([imm, a]) => [atomicKey(a.op, a.fetch), imm]),
);

function atomicKey(op: AtomicOp, fetch: boolean): string {
  return fetch ? `${op}+fetch` : op;
}

function bug(detail: string, pc: number): never {
  throw new InternalError(ErrorCode.Internal, detail, { insn: pc });
}

/** ALU code and offset for an operation; the v4 signed and sign-extending forms live in `off`. */
function aluCodeAndOff(insn: Extract<Insn, { kind: 'alu' }>): { code: number; off: number } {
  switch (insn.op) {
    case 'sdiv':
      return { code: AluCode.DIV, off: 1 };
    case 'smod':
      return { code: AluCode.MOD, off: 1 };
    case 'movsx':
      return { code: AluCode.MOV, off: insn.sxBits };
    default: {
      const code = ALU_CODES.get(insn.op);
      if (code === undefined) bug(`no ALU code for '${insn.op}'`, insn.pc);
      return { code, off: 0 };
    }
  }
}

/** The slot fields of a single-slot instruction (everything except lddw). */
function fieldsOf(insn: Exclude<Insn, { kind: 'lddw' }>): Fields {
  switch (insn.kind) {
    case 'alu': {
      const { code, off } = aluCodeAndOff(insn);
      const cls = insn.width === 64 ? Class.ALU64 : Class.ALU;
      if (insn.src === null) return { opcode: cls | code | Source.K, dst: insn.dst, off, imm: insn.imm };
      return { opcode: cls | code | Source.X, dst: insn.dst, src: insn.src, off };
    }
    case 'end': {
      // bswap reuses the END code in the ALU64 class; le/be select direction with the source bit.
      const opcode = insn.op === 'bswap'
        ? Class.ALU64 | AluCode.END | EndSource.TO_LE
        : Class.ALU | AluCode.END | (insn.op === 'be' ? EndSource.TO_BE : EndSource.TO_LE);
      return { opcode, dst: insn.dst, imm: insn.bits };
    }
    case 'ldx':
      return {
        opcode: Class.LDX | (insn.signed ? ModeCode.MEMSX : ModeCode.MEM) | sizeCode(insn.size),
        dst: insn.dst, src: insn.src, off: insn.off,
      };
    case 'st':
      return { opcode: Class.ST | ModeCode.MEM | sizeCode(insn.size), dst: insn.dst, off: insn.off, imm: insn.imm };
    case 'stx':
      return { opcode: Class.STX | ModeCode.MEM | sizeCode(insn.size), dst: insn.dst, src: insn.src, off: insn.off };
    case 'atomic': {
      // xchg and cmpxchg always fetch; their codes already include the fetch bit.
      const fetch = insn.fetch || insn.op === 'xchg' || insn.op === 'cmpxchg';
      const imm = ATOMIC_CODES.get(atomicKey(insn.op, fetch));
      if (imm === undefined) bug(`no atomic code for '${insn.op}'`, insn.pc);
      return {
        opcode: Class.STX | ModeCode.ATOMIC | sizeCode(insn.size), dst: insn.dst, src: insn.src, off: insn.off, imm,
      };
    }
    case 'ja':
      return insn.wide ? { opcode: Op.JA32, imm: insn.off } : { opcode: Op.JA, off: insn.off };
    case 'jcond': {
      const code = JMP_CODES.get(insn.op);
      if (code === undefined) bug(`no jump code for '${insn.op}'`, insn.pc);
      const cls = insn.width === 64 ? Class.JMP : Class.JMP32;
      if (insn.src === null) return { opcode: cls | code | Source.K, dst: insn.dst, off: insn.off, imm: insn.imm };
      return { opcode: cls | code | Source.X, dst: insn.dst, src: insn.src, off: insn.off };
    }
    case 'call':
      return { opcode: Op.CALL, src: CallSrc.HELPER, imm: insn.helper };
    case 'call_local':
      return { opcode: Op.CALL, src: CallSrc.LOCAL, imm: insn.imm };
    case 'kfunc':
      return { opcode: Op.CALL, src: CallSrc.KFUNC, off: insn.off, imm: insn.btfId };
    case 'callx':
      // The conformance suite and the kernel put callx's register in dst, not in imm.
      return { opcode: Op.CALLX, dst: insn.reg };
    case 'exit':
      return { opcode: Op.EXIT };
    case 'ldabs':
      return { opcode: Class.LD | ModeCode.ABS | sizeCode(insn.size), imm: insn.imm };
    case 'ldind':
      return { opcode: Class.LD | ModeCode.IND | sizeCode(insn.size), src: insn.src, imm: insn.imm };
  }
}

function checkField(value: number, min: number, max: number, what: string, pc: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    bug(`${what} ${value} does not fit its field (${min}..${max})`, pc);
  }
  return value;
}

/** Packs fields into `out` at byte `at`; immediates accept the signed or the unsigned 32-bit view. */
function pack(view: DataView, at: number, f: Fields, pc: number): void {
  view.setUint8(at, checkField(f.opcode, 0, 0xff, 'opcode', pc));
  const dst = checkField(f.dst ?? 0, 0, 15, 'dst register', pc);
  const src = checkField(f.src ?? 0, 0, 15, 'src register', pc);
  view.setUint8(at + 1, (src << 4) | dst);
  view.setInt16(at + 2, checkField(f.off ?? 0, -0x8000, 0x7fff, 'offset', pc), true);
  view.setUint32(at + 4, checkField(f.imm ?? 0, -0x80000000, 0xffffffff, 'immediate', pc) >>> 0, true);
}

/** Number of 8-byte slots an instruction occupies (2 for lddw, 1 otherwise). */
export function insnSlots(insn: Insn): 1 | 2 {
  return insn.kind === 'lddw' ? 2 : 1;
}

function encodeInto(view: DataView, at: number, insn: Insn): void {
  if (insn.kind === 'lddw') {
    // The split imm/imm2 are authoritative: `value` is derived from them by the decoder.
    pack(view, at, { opcode: Op.LDDW, dst: insn.dst, src: insn.src, imm: insn.imm }, insn.pc);
    pack(view, at + 8, { opcode: 0, imm: insn.imm2 }, insn.pc);
    return;
  }
  pack(view, at, fieldsOf(insn), insn.pc);
}

/**
 * Encodes one instruction to its 8 bytes (16 for lddw), little-endian, unused fields zero.
 * Throws InternalError when a field does not fit, which means the Insn was built wrongly.
 */
export function encodeInsn(insn: Insn): Uint8Array {
  const out = new Uint8Array(insnSlots(insn) * 8);
  encodeInto(new DataView(out.buffer), 0, insn);
  return out;
}

/** Encodes instructions in order into one program image; `pc` fields are not consulted. */
export function encodeProgram(insns: readonly Insn[]): Uint8Array {
  let slots = 0;
  for (const insn of insns) slots += insnSlots(insn);
  const out = new Uint8Array(slots * 8);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const insn of insns) {
    encodeInto(view, at, insn);
    at += insnSlots(insn) * 8;
  }
  return out;
}
