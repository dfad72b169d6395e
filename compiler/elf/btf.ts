/**
 * BTF (BPF Type Format) for eBPF objects: the `.BTF` type and string sections, the `.BTF.ext`
 * function, line and CO-RE relocation records, and the map definitions a loader derives from
 * them (BTF-defined maps in `.maps`, and legacy `struct bpf_map_def` maps in `maps`).
 *
 * The format is the one described in the kernel's Documentation/bpf/btf.rst (and
 * include/uapi/linux/btf.h). Everything read is validated: a malformed section gives an
 * {@link ElfError} (code `E_BAD_ELF`) whose location is `{ section: '.BTF' | '.BTF.ext' |
 * '.maps' | 'maps', offset }` (the byte offset inside that section of the offending field),
 * never a RangeError, a hang or an allocation larger than the section justifies: every count is
 * checked against the bytes that hold the records before anything is allocated, every type id
 * and string offset is checked when read, and walks along type chains are bounded (a cyclic
 * typedef chain is an error, not an infinite loop).
 *
 * Both byte orders are supported; the magic number (0xeB9F) tells which one a section uses.
 */
import { ErrorCode } from '../../runtime/errors.js';
import { MapType, mapTypeName } from '../../runtime/uapi/index.js';
import { ElfError, RelocType, SHN, SymbolType, type ElfFile, type ElfSection, type ElfSymbol } from './reader.js';

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

/** Where errors found in a section are reported. */
interface Place {
  section: string;
  /** File offset of the section's first byte, when known. */
  fileOffset: number | undefined;
}

/** Names longer than this are shortened in {@link Btf.describe}. */
const DESCRIBE_NAME_MAX = 128;

function clip(name: string): string {
  return name.length > DESCRIBE_NAME_MAX ? `${name.slice(0, DESCRIBE_NAME_MAX)}...` : name;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

function failAt(place: Place, offset: number, detail: string): never {
  throw new ElfError(
    ErrorCode.BadElf, detail, { section: place.section, offset },
    place.fileOffset === undefined ? undefined : place.fileOffset + offset,
  );
}

/** Options for {@link parseBtf} and {@link parseBtfExt}. */
export interface BtfParseOptions {
  /** File offset of the section, so errors carry an absolute `fileOffset` too. */
  fileOffset?: number;
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

/** Bounds-checked little/big-endian reads of one section. */
class SectionReader {
  private readonly view: DataView;
  readonly length: number;

  constructor(readonly bytes: Uint8Array, readonly le: boolean, readonly place: Place) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.length = bytes.byteLength;
  }

  /** Fails unless `n` bytes starting at `off` are inside the section. */
  need(off: number, n: number, what: string): void {
    if (off < 0 || n < 0 || off > this.length || n > this.length - off) {
      failAt(this.place, Math.min(Math.max(off, 0), this.length), `${what} (${n} bytes at offset ${hex(off)}) runs past the end of the ${this.length}-byte section`);
    }
  }

  u16(off: number): number {
    return this.view.getUint16(off, this.le);
  }
  u32(off: number): number {
    return this.view.getUint32(off, this.le);
  }
  i32(off: number): number {
    return this.view.getInt32(off, this.le);
  }
}

/** Detects the byte order from the magic number. */
function byteOrder(bytes: Uint8Array, place: Place, what: string): boolean {
  if (bytes.length < 2) failAt(place, 0, `the ${what} section is ${bytes.length} bytes long, too short for the magic number`);
  const v = (bytes[0]! << 8) | bytes[1]!;
  if (v === 0x9feb) return true;
  if (v === 0xeb9f) return false;
  failAt(place, 0, `the ${what} section does not start with the BTF magic number 0xeb9f (it starts with ${hex(bytes[0]!)} ${hex(bytes[1]!)})`);
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

// ---------------------------------------------------------------------------------------------
// .BTF.ext

/** The `.BTF.ext` header. `coreReloOff`/`coreReloLen` are 0 for a 24-byte header. */
export interface BtfExtHeader {
  readonly magic: number;
  readonly version: number;
  readonly flags: number;
  readonly hdrLen: number;
  readonly funcInfoOff: number;
  readonly funcInfoLen: number;
  readonly lineInfoOff: number;
  readonly lineInfoLen: number;
  readonly coreReloOff: number;
  readonly coreReloLen: number;
}

/** One func_info record: a function starts at this instruction. */
export interface BtfFuncInfo {
  /** Byte offset of the function's first instruction in its ELF section. */
  readonly insnOffset: number;
  /** The same as an instruction index (insnOffset / 8). */
  readonly insn: number;
  /** The BTF FUNC type id. */
  readonly typeId: number;
  /** The function's name (the FUNC's name). */
  readonly name: string;
  /** Byte offset of the record in `.BTF.ext`. */
  readonly recordOffset: number;
}

/** One line_info record: the instructions from here on come from this source line. */
export interface BtfLineInfo {
  readonly insnOffset: number;
  readonly insn: number;
  readonly fileName: string;
  /** 1-based line number (`line_col >> 10`); 0 when unknown. */
  readonly line: number;
  /** Column (`line_col & 0x3ff`); 0 when unknown. */
  readonly column: number;
  /** The text of the source line (may be empty). */
  readonly source: string;
  readonly recordOffset: number;
}

/** CO-RE relocation kinds (`enum bpf_core_relo_kind`). */
export const BpfCoreReloKind = {
  FIELD_BYTE_OFFSET: 0, FIELD_BYTE_SIZE: 1, FIELD_EXISTS: 2, FIELD_SIGNED: 3, FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5, TYPE_ID_LOCAL: 6, TYPE_ID_TARGET: 7, TYPE_EXISTS: 8, TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10, ENUMVAL_VALUE: 11, TYPE_MATCHES: 12,
} as const;

/** One CO-RE relocation record. */
export interface BtfCoreRelo {
  readonly insnOffset: number;
  readonly insn: number;
  /** The local root type (a struct, union, enum, ... of this object's BTF). */
  readonly typeId: number;
  /** The access string, e.g. `0:1:2`. */
  readonly accessString: string;
  /** The access string's numbers. */
  readonly access: readonly number[];
  /** See {@link BpfCoreReloKind}. */
  readonly kind: number;
  readonly recordOffset: number;
}

/** A parsed `.BTF.ext` section: records grouped by the ELF section (program) they describe. */
export interface BtfExt {
  readonly header: BtfExtHeader;
  /** func_info records by ELF section name, in file order. */
  readonly funcInfo: ReadonlyMap<string, readonly BtfFuncInfo[]>;
  /** line_info records by ELF section name, in file order. */
  readonly lineInfo: ReadonlyMap<string, readonly BtfLineInfo[]>;
  /** CO-RE relocations by ELF section name, in file order (empty without a CO-RE part). */
  readonly coreRelos: ReadonlyMap<string, readonly BtfCoreRelo[]>;
  /** The function whose code contains this instruction of `section` (the last func_info at or before it). */
  funcAt(section: string, insn: number): BtfFuncInfo | undefined;
  /** The source line of this instruction of `section` (the last line_info at or before it). */
  lineAt(section: string, insn: number): BtfLineInfo | undefined;
}

/** Minimum record sizes of the three `.BTF.ext` parts. */
const FUNC_INFO_MIN = 8;
const LINE_INFO_MIN = 16;
const CORE_RELO_MIN = 16;
/** Record sizes larger than this are not plausible (they must also fit the section). */
const MAX_REC_SIZE = 4096;

/**
 * Parses a `.BTF.ext` section against the `.BTF` it belongs to (string offsets and type ids
 * refer to it).
 *
 * @throws ElfError (code `E_BAD_ELF`, section `.BTF.ext`) for a malformed header or record, a
 *   bad string offset, a type id that is not a FUNC (func_info) or not a type (CO-RE), or
 *   unaligned or unordered instruction offsets.
 */
export function parseBtfExt(bytes: Uint8Array, btf: Btf, options: BtfParseOptions = {}): BtfExt {
  const place: Place = { section: '.BTF.ext', fileOffset: options.fileOffset };
  const le = byteOrder(bytes, place, '.BTF.ext');
  if (le !== btf.littleEndian) failAt(place, 0, `the .BTF.ext section is ${le ? 'little' : 'big'}-endian but .BTF is not`);
  const r = new SectionReader(bytes, le, place);
  r.need(0, 24, 'the .BTF.ext header');
  const hdrLen = r.u32(4);
  const version = bytes[2]!;
  const flags = bytes[3]!;
  if (version !== BTF_VERSION) failAt(place, 2, `unsupported .BTF.ext version ${version} (expected ${BTF_VERSION})`);
  if (flags !== 0) failAt(place, 3, `unsupported .BTF.ext header flags ${hex(flags)} (expected 0)`);
  if (hdrLen < 24) failAt(place, 4, `the .BTF.ext header length is ${hdrLen}, less than the 24 bytes of its fields`);
  if (hdrLen > bytes.length) failAt(place, 4, `the .BTF.ext header length ${hdrLen} is larger than the ${bytes.length}-byte section`);
  const hasCore = hdrLen >= 32;
  const header: BtfExtHeader = {
    magic: r.u16(0), version, flags, hdrLen,
    funcInfoOff: r.u32(8), funcInfoLen: r.u32(12), lineInfoOff: r.u32(16), lineInfoLen: r.u32(20),
    coreReloOff: hasCore ? r.u32(24) : 0, coreReloLen: hasCore ? r.u32(28) : 0,
  };

  const funcInfo = new Map<string, BtfFuncInfo[]>();
  const lineInfo = new Map<string, BtfLineInfo[]>();
  const coreRelos = new Map<string, BtfCoreRelo[]>();

  readInfoPart(r, btf, hdrLen, header.funcInfoOff, header.funcInfoLen, 8, 'func_info', FUNC_INFO_MIN, (sec, at, insnOffset) => {
    const typeId = r.u32(at + 4);
    const t = btf.types[typeId];
    if (!t || t.kind !== 'func') {
      failAt(place, at + 4, `func_info for offset ${hex(insnOffset)} of ${sec} refers to type ${typeId}, ${t ? `a ${t.kind}` : 'which does not exist'}, not a func`);
    }
    push(funcInfo, sec, { insnOffset, insn: insnOffset / 8, typeId, name: t.name, recordOffset: at });
  });
  readInfoPart(r, btf, hdrLen, header.lineInfoOff, header.lineInfoLen, 16, 'line_info', LINE_INFO_MIN, (sec, at, insnOffset) => {
    const fileName = btf.stringFor(r.u32(at + 4), place, at + 4, `the file name of a line_info record of ${sec}`);
    const source = btf.stringFor(r.u32(at + 8), place, at + 8, `the source line of a line_info record of ${sec}`);
    const lineCol = r.u32(at + 12);
    push(lineInfo, sec, { insnOffset, insn: insnOffset / 8, fileName, line: lineCol >>> 10, column: lineCol & 0x3ff, source, recordOffset: at });
  });
  if (hasCore) {
    readInfoPart(r, btf, hdrLen, header.coreReloOff, header.coreReloLen, 24, 'CO-RE relocation', CORE_RELO_MIN, (sec, at, insnOffset) => {
      const typeId = r.u32(at + 4);
      if (typeId === 0 || typeId >= btf.types.length) {
        failAt(place, at + 4, `a CO-RE relocation of ${sec} refers to type ${typeId}, which does not exist`);
      }
      const accessString = btf.stringFor(r.u32(at + 8), place, at + 8, `the access string of a CO-RE relocation of ${sec}`);
      if (!/^\d+(:\d+)*$/.test(accessString) || accessString.length > 1024) {
        failAt(place, at + 8, `a CO-RE relocation of ${sec} has the malformed access string "${accessString.slice(0, 64)}"`);
      }
      const kind = r.u32(at + 12);
      if (kind > BpfCoreReloKind.TYPE_MATCHES) failAt(place, at + 12, `a CO-RE relocation of ${sec} has unknown kind ${kind}`);
      const access = accessString.split(':').map(Number);
      push(coreRelos, sec, { insnOffset, insn: insnOffset / 8, typeId, accessString, access, kind, recordOffset: at });
    }, false);
  }

  const lastAtOrBefore = <T extends { insn: number }>(list: readonly T[] | undefined, insn: number): T | undefined => {
    if (!list) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    let found: T | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.insn <= insn) {
        found = list[mid];
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  };
  return {
    header, funcInfo, lineInfo, coreRelos,
    funcAt: (section, insn) => lastAtOrBefore(funcInfo.get(section), insn),
    lineAt: (section, insn) => lastAtOrBefore(lineInfo.get(section), insn),
  };
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Reads one `.BTF.ext` part: `rec_size`, then per ELF section `{ sec_name_off, num_info,
 * records }`. Calls `record(section, recordOffset, insnOffset)` for each record; checks that
 * insn offsets are 8-byte aligned and (with `ordered`) strictly increasing per section.
 */
function readInfoPart(
  r: SectionReader, btf: Btf, hdrLen: number, off: number, len: number, field: number, what: string, minRec: number,
  record: (section: string, at: number, insnOffset: number) => void, ordered = true,
): void {
  const place = r.place;
  if (len === 0) return;
  const body = r.length - hdrLen;
  if (off > body || len > body - off) {
    failAt(place, field, `the ${what} part (${len} bytes at offset ${hex(off)} after the header) runs past the end of the ${r.length}-byte section`);
  }
  if (off % 4 !== 0) failAt(place, field, `the ${what} part offset ${hex(off)} is not 4-byte aligned`);
  const start = hdrLen + off;
  const end = start + len;
  if (len < 4) failAt(place, start, `the ${what} part is ${len} bytes long, too short for its record size`);
  const recSize = r.u32(start);
  if (recSize < minRec || recSize > MAX_REC_SIZE || recSize % 4 !== 0) {
    failAt(place, start, `the ${what} record size is ${recSize} (expected a multiple of 4, at least ${minRec})`);
  }
  const seen = new Set<string>();
  let at = start + 4;
  while (at < end) {
    if (end - at < 8) failAt(place, at, `the ${what} part ends in the middle of a section header (${end - at} bytes left, it needs 8)`);
    const sec = btf.stringFor(r.u32(at), place, at, `the section name of a ${what} block`);
    const count = r.u32(at + 4);
    if (sec === '') failAt(place, at, `a ${what} block has an empty section name`);
    if (count === 0) failAt(place, at + 4, `the ${what} block of ${sec} has no records`);
    if (count > (end - at - 8) / recSize) {
      failAt(place, at + 4, `the ${what} block of ${sec} declares ${count} records of ${recSize} bytes, but only ${end - at - 8} bytes of the part are left`);
    }
    if (seen.has(sec)) failAt(place, at, `${sec} has two ${what} blocks`);
    seen.add(sec);
    at += 8;
    let previous = -1;
    for (let i = 0; i < count; i++, at += recSize) {
      const insnOffset = r.u32(at);
      if (insnOffset % 8 !== 0) failAt(place, at, `${what} record ${i} of ${sec} has instruction offset ${hex(insnOffset)}, not a multiple of 8`);
      if (ordered && insnOffset <= previous) {
        // Two line_info records may share an instruction only if clang emitted them that way;
        // the kernel requires strictly increasing offsets, and so do we.
        failAt(place, at, `${what} record ${i} of ${sec} (offset ${hex(insnOffset)}) is not after the previous one (${hex(previous)})`);
      }
      previous = insnOffset;
      record(sec, at, insnOffset);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Map definitions

/** One slot of a PROG_ARRAY or map-of-maps filled by a static `.values = { ... }` initializer. */
export interface MapInitialValue {
  /** The slot (array index). */
  readonly index: number;
  /** The program (function symbol) or map (variable in `.maps`) stored there. */
  readonly symbol: string;
}

/** A map definition, as libbpf derives it from `.maps` (BTF) or `maps` (legacy). */
export interface MapDef {
  /** The map variable's name. */
  readonly name: string;
  /** `enum bpf_map_type` (see {@link MapType}). */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** map_flags (BPF_F_NO_PREALLOC, ...). */
  readonly flags: number;
  /** libbpf's `enum libbpf_pin_type` (see MapPinning in runtime/uapi). */
  readonly pinning: number;
  readonly numaNode: number;
  /** map_extra (bloom filter hash count, ...). */
  readonly mapExtra: number;
  /** BTF type id of the key (`__type(key, T)`: T's id, typedefs kept). */
  readonly keyTypeId?: number;
  /** BTF type id of the value. */
  readonly valueTypeId?: number;
  /**
   * The inner map's definition, for ARRAY_OF_MAPS / HASH_OF_MAPS declared with
   * `__array(values, ...)`; named `<outer>.inner` as libbpf does, with the outer map's offset
   * and size 0 (it has no storage of its own).
   */
  readonly innerMap?: MapDef;
  /**
   * For maps declared with `__array(values, ...)` (prog arrays, maps of maps): the slots the
   * static initializer fills, from the relocations of `.maps` (empty when it has none).
   */
  readonly initialValues?: readonly MapInitialValue[];
  /** The ELF section holding the definition (`.maps` or `maps`). */
  readonly section: string;
  /** Byte offset of the definition in that section. */
  readonly offset: number;
  /** Size in bytes of the definition. */
  readonly size: number;
}

/** What a BTF map definition struct may set. */
interface MutableMapDef {
  type?: number;
  /** key_size / value_size attributes (`__uint`). */
  keySize?: number;
  valueSize?: number;
  /** Sizes of the `__type(key, T)` / `__type(value, T)` types. */
  keyTypeSize?: number;
  valueTypeSize?: number;
  maxEntries: number;
  flags: number;
  pinning: number;
  numaNode: number;
  mapExtra: number;
  keyTypeId?: number;
  valueTypeId?: number;
  innerMap?: MapDef;
  /** Byte offset of the `values` member inside the struct. */
  valuesOffset?: number;
  valuesKind?: 'programs' | 'maps';
}

/** The `__uint(name, value)` attributes and the fields they set. */
const UINT_ATTRIBUTES: ReadonlyMap<string, 'type' | 'keySize' | 'valueSize' | 'maxEntries' | 'flags' | 'pinning' | 'numaNode' | 'mapExtra'> = new Map([
  ['type', 'type'], ['key_size', 'keySize'], ['value_size', 'valueSize'], ['max_entries', 'maxEntries'],
  ['map_flags', 'flags'], ['pinning', 'pinning'], ['numa_node', 'numaNode'], ['map_extra', 'mapExtra'],
] as const);

/**
 * Decodes the BTF-defined maps of `.maps` (one per VAR of its DATASEC, in the DATASEC's order,
 * which is libbpf's) and then the legacy `struct bpf_map_def` maps of `maps` (by offset).
 * Offsets come from the symbol table: clang leaves the DATASEC's variable offsets at 0.
 *
 * @throws ElfError `E_BAD_ELF` (section `.maps` / `maps`) when a definition is malformed, or
 *   when `.maps` exists but there is no BTF describing it.
 */
export function readMapDefinitions(elf: ElfFile, btf: Btf | undefined): MapDef[] {
  const maps: MapDef[] = [];
  const section = elf.sectionByName('.maps');
  if (section) for (const m of readBtfMaps(elf, section, btf)) maps.push(m);
  const legacy = elf.sectionByName('maps');
  if (legacy) for (const m of readLegacyMaps(elf, legacy, btf)) maps.push(m);
  return maps;
}

/** Named data symbols of a section, by name (the first of each name). */
function symbolsByName(elf: ElfFile, index: number): Map<string, ElfSymbol> {
  const symbols = new Map<string, ElfSymbol>();
  for (const sym of elf.symbolsInSection(index)) {
    if (sym.type !== SymbolType.SECTION && sym.type !== SymbolType.FILE && sym.name !== '' && !symbols.has(sym.name)) symbols.set(sym.name, sym);
  }
  return symbols;
}

function readBtfMaps(elf: ElfFile, section: ElfSection, btf: Btf | undefined): MapDef[] {
  const place: Place = { section: '.maps', fileOffset: section.offset };
  if (!btf) failAt(place, 0, 'the object has a .maps section but no .BTF to describe it (compile with clang -g)');
  const datasec = btf.typeByName('.maps', 'datasec');
  if (!datasec) failAt(place, 0, 'the .BTF section has no DATASEC describing .maps');
  const maps: MapDef[] = [];
  const relocations = elf.relocations.get(section.index) ?? [];
  const claimed = new Set<number>();
  // clang leaves the DATASEC's variable offsets at 0 (loaders patch them); the symbol table says
  // where each map variable really is.
  const symbols = symbolsByName(elf, section.index);
  for (const v of datasec.vars) {
    const variable = btf.types[v.type]!;
    if (variable.kind !== 'var') failAt(place, 0, `the .maps DATASEC holds ${btf.describe(v.type)}, not a variable`);
    const name = variable.name;
    const sym = symbols.get(name);
    if (!sym) failAt(place, 0, `map ${name} is described by BTF but has no symbol in .maps`);
    const start = sym.value;
    const size = sym.size > 0 ? sym.size : v.size;
    if (start > section.size || size > section.size - start) {
      failAt(place, Math.min(start, section.size), `map ${name} (${size} bytes at offset ${hex(start)}) lies outside the ${section.size}-byte .maps section`);
    }
    const def = parseMapStruct(btf, variable.type, name, place, start, false);
    const map = finishMap(def, name, place, start, '.maps', size);
    if (def.valuesOffset !== undefined) {
      const initial: MapInitialValue[] = [];
      const first = start + def.valuesOffset;
      relocations.forEach((rel, i) => {
        if (rel.offset < start || rel.offset >= start + size) return;
        claimed.add(i);
        if (rel.offset < first || (rel.offset - first) % 8 !== 0) {
          failAt(place, rel.offset, `map ${name} has a relocation at offset ${hex(rel.offset)} that is not a slot of its values array`);
        }
        const index = (rel.offset - first) / 8;
        if (index >= map.maxEntries) {
          failAt(place, rel.offset, `map ${name} initialises slot ${index}, but it has only ${map.maxEntries} entries`);
        }
        if (rel.type !== RelocType.R_BPF_64_ABS64) {
          failAt(place, rel.offset, `map ${name} slot ${index} has a relocation of type ${rel.type}, expected R_BPF_64_ABS64`);
        }
        const target = rel.symbol;
        if (def.valuesKind === 'programs' && target.type !== SymbolType.FUNC) {
          failAt(place, rel.offset, `slot ${index} of prog array ${name} refers to ${target.name || `symbol ${rel.symbolIndex}`}, which is not a function`);
        }
        if (def.valuesKind === 'maps' && target.sectionIndex !== section.index) {
          failAt(place, rel.offset, `slot ${index} of map ${name} refers to ${target.name || `symbol ${rel.symbolIndex}`}, which is not a map in .maps`);
        }
        initial.push({ index, symbol: target.name });
      });
      initial.sort((a, b) => a.index - b.index);
      maps.push({ ...map, initialValues: initial });
    } else {
      maps.push(map);
    }
  }
  relocations.forEach((rel, i) => {
    if (!claimed.has(i)) failAt(place, rel.offset, `the relocation at offset ${hex(rel.offset)} of .maps is not inside the values array of a map`);
  });
  return maps;
}

function finishMap(def: MutableMapDef, name: string, place: Place, offset: number, section: string, size: number): MapDef {
  if (def.type === undefined) failAt(place, offset, `map ${name} has no type (add __uint(type, BPF_MAP_TYPE_...))`);
  const map: MapDef = {
    name, type: def.type, keySize: def.keySize ?? 0, valueSize: def.valueSize ?? 0, maxEntries: def.maxEntries,
    flags: def.flags, pinning: def.pinning, numaNode: def.numaNode, mapExtra: def.mapExtra, section, offset, size,
    ...(def.keyTypeId !== undefined ? { keyTypeId: def.keyTypeId } : {}),
    // A value type next to __array(values, ...) is dropped, as libbpf drops the BTF ids of maps of
    // maps and prog arrays when it creates them: the slots hold ids, shown as programs / maps.
    ...(def.valueTypeId !== undefined && def.valuesKind === undefined ? { valueTypeId: def.valueTypeId } : {}),
    ...(def.innerMap !== undefined ? { innerMap: def.innerMap } : {}),
  };
  return map;
}

/**
 * Decodes one map definition struct (libbpf's `__uint`, `__type` and `__array` members).
 * `base` is the byte offset of the struct in `.maps` (for error locations).
 */
function parseMapStruct(btf: Btf, typeId: number, name: string, place: Place, base: number, inner: boolean): MutableMapDef {
  const what = inner ? `the inner map of ${name}` : `map ${name}`;
  const wrap = <T>(offset: number, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof ElfError) failAt(place, offset, `${what}: ${e.detail}`);
      throw e;
    }
  };
  const struct = wrap(base, () => btf.resolve(typeId));
  if (struct.kind !== 'struct') failAt(place, base, `${what} is a ${btf.describe(typeId)}, not a struct of __uint/__type/__array members`);
  const def: MutableMapDef = { maxEntries: 0, flags: 0, pinning: 0, numaNode: 0, mapExtra: 0 };
  struct.members.forEach((m, i) => {
    const at = base + Math.floor(m.bitOffset / 8);
    const label = `${what}: attribute ${m.name || `#${i}`}`;
    if (m.bitOffset % 8 !== 0 || m.bitfieldSize !== 0) failAt(place, at, `${label} is a bitfield`);
    const memberType = wrap(at, () => btf.resolve(m.type));
    const uintField = UINT_ATTRIBUTES.get(m.name);
    if (uintField) {
      // __uint(name, val) is `int (*name)[val]`: a pointer to an array of val ints.
      const target = memberType.kind === 'ptr' ? wrap(at, () => btf.resolve(memberType.type)) : undefined;
      if (!target || target.kind !== 'array') {
        failAt(place, at, `${label} must be declared with __uint(${m.name}, value) (a pointer to an array), but it is ${btf.describe(m.type)}`);
      }
      def[uintField] = target.nelems;
      return;
    }
    switch (m.name) {
      case 'key': case 'value': {
        // __type(name, T) is `typeof(T) *name`.
        if (memberType.kind !== 'ptr') failAt(place, at, `${label} must be declared with __type(${m.name}, T) (a pointer), but it is ${btf.describe(m.type)}`);
        const size = wrap(at, () => btf.sizeOf(memberType.type));
        if (m.name === 'key') {
          def.keyTypeId = memberType.type;
          def.keyTypeSize = size;
        } else {
          def.valueTypeId = memberType.type;
          def.valueTypeSize = size;
        }
        return;
      }
      case 'values': {
        // __array(values, T) is `typeof(T) *values[]`: a zero-length array of pointers to T.
        if (inner) failAt(place, at, `${label}: an inner map cannot have inner maps of its own`);
        if (i !== struct.members.length - 1) failAt(place, at, `${label} must be the last member of the definition`);
        if (memberType.kind !== 'array' || memberType.nelems !== 0) {
          failAt(place, at, `${label} must be declared with __array(values, T) (a zero-length array of pointers), but it is ${btf.describe(m.type)}`);
        }
        const element = wrap(at, () => btf.resolve(memberType.type));
        if (element.kind !== 'ptr') failAt(place, at, `${label}: the array elements must be pointers, but they are ${btf.describe(memberType.type)}`);
        const target = wrap(at, () => btf.resolve(element.type));
        def.valuesOffset = m.bitOffset / 8;
        if (target.kind === 'func_proto') {
          def.valuesKind = 'programs';
        } else if (target.kind === 'struct') {
          def.valuesKind = 'maps';
          const innerDef = parseMapStruct(btf, element.type, name, place, base, true);
          def.innerMap = finishMap(innerDef, `${name}.inner`, place, base, '.maps', 0);
        } else {
          failAt(place, at, `${label}: the values must be programs (functions) or map definitions (structs), but they are ${btf.describe(element.type)}`);
        }
        return;
      }
      default:
        failAt(place, at, `${what} has unknown attribute '${m.name}'`);
    }
  });
  checkSizes(def, what, place, base);
  if (def.valuesKind !== undefined && def.type !== undefined) {
    const ok = def.valuesKind === 'programs'
      ? def.type === MapType.PROG_ARRAY
      : def.type === MapType.ARRAY_OF_MAPS || def.type === MapType.HASH_OF_MAPS;
    if (!ok) failAt(place, base, `${what} is a ${mapTypeName(def.type)}, which cannot hold ${def.valuesKind === 'programs' ? 'programs' : 'maps'}`);
  }
  return def;
}

/**
 * Settles key and value sizes: `key_size` given as a number and through `__type(key, T)` must
 * agree (likewise for values); `__array(values, ...)` implies 4-byte values (program or map ids),
 * so a value type next to it must be 4 bytes (libbpf: "conflicting value size").
 */
function checkSizes(def: MutableMapDef, what: string, place: Place, base: number): void {
  if (def.keyTypeSize !== undefined) {
    if (def.keySize !== undefined && def.keySize !== def.keyTypeSize) {
      failAt(place, base, `${what} has key_size ${def.keySize} but its key type is ${def.keyTypeSize} bytes`);
    }
    def.keySize = def.keyTypeSize;
  }
  if (def.valuesKind !== undefined) {
    // libbpf (parse_btf_map_def) accepts a value type next to __array(values, ...) as long as the
    // value size it gives is 4 (katran declares `__type(value, __u32)` on its maps of maps); the
    // ids the slots hold are 4 bytes whatever the type says, so only its size matters.
    const holder = def.valuesKind === 'programs' ? 'a prog array' : 'a map of maps';
    if (def.valueTypeSize !== undefined && def.valueTypeSize !== 4) {
      failAt(place, base, `${what} has a value type of ${def.valueTypeSize} bytes, but ${holder} declared with __array(values, ...) holds 4-byte ids (conflicting value size)`);
    }
    if (def.valueSize !== undefined && def.valueSize !== 4) {
      failAt(place, base, `${what} has value_size ${def.valueSize}, but ${holder} holds 4-byte ids`);
    }
    def.valueSize = 4;
  } else if (def.valueTypeSize !== undefined) {
    if (def.valueSize !== undefined && def.valueSize !== def.valueTypeSize) {
      failAt(place, base, `${what} has value_size ${def.valueSize} but its value type is ${def.valueTypeSize} bytes`);
    }
    def.valueSize = def.valueTypeSize;
  }
}

function readLegacyMaps(elf: ElfFile, section: ElfSection, btf: Btf | undefined): MapDef[] {
  const place: Place = { section: 'maps', fileOffset: section.offset };
  const symbols = elf.symbolsInSection(section.index)
    .filter((s) => s.type !== SymbolType.SECTION && s.type !== SymbolType.FILE && s.sectionIndex !== SHN.ABS)
    .sort((a, b) => a.value - b.value);
  if (symbols.length === 0) return [];
  const data = section.data();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const le = elf.littleEndian;
  const defaultSize = Math.floor(section.size / symbols.length);
  return symbols.map((sym) => {
    const size = sym.size > 0 ? sym.size : defaultSize;
    if (size < 16) failAt(place, sym.value, `map ${sym.name} is ${size} bytes, too small for a struct bpf_map_def (at least 16)`);
    if (sym.value > data.length || size > data.length - sym.value) {
      failAt(place, Math.min(sym.value, data.length), `map ${sym.name} (${size} bytes at offset ${hex(sym.value)}) lies outside the ${data.length}-byte maps section`);
    }
    const word = (i: number) => (i * 4 + 4 <= size ? view.getUint32(sym.value + i * 4, le) : 0);
    const def: MapDef = {
      name: sym.name, type: word(0), keySize: word(1), valueSize: word(2), maxEntries: word(3), flags: word(4),
      pinning: 0, numaNode: 0, mapExtra: 0, section: 'maps', offset: sym.value, size,
    };
    // BPF_ANNOTATE_KV_PAIR(name, K, V) declares `struct ____btf_map_<name> { K key; V value; }`.
    const pair = btf?.typeByName(`____btf_map_${sym.name}`, 'struct');
    const key = pair?.members.find((m) => m.name === 'key');
    const value = pair?.members.find((m) => m.name === 'value');
    if (key && value) return { ...def, keyTypeId: key.type, valueTypeId: value.type };
    return def;
  });
}

// ---------------------------------------------------------------------------------------------
// Global variables

/** One variable of a data section (`.data`, `.bss`, `.rodata`, ...), placed by the symbol table. */
export interface DataVariable {
  readonly name: string;
  /** The BTF VAR type id. */
  readonly varTypeId: number;
  /** The variable's type id (the VAR's type). */
  readonly typeId: number;
  /** See {@link BtfLinkage}. */
  readonly linkage: number;
  /** Byte offset in the ELF section. */
  readonly offset: number;
  readonly size: number;
}

/**
 * The variables of a data section as its BTF DATASEC lists them, with their real offsets:
 * clang leaves the DATASEC offsets of global variables at 0 (libbpf patches them from the symbol
 * table), so offsets and sizes come from the symbol of the same name when there is one.
 *
 * @returns `[]` when the BTF has no DATASEC of that name.
 * @throws ElfError `E_BAD_ELF` (section `sectionName`) for a variable outside the section.
 */
export function readDataSection(elf: ElfFile, btf: Btf, sectionName: string): DataVariable[] {
  const datasec = btf.typeByName(sectionName, 'datasec');
  if (!datasec) return [];
  const section = elf.sectionByName(sectionName);
  const place: Place = { section: sectionName, fileOffset: section?.offset };
  if (!section) failAt(place, 0, `the BTF describes section ${sectionName}, which the object does not have`);
  const symbols = symbolsByName(elf, section.index);
  return datasec.vars.map((v) => {
    const t = btf.types[v.type]!;
    const sym = symbols.get(t.name);
    const offset = sym ? sym.value : v.offset;
    const size = sym && sym.size > 0 ? sym.size : v.size;
    if (offset > section.size || size > section.size - offset) {
      failAt(place, Math.min(offset, section.size), `variable ${t.name} (${size} bytes at offset ${hex(offset)}) lies outside the ${section.size}-byte section ${sectionName}`);
    }
    const typeId = t.kind === 'var' || t.kind === 'func' ? t.type : 0;
    const linkage = t.kind === 'var' || t.kind === 'func' ? t.linkage : 0;
    return { name: t.name, varTypeId: v.type, typeId, linkage, offset, size };
  }).sort((a, b) => a.offset - b.offset);
}

// ---------------------------------------------------------------------------------------------
// Whole objects

/** The BTF-derived information of an object. */
export interface ElfBtf {
  /** The parsed `.BTF`, when the object has one. */
  readonly btf: Btf | undefined;
  /** The parsed `.BTF.ext`, when the object has one (it needs `.BTF`). */
  readonly ext: BtfExt | undefined;
  /** Map definitions (see {@link readMapDefinitions}). */
  readonly maps: readonly MapDef[];
}

/**
 * Reads `.BTF`, `.BTF.ext` (checking that every section it names exists and every instruction
 * offset lies inside it) and the map definitions of a parsed object.
 *
 * @throws ElfError `E_BAD_ELF` for anything malformed.
 */
export function readElfBtf(elf: ElfFile): ElfBtf {
  const btfSection = elf.sectionByName('.BTF');
  const btf = btfSection ? parseBtf(btfSection.data(), { fileOffset: btfSection.offset }) : undefined;
  const extSection = elf.sectionByName('.BTF.ext');
  let ext: BtfExt | undefined;
  if (extSection) {
    const place: Place = { section: '.BTF.ext', fileOffset: extSection.offset };
    if (!btf) failAt(place, 0, 'the object has a .BTF.ext section but no .BTF section');
    ext = parseBtfExt(extSection.data(), btf, { fileOffset: extSection.offset });
    for (const records of [ext.funcInfo, ext.lineInfo, ext.coreRelos] as ReadonlyMap<string, readonly { insnOffset: number; recordOffset: number }[]>[]) {
      for (const [name, list] of records) {
        const section = elf.sectionByName(name);
        if (!section) failAt(place, list[0]!.recordOffset, `.BTF.ext has records for section ${name}, which the object does not have`);
        for (const rec of list) {
          if (rec.insnOffset >= section.size) {
            failAt(place, rec.recordOffset, `.BTF.ext has a record for offset ${hex(rec.insnOffset)} of ${name}, past the end of its ${section.size} bytes`);
          }
        }
      }
    }
  }
  return { btf, ext, maps: readMapDefinitions(elf, btf) };
}
