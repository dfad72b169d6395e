/**
 * The host's network state as the packet helpers see it: interfaces, routes and neighbours (and
 * sockets, for the socket lookup helpers), supplied by the host through `net` on instantiate or
 * `--net FILE.json`, checked once into a `NetState` the helpers query. Without it the helpers see
 * the test run's host: the loopback device only, no routes, forwarding off.
 *
 * The route lookup follows the kernel's (net/ipv4/fib_trie.c, net/ipv6/route.c as
 * `bpf_ipv4_fib_lookup` / `bpf_ipv6_fib_lookup` in net/core/filter.c call them): longest prefix
 * first, then the lowest metric; IPv4's local and main tables are one (the kernel merges them
 * while there are no policy rules) and a full lookup continues into the default table (253);
 * IPv6 looks in the local table, then main.
 */
import { parseIpv4, parseIpv6 } from '../ip.js';
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { LOOPBACK } from './layout.js';
import { BpfTcpSock } from './sockets.js';
import { checkCgroups, type HostCgroup, type NetCgroups } from './cgroups.js';

export { setNetState, netStateOf } from './state.js';

/** An interface of the host. */
export interface HostInterface {
  /** Its index (>= 1; 1 is the loopback device, present without being listed). */
  ifindex: number;
  /** Name, for messages. */
  name?: string;
  /** MAC address `aa:bb:cc:dd:ee:ff` (default all zero). */
  mac?: string;
  /** MTU (default 1500; the loopback device 65536). */
  mtu?: number;
  /**
   * IPv4 and IPv6 forwarding on this interface (`net.ipv4.conf.X.forwarding`,
   * `net.ipv6.conf.X.forwarding`); default true for listed interfaces (the loopback device
   * unlisted: false, as on a default host). `bpf_fib_lookup` returns FWD_DISABLED without it.
   */
  forwarding?: boolean;
  /**
   * Addresses with their prefix (`10.1.0.1/24`, `2001:db8::1/64`), as `ip addr add`: each adds
   * a local route for the address and a connected route for its prefix on this interface.
   */
  addresses?: string[];
  /** Receive queues, for `xdp_md.rx_queue_index` in a test run's context (default 1). */
  rxQueues?: number;
}

/** Route types (`ip route add TYPE ...`). */
export type HostRouteType = 'unicast' | 'local' | 'broadcast' | 'blackhole' | 'unreachable' | 'prohibit' | 'throw';

/** A route of the host. */
export interface HostRoute {
  /** Destination prefix, `10.0.0.0/8`, `2001:db8::/32`, `0.0.0.0/0`; host bits must be zero. */
  prefix: string;
  /** Gateway (IPv4 routes may have an IPv6 gateway, as `via inet6`). */
  via?: string;
  /** Output interface; for a gateway without one, the interface of the connected route to it. */
  ifindex?: number;
  /** Default `unicast`. */
  type?: HostRouteType;
  /** Metric (priority), default 0 for IPv4 and 1024 for IPv6; lower wins among equal prefixes. */
  metric?: number;
  /** Routing table, default 254 (main). */
  table?: number;
  /** A locked path MTU, as `mtu lock N` (an unlocked route MTU does not bind forwarding). */
  mtu?: number;
  /** Preferred source address (`src`), reported by BPF_FIB_LOOKUP_SRC. */
  src?: string;
}

/** Neighbour entry states (`ip neigh ... nud STATE`). */
export type HostNeighbourState = 'permanent' | 'noarp' | 'reachable' | 'stale' | 'delay' | 'probe' | 'incomplete' | 'failed';

/** A neighbour (ARP / NDP) entry. */
export interface HostNeighbour {
  /** Its IPv4 or IPv6 address. */
  ip: string;
  /** Its MAC address. */
  mac: string;
  /** The interface it is reachable on. */
  ifindex: number;
  /** Default `permanent`; `incomplete` and `failed` entries are not valid for forwarding. */
  state?: HostNeighbourState;
}

/** TCP states a host socket may be in (as `ss` names them). */
export type HostSocketState = 'listen' | 'established' | 'syn-sent' | 'syn-recv' | 'fin-wait-1' | 'fin-wait-2' | 'time-wait' | 'close' | 'close-wait' | 'last-ack' | 'closing';

/** A socket of the host, for bpf_sk_lookup_tcp / _udp and bpf_skc_lookup_tcp. */
export interface HostSocket {
  protocol: 'tcp' | 'udp';
  /** The local address and port, `10.1.0.1:80`, `0.0.0.0:53`, `[2001:db8::1]:443`, `[::]:22`. */
  local: string;
  /** The peer of a connected socket. */
  remote?: string;
  /**
   * Default: TCP `established` with a remote, else `listen`; UDP `established` with a remote,
   * else `close` (an unconnected socket). A `time-wait` TCP socket is found only by bpf_skc_lookup_tcp.
   */
  state?: HostSocketState;
  /** SO_BINDTODEVICE: found only for packets on this interface. */
  ifindex?: number;
  mark?: number;
  priority?: number;
  /**
   * TCP state `bpf_tcp_sock` reports (its field names, `snd_cwnd`, `srtt_us`, `rcv_nxt`,
   * `bytes_acked`, ...); absent fields are tcp_init_sock's (snd_cwnd 10, snd_ssthresh
   * 0x7fffffff, mss_cache 536, rtt_min 0xffffffff) or 0.
   */
  tcp?: Partial<Record<TcpSockField, number>>;
  /**
   * Members of the kernel struct the `bpf_skc_to_*` casts give this socket (`struct tcp_sock`,
   * `tcp6_sock`, `tcp_timewait_sock`, `tcp_request_sock`, `udp6_sock`, as the host BTF lays it
   * out) by C path: `{ 'snd_cwnd': 20, 'inet_conn.icsk_inet.sk.sk_rcvbuf': 131072,
   * 'rtt_min.s[0].v': 40 }`; a tcp6_sock / udp6_sock also takes its tcp_sock / udp_sock's paths.
   * Numbers, bigints, or strings of a decimal or 0x-hex integer. Checked against the module's
   * layouts at instantiation (E_HOST_STATE naming the field when the struct has no such scalar
   * member or the value does not fit it); written after the fields the runtime fills itself.
   */
  kernel?: Record<string, number | bigint | string>;
}

/** The fields of `struct bpf_tcp_sock` a host socket may supply. */
export type TcpSockField = Exclude<keyof typeof BpfTcpSock, 'SIZE'>;

/** The host network state supplied to an instance (`InstantiateOptions.net`). */
export interface HostNetwork {
  interfaces?: HostInterface[];
  routes?: HostRoute[];
  neighbours?: HostNeighbour[];
  sockets?: HostSocket[];
  /** The cgroup v2 hierarchy below the root "/" (runtime/packet/cgroups.ts), for cgroup arrays and the cgroup id helpers. */
  cgroups?: HostCgroup[];
  /** The cgroup the test runs in, so the test run's socket's (default "/"). */
  cgroup?: string;
  /**
   * The raw SYN cookie helpers' secrets as 128 hex digits (64 bytes: two SipHash keys for IPv4,
   * two for IPv6; runtime/packet/syncookie.ts). Default: drawn at random per instance, as the
   * kernel draws its own at boot.
   */
  syncookieSecret?: string;
}

/** An IP address: 4 or 16 bytes in network order. */
export type IpBytes = Uint8Array;

/** A checked interface. */
export interface NetInterface {
  ifindex: number;
  name: string;
  mac: Uint8Array;
  mtu: number;
  forwarding: boolean;
  rxQueues: number;
  addresses: { ip: IpBytes; len: number }[];
  loopback: boolean;
}

/** A checked route. */
export interface NetRoute {
  dst: IpBytes;
  len: number;
  type: HostRouteType;
  gateway?: IpBytes;
  ifindex: number;
  metric: number;
  table: number;
  mtu: number;
  src?: IpBytes;
}

/** A checked neighbour entry. */
export interface NetNeighbour {
  ip: IpBytes;
  mac: Uint8Array;
  ifindex: number;
  valid: boolean;
}

/** A checked socket. */
export interface NetSocket {
  protocol: 6 | 17;
  family: 2 | 10;
  localIp: IpBytes;
  localPort: number;
  remoteIp: IpBytes;
  remotePort: number;
  /** TCP state number (TCP_ESTABLISHED 1 ... TCP_LISTEN 10, TCP_CLOSE 7). */
  state: number;
  ifindex: number;
  mark: number;
  priority: number;
  /** Host-supplied `struct bpf_tcp_sock` fields. */
  tcp?: Partial<Record<TcpSockField, number>>;
  /** Host-supplied members of the socket's kernel struct, by path (sock-cast.ts checks the paths against the module's layouts). */
  kernel?: Map<string, bigint>;
}

/** The host network state, checked: what the helpers query. */
export interface NetState {
  interfaces: Map<number, NetInterface>;
  /** IPv4 and IPv6 routes by table. */
  v4: Map<number, NetRoute[]>;
  v6: Map<number, NetRoute[]>;
  neighbours: NetNeighbour[];
  sockets: NetSocket[];
  cgroups: NetCgroups;
  syncookieSecret?: Uint8Array;
}

/** TCP states (include/net/tcp_states.h). */
export const TCP_STATES: Readonly<Record<HostSocketState, number>> = {
  established: 1, 'syn-sent': 2, 'syn-recv': 3, 'fin-wait-1': 4, 'fin-wait-2': 5, 'time-wait': 6, close: 7, 'close-wait': 8, 'last-ack': 9, listen: 10, closing: 11,
};

/** A `kernel` value: an integer as a number, a bigint, or a decimal / 0x-hex string (64-bit values). */
function kernelValue(x: unknown, path: string): bigint {
  if (typeof x === 'bigint') return x;
  if (typeof x === 'number' && Number.isSafeInteger(x)) return BigInt(x);
  if (typeof x === 'string' && /^-?(0x[0-9a-fA-F]+|[0-9]+)$/.test(x)) return x.startsWith('-') ? -BigInt(x.slice(1)) : BigInt(x);
  throw bad(path, `expected an integer (a number, or a string of decimal or 0x-hex digits for 64-bit values), got ${typeof x === 'bigint' ? String(x) : JSON.stringify(x)}`);
}

/** Parses `ip:port` / `[ip6]:port`. */
function parseEndpoint(s: unknown, path: string): { ip: IpBytes; port: number } {
  if (typeof s !== 'string') throw bad(path, `expected "address:port", got ${JSON.stringify(s)}`);
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:]+):(\d{1,5})$/.exec(s);
  const ip = m ? parseIp(m[1]) : undefined;
  if (!m || !ip || (m[0].startsWith('[') !== (ip.length === 16))) throw bad(path, `"${s}" is not "address:port" (IPv6 as "[2001:db8::1]:80")`);
  const port = Number(m[2]);
  if (port > 65535) throw bad(path, `port ${port} of "${s}" is above 65535`);
  return { ip, port };
}

export const RT_TABLE_DEFAULT = 253;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

const LOOPBACK_MTU = 65536;

function bad(path: string, why: string): BpfRuntimeError {
  return new BpfRuntimeError(ErrorCode.HostState, why, { field: path });
}

/** Parses an IPv4 or IPv6 address. */
export function parseIp(s: unknown): IpBytes | undefined {
  if (typeof s !== 'string') return undefined;
  return s.includes(':') ? parseIpv6(s) : parseIpv4(s);
}

/** Formats an address (IPv6 without compression, lower-case). */
export function formatIp(ip: IpBytes): string {
  if (ip.length === 4) return Array.from(ip).join('.');
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((ip[i]! << 8) | ip[i + 1]!).toString(16));
  return g.join(':');
}

function parseMac(s: unknown): Uint8Array | undefined {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) return undefined;
  return new Uint8Array(s.split(':').map((x) => parseInt(x, 16)));
}

/** True when the first `len` bits of `a` and `b` agree. */
export function prefixMatch(a: IpBytes, b: IpBytes, len: number): boolean {
  const full = len >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[full]! ^ b[full]!) & mask) === 0;
}

function parseCidr(s: unknown, path: string, hostBitsAllowed: boolean): { ip: IpBytes; len: number } {
  if (typeof s !== 'string') throw bad(path, `expected an address with a prefix length ("10.0.0.0/8"), got ${JSON.stringify(s)}`);
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!ip) throw bad(path, `"${s}" is not an IPv4 or IPv6 address with a prefix length`);
  const max = ip.length * 8;
  const lenText = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) throw bad(path, `prefix length "${lenText}" of "${s}" is not between 0 and ${max}`);
  const len = Number(lenText);
  if (!hostBitsAllowed) {
    for (let bit = len; bit < max; bit++) {
      if (ip[bit >> 3]! & (0x80 >> (bit & 7))) throw bad(path, `"${s}" has host bits set past its prefix length (as \`ip route\`: invalid prefix for given prefix length)`);
    }
  }
  return { ip, len };
}

function checkInt(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(path, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkKeys(o: object, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw bad(`${path}.${k}`, `unknown field "${k}" (known: ${allowed.join(', ')})`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function listAt(v: unknown, path: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(path, 'expected an array');
  return v;
}

const ROUTE_TYPES: readonly HostRouteType[] = ['unicast', 'local', 'broadcast', 'blackhole', 'unreachable', 'prohibit', 'throw'];
const NEIGH_STATES: readonly HostNeighbourState[] = ['permanent', 'noarp', 'reachable', 'stale', 'delay', 'probe', 'incomplete', 'failed'];
const VALID_STATES = new Set<HostNeighbourState>(['permanent', 'noarp', 'reachable', 'stale', 'delay', 'probe']);

/** The loopback device as the test run's host has it. */
function loopback(): NetInterface {
  return {
    ifindex: LOOPBACK.ifindex, name: 'lo', mac: new Uint8Array(6), mtu: LOOPBACK_MTU, forwarding: false, rxQueues: 1,
    addresses: [{ ip: new Uint8Array([127, 0, 0, 1]), len: 8 }, { ip: parseIpv6('::1')!, len: 128 }], loopback: true,
  };
}

/**
 * Checks host network state given as `net` (from JS or a JSON file) and builds what the
 * helpers query. Errors are E_HOST_STATE with the field's path (`net.routes[2].prefix`).
 */
export function checkHostNetwork(net: unknown, path = 'net'): NetState {
  if (!isObject(net)) throw bad(path, 'expected an object { interfaces?, routes?, neighbours?, sockets?, cgroups?, cgroup? }');
  checkKeys(net, ['interfaces', 'routes', 'neighbours', 'sockets', 'cgroups', 'cgroup', 'syncookieSecret'], path);
  const interfaces = new Map<number, NetInterface>([[LOOPBACK.ifindex, loopback()]]);
  const listed = new Set<number>();
  listAt(net.interfaces, `${path}.interfaces`).forEach((raw, i) => {
    const p = `${path}.interfaces[${i}]`;
    if (!isObject(raw)) throw bad(p, 'expected an object { ifindex, mac?, mtu?, forwarding?, addresses? }');
    checkKeys(raw, ['ifindex', 'name', 'mac', 'mtu', 'forwarding', 'addresses', 'rxQueues'], p);
    const ifindex = checkInt(raw.ifindex, `${p}.ifindex`, 1, 0x7fffffff);
    if (listed.has(ifindex)) throw bad(`${p}.ifindex`, `ifindex ${ifindex} is listed twice`);
    listed.add(ifindex);
    const lo = ifindex === LOOPBACK.ifindex;
    const base = lo ? loopback() : undefined;
    if (raw.name !== undefined && typeof raw.name !== 'string') throw bad(`${p}.name`, 'expected a string');
    const mac = raw.mac === undefined ? new Uint8Array(6) : parseMac(raw.mac);
    if (!mac) throw bad(`${p}.mac`, `${JSON.stringify(raw.mac)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
    if (raw.forwarding !== undefined && typeof raw.forwarding !== 'boolean') throw bad(`${p}.forwarding`, 'expected a boolean');
    const addresses = listAt(raw.addresses, `${p}.addresses`).map((a, j) => parseCidr(a, `${p}.addresses[${j}]`, true));
    interfaces.set(ifindex, {
      ifindex,
      name: (raw.name as string | undefined) ?? (lo ? 'lo' : `if${ifindex}`),
      mac,
      mtu: raw.mtu === undefined ? (lo ? LOOPBACK_MTU : 1500) : checkInt(raw.mtu, `${p}.mtu`, 68, 0x7fffffff),
      forwarding: (raw.forwarding as boolean | undefined) ?? true,
      rxQueues: raw.rxQueues === undefined ? 1 : checkInt(raw.rxQueues, `${p}.rxQueues`, 1, 4096),
      addresses: [...(base?.addresses ?? []), ...addresses],
      loopback: lo,
    });
  });

  const state: NetState = { interfaces, v4: new Map(), v6: new Map(), neighbours: [], sockets: [], cgroups: checkCgroups(net.cgroups, net.cgroup, path) };
  const add = (r: NetRoute): void => {
    const tables = r.dst.length === 4 ? state.v4 : state.v6;
    // IPv4's local table is merged into main (no policy rules here).
    const t = r.dst.length === 4 && r.table === RT_TABLE_LOCAL ? RT_TABLE_MAIN : r.table;
    let list = tables.get(t);
    if (!list) tables.set(t, (list = []));
    list.push(r);
  };
  // Interface addresses: a local route for the address, a connected route for its prefix.
  for (const itf of interfaces.values()) {
    for (const a of itf.addresses) {
      const full = a.ip.length * 8;
      add({ dst: a.ip, len: full, type: 'local', ifindex: itf.ifindex, metric: 0, table: RT_TABLE_LOCAL, mtu: 0 });
      if (a.ip.length === 4 && a.len < 31) {
        const bcast = a.ip.slice();
        for (let bit = a.len; bit < 32; bit++) bcast[bit >> 3] |= 0x80 >> (bit & 7);
        add({ dst: bcast, len: 32, type: 'broadcast', ifindex: itf.ifindex, metric: 0, table: RT_TABLE_LOCAL, mtu: 0 });
      }
      if (a.ip.length === 16 && a.len < 128 && !itf.loopback && itf.forwarding) {
        // The subnet-router anycast address a forwarding interface answers (a local route).
        add({ dst: masked(a.ip, a.len), len: 128, type: 'local', ifindex: itf.ifindex, metric: 0, table: RT_TABLE_LOCAL, mtu: 0 });
      }
      if (a.len < full || itf.loopback) {
        const net = masked(a.ip, a.len);
        add({ dst: net, len: a.len, type: itf.loopback ? 'local' : 'unicast', ifindex: itf.ifindex, metric: a.ip.length === 4 ? 0 : 256, table: itf.loopback && a.ip.length === 4 ? RT_TABLE_LOCAL : RT_TABLE_MAIN, mtu: 0 });
      }
    }
  }
  const connectedTo = (gw: IpBytes): number | undefined => {
    for (const itf of interfaces.values()) {
      for (const a of itf.addresses) if (a.ip.length === gw.length && a.len < a.ip.length * 8 && prefixMatch(a.ip, gw, a.len) && !itf.loopback) return itf.ifindex;
    }
    const routes = (gw.length === 4 ? state.v4 : state.v6).get(RT_TABLE_MAIN) ?? [];
    return routes.find((r) => r.type === 'unicast' && !r.gateway && prefixMatch(r.dst, gw, r.len))?.ifindex;
  };
  const userRoutes: NetRoute[] = [];
  listAt(net.routes, `${path}.routes`).forEach((raw, i) => {
    const p = `${path}.routes[${i}]`;
    if (!isObject(raw)) throw bad(p, 'expected an object { prefix, via?, ifindex?, type?, metric?, table?, mtu?, src? }');
    checkKeys(raw, ['prefix', 'via', 'ifindex', 'type', 'metric', 'table', 'mtu', 'src'], p);
    const { ip, len } = parseCidr(raw.prefix, `${p}.prefix`, false);
    const v6 = ip.length === 16;
    const type = (raw.type ?? 'unicast') as HostRouteType;
    if (!ROUTE_TYPES.includes(type)) throw bad(`${p}.type`, `unknown route type ${JSON.stringify(raw.type)} (known: ${ROUTE_TYPES.join(', ')})`);
    let gateway: IpBytes | undefined;
    if (raw.via !== undefined) {
      gateway = parseIp(raw.via);
      if (!gateway) throw bad(`${p}.via`, `${JSON.stringify(raw.via)} is not an IPv4 or IPv6 address`);
      if (v6 && gateway.length === 4) throw bad(`${p}.via`, 'an IPv6 route needs an IPv6 gateway');
      if (type !== 'unicast') throw bad(`${p}.via`, `a ${type} route has no gateway`);
    }
    let ifindex = 0;
    if (raw.ifindex !== undefined) {
      ifindex = checkInt(raw.ifindex, `${p}.ifindex`, 1, 0x7fffffff);
      if (!interfaces.has(ifindex)) throw bad(`${p}.ifindex`, `no interface with ifindex ${ifindex} (list it in net.interfaces)`);
    } else if (gateway) {
      const found = connectedTo(gateway);
      if (found === undefined) throw bad(`${p}.via`, `gateway ${formatIp(gateway)} is on no interface's connected prefix: give the route an ifindex (as \`ip route\`: Nexthop has invalid gateway)`);
      ifindex = found;
    } else if (type === 'unicast' || type === 'local' || type === 'broadcast') {
      throw bad(p, `a ${type} route needs an ifindex or a gateway`);
    }
    const metric = raw.metric === undefined ? (v6 ? 1024 : 0) : checkInt(raw.metric, `${p}.metric`, 0, 0xffffffff);
    const table = raw.table === undefined ? RT_TABLE_MAIN : checkInt(raw.table, `${p}.table`, 1, 0xffffffff);
    const mtu = raw.mtu === undefined ? 0 : checkInt(raw.mtu, `${p}.mtu`, v6 ? 1280 : 68, 0xffffffff);
    let src: IpBytes | undefined;
    if (raw.src !== undefined) {
      src = parseIp(raw.src);
      if (!src || src.length !== ip.length) throw bad(`${p}.src`, `${JSON.stringify(raw.src)} is not an address of the route's family`);
    }
    const r: NetRoute = { dst: ip, len, type, ifindex, metric, table, mtu, ...(gateway ? { gateway } : {}), ...(src ? { src } : {}) };
    const t = !v6 && table === RT_TABLE_LOCAL ? RT_TABLE_MAIN : table;
    const dup = [...userRoutes].find((o) => o.dst.length === ip.length && (o.dst.length === 4 && o.table === RT_TABLE_LOCAL ? RT_TABLE_MAIN : o.table) === t && o.len === len && o.metric === metric && prefixMatch(o.dst, ip, len));
    if (dup) throw bad(`${p}.prefix`, `a route to ${raw.prefix as string} with metric ${metric} is already in table ${table} (as \`ip route add\`: File exists)`);
    userRoutes.push(r);
    add(r);
  });
  listAt(net.neighbours, `${path}.neighbours`).forEach((raw, i) => {
    const p = `${path}.neighbours[${i}]`;
    if (!isObject(raw)) throw bad(p, 'expected an object { ip, mac, ifindex, state? }');
    checkKeys(raw, ['ip', 'mac', 'ifindex', 'state'], p);
    const ip = parseIp(raw.ip);
    if (!ip) throw bad(`${p}.ip`, `${JSON.stringify(raw.ip)} is not an IPv4 or IPv6 address`);
    const mac = parseMac(raw.mac);
    if (!mac) throw bad(`${p}.mac`, `${JSON.stringify(raw.mac)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
    const ifindex = checkInt(raw.ifindex, `${p}.ifindex`, 1, 0x7fffffff);
    if (!interfaces.has(ifindex)) throw bad(`${p}.ifindex`, `no interface with ifindex ${ifindex} (list it in net.interfaces)`);
    const st = (raw.state ?? 'permanent') as HostNeighbourState;
    if (!NEIGH_STATES.includes(st)) throw bad(`${p}.state`, `unknown neighbour state ${JSON.stringify(raw.state)} (known: ${NEIGH_STATES.join(', ')})`);
    if (state.neighbours.some((n) => n.ifindex === ifindex && sameIp(n.ip, ip))) throw bad(`${p}.ip`, `a neighbour ${raw.ip as string} on ifindex ${ifindex} is already listed`);
    state.neighbours.push({ ip, mac, ifindex, valid: VALID_STATES.has(st) });
  });
  listAt(net.sockets, `${path}.sockets`).forEach((raw, i) => {
    const p = `${path}.sockets[${i}]`;
    if (!isObject(raw)) throw bad(p, 'expected an object { protocol, local, remote?, state?, ifindex?, mark?, priority? }');
    checkKeys(raw, ['protocol', 'local', 'remote', 'state', 'ifindex', 'mark', 'priority', 'tcp', 'kernel'], p);
    if (raw.protocol !== 'tcp' && raw.protocol !== 'udp') throw bad(`${p}.protocol`, `expected "tcp" or "udp", got ${JSON.stringify(raw.protocol)}`);
    const local = parseEndpoint(raw.local, `${p}.local`);
    const remote = raw.remote === undefined ? { ip: new Uint8Array(local.ip.length), port: 0 } : parseEndpoint(raw.remote, `${p}.remote`);
    if (remote.ip.length !== local.ip.length) throw bad(`${p}.remote`, 'the remote address is not of the local address\'s family');
    const st = (raw.state ?? (raw.remote !== undefined ? 'established' : raw.protocol === 'tcp' ? 'listen' : 'close')) as HostSocketState;
    if (!Object.hasOwn(TCP_STATES, st)) throw bad(`${p}.state`, `unknown socket state ${JSON.stringify(raw.state)} (known: ${Object.keys(TCP_STATES).join(', ')})`);
    if (raw.protocol === 'udp' && st !== 'established' && st !== 'close') throw bad(`${p}.state`, 'a UDP socket is established (connected) or close');
    if (st === 'listen' && raw.remote !== undefined) throw bad(`${p}.remote`, 'a listening socket has no remote');
    const ifindex = raw.ifindex === undefined ? 0 : checkInt(raw.ifindex, `${p}.ifindex`, 1, 0x7fffffff);
    if (ifindex && !interfaces.has(ifindex)) throw bad(`${p}.ifindex`, `no interface with ifindex ${ifindex} (list it in net.interfaces)`);
    let tcp: Partial<Record<TcpSockField, number>> | undefined;
    if (raw.tcp !== undefined) {
      if (raw.protocol !== 'tcp' || !isObject(raw.tcp)) throw bad(`${p}.tcp`, 'expected struct bpf_tcp_sock fields of a TCP socket');
      checkKeys(raw.tcp, Object.keys(BpfTcpSock).filter((k) => k !== 'SIZE'), `${p}.tcp`);
      tcp = {};
      for (const [f, x] of Object.entries(raw.tcp)) tcp[f as TcpSockField] = checkInt(x, `${p}.tcp.${f}`, 0, f.startsWith('bytes_') ? Number.MAX_SAFE_INTEGER : 0xffffffff);
    }
    let kernel: Map<string, bigint> | undefined;
    if (raw.kernel !== undefined) {
      if (!isObject(raw.kernel)) throw bad(`${p}.kernel`, 'expected an object of kernel struct members by path ({ "snd_cwnd": 20 })');
      if (raw.protocol === 'udp' && local.ip.length === 4) throw bad(`${p}.kernel`, 'no bpf_skc_to_* cast gives an IPv4 UDP socket (bpf_skc_to_udp6_sock needs AF_INET6), so it has no kernel struct to fill');
      kernel = new Map();
      for (const [f, x] of Object.entries(raw.kernel)) {
        const path = `${p}.kernel.${f}`;
        if (!/^[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*)*$/.test(f)) throw bad(path, `"${f}" is not a C member path ("snd_cwnd", "inet_conn.icsk_inet.sk.sk_mark", "rtt_min.s[0].v")`);
        kernel.set(f, kernelValue(x, path));
      }
    }
    state.sockets.push({
      protocol: raw.protocol === 'tcp' ? 6 : 17, tcp, ...(kernel ? { kernel } : {}), family: local.ip.length === 4 ? 2 : 10,
      localIp: local.ip, localPort: local.port, remoteIp: remote.ip, remotePort: remote.port, state: TCP_STATES[st], ifindex,
      mark: raw.mark === undefined ? 0 : checkInt(raw.mark, `${p}.mark`, 0, 0xffffffff),
      priority: raw.priority === undefined ? 0 : checkInt(raw.priority, `${p}.priority`, 0, 0xffffffff),
    });
  });
  if (net.syncookieSecret !== undefined) {
    const hex = net.syncookieSecret;
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]{128}$/.test(hex)) throw bad(`${path}.syncookieSecret`, 'expected 128 hex digits (64 bytes: two SipHash keys for IPv4, two for IPv6)');
    state.syncookieSecret = new Uint8Array(64).map((_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  }
  for (const list of [...state.v4.values(), ...state.v6.values()]) list.sort((a, b) => b.len - a.len || a.metric - b.metric);
  return state;
}

function masked(ip: IpBytes, len: number): IpBytes {
  const out = new Uint8Array(ip.length);
  for (let bit = 0; bit < len; bit++) if (ip[bit >> 3]! & (0x80 >> (bit & 7))) out[bit >> 3] |= 0x80 >> (bit & 7);
  return out;
}

function sameIp(a: IpBytes, b: IpBytes): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The host state a run sees without `net`: the test run's loopback device, nothing else. */
export function defaultNetState(): NetState {
  return checkHostNetwork({});
}

/** The neighbour entry for `ip` on `ifindex`, if any. */
export function neighbour(state: NetState, ifindex: number, ip: IpBytes): NetNeighbour | undefined {
  return state.neighbours.find((n) => n.ifindex === ifindex && sameIp(n.ip, ip));
}

/** What a route lookup found: the route, or a kernel error for the lookup itself. */
export type RouteResult = { route: NetRoute } | { error: 'unreachable-net' | 'blackhole' | 'unreachable' | 'prohibit' };

/**
 * IPv4: fib_table_lookup over one table: the longest matching prefix whose route is usable
 * (an output lookup skips unicast routes out of another interface); blackhole, unreachable and
 * prohibit routes end the lookup with their error, throw continues in the next table.
 */
function lookup4(routes: readonly NetRoute[] | undefined, dst: IpBytes, oif: number): RouteResult | 'throw' | undefined {
  for (const r of routes ?? []) {
    if (!prefixMatch(r.dst, dst, r.len)) continue;
    if (r.type === 'blackhole' || r.type === 'unreachable' || r.type === 'prohibit') return { error: r.type };
    if (r.type === 'throw') return 'throw';
    if (oif !== 0 && r.ifindex !== oif) continue;
    return { route: r };
  }
  return undefined;
}

/** IPv6: the longest matching prefix; among its routes the one out of `oif`, then the lowest metric. */
function lookup6(routes: readonly NetRoute[] | undefined, dst: IpBytes, oif: number): NetRoute | undefined {
  let best: NetRoute | undefined;
  for (const r of routes ?? []) {
    if (!prefixMatch(r.dst, dst, r.len)) continue;
    if (best && r.len < best.len) break;
    if (!best) best = r;
    else if (oif !== 0 && best.ifindex !== oif && r.ifindex === oif) best = r;
  }
  return best;
}

/**
 * The route to `dst`: a full lookup (local + main, then default for IPv4; local, then main for
 * IPv6) or, with `table`, that table only (BPF_FIB_LOOKUP_DIRECT); undefined table = not found.
 */
export function routeLookup(state: NetState, dst: IpBytes, oif: number, table?: number): RouteResult | { error: 'no-table' } {
  if (dst.length === 4) {
    if (table !== undefined) {
      const t = table === RT_TABLE_LOCAL ? RT_TABLE_MAIN : table;
      if (!state.v4.has(t) && t !== RT_TABLE_MAIN) return { error: 'no-table' };
      const r = lookup4(state.v4.get(t), dst, oif);
      return r === undefined || r === 'throw' ? { error: 'unreachable-net' } : r;
    }
    for (const t of [RT_TABLE_MAIN, RT_TABLE_DEFAULT]) {
      const r = lookup4(state.v4.get(t), dst, oif);
      if (r !== undefined && r !== 'throw') return r;
    }
    return { error: 'unreachable-net' };
  }
  const tables = table !== undefined ? [table] : [RT_TABLE_LOCAL, RT_TABLE_MAIN];
  if (table !== undefined && !state.v6.has(table) && table !== RT_TABLE_MAIN && table !== RT_TABLE_LOCAL) return { error: 'no-table' };
  for (const t of tables) {
    const r = lookup6(state.v6.get(t), dst, oif);
    if (!r) continue;
    if (r.type === 'blackhole' || r.type === 'unreachable' || r.type === 'prohibit') return { error: r.type };
    if (r.type === 'throw') continue;
    return { route: r };
  }
  return { error: 'unreachable-net' };
}

/**
 * The source address the kernel would pick for a route (fib_result_prefsrc / the IPv6 source
 * selection, simplified): the route's `src`; else an address of the output interface on the
 * prefix of `towards` (IPv4: the gateway; IPv6: the destination), else its first address of the
 * family; else the first such address of any other interface (the loopback's and IPv6
 * link-local ones excluded). Undefined when none.
 */
export function sourceFor(state: NetState, route: NetRoute, towards: IpBytes | undefined, size: 4 | 16): IpBytes | undefined {
  if (route.src) return route.src;
  const usable = (itf: NetInterface): { ip: IpBytes; len: number }[] =>
    itf.addresses.filter((a) => a.ip.length === size && !itf.loopback && !(size === 16 && a.ip[0] === 0xfe && (a.ip[1]! & 0xc0) === 0x80));
  const out = state.interfaces.get(route.ifindex);
  const own = out ? usable(out) : [];
  const onPrefix = towards ? own.find((a) => prefixMatch(a.ip, towards, a.len)) : undefined;
  if (onPrefix) return onPrefix.ip;
  if (own[0]) return own[0].ip;
  for (const itf of [...state.interfaces.values()].sort((a, b) => a.ifindex - b.ifindex)) {
    const a = usable(itf)[0];
    if (a) return a.ip;
  }
  return undefined;
}
