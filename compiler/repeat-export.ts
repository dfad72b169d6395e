/**
 * Repeat loops: for each program of a compiled module, a function `<export>__repeat(r1, r2, n)
 * -> i32` in the module itself that runs the program n times on the same r1, r2, as n calls of
 * its exported entry would, and returns the last run's r0 low half (the full r0 is at
 * RESULT_ADDR, as after any run). `test({ repeat })` times it (runtime/program.ts,
 * runtime/packet/testrun.ts), as the kernel's BPF_PROG_TEST_RUN runs its repeat loop inside the
 * kernel: the time per run is then the program and one Wasm call, not a call from JavaScript.
 *
 * The loop body is the entry's own body, copied (the direct writer's, -O0 and a large -O1, from
 * the entry's tree: `loopFunctions`; Binaryen's from its written body, which
 * compiler/standalone/code.ts decodes and re-indexes): the entry's setup (budget, checked-mode span, packet globals, tail-call
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
 * Written with the module by the direct writer (WModule `appended`, `loopFunctions`), added to
 * Binaryen's finished binary with the batch loops (compiler/batch-export.ts); the same bytes either way.
 */
import { REPEAT_EXPORT_SUFFIX } from '../runtime/abi.js';
import { BATCH_EXPORT_SUFFIX, LOOP_TYPE, loopBodyFrom, uleb } from '../runtime/packet/batch-loop.js';
import type { LoopExport } from './batch-export.js';
import { LOOP_PARTS } from './batch-loop-code.js';
import { bodyLocals, remapExpression } from './standalone/code.js';
import type { Node, WAppended, WModule } from './wir.js';

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
  const { head, tail } = loopParts(localGroups, counter);
  return [...head, ...run, ...tail];
}

/** The loop of `loop` before and after its run. */
function loopParts(localGroups: number[][], counter: number): { head: number[]; tail: number[] } {
  return {
    head: [
      ...uleb(localGroups.length), ...localGroups.flat(),
      0x02, 0x40, // block
      0x03, 0x40, // loop
      0x20, ...uleb(counter), 0x20, 2, 0x4f, 0x0d, 1, // br_if 1 (counter >= n, unsigned)
    ],
    tail: [
      0x21, ...uleb(counter + 1),
      0x20, ...uleb(counter), 0x41, 1, 0x6a, 0x21, ...uleb(counter), // counter += 1
      0x0c, 0, // br loop
      0x0b, 0x0b,
      0x20, ...uleb(counter + 1),
      0x0b,
    ],
  };
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

/** The label of the block a copied entry runs in (its `return`s branch to it). */
const RUN_LABEL = 'repeat.run';

/** What copying an entry's tree saw. */
interface Seen {
  /** A call of a function of the module (not an import). */
  callsOwn: boolean;
  /** A node with an instruction (a code offset in the instruction map). */
  mapped: boolean;
  /** The module's imported functions. */
  imports: ReadonlySet<string>;
}

/**
 * A copy of the entry's tree for the loop: locals at index + 3, `return` a branch to RUN_LABEL;
 * nodes without locals below them shared. (Each kind spelt out, no object spread or key walk:
 * this runs once per compile, mostly in V8's interpreter.)
 */
function copyForLoop(n: Node, seen: Seen): Node {
  switch (n.k) {
    case 'i32.const': case 'i64.const': case 'global.get': case 'unreachable': case 'memory.size':
      return n;
    case 'nop':
      if (n.pc !== undefined) seen.mapped = true;
      return n;
    case 'local.get': return { k: 'local.get', type: n.type, index: n.index + 3 };
    case 'local.set': return { k: 'local.set', type: n.type, index: n.index + 3, value: copyForLoop(n.value, seen) };
    case 'global.set': return { k: 'global.set', type: n.type, name: n.name, value: copyForLoop(n.value, seen) };
    case 'unary': return { k: 'unary', type: n.type, op: n.op, code: n.code, a: copyForLoop(n.a, seen) };
    case 'binary': return { k: 'binary', type: n.type, op: n.op, code: n.code, a: copyForLoop(n.a, seen), b: copyForLoop(n.b, seen) };
    case 'load':
      if (n.pc !== undefined) seen.mapped = true;
      return { k: 'load', type: n.type, op: n.op, code: n.code, offset: n.offset, ptr: copyForLoop(n.ptr, seen) };
    case 'store':
      if (n.pc !== undefined) seen.mapped = true;
      return {
        k: 'store', type: n.type, op: n.op, code: n.code, offset: n.offset, ptr: copyForLoop(n.ptr, seen), value: copyForLoop(n.value, seen),
      };
    case 'block': {
      const children: Node[] = [];
      for (const x of n.children) children.push(copyForLoop(x, seen));
      return { k: 'block', type: n.type, label: n.label, children };
    }
    case 'loop': return { k: 'loop', type: n.type, label: n.label, body: copyForLoop(n.body, seen) };
    case 'if': return {
      k: 'if', type: n.type, cond: copyForLoop(n.cond, seen), then: copyForLoop(n.then, seen), else: n.else ? copyForLoop(n.else, seen) : null,
    };
    case 'select': return {
      k: 'select', type: n.type, a: copyForLoop(n.a, seen), b: copyForLoop(n.b, seen), cond: copyForLoop(n.cond, seen),
    };
    case 'br': return n.cond ? { k: 'br', type: n.type, label: n.label, cond: copyForLoop(n.cond, seen) } : n;
    case 'br_table': return {
      k: 'br_table', type: n.type, labels: n.labels, defaultLabel: n.defaultLabel, index: copyForLoop(n.index, seen),
    };
    case 'call': {
      if (n.pc !== undefined) seen.mapped = true;
      if (!seen.imports.has(n.target)) seen.callsOwn = true;
      const args: Node[] = [];
      for (const x of n.args) args.push(copyForLoop(x, seen));
      return { k: 'call', type: n.type, target: n.target, args };
    }
    case 'return': {
      const br: Node = { k: 'br', type: 'none', label: RUN_LABEL, cond: null };
      return { k: 'block', type: 'none', label: null, children: n.value ? [copyForLoop(n.value, seen), br] : [br] };
    }
    case 'memory.copy': return {
      k: 'memory.copy', type: n.type, dst: copyForLoop(n.dst, seen), src: copyForLoop(n.src, seen), len: copyForLoop(n.len, seen),
    };
    case 'memory.fill': return {
      k: 'memory.fill', type: n.type, dst: copyForLoop(n.dst, seen), value: copyForLoop(n.value, seen), len: copyForLoop(n.len, seen),
    };
  }
}

/**
 * The function (position in `mod.functions`) exported as `entry`, or -1 when there is none or
 * `name` is already an export (as addLoopExports, which leaves such a loop out).
 */
function loopEntry(mod: WModule, entry: string, name: string): number {
  let target: string | undefined;
  for (const e of mod.exports) {
    if (e.name === name) return -1;
    if (e.name === entry) target = e.function;
  }
  if (target === undefined) return -1;
  for (let k = 0; k < mod.functions.length; k++) if (mod.functions[k]!.name === target) return k;
  return -1;
}

/** The repeat loop's body of the entry at `mod.functions[k]`: copyingLoop's, from the entry's tree, or callingLoop's. */
function repeatBody(mod: WModule, k: number): WAppended['body'] {
  const index = mod.imports.length + k;
  const fn = mod.functions[k]!;
  if (typeof fn.body === 'function') return [callingLoop(index)];
  const imports = new Set<string>();
  for (const i of mod.imports) imports.add(i.name);
  const seen: Seen = { callsOwn: false, mapped: false, imports };
  const run = copyForLoop(fn.body, seen);
  // As repeatExports and copyingLoop: an entry with mapped program code, or calling no function of the module, is called.
  if (seen.mapped || !seen.callsOwn) return [callingLoop(index)];
  // The entry's locals in runs of equal type, as the writer declares them.
  const groups: Array<[number, number]> = [];
  for (const v of fn.vars) {
    const type = v === 'i64' ? 0x7e : I32;
    const last = groups[groups.length - 1];
    if (last && last[1] === type) last[0]++;
    else groups.push([1, type]);
  }
  const locals: number[][] = [[2, I32]];
  const zeroes: number[] = [];
  let at = 5;
  for (const [c, type] of groups) {
    locals.push([...uleb(c), type]);
    for (let i = 0; i < c; i++, at++) zeroes.push(...zeroOf(type)!, 0x21, ...uleb(at));
  }
  locals.push([2, I32]);
  const { head, tail } = loopParts(locals, at);
  return [
    [...head, 0x20, 0, 0x21, 3, 0x20, 1, 0x21, 4, ...zeroes],
    { k: 'block', type: 'i32', label: RUN_LABEL, children: [run] },
    tail,
  ];
}

/**
 * The batch loops (compiler/batch-export.ts) and, with `repeat`, the repeat loops of `programs`
 * for the direct writer to append to `mod` (WModule `appended`): the functions, in the same order
 * and with the same bytes as `addLoopExports` adds them to the written module, the repeat loop's
 * copy of the entry made from the entry's tree instead of decoding its written body.
 */
export function loopFunctions(
  mod: WModule, programs: ReadonlyArray<{ exportName: string; context?: string }>, repeat: boolean,
): WAppended[] {
  const out: WAppended[] = [];
  for (const p of programs) {
    const kind = p.context === 'xdp_md' ? 'xdp' as const : p.context === '__sk_buff' ? 'skb' as const : undefined;
    if (!kind) continue;
    const name = p.exportName + BATCH_EXPORT_SUFFIX;
    const k = loopEntry(mod, p.exportName, name);
    if (k >= 0) out.push({ name, type: LOOP_TYPE, body: [loopBodyFrom(LOOP_PARTS[kind], mod.imports.length + k)] });
  }
  if (!repeat) return out;
  for (const p of programs) {
    const name = p.exportName + REPEAT_EXPORT_SUFFIX;
    const k = loopEntry(mod, p.exportName, name);
    if (k >= 0) out.push({ name, type: REPEAT_TYPE, body: repeatBody(mod, k) });
  }
  return out;
}
