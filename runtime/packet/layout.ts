/**
 * The kernel's packet context structs and the constants of BPF_PROG_TEST_RUN's buffers
 * (net/bpf/test_run.c on x86-64 with 4 KiB pages), the one home for these numbers.
 */

/** `struct xdp_md` field offsets (linux/bpf.h). */
export const XdpMd = { data: 0, data_end: 4, data_meta: 8, ingress_ifindex: 12, rx_queue_index: 16, egress_ifindex: 20, SIZE: 24 } as const;

/** `struct __sk_buff` field offsets (linux/bpf.h). */
export const SkBuff = {
  len: 0, pkt_type: 4, mark: 8, queue_mapping: 12, protocol: 16, vlan_present: 20, vlan_tci: 24, vlan_proto: 28,
  priority: 32, ingress_ifindex: 36, ifindex: 40, tc_index: 44, cb: 48, hash: 68, tc_classid: 72, data: 76,
  data_end: 80, napi_id: 84, family: 88, remote_ip4: 92, local_ip4: 96, remote_ip6: 100, local_ip6: 116,
  remote_port: 132, local_port: 136, data_meta: 140, flow_keys: 144, tstamp: 152, wire_len: 160, gso_segs: 164,
  sk: 168, gso_size: 176, tstamp_type: 180, hwtstamp: 184, SIZE: 192,
} as const;

/** `struct bpf_sock` field offsets (linux/bpf.h); 80 bytes. */
export const BpfSock = {
  bound_dev_if: 0, family: 4, type: 8, protocol: 12, mark: 16, priority: 20, src_ip4: 24, src_ip6: 28, src_port: 44,
  dst_port: 48, dst_ip4: 52, dst_ip6: 56, state: 72, rx_queue_mapping: 76, SIZE: 80,
} as const;

/**
 * Bytes at the end of an skb run's room kept for socket structs (runtime/packet/sockets.ts): the
 * test run's dummy socket first (skbDummySock), then the lookups' `struct bpf_sock`s up to the
 * middle, then `struct bpf_tcp_sock`s.
 */
export const SKB_SOCKET_AREA = 4096;

/**
 * Where an skb run whose room ends at `end` keeps the `struct bpf_sock` of the test run's dummy
 * socket, which `__sk_buff.sk` points to: the start of the socket area.
 */
export const skbDummySock = (end: number): number => end - SKB_SOCKET_AREA;

/**
 * The `struct bpf_sock` the kernel's test run presents for its dummy socket (net/bpf/test_run.c
 * bpf_prog_test_run_skb: sk_alloc(AF_UNSPEC) zeroed, sock_init_data(NULL, sk): TCP_CLOSE and no
 * rx queue, then the family and the addresses from the IPv4 / IPv6 header), as
 * bpf_sock_convert_ctx_access reads it: AF_INET with src_ip4 / dst_ip4 the header's saddr /
 * daddr (when the 20 bytes are there), AF_INET6 with src_ip6 / dst_ip6 (40 bytes), AF_UNSPEC for
 * anything else; state TCP_CLOSE (7), rx_queue_mapping -1 (NO_QUEUE_MAPPING), the rest 0 (no
 * bound device, type, protocol, mark, priority or ports). `protocol` is skb->protocol as
 * `__sk_buff.protocol` holds it; `l3` the bytes from the network header. Written at `at`, and
 * `__sk_buff.sk` of the context at `ctx` set to it.
 */
export function writeSkbDummySock(bytes: Uint8Array, view: DataView, ctx: number, at: number, protocol: number, l3: Uint8Array): void {
  bytes.fill(0, at, at + BpfSock.SIZE);
  if (protocol === 0x0008) {
    view.setUint32(at + BpfSock.family, 2, true);
    if (l3.length >= 20) {
      bytes.set(l3.subarray(12, 16), at + BpfSock.src_ip4);
      bytes.set(l3.subarray(16, 20), at + BpfSock.dst_ip4);
    }
  } else if (protocol === 0xdd86) {
    view.setUint32(at + BpfSock.family, 10, true);
    if (l3.length >= 40) {
      bytes.set(l3.subarray(8, 24), at + BpfSock.src_ip6);
      bytes.set(l3.subarray(24, 40), at + BpfSock.dst_ip6);
    }
  }
  view.setUint32(at + BpfSock.state, 7, true);
  view.setInt32(at + BpfSock.rx_queue_mapping, -1, true);
  view.setBigUint64(ctx + SkBuff.sk, BigInt(at), true);
}

/**
 * bpf2wasm's own fields after `struct __sk_buff` in the context area, set by an skb test run for
 * its duration (zero otherwise): the addresses of the Ethernet header, the network header and the
 * buffer's head, which the kernel keeps in `struct sk_buff` and the legacy loads' negative
 * offsets (SKF_LL_OFF, SKF_NET_OFF) need.
 */
export const SkbPrivate = { mac: 192, network: 196, head: 200, END: 204 } as const;
/** SKF_NET_OFF and SKF_LL_OFF (linux/filter.h): negative LD_ABS/LD_IND offsets from the network and link-layer headers. */
export const SKF_NET_OFF = -0x100000;
export const SKF_LL_OFF = -0x200000;

/** XDP and tc actions (their home is runtime/uapi). */
export { XdpAction, TcAction } from '../uapi/index.js';

/** Bytes reserved for the context struct before the packet buffer (both structs fit; 8-aligned). */
export const CONTEXT_AREA = 256;
/** PAGE_SIZE: the test run's buffers are one page (XDP: plus one page per fragment). */
export const PAGE_SIZE = 4096;
/** XDP_PACKET_HEADROOM: bytes before `data` in an XDP buffer. */
export const XDP_PACKET_HEADROOM = 256;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)): the tailroom both buffers reserve. */
export const SHINFO_SIZE = 320;
/** sizeof(struct xdp_frame): the start of the headroom bpf_xdp_adjust_head/_meta may not reach. */
export const XDP_FRAME_SIZE = 40;
/** The linear part of a test-run XDP buffer without metadata: 4096 - 256 - 320. */
export const XDP_MAX_LINEAR = PAGE_SIZE - XDP_PACKET_HEADROOM - SHINFO_SIZE;
/** MAX_SKB_FRAGS: fragments an XDP buffer may have. */
export const MAX_SKB_FRAGS = 17;
/** NET_SKB_PAD + NET_IP_ALIGN: the headroom of a test-run skb. */
export const SKB_HEADROOM = 64;
/** Room of an skb test run before its headroom and after its data: helpers that grow the packet move within it. */
export const SKB_ROOM_BEFORE = 4096;
export const SKB_ROOM_AFTER = 65536 + 4096;
/** The largest frame the skb test run takes: 4096 - 64 - 320. */
export const SKB_MAX_DATA = PAGE_SIZE - SKB_HEADROOM - SHINFO_SIZE;
/** ETH_HLEN. */
export const ETH_HLEN = 14;
/** The most metadata bytes (`xdp_metalen_invalid`: 4-aligned, at most the u8 `meta_len`). */
export const XDP_META_MAX = 255;
/** GSO_LEGACY_MAX_SIZE and GSO_MAX_SEGS: the test run's limits on wire_len and gso_segs. */
export const GSO_LEGACY_MAX_SIZE = 65536;
export const GSO_MAX_SEGS = 65535;

/** `skb->pkt_type` values (linux/if_packet.h). */
export const PacketType = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3 } as const;

/** The test-run device: the loopback device of the initial network namespace. */
export const LOOPBACK = { ifindex: 1, address: new Uint8Array(6), broadcast: new Uint8Array(6) } as const;
