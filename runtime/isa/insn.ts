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

/**
 * A decoded program: instructions in order, and a slot-to-instruction lookup.
 *
 * `decodeProgram` makes the instruction objects only when `insns` is first read: the compiler
 * reads them one at a time through `insnsOf(program)` instead, and a list of 100k objects that
 * lives through the whole compile costs more (the collector copies and promotes it, the OS maps
 * fresh pages for it) than decoding an instruction again where it is needed.
 */
export interface Program {
  insns: Insn[];
  /** Number of 8-byte slots (lddw counts two). */
  slotCount: number;
  /** For each slot, the index in `insns` of the instruction starting there, or -1 for a lddw's second half. */
  slotToInsn: Int32Array;
}

/**
 * Read access to a program's instructions by index. A decoded program's list may return a new
 * object on every `get` (equal fields, not the same object): compare instructions by `pc`. The
 * other methods answer without making an object.
 */
export interface InsnList {
  readonly length: number;
  /** The instruction at `index` (an index in `Program.insns`), undefined outside 0..length-1. */
  get(index: number): Insn | undefined;
  /**
   * The same instruction, to be read at once and not kept: it may be an object that the next
   * `peek` overwrites (a large program's, compiler/lazy-program.ts), which spares making one.
   */
  peek(index: number): Insn | undefined;
  /** Its `kind`. */
  kind(index: number): Insn['kind'];
  /** Its `pc`. */
  pc(index: number): number;
  /**
   * The slot it jumps or calls to (`target` of ja, jcond and call_local; a `lddw src_reg=4`'s
   * function, see cfg.ts pseudoFuncTarget), else -1.
   */
  target(index: number): number;
  /** Whether it loads, stores or does an atomic through r10 (the frame pointer). */
  usesFrame(index: number): boolean;
}

/** `lddw src_reg=4` (BPF_PSEUDO_FUNC): loads the address of a function, a callback for helpers. */
export const LDDW_PSEUDO_FUNC = 4;

/** An array as an InsnList. */
class ArrayInsns implements InsnList {
  constructor(private readonly items: readonly Insn[]) {}
  get length(): number {
    return this.items.length;
  }
  get(index: number): Insn | undefined {
    return this.items[index];
  }
  peek(index: number): Insn | undefined {
    return this.items[index];
  }
  kind(index: number): Insn['kind'] {
    return this.items[index]!.kind;
  }
  pc(index: number): number {
    return this.items[index]!.pc;
  }
  target(index: number): number {
    return insnTarget(this.items[index]!);
  }
  usesFrame(index: number): boolean {
    return insnUsesFrame(this.items[index]!);
  }
}

/** InsnList.target of one instruction. */
export function insnTarget(insn: Insn): number {
  if (insn.kind === 'ja' || insn.kind === 'jcond' || insn.kind === 'call_local') return insn.target;
  if (insn.kind === 'lddw' && insn.src === LDDW_PSEUDO_FUNC) return insn.pc + 1 + insn.imm;
  return -1;
}

/** InsnList.usesFrame of one instruction. */
export function insnUsesFrame(insn: Insn): boolean {
  if (insn.kind === 'ldx') return insn.src === 10;
  return (insn.kind === 'st' || insn.kind === 'stx' || insn.kind === 'atomic') && insn.dst === 10;
}

/** Where `decodeProgram` keeps a program's own InsnList (see insnsOf). */
export const INSN_LIST: unique symbol = Symbol('bpf2wasm.insnList');

/**
 * The instructions of `program` by index: the decoder's list (instructions decoded on demand,
 * until `program.insns` is read) or, for a program made another way, its `insns`.
 */
export function insnsOf(program: Program): InsnList {
  return (program as Program & { [INSN_LIST]?: InsnList })[INSN_LIST] ?? new ArrayInsns(program.insns);
}
