/**
 * Host sockets and probes of test-programs/c/skc_cast.o (the bpf_skc_to_* casts), shared by
 * skc-cast.test.ts (bpf2wasm alone) and skc-oracle.test.ts (the same sockets opened for real in
 * a network namespace by SKC_SOCKET_SCRIPT, a Python program, and the same probes through the
 * kernel's BPF_PROG_TEST_RUN). The host is fib-cases.ts's, whose 10.1.0.1 and 2001:db8:1::1 are
 * local addresses.
 */
import type { HostNetwork, HostSocket } from '../packet/net.js';
import { parseIp } from '../packet/net.js';
import { NET } from './fib-cases.js';

export const SKC_SOCKETS: HostSocket[] = [
  { protocol: 'tcp', local: '10.1.0.1:8080' },
  { protocol: 'tcp', local: '10.1.0.1:40000', remote: '10.1.0.1:8080' },
  { protocol: 'tcp', local: '10.1.0.1:8080', remote: '10.1.0.1:40000' },
  { protocol: 'tcp', local: '[2001:db8:1::1]:8443' },
  { protocol: 'tcp', local: '[2001:db8:1::1]:40001', remote: '[2001:db8:1::1]:8443' },
  { protocol: 'tcp', local: '[2001:db8:1::1]:8443', remote: '[2001:db8:1::1]:40001' },
  { protocol: 'udp', local: '[2001:db8:1::1]:5353' },
  { protocol: 'udp', local: '10.1.0.1:5353' },
  { protocol: 'tcp', local: '10.1.0.1:40002', remote: '10.1.0.1:8080', state: 'time-wait' },
  { protocol: 'tcp', local: '10.1.0.1:8181' },
  { protocol: 'tcp', local: '10.1.0.1:8181', remote: '10.1.0.1:40003', state: 'syn-recv' },
  { protocol: 'tcp', local: '10.1.0.1:40003', remote: '10.1.0.1:8181' },
];

export const SKC_NET: HostNetwork = { ...NET, sockets: SKC_SOCKETS };

/**
 * Opens SKC_SOCKETS in the current network namespace, prints "ready", keeps them until stdin
 * ends: a time-wait socket (the client closes first, then the server), and a request socket (a
 * listener with TCP_DEFER_ACCEPT drops the handshake's bare ACK and keeps the request).
 */
export const SKC_SOCKET_SCRIPT = `
import socket, sys, time
A, A6 = '10.1.0.1', '2001:db8:1::1'
kept = []
def listen(fam, addr, defer=False):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if defer: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 60)
    s.bind(addr); s.listen(16); kept.append(s); return s
def connect(fam, local, remote):
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(local); c.connect(remote); return c
l4 = listen(socket.AF_INET, (A, 8080))
l6 = listen(socket.AF_INET6, (A6, 8443))
ld = listen(socket.AF_INET, (A, 8181), True)
c = connect(socket.AF_INET, (A, 40000), (A, 8080)); kept += [c, l4.accept()[0]]
c = connect(socket.AF_INET6, (A6, 40001), (A6, 8443)); kept += [c, l6.accept()[0]]
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); u6.bind((A6, 5353)); kept.append(u6)
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind((A, 5353)); kept.append(u4)
tw = connect(socket.AF_INET, (A, 40002), (A, 8080)); srv = l4.accept()[0]
tw.close(); srv.recv(1); srv.close()
kept.append(connect(socket.AF_INET, (A, 40003), (A, 8181)))
time.sleep(0.3)
print('ready', flush=True)
sys.stdin.read()
`;

/** One probe: which socket to cast (a lookup by tuple, or skb->sk) and the socket the kernel finds. */
export interface SkcProbe {
  label: string;
  op: 'tcp' | 'udp' | 'skc' | 'skb-sk';
  src?: string;
  dst?: string;
  /** Index in SKC_SOCKETS of the socket found, -1 for none (skb->sk: the test run's dummy socket). */
  finds: number;
  /** What each cast gives (tcp6, tcp, timewait, request, udp6, unix, mptcp), 1 for non-NULL. */
  casts: [number, number, number, number, number, number, number];
}

export const SKC_PROBES: SkcProbe[] = [
  { label: 'tcp listener', op: 'tcp', src: '10.9.9.9:1234', dst: '10.1.0.1:8080', finds: 0, casts: [0, 1, 0, 0, 0, 0, 0] },
  { label: 'tcp established (accepted)', op: 'tcp', src: '10.1.0.1:40000', dst: '10.1.0.1:8080', finds: 2, casts: [0, 1, 0, 0, 0, 0, 0] },
  { label: 'skc tcp established (connected)', op: 'skc', src: '10.1.0.1:8080', dst: '10.1.0.1:40000', finds: 1, casts: [0, 1, 0, 0, 0, 0, 0] },
  { label: 'tcp6 listener', op: 'tcp', src: '[2001:db8::9]:1234', dst: '[2001:db8:1::1]:8443', finds: 3, casts: [1, 1, 0, 0, 0, 0, 0] },
  { label: 'tcp6 established (accepted)', op: 'tcp', src: '[2001:db8:1::1]:40001', dst: '[2001:db8:1::1]:8443', finds: 5, casts: [1, 1, 0, 0, 0, 0, 0] },
  { label: 'skc tcp6 established (connected)', op: 'skc', src: '[2001:db8:1::1]:8443', dst: '[2001:db8:1::1]:40001', finds: 4, casts: [1, 1, 0, 0, 0, 0, 0] },
  { label: 'udp6 bound', op: 'udp', src: '[2001:db8::9]:1234', dst: '[2001:db8:1::1]:5353', finds: 6, casts: [0, 0, 0, 0, 1, 0, 0] },
  { label: 'udp bound', op: 'udp', src: '10.9.9.9:1234', dst: '10.1.0.1:5353', finds: 7, casts: [0, 0, 0, 0, 0, 0, 0] },
  { label: 'skc time-wait', op: 'skc', src: '10.1.0.1:8080', dst: '10.1.0.1:40002', finds: 8, casts: [0, 0, 1, 0, 0, 0, 0] },
  { label: 'skc request socket', op: 'skc', src: '10.1.0.1:40003', dst: '10.1.0.1:8181', finds: 10, casts: [0, 0, 0, 1, 0, 0, 0] },
  { label: 'tcp lookup of a request socket: its listener', op: 'tcp', src: '10.1.0.1:40003', dst: '10.1.0.1:8181', finds: 9, casts: [0, 1, 0, 0, 0, 0, 0] },
  { label: 'skb->sk (the test run dummy socket)', op: 'skb-sk', finds: -1, casts: [0, 0, 0, 0, 0, 0, 0] },
];

/** Offsets in the probe frame: `struct skc_req` after the Ethernet header, then `struct skc_ans`. */
export const SKC_ANSWER_AT = 14 + 44;
/** Where the casts' answers start in `struct skc_ans` (after `found`, `same_tcp`, `sock_state`). */
export const SKC_CASTS_AT = 12;
/** sizeof(struct skc_cast_ans). */
export const SKC_CAST_SIZE = 72;
export const SKC_FRAME_SIZE = SKC_ANSWER_AT + SKC_CASTS_AT + 7 * SKC_CAST_SIZE;

function endpoint(s: string): { ip: Uint8Array; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(s) ?? /^(.+):(\d+)$/.exec(s)!;
  return { ip: parseIp(m![1])!, port: Number(m![2]) };
}

/** The probe frame of skc_probe. */
export function skcFrame(p: SkcProbe): Uint8Array {
  const f = new Uint8Array(SKC_FRAME_SIZE);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5]);
  const v = new DataView(f.buffer);
  v.setUint32(14, { tcp: 0, udp: 1, skc: 2, 'skb-sk': 3 }[p.op], true);
  if (p.src && p.dst) {
    const src = endpoint(p.src);
    const dst = endpoint(p.dst);
    v.setUint32(18, src.ip.length === 4 ? 0 : 1, true);
    const a = src.ip.length;
    f.set(src.ip, 22);
    f.set(dst.ip, 22 + a);
    v.setUint16(22 + 2 * a, src.port);
    v.setUint16(22 + 2 * a + 2, dst.port);
  }
  return f;
}

/** The answer's per-cast non-NULL flags. */
export function castFlags(out: Uint8Array): number[] {
  const v = new DataView(out.buffer, out.byteOffset);
  return [0, 1, 2, 3, 4, 5, 6].map((i) => v.getUint32(SKC_ANSWER_AT + SKC_CASTS_AT + i * SKC_CAST_SIZE, true));
}
