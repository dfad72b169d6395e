/**
 * Builds the project's capture files into test-programs/captures/ (committed; small):
 *
 *     npx tsc -p tsconfig.build.json && node dist/scripts/captures/build.js [--check]
 *
 * `--check` verifies the committed files are byte for byte what this script builds (a test runs
 * the same check). The frames (see FRAMES, in file order) cover Ethernet, 802.1Q and QinQ, ARP,
 * IPv4 with options and fragments, IPv6 with hop-by-hop, routing, fragment and destination options
 * headers, TCP flags, UDP, ICMP, ICMPv6, a 9000-byte jumbo frame, runts and snaplen-cut frames,
 * all with correct checksums. Files:
 *
 * - `frames.pcap`: every frame, microsecond timestamps, little-endian (what tcpdump writes here).
 * - `frames-ns-be.pcap`: the same frames, nanosecond timestamps, big-endian.
 * - `frames.pcapng`: the same frames as enhanced packet blocks, little-endian, one interface.
 * - `frames-be.pcapng`: the same frames, big-endian, two interfaces (nanosecond and 2^-20 s
 *   timestamps) in turn, an unknown block, and a second section; frames that fit their interface's
 *   snapshot length whole are simple packet blocks in the second section.
 */
import { PcapWriter, PcapngWriter, concatBytes, type FrameToWrite } from '../../runtime/capture/writer.js';
import {
  EtherType, Proto, TcpFlag, arp, ether, icmp, icmp6, ip4, ip6, ip6FragmentHeader, ip6OptionsHeader, ip6RoutingHeader,
  pattern, tcp, udp, type L3,
} from './packets.js';

/** A test frame: what it is, its bytes on the wire, and how many were captured. */
export interface TestFrame {
  name: string;
  wire: Uint8Array;
  /** Captured bytes (default: all). */
  caplen?: number;
}

const M1 = '02:00:00:00:00:01';
const M2 = '02:00:00:00:00:02';
const BCAST = 'ff:ff:ff:ff:ff:ff';
const A4: L3 = { v: 4, src: '10.0.0.1', dst: '10.0.0.2' };
const B4: L3 = { v: 4, src: '10.0.0.2', dst: '10.0.0.1' };
const D4: L3 = { v: 4, src: '192.168.1.10', dst: '8.8.8.8' };
const A6: L3 = { v: 6, src: '2001:db8::1', dst: '2001:db8::2' };

const e4 = (l3: L3, proto: number, payload: Uint8Array, extra: Partial<Parameters<typeof ip4>[0]> = {}, dst = M2): Uint8Array =>
  ether(dst, M1, EtherType.IPV4, ip4({ src: l3.src, dst: l3.dst, proto, ...extra }, payload));
const e6 = (l3: L3, proto: number, payload: Uint8Array, ext: Array<[number, Uint8Array]> = []): Uint8Array =>
  ether(M2, M1, EtherType.IPV6, ip6(l3.src, l3.dst, proto, payload, ext));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const dnsQuery = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...text('example'), 3, ...text('com'), 0, 0, 1, 0, 1]);

/** The frames, in file order (frame indices are asserted by tests: append, never reorder). */
export const FRAMES: readonly TestFrame[] = [
  { name: 'ipv4 tcp syn', wire: e4(A4, Proto.TCP, tcp(A4, 40000, 80, TcpFlag.SYN)) },
  { name: 'ipv4 tcp syn-ack', wire: ether(M1, M2, EtherType.IPV4, ip4({ src: B4.src, dst: B4.dst, proto: Proto.TCP }, tcp(B4, 80, 40000, TcpFlag.SYN | TcpFlag.ACK, undefined, 5000, 1001))) },
  { name: 'ipv4 tcp psh-ack with data', wire: e4(A4, Proto.TCP, tcp(A4, 40000, 80, TcpFlag.PSH | TcpFlag.ACK, text('GET / HTTP/1.0\r\n\r\n'), 1001, 5001)) },
  { name: 'ipv4 tcp fin-ack', wire: e4(A4, Proto.TCP, tcp(A4, 40000, 80, TcpFlag.FIN | TcpFlag.ACK, undefined, 1019, 5001)) },
  { name: 'ipv4 tcp rst', wire: e4(B4, Proto.TCP, tcp(B4, 80, 40001, TcpFlag.RST, undefined, 0, 0)) },
  { name: 'ipv4 udp dns query', wire: e4(D4, Proto.UDP, udp(D4, 5353, 53, dnsQuery)) },
  { name: 'ipv4 udp port 1500', wire: e4(A4, Proto.UDP, udp(A4, 33000, 1500, pattern(32))) },
  { name: 'ipv4 icmp echo request', wire: e4(A4, Proto.ICMP, icmp(8, 0, 0x42, 1, pattern(56))) },
  { name: 'ipv4 icmp echo reply', wire: e4(B4, Proto.ICMP, icmp(0, 0, 0x42, 1, pattern(56))) },
  {
    name: 'ipv4 with options (router alert, record route) udp',
    wire: e4(A4, Proto.UDP, udp(A4, 1234, 5678, pattern(16)), { options: new Uint8Array([0x94, 4, 0, 0, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }),
  },
  { name: 'ipv4 first fragment (MF) udp', wire: e4(A4, Proto.UDP, udp(A4, 4000, 4001, pattern(64)).subarray(0, 48), { moreFragments: true, id: 0x777 }) },
  { name: 'ipv4 last fragment', wire: e4(A4, Proto.UDP, pattern(40, 3), { fragOffset: 6, id: 0x777 }) },
  { name: 'arp request', wire: ether(BCAST, M1, EtherType.ARP, arp(1, M1, '10.0.0.1', '00:00:00:00:00:00', '10.0.0.2')) },
  { name: 'arp reply', wire: ether(M1, M2, EtherType.ARP, arp(2, M2, '10.0.0.2', M1, '10.0.0.1')) },
  { name: '802.1q vlan 100 ipv4 udp', wire: ether(M2, M1, EtherType.IPV4, ip4({ src: A4.src, dst: A4.dst, proto: Proto.UDP }, udp(A4, 999, 53, dnsQuery)), [[EtherType.VLAN, 100]]) },
  {
    name: 'qinq 200/100 ipv4 tcp syn',
    wire: ether(M2, M1, EtherType.IPV4, ip4({ src: A4.src, dst: A4.dst, proto: Proto.TCP }, tcp(A4, 40002, 443, TcpFlag.SYN)), [[EtherType.QINQ, 200], [EtherType.VLAN, 100]]),
  },
  {
    name: '802.1q vlan 300 ipv6 icmpv6 echo',
    wire: ether(M2, M1, EtherType.IPV6, ip6(A6.src, A6.dst, Proto.ICMPV6, icmp6(A6.src, A6.dst, 128, 0, pattern(12))), [[EtherType.VLAN, 300]]),
  },
  { name: 'ipv6 tcp syn', wire: e6(A6, Proto.TCP, tcp(A6, 40000, 22, TcpFlag.SYN)) },
  { name: 'ipv6 udp dns', wire: e6(A6, Proto.UDP, udp(A6, 5000, 53, dnsQuery)) },
  { name: 'ipv6 icmpv6 echo request', wire: e6(A6, Proto.ICMPV6, icmp6(A6.src, A6.dst, 128, 0, pattern(32))) },
  {
    name: 'ipv6 hop-by-hop (router alert) icmpv6',
    wire: e6(A6, Proto.ICMPV6, icmp6(A6.src, A6.dst, 143, 0, pattern(4)), [[Proto.HOPOPT, ip6OptionsHeader(new Uint8Array([5, 2, 0, 0]))]]),
  },
  { name: 'ipv6 routing header (srh) udp', wire: e6(A6, Proto.UDP, udp(A6, 7000, 7001, pattern(8)), [[Proto.IPV6_ROUTE, ip6RoutingHeader(['2001:db8::2'])]]) },
  { name: 'ipv6 fragment header udp', wire: e6(A6, Proto.UDP, udp(A6, 7002, 53, pattern(24)), [[Proto.IPV6_FRAG, ip6FragmentHeader(0, true, 0xabcdef)]]) },
  { name: 'ipv6 destination options tcp', wire: e6(A6, Proto.TCP, tcp(A6, 40003, 1999, TcpFlag.SYN), [[Proto.IPV6_OPTS, ip6OptionsHeader(new Uint8Array([])) ]]) },
  { name: 'jumbo ipv4 udp (9000 bytes)', wire: e4(A4, Proto.UDP, udp(A4, 9000, 9001, pattern(9000 - 14 - 20 - 8))) },
  { name: 'runt (10 bytes)', wire: pattern(10, 1) },
  { name: 'runt (13 bytes)', wire: ether(M2, M1, EtherType.IPV4, new Uint8Array(0)).subarray(0, 13) },
  { name: 'snaplen-cut ipv4 tcp (96 of 1514 bytes)', wire: e4(A4, Proto.TCP, tcp(A4, 40004, 80, TcpFlag.ACK, pattern(1460))), caplen: 96 },
  { name: 'snaplen-cut inside the ipv4 header (20 of 74 bytes)', wire: e4(A4, Proto.TCP, tcp(A4, 40005, 80, TcpFlag.SYN, pattern(20))), caplen: 20 },
  { name: 'broadcast ipv4 udp (dhcp discover)', wire: e4({ v: 4, src: '0.0.0.0', dst: '255.255.255.255' }, Proto.UDP, udp({ v: 4, src: '0.0.0.0', dst: '255.255.255.255' }, 68, 67, pattern(240)), {}, BCAST) },
  { name: 'multicast ipv4 udp (mdns)', wire: e4({ v: 4, src: '10.1.2.3', dst: '224.0.0.251' }, Proto.UDP, udp({ v: 4, src: '10.1.2.3', dst: '224.0.0.251' }, 5353, 5353, dnsQuery), {}, '01:00:5e:00:00:fb') },
  { name: 'ipv4 tcp 172.16 to port 2000', wire: e4({ v: 4, src: '172.16.0.5', dst: '172.16.0.9' }, Proto.TCP, tcp({ v: 4, src: '172.16.0.5', dst: '172.16.0.9' }, 2000, 2000, TcpFlag.PSH | TcpFlag.ACK, pattern(100))) },
  { name: 'ipv4 tcp syn with ecn/urg flags', wire: e4(A4, Proto.TCP, tcp(A4, 40006, 8080, TcpFlag.SYN | TcpFlag.URG)) },
];

/** 2023-11-14T22:13:20Z, then one frame every 1.000123457 s. */
function timestampNs(i: number): bigint {
  return 1_700_000_000_000_000_000n + BigInt(i) * 1_000_123_457n;
}

function toWrite(f: TestFrame, i: number): FrameToWrite {
  return { timestampNs: timestampNs(i), data: f.wire.subarray(0, f.caplen ?? f.wire.length), originalLength: f.wire.length };
}

/** Every capture file by name. */
export function buildCaptures(): Map<string, Uint8Array> {
  const frames = FRAMES.map(toWrite);
  const files = new Map<string, Uint8Array>();
  const micro = frames.map((f) => ({ ...f, timestampNs: (f.timestampNs / 1000n) * 1000n }));
  const le = new PcapWriter();
  files.set('frames.pcap', concatBytes([le.header(), ...micro.map((f) => le.record(f))]));
  const be = new PcapWriter({ nanosecond: true, bigEndian: true });
  files.set('frames-ns-be.pcap', concatBytes([be.header(), ...frames.map((f) => be.record(f))]));

  const ng = new PcapngWriter();
  files.set('frames.pcapng', concatBytes([ng.sectionHeader(), ng.interfaceDescription({ name: 'eth0' }), ...micro.map((f) => ng.enhancedPacket(0, f))]));

  const nb = new PcapngWriter({ bigEndian: true });
  const half = Math.ceil(frames.length / 2);
  const parts = [
    nb.sectionHeader(),
    nb.interfaceDescription({ name: 'eth0', tsResolution: 9 }),
    nb.block(0x00000bad, new Uint8Array([1, 2, 3, 4, 5])),
    nb.interfaceDescription({ name: 'eth1', tsResolution: 0x80 | 20 }),
    ...frames.slice(0, half).map((f, i) => nb.enhancedPacket(i % 2, f)),
    nb.sectionHeader(),
    nb.interfaceDescription({ name: 'eth2', tsResolution: 9 }),
    ...frames.slice(half).map((f) => (f.data.length === f.originalLength ? nb.simplePacket(f) : nb.enhancedPacket(0, f))),
  ];
  files.set('frames-be.pcapng', concatBytes(parts));
  return files;
}

async function main(argv: string[]): Promise<number> {
  const { readFileSync, writeFileSync, mkdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  // This file is scripts/captures/build.ts, or dist/scripts/captures/build.js once built.
  let root = fileURLToPath(new URL('../../', import.meta.url));
  if (/[\\/]dist[\\/]?$/.test(root)) root = join(root, '..');
  const dir = join(root, 'test-programs', 'captures');
  const check = argv.includes('--check');
  let stale = 0;
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of buildCaptures()) {
    const path = join(dir, name);
    if (check) {
      let old: Uint8Array | undefined;
      try {
        old = readFileSync(path);
      } catch {
        old = undefined;
      }
      if (!old || Buffer.compare(Buffer.from(old), Buffer.from(bytes)) !== 0) {
        console.error(`${path}: not what scripts/captures/build.ts builds`);
        stale++;
      }
    } else {
      writeFileSync(path, bytes);
      console.log(`wrote ${path} (${bytes.length} bytes)`);
    }
  }
  return stale ? 1 : 0;
}

if (typeof process !== 'undefined' && process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  process.exitCode = await main(process.argv.slice(2));
}
