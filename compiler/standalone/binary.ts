/**
 * Reading and writing the parts of the Wasm binary format the standalone linker needs: LEB128
 * numbers, names, sections, function types, imports, exports, and a byte writer. Anything the
 * linker does not expect in its inputs (the support module and bpf2wasm's own program modules)
 * is an internal error: both come from this project.
 */
import { CompileError, ErrorCode } from '../../runtime/errors.js';

/** Section ids. */
export const Section = {
  Custom: 0, Type: 1, Import: 2, Function: 3, Table: 4, Memory: 5, Global: 6, Export: 7, Start: 8, Element: 9,
  Code: 10, Data: 11, DataCount: 12,
} as const;

/** External kinds of imports and exports. */
export const Kind = { Func: 0, Table: 1, Memory: 2, Global: 3 } as const;

/** An internal error of the linker (its inputs are bpf2wasm's own modules). */
export function linkError(message: string): CompileError {
  return new CompileError(ErrorCode.Internal, `standalone linker: ${message}`);
}

/** A cursor over bytes. */
export class Reader {
  constructor(readonly bytes: Uint8Array, public pos = 0, readonly end = bytes.length) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) throw linkError('unexpected end of input');
    return this.bytes[this.pos++]!;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw linkError('LEB128 u32 too long');
    }
    return result;
  }

  /** Skips a signed LEB128 of at most `bits` bits. */
  skipSigned(bits: number): void {
    const max = Math.ceil(bits / 7);
    for (let i = 0; ; i++) {
      if (i >= max) throw linkError('signed LEB128 too long');
      if ((this.u8() & 0x80) === 0) return;
    }
  }

  /** A signed LEB128 up to 33 bits (block types), as a number. */
  s33(): number {
    let result = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = this.u8();
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80 && shift < 35n);
    if (b & 0x40) result -= 1n << shift;
    return Number(result);
  }

  take(n: number): Uint8Array {
    if (this.pos + n > this.end) throw linkError('unexpected end of input');
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  name(): string {
    return new TextDecoder().decode(this.take(this.u32()));
  }
}

/** A growable byte buffer with the format's encodings. */
export class Writer {
  private buf = new Uint8Array(1024);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u8(b: number): this {
    this.room(1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  u32(v: number): this {
    let n = v >>> 0;
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      this.u8(b);
    } while (n !== 0);
    return this;
  }

  s32(v: number): this {
    let n = v | 0;
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        this.u8(b);
        return this;
      }
      this.u8(b | 0x80);
    }
  }

  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }

  /** A vector of `bytes` preceded by its length. */
  sized(b: Uint8Array): this {
    return this.u32(b.length).bytes(b);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** One section: id and payload. */
export interface RawSection {
  id: number;
  payload: Uint8Array;
  /** Custom sections: their name. */
  name?: string;
}

/** The sections of a module, in order. */
export function readSections(bytes: Uint8Array): RawSection[] {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d || bytes[4] !== 1) {
    throw linkError('not a Wasm module (version 1)');
  }
  const r = new Reader(bytes, 8);
  const out: RawSection[] = [];
  while (!r.done) {
    const id = r.u8();
    const size = r.u32();
    const payload = r.take(size);
    if (id === Section.Custom) out.push({ id, payload, name: new Reader(payload).name() });
    else out.push({ id, payload });
  }
  return out;
}

/** A function type, as its encoding after 0x60 (params and results vectors), for comparison. */
export type FuncType = string;

/** The type section's entries, each as its encoded bytes (`60 params results`). */
export function readTypes(payload: Uint8Array): Uint8Array[] {
  const r = new Reader(payload);
  const out: Uint8Array[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const start = r.pos;
    if (r.u8() !== 0x60) throw linkError('a type that is not a function type');
    r.take(r.u32());
    r.take(r.u32());
    out.push(payload.subarray(start, r.pos));
  }
  return out;
}

/** An import entry. */
export interface Import {
  module: string;
  field: string;
  kind: number;
  /** Functions: the type index. */
  type?: number;
  /** The entry's descriptor bytes after the kind (tables, memories, globals). */
  desc: Uint8Array;
}

export function readImports(payload: Uint8Array): Import[] {
  const r = new Reader(payload);
  const out: Import[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const module = r.name();
    const field = r.name();
    const kind = r.u8();
    const start = r.pos;
    let type: number | undefined;
    if (kind === Kind.Func) type = r.u32();
    else if (kind === Kind.Table) {
      r.u8();
      const f = r.u8();
      r.u32();
      if (f & 1) r.u32();
    } else if (kind === Kind.Memory) {
      const f = r.u8();
      r.u32();
      if (f & 1) r.u32();
    } else if (kind === Kind.Global) {
      r.u8();
      r.u8();
    } else throw linkError(`import ${module}.${field} of kind ${kind}`);
    out.push({ module, field, kind, desc: payload.subarray(start, r.pos), ...(type !== undefined ? { type } : {}) });
  }
  return out;
}

/** The function section: each defined function's type index. */
export function readFunctions(payload: Uint8Array): number[] {
  const r = new Reader(payload);
  const out: number[] = [];
  for (let n = r.u32(); n > 0; n--) out.push(r.u32());
  return out;
}

/** An export entry. */
export interface Export {
  name: string;
  kind: number;
  index: number;
}

export function readExports(payload: Uint8Array): Export[] {
  const r = new Reader(payload);
  const out: Export[] = [];
  for (let n = r.u32(); n > 0; n--) out.push({ name: r.name(), kind: r.u8(), index: r.u32() });
  return out;
}

/** The code section's bodies (each without its size prefix). */
export function readBodies(payload: Uint8Array): Uint8Array[] {
  const r = new Reader(payload);
  const out: Uint8Array[] = [];
  for (let n = r.u32(); n > 0; n--) out.push(r.take(r.u32()));
  return out;
}

/**
 * The data section's segments, each active in memory 0 at an `i32.const` address (what the
 * program module has: its constant tables); any other form is a link error.
 */
export function readDataSegments(payload: Uint8Array): Array<{ address: number; bytes: Uint8Array }> {
  const r = new Reader(payload);
  const out: Array<{ address: number; bytes: Uint8Array }> = [];
  for (let n = r.u32(); n > 0; n--) {
    if (r.u8() !== 0x00 || r.u8() !== 0x41) throw linkError('a data segment is not active at a constant address');
    const address = r.s33() >>> 0;
    if (r.u8() !== 0x0b) throw linkError('a data segment\'s address is not a constant');
    out.push({ address, bytes: r.take(r.u32()) });
  }
  return out;
}

/** The global section's entries, each as its encoded bytes (type, mutability, init expression). */
export function readGlobals(payload: Uint8Array): Uint8Array[] {
  const r = new Reader(payload);
  const out: Uint8Array[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const start = r.pos;
    r.u8();
    r.u8();
    // A constant initialiser: t.const value end (the compiler writes no other).
    const op = r.u8();
    if (op === 0x41) r.skipSigned(32);
    else if (op === 0x42) r.skipSigned(64);
    else if (op === 0x43) r.take(4);
    else if (op === 0x44) r.take(8);
    else throw linkError(`a global initialised by opcode 0x${op.toString(16)}`);
    if (r.u8() !== 0x0b) throw linkError('a global initialiser longer than one constant');
    out.push(payload.subarray(start, r.pos));
  }
  return out;
}

/** A section: id, then its payload's size and the payload. */
export function section(w: Writer, id: number, payload: Uint8Array): void {
  w.u8(id).sized(payload);
}

/** A vector section payload: the count, then each entry's bytes. */
export function vector(entries: readonly Uint8Array[]): Uint8Array {
  const w = new Writer().u32(entries.length);
  for (const e of entries) w.bytes(e);
  return w.result();
}
