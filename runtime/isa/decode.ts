/**
 * Decoder: bytes -> normalised instructions (compiler/insn.ts).
 *
 * Structural checks that need only one instruction happen here (unknown opcode, bad register,
 * write to r10, truncated or malformed lddw). Checks across instructions (jump targets,
 * falling off the end) are in compiler/cfg.ts.
 */
import { CompileError, ErrorCode } from '../errors.js';
import {
  AluCode, AtomicCode, CallSrc, Class, JmpCode, MAX_INSNS, MAX_REG, ModeCode, Op, R10, Source, sizeBytes,
} from './opcodes.js';
import type { AluOp, AtomicOp, Insn, JmpOp, MemSize, Program, Reg } from './insn.js';

/** ALU code -> operation, for `offset == 0`. */
export const ALU_OPS: ReadonlyMap<number, AluOp> = new Map<number, AluOp>([
  [AluCode.ADD, 'add'], [AluCode.SUB, 'sub'], [AluCode.MUL, 'mul'], [AluCode.DIV, 'div'],
  [AluCode.OR, 'or'], [AluCode.AND, 'and'], [AluCode.LSH, 'lsh'], [AluCode.RSH, 'rsh'],
  [AluCode.NEG, 'neg'], [AluCode.MOD, 'mod'], [AluCode.XOR, 'xor'], [AluCode.MOV, 'mov'],
  [AluCode.ARSH, 'arsh'],
]);

/** Jump code -> comparison. */
export const JMP_OPS: ReadonlyMap<number, JmpOp> = new Map<number, JmpOp>([
  [JmpCode.JEQ, 'jeq'], [JmpCode.JGT, 'jgt'], [JmpCode.JGE, 'jge'], [JmpCode.JSET, 'jset'],
  [JmpCode.JNE, 'jne'], [JmpCode.JSGT, 'jsgt'], [JmpCode.JSGE, 'jsge'], [JmpCode.JLT, 'jlt'],
  [JmpCode.JLE, 'jle'], [JmpCode.JSLT, 'jslt'], [JmpCode.JSLE, 'jsle'],
]);

// The same two tables indexed by code >> 4, for the decoder's inner loop.
const ALU_BY_CODE: Array<AluOp | undefined> = new Array<AluOp | undefined>(16).fill(undefined);
for (const [code, op] of ALU_OPS) ALU_BY_CODE[code >> 4] = op;
const JMP_BY_CODE: Array<JmpOp | undefined> = new Array<JmpOp | undefined>(16).fill(undefined);
for (const [code, op] of JMP_OPS) JMP_BY_CODE[code >> 4] = op;

/** Atomic imm -> operation. */
export const ATOMIC_OPS: ReadonlyMap<number, { op: AtomicOp; fetch: boolean }> = new Map([
  [AtomicCode.ADD, { op: 'add' as AtomicOp, fetch: false }],
  [AtomicCode.ADD | AtomicCode.FETCH, { op: 'add' as AtomicOp, fetch: true }],
  [AtomicCode.OR, { op: 'or' as AtomicOp, fetch: false }],
  [AtomicCode.OR | AtomicCode.FETCH, { op: 'or' as AtomicOp, fetch: true }],
  [AtomicCode.AND, { op: 'and' as AtomicOp, fetch: false }],
  [AtomicCode.AND | AtomicCode.FETCH, { op: 'and' as AtomicOp, fetch: true }],
  [AtomicCode.XOR, { op: 'xor' as AtomicOp, fetch: false }],
  [AtomicCode.XOR | AtomicCode.FETCH, { op: 'xor' as AtomicOp, fetch: true }],
  [AtomicCode.XCHG, { op: 'xchg' as AtomicOp, fetch: true }],
  [AtomicCode.CMPXCHG, { op: 'cmpxchg' as AtomicOp, fetch: true }],
]);

/** Raw fields of one 8-byte slot. */
export interface RawSlot {
  opcode: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** Reads the raw fields of slot `i`. */
export function readSlot(view: DataView, i: number): RawSlot {
  const raw: RawSlot = { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 };
  readSlotInto(view, i, raw);
  return raw;
}

function fail(code: (typeof ErrorCode)[keyof typeof ErrorCode], pc: number, detail: string): never {
  throw new CompileError(code, detail, { insn: pc });
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(2, '0');
}

/** Fills `raw` with the fields of slot `pc` of `view` (8 bytes per slot, little-endian): no allocation. */
export function readSlotInto(view: DataView, pc: number, raw: RawSlot): void {
  const base = pc * 8;
  const regs = view.getUint8(base + 1);
  raw.opcode = view.getUint8(base);
  raw.dst = regs & 0x0f;
  raw.src = regs >> 4;
  raw.off = view.getInt16(base + 2, true);
  raw.imm = view.getInt32(base + 4, true);
}

/**
 * Decodes a program from its bytes (8 bytes per slot, little-endian).
 * Throws CompileError with the instruction index on malformed input.
 */
export function decodeProgram(bytes: Uint8Array, options: { maxInsns?: number } = {}): Program {
  const slotCount = programSlots(bytes, options.maxInsns ?? MAX_INSNS);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // At most one instruction per slot: reserved once and trimmed at the end, instead of grown
  // (and copied) a dozen times on the way to 100k instructions.
  const insns: Insn[] = new Array<Insn>(slotCount);
  let count = 0;
  const slotToInsn = new Int32Array(slotCount);
  // One RawSlot refilled per slot (decoded instructions never keep it): no allocation per slot.
  const raw: RawSlot = { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 };
  for (let pc = 0; pc < slotCount; ) {
    readSlotInto(view, pc, raw);
    slotToInsn[pc] = count;
    if (raw.opcode === Op.LDDW) {
      insns[count++] = decodeLddw(view, pc, slotCount, raw);
      slotToInsn[pc + 1] = -1;
      pc += 2;
      continue;
    }
    insns[count++] = decodeSlot(raw, pc);
    pc += 1;
  }
  insns.length = count;
  return { insns, slotCount, slotToInsn };
}

/** The number of slots of a program of `bytes`, or the error for an empty, truncated or too large one. */
export function programSlots(bytes: Uint8Array, maxInsns: number): number {
  if (bytes.length === 0) throw new CompileError(ErrorCode.EmptyProgram, 'the program has no instructions', {});
  if (bytes.length % 8 !== 0) {
    throw new CompileError(
      ErrorCode.TruncatedInput,
      `the program is ${bytes.length} bytes, not a multiple of the 8-byte instruction size`,
      { insn: Math.floor(bytes.length / 8), offset: bytes.length - (bytes.length % 8) },
    );
  }
  const slotCount = bytes.length / 8;
  if (slotCount > maxInsns) {
    throw new CompileError(
      ErrorCode.ProgramTooLarge,
      `the program has ${slotCount} instructions; the limit is ${maxInsns}`,
      {},
    );
  }
  return slotCount;
}

/** Decodes the lddw whose first slot, at `pc`, is `raw` (a program of `slotCount` slots in `view`). */
export function decodeLddw(view: DataView, pc: number, slotCount: number, raw: RawSlot): Insn {
  if (pc + 1 >= slotCount) fail(ErrorCode.TruncatedLddw, pc, 'lddw needs a second instruction slot, but the program ends');
  const next = readSlot(view, pc + 1);
  if (next.opcode !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
    fail(ErrorCode.BadLddw, pc + 1, 'the second slot of lddw must have opcode, registers and offset all zero');
  }
  checkReg(raw.dst, pc);
  if (raw.dst === R10) fail(ErrorCode.WriteR10, pc, 'lddw writes r10, the read-only frame pointer');
  if (raw.src > 6) fail(ErrorCode.UnknownOpcode, pc, `lddw with unknown source ${raw.src}`);
  const value = (BigInt(next.imm >>> 0) << 32n) | BigInt(raw.imm >>> 0);
  return { kind: 'lddw', pc, dst: raw.dst, src: raw.src, imm: raw.imm, imm2: next.imm, value };
}

function checkReg(r: number, pc: number): Reg {
  if (r > MAX_REG) fail(ErrorCode.BadRegister, pc, `register r${r} does not exist (r0-r10 only)`);
  return r;
}

function checkDstWritable(r: number, pc: number): Reg {
  checkReg(r, pc);
  if (r === R10) fail(ErrorCode.WriteR10, pc, 'the instruction writes r10, the read-only frame pointer');
  return r;
}

function unknown(raw: RawSlot, pc: number, why = ''): never {
  fail(ErrorCode.UnknownOpcode, pc, `unknown opcode ${hex(raw.opcode)}${why ? ` (${why})` : ''}`);
}

/** Decodes one single-slot instruction. */
export function decodeSlot(raw: RawSlot, pc: number): Insn {
  const cls = raw.opcode & 0x07;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64:
      return decodeAlu(raw, pc, cls === Class.ALU64 ? 64 : 32);
    case Class.JMP:
    case Class.JMP32:
      return decodeJmp(raw, pc, cls === Class.JMP ? 64 : 32);
    case Class.LD:
      return decodeLegacyLoad(raw, pc);
    case Class.LDX: {
      const mode = raw.opcode & 0xe0;
      const size = sizeBytes(raw.opcode);
      if (mode === ModeCode.MEM || (mode === ModeCode.MEMSX && size !== 8)) {
        return {
          kind: 'ldx', pc, size, signed: mode === ModeCode.MEMSX,
          dst: checkDstWritable(raw.dst, pc), src: checkReg(raw.src, pc), off: raw.off,
        };
      }
      return unknown(raw, pc);
    }
    case Class.ST: {
      if ((raw.opcode & 0xe0) !== ModeCode.MEM) return unknown(raw, pc);
      return { kind: 'st', pc, size: sizeBytes(raw.opcode), dst: checkReg(raw.dst, pc), off: raw.off, imm: raw.imm };
    }
    default: {
      // Class.STX
      const mode = raw.opcode & 0xe0;
      const size: MemSize = sizeBytes(raw.opcode);
      if (mode === ModeCode.MEM) {
        return { kind: 'stx', pc, size, dst: checkReg(raw.dst, pc), src: checkReg(raw.src, pc), off: raw.off };
      }
      if (mode === ModeCode.ATOMIC && (size === 4 || size === 8)) {
        const a = ATOMIC_OPS.get(raw.imm);
        if (!a) return unknown(raw, pc, `atomic operation ${hex(raw.imm)}`);
        const src = checkReg(raw.src, pc);
        if (a.fetch && a.op !== 'cmpxchg' && src === R10) {
          fail(ErrorCode.WriteR10, pc, 'atomic fetch writes r10, the read-only frame pointer');
        }
        return { kind: 'atomic', pc, op: a.op, fetch: a.fetch, size, dst: checkReg(raw.dst, pc), src, off: raw.off };
      }
      return unknown(raw, pc);
    }
  }
}

function decodeAlu(raw: RawSlot, pc: number, width: 32 | 64): Insn {
  const code = raw.opcode & 0xf0;
  const isReg = (raw.opcode & Source.X) !== 0;
  if (code === AluCode.END) {
    if (raw.imm !== 16 && raw.imm !== 32 && raw.imm !== 64) {
      return unknown(raw, pc, `byte swap width ${raw.imm}`);
    }
    let op: 'le' | 'be' | 'bswap';
    if (width === 32) op = isReg ? 'be' : 'le';
    else if (!isReg) op = 'bswap';
    else return unknown(raw, pc);
    return { kind: 'end', pc, op, bits: raw.imm, dst: checkDstWritable(raw.dst, pc) };
  }
  let op = ALU_BY_CODE[code >> 4];
  if (op === undefined) return unknown(raw, pc);
  let sxBits: 0 | 8 | 16 | 32 = 0;
  if (raw.off !== 0) {
    if ((op === 'div' || op === 'mod') && raw.off === 1) {
      op = op === 'div' ? 'sdiv' : 'smod';
    } else if (op === 'mov' && isReg && (raw.off === 8 || raw.off === 16 || (raw.off === 32 && width === 64))) {
      op = 'movsx';
      sxBits = raw.off;
    } else {
      return unknown(raw, pc, `offset ${raw.off} is not valid for ${op}`);
    }
  }
  if (op === 'neg' && isReg) return unknown(raw, pc, 'neg takes no source register');
  const dst = checkDstWritable(raw.dst, pc);
  const src = isReg ? checkReg(raw.src, pc) : null;
  return { kind: 'alu', pc, op, width, dst, src, imm: isReg ? 0 : raw.imm, sxBits };
}

function decodeJmp(raw: RawSlot, pc: number, width: 32 | 64): Insn {
  const code = raw.opcode & 0xf0;
  const isReg = (raw.opcode & Source.X) !== 0;
  switch (code) {
    case JmpCode.JA:
      if (isReg) return unknown(raw, pc);
      if (width === 64) return { kind: 'ja', pc, wide: false, off: raw.off, target: pc + raw.off + 1 };
      return { kind: 'ja', pc, wide: true, off: raw.imm, target: pc + raw.imm + 1 };
    case JmpCode.CALL:
      if (width === 32) return unknown(raw, pc);
      if (isReg) {
        // The register is in dst (gcc, LLVM 19 and later, the conformance suite) or, from
        // LLVM before 19 (clang 14 among them), in imm with dst 0.
        if (raw.dst !== 0 && raw.imm !== 0) return unknown(raw, pc, `callx names a register in both dst (r${raw.dst}) and imm (${raw.imm})`);
        return { kind: 'callx', pc, reg: checkReg(raw.dst !== 0 ? raw.dst : raw.imm, pc) };
      }
      if (raw.src === CallSrc.HELPER) return { kind: 'call', pc, helper: raw.imm };
      if (raw.src === CallSrc.LOCAL) return { kind: 'call_local', pc, imm: raw.imm, target: pc + raw.imm + 1 };
      if (raw.src === CallSrc.KFUNC) return { kind: 'kfunc', pc, btfId: raw.imm, off: raw.off };
      return unknown(raw, pc, `call with unknown source ${raw.src}`);
    case JmpCode.EXIT:
      if (width === 32 || isReg) return unknown(raw, pc);
      return { kind: 'exit', pc };
    default: {
      const op = JMP_BY_CODE[code >> 4];
      if (op === undefined) return unknown(raw, pc);
      return {
        kind: 'jcond', pc, op, width, dst: checkReg(raw.dst, pc), src: isReg ? checkReg(raw.src, pc) : null,
        imm: isReg ? 0 : raw.imm, off: raw.off, target: pc + raw.off + 1,
      };
    }
  }
}

function decodeLegacyLoad(raw: RawSlot, pc: number): Insn {
  const mode = raw.opcode & 0xe0;
  const size = sizeBytes(raw.opcode);
  if ((mode === ModeCode.ABS || mode === ModeCode.IND) && size !== 8) {
    return {
      kind: mode === ModeCode.ABS ? 'ldabs' : 'ldind', pc, size,
      src: mode === ModeCode.IND ? checkReg(raw.src, pc) : 0, imm: raw.imm,
    };
  }
  return unknown(raw, pc);
}
