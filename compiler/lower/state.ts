/**
 * What every lowered eBPF function shares: the Wasm names of the module's functions, imports and
 * globals, the locals of a function (the registers and scratch), register access, and the module
 * state the lowering (compiler/lower) and the rewrites (compiler/rewrite) read and fill.
 *
 * Each eBPF function becomes a Wasm function `(r1..r5: i64, fp: i32) -> i64` whose locals are the
 * registers; r10 is the frame pointer `fp`, an i32 address into the stack region.
 */
import type { HelperImport } from '../../runtime/abi.js';
import type { Program, Reg } from '../../runtime/isa/insn.js';
import type { EmitOptions } from '../emit.js';
import type { CallFixup } from '../rewrite/fixups.js';
import type { ConstTables } from '../rewrite/switch-table.js';
import { w, type Node, type ValType, type WModule } from '../wir.js';

/** Prefix of the Wasm function of the eBPF function starting at instruction N (`f12`). */
export const FN_PREFIX = 'f';
/** The imported fault function `(code, pc, detail)`. */
export const FAULT_FN = '$fault';
/** The imported `callx` (a helper called through a register). */
export const CALLX_FN = '$callx';
/** Globals: the packet legacy loads read (ldabs/ldind). */
export const PKT_BASE = '$pkt_base';
export const PKT_LEN = '$pkt_len';
/** Globals of negative legacy-load offsets: the link-layer and network headers, skb->head (0: none). */
export const PKT_MAC = '$pkt_mac';
export const PKT_NET = '$pkt_net';
export const PKT_HEAD = '$pkt_head';
/** Global: checked mode's span of valid addresses above checkBase, set at entry. */
export const CHECK_SPAN = '$check_span';
/** Global: the instruction budget left, handed between functions. */
export const BUDGET = '$budget';
/** Global: the frame a helper's callback runs in. */
export const CB_FP = '$cb_fp';
/** Globals of inline tail calls: the program to run next, its context, the chain's length. */
export const TAIL_PENDING = '$tail_pending';
export const TAIL_CTX = '$tail_ctx';
export const TAIL_COUNT = '$tail_count';

// Local indices inside every eBPF function.
export const L_FP = 5;
export const L_R0 = 6;
export const L_TMP64 = 11;
export const L_ADDR = 12;
export const L_LABEL = 13;
export const L_A64 = 14;
export const L_SPAN = 15;
export const L_BUDGET = 16;
/**
 * The own frame's lowest address (fp - frame size), set at entry by functions that access their
 * frame: `r10 - N` becomes this local plus the memarg offset `frame size - N` (no add).
 */
export const L_FB = 17;
export const FN_PARAMS: ValType[] = ['i64', 'i64', 'i64', 'i64', 'i64', 'i32'];
export const FN_VARS: ValType[] = ['i64', 'i64', 'i64', 'i64', 'i64', 'i64', 'i32', 'i32', 'i64', 'i64', 'i64', 'i32'];
/** All locals of an eBPF function, in index order: the parameters of its chunks (compiler/lower/split.ts). */
export const CHUNK_LOCALS: ValType[] = [...FN_PARAMS, ...FN_VARS];
/** Globals `$chunk_state<i>`: local i of a split function, handed back from a chunk to its call site. */
export const CHUNK_STATE = '$chunk_state';
/** Global: where a chunk's call site continues (see compiler/lower/split.ts). */
export const CHUNK_EXIT = '$chunk_exit';

/** The Wasm function of chunk `index` (>= 1) of the eBPF function starting at `startPc`. */
export function chunkFn(startPc: number, index: number): string {
  return FN_PREFIX + startPc + '_' + index;
}

/** The module being generated and what its bodies refer to (declared before any body). */
export interface ModuleCtx {
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
  /** Call sites the rewrites replace, by instruction slot (see compiler/rewrite/fixups.ts). */
  fixups: ReadonlyMap<number, CallFixup>;
  /** The module's constant tables (switch lookups; module.data). */
  tables: ConstTables;
}

function regLocal(r: Reg): number {
  if (r === 0) return L_R0;
  if (r <= 5) return r - 1;
  return r + 1; // r6..r9 -> 7..10
}

// Register reads are leaves shared by every use (WIR nodes are immutable), built once per register.
const REG64: Node[] = [];
const REG32: Node[] = [];
for (let r = 0; r <= 10; r++) {
  REG64.push(r === 10 ? w.i64.extend_u(w.local.get(L_FP, 'i32')) : w.local.get(regLocal(r), 'i64'));
  REG32.push(r === 10 ? w.local.get(L_FP, 'i32') : w.i32.wrap(w.local.get(regLocal(r), 'i64')));
}

/** A register as i64 (r10: the frame pointer, zero-extended). */
export function get64(r: Reg): Node {
  return REG64[r]!;
}

/** A register's low 32 bits. */
export function get32(r: Reg): Node {
  return REG32[r]!;
}

/** Sets a register to an i64. */
export function set64(r: Reg, v: Node): Node {
  return w.local.set(regLocal(r), v);
}

/** Sets a register to an i32, zero-extended (ALU32 semantics). */
export function set32(r: Reg, v: Node): Node {
  return w.local.set(regLocal(r), w.i64.extend_u(v));
}

/** An i64 constant from a number or bigint, wrapped to 64 bits. */
export function i64c(v: number | bigint): Node {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return w.i64.constNum(v);
  return w.i64.const(BigInt.asIntN(64, BigInt(v)));
}

/** Stops the program: calls the fault import with `code`, the instruction and a detail. */
export function fault(code: number, pc: number, detail: Node): Node {
  const m = w;
  return m.block(null, [m.call(FAULT_FN, [m.i32.const(code), m.i32.const(pc), detail], 'none'), m.unreachable()], 'none');
}

/** The import of helper `id`. */
export function helperFn(id: number): string {
  return '$helper_' + id;
}

/** The import of the kfunc called with `imm`. */
export function kfuncFn(imm: number): string {
  return '$kfunc_' + imm;
}
