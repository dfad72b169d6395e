/**
 * Host sockets and the lookups of test-programs/c/sk_lookup.c against them: shared by
 * sockets.test.ts (bpf2wasm, expectations recorded from the kernel 6.18) and sk-oracle.test.ts
 * (the same sockets opened for real in a network namespace, the same probes through the
 * kernel's BPF_PROG_TEST_RUN). `SOCKET_SCRIPT` is the Node program that opens them there.
 */
import type { HostNetwork, HostSocket } from '../packet/net.js';
import { parseIp } from '../packet/net.js';
import { NET } from './fib-cases.js';
import { ETH_P, ether, ipv4, ipv6, tcp } from './frames.js';

/** The sockets (and, for the kernel, how Node opens them: see SOCKET_SCRIPT). */
export const SOCKETS: HostSocket[] = [
  { protocol: 'tcp', local: '10.1.0.1:8080' },
  { protocol: 'tcp', local: '0.0.0.0:9090' },
  { protocol: 'tcp', local: '10.1.0.1:40000', remote: '10.1.0.1:8080' },
  { protocol: 'tcp', local: '10.1.0.1:8080', remote: '10.1.0.1:40000' },
  { protocol: 'udp', local: '10.1.0.1:5353' },
  { protocol: 'udp', local: '0.0.0.0:6000' },
  { protocol: 'udp', local: '10.1.0.1:7000', remote: '10.2.0.1:7001' },
  { protocol: 'tcp', local: '[2001:db8:1::1]:8443' },
  { protocol: 'udp', local: '[::]:5353' },
];

/** The host of fib-cases.ts with these sockets. */
export const SOCK_NET: HostNetwork = { ...NET, sockets: SOCKETS };

/** Opens SOCKETS in the current network namespace, prints "ready", and keeps them until stdin ends. */
export const SOCKET_SCRIPT = `
const net = require('node:net'), dgram = require('node:dgram');
const done = [];
const wait = (p) => done.push(p);
const listen = (port, host, ipv6Only) => { const s = net.createServer((c) => kept.push(c)); wait(new Promise((r) => s.listen({ port, host, ipv6Only }, r))); return s; };
const kept = [];
listen(8080, '10.1.0.1');
listen(9090, '0.0.0.0');
listen(8443, '2001:db8:1::1', true);
const u = (type, port, host, ipv6Only) => { const s = dgram.createSocket({ type, ipv6Only }); wait(new Promise((r) => s.bind(port, host, r))); return s; };
u('udp4', 5353, '10.1.0.1');
u('udp4', 6000, '0.0.0.0');
const c7 = u('udp4', 7000, '10.1.0.1');
u('udp6', 5353, '::', true);
Promise.all(done).then(() => new Promise((r) => c7.connect(7001, '10.2.0.1', r))).then(() => new Promise((r) => {
  const c = net.connect({ port: 8080, host: '10.1.0.1', localAddress: '10.1.0.1', localPort: 40000 }, () => { kept.push(c); r(); });
})).then(() => setTimeout(() => process.stdout.write('ready\\n'), 200));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/** One lookup: the helper, the tuple (remote = source, local = destination), netns, flags. */
export interface SockProbe {
  label: string;
  op: 'tcp' | 'udp' | 'skc';
  src: string;
  dst: string;
  /** Tuple size: the family's (default) or a bad one (8). */
  badSize?: boolean;
  netns?: bigint;
  flags?: bigint;
  tc?: boolean;
  /** The socket (index in SOCKETS) the kernel finds, or -1. */
  finds: number;
}

export const SOCK_PROBES: SockProbe[] = [
  { label: 'tcp listener on its address', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', finds: 0 },
  { label: 'tcp established, server side', op: 'tcp', src: '10.1.0.1:40000', dst: '10.1.0.1:8080', finds: 3 },
  { label: 'tcp established, client side', op: 'tcp', src: '10.1.0.1:8080', dst: '10.1.0.1:40000', finds: 2 },
  { label: 'tcp wildcard listener', op: 'tcp', src: '10.9.9.9:1234', dst: '10.2.0.1:9090', finds: 1 },
  { label: 'tcp nothing on the port', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:1', finds: -1 },
  { label: 'tcp listener of another address', op: 'tcp', src: '10.9.9.9:1234', dst: '10.2.0.1:8080', finds: -1 },
  { label: 'udp bound', op: 'udp', src: '10.9.9.9:1234', dst: '10.1.0.1:5353', finds: 4 },
  { label: 'udp wildcard', op: 'udp', src: '10.9.9.9:1234', dst: '10.2.0.1:6000', finds: 5 },
  { label: 'udp connected, its peer', op: 'udp', src: '10.2.0.1:7001', dst: '10.1.0.1:7000', finds: 6 },
  { label: 'udp connected, another peer', op: 'udp', src: '10.2.0.1:9999', dst: '10.1.0.1:7000', finds: -1 },
  { label: 'udp is not tcp', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:5353', finds: -1 },
  { label: 'tcp6 listener', op: 'tcp', src: '[2001:db8::9]:1234', dst: '[2001:db8:1::1]:8443', finds: 7 },
  { label: 'udp6 wildcard', op: 'udp', src: '[2001:db8::9]:1234', dst: '[2001:db8:2::1]:5353', finds: 8 },
  { label: 'skc tcp listener', op: 'skc', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', finds: 0 },
  { label: 'skc tcp established', op: 'skc', src: '10.1.0.1:40000', dst: '10.1.0.1:8080', finds: 3 },
  { label: 'bad tuple size', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', badSize: true, finds: -1 },
  { label: 'flags', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', flags: 1n, finds: -1 },
  { label: 'netns id 0 (no such id)', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', netns: 0n, finds: -1 },
  { label: 'netns as u32 -1 (current)', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', netns: 0xffffffffn, finds: 0 },
  { label: 'netns above S32_MAX', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', netns: 0x100000000n, finds: -1 },
  { label: 'tc tcp listener', op: 'tcp', tc: true, src: '10.9.9.9:1234', dst: '10.1.0.1:8080', finds: 0 },
  { label: 'tc udp connected', op: 'udp', tc: true, src: '10.2.0.1:7001', dst: '10.1.0.1:7000', finds: 6 },
  { label: 'tc nothing', op: 'udp', tc: true, src: '10.2.0.1:7001', dst: '10.1.0.1:7999', finds: -1 },
];

function endpoint(s: string): { ip: Uint8Array; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(s) ?? /^(.+):(\d+)$/.exec(s)!;
  return { ip: parseIp(m![1])!, port: Number(m![2]) };
}

/** Offsets in the probe frame: the request after the Ethernet header, the answer after it. */
export const ANSWER_AT = 14 + 24 + 36 + 4;

/** The probe frame of sk_probe / sk_probe_tc (Ethernet header, `struct req`, a zeroed `struct ans`). */
export function sockFrame(p: SockProbe): Uint8Array {
  const f = new Uint8Array(ANSWER_AT + 4 * 24);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5]);
  const v = new DataView(f.buffer);
  const src = endpoint(p.src);
  const dst = endpoint(p.dst);
  v.setUint32(14, p.op === 'tcp' ? 0 : p.op === 'udp' ? 1 : 2, true);
  v.setUint32(18, p.badSize ? 2 : src.ip.length === 4 ? 0 : 1, true);
  v.setBigUint64(22, p.netns ?? 0xffffffffffffffffn, true);
  v.setBigUint64(30, p.flags ?? 0n, true);
  const t = 38;
  const a = src.ip.length;
  f.set(src.ip, t);
  f.set(dst.ip, t + a);
  v.setUint16(t + 2 * a, src.port);
  v.setUint16(t + 2 * a + 2, dst.port);
  return f;
}

const tcpTo = (dst: string, flags: number, src = '10.9.9.9', sport = 1234): Uint8Array =>
  ether(ETH_P.IP, ipv4({ proto: 6, src, dst: dst.split(':')[0]!, payload: tcp({ sport, dport: Number(dst.split(':')[1]), flags, src, dst: dst.split(':')[0]! }) }));
const tcp6To = (dst: string, port: number, flags: number): Uint8Array =>
  ether(ETH_P.IPV6, ipv6({ next: 6, src: [...parseIp('2001:db8::9')!], dst: [...parseIp(dst)!], payload: tcp({ sport: 1234, dport: port, flags }) }));
const SYN = 2;
const ACK = 16;
/** A SYN whose data offset says 24 bytes of header. */
const longHeader = ((): Uint8Array => {
  const f = tcpTo('10.1.0.1:8080', SYN);
  f[14 + 20 + 12] = 6 << 4;
  return f;
})();

/** Frames of `syn_cookie` with the kernel's return value (u32) on a host with tcp_syncookies = 1. */
export const SYN_FRAMES: { label: string; data: Uint8Array; retval: number }[] = [
  { label: 'SYN to a listener: gen ENOENT', data: tcpTo('10.1.0.1:8080', SYN), retval: 0xfffffffe },
  { label: 'ACK to a listener: check ENOENT', data: tcpTo('10.1.0.1:8080', ACK), retval: 0xfffffffe },
  { label: 'SYN-ACK: check ENOENT', data: tcpTo('10.1.0.1:8080', SYN | ACK), retval: 0xfffffffe },
  { label: 'RST: check ENOENT', data: tcpTo('10.1.0.1:8080', 4), retval: 0xfffffffe },
  { label: 'SYN-FIN: gen EINVAL', data: tcpTo('10.1.0.1:8080', SYN | 1), retval: 0xffffffea },
  { label: 'SYN to an established socket: EINVAL', data: tcpTo('10.1.0.1:8080', SYN, '10.1.0.1', 40000), retval: 0xffffffea },
  { label: 'SYN to no socket', data: tcpTo('10.1.0.1:8081', SYN), retval: 0x7fff0000 },
  { label: 'SYN with options: th_len is not doff * 4', data: longHeader, retval: 0xffffffea },
  { label: 'IPv6 SYN to a listener: gen ENOENT', data: tcp6To('2001:db8:1::1', 8443, SYN), retval: 0xfffffffe },
  { label: 'IPv6 ACK to a listener: check ENOENT', data: tcp6To('2001:db8:1::1', 8443, ACK), retval: 0xfffffffe },
];
