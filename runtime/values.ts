/**
 * Type descriptors: a compact, JSON-serialisable description of a C type (a map's key or value,
 * a global variable), made by the compiler from BTF (compiler/btf/typedesc.ts) and carried in
 * the module's manifest, so that the runtime can turn map bytes into JS values and back without
 * the BTF parser.
 *
 * How bytes map to JS values ({@link decodeValue}); {@link encodeValue} accepts the same shapes:
 *
 * - Integers of up to 4 bytes are numbers; 8- and 16-byte integers are bigints (encoding also
 *   takes numbers for them, and bigints for small ones). `_Bool` (`bool`) is a boolean (encoding
 *   also takes 0 and 1).
 * - Character arrays (`char[N]`: elements that are 1-byte ints with BTF's char encoding or named
 *   `char`) are strings, read as UTF-8 up to the first NUL. Encoding writes the UTF-8 bytes and
 *   pads with NULs; a string of exactly N bytes fills the array without a terminator, as C allows.
 *   Bytes before the NUL that are not valid UTF-8 decode as an array of the element values
 *   instead (no byte is lost or replaced), and encoding takes such arrays too.
 * - Other arrays are JS arrays (encoding takes any array or typed array of at most `count`
 *   elements; missing ones are zero).
 * - Structs are plain objects keyed by member name. The fields of an anonymous struct or union
 *   member are merged into the enclosing object, as C lets you name them. Bitfields are decoded
 *   to their own value (sign-extended when their type is signed). Unions decode every member
 *   (they all overlap); when encoding, the members given are written in declaration order, so
 *   give one. Members missing from an encoded object are zero; unknown ones are an error.
 * - Enums are the enumerator's name when the value matches one, else the number (a bigint for
 *   8-byte enums); encoding takes a name or a number.
 * - Floats (4 and 8 bytes) are numbers. Pointers are unsigned 64-bit bigints. Opaque bytes
 *   (`kind: 'bytes'`: forward declarations, types too deep to describe) are a `Uint8Array` copy.
 *
 * Everything is little-endian, as eBPF programs running under bpf2wasm see memory. Invalid
 * values (a wrong JS type, an integer out of range, a string too long, an unknown enumerator or
 * member) throw a {@link BpfRuntimeError} with code `E_BAD_ARGUMENT`, naming the path of the
 * offending part (`value.stats.packets`). Descriptors are checked once ({@link checkTypeDesc})
 * before first use, so a forged one from a manifest gives the same error instead of a crash.
 *
 * This module imports nothing but the error types: it runs wherever the runtime runs.
 */
import { BpfRuntimeError, ErrorCode } from './errors.js';

/** One enumerator of an enum. */
export interface EnumValueDesc {
  readonly name: string;
  /** Decimal (may exceed 2^53 and be negative for signed enums). */
  readonly value: string;
}

/** One member of a struct or union. */
export interface MemberDesc {
  /** `''` for anonymous members (whose own members are merged into the enclosing object). */
  readonly name: string;
  /** Byte offset from the start of the struct (for bitfields, of the byte holding the first bit). */
  readonly offset: number;
  /** Bitfields: the first bit within the byte at {@link offset} (0-7, counted from the least significant). */
  readonly bitOffset?: number;
  /** Bitfields: the number of bits. Present exactly for bitfields. */
  readonly bitSize?: number;
  readonly type: TypeDesc;
}

/**
 * A C type. `size` is always the type's size in bytes. `name`, when present, is how C spells
 * the type where it was used (`__u32`, `struct data_t`, `flow_stats_t`, `enum state`): a
 * typedef's name when the type was reached through a typedef.
 */
export type TypeDesc =
  | { readonly kind: 'int'; readonly size: number; readonly signed: boolean; readonly name?: string; readonly bool?: boolean; readonly char?: boolean }
  | { readonly kind: 'float'; readonly size: number; readonly name?: string }
  | { readonly kind: 'ptr'; readonly size: 8; readonly name?: string }
  | { readonly kind: 'enum'; readonly size: number; readonly signed: boolean; readonly name?: string; readonly values: readonly EnumValueDesc[] }
  | { readonly kind: 'array'; readonly elem: TypeDesc; readonly count: number; readonly size: number }
  | { readonly kind: 'struct' | 'union'; readonly name?: string; readonly size: number; readonly members: readonly MemberDesc[] }
  | { readonly kind: 'bytes'; readonly size: number; readonly name?: string };

/** The descriptor of one kind. */
export type TypeDescOf<K extends TypeDesc['kind']> = TypeDesc extends infer T
  ? T extends { kind: infer X } ? (K extends X ? T : never) : never
  : never;

/** Deepest nesting {@link checkTypeDesc} accepts (the compiler emits at most 16 levels). */
export const TYPEDESC_MAX_DEPTH = 64;
/** Most elements of an array of zero-sized elements {@link checkTypeDesc} accepts. */
const MAX_EMPTY_ELEMS = 4096;
/** Array elements and bytes {@link formatValue} shows before eliding the rest. */
const FORMAT_MAX_ITEMS = 32;

const INT_SIZES = [1, 2, 4, 8, 16];
const ENUM_SIZES = [1, 2, 4, 8];

function bad(detail: string): never {
  throw new BpfRuntimeError(ErrorCode.BadArgument, detail);
}

// ---------------------------------------------------------------------------------------------
// Checking descriptors

const checked = new WeakSet<object>();

/**
 * Checks that `desc` is a well-formed descriptor (known kinds, integer sizes that add up,
 * members inside their struct, bitfields on integer or enum types, enumerator values in
 * decimal, nesting at most {@link TYPEDESC_MAX_DEPTH}) and returns it typed. The result is
 * remembered, so checking the same object again costs nothing: descriptors are immutable (the
 * types say `readonly`), and one changed after its first use is not checked again.
 *
 * @throws BpfRuntimeError `E_BAD_ARGUMENT` naming the first problem.
 */
export function checkTypeDesc(desc: unknown, what = 'type'): TypeDesc {
  if (typeof desc === 'object' && desc !== null && checked.has(desc)) return desc as TypeDesc;
  checkNode(desc, what, 0);
  checked.add(desc as object);
  return desc as TypeDesc;
}

function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function checkNode(d: unknown, path: string, depth: number): void {
  if (typeof d === 'object' && d !== null && checked.has(d)) return;
  if (depth > TYPEDESC_MAX_DEPTH) bad(`${path}: the type descriptor is nested more than ${TYPEDESC_MAX_DEPTH} levels deep`);
  if (typeof d !== 'object' || d === null) bad(`${path}: a type descriptor must be an object, not ${show(d)}`);
  const t = d as Record<string, unknown>;
  if (!isSize(t.size)) bad(`${path}: the type descriptor has no valid size (${show(t.size)})`);
  if (t.name !== undefined && typeof t.name !== 'string') bad(`${path}: the type name must be a string`);
  const size = t.size;
  switch (t.kind) {
    case 'int':
      if (!INT_SIZES.includes(size)) bad(`${path}: an int of ${size} bytes is not 1, 2, 4, 8 or 16 bytes`);
      if (typeof t.signed !== 'boolean') bad(`${path}: the int descriptor has no signed flag`);
      return;
    case 'float':
      if (size !== 4 && size !== 8) bad(`${path}: a float of ${size} bytes is not 4 or 8 bytes`);
      return;
    case 'ptr':
      if (size !== 8) bad(`${path}: a pointer of ${size} bytes is not 8 bytes`);
      return;
    case 'bytes':
      return;
    case 'enum': {
      if (!ENUM_SIZES.includes(size)) bad(`${path}: an enum of ${size} bytes is not 1, 2, 4 or 8 bytes`);
      if (typeof t.signed !== 'boolean') bad(`${path}: the enum descriptor has no signed flag`);
      if (!Array.isArray(t.values)) bad(`${path}: the enum descriptor has no values`);
      for (const v of t.values as unknown[]) {
        const e = v as { name?: unknown; value?: unknown } | null;
        if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || typeof e.value !== 'string' || !/^-?\d{1,40}$/.test(e.value)) {
          bad(`${path}: enumerator ${show(v)} is not { name, value } with a decimal value`);
        }
      }
      return;
    }
    case 'array': {
      const { count, elem } = t;
      if (!isSize(count)) bad(`${path}: the array has no valid count (${show(count)})`);
      checkNode(elem, `${path}[]`, depth + 1);
      const elemSize = (elem as TypeDesc).size;
      if (elemSize * count !== size) bad(`${path}: an array of ${count} elements of ${elemSize} bytes is not ${size} bytes`);
      if (elemSize === 0 && count > MAX_EMPTY_ELEMS) bad(`${path}: an array of ${count} empty elements is too long`);
      return;
    }
    case 'struct': case 'union': {
      if (!Array.isArray(t.members)) bad(`${path}: the ${t.kind} descriptor has no members`);
      for (const m of t.members as unknown[]) {
        const mm = m as Partial<Record<keyof MemberDesc, unknown>> | null;
        if (typeof mm !== 'object' || mm === null || typeof mm.name !== 'string' || !isSize(mm.offset)) {
          bad(`${path}: member ${show(m)} is not { name, offset, type }`);
        }
        const where = `${path}.${mm.name || '<anon>'}`;
        checkNode(mm.type, where, depth + 1);
        const type = mm.type as TypeDesc;
        if (mm.bitSize !== undefined || mm.bitOffset !== undefined) {
          const bitSize = mm.bitSize;
          const bitOffset = mm.bitOffset ?? 0;
          if (!isSize(bitSize) || bitSize === 0 || !isSize(bitOffset) || bitOffset > 7) bad(`${where}: the bitfield has an invalid bit offset or size`);
          if (type.kind !== 'int' && type.kind !== 'enum') bad(`${where}: a bitfield must be an int or an enum, not a ${type.kind}`);
          if (bitSize > type.size * 8) bad(`${where}: a bitfield of ${bitSize} bits does not fit its ${type.size}-byte type`);
          if (mm.offset * 8 + bitOffset + bitSize > size * 8) bad(`${where}: the bitfield lies outside the ${size}-byte ${t.kind}`);
        } else if (mm.offset + type.size > size) {
          bad(`${where}: the member (${type.size} bytes at offset ${mm.offset}) lies outside the ${size}-byte ${t.kind}`);
        }
      }
      return;
    }
    default:
      bad(`${path}: unknown type descriptor kind ${show(t.kind)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** True for 1-byte ints that C code uses as characters. */
function isChar(d: TypeDesc): boolean {
  return d.kind === 'int' && d.size === 1 && (d.char === true || d.name === 'char');
}

/** True for `char[N]` arrays, which decode to strings. */
export function isCharArray(d: TypeDesc): d is TypeDescOf<'array'> {
  return d.kind === 'array' && isChar(d.elem);
}

function readUint(bytes: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i]!);
  return v;
}

function writeUint(bytes: Uint8Array, off: number, size: number, v: bigint): void {
  for (let i = 0; i < size; i++) {
    bytes[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Sets a property even when it is called `__proto__` (a legal C member name). */
function setField(obj: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(obj, name, { value, enumerable: true, writable: true, configurable: true });
  else obj[name] = value;
}

let utf8Decoder: TextDecoder | undefined;
let utf8Encoder: TextEncoder | undefined;

/**
 * Enumerator names by value modulo 2^bits, per enum descriptor and width. Comparing modulo the
 * width matches what C stores: `DONE = -2` in a 4-bit field is 14, and an unsigned BTF enum
 * (clang before 15 does not mark signed ones) holds -2 as 4294967294.
 */
const enumNames = new WeakMap<object, Map<number, Map<bigint, string>>>();
function enumNameOf(d: TypeDescOf<'enum'>, raw: bigint, bits: number): string | undefined {
  let byWidth = enumNames.get(d);
  if (!byWidth) enumNames.set(d, (byWidth = new Map()));
  let names = byWidth.get(bits);
  if (!names) {
    names = new Map();
    // The first enumerator of a value wins, as bpftool shows it.
    for (const v of d.values) {
      const key = BigInt.asUintN(bits, BigInt(v.value));
      if (!names.has(key)) names.set(key, v.name);
    }
    byWidth.set(bits, names);
  }
  return names.get(BigInt.asUintN(bits, raw));
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes the `desc.size` bytes at `offset` of `bytes` into a JS value (see the conventions at
 * the top of this file).
 *
 * @throws BpfRuntimeError `E_BAD_ARGUMENT` for an invalid descriptor or when the bytes are
 *   shorter than `offset + desc.size`.
 */
export function decodeValue(desc: TypeDesc, bytes: Uint8Array, offset = 0): unknown {
  checkTypeDesc(desc);
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length || desc.size > bytes.length - offset) {
    bad(`cannot decode ${desc.size} bytes at offset ${offset} of a ${bytes.length}-byte buffer`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeAt(desc, bytes, view, offset);
}

/** The JS value of an integer or enumerator `raw` read from `bits` bits. */
function decodeInt(d: TypeDescOf<'int'> | TypeDescOf<'enum'>, raw: bigint, bits: number): unknown {
  if (d.kind === 'enum') {
    const name = enumNameOf(d, raw, bits);
    if (name !== undefined) return name;
    return d.size <= 4 ? Number(raw) : raw;
  }
  if (d.bool) return raw !== 0n;
  return d.size <= 4 ? Number(raw) : raw;
}

function decodeAt(d: TypeDesc, bytes: Uint8Array, view: DataView, off: number): unknown {
  switch (d.kind) {
    case 'int': case 'enum': {
      if (d.kind === 'int' && !d.bool) {
        // The common sizes without a detour through BigInt.
        switch (d.size) {
          case 1: return d.signed ? view.getInt8(off) : view.getUint8(off);
          case 2: return d.signed ? view.getInt16(off, true) : view.getUint16(off, true);
          case 4: return d.signed ? view.getInt32(off, true) : view.getUint32(off, true);
          case 8: return d.signed ? view.getBigInt64(off, true) : view.getBigUint64(off, true);
        }
      }
      const raw = readUint(bytes, off, d.size);
      return decodeInt(d, d.signed ? BigInt.asIntN(d.size * 8, raw) : raw, d.size * 8);
    }
    case 'float':
      return d.size === 4 ? view.getFloat32(off, true) : view.getFloat64(off, true);
    case 'ptr':
      return view.getBigUint64(off, true);
    case 'bytes':
      return bytes.slice(off, off + d.size);
    case 'array': {
      if (isChar(d.elem)) {
        const chars = bytes.subarray(off, off + d.count);
        const nul = chars.indexOf(0);
        try {
          return (utf8Decoder ??= new TextDecoder('utf-8', { fatal: true })).decode(nul < 0 ? chars : chars.subarray(0, nul));
        } catch {
          // Not text: the element values, so that encoding gives the same bytes back.
        }
      }
      const out: unknown[] = new Array(d.count);
      const step = d.elem.size;
      for (let i = 0; i < d.count; i++) out[i] = decodeAt(d.elem, bytes, view, off + i * step);
      return out;
    }
    case 'struct': case 'union': {
      const obj: Record<string, unknown> = {};
      for (const m of d.members) {
        if (m.name === '') {
          // An anonymous struct or union is merged; an unnamed bitfield is padding.
          if (m.bitSize !== undefined || (m.type.kind !== 'struct' && m.type.kind !== 'union')) continue;
          const inner = decodeAt(m.type, bytes, view, off + m.offset) as Record<string, unknown>;
          for (const [k, v] of Object.entries(inner)) setField(obj, k, v);
        } else if (m.bitSize !== undefined) {
          setField(obj, m.name, decodeBitfield(m, bytes, off));
        } else {
          setField(obj, m.name, decodeAt(m.type, bytes, view, off + m.offset));
        }
      }
      return obj;
    }
  }
}

/** The byte span a bitfield touches: its first byte and how many bytes. */
function bitfieldSpan(m: MemberDesc): { shift: bigint; bytes: number; mask: bigint } {
  const first = m.bitOffset ?? 0;
  const bits = m.bitSize!;
  return { shift: BigInt(first), bytes: Math.ceil((first + bits) / 8), mask: (1n << BigInt(bits)) - 1n };
}

function decodeBitfield(m: MemberDesc, bytes: Uint8Array, base: number): unknown {
  const { shift, bytes: n, mask } = bitfieldSpan(m);
  let raw = (readUint(bytes, base + m.offset, n) >> shift) & mask;
  const type = m.type as TypeDescOf<'int'> | TypeDescOf<'enum'>;
  if (type.signed) raw = BigInt.asIntN(m.bitSize!, raw);
  return decodeInt(type, raw, m.bitSize!);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes `value` as `desc` describes it (see the conventions at the top of this file) into
 * `out` at `offset` (a new zeroed buffer of `desc.size` bytes when `out` is not given), and
 * returns the buffer. The `desc.size` bytes written are zeroed first, so parts the value leaves
 * out are zero. `what` names the value in error messages (`key`, `value`).
 *
 * @throws BpfRuntimeError `E_BAD_ARGUMENT` for a value of the wrong shape or out of range, an
 *   invalid descriptor, or an `out` too small.
 */
export function encodeValue(desc: TypeDesc, value: unknown, out?: Uint8Array, offset = 0, what = 'value'): Uint8Array {
  checkTypeDesc(desc);
  const buf = out ?? new Uint8Array(desc.size);
  if (!Number.isInteger(offset) || offset < 0 || offset > buf.length || desc.size > buf.length - offset) {
    bad(`cannot encode ${desc.size} bytes at offset ${offset} of a ${buf.length}-byte buffer`);
  }
  if (out) buf.fill(0, offset, offset + desc.size);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  encodeAt(desc, value, buf, view, offset, what);
  return buf;
}

/** Short description of a received value, for messages. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `a Uint8Array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'function') return 'a function';
  return String(v);
}

/** Range of an integer of `bits` bits. */
function intRange(bits: number, signed: boolean): [bigint, bigint] {
  const b = BigInt(bits);
  return signed ? [-(1n << (b - 1n)), (1n << (b - 1n)) - 1n] : [0n, (1n << b) - 1n];
}

/** The integer a value stands for, checked against `bits` bits; returned modulo 2^bits. */
function intOf(d: TypeDescOf<'int'> | TypeDescOf<'enum'>, value: unknown, bits: number, path: string): bigint {
  let v: bigint;
  const typeName = d.name ?? (d.kind === 'enum' ? 'enum' : `${d.signed ? 's' : 'u'}${d.size * 8}`);
  if (typeof value === 'bigint') {
    v = value;
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    v = BigInt(value);
  } else if (typeof value === 'boolean' && d.kind === 'int' && d.bool) {
    v = value ? 1n : 0n;
  } else if (typeof value === 'string' && d.kind === 'enum') {
    const e = d.values.find((x) => x.name === value);
    if (!e) {
      const names = d.values.slice(0, 8).map((x) => x.name).join(', ');
      bad(`${path}: ${show(value)} is not an enumerator of ${typeName} (${names}${d.values.length > 8 ? ', ...' : ''})`);
    }
    // C stores an enumerator in a narrower field (or a negative one in an unsigned enum) modulo its width.
    return BigInt.asUintN(bits, BigInt(e.value));
  } else {
    const expected = d.kind === 'enum' ? 'an enumerator name or an integer' : d.bool ? 'a boolean' : 'an integer (number or bigint)';
    bad(`${path}: expected ${expected} for ${typeName}, got ${show(value)}`);
  }
  const [lo, hi] = d.kind === 'int' && d.bool ? [0n, 1n] : intRange(bits, d.signed);
  if (v < lo || v > hi) {
    const width = bits === d.size * 8 ? typeName : `a ${bits}-bit field of ${typeName}`;
    bad(`${path}: ${v} is out of range for ${width} (${lo} to ${hi})`);
  }
  return BigInt.asUintN(bits, v);
}

function bytesOf(value: unknown): ArrayLike<unknown> | undefined {
  if (Array.isArray(value)) return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return value as unknown as ArrayLike<unknown>;
  return undefined;
}

function encodeAt(d: TypeDesc, value: unknown, bytes: Uint8Array, view: DataView, off: number, path: string): void {
  switch (d.kind) {
    case 'int': case 'enum':
      writeUint(bytes, off, d.size, intOf(d, value, d.size * 8, path));
      return;
    case 'float':
      if (typeof value !== 'number') bad(`${path}: expected a number for ${d.name ?? `a ${d.size * 8}-bit float`}, got ${show(value)}`);
      if (d.size === 4) view.setFloat32(off, value, true);
      else view.setFloat64(off, value, true);
      return;
    case 'ptr': {
      if ((typeof value !== 'number' || !Number.isInteger(value)) && typeof value !== 'bigint') {
        bad(`${path}: expected an address (integer) for ${d.name ?? 'a pointer'}, got ${show(value)}`);
      }
      const v = BigInt(value);
      if (v < 0n || v > 0xffffffffffffffffn) bad(`${path}: ${v} is out of range for a 64-bit pointer`);
      view.setBigUint64(off, v, true);
      return;
    }
    case 'bytes': {
      const list = bytesOf(value);
      if (!list) bad(`${path}: expected a Uint8Array or an array of bytes for ${d.name ?? `${d.size} opaque bytes`}, got ${show(value)}`);
      encodeByteList(list, d.size, bytes, off, path);
      return;
    }
    case 'array': {
      if (typeof value === 'string' && isChar(d.elem)) {
        const encoded = (utf8Encoder ??= new TextEncoder()).encode(value);
        if (encoded.length > d.count) bad(`${path}: a string of ${encoded.length} bytes does not fit char[${d.count}]`);
        bytes.set(encoded, off);
        return;
      }
      const list = bytesOf(value);
      if (!list) {
        const expected = isChar(d.elem) ? 'a string or an array' : 'an array';
        bad(`${path}: expected ${expected} of at most ${d.count} elements, got ${show(value)}`);
      }
      if (list.length > d.count) bad(`${path}: ${list.length} elements do not fit an array of ${d.count}`);
      for (let i = 0; i < list.length; i++) {
        const item = list[i];
        if (item !== undefined) encodeAt(d.elem, item, bytes, view, off + i * d.elem.size, `${path}[${i}]`);
      }
      return;
    }
    case 'struct': case 'union': {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
        bad(`${path}: expected an object for ${d.name ?? `a ${d.kind}`}, got ${show(value)}`);
      }
      const fields = fieldsOf(d);
      const given = value as Record<string, unknown>;
      for (const key of Object.keys(given)) {
        if (!fields.has(key)) {
          const known = [...fields.keys()].slice(0, 12).join(', ');
          bad(`${path}: ${d.name ?? `the ${d.kind}`} has no member ${JSON.stringify(key)} (it has ${known || 'no members'}${fields.size > 12 ? ', ...' : ''})`);
        }
      }
      // Declaration order, so that a union's last given member wins predictably.
      for (const [key, { member, base }] of fields) {
        if (!Object.prototype.hasOwnProperty.call(given, key)) continue;
        const v = given[key];
        if (v === undefined) continue;
        const at = off + base + member.offset;
        if (member.bitSize !== undefined) encodeBitfield(member, v, bytes, at, `${path}.${key}`);
        else encodeAt(member.type, v, bytes, view, at, `${path}.${key}`);
      }
      return;
    }
  }
}

function encodeByteList(list: ArrayLike<unknown>, size: number, bytes: Uint8Array, off: number, path: string): void {
  if (list.length > size) bad(`${path}: ${list.length} bytes do not fit ${size}`);
  for (let i = 0; i < list.length; i++) {
    const b = list[i];
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) bad(`${path}[${i}]: ${show(b)} is not a byte (0 to 255)`);
    bytes[off + i] = b;
  }
}

/** Named members of a struct or union, with those of anonymous members merged (and their base offset). */
const fieldCache = new WeakMap<object, Map<string, { member: MemberDesc; base: number }>>();
function fieldsOf(d: TypeDescOf<'struct'>): Map<string, { member: MemberDesc; base: number }> {
  let fields = fieldCache.get(d);
  if (fields) return fields;
  fields = new Map();
  const collect = (s: TypeDescOf<'struct'>, base: number) => {
    for (const m of s.members) {
      if (m.name === '' && m.bitSize === undefined && (m.type.kind === 'struct' || m.type.kind === 'union')) {
        collect(m.type, base + m.offset);
      } else if (m.name !== '' && !fields!.has(m.name)) {
        fields!.set(m.name, { member: m, base });
      }
    }
  };
  collect(d, 0);
  fieldCache.set(d, fields);
  return fields;
}

function encodeBitfield(m: MemberDesc, value: unknown, bytes: Uint8Array, at: number, path: string): void {
  const { shift, bytes: n, mask } = bitfieldSpan(m);
  const v = intOf(m.type as TypeDescOf<'int'> | TypeDescOf<'enum'>, value, m.bitSize!, path);
  const current = readUint(bytes, at, n);
  writeUint(bytes, at, n, (current & ~(mask << shift)) | (v << shift));
}

// ---------------------------------------------------------------------------------------------
// Formatting

/**
 * A compact, one-line rendering of a decoded value, in the style of `bpftool map dump`:
 * `{ pid: 12, comm: "bash", state: RUNNING, stats: { packets: 3, bytes: 180 } }`. Integers are
 * decimal (bigints without the `n`), pointers hex, strings quoted, enumerators bare, opaque bytes
 * hex (`<0a 0b ff>`); arrays and byte strings longer than 32 items are cut with a count of the
 * rest. Values that do not match the descriptor are rendered as they are, never an error.
 */
export function formatValue(desc: TypeDesc, value: unknown): string {
  return formatAt(desc, value, 0);
}

function formatAt(d: TypeDesc | undefined, value: unknown, depth: number): string {
  if (depth > TYPEDESC_MAX_DEPTH) return '...';
  if (d?.kind === 'ptr' && (typeof value === 'bigint' || typeof value === 'number')) {
    return `0x${BigInt.asUintN(64, BigInt(value)).toString(16)}`;
  }
  if (d?.kind === 'enum' && typeof value === 'string') return value;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Uint8Array) {
    const shown = Array.from(value.subarray(0, FORMAT_MAX_ITEMS), (b) => b.toString(16).padStart(2, '0'));
    if (value.length > FORMAT_MAX_ITEMS) shown.push(`... ${value.length - FORMAT_MAX_ITEMS} more`);
    return `<${shown.join(' ')}>`;
  }
  if (Array.isArray(value)) {
    const elem = d?.kind === 'array' ? d.elem : undefined;
    const shown = value.slice(0, FORMAT_MAX_ITEMS).map((v) => formatAt(elem, v, depth + 1));
    if (value.length > FORMAT_MAX_ITEMS) shown.push(`... ${value.length - FORMAT_MAX_ITEMS} more`);
    return `[${shown.join(', ')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const fields = d?.kind === 'struct' || d?.kind === 'union' ? fieldsOf(d) : undefined;
    const parts = Object.entries(value).map(([k, v]) => {
      const member = fields?.get(k)?.member;
      return `${k}: ${formatAt(member?.type, v, depth + 1)}`;
    });
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  return String(value);
}
