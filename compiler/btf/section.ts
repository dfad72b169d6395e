/**
 * What the BTF readers (types.ts, ext.ts, compiler/elf/map-defs.ts, compiler/elf/data.ts) share:
 * where an error is reported, bounds-checked reads of a section in either byte order, and the
 * byte order told by the magic number.
 */
import { ErrorCode } from '../../runtime/errors.js';
import { ElfError } from '../elf/elf64.js';

/** Where errors found in a section are reported. */
export interface Place {
  section: string;
  /** File offset of the section's first byte, when known. */
  fileOffset: number | undefined;
}

/** `0x` and the number in hex, for messages. */
export function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** Throws the {@link ElfError} `E_BAD_ELF` for the field at `offset` of the section `place`. */
export function failAt(place: Place, offset: number, detail: string): never {
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

/** Bounds-checked little/big-endian reads of one section. */
export class SectionReader {
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

/** Detects the byte order from the magic number (true: little-endian). */
export function byteOrder(bytes: Uint8Array, place: Place, what: string): boolean {
  if (bytes.length < 2) failAt(place, 0, `the ${what} section is ${bytes.length} bytes long, too short for the magic number`);
  const v = (bytes[0]! << 8) | bytes[1]!;
  if (v === 0x9feb) return true;
  if (v === 0xeb9f) return false;
  failAt(place, 0, `the ${what} section does not start with the BTF magic number 0xeb9f (it starts with ${hex(bytes[0]!)} ${hex(bytes[1]!)})`);
}
