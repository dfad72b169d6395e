/**
 * Decoded, normalised eBPF instructions.
 *
 * Decoding resolves every encoding variant into its own operation (sdiv/smod from the offset
 * field, movsx, sign-extending loads, fetch atomics, ja32, the two-slot lddw), so later stages
 * never look at raw fields again.
 */

/** A register number, 0-10. */
export type Reg = number;

export type AluOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'sdiv' | 'or' | 'and' | 'lsh' | 'rsh'
  | 'neg' | 'mod' | 'smod' | 'xor' | 'mov' | 'movsx' | 'arsh';

export type JmpOp =
  | 'jeq' | 'jgt' | 'jge' | 'jset' | 'jne' | 'jsgt' | 'jsge' | 'jlt' | 'jle' | 'jslt' | 'jsle';

export type AtomicOp = 'add' | 'or' | 'and' | 'xor' | 'xchg' | 'cmpxchg';

export type MemSize = 1 | 2 | 4 | 8;

interface InsnBase {
  /** Index of the instruction's (first) slot. */
  pc: number;
}

/** Arithmetic: `dst = dst op src` on 32 or 64 bits. */
export interface AluInsn extends InsnBase {
  kind: 'alu';
  op: AluOp;
  width: 32 | 64;
  dst: Reg;
  /** Source register, or null for an immediate operand (and for `neg`). */
  src: Reg | null;
  imm: number;
  /** For `movsx`: the width of the value sign-extended from. 0 otherwise. */
  sxBits: 0 | 8 | 16 | 32;
}

/** Byte order conversion: `le`/`be` (ALU class) or unconditional `bswap` (ALU64 class). */
export interface EndInsn extends InsnBase {
  kind: 'end';
  op: 'le' | 'be' | 'bswap';
  bits: 16 | 32 | 64;
  dst: Reg;
}

/** 64-bit immediate load (two slots). `src` selects a pseudo-source (map fd, variable, code). */
export interface LddwInsn extends InsnBase {
  kind: 'lddw';
  dst: Reg;
  src: number;
  /** First slot's imm (signed 32). */
  imm: number;
  /** Second slot's imm (signed 32). */
  imm2: number;
  /** The full immediate, unsigned 64-bit: (imm2 << 32) | (imm & 0xffffffff). */
  value: bigint;
}

/** `dst = *(size *)(src + off)`, zero- or sign-extending. */
export interface LoadInsn extends InsnBase {
  kind: 'ldx';
  size: MemSize;
  signed: boolean;
  dst: Reg;
  src: Reg;
  off: number;
}

/** `*(size *)(dst + off) = imm`. */
export interface StoreImmInsn extends InsnBase {
  kind: 'st';
  size: MemSize;
  dst: Reg;
  off: number;
  imm: number;
}

/** `*(size *)(dst + off) = src`. */
export interface StoreRegInsn extends InsnBase {
  kind: 'stx';
  size: MemSize;
  dst: Reg;
  src: Reg;
  off: number;
}

/** Atomic read-modify-write on `*(size *)(dst + off)`. */
export interface AtomicInsn extends InsnBase {
  kind: 'atomic';
  op: AtomicOp;
  /** True if the old value is written back (to `src`, or to r0 for cmpxchg). Always true for xchg and cmpxchg. */
  fetch: boolean;
  size: 4 | 8;
  dst: Reg;
  src: Reg;
  off: number;
}

/** Unconditional jump. `wide` is ja32 (offset in imm). */
export interface JaInsn extends InsnBase {
  kind: 'ja';
  wide: boolean;
  /** Relative offset as encoded. */
  off: number;
  /** Absolute target instruction index. */
  target: number;
}

/** Conditional jump on a 32- or 64-bit comparison. */
export interface JcondInsn extends InsnBase {
  kind: 'jcond';
  op: JmpOp;
  width: 32 | 64;
  dst: Reg;
  src: Reg | null;
  imm: number;
  off: number;
  target: number;
}

/** Call of a helper by static id. */
export interface CallHelperInsn extends InsnBase {
  kind: 'call';
  helper: number;
}

/** bpf-to-bpf call. */
export interface CallLocalInsn extends InsnBase {
  kind: 'call_local';
  /** Relative offset as encoded in imm. */
  imm: number;
  target: number;
}

/** Call of a helper whose id is in a register (the register is in the dst field). */
export interface CallxInsn extends InsnBase {
  kind: 'callx';
  reg: Reg;
}

/** Call of a kernel function by BTF id (src = 2). */
export interface KfuncInsn extends InsnBase {
  kind: 'kfunc';
  btfId: number;
  off: number;
}

export interface ExitInsn extends InsnBase {
  kind: 'exit';
}

/** Legacy packet access: `r0 = ntoh(*(size *)(packet + imm [+ src]))`. */
export interface LegacyLoadInsn extends InsnBase {
  kind: 'ldabs' | 'ldind';
  size: 1 | 2 | 4;
  /** Register added to imm (ldind only). */
  src: Reg;
  imm: number;
}

export type Insn =
  | AluInsn
  | EndInsn
  | LddwInsn
  | LoadInsn
  | StoreImmInsn
  | StoreRegInsn
  | AtomicInsn
  | JaInsn
  | JcondInsn
  | CallHelperInsn
  | CallLocalInsn
  | CallxInsn
  | KfuncInsn
  | ExitInsn
  | LegacyLoadInsn;

/** A decoded program: instructions in order, and a slot-to-instruction lookup. */
export interface Program {
  insns: Insn[];
  /** Number of 8-byte slots (lddw counts two). */
  slotCount: number;
  /** For each slot, the index in `insns` of the instruction starting there, or -1 for a lddw's second half. */
  slotToInsn: Int32Array;
}

/** Registers an instruction writes. */
export function writtenRegs(insn: Insn): Reg[] {
  switch (insn.kind) {
    case 'alu':
    case 'end':
    case 'lddw':
    case 'ldx':
      return [insn.dst];
    case 'atomic':
      if (insn.op === 'cmpxchg') return [0];
      return insn.fetch ? [insn.src] : [];
    case 'call':
    case 'callx':
    case 'kfunc':
    case 'call_local':
    case 'ldabs':
    case 'ldind':
      return [0, 1, 2, 3, 4, 5];
    default:
      return [];
  }
}
