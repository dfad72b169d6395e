/**
 * The target BTF of CO-RE relocations: the types of the contexts and structs this runtime presents
 * to programs, with the kernel UAPI layouts (linux/bpf.h) the runtime lays them out with. The
 * member offsets come from the runtime's own layout tables (runtime/packet/layout.ts `XdpMd`,
 * `SkBuff`; runtime/packet/sockets.ts `BpfSock`; runtime/packet/fib.ts `FibParams`), the one home
 * of those facts; this file adds what BTF needs besides offsets (member types, array lengths,
 * anonymous unions as the UAPI declares them).
 *
 * Presented: `struct xdp_md`, `struct __sk_buff` (with `flow_keys` and `sk` inside anonymous
 * unions, as `__bpf_md_ptr` declares them), `struct bpf_sock`, `struct bpf_flow_keys`,
 * `struct bpf_sock_tuple`, `struct bpf_fib_lookup`, `enum xdp_action`, x86-64's `struct pt_regs`
 * (the context of kprobe/uprobe programs: 21 `long unsigned int` members), and the `__u8`...`__u64`,
 * `__be16`/`__be32`, `__s32` typedefs. Everything else (kernel-internal types such as
 * `struct task_struct`) is absent: relocations against it poison their instruction, as libbpf's
 * do against a kernel without the type.
 */
import { PtRegs, XdpAction } from '../../runtime/uapi/index.js';
import { SkBuff, XdpMd } from '../../runtime/packet/layout.js';
import { BpfSock } from '../../runtime/packet/sockets.js';
import { FibParams } from '../../runtime/packet/fib.js';
import { BtfWriter, type BtfMemberSpec } from './encode.js';
import { parseBtf, type Btf } from './types.js';

let cached: Btf | undefined;

/** The runtime's context BTF (built once, then shared; a {@link Btf} is read-only). */
export function contextBtf(): Btf {
  cached ??= parseBtf(buildContextBtf(), {});
  return cached;
}

/** The `.BTF` bytes of {@link contextBtf}. */
export function buildContextBtf(): Uint8Array {
  const w = new BtfWriter();
  const u8i = w.int('unsigned char', 1, false);
  const u16i = w.int('unsigned short', 2, false);
  const u32i = w.int('unsigned int', 4, false);
  const s32i = w.int('int', 4, true);
  const u64i = w.int('unsigned long long', 8, false);
  const u8 = w.typedef('__u8', u8i);
  const u16 = w.typedef('__u16', u16i);
  const u32 = w.typedef('__u32', u32i);
  const s32 = w.typedef('__s32', s32i);
  const u64 = w.typedef('__u64', u64i);
  const be16 = w.typedef('__be16', u16);
  const be32 = w.typedef('__be32', u32);
  const u32x4 = w.array(u32, u32i, 4);
  const u32x5 = w.array(u32, u32i, 5);
  const be32x4 = w.array(be32, u32i, 4);
  const u8x6 = w.array(u8, u32i, 6);
  const m = (name: string, type: number, byteOffset: number): BtfMemberSpec => ({ name, type, bitOffset: byteOffset * 8 });
  const fields = (layout: Readonly<Record<string, number>>, types: Readonly<Record<string, number>>, base = 0): BtfMemberSpec[] =>
    Object.entries(types).map(([name, type]) => m(name, type, layout[name]! - base));

  w.composite('struct', 'xdp_md', XdpMd.SIZE, fields(XdpMd, {
    data: u32, data_end: u32, data_meta: u32, ingress_ifindex: u32, rx_queue_index: u32, egress_ifindex: u32,
  }));

  // struct bpf_sock (ids are handed out in order, so the pointers below refer back to it).
  const bpfSock = w.composite('struct', 'bpf_sock', BpfSock.SIZE, fields(BpfSock, {
    bound_dev_if: u32, family: u32, type: u32, protocol: u32, mark: u32, priority: u32, src_ip4: u32, src_ip6: u32x4,
    src_port: u32, dst_port: be16, dst_ip4: u32, dst_ip6: u32x4, state: u32, rx_queue_mapping: s32,
  }));

  // struct bpf_flow_keys: the addresses in an anonymous union of two anonymous structs.
  const v4 = w.composite('struct', '', 8, [m('ipv4_src', be32, 0), m('ipv4_dst', be32, 4)]);
  const v6 = w.composite('struct', '', 32, [m('ipv6_src', u32x4, 0), m('ipv6_dst', u32x4, 16)]);
  const addrs = w.composite('union', '', 32, [m('', v4, 0), m('', v6, 0)]);
  const flowKeys = w.composite('struct', 'bpf_flow_keys', 56, [
    m('nhoff', u16, 0), m('thoff', u16, 2), m('addr_proto', u16, 4), m('is_frag', u8, 6), m('is_first_frag', u8, 7),
    m('is_encap', u8, 8), m('ip_proto', u8, 9), m('n_proto', be16, 10), m('sport', be16, 12), m('dport', be16, 14),
    m('', addrs, 16), m('flags', u32, 48), m('flow_label', be32, 52),
  ]);

  // struct __sk_buff: __bpf_md_ptr(type, name) is an anonymous 8-byte union holding the pointer.
  const mdPtr = (name: string, target: number): number => w.composite('union', '', 8, [m(name, w.ptr(target), 0)]);
  const flowKeysPtr = mdPtr('flow_keys', flowKeys);
  const skPtr = mdPtr('sk', bpfSock);
  const skb = fields(SkBuff, {
    len: u32, pkt_type: u32, mark: u32, queue_mapping: u32, protocol: u32, vlan_present: u32, vlan_tci: u32,
    vlan_proto: u32, priority: u32, ingress_ifindex: u32, ifindex: u32, tc_index: u32, cb: u32x5, hash: u32,
    tc_classid: u32, data: u32, data_end: u32, napi_id: u32, family: u32, remote_ip4: u32, local_ip4: u32,
    remote_ip6: u32x4, local_ip6: u32x4, remote_port: u32, local_port: u32, data_meta: u32,
  });
  skb.push(m('', flowKeysPtr, SkBuff.flow_keys));
  skb.push(...fields(SkBuff, { tstamp: u64, wire_len: u32, gso_segs: u32 }));
  skb.push(m('', skPtr, SkBuff.sk));
  skb.push(...fields(SkBuff, { gso_size: u32, tstamp_type: u8, hwtstamp: u64 }));
  w.composite('struct', '__sk_buff', SkBuff.SIZE, skb);

  // struct bpf_sock_tuple: an anonymous union of the IPv4 and IPv6 tuples.
  const t4 = w.composite('struct', '', 12, [m('saddr', be32, 0), m('daddr', be32, 4), m('sport', be16, 8), m('dport', be16, 10)]);
  const t6 = w.composite('struct', '', 36, [m('saddr', be32x4, 0), m('daddr', be32x4, 16), m('sport', be16, 32), m('dport', be16, 34)]);
  const tuples = w.composite('union', '', 36, [m('ipv4', t4, 0), m('ipv6', t6, 0)]);
  w.composite('struct', 'bpf_sock_tuple', 36, [m('', tuples, 0)]);

  // struct bpf_fib_lookup: inputs and outputs share storage through anonymous unions.
  const F = FibParams;
  const u = (size: number, members: BtfMemberSpec[]): number => w.composite('union', '', size, members);
  const s = (size: number, members: BtfMemberSpec[]): number => w.composite('struct', '', size, members);
  w.composite('struct', 'bpf_fib_lookup', F.SIZE, [
    m('family', u8, F.family), m('l4_protocol', u8, F.l4_protocol), m('sport', be16, F.sport), m('dport', be16, F.dport),
    m('', u(2, [m('tot_len', u16, 0), m('mtu_result', u16, 0)]), F.tot_len),
    m('ifindex', u32, F.ifindex),
    m('', u(4, [m('tos', u8, 0), m('flowinfo', be32, 0), m('rt_metric', u32, 0)]), F.tos),
    m('', u(16, [m('ipv4_src', be32, 0), m('ipv6_src', u32x4, 0)]), F.ipv4_src),
    m('', u(16, [m('ipv4_dst', be32, 0), m('ipv6_dst', u32x4, 0)]), F.ipv4_dst),
    m('', u(4, [m('', s(4, [m('h_vlan_proto', be16, 0), m('h_vlan_TCI', be16, F.h_vlan_TCI - F.h_vlan_proto)]), 0), m('tbid', u32, 0)]), F.h_vlan_proto),
    m('', u(12, [m('', s(4, [m('mark', u32, 0)]), 0), m('', s(12, [m('smac', u8x6, 0), m('dmac', u8x6, F.dmac - F.smac)]), 0)]), F.mark),
  ]);

  w.enumeration('xdp_action', Object.entries(XdpAction).map(([name, value]) => [`XDP_${name}`, value] as const));

  // struct pt_regs (x86-64): every register an unsigned long, as vmlinux BTF declares them.
  const ulong = w.int('long unsigned int', 8, false);
  const { SIZE: ptRegsSize, ...regs } = PtRegs;
  w.composite('struct', 'pt_regs', ptRegsSize, Object.entries(regs).map(([name, offset]) => m(name, ulong, offset)));
  return w.bytes();
}
