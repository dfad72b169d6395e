/**
 * WIR: a minimal WebAssembly IR, the code generator's output.
 *
 * Code generation builds plain expression trees here, through a builder whose methods mirror
 * binaryen.js (`w.i64.add(a, b)`, `w.local.get(i, 'i64')`, `w.block(label, children, type)`).
 * Two backends consume them: compiler/wasm-writer.ts writes Wasm bytes directly (the fast -O0
 * path: no Binaryen), and compiler/binaryen.ts lowers them into a Binaryen module to optimise.
 * A node tagged with `pc` is a possibly-trapping instruction; both backends map it back to its
 * eBPF instruction index.
 */

export type ValType = 'i32' | 'i64';
export type WType = ValType | 'none';

/** A numeric operator by its Wasm text name, with its binary opcode and operand/result types. */
export interface OpInfo {
  code: number;
  result: ValType;
}

/** Unary and binary numeric operators used by the code generator, keyed by their Wasm names. */
export const NUMERIC_OPS = {
  'i32.eqz': { code: 0x45, result: 'i32' },
  'i32.eq': { code: 0x46, result: 'i32' },
  'i32.ne': { code: 0x47, result: 'i32' },
  'i32.lt_s': { code: 0x48, result: 'i32' },
  'i32.lt_u': { code: 0x49, result: 'i32' },
  'i32.gt_s': { code: 0x4a, result: 'i32' },
  'i32.gt_u': { code: 0x4b, result: 'i32' },
  'i32.le_s': { code: 0x4c, result: 'i32' },
  'i32.le_u': { code: 0x4d, result: 'i32' },
  'i32.ge_s': { code: 0x4e, result: 'i32' },
  'i32.ge_u': { code: 0x4f, result: 'i32' },
  'i64.eqz': { code: 0x50, result: 'i32' },
  'i64.eq': { code: 0x51, result: 'i32' },
  'i64.ne': { code: 0x52, result: 'i32' },
  'i64.lt_s': { code: 0x53, result: 'i32' },
  'i64.lt_u': { code: 0x54, result: 'i32' },
  'i64.gt_s': { code: 0x55, result: 'i32' },
  'i64.gt_u': { code: 0x56, result: 'i32' },
  'i64.le_s': { code: 0x57, result: 'i32' },
  'i64.le_u': { code: 0x58, result: 'i32' },
  'i64.ge_s': { code: 0x59, result: 'i32' },
  'i64.ge_u': { code: 0x5a, result: 'i32' },
  'i32.add': { code: 0x6a, result: 'i32' },
  'i32.sub': { code: 0x6b, result: 'i32' },
  'i32.mul': { code: 0x6c, result: 'i32' },
  'i32.div_s': { code: 0x6d, result: 'i32' },
  'i32.div_u': { code: 0x6e, result: 'i32' },
  'i32.rem_s': { code: 0x6f, result: 'i32' },
  'i32.rem_u': { code: 0x70, result: 'i32' },
  'i32.and': { code: 0x71, result: 'i32' },
  'i32.or': { code: 0x72, result: 'i32' },
  'i32.xor': { code: 0x73, result: 'i32' },
  'i32.shl': { code: 0x74, result: 'i32' },
  'i32.shr_s': { code: 0x75, result: 'i32' },
  'i32.shr_u': { code: 0x76, result: 'i32' },
  'i32.rotl': { code: 0x77, result: 'i32' },
  'i32.rotr': { code: 0x78, result: 'i32' },
  'i64.add': { code: 0x7c, result: 'i64' },
  'i64.sub': { code: 0x7d, result: 'i64' },
  'i64.mul': { code: 0x7e, result: 'i64' },
  'i64.div_s': { code: 0x7f, result: 'i64' },
  'i64.div_u': { code: 0x80, result: 'i64' },
  'i64.rem_s': { code: 0x81, result: 'i64' },
  'i64.rem_u': { code: 0x82, result: 'i64' },
  'i64.and': { code: 0x83, result: 'i64' },
  'i64.or': { code: 0x84, result: 'i64' },
  'i64.xor': { code: 0x85, result: 'i64' },
  'i64.shl': { code: 0x86, result: 'i64' },
  'i64.shr_s': { code: 0x87, result: 'i64' },
  'i64.shr_u': { code: 0x88, result: 'i64' },
  'i32.wrap_i64': { code: 0xa7, result: 'i32' },
  'i64.extend_i32_s': { code: 0xac, result: 'i64' },
  'i64.extend_i32_u': { code: 0xad, result: 'i64' },
  'i32.extend8_s': { code: 0xc0, result: 'i32' },
  'i32.extend16_s': { code: 0xc1, result: 'i32' },
  'i64.extend8_s': { code: 0xc2, result: 'i64' },
  'i64.extend16_s': { code: 0xc3, result: 'i64' },
  'i64.extend32_s': { code: 0xc4, result: 'i64' },
} as const satisfies Record<string, OpInfo>;

export type NumericOp = keyof typeof NUMERIC_OPS;

/** Memory operators: opcode, natural alignment (log2), result type. */
export const MEMORY_OPS = {
  'i32.load': { code: 0x28, align: 2, type: 'i32' },
  'i64.load': { code: 0x29, align: 3, type: 'i64' },
  'i32.load8_u': { code: 0x2d, align: 0, type: 'i32' },
  'i32.load16_u': { code: 0x2f, align: 1, type: 'i32' },
  'i64.load8_s': { code: 0x30, align: 0, type: 'i64' },
  'i64.load8_u': { code: 0x31, align: 0, type: 'i64' },
  'i64.load16_s': { code: 0x32, align: 1, type: 'i64' },
  'i64.load16_u': { code: 0x33, align: 1, type: 'i64' },
  'i64.load32_s': { code: 0x34, align: 2, type: 'i64' },
  'i64.load32_u': { code: 0x35, align: 2, type: 'i64' },
  'i64.store': { code: 0x37, align: 3, type: 'none' },
  'i64.store8': { code: 0x3c, align: 0, type: 'none' },
  'i64.store16': { code: 0x3d, align: 1, type: 'none' },
  'i64.store32': { code: 0x3e, align: 2, type: 'none' },
} as const;

export type MemoryOp = keyof typeof MEMORY_OPS;

/** An expression. `type` is its result type ('none' for statements and for code that never falls through). */
export type Node =
  | { k: 'i32.const'; type: 'i32'; value: number }
  | { k: 'i64.const'; type: 'i64'; value: bigint }
  | { k: 'local.get'; type: ValType; index: number }
  | { k: 'local.set'; type: 'none'; index: number; value: Node }
  | { k: 'global.get'; type: ValType; name: string }
  | { k: 'global.set'; type: 'none'; name: string; value: Node }
  // `code` is the operator's binary opcode (NUMERIC_OPS / MEMORY_OPS), kept for the direct writer.
  | { k: 'unary'; type: ValType; op: NumericOp; code: number; a: Node }
  | { k: 'binary'; type: ValType; op: NumericOp; code: number; a: Node; b: Node }
  | { k: 'load'; type: ValType; op: MemoryOp; code: number; offset: number; ptr: Node; pc?: number }
  | { k: 'store'; type: 'none'; op: MemoryOp; code: number; offset: number; ptr: Node; value: Node; pc?: number }
  | { k: 'block'; type: WType; label: string | null; children: Node[] }
  | { k: 'loop'; type: 'none'; label: string; body: Node }
  | { k: 'if'; type: WType; cond: Node; then: Node; else: Node | null }
  /** `cond ? a : b`, both operands evaluated (Wasm `select`). */
  | { k: 'select'; type: ValType; a: Node; b: Node; cond: Node }
  | { k: 'br'; type: 'none'; label: string; cond: Node | null }
  | { k: 'br_table'; type: 'none'; labels: string[]; defaultLabel: string; index: Node }
  | { k: 'call'; type: WType; target: string; args: Node[]; pc?: number }
  | { k: 'return'; type: 'none'; value: Node | null }
  | { k: 'unreachable'; type: 'none' }
  | { k: 'nop'; type: 'none'; pc?: number }
  /** Bulk memory (compiler/rewrite/copy-loop.ts): memmove of `len` bytes, and a byte fill. */
  | { k: 'memory.copy'; type: 'none'; dst: Node; src: Node; len: Node }
  | { k: 'memory.fill'; type: 'none'; dst: Node; value: Node; len: Node }
  /** The memory's size in 64 KiB pages (i32). */
  | { k: 'memory.size'; type: 'i32' };

/**
 * Where code generation sends a function body: whole statements, and the opening and closing of
 * the control structures around them. The direct writer writes each statement as it arrives, so
 * no tree of a large function is ever kept; TreeSink builds the tree for Binaryen.
 */
export interface CodeSink {
  push(...nodes: Node[]): unknown;
  openBlock(label: string): void;
  openLoop(label: string): void;
  /** An `if` statement (no value); its arms are the statements until elseArm() and close(). */
  openIf(cond: Node): void;
  elseArm(): void;
  close(): void;
}

interface Frame {
  kind: 'root' | 'block' | 'loop' | 'if';
  label: string | null;
  cond: Node | null;
  children: Node[];
  then: Node[] | null;
}

/** A CodeSink that builds WIR trees. */
export class TreeSink implements CodeSink {
  private readonly frames: Frame[] = [{ kind: 'root', label: null, cond: null, children: [], then: null }];

  push(...nodes: Node[]): void {
    const children = this.frames[this.frames.length - 1]!.children;
    for (const n of nodes) children.push(n);
  }

  openBlock(label: string): void {
    this.frames.push({ kind: 'block', label, cond: null, children: [], then: null });
  }

  openLoop(label: string): void {
    this.frames.push({ kind: 'loop', label, cond: null, children: [], then: null });
  }

  openIf(cond: Node): void {
    this.frames.push({ kind: 'if', label: null, cond, children: [], then: null });
  }

  elseArm(): void {
    const f = this.frames[this.frames.length - 1]!;
    f.then = f.children;
    f.children = [];
  }

  close(): void {
    const f = this.frames.pop()!;
    let node: Node;
    if (f.kind === 'block') node = w.block(f.label, f.children);
    else if (f.kind === 'loop') node = w.loop(f.label!, w.block(null, f.children));
    else if (f.then) node = w.if(f.cond!, w.block(null, f.then), w.block(null, f.children));
    else node = w.if(f.cond!, w.block(null, f.children));
    this.push(node);
  }

  /** The statements pushed at the top level. */
  nodes(): Node[] {
    return this.frames[0]!.children;
  }
}

/** A function body: a tree, or a generator that sends its statements to a sink. */
export type WBody = Node | ((sink: CodeSink) => void);

/** A function defined in the module. */
export interface WFunction {
  name: string;
  params: ValType[];
  result: WType;
  /** Locals after the parameters. */
  vars: ValType[];
  body: WBody;
}

/** The body as a tree (runs a generator into a TreeSink). */
export function bodyTree(body: WBody): Node {
  if (typeof body !== 'function') return body;
  const sink = new TreeSink();
  body(sink);
  return w.block(null, sink.nodes());
}

/** A function imported by the module. */
export interface WImport {
  name: string;
  module: string;
  base: string;
  params: ValType[];
  result: WType;
}

export interface WGlobal {
  name: string;
  type: ValType;
  init: number;
}

/** A whole module. Memory is always imported as `memoryImport`. */
export interface WModule {
  memoryImport: { module: string; base: string; initial: number; maximum: number };
  imports: WImport[];
  functions: WFunction[];
  globals: WGlobal[];
  exports: Array<{ name: string; function: string }>;
  /** Active data segments of the imported memory (constant tables, runtime/abi.ts CONST_TABLE_BASE). */
  data?: Array<{ address: number; bytes: Uint8Array }>;
  /**
   * Functions written after the module's own, each with its own type and export: the batch and
   * repeat loops (compiler/repeat-export.ts `loopFunctions`). The direct writer only; a module
   * with them is written as compiler/batch-export.ts `addLoopExports` would leave it.
   */
  appended?: WAppended[];
}

/**
 * A function appended to a written module: its export name, its type (encoded, `0x60 params
 * results`, never shared with the module's own types) and its body (locals and code, without the
 * size): encoded bytes and trees, written in order.
 */
export interface WAppended {
  name: string;
  type: readonly number[];
  body: ReadonlyArray<readonly number[] | Node>;
}

type Bin = (a: Node, b: Node) => Node;
type Un = (a: Node) => Node;

function bin(op: NumericOp): Bin {
  const { result: type, code } = NUMERIC_OPS[op];
  return (a, b) => ({ k: 'binary', type, op, code, a, b });
}

function un(op: NumericOp): Un {
  const { result: type, code } = NUMERIC_OPS[op];
  return (a) => ({ k: 'unary', type, op, code, a });
}

function load(op: MemoryOp) {
  const type = MEMORY_OPS[op].type as ValType;
  const code = MEMORY_OPS[op].code;
  return (offset: number, _align: number, ptr: Node): Node => ({ k: 'load', type, op, code, offset, ptr, pc: undefined });
}

function store(op: MemoryOp) {
  const code = MEMORY_OPS[op].code;
  return (offset: number, _align: number, ptr: Node, value: Node): Node => ({ k: 'store', type: 'none', op, code, offset, ptr, value, pc: undefined });
}

// Leaves that code generation creates by the hundred thousand are shared: nodes are never mutated
// (except tagPc on loads, stores and calls, which are always fresh), and both backends only read.
const localGets: Record<ValType, Node[]> = { i32: [], i64: [] };
const smallI32: Node[] = [];
for (let v = -16; v < 256; v++) smallI32.push({ k: 'i32.const', type: 'i32', value: v });
/** i64 constants from SMALL_I64_MIN up to (not including) SMALL_I64_END, made on first use. */
const SMALL_I64_MIN = -256;
const SMALL_I64_END = 4096;
const smallI64: Array<Node | undefined> = new Array<Node | undefined>(SMALL_I64_END - SMALL_I64_MIN);

/** An i64 constant from a number that is a safe integer (shared for small values). */
function i64FromNumber(value: number): Node {
  if (value >= SMALL_I64_MIN && value < SMALL_I64_END) {
    return (smallI64[value - SMALL_I64_MIN] ??= { k: 'i64.const', type: 'i64', value: BigInt(value) });
  }
  return { k: 'i64.const', type: 'i64', value: BigInt.asIntN(64, BigInt(value)) };
}

/** Builds WIR nodes with binaryen.js-like method names. */
export const w = {
  i32: {
    const: (value: number): Node =>
      value >= -16 && value < 256 && Number.isInteger(value)
        ? smallI32[value + 16]!
        : { k: 'i32.const', type: 'i32', value: value | 0 },
    eqz: un('i32.eqz'), eq: bin('i32.eq'), ne: bin('i32.ne'),
    lt_s: bin('i32.lt_s'), lt_u: bin('i32.lt_u'), gt_s: bin('i32.gt_s'), gt_u: bin('i32.gt_u'),
    le_s: bin('i32.le_s'), le_u: bin('i32.le_u'), ge_s: bin('i32.ge_s'), ge_u: bin('i32.ge_u'),
    add: bin('i32.add'), sub: bin('i32.sub'), mul: bin('i32.mul'),
    div_s: bin('i32.div_s'), div_u: bin('i32.div_u'), rem_s: bin('i32.rem_s'), rem_u: bin('i32.rem_u'),
    and: bin('i32.and'), or: bin('i32.or'), xor: bin('i32.xor'),
    shl: bin('i32.shl'), shr_s: bin('i32.shr_s'), shr_u: bin('i32.shr_u'), rotl: bin('i32.rotl'), rotr: bin('i32.rotr'),
    wrap: un('i32.wrap_i64'), extend8_s: un('i32.extend8_s'), extend16_s: un('i32.extend16_s'),
    load: load('i32.load'), load8_u: load('i32.load8_u'), load16_u: load('i32.load16_u'),
  },
  i64: {
    const: (value: bigint): Node => ({ k: 'i64.const', type: 'i64', value: BigInt.asIntN(64, value) }),
    /** An i64 constant from a safe integer (small values share one node). */
    constNum: i64FromNumber,
    eqz: un('i64.eqz'), eq: bin('i64.eq'), ne: bin('i64.ne'),
    lt_s: bin('i64.lt_s'), lt_u: bin('i64.lt_u'), gt_s: bin('i64.gt_s'), gt_u: bin('i64.gt_u'),
    le_s: bin('i64.le_s'), le_u: bin('i64.le_u'), ge_s: bin('i64.ge_s'), ge_u: bin('i64.ge_u'),
    add: bin('i64.add'), sub: bin('i64.sub'), mul: bin('i64.mul'),
    div_s: bin('i64.div_s'), div_u: bin('i64.div_u'), rem_s: bin('i64.rem_s'), rem_u: bin('i64.rem_u'),
    and: bin('i64.and'), or: bin('i64.or'), xor: bin('i64.xor'),
    shl: bin('i64.shl'), shr_s: bin('i64.shr_s'), shr_u: bin('i64.shr_u'),
    extend_s: un('i64.extend_i32_s'), extend_u: un('i64.extend_i32_u'),
    extend8_s: un('i64.extend8_s'), extend16_s: un('i64.extend16_s'), extend32_s: un('i64.extend32_s'),
    load: load('i64.load'), load8_s: load('i64.load8_s'), load8_u: load('i64.load8_u'),
    load16_s: load('i64.load16_s'), load16_u: load('i64.load16_u'),
    load32_s: load('i64.load32_s'), load32_u: load('i64.load32_u'),
    store: store('i64.store'), store8: store('i64.store8'), store16: store('i64.store16'), store32: store('i64.store32'),
  },
  local: {
    get: (index: number, type: ValType): Node => (localGets[type][index] ??= { k: 'local.get', type, index }),
    set: (index: number, value: Node): Node => ({ k: 'local.set', type: 'none', index, value }),
  },
  global: {
    get: (name: string, type: ValType): Node => ({ k: 'global.get', type, name }),
    set: (name: string, value: Node): Node => ({ k: 'global.set', type: 'none', name, value }),
  },
  block: (label: string | null, children: Node[], type: WType = 'none'): Node => ({ k: 'block', type, label, children }),
  loop: (label: string, body: Node): Node => ({ k: 'loop', type: 'none', label, body }),
  /** `if` with a value when both arms have the same value type, else a statement. */
  if: (cond: Node, then: Node, otherwise?: Node): Node => ({
    k: 'if',
    type: otherwise && then.type !== 'none' && then.type === otherwise.type ? then.type : 'none',
    cond, then, else: otherwise ?? null,
  }),
  /** `cond ? a : b` without a branch: both operands are evaluated. */
  select: (cond: Node, a: Node, b: Node): Node => ({ k: 'select', type: a.type as ValType, a, b, cond }),
  br: (label: string, cond?: Node): Node => ({ k: 'br', type: 'none', label, cond: cond ?? null }),
  switch: (labels: string[], defaultLabel: string, index: Node): Node => ({ k: 'br_table', type: 'none', labels, defaultLabel, index }),
  call: (target: string, args: Node[], type: WType): Node => ({ k: 'call', type, target, args }),
  return: (value?: Node): Node => ({ k: 'return', type: 'none', value: value ?? null }),
  unreachable: (): Node => ({ k: 'unreachable', type: 'none' }),
  nop: (): Node => ({ k: 'nop', type: 'none' }),
  memory: {
    copy: (dst: Node, src: Node, len: Node): Node => ({ k: 'memory.copy', type: 'none', dst, src, len }),
    fill: (dst: Node, value: Node, len: Node): Node => ({ k: 'memory.fill', type: 'none', dst, value, len }),
    size: (): Node => ({ k: 'memory.size', type: 'i32' }),
  },
  /** No code: marks where the code of eBPF instruction `pc` starts (CompileOptions.mapAllInstructions; -O0 only). */
  mark: (pc: number): Node => ({ k: 'nop', type: 'none', pc }),
};

/** Marks a load, store or call as the code of eBPF instruction `pc` (for trap locations). */
export function tagPc(node: Node, pc: number): Node {
  if (node.k === 'load' || node.k === 'store' || node.k === 'call') node.pc = pc;
  return node;
}
