/**
 * A small packet dissector for the playground's packet list, in the manner of Wireshark's
 * summary and detail panes: Ethernet (with 802.1Q / 802.1ad tags), ARP, IPv4 (options,
 * fragments), IPv6 (hop-by-hop, routing, fragment and destination options headers), TCP, UDP,
 * ICMP and ICMPv6. It never throws: a header cut short ends the dissection with a note.
 */

/** One layer of a dissected frame: its name and its fields, for the detail pane. */
export interface Layer {
  /** Title line, e.g. `Internet Protocol Version 4, Src: 10.0.0.1, Dst: 10.0.0.2`. */
  readonly title: string;
  /** `name: value` lines. */
  readonly fields: readonly string[];
  /** Byte range of the header in the frame. */
  readonly start: number;
  readonly end: number;
}

/** A dissected frame. */
export interface Dissection {
  /** Highest protocol found: `TCP`, `UDP`, `ICMP`, `ARP`, `IPv6`, ... */
  readonly protocol: string;
  /** Source and destination addresses of the innermost network layer (or MACs). */
  readonly source: string;
  readonly destination: string;
  /** One-line summary (Wireshark's Info column). */
  readonly info: string;
  readonly layers: readonly Layer[];
}

const hex = (n: number, w = 2): string => n.toString(16).padStart(w, '0');
const mac = (b: Uint8Array, o: number): string => Array.from(b.subarray(o, o + 6), (x) => hex(x)).join(':');
const ipv4 = (b: Uint8Array, o: number): string => Array.from(b.subarray(o, o + 4)).join('.');

/** IPv6 address in RFC 5952 form (longest run of zero groups as ::). */
export function ipv6(b: Uint8Array, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const part = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return part(g);
  return `${part(g.slice(0, best))}::${part(g.slice(best + bestLen))}`;
}

const ETHERTYPES: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q', 0x88a8: '802.1ad' };
const IP_PROTOS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 0: 'HOPOPT', 43: 'IPv6-Route', 44: 'IPv6-Frag', 60: 'IPv6-Opts', 59: 'IPv6-NoNxt' };
const ICMP_TYPES: Record<number, string> = { 0: 'Echo (ping) reply', 3: 'Destination unreachable', 5: 'Redirect', 8: 'Echo (ping) request', 11: 'Time-to-live exceeded' };
const ICMP6_TYPES: Record<number, string> = { 1: 'Destination unreachable', 2: 'Packet too big', 3: 'Time exceeded', 128: 'Echo (ping) request', 129: 'Echo (ping) reply', 133: 'Router solicitation', 134: 'Router advertisement', 135: 'Neighbor solicitation', 136: 'Neighbor advertisement' };
const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** Dissects an Ethernet frame. */
export function dissect(frame: Uint8Array): Dissection {
  const layers: Layer[] = [];
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const u16 = (o: number): number => dv.getUint16(o);
  const u32 = (o: number): number => dv.getUint32(o);
  let protocol = 'Ethernet';
  let info = '';
  let source = '';
  let destination = '';
  const short = (what: string, at: number): Dissection => {
    layers.push({ title: `[${what} cut short: ${frame.length - at} of its bytes captured]`, fields: [], start: at, end: frame.length });
    return { protocol, source, destination, info: info || `[Malformed ${what}]`, layers };
  };
  if (frame.length < 14) return short('Ethernet header', 0);
  source = mac(frame, 6);
  destination = mac(frame, 0);
  let type = u16(12);
  layers.push({
    title: `Ethernet II, Src: ${source}, Dst: ${destination}`,
    fields: [`Destination: ${destination}`, `Source: ${source}`, `Type: ${ETHERTYPES[type] ?? 'unknown'} (0x${hex(type, 4)})`],
    start: 0,
    end: 14,
  });
  let at = 14;
  while (type === 0x8100 || type === 0x88a8) {
    if (frame.length < at + 4) return short('VLAN tag', at);
    const tci = u16(at);
    const inner = u16(at + 2);
    layers.push({
      title: `802.1${type === 0x88a8 ? 'ad' : 'Q'} Virtual LAN, PRI: ${tci >> 13}, ID: ${tci & 0xfff}`,
      fields: [`Priority: ${tci >> 13}`, `DEI: ${(tci >> 12) & 1}`, `ID: ${tci & 0xfff}`, `Type: ${ETHERTYPES[inner] ?? 'unknown'} (0x${hex(inner, 4)})`],
      start: at,
      end: at + 4,
    });
    protocol = 'VLAN';
    type = inner;
    at += 4;
  }
  let l4: number | undefined;
  let l4at = 0;
  let l4end = frame.length;
  if (type === 0x0806) {
    protocol = 'ARP';
    if (frame.length < at + 28) return short('ARP', at);
    const op = u16(at + 6);
    const sha = mac(frame, at + 8);
    const spa = ipv4(frame, at + 14);
    const tpa = ipv4(frame, at + 24);
    info = op === 1 ? `Who has ${tpa}? Tell ${spa}` : op === 2 ? `${spa} is at ${sha}` : `opcode ${op}`;
    layers.push({
      title: `Address Resolution Protocol (${op === 1 ? 'request' : op === 2 ? 'reply' : op})`,
      fields: [`Opcode: ${op}`, `Sender MAC: ${sha}`, `Sender IP: ${spa}`, `Target MAC: ${mac(frame, at + 18)}`, `Target IP: ${tpa}`],
      start: at,
      end: at + 28,
    });
    return { protocol, source, destination, info, layers };
  }
  if (type === 0x0800) {
    protocol = 'IPv4';
    if (frame.length < at + 20) return short('IPv4 header', at);
    const ihl = (frame[at]! & 15) * 4;
    const total = u16(at + 2);
    const frag = u16(at + 6);
    const proto = frame[at + 9]!;
    source = ipv4(frame, at + 12);
    destination = ipv4(frame, at + 16);
    const offset = (frag & 0x1fff) * 8;
    const more = (frag & 0x2000) !== 0;
    layers.push({
      title: `Internet Protocol Version 4, Src: ${source}, Dst: ${destination}`,
      fields: [
        `Header length: ${ihl} bytes${ihl > 20 ? ' (with options)' : ''}`, `Total length: ${total}`, `Identification: 0x${hex(u16(at + 4), 4)}`,
        `Flags: ${(frag & 0x4000) !== 0 ? "Don't fragment" : ''}${more ? 'More fragments' : ''}${(frag & 0x6000) === 0 ? 'none' : ''}`,
        `Fragment offset: ${offset}`, `Time to live: ${frame[at + 8]}`, `Protocol: ${IP_PROTOS[proto] ?? proto} (${proto})`,
        `Header checksum: 0x${hex(u16(at + 10), 4)}`,
      ],
      start: at,
      end: at + ihl,
    });
    if (ihl < 20) return { protocol, source, destination, info: `[bad IHL ${ihl}]`, layers };
    if (offset !== 0 || more) {
      info = `Fragmented IP protocol (proto=${IP_PROTOS[proto] ?? proto}, off=${offset}${more ? ', more' : ''})`;
      if (offset !== 0) return { protocol, source, destination, info, layers };
    }
    l4 = proto;
    l4at = at + ihl;
    l4end = Math.min(frame.length, at + total);
  } else if (type === 0x86dd) {
    protocol = 'IPv6';
    if (frame.length < at + 40) return short('IPv6 header', at);
    const plen = u16(at + 4);
    let next = frame[at + 6]!;
    source = ipv6(frame, at + 8);
    destination = ipv6(frame, at + 24);
    layers.push({
      title: `Internet Protocol Version 6, Src: ${source}, Dst: ${destination}`,
      fields: [`Payload length: ${plen}`, `Next header: ${IP_PROTOS[next] ?? next} (${next})`, `Hop limit: ${frame[at + 7]}`],
      start: at,
      end: at + 40,
    });
    l4end = Math.min(frame.length, at + 40 + plen);
    at += 40;
    // Extension headers.
    while (next === 0 || next === 43 || next === 44 || next === 60) {
      if (frame.length < at + 8) return short('IPv6 extension header', at);
      const len = next === 44 ? 8 : (frame[at + 1]! + 1) * 8;
      const fields = [`Next header: ${IP_PROTOS[frame[at]!] ?? frame[at]} (${frame[at]})`, `Length: ${len} bytes`];
      if (next === 44) {
        const off = u16(at + 2) & ~7;
        fields.push(`Offset: ${off}`, `More fragments: ${(u16(at + 2) & 1) === 1 ? 'yes' : 'no'}`, `Identification: 0x${hex(u32(at + 4), 8)}`);
        if (off !== 0) {
          layers.push({ title: 'IPv6 Fragment header', fields, start: at, end: at + 8 });
          return { protocol, source, destination, info: `IPv6 fragment (off=${off})`, layers };
        }
      }
      layers.push({ title: `IPv6 ${IP_PROTOS[next]} header`, fields, start: at, end: at + len });
      next = frame[at]!;
      at += len;
    }
    l4 = next;
    l4at = at;
  } else {
    info = `Ethertype 0x${hex(type, 4)}`;
    return { protocol, source, destination, info, layers };
  }
  at = l4at;
  if (l4 === 6) {
    protocol = 'TCP';
    if (frame.length < at + 20) return short('TCP header', at);
    const sport = u16(at);
    const dport = u16(at + 2);
    const flagBits = frame[at + 13]!;
    const flags = TCP_FLAGS.filter((_, i) => (flagBits >> i) & 1).join(', ');
    const hlen = (frame[at + 12]! >> 4) * 4;
    const len = Math.max(0, l4end - at - hlen);
    info = `${sport} → ${dport} [${flags}] Seq=${u32(at + 4)} Win=${u16(at + 14)} Len=${len}`;
    layers.push({
      title: `Transmission Control Protocol, Src Port: ${sport}, Dst Port: ${dport}, Len: ${len}`,
      fields: [`Source port: ${sport}`, `Destination port: ${dport}`, `Sequence number: ${u32(at + 4)}`, `Acknowledgment number: ${u32(at + 8)}`,
        `Header length: ${hlen} bytes`, `Flags: 0x${hex(flagBits, 3)} (${flags || 'none'})`, `Window: ${u16(at + 14)}`, `Checksum: 0x${hex(u16(at + 16), 4)}`],
      start: at,
      end: at + hlen,
    });
  } else if (l4 === 17) {
    protocol = 'UDP';
    if (frame.length < at + 8) return short('UDP header', at);
    const sport = u16(at);
    const dport = u16(at + 2);
    info = `${sport} → ${dport} Len=${u16(at + 4) - 8}`;
    layers.push({
      title: `User Datagram Protocol, Src Port: ${sport}, Dst Port: ${dport}`,
      fields: [`Source port: ${sport}`, `Destination port: ${dport}`, `Length: ${u16(at + 4)}`, `Checksum: 0x${hex(u16(at + 6), 4)}`],
      start: at,
      end: at + 8,
    });
  } else if (l4 === 1 || l4 === 58) {
    protocol = l4 === 1 ? 'ICMP' : 'ICMPv6';
    if (frame.length < at + 4) return short(`${protocol} header`, at);
    const t = frame[at]!;
    const name = (l4 === 1 ? ICMP_TYPES : ICMP6_TYPES)[t] ?? `type ${t}`;
    const echo = (l4 === 1 && (t === 0 || t === 8)) || (l4 === 58 && (t === 128 || t === 129));
    info = echo && frame.length >= at + 8 ? `${name} id=0x${hex(u16(at + 4), 4)}, seq=${u16(at + 6)}` : name;
    layers.push({
      title: l4 === 1 ? 'Internet Control Message Protocol' : 'Internet Control Message Protocol v6',
      fields: [`Type: ${t} (${name})`, `Code: ${frame[at + 1]}`, `Checksum: 0x${hex(u16(at + 2), 4)}`],
      start: at,
      end: Math.min(frame.length, at + 8),
    });
  } else if (l4 !== undefined) {
    protocol = IP_PROTOS[l4] ?? `IP proto ${l4}`;
    info ||= `IP protocol ${l4}`;
  }
  return { protocol, source, destination, info, layers };
}

/** A hex dump in the manner of Wireshark's bytes pane: offset, 16 bytes, ASCII. */
export function hexDump(bytes: Uint8Array, max = 4096): string {
  const lines: string[] = [];
  for (let o = 0; o < Math.min(bytes.length, max); o += 16) {
    const row = bytes.subarray(o, Math.min(o + 16, bytes.length));
    const hexes = Array.from(row, (b) => hex(b)).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${hex(o, 4)}  ${hexes.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > max) lines.push(`… ${bytes.length - max} more bytes`);
  return lines.join('\n');
}
