/**
 * Compare trees as jump tables (compiler/rewrite/switch-table.ts): generated trees of compares
 * on one register (chains and balanced trees, signed, unsigned and equality, 32- and 64-bit,
 * shared leaves, constants near the edges of the width) inside a loop, run by the interpreter
 * (the reference) and compiled at every level, plain, checked and with a budget; inner nodes
 * may move constants into other registers first (clang -O3's shape); and the recogniser really
 * turns clang's switches (test-programs/bench/switch.o, and the -O3 lookup switch of
 * test-programs/suite-shapes/shapes_O3.o, rebuilt by scripts/build-suite-shapes.sh) into one
 * `br_table` each.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble } from '../asm/assemble.js';
import { compile } from '../compile.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { insnsOf } from '../../runtime/isa/insn.js';
import { findSwitches } from '../rewrite/switch-table.js';
import { checkDifferential, runCompiled, runInterpreter, type ProgramSet } from '../../scripts/fuzz/harness.js';
import { fuzzHelpers } from '../../scripts/fuzz/generators.js';
import { ErrorCode } from '../../runtime/errors.js';
import { loadKernel } from '../../scripts/bench/kernels.js';
import { ROOT } from '../../test/support/fixtures.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseElf } from '../elf/elf64.js';
import { extractProgram } from '../elf/extract.js';

/** A global function of test-programs/suite-shapes/shapes_O3.o as raw bytecode. */
function shapeKernel(symbol: string): Uint8Array {
  const bytes = readFileSync(path.join(ROOT, 'test-programs', 'suite-shapes', 'shapes_O3.o'));
  return extractProgram(parseElf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)), { section: '.text', symbol });
}

/** A move an inner node does before its compare (clang -O3 hoists a case's constant there). */
type Move = { reg: 4 | 5; imm: number; w32: boolean };
type Tree = { leaf: number } | { op: string; imm: number; moves: Move[]; taken: Tree; fall: Tree };

const SIGNED_OPS = ['jsgt', 'jsge', 'jslt', 'jsle', 'jeq', 'jne'];
const UNSIGNED_OPS = ['jgt', 'jge', 'jlt', 'jle', 'jeq', 'jne'];
const LEAVES = 6;

interface SwitchCase {
  width: 32 | 64;
  mask: number | null;
  tree: Tree;
  values: bigint[];
  /**
   * Leaves that only pick a value (a lookup, rewrite/switch-table.ts): leaf i sets r4 to a
   * constant (leaf 4: or to the switch value itself, 64- or 32-bit) and goes on to the join; leaf 5
   * is the join itself, reached with what the inner nodes moved into r4.
   */
  lookup: { consts: number[]; self: 32 | 64 | null } | null;
}

const arbImm = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: -3, max: 24 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0x7fffffff, -0x80000000, 0x7ffffffe) },
);

const arbMoves: fc.Arbitrary<Move[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Move[]>([]) },
  {
    weight: 2,
    arbitrary: fc.array(fc.record({ reg: fc.constantFrom(4 as const, 5 as const), imm: arbImm, w32: fc.boolean() }), { minLength: 1, maxLength: 3 }),
  },
);

function arbTree(ops: string[]): fc.Arbitrary<Tree> {
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof(
      { maxDepth: 6, withCrossShrink: true },
      { weight: 1, arbitrary: fc.record({ leaf: fc.integer({ min: 0, max: LEAVES - 1 }) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constantFrom(...ops), imm: arbImm, moves: arbMoves, taken: tie('tree'), fall: tie('tree') }) },
    ),
  }));
  return tree as fc.Arbitrary<Tree>;
}

const arbValue = fc.oneof(
  fc.bigInt({ min: -6n, max: 45n }),
  fc.constantFrom(0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x100000005n, -1n, -(1n << 63n), (1n << 63n) - 1n),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
);

const arbCase: fc.Arbitrary<SwitchCase> = fc.record({
  width: fc.constantFrom(32 as const, 64 as const),
  mask: fc.option(fc.constantFrom(7, 31, 63), { nil: null }),
  signed: fc.boolean(),
  values: fc.array(arbValue, { minLength: 8, maxLength: 8 }),
  lookup: fc.option(fc.record({ consts: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 5, maxLength: 5 }), self: fc.constantFrom(null, null, null, 32 as const, 64 as const) }), { nil: null }),
}).chain(({ width, mask, signed, values, lookup }) =>
  arbTree(signed ? SIGNED_OPS : UNSIGNED_OPS).map((tree) => ({ width, mask, tree, values, lookup })));

/**
 * For a lookup case: inner nodes move only into r4, and an inner node whose fall-through is a
 * leaf moves into r4 and falls to the join (leaf 5), so the join is a leaf reached with r4 set.
 */
function lookupTree(t: Tree, root = true): Tree {
  if ('leaf' in t) return t;
  let moves = t.moves.map((mv) => ({ ...mv, reg: 4 as const }));
  let fall = lookupTree(t.fall, false);
  if (!root && 'leaf' in fall) {
    fall = { leaf: 5 };
    if (moves.length === 0) moves = [{ reg: 4, imm: t.imm & 0xff, w32: false }];
  }
  return { ...t, moves, taken: lookupTree(t.taken, false), fall };
}

/** The case as assembly: a loop over 8 u64 values, each dispatched through the tree. */
function program(c: SwitchCase): string {
  const lines = [
    'mov %r6, 0',
    'mov %r7, 0',
    'mov %r4, 3',
    'mov %r5, 5',
    'loop:',
    'mov %r3, %r1',
    'add %r3, %r7',
    'ldxdw %r2, [%r3+0]',
  ];
  if (c.mask !== null) lines.push(`and %r2, ${c.mask}`);
  const sfx = c.width === 32 ? '32' : '';
  let next = 0;
  const pending: Array<[string, Tree]> = [];
  const emit = (t: Tree): void => {
    // A compare's fall-through subtree follows it directly, as clang places it; an inner node's
    // moves come before its compare.
    for (;;) {
      if ('leaf' in t) {
        lines.push(`ja leaf${t.leaf}`);
        return;
      }
      for (const mv of t.moves) lines.push(`mov${mv.w32 ? '32' : ''} %r${mv.reg}, ${mv.imm}`);
      const taken = 'leaf' in t.taken ? `leaf${t.taken.leaf}` : `n${next++}`;
      if (!('leaf' in t.taken)) pending.push([taken, t.taken]);
      lines.push(`${t.op}${sfx} %r2, ${t.imm}, ${taken}`);
      t = t.fall;
    }
  };
  emit(c.lookup ? lookupTree(c.tree) : c.tree);
  while (pending.length > 0) {
    const [label, t] = pending.shift()!;
    lines.push(`${label}:`);
    emit(t);
  }
  if (c.lookup) {
    // Leaves that only pick r4, and the join.
    c.lookup.consts.forEach((k, i) => lines.push(`leaf${i}:`, i === 4 && c.lookup?.self ? `mov${c.lookup.self === 32 ? '32' : ''} %r4, %r2` : `mov %r4, ${k}`, 'ja join'));
    lines.push('leaf5:', 'join:', 'mul %r6, 7', 'add %r6, %r4', 'xor %r6, %r5', 'ja next');
  } else {
    // The leaves use the registers the inner nodes move constants into.
    for (let i = 0; i < LEAVES; i++) lines.push(`leaf${i}:`, 'mul %r6, 7', `add %r6, ${i + 1}`, 'add %r6, %r4', 'xor %r6, %r5', 'ja next');
  }
  lines.push('next:', 'add %r7, 8', 'jlt %r7, 64, loop', 'mov %r0, %r6', 'exit');
  return lines.join('\n');
}

function memOf(values: readonly bigint[]): Uint8Array {
  const mem = new Uint8Array(64);
  const view = new DataView(mem.buffer);
  values.forEach((v, i) => view.setBigUint64(i * 8, BigInt.asUintN(64, v), true));
  return mem;
}

function setOf(c: SwitchCase, extra: Partial<ProgramSet> = {}): ProgramSet {
  const bytes = assemble(program(c));
  // The same program on its values, and on the values shifted by one and by 2^32.
  const shifted = (d: bigint): Uint8Array => memOf(c.values.map((v) => v + d));
  return { bytes, entries: [0, 0, 0, 0], mems: [memOf(c.values), shifted(1n), shifted(-1n), shifted(1n << 32n)], ...extra };
}

function plansOf(bytes: Uint8Array, lookups = false): number {
  const program = decodeProgram(bytes);
  const cfg = buildCfg(program, [0]);
  return cfg.functions.reduce((n, fn) => n + [...findSwitches(fn.blocks, insnsOf(program)).values()].filter((p) => !lookups || p.lookup).length, 0);
}

describe('compare trees as br_table', () => {
  it('clang\'s 64-way switch (test-programs/bench/switch.o) becomes one table', async () => {
    const bytes = await loadKernel(ROOT, 'switch');
    const program = decodeProgram(bytes);
    const cfg = buildCfg(program, [0]);
    const plans = [...findSwitches(cfg.functions[0]!.blocks, insnsOf(program)).values()];
    expect(plans).toHaveLength(1);
    // Cases 0..62 are in the table; 63 is the tree's last else, the value above the table.
    expect(plans[0]!.table).toHaveLength(63);
    expect(plans[0]!.above).toBeGreaterThanOrEqual(0);
    const { wasm } = await compile(bytes, { optLevel: 0 });
    // br_table is opcode 0x0e followed by a vector of at least 64 labels.
    const wabt = await (await import('wabt')).default();
    const mod = wabt.readWasm(wasm, {});
    try {
      expect(mod.toText({}).match(/br_table/g)?.length ?? 0).toBeGreaterThanOrEqual(1);
    } finally {
      mod.destroy();
    }
  });

  it('clang -O3\'s lookup switch (constants hoisted into the inner compares) becomes one table and agrees with the interpreter', async () => {
    const bytes = shapeKernel('lut_switch');
    const program = decodeProgram(bytes);
    const cfg = buildCfg(program, [0]);
    const plans = [...findSwitches(cfg.functions[0]!.blocks, insnsOf(program)).values()];
    expect(plans).toHaveLength(1);
    const plan = plans[0]!;
    // Cases 0..23 in the table, the default below and above it, and some paths through moves.
    expect(plan.table).toHaveLength(24);
    expect(plan.edges.some((e) => e.moves.length > 0)).toBe(true);
    // It only picks a constant: a lookup (a br_table when lookups are off).
    expect(plan.lookup?.bits).toBe(8);
    expect(findSwitches(cfg.functions[0]!.blocks, insnsOf(program), { lookups: false }).get(plan.root)?.lookup).toBeUndefined();
    expect(plan.below).toBeGreaterThanOrEqual(0);
    expect(plan.above).toBeGreaterThanOrEqual(0);
    // Every case value, the values around the table, and extremes: count, then the values.
    const values = [...Array.from({ length: 30 }, (_, i) => i - 3), 0x7fffffff, -0x80000000, 99991];
    const mem = new Uint8Array(4 * (values.length + 1));
    const view = new DataView(mem.buffer);
    view.setInt32(0, values.length, true);
    values.forEach((v, i) => view.setInt32(4 * (i + 1), v, true));
    const one = (v: number): Uint8Array => {
      const m = new Uint8Array(8);
      new DataView(m.buffer).setInt32(0, 1, true);
      new DataView(m.buffer).setInt32(4, v, true);
      return m;
    };
    for (const extra of [{}, { checked: true }, { budget: 1_000_000 }]) {
      const set: ProgramSet = { bytes, entries: [0, 0, 0, 0], mems: [mem, one(0), one(23), one(24)], ...extra };
      expect(await checkDifferential(set, { levels: [0, 1, 2] })).toEqual([]);
    }
  });

  it('generated trees agree with the interpreter at every level (plain, checked, budget)', async () => {
    let withTable = 0;
    let withLookup = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(arbCase, fc.constantFrom('plain', 'checked', 'budget'), async (c, mode) => {
        runs++;
        const set = setOf(c, mode === 'checked' ? { checked: true } : mode === 'budget' ? { budget: 1_000_000 } : {});
        if (plansOf(set.bytes) > 0) withTable++;
        if (plansOf(set.bytes, true) > 0) withLookup++;
        const problems = await checkDifferential(set, { levels: [0, 1, 2] });
        if (problems.length > 0) throw new Error(`${program(c)}\n${problems.join('\n')}`);
      }),
      { seed: 0x5717c4, numRuns: 200 },
    );
    // The property must exercise the rewrite, not only the trees it leaves alone.
    expect(withTable).toBeGreaterThan(runs / 5);
    expect(withLookup).toBeGreaterThan(runs / 40);
  }, 240_000);

  it('a budget too small for the loop stops both engines with E_BUDGET', async () => {
    const c = fc.sample(arbCase.filter((x) => plansOf(assemble(program(x))) > 0), { seed: 7, numRuns: 1 })[0]!;
    const set = setOf(c, { budget: 12 });
    expect(runInterpreter(set, fuzzHelpers, 12).map((o) => o.error?.code)).toEqual([ErrorCode.Budget, ErrorCode.Budget, ErrorCode.Budget, ErrorCode.Budget]);
    for (const optLevel of [0, 1, 2] as const) {
      const got = await runCompiled(set, fuzzHelpers, { optLevel, helpers: fuzzHelpers() });
      expect(got.map((o) => o.error?.code), `-O${optLevel}`).toEqual([ErrorCode.Budget, ErrorCode.Budget, ErrorCode.Budget, ErrorCode.Budget]);
    }
  });
});
