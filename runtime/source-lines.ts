/**
 * Source lines of compiled programs: the compact instruction -> C line table a module built from
 * an object with `.BTF.ext` line info carries in its `bpf2wasm.lines` custom section, and the
 * lookup that adds `{ file, line, source }` to an error located at an instruction (as the kernel's
 * verifier log names the C line behind an instruction).
 *
 * The payload is UTF-8 JSON: `{ "v": 1, "files": [...], "text": [...], "rows": [pc, file, line,
 * text, ...] }`; each row says that the instructions from `pc` on come from line `line` of
 * `files[file]`, whose text is `text[text]`, until the next row. Rows are sorted by pc. Strings
 * are stored once each.
 */
import { Bpf2WasmError, type ErrorLocation } from './errors.js';

/** The custom section holding the table. */
export const LINES_SECTION = 'bpf2wasm.lines';

/** One row: the instructions from `pc` on come from this line. */
export interface SourceLine {
  /** Instruction slot in the module's numbering (the `insn` errors carry). */
  readonly pc: number;
  /** Source file name as the object's BTF gives it (`./test-programs/c/fault.c`). */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** The text of the line, trimmed. */
  readonly source: string;
}

/** Encodes rows (any order) as the section payload. */
export function encodeSourceLines(lines: readonly SourceLine[]): Uint8Array {
  const files: string[] = [];
  const text: string[] = [];
  const fileIndex = new Map<string, number>();
  const textIndex = new Map<string, number>();
  const index = (list: string[], map: Map<string, number>, s: string): number => {
    let i = map.get(s);
    if (i === undefined) {
      map.set(s, (i = list.length));
      list.push(s);
    }
    return i;
  };
  const rows: number[] = [];
  for (const l of [...lines].sort((a, b) => a.pc - b.pc)) {
    rows.push(l.pc, index(files, fileIndex, l.file), l.line, index(text, textIndex, l.source));
  }
  return new TextEncoder().encode(JSON.stringify({ v: 1, files, text, rows }));
}

/**
 * A decoded table; an absent or malformed section gives an empty one (lines are a courtesy). The
 * payload is decoded on the first lookup: only errors look lines up, and decoding (a JSON parse
 * and a row per line) was a measurable part of a first `instantiate()` of an object.
 */
export class SourceLineTable {
  private readonly pcs: number[] = [];
  private readonly rows: SourceLine[] = [];
  private payload: ArrayBuffer | Uint8Array | undefined;

  /** A table of `payload` (the section's bytes, which the table keeps until it decodes them). */
  constructor(payload: ArrayBuffer | Uint8Array | undefined) {
    this.payload = payload;
  }

  private decode(): void {
    const payload = this.payload;
    if (!payload) return;
    this.payload = undefined;
    if (payload.byteLength === 0) return;
    let data: unknown;
    try {
      data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
    } catch {
      return;
    }
    if (typeof data !== 'object' || data === null) return;
    const d = data as { v?: unknown; files?: unknown; text?: unknown; rows?: unknown };
    if (d.v !== 1 || !isStrings(d.files) || !isStrings(d.text) || !Array.isArray(d.rows) || d.rows.length % 4 !== 0) return;
    const rows = d.rows as unknown[];
    for (let i = 0; i < rows.length; i += 4) {
      const [pc, file, line, text] = rows.slice(i, i + 4);
      if (!isIndex(pc) || !isIndex(file) || !isIndex(line) || !isIndex(text)) {
        this.clear();
        return;
      }
      const f = d.files[file];
      const t = d.text[text];
      if (f === undefined || t === undefined || (this.pcs.length > 0 && pc < this.pcs[this.pcs.length - 1]!)) {
        this.clear();
        return;
      }
      this.pcs.push(pc);
      this.rows.push({ pc, file: f, line, source: t });
    }
  }

  /** Reads the table of a compiled module (empty when it has none). */
  static of(module: WebAssembly.Module): SourceLineTable {
    return new SourceLineTable(WebAssembly.Module.customSections(module, LINES_SECTION)[0]);
  }

  /** Number of rows. */
  get size(): number {
    this.decode();
    return this.rows.length;
  }

  /** The line instruction `pc` comes from: the last row at or before it, if any. */
  lookup(pc: number): SourceLine | undefined {
    this.decode();
    let lo = 0;
    let hi = this.pcs.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.pcs[mid]! <= pc) {
        best = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return best < 0 ? undefined : this.rows[best];
  }

  private clear(): void {
    this.pcs.length = 0;
    this.rows.length = 0;
  }
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * `e` with the source line of its instruction added to its location (`file`, `line`, `source`)
 * and message, when `e` is a bpf2wasm error located at an instruction the table knows; otherwise
 * `e` itself. The new error has the same class, code and detail, and `e`'s cause.
 */
export function withSourceLine<E>(e: E, table: { lookup(pc: number): SourceLine | undefined } | undefined): E {
  if (!table || !(e instanceof Bpf2WasmError) || e.location.insn === undefined || e.location.file !== undefined) return e;
  const at = table.lookup(e.location.insn);
  if (!at) return e;
  const location: ErrorLocation = { ...e.location, file: at.file, line: at.line, source: at.source };
  const Class = e.constructor as new (code: Bpf2WasmError['code'], detail: string, location: ErrorLocation, options?: { cause?: unknown }) => Bpf2WasmError;
  const out = new Class(e.code, e.detail, location, e.cause !== undefined ? { cause: e.cause } : undefined);
  if (out.code !== e.code || out.detail !== e.detail) return e; // a subclass with another constructor shape
  return out as E;
}
