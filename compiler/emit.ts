/**
 * Code generation: structured eBPF functions -> a Binaryen module.
 *
 * Each eBPF function becomes a Wasm function `(r1..r5: i64, fp: i32) -> i64` whose locals are the
 * registers; r10 is the frame pointer `fp`, an i32 address into the stack region. Each program entry
 * gets an exported wrapper `(r1: i32, r2: i32) -> i32` that calls it with the top stack frame,
 * stores the full r0 at RESULT_ADDR and returns its low half. Semantics follow RFC 9669 exactly:
 * see the comments in emitAlu for division, modulo and sign extension.
 */
import { CompileError, ErrorCode } from '../runtime/errors.js';
import {
  FaultCode, IMPORT_CALLX, IMPORT_ENV, IMPORT_FAULT, IMPORT_HELPERS, IMPORT_MEMORY, RESULT_ADDR,
  type HelperImport, type HelperSignature, type MemoryLayout,
} from '../runtime/abi.js';
import type { AluInsn, AtomicInsn, EndInsn, Insn, JcondInsn, LegacyLoadInsn, MemSize, Program, Reg } from '../runtime/isa/insn.js';
import type { BModule, Binaryen, ExprRef } from './binaryen.js';
import type { BasicBlock, FunctionCfg, ProgramCfg } from './cfg.js';
import { structureFunction, type Stmt } from './structure.js';

/** A helper as the compiler sees it. */
export interface HelperInfo {
  id: number;
  name: string;
  signature: HelperSignature;
}

export interface EmitOptions {
  layout: MemoryLayout;
  /** Program entry points: name, Wasm export name and first instruction. */
  entries: ReadonlyArray<{ name: string; exportName: string; pc: number }>;
  /** Resolves a helper id; throws a CompileError for an id the host does not provide. */
  resolveHelper: (id: number, pc: number) => HelperInfo;
  /** Resolves lddw with a pseudo source (map references, variables); throws if unsupported. */
  resolveLddw?: (insn: Extract<Insn, { kind: 'lddw' }>) => bigint;
}

export interface EmitResult {
  helpers: HelperImport[];
  usesCallx: boolean;
  /** Expressions to tag with their instruction index, per function name (set after optimisation is impossible). */
  debugLocs: Map<string, Array<[ExprRef, number]>>;
}

const FN_PREFIX = 'f';
const FAULT_FN = '$fault';
const CALLX_FN = '$callx';
const PKT_BASE = '$pkt_base';
const PKT_LEN = '$pkt_len';

// Local indices inside every eBPF function.
const L_FP = 5;
const L_R0 = 6;
const L_TMP64 = 11;
const L_ADDR = 12;
const L_TMP64B = 13;

function regLocal(r: Reg): number {
  if (r === 0) return L_R0;
  if (r <= 5) return r - 1;
  return r + 1; // r6..r9 -> 7..10
}

/** Emits the whole module into `m`. */
export function emitModule(b: Binaryen, m: BModule, cfg: ProgramCfg, options: EmitOptions): EmitResult {
  const { layout } = options;
  m.setFeatures(b.Features.SignExt | b.Features.MutableGlobals | b.Features.BulkMemory);
  m.setMemory(layout.initialPages, layout.maximumPages, null, [], false, false, '0');
  m.addMemoryImport('0', IMPORT_ENV, IMPORT_MEMORY);
  m.addFunctionImport(FAULT_FN, IMPORT_ENV, IMPORT_FAULT, b.createType([b.i32, b.i32, b.i32]), b.none);

  const ctx: ModuleCtx = {
    b, m, options, program: cfg.program, helpers: new Map(), usesCallx: false, usesPacket: false,
    debugLocs: new Map(),
  };
  const params = b.createType([b.i64, b.i64, b.i64, b.i64, b.i64, b.i32]);
  const vars = [b.i64, b.i64, b.i64, b.i64, b.i64, b.i64, b.i32, b.i64];
  for (const fn of cfg.functions) {
    const name = FN_PREFIX + fn.startPc;
    const fe = new FunctionEmitter(ctx, fn, name);
    const body = fe.emitBody();
    const ref = m.addFunction(name, params, b.i64, vars, body);
    void ref;
    ctx.debugLocs.set(name, fe.debugLocs);
  }
  if (ctx.usesPacket) {
    m.addGlobal(PKT_BASE, b.i32, true, m.i32.const(0));
    m.addGlobal(PKT_LEN, b.i32, true, m.i32.const(0));
  }
  for (const e of options.entries) {
    const wrapper = '$entry_' + e.exportName;
    const call = m.call(
      FN_PREFIX + e.pc,
      [
        m.i64.extend_u(m.local.get(0, b.i32)),
        m.i64.extend_u(m.local.get(1, b.i32)),
        m.i64.const(0n), m.i64.const(0n), m.i64.const(0n),
        m.i32.const(layout.stackTop),
      ],
      b.i64,
    );
    const body: ExprRef[] = [];
    if (ctx.usesPacket) {
      body.push(m.global.set(PKT_BASE, m.local.get(0, b.i32)), m.global.set(PKT_LEN, m.local.get(1, b.i32)));
    }
    body.push(
      m.local.set(2, call),
      m.i64.store(0, 8, m.i32.const(RESULT_ADDR), m.local.get(2, b.i64)),
      m.i32.wrap(m.local.get(2, b.i64)),
    );
    m.addFunction(wrapper, b.createType([b.i32, b.i32]), b.i32, [b.i64], m.block(null, body, b.i32));
    m.addFunctionExport(wrapper, e.exportName);
  }
  return { helpers: [...ctx.helpers.values()], usesCallx: ctx.usesCallx, debugLocs: ctx.debugLocs };
}

interface ModuleCtx {
  b: Binaryen;
  m: BModule;
  options: EmitOptions;
  program: Program;
  helpers: Map<number, HelperImport>;
  usesCallx: boolean;
  usesPacket: boolean;
  debugLocs: Map<string, Array<[ExprRef, number]>>;
}

class FunctionEmitter {
  readonly debugLocs: Array<[ExprRef, number]> = [];
  private readonly b: Binaryen;
  private readonly m: BModule;
  private readonly insns: Insn[];

  constructor(
    private readonly ctx: ModuleCtx,
    private readonly fn: FunctionCfg,
    private readonly name: string,
  ) {
    this.b = ctx.b;
    this.m = ctx.m;
    this.insns = ctx.program.insns;
  }

  emitBody(): ExprRef {
    const { blocks } = this.fn;
    const result = structureFunction(
      blocks,
      (blk) => {
        const t = this.insns[blk.last]!;
        return t.kind === 'exit' ? 'exit' : t.kind === 'jcond' ? 'cond' : 'jump';
      },
      (blk) => this.insns[blk.first]!.pc,
    );
    if (!result.ok) return this.emitDispatch(blocks);
    const out: ExprRef[] = [];
    this.emitStmts(result.body, out);
    out.push(this.m.unreachable());
    return this.m.block(null, out, this.b.none);
  }

  private emitStmts(stmts: Stmt[], out: ExprRef[]): void {
    const { m } = this;
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i]!;
      switch (s.k) {
        case 'code':
          this.emitBlockCode(this.fn.blocks[s.block]!, out);
          break;
        case 'block': {
          const body: ExprRef[] = [];
          this.emitStmts(s.body, body);
          out.push(m.block('B' + s.label, body, this.b.none));
          break;
        }
        case 'loop': {
          const body: ExprRef[] = [];
          this.emitStmts(s.body, body);
          out.push(m.loop('L' + s.label, m.block(null, body, this.b.none)));
          break;
        }
        case 'br':
          out.push(m.br(labelOf(s)));
          break;
        case 'return':
          out.push(m.return(m.local.get(L_R0, this.b.i64)));
          break;
        case 'if': {
          const cond = this.emitCond(this.insns[this.fn.blocks[s.block]!.last] as JcondInsn);
          const thenBr = s.then.length === 1 && s.then[0]!.k === 'br' ? s.then[0] : undefined;
          const elseBr = s.else.length === 1 && s.else[0]!.k === 'br' ? s.else[0] : undefined;
          if (thenBr && thenBr.k === 'br') {
            // `br_if` keeps even unoptimised code compact.
            out.push(m.br(labelOf(thenBr), cond));
            this.emitStmts(s.else, out);
          } else if (elseBr && elseBr.k === 'br') {
            out.push(m.br(labelOf(elseBr), m.i32.eqz(cond)));
            this.emitStmts(s.then, out);
          } else {
            const t: ExprRef[] = [];
            const e: ExprRef[] = [];
            this.emitStmts(s.then, t);
            this.emitStmts(s.else, e);
            out.push(m.if(cond, m.block(null, t, this.b.none), m.block(null, e, this.b.none)));
          }
          break;
        }
      }
    }
  }

  /**
   * Irreducible control flow: Binaryen's Relooper, which handles it with a label variable. It is
   * slow on large functions, but clang never produces irreducible flow, so only hand-written code
   * lands here.
   */
  private emitDispatch(blocks: BasicBlock[]): ExprRef {
    const { m, b } = this;
    const relooper = new b.Relooper(m);
    const refs = blocks.map((blk) => {
      const code: ExprRef[] = [];
      this.emitBlockCode(blk, code);
      const t = this.insns[blk.last]!;
      if (t.kind === 'exit') code.push(m.return(m.local.get(L_R0, b.i64)));
      return relooper.addBlock(m.block(null, code, b.none));
    });
    blocks.forEach((blk, i) => {
      const t = this.insns[blk.last]!;
      if (t.kind === 'jcond') {
        relooper.addBranch(refs[i]!, refs[blk.succs[0]!]!, this.emitCond(t), 0);
        relooper.addBranch(refs[i]!, refs[blk.succs[1]!]!, 0, 0);
      } else if (t.kind !== 'exit') {
        relooper.addBranch(refs[i]!, refs[blk.succs[0]!]!, 0, 0);
      }
    });
    // The label helper local: Relooper needs an i32 local; L_ADDR is free between instructions.
    const body = relooper.renderAndDispose(refs[0]!, L_ADDR);
    return m.block(null, [body, m.unreachable()], b.none);
  }

  // ---- registers ----

  private get64(r: Reg): ExprRef {
    if (r === 10) return this.m.i64.extend_u(this.m.local.get(L_FP, this.b.i32));
    return this.m.local.get(regLocal(r), this.b.i64);
  }

  private get32(r: Reg): ExprRef {
    if (r === 10) return this.m.local.get(L_FP, this.b.i32);
    return this.m.i32.wrap(this.m.local.get(regLocal(r), this.b.i64));
  }

  private set64(r: Reg, v: ExprRef): ExprRef {
    return this.m.local.set(regLocal(r), v);
  }

  private set32(r: Reg, v: ExprRef): ExprRef {
    return this.m.local.set(regLocal(r), this.m.i64.extend_u(v));
  }

  private i64c(v: number | bigint): ExprRef {
    return this.m.i64.const(BigInt.asIntN(64, BigInt(v)));
  }

  // ---- blocks ----

  private emitBlockCode(blk: BasicBlock, out: ExprRef[]): void {
    for (let i = blk.first; i <= blk.last; i++) {
      const insn = this.insns[i]!;
      if (insn.kind === 'exit' || insn.kind === 'ja' || insn.kind === 'jcond') continue;
      this.emitInsn(insn, out);
    }
  }

  private emitInsn(insn: Insn, out: ExprRef[]): void {
    const { m, b } = this;
    switch (insn.kind) {
      case 'alu':
        out.push(this.emitAlu(insn));
        return;
      case 'end':
        out.push(this.emitEnd(insn));
        return;
      case 'lddw': {
        const value = insn.src === 0 ? insn.value : this.resolveLddw(insn);
        out.push(this.set64(insn.dst, this.i64c(value)));
        return;
      }
      case 'ldx': {
        const [ptr, off] = this.address(insn.src, insn.off);
        const load = this.load(insn.size, insn.signed, off, ptr);
        this.tag(load, insn.pc);
        out.push(this.set64(insn.dst, load));
        return;
      }
      case 'st': {
        const [ptr, off] = this.address(insn.dst, insn.off);
        out.push(this.tag(this.store(insn.size, off, ptr, this.i64c(insn.imm)), insn.pc));
        return;
      }
      case 'stx': {
        const [ptr, off] = this.address(insn.dst, insn.off);
        out.push(this.tag(this.store(insn.size, off, ptr, this.get64(insn.src)), insn.pc));
        return;
      }
      case 'atomic':
        this.emitAtomic(insn, out);
        return;
      case 'call':
        out.push(this.emitHelperCall(insn.helper, insn.pc));
        return;
      case 'callx': {
        this.ctx.usesCallx = true;
        if (!this.ctx.m.getFunction(CALLX_FN)) {
          m.addFunctionImport(
            CALLX_FN, IMPORT_HELPERS, IMPORT_CALLX,
            b.createType([b.i32, b.i32, b.i64, b.i64, b.i64, b.i64, b.i64]), b.i64,
          );
        }
        out.push(this.set64(0, this.tag(m.call(CALLX_FN, [
          this.get32(insn.reg), m.i32.const(insn.pc), this.get64(1), this.get64(2), this.get64(3), this.get64(4), this.get64(5),
        ], b.i64), insn.pc)));
        return;
      }
      case 'call_local': {
        const { frameSize, stackBase } = this.ctx.options.layout;
        // The callee's frame is below ours; refuse the call if it would not fit in the stack region.
        out.push(m.if(
          m.i32.lt_u(m.local.get(L_FP, b.i32), m.i32.const(stackBase + 2 * frameSize)),
          this.fault(FaultCode.CallDepth, insn.pc, m.i32.const(0)),
        ));
        out.push(this.set64(0, m.call(FN_PREFIX + insn.target, [
          this.get64(1), this.get64(2), this.get64(3), this.get64(4), this.get64(5),
          m.i32.sub(m.local.get(L_FP, b.i32), m.i32.const(frameSize)),
        ], b.i64)));
        return;
      }
      case 'kfunc':
        throw new CompileError(
          ErrorCode.Unsupported,
          `kfunc call (BTF id ${insn.btfId}) needs the host to provide the function; kfuncs are not supported yet`,
          { insn: insn.pc },
        );
      case 'ldabs':
      case 'ldind':
        this.emitLegacyLoad(insn, out);
        return;
      default:
        throw new CompileError(ErrorCode.Internal, `unexpected ${insn.kind} inside a block`, { insn: insn.pc });
    }
  }

  private resolveLddw(insn: Extract<Insn, { kind: 'lddw' }>): bigint {
    const r = this.ctx.options.resolveLddw;
    if (!r) {
      throw new CompileError(
        ErrorCode.Unsupported,
        `lddw with source ${insn.src} (a map or variable reference) needs an ELF object with maps; raw bytecode cannot resolve it`,
        { insn: insn.pc },
      );
    }
    return r(insn);
  }

  private tag(expr: ExprRef, pc: number): ExprRef {
    this.debugLocs.push([expr, pc]);
    return expr;
  }

  private fault(code: number, pc: number, detail: ExprRef): ExprRef {
    const { m, b } = this;
    return m.block(null, [m.call(FAULT_FN, [m.i32.const(code), m.i32.const(pc), detail], b.none), m.unreachable()], b.none);
  }

  // ---- memory ----

  /**
   * The Wasm address of `reg + off`: the low 32 bits of the eBPF pointer. A non-negative offset
   * goes into the memarg (which adds without wrapping, so an address past 4 GiB traps); a negative
   * one is added first. Either way an access outside linear memory traps.
   */
  private address(reg: Reg, off: number): [ExprRef, number] {
    const { m } = this;
    const base = this.get32(reg);
    if (off >= 0) return [base, off];
    return [m.i32.add(base, m.i32.const(off)), 0];
  }

  private load(size: MemSize, signed: boolean, off: number, ptr: ExprRef): ExprRef {
    const { m } = this;
    switch (size) {
      case 1:
        return signed ? m.i64.load8_s(off, 1, ptr) : m.i64.load8_u(off, 1, ptr);
      case 2:
        return signed ? m.i64.load16_s(off, 1, ptr) : m.i64.load16_u(off, 1, ptr);
      case 4:
        return signed ? m.i64.load32_s(off, 1, ptr) : m.i64.load32_u(off, 1, ptr);
      default:
        return m.i64.load(off, 1, ptr);
    }
  }

  private store(size: MemSize, off: number, ptr: ExprRef, value: ExprRef): ExprRef {
    const { m } = this;
    switch (size) {
      case 1:
        return m.i64.store8(off, 1, ptr, value);
      case 2:
        return m.i64.store16(off, 1, ptr, value);
      case 4:
        return m.i64.store32(off, 1, ptr, value);
      default:
        return m.i64.store(off, 1, ptr, value);
    }
  }

  /**
   * Atomics as plain read-modify-write: a program instance runs on one thread, so the sequence is
   * indivisible, and unlike Wasm's atomic instructions it has no alignment requirement.
   */
  private emitAtomic(insn: AtomicInsn, out: ExprRef[]): void {
    const { m, b } = this;
    const [ptr, off] = this.address(insn.dst, insn.off);
    out.push(m.local.set(L_ADDR, ptr));
    const addr = (): ExprRef => m.local.get(L_ADDR, b.i32);
    const old = this.tag(this.load(insn.size, false, off, addr()), insn.pc);
    out.push(m.local.set(L_TMP64, old));
    const oldV = (): ExprRef => m.local.get(L_TMP64, b.i64);
    const src = (): ExprRef => this.get64(insn.src);
    switch (insn.op) {
      case 'add':
      case 'or':
      case 'and':
      case 'xor': {
        const op = insn.op === 'add' ? m.i64.add : insn.op === 'or' ? m.i64.or : insn.op === 'and' ? m.i64.and : m.i64.xor;
        out.push(this.store(insn.size, off, addr(), op(oldV(), src())));
        if (insn.fetch) out.push(this.set64(insn.src, oldV()));
        return;
      }
      case 'xchg':
        out.push(this.store(insn.size, off, addr(), src()));
        out.push(this.set64(insn.src, oldV()));
        return;
      case 'cmpxchg': {
        const r0 = insn.size === 4 ? m.i64.extend_u(this.get32(0)) : this.get64(0);
        out.push(m.if(m.i64.eq(oldV(), r0), this.store(insn.size, off, addr(), src())));
        out.push(this.set64(0, oldV()));
        return;
      }
    }
  }

  /**
   * Legacy packet loads (RFC 9669 5.5): the packet is the input memory the program was started
   * with; an access outside it ends the program with r0 = 0, as in the kernel. The value is in
   * network byte order.
   */
  private emitLegacyLoad(insn: LegacyLoadInsn, out: ExprRef[]): void {
    const { m, b } = this;
    this.ctx.usesPacket = true;
    let off = m.i32.const(insn.imm);
    if (insn.kind === 'ldind') off = m.i32.add(this.get32(insn.src), off);
    out.push(m.local.set(L_ADDR, off));
    const o = (): ExprRef => m.local.get(L_ADDR, b.i32);
    // Out of bounds if off < 0 or off + size > len (computed in 64 bits to avoid wrap-around).
    const oob = m.i64.gt_u(
      m.i64.add(m.i64.extend_s(o()), m.i64.const(BigInt(insn.size))),
      m.i64.extend_u(m.global.get(PKT_LEN, b.i32)),
    );
    out.push(m.if(m.i32.or(m.i32.lt_s(o(), m.i32.const(0)), oob), m.block(null, [
      m.local.set(L_R0, m.i64.const(0n)),
      m.return(m.local.get(L_R0, b.i64)),
    ], b.none)));
    const ptr = m.i32.add(m.global.get(PKT_BASE, b.i32), o());
    const load = insn.size === 1 ? m.i32.load8_u(0, 1, ptr) : insn.size === 2 ? m.i32.load16_u(0, 1, ptr) : m.i32.load(0, 1, ptr);
    out.push(m.local.set(L_ADDR, this.tag(load, insn.pc)));
    const v = (): ExprRef => m.local.get(L_ADDR, b.i32);
    out.push(this.set32(0, insn.size === 1 ? v() : insn.size === 2 ? bswap16(m, v()) : bswap32(m, v(), v)));
  }

  // ---- arithmetic ----

  private emitAlu(insn: AluInsn): ExprRef {
    return insn.width === 64 ? this.emitAlu64(insn) : this.emitAlu32(insn);
  }

  private emitAlu64(insn: AluInsn): ExprRef {
    const { m, b } = this;
    const d = (): ExprRef => this.get64(insn.dst);
    const isImm = insn.src === null;
    // ALU64 immediates are sign-extended to 64 bits.
    const s = (): ExprRef => (isImm ? this.i64c(insn.imm) : this.get64(insn.src!));
    const zero = (): ExprRef => m.i64.const(0n);
    let v: ExprRef;
    switch (insn.op) {
      case 'add': v = m.i64.add(d(), s()); break;
      case 'sub': v = m.i64.sub(d(), s()); break;
      case 'mul': v = m.i64.mul(d(), s()); break;
      case 'or': v = m.i64.or(d(), s()); break;
      case 'and': v = m.i64.and(d(), s()); break;
      case 'xor': v = m.i64.xor(d(), s()); break;
      // Wasm masks shift counts to the width, as RFC 9669 requires.
      case 'lsh': v = m.i64.shl(d(), s()); break;
      case 'rsh': v = m.i64.shr_u(d(), s()); break;
      case 'arsh': v = m.i64.shr_s(d(), s()); break;
      case 'neg': v = m.i64.sub(zero(), d()); break;
      case 'mov': v = s(); break;
      case 'movsx':
        v = insn.sxBits === 8 ? m.i64.extend8_s(s()) : insn.sxBits === 16 ? m.i64.extend16_s(s()) : m.i64.extend32_s(s());
        break;
      // Division by zero gives 0; modulo by zero leaves dst unchanged.
      case 'div':
        if (isImm) v = insn.imm === 0 ? zero() : m.i64.div_u(d(), s());
        else v = m.if(m.i64.eqz(s()), zero(), m.i64.div_u(d(), s()));
        break;
      case 'mod':
        if (isImm) v = insn.imm === 0 ? d() : m.i64.rem_u(d(), s());
        else v = m.if(m.i64.eqz(s()), d(), m.i64.rem_u(d(), s()));
        break;
      // Signed: x / -1 is -x (INT_MIN / -1 wraps to INT_MIN; Wasm would trap); Wasm's rem_s of
      // INT_MIN by -1 is already 0.
      case 'sdiv':
        if (isImm) {
          v = insn.imm === 0 ? zero() : insn.imm === -1 ? m.i64.sub(zero(), d()) : m.i64.div_s(d(), s());
        } else {
          v = m.if(
            m.i64.eqz(s()),
            zero(),
            m.if(m.i64.eq(s(), m.i64.const(-1n)), m.i64.sub(zero(), d()), m.i64.div_s(d(), s())),
          );
        }
        break;
      case 'smod':
        if (isImm) v = insn.imm === 0 ? d() : m.i64.rem_s(d(), s());
        else v = m.if(m.i64.eqz(s()), d(), m.i64.rem_s(d(), s()));
        break;
    }
    return this.set64(insn.dst, v);
  }

  private emitAlu32(insn: AluInsn): ExprRef {
    const { m, b } = this;
    const d = (): ExprRef => this.get32(insn.dst);
    const isImm = insn.src === null;
    const s = (): ExprRef => (isImm ? m.i32.const(insn.imm | 0) : this.get32(insn.src!));
    const zero = (): ExprRef => m.i32.const(0);
    let v: ExprRef;
    switch (insn.op) {
      case 'add': v = m.i32.add(d(), s()); break;
      case 'sub': v = m.i32.sub(d(), s()); break;
      case 'mul': v = m.i32.mul(d(), s()); break;
      case 'or': v = m.i32.or(d(), s()); break;
      case 'and': v = m.i32.and(d(), s()); break;
      case 'xor': v = m.i32.xor(d(), s()); break;
      case 'lsh': v = m.i32.shl(d(), s()); break;
      case 'rsh': v = m.i32.shr_u(d(), s()); break;
      case 'arsh': v = m.i32.shr_s(d(), s()); break;
      case 'neg': v = m.i32.sub(zero(), d()); break;
      case 'mov': v = s(); break;
      case 'movsx': v = insn.sxBits === 8 ? m.i32.extend8_s(s()) : m.i32.extend16_s(s()); break;
      case 'div':
        if (isImm) v = insn.imm === 0 ? zero() : m.i32.div_u(d(), s());
        else v = m.if(m.i32.eqz(s()), zero(), m.i32.div_u(d(), s()));
        break;
      case 'mod':
        if (isImm) v = insn.imm === 0 ? d() : m.i32.rem_u(d(), s());
        else v = m.if(m.i32.eqz(s()), d(), m.i32.rem_u(d(), s()));
        break;
      case 'sdiv':
        if (isImm) {
          v = insn.imm === 0 ? zero() : insn.imm === -1 ? m.i32.sub(zero(), d()) : m.i32.div_s(d(), s());
        } else {
          v = m.if(
            m.i32.eqz(s()),
            zero(),
            m.if(m.i32.eq(s(), m.i32.const(-1)), m.i32.sub(zero(), d()), m.i32.div_s(d(), s())),
          );
        }
        break;
      case 'smod':
        if (isImm) v = insn.imm === 0 ? d() : m.i32.rem_s(d(), s());
        else v = m.if(m.i32.eqz(s()), d(), m.i32.rem_s(d(), s()));
        break;
    }
    return this.set32(insn.dst, v);
  }

  private emitEnd(insn: EndInsn): ExprRef {
    const { m } = this;
    const r = insn.dst;
    if (insn.op === 'le') {
      // Little-endian host: to-LE only truncates.
      if (insn.bits === 64) return m.nop();
      if (insn.bits === 32) return this.set32(r, this.get32(r));
      return this.set32(r, m.i32.and(this.get32(r), m.i32.const(0xffff)));
    }
    if (insn.bits === 16) return this.set32(r, bswap16(m, this.get32(r)));
    if (insn.bits === 32) return this.set32(r, bswap32(m, this.get32(r), () => this.get32(r)));
    // 64-bit: swap each half and exchange them.
    const lo = m.i64.extend_u(bswap32(m, this.get32(r), () => this.get32(r)));
    const hiWord = (): ExprRef => m.i32.wrap(m.i64.shr_u(this.get64(r), m.i64.const(32n)));
    const hi = m.i64.extend_u(bswap32(m, hiWord(), hiWord));
    return this.set64(r, m.i64.or(m.i64.shl(lo, m.i64.const(32n)), hi));
  }

  // ---- jumps and calls ----

  private emitCond(insn: JcondInsn): ExprRef {
    const { m } = this;
    if (insn.width === 64) {
      const a = this.get64(insn.dst);
      const c = insn.src === null ? this.i64c(insn.imm) : this.get64(insn.src);
      switch (insn.op) {
        case 'jeq': return m.i64.eq(a, c);
        case 'jne': return m.i64.ne(a, c);
        case 'jgt': return m.i64.gt_u(a, c);
        case 'jge': return m.i64.ge_u(a, c);
        case 'jlt': return m.i64.lt_u(a, c);
        case 'jle': return m.i64.le_u(a, c);
        case 'jsgt': return m.i64.gt_s(a, c);
        case 'jsge': return m.i64.ge_s(a, c);
        case 'jslt': return m.i64.lt_s(a, c);
        case 'jsle': return m.i64.le_s(a, c);
        case 'jset': return m.i64.ne(m.i64.and(a, c), m.i64.const(0n));
      }
    }
    const a = this.get32(insn.dst);
    const c = insn.src === null ? m.i32.const(insn.imm | 0) : this.get32(insn.src);
    switch (insn.op) {
      case 'jeq': return m.i32.eq(a, c);
      case 'jne': return m.i32.ne(a, c);
      case 'jgt': return m.i32.gt_u(a, c);
      case 'jge': return m.i32.ge_u(a, c);
      case 'jlt': return m.i32.lt_u(a, c);
      case 'jle': return m.i32.le_u(a, c);
      case 'jsgt': return m.i32.gt_s(a, c);
      case 'jsge': return m.i32.ge_s(a, c);
      case 'jslt': return m.i32.lt_s(a, c);
      case 'jsle': return m.i32.le_s(a, c);
      case 'jset': return m.i32.ne(m.i32.and(a, c), m.i32.const(0));
    }
  }

  private emitHelperCall(id: number, pc: number): ExprRef {
    const { m, b, ctx } = this;
    let imp = ctx.helpers.get(id);
    if (!imp) {
      const info = ctx.options.resolveHelper(id, pc);
      imp = { id, name: info.name, importName: info.name, signature: info.signature };
      const params = info.signature.args.map((k) => (k === 'i64' ? b.i64 : b.i32));
      const result = info.signature.result === 'i64' ? b.i64 : info.signature.result === 'void' ? b.none : b.i32;
      m.addFunctionImport(helperFn(id), IMPORT_HELPERS, imp.importName, b.createType(params), result);
      ctx.helpers.set(id, imp);
    }
    const args = imp.signature.args.map((k, i) => (k === 'i64' ? this.get64(i + 1) : this.get32(i + 1)));
    const sig = imp.signature;
    const resultType = sig.result === 'i64' ? b.i64 : sig.result === 'void' ? b.none : b.i32;
    const call = this.tag(m.call(helperFn(id), args, resultType), pc);
    switch (sig.result) {
      case 'i64': return this.set64(0, call);
      case 'u32': return this.set64(0, m.i64.extend_u(call));
      case 's32': return this.set64(0, m.i64.extend_s(call));
      case 'void': return m.block(null, [call, this.set64(0, m.i64.const(0n))], b.none);
    }
  }
}

function helperFn(id: number): string {
  return '$helper_' + id;
}

function labelOf(s: Extract<Stmt, { k: 'br' }>): string {
  return (s.loop ? 'L' : 'B') + s.target;
}

/** Swaps the two low bytes of an i32 (upper half must be ignored by the caller's truncation). */
function bswap16(m: BModule, x: ExprRef): ExprRef {
  // ((x & 0xff) << 8) | ((x >> 8) & 0xff), x used twice: callers pass a pure expression.
  const copy = m.copyExpression(x);
  return m.i32.or(
    m.i32.shl(m.i32.and(x, m.i32.const(0xff)), m.i32.const(8)),
    m.i32.and(m.i32.shr_u(copy, m.i32.const(8)), m.i32.const(0xff)),
  );
}

/** Byte-reverses an i32: rotl(x & 0xff00ff00, 8) | rotr(x & 0x00ff00ff, 8). */
function bswap32(m: BModule, x: ExprRef, again: () => ExprRef): ExprRef {
  return m.i32.or(
    m.i32.rotl(m.i32.and(x, m.i32.const(0xff00ff00 | 0)), m.i32.const(8)),
    m.i32.rotr(m.i32.and(again(), m.i32.const(0x00ff00ff)), m.i32.const(8)),
  );
}
