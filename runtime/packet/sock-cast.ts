/**
 * The BTF socket casts, bpf_skc_to_tcp6_sock / _tcp_sock / _tcp_timewait_sock /
 * _tcp_request_sock / _udp6_sock / _unix_sock / _mptcp_sock (net/core/filter.c), over the host
 * sockets the socket helpers hand out (sockets.ts). The argument is any socket pointer the run
 * holds: a `struct bpf_sock` of a lookup or of bpf_get_listener_sock, a `struct bpf_tcp_sock`, or
 * what another cast returned; the result is NULL or the socket as the cast's kernel struct, by
 * the kernel's conditions:
 *
 * - tcp6_sock: a full socket (not time-wait, not a request socket), TCP, AF_INET6;
 * - tcp_sock: a full TCP socket;
 * - tcp_timewait_sock: a TCP socket in TCP_TIME_WAIT; tcp_request_sock: a TCP request socket
 *   (TCP_NEW_SYN_RECV; the host's `syn-recv`);
 * - udp6_sock: a full UDP (SOCK_DGRAM) AF_INET6 socket;
 * - unix_sock: AF_UNIX, which no host socket is; mptcp_sock: an MPTCP subflow, which no host
 *   socket is: both always NULL.
 *
 * `skb->sk` of an skb test run (the kernel's dummy socket, sockets.ts isDummySock) is taken and
 * gives NULL from every cast, as the kernel's.
 *
 * The struct is a slot of the module's cast area (`manifest.sockCasts`, after the maps' key
 * scratch: the instance's own memory, inside checked mode's span, apart from maps and run
 * buffers), one per socket per run, zeroed and sized as the host BTF's struct, the fields the
 * host socket knows written at the BTF's offsets (compiler/btf/sock-layout.ts records them),
 * then the host's own values (`HostSocket.kernel`). A v6 TCP socket's slot is its tcp6_sock,
 * whose first member is its tcp_sock, so both casts give the same pointer, as the kernel's do.
 * No reference is taken: the pointer shares its socket's (the verifier's ref_obj_id), so
 * bpf_sk_release takes it. The kernel's verifier refuses a store through these read-only
 * pointers; here the slot is compared with what was written when the run (or a batch's frame)
 * ends, and a change is an error.
 */
import type { SockCastManifest, SockLayout } from '../abi.js';
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import type { NetSocket, NetState } from './net.js';
import { ipv6V4Addresses, isDummySock } from './sockets.js';
import { runSockets, type CastState, type PacketRun, type RunSockets } from './state.js';

const TCP_SYN_RECV = 3;
const TCP_TIME_WAIT = 6;
const TCP_LISTEN = 10;
/** The state a request socket's sock_common holds (include/net/tcp_states.h). */
const TCP_NEW_SYN_RECV = 12;
/** NO_QUEUE_MAPPING: no receive queue recorded. */
const NO_QUEUE_MAPPING = 0xffff;
const LOOPBACK4_IPV6 = [127, 0, 0, 6];

/** The casts by helper id: their kernel names and the struct they return. */
export const SOCK_CASTS: ReadonlyMap<number, { helper: string; type: string }> = new Map([
  [136, { helper: 'bpf_skc_to_tcp6_sock', type: 'tcp6_sock' }],
  [137, { helper: 'bpf_skc_to_tcp_sock', type: 'tcp_sock' }],
  [138, { helper: 'bpf_skc_to_tcp_timewait_sock', type: 'tcp_timewait_sock' }],
  [139, { helper: 'bpf_skc_to_tcp_request_sock', type: 'tcp_request_sock' }],
  [140, { helper: 'bpf_skc_to_udp6_sock', type: 'udp6_sock' }],
  [178, { helper: 'bpf_skc_to_unix_sock', type: 'unix_sock' }],
  [196, { helper: 'bpf_skc_to_mptcp_sock', type: 'mptcp_sock' }],
]);

/** The structs a slot may be laid out as. */
const SLOT_TYPES = ['tcp_sock', 'tcp6_sock', 'tcp_timewait_sock', 'tcp_request_sock', 'udp6_sock'];
/** Structs whose first member is another socket struct, whose paths they also accept. */
const FIRST_MEMBER: Readonly<Record<string, string>> = { tcp6_sock: 'tcp', udp6_sock: 'udp' };

/** A scalar member: bit offset and width, signedness, elements. */
interface Field { bit: number; bits: number; signed: boolean; count: number }

/** A struct's layout, its members by path. */
export interface CastLayout {
  size: number;
  fields: Map<string, Field>;
  /** named()'s answers. */
  named: Map<string, Field | undefined>;
}

/** The module's cast area, checked. */
export interface SockCastArea {
  address: number;
  slotSize: number;
  slots: number;
  layouts: Map<string, CastLayout>;
}

function badModule(why: string): BpfRuntimeError {
  return new BpfRuntimeError(ErrorCode.BadModule, `the module manifest's sockCasts ${why}`);
}

const isCount = (x: unknown, lo: number, hi: number): x is number => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;

/**
 * Checks the manifest's cast area (the module may be anyone's): the slots lie at or after
 * `floor` (the end of the maps' key scratch) and end before `stackBase`; every layout fits its
 * slot and every field its struct. E_BAD_MODULE otherwise.
 */
export function prepareSockCasts(m: SockCastManifest, floor: number, stackBase: number): SockCastArea {
  if (typeof m !== 'object' || m === null) throw badModule('is not an object');
  if (!isCount(m.slots, 1, 64) || !isCount(m.slotSize, 8, 1 << 20) || m.slotSize % 8 !== 0) throw badModule(`has ${String(m.slots)} slots of ${String(m.slotSize)} bytes (1-64 slots, a multiple of 8 bytes up to 1 MiB)`);
  if (!isCount(m.address, floor, stackBase) || m.address + m.slots * m.slotSize > stackBase) {
    throw badModule(`at ${String(m.address)} is not between the maps' end (${floor}) and the stack (${stackBase})`);
  }
  const layouts = new Map<string, CastLayout>();
  if (typeof m.types !== 'object' || m.types === null) throw badModule('has no types');
  for (const [name, l] of Object.entries(m.types) as [string, SockLayout][]) {
    if (!SLOT_TYPES.includes(name)) throw badModule(`lays out struct ${name}, which no cast returns`);
    if (!isCount(l?.size, 1, m.slotSize) || !Array.isArray(l.fields)) throw badModule(`gives struct ${name} a size that does not fit its slot`);
    const fields = new Map<string, Field>();
    for (const f of l.fields as unknown[]) {
      const [path, bit, bits, signed, count] = Array.isArray(f) ? f : [];
      if (typeof path !== 'string' || !isCount(bit, 0, l.size * 8) || !isCount(bits, 1, 64) || !isCount(count, 1, l.size * 8) || (signed !== 0 && signed !== 1) || bit + bits * count > l.size * 8) {
        throw badModule(`has a malformed field of struct ${name}: ${JSON.stringify(f)}`);
      }
      if (!fields.has(path)) fields.set(path, { bit, bits, signed: signed === 1, count });
    }
    layouts.set(name, { size: l.size, fields, named: new Map() });
  }
  return { address: m.address, slotSize: m.slotSize, slots: m.slots, layouts };
}

/** The struct a host socket's slot is laid out as (undefined: no cast ever gives it: a v4 UDP socket). */
export function slotType(s: NetSocket): string | undefined {
  if (s.protocol === 6) {
    if (s.state === TCP_TIME_WAIT) return 'tcp_timewait_sock';
    if (s.state === TCP_SYN_RECV) return 'tcp_request_sock';
    return s.family === 10 ? 'tcp6_sock' : 'tcp_sock';
  }
  return s.family === 10 ? 'udp6_sock' : undefined;
}

/** Whether the kernel's cast `type` gives `s` (non-NULL), by the conditions in net/core/filter.c. */
export function castGives(type: string, s: NetSocket): boolean {
  const full = s.state !== TCP_TIME_WAIT && s.state !== TCP_SYN_RECV;
  switch (type) {
    case 'tcp6_sock': return full && s.protocol === 6 && s.family === 10;
    case 'tcp_sock': return full && s.protocol === 6;
    case 'tcp_timewait_sock': return s.protocol === 6 && s.state === TCP_TIME_WAIT;
    case 'tcp_request_sock': return s.protocol === 6 && s.state === TCP_SYN_RECV;
    case 'udp6_sock': return full && s.protocol === 17 && s.family === 10;
    default: return false; // unix_sock (no AF_UNIX host sockets), mptcp_sock (no MPTCP subflows)
  }
}

/** A member of `layout` by path (`a.b.c`, `a.b[3]` for an element of a scalar array). */
export function fieldAt(layout: CastLayout, type: string, path: string): { bit: number; bits: number; signed: boolean } | undefined {
  const tryPath = (p: string): { bit: number; bits: number; signed: boolean } | undefined => {
    const f = layout.fields.get(p);
    if (f) return f.count === 1 ? f : undefined;
    const m = /^(.*)\[(\d+)\]$/.exec(p);
    const a = m ? layout.fields.get(m[1]!) : undefined;
    const i = m ? Number(m[2]) : 0;
    if (!a || a.count === 1 || i >= a.count) return undefined;
    return { bit: a.bit + i * a.bits, bits: a.bits, signed: a.signed };
  };
  const first = FIRST_MEMBER[type];
  return tryPath(path) ?? (first ? tryPath(`${first}.${path}`) : undefined);
}

/** The member of `layout` whose path is `name` or ends in `.name` (sock_common's and sock's fields, at any depth); found once per layout. */
function named(layout: CastLayout, name: string): Field | undefined {
  if (layout.named.has(name)) return layout.named.get(name);
  let f = layout.fields.get(name);
  if (!f) for (const [p, x] of layout.fields) if (p.endsWith(`.${name}`)) { f = x; break; }
  layout.named.set(name, f);
  return f;
}

/** The range a `bits`-wide member takes (signed: from its minimum; unsigned, or a signed one given as its bit pattern, to 2^bits - 1). */
function fits(v: bigint, bits: number, signed: boolean): boolean {
  const max = (1n << BigInt(bits)) - 1n;
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  return v >= min && v <= max;
}

/**
 * Checks every host socket's `kernel` values against the layouts of the structs its casts give:
 * each path must be a scalar member (or a scalar array's element) of the socket's struct and the
 * value must fit it. E_HOST_STATE naming the field otherwise. A socket no cast gives (v4 UDP), or
 * whose struct the module has no layout for (no host BTF, or no cast called), has no such check:
 * its values are never written.
 */
export function checkKernelValues(net: NetState, area: SockCastArea): void {
  net.sockets.forEach((s, i) => {
    if (!s.kernel) return;
    const type = slotType(s);
    const layout = type ? area.layouts.get(type) : undefined;
    if (!type || !layout) return;
    for (const [path, v] of s.kernel) {
      const where = `net.sockets[${i}].kernel.${path}`;
      const f = fieldAt(layout, type, path);
      if (!f) throw new BpfRuntimeError(ErrorCode.HostState, `struct ${type} of the host BTF has no scalar member ${path} (a path such as "snd_cwnd", "inet_conn.icsk_inet.sk.sk_mark" or "rtt_min.s[0].v")`, { field: where });
      if (!fits(v, f.bits, f.signed)) throw new BpfRuntimeError(ErrorCode.HostState, `${String(v)} does not fit ${path}, a ${f.signed ? 'signed' : 'unsigned'} ${f.bits}-bit member of struct ${type}`, { field: where });
    }
  });
}

/** Writes `v` into the `bits` bits at bit `bit` of `mem` from `at` (little-endian, as the kernel's structs on x86-64). */
function putBits(mem: Uint8Array, at: number, bit: number, bits: number, v: bigint): void {
  const first = bit >> 3;
  const last = (bit + bits - 1) >> 3;
  let word = 0n;
  for (let i = last; i >= first; i--) word = (word << 8n) | BigInt(mem[at + i]!);
  const shift = BigInt(bit - first * 8);
  const mask = ((1n << BigInt(bits)) - 1n) << shift;
  word = (word & ~mask) | ((BigInt.asUintN(bits, v) << shift) & mask);
  for (let i = first; i <= last; i++) {
    mem[at + i] = Number(word & 0xffn);
    word >>= 8n;
  }
}

/** bpf_tcp_sock's fields as tcp_sock members (tcp_init_sock's values for those the host leaves out, as tcpSock). */
const TCP_PATHS: Readonly<Record<string, string[]>> = {
  rtt_min: ['rtt_min.s[0].v', 'rtt_min.s[1].v', 'rtt_min.s[2].v'],
  icsk_retransmits: ['inet_conn.icsk_retransmits'],
};

/** Lays out host socket `s` as struct `type` in the slot at `at`. */
function writeSlot(net: NetState, mem: Uint8Array, at: number, size: number, layout: CastLayout | undefined, type: string, s: NetSocket, tcpDefaults: Readonly<Record<string, number>>): void {
  mem.fill(0, at, at + size);
  if (!layout) return;
  const put = (f: Field | undefined, v: number | bigint): void => {
    if (f) putBits(mem, at, f.bit, f.bits, BigInt(v));
  };
  const bytes = (f: Field | undefined, b: ArrayLike<number>): void => {
    if (f) for (let i = 0; i < b.length; i++) mem[at + (f.bit >> 3) + i] = b[i]!;
  };
  const request = type === 'tcp_request_sock';
  const tw = type === 'tcp_timewait_sock';
  const full = !request && !tw;
  put(named(layout, 'skc_family'), s.family);
  put(named(layout, 'skc_state'), request ? TCP_NEW_SYN_RECV : s.state);
  put(named(layout, 'skc_num'), s.localPort);
  bytes(named(layout, 'skc_dport'), [s.remotePort >> 8, s.remotePort & 0xff]);
  put(named(layout, 'skc_bound_dev_if'), s.ifindex);
  const v4 = s.family === 2;
  const any = (ip: Uint8Array): boolean => ip.every((x) => x === 0);
  if (v4) {
    bytes(named(layout, 'skc_rcv_saddr'), s.localIp);
    bytes(named(layout, 'skc_daddr'), s.remoteIp);
    // sk_rcv_saddr_set / sk_daddr_set (a connected or accepted TCP socket, a request socket) also
    // fill the v4-mapped forms; a time-wait socket copies only its family's.
    if (!tw && s.protocol === 6 && s.state !== TCP_LISTEN) {
      bytes(named(layout, 'skc_v6_rcv_saddr.in6_u.u6_addr8'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...s.localIp]);
      bytes(named(layout, 'skc_v6_daddr.in6_u.u6_addr8'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...s.remoteIp]);
    }
  } else {
    bytes(named(layout, 'skc_v6_rcv_saddr.in6_u.u6_addr8'), s.localIp);
    bytes(named(layout, 'skc_v6_daddr.in6_u.u6_addr8'), s.remoteIp);
    // An IPv6 socket's IPv4 addresses (ipv6_v4_addresses): a time-wait socket copies them; a
    // request socket has only its family's.
    if (!request) {
      const [src4, dst4] = ipv6V4Addresses(net, s);
      if (src4) bytes(named(layout, 'skc_rcv_saddr'), LOOPBACK4_IPV6);
      if (dst4) bytes(named(layout, 'skc_daddr'), LOOPBACK4_IPV6);
    }
  }
  if (full) {
    put(named(layout, 'sk_protocol'), s.protocol);
    put(named(layout, 'sk_type'), s.protocol === 6 ? 1 : 2);
    put(named(layout, 'sk_mark'), s.mark);
    put(named(layout, 'sk_priority'), s.priority);
    put(named(layout, 'skc_rx_queue_mapping'), NO_QUEUE_MAPPING);
    // inet_sock's own copies of the local end.
    bytes(named(layout, 'inet_sport'), [s.localPort >> 8, s.localPort & 0xff]);
    if (v4) bytes(named(layout, 'inet_saddr'), s.localIp);
    else if (!any(s.localIp)) bytes(named(layout, 'inet_saddr'), LOOPBACK4_IPV6);
    if (s.protocol === 6) {
      const base = type === 'tcp6_sock' ? 'tcp.' : '';
      for (const [name, dflt] of Object.entries(tcpDefaults)) {
        const v = s.tcp?.[name as keyof NonNullable<NetSocket['tcp']>] ?? dflt;
        for (const p of TCP_PATHS[name] ?? [name]) put(layout.fields.get(base + p), v);
      }
    }
  }
  for (const [path, v] of s.kernel ?? []) {
    const f = fieldAt(layout, type, path);
    if (f) putBits(mem, at, f.bit, f.bits, v);
  }
}

/** What a run's casts hold: each socket's slot, and what was written there (to find stores). */
interface RunCasts extends CastState {
  written: Map<number, { bytes: Uint8Array; type: string; helper: string }>;
}

function castsOf(st: RunSockets, mem: () => Uint8Array): RunCasts {
  if (st.casts) return st.casts as RunCasts;
  const c: RunCasts = {
    at: new Map(),
    written: new Map(),
    check: (program) => castStores(c, mem(), program),
  };
  st.casts = c;
  return c;
}

/** The host socket a pointer of this run stands for: a struct bpf_sock, a struct bpf_tcp_sock or a cast's struct. */
function socketIndexAt(st: RunSockets | undefined, sk: number): number | undefined {
  if (!st) return undefined;
  const p = sk >>> 0;
  for (const m of [st.at, st.tcpAt, st.casts?.at]) if (m) for (const [index, at] of m) if (at === p) return index;
  return undefined;
}

/**
 * bpf_skc_to_<type>(sk): the socket's struct in the cast area, or 0 (NULL). A pointer the run did
 * not hand out (NULL included) is E_HELPER_FAILED: the kernel's verifier refuses the program.
 */
export function sockCast(area: SockCastArea, net: NetState, u8: () => Uint8Array, run: PacketRun | undefined, sk: number, id: number, tcpDefaults: Readonly<Record<string, number>>): number {
  const cast = SOCK_CASTS.get(id)!;
  // skb->sk, the test run's dummy socket (bpf_dummy_proto, protocol 0, TCP_CLOSE, never AF_UNIX
  // or an MPTCP subflow): every cast is NULL.
  if (isDummySock(run, sk)) return 0;
  const st = run ? runSockets.get(run) : undefined;
  const index = socketIndexAt(st, sk);
  if (index === undefined || !st) {
    throw new BpfRuntimeError(ErrorCode.HelperFailed, `0x${(sk >>> 0).toString(16)} is not a socket pointer of this run (the kernel's verifier refuses the program: ${cast.helper} takes a socket the program holds)`, { helper: cast.helper });
  }
  const s = net.sockets[index]!;
  if (!castGives(cast.type, s)) return 0;
  const c = castsOf(st, u8);
  const mem = u8();
  let at = c.at.get(index);
  if (at === undefined) {
    if (c.at.size >= area.slots) throw new BpfRuntimeError(ErrorCode.HelperFailed, `more than ${area.slots} sockets cast in one run`, { helper: cast.helper });
    at = area.address + c.at.size * area.slotSize;
    const type = slotType(s)!;
    const layout = area.layouts.get(type);
    const size = layout?.size ?? area.slotSize;
    writeSlot(net, mem, at, size, layout, type, s, tcpDefaults);
    c.at.set(index, at);
    c.written.set(at, { bytes: mem.slice(at, at + size), type, helper: cast.helper });
  }
  return at;
}

/** The struct bpf_sock address of the socket whose cast struct is at `sk` (bpf_sk_release takes either). */
export function castOwner(st: RunSockets | undefined, sk: number): number | undefined {
  if (!st?.casts) return undefined;
  for (const [index, at] of st.casts.at) if (at === sk >>> 0) return st.at.get(index);
  return undefined;
}

/**
 * After a run (or a batch's frame): an error when the program stored into a struct a cast
 * returned (the kernel's verifier refuses stores through these read-only BTF pointers).
 */
function castStores(c: RunCasts, mem: Uint8Array, program: string): BpfRuntimeError | undefined {
  for (const [at, w] of c.written) {
    const b = w.bytes;
    for (let i = 0; i < b.length; i++) {
      if (mem[at + i] !== b[i]) {
        return new BpfRuntimeError(ErrorCode.HelperFailed, `the program stored into the struct ${w.type} that ${w.helper} returned (byte ${i}): the kernel's verifier refuses stores through BTF socket pointers, which are read-only`, { program, helper: w.helper });
      }
    }
  }
  return undefined;
}
