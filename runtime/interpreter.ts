/**
 * The reference interpreter: runs eBPF bytecode directly, with exactly the semantics of the
 * compiled code (compiler/emit.ts) and the same runtime (memory layout, helpers, errors).
 *
 * It is the oracle the compiler is tested against, and the engine for hosts that cannot compile
 * WebAssembly at run time (Cloudflare Workers): it needs a `WebAssembly.Memory`, never a module.
 *
 * Semantics, as the compiled code has them:
 * - Registers are 64-bit. Each eBPF function has its own registers,
 *   all zero on entry except r1-r5 (the arguments) and r10 (its frame pointer); a call changes
 *   only the caller's r0. r10 is the frame pointer, an address in the stack region.
 * - A memory access uses the low 32 bits of the base register as the address. A non-negative
 *   offset is added exactly, a negative one in 32 bits (wrapping); the access faults if any byte
 *   of it lies outside memory.
 * - bpf-to-bpf calls get the frame below the caller's and fault with E_CALL_DEPTH when it would not
 *   fit in the stack region.
 * - Helpers receive and return values as the WebAssembly JS API converts them (i64 -> signed
 *   bigint, i32 -> signed number; the result through ToBigInt64 / ToInt32). `callx` uses
 *   `callWithRegisters`, as the compiled module's `callx` import does.
 * - Legacy packet loads (ldabs/ldind) read the input memory in network byte order; one outside it
 *   returns 0 from the current function.
 * - On exit from the entry the full r0 is stored at RESULT_ADDR.
 *
 * The instructions are translated once into flat typed arrays indexed by instruction slot and run
 * by a switch loop. The registers live in one buffer viewed as 64-bit (BigUint64Array and
 * BigInt64Array) and as 32-bit halves (Uint32Array, Int32Array), so 32-bit operations, loads and
 * stores are plain number arithmetic; only 64-bit arithmetic makes bigints.
 */
import {
  DEFAULT_FRAME_SIZE, DEFAULT_MAX_CALL_DEPTH, GENERIC_HELPER_SIGNATURE, RESULT_ADDR,
  type HelperSignature, type MemoryLayout, type ProgramEntry,
} from './abi.js';
import { Bpf2WasmError, BpfRuntimeError, CompileError, ErrorCode, InternalError } from './errors.js';
import { callWithRegisters, helperResult, HelperRegistry, type HelperDefinition, type HelperFn } from './helper-registry.js';
import { runtimeErrorOf, type BoundEntry, type Engine } from './engine.js';
import { buildCfg } from './isa/cfg.js';
import { ensureRoom, unknownProgram } from './memory.js';
import { decodeProgram } from './isa/decode.js';
import type { Insn, LddwInsn, Program } from './isa/insn.js';
import { MAX_INSNS } from './isa/opcodes.js';
import { checkStackOptions, computeLayout } from './memory-layout.js';
import { BpfInstance } from './program.js';
import { contextKindOf } from './uapi/index.js';

/** The error code of an exhausted instruction budget. */
export const E_BUDGET = ErrorCode.Budget;

/** One program entry point in the bytecode. */
export interface InterpreterEntry {
  name: string;
  /** Instruction index of its first instruction. */
  pc: number;
  /** Program type, e.g. `xdp`; `raw` by default. */
  type?: string;
  section?: string;
}

export interface InterpretOptions {
  /** Helpers by id (and name). A helper the program calls but the host lacks fails at load time. */
  helpers?: Iterable<HelperDefinition> | HelperRegistry;
  /** Entry points; default one program `main` at instruction 0. */
  entries?: readonly InterpreterEntry[];
  /** Maximum bpf-to-bpf call depth (frames); default 8, as the kernel. */
  maxCallDepth?: number;
  /** Stack bytes per frame; default 512, as the kernel. */
  frameSize?: number;
  /** Maximum program size in instruction slots when decoding bytes; default 1,000,000. */
  maxInsns?: number;
  /**
   * Maximum number of instructions one run may execute; exceeding it throws BpfRuntimeError with
   * code E_BUDGET. Unlimited by default: like compiled code, an endless loop then runs forever.
   */
  budget?: number;
  /** Resolves lddw pseudo sources (maps, variables), as the compiler's option of the same name. */
  resolveLddw?: (insn: LddwInsn) => bigint;
  /** Checked memory mode, as the compiler's option of the same name (the same rule, the same errors). */
  checked?: boolean;
}

// Operations of the flat program, one per instruction slot.
const enum Op {
  Invalid = 0,
  // 64-bit arithmetic: dst = dst op (K ? k64 : src)
  Add64, Sub64, Mul64, Div64, Sdiv64, Or64, And64, Lsh64, Rsh64, Neg64, Mod64, Smod64, Xor64, Mov64,
  Movsx64, Arsh64,
  // 32-bit arithmetic on the low halves; the result is zero-extended
  Add32, Sub32, Mul32, Div32, Sdiv32, Or32, And32, Lsh32, Rsh32, Neg32, Mod32, Smod32, Xor32, Mov32,
  Movsx32, Arsh32,
  // byte order
  Le16, Le32, Nop, Be16, Be32, Be64,
  Lddw,
  // loads, stores, atomics
  Ldxb, Ldxh, Ldxw, Ldxdw, Ldxsb, Ldxsh, Ldxsw,
  Stb, Sth, Stw, Stdw,
  Stxb, Stxh, Stxw, Stxdw,
  Atomic32, Atomic64,
  // control flow
  Ja,
  Jeq64, Jne64, Jgt64, Jge64, Jlt64, Jle64, Jsgt64, Jsge64, Jslt64, Jsle64, Jset64,
  Jeq32, Jne32, Jgt32, Jge32, Jlt32, Jle32, Jsgt32, Jsge32, Jslt32, Jsle32, Jset32,
  Call, Callx, CallLocal, Exit,
  Ldabs, Ldind,
}

// Atomic sub-operations (in `aux`); FETCH is or-ed in when the old value is written back.
const AT_ADD = 0;
const AT_OR = 1;
const AT_AND = 2;
const AT_XOR = 3;
const AT_XCHG = 4;
const AT_CMPXCHG = 5;
const AT_FETCH = 8;

const ALU_BASE: Readonly<Record<string, number>> = {
  add: 0, sub: 1, mul: 2, div: 3, sdiv: 4, or: 5, and: 6, lsh: 7, rsh: 8, neg: 9, mod: 10, smod: 11,
  xor: 12, mov: 13, movsx: 14, arsh: 15,
};
const JMP_BASE: Readonly<Record<string, number>> = {
  jeq: 0, jne: 1, jgt: 2, jge: 3, jlt: 4, jle: 5, jsgt: 6, jsge: 7, jslt: 8, jsle: 9, jset: 10,
};
const ATOMIC_SUB: Readonly<Record<string, number>> = {
  add: AT_ADD, or: AT_OR, and: AT_AND, xor: AT_XOR, xchg: AT_XCHG, cmpxchg: AT_CMPXCHG,
};

/** Register slots per call frame (r0-r10, padded to a power of two). */
const FRAME_REGS = 16;
/** Index of the low / high 32-bit half of a 64-bit register in a Uint32Array over the register file. */
const LO = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;

/**
 * The registers of every call frame, seen four ways over one buffer: 64-bit unsigned and signed,
 * and 32-bit halves unsigned and signed. Stores wrap (ToBigUint64, ToUint32...), which is exactly
 * the register width.
 */
interface RegisterFile {
  R: BigUint64Array;
  S: BigInt64Array;
  U: Uint32Array;
  I: Int32Array;
}

function registerFile(frames: number): RegisterFile {
  const buf = new ArrayBuffer(frames * FRAME_REGS * 8);
  return { R: new BigUint64Array(buf), S: new BigInt64Array(buf), U: new Uint32Array(buf), I: new Int32Array(buf) };
}

/** A static helper call site, resolved at load time. */
interface HelperSite {
  fn: HelperFn;
  signature: HelperSignature;
  generic: boolean;
}

/** The program in flat arrays indexed by instruction slot. */
interface FlatProgram {
  op: Uint8Array;
  dst: Uint8Array;
  src: Uint8Array;
  /** 1 if the second operand is the immediate. */
  isK: Uint8Array;
  /** imm (signed 32) of arithmetic, jumps and stores; helper id of calls. */
  imm: Int32Array;
  /** Memory offset, or absolute jump/call target. */
  off: Int32Array;
  /** Atomic sub-operation, movsx width. */
  aux: Uint8Array;
  /** The immediate sign-extended to 64 bits (as unsigned), or lddw's value. */
  k64: BigUint64Array;
  /** The same, signed (a view of the same buffer). */
  ks64: BigInt64Array;
  /** Static helper call sites. */
  helper: (HelperSite | undefined)[];
}

/** Mirrors the compiler's export names, so `programs` reads like a compiled module's manifest. */
function sanitizeExport(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

function checkedFault(pc: number, address: number): BpfRuntimeError {
  return new BpfRuntimeError(
    ErrorCode.MemoryFault,
    `access to address 0x${(address >>> 0).toString(16)} outside the stack and the input memory (checked mode)`,
    { insn: pc, address: address >>> 0 },
  );
}

function memoryFault(pc: number, address: number): BpfRuntimeError {
  return new BpfRuntimeError(ErrorCode.MemoryFault, 'memory access outside linear memory', { insn: pc, address });
}

function checkBudget(budget: number | undefined): number {
  if (budget === undefined) return Number.POSITIVE_INFINITY;
  if (!(Number.isInteger(budget) && budget >= 0) && budget !== Number.POSITIVE_INFINITY) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `budget ${String(budget)} is not a non-negative integer`);
  }
  return budget;
}

/** The interpreter engine (runtime/engine.ts): users get it wrapped in a `BpfInstance`. */
export class InterpreterEngine implements Engine {
  /** Programs run by the interpreter have no ELF object runtime (maps). */
  readonly object = undefined;
  /** The memory layout (the same a compiled module with these options has). */
  readonly layout: MemoryLayout;
  readonly memory: WebAssembly.Memory;
  readonly helpers: HelperRegistry;
  /** Default instruction budget per run (Infinity: unlimited). */
  readonly budget: number;
  private readonly entryList: readonly ProgramEntry[];
  private readonly entries = new Map<string, number>();
  private readonly code: FlatProgram;
  private buf: ArrayBuffer;
  private dv: DataView;
  /** Registers of every call depth (reused between runs). */
  private readonly registers: RegisterFile;
  /** Return addresses by call depth (reused between runs). */
  private readonly retPcs: Int32Array;
  // The compiled module's packet globals: set on entry, read by ldabs/ldind.
  private pktBase = 0;
  private pktLen = 0;
  /** Checked memory mode, and the end of the range it allows in the current run. */
  readonly checked: boolean;
  private checkEnd = 0;

  /** @internal use `interpret()`. */
  constructor(
    code: FlatProgram,
    layout: MemoryLayout,
    programs: ProgramEntry[],
    helpers: HelperRegistry,
    budget: number,
    checked = false,
  ) {
    this.checked = checked;
    this.code = code;
    this.layout = layout;
    this.entryList = programs;
    for (const p of programs) this.entries.set(p.name, p.insn);
    this.helpers = helpers;
    this.budget = budget;
    this.registers = registerFile(layout.maxCallDepth + 1);
    this.retPcs = new Int32Array(layout.maxCallDepth + 1);
    this.memory = new WebAssembly.Memory({ initial: layout.initialPages, maximum: layout.maximumPages });
    this.buf = this.memory.buffer;
    this.dv = new DataView(this.buf);
  }

  /** The programs (entry points). */
  get programs(): readonly ProgramEntry[] {
    return this.entryList;
  }

  /** Where input memory is placed (r1 points here). */
  get dataAddress(): number {
    return this.layout.dataBase;
  }

  bind(program: string): BoundEntry {
    const pc = this.entry(program);
    return (r1, r2) => this.run(pc, r1, r2);
  }

  invoke(program: string, r1: number, r2: number): number {
    return this.run(this.entry(program), r1, r2);
  }

  /** The full r0 of the last run. */
  lastResult(): bigint {
    return new DataView(this.memory.buffer).getBigUint64(RESULT_ADDR, true);
  }

  private entry(name: string): number {
    const pc = this.entries.get(name);
    if (pc === undefined) {
      throw unknownProgram(name, this.entryList);
    }
    return pc;
  }

  ensureData(len: number): void {
    ensureRoom(this.memory, this.dataAddress, len);
  }

  /** The compiled entry wrapper: r1, r2 arrive as i32; the result is stored at RESULT_ADDR. */
  private run(pc: number, r1: number, r2: number): number {
    // Re-entry is refused by the API layer (runtime/program.ts): one run at a time.
    const r0 = this.execute(pc, r1 | 0, r2 | 0, this.budget, this.registers, this.retPcs);
    this.refreshMemory();
    this.dv.setBigUint64(RESULT_ADDR, r0, true);
    return Number(BigInt.asIntN(32, r0));
  }

  private refreshMemory(): void {
    if (this.memory.buffer !== this.buf) {
      this.buf = this.memory.buffer;
      this.dv = new DataView(this.buf);
    }
  }

  /** Runs from the entry at `entryPc` and returns its r0 (unsigned 64-bit). */
  /**
   * Checked mode (the compiled code's rule): the 64-bit address `hi:lo + off` must lie in
   * [arenaBase or stackBase, checkEnd - size]; returns it. An access through r10 inside its own frame is always
   * allowed.
   */
  private checkAccess(hi: number, lo: number, off: number, size: number, pc: number, viaR10: boolean): number {
    if (viaR10 && off >= -this.layout.frameSize && off + size <= 0) return lo + off;
    let a = lo + off;
    let h = hi;
    if (a < 0) {
      a += 2 ** 32;
      h = (h - 1) >>> 0;
    } else if (a >= 2 ** 32) {
      a -= 2 ** 32;
      h = (h + 1) >>> 0;
    }
    if (h !== 0 || a < (this.layout.arenaBase ?? this.layout.stackBase) || a + size > this.checkEnd) throw checkedFault(pc, a);
    // The access goes to the checked 64-bit address (wrapped, as the compiled code computes it).
    return a;
  }

  private execute(entryPc: number, r1: number, r2: number, budget: number, rf: RegisterFile, retPc: Int32Array): bigint {
    const { op: ops, dst: dsts, src: srcs, isK, imm: imms, off: offs, aux: auxs, k64: K, ks64: KS, helper: sites } = this.code;
    const { frameSize, stackBase, stackTop, maxCallDepth } = this.layout;
    const { R, S, U, I } = rf;
    const minCallerFp = stackBase + 2 * frameSize;
    this.pktBase = r1;
    this.pktLen = r2;
    this.checkEnd = r1 >>> 0 === this.layout.dataBase ? this.layout.dataBase + (r2 >>> 0) : this.layout.dataBase;
    this.refreshMemory();
    let dv = this.dv;
    let memSize = dv.byteLength;

    // Register r of the current function is R[f + r] (S: the same, signed); its low half is
    // U[((f + r) << 1) | LO] (I: signed), its high half U[((f + r) << 1) | HI].
    let f = 0;
    let depth = 0;
    let fp = stackTop;
    R.fill(0n, 0, FRAME_REGS);
    R[1] = BigInt(r1 >>> 0);
    R[2] = BigInt(r2 >>> 0);
    R[10] = BigInt(fp);
    let remaining = budget;
    let pc = entryPc;

    for (;;) {
      if (--remaining < 0) {
        throw new BpfRuntimeError(E_BUDGET, `the program exceeded its budget of ${budget} instructions`, { insn: pc });
      }
      const di = f + dsts[pc]!;
      switch (ops[pc]) {
        // ---------------------------------------------------------------- 64-bit arithmetic
        // Typed-array stores wrap to 64 bits (ToBigUint64 / ToBigInt64); asUintN says so explicitly.
        case Op.Add64:
          R[di] = BigInt.asUintN(64, R[di]! + (isK[pc] ? K[pc]! : R[f + srcs[pc]!]!));
          break;
        case Op.Sub64:
          R[di] = BigInt.asUintN(64, R[di]! - (isK[pc] ? K[pc]! : R[f + srcs[pc]!]!));
          break;
        case Op.Mul64:
          R[di] = BigInt.asUintN(64, R[di]! * (isK[pc] ? K[pc]! : R[f + srcs[pc]!]!));
          break;
        case Op.Div64: {
          const b = isK[pc] ? K[pc]! : R[f + srcs[pc]!]!;
          R[di] = b === 0n ? 0n : R[di]! / b;
          break;
        }
        case Op.Sdiv64: {
          const b = isK[pc] ? KS[pc]! : S[f + srcs[pc]!]!;
          // x / -1 is -x, so INT64_MIN / -1 wraps to INT64_MIN; bigint division truncates, as Wasm's div_s.
          R[di] = BigInt.asUintN(64, b === 0n ? 0n : b === -1n ? -S[di]! : S[di]! / b);
          break;
        }
        case Op.Mod64: {
          const b = isK[pc] ? K[pc]! : R[f + srcs[pc]!]!;
          if (b !== 0n) R[di] = R[di]! % b;
          break;
        }
        case Op.Smod64: {
          const b = isK[pc] ? KS[pc]! : S[f + srcs[pc]!]!;
          // The sign follows the dividend (bigint % truncates, as Wasm's rem_s); INT64_MIN % -1 is 0.
          if (b !== 0n) R[di] = BigInt.asUintN(64, S[di]! % b);
          break;
        }
        case Op.Or64:
          R[di] = R[di]! | (isK[pc] ? K[pc]! : R[f + srcs[pc]!]!);
          break;
        case Op.And64:
          R[di] = R[di]! & (isK[pc] ? K[pc]! : R[f + srcs[pc]!]!);
          break;
        case Op.Xor64:
          R[di] = R[di]! ^ (isK[pc] ? K[pc]! : R[f + srcs[pc]!]!);
          break;
        case Op.Lsh64:
          R[di] = BigInt.asUintN(64, R[di]! << ((isK[pc] ? K[pc]! : R[f + srcs[pc]!]!) & 63n));
          break;
        case Op.Rsh64:
          R[di] = R[di]! >> ((isK[pc] ? K[pc]! : R[f + srcs[pc]!]!) & 63n);
          break;
        case Op.Arsh64:
          R[di] = BigInt.asUintN(64, S[di]! >> ((isK[pc] ? K[pc]! : R[f + srcs[pc]!]!) & 63n));
          break;
        case Op.Neg64:
          R[di] = BigInt.asUintN(64, -R[di]!);
          break;
        case Op.Mov64:
          R[di] = isK[pc] ? K[pc]! : R[f + srcs[pc]!]!;
          break;
        case Op.Movsx64: {
          const si = ((f + srcs[pc]!) << 1) | LO;
          const bits = auxs[pc];
          const v = bits === 8 ? (U[si]! << 24) >> 24 : bits === 16 ? (U[si]! << 16) >> 16 : I[si]!;
          I[(di << 1) | LO] = v;
          I[(di << 1) | HI] = v >> 31;
          break;
        }

        // ---------------------------------------------------------------- 32-bit arithmetic
        case Op.Add32:
        case Op.Sub32:
        case Op.Mul32:
        case Op.Div32:
        case Op.Sdiv32:
        case Op.Or32:
        case Op.And32:
        case Op.Lsh32:
        case Op.Rsh32:
        case Op.Neg32:
        case Op.Mod32:
        case Op.Smod32:
        case Op.Xor32:
        case Op.Mov32:
        case Op.Movsx32:
        case Op.Arsh32: {
          // The low halves as unsigned numbers.
          const lo = (di << 1) | LO;
          const a = U[lo]!;
          const b = isK[pc] ? imms[pc]! >>> 0 : U[((f + srcs[pc]!) << 1) | LO]!;
          let v: number;
          switch (ops[pc]) {
            case Op.Add32: v = a + b; break;
            case Op.Sub32: v = a - b; break;
            case Op.Mul32: v = Math.imul(a, b); break;
            case Op.Div32: v = b === 0 ? 0 : Math.trunc(a / b); break;
            case Op.Sdiv32: {
              // x / -1 is -x (INT32_MIN / -1 wraps to INT32_MIN).
              const sb = b | 0;
              v = sb === 0 ? 0 : sb === -1 ? -a : Math.trunc((a | 0) / sb);
              break;
            }
            case Op.Or32: v = a | b; break;
            case Op.And32: v = a & b; break;
            case Op.Xor32: v = a ^ b; break;
            case Op.Lsh32: v = a << (b & 31); break;
            case Op.Rsh32: v = a >>> (b & 31); break;
            case Op.Arsh32: v = (a | 0) >> (b & 31); break;
            case Op.Neg32: v = -a; break;
            case Op.Mod32: v = b === 0 ? a : a % b; break;
            // The sign follows the dividend (as JS %); INT32_MIN % -1 is -0, stored as 0.
            case Op.Smod32: v = b === 0 ? a : (a | 0) % (b | 0); break;
            case Op.Mov32: v = b; break;
            default: // Movsx32
              v = auxs[pc] === 8 ? (b << 24) >> 24 : (b << 16) >> 16;
              break;
          }
          // A Uint32Array store wraps the (integral) result modulo 2^32; the upper half is zeroed.
          U[lo] = v;
          U[(di << 1) | HI] = 0;
          break;
        }

        // ---------------------------------------------------------------- byte order
        case Op.Le16:
          U[(di << 1) | LO] = U[(di << 1) | LO]! & 0xffff;
          U[(di << 1) | HI] = 0;
          break;
        case Op.Le32:
          U[(di << 1) | HI] = 0;
          break;
        case Op.Nop:
          break;
        case Op.Be16: {
          const x = U[(di << 1) | LO]!;
          U[(di << 1) | LO] = ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
          U[(di << 1) | HI] = 0;
          break;
        }
        case Op.Be32:
          U[(di << 1) | LO] = bswap32(U[(di << 1) | LO]!);
          U[(di << 1) | HI] = 0;
          break;
        case Op.Be64: {
          const lo = U[(di << 1) | LO]!;
          U[(di << 1) | LO] = bswap32(U[(di << 1) | HI]!);
          U[(di << 1) | HI] = bswap32(lo);
          break;
        }

        case Op.Lddw:
          R[di] = K[pc]!;
          pc += 2;
          continue;

        // ---------------------------------------------------------------- memory
        case Op.Ldxb:
        case Op.Ldxh:
        case Op.Ldxw:
        case Op.Ldxdw:
        case Op.Ldxsb:
        case Op.Ldxsh:
        case Op.Ldxsw: {
          // The address is the base register's low half; a negative offset wraps in 32 bits.
          const base = U[((f + srcs[pc]!) << 1) | LO]!;
          const o = offs[pc]!;
          let addr = o >= 0 ? base + o : (base + o) >>> 0;
          const op = ops[pc];
          const size = op === Op.Ldxb || op === Op.Ldxsb ? 1 : op === Op.Ldxh || op === Op.Ldxsh ? 2 : op === Op.Ldxdw ? 8 : 4;
          if (this.checked) addr = this.checkAccess(U[((f + srcs[pc]!) << 1) | HI]!, base, o, size, pc, srcs[pc]! === 10);
          if (addr + size > memSize) throw memoryFault(pc, addr);
          if (op === Op.Ldxdw) {
            R[di] = dv.getBigUint64(addr, true);
            break;
          }
          let v: number;
          switch (op) {
            case Op.Ldxb: v = dv.getUint8(addr); break;
            case Op.Ldxh: v = dv.getUint16(addr, true); break;
            case Op.Ldxw: v = dv.getUint32(addr, true); break;
            case Op.Ldxsb: v = dv.getInt8(addr); break;
            case Op.Ldxsh: v = dv.getInt16(addr, true); break;
            default: v = dv.getInt32(addr, true); break;
          }
          // Zero- or sign-extended (v < 0 only for the signed loads).
          I[(di << 1) | LO] = v;
          I[(di << 1) | HI] = v < 0 ? -1 : 0;
          break;
        }
        case Op.Stb:
        case Op.Sth:
        case Op.Stw:
        case Op.Stdw:
        case Op.Stxb:
        case Op.Stxh:
        case Op.Stxw:
        case Op.Stxdw: {
          const base = U[(di << 1) | LO]!;
          const o = offs[pc]!;
          let addr = o >= 0 ? base + o : (base + o) >>> 0;
          const op = ops[pc];
          const size = op === Op.Stb || op === Op.Stxb ? 1 : op === Op.Sth || op === Op.Stxh ? 2 : op === Op.Stdw || op === Op.Stxdw ? 8 : 4;
          if (this.checked) addr = this.checkAccess(U[(di << 1) | HI]!, base, o, size, pc, di - f === 10);
          if (addr + size > memSize) throw memoryFault(pc, addr);
          const sl = ((f + srcs[pc]!) << 1) | LO;
          // The setters truncate to the access size.
          switch (op) {
            case Op.Stb: dv.setUint8(addr, imms[pc]! & 0xff); break;
            case Op.Sth: dv.setUint16(addr, imms[pc]! & 0xffff, true); break;
            case Op.Stw: dv.setInt32(addr, imms[pc]!, true); break;
            case Op.Stdw: dv.setBigUint64(addr, K[pc]!, true); break;
            case Op.Stxb: dv.setUint8(addr, U[sl]! & 0xff); break;
            case Op.Stxh: dv.setUint16(addr, U[sl]! & 0xffff, true); break;
            case Op.Stxw: dv.setUint32(addr, U[sl]!, true); break;
            default: dv.setBigUint64(addr, R[f + srcs[pc]!]!, true); break;
          }
          break;
        }
        case Op.Atomic32: {
          // A plain read-modify-write, as the compiled code does it (one thread, no alignment rule).
          const base = U[(di << 1) | LO]!;
          const o = offs[pc]!;
          let addr = o >= 0 ? base + o : (base + o) >>> 0;
          if (this.checked) addr = this.checkAccess(U[(di << 1) | HI]!, base, o, 4, pc, di - f === 10);
          if (addr + 4 > memSize) throw memoryFault(pc, addr);
          const old = dv.getUint32(addr, true);
          const si = f + srcs[pc]!;
          const s = U[(si << 1) | LO]!;
          const sub = auxs[pc]!;
          switch (sub & 7) {
            case AT_ADD: dv.setUint32(addr, (old + s) >>> 0, true); break;
            case AT_OR: dv.setUint32(addr, (old | s) >>> 0, true); break;
            case AT_AND: dv.setUint32(addr, (old & s) >>> 0, true); break;
            case AT_XOR: dv.setUint32(addr, (old ^ s) >>> 0, true); break;
            case AT_XCHG: dv.setUint32(addr, s, true); break;
            default: // cmpxchg: compares r0's low half; the old value goes to r0
              if (old === U[(f << 1) | LO]) dv.setUint32(addr, s, true);
              break;
          }
          // The old value, zero-extended, to r0 (cmpxchg) or to src (fetch).
          const to = (sub & 7) === AT_CMPXCHG ? f : sub & AT_FETCH ? si : -1;
          if (to >= 0) {
            U[(to << 1) | LO] = old;
            U[(to << 1) | HI] = 0;
          }
          break;
        }
        case Op.Atomic64: {
          const base = U[(di << 1) | LO]!;
          const o = offs[pc]!;
          let addr = o >= 0 ? base + o : (base + o) >>> 0;
          if (this.checked) addr = this.checkAccess(U[(di << 1) | HI]!, base, o, 8, pc, di - f === 10);
          if (addr + 8 > memSize) throw memoryFault(pc, addr);
          const old = dv.getBigUint64(addr, true);
          const si = f + srcs[pc]!;
          const s = R[si]!;
          const sub = auxs[pc]!;
          switch (sub & 7) {
            case AT_ADD: dv.setBigUint64(addr, BigInt.asUintN(64, old + s), true); break;
            case AT_OR: dv.setBigUint64(addr, old | s, true); break;
            case AT_AND: dv.setBigUint64(addr, old & s, true); break;
            case AT_XOR: dv.setBigUint64(addr, old ^ s, true); break;
            case AT_XCHG: dv.setBigUint64(addr, s, true); break;
            default:
              if (old === R[f]) dv.setBigUint64(addr, s, true);
              break;
          }
          if ((sub & 7) === AT_CMPXCHG) R[f] = old;
          else if (sub & AT_FETCH) R[si] = old;
          break;
        }

        // ---------------------------------------------------------------- jumps
        case Op.Ja:
          pc = offs[pc]!;
          continue;
        case Op.Jeq64:
        case Op.Jne64:
        case Op.Jgt64:
        case Op.Jge64:
        case Op.Jlt64:
        case Op.Jle64:
        case Op.Jset64: {
          const a = R[di]!;
          const b = isK[pc] ? K[pc]! : R[f + srcs[pc]!]!;
          let taken: boolean;
          switch (ops[pc]) {
            case Op.Jeq64: taken = a === b; break;
            case Op.Jne64: taken = a !== b; break;
            case Op.Jgt64: taken = a > b; break;
            case Op.Jge64: taken = a >= b; break;
            case Op.Jlt64: taken = a < b; break;
            case Op.Jle64: taken = a <= b; break;
            default: taken = (a & b) !== 0n; break;
          }
          pc = taken ? offs[pc]! : pc + 1;
          continue;
        }
        case Op.Jsgt64:
        case Op.Jsge64:
        case Op.Jslt64:
        case Op.Jsle64: {
          const a = S[di]!;
          const b = isK[pc] ? KS[pc]! : S[f + srcs[pc]!]!;
          let taken: boolean;
          switch (ops[pc]) {
            case Op.Jsgt64: taken = a > b; break;
            case Op.Jsge64: taken = a >= b; break;
            case Op.Jslt64: taken = a < b; break;
            default: taken = a <= b; break;
          }
          pc = taken ? offs[pc]! : pc + 1;
          continue;
        }
        case Op.Jeq32:
        case Op.Jne32:
        case Op.Jgt32:
        case Op.Jge32:
        case Op.Jlt32:
        case Op.Jle32:
        case Op.Jsgt32:
        case Op.Jsge32:
        case Op.Jslt32:
        case Op.Jsle32:
        case Op.Jset32: {
          const a = U[(di << 1) | LO]!;
          const b = isK[pc] ? imms[pc]! >>> 0 : U[((f + srcs[pc]!) << 1) | LO]!;
          let taken: boolean;
          switch (ops[pc]) {
            case Op.Jeq32: taken = a === b; break;
            case Op.Jne32: taken = a !== b; break;
            case Op.Jgt32: taken = a > b; break;
            case Op.Jge32: taken = a >= b; break;
            case Op.Jlt32: taken = a < b; break;
            case Op.Jle32: taken = a <= b; break;
            case Op.Jsgt32: taken = (a | 0) > (b | 0); break;
            case Op.Jsge32: taken = (a | 0) >= (b | 0); break;
            case Op.Jslt32: taken = (a | 0) < (b | 0); break;
            case Op.Jsle32: taken = (a | 0) <= (b | 0); break;
            default: taken = (a & b) !== 0; break;
          }
          pc = taken ? offs[pc]! : pc + 1;
          continue;
        }

        // ---------------------------------------------------------------- calls
        case Op.Call: {
          const site = sites[pc]!;
          try {
            let r: unknown;
            if (site.generic) {
              // As Wasm passes i64 to JS: signed bigints.
              const fn = site.fn;
              r = fn(S[f + 1]!, S[f + 2]!, S[f + 3]!, S[f + 4]!, S[f + 5]!);
            } else {
              r = callStatic(site, S, I, f);
            }
            R[f] = helperResult(site.signature, r);
          } catch (e) {
            throw runtimeErrorOf(e, { insn: pc });
          }
          if (this.memory.buffer !== this.buf) {
            this.refreshMemory();
            dv = this.dv;
            memSize = dv.byteLength;
          }
          break;
        }
        case Op.Callx: {
          // The helper id is the register's low half, an i32 as the compiled code passes it.
          const id = I[(di << 1) | LO]!;
          const def = this.helpers.get(id);
          if (!def) {
            throw new BpfRuntimeError(ErrorCode.UnknownHelper, `callx to helper ${id}, which the host does not provide`, {
              insn: pc, helper: String(id),
            });
          }
          try {
            R[f] = callWithRegisters(def, [R[f + 1]!, R[f + 2]!, R[f + 3]!, R[f + 4]!, R[f + 5]!]);
          } catch (e) {
            throw runtimeErrorOf(e, { insn: pc });
          }
          if (this.memory.buffer !== this.buf) {
            this.refreshMemory();
            dv = this.dv;
            memSize = dv.byteLength;
          }
          break;
        }
        case Op.CallLocal: {
          // The callee's frame is below ours; refuse the call if it would not fit in the stack.
          if (fp < minCallerFp) {
            throw new BpfRuntimeError(ErrorCode.CallDepth, `bpf-to-bpf call depth exceeds ${maxCallDepth} frames`, { insn: pc });
          }
          const nf = f + FRAME_REGS;
          R[nf] = 0n;
          R.copyWithin(nf + 1, f + 1, f + 6);
          R.fill(0n, nf + 6, nf + 10);
          fp -= frameSize;
          R[nf + 10] = BigInt(fp);
          retPc[depth++] = pc + 1;
          f = nf;
          pc = offs[pc]!;
          continue;
        }
        case Op.Exit: {
          if (depth === 0) return R[0]!;
          const r0 = R[f]!;
          depth--;
          f -= FRAME_REGS;
          R[f] = r0;
          fp += frameSize;
          pc = retPc[depth]!;
          continue;
        }
        case Op.Ldabs:
        case Op.Ldind: {
          const size = auxs[pc]!;
          const o = ops[pc] === Op.Ldind ? (U[((f + srcs[pc]!) << 1) | LO]! + imms[pc]!) | 0 : imms[pc]!;
          if (o < 0 || o + size > this.pktLen >>> 0) {
            // Outside the packet: the current function returns 0.
            if (depth === 0) return 0n;
            depth--;
            f -= FRAME_REGS;
            R[f] = 0n;
            fp += frameSize;
            pc = retPc[depth]!;
            continue;
          }
          const addr = (this.pktBase + o) >>> 0;
          if (addr + size > memSize) throw memoryFault(pc, addr);
          // Network byte order: a big-endian read, zero-extended into r0.
          U[(f << 1) | LO] = size === 1 ? dv.getUint8(addr) : size === 2 ? dv.getUint16(addr) : dv.getUint32(addr);
          U[(f << 1) | HI] = 0;
          break;
        }
        default:
          throw new InternalError(ErrorCode.Internal, `the interpreter reached an instruction it did not prepare (a bpf2wasm bug)`, {
            insn: pc,
          });
      }
      pc++;
    }
  }
}

/** Calls a helper with a declared signature, converting arguments as the Wasm boundary does. */
function callStatic(site: HelperSite, S: BigInt64Array, I: Int32Array, f: number): unknown {
  const kinds = site.signature.args;
  const args: unknown[] = new Array(kinds.length);
  for (let i = 0; i < kinds.length; i++) {
    // Arguments come from r1, r2, ...; past r10 there are no registers.
    const r = i + 1;
    if (kinds[i] === 'i32') args[i] = r <= 10 ? I[((f + r) << 1) | LO]! : 0;
    else args[i] = r <= 10 ? S[f + r]! : 0n;
  }
  const fn = site.fn;
  return fn(...args);
}

/** Fills the flat arrays for one instruction. */
function flatten(insn: Insn, f: FlatProgram): void {
  const pc = insn.pc;
  switch (insn.kind) {
    case 'alu': {
      const base = insn.width === 64 ? Op.Add64 : Op.Add32;
      f.op[pc] = base + ALU_BASE[insn.op]!;
      f.dst[pc] = insn.dst;
      if (insn.src === null) {
        f.isK[pc] = 1;
        f.imm[pc] = insn.imm;
        f.k64[pc] = BigInt(insn.imm);
      } else {
        f.src[pc] = insn.src;
      }
      f.aux[pc] = insn.sxBits;
      return;
    }
    case 'end':
      f.dst[pc] = insn.dst;
      if (insn.op === 'le') f.op[pc] = insn.bits === 16 ? Op.Le16 : insn.bits === 32 ? Op.Le32 : Op.Nop;
      else f.op[pc] = insn.bits === 16 ? Op.Be16 : insn.bits === 32 ? Op.Be32 : Op.Be64;
      return;
    case 'lddw':
      // k64 is filled by the caller (a pseudo source needs resolving).
      f.op[pc] = Op.Lddw;
      f.dst[pc] = insn.dst;
      return;
    case 'ldx': {
      const ops = insn.signed ? [0, Op.Ldxsb, Op.Ldxsh, 0, Op.Ldxsw] : [0, Op.Ldxb, Op.Ldxh, 0, Op.Ldxw];
      f.op[pc] = insn.size === 8 ? Op.Ldxdw : ops[insn.size]!;
      f.dst[pc] = insn.dst;
      f.src[pc] = insn.src;
      f.off[pc] = insn.off;
      return;
    }
    case 'st':
      f.op[pc] = insn.size === 1 ? Op.Stb : insn.size === 2 ? Op.Sth : insn.size === 4 ? Op.Stw : Op.Stdw;
      f.dst[pc] = insn.dst;
      f.off[pc] = insn.off;
      f.imm[pc] = insn.imm;
      f.k64[pc] = BigInt(insn.imm);
      return;
    case 'stx':
      f.op[pc] = insn.size === 1 ? Op.Stxb : insn.size === 2 ? Op.Stxh : insn.size === 4 ? Op.Stxw : Op.Stxdw;
      f.dst[pc] = insn.dst;
      f.src[pc] = insn.src;
      f.off[pc] = insn.off;
      return;
    case 'atomic':
      f.op[pc] = insn.size === 8 ? Op.Atomic64 : Op.Atomic32;
      f.dst[pc] = insn.dst;
      f.src[pc] = insn.src;
      f.off[pc] = insn.off;
      f.aux[pc] = ATOMIC_SUB[insn.op]! | (insn.fetch ? AT_FETCH : 0);
      return;
    case 'ja':
      f.op[pc] = Op.Ja;
      f.off[pc] = insn.target;
      return;
    case 'jcond':
      f.op[pc] = (insn.width === 64 ? Op.Jeq64 : Op.Jeq32) + JMP_BASE[insn.op]!;
      f.dst[pc] = insn.dst;
      f.off[pc] = insn.target;
      if (insn.src === null) {
        f.isK[pc] = 1;
        f.imm[pc] = insn.imm;
        f.k64[pc] = BigInt(insn.imm);
      } else {
        f.src[pc] = insn.src;
      }
      return;
    case 'call':
      f.op[pc] = Op.Call;
      f.imm[pc] = insn.helper;
      return;
    case 'callx':
      f.op[pc] = Op.Callx;
      f.dst[pc] = insn.reg;
      return;
    case 'call_local':
      f.op[pc] = Op.CallLocal;
      f.off[pc] = insn.target;
      return;
    case 'exit':
      f.op[pc] = Op.Exit;
      return;
    case 'ldabs':
    case 'ldind':
      f.op[pc] = insn.kind === 'ldabs' ? Op.Ldabs : Op.Ldind;
      f.src[pc] = insn.src;
      f.imm[pc] = insn.imm;
      f.aux[pc] = insn.size;
      return;
    case 'kfunc':
      // Rejected at load time when reachable; never executed otherwise.
      f.op[pc] = Op.Invalid;
      return;
  }
}

/**
 * Loads a program for the interpreter: decodes bytes (or takes a decoded program), runs the
 * compiler's load-time checks with the same errors, and resolves the helpers it calls. Synchronous;
 * needs no WebAssembly compilation.
 *
 * Throws CompileError for programs the compiler rejects (same code and instruction), and
 * BpfRuntimeError E_UNKNOWN_HELPER for a helper the program calls that the host lacks (as
 * `instantiate` does).
 */
export function interpret(bytecode: Uint8Array | Program, options: InterpretOptions = {}): BpfInstance {
  const program = bytecode instanceof Uint8Array
    ? decodeProgram(bytecode, { maxInsns: options.maxInsns ?? MAX_INSNS })
    : bytecode;
  const maxCallDepth = options.maxCallDepth ?? DEFAULT_MAX_CALL_DEPTH;
  const frameSize = options.frameSize ?? DEFAULT_FRAME_SIZE;
  checkStackOptions(maxCallDepth, frameSize);
  const layout = computeLayout(maxCallDepth, frameSize);
  const entries: InterpreterEntry[] = options.entries ? [...options.entries] : [{ name: 'main', pc: 0, type: 'raw' }];
  if (entries.length === 0) throw new CompileError(ErrorCode.BadArgument, 'no program entry points given');
  const budget = checkBudget(options.budget);
  // The compiler's own control-flow checks, so both engines reject a program with the same error.
  const { functions } = buildCfg(program, entries.map((e) => e.pc));
  const reachable = new Uint8Array(program.insns.length);
  for (const fn of functions) for (const b of fn.blocks) reachable.fill(1, b.first, b.last + 1);

  const n = program.slotCount;
  const k64 = new BigUint64Array(n);
  const flat: FlatProgram = {
    op: new Uint8Array(n),
    dst: new Uint8Array(n),
    src: new Uint8Array(n),
    isK: new Uint8Array(n),
    imm: new Int32Array(n),
    off: new Int32Array(n),
    aux: new Uint8Array(n),
    k64,
    ks64: new BigInt64Array(k64.buffer),
    helper: new Array<HelperSite | undefined>(n).fill(undefined),
  };
  for (const insn of program.insns) flatten(insn, flat);

  // What code generation would reject, in its order (functions by start, then instructions; the
  // compiler goes through a function's blocks in structured order, which can differ when one
  // function has several such instructions).
  const calledHelpers: number[] = [];
  const calledSet = new Set<number>();
  const { insns, slotToInsn, slotCount } = program;
  for (const fn of functions) {
    const first = slotToInsn[fn.startPc]!;
    const end = fn.endPc >= slotCount ? insns.length : slotToInsn[fn.endPc]!;
    for (let i = first; i < end; i++) {
      if (!reachable[i]) continue;
      const insn = insns[i]!;
      if (insn.kind === 'kfunc') {
        throw new CompileError(
          ErrorCode.Unsupported,
          `kfunc call (BTF id ${insn.btfId}) needs the host to provide the function; kfuncs are not supported yet`,
          { insn: insn.pc },
        );
      }
      if (insn.kind === 'lddw') {
        flat.k64[insn.pc] = insn.src === 0 ? insn.value : resolveLddw(insn, options.resolveLddw);
      } else if (insn.kind === 'call' && !calledSet.has(insn.helper)) {
        calledSet.add(insn.helper);
        calledHelpers.push(insn.helper);
      }
    }
  }

  const helpers = options.helpers instanceof HelperRegistry ? options.helpers : new HelperRegistry(options.helpers ?? []);
  const sites = new Map<number, HelperSite>();
  for (const id of calledHelpers) {
    const name = `helper_${id}`;
    const def = helpers.get(id) ?? helpers.getByName(name);
    if (!def) {
      throw new BpfRuntimeError(
        ErrorCode.UnknownHelper,
        `the program calls helper ${name} (id ${id}), which the host does not provide`,
        { helper: name },
      );
    }
    const signature = def.signature ?? GENERIC_HELPER_SIGNATURE;
    const generic = signature.result === 'i64' && signature.args.length === 5 && signature.args.every((k) => k === 'i64');
    sites.set(id, { fn: def.fn, signature, generic });
  }
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i]!;
    if (reachable[i] && insn.kind === 'call') flat.helper[insn.pc] = sites.get(insn.helper);
  }

  const usedNames = new Set<string>();
  const programs: ProgramEntry[] = entries.map((e) => {
    let exportName = sanitizeExport(e.name) || 'prog';
    while (usedNames.has(exportName)) exportName += '_';
    usedNames.add(exportName);
    const type = e.type ?? 'raw';
    const entry: ProgramEntry = { name: e.name, exportName, insn: e.pc, type, context: contextKindOf(type) };
    if (e.section !== undefined) entry.section = e.section;
    return entry;
  });
  return new BpfInstance(new InterpreterEngine(flat, layout, programs, helpers, budget, options.checked === true));
}

function resolveLddw(insn: LddwInsn, resolve: ((insn: LddwInsn) => bigint) | undefined): bigint {
  if (!resolve) {
    throw new CompileError(
      ErrorCode.Unsupported,
      `lddw with source ${insn.src} (a map or variable reference) needs an ELF object with maps; raw bytecode cannot resolve it`,
      { insn: insn.pc },
    );
  }
  try {
    return BigInt.asUintN(64, BigInt(resolve(insn)));
  } catch (e) {
    if (e instanceof Bpf2WasmError) throw e;
    throw new InternalError(ErrorCode.Internal, `code generation failed: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
  }
}
