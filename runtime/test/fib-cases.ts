/**
 * One host network (interfaces, addresses, routes, neighbours) and the bpf_fib_lookup /
 * bpf_redirect_neigh probes run against it: shared by fib.test.ts (bpf2wasm, with the results
 * the kernel gave) and fib-oracle.test.ts (the same state built in a network namespace with
 * `ip`, the same probes through the kernel's BPF_PROG_TEST_RUN, compared byte by byte).
 *
 * The probes go through test-programs/c/xdp_fwd.c's `fib_probe` (XDP) and `fib_probe_tc` (tc):
 * after a 14-byte Ethernet header, the frame carries the flags (u32), a slot for the return
 * value (s32) and `struct bpf_fib_lookup`, and the program writes the result back.
 */
import type { HostNetwork } from '../packet/net.js';
import { parseIp } from '../packet/net.js';
import { ETH_P, ether, ipv4, ipv6, udp } from './frames.js';

/** The host: two veth pairs a0/a1 (10, 11) and b0/b1 (20, 21); a0 and b0 forward. */
export const NET: HostNetwork = {
  interfaces: [
    { ifindex: 10, name: 'a0', mac: '02:00:00:00:0a:00', mtu: 1500, addresses: ['10.1.0.1/24', '2001:db8:1::1/64'] },
    { ifindex: 11, name: 'a1', mac: '02:00:00:00:0a:01', forwarding: false },
    { ifindex: 20, name: 'b0', mac: '02:00:00:00:0b:00', mtu: 1300, addresses: ['10.2.0.1/24', '2001:db8:2::1/64'] },
    { ifindex: 21, name: 'b1', mac: '02:00:00:00:0b:01', forwarding: false },
  ],
  routes: [
    { prefix: '10.20.0.0/16', via: '10.2.0.2' },
    { prefix: '10.21.0.0/16', via: '10.2.0.2', metric: 50 },
    { prefix: '10.21.0.0/16', via: '10.1.0.2', metric: 10 },
    { prefix: '10.30.0.0/16', via: '10.2.0.3', ifindex: 20 },
    { prefix: '10.40.0.0/16', type: 'blackhole' },
    { prefix: '10.41.0.0/16', type: 'unreachable' },
    { prefix: '10.42.0.0/16', type: 'prohibit' },
    { prefix: '10.50.0.0/16', via: '10.2.0.2', mtu: 1200 },
    { prefix: '10.51.0.0/16', via: '10.2.0.2', src: '10.2.0.1' },
    { prefix: '10.60.0.0/16', via: '10.1.0.2', table: 100 },
    { prefix: '10.70.0.0/16', via: '2001:db8:2::2', ifindex: 20 },
    { prefix: '10.80.0.0/16', via: '10.2.0.4' },
    { prefix: '2001:db8:20::/48', via: '2001:db8:2::2' },
    { prefix: '2001:db8:30::/48', via: '2001:db8:2::3', ifindex: 20 },
    { prefix: '2001:db8:40::/48', type: 'blackhole' },
    { prefix: '2001:db8:41::/48', type: 'unreachable' },
    { prefix: '2001:db8:42::/48', type: 'prohibit' },
    { prefix: '2001:db8:50::/48', via: '2001:db8:2::2', mtu: 1280 },
    { prefix: '2001:db8:60::/48', via: '2001:db8:1::2', table: 100 },
  ],
  neighbours: [
    { ip: '10.2.0.2', mac: '02:00:00:00:0b:02', ifindex: 20 },
    { ip: '10.1.0.2', mac: '02:00:00:00:0a:02', ifindex: 10 },
    { ip: '10.2.0.4', mac: '02:00:00:00:0b:04', ifindex: 20, state: 'stale' },
    { ip: '2001:db8:2::2', mac: '02:00:00:00:0b:22', ifindex: 20 },
    { ip: '2001:db8:1::2', mac: '02:00:00:00:0a:22', ifindex: 10 },
  ],
};

/** The input of one probe: the fields of `struct bpf_fib_lookup` it sets, and the flags. */
export interface FibProbe {
  label: string;
  family?: number;
  ifindex: number;
  src?: string;
  dst: string;
  totLen?: number;
  tbid?: number;
  flags?: number;
  /** Program: `fib_probe` (XDP, default) or `fib_probe_tc`. */
  tc?: boolean;
  /** Expected return value (as the kernel 6.18 gave it). */
  rc: number;
}

const F = { DIRECT: 1, OUTPUT: 2, SKIP_NEIGH: 4, TBID: 8, SRC: 16, MARK: 32 };

/** The probes, each with the kernel's return value. */
export const PROBES: FibProbe[] = [
  { label: 'v4 via gateway with neighbour', ifindex: 10, dst: '10.20.1.1', src: '10.1.0.9', rc: 0 },
  { label: 'v4 lower metric wins', ifindex: 20, dst: '10.21.1.1', rc: 0 },
  { label: 'v4 gateway without neighbour', ifindex: 10, dst: '10.30.1.1', rc: 7 },
  { label: 'v4 gateway neighbour stale', ifindex: 10, dst: '10.80.1.1', rc: 0 },
  { label: 'v4 blackhole', ifindex: 10, dst: '10.40.0.1', rc: 1 },
  { label: 'v4 unreachable', ifindex: 10, dst: '10.41.0.1', rc: 2 },
  { label: 'v4 prohibit', ifindex: 10, dst: '10.42.0.1', rc: 3 },
  { label: 'v4 no route', ifindex: 10, dst: '8.8.8.8', rc: 4 },
  { label: 'v4 local address', ifindex: 10, dst: '10.1.0.1', rc: 4 },
  { label: 'v4 broadcast address', ifindex: 10, dst: '10.2.0.255', rc: 4 },
  { label: 'v4 loopback net', ifindex: 10, dst: '127.0.0.5', rc: 4 },
  { label: 'v4 connected host with neighbour', ifindex: 10, dst: '10.2.0.2', rc: 0 },
  { label: 'v4 connected host without neighbour', ifindex: 10, dst: '10.2.0.77', rc: 7 },
  { label: 'v4 unknown ifindex', ifindex: 99, dst: '10.20.1.1', rc: -19 },
  { label: 'v4 forwarding off', ifindex: 11, dst: '10.20.1.1', rc: 5 },
  { label: 'v4 forwarding off on lo', ifindex: 1, dst: '10.20.1.1', rc: 5 },
  { label: 'v4 mtu fits', ifindex: 10, dst: '10.20.1.1', totLen: 1300, rc: 0 },
  { label: 'v4 mtu exceeded', ifindex: 10, dst: '10.20.1.1', totLen: 1301, rc: 8 },
  { label: 'v4 locked route mtu', ifindex: 10, dst: '10.50.1.1', totLen: 1201, rc: 8 },
  { label: 'v4 locked route mtu fits', ifindex: 10, dst: '10.50.1.1', totLen: 1200, rc: 0 },
  { label: 'v4 output on the wrong interface', ifindex: 10, dst: '10.20.1.1', flags: F.OUTPUT, rc: 4 },
  { label: 'v4 output on the route interface', ifindex: 20, dst: '10.20.1.1', flags: F.OUTPUT, rc: 0 },
  { label: 'v4 output on the connected interface', ifindex: 10, dst: '10.1.0.2', flags: F.OUTPUT, rc: 0 },
  { label: 'v4 direct main', ifindex: 10, dst: '10.20.1.1', flags: F.DIRECT, rc: 0 },
  { label: 'v4 direct local address', ifindex: 10, dst: '10.1.0.1', flags: F.DIRECT, rc: 4 },
  { label: 'v4 direct table 100', ifindex: 10, dst: '10.60.1.1', flags: F.DIRECT | F.TBID, tbid: 100, rc: 0 },
  { label: 'v4 direct table 100 misses main routes', ifindex: 10, dst: '10.20.1.1', flags: F.DIRECT | F.TBID, tbid: 100, rc: 4 },
  { label: 'v4 direct missing table', ifindex: 10, dst: '10.20.1.1', flags: F.DIRECT | F.TBID, tbid: 200, rc: 4 },
  { label: 'v4 tbid without direct', ifindex: 10, dst: '10.60.1.1', flags: F.TBID, tbid: 100, rc: 4 },
  { label: 'v4 main misses table 100', ifindex: 10, dst: '10.60.1.1', rc: 4 },
  { label: 'v4 skip neigh', ifindex: 10, dst: '10.30.1.1', flags: F.SKIP_NEIGH, rc: 0 },
  { label: 'v4 src from interface', ifindex: 10, dst: '10.20.1.1', flags: F.SRC, rc: 0 },
  { label: 'v4 src from route', ifindex: 10, dst: '10.51.1.1', flags: F.SRC, rc: 0 },
  { label: 'v4 src and skip neigh', ifindex: 10, dst: '10.30.1.1', flags: F.SRC | F.SKIP_NEIGH, rc: 0 },
  { label: 'v4 mark flag', ifindex: 10, dst: '10.20.1.1', flags: F.MARK, rc: 0 },
  { label: 'v4 via inet6 gateway', ifindex: 10, dst: '10.70.1.1', rc: 0 },
  { label: 'unknown flag', ifindex: 10, dst: '10.20.1.1', flags: 0x40, rc: -22 },
  { label: 'unknown family', family: 7, ifindex: 10, dst: '10.20.1.1', rc: -97 },
  { label: 'v6 via gateway with neighbour', ifindex: 10, dst: '2001:db8:20::1', src: '2001:db8:1::9', rc: 0 },
  { label: 'v6 gateway without neighbour', ifindex: 10, dst: '2001:db8:30::1', rc: 7 },
  { label: 'v6 blackhole', ifindex: 10, dst: '2001:db8:40::1', rc: 1 },
  { label: 'v6 unreachable', ifindex: 10, dst: '2001:db8:41::1', rc: 2 },
  { label: 'v6 prohibit', ifindex: 10, dst: '2001:db8:42::1', rc: 3 },
  { label: 'v6 no route', ifindex: 10, dst: '2001:db9::1', rc: 4 },
  { label: 'v6 link-local destination', ifindex: 10, dst: 'fe80::1', rc: 4 },
  { label: 'v6 multicast destination', ifindex: 10, dst: 'ff02::1', rc: 4 },
  { label: 'v6 link-local source', ifindex: 10, src: 'fe80::9', dst: '2001:db8:20::1', rc: 4 },
  { label: 'v6 local address', ifindex: 10, dst: '2001:db8:1::1', rc: 4 },
  { label: 'v6 subnet-router anycast', ifindex: 10, dst: '2001:db8:2::', rc: 4 },
  { label: 'v6 connected host with neighbour', ifindex: 10, dst: '2001:db8:2::2', rc: 0 },
  { label: 'v6 unknown ifindex', ifindex: 99, dst: '2001:db8:20::1', rc: -19 },
  { label: 'v6 forwarding off', ifindex: 11, dst: '2001:db8:20::1', rc: 5 },
  { label: 'v6 mtu exceeded', ifindex: 10, dst: '2001:db8:20::1', totLen: 1301, rc: 8 },
  { label: 'v6 locked route mtu', ifindex: 10, dst: '2001:db8:50::1', totLen: 1281, rc: 8 },
  { label: 'v6 direct local address', ifindex: 10, dst: '2001:db8:1::1', flags: F.DIRECT, rc: 7 },
  { label: 'v6 direct table 100', ifindex: 10, dst: '2001:db8:60::1', flags: F.DIRECT | F.TBID, tbid: 100, rc: 0 },
  { label: 'v6 output', ifindex: 20, dst: '2001:db8:20::1', flags: F.OUTPUT, rc: 0 },
  { label: 'v6 skip neigh', ifindex: 10, dst: '2001:db8:30::1', flags: F.SKIP_NEIGH, rc: 0 },
  { label: 'v6 src', ifindex: 10, dst: '2001:db8:20::1', flags: F.SRC, rc: 0 },
  { label: 'tc v4 without tot_len', tc: true, ifindex: 10, dst: '10.20.1.1', rc: 0 },
  { label: 'tc v4 tot_len exceeded', tc: true, ifindex: 10, dst: '10.20.1.1', totLen: 1400, rc: 8 },
  { label: 'tc v4 no neighbour', tc: true, ifindex: 10, dst: '10.30.1.1', rc: 7 },
  { label: 'tc v6 without tot_len', tc: true, ifindex: 10, dst: '2001:db8:20::1', rc: 0 },
  { label: 'tc v6 blackhole', tc: true, ifindex: 10, dst: '2001:db8:40::1', rc: 1 },
];

/** The probe frame: Ethernet header, flags, return slot (0x5a5a5a5a), `struct bpf_fib_lookup`. */
export function probeFrame(p: FibProbe): Uint8Array {
  const f = new Uint8Array(14 + 8 + 64);
  f.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5]);
  const v = new DataView(f.buffer);
  v.setUint32(14, p.flags ?? 0, true);
  v.setUint32(18, 0x5a5a5a5a, true);
  const s = 22;
  const dst = parseIp(p.dst)!;
  f[s] = p.family ?? (dst.length === 4 ? 2 : 10);
  f[s + 1] = 17;
  v.setUint16(s + 2, 0x1234);
  v.setUint16(s + 4, 0x0035);
  v.setUint16(s + 6, p.totLen ?? 0, true);
  v.setUint32(s + 8, p.ifindex, true);
  if (p.src) f.set(parseIp(p.src)!, s + 16);
  f.set(dst, s + 32);
  v.setUint32(s + 48, p.tbid ?? 0, true);
  // smac/dmac start as a pattern, so that what the lookup leaves alone shows.
  f.fill(0xee, s + 52, s + 64);
  return f;
}

/** Frames for `xdp_fwd`: UDP over IPv4 and IPv6 to the probes' destinations, with their ingress. */
export const FWD_FRAMES: { label: string; data: Uint8Array; ingress: number }[] = [
  { label: 'v4 routed', ingress: 10, data: ether(ETH_P.IP, ipv4({ proto: 17, src: '10.1.0.9', dst: '10.20.1.1', payload: udp({ dport: 53, src: '10.1.0.9', dst: '10.20.1.1' }) })) },
  { label: 'v4 no neighbour', ingress: 10, data: ether(ETH_P.IP, ipv4({ proto: 17, src: '10.1.0.9', dst: '10.30.1.1', payload: udp({ dport: 53 }) })) },
  { label: 'v4 blackhole', ingress: 10, data: ether(ETH_P.IP, ipv4({ proto: 17, dst: '10.40.0.1', payload: udp({ dport: 53 }) })) },
  { label: 'v4 ttl 1', ingress: 10, data: ether(ETH_P.IP, ipv4({ proto: 17, ttl: 1, dst: '10.20.1.1', payload: udp({ dport: 53 }) })) },
  { label: 'v4 from a non-forwarding interface', ingress: 11, data: ether(ETH_P.IP, ipv4({ proto: 17, dst: '10.20.1.1', payload: udp({ dport: 53 }) })) },
  { label: 'v4 on lo', ingress: 1, data: ether(ETH_P.IP, ipv4({ proto: 17, dst: '10.20.1.1', payload: udp({ dport: 53 }) })) },
  { label: 'v6 routed', ingress: 10, data: ether(ETH_P.IPV6, ipv6({ next: 17, src: [...parseIp('2001:db8:1::9')!], dst: [...parseIp('2001:db8:20::1')!], payload: udp({ dport: 53 }) })) },
  { label: 'v6 prohibit', ingress: 10, data: ether(ETH_P.IPV6, ipv6({ next: 17, src: [...parseIp('2001:db8:1::9')!], dst: [...parseIp('2001:db8:42::1')!], payload: udp({ dport: 53 }) })) },
  { label: 'arp passes', ingress: 10, data: ether(ETH_P.ARP, new Uint8Array(28)) },
];

/** `struct xdp_md` naming the ingress interface (rx queue 0) for a frame of `len` bytes. */
export function xdpCtx(ingress: number, len: number): Uint8Array {
  const c = new Uint8Array(24);
  const v = new DataView(c.buffer);
  v.setUint32(4, len, true);
  v.setUint32(12, ingress, true);
  return c;
}

/** A tc_neigh frame: an IPv4 UDP packet to `dst`, then the probe (ifindex, switch, flags, bpf_redir_neigh). */
export function neighFrame(dst: string, ifindex: number, nh?: string, flags = 0): Uint8Array {
  const pkt = ether(ETH_P.IP, ipv4({ proto: 17, dst, payload: udp({ dport: 53 }) }));
  const probe = new Uint8Array(32);
  const v = new DataView(probe.buffer);
  v.setUint32(0, ifindex, true);
  v.setUint32(4, nh ? 1 : 0, true);
  v.setUint32(8, flags, true);
  if (nh) {
    const a = parseIp(nh)!;
    v.setUint32(12, a.length === 4 ? 2 : 10, true);
    probe.set(a, 16);
  }
  return new Uint8Array([...pkt, ...probe]);
}

/** tc_neigh frames for the kernel comparison (return values). */
export const NEIGH_FRAMES: [string, Uint8Array][] = [
  ['nexthop given', neighFrame('10.20.1.1', 20, '10.2.0.2')],
  ['IPv6 nexthop given', neighFrame('10.20.1.1', 20, '2001:db8:2::2')],
  ['route to the destination', neighFrame('10.20.1.1', 20)],
  ['unknown ifindex', neighFrame('10.20.1.1', 77)],
  ['flags refused', neighFrame('10.20.1.1', 20, undefined, 1)],
  ['flags refused with a nexthop', neighFrame('10.20.1.1', 20, '10.2.0.2', 2)],
];

/** A bpf_check_mtu probe of `mtu_probe` / `mtu_probe_tc`, with the kernel's return value. */
export interface MtuProbe { label: string; ifindex: number; mtuLen?: number; lenDiff?: number; flags?: bigint; tc?: boolean; rc: number }

export const MTU_PROBES: MtuProbe[] = [
  { label: 'the run device (lo, 65536)', ifindex: 0, rc: 0 },
  { label: 'a0 (1500)', ifindex: 10, rc: 0 },
  { label: 'unknown ifindex', ifindex: 99, rc: -19 },
  { label: 'mtu_len at the MTU of b0 (1300)', ifindex: 20, mtuLen: 1300, rc: 0 },
  { label: 'mtu_len past the MTU', ifindex: 20, mtuLen: 1301, rc: 1 },
  { label: 'len_diff past the MTU', ifindex: 20, lenDiff: 1300, rc: 1 },
  { label: 'negative len_diff', ifindex: 20, mtuLen: 1400, lenDiff: -100, rc: 0 },
  { label: 'xdp flags', ifindex: 10, flags: 1n, rc: -22 },
  { label: 'tc segs', tc: true, ifindex: 10, flags: 1n, rc: 0 },
  { label: 'tc segs with len_diff', tc: true, ifindex: 10, flags: 1n, lenDiff: 4, rc: -22 },
  { label: 'tc unknown flag', tc: true, ifindex: 10, flags: 2n, rc: -22 },
  { label: 'tc len_diff past the MTU', tc: true, ifindex: 20, lenDiff: 1300, rc: 1 },
  { label: 'tc unknown ifindex', tc: true, ifindex: 98, rc: -19 },
];

/** The frame of an MTU probe (Ethernet header, ifindex, mtu_len, len_diff, pad, flags, return slot). */
export function mtuFrame(p: MtuProbe): Uint8Array {
  const f = new Uint8Array(14 + 32 + 8);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5]);
  const v = new DataView(f.buffer);
  v.setUint32(14, p.ifindex, true);
  v.setUint32(18, p.mtuLen ?? 0, true);
  v.setInt32(22, p.lenDiff ?? 0, true);
  v.setBigUint64(30, p.flags ?? 0n, true);
  v.setInt32(38, 0x5a5a5a5a, true);
  return f;
}
