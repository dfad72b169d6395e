/**
 * If-conversion (compiler/lower/select.ts): short register-only arms become `select`s. Each
 * program is checked to contain selects at -O0 (so the test cannot pass by not converting) and
 * run on many inputs against the interpreter at -O0, -O1 and with a budget: both arms, the
 * condition reading a register the arm writes, 32-bit operations and compares, lddw constants,
 * and shapes that must stay branches (an arm that loads, divides, or is too long).
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile, type CompileOptions } from '../index.js';
import { instantiate, interpret } from '../../runtime/index.js';

const loadWabt = async () => (await import('wabt')).default();

/** The number of `select` instructions in the module's text. */
async function selects(wasm: Uint8Array): Promise<number> {
  const wabt = await loadWabt();
  const mod = wabt.readWasm(wasm, {});
  try {
    return (mod.toText({}).match(/\bselect\b/g) ?? []).length;
  } finally {
    mod.destroy();
  }
}

/** Inputs: two u64 at ctx[0] and ctx[8], chosen around the programs' constants and sign boundaries. */
function inputs(): Uint8Array[] {
  const values = [0n, 1n, 2n, 3n, 7n, 15n, 16n, 17n, 255n, 256n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n,
    0xffffffffn, 0x100000000n, 0x123456789abcdefn, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn];
  const out: Uint8Array[] = [];
  for (const a of values) {
    for (const b of [0n, 5n, 0x80000000n, 0xffffffffffffffffn, a, a + 1n]) {
      const ctx = new Uint8Array(16);
      const v = new DataView(ctx.buffer);
      v.setBigUint64(0, BigInt.asUintN(64, a), true);
      v.setBigUint64(8, BigInt.asUintN(64, b), true);
      out.push(ctx);
    }
  }
  return out;
}

/** `selects`: how many the -O0 code has (when it is checked exactly). */
const PROGRAMS: Record<string, { asm: string; converts: boolean; selects?: number }> = {
  // The log2 kernel's shape: the condition reads r2, the arm shifts it.
  'log2 chain (hammocks, the arm writes the compared register)': {
    converts: true,
    asm: `
      ldxdw %r2, [%r1]
      mov %r0, 0
      mov %r3, 0x10000
      jgt %r3, %r2, +2
      rsh %r2, 16
      or %r0, 16
      mov %r3, 0x100
      jgt %r3, %r2, +2
      rsh %r2, 8
      or %r0, 8
      jgt %r2, 15, +1
      add %r0, 100
      mov %r4, 1
      jgt %r2, 3, +1
      mov %r4, 0
      add %r0, %r4
      exit`,
  },
  'diamond (one instruction per arm, signed compare)': {
    converts: true,
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r3, [%r1+8]
      jsgt %r2, %r3, +2
      mov %r0, %r3
      ja +1
      mov %r0, %r2
      exit`,
  },
  'diamond with a 32-bit compare and 32-bit arms': {
    converts: true,
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r3, [%r1+8]
      mov %r0, %r2
      jlt32 %r2, %r3, +2
      sub32 %r0, %r3
      ja +1
      xor32 %r0, %r3
      exit`,
  },
  'hammock taken on the fall-through side (the arm runs when the branch is taken)': {
    converts: true,
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r0, [%r1+8]
      jset %r2, 1, +1
      ja +3
      lsh %r0, 3
      arsh %r0, 1
      neg %r0
      exit`,
  },
  'lddw constants in an arm': {
    converts: true,
    asm: `
      ldxdw %r2, [%r1]
      mov %r0, %r2
      jeq %r2, 0, +2
      lddw %r0, 0x8000000000000001
      exit`,
  },
  'a move the branch block already made is not repeated as a select (clang\'s `if (v >> 32) v >>= 32`)': {
    converts: true,
    selects: 1,
    asm: `
      ldxdw %r7, [%r1]
      mov %r5, %r7
      lddw %r4, 0x100000000
      jgt %r4, %r7, +2
      mov %r5, %r7
      rsh %r5, 32
      mov %r0, %r5
      exit`,
  },
  'a repeated move whose source changed after the first stays a select': {
    converts: true,
    selects: 2,
    asm: `
      ldxdw %r7, [%r1]
      mov %r5, %r7
      add %r7, 1
      lddw %r4, 0x100000000
      jgt %r4, %r7, +2
      mov %r5, %r7
      rsh %r5, 32
      mov %r0, %r5
      exit`,
  },
  'repeated immediate moves: the one still in effect is dropped, the overwritten one stays': {
    converts: true,
    selects: 2,
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r3, [%r1+8]
      mov %r0, 7
      mov %r4, 9
      mov %r4, %r3
      jgt %r2, %r3, +3
      mov %r0, 7
      mov %r4, 9
      add %r0, %r4
      add %r0, %r4
      exit`,
  },
  'a move after the arm wrote its source, and a 32-bit move of another width, stay selects': {
    converts: true,
    selects: 3,
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r3, [%r1+8]
      mov %r0, %r2
      mov32 %r4, %r3
      jeq %r3, 0, +3
      add %r2, 1
      mov %r0, %r2
      mov %r4, %r3
      add %r0, %r4
      exit`,
  },
  'a repeated move after the arm wrote its destination stays a select': {
    converts: true,
    selects: 2,
    asm: `
      ldxdw %r2, [%r1]
      mov %r0, 7
      jeq %r2, 0, +2
      lsh %r0, 1
      mov %r0, 7
      add %r0, %r2
      exit`,
  },
  'an arm with a load stays a branch (it could fault)': {
    converts: false,
    asm: `
      ldxdw %r2, [%r1]
      mov %r0, 0
      jeq %r2, 0, +1
      ldxdw %r0, [%r1+8]
      exit`,
  },
  'an arm dividing stays a branch': {
    converts: false,
    asm: `
      ldxdw %r2, [%r1]
      ldxdw %r0, [%r1+8]
      jeq %r2, 0, +1
      div %r0, %r2
      exit`,
  },
  'an arm of four instructions stays a branch': {
    converts: false,
    asm: `
      ldxdw %r2, [%r1]
      mov %r0, %r2
      jgt %r2, 100, +4
      add %r0, 1
      add %r0, 2
      add %r0, 3
      add %r0, 4
      exit`,
  },
};

describe('if-conversion', () => {
  for (const [name, { asm, converts, selects: exactly }] of Object.entries(PROGRAMS)) {
    it(name, async () => {
      const bytes = assemble(asm);
      const o0 = await compile(bytes, { optLevel: 0 });
      if (exactly !== undefined) expect(await selects(o0.wasm)).toBe(exactly);
      if (converts) expect(await selects(o0.wasm)).toBeGreaterThan(0);
      else expect(await selects(o0.wasm)).toBe(0);
      const configs: CompileOptions[] = [
        { optLevel: 0 }, { optLevel: 1 }, { optLevel: 0, budget: 1000 }, { optLevel: 0, checked: true }, { optLevel: 0, mapAllInstructions: true },
      ];
      const insts = await Promise.all(configs.map(async (c) => instantiate((await compile(bytes, c)).wasm)));
      const ref = interpret(bytes);
      for (const ctx of inputs()) {
        const want = ref.run(ctx);
        for (const [i, inst] of insts.entries()) expect(inst.run(ctx), `${JSON.stringify(configs[i])} on ${Array.from(ctx).join(',')}`).toBe(want);
      }
    });
  }
});
