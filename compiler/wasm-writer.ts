/**
 * WIR -> Wasm binary, directly: the -O0 backend. One pass over the trees, no Binaryen, so
 * compiling costs little more than decoding. It also records the exact code offset of every
 * tagged (possibly trapping) node for the instruction map.
 */
import { CompileError, ErrorCode } from '../runtime/errors.js';
import { utf8 } from './sections.js';
import { type CodeSink, type Node, type ValType, type WAppended, type WModule, type WType } from './wir.js';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e };
const BLOCKTYPE: Record<WType, number> = { i32: 0x7f, i64: 0x7e, none: 0x40 };

/**
 * The writer's buffers are kept from one module to the next (up to SCRATCH_KEEP bytes): a
 * fresh buffer grown by doubling to a large module's size is memory the OS must hand over page by
 * page again on every compile (a page fault per 4 KiB: a tenth of a 100k-instruction compile).
 * writeModule runs synchronously, so one set of buffers serves every compile.
 */
const SCRATCH_KEEP = 16 << 20;
let scratchBytes: Uint8Array | null = null;
let scratchOffsets: Int32Array | null = null;
let scratchIndices: Int32Array | null = null;

class ByteWriter {
  buf: Uint8Array;
  len = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(b: number): void {
    if (this.len === this.buf.length) this.grow(1);
    this.buf[this.len++] = b;
  }

  bytes(bs: ArrayLike<number>): void {
    this.grow(bs.length);
    this.buf.set(bs, this.len);
    this.len += bs.length;
  }

  u32(n: number): void {
    // Local indices, memarg offsets and label depths are mostly one byte.
    if (n >>> 0 < 0x80 && this.len < this.buf.length) {
      this.buf[this.len++] = n;
      return;
    }
    this.grow(5);
    n >>>= 0;
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      this.buf[this.len++] = b;
    } while (n !== 0);
  }

  /** A u32 LEB padded to 5 bytes at `at` (for sizes known only after the content is written). */
  patchU32(at: number, n: number): void {
    for (let i = 0; i < 4; i++) {
      this.buf[at + i] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[at + 4] = n & 0x7f;
  }

  reserveU32(): number {
    this.grow(5);
    const at = this.len;
    this.len += 5;
    return at;
  }

  s32(n: number): void {
    if (n >= -0x40 && n < 0x40 && this.len < this.buf.length) {
      this.buf[this.len++] = n & 0x7f;
      return;
    }
    this.grow(5);
    n |= 0;
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  s64(v: bigint): void {
    // One conversion instead of two bigint compares: Number(v) is in the i32 range exactly when v is.
    const small = Number(v);
    if (small >= -0x80000000 && small <= 0x7fffffff) {
      this.s32(small);
      return;
    }
    // Wider: the two 32-bit halves as numbers, shifted together (no bigint work per byte).
    this.grow(10);
    let lo = Number(BigInt.asUintN(32, v));
    let hi = Number(BigInt.asIntN(32, v >> 32n));
    for (;;) {
      const b = lo & 0x7f;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>= 7;
      if ((hi === 0 && lo === 0 && (b & 0x40) === 0) || (hi === -1 && lo === 0xffffffff && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  name(s: string): void {
    // Names are short and mostly ASCII: those are their own bytes.
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) >= 0x80) {
        const bs = utf8(s);
        this.u32(bs.length);
        this.bytes(bs);
        return;
      }
    }
    this.u32(s.length);
    this.grow(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }
}

/** The largest function body Wasm engines accept (V8's and SpiderMonkey's limit, in bytes). */
export const MAX_FUNCTION_BYTES = 7_654_321;

export interface WrittenModule {
  binary: Uint8Array;
  /** Code offsets of the tagged nodes, ascending, */
  insnOffsets: ArrayLike<number>;
  /** and their instruction indices. */
  insnIndices: ArrayLike<number>;
}

/** The code offsets of tagged nodes and their instruction indices, as two growing columns. */
class InsnColumns {
  count = 0;
  constructor(public offsets: Int32Array, public indices: Int32Array) {}

  add(offset: number, pc: number): void {
    if (this.count === this.offsets.length) {
      const offsets = new Int32Array(this.count * 2);
      offsets.set(this.offsets);
      const indices = new Int32Array(this.count * 2);
      indices.set(this.indices);
      this.offsets = offsets;
      this.indices = indices;
    }
    this.offsets[this.count] = offset;
    this.indices[this.count++] = pc;
  }
}

/** Writes a WIR module as a Wasm binary (its own copy of the bytes and columns). */
export function writeModule(mod: WModule): WrittenModule {
  return writeModuleWith(mod, (w) => ({
    binary: w.binary.slice(), insnOffsets: Array.from(w.insnOffsets), insnIndices: Array.from(w.insnIndices),
  }));
}

/**
 * Writes a WIR module and hands the result to `finish` as views of the writer's reused buffers:
 * they are valid only until `finish` returns (the caller copies what it keeps, e.g. into the
 * final module with its custom sections, compiler/compile.ts), which saves copying a large
 * module's bytes once more. `context` is passed on to `finish` (which then needs no closure).
 */
export function writeModuleWith<T, C = undefined>(mod: WModule, finish: (written: WrittenModule, context: C) => T, context?: C): T {
  const out = new ByteWriter(scratchBytes ?? new Uint8Array(1 << 16));
  scratchBytes = null;
  const cols = new InsnColumns(scratchOffsets ?? new Int32Array(1024), scratchIndices ?? new Int32Array(1024));
  scratchOffsets = scratchIndices = null;
  const written = writeInto(mod, out, cols);
  const result = finish(written, context as C);
  // Kept for the next module only after `finish` (which may still read them) and if not huge.
  if (out.buf.length <= SCRATCH_KEEP) scratchBytes = out.buf;
  if (cols.offsets.length * 4 <= SCRATCH_KEEP) {
    scratchOffsets = cols.offsets;
    scratchIndices = cols.indices;
  }
  return result;
}

/**
 * Writes function bodies: expressions, and (as the CodeSink of a generated body) each statement
 * as it arrives, then dropped. A class, not closures made per module: V8 keeps the optimised code
 * of a closure only while one of its instances lives, so closures made anew for every compile
 * would run unoptimised again after each full collection.
 */
class BodyWriter implements CodeSink {
  /** The labels of the enclosing blocks, loops ('' for an if), innermost last. */
  readonly labels: string[] = [];

  constructor(
    private readonly out: ByteWriter,
    private readonly cols: InsnColumns,
    private readonly funcIndex: ReadonlyMap<string, number>,
    private readonly globalIndex: ReadonlyMap<string, number>,
  ) {}

  private depthOf(label: string): number {
    const labels = this.labels;
    for (let i = labels.length - 1; i >= 0; i--) if (labels[i] === label) return labels.length - 1 - i;
    throw new Error(`wasm-writer: branch to unknown label ${label}`);
  }

  expr(n: Node): void {
    const out = this.out;
    // The most frequent kinds first.
    switch (n.k) {
      case 'local.set':
        this.expr(n.value);
        out.u8(0x21);
        out.u32(n.index);
        return;
      case 'local.get':
        out.u8(0x20);
        out.u32(n.index);
        return;
      case 'binary':
        this.expr(n.a);
        this.expr(n.b);
        out.u8(n.code);
        return;
      case 'i64.const':
        out.u8(0x42);
        out.s64(n.value);
        return;
      case 'i32.const':
        out.u8(0x41);
        out.s32(n.value);
        return;
      case 'unary':
        this.expr(n.a);
        out.u8(n.code);
        return;
      case 'load':
        this.expr(n.ptr);
        if (n.pc !== undefined) {
          this.cols.add(out.len, n.pc);
        }
        out.u8(n.code);
        out.u32(0); // byte alignment: eBPF accesses need not be aligned
        out.u32(n.offset);
        return;
      case 'store':
        this.expr(n.ptr);
        this.expr(n.value);
        if (n.pc !== undefined) {
          this.cols.add(out.len, n.pc);
        }
        out.u8(n.code);
        out.u32(0);
        out.u32(n.offset);
        return;
      case 'global.get':
        out.u8(0x23);
        out.u32(this.globalIndex.get(n.name)!);
        return;
      case 'global.set':
        this.expr(n.value);
        out.u8(0x24);
        out.u32(this.globalIndex.get(n.name)!);
        return;
      case 'block':
        if (n.label === null) {
          for (const c of n.children) this.expr(c);
          return;
        }
        out.u8(0x02);
        out.u8(BLOCKTYPE[n.type]);
        this.labels.push(n.label);
        for (const c of n.children) this.expr(c);
        this.labels.pop();
        out.u8(0x0b);
        return;
      case 'loop':
        out.u8(0x03);
        out.u8(0x40);
        this.labels.push(n.label);
        this.expr(n.body);
        this.labels.pop();
        out.u8(0x0b);
        return;
      case 'if':
        this.expr(n.cond);
        out.u8(0x04);
        out.u8(BLOCKTYPE[n.type]);
        this.labels.push('');
        this.expr(n.then);
        if (n.else) {
          out.u8(0x05);
          this.expr(n.else);
        }
        this.labels.pop();
        out.u8(0x0b);
        return;
      case 'select':
        this.expr(n.a);
        this.expr(n.b);
        this.expr(n.cond);
        out.u8(0x1b);
        return;
      case 'br':
        if (n.cond) {
          this.expr(n.cond);
          out.u8(0x0d);
        } else {
          out.u8(0x0c);
        }
        out.u32(this.depthOf(n.label));
        return;
      case 'br_table':
        this.expr(n.index);
        out.u8(0x0e);
        out.u32(n.labels.length);
        for (const l of n.labels) out.u32(this.depthOf(l));
        out.u32(this.depthOf(n.defaultLabel));
        return;
      case 'call':
        for (const a of n.args) this.expr(a);
        if (n.pc !== undefined) {
          this.cols.add(out.len, n.pc);
        }
        out.u8(0x10);
        out.u32(this.funcIndex.get(n.target)!);
        return;
      case 'return':
        if (n.value) this.expr(n.value);
        out.u8(0x0f);
        return;
      case 'unreachable':
        out.u8(0x00);
        return;
      case 'nop':
        if (n.pc !== undefined) {
          this.cols.add(out.len, n.pc);
        }
        return;
      case 'memory.copy':
        this.expr(n.dst);
        this.expr(n.src);
        this.expr(n.len);
        out.bytes([0xfc, 0x0a, 0x00, 0x00]);
        return;
      case 'memory.fill':
        this.expr(n.dst);
        this.expr(n.value);
        this.expr(n.len);
        out.bytes([0xfc, 0x0b, 0x00]);
        return;
      case 'memory.size':
        out.bytes([0x3f, 0x00]);
        return;
    }
  }

  push(...nodes: Node[]): void {
    for (const n of nodes) this.expr(n);
  }

  openBlock(label: string): void {
    this.out.u8(0x02);
    this.out.u8(0x40);
    this.labels.push(label);
  }

  openLoop(label: string): void {
    this.out.u8(0x03);
    this.out.u8(0x40);
    this.labels.push(label);
  }

  openIf(cond: Node): void {
    this.expr(cond);
    this.out.u8(0x04);
    this.out.u8(0x40);
    this.labels.push('');
  }

  elseArm(): void {
    this.out.u8(0x05);
  }

  close(): void {
    this.labels.pop();
    this.out.u8(0x0b);
  }
}

/**
 * The types of appended functions, after the module's `count` own: each distinct encoding once,
 * in order (as compiler/batch-export.ts addLoopExports adds them), and each function's index.
 */
function appendedTypes(appended: readonly WAppended[], count: number): { types: Array<readonly number[]>; indices: number[] } {
  const types: Array<readonly number[]> = [];
  const indices: number[] = [];
  for (const a of appended) {
    let k = 0;
    for (; k < types.length; k++) {
      const t = types[k]!;
      let same = t.length === a.type.length;
      for (let i = 0; same && i < t.length; i++) same = t[i] === a.type[i];
      if (same) break;
    }
    if (k === types.length) types.push(a.type);
    indices.push(count + k);
  }
  return { types, indices };
}

/**
 * Patches the size of what was written since `start` into the 5 bytes reserved at `at`: padded,
 * or (`minimal`) in as few bytes as it needs, the content moved back over the rest (and the
 * instruction offsets recorded from `firstCol` on with it), as addLoopExports writes the
 * sections and bodies it rewrites.
 */
function patchSize(out: ByteWriter, cols: InsnColumns, at: number, start: number, minimal: boolean, firstCol: number): void {
  const size = out.len - start;
  if (!minimal) {
    out.patchU32(at, size);
    return;
  }
  let n = 1;
  while (size >= 2 ** (7 * n)) n++;
  const delta = 5 - n;
  if (delta > 0) {
    out.buf.copyWithin(at + n, start, out.len);
    out.len -= delta;
    for (let i = firstCol; i < cols.count; i++) cols.offsets[i]! -= delta;
  }
  for (let i = 0, v = size; i < n; i++, v = Math.floor(v / 128)) out.buf[at + i] = (v & 0x7f) | (i < n - 1 ? 0x80 : 0);
}

function writeInto(mod: WModule, out: ByteWriter, cols: InsnColumns): WrittenModule {
  out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

  // Types.
  const typeIndex = new Map<string, number>();
  const types: Array<{ params: ValType[]; result: WType }> = [];
  const typeOf = (params: ValType[], result: WType): number => {
    const key = params.join(',') + '->' + result;
    let i = typeIndex.get(key);
    if (i === undefined) {
      i = types.length;
      types.push({ params, result });
      typeIndex.set(key, i);
    }
    return i;
  };
  const funcIndex = new Map<string, number>();
  mod.imports.forEach((imp, i) => funcIndex.set(imp.name, i));
  mod.functions.forEach((f, i) => funcIndex.set(f.name, mod.imports.length + i));
  const importTypes = mod.imports.map((imp) => typeOf(imp.params, imp.result));
  const funcTypes = mod.functions.map((f) => typeOf(f.params, f.result));
  const globalIndex = new Map(mod.globals.map((g, i) => [g.name, i]));
  // Appended functions (the batch and repeat loops): their types after the module's own, each
  // distinct encoding once, as compiler/batch-export.ts addLoopExports adds them.
  const appended = mod.appended ?? [];
  const extraTypes = appendedTypes(appended, types.length);

  const section = (id: number, body: () => void, minimal = false): void => {
    out.u8(id);
    const at = out.reserveU32();
    const start = out.len;
    const firstCol = cols.count;
    body();
    patchSize(out, cols, at, start, minimal, firstCol);
  };
  // A module with appended functions has the sections they extend sized in minimal LEB128.
  const rewritten = appended.length > 0;

  section(1, () => {
    out.u32(types.length + extraTypes.types.length);
    for (const t of types) {
      out.u8(0x60);
      out.u32(t.params.length);
      for (const p of t.params) out.u8(VALTYPE[p]);
      if (t.result === 'none') out.u32(0);
      else {
        out.u32(1);
        out.u8(VALTYPE[t.result]);
      }
    }
    for (const t of extraTypes.types) out.bytes(t);
  }, rewritten);
  section(2, () => {
    out.u32(mod.imports.length + 1);
    const mem = mod.memoryImport;
    out.name(mem.module);
    out.name(mem.base);
    out.u8(0x02);
    out.u8(0x01);
    out.u32(mem.initial);
    out.u32(mem.maximum);
    mod.imports.forEach((imp, i) => {
      out.name(imp.module);
      out.name(imp.base);
      out.u8(0x00);
      out.u32(importTypes[i]!);
    });
  });
  section(3, () => {
    out.u32(funcTypes.length + appended.length);
    for (const t of funcTypes) out.u32(t);
    for (const t of extraTypes.indices) out.u32(t);
  }, rewritten);
  if (mod.globals.length > 0) {
    section(6, () => {
      out.u32(mod.globals.length);
      for (const g of mod.globals) {
        out.u8(VALTYPE[g.type]);
        out.u8(0x01);
        if (g.type === 'i32') {
          out.u8(0x41);
          out.s32(g.init);
        } else {
          out.u8(0x42);
          out.s64(BigInt(g.init));
        }
        out.u8(0x0b);
      }
    });
  }
  section(7, () => {
    out.u32(mod.exports.length + appended.length);
    for (const e of mod.exports) {
      out.name(e.name);
      out.u8(0x00);
      out.u32(funcIndex.get(e.function)!);
    }
    for (let k = 0; k < appended.length; k++) {
      out.name(appended[k]!.name);
      out.u8(0x00);
      out.u32(mod.imports.length + mod.functions.length + k);
    }
  }, rewritten);

  const code = new BodyWriter(out, cols, funcIndex, globalIndex);

  section(10, () => {
    out.u32(mod.functions.length + appended.length);
    for (const f of mod.functions) {
      const at = out.reserveU32();
      const start = out.len;
      // Locals in runs of equal type.
      const runs: Array<[number, ValType]> = [];
      for (const v of f.vars) {
        const last = runs[runs.length - 1];
        if (last && last[1] === v) last[0]++;
        else runs.push([1, v]);
      }
      out.u32(runs.length);
      for (const [count, type] of runs) {
        out.u32(count);
        out.u8(VALTYPE[type]);
      }
      if (typeof f.body === 'function') f.body(code);
      else code.expr(f.body);
      if (code.labels.length !== 0) throw new Error(`wasm-writer: ${f.name} left ${code.labels.length} structures open`);
      out.u8(0x0b);
      if (out.len - start > MAX_FUNCTION_BYTES) {
        throw new CompileError(
          ErrorCode.TooComplex,
          `one eBPF function compiles to ${out.len - start} bytes of Wasm code, above the ${MAX_FUNCTION_BYTES} bytes engines accept per function`,
          {},
        );
      }
      out.patchU32(at, out.len - start);
    }
    for (const a of appended) {
      const at = out.reserveU32();
      const start = out.len;
      const firstCol = cols.count;
      for (const part of a.body) {
        if (Array.isArray(part)) out.bytes(part);
        else code.expr(part as Node);
      }
      patchSize(out, cols, at, start, true, firstCol);
    }
  }, rewritten);
  if (mod.data && mod.data.length > 0) {
    section(11, () => {
      out.u32(mod.data!.length);
      for (const d of mod.data!) {
        out.u8(0x00);
        out.u8(0x41);
        out.s32(d.address);
        out.u8(0x0b);
        out.u32(d.bytes.length);
        out.bytes(d.bytes);
      }
    });
  }
  return {
    binary: out.buf.subarray(0, out.len),
    insnOffsets: cols.offsets.subarray(0, cols.count),
    insnIndices: cols.indices.subarray(0, cols.count),
  };
}
