/**
 * BTF types to the runtime's type descriptors (runtime/values.ts): the compact description of
 * a map's key and value, and of the global variables of a data section, that travels in the
 * compiled module's manifest so the runtime can decode and encode them without BTF.
 *
 * Typedefs and const/volatile/restrict/type_tag modifiers are looked through; the outermost
 * typedef's name is kept as the descriptor's `name` (`__u32`, `flow_stats_t`), else the type's
 * own C spelling (`unsigned int`, `struct data_t`, `enum state`). Pointers are not followed, so
 * the only cycles BTF can have (through pointers) never reach the builder. A forged graph that
 * nests types directly (a struct containing itself, or exponentially shared members) is cut off
 * at {@link TYPEDESC_MAX_NESTING} levels and {@link TYPEDESC_MAX_NODES} descriptor nodes: past
 * them, a type becomes opaque `bytes` of its size. Members BTF places outside their struct, or
 * bitfields on types that cannot hold them, are left out.
 */
import { ElfError } from '../elf/elf64.js';
import type { Btf, BtfComposite, BtfMember, BtfType } from './types.js';
import type { DataVariable } from '../elf/data.js';
import type { MapDef } from '../elf/map-defs.js';
import type { MemberDesc, TypeDesc } from '../../runtime/values.js';

/** Deepest nesting of structs and arrays a descriptor describes; deeper types are opaque bytes. */
export const TYPEDESC_MAX_NESTING = 16;
/** Most descriptor nodes one {@link typeDescOf} call builds; past it, types are opaque bytes. */
export const TYPEDESC_MAX_NODES = 2048;

/** The descriptor of an unsigned 32-bit integer (array map keys, internal map keys). */
export const U32_DESC: TypeDesc = { kind: 'int', size: 4, signed: false, name: '__u32' };

/**
 * The descriptor of a BTF type (see the file comment).
 *
 * @throws ElfError for a type id that is not in `btf`, or a cyclic typedef chain.
 */
export function typeDescOf(btf: Btf, typeId: number): TypeDesc {
  return new DescBuilder(btf).build(typeId, 0);
}

/** A global variable of a data section, as the runtime sees it. */
export interface VariableDesc {
  readonly name: string;
  /** Byte offset in the section (the internal map's value). */
  readonly offset: number;
  readonly size: number;
  readonly type: TypeDesc;
}

/** What {@link mapTypeDescs} knows of a map's contents; `undefined` parts are plain bytes. */
export interface MapTypeDescs {
  key?: TypeDesc;
  value?: TypeDesc;
  /** Internal (data section) maps: the section's variables, by offset. */
  variables?: VariableDesc[];
}

/** The parts of a map spec {@link mapTypeDescs} reads (a MapSpec, or a MapDef such as an inner map). */
export type MapTypeSource = MapDef & { readonly internal?: boolean; readonly variables?: readonly DataVariable[] };

/**
 * The descriptors of a map's key and value, from their BTF types.
 *
 * - User maps: `key` and `value` from `__type(key, T)` / `__type(value, T)` (or a legacy map's
 *   `BPF_ANNOTATE_KV_PAIR`); absent when the map has no such type (`__uint(key_size, 4)`, ring
 *   buffers, prog arrays) or when the type's size disagrees with the map's.
 * - Internal maps (`.data`, `.rodata`, `.bss`, ...): `variables` from the section's DATASEC
 *   (placed by the symbol table), `key` a `__u32` (the array index) and `value` a struct named
 *   after the section whose members are the variables, so the whole section decodes to
 *   `{ config: { step: 2, limit: 1000 }, calls_left: 3 }`. Without BTF: `variables: []` and no
 *   value type.
 *
 * Type information is advisory: a BTF type that cannot be described (the loader already checked
 * its size) leaves that part out rather than failing the compilation.
 */
export function mapTypeDescs(spec: MapTypeSource, btf?: Btf): MapTypeDescs {
  const describe = (id: number | undefined, size: number): TypeDesc | undefined => {
    if (id === undefined || !btf) return undefined;
    const desc = advisory(() => typeDescOf(btf, id));
    return desc && desc.size === size ? desc : undefined;
  };
  if (spec.internal) {
    const variables: VariableDesc[] = [];
    for (const v of spec.variables ?? []) {
      if (v.typeId === 0 || !btf) continue; // an extern function listed in the DATASEC
      const type = advisory(() => typeDescOf(btf, v.typeId));
      const fits = type && type.size <= v.size && v.offset + type.size <= spec.valueSize;
      variables.push({ name: v.name, offset: v.offset, size: v.size, type: fits ? type : { kind: 'bytes', size: Math.min(v.size, spec.valueSize - v.offset) } });
    }
    const value: TypeDesc | undefined = variables.length === 0 ? undefined : {
      kind: 'struct', name: spec.name, size: spec.valueSize,
      members: variables.map((v) => ({ name: v.name, offset: v.offset, type: v.type })),
    };
    return { key: U32_DESC, ...(value ? { value } : {}), variables };
  }
  const key = describe(spec.keyTypeId, spec.keySize);
  const value = describe(spec.valueTypeId, spec.valueSize);
  return { ...(key ? { key } : {}), ...(value ? { value } : {}) };
}

function advisory<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof ElfError) return undefined;
    throw e;
  }
}

/** Builds one descriptor, counting nodes against {@link TYPEDESC_MAX_NODES}. */
class DescBuilder {
  private nodes = 0;

  constructor(private readonly btf: Btf) {}

  build(id: number, depth: number): TypeDesc {
    const btf = this.btf;
    const t = btf.resolve(id);
    const typedefName = this.outerTypedef(id);
    if (++this.nodes > TYPEDESC_MAX_NODES || depth > TYPEDESC_MAX_NESTING) return this.opaque(t, typedefName);
    // The name right after the kind, where a reader of the manifest looks for it.
    const named = <D extends TypeDesc>(d: D, name: string | undefined): D => {
      if (!name) return d;
      const { kind, ...rest } = d;
      return { kind, name, ...rest } as unknown as D;
    };
    switch (t.kind) {
      case 'int': {
        const isChar = t.char || (t.size === 1 && t.name === 'char');
        return named({
          kind: 'int', size: t.size, signed: t.signed, ...(t.bool ? { bool: true } : {}), ...(isChar ? { char: true } : {}),
        }, typedefName ?? t.name);
      }
      case 'float':
        return t.size === 4 || t.size === 8
          ? named({ kind: 'float', size: t.size }, typedefName ?? t.name)
          : this.opaque(t, typedefName ?? t.name);
      case 'ptr':
        return named({ kind: 'ptr', size: 8 }, typedefName ?? btf.describe(t.id));
      case 'enum': case 'enum64':
        return named({
          kind: 'enum', size: t.size, signed: t.signed,
          values: t.values.map((v) => ({ name: v.name, value: v.value.toString() })),
        }, typedefName ?? (t.name ? `enum ${t.name}` : undefined));
      case 'array': {
        const elem = this.build(t.type, depth + 1);
        const size = elem.size * t.nelems;
        return size > 0xffffffff ? this.opaque(t, undefined) : { kind: 'array', elem, count: t.nelems, size };
      }
      case 'struct': case 'union':
        return named({ kind: t.kind, size: t.size, members: this.members(t, depth) }, typedefName ?? (t.name ? `${t.kind} ${t.name}` : undefined));
      case 'var':
        return this.build(t.type, depth);
      default:
        // void, forward declarations, functions, data sections, tags: opaque.
        return this.opaque(t, typedefName);
    }
  }

  private members(t: BtfComposite, depth: number): MemberDesc[] {
    const out: MemberDesc[] = [];
    for (const m of t.members) {
      const member = this.member(t, m, depth);
      if (member) out.push(member);
    }
    return out;
  }

  private member(t: BtfComposite, m: BtfMember, depth: number): MemberDesc | undefined {
    const type = this.build(m.type, depth + 1);
    let bit = m.bitOffset;
    let bitSize = m.bitfieldSize;
    if (bitSize === 0) {
      // Without kind_flag, a bitfield is an int member whose int type has fewer bits than its size.
      const resolved = this.btf.resolve(m.type);
      if (resolved.kind === 'int' && (resolved.bits < resolved.size * 8 || resolved.bitOffset !== 0)) {
        bit += resolved.bitOffset;
        bitSize = resolved.bits;
      } else if (bit % 8 !== 0 && (type.kind === 'int' || type.kind === 'enum')) {
        bitSize = type.size * 8;
      }
    }
    if (bitSize > 0) {
      if ((type.kind !== 'int' && type.kind !== 'enum') || bitSize > type.size * 8 || bit + bitSize > t.size * 8) return undefined;
      return { name: m.name, offset: Math.floor(bit / 8), bitOffset: bit % 8, bitSize, type };
    }
    const offset = bit / 8;
    if (!Number.isInteger(offset) || offset + type.size > t.size) return undefined;
    return { name: m.name, offset, type };
  }

  /** The name of the first typedef on the way from `id` to the type it stands for. */
  private outerTypedef(id: number): string | undefined {
    let t: BtfType = this.btf.type(id);
    // btf.resolve(id) succeeded, so the chain is finite.
    for (;;) {
      switch (t.kind) {
        case 'typedef': return t.name;
        case 'const': case 'volatile': case 'restrict': case 'type_tag':
          t = this.btf.types[t.type]!;
          continue;
        default:
          return undefined;
      }
    }
  }

  private opaque(t: BtfType, name: string | undefined): TypeDesc {
    const size = advisory(() => this.btf.sizeOf(t.id)) ?? 0;
    const spelled = name ?? (t.kind === 'void' ? 'void' : t.name ? this.btf.describe(t.id) : undefined);
    return spelled ? { kind: 'bytes', size, name: spelled } : { kind: 'bytes', size };
  }
}
