/**
 * `bpf_fib_lookup` (XDP and tc) and the nexthop `bpf_redirect_neigh` resolves, against the host
 * network state (net.ts), with the kernel's order of checks, return codes and partial writes to
 * `struct bpf_fib_lookup` (net/core/filter.c: bpf_xdp_fib_lookup, bpf_skb_fib_lookup,
 * bpf_ipv4_fib_lookup, bpf_ipv6_fib_lookup).
 */
import { formatIp, neighbour, routeLookup, sourceFor, RT_TABLE_MAIN, type IpBytes, type NetState } from './net.js';

/** bpf_fib_lookup results (BPF_FIB_LKUP_RET_*). */
export const FibResult = { SUCCESS: 0, BLACKHOLE: 1, UNREACHABLE: 2, PROHIBIT: 3, NOT_FWDED: 4, FWD_DISABLED: 5, UNSUPP_LWT: 6, NO_NEIGH: 7, FRAG_NEEDED: 8, NO_SRC_ADDR: 9 } as const;

/** bpf_fib_lookup flags (BPF_FIB_LOOKUP_*). */
export const FibFlag = { DIRECT: 1, OUTPUT: 2, SKIP_NEIGH: 4, TBID: 8, SRC: 16, MARK: 32 } as const;
const FIB_FLAGS_MASK = 0x3f;

/** `struct bpf_fib_lookup` field offsets (linux/bpf.h); 64 bytes. */
export const FibParams = {
  family: 0, l4_protocol: 1, sport: 2, dport: 4, tot_len: 6, mtu_result: 6, ifindex: 8, tos: 12, flowinfo: 12, rt_metric: 12,
  ipv4_src: 16, ipv6_src: 16, ipv4_dst: 32, ipv6_dst: 32, h_vlan_proto: 48, h_vlan_TCI: 50, tbid: 48, mark: 52, smac: 52, dmac: 58, SIZE: 64,
} as const;

const AF_INET = 2;
const AF_INET6 = 10;
const EINVAL = -22;
const ENODEV = -19;
const EAFNOSUPPORT = -97;
/** IP_MAX_MTU and IP6_MAX_MTU. */
const IP_MAX_MTU = 65535;
const IP6_MAX_MTU = 65535 + 40;
const IPV6_MIN_MTU = 1280;

/** The packet a lookup runs for: XDP (always checks the MTU) or an skb of `len` bytes. */
export type FibCaller = { kind: 'xdp' } | { kind: 'skb'; len: number };

/** rt6_need_strict: multicast, link-local and loopback addresses are never forwarded. */
function needStrict(a: IpBytes): boolean {
  if (a[0] === 0xff) return true;
  if (a[0] === 0xfe && (a[1]! & 0xc0) === 0x80) return true;
  return a.every((x, i) => x === (i === 15 ? 1 : 0));
}

/**
 * Runs bpf_fib_lookup on the 64 bytes of `struct bpf_fib_lookup` at `p` in `mem` (already
 * checked to be in memory) and returns the helper's result.
 */
export function fibLookup(net: NetState, mem: Uint8Array, p: number, plen: number, flags: number, caller: FibCaller): number {
  if ((plen >>> 0) < FibParams.SIZE) return EINVAL;
  if ((flags >>> 0) & ~FIB_FLAGS_MASK) return EINVAL;
  const v = new DataView(mem.buffer, mem.byteOffset);
  const family = mem[p + FibParams.family]!;
  const checkMtu = caller.kind === 'xdp' || v.getUint16(p + FibParams.tot_len, true) !== 0;
  let rc: number;
  if (family === AF_INET) rc = lookup(net, mem, v, p, flags, checkMtu, 4);
  else if (family === AF_INET6) rc = lookup(net, mem, v, p, flags, checkMtu, 16);
  else return EAFNOSUPPORT;
  if (caller.kind === 'skb' && rc === FibResult.SUCCESS && !checkMtu) {
    // is_skb_forwardable against the egress device, and its MTU reported either way.
    const dev = net.interfaces.get(v.getUint32(p + FibParams.ifindex, true))!;
    if (caller.len > dev.mtu + 14 + 4) rc = FibResult.FRAG_NEEDED;
    v.setUint16(p + FibParams.mtu_result, dev.mtu & 0xffff, true);
  }
  return rc;
}

function lookup(net: NetState, mem: Uint8Array, v: DataView, p: number, flags: number, checkMtu: boolean, size: 4 | 16): number {
  const v6 = size === 16;
  const dstAt = p + FibParams.ipv4_dst;
  const srcAt = p + FibParams.ipv4_src;
  const dst = mem.slice(dstAt, dstAt + size);
  if (v6 && (needStrict(dst) || needStrict(mem.subarray(srcAt, srcAt + 16)))) return FibResult.NOT_FWDED;
  const ifindex = v.getUint32(p + FibParams.ifindex, true);
  const dev = net.interfaces.get(ifindex);
  if (!dev) return ENODEV;
  if (!dev.forwarding) return FibResult.FWD_DISABLED;
  // IPv4's output lookup binds the route to the interface; IPv6 only prefers routes out of it.
  const oif = v6 || flags & FibFlag.OUTPUT ? ifindex : 0;
  let table: number | undefined;
  if (flags & FibFlag.DIRECT) {
    table = RT_TABLE_MAIN;
    if (flags & FibFlag.TBID) {
      table = v.getUint32(p + FibParams.tbid, true) || RT_TABLE_MAIN;
      v.setUint32(p + FibParams.tbid, 0, true);
    }
  }
  const res = routeLookup(net, dst, oif, table);
  if ('error' in res) {
    switch (res.error) {
      case 'blackhole': return FibResult.BLACKHOLE;
      case 'unreachable': return FibResult.UNREACHABLE;
      case 'prohibit': return FibResult.PROHIBIT;
      default: return FibResult.NOT_FWDED;
    }
  }
  const route = res.route;
  if (route.type !== 'unicast') return FibResult.NOT_FWDED;
  const out = net.interfaces.get(route.ifindex)!;
  let mtu = 0;
  if (checkMtu) {
    mtu = route.mtu || (v6 ? Math.min(Math.max(IPV6_MIN_MTU, out.mtu), IP6_MAX_MTU) : Math.min(out.mtu, IP_MAX_MTU));
    if (v.getUint16(p + FibParams.tot_len, true) > mtu) {
      v.setUint16(p + FibParams.mtu_result, mtu & 0xffff, true);
      return FibResult.FRAG_NEEDED;
    }
  }
  let nexthop: IpBytes = dst;
  if (v6 && route.gateway) {
    nexthop = route.gateway;
    mem.set(nexthop, dstAt);
  }
  v.setUint32(p + FibParams.rt_metric, route.metric, true);
  v.setUint32(p + FibParams.ifindex, route.ifindex, true);
  if (flags & FibFlag.SRC) {
    const src = sourceFor(net, route, v6 ? dst : route.gateway?.length === 4 ? route.gateway : undefined, size);
    if (v6) {
      if (!src) return FibResult.NO_SRC_ADDR;
      mem.set(src, srcAt);
    } else {
      mem.set(src ?? new Uint8Array(4), srcAt);
    }
  }
  if (!v6 && route.gateway) {
    nexthop = route.gateway;
    if (nexthop.length === 16) mem[p + FibParams.family] = AF_INET6;
    mem.set(nexthop, dstAt);
  }
  if (!(flags & FibFlag.SKIP_NEIGH)) {
    const n = neighbour(net, out.ifindex, nexthop);
    if (!n || !n.valid) return FibResult.NO_NEIGH;
    mem.set(n.mac, p + FibParams.dmac);
    mem.set(out.mac, p + FibParams.smac);
  }
  v.setUint32(p + FibParams.h_vlan_proto, 0, true);
  if (mtu) v.setUint16(p + FibParams.mtu_result, mtu & 0xffff, true);
  return FibResult.SUCCESS;
}

/** Where bpf_redirect_neigh would send the packet: the nexthop and, when known, its MAC. */
export interface NeighTarget {
  /** The nexthop address (from `struct bpf_redir_neigh`, else the route to the destination). */
  nexthop?: string;
  /** The nexthop's MAC from the neighbour table, absent when the kernel would have to resolve it. */
  mac?: string;
}

const macText = (m: Uint8Array): string => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

/**
 * The nexthop of a bpf_redirect_neigh to `ifindex`: `given` (from the program's params) or,
 * without it, the gateway of the route to `dst` out of `ifindex` (or `dst` itself on a
 * connected route), and the neighbour entry's MAC when the host has one.
 */
export function neighTarget(net: NetState, ifindex: number, given: IpBytes | undefined, dst: IpBytes | undefined): NeighTarget {
  let nexthop = given;
  if (!nexthop && dst) {
    const res = routeLookup(net, dst, ifindex);
    nexthop = 'route' in res && res.route.type === 'unicast' ? res.route.gateway ?? dst : undefined;
  }
  if (!nexthop) return {};
  const n = neighbour(net, ifindex, nexthop);
  return { nexthop: formatIp(nexthop), ...(n?.valid ? { mac: macText(n.mac) } : {}) };
}

/** bpf_check_mtu results (BPF_MTU_CHK_RET_*) and flag. */
export const MtuResult = { SUCCESS: 0, FRAG_NEEDED: 1, SEGS_TOOBIG: 2 } as const;
const BPF_MTU_CHK_SEGS = 1n;
/** dev->hard_header_len of the devices here (Ethernet, veth and loopback alike). */
const HARD_HEADER_LEN = 14;

/**
 * bpf_check_mtu (bpf_xdp_check_mtu / bpf_skb_check_mtu): the packet (`len` bytes from its MAC
 * header, or `*mtu_len` + the link header when that is set) plus `lenDiff` against the MTU of
 * `ifindex` (0: the run's device, `device`), the MTU written to `*mtu_len` in every case.
 */
export function checkMtu(net: NetState, mem: Uint8Array, caller: FibCaller, device: number, ifindex: number, mtuLenAt: number, lenDiff: number, flags: bigint, len: number): number {
  const v = new DataView(mem.buffer, mem.byteOffset);
  const at = mtuLenAt >>> 0;
  const f = BigInt.asUintN(64, flags);
  let rc: number;
  let mtu = 0;
  const given = v.getUint32(at, true);
  if (caller.kind === 'xdp' ? f !== 0n : (f & ~BPF_MTU_CHK_SEGS) !== 0n || ((f & BPF_MTU_CHK_SEGS) !== 0n && (lenDiff !== 0 || given !== 0))) {
    rc = EINVAL;
  } else {
    const dev = net.interfaces.get((ifindex >>> 0) || device);
    if (!dev) {
      rc = ENODEV;
    } else {
      mtu = dev.mtu;
      const pktLen = (given ? given + HARD_HEADER_LEN : len) + (lenDiff | 0);
      rc = pktLen <= mtu + HARD_HEADER_LEN ? MtuResult.SUCCESS : MtuResult.FRAG_NEEDED;
    }
  }
  v.setUint32(at, mtu, true);
  return rc;
}
