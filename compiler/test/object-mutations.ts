/**
 * Damaging ELF objects and compiled modules on purpose, for compiler/test/object-errors.test.ts.
 *
 * Objects: a mutation edits one field of one family (`Family`) of a committed fixture. The fields
 * of each family are found in the pristine object first (`sitesOf`): ELF header fields, section
 * header fields, symbol info/section/value/size, relocation offset/type/symbol of code, `.maps`
 * and BTF relocations, every byte of `.BTF` and `.BTF.ext`, map definition attributes (the array
 * lengths behind BTF `__uint(...)` and the words of legacy `struct bpf_map_def`), and instruction
 * fields. A field gets an interesting value, is nudged by a small delta, or has a bit flipped.
 *
 * Modules: `tamperManifest` replaces the manifest a compiled module carries.
 */
import fc from 'fast-check';
import { parseBtf } from '../btf/types.js';
import { parseElf, SectionType } from '../elf/elf64.js';
import { appendCustomSection } from '../sections.js';
import { MANIFEST_SECTION, type Manifest } from '../../runtime/abi.js';

/** Where a mutation goes. */
export type Family = 'header' | 'sectionHeader' | 'symbol' | 'relocation' | 'btf' | 'mapDefinition' | 'code' | 'bytes' | 'truncate';

/** Every family. */
export const FAMILIES: readonly Family[] = ['header', 'sectionHeader', 'symbol', 'relocation', 'btf', 'mapDefinition', 'code', 'bytes', 'truncate'];

/** A field of the file: `width` little-endian bytes at `at`. */
export interface Site {
  at: number;
  width: 1 | 2 | 4 | 8;
}

/** One edit: `site` picks the field, `op` what to do, `value` the value or bit (all reduced modulo what applies). */
export interface Mutation {
  family: Family;
  site: number;
  op: number;
  value: number;
}

const INTERESTING: readonly bigint[] = [
  0n, 1n, 2n, 3n, 4n, 5n, 7n, 8n, 12n, 15n, 16n, 20n, 22n, 23n, 24n, 27n, 30n, 31n, 33n, 64n, 0x7fn, 0x80n, 0xffn, 0x100n,
  0x200n, 0x201n, 0x1000n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x400000n, 0x400001n, 1n << 27n, 1n << 28n,
  0x4000_0000n, 0x7fff_ffffn, 0x8000_0000n, 0xffff_fffen, 0xffff_ffffn, 1n << 32n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n,
];
const DELTAS: readonly bigint[] = [-64n, -16n, -8n, -4n, -1n, 1n, 4n, 8n, 16n, 24n, 64n, 4096n];

/** The fields each family edits, per fixture (computed once from the pristine object). */
export type Sites = Record<Exclude<Family, 'bytes' | 'truncate'>, Site[]>;

/** The fields of every family in `bytes` (a well-formed object). */
export function sitesOf(bytes: Uint8Array): Sites {
  const elf = parseElf(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sites: Sites = { header: [], sectionHeader: [], symbol: [], relocation: [], btf: [], mapDefinition: [], code: [] };
  for (const [at, width] of [[4, 1], [5, 1], [6, 1], [16, 2], [18, 2], [20, 4], [40, 8], [52, 2], [58, 2], [60, 2], [62, 2]] as const) {
    sites.header.push({ at, width });
  }
  const shoff = Number(view.getBigUint64(40, true));
  for (const s of elf.sections) {
    const h = shoff + s.index * 64;
    for (const [f, width] of [[0, 4], [4, 4], [8, 8], [24, 8], [32, 8], [40, 4], [44, 4], [56, 8]] as const) sites.sectionHeader.push({ at: h + f, width });
    if (s.type === SectionType.SYMTAB) {
      for (let at = s.offset; at + 24 <= s.offset + s.size; at += 24) {
        sites.symbol.push({ at: at + 4, width: 1 }, { at: at + 6, width: 2 }, { at: at + 8, width: 8 }, { at: at + 16, width: 8 });
      }
    }
    const target = elf.sections[s.info];
    if (s.type === SectionType.REL && target && !target.name.startsWith('.debug')) {
      for (let at = s.offset; at + 16 <= s.offset + s.size; at += 16) {
        sites.relocation.push({ at, width: 8 }, { at: at + 8, width: 4 }, { at: at + 12, width: 4 });
      }
    }
    if (s.name === '.BTF' || s.name === '.BTF.ext') {
      for (let at = s.offset; at < s.offset + s.size; at++) sites.btf.push({ at, width: 1 });
    }
    if (s.type === SectionType.PROGBITS && (s.flags & 4) !== 0) {
      for (let at = s.offset; at + 8 <= s.offset + s.size; at += 8) {
        sites.code.push({ at, width: 1 }, { at: at + 1, width: 1 }, { at: at + 2, width: 2 }, { at: at + 4, width: 4 });
      }
    }
    if (s.name === 'maps') {
      for (let at = s.offset; at + 4 <= s.offset + s.size; at += 4) sites.mapDefinition.push({ at, width: 4 });
    }
  }
  for (const a of btfMapAttributes(bytes)) sites.mapDefinition.push({ at: a.at, width: 4 });
  return sites;
}

/** A BTF map definition attribute (`__uint(name, value)`): where its value (an array length) is in the file. */
export interface MapAttribute {
  map: string;
  attribute: string;
  at: number;
}

/** The `__uint` attributes of every map of `.maps`: each value is the length of a BTF array type. */
export function btfMapAttributes(bytes: Uint8Array): MapAttribute[] {
  const elf = parseElf(bytes);
  const section = elf.sectionByName('.BTF');
  if (!section || !elf.sectionByName('.maps')) return [];
  const btf = parseBtf(section.data());
  const datasec = btf.typeByName('.maps', 'datasec');
  const out: MapAttribute[] = [];
  for (const v of datasec?.vars ?? []) {
    const variable = btf.types[v.type]!;
    if (variable.kind !== 'var') continue;
    const struct = btf.resolve(variable.type);
    if (struct.kind !== 'struct') continue;
    for (const m of struct.members) {
      const ptr = btf.resolve(m.type);
      if (ptr.kind !== 'ptr') continue;
      const array = btf.resolve(ptr.type);
      // btf_type (12 bytes), then btf_array { type, index_type, nelems }.
      if (array.kind === 'array') out.push({ map: variable.name, attribute: m.name, at: section.offset + array.offset + 20 });
    }
  }
  return out;
}

function readField(b: Uint8Array, s: Site): bigint {
  let v = 0n;
  for (let i = s.width - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[s.at + i]!);
  return v;
}

function writeField(b: Uint8Array, s: Site, v: bigint): void {
  let u = BigInt.asUintN(s.width * 8, v);
  for (let i = 0; i < s.width; i++) {
    b[s.at + i] = Number(u & 0xffn);
    u >>= 8n;
  }
}

/** Applies `mutations` to a copy of `bytes`, whose fields `sites` lists (from {@link sitesOf}). */
export function mutateObject(bytes: Uint8Array, sites: Sites, mutations: readonly Mutation[]): Uint8Array {
  let b = bytes.slice();
  for (const m of mutations) {
    if (m.family === 'truncate') {
      b = b.slice(0, m.site % (b.length + 1));
      continue;
    }
    if (m.family === 'bytes') {
      if (b.length === 0) continue;
      const pos = m.site % b.length;
      b[pos] = m.op % 2 === 0 ? b[pos]! ^ (1 << (m.value % 8)) : m.value & 0xff;
      continue;
    }
    const list = sites[m.family];
    if (list.length === 0) continue;
    const s = list[m.site % list.length]!;
    if (s.at + s.width > b.length) continue;
    const old = readField(b, s);
    switch (m.op % 3) {
      case 0: writeField(b, s, INTERESTING[m.value % INTERESTING.length]!); break;
      case 1: writeField(b, s, old + DELTAS[m.value % DELTAS.length]!); break;
      default: writeField(b, s, old ^ (1n << BigInt(m.value % (s.width * 8)))); break;
    }
  }
  return b;
}

/** One mutation of `family`. */
export function arbMutation(family: Family): fc.Arbitrary<Mutation> {
  return fc.record({ family: fc.constant(family), site: fc.nat(), op: fc.nat(), value: fc.nat() });
}

/** Offset in the file of word `word` (0 type, 1 key_size, 2 value_size, 3 max_entries, 4 flags) of legacy map `name`. */
export function legacyMapWord(bytes: Uint8Array, name: string, word: number): number {
  const elf = parseElf(bytes);
  const section = elf.sectionByName('maps')!;
  const sym = elf.symbols.find((s) => s.name === name && s.sectionIndex === section.index)!;
  return section.offset + sym.value + word * 4;
}

/** Writes a little-endian u32 into `bytes` and returns them. */
export function setU32(bytes: Uint8Array, at: number, v: number): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, v, true);
  return bytes;
}

function readLeb(b: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (let i = at; ; i++) {
    const x = b[i]!;
    value += (x & 0x7f) * 2 ** shift;
    shift += 7;
    if ((x & 0x80) === 0) return [value, i + 1];
  }
}

/**
 * The module with its manifest replaced by `edit(manifest)` (or the edited manifest when `edit`
 * returns nothing). The manifest is a custom section after the code, so the instruction map stays valid.
 */
export function tamperManifest(wasm: Uint8Array, edit: (m: Manifest) => unknown): Uint8Array {
  const kept: Uint8Array[] = [wasm.subarray(0, 8)];
  let manifest: Manifest | undefined;
  for (let at = 8; at < wasm.length;) {
    const [size, body] = readLeb(wasm, at + 1);
    const end = body + size;
    if (wasm[at] === 0) {
      const [len, name] = readLeb(wasm, body);
      if (new TextDecoder().decode(wasm.subarray(name, name + len)) === MANIFEST_SECTION) {
        manifest = JSON.parse(new TextDecoder().decode(wasm.subarray(name + len, end))) as Manifest;
        at = end;
        continue;
      }
    }
    kept.push(wasm.subarray(at, end));
    at = end;
  }
  const out = new Uint8Array(kept.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of kept) {
    out.set(p, o);
    o += p.length;
  }
  const edited = edit(manifest!);
  return appendCustomSection(out, MANIFEST_SECTION, new TextEncoder().encode(JSON.stringify(edited === undefined ? manifest : edited)));
}
