/**
 * `.BTF.ext`: the function, line and CO-RE relocation records of an object's programs, checked
 * against the parsed `.BTF` (types.ts). Malformed input gives an {@link ElfError} `E_BAD_ELF`
 * located in section `.BTF.ext`.
 */
import type { ElfError } from '../elf/elf64.js';
import { BTF_VERSION, type Btf } from './types.js';
import { byteOrder, failAt, hex, SectionReader, type BtfParseOptions, type Place } from './section.js';

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
