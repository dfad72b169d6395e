/**
 * Shift pairs that extend (compiler/rewrite/extend-pair.ts): `r <<= K; r >>= K` and
 * `r <<= K; r s>>= K` for K = 32, 48, 56 lowered as one zero- or sign-extension. Each program is
 * checked for the shape of its -O0 code (the pairs that must fold leave no 64-bit shift by K, the
 * ones that must not keep both shifts) and run on edge values against the interpreter at -O0,
 * -O1, checked, with a budget and with every instruction mapped; the smallest budget that lets a
 * run finish is the same as with a pair that cannot fold. Seeded random programs of such pairs,
 * moves and short hammocks whose arms repeat a move made before the branch (lower/select.ts
 * leaves those out) agree with the interpreter.
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile, type CompileOptions } from '../index.js';
import { instantiate, interpret } from '../../runtime/index.js';
import { BpfRuntimeError, ErrorCode } from '../../runtime/errors.js';
import { INSN_MAP_SECTION } from '../../runtime/abi.js';

const loadWabt = async () => (await import('wabt')).default();

/** The module's code as text. */
async function wat(wasm: Uint8Array): Promise<string> {
  const wabt = await loadWabt();
  const mod = wabt.readWasm(wasm, {});
  try {
    return mod.toText({});
  } finally {
    mod.destroy();
  }
}

/** Counts of the instructions the tests look for in the text of `wasm`. */
async function counts(wasm: Uint8Array): Promise<Record<string, number>> {
  const text = await wat(wasm);
  const count = (re: RegExp): number => (text.match(re) ?? []).length;
  return {
    shl: count(/\bi64\.shl\b/g),
    shr: count(/\bi64\.shr_[su]\b/g),
    zext32: count(/\bi64\.extend_i32_u\b/g),
    and: count(/\bi64\.and\b/g),
    sext32: count(/\bi64\.extend32_s\b/g),
    sext16: count(/\bi64\.extend16_s\b/g),
    sext8: count(/\bi64\.extend8_s\b/g),
  };
}

/** The counts in the program's own code: those of `wasm` less those of a program of one `exit` (the entry wrapper's). */
async function shapes(wasm: Uint8Array): Promise<Record<string, number>> {
  const [mine, base] = await Promise.all([counts(wasm), compile(assemble('exit'), { optLevel: 0 }).then((c) => counts(c.wasm))]);
  return Object.fromEntries(Object.entries(mine).map(([k, n]) => [k, n - base[k]!]));
}

/** u64 edge values around each extension's boundaries. */
const VALUES = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n,
  0xffffffffn, 0x100000000n, 0x123456789abcdefn, 0xfedcba9876543210n, 0x7fffffffffffffffn, 0x8000000000000000n,
  0xffffffffffffff80n, 0xffffffffffff8000n, 0xffffffff80000000n, 0xffffffffffffffffn];

function ctxOf(a: bigint, b: bigint): Uint8Array {
  const ctx = new Uint8Array(16);
  const v = new DataView(ctx.buffer);
  v.setBigUint64(0, a, true);
  v.setBigUint64(8, b, true);
  return ctx;
}

/**
 * Programs reading two u64 from ctx: `fold` lists what the -O0 code holds instead of the pairs
 * (the counts of `shapes`), or null when no pair may fold (then every shift stays).
 */
const PROGRAMS: Record<string, { asm: string; fold: Record<string, number> | null }> = {
  'zero-extension of the low 32 bits (clang cpu v1), result xored in': {
    fold: { shl: 0, shr: 0, zext32: 2 },
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r3, [%r1+8]
      lsh %r2, 32
      rsh %r2, 32
      mov %r0, %r3
      lsh %r0, 32
      rsh %r0, 32
      xor %r0, %r2
      exit`,
  },
  'sign-extensions of 32, 16 and 8 bits': {
    fold: { shl: 1, shr: 0, sext32: 1, sext16: 1, sext8: 1 },
    asm: `
      ldxdw %r2, [%r1]
      mov %r3, %r2
      mov %r4, %r2
      lsh %r2, 32
      arsh %r2, 32
      lsh %r3, 48
      arsh %r3, 48
      lsh %r4, 56
      arsh %r4, 56
      mov %r0, %r2
      add %r0, %r3
      lsh %r0, 1
      xor %r0, %r4`,
  },
  'zero-extensions of 16 and 8 bits': {
    fold: { shr: 0, and: 2 },
    asm: `
      ldxdw %r2, [%r1]
      mov %r3, %r2
      lsh %r2, 48
      rsh %r2, 48
      lsh %r3, 56
      rsh %r3, 56
      mov %r0, %r2
      lsh %r0, 8
      or %r0, %r3`,
  },
  'pairs that do not extend stay shifts (other counts, registers, 32-bit, a jump between)': {
    fold: null,
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r3, [%r1+8]
      mov %r4, %r2
      mov %r5, %r2
      lsh %r2, 32
      rsh %r2, 31
      lsh %r4, 40
      arsh %r4, 40
      lsh %r5, 32
      rsh %r3, 32
      lsh32 %r3, 16
      rsh32 %r3, 16
      mov %r0, %r2
      jeq %r3, 0, +1
      lsh %r0, 32
      rsh %r0, 32
      add %r0, %r4
      add %r0, %r5
      add %r0, %r3`,
  },
};

describe('shift pairs that extend', () => {
  for (const [name, { asm, fold }] of Object.entries(PROGRAMS)) {
    it(name, async () => {
      const bytes = assemble(asm.trimEnd().endsWith('exit') ? asm : `${asm}\nexit`);
      const o0 = await shapes((await compile(bytes, { optLevel: 0 })).wasm);
      if (fold) {
        for (const [k, n] of Object.entries(fold)) expect(o0[k], k).toBe(n);
      } else {
        const shifts = (asm.match(/^\s*(lsh|rsh|arsh) /gm) ?? []).length;
        expect(o0.shl + o0.shr).toBe(shifts);
      }
      const configs: CompileOptions[] = [
        { optLevel: 0 }, { optLevel: 1 }, { optLevel: 0, checked: true }, { optLevel: 0, budget: 1000 },
        { optLevel: 0, mapAllInstructions: true },
      ];
      const insts = await Promise.all(configs.map(async (c) => instantiate((await compile(bytes, c)).wasm)));
      const ref = interpret(bytes);
      for (const a of VALUES) {
        for (const b of [0n, 1n, 0xffffffffn, 0xffffffffffffffffn, a]) {
          const ctx = ctxOf(a, b);
          const want = ref.run(ctx);
          for (const [i, inst] of insts.entries()) expect(inst.run(ctx), `${JSON.stringify(configs[i])} on ${a}, ${b}`).toBe(want);
        }
      }
    });
  }

  it('maps both instructions of a folded pair with mapAllInstructions', async () => {
    const bytes = assemble('mov %r0, -1\nlsh %r0, 32\nrsh %r0, 32\nadd %r0, 1\nexit');
    const { wasm } = await compile(bytes, { optLevel: 0, mapAllInstructions: true });
    const payload = WebAssembly.Module.customSections(new WebAssembly.Module(wasm as BufferSource), INSN_MAP_SECTION)[0]!;
    const words = new Uint32Array(payload.slice(0));
    const n = words[0]!;
    expect([...new Set(words.subarray(1 + n, 1 + 2 * n))]).toEqual([0, 1, 2, 3]);
    expect((await instantiate(wasm)).run()).toBe(0x100000000n);
  });

  it('charges the budget as two instructions: the smallest budget that finishes is the same as unfolded', async () => {
    // In a loop of 5 iterations: the folded pair against a pair with another count (same length).
    const program = (second: string): Uint8Array => assemble([
      'mov %r0, 0', 'mov %r1, 0',
      'loop:', 'mov %r2, %r1', 'sub %r2, 3', 'lsh %r2, 32', second, 'add %r0, %r2',
      'add %r1, 1', 'jlt %r1, 5, loop',
      'exit',
    ].join('\n'));
    const minBudget = async (bytes: Uint8Array, run: (budget: number) => Promise<unknown>): Promise<number> => {
      let [lo, hi] = [0, 256];
      await run(hi);
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        try {
          await run(mid);
          hi = mid;
        } catch (e) {
          if (!(e instanceof BpfRuntimeError) || e.code !== ErrorCode.Budget) throw e;
          lo = mid;
        }
      }
      return hi;
    };
    const folded = program('rsh %r2, 32');
    const plain = program('rsh %r2, 31');
    expect((await shapes((await compile(folded, { optLevel: 0 })).wasm)).shl).toBe(0);
    for (const optLevel of [0, 1] as const) {
      const compiled = (bytes: Uint8Array) => minBudget(bytes, async (budget) => {
        const { wasm } = await compile(bytes, { optLevel, budget });
        return (await instantiate(wasm)).program().run();
      });
      expect(await compiled(folded), `-O${optLevel}`).toBe(await compiled(plain));
    }
    const interpreted = (bytes: Uint8Array) => minBudget(bytes, async (budget) => interpret(bytes, { budget }).program().run());
    expect(await interpreted(folded)).toBe(await interpreted(plain));
    // The sum of (i - 3) zero-extended from 32 bits, i = 0..4: three wrapped negatives and 0, 1.
    const r0 = (await instantiate((await compile(folded, { optLevel: 0 })).wasm)).run();
    expect(r0).toBe(3n * 0x100000000n - 6n + 1n);
  });

  it('random programs of pairs, moves and short hammocks repeating a move agree with the interpreter', async () => {
    let seed = 0x5eed;
    const rnd = (): number => {
      seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
      return seed;
    };
    const pick = <T>(a: readonly T[]): T => a[rnd() % a.length]!;
    const regs = [0, 2, 3, 4, 5, 6, 7, 8, 9];
    const imms = [0, 1, -1, 7, 0x7fffffff, -0x80000000, 255, 65535, 32];
    const insn = (): string[] => {
      const d = pick(regs);
      const s = pick(regs);
      const k = pick([32, 48, 56, 32, 31, 40]);
      switch (rnd() % 7) {
        case 0: return [`mov %r${d}, %r${s}`];
        case 1: return [`mov %r${d}, ${pick(imms)}`];
        case 2: return [`lsh %r${d}, ${k}`, `${pick(['rsh', 'arsh'])} %r${d}, ${pick([k, k, 32])}`];
        case 3: return [`${pick(['add', 'xor', 'or', 'sub'])} %r${d}, %r${s}`];
        case 4: return [`mov32 %r${d}, %r${s}`];
        case 5: return [`${pick(['rsh', 'lsh', 'arsh'])} %r${d}, ${pick([1, 16, 32, 63])}`];
        default: return [`add32 %r${d}, ${pick(imms)}`];
      }
    };
    const program = (): string => {
      const out: string[] = [];
      for (let r = 2; r <= 9; r++) out.push(`ldxdw %r${r}, [%r1+${(r - 2) * 8}]`);
      out.push('mov %r0, 0');
      for (let i = 6 + (rnd() % 10); i > 0; i--) {
        if (rnd() % 2) {
          out.push(...insn());
          continue;
        }
        // A hammock, its arm maybe repeating a move made before the branch (maybe with one more instruction between).
        const arm: string[] = [];
        const pre: string[] = [];
        const m = insn()[0]!;
        if (rnd() % 2 && m.startsWith('mov')) {
          pre.push(m);
          arm.push(m);
        }
        while (arm.length < 1 + (rnd() % 3)) arm.push(...insn());
        const b = rnd() % 2 ? `%r${pick(regs)}` : String(pick(imms));
        out.push(...pre, ...(rnd() % 2 ? insn() : []), `${pick(['jgt', 'jlt', 'jeq', 'jsgt', 'jset', 'jne'])} %r${pick(regs)}, ${b}, +${arm.length}`, ...arm);
      }
      for (let r = 2; r <= 9; r++) out.push(`xor %r0, %r${r}`, 'lsh %r0, 1');
      out.push('exit');
      return out.join('\n');
    };
    const configs: CompileOptions[] = [{ optLevel: 0 }, { optLevel: 0, budget: 100000 }, { optLevel: 0, checked: true }];
    for (let p = 0; p < 60; p++) {
      const asm = program();
      const bytes = assemble(asm);
      const ref = interpret(bytes);
      const insts = await Promise.all(configs.map(async (c) => instantiate((await compile(bytes, c)).wasm)));
      for (let t = 0; t < 8; t++) {
        const ctx = new Uint8Array(64);
        const v = new DataView(ctx.buffer);
        for (let i = 0; i < 8; i++) v.setBigUint64(i * 8, rnd() % 3 ? pick(VALUES) : (BigInt(rnd()) << 32n) | BigInt(rnd()), true);
        const want = ref.run(ctx);
        for (const [i, inst] of insts.entries()) expect(inst.run(ctx), `${JSON.stringify(configs[i])}\n${asm}`).toBe(want);
      }
    }
  });
});
