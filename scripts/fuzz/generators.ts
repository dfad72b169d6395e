/**
 * fast-check arbitraries for differential and robustness testing.
 *
 * Two families live here:
 *
 * - Assembly lines (`asmLine`, `regValue`, `immediate`): the building blocks of the interpreter
 *   test's random programs (runtime/test/interpreter.test.ts), mostly straight-line code through
 *   arbitrary registers, where faults are frequent.
 * - Structured programs (`arbProgramAst`, `lowerProgram`, `arbFuzzCase`): random *valid*
 *   programs, generated as a small syntax tree and lowered to instructions. Lowering is total and
 *   deterministic, so every tree fast-check produces or shrinks to is a valid program:
 *
 *   - every instruction family: ALU32/ALU64 with all operations on immediates and registers
 *     (division and modulo with random and edge divisors), neg, movsx, le/be/bswap, lddw,
 *     ldx/ldxs/st/stx of every size, atomics of every kind, conditional jumps of every kind and
 *     width, ja and ja32, helper calls, callx, bpf-to-bpf calls, exit, ldabs/ldind;
 *   - memory accesses only inside the stack frame [r10-512, r10), the input memory [r1, r1+len)
 *     and the caller's frame (through a pointer each call passes in r2, kept in the callee's
 *     slot at r10-512), directly or through a register holding a derived pointer, aligned or
 *     not; helper 8 stores into the same places from outside the program;
 *   - loops bounded by a counter register no statement in the body may write, so every program
 *     terminates: tested at the head or at the end, counting down or up, 32 or 64 bits, with
 *     break and continue, and with a second entry into the middle of the body (irreducible
 *     control flow);
 *   - bpf-to-bpf calls only to later subfunctions (no recursion, so no unbounded depth), plus a
 *     fixed recursive function taking its depth as an argument (deep calls fault E_CALL_DEPTH);
 *   - occasional faults on purpose: accesses outside linear memory (through a 32-bit wrap, past
 *     the end, straddling the end), a helper that throws for some arguments, callx to an id the
 *     host lacks; and a helper (7) that grows memory;
 *   - registers are initialised before they are read and only subfunctions that are called are
 *     emitted, so the programs pass compiler/validate.ts as well (its path-insensitive rules:
 *     calls and legacy loads leave r1-r5 uninitialised, stack offsets must be in the frame).
 *
 * `arbFuzzGroup` puts several programs in one module (compiling them together is much cheaper)
 * with a random stack shape and, sometimes, checked memory mode. The second half of the file has
 * the byte-level inputs of the robustness checks: random slots, random control flow, mutations of
 * valid programs, damaged ELF objects, assembly-ish text.
 *
 * Every exit first stores r0-r9 in the top 80 bytes of its frame, so a register that differs
 * between engines shows up in the stack memory the tests compare.
 */
import fc from 'fast-check';
import { DEFAULT_FRAME_SIZE, DEFAULT_MAX_CALL_DEPTH, WASM_PAGE } from '../../runtime/abi.js';
import type { HelperDefinition } from '../../runtime/helper-registry.js';
import type {
  AluInsn, AluOp, AtomicOp, Insn, JaInsn, JcondInsn, JmpOp, MemSize,
} from '../../runtime/isa/insn.js';
import { computeLayout } from '../../runtime/memory-layout.js';
import { decodeSlot } from '../../runtime/isa/decode.js';
import { AtomicCode, Op } from '../../runtime/isa/opcodes.js';
import { encodeProgram } from '../../compiler/encode.js';
import { parseElf } from '../../compiler/elf/elf64.js';

const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const INT64_MIN = 0x8000000000000000n;

// ================================================================ values and assembly lines

/** 64-bit values at the edges of arithmetic: widths, signs, shift counts. */
export const INTERESTING_VALUES: readonly bigint[] = [
  0n, 1n, 2n, 3n, 7n, 31n, 32n, 33n, 63n, 64n, 65n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn,
  0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, INT64_MIN, U64(-1n), U64(-2n),
];

/** An unsigned 64-bit register value, biased to the edges. */
export const regValue: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(...INTERESTING_VALUES),
  fc.bigInt({ min: 0n, max: U64(-1n) }),
);

/** A signed 32-bit immediate, biased to the edges. */
export const immediate: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, -1, 2, 31, 32, 63, 64, -0x80000000, 0x7fffffff, 0x8000, -2),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
);

/** Divisors: zero, ±1, the most negative value and friends, or anything. */
export const divisor: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, -1, 2, -2, 3, 7, -0x80000000, 0x7fffffff, 0x10000, -0x10000),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
);

/** Shift counts: in range mostly, out of range sometimes (the engines mask them). */
const shiftCount: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 63 }) },
  { weight: 1, arbitrary: fc.integer({ min: -0x80000000, max: 0x7fffffff }) },
);

const asmReg = fc.integer({ min: 0, max: 9 });
const asmAnyReg = fc.integer({ min: 0, max: 10 });
const asmAluOp = fc.constantFrom('add', 'sub', 'mul', 'div', 'sdiv', 'or', 'and', 'lsh', 'rsh', 'mod', 'smod', 'xor', 'mov', 'arsh');
const asmJmpOp = fc.constantFrom('jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'jlt', 'jle', 'jslt', 'jsle');
const asmWidth = fc.constantFrom('', '32');

/**
 * One line of conformance-syntax assembly: arithmetic, byte swaps, forward jumps `+k` (k 0..3;
 * the caller clamps them to the program), stack stores, loads and atomics at r10-relative
 * offsets, loads and stores through arbitrary registers (mostly faults), legacy packet loads.
 */
export const asmLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(asmAluOp, asmWidth, asmReg, fc.oneof(asmAnyReg.map((r) => `%r${r}`), immediate.map(String))).map(([op, ww, d, s]) => `${op}${ww} %r${d}, ${s}`) },
  { weight: 1, arbitrary: fc.tuple(asmWidth, asmReg).map(([ww, d]) => `neg${ww} %r${d}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('movsx864', 'movsx1664', 'movsx3264', 'movsx832', 'movsx1632'), asmReg, asmAnyReg).map(([m, d, s]) => `${m} %r${d}, %r${s}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('le', 'be', 'bswap'), fc.constantFrom(16, 32, 64), asmReg).map(([m, b, d]) => `${m}${b} %r${d}`) },
  { weight: 2, arbitrary: fc.tuple(asmJmpOp, asmWidth, asmReg, fc.oneof(asmAnyReg.map((r) => `%r${r}`), immediate.map(String)), fc.integer({ min: 0, max: 3 })).map(([op, ww, d, s, k]) => `${op}${ww} %r${d}, ${s}, +${k}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('b', 'h', 'w', 'dw'), fc.integer({ min: 1, max: 8 }), asmAnyReg).map(([sz, slot, s]) => `stx${sz} [%r10-${slot * 8}], %r${s}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('b', 'h', 'w', 'dw', 'sb', 'sh', 'sw'), asmReg, fc.integer({ min: 1, max: 64 })).map(([sz, d, off]) => `ldx${sz} %r${d}, [%r10-${off}]`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('add', 'or', 'and', 'xor', 'xchg'), fc.boolean(), fc.constantFrom('', '32'), asmAnyReg, fc.integer({ min: 1, max: 8 }))
    .filter(([op, f, , s]) => !(s === 10 && (f || op === 'xchg')))
    .map(([op, f, ww, s, slot]) => `lock ${f || op === 'xchg' ? 'fetch ' : ''}${op === 'xchg' ? 'xchg' : op}${ww} [%r10-${slot * 8}], %r${s}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('', '32'), asmAnyReg, fc.integer({ min: 1, max: 8 })).map(([ww, s, slot]) => `lock cmpxchg${ww} [%r10-${slot * 8}], %r${s}`) },
  // Accesses through arbitrary registers: mostly faults, sometimes not.
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('b', 'h', 'w', 'dw', 'sw'), asmReg, asmAnyReg, fc.integer({ min: -0x8000, max: 0x7fff }))
    .map(([sz, d, s, off]) => `ldx${sz} %r${d}, [%r${s}${off < 0 ? '-' : '+'}${Math.abs(off)}]`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('b', 'h', 'w', 'dw'), asmReg, fc.integer({ min: 0, max: 24 })).map(([sz, d, off]) => `stx${sz} [%r${d}+${off}], %r${d}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('b', 'h', 'w'), fc.integer({ min: -4, max: 20 })).map(([sz, k]) => `ldabs${sz} ${k}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('b', 'h', 'w'), asmAnyReg, fc.integer({ min: -4, max: 20 })).map(([sz, s, k]) => `ldind${sz} %r${s}, ${k}`) },
);

// ================================================================ helpers

/** What helpers may reach of the instance calling them. */
export interface HelperEnv {
  /** The instance's memory, once it exists. */
  memory?: () => WebAssembly.Memory;
}

/**
 * The helpers generated programs call: deterministic and pure (except that id 3 throws for some
 * arguments, and id 7 grows the caller's memory), one per result kind, with generic and declared
 * signatures.
 */
export function fuzzHelpers(env: HelperEnv = {}): HelperDefinition[] {
  return [
    {
      id: 1, name: 'fuzz_mix',
      fn: (a: bigint, b: bigint, c: bigint, d: bigint, e: bigint): bigint =>
        BigInt.asIntN(64, a * 3n + (b ^ (c << 5n)) - d + (e >> 3n)),
    },
    {
      id: 2, name: 'fuzz_mul_add32', signature: { args: ['i32', 'i32'], result: 's32' },
      fn: (a: number, b: number): number => (Math.imul(a, 31) + b) | 0,
    },
    {
      id: 3, name: 'fuzz_checked',
      fn: (a: bigint, b: bigint): bigint => {
        if ((a & 7n) === 7n) throw new Error(`fuzz_checked refuses ${a}`);
        return BigInt.asIntN(64, a ^ (b * 0x9e3779b97f4a7c15n));
      },
    },
    {
      id: 4, name: 'fuzz_u32', signature: { args: ['i64', 'i32', 'i64'], result: 'u32' },
      fn: (a: bigint, b: number, c: bigint): number => Number(BigInt.asIntN(32, a + c)) ^ b,
    },
    {
      id: 5, name: 'fuzz_void', signature: { args: ['i32'], result: 'void' },
      fn: (): undefined => undefined,
    },
    {
      id: 6, name: 'fuzz_const', signature: { args: [], result: 'i64' },
      fn: (): bigint => 0x0123456789abcdefn,
    },
    {
      // Grows memory by a page, up to 4 pages; returns the old size in pages.
      id: 7, name: 'fuzz_grow', signature: { args: [], result: 'u32' },
      fn: (): number => {
        const m = env.memory?.();
        if (!m) return 0;
        const pages = m.buffer.byteLength / WASM_PAGE;
        return pages < 4 ? m.grow(1) : pages;
      },
    },
    {
      // Stores v at addr (8 bytes) and returns the old value; fails outside memory.
      id: STORE_HELPER_ID, name: 'fuzz_store', signature: { args: ['i32', 'i64'], result: 'i64' },
      fn: (addr: number, v: bigint): bigint => {
        const m = env.memory?.();
        if (!m) return 0n;
        const a = addr >>> 0;
        if (a + 8 > m.buffer.byteLength) throw new Error(`fuzz_store: address 0x${a.toString(16)} is outside memory`);
        const view = new DataView(m.buffer);
        const old = view.getBigInt64(a, true);
        view.setBigInt64(a, v, true);
        return old;
      },
    },
  ];
}

/** Ids of `fuzzHelpers()`. */
export const FUZZ_HELPER_IDS: readonly number[] = [1, 2, 3, 4, 5, 6, 7];
/** The helper that stores its second argument at the address in its first. */
export const STORE_HELPER_ID = 8;
/** An id no fuzz helper has: callx to it faults with E_UNKNOWN_HELPER. */
export const MISSING_HELPER_ID = 77;

// ================================================================ the program tree

type BinOp = Exclude<AluOp, 'neg' | 'movsx'>;

/** A derived pointer: `tmp = base + delta` (in 32 bits when `narrow`), then `[tmp + (off - delta)]`. */
export interface Via {
  tmp: number;
  delta: number;
  narrow: boolean;
}

/** The own stack frame, the input memory, or the caller's frame (through a pointer the caller passed). */
export type Region = 'stack' | 'data' | 'caller';

/** A comparison: `dst op src` (src null: `dst op imm`). */
export interface Cond {
  op: JmpOp;
  width: 32 | 64;
  dst: number;
  src: number | null;
  imm: number;
}

export type Stmt =
  | { k: 'alu'; op: BinOp; width: 32 | 64; dst: number; src: number | null; imm: number }
  | { k: 'neg'; width: 32 | 64; dst: number }
  | { k: 'movsx'; width: 32 | 64; bits: 8 | 16 | 32; dst: number; src: number }
  | { k: 'end'; op: 'le' | 'be' | 'bswap'; bits: 16 | 32 | 64; dst: number }
  | { k: 'lddw'; dst: number; value: bigint }
  /** `off` is reduced into the region at lowering. `reg` is the loaded or stored register. */
  | { k: 'mem'; region: Region; op: 'ldx' | 'ldxs' | 'st' | 'stx'; size: MemSize; off: number; reg: number; imm: number; via: Via | null }
  | { k: 'atomic'; region: Region; op: AtomicOp; fetch: boolean; size: 4 | 8; off: number; src: number; via: Via | null; primeR0: boolean }
  /** `if (!(dst op src)) { then } else { else }`: the jump skips `then`. */
  | { k: 'if'; op: JmpOp; width: 32 | 64; dst: number; src: number | null; imm: number; then: Stmt[]; else: Stmt[] | null; wideJa: boolean }
  /**
   * A loop counting `count` down (forms 0, 2: test at the end, 64 or 32 bits; 1: test at the head;
   * 3: counting up). Form 4 also jumps into the middle of the body (at `split`) when `cond` holds:
   * a loop with two entries, irreducible control flow.
   */
  | { k: 'loop'; form: 0 | 1 | 2 | 3 | 4; count: number; body: Stmt[]; wideJa: boolean; split: number; cond: Cond }
  | { k: 'break' }
  | { k: 'continue' }
  /** A helper call by id, or through callx (the id in `reg`, with garbage in the high half). */
  | { k: 'helper'; id: number; callx: boolean; reg: number; high: number }
  /** bpf-to-bpf call of a later subfunction (`target` is reduced at lowering). */
  | { k: 'call'; target: number }
  /** Calls helper 8, which stores `src` at an address in `region` (r1 = the address, r2 = the value). */
  | { k: 'store'; region: Region; off: number; src: number }
  /** Calls the recursive function with r2 = depth. */
  | { k: 'recurse'; depth: number }
  | { k: 'exit' }
  | { k: 'legacy'; kind: 'ldabs' | 'ldind'; size: 1 | 2 | 4; off: number; base: number; tmp: number }
  /** A memory access that faults (variants 0-2) or touches the last bytes of memory (3). */
  | { k: 'fault'; variant: 0 | 1 | 2 | 3; acc: 'ldx' | 'stx' | 'st' | 'atomic'; size: MemSize; reg: number; tmp: number };

export interface FnAst {
  /** Register holding the input memory pointer, r6-r9; no statement writes it. */
  ptrReg: number;
  /** Values for registers read before they are written (index = register). */
  init: bigint[];
  body: Stmt[];
}

export interface ProgramAst {
  main: FnAst;
  subs: FnAst[];
  /** The input memory; null: run without one (r1 = r2 = 0). */
  mem: Uint8Array | null;
}

/** A generated test case: the program's bytes and instructions and the input memory. */
export interface FuzzCase {
  bytes: Uint8Array;
  insns: Insn[];
  /** The input memory; null: run without one (r1 = r2 = 0). */
  mem: Uint8Array | null;
  /** First instructions of the functions other than main (called subfunctions, the recursive one). */
  functions: number[];
}

export interface GenOptions {
  /** Statements in main, at most. Default 24. */
  maxStmts?: number;
  /** Subfunctions, at most. Default 3. */
  maxSubs?: number;
  /** Nesting of ifs and loops, at most. Default 2. */
  maxDepth?: number;
  /** fast-check's size for statement lists (default 'small': about ten statements at most per list). */
  size?: fc.Size;
  /** Relative weight (an integer) of deliberate faults (faulting accesses, unknown callx ids, deep recursion). Default 1. */
  faultWeight?: number;
}

const reg09 = fc.integer({ min: 0, max: 9 });
const reg010 = fc.integer({ min: 0, max: 10 });
const binOps: readonly BinOp[] = ['add', 'sub', 'mul', 'div', 'sdiv', 'or', 'and', 'lsh', 'rsh', 'mod', 'smod', 'xor', 'mov', 'arsh'];
const jmpOps: readonly JmpOp[] = ['jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'jlt', 'jle', 'jslt', 'jsle'];
const memSize = fc.constantFrom<MemSize>(8, 4, 2, 1);

const via: fc.Arbitrary<Via | null> = fc.option(
  fc.record({ tmp: reg09, delta: fc.integer({ min: -600, max: 600 }), narrow: fc.boolean() }),
  { freq: 3, nil: null },
);

const condArb: fc.Arbitrary<Cond> = fc.record({
  op: fc.constantFrom(...jmpOps),
  width: fc.constantFrom<32 | 64>(64, 32),
  dst: reg09,
  src: fc.option(reg010, { freq: 2, nil: null }),
  imm: immediate,
});

const aluStmt: fc.Arbitrary<Stmt> = fc.constantFrom(...binOps).chain((op) => {
  const imm = op === 'div' || op === 'sdiv' || op === 'mod' || op === 'smod'
    ? divisor
    : op === 'lsh' || op === 'rsh' || op === 'arsh' ? shiftCount : immediate;
  return fc.record({
    k: fc.constant('alu' as const),
    op: fc.constant(op),
    width: fc.constantFrom<32 | 64>(64, 32),
    dst: reg09,
    src: fc.option(reg010, { freq: 2, nil: null }),
    imm,
  });
});

const leafStmts = (faultWeight: number): fc.WeightedArbitrary<Stmt>[] => [
  { weight: 24, arbitrary: aluStmt },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('neg' as const), width: fc.constantFrom<32 | 64>(64, 32), dst: reg09 }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('movsx' as const), width: fc.constantFrom<32 | 64>(64, 32), bits: fc.constantFrom<8 | 16 | 32>(8, 16, 32), dst: reg09, src: reg010,
    }).map((s) => (s.width === 32 && s.bits === 32 ? { ...s, bits: 16 as const } : s)),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('end' as const), op: fc.constantFrom('le' as const, 'be' as const, 'bswap' as const), bits: fc.constantFrom<16 | 32 | 64>(16, 32, 64), dst: reg09 }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('lddw' as const), dst: reg09, value: regValue }) },
  {
    weight: 16,
    arbitrary: fc.record({
      k: fc.constant('mem' as const),
      region: fc.constantFrom<Region>('stack', 'data', 'caller'),
      op: fc.constantFrom('ldx' as const, 'stx' as const, 'st' as const, 'ldxs' as const),
      size: memSize,
      off: fc.integer({ min: 0, max: 511 }),
      reg: reg010,
      imm: immediate,
      via,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('atomic' as const),
      region: fc.constantFrom<Region>('stack', 'data', 'caller'),
      op: fc.constantFrom<AtomicOp>('add', 'or', 'and', 'xor', 'xchg', 'cmpxchg'),
      fetch: fc.boolean(),
      size: fc.constantFrom<4 | 8>(8, 4),
      // Mostly aligned slots, sometimes any offset.
      off: fc.oneof(fc.integer({ min: 0, max: 63 }).map((n) => n * 8), fc.integer({ min: 0, max: 511 })),
      src: reg010,
      via,
      primeR0: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('helper' as const),
      id: fc.constantFrom(...FUZZ_HELPER_IDS),
      callx: fc.boolean(),
      reg: reg09,
      high: fc.oneof(fc.constant(0), fc.integer({ min: -0x80000000, max: 0x7fffffff })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const) }) },
  { weight: 1, arbitrary: fc.constantFrom<Stmt>({ k: 'break' }, { k: 'continue' }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('legacy' as const),
      kind: fc.constantFrom('ldabs' as const, 'ldind' as const),
      size: fc.constantFrom<1 | 2 | 4>(1, 2, 4),
      off: fc.integer({ min: -4, max: 52 }),
      base: fc.integer({ min: -4, max: 52 }),
      tmp: reg09,
    }),
  },
  // Faults on purpose.
  {
    weight: 2 * faultWeight,
    arbitrary: fc.record({
      k: fc.constant('fault' as const),
      variant: fc.constantFrom<0 | 1 | 2 | 3>(3, 0, 1, 2),
      acc: fc.constantFrom('ldx' as const, 'stx' as const, 'st' as const, 'atomic' as const),
      size: memSize,
      reg: reg010,
      tmp: reg09,
    }),
  },
  {
    weight: faultWeight,
    arbitrary: fc.record({ k: fc.constant('helper' as const), id: fc.constant(MISSING_HELPER_ID), callx: fc.constant(true), reg: reg09, high: fc.constant(0) }),
  },
  { weight: faultWeight, arbitrary: fc.record({ k: fc.constant('recurse' as const), depth: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('call' as const), target: fc.nat(7) }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('store' as const), region: fc.constantFrom<Region>('stack', 'data', 'caller'), off: fc.nat(511), src: reg010 }),
  },
];

/** A statement list, nesting ifs and loops up to `depth` levels. */
function blockArb(depth: number, maxLength: number, faultWeight: number, size: fc.Size): fc.Arbitrary<Stmt[]> {
  const leaves = leafStmts(faultWeight);
  if (depth === 0) return fc.array(fc.oneof(...leaves), { maxLength, size });
  const inner = blockArb(depth - 1, Math.max(2, Math.ceil(maxLength / 2)), faultWeight, size);
  const ifStmt: fc.Arbitrary<Stmt> = fc.record({
    k: fc.constant('if' as const),
    op: fc.constantFrom(...jmpOps),
    width: fc.constantFrom<32 | 64>(64, 32),
    dst: reg09,
    src: fc.option(reg010, { freq: 2, nil: null }),
    imm: immediate,
    then: inner,
    else: fc.option(inner, { freq: 2, nil: null }),
    wideJa: fc.boolean(),
  });
  const loopStmt: fc.Arbitrary<Stmt> = fc.record({
    k: fc.constant('loop' as const),
    form: fc.constantFrom<0 | 1 | 2 | 3 | 4>(0, 1, 2, 3, 4),
    count: fc.integer({ min: 0, max: 5 }),
    body: inner,
    wideJa: fc.boolean(),
    split: fc.nat(),
    cond: condArb,
  });
  return fc.array(fc.oneof(...leaves, { weight: 6, arbitrary: ifStmt }, { weight: 4, arbitrary: loopStmt }), { maxLength, size });
}

function fnArb(maxStmts: number, maxDepth: number, faultWeight: number, size: fc.Size): fc.Arbitrary<FnAst> {
  return fc.record({
    ptrReg: fc.integer({ min: 6, max: 9 }),
    init: fc.array(regValue, { minLength: 10, maxLength: 10 }),
    body: blockArb(maxDepth, maxStmts, faultWeight, size),
  });
}

/** Random program trees (see the module comment). */
export function arbProgramAst(options: GenOptions = {}): fc.Arbitrary<ProgramAst> {
  const maxStmts = options.maxStmts ?? 24;
  const maxDepth = options.maxDepth ?? 2;
  const faultWeight = Math.max(0, Math.round(options.faultWeight ?? 1));
  const size = options.size ?? 'small';
  return fc.record({
    main: fnArb(maxStmts, maxDepth, faultWeight, size),
    subs: fc.array(fnArb(Math.max(2, Math.ceil(maxStmts / 2)), Math.min(maxDepth, 1), faultWeight, size), { maxLength: options.maxSubs ?? 3 }),
    mem: fc.oneof(
      { weight: 8, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 48 }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 7 }) },
      { weight: 1, arbitrary: fc.constant(null) },
    ),
  });
}

/** Random valid programs with their input memory. */
export function arbFuzzCase(options: GenOptions = {}): fc.Arbitrary<FuzzCase> {
  return arbProgramAst(options).map(lowerProgram);
}

/** The stack shape (compile and interpret options); the generated programs need frames of 512 bytes or more. */
export interface StackShape {
  maxCallDepth: number;
  frameSize: number;
}

export const DEFAULT_STACK: StackShape = { maxCallDepth: DEFAULT_MAX_CALL_DEPTH, frameSize: DEFAULT_FRAME_SIZE };

/** Mostly the default stack, sometimes shallower or deeper, with larger or odd-sized frames. */
export const arbStackShape: fc.Arbitrary<StackShape> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(DEFAULT_STACK) },
  {
    weight: 1,
    arbitrary: fc.record({
      maxCallDepth: fc.constantFrom(1, 2, 3, 5, 12),
      frameSize: fc.constantFrom(512, 520, 1024, 4096),
    }),
  },
);

/** Programs compiled into one module and run one after the other. */
export interface FuzzGroup {
  cases: FuzzCase[];
  stack: StackShape;
  /** Compiled and interpreted in checked memory mode. */
  checked: boolean;
  /** Compiled with an instruction budget (large enough never to run out). */
  budget: boolean;
  /**
   * Subfunctions are entry points too (run with the program's input, r2 = its length where a
   * caller would pass a pointer), so functions are both called and entered.
   */
  subEntries: boolean;
}

/** Groups of 1 to `maxPrograms` random valid programs with a stack shape. */
export function arbFuzzGroup(maxPrograms: number, options: GenOptions = {}): fc.Arbitrary<FuzzGroup> {
  return fc.record({
    cases: fc.array(arbFuzzCase(options), { minLength: 1, maxLength: maxPrograms, size: 'max' }),
    stack: arbStackShape,
    checked: fc.integer({ min: 0, max: 3 }).map((x) => x === 3),
    budget: fc.integer({ min: 0, max: 3 }).map((x) => x === 3),
    subEntries: fc.integer({ min: 0, max: 4 }).map((x) => x === 4),
  });
}

// ================================================================ lowering

/** Linear memory size of an instance with the default layout and a small input. */
export const DEFAULT_MEMORY_SIZE = computeLayout(DEFAULT_MAX_CALL_DEPTH, DEFAULT_FRAME_SIZE).initialPages * WASM_PAGE;
const FRAME = DEFAULT_FRAME_SIZE;
const CALLER_SAVED = 0b111110;
/** The slot at the bottom of each frame holding the pointer into the caller's frame. */
const CALLER_SLOT = -FRAME;

type Label = { id: number };
type Item = { insn: Insn; label?: Label } | { at: Label };

function bit(r: number): number {
  return 1 << r;
}

function alu(op: AluOp, width: 32 | 64, dst: number, src: number | null, imm = 0, sxBits: 0 | 8 | 16 | 32 = 0): AluInsn {
  return { kind: 'alu', pc: 0, op, width, dst, src, imm: src === null ? imm : 0, sxBits };
}

function i32(n: number): number {
  return n | 0;
}

/** Shared state of one program's lowering. */
class ProgramLowering {
  readonly items: Item[][] = [];
  readonly fnLabels: Label[] = [];
  readonly called = new Set<number>();
  usesRecursion = false;
  readonly recLabel: Label;
  private labels = 0;

  constructor(readonly ast: ProgramAst) {
    for (let i = 0; i < ast.subs.length; i++) this.fnLabels.push(this.label());
    this.recLabel = this.label();
  }

  label(): Label {
    return { id: this.labels++ };
  }
}

/** The innermost loops being lowered: where break and continue go, and what is initialised there. */
interface LoopCtx {
  end: Label;
  latch: Label;
  breakSets: number[];
  continueSets: number[];
  wide: boolean;
}

/** Lowers one function; `index` is -1 for main. */
class FnLowering {
  readonly out: Item[] = [];
  private readonly loops: LoopCtx[] = [];
  /** Registers initialised on every path here (bit r). */
  init: number;
  /** Registers no statement may write: the pointer and the loop counters. */
  reserved: number;

  constructor(
    private readonly p: ProgramLowering,
    private readonly fn: FnAst,
    private readonly index: number,
  ) {
    this.init = index < 0 ? bit(1) | bit(10) : 0b111110 | bit(10);
    this.reserved = bit(fn.ptrReg);
  }

  lower(): Item[] {
    // The input pointer arrives in r1 (main: from the runtime; subfunctions: from the caller).
    this.emit(alu('mov', 64, this.fn.ptrReg, 1));
    // A pointer into the caller's frame arrives in r2; main points into its own frame instead.
    if (this.index < 0) {
      this.emit(alu('mov', 64, 2, 10));
      this.emit(alu('add', 64, 2, null, -256));
    }
    this.emit({ kind: 'stx', pc: 0, size: 8, dst: 10, src: 2, off: CALLER_SLOT });
    if (!this.block(this.fn.body)) this.exit();
    return this.out;
  }

  // ---------------------------------------------------------------- registers

  /** A register the statement may write: `r` unless reserved (or r10), else the next free one. */
  private w(r: number): number {
    for (let i = 0; i < 10; i++) {
      const c = (r + i) % 10;
      if (!(this.reserved & bit(c))) return c;
    }
    throw new Error('no free register');
  }

  /** Makes sure `r` is initialised before it is read. */
  private need(r: number): void {
    if (r === 10 || this.init & bit(r)) return;
    const v = this.fn.init[r] ?? 0n;
    if (v <= 0x7fffffffn || v >= U64(-0x80000000n)) {
      this.out.push({ insn: alu('mov', 64, r, null, Number(BigInt.asIntN(32, v))) });
    } else {
      this.out.push({ insn: lddw(r, v) });
    }
    this.init |= bit(r);
  }

  /** Emits an instruction after initialising what it reads; tracks what it writes. */
  private emit(insn: Insn): void {
    for (const r of readsOf(insn)) this.need(r);
    this.out.push({ insn });
    switch (insn.kind) {
      case 'call':
      case 'callx':
      case 'call_local':
      case 'ldabs':
      case 'ldind':
        this.init = (this.init & ~CALLER_SAVED) | bit(0);
        break;
      case 'alu':
      case 'end':
      case 'lddw':
      case 'ldx':
        this.init |= bit(insn.dst);
        break;
      case 'atomic':
        if (insn.op === 'cmpxchg') this.init |= bit(0);
        else if (insn.fetch) this.init |= bit(insn.src);
        break;
      default:
        break;
    }
  }

  private jump(insn: JaInsn | JcondInsn, to: Label): void {
    for (const r of readsOf(insn)) this.need(r);
    this.out.push({ insn, label: to });
  }

  private place(l: Label): void {
    this.out.push({ at: l });
  }

  // ---------------------------------------------------------------- statements

  /** Lowers a statement list; returns true if it ends in an exit (what follows is dropped). */
  private block(stmts: readonly Stmt[]): boolean {
    for (const s of stmts) if (this.stmt(s)) return true;
    return false;
  }

  private exit(): void {
    // r0-r9 into the top of the frame, so the tests compare registers through memory.
    for (let r = 0; r < 10; r++) this.emit({ kind: 'stx', pc: 0, size: 8, dst: 10, src: r, off: -8 * (r + 1) });
    this.emit({ kind: 'exit', pc: 0 });
  }

  /** Address of an in-range access: base register and offset field, via a derived pointer or not. */
  private address(region: Region, off: number, size: MemSize, v: Via | null): { base: number; off: number } {
    let target: number;
    let base: number;
    if (region === 'caller') {
      // [p-248, p+256) around the pointer p = the caller's r10 - 256: its frame, less its own slot
      // at r10-512 holding the pointer its caller passed.
      target = -248 + (off % (504 - size + 1));
      base = this.w(v?.tmp ?? 0);
      this.emit({ kind: 'ldx', pc: 0, size: 8, signed: false, dst: base, src: 10, off: CALLER_SLOT });
      if (!v) return { base, off: target };
      this.emit(alu('add', 64, base, null, v.delta));
      return { base, off: target - v.delta };
    }
    if (region === 'stack') {
      target = -size - (off % (FRAME - 8 - size + 1));
      base = 10;
    } else {
      const len = this.p.ast.mem?.length ?? 0;
      if (len < size) return this.address('stack', off, size, v);
      target = off % (len - size + 1);
      base = this.fn.ptrReg;
    }
    if (!v) return { base, off: target };
    const tmp = this.w(v.tmp);
    this.emit(alu('mov', v.narrow ? 32 : 64, tmp, base));
    this.emit(alu('add', v.narrow ? 32 : 64, tmp, null, v.delta));
    return { base: tmp, off: target - v.delta };
  }

  private stmt(s: Stmt): boolean {
    switch (s.k) {
      case 'alu':
        this.emit(alu(s.op, s.width, this.w(s.dst), s.src, s.imm));
        return false;
      case 'neg':
        this.emit(alu('neg', s.width, this.w(s.dst), null));
        return false;
      case 'movsx':
        this.emit(alu('movsx', s.width, this.w(s.dst), s.src, 0, s.width === 32 && s.bits === 32 ? 16 : s.bits));
        return false;
      case 'end':
        this.emit({ kind: 'end', pc: 0, op: s.op, bits: s.bits, dst: this.w(s.dst) });
        return false;
      case 'lddw':
        this.emit(lddw(this.w(s.dst), s.value));
        return false;
      case 'mem': {
        const a = this.address(s.region, s.off, s.size, s.via);
        switch (s.op) {
          case 'ldx':
          case 'ldxs':
            this.emit({ kind: 'ldx', pc: 0, size: s.size, signed: s.op === 'ldxs' && s.size !== 8, dst: this.w(s.reg), src: a.base, off: a.off });
            break;
          case 'st':
            this.emit({ kind: 'st', pc: 0, size: s.size, dst: a.base, off: a.off, imm: s.imm });
            break;
          default:
            this.emit({ kind: 'stx', pc: 0, size: s.size, dst: a.base, src: s.reg, off: a.off });
            break;
        }
        return false;
      }
      case 'atomic': {
        const a = this.address(s.region, s.off, s.size, s.via);
        const fetch = s.fetch || s.op === 'xchg' || s.op === 'cmpxchg';
        // A fetch writes src (cmpxchg writes r0).
        let src = s.src;
        if (fetch && s.op !== 'cmpxchg') src = this.w(src);
        if (s.op === 'cmpxchg' && s.primeR0 && !(this.reserved & bit(0))) {
          // Load the current value into r0 so that the exchange happens.
          this.emit({ kind: 'ldx', pc: 0, size: s.size, signed: false, dst: 0, src: a.base, off: a.off });
        }
        this.emit({ kind: 'atomic', pc: 0, op: s.op, fetch, size: s.size, dst: a.base, src, off: a.off });
        return false;
      }
      case 'if':
        return this.ifStmt(s);
      case 'loop':
        return this.loop(s);
      case 'break':
      case 'continue':
        return this.breakOrContinue(s.k);
      case 'helper':
        if (s.callx) {
          const r = this.w(s.reg);
          if (s.high === 0) this.emit(alu('mov', 64, r, null, s.id));
          else this.emit(lddw(r, (BigInt(s.high >>> 0) << 32n) | BigInt(s.id >>> 0)));
          this.emit({ kind: 'callx', pc: 0, reg: r });
        } else {
          this.emit({ kind: 'call', pc: 0, helper: s.id });
        }
        return false;
      case 'call': {
        const first = this.index + 1;
        const n = this.p.ast.subs.length - first;
        if (n <= 0) {
          // No later subfunction: a helper call instead.
          this.emit({ kind: 'call', pc: 0, helper: FUZZ_HELPER_IDS[s.target % FUZZ_HELPER_IDS.length]! });
          return false;
        }
        const target = first + (s.target % n);
        this.p.called.add(target);
        this.emit(alu('mov', 64, 1, this.fn.ptrReg));
        this.emit(alu('mov', 64, 2, 10));
        this.emit(alu('add', 64, 2, null, -256));
        this.out.push({ insn: { kind: 'call_local', pc: 0, imm: 0, target: 0 }, label: this.p.fnLabels[target]! });
        this.init = (this.init & ~CALLER_SAVED) | bit(0);
        return false;
      }
      case 'store': {
        this.emit(alu('mov', 64, 2, s.src));
        const a = this.address(s.region, s.off, 8, null);
        this.emit(alu('mov', 64, 1, a.base));
        this.emit(alu('add', 64, 1, null, a.off));
        this.emit({ kind: 'call', pc: 0, helper: STORE_HELPER_ID });
        return false;
      }
      case 'recurse':
        this.p.usesRecursion = true;
        this.emit(alu('mov', 64, 2, null, s.depth));
        this.out.push({ insn: { kind: 'call_local', pc: 0, imm: 0, target: 0 }, label: this.p.recLabel });
        this.init = (this.init & ~CALLER_SAVED) | bit(0);
        return false;
      case 'exit':
        this.exit();
        return true;
      case 'legacy': {
        const len = this.p.ast.mem?.length ?? 0;
        if (s.kind === 'ldabs') {
          this.emit({ kind: 'ldabs', pc: 0, size: s.size, src: 0, imm: Math.min(s.off, len + 4) });
        } else {
          const tmp = this.w(s.tmp);
          this.emit(alu('mov', 64, tmp, null, Math.min(s.base, len + 4)));
          this.emit({ kind: 'ldind', pc: 0, size: s.size, src: tmp, imm: Math.min(s.off, len + 4) - Math.max(0, Math.min(s.base, len)) });
        }
        return false;
      }
      case 'fault':
        this.fault(s);
        return false;
    }
  }

  private ifStmt(s: Extract<Stmt, { k: 'if' }>): boolean {
    const elseL = this.p.label();
    this.jump({ kind: 'jcond', pc: 0, op: s.op, width: s.width, dst: s.dst, src: s.src, imm: s.src === null ? s.imm : 0, off: 0, target: 0 }, elseL);
    const before = this.init;
    const thenExits = this.block(s.then);
    const afterThen = this.init;
    if (s.else === null) {
      this.place(elseL);
      this.init = thenExits ? before : afterThen & before;
      return false;
    }
    const endL = this.p.label();
    if (!thenExits) this.jump({ kind: 'ja', pc: 0, wide: s.wideJa, off: 0, target: 0 }, endL);
    this.place(elseL);
    this.init = before;
    const elseExits = this.block(s.else);
    const afterElse = this.init;
    this.place(endL);
    if (thenExits && elseExits) return true;
    this.init = thenExits ? afterElse : elseExits ? afterThen : afterThen & afterElse;
    return false;
  }

  private loop(s: Extract<Stmt, { k: 'loop' }>): boolean {
    // The counter: a free register among r6-r9; without one, the body runs once.
    let counter = -1;
    for (let r = 6; r <= 9; r++) {
      if (!(this.reserved & bit(r))) {
        counter = r;
        break;
      }
    }
    if (counter < 0) return this.block(s.body);
    const savedReserved = this.reserved;
    this.reserved |= bit(counter);
    const count = s.form === 0 || s.form === 4 ? Math.max(1, s.count) : s.count;
    this.emit(alu('mov', s.form === 2 ? 32 : 64, counter, null, s.form === 3 ? 0 : count));
    const ctx: LoopCtx = { end: this.p.label(), latch: this.p.label(), breakSets: [], continueSets: [], wide: s.wideJa };
    const endSets: number[] = [];
    // Form 4 enters the body in the middle as well: a loop with two entries (irreducible).
    const split = s.form === 4 ? s.split % (s.body.length + 1) : 0;
    const mid = this.p.label();
    let atJump = 0;
    if (s.form === 4) {
      const c = s.cond;
      this.jump({ kind: 'jcond', pc: 0, op: c.op, width: c.width, dst: c.dst, src: c.src, imm: c.src === null ? c.imm : 0, off: 0, target: 0 }, mid);
      atJump = this.init;
    }
    // What is initialised at the loop head on every path: calls in the body clobber r1-r5.
    if (containsCall(s.body)) this.init &= ~CALLER_SAVED;
    const head = this.p.label();
    this.place(head);
    if (s.form === 1) {
      this.jump({ kind: 'jcond', pc: 0, op: 'jeq', width: 64, dst: counter, src: null, imm: 0, off: 0, target: 0 }, ctx.end);
      endSets.push(this.init);
    }
    this.loops.push(ctx);
    let exits: boolean;
    if (s.form === 4) {
      const firstExits = this.block(s.body.slice(0, split));
      this.place(mid);
      this.init = firstExits ? atJump : this.init & atJump;
      exits = this.block(s.body.slice(split));
    } else {
      exits = this.block(s.body);
    }
    this.loops.pop();
    // The latch (decrement and jump back), reached from the end of the body and from continues.
    const latchSets = [...ctx.continueSets, ...(exits ? [] : [this.init])];
    if (latchSets.length > 0) {
      this.place(ctx.latch);
      this.init = latchSets.reduce((a, b) => a & b);
      switch (s.form) {
        case 0:
        case 4:
          this.emit(alu('sub', 64, counter, null, 1));
          this.jump({ kind: 'jcond', pc: 0, op: 'jne', width: 64, dst: counter, src: null, imm: 0, off: 0, target: 0 }, head);
          endSets.push(this.init);
          break;
        case 1:
          this.emit(alu('sub', 64, counter, null, 1));
          this.jump({ kind: 'ja', pc: 0, wide: s.wideJa, off: 0, target: 0 }, head);
          break;
        case 2:
          this.emit(alu('add', 32, counter, null, -1));
          this.jump({ kind: 'jcond', pc: 0, op: 'jsgt', width: 32, dst: counter, src: null, imm: 0, off: 0, target: 0 }, head);
          endSets.push(this.init);
          break;
        default:
          this.emit(alu('add', 64, counter, null, 1));
          this.jump({ kind: 'jcond', pc: 0, op: 'jlt', width: 64, dst: counter, src: null, imm: count, off: 0, target: 0 }, head);
          endSets.push(this.init);
          break;
      }
    }
    this.place(ctx.end);
    this.reserved = savedReserved;
    endSets.push(...ctx.breakSets);
    if (endSets.length === 0) return true;
    this.init = endSets.reduce((a, b) => a & b);
    return false;
  }

  /** `break` (to the loop's end) or `continue` (to its latch, which counts down); nothing outside loops. */
  private breakOrContinue(which: 'break' | 'continue'): boolean {
    const ctx = this.loops[this.loops.length - 1];
    if (!ctx) return false;
    (which === 'break' ? ctx.breakSets : ctx.continueSets).push(this.init);
    this.jump({ kind: 'ja', pc: 0, wide: ctx.wide, off: 0, target: 0 }, which === 'break' ? ctx.end : ctx.latch);
    return true;
  }

  private fault(s: Extract<Stmt, { k: 'fault' }>): void {
    const size: MemSize = s.acc === 'atomic' ? (s.size === 8 ? 8 : 4) : s.size;
    const tmp = this.w(s.tmp);
    let off: number;
    switch (s.variant) {
      case 0:
        // An address near 4 GiB, far outside memory.
        this.emit(alu('mov', 32, tmp, null, -16));
        off = 0;
        break;
      case 1:
        // A negative offset wraps in 32 bits.
        this.emit(alu('mov', 64, tmp, null, 8));
        off = -16;
        break;
      case 2:
        // Straddles the end of memory (one byte past it).
        this.emit(alu('mov', 64, tmp, null, DEFAULT_MEMORY_SIZE - size + 1 - 4));
        off = 4;
        break;
      default:
        // The last bytes of memory: no fault.
        this.emit(alu('mov', 64, tmp, null, DEFAULT_MEMORY_SIZE - size));
        off = 0;
        break;
    }
    switch (s.acc) {
      case 'ldx':
        this.emit({ kind: 'ldx', pc: 0, size, signed: false, dst: this.w(s.reg), src: tmp, off });
        break;
      case 'stx':
        this.emit({ kind: 'stx', pc: 0, size, dst: tmp, src: s.reg, off });
        break;
      case 'st':
        this.emit({ kind: 'st', pc: 0, size, dst: tmp, off, imm: i32(0x5a5a5a5a) });
        break;
      default:
        this.emit({ kind: 'atomic', pc: 0, op: 'add', fetch: false, size: size as 4 | 8, dst: tmp, src: s.reg, off });
        break;
    }
  }
}

function lddw(dst: number, value: bigint): Insn {
  const v = U64(value);
  return {
    kind: 'lddw', pc: 0, dst, src: 0,
    imm: Number(BigInt.asIntN(32, v)), imm2: Number(BigInt.asIntN(32, v >> 32n)), value: v,
  };
}

/** Registers an instruction reads, as compiler/validate.ts counts them. */
function readsOf(insn: Insn): number[] {
  switch (insn.kind) {
    case 'alu': {
      const r: number[] = insn.src === null ? [] : [insn.src];
      if (insn.op !== 'mov' && insn.op !== 'movsx') r.push(insn.dst);
      return r;
    }
    case 'end':
      return [insn.dst];
    case 'ldx':
      return [insn.src];
    case 'st':
      return [insn.dst];
    case 'stx':
      return [insn.dst, insn.src];
    case 'atomic':
      return insn.op === 'cmpxchg' ? [insn.dst, insn.src, 0] : [insn.dst, insn.src];
    case 'jcond':
      return insn.src === null ? [insn.dst] : [insn.dst, insn.src];
    case 'callx':
      return [insn.reg];
    case 'ldind':
      return [insn.src];
    case 'exit':
      return [0];
    default:
      return [];
  }
}

function containsCall(stmts: readonly Stmt[]): boolean {
  return stmts.some((s) => {
    switch (s.k) {
      case 'helper':
      case 'call':
      case 'recurse':
      case 'legacy':
      case 'store':
        return true;
      case 'if':
        return containsCall(s.then) || (s.else !== null && containsCall(s.else));
      case 'loop':
        return containsCall(s.body);
      default:
        return false;
    }
  });
}

/** The recursive function: r0 = depth + (sum of the depths below), through the stack; faults when too deep. */
function recursiveFunction(p: ProgramLowering): Item[] {
  const done = p.label();
  return [
    { insn: { kind: 'stx', pc: 0, size: 8, dst: 10, src: 2, off: -8 } },
    { insn: alu('mov', 64, 0, 2) },
    { insn: { kind: 'jcond', pc: 0, op: 'jeq', width: 64, dst: 2, src: null, imm: 0, off: 0, target: 0 }, label: done },
    { insn: alu('sub', 64, 2, null, 1) },
    { insn: { kind: 'call_local', pc: 0, imm: 0, target: 0 }, label: p.recLabel },
    { insn: { kind: 'ldx', pc: 0, size: 8, signed: false, dst: 3, src: 10, off: -8 } },
    { insn: alu('add', 64, 0, 3) },
    { at: done },
    { insn: { kind: 'exit', pc: 0 } },
  ];
}

/** Lowers a program tree to a valid program (see the module comment). */
export function lowerProgram(ast: ProgramAst): FuzzCase {
  const p = new ProgramLowering(ast);
  const fns: { label: Label | null; items: Item[] }[] = [{ label: null, items: new FnLowering(p, ast.main, -1).lower() }];
  // Subfunctions call only later ones, so one pass in order finds every called one.
  for (let i = 0; i < ast.subs.length; i++) {
    if (p.called.has(i)) fns.push({ label: p.fnLabels[i]!, items: new FnLowering(p, ast.subs[i]!, i).lower() });
  }
  if (p.usesRecursion) fns.push({ label: p.recLabel, items: recursiveFunction(p) });

  // Place: assign slot indices, then resolve jumps and calls.
  const where = new Map<number, number>();
  const insns: Insn[] = [];
  const fixups: { insn: Insn; label: Label }[] = [];
  const functions: number[] = [];
  let pc = 0;
  for (const f of fns) {
    if (f.label) {
      where.set(f.label.id, pc);
      functions.push(pc);
    }
    for (const item of f.items) {
      if ('at' in item) {
        where.set(item.at.id, pc);
        continue;
      }
      const insn = { ...item.insn, pc } as Insn;
      insns.push(insn);
      if (item.label) fixups.push({ insn, label: item.label });
      pc += insn.kind === 'lddw' ? 2 : 1;
    }
  }
  for (const { insn, label } of fixups) {
    const target = where.get(label.id);
    if (target === undefined) throw new Error(`lowering bug: label ${label.id} never placed`);
    const rel = target - insn.pc - 1;
    if (insn.kind === 'call_local') {
      insn.imm = rel;
      insn.target = target;
    } else if (insn.kind === 'ja' || insn.kind === 'jcond') {
      insn.off = rel;
      insn.target = target;
    }
  }
  return { bytes: encodeProgram(insns), insns, mem: ast.mem, functions };
}

// ================================================================ bytes for the robustness checks

/** Every opcode byte the decoder accepts (with some choice of the other fields). */
export const VALID_OPCODES: readonly number[] = (() => {
  const out: number[] = [Op.LDDW];
  for (let opcode = 0; opcode < 256; opcode++) {
    if (opcode === Op.LDDW) continue;
    for (const imm of [0, 16, 1, AtomicCode.XCHG]) {
      try {
        decodeSlot({ opcode, dst: 1, src: 2, off: 0, imm }, 0);
        out.push(opcode);
        break;
      } catch {
        // not with this imm
      }
    }
  }
  return out;
})();

/** Random 8-byte slots: valid opcodes with random fields, sometimes anything. */
export const arbRandomSlots: fc.Arbitrary<Uint8Array> = fc.array(
  fc.record({
    opcode: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...VALID_OPCODES) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    dst: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 10 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    src: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 10 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
    off: fc.oneof(fc.integer({ min: -4, max: 8 }), fc.integer({ min: -0x8000, max: 0x7fff })),
    imm: fc.oneof(fc.integer({ min: -4, max: 64 }), immediate),
  }),
  { minLength: 1, maxLength: 50 },
).map((slots) => {
  const out = new Uint8Array(slots.length * 8);
  const view = new DataView(out.buffer);
  slots.forEach((s, i) => {
    view.setUint8(i * 8, s.opcode);
    view.setUint8(i * 8 + 1, (s.src << 4) | s.dst);
    view.setInt16(i * 8 + 2, s.off, true);
    view.setInt32(i * 8 + 4, s.imm, true);
  });
  return out;
});

/** One instruction of a random-control-flow program; `t` picks a jump or call target. */
interface InsnSpec {
  kind: 'alu' | 'end' | 'lddw' | 'ldx' | 'st' | 'stx' | 'atomic' | 'jcond' | 'ja' | 'call' | 'call_local' | 'callx' | 'exit' | 'legacy';
  a: number;
  b: number;
  c: number;
  imm: number;
  t: number;
  value: bigint;
}

const ALU_ALL: readonly AluOp[] = [...binOps, 'neg', 'movsx'];
const ATOMIC_ALL: readonly AtomicOp[] = ['add', 'or', 'and', 'xor', 'xchg', 'cmpxchg'];
const SIZES: readonly MemSize[] = [1, 2, 4, 8];

/**
 * Programs of random valid instructions with random control flow: jumps anywhere (backwards:
 * loops, possibly endless, possibly irreducible), local calls to any instruction (functions
 * that overlap jumps), memory accesses through r10, r1 or any register. They decode; many fail
 * the control-flow checks; the rest exercise the structurer and the code generator on shapes no
 * compiler emits.
 */
export const arbRandomCfgProgram: fc.Arbitrary<Uint8Array> = arbRandomCfg(40);

/**
 * Random-control-flow programs of up to `maxInsns` instructions (see {@link arbRandomCfgProgram});
 * without `localCalls`, one function (a call would start a function that rarely ends in exit,
 * so large programs with calls are nearly always refused).
 */
export function arbRandomCfg(maxInsns: number, size: fc.SizeForArbitrary = 'small', localCalls = true): fc.Arbitrary<Uint8Array> {
  return fc.array(
  fc.record({
    kind: fc.oneof(
      { weight: 8, arbitrary: fc.constant('alu' as const) },
      { weight: 1, arbitrary: fc.constantFrom('end' as const, 'lddw' as const, 'call' as const, 'callx' as const, 'legacy' as const) },
      { weight: 3, arbitrary: fc.constantFrom('ldx' as const, 'st' as const, 'stx' as const, 'atomic' as const) },
      { weight: 4, arbitrary: fc.constant('jcond' as const) },
      { weight: 2, arbitrary: fc.constantFrom('ja' as const, 'exit' as const, 'call_local' as const) },
    ),
    a: fc.nat(1000),
    b: fc.nat(1000),
    c: fc.nat(1000),
    imm: immediate,
    t: fc.nat(),
    value: regValue,
  }),
  { minLength: 1, maxLength: maxInsns, size },
).map((specs: InsnSpec[]) => {
  const insns: Insn[] = specs.map((s) => randomInsn(localCalls || s.kind !== 'call_local' ? s : { ...s, kind: 'ja' }));
  insns.push({ kind: 'exit', pc: 0 });
  let pc = 0;
  for (const insn of insns) {
    insn.pc = pc;
    pc += insn.kind === 'lddw' ? 2 : 1;
  }
  // Targets by instruction (never into a lddw's second half), as relative offsets.
  specs.forEach((s, i) => {
    const insn = insns[i]!;
    // (A call replaced by a jump takes its target the same way.)
    const target = insns[s.t % insns.length]!.pc;
    const rel = target - insn.pc - 1;
    if (insn.kind === 'jcond' || insn.kind === 'ja') {
      insn.off = insn.kind === 'ja' && insn.wide ? rel : Math.max(-0x8000, Math.min(0x7fff, rel));
      insn.target = insn.pc + insn.off + 1;
    } else if (insn.kind === 'call_local') {
      insn.imm = rel;
      insn.target = target;
    }
  });
  return encodeProgram(insns);
});
}

function randomInsn(s: InsnSpec): Insn {
  const dst = s.a % 10;
  const src = s.b % 11;
  switch (s.kind) {
    case 'alu': {
      const op = ALU_ALL[s.c % ALU_ALL.length]!;
      const width = s.c % 2 === 0 ? 64 : 32;
      if (op === 'neg') return alu('neg', width, dst, null);
      if (op === 'movsx') {
        const bits = width === 32 ? ([8, 16] as const)[s.b % 2]! : ([8, 16, 32] as const)[s.b % 3]!;
        return alu('movsx', width, dst, src, 0, bits);
      }
      return alu(op, width, dst, s.b % 3 === 0 ? null : src, s.imm);
    }
    case 'end':
      return { kind: 'end', pc: 0, op: (['le', 'be', 'bswap'] as const)[s.b % 3]!, bits: ([16, 32, 64] as const)[s.c % 3]!, dst };
    case 'lddw':
      return lddw(dst, s.value);
    case 'ldx':
    case 'st':
    case 'stx':
    case 'atomic': {
      const size = s.kind === 'atomic' ? (s.c % 2 === 0 ? 8 : 4) : SIZES[s.c % 4]!;
      // Base: r10 (in the frame), r1 (the input), or any register.
      const mode = s.a % 3;
      const base = mode === 0 ? 10 : mode === 1 ? 1 : s.b % 11;
      const off = mode === 0 ? -size - (s.imm & 0x1f8) : mode === 1 ? s.imm & 0xf : (s.imm << 16) >> 16;
      if (s.kind === 'ldx') return { kind: 'ldx', pc: 0, size, signed: size !== 8 && s.c % 5 === 0, dst, src: base, off };
      if (s.kind === 'st') return { kind: 'st', pc: 0, size, dst: base, off, imm: s.imm };
      if (s.kind === 'stx') return { kind: 'stx', pc: 0, size, dst: base, src: dst, off };
      const op = ATOMIC_ALL[s.c % ATOMIC_ALL.length]!;
      const fetch = op === 'xchg' || op === 'cmpxchg' || s.b % 2 === 0;
      return { kind: 'atomic', pc: 0, op, fetch, size: size as 4 | 8, dst: base, src: dst, off };
    }
    case 'jcond':
      return {
        kind: 'jcond', pc: 0, op: jmpOps[s.c % jmpOps.length]!, width: s.c % 2 === 0 ? 64 : 32, dst, src: s.b % 2 === 0 ? null : src,
        imm: s.b % 2 === 0 ? s.imm : 0, off: 0, target: 0,
      };
    case 'ja':
      return { kind: 'ja', pc: 0, wide: s.c % 4 === 0, off: 0, target: 0 };
    case 'call':
      return { kind: 'call', pc: 0, helper: s.c % 4 === 0 ? s.imm : 1 + (s.c % 6) };
    case 'call_local':
      return { kind: 'call_local', pc: 0, imm: 0, target: 0 };
    case 'callx':
      return { kind: 'callx', pc: 0, reg: src };
    case 'exit':
      return { kind: 'exit', pc: 0 };
    case 'legacy':
      return s.c % 2 === 0
        ? { kind: 'ldabs', pc: 0, size: ([1, 2, 4] as const)[s.b % 3]!, src: 0, imm: s.imm & 0x1f }
        : { kind: 'ldind', pc: 0, size: ([1, 2, 4] as const)[s.b % 3]!, src, imm: s.imm & 0x1f };
  }
}

/** A change to a valid program's bytes. Positions are reduced modulo the program at application. */
export type Mutation =
  | { m: 'flip'; pos: number; bit: number }
  | { m: 'opcode'; slot: number; value: number; valid: boolean }
  | { m: 'field'; slot: number; field: 'dst' | 'src' | 'off' | 'imm'; value: number }
  /** To a whole number of slots, or (`odd`) to any length. */
  | { m: 'truncate'; len: number; odd: boolean }
  /** 0 drop the second half, 1 give the second half an opcode, 2 end the program after the first half, 3 swap the halves, 4 set the second half's registers or offset. */
  | { m: 'lddw'; which: number; how: 0 | 1 | 2 | 3 | 4; value: number }
  /** Shifts a jump's or local call's offset (into the middle of a lddw, out of range, across functions). */
  | { m: 'jump'; which: number; delta: number }
  /** Copies `len` slots from `from` over `to`. */
  | { m: 'splice'; from: number; to: number; len: number };

export const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ m: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ m: fc.constant('opcode' as const), slot: fc.nat(), value: fc.integer({ min: 0, max: 255 }), valid: fc.boolean() }),
  fc.record({
    m: fc.constant('field' as const), slot: fc.nat(), field: fc.constantFrom('dst' as const, 'src' as const, 'off' as const, 'imm' as const),
    value: fc.oneof(fc.integer({ min: -2, max: 16 }), fc.integer({ min: -0x80000000, max: 0x7fffffff })),
  }),
  fc.record({ m: fc.constant('truncate' as const), len: fc.nat(), odd: fc.integer({ min: 0, max: 3 }).map((x) => x === 0) }),
  fc.record({ m: fc.constant('lddw' as const), which: fc.nat(), how: fc.constantFrom<0 | 1 | 2 | 3 | 4>(0, 1, 2, 3, 4), value: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ m: fc.constant('jump' as const), which: fc.nat(), delta: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -0x8000, max: 0x7fff })) }),
  fc.record({ m: fc.constant('splice' as const), from: fc.nat(), to: fc.nat(), len: fc.integer({ min: 1, max: 6 }) }),
);

/** Slot indices whose opcode byte is `pred`-selected (lddw first halves, jumps...), scanning as the decoder does. */
function slotsWhere(bytes: Uint8Array, pred: (opcode: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    const opcode = bytes[i]!;
    if (pred(opcode)) out.push(i / 8);
    if (opcode === Op.LDDW) i += 8;
  }
  return out;
}

const isJumpOrCall = (opcode: number): boolean => {
  const cls = opcode & 7;
  if (cls !== 5 && cls !== 6) return false;
  const code = opcode & 0xf0;
  return code !== 0x90 && !(code === 0x80 && (opcode & 8) !== 0);
};

/** Applies mutations in order to a copy of `bytes`. */
export function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = bytes.slice();
  for (const mu of mutations) {
    const slots = Math.floor(b.length / 8);
    switch (mu.m) {
      case 'flip':
        if (b.length > 0) b[mu.pos % b.length] = b[mu.pos % b.length]! ^ (1 << mu.bit);
        break;
      case 'opcode':
        if (slots > 0) b[(mu.slot % slots) * 8] = mu.valid ? VALID_OPCODES[mu.value % VALID_OPCODES.length]! : mu.value;
        break;
      case 'field': {
        if (slots === 0) break;
        const at = (mu.slot % slots) * 8;
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (mu.field === 'dst') b[at + 1] = (b[at + 1]! & 0xf0) | (mu.value & 0xf);
        else if (mu.field === 'src') b[at + 1] = (b[at + 1]! & 0x0f) | ((mu.value & 0xf) << 4);
        else if (mu.field === 'off') view.setInt16(at + 2, mu.value << 16 >> 16, true);
        else view.setInt32(at + 4, mu.value, true);
        break;
      }
      case 'truncate':
        if (mu.odd) b = b.slice(0, b.length === 0 ? 0 : mu.len % b.length);
        else b = b.slice(0, slots === 0 ? 0 : (mu.len % slots) * 8);
        break;
      case 'lddw': {
        const ld = slotsWhere(b, (o) => o === Op.LDDW).filter((s) => s + 1 < slots);
        if (ld.length === 0) break;
        const at = ld[mu.which % ld.length]! * 8;
        switch (mu.how) {
          case 0:
            b = Uint8Array.from([...b.subarray(0, at + 8), ...b.subarray(at + 16)]);
            break;
          case 1:
            b[at + 8] = mu.value;
            break;
          case 2:
            b = b.slice(0, at + 8);
            break;
          case 3: {
            const first = b.slice(at, at + 8);
            b.copyWithin(at, at + 8, at + 16);
            b.set(first, at + 8);
            break;
          }
          default:
            b[at + 9 + (mu.value % 3)] = mu.value;
            break;
        }
        break;
      }
      case 'jump': {
        const js = slotsWhere(b, isJumpOrCall);
        if (js.length === 0) break;
        const at = js[mu.which % js.length]! * 8;
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const opcode = b[at]!;
        // ja32 and calls keep their offset in imm, the others in off.
        if (opcode === Op.JA32 || opcode === Op.CALL) view.setInt32(at + 4, view.getInt32(at + 4, true) + mu.delta, true);
        else view.setInt16(at + 2, (view.getInt16(at + 2, true) + mu.delta) << 16 >> 16, true);
        break;
      }
      case 'splice': {
        if (slots === 0) break;
        const from = (mu.from % slots) * 8;
        const to = (mu.to % slots) * 8;
        const chunk = b.slice(from, Math.min(b.length, from + mu.len * 8));
        b.set(chunk.subarray(0, Math.max(0, b.length - to)), to);
        break;
      }
    }
  }
  return b;
}

/** Valid programs with one to four mutations. */
export const arbMutatedProgram: fc.Arbitrary<Uint8Array> = fc
  .tuple(arbFuzzCase({ maxStmts: 10, maxSubs: 2 }), fc.array(arbMutation, { minLength: 1, maxLength: 4 }))
  .map(([c, ms]) => mutate(c.bytes, ms));

/** Bytes for the decoder and compiler: fully random, random slots, random control flow (small, or large in one function), or mutated valid programs. */
export const arbProgramBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 400 }) },
  { weight: 2, arbitrary: arbRandomSlots },
  { weight: 3, arbitrary: arbRandomCfgProgram },
  { weight: 1, arbitrary: arbRandomCfg(300, 'max', false) },
  { weight: 4, arbitrary: arbMutatedProgram },
);

/**
 * ELF objects: random bytes, or one of `fixtures` with bytes changed (flips, random values,
 * truncation): anywhere, in the headers (ELF header, section header table at the end), or inside
 * one section's contents (BTF, relocations, symbols, code...).
 */
export function arbElfBytes(fixtures: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const random = fc.uint8Array({ minLength: 0, maxLength: 400 });
  if (fixtures.length === 0) return random;
  // The [offset, end) of each fixture's sections with contents, the BTF ones first.
  const sections = fixtures.map((f) => {
    try {
      const secs = parseElf(f).sections.filter((sec) => sec.data().length > 0);
      const btf = secs.filter((sec) => sec.name.startsWith('.BTF'));
      return [...btf, ...secs].map((sec) => [sec.offset, sec.offset + sec.data().length] as const);
    } catch {
      return [];
    }
  });
  const changed = fc.tuple(
    fc.nat(fixtures.length - 1),
    fc.array(fc.record({ pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }), bit: fc.option(fc.integer({ min: 0, max: 7 }), { nil: null }) }), { minLength: 1, maxLength: 4 }),
    // Truncated one time in ten.
    fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
    fc.constantFrom('anywhere' as const, 'headers' as const, 'section' as const, 'section' as const),
    // Half the section edits go to .BTF or .BTF.ext when the object has them.
    fc.tuple(fc.boolean(), fc.nat()),
  ).map(([i, edits, cut, where, [btf, which]]) => {
    const b = fixtures[i]!.slice();
    const secs = sections[i]!;
    const btfCount = Math.min(2, secs.length);
    const sec = secs.length === 0
      ? ([0, b.length] as const)
      : btf ? secs[which % btfCount]! : secs[which % secs.length]!;
    for (const e of edits) {
      let pos: number;
      if (where === 'section') pos = sec[0] + (e.pos % Math.max(1, sec[1] - sec[0]));
      else if (where === 'headers') pos = e.pos % 2 === 0 ? e.pos % 64 : b.length - 1 - (e.pos % Math.min(b.length, 640));
      else pos = e.pos % b.length;
      if (pos < 0 || pos >= b.length) continue;
      b[pos] = e.bit === null ? e.value : b[pos]! ^ (1 << e.bit);
    }
    return cut === null ? b : b.slice(0, cut % (b.length + 1));
  });
  return fc.oneof({ weight: 1, arbitrary: random }, { weight: 5, arbitrary: changed });
}

const ASM_TOKENS: readonly string[] = [
  'mov', 'mov32', 'add', 'add32', 'sub', 'mul', 'div', 'sdiv', 'mod', 'smod', 'or', 'and', 'xor', 'lsh', 'rsh', 'arsh', 'neg', 'neg32',
  'movsx864', 'movsx3232', 'movsx1632', 'be16', 'le64', 'bswap32', 'swap16', 'be8', 'lddw', 'ldxw', 'ldxsb', 'ldxsdw', 'ldxdw', 'stxb',
  'stdw', 'stw', 'lock', 'fetch', 'xchg', 'cmpxchg32', 'ja', 'ja32', 'jeq', 'jne32', 'jsgt', 'jset', 'jlt32', 'call', 'callx', 'local',
  'helper', 'runtime', 'exit', 'ldabsw', 'ldindh', 'ldabsdw', 'map_fd', 'map_value', 'code_addr', 'variable_addr',
  '%r0', '%r1', '%r9', '%r10', '%r11', '%r15', '%r', '%R2', 'r1', '%r01', '%r99999999999999999999',
  '0', '1', '-1', '+1', '-0', '0x', '0x7fffffff', '0x80000000', '0xffffffff', '0x100000000', '-2147483649', '0xffffffffffffffff',
  '0x10000000000000000', '-9223372036854775808', '32767', '-32768', '32768', '1e3', '0b101', '08', '+', '-', '++2',
  '[%r1]', '[%r10-8]', '[%r1+0x7fff]', '[%r1-32769]', '[%r1 + 4]', '[r1+4]', '[%r1+]', '[%r1', '%r1]', '[]', '[%r1+%r2]',
  'label', 'L1', 'exit', 'main', 'f', '_x.y$', ',', ':', 'L1:', 'f:', '#', '# comment', ';', '\t', '"', "'", '\\', '{', '}', '\u00e9', '\u0000',
];

/** Assembly-ish text: lines of random tokens, mixed with valid lines. */
export const arbAsmText: fc.Arbitrary<string> = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.constantFrom(...ASM_TOKENS), { maxLength: 6 }).chain((toks) =>
      fc.array(fc.constantFrom(' ', ', ', ',', '  ', ''), { minLength: toks.length, maxLength: toks.length }).map((seps) =>
        toks.map((t, i) => (i === 0 ? t : seps[i]! + t)).join(''))) },
    { weight: 2, arbitrary: asmLine },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  ),
  { maxLength: 12 },
).map((lines) => lines.join('\n'));
