/**
 * Synthetic eBPF programs for the compile-speed benchmark.
 *
 * `generateProgram(n, seed)` returns exactly `n` instruction slots shaped like clang's output for
 * ordinary C: a prologue initialising registers and a stack area, then straight-line blocks of
 * ALU operations (64- and 32-bit, register and immediate), stack loads and stores, zero-extension
 * shift pairs, an occasional lddw, forward conditional branches that skip a few instructions, and
 * every so often a counted loop with a backward branch. It ends with `exit`.
 *
 * The programs are valid and terminate: every register is written before it is read, every stack
 * load reads an initialised slot, jumps stay inside the program and land on instruction starts,
 * loops run a small fixed number of times, and divisions by an immediate never divide by zero.
 *
 * Instructions are encoded directly as 8-byte words with the constants of runtime/isa/opcodes.ts.
 */
import { AluCode, Class, JmpCode, ModeCode, Op, SizeCode, Source } from '../../runtime/isa/opcodes.js';

/** Small deterministic PRNG (xorshift32), so every run compiles the same programs. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  /** Next 32-bit unsigned value. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return x;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + (this.next() % (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.next() % items.length]!;
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
}

/** Writes raw instruction slots. */
class Emitter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  pc = 0;

  constructor(readonly capacity: number) {
    this.bytes = new Uint8Array(capacity * 8);
    this.view = new DataView(this.bytes.buffer);
  }

  slot(opcode: number, dst: number, src: number, off: number, imm: number): number {
    if (this.pc >= this.capacity) throw new Error('genprog: program overflow');
    const at = this.pc * 8;
    this.view.setUint8(at, opcode);
    this.view.setUint8(at + 1, (dst & 0x0f) | ((src & 0x0f) << 4));
    this.view.setInt16(at + 2, off, true);
    this.view.setInt32(at + 4, imm | 0, true);
    return this.pc++;
  }

  aluImm(width: 32 | 64, code: number, dst: number, imm: number): void {
    this.slot((width === 64 ? Class.ALU64 : Class.ALU) | code | Source.K, dst, 0, 0, imm);
  }

  aluReg(width: 32 | 64, code: number, dst: number, src: number): void {
    this.slot((width === 64 ? Class.ALU64 : Class.ALU) | code | Source.X, dst, src, 0, 0);
  }

  lddw(dst: number, value: bigint): void {
    const lo = Number(BigInt.asIntN(32, value));
    const hi = Number(BigInt.asIntN(32, value >> 32n));
    this.slot(Op.LDDW, dst, 0, 0, lo);
    this.slot(0, 0, 0, 0, hi);
  }

  ldx(size: number, dst: number, src: number, off: number): void {
    this.slot(Class.LDX | ModeCode.MEM | size, dst, src, off, 0);
  }

  stx(size: number, dst: number, src: number, off: number): void {
    this.slot(Class.STX | ModeCode.MEM | size, dst, src, off, 0);
  }

  st(size: number, dst: number, off: number, imm: number): void {
    this.slot(Class.ST | ModeCode.MEM | size, dst, 0, off, imm);
  }

  /** Conditional jump with a placeholder offset; returns its pc for `patch`. */
  jcondReg(width: 32 | 64, code: number, dst: number, src: number): number {
    return this.slot((width === 64 ? Class.JMP : Class.JMP32) | code | Source.X, dst, src, 0, 0);
  }

  jcondImm(width: 32 | 64, code: number, dst: number, imm: number): number {
    return this.slot((width === 64 ? Class.JMP : Class.JMP32) | code | Source.K, dst, 0, 0, imm);
  }

  /** Points the jump at `pc` to `target`. */
  patch(pc: number, target: number): void {
    const off = target - (pc + 1);
    if (off < -32768 || off > 32767) throw new Error('genprog: jump too far');
    this.view.setInt16(pc * 8 + 2, off, true);
  }

  exit(): void {
    this.slot(Op.EXIT, 0, 0, 0, 0);
  }
}

/** Registers the blocks compute with. r1 keeps the context, r9 is the loop counter. */
const SCRATCH = [0, 2, 3, 4, 5, 6, 7, 8] as const;
const LOOP_REG = 9;
/** Initialised stack area: STACK_SLOTS 8-byte slots below r10. */
const STACK_SLOTS = 24;

const ALU_BINARY = [
  AluCode.ADD, AluCode.ADD, AluCode.ADD, AluCode.SUB, AluCode.MUL, AluCode.OR, AluCode.AND,
  AluCode.XOR, AluCode.MOV, AluCode.MOV, AluCode.MOV,
] as const;
const JCOND = [
  JmpCode.JEQ, JmpCode.JNE, JmpCode.JNE, JmpCode.JGT, JmpCode.JGE, JmpCode.JLT, JmpCode.JLE,
  JmpCode.JSGT, JmpCode.JSLT, JmpCode.JSET,
] as const;
const SIZES = [SizeCode.DW, SizeCode.DW, SizeCode.W, SizeCode.H, SizeCode.B] as const;

function sizeOf(code: number): number {
  return code === SizeCode.DW ? 8 : code === SizeCode.W ? 4 : code === SizeCode.H ? 2 : 1;
}

/** A stack offset (negative, from r10) inside the initialised area, aligned for `size` bytes. */
function stackOff(rng: Rng, size: number): number {
  const slot = rng.int(1, STACK_SLOTS);
  const within = size === 8 ? 0 : rng.int(0, 8 / size - 1) * size;
  return -slot * 8 + within;
}

/** Emits one straight-line instruction (1 or 2 slots); never writes r1 or r9. */
function emitSimple(e: Emitter, rng: Rng, room: number): void {
  const dst = rng.pick(SCRATCH);
  const roll = rng.next() % 100;
  if (roll < 30) {
    // 64-bit ALU, register or immediate operand.
    const code = rng.pick(ALU_BINARY);
    if (rng.chance(0.5)) e.aluReg(64, code, dst, rng.pick(SCRATCH));
    else e.aluImm(64, code, dst, rng.int(-64, 4096));
  } else if (roll < 42) {
    // 32-bit ALU (clang -mcpu=v3 style w-registers).
    const code = rng.pick(ALU_BINARY);
    if (rng.chance(0.5)) e.aluReg(32, code, dst, rng.pick(SCRATCH));
    else e.aluImm(32, code, dst, rng.int(0, 255));
  } else if (roll < 48) {
    // Shifts by an immediate, sometimes the `<<= 32; >>= 32` zero-extension pair.
    if (rng.chance(0.4) && room >= 2) {
      e.aluImm(64, AluCode.LSH, dst, 32);
      e.aluImm(64, AluCode.RSH, dst, 32);
    } else {
      const code = rng.pick([AluCode.LSH, AluCode.RSH, AluCode.ARSH]);
      e.aluImm(64, code, dst, rng.int(1, 63));
    }
  } else if (roll < 50) {
    // Division and modulo by a non-zero constant; rarely by a register (eBPF defines x / 0).
    const code = rng.pick([AluCode.DIV, AluCode.MOD]);
    if (rng.chance(0.2)) e.aluReg(64, code, dst, rng.pick(SCRATCH));
    else e.aluImm(64, code, dst, rng.int(1, 1000));
  } else if (roll < 51) {
    e.aluImm(64, AluCode.NEG, dst, 0);
  } else if (roll < 70) {
    const size = rng.pick(SIZES);
    e.ldx(size, dst, 10, stackOff(rng, sizeOf(size)));
  } else if (roll < 84) {
    const size = rng.pick(SIZES);
    e.stx(size, 10, rng.pick(SCRATCH), stackOff(rng, sizeOf(size)));
  } else if (roll < 88) {
    const size = rng.pick(SIZES);
    e.st(size, 10, stackOff(rng, sizeOf(size)), rng.int(-100, 100));
  } else if (roll < 90 && room >= 2) {
    e.lddw(dst, BigInt.asUintN(64, (BigInt(rng.next()) << 32n) | BigInt(rng.next())));
  } else {
    // Register copy, the most common clang instruction.
    e.aluReg(64, AluCode.MOV, dst, rng.pick(SCRATCH));
  }
}

/**
 * Emits a straight-line block of exactly `len` slots that may contain forward conditional
 * branches; every branch lands inside the block or on the slot right after it.
 */
function emitBlock(e: Emitter, rng: Rng, len: number): void {
  const end = e.pc + len;
  const pending: { pc: number; target: number }[] = [];
  while (e.pc < end) {
    const room = end - e.pc;
    if (room >= 3 && rng.chance(0.12)) {
      const width = rng.chance(0.75) ? 64 : 32;
      const code = rng.pick(JCOND);
      const jpc = rng.chance(0.6)
        ? e.jcondReg(width, code, rng.pick(SCRATCH), rng.pick(SCRATCH))
        : e.jcondImm(width, code, rng.pick(SCRATCH), rng.int(-16, 1024));
      pending.push({ pc: jpc, target: Math.min(end, jpc + 1 + rng.int(1, 8)) });
      continue;
    }
    emitSimple(e, rng, room);
  }
  // A 2-slot lddw never straddles a target because targets are recomputed to instruction starts.
  for (const j of pending) e.patch(j.pc, alignTarget(e, j.pc + 1, j.target));
}

/** The last instruction start at or before `target`, scanning from `from` (skips lddw halves). */
function alignTarget(e: Emitter, from: number, target: number): number {
  let pc = from;
  let last = from;
  while (pc <= target) {
    last = pc;
    pc += e.bytes[pc * 8] === Op.LDDW ? 2 : 1;
  }
  return last;
}

/**
 * Generates a program of exactly `n` slots (n >= 64).
 * `seed` selects the program; the same (n, seed) always gives the same bytes.
 */
export function generateProgram(n: number, seed = 1): Uint8Array {
  if (!Number.isInteger(n) || n < 64) throw new Error('genprog: need at least 64 instructions');
  const rng = new Rng(seed ^ Math.imul(n, 0x9e3779b1));
  const e = new Emitter(n);

  // Prologue: initialise the scratch registers and the stack area, as clang's entry blocks do.
  for (const r of SCRATCH) e.aluImm(64, AluCode.MOV, r, rng.int(0, 1000));
  e.aluImm(64, AluCode.MOV, LOOP_REG, 0);
  for (let s = 1; s <= STACK_SLOTS; s++) e.st(SizeCode.DW, 10, -s * 8, 0);

  const epilogue = 3;
  while (e.pc < n - epilogue) {
    const room = n - epilogue - e.pc;
    if (room >= 24 && rng.chance(0.06)) {
      // Counted loop: mov r9, k; body; r9 += -1; if r9 != 0 goto body.
      const body = Math.min(room - 3, rng.int(8, 40));
      e.aluImm(64, AluCode.MOV, LOOP_REG, rng.int(2, 6));
      const head = e.pc;
      emitBlock(e, rng, body);
      e.aluImm(64, AluCode.ADD, LOOP_REG, -1);
      const back = e.jcondImm(64, JmpCode.JNE, LOOP_REG, 0);
      e.patch(back, head);
    } else {
      emitBlock(e, rng, Math.min(room, rng.int(4, 48)));
    }
  }
  // Epilogue: fold a few registers into r0 and return it.
  e.aluReg(64, AluCode.ADD, 0, 2);
  e.aluReg(64, AluCode.XOR, 0, 3);
  e.exit();
  if (e.pc !== n) throw new Error(`genprog: emitted ${e.pc} slots, wanted ${n}`);
  return e.bytes;
}
