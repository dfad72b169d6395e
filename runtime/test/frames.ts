/**
 * A small frame builder for packet tests: Ethernet (with 802.1Q / 802.1ad tags), IPv4 (header
 * checksum computed), IPv6 with extension headers, TCP, UDP and ICMP with their checksums, so a
 * test states frames by their fields and can check a program's output checksums independently.
 */
import { concatBytes } from '../../test/support/slots.js';

/** The Internet checksum (RFC 1071) of `bytes`, with an optional starting sum. */
export function inetChecksum(bytes: Uint8Array, start = 0): number {
  let sum = start;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length & 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

const cat = concatBytes;
const be16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const be32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

/** An IPv4 address "a.b.c.d" as 4 bytes. */
export function ip4(s: string): number[] {
  return s.split('.').map(Number);
}
/** A MAC address "aa:bb:..." as 6 bytes. */
export function mac(s: string): number[] {
  return s.split(':').map((x) => parseInt(x, 16));
}

export const MAC_A = mac('02:00:00:00:00:0a');
export const MAC_B = mac('02:00:00:00:00:0b');

/** Ethernet header + payload; `tags` are [TPID, TCI] pairs pushed outermost first. */
export function ether(type: number, payload: ArrayLike<number>, o: { dst?: number[]; src?: number[]; tags?: [number, number][] } = {}): Uint8Array {
  const tags = (o.tags ?? []).flatMap(([tpid, tci]) => [...be16(tpid), ...be16(tci)]);
  return cat(o.dst ?? MAC_B, o.src ?? MAC_A, tags, be16(type), payload);
}

export interface Ipv4Options {
  src?: string;
  dst?: string;
  proto: number;
  ttl?: number;
  tos?: number;
  id?: number;
  fragOff?: number;
  options?: number[];
  payload: ArrayLike<number>;
}

/** An IPv4 packet with a valid header checksum. */
export function ipv4(o: Ipv4Options): Uint8Array {
  const opts = o.options ?? [];
  const ihl = 5 + opts.length / 4;
  const total = ihl * 4 + o.payload.length;
  const h = new Uint8Array([0x40 | ihl, o.tos ?? 0, ...be16(total), ...be16(o.id ?? 1), ...be16(o.fragOff ?? 0), o.ttl ?? 64, o.proto, 0, 0,
    ...ip4(o.src ?? '10.0.0.1'), ...ip4(o.dst ?? '10.0.0.2'), ...opts]);
  const c = inetChecksum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return cat(h, o.payload);
}

/** The IPv4 pseudo-header sum for a transport checksum. */
function pseudo4(src: string, dst: string, proto: number, len: number): number {
  return ~inetChecksum(new Uint8Array([...ip4(src), ...ip4(dst), 0, proto, ...be16(len)])) & 0xffff;
}

/** A TCP segment (20-byte header) with a valid checksum for the given IPv4 addresses. */
export function tcp(o: { sport?: number; dport: number; flags: number; payload?: number[]; src?: string; dst?: string }): Uint8Array {
  const seg = new Uint8Array([...be16(o.sport ?? 40000), ...be16(o.dport), ...be32(1000), ...be32(0), 0x50, o.flags, ...be16(65535), 0, 0, 0, 0, ...(o.payload ?? [])]);
  const c = inetChecksum(seg, pseudo4(o.src ?? '10.0.0.1', o.dst ?? '10.0.0.2', 6, seg.length));
  seg[16] = c >> 8;
  seg[17] = c & 0xff;
  return seg;
}

/** A UDP datagram with a valid checksum (or a zero one with `noChecksum`). */
export function udp(o: { sport?: number; dport: number; payload?: number[]; src?: string; dst?: string; noChecksum?: boolean }): Uint8Array {
  const p = o.payload ?? [1, 2, 3, 4];
  const seg = new Uint8Array([...be16(o.sport ?? 40000), ...be16(o.dport), ...be16(8 + p.length), 0, 0, ...p]);
  if (!o.noChecksum) {
    const c = inetChecksum(seg, pseudo4(o.src ?? '10.0.0.1', o.dst ?? '10.0.0.2', 17, seg.length)) || 0xffff;
    seg[6] = c >> 8;
    seg[7] = c & 0xff;
  }
  return seg;
}

/** An ICMP message with a valid checksum. */
export function icmp(type: number, code: number, rest: number[]): Uint8Array {
  const m = new Uint8Array([type, code, 0, 0, ...rest]);
  const c = inetChecksum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

/** An IPv6 packet; `ext` are [next header of this one's payload... ] built by `ext6`. */
export function ipv6(o: { next: number; payload: ArrayLike<number>; src?: number[]; dst?: number[] }): Uint8Array {
  const src = o.src ?? [0xfe, 0x80, ...new Array<number>(13).fill(0), 1];
  const dst = o.dst ?? [0xfe, 0x80, ...new Array<number>(13).fill(0), 2];
  return cat([0x60, 0, 0, 0, ...be16(o.payload.length), o.next, 64], src, dst, o.payload);
}

/** An IPv6 extension header of `kind` (0 hop-by-hop, 43 routing, 60 dest opts, 44 fragment, 51 AH) before `next`. */
export function ext6(kind: number, next: number, units = 0): number[] {
  if (kind === 44) return [next, 0, 0, 0, 0, 0, 0, 1];
  if (kind === 51) return [next, units + 1, 0, 0, ...new Array<number>((units + 3) * 4 - 4).fill(0)];
  return [next, units, ...new Array<number>((units + 1) * 8 - 2).fill(0)];
}

/** Big-endian 16-bit read. */
export function rd16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** EtherTypes. */
export const ETH_P = { IP: 0x0800, ARP: 0x0806, IPV6: 0x86dd, VLAN: 0x8100, QINQ: 0x88a8 } as const;

/**
 * A probe frame of `size` bytes for the tc fixtures that read a request after the first 34 bytes
 * (tc_tunhelp, cgroup_array): Ethernet from 04:04:04:04:04:04 to 02:02:02:02:02:02, IPv4, and a
 * bare 20-byte IPv4 header (0x45, the rest zero). Returns the frame and a view to write the
 * request with.
 */
export function tcProbe(size: number): { frame: Uint8Array; view: DataView } {
  const frame = new Uint8Array(size);
  const view = new DataView(frame.buffer);
  frame.fill(2, 0, 6);
  frame.fill(4, 6, 12);
  view.setUint16(12, ETH_P.IP);
  frame[14] = 0x45;
  return { frame, view };
}
