/**
 * Map definitions as libbpf derives them: BTF-defined maps in `.maps` (`__uint`, `__type`,
 * `__array` members of an anonymous struct) and legacy `struct bpf_map_def` maps in `maps`.
 * Malformed definitions give an {@link ElfError} `E_BAD_ELF` located in `.maps` or `maps`.
 */
import { MapType, mapTypeName } from '../../runtime/uapi/index.js';
import { failAt, hex, type Place } from '../btf/section.js';
import type { Btf } from '../btf/types.js';
import { symbolsByName } from './data.js';
import { ElfError, RelocType, SHN, SymbolType, type ElfFile, type ElfSection } from './elf64.js';

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
