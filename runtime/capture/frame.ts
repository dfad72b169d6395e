/**
 * What a capture file holds, independent of its format: frames, the interfaces they were captured
 * on, link types, and the typed error a truncated or corrupt file gives.
 *
 * Limits follow libpcap (pcap-common.c `max_snaplen_for_dlt`, `pcap_adjust_snapshot`): a frame's
 * captured length may never exceed the link type's maximum snapshot (256 KiB for most), and a file's
 * snapshot length of 0 or above that maximum means the maximum.
 */
import { Bpf2WasmError, ErrorCode, type ErrorLocation } from '../errors.js';

/** LINKTYPE_* values (tcpdump.org/linktypes.html) this module names; any other number is carried through. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  IEEE802_11: 105,
  LOOP: 108,
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  DBUS: 231,
  USBPCAP: 249,
  LINUX_SLL2: 276,
  EBHSCR: 279,
} as const;

/** libpcap's MAXIMUM_SNAPLEN: the largest frame it accepts for most link types. */
export const MAXIMUM_SNAPLEN = 262144;

/** The name of a link type (`ETHERNET`, `LINUX_SLL`, ...), or `LINKTYPE <n>` for one this module does not name. */
export function linkTypeName(linkType: number): string {
  for (const [name, value] of Object.entries(LinkType)) if (value === linkType) return name;
  return `LINKTYPE ${linkType}`;
}

/** The largest captured length libpcap accepts for a link type (`max_snaplen_for_dlt`). */
export function maxSnapLen(linkType: number): number {
  switch (linkType) {
    case LinkType.DBUS: return 128 * 1024 * 1024;
    case LinkType.EBHSCR: return 8 * 1024 * 1024;
    case LinkType.USBPCAP: return 1024 * 1024;
    default: return MAXIMUM_SNAPLEN;
  }
}

/** A file's snapshot length as libpcap uses it (`pcap_adjust_snapshot`): 0 or too large means the maximum. */
export function adjustSnapLen(linkType: number, snapLen: number): number {
  const max = maxSnapLen(linkType);
  return snapLen === 0 || snapLen > max ? max : snapLen;
}

/** An interface frames were captured on: a pcap file has one, a pcapng section one per IDB. */
export interface CaptureInterface {
  /** 0-based over the whole file. */
  index: number;
  /** The interface id frames use: its position within its pcapng section (0 in pcap). */
  id: number;
  /** 0-based section (pcapng; 0 in pcap). */
  section: number;
  /** LINKTYPE_* value (pcap: without the FCS bits of the header's upper six bits). */
  linkType: number;
  /** The snapshot length as read from the file. */
  snapLenField: number;
  /** The snapshot length libpcap applies (see adjustSnapLen). */
  snapLen: number;
  /** Timestamp units per second (1e6 for microseconds, 1e9 for nanoseconds, 2^n for binary). */
  tsUnitsPerSecond: bigint;
  /** Seconds added to every timestamp (pcapng if_tsoffset). */
  tsOffset: bigint;
  /** pcapng if_name, when present. */
  name?: string;
}

/** One frame of a capture. */
export interface CaptureFrame {
  /** 0-based position in the file. */
  index: number;
  /** Nanoseconds since the epoch (finer resolutions are truncated, as libpcap's scaling does). */
  timestampNs: bigint;
  /** The captured bytes (a fresh copy). */
  data: Uint8Array;
  /** The frame's length on the wire (may exceed data.length: a snaplen-cut frame). */
  originalLength: number;
  /** The interface it was captured on. */
  interface: CaptureInterface;
  /** Byte offset of its record (pcap) or block (pcapng) in the file. */
  offset: number;
}

/** How a capture is corrupt or truncated; stable strings, tests assert them. */
export type CaptureErrorReason =
  | 'bad-magic' | 'bad-version' | 'truncated-file-header' | 'truncated-record-header' | 'truncated-frame'
  | 'caplen-over-max' | 'caplen-over-snaplen' | 'bad-block-length' | 'block-too-large'
  | 'block-length-mismatch' | 'truncated-block' | 'block-too-short' | 'bad-option' | 'no-interface'
  | 'bad-byte-order';

/**
 * A capture file is truncated or corrupt. `location.offset` is the byte offset of the record or
 * block at fault, `location.frame` the index the next frame would have had; frames before it have
 * been delivered.
 */
export class CaptureError extends Bpf2WasmError {
  readonly reason: CaptureErrorReason;

  constructor(reason: CaptureErrorReason, detail: string, location: ErrorLocation) {
    super(ErrorCode.BadCapture, detail, location);
    this.reason = reason;
  }
}

/** A frame's link type cannot be run (programs run over Ethernet frames only). */
export class LinkTypeError extends Bpf2WasmError {
  constructor(linkType: number, location: ErrorLocation = {}) {
    super(ErrorCode.LinkType, `link type ${linkTypeName(linkType)} (${linkType}) cannot be run: only ETHERNET (1) frames can`, location);
  }
}

/** Throws LinkTypeError unless the frame is an Ethernet frame. */
export function requireEthernet(frame: CaptureFrame): void {
  if (frame.interface.linkType !== LinkType.ETHERNET) {
    throw new LinkTypeError(frame.interface.linkType, { frame: frame.index, offset: frame.offset });
  }
}
