/**
 * Test support: a BTF writer for synthetic, hand-built and forged `.BTF` sections (btf.test.ts,
 * typedesc.test.ts).
 */
import { BtfKind, BtfLinkage, parseBtf, type Btf } from '../../compiler/btf/types.js';
import { StrTab } from './strtab.js';

export class BtfWriter {
  private readonly strings = new StrTab();
  /** Type records as u32 words (one entry per type). */
  readonly records: number[][] = [];

  /** The offset of `s` in the string section (added once). */
  str(s: string): number {
    return this.strings.add(s);
  }

  /** Adds a raw record; returns its type id. */
  raw(name: string, kind: number, vlen: number, sizeOrType: number, extra: number[] = [], kindFlag = false): number {
    const info = ((kindFlag ? 1 : 0) << 31) | (kind << 24) | vlen;
    this.records.push([this.str(name), info >>> 0, sizeOrType >>> 0, ...extra.map((x) => x >>> 0)]);
    return this.records.length;
  }

  /** encoding: 1 signed (or `true`), 2 char, 4 bool. */
  int(name: string, size: number, encoding: number | boolean = 0, bits = size * 8, bitOffset = 0): number {
    const enc = encoding === true ? 1 : encoding === false ? 0 : encoding;
    return this.raw(name, BtfKind.INT, 0, size, [(enc << 24) | (bitOffset << 16) | bits]);
  }
  ref(kind: number, target: number, name = ''): number {
    return this.raw(name, kind, 0, target);
  }
  array(elem: number, index: number, nelems: number): number {
    return this.raw('', BtfKind.ARRAY, 0, 0, [elem, index, nelems]);
  }
  /** Members: [name, type, bit offset, bitfield size (kind_flag layout when any is given)]. */
  struct(name: string, size: number, members: [string, number, number, number?][], union = false): number {
    const kindFlag = members.some((m) => m[3] !== undefined);
    const extra = members.flatMap(([n, t, bit, bits]) => [this.str(n), t, kindFlag ? ((bits ?? 0) << 24) | bit : bit]);
    return this.raw(name, union ? BtfKind.UNION : BtfKind.STRUCT, members.length, size, extra, kindFlag);
  }
  enum(name: string, size: number, values: [string, number][], signed = false): number {
    return this.raw(name, BtfKind.ENUM, values.length, size, values.flatMap(([n, v]) => [this.str(n), v]), signed);
  }
  enum64(name: string, values: [string, bigint][], signed = false): number {
    const words = values.flatMap(([n, v]) => {
      const u = BigInt.asUintN(64, v);
      return [this.str(n), Number(u & 0xffffffffn), Number(u >> 32n)];
    });
    return this.raw(name, BtfKind.ENUM64, values.length, 8, words, signed);
  }
  proto(ret: number, params: [string, number][]): number {
    return this.raw('', BtfKind.FUNC_PROTO, params.length, ret, params.flatMap(([n, t]) => [this.str(n), t]));
  }
  func(name: string, proto: number, linkage: number = BtfLinkage.GLOBAL): number {
    return this.raw(name, BtfKind.FUNC, linkage, proto);
  }
  variable(name: string, type: number, linkage: number = BtfLinkage.GLOBAL): number {
    return this.raw(name, BtfKind.VAR, 0, type, [linkage]);
  }
  datasec(name: string, vars: [number, number, number][]): number {
    return this.raw(name, BtfKind.DATASEC, vars.length, 0, vars.flat());
  }

  /** Serialises; `header` may replace header words (in the output byte order). */
  build(options: { le?: boolean; header?: Partial<Record<'hdrLen' | 'typeOff' | 'typeLen' | 'strOff' | 'strLen', number>> } = {}): Uint8Array {
    const le = options.le ?? true;
    const typeWords = this.records.flat();
    const typeLen = typeWords.length * 4;
    const strs = this.strings.bytes();
    const strLen = strs.length;
    const out = new Uint8Array(24 + typeLen + strLen);
    const v = new DataView(out.buffer);
    const h = { hdrLen: 24, typeOff: 0, typeLen, strOff: typeLen, strLen, ...options.header };
    v.setUint16(0, 0xeb9f, le);
    out[2] = 1;
    out[3] = 0;
    v.setUint32(4, h.hdrLen, le);
    v.setUint32(8, h.typeOff, le);
    v.setUint32(12, h.typeLen, le);
    v.setUint32(16, h.strOff, le);
    v.setUint32(20, h.strLen, le);
    typeWords.forEach((w, i) => v.setUint32(24 + i * 4, w, le));
    out.set(strs, 24 + typeLen);
    return out;
  }

  /** Serialises and parses. */
  parse(): Btf {
    return parseBtf(this.build());
  }
}
