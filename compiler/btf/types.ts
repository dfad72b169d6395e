/**
 * BTF (BPF Type Format): the `.BTF` type and string sections of an eBPF object, parsed into
 * {@link Btf}.
 *
 * The format is the one described in the kernel's Documentation/bpf/btf.rst (and
 * include/uapi/linux/btf.h). Everything read is validated: a malformed section gives an
 * {@link ElfError} (code `E_BAD_ELF`) whose location is `{ section: '.BTF', offset }` (the byte
 * offset inside the section of the offending field), never a RangeError, a hang or an allocation
 * larger than the section justifies: every count is checked against the bytes that hold the
 * records before anything is allocated, every type id and string offset is checked when read, and
 * walks along type chains are bounded (a cyclic typedef chain is an error, not an infinite loop).
 *
 * Both byte orders are supported; the magic number (0xeB9F) tells which one a section uses.
 * `.BTF.ext` is read by ext.ts; the map definitions and data sections a loader derives from BTF
 * by compiler/elf/map-defs.ts and compiler/elf/data.ts.
 */
import type { ElfError } from '../elf/elf64.js';
import { byteOrder, failAt, hex, SectionReader, type BtfParseOptions, type Place } from './section.js';

/** The BTF magic number (first two bytes of `.BTF` and `.BTF.ext`, in the object's byte order). */
export const BTF_MAGIC = 0xeb9f;
/** The only BTF version there is. */
export const BTF_VERSION = 1;

/** Numeric BTF kinds (bits 24-28 of `btf_type.info`). */
export const BtfKind = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17,
  TYPE_TAG: 18, ENUM64: 19,
} as const;

/** Kind names, as {@link BtfType.kind} spells them. */
export type BtfKindName =
  | 'void' | 'int' | 'ptr' | 'array' | 'struct' | 'union' | 'enum' | 'fwd' | 'typedef' | 'volatile'
  | 'const' | 'restrict' | 'func' | 'func_proto' | 'var' | 'datasec' | 'float' | 'decl_tag'
  | 'type_tag' | 'enum64';

const KIND_NAMES: readonly BtfKindName[] = [
  'void', 'int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const',
  'restrict', 'func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64',
];

/** The name of a numeric kind (`'struct'` for 4), or `kind N` for unknown ones. */
export function btfKindName(kind: number): string {
  return KIND_NAMES[kind] ?? `kind ${kind}`;
}

/** Largest type id the kernel accepts (BTF_MAX_TYPE). */
export const BTF_MAX_TYPE = 0xfffff;
/** Largest string offset the kernel accepts (BTF_MAX_NAME_OFFSET). */
export const BTF_MAX_NAME_OFFSET = 0xffffff;
/**
 * How many typedef/modifier/array links {@link Btf.resolve} and {@link Btf.sizeOf} follow
 * before giving up (the kernel's MAX_RESOLVE_DEPTH); deeper chains are cyclic or forged.
 */
export const BTF_MAX_RESOLVE_DEPTH = 32;

/** `BTF_INT_ENCODING` bits of an INT. */
export const BtfIntEncoding = { SIGNED: 1, CHAR: 2, BOOL: 4 } as const;

/** Linkage of a FUNC (`info.vlen`) or VAR (`btf_var.linkage`). */
export const BtfLinkage = { STATIC: 0, GLOBAL: 1, EXTERN: 2 } as const;

interface BtfTypeCommon {
  /** Type id (index in {@link Btf.types}). */
  readonly id: number;
  /** Name from the string section (`''` for anonymous types). */
  readonly name: string;
  /** Byte offset of this type's record in the `.BTF` section (0 for void). */
  readonly offset: number;
}

/** Type id 0. */
export interface BtfVoid extends BtfTypeCommon { readonly kind: 'void' }

export interface BtfInt extends BtfTypeCommon {
  readonly kind: 'int';
  /** Size in bytes (1, 2, 4, 8 or 16). */
  readonly size: number;
  /** `BTF_INT_ENCODING` (see {@link BtfIntEncoding}). */
  readonly encoding: number;
  readonly signed: boolean;
  readonly char: boolean;
  readonly bool: boolean;
  /** `BTF_INT_OFFSET`: bit offset of the value (0 in practice). */
  readonly bitOffset: number;
  /** `BTF_INT_BITS`: number of value bits. */
  readonly bits: number;
}

/** PTR, TYPEDEF, VOLATILE, CONST, RESTRICT and TYPE_TAG: a reference to another type. */
export interface BtfRef extends BtfTypeCommon {
  readonly kind: 'ptr' | 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag';
  /** The referenced type id. */
  readonly type: number;
}

export interface BtfArray extends BtfTypeCommon {
  readonly kind: 'array';
  /** Element type id. */
  readonly type: number;
  readonly indexType: number;
  readonly nelems: number;
}

export interface BtfMember {
  readonly name: string;
  readonly type: number;
  /** Bit offset of the member from the start of the struct. */
  readonly bitOffset: number;
  /** Bitfield size in bits when the struct's kind_flag is set and the member is a bitfield, else 0. */
  readonly bitfieldSize: number;
}

export interface BtfComposite extends BtfTypeCommon {
  readonly kind: 'struct' | 'union';
  readonly size: number;
  /** True when member offsets carry bitfield sizes (kind_flag). */
  readonly kindFlag: boolean;
  readonly members: readonly BtfMember[];
}

export interface BtfEnumValue {
  readonly name: string;
  readonly value: number;
}

export interface BtfEnum extends BtfTypeCommon {
  readonly kind: 'enum';
  readonly size: number;
  /** kind_flag: the values are signed. */
  readonly signed: boolean;
  readonly values: readonly BtfEnumValue[];
}

export interface BtfEnum64Value {
  readonly name: string;
  readonly value: bigint;
}

export interface BtfEnum64 extends BtfTypeCommon {
  readonly kind: 'enum64';
  readonly size: number;
  readonly signed: boolean;
  readonly values: readonly BtfEnum64Value[];
}

export interface BtfFwd extends BtfTypeCommon {
  readonly kind: 'fwd';
  /** kind_flag: a forward-declared union (else struct). */
  readonly union: boolean;
}

export interface BtfFunc extends BtfTypeCommon {
  readonly kind: 'func';
  /** The FUNC_PROTO type id. */
  readonly type: number;
  /** See {@link BtfLinkage}. */
  readonly linkage: number;
}

export interface BtfParam {
  /** `''` for unnamed parameters (and the variadic marker). */
  readonly name: string;
  readonly type: number;
}

export interface BtfFuncProto extends BtfTypeCommon {
  readonly kind: 'func_proto';
  /** Return type id (0 = void). */
  readonly returnType: number;
  /** The parameters, without the variadic marker. */
  readonly params: readonly BtfParam[];
  /** The last encoded parameter was the `...` marker (name 0, type 0). */
  readonly variadic: boolean;
}

export interface BtfVar extends BtfTypeCommon {
  readonly kind: 'var';
  readonly type: number;
  /** See {@link BtfLinkage}. */
  readonly linkage: number;
}

export interface BtfVarSecinfo {
  /** The VAR (or, for extern functions, FUNC) type id. */
  readonly type: number;
  /** Byte offset of the variable in its ELF section. */
  readonly offset: number;
  readonly size: number;
}

export interface BtfDatasec extends BtfTypeCommon {
  readonly kind: 'datasec';
  /** Section size (0 as clang writes it; loaders patch it). */
  readonly size: number;
  readonly vars: readonly BtfVarSecinfo[];
}

export interface BtfFloat extends BtfTypeCommon {
  readonly kind: 'float';
  readonly size: number;
}

export interface BtfDeclTag extends BtfTypeCommon {
  readonly kind: 'decl_tag';
  /** The tagged type (struct, union, var, func, typedef). */
  readonly type: number;
  /** -1 for the type itself, else the member or parameter index. */
  readonly componentIdx: number;
}

/** One BTF type; `kind` discriminates. */
export type BtfType =
  | BtfVoid | BtfInt | BtfRef | BtfArray | BtfComposite | BtfEnum | BtfEnum64 | BtfFwd | BtfFunc
  | BtfFuncProto | BtfVar | BtfDatasec | BtfFloat | BtfDeclTag;

/** Narrows {@link BtfType} by kind name. */
export type BtfTypeOf<K extends BtfKindName> = BtfType extends infer T
  ? T extends { kind: infer X } ? (K extends X ? T : never) : never
  : never;

/** The `.BTF` header. */
export interface BtfHeader {
  readonly magic: number;
  readonly version: number;
  readonly flags: number;
  readonly hdrLen: number;
  /** Offsets are relative to the end of the header. */
  readonly typeOff: number;
  readonly typeLen: number;
  readonly strOff: number;
  readonly strLen: number;
}

/** Names longer than this are shortened in {@link Btf.describe}. */
const DESCRIBE_NAME_MAX = 128;

function clip(name: string): string {
  return name.length > DESCRIBE_NAME_MAX ? `${name.slice(0, DESCRIBE_NAME_MAX)}...` : name;
}

const KIND_FLAG = 0x80000000;
const TYPES_WITH_VLEN = new Set<number>([
  BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.FUNC_PROTO, BtfKind.DATASEC, BtfKind.ENUM64, BtfKind.FUNC,
]);

/**
 * A parsed `.BTF` section.
 *
 * Every type id stored in {@link types} refers to an existing type (checked when parsing), so
 * walking the graph never leaves the array; walks are still bounded, since the graph may be
 * cyclic.
 */
export class Btf {
  readonly header: BtfHeader;
  readonly littleEndian: boolean;
  /** All types, indexed by type id; `types[0]` is void. */
  readonly types: readonly BtfType[];
  private readonly place: Place;
  private readonly strings: StringTable;
  private byName: Map<string, BtfType[]> | undefined;

  /** @internal Use {@link parseBtf}. */
  constructor(header: BtfHeader, littleEndian: boolean, types: BtfType[], strings: StringTable, place: Place) {
    this.header = header;
    this.littleEndian = littleEndian;
    this.types = types;
    this.strings = strings;
    this.place = place;
  }

  /** The type with this id. @throws ElfError for an id that is not a type of this BTF. */
  type(id: number): BtfType {
    const t = Number.isInteger(id) && id >= 0 ? this.types[id] : undefined;
    if (!t) failAt(this.place, 0, `type id ${id} does not exist (the BTF has ${this.types.length - 1} types)`);
    return t;
  }

  /** The type with this id, checked to be of kind `kind`. @throws ElfError otherwise. */
  typeOfKind<K extends BtfKindName>(id: number, kind: K): BtfTypeOf<K> {
    const t = this.type(id);
    if (t.kind !== kind) failAt(this.place, t.offset, `type ${id} (${this.describe(id)}) is a ${t.kind}, expected a ${kind}`);
    return t as BtfTypeOf<K>;
  }

  /** The first type with this name (and kind), or undefined. */
  typeByName<K extends BtfKindName>(name: string, kind: K): BtfTypeOf<K> | undefined;
  typeByName(name: string): BtfType | undefined;
  typeByName(name: string, kind?: BtfKindName): BtfType | undefined {
    return this.typesByName(name).find((t) => kind === undefined || t.kind === kind);
  }

  /** Every type with this name, in id order. */
  typesByName(name: string): readonly BtfType[] {
    if (!this.byName) {
      const map = new Map<string, BtfType[]>();
      for (const t of this.types) {
        if (t.name === '') continue;
        const list = map.get(t.name);
        if (list) list.push(t);
        else map.set(t.name, [t]);
      }
      this.byName = map;
    }
    return this.byName.get(name) ?? [];
  }

  /**
   * Skips typedefs and const/volatile/restrict/type_tag modifiers and returns the type they
   * stand for (possibly void).
   *
   * @throws ElfError for a chain longer than {@link BTF_MAX_RESOLVE_DEPTH} (a cyclic one).
   */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let depth = 0; ; depth++) {
      switch (t.kind) {
        case 'typedef': case 'const': case 'volatile': case 'restrict': case 'type_tag':
          break;
        default:
          return t;
      }
      if (depth >= BTF_MAX_RESOLVE_DEPTH) {
        failAt(this.place, t.offset, `type ${id} is a typedef/modifier chain longer than ${BTF_MAX_RESOLVE_DEPTH} links (it is probably cyclic)`);
      }
      t = this.types[t.type]!;
    }
  }

  /**
   * Size in bytes of a value of this type (pointers are 8 bytes; arrays multiply out; VARs give
   * their variable's size).
   *
   * @throws ElfError for types without a size (void, functions, forward declarations, tags) and
   *   for cyclic or oversized (over 4 GiB) types.
   */
  sizeOf(id: number): number {
    let multiplier = 1;
    let t = this.type(id);
    for (let depth = 0; ; depth++) {
      if (depth > BTF_MAX_RESOLVE_DEPTH) {
        failAt(this.place, t.offset, `the size of type ${id} depends on a chain longer than ${BTF_MAX_RESOLVE_DEPTH} links (it is probably cyclic)`);
      }
      let size: number | undefined;
      switch (t.kind) {
        case 'int': case 'enum': case 'enum64': case 'struct': case 'union': case 'float': case 'datasec':
          size = t.size;
          break;
        case 'ptr':
          size = 8;
          break;
        case 'typedef': case 'const': case 'volatile': case 'restrict': case 'type_tag': case 'var':
          t = this.types[t.type]!;
          continue;
        case 'array':
          multiplier *= t.nelems;
          if (multiplier > 0xffffffff) failAt(this.place, t.offset, `type ${id} is larger than 4 GiB`);
          t = this.types[t.type]!;
          continue;
        default:
          failAt(this.place, t.offset, `type ${id} (${this.describe(id)}) has no size: it is a ${t.kind}`);
      }
      const total = size * multiplier;
      if (total > 0xffffffff) failAt(this.place, t.offset, `type ${id} is larger than 4 GiB`);
      return total;
    }
  }

  /**
   * A short C-like description of a type for messages: `int`, `__u64`, `struct data_t`,
   * `char[16]`, `const volatile __u32`, `int *`, `int (*)(void *)`.
   */
  describe(id: number): string {
    // The budget bounds the work on forged graphs (a prototype whose parameters point back at it).
    return this.describeAt(id, 0, { nodes: 256 });
  }

  private describeAt(id: number, depth: number, budget: { nodes: number }): string {
    const t = this.types[id];
    if (!t) return `<bad type ${id}>`;
    if (depth > BTF_MAX_RESOLVE_DEPTH || --budget.nodes < 0) return '...';
    const anon = (kind: string) => `${kind} ${clip(t.name) || '<anon>'}`;
    switch (t.kind) {
      case 'void': return 'void';
      case 'int': case 'float': case 'typedef': return clip(t.name);
      case 'struct': case 'union': case 'enum': return anon(t.kind);
      case 'enum64': return anon('enum');
      case 'fwd': return anon(t.union ? 'union' : 'struct');
      case 'ptr': {
        const target = this.types[t.type];
        if (target?.kind === 'func_proto') return this.describeProto(target, '(*)', depth + 1, budget);
        return `${this.describeAt(t.type, depth + 1, budget)} *`;
      }
      case 'const': case 'volatile': case 'restrict': return `${t.kind} ${this.describeAt(t.type, depth + 1, budget)}`;
      case 'type_tag': return `${this.describeAt(t.type, depth + 1, budget)} __attribute__((btf_type_tag("${clip(t.name)}")))`;
      case 'array': return `${this.describeAt(t.type, depth + 1, budget)}[${t.nelems}]`;
      case 'func_proto': return this.describeProto(t, '', depth + 1, budget);
      case 'func': {
        const proto = this.types[t.type];
        return proto?.kind === 'func_proto' ? this.describeProto(proto, ` ${clip(t.name)}`, depth + 1, budget) : `func ${clip(t.name)}`;
      }
      case 'var': return `${this.describeAt(t.type, depth + 1, budget)} ${clip(t.name)}`;
      case 'datasec': return `section ${clip(t.name)}`;
      case 'decl_tag': return `decl_tag ${clip(t.name)}`;
    }
  }

  private describeProto(p: BtfFuncProto, middle: string, depth: number, budget: { nodes: number }): string {
    const params: string[] = [];
    for (const q of p.params) {
      if (budget.nodes <= 0) {
        params.push('...');
        break;
      }
      params.push(this.describeAt(q.type, depth + 1, budget));
    }
    if (p.variadic) params.push('...');
    return `${this.describeAt(p.returnType, depth + 1, budget)}${middle}(${params.length ? params.join(', ') : 'void'})`;
  }

  /** The string at this offset of the string section. @throws ElfError for a bad offset. */
  string(offset: number): string {
    return this.strings.get(offset, this.place, this.header.hdrLen + this.header.strOff, 'a string offset');
  }

  /** @internal Reads a string for another section's record (errors point at that record). */
  stringFor(offset: number, place: Place, at: number, what: string): string {
    return this.strings.get(offset, place, at, what, true);
  }
}

/** The string section of a `.BTF`. */
class StringTable {
  private readonly cache = new Map<number, string>();
  private readonly decoder = new TextDecoder('utf-8');
  /** Bytes of strings still allowed to be decoded (bounds the work on overlapping strings). */
  private budget: number;

  constructor(private readonly bytes: Uint8Array) {
    this.budget = 4 * bytes.length + 65536;
  }

  /**
   * The NUL-terminated string at `offset`. `at` is where the offset was read (for errors). With
   * `atIsField`, `at` is reported as is; otherwise the error points at `at` (the table start)
   * plus the offset.
   */
  get(offset: number, place: Place, at: number, what: string, atIsField = false): string {
    const hit = this.cache.get(offset);
    if (hit !== undefined) return hit;
    const where = atIsField ? at : at + Math.min(offset, this.bytes.length);
    if (offset >= this.bytes.length) {
      failAt(place, where, `${what} (${hex(offset)}) is past the end of the ${this.bytes.length}-byte string section`);
    }
    // The table ends with a NUL (checked when parsing), so a terminator exists.
    const limit = Math.min(this.bytes.length, offset + this.budget + 1);
    const nul = this.bytes.subarray(offset, limit).indexOf(0);
    if (nul < 0) failAt(place, where, `${what} (${hex(offset)}) is one of too many long, overlapping strings`);
    this.budget -= nul + 1;
    const s = this.decoder.decode(this.bytes.subarray(offset, offset + nul));
    this.cache.set(offset, s);
    return s;
  }
}

/**
 * Parses a `.BTF` section.
 *
 * @throws ElfError (code `E_BAD_ELF`, section `.BTF`) for any malformed header, type record,
 *   type id or string offset.
 */
export function parseBtf(bytes: Uint8Array, options: BtfParseOptions = {}): Btf {
  const place: Place = { section: '.BTF', fileOffset: options.fileOffset };
  const le = byteOrder(bytes, place, '.BTF');
  const r = new SectionReader(bytes, le, place);
  r.need(0, 24, 'the BTF header');
  const header: BtfHeader = {
    magic: r.u16(0), version: bytes[2]!, flags: bytes[3]!, hdrLen: r.u32(4),
    typeOff: r.u32(8), typeLen: r.u32(12), strOff: r.u32(16), strLen: r.u32(20),
  };
  if (header.version !== BTF_VERSION) failAt(place, 2, `unsupported BTF version ${header.version} (expected ${BTF_VERSION})`);
  if (header.flags !== 0) failAt(place, 3, `unsupported BTF header flags ${hex(header.flags)} (expected 0)`);
  if (header.hdrLen < 24) failAt(place, 4, `the BTF header length is ${header.hdrLen}, less than the 24 bytes of its fields`);
  if (header.hdrLen > bytes.length) failAt(place, 4, `the BTF header length ${header.hdrLen} is larger than the ${bytes.length}-byte section`);
  const body = bytes.length - header.hdrLen;
  const checkPart = (off: number, len: number, field: number, what: string) => {
    if (off > body || len > body - off) {
      failAt(place, field, `the ${what} (${len} bytes at offset ${hex(off)} after the header) runs past the end of the ${bytes.length}-byte section`);
    }
  };
  checkPart(header.typeOff, header.typeLen, 8, 'type section');
  checkPart(header.strOff, header.strLen, 16, 'string section');
  if (header.typeOff % 4 !== 0) failAt(place, 8, `the type section offset ${hex(header.typeOff)} is not 4-byte aligned`);
  if (header.typeLen % 4 !== 0) failAt(place, 12, `the type section length ${header.typeLen} is not a multiple of 4`);
  if (header.typeLen > 0 && header.strLen > 0 &&
      header.typeOff < header.strOff + header.strLen && header.strOff < header.typeOff + header.typeLen) {
    failAt(place, 16, 'the type section and the string section overlap');
  }
  if (header.strLen === 0) failAt(place, 20, 'the string section is empty (it must at least hold the empty string)');
  if (header.strLen - 1 > BTF_MAX_NAME_OFFSET) failAt(place, 20, `the string section is ${header.strLen} bytes, more than BTF allows`);
  const strStart = header.hdrLen + header.strOff;
  const strBytes = bytes.subarray(strStart, strStart + header.strLen);
  if (strBytes[0] !== 0) failAt(place, strStart, 'the string section does not start with the empty string');
  if (strBytes[strBytes.length - 1] !== 0) failAt(place, strStart + header.strLen - 1, 'the string section does not end with a NUL byte');
  const strings = new StringTable(strBytes);

  const types = new TypeParser(r, header, strings).parse();
  return new Btf(header, le, types, strings, place);
}

/** Parses the type section: records first, then a pass checking every referenced type id. */
class TypeParser {
  private readonly types: BtfType[] = [{ kind: 'void', id: 0, name: '', offset: 0 }];
  /** Every (referenced id, record offset of the field, what) to check once all types are known. */
  private readonly refs: { id: number; at: number; what: string; kinds?: readonly BtfKindName[] }[] = [];

  constructor(private readonly r: SectionReader, private readonly header: BtfHeader, private readonly strings: StringTable) {}

  private name(off: number, at: number, what: string): string {
    return this.strings.get(off, this.r.place, at, what, true);
  }

  private ref(id: number, at: number, what: string, kinds?: readonly BtfKindName[]): number {
    this.refs.push(kinds ? { id, at, what, kinds } : { id, at, what });
    return id;
  }

  parse(): BtfType[] {
    const r = this.r;
    const start = this.header.hdrLen + this.header.typeOff;
    const end = start + this.header.typeLen;
    let off = start;
    while (off < end) {
      if (end - off < 12) failAt(r.place, off, `the type section ends in the middle of a type record (${end - off} bytes left, a record needs 12)`);
      const id = this.types.length;
      if (id > BTF_MAX_TYPE) failAt(r.place, off, `more than ${BTF_MAX_TYPE} types`);
      off = this.parseType(off, end, id);
    }
    for (const ref of this.refs) {
      const t = this.types[ref.id];
      if (!t) failAt(r.place, ref.at, `${ref.what} refers to type ${ref.id}, but the BTF has only ${this.types.length - 1} types`);
      if (ref.kinds && !ref.kinds.includes(t.kind)) {
        failAt(r.place, ref.at, `${ref.what} refers to type ${ref.id}, a ${t.kind}, but it must be a ${ref.kinds.join(' or ')}`);
      }
    }
    return this.types;
  }

  /** Parses the record at `off` as type `id`; returns the offset after it. */
  private parseType(off: number, end: number, id: number): number {
    const r = this.r;
    const nameOff = r.u32(off);
    const info = r.u32(off + 4);
    const sizeOrType = r.u32(off + 8);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = (info & KIND_FLAG) !== 0;
    const label = `type ${id}`;
    const name = this.name(nameOff, off, `the name of ${label}`);
    if (kind === BtfKind.UNKN || kind > BtfKind.ENUM64) failAt(r.place, off + 4, `${label} has unknown kind ${kind}`);
    const kindName = KIND_NAMES[kind]!;
    if (vlen !== 0 && !TYPES_WITH_VLEN.has(kind)) failAt(r.place, off + 4, `${label} (${kindName}) has vlen ${vlen}, but a ${kindName} has no members`);
    const body = off + 12;
    // Checks that `count` records of `size` bytes fit before reading or allocating them.
    const records = (count: number, size: number, what: string) => {
      if (count * size > end - body) {
        failAt(r.place, off + 4, `${label} (${kindName}) declares ${count} ${what} (${count * size} bytes), but only ${end - body} bytes of the type section are left`);
      }
    };
    const common = { id, name, offset: off };
    let t: BtfType;
    let next = body;
    switch (kind) {
      case BtfKind.INT: {
        records(1, 4, 'encoding words');
        const word = r.u32(body);
        const encoding = (word >>> 24) & 0x0f;
        const bitOffset = (word >>> 16) & 0xff;
        const bits = word & 0xff;
        if (![1, 2, 4, 8, 16].includes(sizeOrType)) failAt(r.place, off + 8, `${label} (int) has size ${sizeOrType}, not 1, 2, 4, 8 or 16`);
        if (bits === 0 || bits > 128 || bitOffset + bits > sizeOrType * 8) {
          failAt(r.place, body, `${label} (int) has ${bits} bits at bit offset ${bitOffset}, which do not fit its ${sizeOrType} bytes`);
        }
        if ((encoding & (encoding - 1)) !== 0 || encoding > 4) failAt(r.place, body, `${label} (int) has invalid encoding ${hex(encoding)}`);
        t = {
          ...common, kind: 'int', size: sizeOrType, encoding, signed: (encoding & 1) !== 0, char: (encoding & 2) !== 0,
          bool: (encoding & 4) !== 0, bitOffset, bits,
        };
        next = body + 4;
        break;
      }
      case BtfKind.PTR: case BtfKind.TYPEDEF: case BtfKind.VOLATILE: case BtfKind.CONST: case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG: {
        const refKind = kindName as BtfRef['kind'];
        if (refKind === 'typedef' && name === '') failAt(r.place, off, `${label} is a typedef without a name`);
        if (refKind === 'type_tag' && name === '') failAt(r.place, off, `${label} is a type_tag without a name`);
        t = { ...common, kind: refKind, type: this.ref(sizeOrType, off + 8, `${label} (${kindName})`) };
        if (sizeOrType === id && refKind !== 'ptr') failAt(r.place, off + 8, `${label} (${kindName}) refers to itself`);
        break;
      }
      case BtfKind.ARRAY: {
        records(1, 12, 'array descriptors');
        t = {
          ...common, kind: 'array',
          type: this.ref(r.u32(body), body, `the element type of ${label} (array)`),
          indexType: this.ref(r.u32(body + 4), body + 4, `the index type of ${label} (array)`),
          nelems: r.u32(body + 8),
        };
        if (r.u32(body) === id) failAt(r.place, body, `${label} (array) is an array of itself`);
        next = body + 12;
        break;
      }
      case BtfKind.STRUCT: case BtfKind.UNION: {
        records(vlen, 12, 'members');
        const members: BtfMember[] = [];
        for (let i = 0; i < vlen; i++) {
          const m = body + i * 12;
          const raw = r.u32(m + 8);
          const bitOffset = kindFlag ? raw & 0xffffff : raw;
          const bitfieldSize = kindFlag ? raw >>> 24 : 0;
          const what = `member ${i} of ${label} (${kindName}${name ? ` ${name}` : ''})`;
          const memberName = this.name(r.u32(m), m, `the name of ${what}`);
          if (bitOffset + bitfieldSize > sizeOrType * 8 && sizeOrType > 0) {
            failAt(r.place, m + 8, `${what} (bit offset ${bitOffset}) lies outside the ${sizeOrType}-byte ${kindName}`);
          }
          members.push({ name: memberName, type: this.ref(r.u32(m + 4), m + 4, what), bitOffset, bitfieldSize });
        }
        t = { ...common, kind: kindName as 'struct' | 'union', size: sizeOrType, kindFlag, members };
        next = body + vlen * 12;
        break;
      }
      case BtfKind.ENUM: {
        records(vlen, 8, 'values');
        if (![1, 2, 4, 8].includes(sizeOrType)) failAt(r.place, off + 8, `${label} (enum) has size ${sizeOrType}, not 1, 2, 4 or 8`);
        const values: BtfEnumValue[] = [];
        for (let i = 0; i < vlen; i++) {
          const e = body + i * 8;
          const valueName = this.name(r.u32(e), e, `the name of value ${i} of ${label} (enum)`);
          values.push({ name: valueName, value: kindFlag ? r.i32(e + 4) : r.u32(e + 4) });
        }
        t = { ...common, kind: 'enum', size: sizeOrType, signed: kindFlag, values };
        next = body + vlen * 8;
        break;
      }
      case BtfKind.ENUM64: {
        records(vlen, 12, 'values');
        if (![1, 2, 4, 8].includes(sizeOrType)) failAt(r.place, off + 8, `${label} (enum64) has size ${sizeOrType}, not 1, 2, 4 or 8`);
        const values: BtfEnum64Value[] = [];
        for (let i = 0; i < vlen; i++) {
          const e = body + i * 12;
          const valueName = this.name(r.u32(e), e, `the name of value ${i} of ${label} (enum64)`);
          const raw = (BigInt(r.u32(e + 8)) << 32n) | BigInt(r.u32(e + 4));
          values.push({ name: valueName, value: kindFlag ? BigInt.asIntN(64, raw) : raw });
        }
        t = { ...common, kind: 'enum64', size: sizeOrType, signed: kindFlag, values };
        next = body + vlen * 12;
        break;
      }
      case BtfKind.FWD:
        if (name === '') failAt(r.place, off, `${label} is a forward declaration without a name`);
        t = { ...common, kind: 'fwd', union: kindFlag };
        break;
      case BtfKind.FUNC:
        if (name === '') failAt(r.place, off, `${label} is a function without a name`);
        if (vlen > BtfLinkage.EXTERN) failAt(r.place, off + 4, `${label} (func ${name}) has unknown linkage ${vlen}`);
        t = { ...common, kind: 'func', type: this.ref(sizeOrType, off + 8, `${label} (func ${name})`, ['func_proto']), linkage: vlen };
        break;
      case BtfKind.FUNC_PROTO: {
        records(vlen, 8, 'parameters');
        const params: BtfParam[] = [];
        let variadic = false;
        for (let i = 0; i < vlen; i++) {
          const p = body + i * 8;
          const paramNameOff = r.u32(p);
          const paramType = r.u32(p + 4);
          if (paramType === 0) {
            if (i !== vlen - 1 || paramNameOff !== 0) failAt(r.place, p + 4, `parameter ${i} of ${label} (func_proto) has type void`);
            variadic = true;
            break;
          }
          const paramName = this.name(paramNameOff, p, `the name of parameter ${i} of ${label} (func_proto)`);
          params.push({ name: paramName, type: this.ref(paramType, p + 4, `parameter ${i} of ${label} (func_proto)`) });
        }
        t = { ...common, kind: 'func_proto', returnType: this.ref(sizeOrType, off + 8, `the return type of ${label} (func_proto)`), params, variadic };
        next = body + vlen * 8;
        break;
      }
      case BtfKind.VAR: {
        records(1, 4, 'linkage words');
        if (name === '') failAt(r.place, off, `${label} is a variable without a name`);
        const linkage = r.u32(body);
        if (linkage > BtfLinkage.EXTERN) failAt(r.place, body, `${label} (var ${name}) has unknown linkage ${linkage}`);
        t = { ...common, kind: 'var', type: this.ref(sizeOrType, off + 8, `${label} (var ${name})`), linkage };
        next = body + 4;
        break;
      }
      case BtfKind.DATASEC: {
        records(vlen, 12, 'variables');
        if (name === '') failAt(r.place, off, `${label} is a data section without a name`);
        const vars: BtfVarSecinfo[] = [];
        for (let i = 0; i < vlen; i++) {
          const v = body + i * 12;
          const varOffset = r.u32(v + 4);
          const varSize = r.u32(v + 8);
          if (varOffset + varSize > 0xffffffff) failAt(r.place, v + 4, `variable ${i} of ${label} (datasec ${name}) ends past 4 GiB`);
          vars.push({ type: this.ref(r.u32(v), v, `variable ${i} of ${label} (datasec ${name})`, ['var', 'func']), offset: varOffset, size: varSize });
        }
        t = { ...common, kind: 'datasec', size: sizeOrType, vars };
        next = body + vlen * 12;
        break;
      }
      case BtfKind.FLOAT:
        if (![2, 4, 8, 12, 16].includes(sizeOrType)) failAt(r.place, off + 8, `${label} (float) has size ${sizeOrType}, not 2, 4, 8, 12 or 16`);
        t = { ...common, kind: 'float', size: sizeOrType };
        break;
      case BtfKind.DECL_TAG: {
        records(1, 4, 'component indices');
        if (name === '') failAt(r.place, off, `${label} is a decl_tag without a name`);
        const componentIdx = r.i32(body);
        if (componentIdx < -1) failAt(r.place, body, `${label} (decl_tag ${name}) has component index ${componentIdx}`);
        t = { ...common, kind: 'decl_tag', type: this.ref(sizeOrType, off + 8, `${label} (decl_tag ${name})`), componentIdx };
        next = body + 4;
        break;
      }
      default:
        failAt(r.place, off + 4, `${label} has unknown kind ${kind}`);
    }
    this.types.push(t);
    return next;
  }
}
