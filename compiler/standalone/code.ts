/**
 * Re-indexing a function body for the standalone linker: decodes every instruction of the
 * WebAssembly MVP, sign-extension, non-trapping float-to-int and bulk-memory/table (0xFC)
 * sets, copies it unchanged except for the indices that move when the program's module is
 * appended to the support module's (function indices of `call` and `ref.func`, type indices of
 * `call_indirect` and block types, global indices). An opcode outside those sets (SIMD, threads,
 * tail calls, GC, ...), or one that refers to data or element segments of the program (it has
 * none), is an internal error: the compiler never writes them.
 */
import { linkError, Reader, Writer } from './binary.js';

/** How indices move. */
export interface Remap {
  func(index: number): number;
  type(index: number): number;
  global(index: number): number;
  /** Local indices (default: unchanged). */
  local?(index: number): number;
  /**
   * `return` becomes a branch to the body's outermost label (the body is then placed inside a
   * block of the function's result type: compiler/repeat-export.ts).
   */
  returnAsBranch?: boolean;
}

/** Opcodes with no immediate: control without labels, parametric, and all numeric ones. */
function noImmediate(op: number): boolean {
  return op === 0x00 || op === 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b
    || op === 0xd1 || (op >= 0x45 && op <= 0xc4);
}

/** Rewrites one function body (locals and expression, without the size prefix). */
export function remapBody(body: Uint8Array, remap: Remap): Uint8Array {
  const { end } = bodyLocals(body);
  const w = new Writer();
  // Locals: vec(count, valtype), copied.
  w.bytes(body.subarray(0, end));
  w.bytes(remapExpression(body, end, remap));
  return w.result();
}

/** A function body's local declarations (count and value type per group) and where its expression starts. */
export function bodyLocals(body: Uint8Array): { groups: Array<[number, number]>; end: number } {
  const r = new Reader(body);
  const groups: Array<[number, number]> = [];
  for (let n = r.u32(); n > 0; n--) {
    const count = r.u32();
    groups.push([count, r.u8()]);
  }
  return { groups, end: r.pos };
}

/** Rewrites a function body's expression, from `at` (after the locals) to the body's end, its final `end` included. */
export function remapExpression(body: Uint8Array, at: number, remap: Remap): Uint8Array {
  const r = new Reader(body, at);
  const w = new Writer();
  let depth = 1;
  const copyFrom = (start: number): void => {
    w.bytes(body.subarray(start, r.pos));
  };
  while (depth > 0) {
    const start = r.pos;
    const op = r.u8();
    if (noImmediate(op)) {
      if (op === 0x0b) depth--;
      if (op === 0x0f && remap.returnAsBranch) w.u8(0x0c).u32(depth - 1);
      else w.u8(op);
      continue;
    }
    switch (op) {
      case 0x02: case 0x03: case 0x04: { // block loop if
        depth++;
        w.u8(op);
        const bt = r.s33();
        if (bt >= 0) w.s32(remap.type(bt)); // a type index
        else w.bytes(body.subarray(start + 1, r.pos));
        break;
      }
      case 0x0c: case 0x0d: // br br_if
        r.u32();
        copyFrom(start);
        break;
      case 0x0e: { // br_table
        for (let n = r.u32(); n >= 0; n--) r.u32();
        copyFrom(start);
        break;
      }
      case 0x10: // call
        w.u8(op).u32(remap.func(r.u32()));
        break;
      case 0x11: { // call_indirect
        const type = r.u32();
        const table = r.u32();
        w.u8(op).u32(remap.type(type)).u32(table);
        break;
      }
      case 0x1c: { // select t*
        for (let n = r.u32(); n > 0; n--) r.u8();
        copyFrom(start);
        break;
      }
      case 0x20: case 0x21: case 0x22: { // local.*
        const index = r.u32();
        if (remap.local) w.u8(op).u32(remap.local(index));
        else copyFrom(start);
        break;
      }
      case 0x25: case 0x26: // table.get table.set
        r.u32();
        copyFrom(start);
        break;
      case 0x23: case 0x24: // global.get global.set
        w.u8(op).u32(remap.global(r.u32()));
        break;
      case 0x3f: case 0x40: // memory.size memory.grow
        r.u32();
        copyFrom(start);
        break;
      case 0x41:
        r.skipSigned(32);
        copyFrom(start);
        break;
      case 0x42:
        r.skipSigned(64);
        copyFrom(start);
        break;
      case 0x43:
        r.take(4);
        copyFrom(start);
        break;
      case 0x44:
        r.take(8);
        copyFrom(start);
        break;
      case 0xd0: // ref.null t
        r.u8();
        copyFrom(start);
        break;
      case 0xd2: // ref.func
        w.u8(op).u32(remap.func(r.u32()));
        break;
      case 0xfc: {
        const sub = r.u32();
        if (sub <= 7) { // trunc_sat
          copyFrom(start);
        } else if (sub === 10) { // memory.copy
          r.u32();
          r.u32();
          copyFrom(start);
        } else if (sub === 11 || (sub >= 15 && sub <= 17)) { // memory.fill, table.grow/size/fill
          r.u32();
          copyFrom(start);
        } else if (sub === 14) { // table.copy
          r.u32();
          r.u32();
          copyFrom(start);
        } else {
          throw linkError(`instruction 0xfc ${sub} (segment access) in a program body`);
        }
        break;
      }
      default:
        if (op >= 0x28 && op <= 0x3e) { // loads and stores: memarg
          const align = r.u32();
          if (align & 0x40) r.u32(); // memory index (multi-memory)
          r.u32();
          copyFrom(start);
          break;
        }
        throw linkError(`unknown or unsupported opcode 0x${op.toString(16)} at byte ${start} of a program body`);
    }
  }
  if (!r.done) throw linkError('bytes after the end of a function body');
  return w.result();
}
