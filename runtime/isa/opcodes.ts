/**
 * Opcode tables, mirroring RFC 9669 section 3-5.
 *
 * An instruction is 64 bits (little-endian on the wire):
 *
 *     ┌────────┬────────┬────────┬────────────────┬────────────────────────────────┐
 *     │ opcode │ dst:4  │ src:4  │   offset:16    │            imm:32              │
 *     │  8 bit │ (low)  │ (high) │  signed        │            signed              │
 *     └────────┴────────┴────────┴────────────────┴────────────────────────────────┘
 *
 * The opcode's low three bits are the class:
 *
 *     ALU/ALU64/JMP/JMP32:   ┌─ code:4 ─┬ source:1 ┬ class:3 ┐
 *     LD/LDX/ST/STX:         ┌─ mode:3 ─┬─ size:2 ─┬ class:3 ┐
 *
 * lddw (opcode 0x18) takes two slots; the second holds the upper 32 bits of the immediate.
 */

/** Instruction classes (RFC 9669 3.3). */
export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

/** Source bit of arithmetic and jump instructions (RFC 9669 4). */
export const Source = {
  K: 0x00,
  X: 0x08,
} as const;

/** Arithmetic operation codes (RFC 9669 4.1, table 5). */
export const AluCode = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;

/** Jump operation codes (RFC 9669 4.3, table 9). */
export const JmpCode = {
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  JNE: 0x50,
  JSGT: 0x60,
  JSGE: 0x70,
  CALL: 0x80,
  EXIT: 0x90,
  JLT: 0xa0,
  JLE: 0xb0,
  JSLT: 0xc0,
  JSLE: 0xd0,
} as const;

/** Load/store size field (RFC 9669 5, table 11). */
export const SizeCode = {
  W: 0x00,
  H: 0x08,
  B: 0x10,
  DW: 0x18,
} as const;

/** Load/store mode field (RFC 9669 5, table 10). */
export const ModeCode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;

/** Atomic operations in the imm field (RFC 9669 5.3, table 13). */
export const AtomicCode = {
  ADD: 0x00,
  OR: 0x40,
  AND: 0x50,
  XOR: 0xa0,
  FETCH: 0x01,
  XCHG: 0xe0 | 0x01,
  CMPXCHG: 0xf0 | 0x01,
} as const;

/** Byte-swap direction for `END` in the ALU class (RFC 9669 4.2). */
export const EndSource = {
  TO_LE: 0x00,
  TO_BE: 0x08,
} as const;

/** `src` field values of lddw (RFC 9669 5.4, table 14). */
export const LddwSrc = {
  IMM64: 0,
  MAP_FD: 1,
  MAP_VALUE_BY_FD: 2,
  VARIABLE_ADDR: 3,
  CODE_ADDR: 4,
  MAP_BY_IDX: 5,
  MAP_VALUE_BY_IDX: 6,
} as const;

/** `src` field values of call (RFC 9669 4.3.1). */
export const CallSrc = {
  HELPER: 0,
  LOCAL: 1,
  KFUNC: 2,
} as const;

/** Frequently used whole opcodes. */
export const Op = {
  LDDW: Class.LD | ModeCode.IMM | SizeCode.DW, // 0x18
  CALL: Class.JMP | JmpCode.CALL | Source.K, // 0x85
  CALLX: Class.JMP | JmpCode.CALL | Source.X, // 0x8d
  EXIT: Class.JMP | JmpCode.EXIT | Source.K, // 0x95
  JA: Class.JMP | JmpCode.JA, // 0x05
  JA32: Class.JMP32 | JmpCode.JA, // 0x06
} as const;

/** Size in bytes for a size code. */
export function sizeBytes(sizeCode: number): 1 | 2 | 4 | 8 {
  switch (sizeCode & 0x18) {
    case SizeCode.B:
      return 1;
    case SizeCode.H:
      return 2;
    case SizeCode.W:
      return 4;
    default:
      return 8;
  }
}

/** Size code for a size in bytes. */
export function sizeCode(bytes: 1 | 2 | 4 | 8): number {
  return bytes === 1 ? SizeCode.B : bytes === 2 ? SizeCode.H : bytes === 4 ? SizeCode.W : SizeCode.DW;
}

/** Highest valid register number (r10 is the read-only frame pointer). */
export const MAX_REG = 10;
/** The frame pointer. */
export const R10 = 10;
/** Maximum number of instruction slots accepted (the kernel's BPF_COMPLEXITY_LIMIT_INSNS). */
export const MAX_INSNS = 1_000_000;
