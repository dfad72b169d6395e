/**
 * TypeScript types for the runtime's type descriptors: the type of the JS value that
 * `decodeValue` (runtime/values.ts) returns for a descriptor, written as TypeScript source.
 * `BpfMap.get`, `entries()`, `getGlobal` return exactly these shapes, and take them (widened by
 * `ValueInput`) when encoding.
 *
 * The rules mirror the decoder one for one:
 * - ints: `boolean` for `_Bool`, `number` up to 4 bytes, `bigint` for 8 and 16 bytes (the
 *   int's own size decides, for bitfields too); floats `number`; pointers `bigint`; opaque
 *   bytes `Uint8Array`;
 * - enums: the union of their enumerator names, or the number (a `bigint` for 8-byte enums)
 *   of a value no enumerator names;
 * - `char[N]`: `string`, or `number[]` when the bytes before the NUL are not UTF-8; other
 *   arrays `T[]`;
 * - structs and unions: an object with every named member (a union decodes all of its
 *   members); the members of anonymous struct and union members are merged in, unnamed
 *   bitfields and other anonymous members are left out, and a merged name given twice has the
 *   type of the last (the decoder assigns in order).
 *
 * Named structs, unions and enums (`struct flow_key`, `flow_stats_t`, `enum state`) become
 * named declarations (`FlowKey`, `FlowStatsT`, `State`); anonymous ones are written inline.
 */
import { isCharArray, type MemberDesc, type TypeDesc, type TypeDescOf } from '../../runtime/values.js';

/** A TypeScript declaration made for a named C type. */
export interface TsDeclaration {
  /** The TypeScript name (`FlowKey`). */
  readonly name: string;
  /** The declaration's source, with its doc comment. */
  readonly source: string;
}

/** Words a generated name must not be (TypeScript's reserved and built-in type names). */
const RESERVED = new Set([
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum', 'export',
  'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'new', 'null', 'return', 'super',
  'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with', 'implements', 'interface', 'let',
  'package', 'private', 'protected', 'public', 'static', 'yield', 'any', 'unknown', 'never', 'number', 'bigint', 'string',
  'boolean', 'symbol', 'object', 'undefined', 'type', 'Array', 'Record', 'Uint8Array', 'Object', 'String', 'Number',
  'Boolean', 'Promise', 'Map', 'Set', 'BpfMap', 'BpfInstance', 'BpfProgram', 'RingBuffer', 'PerfEventArray',
  'ValueInput', 'InstantiateOptions', 'BpfRuntimeError', 'ErrorCode', 'WebAssembly', 'Symbol', 'Error',
]);

/** `flow_stats_t` -> `FlowStatsT`; `.rodata` -> `Rodata`; never empty, never a reserved word. */
export function pascalCase(cName: string): string {
  const words = cName.replace(/^(struct|union|enum)\s+/, '').split(/[^A-Za-z0-9]+/).filter(Boolean);
  let out = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  if (out === '' || /^[0-9]/.test(out)) out = `T${out}`;
  return RESERVED.has(out) ? `${out}Type` : out;
}

/** A property name as TypeScript source: bare when it is an identifier, else quoted. */
export function propertyName(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) && name !== '__proto__' ? name : JSON.stringify(name);
}

/** A doc comment's text, safe inside `/** ... *\/`. */
export function docText(text: string): string {
  return text.replace(/\*\//g, '*\\/').replace(/[\r\n\u2028\u2029]+/g, ' ');
}

/**
 * Writes TypeScript types for descriptors, collecting a declaration for each named struct,
 * union and enum met (one per distinct descriptor; a name met again with a different layout
 * gets a numbered name: `FlowKey2`).
 */
export class TsTypeWriter {
  readonly #declarations: TsDeclaration[] = [];
  /** Declared name by the descriptor's JSON (the same C type reached twice is declared once). */
  readonly #byShape = new Map<string, string>();
  readonly #taken: Set<string>;

  /** `taken`: names the caller uses itself, which declarations must avoid. */
  constructor(taken: Iterable<string> = []) {
    this.#taken = new Set(taken);
  }

  /** The declarations made so far, in the order their types were first met (dependencies first). */
  get declarations(): readonly TsDeclaration[] {
    return this.#declarations;
  }

  /** Reserves a name for the caller's own use (a later declaration gets another). */
  reserve(name: string): string {
    const base = RESERVED.has(name) ? `${name}Type` : name;
    let out = base;
    for (let i = 2; this.#taken.has(out); i++) out = `${base}${i}`;
    this.#taken.add(out);
    return out;
  }

  /** The TypeScript type of what decoding `desc` gives. */
  typeOf(desc: TypeDesc): string {
    switch (desc.kind) {
      case 'int':
        return desc.bool ? 'boolean' : desc.size <= 4 ? 'number' : 'bigint';
      case 'float':
        return 'number';
      case 'ptr':
        return 'bigint';
      case 'bytes':
        return 'Uint8Array';
      case 'enum':
        return desc.name ? this.#declare(desc, () => this.#enumType(desc)) : this.#enumType(desc);
      case 'array': {
        // (isCharArray's guard would narrow the rest of the case to never.)
        if ((isCharArray as (d: TypeDesc) => boolean)(desc)) return 'string | number[]';
        const elem = this.typeOf(desc.elem);
        return /[|&]/.test(elem) && !elem.startsWith('{') ? `(${elem})[]` : `${elem}[]`;
      }
      case 'struct': case 'union':
        return desc.name ? this.#declare(desc, () => this.#objectType(desc, '')) : this.#objectType(desc, '');
    }
  }

  #enumType(desc: TypeDescOf<'enum'>): string {
    const names = [...new Set(desc.values.map((v) => JSON.stringify(v.name)))];
    return [...names, desc.size <= 4 ? 'number' : 'bigint'].join(' | ');
  }

  /** The object type of a struct or union: `{ a: number; b: string | number[] }` (one line when inline). */
  #objectType(desc: TypeDescOf<'struct'> | TypeDescOf<'union'>, indent: string): string {
    const fields = this.#fields(desc);
    if (fields.size === 0) return 'Record<string, never>';
    if (indent === '') {
      return `{ ${[...fields].map(([name, f]) => `${propertyName(name)}: ${f.type}`).join('; ')} }`;
    }
    const lines = [...fields].map(([name, f]) => `${indent}/** ${docText(f.doc)} */\n${indent}${propertyName(name)}: ${f.type};`);
    return `{\n${lines.join('\n')}\n}`;
  }

  /** Named fields as the decoder produces them (anonymous struct/union members merged). */
  #fields(desc: TypeDescOf<'struct'> | TypeDescOf<'union'>): Map<string, { type: string; doc: string }> {
    const out = new Map<string, { type: string; doc: string }>();
    const collect = (d: TypeDescOf<'struct'> | TypeDescOf<'union'>, base: number): void => {
      for (const m of d.members) {
        if (m.name === '') {
          if (m.bitSize !== undefined || (m.type.kind !== 'struct' && m.type.kind !== 'union')) continue;
          collect(m.type, base + m.offset);
          continue;
        }
        // The decoder assigns in member order: a name merged twice keeps its first position and the last value.
        out.set(m.name, { type: this.typeOf(m.type), doc: memberDoc(m, base) });
      }
    };
    collect(desc, 0);
    return out;
  }

  /** Declares a named type once per distinct layout, returning its TypeScript name. */
  #declare(desc: TypeDesc & { name?: string }, body: () => string): string {
    const shape = JSON.stringify(desc);
    const known = this.#byShape.get(shape);
    if (known) return known;
    const name = this.reserve(pascalCase(desc.name!));
    this.#byShape.set(shape, name);
    // Reserve the slot first, so that the members' own declarations come before it.
    const doc = `/** \`${docText(desc.name!)}\` (${desc.size} bytes), as the runtime decodes it. */\n`;
    if (desc.kind === 'struct' || desc.kind === 'union') {
      const fields = this.#objectType(desc as TypeDescOf<'struct'>, '  ');
      const source = fields === 'Record<string, never>'
        ? `${doc}export type ${name} = Record<string, never>;`
        : `${doc}export interface ${name} ${fields}`;
      this.#declarations.push({ name, source });
    } else {
      this.#declarations.push({ name, source: `${doc}export type ${name} = ${body()};` });
    }
    return name;
  }
}

/** The doc comment of a member: its C type, offset and bits. */
function memberDoc(m: MemberDesc, base: number): string {
  const c = cTypeName(m.type);
  const at = `offset ${base + m.offset}`;
  return m.bitSize !== undefined ? `${c}:${m.bitSize} (${at}, bit ${m.bitOffset ?? 0})` : `${c} (${at})`;
}

/** How C spells a descriptor's type, as far as the descriptor knows. */
export function cTypeName(d: TypeDesc): string {
  if (d.kind === 'array') return `${cTypeName(d.elem)}[${d.count}]`;
  if ('name' in d && d.name) return d.name;
  switch (d.kind) {
    case 'int': return d.bool ? '_Bool' : `${d.signed ? 's' : 'u'}${d.size * 8}`;
    case 'float': return d.size === 4 ? 'float' : 'double';
    case 'ptr': return 'void *';
    case 'enum': return 'enum';
    case 'struct': case 'union': return `anonymous ${d.kind}`;
    case 'bytes': return `${d.size} bytes`;
  }
}
