/**
 * The project's own instruction semantics tests, independent of ../shared: every instruction
 * family at -O0, -O1 and -O2, with edge values.
 *
 * Expected values are written by hand or computed by the small BigInt reference model below
 * (written from RFC 9669, never by running the compiler). Bulk cases run as one program per
 * operation that stores each result into the input memory, so one compile covers many values.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile, type CompileOptions, type OptLevel } from '../index.js';
import { Bpf2WasmError, CompileError, ErrorCode, instantiate, type HelperDefinition } from '../../runtime/index.js';

// ------------------------------------------------------------------------------ harness

const OPT_LEVELS: readonly OptLevel[] = [0, 1, 2];

interface RunOptions {
  mem?: Uint8Array;
  helpers?: HelperDefinition[];
  compile?: Omit<CompileOptions, 'optLevel'>;
}

interface RunResult {
  r0: bigint;
  /** The input memory after the run (test()'s dataOut). */
  mem: Uint8Array;
}

const IDENTITY5: HelperDefinition = { id: 5, fn: (a: bigint): bigint => a };

async function run(src: string | Uint8Array, optLevel: OptLevel, o: RunOptions = {}): Promise<RunResult> {
  const bytes = typeof src === 'string' ? assemble(src) : src;
  const { wasm } = await compile(bytes, { ...o.compile, optLevel });
  expect(WebAssembly.validate(new Uint8Array(wasm))).toBe(true);
  const inst = await instantiate(wasm, { helpers: o.helpers ?? [IDENTITY5] });
  // test() returns the memory after the run; the input stays as it was.
  const { r0, dataOut } = inst.program().test(o.mem ? { dataIn: o.mem } : {});
  return { r0, mem: o.mem ? dataOut : new Uint8Array(0) };
}

/** Runs and returns the error it fails with (which must be a Bpf2WasmError). */
async function runError(src: string | Uint8Array, optLevel: OptLevel, o: RunOptions = {}): Promise<Bpf2WasmError> {
  try {
    const r = await run(src, optLevel, o);
    throw new Error(`expected a failure, but the program returned 0x${r.r0.toString(16)}`);
  } catch (e) {
    if (!(e instanceof Bpf2WasmError)) throw e;
    return e;
  }
}

function hex(v: bigint): string {
  return '0x' + BigInt.asUintN(64, v).toString(16);
}

function u64le(mem: Uint8Array, at: number): bigint {
  return new DataView(mem.buffer, mem.byteOffset, mem.byteLength).getBigUint64(at, true);
}

function words(mem: Uint8Array, n: number): string[] {
  return Array.from({ length: n }, (_, i) => hex(u64le(mem, 8 * i)));
}

function filled(n: number, byte: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

/** An assembly immediate / lddw operand for a 64-bit value. */
function lit(v: bigint): string {
  return '0x' + BigInt.asUintN(64, v).toString(16);
}

// ------------------------------------------------------------------------------ reference model

const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const u32 = (x: bigint): bigint => BigInt.asUintN(32, x);
const s32 = (x: bigint): bigint => BigInt.asIntN(32, x);

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

type BinOp = 'add' | 'sub' | 'mul' | 'div' | 'sdiv' | 'mod' | 'smod' | 'or' | 'and' | 'xor' | 'lsh' | 'rsh' | 'arsh' | 'mov';
const BIN_OPS: readonly BinOp[] = ['add', 'sub', 'mul', 'div', 'sdiv', 'mod', 'smod', 'or', 'and', 'xor', 'lsh', 'rsh', 'arsh', 'mov'];

/**
 * RFC 9669 section 4.1: `dst op src` on 64 or 32 bits. `dst`, `src` are the full 64-bit register
 * values (for an immediate: already sign-extended for ALU64, the 32-bit pattern for ALU). ALU32
 * uses the low halves and zero-extends the result.
 */
function refAlu(op: BinOp | 'neg', width: 32 | 64, dst: bigint, src: bigint): bigint {
  const wrap = width === 64 ? u64 : u32;
  const sgn = width === 64 ? s64 : s32;
  const mask = width === 64 ? 63n : 31n;
  const a = wrap(dst);
  const b = wrap(src);
  switch (op) {
    case 'add': return wrap(a + b);
    case 'sub': return wrap(a - b);
    case 'mul': return wrap(a * b);
    case 'div': return b === 0n ? 0n : a / b;
    case 'mod': return b === 0n ? a : a % b;
    // BigInt division truncates toward zero, and % takes the dividend's sign, as the RFC says.
    case 'sdiv': return b === 0n ? 0n : wrap(sgn(a) / sgn(b));
    case 'smod': return b === 0n ? a : wrap(sgn(a) % sgn(b));
    case 'or': return a | b;
    case 'and': return a & b;
    case 'xor': return a ^ b;
    case 'lsh': return wrap(a << (b & mask));
    case 'rsh': return a >> (b & mask);
    case 'arsh': return wrap(sgn(a) >> (b & mask));
    case 'mov': return b;
    case 'neg': return wrap(-a);
  }
}

type CmpOp = 'jeq' | 'jne' | 'jgt' | 'jge' | 'jlt' | 'jle' | 'jsgt' | 'jsge' | 'jslt' | 'jsle' | 'jset';
const CMP_OPS: readonly CmpOp[] = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset'];

function refCmp(op: CmpOp, width: 32 | 64, dst: bigint, src: bigint): boolean {
  const wrap = width === 64 ? u64 : u32;
  const sgn = width === 64 ? s64 : s32;
  const a = wrap(dst);
  const b = wrap(src);
  switch (op) {
    case 'jeq': return a === b;
    case 'jne': return a !== b;
    case 'jgt': return a > b;
    case 'jge': return a >= b;
    case 'jlt': return a < b;
    case 'jle': return a <= b;
    case 'jsgt': return sgn(a) > sgn(b);
    case 'jsge': return sgn(a) >= sgn(b);
    case 'jslt': return sgn(a) < sgn(b);
    case 'jsle': return sgn(a) <= sgn(b);
    case 'jset': return (a & b) !== 0n;
  }
}

/** The register value an immediate stands for: sign-extended for 64-bit ops, the 32-bit pattern otherwise. */
function immValue(imm: number, width: 32 | 64): bigint {
  return width === 64 ? u64(BigInt(imm)) : u32(BigInt(imm));
}

// Register operands: each carries upper-half bits where it matters, so 32-bit forms show that
// they ignore them and zero-extend.
const REG_VALUES: readonly bigint[] = [
  0n, 1n, u64(-1n), 0x8000_0000n, 0xffff_ffffn, u64(INT64_MIN), INT64_MAX,
  7n, u64(-7n), 0x1_0000_0003n, 0xffff_ffff_8000_0000n, 0x1234_5678_9abc_def0n,
];
const IMM_VALUES: readonly number[] = [0, 1, -1, 0x7fff_ffff, -0x8000_0000, 7, -7, 3, 0x55];
const SHIFT_AMOUNTS: readonly bigint[] = [0n, 1n, 7n, 31n, 32n, 33n, 63n, 64n, 65n, 127n, u64(-1n), 0x1_0000_0001n];
const SHIFT_IMMS: readonly number[] = [0, 1, 7, 31, 32, 33, 63, 64, 65, -1];

// ------------------------------------------------------------------------------ model self-checks

describe('reference model (hand-computed values)', () => {
  it('agrees with RFC 9669 on the edge cases', () => {
    const M = u64(INT64_MIN);
    expect(refAlu('sdiv', 64, M, u64(-1n))).toBe(M); // INT64_MIN / -1 wraps
    expect(refAlu('smod', 64, M, u64(-1n))).toBe(0n);
    expect(refAlu('sdiv', 32, 0x8000_0000n, 0xffff_ffffn)).toBe(0x8000_0000n);
    expect(refAlu('smod', 32, 0x8000_0000n, 0xffff_ffffn)).toBe(0n);
    expect(refAlu('smod', 64, u64(-7n), 2n)).toBe(u64(-1n)); // sign of the dividend
    expect(refAlu('smod', 64, 7n, u64(-2n))).toBe(1n);
    expect(refAlu('sdiv', 64, u64(-7n), 2n)).toBe(u64(-3n)); // truncation toward zero
    expect(refAlu('div', 64, 5n, 0n)).toBe(0n);
    expect(refAlu('mod', 64, 0x1_ffff_ffffn, 0n)).toBe(0x1_ffff_ffffn);
    expect(refAlu('mod', 32, 0x1_ffff_ffffn, 0n)).toBe(0xffff_ffffn); // upper half zeroed
    expect(refAlu('lsh', 64, 1n, 65n)).toBe(2n);
    expect(refAlu('lsh', 32, 1n, 33n)).toBe(2n);
    expect(refAlu('arsh', 32, 0x8000_0000n, 4n)).toBe(0xf800_0000n);
    expect(refAlu('arsh', 64, M, 63n)).toBe(u64(-1n));
    expect(refAlu('mov', 32, 0n, 0xffff_ffff_0000_0001n)).toBe(1n);
    expect(refAlu('neg', 32, 1n, 0n)).toBe(0xffff_ffffn);
    expect(immValue(-1, 64)).toBe(u64(-1n));
    expect(immValue(-1, 32)).toBe(0xffff_ffffn);
    expect(refCmp('jsgt', 32, 0x1_0000_0000n, 0xffff_ffffn)).toBe(true); // 0 > -1
    expect(refCmp('jgt', 32, 0x1_0000_0000n, 0xffff_ffffn)).toBe(false);
  });
});

// ------------------------------------------------------------------------------ programs

/**
 * Runs a table-driven program: memory holds one record per row, `inputs` words followed by one
 * output word per body. A loop loads the inputs into %r1 (and %r2), runs each body, which leaves
 * its result in %r3, and stores %r3 into the row's output word. The values come from memory, so
 * no optimiser can fold them; the program stays small however many rows there are.
 */
async function table(opt: OptLevel, rows: ReadonlyArray<readonly bigint[]>, bodies: readonly string[]): Promise<bigint[][]> {
  const nIn = rows[0]!.length;
  const rec = 8 * (nIn + bodies.length);
  const lines = ['mov %r6, %r1', 'mov %r7, %r1', 'add %r7, %r2', 'row:', 'jge %r6, %r7, done'];
  for (let i = 0; i < nIn; i++) lines.push(`ldxdw %r${i + 1}, [%r6+${8 * i}]`);
  bodies.forEach((b, k) => lines.push(b, `stxdw [%r6+${8 * (nIn + k)}], %r3`));
  lines.push(`add %r6, ${rec}`, 'ja row', 'done:', 'mov %r0, 0', 'exit');
  const mem = new Uint8Array(rec * rows.length).fill(0xaa);
  const view = new DataView(mem.buffer);
  rows.forEach((r, i) => r.forEach((v, j) => view.setBigUint64(i * rec + 8 * j, u64(v), true)));
  const out = await run(lines.join('\n'), opt, { mem });
  return rows.map((_, i) => bodies.map((_b, k) => u64le(out.mem, i * rec + 8 * (nIn + k))));
}

function isShift(op: BinOp): boolean {
  return op === 'lsh' || op === 'rsh' || op === 'arsh';
}

describe.each(OPT_LEVELS)('-O%i', (opt) => {
  // ---------------------------------------------------------------------------- ALU
  describe('ALU', () => {
    for (const width of [64, 32] as const) {
      const sfx = width === 32 ? '32' : '';
      for (const op of BIN_OPS) {
        it(`${op}${sfx} register form`, async () => {
          const srcs = isShift(op) ? SHIFT_AMOUNTS : REG_VALUES;
          const rows = REG_VALUES.flatMap((a) => srcs.map((b) => [a, b]));
          // %r3 starts as a copy of %r1, upper half included: the 32-bit form must clear it.
          const got = await table(opt, rows, [`mov %r3, %r1\n${op}${sfx} %r3, %r2`]);
          expect(rows.map(([a, b], i) => `${lit(a!)} ${op}${sfx} ${lit(b!)} = ${hex(got[i]![0]!)}`))
            .toEqual(rows.map(([a, b]) => `${lit(a!)} ${op}${sfx} ${lit(b!)} = ${hex(refAlu(op, width, a!, b!))}`));
        });

        it(`${op}${sfx} immediate form`, async () => {
          const imms = isShift(op) ? SHIFT_IMMS : IMM_VALUES;
          const rows = REG_VALUES.map((a) => [a]);
          const got = await table(opt, rows, imms.map((imm) => `mov %r3, %r1\n${op}${sfx} %r3, ${imm}`));
          const fmt = (a: bigint, imm: number, v: bigint): string => `${lit(a)} ${op}${sfx} ${imm} = ${hex(v)}`;
          expect(rows.flatMap(([a], i) => imms.map((imm, k) => fmt(a!, imm, got[i]![k]!))))
            .toEqual(rows.flatMap(([a]) => imms.map((imm) => fmt(a!, imm, refAlu(op, width, a!, immValue(imm, width))))));
        });
      }

      it(`neg${sfx}`, async () => {
        const rows = REG_VALUES.map((a) => [a]);
        const got = await table(opt, rows, [`mov %r3, %r1\nneg${sfx} %r3`]);
        expect(got.map((g) => hex(g[0]!))).toEqual(REG_VALUES.map((a) => hex(refAlu('neg', width, a, 0n))));
      });

      it(`div, sdiv, mod, smod and shifts${sfx ? ' (32-bit)' : ''} with constant operands (as the optimiser sees them)`, async () => {
        const vals = [0n, 1n, u64(-1n), u64(INT64_MIN), 0xffff_ffff_8000_0000n, 0x1_0000_0003n, 65n];
        const ops: BinOp[] = ['div', 'sdiv', 'mod', 'smod', 'lsh', 'rsh', 'arsh'];
        const cases = ops.flatMap((op) => vals.flatMap((a) => vals.map((b) => ({ op, a, b }))));
        const lines = ['mov %r6, %r1'];
        cases.forEach(({ op, a, b }, i) => {
          lines.push(`lddw %r1, ${lit(a)}`, `lddw %r2, ${lit(b)}`, `${op}${sfx} %r1, %r2`, `stxdw [%r6+${8 * i}], %r1`);
        });
        lines.push('mov %r0, 0', 'exit');
        const { mem } = await run(lines.join('\n'), opt, { mem: filled(8 * cases.length, 0xaa) });
        expect(cases.map(({ op, a, b }, i) => `${lit(a)} ${op}${sfx} ${lit(b)} = ${hex(u64le(mem, 8 * i))}`))
          .toEqual(cases.map(({ op, a, b }) => `${lit(a)} ${op}${sfx} ${lit(b)} = ${hex(refAlu(op, width, a, b))}`));
      });
    }

    it('hand-computed edge cases', async () => {
      const table: Array<[string, bigint]> = [
        ['mov %r0, -1', u64(-1n)],
        ['mov32 %r0, -1', 0xffff_ffffn],
        ['lddw %r0, 0xffffffffffffffff\nmov32 %r0, %r0', 0xffff_ffffn],
        ['lddw %r0, 0x8000000000000000\nsdiv %r0, -1', 0x8000_0000_0000_0000n],
        ['lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1', 0x8000_0000_0000_0000n],
        ['lddw %r0, 0x8000000000000000\nsmod %r0, -1', 0n],
        ['lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1', 0n],
        ['lddw %r0, 0xffffffff80000000\nsdiv32 %r0, -1', 0x8000_0000n],
        ['lddw %r0, 0xffffffff80000000\nmov32 %r1, -1\nsmod32 %r0, %r1', 0n],
        ['mov %r0, -7\nsmod %r0, 2', u64(-1n)],
        ['mov %r0, 7\nsmod %r0, -2', 1n],
        ['mov %r0, -7\nmov %r1, -2\nsmod %r0, %r1', u64(-1n)],
        ['mov32 %r0, -7\nsmod32 %r0, 2', 0xffff_ffffn],
        ['mov %r0, -7\nsdiv %r0, 2', u64(-3n)],
        ['lddw %r0, 0x123456789\ndiv %r0, 0', 0n],
        ['lddw %r0, 0x123456789\nmov %r1, 0\ndiv %r0, %r1', 0n],
        ['lddw %r0, 0x123456789\ndiv32 %r0, 0', 0n],
        ['lddw %r0, 0x1ffffffff\nmod %r0, 0', 0x1_ffff_ffffn],
        ['lddw %r0, 0x1ffffffff\nmod32 %r0, 0', 0xffff_ffffn],
        ['lddw %r0, 0x1ffffffff\nlddw %r1, 0x100000000\nmod32 %r0, %r1', 0xffff_ffffn], // src low half is 0
        ['lddw %r0, 0x1ffffffff\nlddw %r1, 0x100000000\ndiv32 %r0, %r1', 0n],
        ['lddw %r0, 0x1ffffffff\nlddw %r1, 0x100000000\nsmod32 %r0, %r1', 0xffff_ffffn],
        ['lddw %r0, 0x1ffffffff\nlddw %r1, 0x100000000\nsdiv32 %r0, %r1', 0n],
        ['mov %r0, 10\ndiv %r0, -1', 0n], // -1 sign-extends to 2^64-1: unsigned 10 / huge = 0
        ['mov %r0, 10\nmod %r0, -1', 10n],
        ['mov32 %r0, 10\ndiv32 %r0, -1', 0n],
        ['mov %r0, 1\nlsh %r0, 64', 1n],
        ['mov %r0, 1\nlsh %r0, 65', 2n],
        ['mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1', 2n],
        ['mov %r0, 1\nlsh32 %r0, 32', 1n],
        ['mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1', 2n],
        ['mov %r0, -1\nrsh32 %r0, 36', 0x0fff_ffffn],
        ['mov %r0, -1\nrsh %r0, 60', 0xfn],
        ['lddw %r0, 0x8000000000000000\narsh %r0, 60', u64(-8n)],
        ['mov32 %r0, 0x80000000\narsh32 %r0, 28', 0xffff_fff8n],
        ['lddw %r0, 0x80000000\narsh32 %r0, 1', 0xc000_0000n], // bit 31 is the sign in 32-bit
        ['mov %r0, 0x7fffffff\nadd %r0, 1', 0x8000_0000n],
        ['mov32 %r0, 0x7fffffff\nadd32 %r0, 1', 0x8000_0000n],
        ['mov32 %r0, -1\nadd32 %r0, 1', 0n],
        ['mov %r0, -1\nadd %r0, 1', 0n],
        ['lddw %r0, 0x100000000\nmul32 %r0, 7', 0n],
        ['mov %r0, 0x10000\nmul %r0, 0x10000', 0x1_0000_0000n],
        ['mov %r0, 0x10000\nmul32 %r0, 0x10000', 0n],
        ['mov %r0, 5\nneg %r0', u64(-5n)],
        ['lddw %r0, 0x8000000000000000\nneg %r0', 0x8000_0000_0000_0000n],
        ['mov %r0, 5\nneg32 %r0', 0xffff_fffbn],
        ['mov %r0, -1\nand32 %r0, -1', 0xffff_ffffn],
        ['mov %r0, 0\nor %r0, -2', u64(-2n)],
        ['mov %r0, 0\nor32 %r0, -2', 0xffff_fffen],
        ['mov %r0, 0\nxor %r0, 0x80000000', 0xffff_ffff_8000_0000n], // imm -2^31 sign-extends
        ['mov %r0, 0\nxor32 %r0, 0x80000000', 0x8000_0000n],
        ['mov %r0, 0x80000000', 0xffff_ffff_8000_0000n],
        ['mov32 %r0, 0x80000000', 0x8000_0000n],
      ];
      const src = table.map(([body], i) => `${body}\nstxdw [%r9+${8 * i}], %r0`).join('\n');
      const { mem } = await run(`mov %r9, %r1\n${src}\nmov %r0, 0\nexit`, opt, { mem: filled(8 * table.length, 0xaa) });
      expect(table.map(([body], i) => `${body.replace(/\n/g, '; ')} => ${hex(u64le(mem, 8 * i))}`))
        .toEqual(table.map(([body, v]) => `${body.replace(/\n/g, '; ')} => ${hex(v)}`));
    });

    it('mov32 zero-extends and ALU32 ignores the upper halves of both operands', async () => {
      const { mem } = await run(`
        mov %r9, %r1
        lddw %r1, 0xdeadbeef00000005
        lddw %r2, 0xcafebabe00000003
        mov32 %r3, %r1
        stxdw [%r9+0], %r3
        mov %r4, %r1
        add32 %r4, %r2
        stxdw [%r9+8], %r4
        mov %r4, %r1
        add32 %r4, 0
        stxdw [%r9+16], %r4
        mov32 %r4, %r4
        stxdw [%r9+24], %r4
        mov %r0, 0
        exit`, opt, { mem: filled(32, 0xaa) });
      expect(words(mem, 4)).toEqual(['0x5', '0x8', '0x5', '0x5']);
    });

    it('movsx 8/16/32 (64-bit) and 8/16 (32-bit)', async () => {
      const values: bigint[] = [
        0n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn,
        0x1234_5678_9abc_de80n, 0xffff_ffff_ffff_ff7fn, u64(-1n),
      ];
      const forms: Array<{ mn: string; bits: 8 | 16 | 32; width: 32 | 64 }> = [
        { mn: 'movsx864', bits: 8, width: 64 }, { mn: 'movsx1664', bits: 16, width: 64 },
        { mn: 'movsx3264', bits: 32, width: 64 }, { mn: 'movsx832', bits: 8, width: 32 },
        { mn: 'movsx1632', bits: 16, width: 32 },
      ];
      // %r3 starts with junk in its upper half, which the 32-bit forms must clear.
      const got = await table(opt, values.map((v) => [v]), forms.map((f) => `lddw %r3, 0x5555555555555555\n${f.mn} %r3, %r1`));
      const cases = forms.flatMap((f, k) => values.map((v, i) => ({ f, v, got: got[i]![k]! })));
      const want = cases.map(({ f, v }) => {
        const sx = BigInt.asIntN(f.bits, v);
        return `${f.mn} ${lit(v)} = ${hex(f.width === 64 ? u64(sx) : u32(sx))}`;
      });
      expect(cases.map(({ f, v, got: g }) => `${f.mn} ${lit(v)} = ${hex(g)}`)).toEqual(want);
      // Spot checks by hand.
      expect(want[forms.length * 0 + 2]).toBe(`movsx864 0x80 = 0xffffffffffffff80`);
      expect(want[values.length * 4 + 5]).toBe(`movsx1632 0x8000 = 0xffff8000`);
    });

    it('le16/32/64, be16/32/64, bswap16/32/64 and their upper bits', async () => {
      const values: bigint[] = [0x0123_4567_89ab_cdefn, 0xfedc_ba98_7654_3210n, 0x8000_0000_0000_0080n];
      const ops: Array<[string, (v: bigint) => bigint]> = [
        ['le16', (v) => v & 0xffffn],
        ['le32', (v) => v & 0xffff_ffffn],
        ['le64', (v) => v],
        ['be16', (v) => swap(v, 2)],
        ['be32', (v) => swap(v, 4)],
        ['be64', (v) => swap(v, 8)],
        ['bswap16', (v) => swap(v, 2)],
        ['bswap32', (v) => swap(v, 4)],
        ['bswap64', (v) => swap(v, 8)],
      ];
      const got = await table(opt, values.map((v) => [v]), ops.map(([mn]) => `mov %r3, %r1\n${mn} %r3`));
      const cases = ops.flatMap(([mn, f], k) => values.map((v, i) => ({ mn, v, want: f(v), got: got[i]![k]! })));
      expect(cases.map(({ mn, v, got: g }) => `${mn} ${lit(v)} = ${hex(g)}`))
        .toEqual(cases.map(({ mn, v, want }) => `${mn} ${lit(v)} = ${hex(want)}`));
      // Hand-written spot checks of the helper.
      expect(swap(0x0123_4567_89ab_cdefn, 2)).toBe(0xefcdn);
      expect(swap(0x0123_4567_89ab_cdefn, 4)).toBe(0xefcd_ab89n);
      expect(swap(0x0123_4567_89ab_cdefn, 8)).toBe(0xefcd_ab89_6745_2301n);
    });

    it('lddw loads all 64 bits without sign-extending either half', async () => {
      const values = [0x1122_3344_5566_7788n, 0xffff_ffff_8000_0000n, 0x8000_0000n, 0x8000_0000_0000_0000n, 0n, u64(-1n), 0x7fff_ffff_ffff_ffffn];
      const lines = ['mov %r9, %r1'];
      values.forEach((v, i) => lines.push(`lddw %r3, ${lit(v)}`, `stxdw [%r9+${8 * i}], %r3`));
      lines.push('lddw %r0, 0x1122334455667788', 'exit');
      const { r0, mem } = await run(lines.join('\n'), opt, { mem: filled(8 * values.length, 0xaa) });
      expect(hex(r0)).toBe('0x1122334455667788');
      expect(words(mem, values.length)).toEqual(values.map(hex));
    });
  });

  // ---------------------------------------------------------------------------- jumps
  describe('JMP and JMP32', () => {
    const JMP_REG: readonly bigint[] = [
      0n, 1n, 2n, u64(-1n), u64(-2n), u64(INT64_MIN), INT64_MAX, 0x8000_0000n, 0x7fff_ffffn, 0xffff_ffffn,
      0x1_0000_0000n, 0x1_0000_0001n, 0xffff_ffff_0000_0001n,
    ];
    const JMP_IMM: readonly number[] = [0, 1, -1, -2, 0x7fff_ffff, -0x8000_0000, 2];

    /** A body for table(): %r3 = 1 if the jump is taken, 0 if not. */
    const jumpBody = (cond: string): string => `${cond}, +2\nmov %r3, 0\nja +1\nmov %r3, 1`;

    for (const width of [64, 32] as const) {
      const sfx = width === 32 ? '32' : '';
      for (const op of CMP_OPS) {
        it(`${op}${sfx} register and immediate, taken and not taken`, async () => {
          const rows = JMP_REG.flatMap((a) => JMP_REG.map((b) => [a, b]));
          const gotR = await table(opt, rows, [jumpBody(`${op}${sfx} %r1, %r2`)]);
          const wantR = rows.map(([a, b]) => `${lit(a!)} ${op}${sfx} ${lit(b!)}: ${refCmp(op, width, a!, b!) ? 1 : 0}`);
          expect(rows.map(([a, b], i) => `${lit(a!)} ${op}${sfx} ${lit(b!)}: ${gotR[i]![0]}`)).toEqual(wantR);

          const gotK = await table(opt, JMP_REG.map((a) => [a]), JMP_IMM.map((imm) => jumpBody(`${op}${sfx} %r1, ${imm}`)));
          const fmt = (a: bigint, imm: number, t: bigint | boolean): string => `${lit(a)} ${op}${sfx} ${imm}: ${Number(t)}`;
          const wantK = JMP_REG.flatMap((a) => JMP_IMM.map((imm) => fmt(a, imm, refCmp(op, width, a, immValue(imm, width)))));
          expect(JMP_REG.flatMap((a, i) => JMP_IMM.map((imm, k) => fmt(a, imm, gotK[i]![k]!)))).toEqual(wantK);
          // The cases exercise both outcomes of each form.
          expect(new Set(wantR.map((s) => s.slice(-1)))).toEqual(new Set(['0', '1']));
          expect(new Set(wantK.map((s) => s.slice(-1)))).toEqual(new Set(['0', '1']));
        });
      }
    }

    it('hand-computed boundary comparisons', async () => {
      // [condition, taken?]
      const table: Array<[string, string, boolean]> = [
        ['lddw %r1, 0xffffffffffffffff', 'jeq %r1, -1', true], // imm sign-extends
        ['mov32 %r1, -1', 'jeq %r1, -1', false], // 0xffffffff != 2^64-1
        ['mov32 %r1, -1', 'jeq32 %r1, -1', true],
        ['lddw %r1, 0x8000000000000000', 'jsgt %r1, 0', false],
        ['lddw %r1, 0x8000000000000000', 'jgt %r1, 0', true],
        ['lddw %r1, 0x7fffffffffffffff', 'jsgt %r1, -1', true],
        ['lddw %r1, 0x7fffffffffffffff', 'jgt %r1, -1', false],
        ['mov32 %r1, 0x80000000', 'jslt32 %r1, 0', true],
        ['mov32 %r1, 0x80000000', 'jslt %r1, 0', false],
        ['lddw %r1, 0x100000000', 'jeq32 %r1, 0', true],
        ['lddw %r1, 0x100000000', 'jset32 %r1, -1', false],
        ['lddw %r1, 0x100000000', 'jset %r1, -1', true],
        ['mov %r1, 5', 'jge %r1, 5', true],
        ['mov %r1, 5', 'jgt %r1, 5', false],
        ['mov %r1, 5', 'jle %r1, 5', true],
        ['mov %r1, 5', 'jlt %r1, 5', false],
        ['mov %r1, -5', 'jsle %r1, -5', true],
        ['mov %r1, -5', 'jslt %r1, -5', false],
        ['mov %r1, -5', 'jsge %r1, -5', true],
        ['mov %r1, -5', 'jne %r1, -5', false],
        ['mov %r1, -5\nmov %r2, 3', 'jslt %r1, %r2', true],
        ['mov %r1, -5\nmov %r2, 3', 'jlt %r1, %r2', false],
        ['mov %r1, 0x7fffffff\nmov32 %r2, 0x80000000', 'jsgt32 %r1, %r2', true],
        ['mov %r1, 0x7fffffff\nmov32 %r2, 0x80000000', 'jgt32 %r1, %r2', false],
      ];
      const lines = ['mov %r6, %r1'];
      table.forEach(([setup, cond], i) => lines.push(setup, `${cond}, +2`, `stb [%r6+${i}], 0`, 'ja +1', `stb [%r6+${i}], 1`));
      lines.push('mov %r0, 0', 'exit');
      const { mem } = await run(lines.join('\n'), opt, { mem: filled(table.length, 0xaa) });
      expect(table.map(([s, c], i) => `${s.replace(/\n/g, '; ')}; ${c}: ${mem[i]}`))
        .toEqual(table.map(([s, c, t]) => `${s.replace(/\n/g, '; ')}; ${c}: ${t ? 1 : 0}`));
    });

    it('ja and ja32, forward and backward', async () => {
      for (const ja of ['ja', 'ja32']) {
        // 0 mov; 1 ja +2 -> 4; 2 mov; 3 exit; 4 add; 5 jgt +1 -> 7; 6 ja -3 -> 4; 7 exit
        const { r0 } = await run(`
          mov %r0, 1
          ${ja} +2
          mov %r0, 100
          exit
          add %r0, 2
          jgt %r0, 10, +1
          ${ja} -3
          exit`, opt);
        expect(hex(r0), ja).toBe('0xb'); // 1, 3, 5, 7, 9, 11
      }
    });

    it('a conditional jump to the next instruction (both edges to one block)', async () => {
      const { r0 } = await run(`
        mov %r0, 1
        jeq %r0, 1, +0
        add %r0, 1
        jne %r0, 7, +0
        exit`, opt);
      expect(r0).toBe(2n);
    });
  });

  // ---------------------------------------------------------------------------- memory
  describe('loads and stores', () => {
    const INPUT = Uint8Array.from({ length: 32 }, (_, i) => 0x81 + i);

    it('ldx of every size, zero- and sign-extending, positive and negative offsets', async () => {
      const { mem } = await run(`
        mov %r9, %r1
        add %r9, 32
        ldxb %r2, [%r1+0]
        stxdw [%r9+0], %r2
        ldxsb %r2, [%r1+0]
        stxdw [%r9+8], %r2
        ldxh %r2, [%r1+2]
        stxdw [%r9+16], %r2
        ldxsh %r2, [%r1+2]
        stxdw [%r9+24], %r2
        ldxw %r2, [%r1+4]
        stxdw [%r9+32], %r2
        ldxsw %r2, [%r1+4]
        stxdw [%r9+40], %r2
        ldxdw %r2, [%r1+8]
        stxdw [%r9+48], %r2
        ldxb %r2, [%r9-1]
        stxdw [%r9+56], %r2
        ldxh %r2, [%r9-2]
        stxdw [%r9+64], %r2
        ldxw %r2, [%r9-4]
        stxdw [%r9+72], %r2
        ldxdw %r2, [%r9-8]
        stxdw [%r9+80], %r2
        ldxsb %r2, [%r9-32]
        stxdw [%r9+88], %r2
        mov %r3, 0x7f
        stxb [%r9-32], %r3
        ldxsb %r2, [%r9-32]
        stxdw [%r9+96], %r2
        mov %r0, 0
        exit`, opt, { mem: Uint8Array.from([...INPUT, ...filled(13 * 8, 0xaa)]) });
      const out = words(mem.subarray(32), 13);
      expect(out).toEqual([
        '0x81', '0xffffffffffffff81', '0x8483', '0xffffffffffff8483', '0x88878685', '0xffffffff88878685',
        '0x908f8e8d8c8b8a89', '0xa0', '0xa09f', '0xa09f9e9d', '0xa09f9e9d9c9b9a99', '0xffffffffffffff81', '0x7f',
      ]);
    });

    it('stx of every size writes exactly its bytes', async () => {
      const { mem } = await run(`
        lddw %r2, 0x1122334455667788
        stxb [%r1+0], %r2
        stxh [%r1+8], %r2
        stxw [%r1+16], %r2
        stxdw [%r1+24], %r2
        add %r1, 40
        stxb [%r1-8], %r2
        stxh [%r1-6], %r2
        stxw [%r1-4], %r2
        mov %r0, 0
        exit`, opt, { mem: filled(40, 0xaa) });
      expect(words(mem, 5)).toEqual([
        '0xaaaaaaaaaaaaaa88', '0xaaaaaaaaaaaa7788', '0xaaaaaaaa55667788', '0x1122334455667788', '0x556677887788aa88',
      ]);
    });

    it('st imm of every size; the DW immediate is sign-extended', async () => {
      const { mem } = await run(`
        stb [%r1+0], 0x1ff
        sth [%r1+8], -2
        stw [%r1+16], -2
        stdw [%r1+24], -2
        stdw [%r1+32], 0x7fffffff
        stdw [%r1+40], 0x80000000
        add %r1, 56
        stw [%r1-8], 0x12345678
        mov %r0, 0
        exit`, opt, { mem: filled(56, 0xaa) });
      expect(words(mem, 7)).toEqual([
        '0xaaaaaaaaaaaaaaff', '0xaaaaaaaaaaaafffe', '0xaaaaaaaafffffffe', '0xfffffffffffffffe',
        '0x7fffffff', '0xffffffff80000000', '0xaaaaaaaa12345678',
      ]);
    });

    it('the stack: r10-relative stores and loads, down to r10-512', async () => {
      const { r0 } = await run(`
        lddw %r1, 0x0102030405060708
        stxdw [%r10-8], %r1
        stw [%r10-512], 0x11223344
        sth [%r10-10], 0x5566
        mov %r2, %r10
        add %r2, -512
        ldxw %r3, [%r2+0]
        ldxb %r4, [%r10-8]
        ldxh %r5, [%r10-10]
        ldxdw %r0, [%r10-8]
        add %r0, %r3
        add %r0, %r4
        add %r0, %r5
        exit`, opt);
      expect(r0).toBe(0x0102_0304_0506_0708n + 0x1122_3344n + 0x08n + 0x5566n);
    });
  });

  describe('extreme offsets and legacy packet loads', () => {
    it('offsets +32767 and -32768', async () => {
      const mem = new Uint8Array(65536 + 16);
      const { r0, mem: out } = await run(`
        mov %r6, %r1
        add %r6, 32768
        lddw %r2, 0x0123456789abcdef
        stxdw [%r6-32768], %r2
        stxdw [%r1+32767], %r2
        ldxdw %r3, [%r6-1]
        ldxb %r0, [%r1+0]
        lsh %r0, 8
        ldxb %r4, [%r6+32766]
        or %r0, %r4
        sub %r3, %r2
        add %r0, %r3
        exit`, opt, { mem });
      expect(u64le(out, 0)).toBe(0x0123_4567_89ab_cdefn);
      expect(new DataView(out.buffer).getBigUint64(32767, true)).toBe(0x0123_4567_89ab_cdefn);
      // [r6-1] = byte 32767 = the second store; [r6+32766] = byte 65534, untouched (0).
      expect(hex(r0)).toBe(hex(0xef00n));
    });

    it('ldabs/ldind read the input in network byte order; out of bounds ends with r0 = 0', async () => {
      const mem = Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0x9a]);
      const { r0 } = await run(`
        mov %r6, 1
        ldabsb 4
        mov %r7, %r0
        ldabsh 1
        lsh %r7, 16
        or %r7, %r0
        ldindw %r6, 0
        lsh %r7, 32
        or %r0, %r7
        exit`, opt, { mem });
      expect(hex(r0)).toBe(hex((0x9an << 48n) | (0x3456n << 32n) | 0x3456_789an));
      const oob = await run('mov %r0, 7\nldabsw 2\nmov %r0, 99\nexit', opt, { mem });
      expect(oob.r0).toBe(0n);
      const neg = await run('mov %r0, 7\nmov %r1, -1\nldindb %r1, 0\nmov %r0, 99\nexit', opt, { mem });
      expect(neg.r0).toBe(0n);
    });
  });

  // ---------------------------------------------------------------------------- atomics
  describe('atomics', () => {
    type AOp = 'add' | 'or' | 'and' | 'xor';
    const M0 = 0xf0f0_f0f0_8765_4321n; // initial memory word
    const S = 0x0f0f_0f0f_ffff_0001n; // source register
    const R0 = 0x1234n;
    const arith = (op: AOp, a: bigint, b: bigint): bigint =>
      op === 'add' ? a + b : op === 'or' ? a | b : op === 'and' ? a & b : a ^ b;

    /** mem[0..8) = M0, mem[8..16) = r2 after, r0 = r0 after. */
    async function atomic(text: string, r0init: bigint, mem0 = M0): Promise<{ word: bigint; r2: bigint; r0: bigint }> {
      const mem = new Uint8Array(16);
      new DataView(mem.buffer).setBigUint64(0, mem0, true);
      const r = await run(`
        lddw %r2, ${lit(S)}
        lddw %r0, ${lit(r0init)}
        ${text}
        stxdw [%r1+8], %r2
        exit`, opt, { mem });
      return { word: u64le(r.mem, 0), r2: u64le(r.mem, 8), r0: r.r0 };
    }

    for (const size of [8, 4] as const) {
      const w = size === 4 ? '32' : '';
      for (const op of ['add', 'or', 'and', 'xor'] as const) {
        for (const fetch of [false, true]) {
          it(`lock ${fetch ? 'fetch ' : ''}${op}${w}`, async () => {
            const got = await atomic(`lock ${fetch ? 'fetch ' : ''}${op}${w} [%r1+0], %r2`, R0);
            const old = size === 8 ? M0 : u32(M0);
            const word = size === 8 ? u64(arith(op, M0, S)) : (M0 & ~0xffff_ffffn) | u32(arith(op, old, S));
            expect({ word: hex(got.word), r2: hex(got.r2), r0: hex(got.r0) })
              .toEqual({ word: hex(word), r2: hex(fetch ? old : S), r0: hex(R0) });
          });
        }
      }

      it(`lock xchg${w}`, async () => {
        const got = await atomic(`lock xchg${w} [%r1+0], %r2`, R0);
        const word = size === 8 ? S : (M0 & ~0xffff_ffffn) | u32(S);
        expect({ word: hex(got.word), r2: hex(got.r2), r0: hex(got.r0) })
          .toEqual({ word: hex(word), r2: hex(size === 8 ? M0 : u32(M0)), r0: hex(R0) });
      });

      it(`lock cmpxchg${w} success and failure`, async () => {
        // Success: r0 equals the memory word (for the 32-bit form, only r0's low half counts).
        const r0eq = size === 8 ? M0 : 0xdead_0000_0000_0000n | u32(M0);
        const ok = await atomic(`lock cmpxchg${w} [%r1+0], %r2`, r0eq);
        const stored = size === 8 ? S : (M0 & ~0xffff_ffffn) | u32(S);
        const old = size === 8 ? M0 : u32(M0);
        expect({ word: hex(ok.word), r2: hex(ok.r2), r0: hex(ok.r0) }).toEqual({ word: hex(stored), r2: hex(S), r0: hex(old) });
        // Failure: memory unchanged, r0 = the old value all the same.
        const bad = await atomic(`lock cmpxchg${w} [%r1+0], %r2`, r0eq ^ 1n);
        expect({ word: hex(bad.word), r2: hex(bad.r2), r0: hex(bad.r0) }).toEqual({ word: hex(M0), r2: hex(S), r0: hex(old) });
      });
    }

    it('atomics on the stack with a negative offset, and fetch into the address register', async () => {
      const { r0 } = await run(`
        stdw [%r10-16], 40
        mov %r1, 2
        lock add [%r10-16], %r1
        mov %r2, 100
        lock fetch add [%r10-16], %r2
        mov %r3, %r10
        add %r3, -16
        lock fetch add [%r3+0], %r3
        ldxdw %r0, [%r10-16]
        add %r0, %r2
        sub %r0, %r3
        exit`, opt);
      // mem 40 -> 42; fetch: r2 = 42, mem 142; fetch into the address register: r3 = 142,
      // mem 142 + addr. r0 = (142 + addr) + 42 - 142 = addr + 42, with addr = r10 - 16.
      const addrRun = await run('mov %r0, %r10\nadd %r0, -16\nexit', opt);
      expect(r0).toBe(addrRun.r0 + 42n);
    });
  });

  // ---------------------------------------------------------------------------- calls
  describe('bpf-to-bpf calls', () => {
    it('passes r1-r5, returns r0, preserves r6-r9, gives the callee its own stack frame', async () => {
      const { mem } = await run(`
        mov %r9, %r1
        stxdw [%r10-16], %r9
        mov %r6, 11
        mov %r7, 12
        mov %r8, 13
        stdw [%r10-8], 1000
        mov %r1, 1
        mov %r2, 2
        mov %r3, 3
        mov %r4, 4
        mov %r5, 5
        call local f
        ldxdw %r9, [%r10-16]
        stxdw [%r9+0], %r0
        stxdw [%r9+8], %r6
        stxdw [%r9+16], %r7
        stxdw [%r9+24], %r8
        ldxdw %r1, [%r10-8]
        stxdw [%r9+32], %r1
        mov %r0, 0
        exit
      f:
        mov %r0, %r1
        mul %r2, 10
        add %r0, %r2
        mul %r3, 100
        add %r0, %r3
        mul %r4, 1000
        add %r0, %r4
        mul %r5, 10000
        add %r0, %r5
        mov %r6, 0
        mov %r7, 0
        mov %r8, 0
        mov %r9, 0
        stdw [%r10-8], 7
        stdw [%r10-16], 8
        ldxdw %r2, [%r10-8]
        add %r0, %r2
        lddw %r3, 0
        exit`, opt, { mem: filled(40, 0xaa) });
      // r0 = 1 + 20 + 300 + 4000 + 50000 + the callee's own [r10-8]; r6-r8 and the caller's [r10-8] intact.
      expect(words(mem, 5)).toEqual([hex(54321n + 7n), '0xb', '0xc', '0xd', hex(1000n)]);
    });

    it("the callee's r10 is its own frame, below the caller's", async () => {
      const { mem } = await run(`
        mov %r6, %r1
        stxdw [%r6+0], %r10
        mov %r1, %r6
        call local f
        mov %r0, 0
        exit
      f:
        stxdw [%r1+8], %r10
        exit`, opt, { mem: filled(16, 0) });
      const caller = u64le(mem, 0);
      const callee = u64le(mem, 8);
      expect(caller - callee >= 512n, `caller r10 ${hex(caller)}, callee r10 ${hex(callee)}`).toBe(true);
    });

    // main calls f(K); f(n) = n == 0 ? 0 : f(n - 1) + 1. Frames: main, f(K), ..., f(0): K + 2.
    const RECURSION = `
        call local f
        exit
      f:
        jeq %r1, 0, base
        stxdw [%r10-8], %r1
        sub %r1, 1
        call local f
        add %r0, 1
        ldxdw %r1, [%r10-8]
        add %r0, %r1
        exit
      base:
        mov %r0, 0
        exit`;
    // Instruction indices: 0 call, 1 exit, 2 jeq, 3 stxdw, 4 sub, 5 call (the recursive one).
    const RECURSIVE_CALL_PC = 5;
    const rec = (k: number): string => `mov %r1, ${k}\n${RECURSION}`;
    // f(n) returns sum_{i=1..n} (1 + i) = n + n(n+1)/2 (uses each frame's saved r1: frames are separate).
    const recResult = (k: number): bigint => BigInt(k + (k * (k + 1)) / 2);

    it('recursion up to the default depth limit (8 frames) works', async () => {
      const { r0 } = await run(rec(6), opt);
      expect(r0).toBe(recResult(6));
    });

    it('one call more fails with E_CALL_DEPTH at the recursive call', async () => {
      // The program's instruction 0 is `mov %r1, K`, so the recursive call is at 1 + RECURSIVE_CALL_PC.
      const e = await runError(rec(7), opt);
      expect(e.code).toBe(ErrorCode.CallDepth);
      expect(e.location.insn).toBe(1 + RECURSIVE_CALL_PC);
    });

    it('frameSize and maxCallDepth together: deeper recursion in smaller frames', async () => {
      const o = { compile: { frameSize: 64, maxCallDepth: 40 } };
      expect((await run(rec(38), opt, o)).r0).toBe(recResult(38));
      const e = await runError(rec(39), opt, o);
      expect({ code: e.code, insn: e.location.insn }).toEqual({ code: ErrorCode.CallDepth, insn: 1 + RECURSIVE_CALL_PC });
    });

    it('maxCallDepth moves the limit', async () => {
      expect((await run(rec(1), opt, { compile: { maxCallDepth: 3 } })).r0).toBe(recResult(1));
      const e = await runError(rec(2), opt, { compile: { maxCallDepth: 3 } });
      expect(e.code).toBe(ErrorCode.CallDepth);
      expect(e.location.insn).toBe(1 + RECURSIVE_CALL_PC);
      // With a single frame even main's own call fails, at instruction 1.
      const e1 = await runError(rec(0), opt, { compile: { maxCallDepth: 1 } });
      expect(e1.code).toBe(ErrorCode.CallDepth);
      expect(e1.location.insn).toBe(1);
    });
  });

  describe('helper calls', () => {
    it('generic signature: five signed bigints in, bigint out, r6-r9 preserved', async () => {
      const seen: bigint[][] = [];
      const helpers: HelperDefinition[] = [{ id: 1, fn: (...args: bigint[]): bigint => { seen.push(args); return -5n; } }];
      const { r0, mem } = await run(`
        mov %r6, %r1
        mov %r7, 77
        mov %r1, -2
        lddw %r2, 0x8000000000000000
        lddw %r3, 0xffffffff
        mov %r4, 4
        lddw %r5, 0x7fffffffffffffff
        call 1
        stxdw [%r6+0], %r7
        exit`, opt, { helpers, mem: filled(8, 0) });
      expect(seen).toEqual([[-2n, INT64_MIN, 0xffff_ffffn, 4n, INT64_MAX]]);
      expect(hex(r0)).toBe(hex(-5n));
      expect(u64le(mem, 0)).toBe(77n);
    });

    it("a declared signature {args: ['i32','i32'], result: 's32'} converts both ways", async () => {
      const signature = { args: ['i32', 'i32'] as ('i32' | 'i64')[], result: 's32' as const };
      const seen: unknown[][] = [];
      const helpers: HelperDefinition[] = [{ id: 7, signature, fn: (a: number, b: number): number => { seen.push([a, b]); return a - b; } }];
      const { r0 } = await run(`
        lddw %r1, 0x1fffffffe
        lddw %r2, 0xdead00000005
        call 7
        exit`, opt, { helpers, compile: { helpers: [{ id: 7, signature }] } });
      expect(seen).toEqual([[-2, 5]]); // low halves, as signed numbers
      expect(hex(r0)).toBe(hex(-7n)); // sign-extended into r0
    });

    it("u32 and i64 results and 'void'", async () => {
      const helpers: HelperDefinition[] = [
        { id: 1, signature: { args: [], result: 'u32' }, fn: (): number => -1 },
        { id: 2, signature: { args: ['i64'], result: 'i64' }, fn: (a: bigint): bigint => a * 2n },
        { id: 3, signature: { args: ['i32'], result: 'void' }, fn: (): void => undefined },
      ];
      const decls = helpers.map(({ id, signature }) => ({ id, signature: signature! }));
      const { mem } = await run(`
        mov %r6, %r1
        call 1
        stxdw [%r6+0], %r0
        mov %r1, -3
        call 2
        stxdw [%r6+8], %r0
        mov %r0, 99
        call 3
        stxdw [%r6+16], %r0
        exit`, opt, { helpers, compile: { helpers: decls }, mem: filled(24, 0xaa) });
      expect(words(mem, 3)).toEqual(['0xffffffff', hex(-6n), '0x0']);
    });

    it('callx with a known helper id', async () => {
      const { r0 } = await run(`
        mov %r1, 42
        mov %r2, 5
        callx %r2
        add %r0, 1
        exit`, opt);
      expect(r0).toBe(43n);
    });

    it('callx to a helper with a declared signature converts like a direct call', async () => {
      const signature = { args: ['i32', 'i64'] as ('i32' | 'i64')[], result: 's32' as const };
      const helpers: HelperDefinition[] = [{ id: 9, signature, fn: (a: number, b: bigint): number => a + Number(b) }];
      const { r0 } = await run(`
        lddw %r1, 0x1fffffff0
        mov %r2, 3
        mov %r3, 9
        callx %r3
        exit`, opt, { helpers });
      expect(hex(r0)).toBe(hex(-13n)); // -16 + 3, sign-extended
    });

    it('callx with an unknown helper id fails with E_UNKNOWN_HELPER at the callx', async () => {
      const e = await runError(`
        mov %r1, 42
        mov %r2, 99
        callx %r2
        exit`, opt);
      expect(e.code).toBe(ErrorCode.UnknownHelper);
      expect(e.location.insn).toBe(2);
    });
  });

  // ---------------------------------------------------------------------------- control flow
  describe('random control flow against a reference interpreter', () => {
    it('40 random programs with forward jumps and fuel-guarded backward jumps (often irreducible)', async () => {
      for (let seed = 1; seed <= 40; seed++) {
        const g = randomProgram(seed);
        const want = interpret(g);
        const { r0 } = await run(renderProgram(g), opt);
        expect(hex(r0), `seed ${seed}:\n${renderProgram(g)}`).toBe(hex(want));
      }
    });
  });

  describe('loops and irreducible control flow', () => {
    it('nested loops', async () => {
      const { r0 } = await run(`
        mov %r0, 0
        mov %r1, 0
      outer:
        jge %r1, 10, done
        mov %r2, 0
      inner:
        jge %r2, %r1, inner_done
        mov %r3, %r1
        mul %r3, %r2
        add %r3, 1
        add %r0, %r3
        add %r2, 1
        ja inner
      inner_done:
        add %r1, 1
        ja outer
      done:
        exit`, opt);
      let s = 0n;
      for (let i = 0n; i < 10n; i++) for (let j = 0n; j < i; j++) s += i * j + 1n;
      expect(r0).toBe(s); // 915
      expect(s).toBe(915n);
    });

    it('a loop with several exits', async () => {
      const prog = `
        mov %r3, 0
      loop:
        jge %r3, %r2, notfound
        mov %r4, %r1
        add %r4, %r3
        ldxb %r5, [%r4+0]
        jeq %r5, 42, found
        jgt %r5, 200, toobig
        add %r3, 1
        ja loop
      notfound:
        mov %r0, 1000
        exit
      found:
        mov %r0, %r3
        exit
      toobig:
        mov %r0, 2000
        add %r0, %r3
        exit`;
      expect((await run(prog, opt, { mem: Uint8Array.from([1, 2, 3, 42, 201]) })).r0).toBe(3n);
      expect((await run(prog, opt, { mem: Uint8Array.from([1, 2, 201, 42]) })).r0).toBe(2002n);
      expect((await run(prog, opt, { mem: Uint8Array.from([1, 2, 3]) })).r0).toBe(1000n);
      expect((await run(prog, opt, { mem: new Uint8Array(0) })).r0).toBe(1000n);
    });

    it('a loop whose header is also a merge point', async () => {
      const prog = `
        mov %r0, 0
        jeq %r2, 0, other
        mov %r3, 5
        ja head
      other:
        mov %r3, 7
      head:
        add %r0, %r3
        sub %r3, 1
        jeq %r3, 2, skip
        jne %r3, 0, head
        exit
      skip:
        add %r0, 1000
        ja head`;
      // r3 = 5: adds 5,4,3, at r3=2 +1000, adds 2,1 -> 1015. r3 = 7: 7+6+5+4+3 +1000 +2+1 = 1028.
      expect((await run(prog, opt, { mem: new Uint8Array(3) })).r0).toBe(1015n);
      expect((await run(prog, opt)).r0).toBe(1028n);
    });

    it('prime counting: nested loops with breaks', async () => {
      const { r0 } = await run(`
        mov %r0, 0
        mov %r1, 2
      next_n:
        jge %r1, 200, done
        mov %r2, 2
      try_d:
        mov %r3, %r2
        mul %r3, %r2
        jgt %r3, %r1, prime
        mov %r4, %r1
        mod %r4, %r2
        jeq %r4, 0, composite
        add %r2, 1
        ja try_d
      prime:
        add %r0, 1
      composite:
        add %r1, 1
        ja next_n
      done:
        exit`, opt);
      expect(r0).toBe(46n); // pi(200)
    });

    // Two entries into the loop {aa, bb}: the entry block jumps to either.
    const IRREDUCIBLE = `
        mov %r0, 0
        mov %r3, 4
        jeq %r2, 1, bb
      aa:
        add %r0, 10
        sub %r3, 1
        jeq %r3, 0, done
      bb:
        mul %r0, 3
        add %r0, 1
        ja aa
      done:
        exit`;
    function irreducibleRef(startAtB: boolean): bigint {
      let r0 = 0n;
      let r3 = 4n;
      let atB = startAtB;
      for (;;) {
        if (!atB) {
          r0 += 10n;
          r3 -= 1n;
          if (r3 === 0n) return r0;
        }
        atB = false;
        r0 = r0 * 3n + 1n;
      }
    }

    it('irreducible control flow (two entries into a loop)', async () => {
      expect(irreducibleRef(false)).toBe(413n);
      expect(irreducibleRef(true)).toBe(440n);
      expect((await run(IRREDUCIBLE, opt, { mem: new Uint8Array(2) })).r0).toBe(413n);
      expect((await run(IRREDUCIBLE, opt, { mem: new Uint8Array(1) })).r0).toBe(440n);
    });

    it('irreducible control flow with atomics and memory inside the loop', async () => {
      const prog = `
        mov %r0, 0
        mov %r3, 4
        stdw [%r10-8], 0
        jeq %r2, 1, bb
      aa:
        mov %r4, 10
        lock add [%r10-8], %r4
        sub %r3, 1
        jeq %r3, 0, done
      bb:
        mov %r4, 1
        lock fetch add [%r10-8], %r4
        add %r0, %r4
        ja aa
      done:
        ldxdw %r5, [%r10-8]
        lsh %r5, 16
        add %r0, %r5
        exit`;
      // Entering at aa: mem 10, (r0 += 10, mem 11), 21, (r0 += 21, 22), 32, (+32, 33), 43 -> r0 = 63.
      expect((await run(prog, opt, { mem: new Uint8Array(2) })).r0).toBe(63n + (43n << 16n));
      // Entering at bb: (r0 += 0, mem 1), 11, (+11, 12), 22, (+22, 23), 33, (+33, 34), 44 -> r0 = 66.
      expect((await run(prog, opt, { mem: new Uint8Array(1) })).r0).toBe(66n + (44n << 16n));
    });

    it('irreducible control flow inside a bpf-to-bpf callee', async () => {
      const prog = `
        mov %r6, %r2
        mov %r1, %r2
        call local f
        add %r0, %r6
        exit
      f:
        mov %r0, 0
        mov %r3, 4
        jeq %r1, 1, bb
      aa:
        add %r0, 10
        sub %r3, 1
        jeq %r3, 0, done
      bb:
        mul %r0, 3
        add %r0, 1
        ja aa
      done:
        exit`;
      expect((await run(prog, opt, { mem: new Uint8Array(2) })).r0).toBe(413n + 2n);
      expect((await run(prog, opt, { mem: new Uint8Array(1) })).r0).toBe(440n + 1n);
    });

    it('irreducible control flow with a conditional jump to the next instruction', async () => {
      // Same as IRREDUCIBLE, with `jeq ..., +0` (taken and fall-through edge to the same block) in the loop.
      const prog = `
        mov %r0, 0
        mov %r3, 4
        jeq %r2, 1, bb
      aa:
        add %r0, 10
        jeq %r0, 0, +0
        sub %r3, 1
        jeq %r3, 0, done
      bb:
        mul %r0, 3
        add %r0, 1
        ja aa
      done:
        exit`;
      expect((await run(prog, opt, { mem: new Uint8Array(2) })).r0).toBe(413n);
      expect((await run(prog, opt, { mem: new Uint8Array(1) })).r0).toBe(440n);
    });
  });
});

// ------------------------------------------------------------------------------ big straight-line code

describe('long dependency chains', () => {
  // r0 = ((r0 * r2) + 7) repeated: each instruction depends on the previous one. Optimisers that
  // sink locals turn such a chain into one deeply nested expression, which must not overflow a stack.
  const K = 2000; // 4000 chained instructions
  const src = ['ldxdw %r2, [%r1+0]', 'mov %r0, 1', ...Array.from({ length: K }, () => 'mul %r0, %r2\nadd %r0, 7'), 'exit'].join('\n');
  let want = 1n;
  for (let i = 0; i < K; i++) want = u64(want * 3n + 7n);

  for (const opt of [0, 1] as const) {
    it(`4000 dependent ALU instructions compile and run at -O${opt}`, async () => {
      const mem = new Uint8Array(8);
      mem[0] = 3;
      const { r0 } = await run(src, opt, { mem });
      expect(hex(r0)).toBe(hex(want));
    });
  }
});

describe('wide control flow', () => {
  // if (r2 == i) goto L_i for i = 1..N; then L_N: r0 += N; ...; L_1: r0 += 1; exit.
  // Each L_i is a merge point nested inside the next: N levels of Wasm blocks.
  const chain = (N: number): string => {
    const lines = ['mov %r0, 0'];
    for (let i = 1; i <= N; i++) lines.push(`jeq %r2, ${i}, L${i}`);
    lines.push('exit');
    for (let i = N; i >= 1; i--) lines.push(`L${i}:`, `add %r0, ${i}`);
    lines.push('exit');
    return lines.join('\n');
  };

  it.each([...OPT_LEVELS])('a 900-way compare-and-branch chain (900 nested merge points) compiles and runs at -O%i', async (opt) => {
    const N = 900;
    const src = chain(N);
    expect((await run(src, opt, { mem: new Uint8Array(3) })).r0).toBe(6n);
    expect((await run(src, opt, { mem: new Uint8Array(N) })).r0).toBe(BigInt((N * (N + 1)) / 2));
    expect((await run(src, opt, { mem: new Uint8Array(N + 1) })).r0).toBe(0n);
  });

  it('nesting beyond MAX_NESTING is refused with E_TOO_COMPLEX, the same way every time', async () => {
    const bytes = assemble(chain(3900));
    for (let i = 0; i < 3; i++) {
      const e = await compile(bytes, { optLevel: 0 }).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(CompileError);
      expect((e as CompileError).code).toBe('E_TOO_COMPLEX');
    }
  });
});

// ------------------------------------------------------------------------------ random programs

/** One instruction of a generated program (jump targets are absolute indices). */
type GInsn =
  | { k: 'alu'; op: BinOp | 'neg'; width: 32 | 64; dst: number; src: number | null; imm: number }
  | { k: 'jmp'; op: CmpOp; width: 32 | 64; dst: number; src: number | null; imm: number; target: number }
  | { k: 'ja'; target: number }
  | { k: 'ldx'; size: 1 | 2 | 4 | 8; dst: number; off: number }
  | { k: 'stx'; size: 1 | 2 | 4 | 8; src: number; off: number }
  | { k: 'st'; size: 1 | 2 | 4 | 8; imm: number; off: number }
  | { k: 'exit' };

function xorshift(seed: number): () => number {
  let x = (seed * 0x9e3779b1) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const FUEL_REG = 9;

/**
 * A random program over r0-r8 with ALU ops, stack loads and stores, forward jumps anywhere and
 * backward jumps only as `sub r9, 1; jsgt r9, 0, target`. r9 is fuel (never written elsewhere)
 * and no jump lands on the guarded jsgt, so every program terminates. Backward jumps into code
 * that forward jumps also enter give irreducible control flow.
 */
function randomProgram(seed: number): GInsn[] {
  const r = xorshift(seed);
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const IMMS = [0, 1, -1, 2, 3, 7, -7, 31, 32, 63, 0x7fff_ffff, -0x8000_0000, 0x1234];
  const ops: Array<BinOp | 'neg'> = [...BIN_OPS, 'neg'];
  const out: GInsn[] = [];
  for (let i = 0; i <= 8; i++) out.push({ k: 'alu', op: 'mov', width: 64, dst: i, src: null, imm: (pick(IMMS) * (i + 1)) | 0 });
  out.push({ k: 'alu', op: 'mov', width: 64, dst: FUEL_REG, src: null, imm: 30 });
  const bodyStart = out.length;
  const n = 20 + (r() % 30);
  // Pass 1: kinds. 'B' = a guarded backward jump pair.
  const kinds: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = r() % 100;
    kinds.push(x < 50 ? 'alu' : x < 62 ? 'mem' : x < 78 ? 'jmp' : x < 84 ? 'ja' : x < 96 ? 'B' : 'exit');
  }
  const slots: string[] = [];
  for (const k of kinds) {
    if (k === 'B') slots.push('sub', 'guard');
    else slots.push(k);
  }
  slots.push('exit');
  const guarded = new Set<number>();
  slots.forEach((k, i) => {
    if (k === 'guard') guarded.add(bodyStart + i);
  });
  const last = bodyStart + slots.length - 1;
  const forwardTarget = (from: number): number => {
    for (;;) {
      const t = from + 1 + (r() % (last - from));
      if (!guarded.has(t)) return t;
    }
  };
  const backwardTarget = (from: number): number => {
    for (;;) {
      const t = bodyStart + (r() % (from - bodyStart + 1));
      if (!guarded.has(t)) return t;
    }
  };
  const reg = (): number => r() % 9;
  const size = (): 1 | 2 | 4 | 8 => pick([1, 2, 4, 8] as const);
  const off = (): number => -8 * (1 + (r() % 6)) + pick([0, 0, 1, 2, 4]);
  slots.forEach((k, j) => {
    const i = bodyStart + j;
    const width = r() % 3 === 0 ? 32 : 64;
    switch (k) {
      case 'alu': {
        const op = pick(ops);
        const src = op === 'neg' || r() % 2 ? null : reg();
        out.push({ k: 'alu', op, width, dst: reg(), src, imm: pick(IMMS) });
        break;
      }
      case 'mem': {
        const x = r() % 3;
        if (x === 0) out.push({ k: 'ldx', size: size(), dst: reg(), off: off() });
        else if (x === 1) out.push({ k: 'stx', size: size(), src: reg(), off: off() });
        else out.push({ k: 'st', size: size(), imm: pick(IMMS), off: off() });
        break;
      }
      case 'jmp':
        out.push({ k: 'jmp', op: pick(CMP_OPS), width, dst: reg(), src: r() % 2 ? reg() : null, imm: pick(IMMS), target: forwardTarget(i) });
        break;
      case 'ja':
        out.push({ k: 'ja', target: forwardTarget(i) });
        break;
      case 'sub':
        out.push({ k: 'alu', op: 'sub', width: 64, dst: FUEL_REG, src: null, imm: 1 });
        break;
      case 'guard':
        out.push({ k: 'jmp', op: 'jsgt', width: 64, dst: FUEL_REG, src: null, imm: 0, target: backwardTarget(i - 1) });
        break;
      default:
        out.push({ k: 'exit' });
    }
  });
  return out;
}

function renderProgram(prog: readonly GInsn[]): string {
  const sz = { 1: 'b', 2: 'h', 4: 'w', 8: 'dw' } as const;
  return prog.map((g, i) => {
    const rel = (t: number): string => {
      const d = t - i - 1;
      return d >= 0 ? `+${d}` : String(d);
    };
    const w = 'width' in g && g.width === 32 ? '32' : '';
    switch (g.k) {
      case 'alu':
        if (g.op === 'neg') return `neg${w} %r${g.dst}`;
        return `${g.op}${w} %r${g.dst}, ${g.src === null ? g.imm : `%r${g.src}`}`;
      case 'jmp':
        return `${g.op}${w} %r${g.dst}, ${g.src === null ? g.imm : `%r${g.src}`}, ${rel(g.target)}`;
      case 'ja':
        return `ja ${rel(g.target)}`;
      case 'ldx':
        return `ldx${sz[g.size]} %r${g.dst}, [%r10${g.off}]`;
      case 'stx':
        return `stx${sz[g.size]} [%r10${g.off}], %r${g.src}`;
      case 'st':
        return `st${sz[g.size]} [%r10${g.off}], ${g.imm}`;
      case 'exit':
        return 'exit';
    }
  }).join('\n');
}

/** The reference interpreter (RFC 9669 semantics via refAlu/refCmp; a zeroed 512-byte stack). */
function interpret(prog: readonly GInsn[]): bigint {
  const regs: bigint[] = new Array<bigint>(11).fill(0n);
  const stack = new DataView(new ArrayBuffer(512));
  const at = (off: number): number => 512 + off;
  for (let pc = 0, steps = 0; ; steps++) {
    if (steps > 1_000_000) throw new Error('reference interpreter: the program does not terminate');
    const g = prog[pc]!;
    switch (g.k) {
      case 'alu': {
        const src = g.src === null ? immValue(g.imm, g.width) : regs[g.src]!;
        regs[g.dst] = refAlu(g.op, g.width, regs[g.dst]!, src);
        pc++;
        break;
      }
      case 'jmp': {
        const src = g.src === null ? immValue(g.imm, g.width) : regs[g.src]!;
        pc = refCmp(g.op, g.width, regs[g.dst]!, src) ? g.target : pc + 1;
        break;
      }
      case 'ja':
        pc = g.target;
        break;
      case 'ldx': {
        const a = at(g.off);
        regs[g.dst] = g.size === 1 ? BigInt(stack.getUint8(a)) : g.size === 2 ? BigInt(stack.getUint16(a, true))
          : g.size === 4 ? BigInt(stack.getUint32(a, true)) : stack.getBigUint64(a, true);
        pc++;
        break;
      }
      case 'stx':
      case 'st': {
        const a = at(g.off);
        const v = g.k === 'stx' ? regs[g.src]! : u64(BigInt(g.imm)); // st imm sign-extends
        if (g.size === 1) stack.setUint8(a, Number(v & 0xffn));
        else if (g.size === 2) stack.setUint16(a, Number(v & 0xffffn), true);
        else if (g.size === 4) stack.setUint32(a, Number(v & 0xffff_ffffn), true);
        else stack.setBigUint64(a, v, true);
        pc++;
        break;
      }
      case 'exit':
        return regs[0]!;
    }
  }
}

/** Byte-reverses the low `n` bytes of v (upper bytes dropped). */
function swap(v: bigint, n: number): bigint {
  let out = 0n;
  for (let i = 0; i < n; i++) out = (out << 8n) | ((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

beforeAll(() => {
  // Sanity of the test data itself.
  expect(new Set(REG_VALUES).size).toBe(REG_VALUES.length);
});
