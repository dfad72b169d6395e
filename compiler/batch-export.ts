/**
 * Batch exports: for each XDP and skb program of a compiled module, a function
 * `<export>__batch2` (BATCH_EXPORT_SUFFIX) in the module itself, the runtime's batch loop (runtime/packet/batch-loop.ts:
 * one body, encoded there) calling the program's entry directly. A call inside one module is
 * cheaper than the call from the runtime's separate loop module into the program's export (an
 * import from another instance), and V8 may inline it.
 *
 * Added to Binaryen's finished binary: a type, the functions, their exports and their bodies at
 * the end of the code section. The direct writer (-O0) writes the same functions with the module
 * (compiler/repeat-export.ts `loopFunctions`, WModule `appended`) instead of reading it back. Every function body moves by
 * the same number of bytes (the sections before the code grew), which the caller adds to the
 * instruction map's offsets.
 */
import { BATCH_EXPORT_SUFFIX, LOOP_TYPE, loopBodyFrom, uleb, type LoopKind } from '../runtime/packet/batch-loop.js';
import { LOOP_PARTS } from './batch-loop-code.js';
import { InternalError, ErrorCode } from '../runtime/errors.js';
import { utf8 } from './sections.js';


/** A reader of the module's bytes. */
class Reader {
  constructor(readonly b: Uint8Array, public at = 0) {}
  u32(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      const x = this.b[this.at++];
      if (x === undefined) throw new InternalError(ErrorCode.Internal, 'batch exports: the module ends inside a number');
      v += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return v;
      shift += 7;
    }
  }
  name(): string {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.at, this.at + n));
    this.at += n;
    return s;
  }
  /** Skips an import's or export's description after its kind byte. */
  skipImportDesc(kind: number): void {
    if (kind === 0) this.u32();
    else if (kind === 1) { this.at++; this.limits(); }
    else if (kind === 2) this.limits();
    else if (kind === 3) this.at += 2;
    else this.u32();
  }
  private limits(): void {
    const flags = this.b[this.at++]!;
    this.u32();
    if (flags & 1) this.u32();
  }
}

interface Section { id: number; start: number; payload: number; end: number }

function sections(b: Uint8Array): Section[] {
  const r = new Reader(b, 8);
  const out: Section[] = [];
  while (r.at < b.length) {
    const start = r.at;
    const id = b[r.at++]!;
    const size = r.u32();
    out.push({ id, start, payload: r.at, end: r.at + size });
    r.at += size;
  }
  return out;
}

/** A section with `count` items, then `rest` (its items), then the new items. */
function withItems(id: number, count: number, rest: Uint8Array, added: number[]): number[] {
  const payload = [...uleb(count), ...Array.from(rest), ...added];
  return [id, ...uleb(payload.length), ...payload];
}

/** A function added to a finished module and exported: a loop made for one program's entry. */
export interface LoopExport {
  /** The export of the program's entry it calls. */
  entry: string;
  /** Its own export name. */
  name: string;
  /** Its function type, encoded (`0x60 params results`). */
  type: readonly number[];
  /**
   * Its body (locals and code, without the size prefix), given the entry's function index, the
   * entry's body (locals and code), where that body starts in the module (byte offset) and how
   * many functions the module imports (the first indices).
   */
  body(entry: { index: number; body: Uint8Array; start: number; importedFunctions: number }): number[];
}

/**
 * Adds `<export>__batch2` for `programs` (export name and context kind) to `binary`. Returns the
 * new binary and how far every function body moved (`shift`, bytes).
 */
export function addBatchExports(binary: Uint8Array, programs: ReadonlyArray<{ exportName: string; kind: LoopKind }>): { binary: Uint8Array; shift: number } {
  return addLoopExports(binary, batchExports(programs));
}

/** The batch loops of `programs` (export name and context kind). */
export function batchExports(programs: ReadonlyArray<{ exportName: string; kind: LoopKind }>): LoopExport[] {
  return programs.map((p) => ({
    entry: p.exportName,
    name: p.exportName + BATCH_EXPORT_SUFFIX,
    type: LOOP_TYPE,
    // The runtime's loop function, copied from its generated parts (encoding it costs ~0.5-0.8 ms cold).
    body: (e) => loopBodyFrom(LOOP_PARTS[p.kind], e.index),
  }));
}

/**
 * Adds the functions `loops` to `binary`, each exported under its name (one whose entry is not
 * exported, or whose name is taken, is left out). Returns the new binary and how far every
 * function body moved (`shift`, bytes).
 */
export function addLoopExports(binary: Uint8Array, loops: readonly LoopExport[]): { binary: Uint8Array; shift: number } {
  if (loops.length === 0) return { binary, shift: 0 };
  const secs = sections(binary);
  const find = (id: number): Section | undefined => secs.find((s) => s.id === id);
  const types = find(1), imports = find(2), funcs = find(3), exps = find(7), code = find(10);
  if (!types || !funcs || !exps || !code) throw new InternalError(ErrorCode.Internal, 'loop exports: the module lacks a type, function, export or code section');
  // Function indices: imported functions first.
  let importedFns = 0;
  if (imports) {
    const r = new Reader(binary, imports.payload);
    for (let n = r.u32(); n > 0; n--) {
      r.name();
      r.name();
      const kind = binary[r.at++]!;
      if (kind === 0) importedFns++;
      r.skipImportDesc(kind);
    }
  }
  const exportIndex = new Map<string, number>();
  const er = new Reader(binary, exps.payload);
  const exportCount = er.u32();
  const exportItems = er.at;
  for (let n = exportCount; n > 0; n--) {
    const name = er.name();
    const kind = binary[er.at++]!;
    const index = er.u32();
    if (kind === 0) exportIndex.set(name, index);
  }
  const tr = new Reader(binary, types.payload);
  const typeCount = tr.u32();
  const typeItems = tr.at;
  const fr = new Reader(binary, funcs.payload);
  const fnCount = fr.u32();
  const fnItems = fr.at;
  const cr = new Reader(binary, code.payload);
  const codeCount = cr.u32();
  const codeItems = cr.at;

  const added = loops.filter((l) => exportIndex.has(l.entry) && !exportIndex.has(l.name));
  if (added.length === 0) return { binary, shift: 0 };
  // The bodies of the module's own functions: where each starts and ends.
  const bodies: Array<[number, number]> = [];
  for (let n = codeCount; n > 0; n--) {
    const size = cr.u32();
    bodies.push([cr.at, cr.at + size]);
    cr.at += size;
  }
  const newTypes: number[][] = [];
  const typeIndex = (t: readonly number[]): number => {
    let k = newTypes.findIndex((x) => x.length === t.length && x.every((b, i) => b === t[i]));
    if (k < 0) k = newTypes.push([...t]) - 1;
    return typeCount + k;
  };
  const newFuncs: number[] = [];
  const newExports: number[] = [];
  const newBodies: number[] = [];
  added.forEach((l, k) => {
    const name = utf8(l.name);
    newExports.push(...uleb(name.length), ...name, 0, ...uleb(importedFns + fnCount + k));
    newFuncs.push(...uleb(typeIndex(l.type)));
    const index = exportIndex.get(l.entry)!;
    const range = bodies[index - importedFns];
    if (!range) throw new InternalError(ErrorCode.Internal, `loop exports: ${l.entry} is not a function of the module`);
    const body = l.body({ index, body: binary.subarray(range[0], range[1]), start: range[0], importedFunctions: importedFns });
    newBodies.push(...uleb(body.length), ...body);
  });

  const parts: Uint8Array[] = [binary.subarray(0, 8)];
  let codeStart = 0;
  let size = 8;
  for (const s of secs) {
    const put = (...bytes: Uint8Array[]): void => {
      for (const b of bytes) {
        parts.push(b);
        size += b.length;
      }
    };
    if (s === types) put(new Uint8Array(withItems(1, typeCount + newTypes.length, binary.subarray(typeItems, s.end), newTypes.flat())));
    else if (s === funcs) put(new Uint8Array(withItems(3, fnCount + added.length, binary.subarray(fnItems, s.end), newFuncs)));
    else if (s === exps) put(new Uint8Array(withItems(7, exportCount + added.length, binary.subarray(exportItems, s.end), newExports)));
    else if (s === code) {
      // The bodies are not copied into an array: a large program's code section is megabytes.
      const count = uleb(codeCount + added.length);
      const head = new Uint8Array([10, ...uleb(count.length + (s.end - codeItems) + newBodies.length), ...count]);
      codeStart = size + head.length;
      put(head, binary.subarray(codeItems, s.end), new Uint8Array(newBodies));
    } else put(binary.subarray(s.start, s.end));
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { binary: out, shift: codeStart - codeItems };
}

/**
 * An encoded instruction map (runtime/insnmap.ts: u32 count, the code offsets, the instructions)
 * with every code offset moved by `shift` bytes.
 */
export function shiftInsnMap(encoded: Uint8Array, shift: number): Uint8Array {
  if (shift === 0) return encoded;
  const out = encoded.slice();
  const v = new DataView(out.buffer);
  const n = v.getUint32(0, true);
  for (let i = 0; i < n; i++) v.setUint32(4 + 4 * i, v.getUint32(4 + 4 * i, true) + shift, true);
  return out;
}
