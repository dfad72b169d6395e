/**
 * The pcap savefile format (pcap-savefile(5), libpcap sf-pcap.c): a 24-byte file header, then a
 * 16-byte record header and the captured bytes per frame, in the byte order of the magic number.
 *
 * Read as libpcap reads it: magic 0xa1b2c3d4 (microseconds), 0xa1b23c4d (nanoseconds) and
 * 0xa1b2cd34 (Kuznetzov's patched format: 24-byte record headers), either byte order; versions 2.0
 * to 2.4 and DG/UX's 543.0 (caplen and len swapped before 2.3, maybe swapped in 2.3); a captured
 * length above the link type's maximum snapshot is an error; one above the file's snapshot length
 * (but within the maximum) is cut to the snapshot length.
 */
import {
  CaptureError, adjustSnapLen, maxSnapLen, LinkType, type CaptureFrame, type CaptureInterface,
} from './frame.js';
import { viewOf, type RecordParser } from './parser.js';

/** pcap magic numbers, as read in the file's own byte order. */
export const PcapMagic = {
  MICRO: 0xa1b2c3d4,
  NANO: 0xa1b23c4d,
  KUZNETZOV: 0xa1b2cd34,
} as const;

/** Size of the file header. */
export const PCAP_HEADER_SIZE = 24;
/** Size of a record header (Kuznetzov's format: 24). */
export const PCAP_RECORD_HEADER_SIZE = 16;

/** Facts from a pcap file header. */
export interface PcapHeader {
  littleEndian: boolean;
  nanosecond: boolean;
  versionMajor: number;
  versionMinor: number;
  linkType: number;
  /** The header's upper six link-type bits (FCS length information), as libpcap's linktype_ext. */
  linkTypeExt: number;
  snapLen: number;
}

/** True when the first four bytes are a pcap magic number in either byte order. */
export function isPcapMagic(first4: Uint8Array): boolean {
  const dv = viewOf(first4);
  for (const le of [true, false]) {
    const m = dv.getUint32(0, le);
    if (m === PcapMagic.MICRO || m === PcapMagic.NANO || m === PcapMagic.KUZNETZOV) return true;
  }
  return false;
}

type State = 'header' | 'record' | 'body';

/** Push parser for pcap files (see RecordParser). */
export class PcapParser implements RecordParser {
  private state: State = 'header';
  private le = true;
  private recordSize = PCAP_RECORD_HEADER_SIZE;
  private lengths: 'no' | 'yes' | 'maybe' = 'no';
  private unitsPerSecond = 1_000_000n;
  private iface: CaptureInterface | undefined;
  private index = 0;
  // The record being read.
  private recordOffset = 0;
  private caplen = 0;
  private keep = 0;
  private wireLen = 0;
  private tsNs = 0n;
  /** The file header, once read. */
  header: PcapHeader | undefined;

  need(): number {
    return this.state === 'header' ? PCAP_HEADER_SIZE : this.state === 'record' ? this.recordSize : this.caplen;
  }

  step(bytes: Uint8Array, offset: number): CaptureFrame | undefined {
    if (this.state === 'header') {
      this.readHeader(bytes, offset);
      this.state = 'record';
      return undefined;
    }
    if (this.state === 'record') {
      this.readRecordHeader(bytes, offset);
      if (this.caplen > 0) {
        this.state = 'body';
        return undefined;
      }
      return this.frame(new Uint8Array(0));
    }
    this.state = 'record';
    return this.frame(bytes.slice(0, this.keep));
  }

  end(have: number, offset: number): CaptureError | undefined {
    const at = { frame: this.index, offset: this.state === 'body' ? this.recordOffset : offset };
    if (this.state === 'header') {
      return new CaptureError('truncated-file-header', `the pcap file header needs ${PCAP_HEADER_SIZE} bytes, the file has ${have}`, at);
    }
    if (this.state === 'record') {
      if (have === 0) return undefined;
      return new CaptureError('truncated-record-header', `record header cut short: ${have} of ${this.recordSize} bytes`, at);
    }
    return new CaptureError('truncated-frame', `frame cut short: ${have} of ${this.caplen} captured bytes`, at);
  }

  private readHeader(bytes: Uint8Array, offset: number): void {
    const dv = viewOf(bytes);
    const at = { frame: 0, offset };
    let magic = dv.getUint32(0, true);
    this.le = true;
    if (magic !== PcapMagic.MICRO && magic !== PcapMagic.NANO && magic !== PcapMagic.KUZNETZOV) {
      magic = dv.getUint32(0, false);
      this.le = false;
      if (magic !== PcapMagic.MICRO && magic !== PcapMagic.NANO && magic !== PcapMagic.KUZNETZOV) {
        throw new CaptureError('bad-magic', `not a pcap file (magic 0x${dv.getUint32(0, false).toString(16).padStart(8, '0')})`, at);
      }
    }
    const le = this.le;
    const major = dv.getUint16(4, le);
    const minor = dv.getUint16(6, le);
    if (!((major === 2 && minor <= 4) || (major === 543 && minor === 0))) {
      throw new CaptureError('bad-version', `unsupported pcap version ${major}.${minor}`, { frame: 0, offset: offset + 4 });
    }
    this.lengths = major === 543 || minor < 3 ? 'yes' : minor === 3 ? 'maybe' : 'no';
    const snapField = dv.getUint32(16, le);
    const rawLink = dv.getUint32(20, le);
    const linkType = rawLink & 0x03ffffff;
    let snapLen = adjustSnapLen(linkType, snapField);
    if (magic === PcapMagic.KUZNETZOV) {
      this.recordSize = 24;
      // libpcap assumes a cooked capture with a faked 14-byte Ethernet header.
      if (linkType === LinkType.ETHERNET) snapLen += 14;
    }
    const nano = magic === PcapMagic.NANO;
    this.unitsPerSecond = nano ? 1_000_000_000n : 1_000_000n;
    this.header = {
      littleEndian: le, nanosecond: nano, versionMajor: major, versionMinor: minor,
      linkType, linkTypeExt: rawLink >>> 26, snapLen: snapField,
    };
    this.iface = {
      index: 0, id: 0, section: 0, linkType, snapLenField: snapField, snapLen,
      tsUnitsPerSecond: this.unitsPerSecond, tsOffset: 0n,
    };
  }

  private readRecordHeader(bytes: Uint8Array, offset: number): void {
    const dv = viewOf(bytes);
    const le = this.le;
    const sec = dv.getUint32(0, le);
    const frac = dv.getUint32(4, le);
    let caplen = dv.getUint32(8, le);
    let len = dv.getUint32(12, le);
    if (this.lengths === 'yes' || (this.lengths === 'maybe' && caplen > len)) [caplen, len] = [len, caplen];
    const iface = this.iface!;
    this.recordOffset = offset;
    const max = maxSnapLen(iface.linkType);
    if (caplen > max) {
      throw new CaptureError('caplen-over-max', `captured length ${caplen} is above the maximum of ${max} for this link type`, { frame: this.index, offset });
    }
    this.caplen = caplen;
    // As libpcap: a frame longer than the snapshot length is read whole and cut to it.
    this.keep = Math.min(caplen, iface.snapLen);
    this.wireLen = len;
    this.tsNs = BigInt(sec) * 1_000_000_000n + BigInt(frac) * (1_000_000_000n / this.unitsPerSecond);
  }

  private frame(data: Uint8Array): CaptureFrame {
    return {
      index: this.index++, timestampNs: this.tsNs, data, originalLength: this.wireLen,
      interface: this.iface!, offset: this.recordOffset,
    };
  }
}
