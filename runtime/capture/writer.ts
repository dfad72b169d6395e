/**
 * Writing capture files: pcap (what `--out` writes: the kept frames) and pcapng (used to build the
 * project's test captures; tcpdump 4.99 / libpcap 1.10 cannot write pcapng). Each method returns
 * the bytes of one header, record or block, so a caller can stream them out.
 */
import { Bpf2WasmError, ErrorCode } from '../errors.js';
import { LinkType, MAXIMUM_SNAPLEN } from './frame.js';
import { PcapMagic } from './pcap.js';
import { BYTE_ORDER_MAGIC, BlockType, IdbOption } from './pcapng.js';

/** A frame to write. */
export interface FrameToWrite {
  timestampNs: bigint;
  data: Uint8Array;
  /** The wire length; data.length by default. */
  originalLength?: number;
}

/** Options of a pcap file. */
export interface PcapWriterOptions {
  /** LINKTYPE_* (Ethernet by default). */
  linkType?: number;
  /** Snapshot length in the header (262144 by default). */
  snapLen?: number;
  /** Nanosecond timestamps (magic 0xa1b23c4d); microseconds by default. */
  nanosecond?: boolean;
  /** Write big-endian (default little-endian). */
  bigEndian?: boolean;
}

function badArgument(detail: string): Bpf2WasmError {
  return new Bpf2WasmError(ErrorCode.BadArgument, detail);
}

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw badArgument(`${what} ${v} does not fit in 32 bits`);
  return v;
}

/** Writes pcap files. */
export class PcapWriter {
  private readonly le: boolean;
  private readonly nano: boolean;
  private readonly options: Required<PcapWriterOptions>;

  constructor(options: PcapWriterOptions = {}) {
    this.options = {
      linkType: options.linkType ?? LinkType.ETHERNET, snapLen: options.snapLen ?? MAXIMUM_SNAPLEN,
      nanosecond: options.nanosecond ?? false, bigEndian: options.bigEndian ?? false,
    };
    this.le = !this.options.bigEndian;
    this.nano = this.options.nanosecond;
  }

  /** The 24-byte file header. */
  header(): Uint8Array {
    const out = new Uint8Array(24);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, this.nano ? PcapMagic.NANO : PcapMagic.MICRO, this.le);
    dv.setUint16(4, 2, this.le);
    dv.setUint16(6, 4, this.le);
    dv.setUint32(16, u32(this.options.snapLen, 'snapshot length'), this.le);
    dv.setUint32(20, u32(this.options.linkType, 'link type'), this.le);
    return out;
  }

  /** One record: its 16-byte header and the captured bytes. */
  record(frame: FrameToWrite): Uint8Array {
    const out = new Uint8Array(16 + frame.data.length);
    const dv = new DataView(out.buffer);
    const sec = frame.timestampNs / 1_000_000_000n;
    const frac = frame.timestampNs % 1_000_000_000n;
    if (frame.timestampNs < 0n || sec > 0xffffffffn) throw badArgument(`timestamp ${frame.timestampNs} ns does not fit a pcap record`);
    dv.setUint32(0, Number(sec), this.le);
    dv.setUint32(4, Number(this.nano ? frac : frac / 1000n), this.le);
    dv.setUint32(8, u32(frame.data.length, 'captured length'), this.le);
    dv.setUint32(12, u32(frame.originalLength ?? frame.data.length, 'original length'), this.le);
    out.set(frame.data, 16);
    return out;
  }
}

/** A whole pcap file holding `frames`. */
export function writePcap(frames: Iterable<FrameToWrite>, options: PcapWriterOptions = {}): Uint8Array {
  const w = new PcapWriter(options);
  const parts = [w.header()];
  for (const f of frames) parts.push(w.record(f));
  return concatBytes(parts);
}

/** An interface description for a pcapng file. */
export interface PcapngInterface {
  linkType?: number;
  snapLen?: number;
  name?: string;
  /** The if_tsresol byte (6: microseconds, the default when absent; 9: nanoseconds; 0x80|n: 2^-n). */
  tsResolution?: number;
}

/** Writes pcapng blocks in one byte order. */
export class PcapngWriter {
  private readonly le: boolean;
  private readonly resolutions: bigint[] = [];

  constructor(options: { bigEndian?: boolean } = {}) {
    this.le = !options.bigEndian;
  }

  /** A block of `type` with `body` (padded to 4 bytes) between its lengths. */
  block(type: number, body: Uint8Array): Uint8Array {
    const padded = (body.length + 3) & ~3;
    const total = 12 + padded;
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, type, this.le);
    dv.setUint32(4, total, this.le);
    out.set(body, 8);
    dv.setUint32(total - 4, total, this.le);
    return out;
  }

  /** A section header block (version 1.0, section length unknown); interfaces start again. */
  sectionHeader(): Uint8Array {
    const body = new Uint8Array(16);
    const dv = new DataView(body.buffer);
    dv.setUint32(0, BYTE_ORDER_MAGIC, this.le);
    dv.setUint16(4, 1, this.le);
    dv.setUint16(6, 0, this.le);
    dv.setBigInt64(8, -1n, this.le);
    this.resolutions.length = 0;
    return this.block(BlockType.SHB, body);
  }

  /** An interface description block; its id is the number of interfaces before it in the section. */
  interfaceDescription(iface: PcapngInterface = {}): Uint8Array {
    const opts: Uint8Array[] = [];
    if (iface.name !== undefined) opts.push(this.option(IdbOption.NAME, new TextEncoder().encode(iface.name)));
    if (iface.tsResolution !== undefined) opts.push(this.option(IdbOption.TSRESOL, new Uint8Array([iface.tsResolution])));
    if (opts.length) opts.push(this.option(IdbOption.END, new Uint8Array(0)));
    const fixed = new Uint8Array(8);
    const dv = new DataView(fixed.buffer);
    dv.setUint16(0, iface.linkType ?? LinkType.ETHERNET, this.le);
    dv.setUint32(4, iface.snapLen ?? MAXIMUM_SNAPLEN, this.le);
    const r = iface.tsResolution ?? 6;
    this.resolutions.push(r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r));
    return this.block(BlockType.IDB, concatBytes([fixed, ...opts]));
  }

  /** An enhanced packet block on interface `interfaceId`, its timestamp in that interface's resolution. */
  enhancedPacket(interfaceId: number, frame: FrameToWrite): Uint8Array {
    const units = this.resolutions[interfaceId] ?? 1_000_000n;
    const t = (frame.timestampNs / 1_000_000_000n) * units + ((frame.timestampNs % 1_000_000_000n) * units) / 1_000_000_000n;
    const fixed = new Uint8Array(20);
    const dv = new DataView(fixed.buffer);
    dv.setUint32(0, interfaceId, this.le);
    dv.setUint32(4, Number(t >> 32n), this.le);
    dv.setUint32(8, Number(t & 0xffffffffn), this.le);
    dv.setUint32(12, frame.data.length, this.le);
    dv.setUint32(16, frame.originalLength ?? frame.data.length, this.le);
    return this.block(BlockType.EPB, concatBytes([fixed, frame.data]));
  }

  /** A simple packet block (interface 0, no timestamp; captured length = min(original, snaplen)). */
  simplePacket(frame: FrameToWrite): Uint8Array {
    const fixed = new Uint8Array(4);
    new DataView(fixed.buffer).setUint32(0, frame.originalLength ?? frame.data.length, this.le);
    return this.block(BlockType.SPB, concatBytes([fixed, frame.data]));
  }

  private option(code: number, value: Uint8Array): Uint8Array {
    const out = new Uint8Array(4 + ((value.length + 3) & ~3));
    const dv = new DataView(out.buffer);
    dv.setUint16(0, code, this.le);
    dv.setUint16(2, value.length, this.le);
    out.set(value, 4);
    return out;
  }
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
