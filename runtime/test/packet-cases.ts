/**
 * The packet programs of test-programs/c and the frames each runs over: shared by the verdict
 * tests (packet.test.ts) and the kernel differential test (kernel-oracle.test.ts), so the same
 * frames go through bpf2wasm and through the kernel's BPF_PROG_TEST_RUN.
 */
import { ETH_P, ether, ext6, icmp, ipv4, ipv6, tcp, udp, mac } from './frames.js';

export { ETH_P };

/** One program and its frames. */
export interface PacketCase {
  object: string;
  program: string;
  type: 'xdp' | 'tc' | 'socket';
  frames: { label: string; data: Uint8Array }[];
  skbData?: 'mac' | 'network';
  /** Sent as ctx_in with every frame (skb programs). */
  ctxIn?: Uint8Array;
  /** Results depend on the host (routes, hash seeds): no kernel comparison. */
  hostDependent?: boolean;
  /** Map elements set before the object's first case runs (u32 keys and values). */
  maps?: { map: string; key: number; value: number }[];
}

const SYN = 0x02;
const ACK = 0x10;
const ip = (proto: number, payload: Uint8Array, extra: Partial<Parameters<typeof ipv4>[0]> = {}): Uint8Array =>
  ether(ETH_P.IP, ipv4({ proto, payload, ...extra }));

const tcpFrames = [
  { label: 'tcp syn :80', data: ip(6, tcp({ dport: 80, flags: SYN })) },
  { label: 'tcp syn-ack', data: ip(6, tcp({ dport: 80, flags: SYN | ACK })) },
  { label: 'tcp ack :22', data: ip(6, tcp({ dport: 22, flags: ACK, payload: [1, 2, 3] })) },
  { label: 'tcp syn :443 with IP options', data: ip(6, tcp({ dport: 443, flags: SYN }), { options: [1, 1, 1, 0] }) },
  { label: 'tcp syn fragment', data: ip(6, tcp({ dport: 80, flags: SYN }), { fragOff: 0x0004 }) },
  { label: 'udp :80', data: ip(17, udp({ dport: 80 })) },
  { label: 'udp :80 no checksum', data: ip(17, udp({ dport: 80, noChecksum: true })) },
  { label: 'udp :53', data: ip(17, udp({ dport: 53, payload: new Array<number>(80).fill(7) })) },
  { label: 'icmp echo', data: ip(1, icmp(8, 0, [0, 1, 0, 1, 0xde, 0xad, 0xbe, 0xef])) },
  { label: 'icmp echo reply', data: ip(1, icmp(0, 0, [0, 1, 0, 1])) },
  { label: 'icmp truncated', data: ip(1, new Uint8Array([8, 0, 0])) },
  { label: 'ttl 1', data: ip(6, tcp({ dport: 80, flags: SYN }), { ttl: 1 }) },
  { label: 'ecn ect0', data: ip(17, udp({ dport: 80 }), { tos: 0x02 }) },
  { label: 'broadcast arp', data: ether(ETH_P.ARP, new Uint8Array(28).fill(1), { dst: mac('ff:ff:ff:ff:ff:ff') }) },
  { label: 'multicast', data: ether(ETH_P.IP, ipv4({ proto: 17, payload: udp({ dport: 5353 }) }), { dst: mac('01:00:5e:00:00:fb') }) },
  { label: 'to host (zero MAC)', data: ether(ETH_P.IP, ipv4({ proto: 6, payload: tcp({ dport: 80, flags: SYN }) }), { dst: [0, 0, 0, 0, 0, 0] }) },
  { label: 'vlan 100 tcp', data: ether(ETH_P.IP, ipv4({ proto: 6, payload: tcp({ dport: 80, flags: SYN }) }), { tags: [[0x8100, 100]] }) },
  { label: 'qinq 10/20', data: ether(ETH_P.IP, ipv4({ proto: 17, payload: udp({ dport: 53 }) }), { tags: [[0x88a8, 10], [0x8100, 20]] }) },
  { label: 'vlan runt', data: ether(0x8100, [0, 5]) },
  { label: 'ipv6 udp', data: ether(ETH_P.IPV6, ipv6({ next: 17, payload: udp({ dport: 53 }) })) },
  { label: 'ipv6 hbh+dst icmpv6 echo', data: ether(ETH_P.IPV6, ipv6({ next: 0, payload: [...ext6(0, 60), ...ext6(60, 58, 1), 128, 0, 0, 0, 0, 1, 0, 1] })) },
  { label: 'ipv6 frag+ah tcp', data: ether(ETH_P.IPV6, ipv6({ next: 44, payload: [...ext6(44, 51), ...ext6(51, 6, 1), ...tcp({ dport: 80, flags: SYN })] })) },
  { label: 'ipv6 9 ext headers', data: ether(ETH_P.IPV6, ipv6({ next: 60, payload: [...Array.from({ length: 9 }, () => ext6(60, 60)).flat(), ...ext6(60, 17)] })) },
  { label: 'ipv6 chain past the end', data: ether(ETH_P.IPV6, ipv6({ next: 0, payload: [43, 4, 0, 0, 0, 0, 0, 0] })) },
  { label: 'long frame 300 bytes', data: ip(17, udp({ dport: 9, payload: new Array<number>(258).fill(0x5a) })) },
  { label: 'first byte 0xee', data: ether(ETH_P.IP, ipv4({ proto: 17, payload: udp({ dport: 9 }) }), { dst: mac('ee:00:00:00:00:01') }) },
  { label: 'minimal 14 bytes', data: ether(0x88b5, []) },
  { label: 'raw 802.3 length', data: ether(0x0040, new Uint8Array(64).fill(0xaa)) },
  { label: 'runt 10 bytes', data: new Uint8Array(10).fill(3) },
  { label: 'empty', data: new Uint8Array(0) },
];

/** Frames around the test run's size limits (XDP: 3520 linear bytes, skb: 3712 bytes). */
const bigFrames = [
  { label: 'udp 3520 bytes', data: ip(17, udp({ dport: 9, payload: new Array<number>(3520 - 42).fill(0x11) })) },
  { label: 'udp 3521 bytes', data: ip(17, udp({ dport: 9, payload: new Array<number>(3521 - 42).fill(0x12) })) },
  { label: 'udp 3712 bytes', data: ip(17, udp({ dport: 9, payload: new Array<number>(3712 - 42).fill(0x13) })) },
  { label: 'udp 3713 bytes', data: ip(17, udp({ dport: 9, payload: new Array<number>(3713 - 42).fill(0x14) })) },
  { label: 'jumbo 9000 bytes', data: ip(17, udp({ dport: 9, payload: Array.from({ length: 9000 - 42 }, (_, i) => i & 0xff) })) },
];

/** An `struct xdp_md` in. */
function xdpMd(data: number, dataEnd: number, ingress = 0, rxq = 0, egress = 0): Uint8Array {
  const c = new Uint8Array(24);
  const v = new DataView(c.buffer);
  v.setUint32(0, data, true);
  v.setUint32(4, dataEnd, true);
  v.setUint32(12, ingress, true);
  v.setUint32(16, rxq, true);
  v.setUint32(20, egress, true);
  return c;
}
/** A `struct __sk_buff` in with one u32 field set. */
function skbWith(offset: number, value: number): Uint8Array {
  const c = new Uint8Array(192);
  new DataView(c.buffer).setUint32(offset, value, true);
  return c;
}
const frame60 = ip(17, udp({ dport: 53, payload: new Array<number>(18).fill(9) }));
const meta8 = new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, ...frame60]);

/** Every packet program of test-programs/c with its frames. */
export const PACKET_CASES: readonly PacketCase[] = [
  { object: 'xdp_counter', program: 'count_packets', type: 'xdp', frames: tcpFrames },
  { object: 'xdp_port_count', program: 'port_count', type: 'xdp', frames: tcpFrames },
  { object: 'xdp_drop_icmp', program: 'xdp_drop_icmp', type: 'xdp', frames: tcpFrames },
  { object: 'sock_syn', program: 'syn_mac', type: 'socket', skbData: 'mac', frames: tcpFrames },
  { object: 'sock_syn', program: 'syn_net', type: 'socket', skbData: 'network', frames: tcpFrames },
  { object: 'tc_port_rewrite', program: 'port_rewrite', type: 'tc', frames: tcpFrames },
  { object: 'xdp_vlan_strip', program: 'vlan_strip', type: 'xdp', frames: tcpFrames },
  { object: 'xdp_responder', program: 'icmp_echo', type: 'xdp', frames: tcpFrames },
  { object: 'ldabs_filter', program: 'dns_only', type: 'socket', skbData: 'network', frames: tcpFrames },
  // Negative LD_ABS / LD_IND offsets (SKF_NET_OFF, SKF_LL_OFF) in both skbData modes.
  ...['ll_type', 'net_proto', 'net_saddr', 'net_last', 'net_past', 'll_proto', 'net_minus', 'below_ll'].flatMap((program) => (['network', 'mac'] as const).map((skbData) => (
    { object: 'ldabs_neg', program, type: 'socket' as const, skbData, frames: tcpFrames.slice(0, 8) }))),
  // CO-RE: local flavours of __sk_buff and xdp_md relocated against the presented contexts (the
  // kernel's libbpf relocates them against vmlinux BTF).
  { object: 'core_ctx', program: 'skb_fields', type: 'tc', frames: tcpFrames, ctxIn: skbWith(8, 3) },
  { object: 'core_ctx', program: 'skb_info', type: 'tc', frames: tcpFrames.slice(0, 3) },
  { object: 'core_ctx', program: 'narrow', type: 'tc', frames: tcpFrames },
  { object: 'core_ctx', program: 'xdp_bounds', type: 'xdp', frames: tcpFrames },
  { object: 'ipv6_exthdr', program: 'ext_walk', type: 'xdp', frames: tcpFrames },
  { object: 'xdp_meta_trim', program: 'meta_trim', type: 'xdp', frames: tcpFrames },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: tcpFrames },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: tcpFrames },
  { object: 'ctx_dump', program: 'sock_ctx', type: 'socket', skbData: 'network', frames: tcpFrames },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: bigFrames },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: bigFrames },
  { object: 'ipv6_exthdr', program: 'ext_walk', type: 'xdp', frames: bigFrames },
  { object: 'xdp_meta_trim', program: 'meta_trim', type: 'xdp', frames: bigFrames },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'meta 8', data: meta8 }], ctxIn: xdpMd(8, meta8.length) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'lo queue 0', data: frame60 }], ctxIn: xdpMd(0, frame60.length, 1, 0) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'lo queue 1', data: frame60 }], ctxIn: xdpMd(0, frame60.length, 1, 1) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'ifindex 4242', data: frame60 }], ctxIn: xdpMd(0, frame60.length, 4242) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'egress set', data: frame60 }], ctxIn: xdpMd(0, frame60.length, 0, 0, 1) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'data_end wrong', data: frame60 }], ctxIn: xdpMd(0, 59) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'data_end past', data: frame60 }], ctxIn: xdpMd(0, 61) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'data_end 20 of jumbo', data: bigFrames[4]!.data }], ctxIn: xdpMd(0, 20) },
  { object: 'ipv6_exthdr', program: 'ext_walk', type: 'xdp', frames: [{ label: 'ipv6 ext split at 60', data: ether(ETH_P.IPV6, ipv6({ next: 0, payload: [...ext6(0, 60, 2), ...ext6(60, 58, 1), 128, 0, 0, 0] })) }], ctxIn: xdpMd(0, 60) },
  { object: 'ctx_dump', program: 'xdp_ctx', type: 'xdp', frames: [{ label: 'meta 6', data: frame60 }], ctxIn: xdpMd(6, frame60.length) },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: [{ label: 'len set', data: frame60 }], ctxIn: skbWith(0, 60) },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: [{ label: 'hash set', data: frame60 }], ctxIn: skbWith(68, 1) },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: [{ label: 'ifindex 1', data: frame60 }], ctxIn: skbWith(40, 1) },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: [{ label: 'ifindex 77', data: frame60 }], ctxIn: skbWith(40, 77) },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: [{ label: 'wire_len 1000', data: frame60 }], ctxIn: skbWith(160, 1000) },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: [{ label: 'wire_len 10', data: frame60 }], ctxIn: skbWith(160, 10) },
  { object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: [{ label: 'ingress_ifindex 5', data: frame60 }], ctxIn: skbWith(36, 5) },
  { object: 'ctx_dump', program: 'sock_ctx', type: 'socket', skbData: 'network', frames: [{ label: 'mark via ctx', data: frame60 }], ctxIn: skbWith(8, 99) },
  {
    object: 'xdp_redirect', program: 'redirect_by_port', type: 'xdp',
    maps: [{ map: 'tx_ports', key: 1, value: 1 }, { map: 'cpus', key: 0, value: 192 }, { map: 'tx_hash', key: 3, value: 1 }],
    frames: [1000, 1001, 1009, 2000, 2001, 3000, 4003, 4004, 5001, 5007, 6000, 999].map((port) => ({ label: `udp :${port}`, data: ip(17, udp({ dport: port })) })),
  },
  {
    object: 'tc_skb_edit', program: 'skb_edit', type: 'tc',
    frames: Array.from({ length: 17 }, (_, op) => [
      { label: `op ${op} ipv4`, data: ether(ETH_P.IP, ipv4({ proto: 17, tos: 1, payload: udp({ dport: 9, payload: new Array<number>(40).fill(op) }) }), { src: [2, 0, 0, 0, 0, op] }) },
      { label: `op ${op} ipv6`, data: ether(ETH_P.IPV6, ipv6({ next: 17, payload: udp({ dport: 9, payload: new Array<number>(20).fill(op) }) }), { src: [2, 0, 0, 0, 0, op] }) },
      { label: `op ${op} vlan`, data: ether(ETH_P.IP, ipv4({ proto: 17, tos: 2, payload: udp({ dport: 9 }) }), { src: [2, 0, 0, 0, 0, op], tags: [[0x8100, 33]] }) },
      { label: `op ${op} qinq`, data: ether(ETH_P.IP, ipv4({ proto: 17, payload: udp({ dport: 9 }) }), { src: [2, 0, 0, 0, 0, op], tags: [[0x88a8, 10], [0x8100, 20]] }) },
    ]).flat(),
  },
  // Not compared with the kernel (bpf_fib_lookup depends on the host's routes and hashes on its
  // boot seed): packet.test.ts checks it; the programs test checks every compilation agrees.
  { object: 'tc_tunnel', program: 'tunnel', type: 'tc', frames: tcpFrames.slice(0, 12), hostDependent: true },
  // On the test run's host (no routes, forwarding off on lo); fib-oracle.test.ts compares them
  // with the kernel against a host with routes, in a network namespace.
  { object: 'xdp_fwd', program: 'xdp_fwd', type: 'xdp', frames: tcpFrames.slice(0, 6), hostDependent: true },
  { object: 'xdp_fwd', program: 'tc_neigh', type: 'tc', frames: tcpFrames.slice(0, 6), hostDependent: true },
  // Socket lookups find nothing on a host without sockets; sk-oracle.test.ts compares them with
  // the kernel against real sockets in a network namespace.
  { object: 'sk_lookup', program: 'sk_probe', type: 'xdp', frames: tcpFrames.slice(0, 6), hostDependent: true },
  { object: 'sk_lookup', program: 'sk_probe_tc', type: 'tc', frames: tcpFrames.slice(0, 6), hostDependent: true },
  { object: 'sk_leak', program: 'sk_leak', type: 'tc', frames: tcpFrames.slice(0, 6), hostDependent: true },
  // tc-misc.test.ts compares its probes with the kernel.
  { object: 'tc_misc', program: 'tc_misc', type: 'tc', frames: tcpFrames.slice(0, 6), hostDependent: true },
  // tc-tunhelp.test.ts compares its probes with the kernel (whose test run has the namespace's devices).
  { object: 'tc_tunhelp', program: 'tc_tunhelp', type: 'tc', frames: tcpFrames.slice(0, 6), hostDependent: true },
  // perf-pkt.test.ts compares them with the kernel (whose perf event array has no open event).
  { object: 'perf_pkt', program: 'perf_xdp', type: 'xdp', frames: tcpFrames.slice(0, 6), hostDependent: true },
  { object: 'perf_pkt', program: 'perf_tc', type: 'tc', frames: tcpFrames.slice(0, 6), hostDependent: true },
  { object: 'perf_pkt', program: 'perf_sock', type: 'socket', frames: tcpFrames.slice(0, 6), hostDependent: true },
  // sk-state-oracle.test.ts compares it with the kernel against real sockets.
  { object: 'sk_state', program: 'sk_state', type: 'tc', frames: tcpFrames.slice(0, 6), hostDependent: true },
  { object: 'xdp_redirect', program: 'tc_redirect', type: 'tc', frames: tcpFrames.slice(0, 9) },
  {
    object: 'ctx_dump', program: 'tc_ctx', type: 'tc', frames: tcpFrames.slice(0, 4),
    ctxIn: (() => {
      const c = new Uint8Array(192);
      const v = new DataView(c.buffer);
      v.setUint32(8, 0x1234, true); // mark
      v.setUint32(32, 7, true); // priority
      v.setUint32(48, 0xc0ffee, true); // cb[0]
      v.setUint32(164, 3, true); // gso_segs
      return c;
    })(),
  },
];
