/**
 * A small `.BTF` writer: the types a loader describes in code (the runtime's context structs,
 * compiler/btf/context-btf.ts) encoded as a little-endian `.BTF` section, which {@link parseBtf}
 * reads back into a {@link Btf} like any object's.
 */
import { BTF_MAGIC, BTF_VERSION, BtfKind } from './types.js';

/** A member of a struct or union being written: name (`''` for anonymous), type id, bit offset. */
export interface BtfMemberSpec {
  readonly name: string;
  readonly type: number;
  readonly bitOffset: number;
}

/** Builds a `.BTF` section type by type; ids are handed out in order from 1. */
export class BtfWriter {
  private readonly words: number[] = [];
  private readonly strings: number[] = [0];
  private readonly stringOffsets = new Map<string, number>([['', 0]]);
  private nextId = 1;

  private str(s: string): number {
    const known = this.stringOffsets.get(s);
    if (known !== undefined) return known;
    const at = this.strings.length;
    this.strings.push(...new TextEncoder().encode(s), 0);
    this.stringOffsets.set(s, at);
    return at;
  }

  private type(name: string, kind: number, vlen: number, sizeOrType: number, extra: readonly number[], kindFlag = false): number {
    this.words.push(this.str(name), ((kindFlag ? 1 : 0) << 31 | kind << 24 | vlen) >>> 0, sizeOrType >>> 0, ...extra.map((x) => x >>> 0));
    return this.nextId++;
  }

  /** An INT of `size` bytes. */
  int(name: string, size: number, signed: boolean): number {
    return this.type(name, BtfKind.INT, 0, size, [(signed ? 1 : 0) << 24 | size * 8]);
  }

  /** A TYPEDEF. */
  typedef(name: string, type: number): number {
    return this.type(name, BtfKind.TYPEDEF, 0, type, []);
  }

  /** A PTR to `type`. */
  ptr(type: number): number {
    return this.type('', BtfKind.PTR, 0, type, []);
  }

  /** An ARRAY of `nelems` elements of `type`, indexed by `indexType`. */
  array(type: number, indexType: number, nelems: number): number {
    return this.type('', BtfKind.ARRAY, 0, 0, [type, indexType, nelems]);
  }

  /** A STRUCT or UNION of `size` bytes (no bitfields). */
  composite(kind: 'struct' | 'union', name: string, size: number, members: readonly BtfMemberSpec[]): number {
    const extra: number[] = [];
    for (const m of members) extra.push(this.str(m.name), m.type, m.bitOffset);
    return this.type(name, kind === 'struct' ? BtfKind.STRUCT : BtfKind.UNION, members.length, size, extra);
  }

  /** A 4-byte ENUM (signed values when `signed`). */
  enumeration(name: string, values: readonly (readonly [string, number])[], signed = false): number {
    const extra: number[] = [];
    for (const [n, v] of values) extra.push(this.str(n), v);
    return this.type(name, BtfKind.ENUM, values.length, 4, extra, signed);
  }

  /** The section's bytes. */
  bytes(): Uint8Array {
    const typeLen = this.words.length * 4;
    const out = new Uint8Array(24 + typeLen + this.strings.length);
    const v = new DataView(out.buffer);
    v.setUint16(0, BTF_MAGIC, true);
    out[2] = BTF_VERSION;
    v.setUint32(4, 24, true);
    v.setUint32(8, 0, true);
    v.setUint32(12, typeLen, true);
    v.setUint32(16, typeLen, true);
    v.setUint32(20, this.strings.length, true);
    this.words.forEach((w, i) => v.setUint32(24 + i * 4, w, true));
    out.set(this.strings, 24 + typeLen);
    return out;
  }
}
