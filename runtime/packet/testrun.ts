/**
 * Packet test runs as the kernel's BPF_PROG_TEST_RUN makes them (net/bpf/test_run.c,
 * bpf_prog_test_run_xdp and bpf_prog_test_run_skb): the context and the buffer the program
 * sees, the input checks (with the kernel's errno), the output frame and context, over an engine
 * (the compiled module or the interpreter).
 *
 * XDP: one 4 KiB page, 256 bytes of headroom before the metadata, `struct skb_shared_info`'s
 * 320 bytes of tailroom at the end, so at most 3520 linear bytes; the rest of a larger frame goes
 * to fragments (one page each, at most 17), reachable through bpf_xdp_load_bytes/store_bytes.
 * The device is the loopback device (ingress_ifindex 1, rx queue 0) unless `ctxIn` names another.
 * dataOut is [data_meta, data_end) plus the fragments.
 *
 * skb (tc, socket filters, cgroup_skb, lwt): `eth_type_trans` on the loopback device decides
 * `protocol` and `pkt_type`; tc programs see the frame from its Ethernet header, lwt and cgroup_skb
 * programs from the network header, socket filters from the network header (`skbData: 'network'`, the kernel's choice) or, as an AF_PACKET
 * SOCK_RAW socket gives them, from the Ethernet header (`skbData: 'mac'`). After a
 * `'network'` run the kernel puts back a zeroed Ethernet header: dataOut starts with 14 zero bytes.
 * Every skb run's skb belongs to the kernel's dummy socket: `__sk_buff.sk` points to its
 * `struct bpf_sock` (layout.ts writeSkbDummySock), and `__sk_buff.family` and the addresses read it.
 * Its addresses come from the IP header, so an IPv4 frame with less than 20 bytes after the
 * Ethernet header, or an IPv6 frame with less than 40, is refused (EINVAL), as by the kernel.
 */
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import {
  CONTEXT_AREA, ETH_HLEN, GSO_LEGACY_MAX_SIZE, GSO_MAX_SEGS, LOOPBACK, MAX_SKB_FRAGS, PAGE_SIZE, PacketType, SHINFO_SIZE,
  SKB_HEADROOM, SKB_MAX_DATA, SKB_ROOM_AFTER, SKB_ROOM_BEFORE, SkBuff, SkbPrivate, XDP_META_MAX, XDP_PACKET_HEADROOM, XdpMd,
  skbDummySock, writeSkbDummySock,
} from './layout.js';
import { netStateOf, unreleasedSockets, withRun, type PacketEffects, type PacketRun, type SkbRun, type XdpRun } from './state.js';

/**
 * What the test run needs of an engine (a structural subset of runtime/engine.ts's `Engine`).
 */
export interface PacketEngine {
  readonly memory: WebAssembly.Memory;
  readonly dataAddress: number;
  ensureData(len: number): void;
  /** Runs `program` with r1, r2; returns r0's low 32 bits. Throws typed errors only. */
  invoke(program: string, r1: number, r2: number): number;
  /** Runs `program` n times with r1, r2 as n `invoke`s would (runtime/engine.ts: inside Wasm where the module allows). */
  repeat(program: string, r1: number, r2: number, n: number): number;
  lastResult(): bigint;
}

/** Where offset 0 of a socket filter's packet is: the Ethernet header or the network header. */
export type SkbDataMode = 'mac' | 'network';

/** The input of a test run (the fields of libbpf's `bpf_test_run_opts`). */
export interface PacketTestOptions {
  /** The frame, from its Ethernet header (XDP: from the metadata when `ctxIn.data` > 0). */
  dataIn?: Uint8Array;
  /** `struct xdp_md` or `struct __sk_buff` in; the fields the kernel accepts, the others zero. */
  ctxIn?: Uint8Array;
  /** Runs on the same buffer (as the kernel's loop); default 1. */
  repeat?: number;
  /** Socket filters only: default 'network', as BPF_PROG_TEST_RUN. */
  skbData?: SkbDataMode;
  /**
   * Accept frames shorter than an Ethernet header (the kernel refuses them with EINVAL): the
   * legacy `runPacket` path, which also runs programs over arbitrary bytes.
   */
  allowRunts?: boolean;
  /** Measure `durationNs` (default true; `runPacket` skips the clock reads). */
  time?: boolean;
}

/** The outcome of a test run. */
export interface PacketTestResult extends PacketEffects {
  /** r0's low 32 bits, unsigned, as the kernel reports `retval`. */
  retval: number;
  /** The full r0. */
  r0: bigint;
  /** The frame as the program left it. */
  dataOut: Uint8Array;
  /** The context out, when `ctxIn` was given. */
  ctxOut?: Uint8Array;
  /** Nanoseconds per run (average over `repeat`). */
  durationNs: number;
}

/** A program as the test run needs it. */
export interface PacketProgram {
  name: string;
  type: string;
}

/** Program types whose test run is bpf_prog_test_run_skb. */
const SKB_TEST_TYPES: ReadonlySet<string> = new Set(['socket', 'tc', 'tc_action', 'cgroup_skb', 'lwt']);
/** Types whose skb test run pushes the Ethernet header back before the run (is_l2). */
const L2_TYPES: ReadonlySet<string> = new Set(['tc', 'tc_action']);

/** The typed error of an input the kernel's test run refuses. */
function refuse(program: string, errno: 'EINVAL' | 'ENODEV' | 'E2BIG' | 'ENOMEM' | 'ENOTSUPP', why: string): BpfRuntimeError {
  return new BpfRuntimeError(ErrorCode.TestRun, `${errno}: ${why}`, { program });
}

/** The kernel's result for the context a program type has, or undefined when it has no packet test run. */
export function contextKind(type: string): 'xdp' | 'skb' | undefined {
  return type === 'xdp' ? 'xdp' : SKB_TEST_TYPES.has(type) ? 'skb' : undefined;
}

/**
 * Runs `program` over `opts.dataIn` as BPF_PROG_TEST_RUN does and returns retval, the output
 * frame, the context out and what the program asked of the outside world.
 */
export function testRunPacket(engine: PacketEngine, program: PacketProgram, opts: PacketTestOptions = {}): PacketTestResult {
  const kind = contextKind(program.type);
  if (!kind) throw refuse(program.name, 'ENOTSUPP', `programs of type ${program.type} have no packet test run`);
  const repeat = opts.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 0 || repeat > 0xffffffff) {
    throw new BpfRuntimeError(ErrorCode.BadArgument, `repeat must be a u32, got ${String(repeat)}`, { program: program.name });
  }
  if (opts.skbData !== undefined) {
    const why = program.type !== 'socket' ? `skbData applies to socket filters, not to ${program.name} (${program.type})`
      : opts.skbData !== 'mac' && opts.skbData !== 'network' ? `skbData must be 'mac' or 'network', not ${String(opts.skbData)}` : undefined;
    if (why) throw new BpfRuntimeError(ErrorCode.BadArgument, why, { program: program.name });
  }
  const data = opts.dataIn ?? new Uint8Array(0);
  return kind === 'xdp' ? runXdp(engine, program.name, data, opts, Math.max(repeat, 1)) : runSkb(engine, program, data, opts, Math.max(repeat, 1));
}

/** bpf_ctx_init: a context of `size` bytes from `ctxIn` (shorter is zero-filled, longer must be zero past `size`). */
function ctxFrom(program: string, ctxIn: Uint8Array | undefined, size: number): Uint8Array | undefined {
  if (!ctxIn) return undefined;
  for (let i = size; i < ctxIn.length; i++) {
    if (ctxIn[i] !== 0) throw refuse(program, 'E2BIG', `the context is ${ctxIn.length} bytes, ${size} known, and byte ${i} is not zero`);
  }
  const ctx = new Uint8Array(size);
  ctx.set(ctxIn.subarray(0, size));
  return ctx;
}

/**
 * The result object, built field by field: spreading the effects and a conditional ctxOut into
 * a literal made a dictionary-mode object and cost more than the run of a small program.
 */
function result(run: PacketRun, r0: bigint, dataOut: Uint8Array, ctxOut: Uint8Array | undefined, durationNs: number): PacketTestResult {
  const retval = Number(r0 & 0xffffffffn);
  const out: PacketTestResult = ctxOut ? { retval, r0, dataOut, ctxOut, durationNs } : { retval, r0, dataOut, durationNs };
  // The effects first, as before (the order JSON shows); rare, so the slower path is fine.
  for (const _ in run.effects) return Object.assign({ ...run.effects }, out);
  return out;
}

function timed(engine: PacketEngine, name: string, ctx: number, length: number, repeat: number, run: PacketRun, time: boolean): { r0: bigint; ns: number } {
  return withRun(engine.memory, run, () => {
    const t0 = time ? performance.now() : 0;
    // Nothing is reset between runs (as the kernel's loop): the runs go to the engine's repeat
    // loop, inside Wasm for compiled modules, so only the runs are timed.
    if (repeat === 1) engine.invoke(name, ctx, length);
    else engine.repeat(name, ctx, length, repeat);
    const ns = time ? ((performance.now() - t0) * 1e6) / repeat : 0;
    return { r0: engine.lastResult(), ns: Math.round(ns) };
  });
}

/** Views of a memory's current buffer, made again only when it grew. */
const viewCache = new WeakMap<ArrayBuffer, { u8: Uint8Array; dv: DataView }>();
function views(memory: WebAssembly.Memory): { u8: Uint8Array; dv: DataView } {
  const buffer = memory.buffer;
  let v = viewCache.get(buffer);
  if (!v) viewCache.set(buffer, (v = { u8: new Uint8Array(buffer), dv: new DataView(buffer) }));
  return v;
}

function runXdp(engine: PacketEngine, name: string, dataIn: Uint8Array, opts: PacketTestOptions, repeat: number): PacketTestResult {
  const ctx = ctxFrom(name, opts.ctxIn, XdpMd.SIZE);
  const size = dataIn.length;
  let headroom = XDP_PACKET_HEADROOM;
  let metalen = 0;
  let ingress: number = LOOPBACK.ifindex;
  let rxQueue = 0;
  if (ctx) {
    const v = new DataView(ctx.buffer);
    const cData = v.getUint32(XdpMd.data, true);
    const cEnd = v.getUint32(XdpMd.data_end, true);
    if (v.getUint32(XdpMd.data_meta, true) !== 0) throw refuse(name, 'EINVAL', 'xdp_md.data_meta must be 0 (the metadata starts the input)');
    if (cEnd > size) throw refuse(name, 'EINVAL', `xdp_md.data_end (${cEnd}) is past the input's length (${size})`);
    if (cData > cEnd) throw refuse(name, 'EINVAL', `xdp_md.data (${cData}) is past data_end (${cEnd})`);
    if (cData % 4 !== 0 || cData > XDP_META_MAX) throw refuse(name, 'EINVAL', `xdp_md.data (${cData}), the metadata length, must be a multiple of 4 up to ${XDP_META_MAX}`);
    metalen = cData;
    headroom -= metalen;
  }
  const maxLinear = PAGE_SIZE - headroom - SHINFO_SIZE;
  // xdp_md.data_end below the input's length makes the rest fragments (a multi-buffer frame).
  const linear = Math.min(ctx ? new DataView(ctx.buffer).getUint32(XdpMd.data_end, true) : size, maxLinear);
  if (linear < ETH_HLEN && !opts.allowRunts) throw refuse(name, 'EINVAL', `the frame is ${size} bytes, shorter than an Ethernet header (${ETH_HLEN})`);
  if (ctx) {
    const v = new DataView(ctx.buffer);
    if (v.getUint32(XdpMd.egress_ifindex, true) !== 0) throw refuse(name, 'EINVAL', 'xdp_md.egress_ifindex must be 0');
    const ifx = v.getUint32(XdpMd.ingress_ifindex, true);
    const rxq = v.getUint32(XdpMd.rx_queue_index, true);
    if (ifx === 0 && rxq !== 0) throw refuse(name, 'EINVAL', 'xdp_md.rx_queue_index needs an ingress_ifindex');
    if (ifx !== 0) {
      const dev = netStateOf(engine.memory)?.interfaces.get(ifx);
      if (ifx !== LOOPBACK.ifindex && !dev) throw refuse(name, 'ENODEV', `no device with ifindex ${ifx} (the test run has the loopback device, 1, and the interfaces of the host's net state)`);
      const queues = dev?.rxQueues ?? 1;
      if (rxq >= queues) throw refuse(name, 'EINVAL', `device ${ifx} has ${queues} rx queue${queues === 1 ? '' : 's'}, xdp_md.rx_queue_index is ${rxq}`);
      ingress = ifx;
      rxQueue = rxq;
    }
  }
  const frags: XdpRun['frags'] = [];
  for (let at = linear; at < size; at += PAGE_SIZE) {
    if (frags.length === MAX_SKB_FRAGS) throw refuse(name, 'ENOMEM', `the frame needs more than ${MAX_SKB_FRAGS} fragments`);
    const page = new Uint8Array(PAGE_SIZE);
    const part = dataIn.subarray(at, Math.min(size, at + PAGE_SIZE));
    page.set(part);
    frags.push({ page, len: part.length });
  }

  const base = engine.dataAddress;
  engine.ensureData(CONTEXT_AREA + PAGE_SIZE);
  const hardStart = base + CONTEXT_AREA;
  const meta = hardStart + headroom;
  const start = meta + metalen;
  const end = meta + linear;
  const { u8: bytes, dv: v } = views(engine.memory);
  // The test run's page is zeroed: the context, the headroom a program may reach, the metadata
  // and the linear data are written here; the tailroom is zeroed when bpf_xdp_adjust_tail grows.
  // (Every field of xdp_md is written below: no fill of the context, and no subarray of a whole frame; each costs a builtin call.)
  bytes.fill(0, hardStart, meta);
  bytes.set(linear === size ? dataIn : dataIn.subarray(0, linear), meta);
  v.setUint32(base + XdpMd.egress_ifindex, 0, true);
  v.setUint32(base + XdpMd.data, start, true);
  v.setUint32(base + XdpMd.data_end, end, true);
  v.setUint32(base + XdpMd.data_meta, meta, true);
  v.setUint32(base + XdpMd.ingress_ifindex, ingress, true);
  v.setUint32(base + XdpMd.rx_queue_index, rxQueue, true);
  const run: XdpRun = { kind: 'xdp', ctx: base, hardStart, hardEnd: hardStart + PAGE_SIZE - SHINFO_SIZE, frags, effects: {} };
  const { r0, ns } = timed(engine, name, base, CONTEXT_AREA + PAGE_SIZE, repeat, run, opts.time ?? true);
  const leak = unreleasedSockets(run, name);
  if (leak) throw leak;

  const { u8: afterBytes, dv: after } = views(engine.memory);
  const d = after.getUint32(base + XdpMd.data, true);
  const de = after.getUint32(base + XdpMd.data_end, true);
  const dm = after.getUint32(base + XdpMd.data_meta, true);
  let dataOut: Uint8Array;
  if (run.frags.length === 0) {
    dataOut = afterBytes.slice(dm, de);
  } else {
    const linearOut = afterBytes.subarray(dm, de);
    dataOut = new Uint8Array(linearOut.length + run.frags.reduce((n, f) => n + f.len, 0));
    dataOut.set(linearOut);
    let at = linearOut.length;
    for (const f of run.frags) {
      dataOut.set(f.page.subarray(0, f.len), at);
      at += f.len;
    }
  }
  let ctxOut: Uint8Array | undefined;
  if (ctx) {
    ctxOut = ctx.slice();
    const o = new DataView(ctxOut.buffer);
    o.setUint32(XdpMd.data, d - dm, true);
    o.setUint32(XdpMd.data_end, de - dm, true);
  }
  return result(run, r0, dataOut, ctxOut, ns);
}

/** The ranges of `struct __sk_buff` a test run's ctxIn may set (convert___skb_to_skb); the rest must be zero. */
const SKB_CTX_ALLOWED: readonly [number, number][] = [
  [SkBuff.mark, 4], [SkBuff.priority, 4], [SkBuff.ingress_ifindex, 4], [SkBuff.ifindex, 4], [SkBuff.cb, 20],
  [SkBuff.tstamp, 8], [SkBuff.wire_len, 4], [SkBuff.gso_segs, 4], [SkBuff.gso_size, 4], [SkBuff.hwtstamp, 8],
];

const FIELD_NAMES: Record<number, string> = Object.fromEntries(Object.entries(SkBuff).map(([k, off]) => [off, k]));

function checkSkbCtx(name: string, ctx: Uint8Array): void {
  const allowed = new Uint8Array(SkBuff.SIZE);
  for (const [off, len] of SKB_CTX_ALLOWED) allowed.fill(1, off, off + len);
  for (let i = 0; i < SkBuff.SIZE; i++) {
    if (ctx[i] !== 0 && !allowed[i]) {
      let field = i;
      while (!(field in FIELD_NAMES)) field--;
      throw refuse(name, 'EINVAL', `__sk_buff.${FIELD_NAMES[field]} cannot be set by a test run (byte ${i} is not zero)`);
    }
  }
}

/**
 * eth_type_trans's pkt_type on a device with MAC `address` (default: the loopback device, whose
 * address and broadcast are 00:00:00:00:00:00; an Ethernet device's broadcast is all ones).
 */
export function pktTypeOn(dest: Uint8Array, address: Uint8Array = LOOPBACK.address): number {
  const same = (a: Uint8Array): boolean => a.every((b, i) => dest[i] === b);
  const broadcast = address === LOOPBACK.address ? LOOPBACK.broadcast : ALL_ONES;
  if (dest[0]! & 1) return same(broadcast) ? PacketType.BROADCAST : PacketType.MULTICAST;
  return same(address) ? PacketType.HOST : PacketType.OTHERHOST;
}
const ALL_ONES = new Uint8Array(6).fill(0xff);

/** eth_type_trans's protocol, in network byte order as skb->protocol holds it (read as a little-endian u16). */
export function ethProtocol(frame: Uint8Array): number {
  const type = (frame[12]! << 8) | frame[13]!;
  // 802.3 frames: a length, not a type: raw IPX (0xffff) or 802.2 LLC.
  const proto = type >= 0x600 ? type : frame[14] === 0xff && frame[15] === 0xff ? 0x0001 : 0x0004;
  return ((proto & 0xff) << 8) | (proto >> 8);
}

/**
 * Why the skb test run refuses `frame` (from its Ethernet header) for its IP header, or undefined:
 * IPv4 with less than 20 bytes after the Ethernet header, IPv6 with less than 40
 * (bpf_prog_test_run_skb: EINVAL before it reads the addresses for its dummy socket).
 */
export function shortIpHeader(frame: Uint8Array): string | undefined {
  if (frame.length < ETH_HLEN) return undefined;
  const type = (frame[12]! << 8) | frame[13]!;
  const need = type === 0x0800 ? 20 : type === 0x86dd ? 40 : 0;
  const have = frame.length - ETH_HLEN;
  return have < need ? `the ${need === 20 ? 'IPv4' : 'IPv6'} frame has ${have} bytes after its Ethernet header, less than the ${need} of its header` : undefined;
}

function runSkb(engine: PacketEngine, program: PacketProgram, dataIn: Uint8Array, opts: PacketTestOptions, repeat: number): PacketTestResult {
  const name = program.name;
  const size = dataIn.length;
  if ((size < ETH_HLEN && !opts.allowRunts) || size > SKB_MAX_DATA) {
    throw refuse(name, 'EINVAL', size < ETH_HLEN
      ? `the frame is ${size} bytes, shorter than an Ethernet header (${ETH_HLEN})`
      : `the frame is ${size} bytes, more than the ${SKB_MAX_DATA} an skb test run takes`);
  }
  const ctx = ctxFrom(name, opts.ctxIn, SkBuff.SIZE);
  const cv = ctx ? new DataView(ctx.buffer) : undefined;
  if (ctx) checkSkbCtx(name, ctx);
  const short = opts.allowRunts ? undefined : shortIpHeader(dataIn);
  if (short) throw refuse(name, 'EINVAL', short);
  const ifindex = cv?.getUint32(SkBuff.ifindex, true) ?? 0;
  const device = ifindex > 1 ? netStateOf(engine.memory)?.interfaces.get(ifindex) : undefined;
  if (ifindex > 1 && !device) throw refuse(name, 'ENODEV', `no device with ifindex ${ifindex} (the test run has the loopback device, 1, and the interfaces of the host's net state)`);
  const wireLenIn = cv?.getUint32(SkBuff.wire_len, true) ?? 0;
  const fromMac = L2_TYPES.has(program.type) || (program.type === 'socket' && (opts.skbData ?? 'network') === 'mac');
  const runt = size < ETH_HLEN;
  const len = fromMac || runt ? size : size - ETH_HLEN;
  if (wireLenIn !== 0 && (wireLenIn < len || wireLenIn > GSO_LEGACY_MAX_SIZE)) {
    throw refuse(name, 'EINVAL', `__sk_buff.wire_len ${wireLenIn} must be between the packet's length ${len} and ${GSO_LEGACY_MAX_SIZE}`);
  }
  if ((cv?.getUint32(SkBuff.gso_segs, true) ?? 0) > GSO_MAX_SEGS) throw refuse(name, 'EINVAL', `__sk_buff.gso_segs exceeds ${GSO_MAX_SEGS}`);

  const base = engine.dataAddress;
  engine.ensureData(CONTEXT_AREA + SKB_ROOM_BEFORE + SKB_HEADROOM + size + SKB_ROOM_AFTER);
  const head = base + CONTEXT_AREA;
  const mac = head + SKB_ROOM_BEFORE + SKB_HEADROOM;
  const network = runt ? mac : mac + ETH_HLEN;
  const data = fromMac ? mac : network;
  const end = mac + size;
  const { u8: bytes, dv: v } = views(engine.memory);
  bytes.fill(0, base, base + SkBuff.SIZE);
  bytes.fill(0, mac - SKB_HEADROOM, mac);
  bytes.set(dataIn, mac);
  const put = (off: number, x: number): void => v.setUint32(base + off, x, true);
  const protocol = runt ? 0 : ethProtocol(dataIn);
  put(SkBuff.len, len);
  put(SkBuff.pkt_type, runt ? PacketType.HOST : pktTypeOn(dataIn.subarray(0, 6), device?.mac));
  put(SkBuff.protocol, protocol);
  put(SkBuff.ifindex, device?.ifindex ?? LOOPBACK.ifindex);
  put(SkBuff.data, data);
  put(SkBuff.data_end, end);
  put(SkBuff.data_meta, data);
  if (cv) {
    put(SkBuff.mark, cv.getUint32(SkBuff.mark, true));
    put(SkBuff.priority, cv.getUint32(SkBuff.priority, true));
    put(SkBuff.ingress_ifindex, cv.getUint32(SkBuff.ingress_ifindex, true));
    bytes.set(ctx!.subarray(SkBuff.cb, SkBuff.cb + 20), base + SkBuff.cb);
    v.setBigUint64(base + SkBuff.tstamp, cv.getBigUint64(SkBuff.tstamp, true), true);
    put(SkBuff.gso_segs, cv.getUint32(SkBuff.gso_segs, true));
    put(SkBuff.gso_size, cv.getUint32(SkBuff.gso_size, true));
    v.setBigUint64(base + SkBuff.hwtstamp, cv.getBigUint64(SkBuff.hwtstamp, true), true);
  }
  // wire_len is the qdisc cb's pkt_len, which only a context in sets (to skb->len when it is 0).
  if (cv) put(SkBuff.wire_len, wireLenIn !== 0 ? wireLenIn : len);
  // The test run's dummy socket: its family and addresses come from the IPv4 / IPv6 header.
  const l3 = dataIn.subarray(runt ? size : ETH_HLEN);
  if (protocol === 0x0008) {
    put(SkBuff.family, 2);
    if (l3.length >= 20) {
      bytes.set(l3.subarray(16, 20), base + SkBuff.remote_ip4);
      bytes.set(l3.subarray(12, 16), base + SkBuff.local_ip4);
    }
  } else if (protocol === 0xdd86) {
    put(SkBuff.family, 10);
    if (l3.length >= 40) {
      bytes.set(l3.subarray(24, 40), base + SkBuff.remote_ip6);
      bytes.set(l3.subarray(8, 24), base + SkBuff.local_ip6);
    }
  }
  const run: SkbRun = { kind: 'skb', ctx: base, head, end: end + SKB_ROOM_AFTER, mac, network, l2: fromMac, effects: {} };
  // skb->sk: that dummy socket's `struct bpf_sock`, at the start of the run's socket area.
  writeSkbDummySock(bytes, v, base, skbDummySock(run.end), protocol, l3);
  // The headers negative LD_ABS offsets reach (SKF_LL_OFF, SKF_NET_OFF), and skb->head (the
  // kernel's test-run buffer starts NET_SKB_PAD + NET_IP_ALIGN before the Ethernet header).
  put(SkbPrivate.mac, mac);
  put(SkbPrivate.network, network);
  put(SkbPrivate.head, mac - SKB_HEADROOM);
  // r2 spans the whole room: checked mode then reads what the helpers grew the packet into and
  // the socket structs at its end (runtime/packet/sockets.ts).
  let timing: { r0: bigint; ns: number };
  try {
    timing = timed(engine, name, base, CONTEXT_AREA + SKB_ROOM_BEFORE + SKB_HEADROOM + size + SKB_ROOM_AFTER, repeat, run, opts.time ?? true);
  } finally {
    views(engine.memory).u8.fill(0, base + SkbPrivate.mac, base + SkbPrivate.END);
  }
  const { r0, ns } = timing;
  const leak = unreleasedSockets(run, name);
  if (leak) throw leak;

  const { u8: mem, dv: after } = views(engine.memory);
  const get = (off: number): number => after.getUint32(base + off, true);
  let dataOut: Uint8Array;
  const d = get(SkBuff.data);
  const de = get(SkBuff.data_end);
  if (fromMac || runt) {
    dataOut = mem.slice(d, de);
  } else {
    // The kernel pushes a zeroed Ethernet header back in front of what a socket filter saw.
    dataOut = new Uint8Array(ETH_HLEN + de - d);
    dataOut.set(mem.subarray(d, de), ETH_HLEN);
  }
  let ctxOut: Uint8Array | undefined;
  if (ctx) {
    ctxOut = ctx.slice();
    const o = new DataView(ctxOut.buffer);
    o.setUint32(SkBuff.mark, get(SkBuff.mark), true);
    o.setUint32(SkBuff.priority, get(SkBuff.priority), true);
    o.setUint32(SkBuff.ingress_ifindex, get(SkBuff.ingress_ifindex), true);
    o.setUint32(SkBuff.ifindex, get(SkBuff.ifindex), true);
    o.setBigUint64(SkBuff.tstamp, after.getBigUint64(base + SkBuff.tstamp, true), true);
    ctxOut.set(mem.subarray(base + SkBuff.cb, base + SkBuff.cb + 20), SkBuff.cb);
    o.setUint32(SkBuff.wire_len, get(SkBuff.wire_len), true);
    o.setUint32(SkBuff.gso_segs, get(SkBuff.gso_segs), true);
    o.setBigUint64(SkBuff.hwtstamp, after.getBigUint64(base + SkBuff.hwtstamp, true), true);
  }
  return result(run, r0, dataOut, ctxOut, ns);
}
