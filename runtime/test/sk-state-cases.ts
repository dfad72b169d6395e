/**
 * The probes of test-programs/c/sk_state.c (sk-state.test.ts, sk-state-oracle.test.ts): the
 * host's sockets, the frames, how to read the answer, and what each probe must answer (the
 * listener's and no-socket rows as the kernel gave them).
 */
import type { HostNetwork } from '../packet/net.js';

/** The established socket's TCP state, as the kernel reported it for such a socket. */
const EST_TCP = { snd_cwnd: 10, srtt_us: 224, rtt_min: 28, rcv_nxt: 1925177724, snd_nxt: 1283594933, mss_cache: 32768, total_retrans: 2, bytes_acked: 2 ** 40 + 5 };

/** Sockets as `ss` showed them in the kernel's namespace, plus a request and a time-wait socket. */
export const STATE_NET: HostNetwork = {
  interfaces: [{ ifindex: 1, addresses: ['10.9.0.2/32'] }],
  sockets: [
    { protocol: 'tcp', local: '10.9.0.2:80' },
    { protocol: 'tcp', local: '10.9.0.2:80', remote: '10.9.0.2:40001', tcp: EST_TCP },
    { protocol: 'tcp', local: '10.9.0.2:40001', remote: '10.9.0.2:80' },
    { protocol: 'tcp', local: '10.9.0.2:80', remote: '10.9.0.3:5000', state: 'syn-recv' },
    { protocol: 'tcp', local: '10.9.0.2:80', remote: '10.9.0.4:6000', state: 'time-wait' },
  ],
};

/** sizeof(struct ans) in sk_state.c. */
const ANS = 128;

/** An Ethernet + IPv4 + TCP frame from saddr:sport to 10.9.0.2:dport with room for the answer (bpf_sk_assign's flags first). */
export function stateFrame(saddr: number[], sport: number, dport: number, flags = 0n): Uint8Array {
  const f = new Uint8Array(14 + 20 + 20 + ANS);
  const v = new DataView(f.buffer);
  f.fill(2, 0, 6);
  f.fill(4, 6, 12);
  v.setUint16(12, 0x0800);
  f.set([0x45, 0], 14);
  v.setUint16(16, 40 + ANS);
  f[22] = 64;
  f[23] = 6;
  f.set(saddr, 26);
  f.set([10, 9, 0, 2], 30);
  v.setUint16(34, sport);
  v.setUint16(36, dport);
  f[46] = 0x50;
  f[47] = 0x10;
  v.setBigUint64(54, flags, true);
  return f;
}

/** `struct ans` of sk_state.c. */
export interface StateAnswer {
  found: number; full: number; fullSame: number; tcp: number;
  tcpFields: number[]; bytesAcked: bigint; listener: number; listenerPort: number; listenerState: number;
  assign: bigint; skbCgroup: bigint[]; xfrm: bigint; xfrmZero: number;
}

/** Reads `struct ans` of sk_state.c from an output frame. */
export function stateAnswer(out: Uint8Array): StateAnswer {
  const v = new DataView(out.buffer, out.byteOffset + 54, ANS);
  const u = (o: number): number => v.getUint32(o, true);
  return {
    found: u(8), full: u(12), fullSame: u(16), tcp: u(20),
    tcpFields: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => u(24 + 4 * i)), bytesAcked: v.getBigUint64(56, true),
    listener: u(64), listenerPort: u(68), listenerState: u(72), assign: v.getBigInt64(80, true),
    skbCgroup: [88, 96, 104].map((o) => v.getBigUint64(o, true)), xfrm: v.getBigInt64(112, true), xfrmZero: u(120),
  };
}

/** What every run reports without looking at the socket (the kernel's, on a host in the root cgroup). */
export const SKB = { skbCgroup: [1n, 1n, 0n], xfrm: -22n, xfrmZero: 1 };
const NO_TCP = [0, 0, 0, 0, 0, 0, 0, 0];

/** Probes: frame, expected answer (the listener's and no-socket rows as the kernel gave them). */
export const STATE_PROBES: { label: string; frame: Uint8Array; want: Partial<StateAnswer> }[] = [
  {
    label: 'listener: full, tcp_init_sock state, its own listener, not assignable outside tc ingress',
    frame: stateFrame([10, 9, 0, 2], 40000, 80),
    want: { found: 1, full: 1, fullSame: 1, tcp: 1, tcpFields: [10, 0, 0xffffffff, 0x7fffffff, 0, 0, 536, 0], bytesAcked: 0n, listener: 1, listenerPort: 80, listenerState: 10, assign: -95n, ...SKB },
  },
  {
    label: 'established: the host\'s TCP state, no listener',
    frame: stateFrame([10, 9, 0, 2], 40001, 80),
    want: { found: 1, full: 1, fullSame: 1, tcp: 1, tcpFields: [10, 224, 28, 0x7fffffff, 1925177724, 1283594933, 32768, 2], bytesAcked: 2n ** 40n + 5n, listener: 0, assign: -95n, ...SKB },
  },
  {
    label: 'request socket: not full, no tcp_sock, its listener',
    frame: stateFrame([10, 9, 0, 3], 5000, 80),
    want: { found: 1, full: 0, fullSame: 0, tcp: 0, tcpFields: NO_TCP, listener: 1, listenerPort: 80, listenerState: 10, assign: -95n, ...SKB },
  },
  {
    label: 'time-wait socket: not full, no tcp_sock, no listener',
    frame: stateFrame([10, 9, 0, 4], 6000, 80),
    want: { found: 1, full: 0, tcp: 0, tcpFields: NO_TCP, listener: 0, assign: -95n, ...SKB },
  },
  { label: 'no socket', frame: stateFrame([10, 9, 0, 2], 40000, 81), want: { found: 0, full: 0, tcp: 0, listener: 0, assign: 0n, ...SKB } },
  { label: 'bpf_sk_assign with flags: -EINVAL first', frame: stateFrame([10, 9, 0, 2], 40000, 80, 1n), want: { found: 1, assign: -22n, ...SKB } },
];

