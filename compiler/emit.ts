/**
 * Code generation: structured eBPF functions -> a WIR module (compiler/wir.ts).
 *
 * Each eBPF function becomes a Wasm function `(r1..r5: i64, fp: i32) -> i64` whose locals are the
 * registers; r10 is the frame pointer `fp`, an i32 address into the stack region. Each program entry
 * gets an exported wrapper `(r1: i32, r2: i32) -> i32` that calls it with the top stack frame,
 * stores the full r0 at RESULT_ADDR and returns its low half. Semantics follow RFC 9669 exactly:
 * see the comments in emitAlu for division, modulo and sign extension.
 */
import { CompileError, ErrorCode } from '../runtime/errors.js';
import {
  CALLBACK_EXPORT_PREFIX, FaultCode, IMPORT_CALLX, IMPORT_ENV, IMPORT_FAULT, IMPORT_HELPERS, IMPORT_MEMORY, RESULT_ADDR,
  type CallbackEntry, type HelperImport, type HelperSignature, type MemoryLayout,
} from '../runtime/abi.js';
import { D_MAX_ENTRIES, D_TYPE, D_VALUES, DESC_SIZE, Errno, MapType } from '../runtime/maps/desc.js';
import { LDDW_PSEUDO_FUNC, pseudoFuncTarget } from '../runtime/isa/cfg.js';
import type { AluInsn, AtomicInsn, EndInsn, Insn, JcondInsn, LegacyLoadInsn, MemSize, Program, Reg } from '../runtime/isa/insn.js';
import { tagPc, w, type CodeSink, type Node, type ValType, type WFunction, type WModule } from './wir.js';
import type { BasicBlock, FunctionCfg, ProgramCfg } from '../runtime/isa/cfg.js';
import { structureFunction, type Stmt } from './structure.js';

/** A helper as the compiler sees it. */
export interface HelperInfo {
  id: number;
  name: string;
  signature: HelperSignature;
  /** The helper takes a callback (bpf_loop, bpf_for_each_map_elem, ...): its frame is set up. */
  callback?: boolean;
}

/** The helper id of `bpf_tail_call`. */
export const HELPER_TAIL_CALL = 12;
/** The helper id of `bpf_map_lookup_elem`. */
export const HELPER_MAP_LOOKUP = 1;
/** The kernel's limit on chained tail calls (MAX_TAIL_CALL_CNT). */
export const MAX_TAIL_CALLS = 33;

/** Where a constant array map's values are, for inline lookups. */
export interface ArrayMapInfo {
  values: number;
  stride: number;
  maxEntries: number;
}

export interface EmitOptions {
  layout: MemoryLayout;
  /** Program entry points: name, Wasm export name and first instruction. */
  entries: ReadonlyArray<{ name: string; exportName: string; pc: number; skbContext?: boolean }>;
  /** Resolves a helper id; throws a CompileError for an id the host does not provide. */
  resolveHelper: (id: number, pc: number) => HelperInfo;
  /**
   * Checked memory mode: every load, store and atomic must fall inside the stack region or the
   * input memory, or the program stops with E_MEMORY_FAULT naming the instruction and address.
   */
  checked?: boolean;
  /**
   * Instruction budget per run: charged at region heads (see budgetCharge), checked at function
   * entries and loop heads; exceeding it stops the program with E_BUDGET.
   */
  budget?: number;
  /** Resolves lddw with a pseudo source (map references, variables); throws if unsupported. */
  resolveLddw?: (insn: Extract<Insn, { kind: 'lddw' }>) => bigint;
  /**
   * Compile `bpf_tail_call` inline: the PROG_ARRAY's slots hold entry numbers + 1 and the
   * programs of this module (numbered as `entries`) tail-call each other without leaving Wasm.
   */
  tailCalls?: boolean;
  /**
   * The map descriptors (contiguous, 64 bytes each): with tail calls, a PROG_ARRAY pointer must be
   * one of them, so a forged descriptor cannot name a program.
   */
  descriptors?: { base: number; count: number };
  /**
   * Resolves a kfunc call (its imm) to the host function it imports by name; without it kfunc
   * calls are refused (E_UNSUPPORTED).
   */
  resolveKfunc?: (imm: number, pc: number) => HelperInfo;
  /** Inline `bpf_map_lookup_elem` on a map loaded by this lddw, when it is a plain array. */
  arrayMap?: (insn: Extract<Insn, { kind: 'lddw' }>) => ArrayMapInfo | undefined;
}

export interface EmitResult {
  module: WModule;
  helpers: HelperImport[];
  usesCallx: boolean;
  callbacks: CallbackEntry[];
  usesTailCalls: boolean;
}

const FN_PREFIX = 'f';
const FAULT_FN = '$fault';
const CALLX_FN = '$callx';
const PKT_BASE = '$pkt_base';
const PKT_LEN = '$pkt_len';
const CHECK_SPAN = '$check_span';
const BUDGET = '$budget';
const CB_FP = '$cb_fp';
const TAIL_PENDING = '$tail_pending';
const TAIL_CTX = '$tail_ctx';
const TAIL_COUNT = '$tail_count';

// Local indices inside every eBPF function.
const L_FP = 5;
const L_R0 = 6;
const L_TMP64 = 11;
const L_ADDR = 12;
const L_LABEL = 13;
const L_A64 = 14;
const L_SPAN = 15;
const L_BUDGET = 16;
const FN_PARAMS: ValType[] = ['i64', 'i64', 'i64', 'i64', 'i64', 'i32'];
const FN_VARS: ValType[] = ['i64', 'i64', 'i64', 'i64', 'i64', 'i64', 'i32', 'i32', 'i64', 'i64', 'i64'];

function regLocal(r: Reg): number {
  if (r === 0) return L_R0;
  if (r <= 5) return r - 1;
  return r + 1; // r6..r9 -> 7..10
}

/** Generates the module for the functions of `cfg`. */
export function emitModule(cfg: ProgramCfg, options: EmitOptions): EmitResult {
  const { layout } = options;
  const module: WModule = {
    memoryImport: { module: IMPORT_ENV, base: IMPORT_MEMORY, initial: layout.initialPages, maximum: layout.maximumPages },
    imports: [{ name: FAULT_FN, module: IMPORT_ENV, base: IMPORT_FAULT, params: ['i32', 'i32', 'i32'], result: 'none' }],
    functions: [],
    globals: [],
    exports: [],
  };
  const ctx: ModuleCtx = {
    options, program: cfg.program, module, helpers: new Map(), usesCallx: false, usesPacket: false,
    callbacks: new Map(), kfuncs: new Map(), callbackHelpers: new Set(), usesTailCalls: false,
  };
  prescan(ctx, cfg);
  for (const fn of cfg.functions) {
    // Bodies are generated when a backend asks for them, straight into its sink.
    const f: WFunction = {
      name: FN_PREFIX + fn.startPc, params: FN_PARAMS, result: 'i64', vars: FN_VARS,
      body: (sink) => new FunctionEmitter(ctx, fn).emitBody(sink),
    };
    module.functions.push(f);
  }
  if (ctx.usesPacket) {
    module.globals.push({ name: PKT_BASE, type: 'i32', init: 0 }, { name: PKT_LEN, type: 'i32', init: 0 });
  }
  if (options.checked) module.globals.push({ name: CHECK_SPAN, type: 'i64', init: 0 });
  if (options.budget !== undefined) module.globals.push({ name: BUDGET, type: 'i64', init: 0 });
  if (ctx.callbacks.size > 0) module.globals.push({ name: CB_FP, type: 'i32', init: 0 });
  if (ctx.usesTailCalls) {
    module.globals.push(
      { name: TAIL_PENDING, type: 'i32', init: -1 },
      { name: TAIL_CTX, type: 'i64', init: 0 },
      { name: TAIL_COUNT, type: 'i32', init: 0 },
    );
  }
  const callbacks: CallbackEntry[] = [];
  for (const [pc, number] of ctx.callbacks) {
    const exportName = CALLBACK_EXPORT_PREFIX + number;
    callbacks.push({ number, insn: pc, exportName });
    module.functions.push(callbackWrapper(ctx, pc, exportName));
    module.exports.push({ name: exportName, function: '$' + exportName });
  }
  for (const e of options.entries) {
    const wrapper = '$entry_' + e.exportName;
    const call = w.call(
      FN_PREFIX + e.pc,
      [
        w.i64.extend_u(w.local.get(0, 'i32')),
        w.i64.extend_u(w.local.get(1, 'i32')),
        w.i64.const(0n), w.i64.const(0n), w.i64.const(0n),
        w.i32.const(layout.stackTop),
      ],
      'i64',
    );
    const body: Node[] = [];
    if (ctx.usesPacket && e.skbContext) {
      // ldabs/ldind read the packet of the __sk_buff r1 points to: skb->data (offset 76), skb->len (0).
      body.push(
        w.global.set(PKT_BASE, w.i32.load(76, 4, w.local.get(0, 'i32'))),
        w.global.set(PKT_LEN, w.i32.load(0, 4, w.local.get(0, 'i32'))),
      );
    } else if (ctx.usesPacket) {
      body.push(w.global.set(PKT_BASE, w.local.get(0, 'i32')), w.global.set(PKT_LEN, w.local.get(1, 'i32')));
    }
    if (options.checked) {
      // Checked accesses may touch [stackBase, end of input): the stack region and, when r1 is the
      // data address (the runtime always passes it), the input memory right after it.
      const end = w.if(
        w.i32.eq(w.local.get(0, 'i32'), w.i32.const(layout.dataBase)),
        w.i64.add(w.i64.const(BigInt(layout.dataBase)), w.i64.extend_u(w.local.get(1, 'i32'))),
        w.i64.const(BigInt(layout.dataBase)),
      );
      body.push(w.global.set(CHECK_SPAN, w.i64.sub(end, w.i64.const(BigInt(checkBase(layout))))));
    }
    if (options.budget !== undefined) body.push(w.global.set(BUDGET, w.i64.const(BigInt(options.budget))));
    if (ctx.usesTailCalls) body.push(w.global.set(TAIL_PENDING, w.i32.const(-1)), w.global.set(TAIL_COUNT, w.i32.const(0)));
    body.push(w.local.set(2, call));
    if (ctx.usesTailCalls) body.push(tailCallLoop(ctx));
    body.push(
      w.i64.store(0, 8, w.i32.const(RESULT_ADDR), w.local.get(2, 'i64')),
      w.i32.wrap(w.local.get(2, 'i64')),
    );
    module.functions.push({ name: wrapper, params: ['i32', 'i32'], result: 'i32', vars: ctx.usesTailCalls ? ['i64', 'i32'] : ['i64'], body: w.block(null, body, 'i32') });
    module.exports.push({ name: e.exportName, function: wrapper });
  }
  return { module, helpers: [...ctx.helpers.values(), ...ctx.kfuncs.values()], usesCallx: ctx.usesCallx, callbacks, usesTailCalls: ctx.usesTailCalls };
}

/** Lowest address checked mode allows: the map value arena when there are maps, else the stack. */
function checkBase(layout: MemoryLayout): number {
  return layout.arenaBase ?? layout.stackBase;
}

/**
 * The exported wrapper of a callback: `(r1..r5: i64) -> i64`, run by a helper (from JS) in the
 * frame below the caller of that helper, whose address the call site left in CB_FP. It restores
 * CB_FP on return, so a callback that itself calls bpf_loop does not move its caller's frames.
 */
function callbackWrapper(ctx: ModuleCtx, pc: number, exportName: string): WFunction {
  const { stackBase } = ctx.options.layout;
  const fp = (): Node => w.local.get(5, 'i32');
  const body: Node[] = [
    w.local.set(5, w.global.get(CB_FP, 'i32')),
    w.if(
      w.i32.lt_u(fp(), w.i32.const(stackBase)),
      w.block(null, [w.call(FAULT_FN, [w.i32.const(FaultCode.CallDepth), w.i32.const(pc), w.i32.const(0)], 'none'), w.unreachable()], 'none'),
    ),
    w.local.set(6, w.call(FN_PREFIX + pc, [0, 1, 2, 3, 4].map((i) => w.local.get(i, 'i64')).concat([fp()]), 'i64')),
    w.global.set(CB_FP, fp()),
    w.local.get(6, 'i64'),
  ];
  return {
    name: '$' + exportName, params: ['i64', 'i64', 'i64', 'i64', 'i64'], result: 'i64', vars: ['i32', 'i64'],
    body: w.block(null, body, 'i64'),
  };
}

/**
 * After the entry program returns: while a tail call is pending, run the program it named with
 * the context it passed (a chain of at most MAX_TAIL_CALLS, counted at the call sites).
 */
function tailCallLoop(ctx: ModuleCtx): Node {
  const { entries, layout } = ctx.options;
  const next = (): Node => w.local.get(3, 'i32');
  let dispatch: Node = w.unreachable();
  for (let k = entries.length - 1; k >= 0; k--) {
    const call = w.local.set(2, w.call(FN_PREFIX + entries[k]!.pc, [
      w.global.get(TAIL_CTX, 'i64'), w.i64.const(0n), w.i64.const(0n), w.i64.const(0n), w.i64.const(0n),
      w.i32.const(layout.stackTop),
    ], 'i64'));
    dispatch = w.if(w.i32.eq(next(), w.i32.const(k)), call, dispatch);
  }
  return w.loop('tail', w.block(null, [
    w.local.set(3, w.global.get(TAIL_PENDING, 'i32')),
    w.if(w.i32.ge_s(next(), w.i32.const(0)), w.block(null, [
      w.global.set(TAIL_PENDING, w.i32.const(-1)),
      dispatch,
      w.br('tail'),
    ], 'none')),
  ], 'none'));
}

/**
 * Declares, before any body is generated, everything a body refers to by index in the module:
 * the helper imports (in order of first use), callx, and the packet globals of ldabs/ldind.
 */
function prescan(ctx: ModuleCtx, cfg: ProgramCfg): void {
  const { insns } = cfg.program;
  for (const fn of cfg.functions) {
    for (const b of fn.blocks) {
      for (let i = b.first; i <= b.last; i++) {
        const insn = insns[i]!;
        if (insn.kind === 'call' && insn.helper === HELPER_TAIL_CALL && ctx.options.tailCalls) ctx.usesTailCalls = true;
        else if (insn.kind === 'call') declareHelper(ctx, insn.helper, insn.pc);
        else if (insn.kind === 'kfunc' && ctx.options.resolveKfunc) declareKfunc(ctx, insn.btfId, insn.pc);
        else if (insn.kind === 'lddw' && insn.src === LDDW_PSEUDO_FUNC) {
          const target = pseudoFuncTarget(insn);
          if (!ctx.callbacks.has(target)) ctx.callbacks.set(target, 0);
        }
        else if (insn.kind === 'callx' && !ctx.usesCallx) {
          ctx.usesCallx = true;
          ctx.module.imports.push({
            name: CALLX_FN, module: IMPORT_HELPERS, base: IMPORT_CALLX,
            params: ['i32', 'i32', 'i64', 'i64', 'i64', 'i64', 'i64'], result: 'i64',
          });
        } else if (insn.kind === 'ldabs' || insn.kind === 'ldind') ctx.usesPacket = true;
      }
    }
  }
  // Callback numbers in program order, from 1 (0 would read as NULL).
  const targets = [...ctx.callbacks.keys()].sort((a, b) => a - b);
  ctx.callbacks.clear();
  targets.forEach((t, i) => ctx.callbacks.set(t, i + 1));
}

/** A kfunc import: `kfunc.<name>` in the helpers module, a HelperImport marked `kfunc`. */
function declareKfunc(ctx: ModuleCtx, imm: number, pc: number): void {
  if (ctx.kfuncs.has(imm)) return;
  const info = ctx.options.resolveKfunc!(imm, pc);
  const imp: HelperImport = { id: info.id, name: info.name, importName: 'kfunc.' + info.name, signature: info.signature, kfunc: true };
  ctx.module.imports.push({
    name: kfuncFn(imm), module: IMPORT_HELPERS, base: imp.importName,
    params: info.signature.args.map((k): ValType => (k === 'i64' ? 'i64' : 'i32')),
    result: info.signature.result === 'i64' ? 'i64' : info.signature.result === 'void' ? 'none' : 'i32',
  });
  ctx.kfuncs.set(imm, imp);
}

function kfuncFn(imm: number): string {
  return '$kfunc_' + imm;
}

function declareHelper(ctx: ModuleCtx, id: number, pc: number): void {
  if (ctx.helpers.has(id)) return;
  const info = ctx.options.resolveHelper(id, pc);
  const imp: HelperImport = { id, name: info.name, importName: info.name, signature: info.signature };
  ctx.module.imports.push({
    name: helperFn(id), module: IMPORT_HELPERS, base: imp.importName,
    params: info.signature.args.map((k): ValType => (k === 'i64' ? 'i64' : 'i32')),
    result: info.signature.result === 'i64' ? 'i64' : info.signature.result === 'void' ? 'none' : 'i32',
  });
  ctx.helpers.set(id, imp);
  if (info.callback) ctx.callbackHelpers.add(id);
}

interface ModuleCtx {
  options: EmitOptions;
  program: Program;
  module: WModule;
  helpers: Map<number, HelperImport>;
  usesCallx: boolean;
  usesPacket: boolean;
  /** Callback number by first instruction. */
  callbacks: Map<number, number>;
  /** Declared kfuncs by their calls' imm. */
  kfuncs: Map<number, HelperImport>;
  /** Ids of declared helpers that take a callback. */
  callbackHelpers: Set<number>;
  usesTailCalls: boolean;
}

class FunctionEmitter {
  private readonly insns: Insn[];
  /** Blocks where the budget is charged (see budgetCharge); null: every block (dispatch loop). */
  private regionHeads: Uint8Array | null = null;
  /** The constant of the current region's charge, raised as the region's blocks are emitted. */
  private charge: { value: bigint } | null = null;

  constructor(
    private readonly ctx: ModuleCtx,
    private readonly fn: FunctionCfg,
  ) {
    this.insns = ctx.program.insns;
  }

  emitBody(sink: CodeSink): void {
    const { blocks } = this.fn;
    const result = structureFunction(
      blocks,
      (blk) => {
        const t = this.insns[blk.last]!;
        return t.kind === 'exit' ? 'exit' : t.kind === 'jcond' ? 'cond' : 'jump';
      },
      (blk) => this.insns[blk.first]!.pc,
    );
    if (!result.ok) {
      this.emitDispatch(blocks, sink);
      return;
    }
    this.regionHeads = result.regionHeads;
    sink.push(...this.prologue());
    this.emitStmts(result.body, sink);
    sink.push(w.unreachable());
  }

  private emitStmts(stmts: Stmt[], out: CodeSink): void {
    const m = w;
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i]!;
      switch (s.k) {
        case 'code':
          this.budgetCharge(this.fn.blocks[s.block]!, out);
          this.emitBlockCode(this.fn.blocks[s.block]!, out);
          break;
        case 'block':
          out.openBlock('B' + s.label);
          this.emitStmts(s.body, out);
          out.close();
          break;
        case 'loop':
          out.openLoop('L' + s.label);
          this.budgetCheck(this.insns[this.fn.blocks[s.label]!.first]!.pc, out);
          this.emitStmts(s.body, out);
          out.close();
          break;
        case 'br':
          out.push(m.br(labelOf(s)));
          break;
        case 'return':
          out.push(...this.ret());
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
      this.budgetCheck(this.insns[blk.first]!.pc, sink);
      this.budgetCharge(blk, sink);
      this.emitBlockCode(blk, sink);
      const t = this.insns[blk.last]!;
      if (t.kind === 'exit') sink.push(...this.ret());
      else if (t.kind === 'jcond') sink.push(w.if(this.emitCond(t), next(blk.succs[0]!), next(blk.succs[1]!)), w.br('dispatch'));
      else sink.push(next(blk.succs[0]!), w.br('dispatch'));
    });
    sink.close();
    sink.push(w.unreachable());
  }

  // ---- registers ----

  private get64(r: Reg): Node {
    if (r === 10) return w.i64.extend_u(w.local.get(L_FP, 'i32'));
    return w.local.get(regLocal(r), 'i64');
  }

  private get32(r: Reg): Node {
    if (r === 10) return w.local.get(L_FP, 'i32');
    return w.i32.wrap(w.local.get(regLocal(r), 'i64'));
  }

  private set64(r: Reg, v: Node): Node {
    return w.local.set(regLocal(r), v);
  }

  private set32(r: Reg, v: Node): Node {
    return w.local.set(regLocal(r), w.i64.extend_u(v));
  }

  private i64c(v: number | bigint): Node {
    return w.i64.const(BigInt.asIntN(64, BigInt(v)));
  }

  // ---- blocks ----

  private emitBlockCode(blk: BasicBlock, out: CodeSink): void {
    for (let i = blk.first; i <= blk.last; i++) {
      const insn = this.insns[i]!;
      if (insn.kind === 'exit' || insn.kind === 'ja' || insn.kind === 'jcond') continue;
      this.emitInsn(insn, out);
    }
  }

  private emitInsn(insn: Insn, out: CodeSink): void {
    const m = w;
    switch (insn.kind) {
      case 'alu':
        out.push(this.emitAlu(insn));
        return;
      case 'end':
        out.push(this.emitEnd(insn));
        return;
      case 'lddw': {
        const value = insn.src === 0 ? insn.value
          : insn.src === LDDW_PSEUDO_FUNC ? BigInt(this.ctx.callbacks.get(pseudoFuncTarget(insn))!)
            : this.resolveLddw(insn);
        out.push(this.set64(insn.dst, this.i64c(value)));
        return;
      }
      case 'ldx': {
        const [ptr, off] = this.address(insn.src, insn.off, insn.size, insn.pc, out);
        const load = this.load(insn.size, insn.signed, off, ptr);
        this.tag(load, insn.pc);
        out.push(this.set64(insn.dst, load));
        return;
      }
      case 'st': {
        const [ptr, off] = this.address(insn.dst, insn.off, insn.size, insn.pc, out);
        out.push(this.tag(this.store(insn.size, off, ptr, this.i64c(insn.imm)), insn.pc));
        return;
      }
      case 'stx': {
        const [ptr, off] = this.address(insn.dst, insn.off, insn.size, insn.pc, out);
        out.push(this.tag(this.store(insn.size, off, ptr, this.get64(insn.src)), insn.pc));
        return;
      }
      case 'atomic':
        this.emitAtomic(insn, out);
        return;
      case 'call':
        if (insn.helper === HELPER_TAIL_CALL && this.ctx.usesTailCalls) {
          this.emitTailCall(insn.pc, out);
          return;
        }
        if (insn.helper === HELPER_MAP_LOOKUP && this.inlineLookup(insn, out)) return;
        this.emitHelperCall(insn.helper, insn.pc, out);
        return;
      case 'callx': {
        out.push(this.set64(0, this.tag(m.call(CALLX_FN, [
          this.get32(insn.reg), m.i32.const(insn.pc), this.get64(1), this.get64(2), this.get64(3), this.get64(4), this.get64(5),
        ], 'i64'), insn.pc)));
        return;
      }
      case 'call_local': {
        const { frameSize, stackBase } = this.ctx.options.layout;
        // The callee's frame is below ours; refuse the call if it would not fit in the stack region.
        out.push(m.if(
          m.i32.lt_u(m.local.get(L_FP, 'i32'), m.i32.const(stackBase + 2 * frameSize)),
          this.fault(FaultCode.CallDepth, insn.pc, m.i32.const(0)),
        ));
        const budgeted = this.ctx.options.budget !== undefined;
        if (budgeted) out.push(w.global.set(BUDGET, w.local.get(L_BUDGET, 'i64')));
        out.push(this.set64(0, m.call(FN_PREFIX + insn.target, [
          this.get64(1), this.get64(2), this.get64(3), this.get64(4), this.get64(5),
          m.i32.sub(m.local.get(L_FP, 'i32'), m.i32.const(frameSize)),
        ], 'i64')));
        if (budgeted) out.push(w.local.set(L_BUDGET, w.global.get(BUDGET, 'i64')));
        if (this.ctx.usesTailCalls) {
          // The callee made a tail call: this program ends too, all the way up.
          out.push(m.if(m.i32.ge_s(m.global.get(TAIL_PENDING, 'i32'), m.i32.const(0)), m.block(null, [
            this.set64(0, m.i64.const(0n)), ...this.ret(),
          ], 'none')));
        }
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

  private tag(expr: Node, pc: number): Node {
    return tagPc(expr, pc);
  }

  private fault(code: number, pc: number, detail: Node): Node {
    const m = w;
    return m.block(null, [m.call(FAULT_FN, [m.i32.const(code), m.i32.const(pc), detail], 'none'), m.unreachable()], 'none');
  }

  // ---- memory ----

  /**
   * The Wasm address of `reg + off`: the low 32 bits of the eBPF pointer. A non-negative offset
   * goes into the memarg (which adds without wrapping, so an address past 4 GiB traps); a negative
   * one is added first. Either way an access outside linear memory traps.
   */
  private address(reg: Reg, off: number, size: MemSize, pc: number, out: CodeSink): [Node, number] {
    const m = w;
    const { checked, layout } = this.ctx.options;
    // An access through r10 that stays inside the own frame needs no check, even in checked mode.
    const inOwnFrame = reg === 10 && off >= -layout.frameSize && off + size <= 0;
    if (!checked || inOwnFrame) {
      const base = this.get32(reg);
      if (off >= 0) return [base, off];
      return [m.i32.add(base, m.i32.const(off)), 0];
    }
    // Checked: the full 64-bit address must lie in [stackBase, end of input), whose length less
    // stackBase the function holds in L_SPAN; one unsigned comparison covers both ends.
    const a = (): Node => m.local.get(L_A64, 'i64');
    out.push(m.local.set(L_A64, m.i64.add(this.get64(reg), this.i64c(off))));
    const outside = m.i64.gt_u(
      m.i64.sub(a(), this.i64c(checkBase(layout))),
      m.i64.sub(m.local.get(L_SPAN, 'i64'), this.i64c(size)),
    );
    out.push(m.if(outside, this.fault(FaultCode.MemoryFault, pc, m.i32.wrap(a()))));
    return [m.i32.wrap(a()), 0];
  }

  /** Function entry: local copies of the check span and the budget, and the budget check. */
  private prologue(): Node[] {
    const out: Node[] = [];
    const { checked, budget } = this.ctx.options;
    if (checked) out.push(w.local.set(L_SPAN, w.global.get(CHECK_SPAN, 'i64')));
    if (budget !== undefined) {
      out.push(w.local.set(L_BUDGET, w.global.get(BUDGET, 'i64')));
      this.budgetCheck(this.insns[this.fn.blocks[0]!.first]!.pc, out);
    }
    return out;
  }

  /** Returns r0, handing the remaining budget back to the caller. */
  private ret(): Node[] {
    const r = w.return(w.local.get(L_R0, 'i64'));
    if (this.ctx.options.budget === undefined) return [r];
    return [w.global.set(BUDGET, w.local.get(L_BUDGET, 'i64')), r];
  }

  /**
   * Charges a block's instructions to the budget. A region head (entry, loop header, merge point)
   * pays up front for itself and for the blocks inlined after it up to the next head: those run at
   * most once per pass through the head, so the charge is an upper bound (a branch not taken is
   * paid for too), and straight-line code and if-arms carry no counter updates, which keeps
   * Binaryen free to turn them into selects.
   */
  private budgetCharge(blk: BasicBlock, out: CodeSink): void {
    if (this.ctx.options.budget === undefined) return;
    const n = BigInt(blk.last - blk.first + 1);
    if (this.regionHeads && !this.regionHeads[blk.id] && this.charge) {
      this.charge.value += n;
      return;
    }
    const amount = w.i64.const(n) as Extract<Node, { k: 'i64.const' }>;
    this.charge = amount;
    out.push(w.local.set(L_BUDGET, w.i64.sub(w.local.get(L_BUDGET, 'i64'), amount)));
  }

  /** Stops the program if the budget is exhausted (at function entries and loop heads). */
  private budgetCheck(pc: number, out: CodeSink | Node[]): void {
    if (this.ctx.options.budget === undefined) return;
    out.push(w.if(w.i64.lt_s(w.local.get(L_BUDGET, 'i64'), w.i64.const(0n)), this.fault(FaultCode.Budget, pc, w.i32.const(0))));
  }

  private load(size: MemSize, signed: boolean, off: number, ptr: Node): Node {
    const m = w;
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

  private store(size: MemSize, off: number, ptr: Node, value: Node): Node {
    const m = w;
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
  private emitAtomic(insn: AtomicInsn, out: CodeSink): void {
    const m = w;
    const [ptr, off] = this.address(insn.dst, insn.off, insn.size, insn.pc, out);
    out.push(m.local.set(L_ADDR, ptr));
    const addr = (): Node => m.local.get(L_ADDR, 'i32');
    const old = this.tag(this.load(insn.size, false, off, addr()), insn.pc);
    out.push(m.local.set(L_TMP64, old));
    const oldV = (): Node => m.local.get(L_TMP64, 'i64');
    const src = (): Node => this.get64(insn.src);
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
  private emitLegacyLoad(insn: LegacyLoadInsn, out: CodeSink): void {
    const m = w;
    this.ctx.usesPacket = true;
    let off = m.i32.const(insn.imm);
    if (insn.kind === 'ldind') off = m.i32.add(this.get32(insn.src), off);
    out.push(m.local.set(L_ADDR, off));
    const o = (): Node => m.local.get(L_ADDR, 'i32');
    // Out of bounds if off < 0 or off + size > len (computed in 64 bits to avoid wrap-around).
    const oob = m.i64.gt_u(
      m.i64.add(m.i64.extend_s(o()), m.i64.const(BigInt(insn.size))),
      m.i64.extend_u(m.global.get(PKT_LEN, 'i32')),
    );
    out.push(m.if(m.i32.or(m.i32.lt_s(o(), m.i32.const(0)), oob), m.block(null, [
      m.local.set(L_R0, m.i64.const(0n)),
      m.return(m.local.get(L_R0, 'i64')),
    ], 'none')));
    const ptr = m.i32.add(m.global.get(PKT_BASE, 'i32'), o());
    const load = insn.size === 1 ? m.i32.load8_u(0, 1, ptr) : insn.size === 2 ? m.i32.load16_u(0, 1, ptr) : m.i32.load(0, 1, ptr);
    out.push(m.local.set(L_ADDR, this.tag(load, insn.pc)));
    const v = (): Node => m.local.get(L_ADDR, 'i32');
    out.push(this.set32(0, insn.size === 1 ? v() : insn.size === 2 ? bswap16(m, v()) : bswap32(m, v(), v)));
  }

  // ---- arithmetic ----

  private emitAlu(insn: AluInsn): Node {
    return insn.width === 64 ? this.emitAlu64(insn) : this.emitAlu32(insn);
  }

  private emitAlu64(insn: AluInsn): Node {
    const m = w;
    const d = (): Node => this.get64(insn.dst);
    const isImm = insn.src === null;
    // ALU64 immediates are sign-extended to 64 bits.
    const s = (): Node => (isImm ? this.i64c(insn.imm) : this.get64(insn.src!));
    const zero = (): Node => m.i64.const(0n);
    let v: Node;
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

  private emitAlu32(insn: AluInsn): Node {
    const m = w;
    const d = (): Node => this.get32(insn.dst);
    const isImm = insn.src === null;
    const s = (): Node => (isImm ? m.i32.const(insn.imm | 0) : this.get32(insn.src!));
    const zero = (): Node => m.i32.const(0);
    let v: Node;
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

  private emitEnd(insn: EndInsn): Node {
    const m = w;
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
    const hiWord = (): Node => m.i32.wrap(m.i64.shr_u(this.get64(r), m.i64.const(32n)));
    const hi = m.i64.extend_u(bswap32(m, hiWord(), hiWord));
    return this.set64(r, m.i64.or(m.i64.shl(lo, m.i64.const(32n)), hi));
  }

  // ---- jumps and calls ----

  private emitCond(insn: JcondInsn): Node {
    const m = w;
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
    const args = imp.signature.args.map((k, i) => (k === 'i64' ? this.get64(i + 1) : this.get32(i + 1)));
    const sig = imp.signature;
    const resultType = sig.result === 'i64' ? 'i64' : sig.result === 'void' ? 'none' : 'i32';
    const call = this.tag(m.call(fn, args, resultType), pc);
    // A helper that runs callbacks: they get the frame below ours and share our budget.
    const withCallbacks = this.ctx.callbacks.size > 0 && this.ctx.callbackHelpers.has(id);
    const budgeted = withCallbacks && this.ctx.options.budget !== undefined;
    if (withCallbacks) out.push(m.global.set(CB_FP, m.i32.sub(m.local.get(L_FP, 'i32'), m.i32.const(this.ctx.options.layout.frameSize))));
    if (budgeted) out.push(m.global.set(BUDGET, m.local.get(L_BUDGET, 'i64')));
    switch (sig.result) {
      case 'i64': out.push(this.set64(0, call)); break;
      case 'u32': out.push(this.set64(0, m.i64.extend_u(call))); break;
      case 's32': out.push(this.set64(0, m.i64.extend_s(call))); break;
      case 'void': out.push(call, this.set64(0, m.i64.const(0n))); break;
    }
    if (budgeted) out.push(m.local.set(L_BUDGET, m.global.get(BUDGET, 'i64')));
  }

  /**
   * `bpf_tail_call(ctx, prog_array, index)` inline: when the PROG_ARRAY slot holds a program and
   * fewer than MAX_TAIL_CALLS have been made, record it and end this program (the entry wrapper
   * runs it); otherwise continue with r0 = -ENOENT, as the kernel falls through.
   */
  private emitTailCall(pc: number, out: CodeSink): void {
    const m = w;
    const map = (): Node => this.get32(2);
    const idx = (): Node => this.get32(3);
    const slot = (): Node => m.local.get(L_ADDR, 'i32');
    const table = this.ctx.options.descriptors ?? { base: 0, count: 0 };
    const nprograms = this.ctx.options.entries.length;
    const body: Node[] = [
      // One of the module's descriptors (64-byte aligned, inside the table), a PROG_ARRAY.
      m.local.set(L_ADDR, m.i32.sub(map(), m.i32.const(table.base))),
      m.br('tailfail', m.i32.ge_u(m.local.get(L_ADDR, 'i32'), m.i32.const(table.count * DESC_SIZE))),
      m.br('tailfail', m.i32.ne(m.i32.and(m.local.get(L_ADDR, 'i32'), m.i32.const(DESC_SIZE - 1)), m.i32.const(0))),
      m.br('tailfail', m.i32.ne(this.tag(m.i32.load(D_TYPE, 4, map()), pc), m.i32.const(MapType.PROG_ARRAY))),
      m.br('tailfail', m.i32.ge_u(idx(), m.i32.load(D_MAX_ENTRIES, 4, map()))),
      m.local.set(L_ADDR, m.i32.load(0, 4, m.i32.add(m.i32.load(D_VALUES, 4, map()), m.i32.shl(idx(), m.i32.const(2))))),
      // Slots hold program numbers + 1: 0 is empty, and a number past the programs is no program.
      m.br('tailfail', m.i32.eqz(slot())),
      m.br('tailfail', m.i32.gt_u(slot(), m.i32.const(nprograms))),
      m.br('tailfail', m.i32.ge_u(m.global.get(TAIL_COUNT, 'i32'), m.i32.const(MAX_TAIL_CALLS))),
      m.global.set(TAIL_COUNT, m.i32.add(m.global.get(TAIL_COUNT, 'i32'), m.i32.const(1))),
      m.global.set(TAIL_PENDING, m.i32.sub(slot(), m.i32.const(1))),
      m.global.set(TAIL_CTX, this.get64(1)),
      this.set64(0, m.i64.const(0n)),
      ...this.ret(),
    ];
    out.push(m.block('tailfail', body, 'none'), this.set64(0, this.i64c(-Errno.ENOENT)));
  }

  /**
   * `bpf_map_lookup_elem` on a constant array map (the lddw into r1 is in the same block and
   * nothing overwrote r1 since): `key < max_entries ? values + key * stride : NULL`, as the
   * kernel's verifier inlines it.
   */
  private inlineLookup(call: Extract<Insn, { kind: 'call' }>, out: CodeSink): boolean {
    const info = this.ctx.options.arrayMap;
    if (!info) return false;
    this.blockStarts ??= new Set(this.fn.blocks.map((b) => this.insns[b.first]!.pc));
    const def = findR1Lddw(this.ctx.program, this.ctx.program.slotToInsn[call.pc]!, this.blockStarts);
    if (!def) return false;
    const arr = info(def);
    if (!arr) return false;
    const m = w;
    const [ptr, off] = this.address(2, 0, 4, call.pc, out);
    const key = (): Node => m.local.get(L_ADDR, 'i32');
    out.push(m.local.set(L_ADDR, this.tag(m.i32.load(off, 4, ptr), call.pc)));
    out.push(this.set64(0, m.i64.extend_u(m.if(
      m.i32.lt_u(key(), m.i32.const(arr.maxEntries)),
      m.i32.add(m.i32.const(arr.values), m.i32.mul(key(), m.i32.const(arr.stride))),
      m.i32.const(0),
    ))));
    return true;
  }

  private blockStarts: Set<number> | null = null;
}

/**
 * The `bpf_map_lookup_elem` call sites of `cfg` compiled as inline array lookups, by instruction
 * slot: the `lddw r1, map` that defines r1 is in the call's basic block, nothing overwrote r1
 * since, and `arrayMap` says the map is a constant array. The interpreter rewrites the same sites.
 */
export function arrayLookupSites(
  cfg: ProgramCfg, arrayMap: (insn: Extract<Insn, { kind: 'lddw' }>) => ArrayMapInfo | undefined,
): Map<number, ArrayMapInfo> {
  const sites = new Map<number, ArrayMapInfo>();
  const { insns } = cfg.program;
  for (const fn of cfg.functions) {
    const blockStarts = new Set(fn.blocks.map((b) => insns[b.first]!.pc));
    for (const b of fn.blocks) {
      for (let i = b.first; i <= b.last; i++) {
        const insn = insns[i]!;
        if (insn.kind !== 'call' || insn.helper !== HELPER_MAP_LOOKUP) continue;
        const def = findR1Lddw(cfg.program, i, blockStarts);
        const arr = def && arrayMap(def);
        if (arr) sites.set(insn.pc, arr);
      }
    }
  }
  return sites;
}

/** The `lddw r1, map` that defines r1 at the call `insns[callIndex]`, if it is in the same basic block. */
function findR1Lddw(program: Program, callIndex: number, blockStarts: ReadonlySet<number>): Extract<Insn, { kind: 'lddw' }> | undefined {
  for (let i = callIndex - 1; i >= 0; i--) {
    const insn = program.insns[i]!;
    if (insn.kind === 'lddw' && insn.dst === 1) return insn.src === 1 ? insn : undefined;
    if (writesR1(insn)) return undefined;
    // Stop at the block's start: a jump target may bring another r1.
    if (blockStarts.has(insn.pc)) return undefined;
  }
  return undefined;
}

/** True if `insn` may change r1 (calls clobber r1..r5). */
function writesR1(insn: Insn): boolean {
  switch (insn.kind) {
    case 'alu': case 'end': case 'lddw': case 'ldx':
      return insn.dst === 1;
    case 'atomic':
      return insn.fetch && insn.src === 1;
    case 'call': case 'call_local': case 'callx': case 'kfunc': case 'ldabs': case 'ldind':
      return true;
    default:
      return false;
  }
}

function helperFn(id: number): string {
  return '$helper_' + id;
}

function labelOf(s: Extract<Stmt, { k: 'br' }>): string {
  return (s.loop ? 'L' : 'B') + s.target;
}

/** Swaps the two low bytes of an i32 (upper half must be ignored by the caller's truncation). */
function bswap16(m: typeof w, x: Node): Node {
  // ((x & 0xff) << 8) | ((x >> 8) & 0xff); sharing the pure node x is fine in a tree of WIR.
  const copy = x;
  return m.i32.or(
    m.i32.shl(m.i32.and(x, m.i32.const(0xff)), m.i32.const(8)),
    m.i32.and(m.i32.shr_u(copy, m.i32.const(8)), m.i32.const(0xff)),
  );
}

/** Byte-reverses an i32: rotl(x & 0xff00ff00, 8) | rotr(x & 0x00ff00ff, 8). */
function bswap32(m: typeof w, x: Node, again: () => Node): Node {
  return m.i32.or(
    m.i32.rotl(m.i32.and(x, m.i32.const(0xff00ff00 | 0)), m.i32.const(8)),
    m.i32.rotr(m.i32.and(again(), m.i32.const(0x00ff00ff)), m.i32.const(8)),
  );
}
