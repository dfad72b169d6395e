/**
 * The pcapng format (draft-ietf-opsawg-pcapng; libpcap sf-pcapng.c): blocks of
 * `type, total length, body, total length`, in the byte order of their section.
 *
 * Read: section header blocks (either byte order; a later section may change it), interface
 * description blocks (link type, snapshot length, if_name, if_tsresol, if_tsoffset), enhanced,
 * simple and (obsolete) packet blocks; other blocks are skipped. Checked as libpcap checks: block
 * lengths (at least 12, a multiple of 4, at most 16 MiB, header and trailer equal), the first
 * section header's version (1.0 or 1.2), option lengths, a packet's interface id, and a captured
 * length within its interface's snapshot length. Unlike libpcap, interfaces may differ in link type
 * and snapshot length (each frame carries its own), and sections may differ in byte order.
 */
import { CaptureError, adjustSnapLen, maxSnapLen, type CaptureFrame, type CaptureInterface } from './frame.js';
import { viewOf, type RecordParser } from './parser.js';

/** pcapng block types. */
export const BlockType = {
  SHB: 0x0a0d0d0a,
  IDB: 0x00000001,
  PB: 0x00000002,
  SPB: 0x00000003,
  EPB: 0x00000006,
} as const;

/** The section header's byte-order magic. */
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Option codes read from interface description blocks. */
export const IdbOption = { END: 0, NAME: 2, TSRESOL: 9, FCSLEN: 13, TSOFFSET: 14 } as const;
/** libpcap's limits: a section header of at most 1 MiB, other blocks of at most 16 MiB. */
export const MAX_SHB_SIZE = 1024 * 1024;
export const MAX_BLOCK_SIZE = 16 * 1024 * 1024;

/** True when the first four bytes are a pcapng section header block type. */
export function isPcapngMagic(first4: Uint8Array): boolean {
  return viewOf(first4).getUint32(0, true) === BlockType.SHB;
}

type State = 'block-header' | 'shb-bom' | 'block-body';

/** Push parser for pcapng files (see RecordParser). */
export class PcapngParser implements RecordParser {
  private state: State = 'block-header';
  private le = true;
  private blockType = 0;
  private blockLength = 0;
  private blockOffset = 0;
  private section = -1;
  private sectionIfaces: CaptureInterface[] = [];
  private index = 0;
  /** Every interface of the file, in order. */
  readonly interfaces: CaptureInterface[] = [];

  need(): number {
    if (this.state === 'block-header') return 8;
    if (this.state === 'shb-bom') return 4;
    return this.blockLength - (this.blockType === BlockType.SHB ? 12 : 8);
  }

  step(bytes: Uint8Array, offset: number): CaptureFrame | undefined {
    const dv = viewOf(bytes);
    if (this.state === 'block-header') {
      this.blockOffset = offset;
      this.blockType = dv.getUint32(0, this.le);
      if (this.blockType === BlockType.SHB) {
        this.blockLength = dv.getUint32(4, true); // the byte order is known after the next 4 bytes
        this.state = 'shb-bom';
        return undefined;
      }
      if (this.section < 0) {
        throw new CaptureError('bad-magic', 'not a pcapng file: the first block is not a section header block', this.at());
      }
      this.blockLength = dv.getUint32(4, this.le);
      this.checkLength(MAX_BLOCK_SIZE);
      this.state = 'block-body';
      return undefined;
    }
    if (this.state === 'shb-bom') {
      const bom = dv.getUint32(0, true);
      if (bom === BYTE_ORDER_MAGIC) {
        this.le = true;
      } else if (dv.getUint32(0, false) === BYTE_ORDER_MAGIC) {
        this.le = false;
        this.blockLength = swap32(this.blockLength);
      } else {
        throw new CaptureError(this.section < 0 ? 'bad-magic' : 'bad-byte-order',
          `section header block with a bad byte-order magic 0x${dv.getUint32(0, false).toString(16).padStart(8, '0')}`, this.at());
      }
      if (this.blockLength < 28) {
        throw new CaptureError('bad-block-length', `section header block length ${this.blockLength} is below 28`, this.at());
      }
      this.checkLength(MAX_SHB_SIZE);
      this.state = 'block-body';
      return undefined;
    }
    this.state = 'block-header';
    const trailer = dv.getUint32(bytes.length - 4, this.le);
    if (trailer !== this.blockLength) {
      throw new CaptureError('block-length-mismatch', `block length ${this.blockLength} in the header but ${trailer} in the trailer`, this.at());
    }
    const body = bytes.subarray(0, bytes.length - 4);
    switch (this.blockType) {
      case BlockType.SHB: this.readSectionHeader(body); return undefined;
      case BlockType.IDB: this.readInterface(body); return undefined;
      case BlockType.EPB: return this.readPacket(body, false);
      case BlockType.PB: return this.readPacket(body, true);
      case BlockType.SPB: return this.readSimplePacket(body);
      default: return undefined; // unknown blocks are skipped, as the specification asks
    }
  }

  end(have: number, offset: number): CaptureError | undefined {
    if (this.state === 'block-header' && have === 0 && this.section >= 0) return undefined;
    if (this.state === 'block-header') {
      return new CaptureError(this.section < 0 ? 'truncated-file-header' : 'truncated-block', `block header cut short: ${have} of 8 bytes`, { frame: this.index, offset });
    }
    return new CaptureError('truncated-block', `block cut short: ${have} of the ${this.need()} bytes that follow at offset ${offset}`, this.at());
  }

  private at(): { frame: number; offset: number } {
    return { frame: this.index, offset: this.blockOffset };
  }

  private checkLength(max: number): void {
    const n = this.blockLength;
    if (n < 12 || n % 4 !== 0) {
      throw new CaptureError('bad-block-length', `block length ${n} is below 12 or not a multiple of 4`, this.at());
    }
    if (n > max) throw new CaptureError('block-too-large', `block length ${n} is above the maximum of ${max}`, this.at());
  }

  private tooShort(what: string): CaptureError {
    return new CaptureError('block-too-short', `${what} is longer than its block`, this.at());
  }

  private readSectionHeader(body: Uint8Array): void {
    // body: major, minor, section length (8), options (the byte-order magic was read already)
    const dv = viewOf(body);
    const major = dv.getUint16(0, this.le);
    const minor = dv.getUint16(2, this.le);
    const ok = this.section < 0 ? major === 1 && (minor === 0 || minor === 2) : major === 1;
    if (!ok) throw new CaptureError('bad-version', `unsupported pcapng version ${major}.${minor}`, this.at());
    this.section++;
    this.sectionIfaces = [];
  }

  private readInterface(body: Uint8Array): void {
    if (body.length < 8) throw this.tooShort('the interface description');
    const dv = viewOf(body);
    const linkType = dv.getUint16(0, this.le);
    const snapField = dv.getUint32(4, this.le);
    const iface: CaptureInterface = {
      index: this.interfaces.length, id: this.sectionIfaces.length, section: this.section, linkType,
      snapLenField: snapField, snapLen: adjustSnapLen(linkType, snapField), tsUnitsPerSecond: 1_000_000n, tsOffset: 0n,
    };
    let seenRes = false;
    let seenOffset = false;
    for (let p = 8; p < body.length;) {
      if (body.length - p < 4) throw new CaptureError('bad-option', 'option header cut short', this.at());
      const code = dv.getUint16(p, this.le);
      const len = dv.getUint16(p + 2, this.le);
      const padded = (len + 3) & ~3;
      if (p + 4 + padded > body.length) throw new CaptureError('bad-option', `option ${code} of ${len} bytes runs past its block`, this.at());
      const v = p + 4;
      p += 4 + padded;
      if (code === IdbOption.END) {
        if (len !== 0) throw new CaptureError('bad-option', `opt_endofopt with length ${len}`, this.at());
        break;
      }
      if (code === IdbOption.TSRESOL) {
        if (len !== 1 || seenRes) throw new CaptureError('bad-option', 'if_tsresol must appear once with length 1', this.at());
        seenRes = true;
        const r = body[v]!;
        if (r & 0x80) {
          if ((r & 0x7f) > 63) throw new CaptureError('bad-option', `if_tsresol 2^-${r & 0x7f} is too fine`, this.at());
          iface.tsUnitsPerSecond = 1n << BigInt(r & 0x7f);
        } else {
          if (r > 19) throw new CaptureError('bad-option', `if_tsresol 10^-${r} is too fine`, this.at());
          iface.tsUnitsPerSecond = 10n ** BigInt(r);
        }
      } else if (code === IdbOption.TSOFFSET) {
        if (len !== 8 || seenOffset) throw new CaptureError('bad-option', 'if_tsoffset must appear once with length 8', this.at());
        seenOffset = true;
        iface.tsOffset = dv.getBigInt64(v, this.le);
      } else if (code === IdbOption.NAME) {
        iface.name = new TextDecoder().decode(body.subarray(v, v + len)).replace(/\0+$/, '');
      }
    }
    this.sectionIfaces.push(iface);
    this.interfaces.push(iface);
  }

  private iface(id: number): CaptureInterface {
    const iface = this.sectionIfaces[id];
    if (!iface) {
      throw new CaptureError('no-interface', `a packet names interface ${id}, but its section has ${this.sectionIfaces.length} interface description blocks before it`, this.at());
    }
    return iface;
  }

  private readPacket(body: Uint8Array, obsolete: boolean): CaptureFrame {
    if (body.length < 20) throw this.tooShort('the packet block header');
    const dv = viewOf(body);
    const id = obsolete ? dv.getUint16(0, this.le) : dv.getUint32(0, this.le);
    const t = (BigInt(dv.getUint32(4, this.le)) << 32n) | BigInt(dv.getUint32(8, this.le));
    const caplen = dv.getUint32(12, this.le);
    const len = dv.getUint32(16, this.le);
    const iface = this.iface(id);
    this.checkCaplen(caplen, iface);
    if (caplen > body.length - 20) throw this.tooShort(`a captured length of ${caplen}`);
    return this.frame(body.slice(20, 20 + caplen), len, iface, t);
  }

  private readSimplePacket(body: Uint8Array): CaptureFrame {
    if (body.length < 4) throw this.tooShort('the simple packet block header');
    const len = viewOf(body).getUint32(0, this.le);
    const iface = this.iface(0);
    const caplen = Math.min(len, iface.snapLen);
    if (caplen > body.length - 4) throw this.tooShort(`a captured length of ${caplen}`);
    return this.frame(body.slice(4, 4 + caplen), len, iface, undefined);
  }

  private checkCaplen(caplen: number, iface: CaptureInterface): void {
    if (caplen > maxSnapLen(iface.linkType)) {
      throw new CaptureError('caplen-over-max', `captured length ${caplen} is above the maximum of ${maxSnapLen(iface.linkType)} for this link type`, this.at());
    }
    if (caplen > iface.snapLen) {
      throw new CaptureError('caplen-over-snaplen', `captured length ${caplen} is above the interface's snapshot length ${iface.snapLen}`, this.at());
    }
  }

  private frame(data: Uint8Array, len: number, iface: CaptureInterface, t: bigint | undefined): CaptureFrame {
    let ns = 0n;
    if (t !== undefined) {
      const u = iface.tsUnitsPerSecond;
      ns = (t / u + iface.tsOffset) * 1_000_000_000n + ((t % u) * 1_000_000_000n) / u;
    }
    return { index: this.index++, timestampNs: ns, data, originalLength: len, interface: iface, offset: this.blockOffset };
  }
}

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}
