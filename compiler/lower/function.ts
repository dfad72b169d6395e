/**
 * Lowering of one eBPF function to the body of its Wasm function: the structured control flow
 * (compiler/structure.ts) or, for irreducible flow, a dispatch loop; each instruction to WIR.
 * Arithmetic, jumps and memory have their own files here; call sites rewritten before lowering
 * (compiler/rewrite/fixups.ts) and the instrumentation (budget, checked mode) live in
 * compiler/rewrite.
 */
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import { CORE_POISON_HELPER, FaultCode, type HelperImport } from '../../runtime/abi.js';
import { LDDW_PSEUDO_FUNC, pseudoFuncTarget, type BasicBlock, type FunctionCfg } from '../../runtime/isa/cfg.js';
import { insnsOf, type Insn, type InsnList, type JcondInsn } from '../../runtime/isa/insn.js';
import { structureFunction, type Stmt } from '../structure.js';
import { tagPc, w, type CodeSink, type Node } from '../wir.js';
import { inlineArrayLookup } from '../rewrite/array-lookup.js';
import { BudgetCounter } from '../rewrite/budget.js';
import { findSwitches, foldedSuccessors, foldSwitches, switchBranch, type SwitchPlan } from '../rewrite/switch-table.js';
import { addNarrowDivisions, lowerNarrowDivision } from '../rewrite/narrow-div.js';
import { lowerExtendPair } from '../rewrite/extend-pair.js';
import { loadCheckSpan } from '../rewrite/checked.js';
import { emitCopyLoop, findCopyLoops, type CopyLoopPlan } from '../rewrite/copy-loop.js';
import { analyzeLoops } from '../rewrite/loops.js';
import { emitVersionTest, findLoopVersions, MAX_VERSIONED_INSNS, type LoopVersionPlan } from '../rewrite/loop-versions.js';
import { endIfTailCallPending, inlineTailCall } from '../rewrite/tail-call.js';
import { lowerAlu, lowerEnd } from './alu.js';
import {
  CALLX_FN, CB_FP, CHUNK_EXIT, CHUNK_LOCALS, CHUNK_STATE, chunkFn, fault, FN_PREFIX, get32, get64, helperFn, i64c, kfuncFn,
  L_FB, L_FP, L_LABEL, L_R0, L_TMP64, set64, type ModuleCtx,
} from './state.js';
import { MAX_SELECT_INSNS, selectableArm, selectArms, withoutRepeatedMoves } from './select.js';
import { branchLabel, CHUNK_INSNS, CHUNK_RETURN, planSplit, type SplitPlan } from './split.js';
import { lowerCond } from './jump.js';
import { addressInto, load, lowerAtomic, lowerLegacyLoad, store, type MemAddress } from './load-store.js';

/** Generates the body of one eBPF function. */
export class FunctionLowering {
  private readonly insns: InsnList;
  private readonly budget: BudgetCounter;
  /** The address of the access being lowered (reused: loads and stores are a third of a program). */
  private readonly addr: MemAddress = { ptr: w.nop(), off: 0 };
  /** The compare trees emitted as tables, by root block. */
  private switches: ReadonlyMap<number, SwitchPlan> = new Map();
  /**
   * 64-bit divisions on 32-bit values, done in 32 bits (rewrite/narrow-div.ts), by instruction
   * index: filled for a block when its code meets its first 64-bit division (narrowDone).
   */
  private readonly narrowDivs = new Set<number>();
  private narrowDone: Uint8Array | null = null;
  /** Whether divisions are narrowed: structured bodies only (set by emitBody), not the dispatch loop. */
  private narrowing = false;
  /** Copy and fill loops with a bulk-memory fast path, by header block. */
  private copyLoops: ReadonlyMap<number, CopyLoopPlan> = new Map();
  /** Loops with a fast copy that leaves out the instrumentation's checks, by header block. */
  private versions: ReadonlyMap<number, LoopVersionPlan> = new Map();
  /** While a fast copy is written: the accesses whose checked-mode check it leaves out. */
  private unchecked: ReadonlySet<number> | null = null;

  constructor(
    private readonly ctx: ModuleCtx,
    private readonly fn: FunctionCfg,
  ) {
    this.insns = insnsOf(ctx.program);
    this.budget = new BudgetCounter(ctx.options.budget !== undefined);
  }

  /** The structured body (computed once), or null for irreducible flow. */
  private structured: { body: Stmt[]; regionHeads: Uint8Array } | null | undefined;
  /** The chunks of a function split across Wasm functions (compiler/lower/split.ts), else null. */
  private split: SplitPlan | null = null;
  /** The chunk being emitted: 0 is the function itself. */
  private chunk = 0;

  private structure(): { body: Stmt[]; regionHeads: Uint8Array } | null {
    if (this.structured !== undefined) return this.structured;
    const { blocks } = this.fn;
    // Compare trees on one register become br_table (rewrite/switch-table.ts).
    const plans = findSwitches(blocks, this.insns);
    this.switches = plans;
    if (this.ctx.options.constTables !== false) for (const p of plans.values()) if (p.lookup) this.ctx.tables.placeLookup(p.lookup);
    const result = structureFunction(
      blocks,
      (blk) => {
        if (plans.has(blk.id)) return 'switch';
        const t = this.insns.kind(blk.last);
        return t === 'exit' ? 'exit' : t === 'jcond' ? 'cond' : 'jump';
      },
      (blk) => this.insns.pc(blk.first),
      plans.size > 0 ? foldedSuccessors(blocks, plans) : undefined,
    );
    if (!result.ok) this.switches = new Map();
    this.structured = result.ok ? { body: result.body, regionHeads: result.regionHeads } : null;
    return this.structured;
  }

  /**
   * Decides, before any code is written, whether the function is split across several Wasm
   * functions (more than CHUNK_INSNS instructions, structured flow). Returns the number of extra
   * functions (chunks 1..n, each emitted by emitChunk), 0 when it is not split.
   */
  /**
   * Finds the function's switches and places their lookup tables in the module (before any
   * body is written: the tables are the module's data segments).
   */
  placeTables(): void {
    this.structure();
  }

  planChunks(): number {
    const cap = Math.max(1, this.ctx.options.chunkInsns ?? CHUNK_INSNS);
    let insns = 0;
    const blocks = this.fn.blocks;
    for (let i = 0; i < blocks.length; i++) insns += blocks[i]!.last - blocks[i]!.first + 1;
    if (insns <= cap) return 0;
    const s = this.structure();
    if (!s) return 0;
    this.split = planSplit(s.body, this.fn.blocks, cap);
    return this.split ? this.split.chunks.length - 1 : 0;
  }

  /** Writes the body into `sink`. */
  emitBody(sink: CodeSink): void {
    const result = this.structure();
    if (!result) {
      this.emitDispatch(this.fn.blocks, sink);
      return;
    }
    // Per-iteration budget and copy/fill loops work on the loops of the folded graph (compiler/rewrite/).
    const plans = this.switches;
    const folded = plans.size > 0 ? foldSwitches(this.fn.blocks, plans) : this.fn.blocks;
    const loops = this.budget.enabled || this.ctx.options.checked ? analyzeLoops(folded) : null;
    if (this.budget.enabled) this.budget.plan(folded, loops!, (id) => (plans.get(id)?.depth ?? 1) - 1);
    if (this.ctx.options.bulkMemory !== false) this.copyLoops = findCopyLoops(folded, this.insns, plans);
    this.narrowing = true;
    if (loops && !this.split && this.ctx.options.loopVersions !== false) {
      this.versions = findLoopVersions(folded, this.insns, loops, this.ctx.options, this.budget.enabled, new Set(plans.keys()));
    }
    this.chunk = 0;
    sink.push(...this.prologue());
    this.emitStmts(this.split ? this.split.chunks[0]!.body : result.body, sink);
    sink.push(w.unreachable());
  }

  /**
   * Writes chunk `index` (>= 1) of a split function: a function whose parameters are all the
   * locals (see compiler/lower/split.ts). Each label it may leave to is an enclosing block here;
   * leaving stores the locals in the CHUNK_STATE globals and says where to go in CHUNK_EXIT.
   */
  emitChunk(index: number, sink: CodeSink): void {
    const result = this.structure()!;
    const chunk = this.split!.chunks[index]!;
    this.chunk = index;
    for (const label of chunk.exits) sink.openBlock(label);
    this.emitStmts(chunk.body, sink);
    sink.push(...this.leaveChunk(0));
    for (let i = chunk.exits.length - 1; i >= 0; i--) {
      sink.close();
      sink.push(...this.leaveChunk(i + 1));
    }
    sink.push(w.unreachable());
  }

  /** A chunk's return to its call site, which continues at exit `code` (0: after the call). */
  private leaveChunk(code: number): Node[] {
    const out: Node[] = [];
    CHUNK_LOCALS.forEach((type, i) => out.push(w.global.set(CHUNK_STATE + i, w.local.get(i, type))));
    out.push(w.global.set(CHUNK_EXIT, w.i32.const(code)), w.return(w.i64.constNum(0)));
    return out;
  }

  /** The call site of chunk `s.chunk`: call, then return, continue, or branch as it says. */
  private callChunk(s: Extract<Stmt, { k: 'chunk' }>, out: CodeSink): void {
    const m = w;
    const name = chunkFn(this.fn.startPc, s.chunk);
    out.push(m.local.set(L_TMP64, m.call(name, CHUNK_LOCALS.map((type, i) => m.local.get(i, type)), 'i64')));
    // The chunk ran the function's exit: its result is r0, the budget already handed over.
    out.push(m.if(m.i32.eq(m.global.get(CHUNK_EXIT, 'i32'), m.i32.const(CHUNK_RETURN)), m.return(m.local.get(L_TMP64, 'i64'))));
    CHUNK_LOCALS.forEach((type, i) => out.push(m.local.set(i, m.global.get(CHUNK_STATE + i, type))));
    s.exits.forEach((label, i) => out.push(m.br(label, m.i32.eq(m.global.get(CHUNK_EXIT, 'i32'), m.i32.const(i + 1)))));
  }

  private emitStmts(stmts: Stmt[], out: CodeSink): void {
    const m = w;
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i]!;
      switch (s.k) {
        case 'code': {
          const blk = this.fn.blocks[s.block]!;
          // A tree's root pays for the deepest path through the compares it replaces. A block
          // split into ranges (compiler/lower/split.ts) pays once, at its first range.
          if (s.first === undefined || s.first === blk.first) {
            this.budget.charge(blk, out, (this.switches.get(s.block)?.depth ?? 1) - 1);
          }
          this.emitBlockCode(blk, out, s.first, s.last);
          break;
        }
        case 'chunk':
          this.callChunk(s, out);
          break;
        case 'block':
          out.openBlock(branchLabel(s.label, false));
          this.emitStmts(s.body, out);
          out.close();
          break;
        case 'loop':
          if (this.copyLoops.has(s.label)) emitCopyLoop(this.ctx.options, this.copyLoops.get(s.label)!, this.budget, out);
          this.emitLoop(s, out);
          break;
        case 'br':
          out.push(m.br(labelOf(s)));
          break;
        case 'return':
          out.push(...this.ret());
          break;
        case 'switch':
          out.push(...switchBranch(this.switches.get(s.block)!, s.targets.map((t) => branchLabel(t.target, t.loop))));
          break;
        case 'if': {
          const cond = lowerCond(this.insns.peek(this.fn.blocks[s.block]!.last) as JcondInsn);
          // Short arms become selects (lower/select.ts); the statements they consumed are skipped.
          const converted = this.ifConvert(stmts, i, cond, out);
          if (converted > 0) {
            i += converted - 1;
            break;
          }
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
            out.openIf(cond);
            this.emitStmts(s.then, out);
            out.elseArm();
            this.emitStmts(s.else, out);
            out.close();
          }
          break;
        }
      }
    }
  }

  /**
   * A loop; with a fast copy (rewrite/loop-versions.ts) the entry test picks the copy without the
   * header's budget check and the checks of the hoisted accesses, or the loop as compiled.
   */
  private emitLoop(s: Extract<Stmt, { k: 'loop' }>, out: CodeSink): void {
    const plan = this.versions.get(s.label);
    // One copy level only, and only for loops whose statements (with code placed inside) are small.
    if (!plan || this.unchecked !== null || this.stmtInsns(s.body, MAX_VERSIONED_INSNS) > MAX_VERSIONED_INSNS) {
      this.emitLoopCopy(s, false, out);
      return;
    }
    const [done, slow] = ['W' + s.label, 'V' + s.label];
    out.openBlock(done);
    out.openBlock(slow);
    emitVersionTest(this.ctx.options, plan, this.budget, slow, out);
    this.unchecked = new Set(plan.hoisted.map((a) => a.pc));
    this.emitLoopCopy(s, true, out);
    this.unchecked = null;
    out.push(w.br(done));
    out.close();
    this.emitLoopCopy(s, false, out);
    out.close();
  }

  /** One copy of a loop: the fast one leaves out the header's budget check. */
  private emitLoopCopy(s: Extract<Stmt, { k: 'loop' }>, fast: boolean, out: CodeSink): void {
    out.openLoop(branchLabel(s.label, true));
    if (!fast) this.budget.check(this.insns.pc(this.fn.blocks[s.label]!.first), out);
    this.emitStmts(s.body, out);
    out.close();
  }

  /** The instructions of the code in `stmts` (counting stops above `cap`; a chunk counts as more). */
  private stmtInsns(stmts: Stmt[], cap: number, n = 0): number {
    for (const s of stmts) {
      if (n > cap) return n;
      if (s.k === 'code') n += (s.last ?? this.fn.blocks[s.block]!.last) - (s.first ?? this.fn.blocks[s.block]!.first) + 1;
      else if (s.k === 'chunk') return cap + 1;
      else if (s.k === 'block' || s.k === 'loop') n = this.stmtInsns(s.body, cap, n);
      else if (s.k === 'if') n = this.stmtInsns(s.else, cap, this.stmtInsns(s.then, cap, n));
    }
    return n;
  }

  /**
   * If-conversion at `stmts[i]`, an `if`: a hammock `if (c) br L; code; br L` (either polarity) or
   * a diamond `if (c) { code; br L } else { code; br L }` whose code is short and register-only is
   * written as selects followed by `br L`. Returns the number of statements consumed, 0 if none.
   */
  private ifConvert(stmts: Stmt[], i: number, cond: Node, out: CodeSink): number {
    const s = stmts[i]!;
    if (s.k !== 'if') return 0;
    // Cheap rejections first: most ifs are neither shape.
    const armBr = s.then.length === 1 ? s.then[0] : s.else.length === 1 ? s.else[0] : undefined;
    if (armBr !== undefined ? stmts[i + 1]?.k !== 'code' : s.then.length !== 2 || s.else.length !== 2) return 0;
    let whenTrue: readonly Insn[] | null = NO_INSNS;
    let whenFalse: readonly Insn[] | null = NO_INSNS;
    let code: Array<Extract<Stmt, { k: 'code' }>>;
    let br: Extract<Stmt, { k: 'br' }>;
    let consumed: number;
    const thenBr = s.then.length === 1 && isBr(s.then[0]) ? s.then[0] : undefined;
    const elseBr = s.else.length === 1 && isBr(s.else[0]) ? s.else[0] : undefined;
    const next = stmts[i + 1];
    if ((thenBr || elseBr) && !(thenBr && elseBr)) {
      // Hammock: the code after the `if` runs when the branch is not taken.
      const taken = (thenBr ?? elseBr)!;
      if (!this.wholeCode(next) || !sameBr(taken, stmts[i + 2])) return 0;
      const insns = this.arm(next, MAX_SELECT_INSNS);
      if (thenBr) whenFalse = insns;
      else whenTrue = insns;
      code = [next];
      br = taken;
      consumed = 3;
    } else if (!thenBr && !elseBr && s.then.length === 2 && s.else.length === 2) {
      // Diamond.
      const [t0, t1] = s.then;
      const [e0, e1] = s.else;
      if (!this.wholeCode(t0) || !this.wholeCode(e0) || !isBr(t1) || !sameBr(t1, e1)) return 0;
      whenTrue = this.arm(t0, MAX_SELECT_INSNS);
      whenFalse = whenTrue ? this.arm(e0, MAX_SELECT_INSNS - whenTrue.length) : null;
      code = [t0, e0];
      br = t1;
      consumed = 1;
    } else {
      return 0;
    }
    if (!whenTrue || !whenFalse) return 0;
    for (const c of code) this.budget.charge(this.fn.blocks[c.block]!, out);
    if (this.ctx.options.mapAllInstructions) for (const insn of [...whenTrue, ...whenFalse]) out.push(w.mark(insn.pc));
    // Moves the branch block already made need no select (lower/select.ts).
    const branch = this.fn.blocks[s.block]!;
    whenTrue = withoutRepeatedMoves(whenTrue, this.insns, branch);
    whenFalse = withoutRepeatedMoves(whenFalse, this.insns, branch);
    out.push(...selectArms(cond, whenTrue, whenFalse), w.br(labelOf(br)));
    return consumed;
  }

  /** Whether `x` is the code of a whole block that is not a compare tree (an if-conversion arm). */
  private wholeCode(x: Stmt | undefined): x is Extract<Stmt, { k: 'code' }> {
    return x !== undefined && x.k === 'code' && x.first === undefined && !this.switches.has(x.block);
  }

  /** The instructions of arm `x` if it can be converted to selects (at most `room`), else null. */
  private arm(x: Extract<Stmt, { k: 'code' }>, room: number): Insn[] | null {
    return selectableArm(this.insns, this.fn.blocks[x.block]!, room);
  }

  /**
   * Irreducible control flow (a loop with several entries, which clang never produces): a dispatch
   * loop over all blocks with the next block's number in a local, `br_table` to its code.
   * Linear in the size of the function, like the structured path, only slower to run.
   */
  private emitDispatch(blocks: BasicBlock[], sink: CodeSink): void {
    const label = (i: number): string => 'D' + i;
    const next = (i: number): Node => w.local.set(L_LABEL, w.i32.const(i));
    sink.push(...this.prologue(), next(0));
    sink.openLoop('dispatch');
    // Block D_i ends right before block i's code; the innermost holds the br_table.
    for (let i = blocks.length - 1; i >= 0; i--) sink.openBlock(label(i));
    sink.push(w.switch(blocks.map((_, i) => label(i)), label(0), w.local.get(L_LABEL, 'i32')));
    blocks.forEach((blk, i) => {
      sink.close();
      this.budget.check(this.insns.pc(blk.first), sink);
      this.budget.charge(blk, sink);
      this.emitBlockCode(blk, sink);
      const t = this.insns.get(blk.last)!;
      if (t.kind === 'exit') sink.push(...this.ret());
      else if (t.kind === 'jcond') sink.push(w.if(lowerCond(t), next(blk.succs[0]!), next(blk.succs[1]!)), w.br('dispatch'));
      else sink.push(next(blk.succs[0]!), w.br('dispatch'));
    });
    sink.close();
    sink.push(w.unreachable());
  }

  /** Function entry: local copies of the check span and the budget, and the budget check. */
  private prologue(): Node[] {
    const out: Node[] = [];
    if (this.usesFrame()) {
      const { frameSize } = this.ctx.options.layout;
      out.push(w.local.set(L_FB, w.i32.sub(w.local.get(L_FP, 'i32'), w.i32.const(frameSize))));
    }
    if (this.ctx.options.checked) out.push(loadCheckSpan());
    this.budget.enter(this.insns.pc(this.fn.blocks[0]!.first), out);
    return out;
  }

  /** Whether the function loads or stores through r10 (then the prologue sets L_FB). */
  private usesFrame(): boolean {
    return this.fn.usesFrame;
  }

  /** Returns r0, handing the remaining budget back to the caller. */
  private ret(): Node[] {
    const r = w.return(w.local.get(L_R0, 'i64'));
    const out: Node[] = [];
    if (this.budget.enabled) out.push(this.budget.handOver());
    // In a chunk, tell the call site that the function returns.
    if (this.chunk > 0) out.push(w.global.set(CHUNK_EXIT, w.i32.const(CHUNK_RETURN)));
    out.push(r);
    return out;
  }

  private emitBlockCode(blk: BasicBlock, out: CodeSink, first = blk.first, last = blk.last): void {
    for (let i = first; i <= last; i++) {
      // The terminator is the statement's business (asked by kind: no object).
      const kind = this.insns.kind(i);
      if (kind === 'exit' || kind === 'ja' || kind === 'jcond') continue;
      // Read at once and not kept: read again after anything that peeks.
      let insn = this.insns.peek(i)!;
      if (this.narrowing && insn.kind === 'alu' && insn.width === 64 && (insn.op === 'div' || insn.op === 'mod')) {
        // The whole block's divisions (a block cut into ranges is looked at once).
        this.narrowDone ??= new Uint8Array(this.fn.blocks.length);
        if (!this.narrowDone[blk.id]) {
          this.narrowDone[blk.id] = 1;
          addNarrowDivisions(blk, this.insns, this.narrowDivs);
          insn = this.insns.peek(i)!;
        }
      }
      // `r <<= 32; r >>= 32` and the like as one extension (rewrite/extend-pair.ts).
      const pair = insn.kind === 'alu' && insn.op === 'lsh' && i < last ? lowerExtendPair(insn, this.insns.get(i + 1)) : null;
      if (pair) {
        if (this.ctx.options.mapAllInstructions) out.push(w.mark(insn.pc), w.mark(this.insns.pc(i + 1)));
        out.push(pair);
        i++;
        continue;
      }
      if (this.ctx.options.mapAllInstructions) out.push(w.mark(insn.pc));
      this.emitInsn(insn, out);
    }
  }

  private emitInsn(insn: Insn, out: CodeSink): void {
    const m = w;
    const { options } = this.ctx;
    switch (insn.kind) {
      case 'alu':
        out.push(this.narrowDivs.has(insn.pc) ? lowerNarrowDivision(insn) : lowerAlu(insn));
        return;
      case 'end':
        out.push(lowerEnd(insn));
        return;
      case 'lddw': {
        const value = insn.src === 0 ? insn.value
          : insn.src === LDDW_PSEUDO_FUNC ? BigInt(this.ctx.callbacks.get(pseudoFuncTarget(insn))!)
            : this.resolveLddw(insn);
        out.push(set64(insn.dst, i64c(value)));
        return;
      }
      case 'ldx': {
        const a = addressInto(options, insn.src, insn.off, insn.size, insn.pc, out, this.addr, this.unchecked?.has(insn.pc));
        const ld = load(insn.size, insn.signed, a.off, a.ptr);
        tagPc(ld, insn.pc);
        out.push(set64(insn.dst, ld));
        return;
      }
      case 'st': {
        const a = addressInto(options, insn.dst, insn.off, insn.size, insn.pc, out, this.addr, this.unchecked?.has(insn.pc));
        out.push(tagPc(store(insn.size, a.off, a.ptr, i64c(insn.imm)), insn.pc));
        return;
      }
      case 'stx': {
        const a = addressInto(options, insn.dst, insn.off, insn.size, insn.pc, out, this.addr, this.unchecked?.has(insn.pc));
        out.push(tagPc(store(insn.size, a.off, a.ptr, get64(insn.src)), insn.pc));
        return;
      }
      case 'atomic':
        lowerAtomic(options, insn, out);
        return;
      case 'call': {
        const fixup = this.ctx.fixups.get(insn.pc);
        // libbpf's poison (an unresolved CO-RE relocation) faults with E_CORE_RELO when it runs.
        if (insn.helper === CORE_POISON_HELPER) out.push(fault(FaultCode.CoreRelo, insn.pc, w.i32.const(0)));
        else if (fixup?.kind === 'tail_call') inlineTailCall(this.ctx, insn.pc, () => this.ret(), out);
        else if (fixup?.kind === 'array_lookup') inlineArrayLookup(options, fixup.map, insn.pc, out);
        else this.emitHelperCall(insn.helper, insn.pc, out);
        return;
      }
      case 'callx': {
        out.push(set64(0, tagPc(m.call(CALLX_FN, [
          get32(insn.reg), m.i32.const(insn.pc), get64(1), get64(2), get64(3), get64(4), get64(5),
        ], 'i64'), insn.pc)));
        return;
      }
      case 'call_local': {
        const { frameSize, stackBase } = options.layout;
        // The callee's frame is below ours; refuse the call if it would not fit in the stack region.
        out.push(m.if(
          m.i32.lt_u(m.local.get(L_FP, 'i32'), m.i32.const(stackBase + 2 * frameSize)),
          fault(FaultCode.CallDepth, insn.pc, m.i32.const(0)),
        ));
        if (this.budget.enabled) out.push(this.budget.handOver());
        out.push(set64(0, m.call(FN_PREFIX + insn.target, [
          get64(1), get64(2), get64(3), get64(4), get64(5),
          m.i32.sub(m.local.get(L_FP, 'i32'), m.i32.const(frameSize)),
        ], 'i64')));
        if (this.budget.enabled) out.push(this.budget.takeBack());
        if (this.ctx.usesTailCalls) out.push(endIfTailCallPending(() => this.ret()));
        return;
      }
      case 'kfunc':
        if (this.ctx.kfuncs.has(insn.btfId)) {
          this.emitImportCall(this.ctx.kfuncs.get(insn.btfId)!, kfuncFn(insn.btfId), insn.pc, out);
          return;
        }
        throw new CompileError(
          ErrorCode.Unsupported,
          `kfunc call (BTF id ${insn.btfId}) needs the host to provide the function; kfuncs are not supported yet`,
          { insn: insn.pc },
        );
      case 'ldabs':
      case 'ldind':
        lowerLegacyLoad(this.ctx, insn, out);
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

  private emitHelperCall(id: number, pc: number, out: CodeSink): void {
    // Declared by prescan, before any body was generated.
    const imp = this.ctx.helpers.get(id);
    if (!imp) throw new CompileError(ErrorCode.Internal, `helper ${id} was not declared`, { insn: pc });
    this.emitImportCall(imp, helperFn(id), pc, out);
  }

  /** A call to an imported helper or kfunc: r1..r5 converted to its signature, r0 from its result. */
  private emitImportCall(imp: HelperImport, fn: string, pc: number, out: CodeSink): void {
    const m = w;
    const id = imp.kfunc ? Number.NaN : imp.id;
    const args = imp.signature.args.map((k, i) => (k === 'i64' ? get64(i + 1) : get32(i + 1)));
    const sig = imp.signature;
    const resultType = sig.result === 'i64' ? 'i64' : sig.result === 'void' ? 'none' : 'i32';
    const call = tagPc(m.call(fn, args, resultType), pc);
    // A helper that runs callbacks: they get the frame below ours and share our budget.
    const withCallbacks = this.ctx.callbacks.size > 0 && this.ctx.callbackHelpers.has(id);
    const budgeted = withCallbacks && this.budget.enabled;
    if (withCallbacks) out.push(m.global.set(CB_FP, m.i32.sub(m.local.get(L_FP, 'i32'), m.i32.const(this.ctx.options.layout.frameSize))));
    if (budgeted) out.push(this.budget.handOver());
    switch (sig.result) {
      case 'i64': out.push(set64(0, call)); break;
      case 'u32': out.push(set64(0, m.i64.extend_u(call))); break;
      case 's32': out.push(set64(0, m.i64.extend_s(call))); break;
      case 'void': out.push(call, set64(0, m.i64.const(0n))); break;
    }
    if (budgeted) out.push(this.budget.takeBack());
  }
}

/** An empty arm (shared; never appended to). */
const NO_INSNS: readonly Insn[] = [];

function isBr(x: Stmt | undefined): x is Extract<Stmt, { k: 'br' }> {
  return x !== undefined && x.k === 'br';
}

/** Whether `b` is a `br` to the same label as `a`. */
function sameBr(a: Extract<Stmt, { k: 'br' }>, b: Stmt | undefined): boolean {
  return isBr(b) && b.target === a.target && b.loop === a.loop;
}

function labelOf(s: Extract<Stmt, { k: 'br' }>): string {
  return branchLabel(s.target, s.loop);
}
