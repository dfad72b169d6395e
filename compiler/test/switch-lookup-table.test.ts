/**
 * Switch lookups as loads from the module's constant table (compiler/rewrite/switch-table.ts,
 * ConstTables; runtime/abi.ts CONST_TABLE_BASE): clang -O3's switch that picks a constant
 * (test-programs/suite-shapes lut_switch: cases 0..23, default 99991) run key by key, below, in
 * and above the table, on one instance whose memory is reused across the runs, against the
 * interpreter; in plain, checked and budget modes, at -O0 and -O2, and as a standalone module.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../compile.js';
import { instantiate } from '../../runtime/instance.js';
import { interpret } from '../../runtime/interpreter.js';
import { CONST_TABLE_BASE, CONST_TABLE_END, NULL_GUARD_SIZE } from '../../runtime/abi.js';
import { ErrorCode } from '../../runtime/errors.js';
import { ROOT } from '../../test/support/fixtures.js';
import { parseElf } from '../elf/elf64.js';
import { extractProgram } from '../elf/extract.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import { insnsOf } from '../../runtime/isa/insn.js';
import { ConstTables, findSwitches } from '../rewrite/switch-table.js';
import { compileStandaloneBytecode } from '../standalone/standalone.js';

function lutSwitch(): Uint8Array {
  const bytes = readFileSync(path.join(ROOT, 'test-programs', 'suite-shapes', 'shapes_O3.o'));
  return extractProgram(parseElf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)), { section: '.text', symbol: 'lut_switch' });
}

/** The C source's mapping (test-programs/suite-shapes/shapes.c). */
const CASES = [17, 4, 29, 8, 31, 2, 23, 11, 19, 0, 26, 13, 7, 30, 1, 22, 9, 27, 14, 5, 20, 3, 28, 12];
const expected = (k: number): bigint => BigInt(k >= 0 && k < CASES.length ? CASES[k]! : 99991);

/** Keys below, in and above the table, and the extremes of an int. */
const KEYS = [-0x80000000, -65536, -2, -1, ...CASES.map((_, i) => i), 24, 25, 255, 256, 65536, 0x7fffffff];

/** The kernel's input: a count of 1 and the key. */
function one(k: number): Uint8Array {
  const m = new Uint8Array(8);
  const v = new DataView(m.buffer);
  v.setInt32(0, 1, true);
  v.setInt32(4, k, true);
  return m;
}

describe('switch lookups from a constant table', () => {
  const bytes = lutSwitch();

  it('the lut_switch kernel is one lookup, and each key gives what the C source maps it to', () => {
    const program = decodeProgram(bytes);
    const plans = [...findSwitches(buildCfg(program, [0]).functions[0]!.blocks, insnsOf(program)).values()];
    expect(plans).toHaveLength(1);
    expect(plans[0]!.lookup?.entries.map(Number)).toEqual(CASES);
    const inst = interpret(bytes, {});
    for (const k of KEYS) expect(inst.run(one(k)), `key ${k}`).toBe(expected(k));
  });

  for (const mode of [{}, { checked: true }, { budget: 1_000_000 }]) {
    for (const optLevel of [0, 2] as const) {
      it(`${JSON.stringify(mode)} -O${optLevel}: every key on one instance (memory reused) as the interpreter; the table is in the null guard`, async () => {
        const { wasm } = await compile(bytes, { optLevel, ...mode });
        const inst = await instantiate(wasm, {});
        const ref = interpret(bytes, { ...mode });
        const table = new Uint8Array(inst.memory.buffer).slice(CONST_TABLE_BASE, CONST_TABLE_END);
        // The module wrote its table at instantiation: the 24 entries, one byte each.
        const at = CONST_TABLE_BASE + table.findIndex((_, i) => CASES.every((c, j) => table[i + j] === c));
        expect(at).toBeGreaterThanOrEqual(CONST_TABLE_BASE);
        expect(at + CASES.length).toBeLessThanOrEqual(NULL_GUARD_SIZE);
        for (let round = 0; round < 2; round++) {
          for (const k of KEYS) {
            const want = ref.run(one(k));
            expect(want, `key ${k}`).toBe(expected(k));
            expect(inst.run(one(k)), `key ${k}, round ${round}`).toBe(want);
          }
        }
        // Many keys in one run (the kernel mixes them into one value).
        const many = new Uint8Array(4 * (KEYS.length + 1));
        const v = new DataView(many.buffer);
        v.setInt32(0, KEYS.length, true);
        KEYS.forEach((k, i) => v.setInt32(4 * (i + 1), k, true));
        expect(inst.run(many)).toBe(ref.run(many));
        // The runs left the table as it was.
        expect(new Uint8Array(inst.memory.buffer).slice(CONST_TABLE_BASE, CONST_TABLE_END)).toEqual(table);
      });
    }
  }

  it('checked mode still faults on a read of the table region (it is the null guard)', async () => {
    // r0 = *(u8 *)(0x400 + 0): lddw r1, CONST_TABLE_BASE; ldxb r0, [r1+0]; exit
    const prog = new Uint8Array(32);
    const v = new DataView(prog.buffer);
    prog[0] = 0x18; prog[1] = 0x01; v.setInt32(4, CONST_TABLE_BASE, true);
    prog[16] = 0x71; prog[17] = 0x10;
    prog[24] = 0x95;
    const { wasm } = await compile(prog, { checked: true });
    const inst = await instantiate(wasm, {});
    expect(() => inst.run(new Uint8Array(8))).toThrow(expect.objectContaining({ code: ErrorCode.MemoryFault }));
  });

  for (const optLevel of [0, 2] as const) {
    it(`as a standalone module (-O${optLevel}): every key, twice, as the interpreter`, async () => {
      const sa = await compileStandaloneBytecode(bytes, { optLevel });
      const { instance } = await WebAssembly.instantiate(sa.wasm as Uint8Array<ArrayBuffer>, {});
      const ex = instance.exports as Record<string, (...a: number[]) => number & bigint>;
      const memory = instance.exports.memory as WebAssembly.Memory;
      const exportName = sa.description.programs.find((p) => p.name === 'main')!.export;
      const ref = interpret(bytes, {});
      for (let round = 0; round < 2; round++) {
        for (const k of KEYS) {
          const input = one(k);
          const addr = ex.bpf2wasm_input!(input.length);
          new Uint8Array(memory.buffer).set(input, addr);
          const r0 = BigInt.asUintN(64, BigInt(ex[exportName]!(addr, input.length)));
          expect(ex.bpf2wasm_status!(), `key ${k}`).toBe(0);
          expect(r0, `key ${k}, round ${round}`).toBe(ref.run(one(k)));
        }
      }
    });
  }

  it('without the tables (what a lookup becomes when the region is full): packed words and selects, every key as the interpreter', async () => {
    for (const optLevel of [0, 2] as const) {
      const { wasm } = await compile(bytes, { optLevel, constTables: false });
      const inst = await instantiate(wasm, {});
      expect(new Uint8Array(inst.memory.buffer).slice(CONST_TABLE_BASE, CONST_TABLE_END).every((b) => b === 0)).toBe(true);
      for (const k of KEYS) expect(inst.run(one(k)), `key ${k}, -O${optLevel}`).toBe(expected(k));
    }
  });

  it('ConstTables: aligned places inside the region, equal tables shared, none when full', () => {
    const t = new ConstTables();
    const a = t.place(new Uint8Array([1, 2, 3]), 1)!;
    const b = t.place(new Uint8Array([5, 0, 6, 0]), 4)!;
    expect(a).toBe(CONST_TABLE_BASE);
    expect(b % 4).toBe(0);
    expect(b).toBeGreaterThanOrEqual(a + 3);
    expect(t.place(new Uint8Array([1, 2, 3]), 1)).toBe(a);
    expect(t.place(new Uint8Array(CONST_TABLE_END - CONST_TABLE_BASE), 1)).toBeUndefined();
    const rest = CONST_TABLE_END - (b + 4);
    expect(t.place(new Uint8Array(rest).fill(9), 1)).toBe(b + 4);
    expect(t.place(new Uint8Array([7]), 1)).toBeUndefined();
    expect(t.segments.map((s) => s.address)).toEqual([a, b, b + 4]);
  });
});
