/**
 * Code generation: structured eBPF functions -> a WIR module (compiler/wir.ts). This file builds
 * the module: its imports (declared before any body), one Wasm function per eBPF function, the
 * exported entry wrappers and callback wrappers. The stages it runs, in order:
 *
 *  1. rewrite/fixups.ts: which call sites become inline code (tail calls, array lookups);
 *  2. lower/function.ts: each function's body, instruction by instruction (lower/alu.ts,
 *     lower/jump.ts, lower/load-store.ts), with the instrumentation of rewrite/budget.ts and
 *     rewrite/checked.ts;
 *  3. here: the entry wrappers (r1/r2 in, r0 out) with the entry setup of the rewrites.
 *
 * Each eBPF function becomes a Wasm function `(r1..r5: i64, fp: i32) -> i64` (lower/state.ts).
 * Each program entry gets an exported wrapper `(r1: i32, r2: i32) -> i32` that calls it with the
 * top stack frame, stores the full r0 at RESULT_ADDR and returns its low half.
 */
import {
  CALLBACK_EXPORT_PREFIX, CORE_POISON_HELPER, FAULT_ADDR, FaultCode, IMPORT_CALLX, IMPORT_ENV, IMPORT_FAULT, IMPORT_HELPERS, IMPORT_MEMORY, RESULT_ADDR,
  type CallbackEntry, type HelperImport, type HelperSignature, type MemoryLayout,
} from '../runtime/abi.js';
import { LDDW_PSEUDO_FUNC, pseudoFuncTarget } from '../runtime/isa/cfg.js';
import { insnsOf, type Insn } from '../runtime/isa/insn.js';
import type { ContextKind } from '../runtime/uapi/index.js';
import { w, type Node, type ValType, type WFunction, type WModule } from './wir.js';
import type { ProgramCfg } from '../runtime/isa/cfg.js';
import {
  BUDGET, CALLX_FN, CB_FP, CHECK_SPAN, CHUNK_EXIT, CHUNK_LOCALS, CHUNK_STATE, chunkFn, FAULT_FN, FN_PARAMS, FN_PREFIX, FN_VARS,
  helperFn, kfuncFn, PKT_BASE, PKT_HEAD, PKT_LEN, PKT_MAC, PKT_NET, type ModuleCtx,
} from './lower/state.js';
import { FunctionLowering } from './lower/function.js';
import type { ArrayMapInfo } from './rewrite/array-lookup.js';
import { budgetAtEntry } from './rewrite/budget.js';
import { checkSpanAtEntry } from './rewrite/checked.js';
import { planCallFixups, type CallFixup } from './rewrite/fixups.js';
import { ConstTables } from './rewrite/switch-table.js';
import { packetAtEntry } from './rewrite/packet-context.js';
import { tailCallGlobals, tailCallLoop, tailCallsAtEntry } from './rewrite/tail-call.js';

/** A helper as the compiler sees it. */
export interface HelperInfo {
  id: number;
  name: string;
  signature: HelperSignature;
  /** The helper takes a callback (bpf_loop, bpf_for_each_map_elem, ...): its frame is set up. */
  callback?: boolean;
}

export interface EmitOptions {
  layout: MemoryLayout;
  /** Program entry points: name, Wasm export name, first instruction and context kind. */
  entries: ReadonlyArray<{ name: string; exportName: string; pc: number; context: ContextKind }>;
  /** Resolves a helper id; throws a CompileError for an id the host does not provide. */
  resolveHelper: (id: number, pc: number) => HelperInfo;
  /**
   * Checked memory mode: every load, store and atomic must fall inside the stack region or the
   * input memory, or the program stops with E_MEMORY_FAULT naming the instruction and address.
   */
  checked?: boolean;
  /** Record where each instruction's code starts in the instruction map (CompileOptions.mapAllInstructions). */
  mapAllInstructions?: boolean;
  /**
   * Instruction budget per run: charged at region heads (see BudgetCounter.charge), checked at
   * function entries and loop heads; exceeding it stops the program with E_BUDGET.
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
  /**
   * Copy and fill loops become `memory.copy` / `memory.fill` with the loop's exact semantics
   * (compiler/rewrite/copy-loop.ts); false keeps them as loops. Default true.
   */
  bulkMemory?: boolean;
  /** Inline `bpf_map_lookup_elem` on a map loaded by this lddw, when it is a plain array. */
  arrayMap?: (insn: Extract<Insn, { kind: 'lddw' }>) => ArrayMapInfo | undefined;
  /** Functions above this many instructions are split into Wasm functions of about this size (default CHUNK_INSNS). */
  chunkInsns?: number;
  /**
   * Faults call the import `env.fault` (what a standalone module's support hook serves) instead of
   * the module's own fault function, which records the fault at FAULT_ADDR and traps.
   */
  faultImport?: boolean;
  /** Loops get a fast copy without provably idle checks (compiler/rewrite/loop-versions.ts); default true. */
  loopVersions?: boolean;
  /** Switch lookups load from constant tables (compiler/rewrite/switch-table.ts ConstTables); default true. */
  constTables?: boolean;
}

export interface EmitResult {
  module: WModule;
  helpers: HelperImport[];
  usesCallx: boolean;
  callbacks: CallbackEntry[];
  usesTailCalls: boolean;
  /** The call sites rewritten (inline tail calls and array lookups): the interpreter rewrites the same. */
  fixups: ReadonlyMap<number, CallFixup>;
}

/** Generates the module for the functions of `cfg`. */
export function emitModule(cfg: ProgramCfg, options: EmitOptions): EmitResult {
  const { layout } = options;
  const module: WModule = {
    memoryImport: { module: IMPORT_ENV, base: IMPORT_MEMORY, initial: layout.initialPages, maximum: layout.maximumPages },
    imports: options.faultImport ? [{ name: FAULT_FN, module: IMPORT_ENV, base: IMPORT_FAULT, params: ['i32', 'i32', 'i32'], result: 'none' }] : [],
    functions: options.faultImport ? [] : [faultFunction()],
    globals: [],
    exports: [],
  };
  const ctx: ModuleCtx = {
    options, program: cfg.program, module, helpers: new Map(), usesCallx: false, usesPacket: false,
    callbacks: new Map(), kfuncs: new Map(), callbackHelpers: new Set(), usesTailCalls: false,
    fixups: planCallFixups(cfg, options), tables: new ConstTables(),
  };
  prescan(ctx, cfg);
  let split = false;
  for (const fn of cfg.functions) {
    // Bodies are generated when a backend asks for them, straight into its sink. A huge function
    // is split into chunks now, as every Wasm function must be declared before any is written.
    const lowering = new FunctionLowering(ctx, fn);
    lowering.placeTables();
    const chunks = lowering.planChunks();
    const f: WFunction = {
      name: FN_PREFIX + fn.startPc, params: FN_PARAMS, result: 'i64', vars: FN_VARS,
      body: (sink) => lowering.emitBody(sink),
    };
    module.functions.push(f);
    for (let i = 1; i <= chunks; i++) {
      module.functions.push({
        name: chunkFn(fn.startPc, i), params: CHUNK_LOCALS, result: 'i64', vars: [],
        body: (sink) => lowering.emitChunk(i, sink),
      });
      split = true;
    }
  }
  if (split) {
    CHUNK_LOCALS.forEach((type, i) => module.globals.push({ name: CHUNK_STATE + i, type, init: 0 }));
    module.globals.push({ name: CHUNK_EXIT, type: 'i32', init: 0 });
  }
  if (ctx.usesPacket) {
    module.globals.push({ name: PKT_BASE, type: 'i32', init: 0 }, { name: PKT_LEN, type: 'i32', init: 0 });
    module.globals.push({ name: PKT_MAC, type: 'i32', init: 0 }, { name: PKT_NET, type: 'i32', init: 0 }, { name: PKT_HEAD, type: 'i32', init: 0 });
  }
  if (options.checked) module.globals.push({ name: CHECK_SPAN, type: 'i64', init: 0 });
  if (options.budget !== undefined) module.globals.push({ name: BUDGET, type: 'i64', init: 0 });
  if (ctx.callbacks.size > 0) module.globals.push({ name: CB_FP, type: 'i32', init: 0 });
  if (ctx.usesTailCalls) module.globals.push(...tailCallGlobals());
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
    if (ctx.usesPacket) body.push(...packetAtEntry(e.context));
    if (options.checked) body.push(checkSpanAtEntry(layout));
    if (options.budget !== undefined) body.push(budgetAtEntry(options.budget));
    if (ctx.usesTailCalls) body.push(...tailCallsAtEntry());
    body.push(w.local.set(2, call));
    if (ctx.usesTailCalls) body.push(tailCallLoop(ctx));
    body.push(
      w.i64.store(0, 8, w.i32.const(RESULT_ADDR), w.local.get(2, 'i64')),
      w.i32.wrap(w.local.get(2, 'i64')),
    );
    module.functions.push({ name: wrapper, params: ['i32', 'i32'], result: 'i32', vars: ctx.usesTailCalls ? ['i64', 'i32'] : ['i64'], body: w.block(null, body, 'i32') });
    module.exports.push({ name: e.exportName, function: wrapper });
  }
  if (ctx.tables.segments.length > 0) module.data = ctx.tables.segments;
  return { module, helpers: [...ctx.helpers.values(), ...ctx.kfuncs.values()], usesCallx: ctx.usesCallx, callbacks, usesTailCalls: ctx.usesTailCalls, fixups: ctx.fixups };
}

/**
 * The module's fault function, `(code, insn, detail)`: records them at FAULT_ADDR and traps; the
 * runtime reads the record when it catches the trap (runtime/instance.ts).
 */
function faultFunction(): WFunction {
  const record = (k: number): Node => w.i64.store32(0, 2, w.i32.const(FAULT_ADDR + 4 * k), w.i64.extend_u(w.local.get(k, 'i32')));
  return { name: FAULT_FN, params: ['i32', 'i32', 'i32'], result: 'none', vars: [], body: w.block(null, [record(0), record(1), record(2), w.unreachable()], 'none') };
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
 * Declares, before any body is generated, everything a body refers to by index in the module:
 * the helper imports (in order of first use; an inline tail call imports nothing), callx, the
 * callbacks and the packet globals of ldabs/ldind.
 */
function prescan(ctx: ModuleCtx, cfg: ProgramCfg): void {
  const insns = insnsOf(cfg.program);
  for (const fn of cfg.functions) {
    // Only the instructions buildCfg listed (calls, lddw, callx, kfunc, ldabs/ldind), in program order.
    for (let si = 0; si < fn.sites.length; si++) {
      const insn = insns.get(fn.sites[si]!)!;
      if (insn.kind === 'call' && ctx.fixups.get(insn.pc)?.kind === 'tail_call') ctx.usesTailCalls = true;
      else if (insn.kind === 'call' && insn.helper !== CORE_POISON_HELPER) declareHelper(ctx, insn.helper, insn.pc);
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
