/**
 * Builders for the test frames of build.ts: Ethernet, 802.1Q/QinQ tags, ARP, IPv4 (options,
 * fragments), IPv6 (extension headers), TCP, UDP, ICMP, ICMPv6, with correct checksums.
 * Addresses are written as strings ('10.0.0.1', '2001:db8::1', '02:00:00:00:00:01').
 */

/** EtherTypes used here. */
export const EtherType = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, IPV6: 0x86dd } as const;
/** IP protocol numbers used here. */
export const Proto = { HOPOPT: 0, ICMP: 1, TCP: 6, UDP: 17, IPV6_ROUTE: 43, IPV6_FRAG: 44, ICMPV6: 58, IPV6_OPTS: 60 } as const;
/** TCP flag bits. */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function mac(s: string): Uint8Array {
  return new Uint8Array(s.split(':').map((h) => parseInt(h, 16)));
}

export function ipv4(s: string): Uint8Array {
  return new Uint8Array(s.split('.').map(Number));
}

export function ipv6(s: string): Uint8Array {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function be16(v: number): Uint8Array {
  return new Uint8Array([(v >> 8) & 0xff, v & 0xff]);
}

function be32(v: number): Uint8Array {
  return new Uint8Array([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

/** The Internet checksum (RFC 1071) of the concatenated parts. */
export function inetChecksum(...parts: Uint8Array[]): number {
  const b = cat(...parts);
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function put16(b: Uint8Array, at: number, v: number): Uint8Array {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
  return b;
}

/** An Ethernet frame; `tags` are [TPID, VID] pairs, outermost first. */
export function ether(dst: string, src: string, type: number, payload: Uint8Array, tags: Array<[number, number]> = []): Uint8Array {
  const t = tags.map(([tpid, vid]) => cat(be16(tpid), be16(vid & 0x0fff)));
  return cat(mac(dst), mac(src), ...t, be16(type), payload);
}

/** An ARP packet for IPv4 over Ethernet (op 1 request, 2 reply). */
export function arp(op: number, sha: string, spa: string, tha: string, tpa: string): Uint8Array {
  return cat(be16(1), be16(EtherType.IPV4), new Uint8Array([6, 4]), be16(op), mac(sha), ipv4(spa), mac(tha), ipv4(tpa));
}

export interface Ipv4Options {
  src: string;
  dst: string;
  proto: number;
  ttl?: number;
  id?: number;
  /** Raw IP options (padded to 4 bytes). */
  options?: Uint8Array;
  moreFragments?: boolean;
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  dontFragment?: boolean;
  /** The total length field (defaults to the real length; a jumbo frame uses the real one too). */
}

/** An IPv4 packet with a correct header checksum. */
export function ip4(o: Ipv4Options, payload: Uint8Array): Uint8Array {
  const opts = o.options ?? new Uint8Array(0);
  const optLen = (opts.length + 3) & ~3;
  const hdr = new Uint8Array(20 + optLen);
  hdr[0] = 0x40 | ((20 + optLen) / 4);
  put16(hdr, 2, hdr.length + payload.length);
  put16(hdr, 4, o.id ?? 0x1234);
  put16(hdr, 6, (o.dontFragment ? 0x4000 : 0) | (o.moreFragments ? 0x2000 : 0) | (o.fragOffset ?? 0));
  hdr[8] = o.ttl ?? 64;
  hdr[9] = o.proto;
  hdr.set(ipv4(o.src), 12);
  hdr.set(ipv4(o.dst), 16);
  hdr.set(opts, 20);
  put16(hdr, 10, inetChecksum(hdr));
  return cat(hdr, payload);
}

/** An IPv6 packet: `ext` are [next header of this ext, its bytes] in order; proto is the final one. */
export function ip6(src: string, dst: string, proto: number, payload: Uint8Array, ext: Array<[number, Uint8Array]> = [], hopLimit = 64): Uint8Array {
  const first = ext.length ? ext[0]![0] : proto;
  const exts = ext.map(([, bytes], i) => {
    const b = Uint8Array.from(bytes);
    b[0] = i + 1 < ext.length ? ext[i + 1]![0] : proto; // each header's Next Header field
    return b;
  });
  const body = cat(...exts, payload);
  const hdr = new Uint8Array(40);
  hdr[0] = 0x60;
  put16(hdr, 4, body.length);
  hdr[6] = first;
  hdr[7] = hopLimit;
  hdr.set(ipv6(src), 8);
  hdr.set(ipv6(dst), 24);
  return cat(hdr, body);
}

/** An IPv6 options header (hop-by-hop or destination) of 8 bytes with the given option TLV (padded). */
export function ip6OptionsHeader(tlv: Uint8Array): Uint8Array {
  const len = (2 + tlv.length + 7) & ~7;
  const b = new Uint8Array(len);
  b[1] = len / 8 - 1;
  b.set(tlv, 2);
  // pad with PadN
  const rest = len - 2 - tlv.length;
  if (rest === 1) b[2 + tlv.length] = 0;
  else if (rest > 1) {
    b[2 + tlv.length] = 1;
    b[3 + tlv.length] = rest - 2;
  }
  return b;
}

/** A segment routing header (routing type 4) with the given segments. */
export function ip6RoutingHeader(segments: string[]): Uint8Array {
  const b = new Uint8Array(8 + 16 * segments.length);
  b[1] = (b.length - 8) / 8;
  b[2] = 4;
  b[3] = segments.length - 1;
  b[4] = segments.length - 1;
  segments.forEach((s, i) => b.set(ipv6(s), 8 + 16 * i));
  return b;
}

/** An IPv6 fragment header. */
export function ip6FragmentHeader(offset8: number, more: boolean, id: number): Uint8Array {
  const b = new Uint8Array(8);
  put16(b, 2, (offset8 << 3) | (more ? 1 : 0));
  b.set(be32(id), 4);
  return b;
}

function pseudo4(src: string, dst: string, proto: number, len: number): Uint8Array {
  return cat(ipv4(src), ipv4(dst), new Uint8Array([0, proto]), be16(len));
}

function pseudo6(src: string, dst: string, proto: number, len: number): Uint8Array {
  return cat(ipv6(src), ipv6(dst), be32(len), new Uint8Array([0, 0, 0, proto]));
}

/** Addresses for a transport checksum. */
export type L3 = { v: 4 | 6; src: string; dst: string };

function pseudo(l3: L3, proto: number, len: number): Uint8Array {
  return l3.v === 4 ? pseudo4(l3.src, l3.dst, proto, len) : pseudo6(l3.src, l3.dst, proto, len);
}

/** A TCP segment with a correct checksum. */
export function tcp(l3: L3, sport: number, dport: number, flags: number, payload: Uint8Array = new Uint8Array(0), seq = 1000, ack = 0): Uint8Array {
  const h = new Uint8Array(20);
  put16(h, 0, sport);
  put16(h, 2, dport);
  h.set(be32(seq), 4);
  h.set(be32(ack), 8);
  h[12] = 5 << 4;
  h[13] = flags;
  put16(h, 14, 65535);
  const seg = cat(h, payload);
  put16(seg, 16, inetChecksum(pseudo(l3, Proto.TCP, seg.length), seg));
  return seg;
}

/** A UDP datagram with a correct checksum. */
export function udp(l3: L3, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const d = cat(be16(sport), be16(dport), be16(8 + payload.length), be16(0), payload);
  let c = inetChecksum(pseudo(l3, Proto.UDP, d.length), d);
  if (c === 0) c = 0xffff;
  return put16(d, 6, c);
}

/** An ICMP message (type, code, rest of header 4 bytes = id/seq) with a correct checksum. */
export function icmp(type: number, code: number, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const m = cat(new Uint8Array([type, code, 0, 0]), be16(id), be16(seq), payload);
  return put16(m, 2, inetChecksum(m));
}

/** An ICMPv6 message with a correct checksum over the IPv6 pseudo-header. */
export function icmp6(src: string, dst: string, type: number, code: number, body: Uint8Array): Uint8Array {
  const m = cat(new Uint8Array([type, code, 0, 0]), body);
  return put16(m, 2, inetChecksum(pseudo6(src, dst, Proto.ICMPV6, m.length), m));
}

/** `n` bytes of a repeating deterministic pattern. */
export function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}
