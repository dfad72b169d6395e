/**
 * Repeat loops: for each program of a compiled module, a function `<export>__repeat(r1, r2, n)
 * -> i32` in the module itself that runs the program n times on the same r1, r2, as n calls of
 * its exported entry would, and returns the last run's r0 low half (the full r0 is at
 * RESULT_ADDR, as after any run). `test({ repeat })` times it (runtime/program.ts,
 * runtime/packet/testrun.ts), as the kernel's BPF_PROG_TEST_RUN runs its repeat loop inside the
 * kernel: the time per run is then the program and one Wasm call, not a call from JavaScript.
 *
 * The loop body is the entry's own body, copied (compiler/standalone/code.ts decodes and
 * re-indexes it): the entry's setup (budget, checked-mode span, packet globals, tail-call
 * state), the call of the program's function, the tail-call loop and the store of r0 run once
 * per iteration, exactly as in the entry, with the entry's parameters and locals as fresh locals
 * (the parameters copied in and every local zeroed at the start of each run, as a call starts),
 * and a `return` a branch out of the run. So a run is one call (the program's function), as in
 * the kernel's loop and in uBPF's harness, not two (the loop calling the entry, the entry the
 * program). At -O2 (Binaryen's inliner may have put the program's code into the entry, where a
 * copy would run it without a call, and trap where the instruction map does not know), where the
 * entry's body holds mapped program code or calls no function of the module, or cannot be
 * decoded, the loop calls the entry instead, which is then also one call per run.
 *
 * Calls stay calls: V8 11 (Node 20) does not inline Wasm functions into Wasm functions
 * (`--wasm-inlining` is off by default), so the program's work is not hoisted out of the loop:
 * `mov r0, 12345678; exit` still costs a call per run (see the README, Benchmarks).
 *
 * Added to the finished binary with the batch loops (compiler/batch-export.ts).
 */
import { REPEAT_EXPORT_SUFFIX } from '../runtime/abi.js';
import { uleb } from '../runtime/packet/batch-loop.js';
import type { LoopExport } from './batch-export.js';
import { bodyLocals, remapExpression } from './standalone/code.js';

const I32 = 0x7f;

/** `(i32 r1, i32 r2, i32 n) -> i32`, encoded. */
export const REPEAT_TYPE: readonly number[] = [0x60, 3, I32, I32, I32, 1, I32];

/** The zero of a local's value type (i32, i64, f32, f64), encoded; undefined for others. */
function zeroOf(type: number): number[] | undefined {
  switch (type) {
    case 0x7f: return [0x41, 0];
    case 0x7e: return [0x42, 0];
    case 0x7d: return [0x43, 0, 0, 0, 0];
    case 0x7c: return [0x44, 0, 0, 0, 0, 0, 0, 0, 0];
    default: return undefined;
  }
}

/**
 * The loop around `run` (code leaving the run's i32 result on the stack), with the local groups
 * `localGroups` (encoded, after the parameters), the counter at `counter` and the result at `counter + 1`.
 */
function loop(localGroups: number[][], counter: number, run: number[]): number[] {
  return [
    ...uleb(localGroups.length), ...localGroups.flat(),
    0x02, 0x40, // block
    0x03, 0x40, // loop
    0x20, ...uleb(counter), 0x20, 2, 0x4f, 0x0d, 1, // br_if 1 (counter >= n, unsigned)
    ...run,
    0x21, ...uleb(counter + 1),
    0x20, ...uleb(counter), 0x41, 1, 0x6a, 0x21, ...uleb(counter), // counter += 1
    0x0c, 0, // br loop
    0x0b, 0x0b,
    0x20, ...uleb(counter + 1),
    0x0b,
  ];
}

/** The loop calling the entry (function `entry`) n times. */
export function callingLoop(entry: number): number[] {
  return loop([[2, I32]], 3, [0x20, 0, 0x20, 1, 0x10, ...uleb(entry)]);
}

/**
 * The loop running a copy of the entry's body (locals and code) n times, or undefined when it
 * cannot be copied (a local of another type than i32, i64, f32, f64; an instruction the decoder
 * does not know) or when the copy would make no call to a function of the module (functions
 * from `importedFunctions` on): the program's code is then in the entry itself, and a copy would
 * leave the loop without a call per run, for V8 to fold a constant program away.
 */
export function copyingLoop(entryBody: Uint8Array, importedFunctions: number): number[] | undefined {
  let expr: Uint8Array;
  let groups: Array<[number, number]>;
  let callsOwn = false;
  try {
    const locals = bodyLocals(entryBody);
    groups = locals.groups;
    // The entry's locals: its parameters r1, r2 (0, 1) and declared locals (2, ...) move to 3 + index.
    expr = remapExpression(entryBody, locals.end, {
      func: (i) => {
        if (i >= importedFunctions) callsOwn = true;
        return i;
      },
      type: (i) => i, global: (i) => i, local: (i) => i + 3, returnAsBranch: true,
    });
  } catch {
    return undefined;
  }
  if (!callsOwn) return undefined;
  const count = groups.reduce((n, [c]) => n + c, 0);
  const zeroes: number[] = [];
  let at = 5;
  for (const [c, type] of groups) {
    const zero = zeroOf(type);
    if (!zero) return undefined;
    for (let k = 0; k < c; k++, at++) zeroes.push(...zero, 0x21, ...uleb(at));
  }
  const counter = 5 + count;
  return loop(
    [[2, I32], ...groups.map(([c, t]) => [...uleb(c), t]), [2, I32]],
    counter,
    [
      0x20, 0, 0x21, 3, 0x20, 1, 0x21, 4, // the entry's parameters
      ...zeroes, // its locals, zero as at a call
      0x02, I32, ...expr, // block (result i32): the entry's code, its final `end` closing the block
    ],
  );
}

/**
 * The repeat loops of `programs` (their entries' export names). `copy` says whether entries may be
 * copied at all (the module's functions were not inlined into each other: -O0, -O1);
 * `hasProgramCode(start, end)` whether the instruction map has code offsets in [start, end).
 */
export function repeatExports(
  programs: ReadonlyArray<{ exportName: string }>, copy: boolean, hasProgramCode: (start: number, end: number) => boolean,
): LoopExport[] {
  return programs.map((p) => ({
    entry: p.exportName,
    name: p.exportName + REPEAT_EXPORT_SUFFIX,
    type: REPEAT_TYPE,
    body: (e) => (copy && !hasProgramCode(e.start, e.start + e.body.length) ? copyingLoop(e.body, e.importedFunctions) : undefined) ?? callingLoop(e.index),
  }));
}

/** Whether an encoded instruction map (runtime/insnmap.ts) has a code offset in [start, end). */
export function insnMapHasOffsetIn(encoded: Uint8Array, start: number, end: number): boolean {
  const v = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  if (encoded.byteLength < 4) return false;
  const n = Math.min(v.getUint32(0, true), Math.floor((encoded.byteLength - 4) / 8));
  for (let i = 0; i < n; i++) {
    const off = v.getUint32(4 + 4 * i, true);
    if (off >= start && off < end) return true;
  }
  return false;
}
