/**
 * The socket helpers against the host's sockets (net.ts `sockets`): bpf_sk_lookup_tcp /
 * bpf_sk_lookup_udp / bpf_skc_lookup_tcp find a socket as the kernel's __inet_lookup and
 * __udp4_lib_lookup do (net/core/filter.c __bpf_skc_lookup / __bpf_sk_lookup) and return a
 * pointer to a `struct bpf_sock` laid out in linear memory, in a part of the run's buffer the
 * packet never reaches (XDP: the page's skb_shared_info tail; skb: the end of the buffer's room);
 * bpf_sk_release drops the reference. A run that ends holding a reference fails, as the kernel's
 * verifier refuses such a program ("Unreleased reference"). bpf_get_socket_cookie /
 * bpf_get_socket_uid see the test run's dummy socket, and the helpers that take a socket take
 * skb->sk, that socket's `struct bpf_sock` (isDummySock), with the kernel's answers for it.
 */
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { BpfSock, PAGE_SIZE, SKB_SOCKET_AREA, SkBuff, XdpMd, skbDummySock } from './layout.js';
import type { IpBytes, NetSocket, NetState } from './net.js';
import { castOwner } from './sock-cast.js';
import { runSockets, type PacketRun, type RunSockets } from './state.js';

export { unreleasedSockets } from './state.js';

/** `struct bpf_sock` field offsets (their home is layout.ts). */
export { BpfSock };

/**
 * `struct bpf_tcp_sock` field offsets (linux/bpf.h); 112 bytes. bytes_received and bytes_acked
 * are u64, the rest u32.
 */
export const BpfTcpSock = {
  snd_cwnd: 0, srtt_us: 4, rtt_min: 8, snd_ssthresh: 12, rcv_nxt: 16, snd_nxt: 20, snd_una: 24, mss_cache: 28,
  ecn_flags: 32, rate_delivered: 36, rate_interval_us: 40, packets_out: 44, retrans_out: 48, total_retrans: 52,
  segs_in: 56, data_segs_in: 60, segs_out: 64, data_segs_out: 68, lost_out: 72, sacked_out: 76, bytes_received: 80,
  bytes_acked: 88, dsack_dups: 96, delivered: 100, delivered_ce: 104, icsk_retransmits: 108, SIZE: 112,
} as const;

/** sizeof(tuple->ipv4) and sizeof(tuple->ipv6) of `struct bpf_sock_tuple`. */
const TUPLE4 = 12;
const TUPLE6 = 36;
const TCP_ESTABLISHED = 1;
const TCP_TIME_WAIT = 6;
const TCP_SYN_RECV = 3;
const TCP_NEW_SYN_RECV = 12;
const TCP_CLOSE = 7;
const TCP_LISTEN = 10;
const V4_MAPPED = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
const LOOPBACK4_IPV6 = new Uint8Array([127, 0, 0, 6]);
export { SKB_SOCKET_AREA };

let nextCookie = 0x1000n;

/** A DataView of `mem` (a view of linear memory from 0), made again only when the memory's buffer changed. */
let lastView: DataView | undefined;
let lastMem: Uint8Array | undefined;
function viewOf(mem: Uint8Array): DataView {
  if (mem !== lastMem || lastView!.buffer !== mem.buffer) {
    lastMem = mem;
    lastView = new DataView(mem.buffer, mem.byteOffset);
  }
  return lastView!;
}

function stateOf(run: PacketRun): RunSockets {
  let s = runSockets.get(run);
  if (!s) runSockets.set(run, (s = { at: new Map(), held: new Map(), tcpAt: new Map() }));
  return s;
}

/**
 * The area of a run's buffer the packet never reaches, where `struct bpf_sock`s go (skb runs:
 * the first half of the socket area after the test run's dummy socket; the second half holds
 * `struct bpf_tcp_sock`s).
 */
function socketArea(run: PacketRun): [number, number] {
  return run.kind === 'xdp' ? [run.hardEnd, run.hardStart + PAGE_SIZE] : [skbDummySock(run.end) + BpfSock.SIZE, run.end - SKB_SOCKET_AREA / 2];
}

/**
 * Whether `sk` is `skb->sk` of the run: the `struct bpf_sock` of the test run's dummy socket
 * (layout.ts writeSkbDummySock), which every skb test run gives its skb. It is no host socket:
 * AF_INET / AF_INET6 / AF_UNSPEC by the packet, TCP_CLOSE, protocol and type 0, a full socket
 * (sk_fullsock) that no helper takes for TCP, a listener or any cast's struct.
 */
export function isDummySock(run: PacketRun | undefined, sk: number): boolean {
  return run?.kind === 'skb' && (sk >>> 0) === skbDummySock(run.end);
}

const same = (a: IpBytes, b: IpBytes): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const isAny = (a: IpBytes): boolean => a.every((x) => x === 0);
const boundOk = (s: NetSocket, dif: number): boolean => s.ifindex === 0 || s.ifindex === dif;

/** The TCP listener for daddr:dport (an exact address first, then the wildcard; bound device scores). */
function tcpListener(sockets: readonly NetSocket[], family: number, daddr: IpBytes, dport: number, dif: number): NetSocket | undefined {
  for (const exact of [true, false]) {
    let best: NetSocket | undefined;
    for (const s of sockets) {
      if (s.protocol !== 6 || s.state !== TCP_LISTEN || s.family !== family || s.localPort !== dport || !boundOk(s, dif)) continue;
      if (exact ? !same(s.localIp, daddr) : !isAny(s.localIp)) continue;
      if (!best || (s.ifindex && !best.ifindex)) best = s;
    }
    if (best) return best;
  }
  return undefined;
}

/**
 * The socket a lookup finds: TCP established-hash sockets (every state but listen and close)
 * by the exact 4-tuple, then listeners; UDP by the kernel's score (address, connected peer and
 * bound device each count).
 */
export function lookupSocket(net: NetState, proto: 6 | 17, family: 2 | 10, saddr: IpBytes, sport: number, daddr: IpBytes, dport: number, dif: number): NetSocket | undefined {
  const socks = net.sockets;
  if (proto === 6) {
    const est = socks.find((s) => s.protocol === 6 && s.family === family && s.state !== TCP_LISTEN && s.state !== TCP_CLOSE
      && s.localPort === dport && s.remotePort === sport && same(s.localIp, daddr) && same(s.remoteIp, saddr) && boundOk(s, dif));
    return est ?? tcpListener(socks, family, daddr, dport, dif);
  }
  let best: NetSocket | undefined;
  let bestScore = -1;
  for (const s of socks) {
    if (s.protocol !== 17 || s.family !== family || s.localPort !== dport || !boundOk(s, dif)) continue;
    let score = family === 2 ? 2 : 1;
    if (!isAny(s.localIp)) {
      if (!same(s.localIp, daddr)) continue;
      score += 4;
    }
    if (!isAny(s.remoteIp)) {
      if (!same(s.remoteIp, saddr)) continue;
      score += 4;
    }
    if (s.remotePort) {
      if (s.remotePort !== sport) continue;
      score += 4;
    }
    if (s.ifindex) score += 4;
    if (score > bestScore) {
      best = s;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Which IPv4 addresses of an IPv6 socket are LOOPBACK4_IPV6 (127.0.0.6) rather than 0: the
 * local one once bound to an address (inet6_bind, connect); the peer's only for an accepted
 * socket (tcp_v6_syn_recv_sock sets inet_daddr, tcp_v6_connect does not), which is one whose
 * local end a listener of the host has.
 */
export function ipv6V4Addresses(net: NetState, s: NetSocket): [boolean, boolean] {
  const accepted = s.protocol === 6 && s.state !== TCP_LISTEN && !isAny(s.remoteIp)
    && net.sockets.some((l) => l.protocol === 6 && l.state === TCP_LISTEN && l.family === s.family && l.localPort === s.localPort && (isAny(l.localIp) || same(l.localIp, s.localIp)));
  return [!isAny(s.localIp), s.protocol === 17 ? !isAny(s.remoteIp) : accepted];
}

function writeSock(net: NetState, mem: Uint8Array, at: number, s: NetSocket): void {
  const v = viewOf(mem);
  mem.fill(0, at, at + BpfSock.SIZE);
  v.setUint32(at + BpfSock.bound_dev_if, s.ifindex, true);
  v.setUint32(at + BpfSock.family, s.family, true);
  v.setUint32(at + BpfSock.type, s.protocol === 6 ? 1 : 2, true);
  v.setUint32(at + BpfSock.protocol, s.protocol, true);
  v.setUint32(at + BpfSock.mark, s.mark, true);
  v.setUint32(at + BpfSock.priority, s.priority, true);
  if (s.family === 2) {
    mem.set(s.localIp, at + BpfSock.src_ip4);
    mem.set(s.remoteIp, at + BpfSock.dst_ip4);
    // sk_rcv_saddr_set / sk_daddr_set (TCP connect and accept) also fill the v4-mapped IPv6 forms.
    if (s.protocol === 6 && s.state !== TCP_LISTEN) {
      mem.set(V4_MAPPED, at + BpfSock.src_ip6);
      mem.set(s.localIp, at + BpfSock.src_ip6 + 12);
      mem.set(V4_MAPPED, at + BpfSock.dst_ip6);
      mem.set(s.remoteIp, at + BpfSock.dst_ip6 + 12);
    }
  } else {
    mem.set(s.localIp, at + BpfSock.src_ip6);
    mem.set(s.remoteIp, at + BpfSock.dst_ip6);
    const [src4, dst4] = ipv6V4Addresses(net, s);
    if (src4) mem.set(LOOPBACK4_IPV6, at + BpfSock.src_ip4);
    if (dst4) mem.set(LOOPBACK4_IPV6, at + BpfSock.dst_ip4);
  }
  v.setUint32(at + BpfSock.src_port, s.localPort, true);
  v.setUint16(at + BpfSock.dst_port, s.remotePort, false);
  // A request socket's sock_common holds TCP_NEW_SYN_RECV (include/net/tcp_states.h), not TCP_SYN_RECV.
  v.setUint32(at + BpfSock.state, s.state === TCP_SYN_RECV ? TCP_NEW_SYN_RECV : s.state, true);
  v.setInt32(at + BpfSock.rx_queue_mapping, -1, true);
}

/** The device a run came in on (`dif` of the lookups): xdp_md.ingress_ifindex, __sk_buff.ifindex. */
function deviceOf(run: PacketRun, v: DataView): number {
  return v.getUint32(run.ctx + (run.kind === 'xdp' ? XdpMd.ingress_ifindex : SkBuff.ifindex), true);
}

/**
 * bpf_sk_lookup_tcp / _udp (`full`) and bpf_skc_lookup_tcp: the address of the socket's
 * `struct bpf_sock`, or 0 (NULL): no socket, a tuple size other than 12 or 36, flags, or a
 * netns other than the caller's (BPF_F_CURRENT_NETNS: any negative s32).
 */
export function skLookup(net: NetState, mem: Uint8Array, run: PacketRun | undefined, tuple: number, size: number, netns: bigint, flags: bigint, proto: 6 | 17, full: boolean): number {
  if (!run) return 0;
  const n = size >>> 0;
  if (n !== TUPLE4 && n !== TUPLE6) return 0;
  if (BigInt.asUintN(64, flags) !== 0n || BigInt.asIntN(32, netns) >= 0n) return 0;
  const t = tuple >>> 0;
  if (t + n > mem.length) return 0;
  const v = viewOf(mem);
  const a = n === TUPLE4 ? 4 : 16;
  const saddr = mem.slice(t, t + a);
  const daddr = mem.slice(t + a, t + 2 * a);
  const sport = v.getUint16(t + 2 * a, false);
  const dport = v.getUint16(t + 2 * a + 2, false);
  let s = lookupSocket(net, proto, a === 4 ? 2 : 10, saddr, sport, daddr, dport, deviceOf(run, v));
  if (s && full) {
    // sk_to_full_sk: a request socket stands for its listener; a time-wait socket for nothing.
    if (s.state === TCP_TIME_WAIT) s = undefined;
    else if (s.state === TCP_SYN_RECV) s = tcpListener(net.sockets, s.family, s.localIp, s.localPort, deviceOf(run, v));
  }
  if (!s) return 0;
  const at = placeSock(net, mem, run, s, full ? (proto === 6 ? 'bpf_sk_lookup_tcp' : 'bpf_sk_lookup_udp') : 'bpf_skc_lookup_tcp');
  const st = stateOf(run);
  st.held.set(at, (st.held.get(at) ?? 0) + 1);
  return at;
}

/** The address of socket `index`'s struct of `size` bytes in `slots`, a new one from `lo` when it has none. */
function slot(slots: Map<number, number>, index: number, lo: number, hi: number, size: number, helper: string): number {
  let at = slots.get(index);
  if (at === undefined) {
    at = lo + slots.size * size;
    if (at + size > hi) throw new BpfRuntimeError(ErrorCode.HelperFailed, `more than ${slots.size} sockets in one run`, { helper });
    slots.set(index, at);
  }
  return at;
}

/** Writes the `struct bpf_sock` of `s` at its place in the run's buffer (one per socket per run). */
function placeSock(net: NetState, mem: Uint8Array, run: PacketRun, s: NetSocket, helper: string): number {
  const [lo, hi] = socketArea(run);
  const at = slot(stateOf(run).at, net.sockets.indexOf(s), lo, hi, BpfSock.SIZE, helper);
  writeSock(net, mem, at, s);
  return at;
}

/** bpf_sk_release: drops a reference a lookup returned (anything else is a program the kernel refuses). */
export function skRelease(run: PacketRun | undefined, sk: number): number {
  const st = run ? runSockets.get(run) : undefined;
  // A `struct bpf_tcp_sock` pointer carries its socket's reference (the verifier's ref_obj_id).
  if (st) for (const [index, at] of st.tcpAt) if (at === sk >>> 0) sk = st.at.get(index)!;
  // So does the struct a bpf_skc_to_* cast returned (sock-cast.ts).
  sk = castOwner(st, sk) ?? sk;
  const held = st?.held.get(sk >>> 0) ?? 0;
  if (isDummySock(run, sk)) {
    throw new BpfRuntimeError(ErrorCode.HelperFailed, 'bpf_sk_release of skb->sk, the test run\'s socket, which the program holds no reference to (the kernel\'s verifier refuses the program)', { helper: 'bpf_sk_release' });
  }
  if (!st || held === 0) {
    throw new BpfRuntimeError(ErrorCode.HelperFailed, `bpf_sk_release of 0x${(sk >>> 0).toString(16)}, which is not a socket reference this run holds (the kernel's verifier refuses the program)`, { helper: 'bpf_sk_release' });
  }
  if (held === 1) st.held.delete(sk >>> 0);
  else st.held.set(sk >>> 0, held - 1);
  return 0;
}

/** bpf_get_socket_cookie(skb): the test run's dummy socket's cookie, one per run (0 outside a run). */
export function socketCookie(run: PacketRun | undefined): bigint {
  if (!run) return 0n;
  const st = stateOf(run);
  st.cookie ??= nextCookie++;
  return st.cookie;
}

const EINVAL = -22;
const ENOENT = -2;
const EPROTONOSUPPORT = -93;

/** The host socket whose struct a run handed out at `sk`, if any. */
export function socketAt(net: NetState, run: PacketRun | undefined, sk: number): NetSocket | undefined {
  const st = run ? runSockets.get(run) : undefined;
  if (!st) return undefined;
  for (const [index, at] of st.at) if (at === sk >>> 0) return net.sockets[index];
  return undefined;
}

/**
 * bpf_tcp_check_syncookie (`gen` false) and bpf_tcp_gen_syncookie (`gen` true) with the
 * kernel's checks, on a host with net.ipv4.tcp_syncookies = 1 (the default): cookies are sent
 * only when a listener's queue overflows, which never happens here, so a well-formed request
 * gets -ENOENT, as the kernel gives it on such a host.
 */
export function syncookie(net: NetState, mem: Uint8Array, run: PacketRun | undefined, sk: number, iph: number, iphLen: number, th: number, thLen: number, gen: boolean): number {
  // skb->sk (the test run's dummy socket, protocol 0) is no host socket: -EINVAL, as the kernel's
  // checks give it whatever the headers.
  const s = socketAt(net, run, sk);
  const tl = thLen >>> 0;
  const t = th >>> 0;
  if (!s || tl < 20 || t + 20 > mem.length) return EINVAL;
  const flags = mem[t + 13]!;
  const fin = flags & 1;
  const syn = flags & 2;
  const rst = flags & 4;
  const ack = flags & 16;
  if (gen && tl !== (mem[t + 12]! >> 4) * 4) return EINVAL;
  if (s.protocol !== 6 || s.state !== TCP_LISTEN) return EINVAL;
  if (gen) {
    if (!syn || ack || fin || rst) return EINVAL;
  } else if (!ack || rst || syn) {
    return ENOENT;
  }
  if ((iphLen >>> 0) < 20) return EINVAL;
  // check: tcp_synq_no_recent_overflow (no overflow here).
  if (!gen) return ENOENT;
  const version = (mem[iph >>> 0] ?? 0) >> 4;
  // IPv6 sockets are taken as IPV6_V6ONLY.
  if (version === 4) return s.family === 10 ? EINVAL : ENOENT;
  if (version === 6) return (iphLen >>> 0) < 40 || s.family !== 10 ? EINVAL : ENOENT;
  return EPROTONOSUPPORT;
}

const TCP_NEW_SYN_RECV_STATES = new Set([TCP_TIME_WAIT, TCP_SYN_RECV]);

/** The host socket at `sk`; a pointer the run did not hand out is an error (the kernel's verifier refuses such a program). */
function sockOf(net: NetState, run: PacketRun | undefined, sk: number, helper: string): NetSocket {
  const s = socketAt(net, run, sk);
  if (!s) throw new BpfRuntimeError(ErrorCode.HelperFailed, `0x${(sk >>> 0).toString(16)} is not a socket of this run (the verifier refuses it)`, { helper });
  return s;
}

/**
 * bpf_sk_fullsock: the same pointer for a full socket, NULL (0) for a request or time-wait
 * socket (sk_fullsock). A pointer the run did not hand out is an error (the verifier's).
 */
export function skFullsock(net: NetState, run: PacketRun | undefined, sk: number): number {
  // The dummy socket is TCP_CLOSE: a full socket.
  if (isDummySock(run, sk)) return sk >>> 0;
  const s = sockOf(net, run, sk, 'bpf_sk_fullsock');
  return TCP_NEW_SYN_RECV_STATES.has(s.state) ? 0 : sk >>> 0;
}

/** What tcp_init_sock gives a socket before any traffic, for the bpf_tcp_sock fields the host does not supply. */
export const TCP_SOCK_DEFAULTS: Readonly<Partial<Record<keyof typeof BpfTcpSock, number>>> = {
  snd_cwnd: 10, rtt_min: 0xffffffff, snd_ssthresh: 0x7fffffff, mss_cache: 536,
};

/**
 * bpf_tcp_sock: a `struct bpf_tcp_sock` for a full TCP socket (NULL otherwise), written in the
 * tcp_sock half of the run's socket area. Its fields are the host's (`HostSocket.tcp`), else
 * tcp_init_sock's values (snd_cwnd 10, snd_ssthresh 0x7fffffff, mss_cache 536, rtt_min ~0),
 * else 0. The pointer shares its socket's reference: bpf_sk_release takes either.
 */
export function tcpSock(net: NetState, mem: Uint8Array, run: PacketRun | undefined, sk: number): number {
  // The dummy socket's sk_protocol is 0.
  if (isDummySock(run, sk)) return 0;
  const s = sockOf(net, run, sk, 'bpf_tcp_sock');
  if (TCP_NEW_SYN_RECV_STATES.has(s.state) || s.protocol !== 6 || run?.kind !== 'skb') return 0;
  const at = slot(stateOf(run).tcpAt, net.sockets.indexOf(s), run.end - SKB_SOCKET_AREA / 2, run.end, BpfTcpSock.SIZE, 'bpf_tcp_sock');
  const v = viewOf(mem);
  mem.fill(0, at, at + BpfTcpSock.SIZE);
  for (const [name, off] of Object.entries(BpfTcpSock) as [keyof typeof BpfTcpSock, number][]) {
    if (name === 'SIZE') continue;
    const value = s.tcp?.[name] ?? TCP_SOCK_DEFAULTS[name] ?? 0;
    if (name === 'bytes_received' || name === 'bytes_acked') v.setBigUint64(at + off, BigInt(value), true);
    else v.setUint32(at + off, value >>> 0, true);
  }
  return at;
}

/**
 * bpf_get_listener_sock: the listener itself, or a request socket's listener (sk_to_full_sk);
 * NULL for anything else (TCP listeners carry SOCK_RCU_FREE, nothing else listens). The pointer
 * takes no reference (the kernel's listener is RCU-protected): it is not to be released.
 */
export function listenerSock(net: NetState, mem: Uint8Array, run: PacketRun | undefined, sk: number, dif: number): number {
  // The dummy socket is TCP_CLOSE, no listener.
  if (isDummySock(run, sk)) return 0;
  let s: NetSocket | undefined = sockOf(net, run, sk, 'bpf_get_listener_sock');
  if (s.state === TCP_SYN_RECV) s = tcpListener(net.sockets, s.family, s.localIp, s.localPort, dif);
  if (!s || s.protocol !== 6 || s.state !== TCP_LISTEN) return 0;
  return placeSock(net, mem, run!, s, 'bpf_get_listener_sock');
}

/** Errno values of bpf_sk_assign. */
const EOPNOTSUPP = -95;

/**
 * bpf_sk_assign(skb, sk, flags): -EINVAL for NULL or flags; then -EOPNOTSUPP unless the skb is
 * at tc ingress (skb_at_tc_ingress), which a test run's skb never is (BPF_PROG_TEST_RUN runs tc
 * programs outside the ingress hook): so the assignment is never made in a test run, as in the
 * kernel's.
 */
export function skAssign(net: NetState, run: PacketRun | undefined, sk: number, flags: bigint): number {
  if ((sk >>> 0) === 0 || BigInt.asUintN(64, flags) !== 0n) return EINVAL;
  if (!isDummySock(run, sk)) sockOf(net, run, sk, 'bpf_sk_assign');
  return EOPNOTSUPP;
}
