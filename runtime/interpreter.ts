/**
 * The reference interpreter: runs eBPF bytecode directly, with exactly the semantics of the
 * compiled code (compiler/emit.ts) and the same runtime (memory layout, helpers, errors).
 *
 * It is the oracle the compiler is tested against, and the engine for hosts that cannot compile
 * WebAssembly at run time (Cloudflare Workers): it needs a `WebAssembly.Memory`, never a module
 * of its own. `interpret` runs raw bytecode; `interpretModule` runs an ELF object planned as the
 * compiler plans it (compiler/object.ts `planObject`): its manifest, maps (the precompiled maps
 * module, instantiated on the interpreter's memory and called from the helper dispatch), the
 * compiler's call-site fixups (inline tail calls, inline array lookups) and callbacks, which run
 * in the frame below their helper's caller with registers of that depth, as compiled code's
 * callback wrappers do. What the two engines must agree on (fault errors, helper binding, entry
 * points, helper result conversion) lives in runtime/engine.ts and runtime/helpers.ts.
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
  CORE_POISON_HELPER, DEFAULT_FRAME_SIZE, DEFAULT_MAX_CALL_DEPTH, FaultCode, GENERIC_HELPER_SIGNATURE, RESULT_ADDR,
  type HelperSignature, type Manifest, type MemoryLayout, type ProgramEntry,
} from './abi.js';
import { Bpf2WasmError, BpfRuntimeError, CompileError, ErrorCode, InternalError } from './errors.js';
import { callWithRegisters, helperResult, HelperRegistry, type HelperDefinition, type HelperFn } from './helper-registry.js';
import {
  allocateMemory, bindHelpers, checkObjectOnlyOptions, faultError, linearMemoryFault, programEntries, runtimeErrorOf,
  type BoundEntry, type Engine,
} from './engine.js';
import type { InstantiateOptions } from './instance.js';
import { buildCfg, LDDW_PSEUDO_FUNC, pseudoFuncTarget, type FunctionCfg } from './isa/cfg.js';
import { D_MAX_ENTRIES, D_TYPE, D_VALUES, DESC_SIZE } from './maps/descriptor.js';
import { SKF_LL_OFF, SKF_NET_OFF, SkBuff, SkbPrivate } from './packet/layout.js';
import { withSourceLine, type SourceLine } from './source-lines.js';
import type { ObjectRuntime } from './object.js';
import { createObject } from './object-loader.js';
import { ensureRoom, unknownProgram } from './memory.js';
import { decodeProgram } from './isa/decode.js';
import type { Insn, LddwInsn, Program } from './isa/insn.js';
import { MAX_INSNS } from './isa/opcodes.js';
import { checkStackOptions, computeLayout } from './memory-layout.js';
import { BpfInstance } from './program.js';
import { Errno, MapType, MAX_TAIL_CALL_CNT } from './uapi/index.js';

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
  // call sites rewritten as the compiler rewrites them (objects): inline tail call, array lookup
  TailCall, ArrayLookup,
  /** A poisoned instruction (libbpf's `call 0xbad2310`, an unresolved CO-RE relocation): E_CORE_RELO. */
  Poison,
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
  /** Inline array lookups by call site. */
  arrays: Map<number, ArrayLookupSite>;
}

/** What the compiler turns a helper call site into (its CallFixup): the interpreter does the same. */
export type CallSiteRewrite = { kind: 'tail_call' } | { kind: 'array_lookup'; map: ArrayLookupSite };

/** A `bpf_map_lookup_elem` on a constant array map, inlined (the compiler's ArrayMapInfo). */
export interface ArrayLookupSite {
  values: number;
  stride: number;
  maxEntries: number;
}



function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

function checkBudget(budget: number | undefined): number {
  if (budget === undefined) return Number.POSITIVE_INFINITY;
  if (!(Number.isInteger(budget) && budget >= 0) && budget !== Number.POSITIVE_INFINITY) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `budget ${String(budget)} is not a non-negative integer`);
  }
  return budget;
}

/** A callback as the compiled module exports it: `(r1..r5: i64) -> i64`. */
type CallbackFn = (r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint) => bigint;

/** What an interpreter engine runs: the flat program and what the compiled module's wrappers know. */
interface EngineSetup {
  code: FlatProgram;
  layout: MemoryLayout;
  programs: ProgramEntry[];
  helpers: HelperRegistry;
  /** Instruction budget per run (Infinity: unlimited). */
  budget: number;
  checked: boolean;
  memory: WebAssembly.Memory;
  /** Modules with maps: the object runtime and the manifest. */
  object?: ObjectRuntime | undefined;
  manifest?: Manifest | undefined;
  /** Inline tail calls between the programs: the map descriptor table a PROG_ARRAY must be in. */
  tailCalls?: { base: number; count: number } | undefined;
  /** The program has legacy packet loads (ldabs/ldind): entries set up where they read. */
  usesPacket: boolean;
  /** C source lines of instructions, named in faults (objects built with -g). */
  sourceLines?: SourceLines | undefined;
}

/** C source lines by instruction (runtime/source-lines.ts SourceLineTable). */
type SourceLines = { lookup(pc: number): SourceLine | undefined };

/** The interpreter engine (runtime/engine.ts): users get it wrapped in a `BpfInstance`. */
export class InterpreterEngine implements Engine {
  /** Maps, buffers and globals of an object (undefined for raw bytecode). */
  readonly object: ObjectRuntime | undefined;
  /** The manifest a compiled module of the same object would carry (objects only). */
  readonly manifest: Manifest | undefined;
  /** The memory layout (the same a compiled module with these options has). */
  readonly layout: MemoryLayout;
  readonly memory: WebAssembly.Memory;
  readonly helpers: HelperRegistry;
  /** Default instruction budget per run (Infinity: unlimited). */
  readonly budget: number;
  private readonly entryList: readonly ProgramEntry[];
  private readonly entries = new Map<string, ProgramEntry>();
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
  private pktMac = 0;
  private pktNet = 0;
  /** skb->head for negative legacy-load offsets; 0 when there is none (they then read nothing). */
  private pktHead = 0;
  private readonly usesPacket: boolean;
  private readonly sourceLines: SourceLines | undefined;
  /** Checked memory mode, and the end of the range it allows in the current run. */
  readonly checked: boolean;
  private checkEnd = 0;
  /** Instructions left in the current run (shared by tail calls and callbacks). */
  private remaining = 0;
  // The compiled module's tail-call globals: the program to run next (-1: none), its context, the count.
  private readonly tailTable: { base: number; count: number } | undefined;
  private tailPending = -1;
  private tailCtx = 0n;
  private tailCount = 0;
  /** The frame a callback run by a helper gets: the one below the helper's caller (CB_FP). */
  private cbFp = 0;

  /** @internal use `interpret()` or `interpretModule()`. */
  constructor(setup: EngineSetup) {
    this.checked = setup.checked;
    this.code = setup.code;
    this.layout = setup.layout;
    this.entryList = setup.programs;
    for (const p of setup.programs) this.entries.set(p.name, p);
    this.helpers = setup.helpers;
    this.budget = setup.budget;
    this.object = setup.object;
    this.manifest = setup.manifest;
    this.tailTable = setup.tailCalls;
    this.usesPacket = setup.usesPacket;
    this.sourceLines = setup.sourceLines;
    this.registers = registerFile(setup.layout.maxCallDepth + 1);
    this.retPcs = new Int32Array(setup.layout.maxCallDepth + 1);
    this.memory = setup.memory;
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
    const entry = this.entry(program);
    return (r1, r2) => this.run(entry, r1, r2);
  }

  invoke(program: string, r1: number, r2: number): number {
    return this.run(this.entry(program), r1, r2);
  }

  repeat(program: string, r1: number, r2: number, n: number): number {
    const entry = this.entry(program);
    let r = 0;
    for (let i = 0; i < n; i++) r = this.run(entry, r1, r2);
    return r;
  }

  /** The full r0 of the last run. */
  lastResult(): bigint {
    return new DataView(this.memory.buffer).getBigUint64(RESULT_ADDR, true);
  }

  private entry(name: string): ProgramEntry {
    const e = this.entries.get(name);
    if (e === undefined) {
      throw unknownProgram(name, this.entryList);
    }
    return e;
  }

  ensureData(len: number): void {
    ensureRoom(this.memory, this.dataAddress, len);
  }

  /** The callbacks of an object, as the compiled module exports them, for its runtime to call. */
  callbackExports(callbacks: Manifest['callbacks']): Record<string, CallbackFn> {
    const out: Record<string, CallbackFn> = {};
    for (const cb of callbacks ?? []) out[cb.exportName] = (r1, r2, r3, r4, r5) => this.runCallback(cb.insn, r1, r2, r3, r4, r5);
    return out;
  }

  /**
   * The compiled callback wrapper: runs the callback at `pc` in the frame CB_FP names (E_CALL_DEPTH
   * below the stack) and restores CB_FP for the helper's next call.
   */
  private runCallback(pc: number, r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint): bigint {
    const fp = this.cbFp;
    if (fp < this.layout.stackBase) throw this.fault(FaultCode.CallDepth, pc, 0);
    const u = (x: bigint): bigint => BigInt.asUintN(64, x);
    const r = this.execute(pc, u(r1), u(r2), u(r3), u(r4), u(r5), fp);
    this.cbFp = fp;
    return BigInt.asIntN(64, r);
  }

  /**
   * The compiled entry wrapper: r1, r2 arrive as i32; the packet, checked-span, budget and tail-call
   * globals are set; pending tail calls run after the program; the full r0 is stored at RESULT_ADDR.
   */
  private run(entry: ProgramEntry, r1: number, r2: number): number {
    // Re-entry is refused by the API layer (runtime/program.ts): one run at a time.
    try {
      this.refreshMemory();
      if (this.usesPacket && entry.context === '__sk_buff') {
        // ldabs/ldind read the packet of the __sk_buff r1 points to (compiler/rewrite/packet-context.ts).
        const ctx = r1 >>> 0;
        if (ctx + Math.max(SkBuff.data, SkBuff.len) + 4 > this.dv.byteLength) throw linearMemoryFault({});
        this.pktBase = this.dv.getInt32(ctx + SkBuff.data, true);
        this.pktLen = this.dv.getInt32(ctx + SkBuff.len, true);
        // Negative offsets (SKF_LL_OFF, SKF_NET_OFF) reach the headers an skb test run records.
        this.pktMac = this.dv.getUint32(ctx + SkbPrivate.mac, true);
        this.pktNet = this.dv.getUint32(ctx + SkbPrivate.network, true);
        this.pktHead = this.dv.getUint32(ctx + SkbPrivate.head, true);
      } else {
        this.pktBase = r1;
        this.pktLen = r2;
        this.pktHead = 0;
      }
      this.checkEnd = r1 >>> 0 === this.layout.dataBase ? this.layout.dataBase + (r2 >>> 0) : this.layout.dataBase;
      this.remaining = this.budget;
      this.tailPending = -1;
      this.tailCount = 0;
      const top = this.layout.stackTop;
      let r0 = this.execute(entry.insn, BigInt(r1 >>> 0), BigInt(r2 >>> 0), 0n, 0n, 0n, top);
      while (this.tailPending >= 0) {
        const next = this.entryList[this.tailPending]!;
        this.tailPending = -1;
        r0 = this.execute(next.insn, this.tailCtx, 0n, 0n, 0n, 0n, top);
      }
      this.refreshMemory();
      this.dv.setBigUint64(RESULT_ADDR, r0, true);
      return Number(BigInt.asIntN(32, r0));
    } catch (e) {
      this.object?.afterFault();
      throw withSourceLine(runtimeErrorOf(e, {}), this.sourceLines);
    }
  }

  private refreshMemory(): void {
    if (this.memory.buffer !== this.buf) {
      this.buf = this.memory.buffer;
      this.dv = new DataView(this.buf);
    }
  }

  /** A fault, as the compiled module's `env.fault` reports it. */
  private fault(code: number, pc: number, detail: number): BpfRuntimeError {
    return faultError(code, pc, detail, { maxCallDepth: this.layout.maxCallDepth, budget: this.budget, corePoisons: this.manifest?.corePoisons });
  }

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
    if (h !== 0 || a < (this.layout.arenaBase ?? this.layout.stackBase) || a + size > this.checkEnd) throw this.fault(FaultCode.MemoryFault, pc, a);
    // The access goes to the checked 64-bit address (wrapped, as the compiled code computes it).
    return a;
  }

  /**
   * The address of a `size`-byte access at register `ri` (an index into the register file) plus
   * `off`, as compiled code computes it: the register's low half; a non-negative offset is added
   * exactly, a negative one in 32 bits; checked mode confines it (viaR10: the base is the
   * function's own r10). E_MEMORY_FAULT outside linear memory (`memSize` bytes).
   */
  private address(ri: number, off: number, size: number, pc: number, viaR10: boolean, memSize: number): number {
    const U = this.registers.U;
    const base = U[(ri << 1) | LO]!;
    let addr = off >= 0 ? base + off : (base + off) >>> 0;
    if (this.checked) addr = this.checkAccess(U[(ri << 1) | HI]!, base, off, size, pc, viaR10);
    if (addr + size > memSize) throw linearMemoryFault({ insn: pc, address: addr });
    return addr;
  }

  /**
   * Runs the function at `startPc` with r1..r5 in the frame whose r10 is `fp` until it returns;
   * returns its r0 (unsigned 64-bit). Its registers and return addresses are those of the call
   * depth `fp` stands for, so a callback run from a helper keeps its caller's intact.
   */
  private execute(startPc: number, a1: bigint, a2: bigint, a3: bigint, a4: bigint, a5: bigint, fp: number): bigint {
    const { op: ops, dst: dsts, src: srcs, isK, imm: imms, off: offs, aux: auxs, k64: K, ks64: KS, helper: sites } = this.code;
    const { frameSize, stackBase, stackTop } = this.layout;
    const { R, S, U, I } = this.registers;
    const retPc = this.retPcs;
    const minCallerFp = stackBase + 2 * frameSize;
    this.refreshMemory();
    let dv = this.dv;
    let memSize = dv.byteLength;

    // Register r of the current function is R[f + r] (S: the same, signed); its low half is
    // U[((f + r) << 1) | LO] (I: signed), its high half U[((f + r) << 1) | HI].
    const baseDepth = (stackTop - fp) / frameSize;
    let depth = baseDepth;
    let f = depth * FRAME_REGS;
    R.fill(0n, f, f + FRAME_REGS);
    R[f + 1] = a1;
    R[f + 2] = a2;
    R[f + 3] = a3;
    R[f + 4] = a4;
    R[f + 5] = a5;
    R[f + 10] = BigInt(fp);
    let remaining = this.remaining;
    let pc = startPc;

    for (;;) {
      if (--remaining < 0) throw this.fault(FaultCode.Budget, pc, 0);
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
          const op = ops[pc];
          const size = op === Op.Ldxb || op === Op.Ldxsb ? 1 : op === Op.Ldxh || op === Op.Ldxsh ? 2 : op === Op.Ldxdw ? 8 : 4;
          const addr = this.address(f + srcs[pc]!, offs[pc]!, size, pc, srcs[pc] === 10, memSize);
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
          const op = ops[pc];
          const size = op === Op.Stb || op === Op.Stxb ? 1 : op === Op.Sth || op === Op.Stxh ? 2 : op === Op.Stdw || op === Op.Stxdw ? 8 : 4;
          const addr = this.address(di, offs[pc]!, size, pc, di - f === 10, memSize);
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
          const addr = this.address(di, offs[pc]!, 4, pc, di - f === 10, memSize);
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
          const addr = this.address(di, offs[pc]!, 8, pc, di - f === 10, memSize);
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
        case Op.Poison:
          throw this.fault(FaultCode.CoreRelo, pc, 0);
        case Op.Call: {
          const site = sites[pc]!;
          // A helper that runs callbacks gives them the frame below ours and our budget.
          this.cbFp = fp - frameSize;
          this.remaining = remaining;
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
          remaining = this.remaining;
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
          if (!def) throw this.fault(FaultCode.UnknownHelper, pc, id);
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
          if (fp < minCallerFp) throw this.fault(FaultCode.CallDepth, pc, 0);
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
        case Op.Ldabs:
        case Op.Ldind: {
          const size = auxs[pc]!;
          const o = ops[pc] === Op.Ldind ? (U[((f + srcs[pc]!) << 1) | LO]! + imms[pc]!) | 0 : imms[pc]!;
          // A negative offset: bpf_internal_load_pointer_neg_helper (compiler/lower/load-store.ts).
          const neg = o < 0 && o >= SKF_LL_OFF && this.pktHead !== 0
            ? (o >= SKF_NET_OFF ? this.pktNet + (o - SKF_NET_OFF) : this.pktMac + (o - SKF_LL_OFF)) >>> 0 : -1;
          const inNeg = neg >= 0 && neg >= this.pktHead && neg + size <= ((this.pktBase + this.pktLen) >>> 0);
          if (inNeg || (o >= 0 && o + size <= this.pktLen >>> 0)) {
            const addr = inNeg ? neg : (this.pktBase + o) >>> 0;
            if (addr + size > memSize) throw linearMemoryFault({ insn: pc, address: addr });
            // Network byte order: a big-endian read, zero-extended into r0.
            U[(f << 1) | LO] = size === 1 ? dv.getUint8(addr) : size === 2 ? dv.getUint16(addr) : dv.getUint32(addr);
            U[(f << 1) | HI] = 0;
            break;
          }
          // Outside the packet: the current function returns 0, through the exit slot after the
          // program (which costs no instruction of the budget).
          R[f] = 0n;
          pc = ops.length - 1;
          remaining++;
          continue;
        }
        case Op.Exit: {
          if (depth === baseDepth) {
            this.remaining = remaining;
            return R[f]!;
          }
          const r0 = R[f]!;
          depth--;
          f -= FRAME_REGS;
          R[f] = r0;
          fp += frameSize;
          pc = retPc[depth]!;
          // A tail call is pending (made in a callback this function ran): the program ends, all
          // the way up, as compiled code checks after each bpf-to-bpf call.
          if (this.tailPending >= 0) {
            this.remaining = remaining;
            return 0n;
          }
          continue;
        }
        case Op.TailCall: {
          // bpf_tail_call(ctx, prog_array, index), as compiled inline: when r2 is one of the
          // module's PROG_ARRAY descriptors, the slot holds a program and fewer than
          // MAX_TAIL_CALL_CNT were made, the program ends and the entry runs that one next;
          // otherwise r0 = -ENOENT and the program goes on.
          const table = this.tailTable!;
          const map = U[((f + 2) << 1) | LO]!;
          const idx = U[((f + 3) << 1) | LO]!;
          const rel = (map - table.base) >>> 0;
          let slot = 0;
          if (rel < table.count * DESC_SIZE && (rel & (DESC_SIZE - 1)) === 0) {
            if (map + DESC_SIZE > memSize) throw linearMemoryFault({ insn: pc, address: map });
            if (dv.getUint32(map + D_TYPE, true) === MapType.PROG_ARRAY && idx < dv.getUint32(map + D_MAX_ENTRIES, true)) {
              const at = (dv.getUint32(map + D_VALUES, true) + ((idx << 2) >>> 0)) >>> 0;
              if (at + 4 > memSize) throw linearMemoryFault({ insn: pc, address: at });
              slot = dv.getUint32(at, true);
            }
          }
          // Slots hold program numbers + 1: 0 is empty, and a number past the programs is no program.
          if (slot !== 0 && slot <= this.entryList.length && this.tailCount < MAX_TAIL_CALL_CNT) {
            this.tailCount++;
            this.tailPending = slot - 1;
            this.tailCtx = R[f + 1]!;
            this.remaining = remaining;
            return 0n;
          }
          R[f] = BigInt.asUintN(64, BigInt(-Errno.ENOENT));
          break;
        }
        case Op.ArrayLookup: {
          // bpf_map_lookup_elem on a constant array map, inlined: values + key * stride, or NULL.
          const arr = this.code.arrays.get(pc)!;
          const key = dv.getUint32(this.address(f + 2, 0, 4, pc, false, memSize), true);
          R[f] = key < arr.maxEntries ? BigInt((arr.values + Math.imul(key, arr.stride)) >>> 0) : 0n;
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

/** A fresh flat program of `n` instruction slots. */
function emptyFlat(slots: number): FlatProgram {
  // One slot more: an exit that legacy packet loads outside the packet return through.
  const n = slots + 1;
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
    arrays: new Map(),
  };
  flat.op[slots] = Op.Exit;
  return flat;
}

/** How loading resolves what the instructions refer to (lddw pseudo sources, kfuncs). */
interface LoadHooks {
  /** The value of an lddw with a pseudo source (maps, variables, callbacks). */
  lddw(insn: LddwInsn): bigint;
  /** Called for each reachable kfunc call; throws when it cannot be called. */
  kfunc(insn: Extract<Insn, { kind: 'kfunc' }>): void;
}

/**
 * Flattens `program` and resolves its reachable lddw and kfunc instructions in the order code
 * generation meets them (functions by start, then instructions; the compiler goes through a
 * function's blocks in structured order, which can differ when one function has several such
 * instructions). Returns the flat program, the reachable calls and whether it has ldabs/ldind.
 */
function loadFlat(
  program: Program, functions: readonly FunctionCfg[], hooks: LoadHooks,
): { flat: FlatProgram; calls: Extract<Insn, { kind: 'call' | 'kfunc' }>[]; usesPacket: boolean } {
  const reachable = new Uint8Array(program.insns.length);
  for (const fn of functions) for (const b of fn.blocks) reachable.fill(1, b.first, b.last + 1);
  const flat = emptyFlat(program.slotCount);
  for (const insn of program.insns) flatten(insn, flat);
  const calls: Extract<Insn, { kind: 'call' | 'kfunc' }>[] = [];
  let usesPacket = false;
  const { insns, slotToInsn, slotCount } = program;
  for (const fn of functions) {
    const first = slotToInsn[fn.startPc]!;
    const end = fn.endPc >= slotCount ? insns.length : slotToInsn[fn.endPc]!;
    for (let i = first; i < end; i++) {
      if (!reachable[i]) continue;
      const insn = insns[i]!;
      if (insn.kind === 'kfunc') {
        hooks.kfunc(insn);
        calls.push(insn);
      } else if (insn.kind === 'lddw') {
        flat.k64[insn.pc] = insn.src === 0 ? insn.value : hooks.lddw(insn);
      } else if (insn.kind === 'call' && insn.helper === CORE_POISON_HELPER) {
        flat.op[insn.pc] = Op.Poison;
      } else if (insn.kind === 'call') {
        calls.push(insn);
      } else if (insn.kind === 'ldabs' || insn.kind === 'ldind') {
        usesPacket = true;
      }
    }
  }
  return { flat, calls, usesPacket };
}

/** A static call site calling `def` with the signature `signature` (declared, or the generic one). */
function helperSite(def: HelperDefinition, signature: HelperSignature): HelperSite {
  const generic = signature.result === 'i64' && signature.args.length === 5 && signature.args.every((k) => k === 'i64');
  return { fn: def.fn, signature, generic };
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
  const programs = programEntries(options.entries);
  const budget = checkBudget(options.budget);
  // The compiler's own control-flow checks, so both engines reject a program with the same error.
  const { functions } = buildCfg(program, programs.map((e) => e.insn));
  const { flat, calls, usesPacket } = loadFlat(program, functions, {
    lddw: (insn) => resolveLddw(insn, options.resolveLddw),
    kfunc: (insn) => {
      throw new CompileError(
        ErrorCode.Unsupported,
        `kfunc call (BTF id ${insn.btfId}) needs the host to provide the function; kfuncs are not supported yet`,
        { insn: insn.pc },
      );
    },
  });

  const helpers = options.helpers instanceof HelperRegistry ? options.helpers : new HelperRegistry(options.helpers ?? []);
  const sites = new Map<number, HelperSite>();
  for (const insn of calls) {
    if (insn.kind !== 'call') continue;
    let site = sites.get(insn.helper);
    if (!site) {
      const id = insn.helper;
      const name = `helper_${id}`;
      const def = helpers.get(id) ?? helpers.getByName(name);
      if (!def) {
        throw new BpfRuntimeError(
          ErrorCode.UnknownHelper,
          `the program calls helper ${name} (id ${id}), which the host does not provide`,
          { helper: name },
        );
      }
      site = helperSite(def, def.signature ?? GENERIC_HELPER_SIGNATURE);
      sites.set(id, site);
    }
    flat.helper[insn.pc] = site;
  }

  const memory = allocateMemory(layout);
  return new BpfInstance(new InterpreterEngine({
    code: flat, layout, programs, helpers, budget, checked: options.checked === true, memory, usesPacket,
  }));
}

/**
 * What the interpreter needs to run a module that was prepared like a compiled one (an ELF
 * object, see `instantiateObject` in the compiler): the instruction stream, the manifest the
 * compiled module would carry, and the call-site rewrites the compiler would make.
 */
export interface InterpreterImage {
  /** The programs' instructions, one after the other, relocated. */
  program: Program;
  /** The manifest a compiled module of the same input with the same options carries. */
  manifest: Manifest;
  /** The values of lddw with pseudo sources (map pointers and values), as the compiler resolves them. */
  resolveLddw?: (insn: LddwInsn) => bigint;
  /**
   * The call sites the compiler rewrites, by instruction slot (compiler/rewrite/fixups.ts): inline
   * tail calls and inline lookups in constant array maps.
   */
  callFixups?: ReadonlyMap<number, CallSiteRewrite>;
  /** The map descriptor table inline tail calls accept a PROG_ARRAY from (manifest.tailCalls). */
  descriptors?: { base: number; count: number };
  /** C source lines of the instructions (from .BTF.ext), named in faults as compiled modules name them. */
  sourceLines?: SourceLines;
}

/**
 * Runs a prepared module (an ELF object's programs, maps and helpers) on the interpreter: the same
 * memory layout, maps (through the precompiled maps module: give `options.mapsModule` on hosts that
 * cannot compile Wasm at run time), helpers, callbacks, tail calls and errors as the compiled
 * module `instantiate` runs, without compiling any Wasm.
 */
export async function interpretModule(image: InterpreterImage, options: InstantiateOptions = {}): Promise<BpfInstance> {
  const { program, manifest } = image;
  const { layout } = manifest;
  const memory = allocateMemory(layout);
  checkObjectOnlyOptions(manifest, options);
  const object = manifest.maps ? await createObject(memory, manifest, options) : undefined;
  const { registry, imports } = bindHelpers(manifest, options, object);
  const callbacks = new Map((manifest.callbacks ?? []).map((cb) => [cb.insn, cb.number]));
  const { functions } = buildCfg(program, manifest.programs.map((p) => p.insn));
  const { flat, calls, usesPacket } = loadFlat(program, functions, {
    lddw: (insn) => {
      if (insn.src !== LDDW_PSEUDO_FUNC) return resolveLddw(insn, image.resolveLddw);
      const n = callbacks.get(pseudoFuncTarget(insn));
      if (n === undefined) throw new InternalError(ErrorCode.Internal, 'a callback the manifest does not list (a bpf2wasm bug)', { insn: insn.pc });
      return BigInt(n);
    },
    kfunc: (insn) => {
      if (!manifest.helpers.some((h) => h.kfunc && h.id === insn.btfId)) {
        throw new CompileError(
          ErrorCode.Unsupported,
          `kfunc call (BTF id ${insn.btfId}) needs the host to provide the function; kfuncs are not supported yet`,
          { insn: insn.pc },
        );
      }
    },
  });
  for (const insn of calls) {
    const fixup = insn.kind === 'call' ? image.callFixups?.get(insn.pc) : undefined;
    if (fixup?.kind === 'tail_call') {
      flat.op[insn.pc] = Op.TailCall;
      continue;
    }
    if (fixup?.kind === 'array_lookup') {
      flat.op[insn.pc] = Op.ArrayLookup;
      flat.arrays.set(insn.pc, fixup.map);
      continue;
    }
    const imp = insn.kind === 'call'
      ? manifest.helpers.find((h) => !h.kfunc && h.id === insn.helper)
      : manifest.helpers.find((h) => h.kfunc && h.id === insn.btfId);
    const def = imp && imports.get(imp.importName);
    if (!imp || !def) throw new InternalError(ErrorCode.Internal, 'a call the manifest does not import (a bpf2wasm bug)', { insn: insn.pc });
    flat.op[insn.pc] = Op.Call;
    flat.helper[insn.pc] = helperSite(def, imp.signature);
  }
  const engine = new InterpreterEngine({
    code: flat,
    layout,
    programs: manifest.programs,
    helpers: registry,
    budget: manifest.budget ?? Number.POSITIVE_INFINITY,
    checked: manifest.checked === true,
    memory,
    object,
    manifest,
    tailCalls: image.descriptors ?? { base: 0, count: 0 },
    usesPacket,
    sourceLines: image.sourceLines,
  });
  object?.attach(engine.callbackExports(manifest.callbacks));
  return new BpfInstance(engine);
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
