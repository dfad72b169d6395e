/**
 * The packet helpers, with the kernel's checks and return codes (net/core/filter.c), working on
 * the buffer of the packet run in progress (state.ts): reading and writing the packet, moving
 * its head, tail and metadata, checksum fix-ups, redirects and the other requests a program makes
 * of the outside world (recorded in the run's effects).
 *
 * Outside a packet run (a program run over raw memory), the load/store helpers use the bounds the
 * context holds, and the helpers that resize the packet return -EOPNOTSUPP.
 */
import { abiSignature, helperById } from '../helper-table.js';
import type { HelperDefinition, HelperFn } from '../helper-registry.js';
import { BPF_F_CTXLEN_MASK, BPF_F_INDEX_MASK, Errno, MapType } from '../uapi/index.js';
import { ETH_HLEN, LOOPBACK, SkBuff, TcAction, XDP_FRAME_SIZE, XDP_META_MAX, XdpAction, XdpMd, PAGE_SIZE, CONTEXT_AREA } from './layout.js';
import { currentRun, type PacketRun, type SkbRun, type TunnelKey, type XdpRun } from './state.js';
import { checkMtu, fibLookup, FibParams, neighTarget } from './fib.js';
import { defaultNetState, formatIp, netStateOf, type NetState } from './net.js';
import { ancestorCgroupId, callerCgroupId, underCgroup } from './cgroups.js';
import { monotonicMinutes, randomSecret, rawCheckSyncookie, rawGenSyncookie, type SyncookieKeys } from './syncookie.js';
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { BpfTcpSock, listenerSock, skAssign, skFullsock, skLookup, skRelease, socketCookie, syncookie, tcpSock, TCP_SOCK_DEFAULTS } from './sockets.js';
import { SOCK_CASTS, sockCast, type SockCastArea } from './sock-cast.js';

let defaultNet: NetState | undefined;

const EFAULT = -Errno.EFAULT;
const EINVAL = -Errno.EINVAL;
const EOPNOTSUPP = -Errno.EOPNOTSUPP;
const EACCES = -13;
const ENOMEM = -12;
const ENOTSUPP = -524;
const ENOENT = -Errno.ENOENT;
const ERANGE = -Errno.ERANGE;
const EPROTO = -71;
const EBADMSG = -74;
/** How many of bpf_clone_redirect's clones a test run's result keeps. */
const CLONES_KEPT = 256;

/** Flags of the checksum and store helpers (linux/bpf.h). */
export const BPF_F_RECOMPUTE_CSUM = 1;
export const BPF_F_INVALIDATE_HASH = 2;
export const BPF_F_HDR_FIELD_MASK = 0xf;
export const BPF_F_PSEUDO_HDR = 0x10;
export const BPF_F_MARK_MANGLED_0 = 0x20;
export const BPF_F_MARK_ENFORCE = 0x40;
export const BPF_F_IPV6 = 0x80;
export const BPF_F_INGRESS = 1;
export const BPF_F_BROADCAST = 8;
export const BPF_F_EXCLUDE_INGRESS = 16;
/** bpf_fib_lookup results (BPF_FIB_LKUP_RET_*): their home is fib.ts. */
export { FibResult } from './fib.js';

/** Folds a 32-bit ones'-complement sum to 16 bits. */
function fold(x: number): number {
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return x;
}

/** Adds the two 16-bit halves of a 32-bit word (as the host reads memory: little-endian). */
function halves(x: number): number {
  return (x & 0xffff) + (x >>> 16);
}

/**
 * csum_replace4/2 and inet_proto_csum_replace* on an skb without CHECKSUM_PARTIAL (the test
 * run's): the checksum `sum` (as read from memory) after replacing `from` by `to`.
 */
export function csumReplace(sum: number, from: number, to: number): number {
  return ~fold((~sum & 0xffff) + halves(~from >>> 0) + halves(to >>> 0)) & 0xffff;
}

/** csum_replace_by_diff: `diff` is a 32-bit partial checksum (bpf_csum_diff's result). */
export function csumReplaceByDiff(sum: number, diff: number): number {
  return ~fold((~sum & 0xffff) + halves(diff >>> 0)) & 0xffff;
}

/** What bpf_redirect_map needs of the object's maps. */
export interface RedirectMaps {
  /** The map whose descriptor is at `desc`. */
  mapAt(desc: number): { index: number; name: string; type: number; maxEntries: number } | undefined;
  /** The address of the value for `key` (0 when absent). */
  valueAddress(index: number, key: Uint8Array): number;
  /**
   * bpf_perf_event_output's sample `data` into the perf event array at `desc` on the CPU the
   * program runs on (PerfEventArray.output: 0 or its errno); undefined when no such map.
   */
  perfOutput?(desc: number, flags: bigint, data: Uint8Array): number | undefined;
  /** The standard helpers' bpf_perf_event_output, for calls outside a packet test run. */
  standardPerfOutput?: HelperFn;
  /** The module's area for the bpf_skc_to_* casts (manifest `sockCasts`); without it they are not provided. */
  sockCasts?: SockCastArea;
}

/** Map types bpf_redirect_map takes, with the flags each accepts beyond the action bits. */
const REDIRECT_MAP_FLAGS: ReadonlyMap<number, number> = new Map([
  [MapType.DEVMAP, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS],
  [MapType.DEVMAP_HASH, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS],
  [MapType.CPUMAP, 0],
  [MapType.XSKMAP, 0],
]);

/** The packet helpers for programs running on `memory` (`maps`: the object's, for bpf_redirect_map). */
export function packetHelpers(memory: WebAssembly.Memory, maps?: RedirectMaps): HelperDefinition[] {
  // Views made once per buffer: a view per call (and reading memory.buffer) cost more than most
  // helpers' work. Growing the memory detaches the old buffer, whose views then have length 0.
  let bytes = new Uint8Array(memory.buffer);
  let view = new DataView(memory.buffer);
  const fresh = (): void => {
    if (bytes.length === 0) {
      bytes = new Uint8Array(memory.buffer);
      view = new DataView(memory.buffer);
    }
  };
  const u8 = (): Uint8Array => (fresh(), bytes);
  const dv = (): DataView => (fresh(), view);
  const inMemory = (addr: number, len: number): boolean => addr >= CONTEXT_AREA && addr + len <= u8().length;
  const run = (): PacketRun | undefined => currentRun(memory);
  const skbRun = (): SkbRun | undefined => {
    const r = run();
    return r?.kind === 'skb' ? r : undefined;
  };
  const xdpRun = (): XdpRun | undefined => {
    const r = run();
    return r?.kind === 'xdp' ? r : undefined;
  };
  /** [data, data_end) of the context at `ctx` (for skbs and XDP alike), checked against memory. */
  const bounds = (ctx: number, dataOff: number, endOff: number): [number, number] | undefined => {
    const c = ctx >>> 0;
    if (!inMemory(c, 192)) return undefined;
    const v = dv();
    const data = v.getUint32(c + dataOff, true);
    const end = v.getUint32(c + endOff, true);
    if (end < data || end > u8().length) return undefined;
    return [data, end];
  };
  const skbBounds = (ctx: number): [number, number] | undefined => bounds(ctx, SkBuff.data, SkBuff.data_end);
  const setSkbData = (r: SkbRun, data: number, end: number): void => {
    const v = dv();
    v.setUint32(r.ctx + SkBuff.data, data, true);
    v.setUint32(r.ctx + SkBuff.data_end, end, true);
    v.setUint32(r.ctx + SkBuff.data_meta, data, true);
    v.setUint32(r.ctx + SkBuff.len, end - data, true);
  };

  // --- reads and writes ---
  const skbCopy = (ctx: number, off: number, ptr: number, len: number, store: boolean): number => {
    const b = skbBounds(ctx);
    const o = off >>> 0;
    const n = len >>> 0;
    const p = ptr >>> 0;
    if (!inMemory(p, n)) return EFAULT;
    if (!b || o > 0x7fffffff || b[0] + o + n > b[1]) {
      if (!store) u8().fill(0, p, p + n);
      return EFAULT;
    }
    if (store) u8().copyWithin(b[0] + o, p, p + n);
    else u8().copyWithin(p, b[0] + o, b[0] + o + n);
    return 0;
  };

  /** XDP bytes [off, off + n) across the linear part and the fragments: copy to or from `ptr`. */
  const xdpCopy = (ctx: number, off: number, ptr: number, len: number, store: boolean): number => {
    const b = bounds(ctx, XdpMd.data, XdpMd.data_end);
    const o = off >>> 0;
    const n = len >>> 0;
    const p = ptr >>> 0;
    if (!b || !inMemory(p, n)) return EFAULT;
    const frags = xdpRun()?.frags ?? [];
    const total = b[1] - b[0] + frags.reduce((s, f) => s + f.len, 0);
    if (n === 0 || o + n > total) return EINVAL;
    const mem = u8();
    let at = o;
    let done = 0;
    const linear = b[1] - b[0];
    if (at < linear) {
      const k = Math.min(n, linear - at);
      if (store) mem.copyWithin(b[0] + at, p, p + k);
      else mem.copyWithin(p, b[0] + at, b[0] + at + k);
      done = k;
      at += k;
    }
    let fragStart = linear;
    for (const f of frags) {
      if (done === n) break;
      if (at < fragStart + f.len) {
        const inFrag = at - fragStart;
        const k = Math.min(n - done, f.len - inFrag);
        if (store) f.page.set(mem.subarray(p + done, p + done + k), inFrag);
        else mem.set(f.page.subarray(inFrag, inFrag + k), p + done);
        done += k;
        at += k;
      }
      fragStart += f.len;
    }
    return 0;
  };

  // --- XDP head, tail, metadata ---
  const adjustHead = (ctx: number, delta: number): number => {
    const r = xdpRun();
    if (!r || ctx >>> 0 !== r.ctx) return EOPNOTSUPP;
    const v = dv();
    const meta = v.getUint32(r.ctx + XdpMd.data_meta, true);
    const data = v.getUint32(r.ctx + XdpMd.data, true);
    const end = v.getUint32(r.ctx + XdpMd.data_end, true);
    const metalen = data - meta;
    const next = data + delta;
    if (next < r.hardStart + XDP_FRAME_SIZE + metalen || next > end - ETH_HLEN) return EINVAL;
    if (metalen) u8().copyWithin(meta + delta, meta, data);
    v.setUint32(r.ctx + XdpMd.data_meta, meta + delta, true);
    v.setUint32(r.ctx + XdpMd.data, next, true);
    return 0;
  };
  const adjustMeta = (ctx: number, delta: number): number => {
    const r = xdpRun();
    if (!r || ctx >>> 0 !== r.ctx) return EOPNOTSUPP;
    const v = dv();
    const meta = v.getUint32(r.ctx + XdpMd.data_meta, true) + delta;
    const data = v.getUint32(r.ctx + XdpMd.data, true);
    if (meta < r.hardStart + XDP_FRAME_SIZE || meta > data) return EINVAL;
    const metalen = data - meta;
    if (metalen % 4 !== 0 || metalen > XDP_META_MAX) return EACCES;
    v.setUint32(r.ctx + XdpMd.data_meta, meta, true);
    return 0;
  };
  const adjustTail = (ctx: number, delta: number): number => {
    const r = xdpRun();
    if (!r || ctx >>> 0 !== r.ctx) return EOPNOTSUPP;
    const v = dv();
    const data = v.getUint32(r.ctx + XdpMd.data, true);
    const end = v.getUint32(r.ctx + XdpMd.data_end, true);
    if (r.frags.length > 0) {
      if (delta < 0) {
        // bpf_xdp_frags_shrink_tail: fragments shrink (and go) first; the linear part keeps ETH_HLEN.
        let shrink = -delta;
        const fragBytes = r.frags.reduce((s, f) => s + f.len, 0);
        if (shrink >= fragBytes + (end - data) - ETH_HLEN) return EINVAL;
        while (shrink > 0 && r.frags.length > 0) {
          const last = r.frags[r.frags.length - 1]!;
          const k = Math.min(shrink, last.len);
          last.len -= k;
          shrink -= k;
          if (last.len === 0) r.frags.pop();
        }
        if (shrink > 0) v.setUint32(r.ctx + XdpMd.data_end, end - shrink, true);
        return 0;
      }
      // bpf_xdp_frags_increase_tail: within the last fragment's page.
      const last = r.frags[r.frags.length - 1]!;
      if (last.len + delta > PAGE_SIZE) return EINVAL;
      last.page.fill(0, last.len, last.len + delta);
      last.len += delta;
      return 0;
    }
    const next = end + delta;
    if (next > r.hardEnd || next < data + ETH_HLEN) return EINVAL;
    if (delta > 0) u8().fill(0, end, next);
    v.setUint32(r.ctx + XdpMd.data_end, next, true);
    return 0;
  };

  // --- redirects ---
  const redirect = (ifindex: number, flags: bigint): bigint => {
    const r = run();
    const f = Number(BigInt.asUintN(64, flags) & 0xffffffffn);
    if (r?.kind === 'xdp' || !r) {
      if (flags !== 0n) return BigInt(XdpAction.ABORTED);
      if (r) r.effects.redirect = { helper: 'bpf_redirect', index: ifindex >>> 0, flags: 0 };
      return BigInt(XdpAction.REDIRECT);
    }
    if (BigInt.asUintN(64, flags) & ~BigInt(BPF_F_INGRESS)) return BigInt(TcAction.SHOT);
    r.effects.redirect = { helper: 'bpf_redirect', index: ifindex >>> 0, flags: f };
    return BigInt(TcAction.REDIRECT);
  };

  /** bpf_redirect_peer (tc ingress): flags must be 0; the target is the peer of ifindex's device. */
  const redirectPeer = (ifindex: number, flags: bigint): bigint => {
    if (flags !== 0n) return BigInt(TcAction.SHOT);
    const r = skbRun();
    if (r) r.effects.redirect = { helper: 'bpf_redirect_peer', index: ifindex >>> 0, flags: 0 };
    return BigInt(TcAction.REDIRECT);
  };
  /**
   * bpf_clone_redirect: flags beyond BPF_F_INGRESS are -EINVAL, a GSO skb without a GSO type (a
   * test run's `gso_size`) -EBADMSG, an unknown device -EINVAL, a frame without a link-layer
   * header -ERANGE; otherwise the clone (the bytes as they are now) is sent at once, which the
   * test run's devices (loopback and the host's interfaces, all up) accept: 0.
   */
  const cloneRedirect = (ctx: number, ifindex: number, flags: bigint): bigint => {
    if (BigInt.asUintN(64, flags) & ~BigInt(BPF_F_INGRESS)) return BigInt(EINVAL);
    const r = skbRun();
    const b = skbBounds(ctx);
    if (!r || !b) return BigInt(EINVAL);
    if (dv().getUint32(r.ctx + SkBuff.gso_size, true) !== 0) return BigInt(EBADMSG);
    const index = ifindex >>> 0;
    if (index !== LOOPBACK.ifindex && !netStateOf(memory)?.interfaces.has(index)) return BigInt(EINVAL);
    if (r.mac >= r.network || b[1] === b[0]) return BigInt(ERANGE);
    const clones = (r.effects.clones ??= []);
    // `repeat` runs send a clone each: the first CLONES_KEPT are kept (memory stays bounded).
    if (clones.length < CLONES_KEPT) clones.push({ index, flags: Number(flags), data: u8().slice(b[0], b[1]) });
    return 0n;
  };

  /**
   * __bpf_xdp_redirect_map: the low bits of `flags` are the action when the key is absent;
   * other flags than the map type's give XDP_ABORTED. The last redirect wins.
   */
  const redirectMap = (mapDesc: number, key: number, flags: bigint): bigint => {
    const m = maps?.mapAt(mapDesc >>> 0);
    const f = BigInt.asUintN(64, flags);
    const allowed = m ? REDIRECT_MAP_FLAGS.get(m.type) : undefined;
    if (!m || allowed === undefined) return BigInt(XdpAction.ABORTED);
    const actionMask = 3n;
    if (f & ~(actionMask | BigInt(allowed))) return BigInt(XdpAction.ABORTED);
    const k = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, key >>> 0, true);
    const found = maps!.valueAddress(m.index, k) !== 0;
    const broadcast = (f & BigInt(BPF_F_BROADCAST)) !== 0n;
    const r = run();
    if (!found && !broadcast) {
      if (r) delete r.effects.redirect;
      return f & actionMask;
    }
    if (r) r.effects.redirect = { helper: 'bpf_redirect_map', index: key >>> 0, map: m.name, mapType: m.type, flags: broadcast ? Number(f) : 0 };
    return BigInt(XdpAction.REDIRECT);
  };

  /**
   * bpf_skb_under_cgroup(skb, map, index) (`task` false) and bpf_current_task_under_cgroup(map,
   * index) (`task` true) over a CGROUP_ARRAY (cgroups.ts).
   */
  const underCgroupHelper = (task: boolean, mapDesc: number, index: number): bigint => {
    const helper = task ? 'bpf_current_task_under_cgroup' : 'bpf_skb_under_cgroup';
    const m = maps?.mapAt(mapDesc >>> 0);
    if (!m || m.type !== MapType.CGROUP_ARRAY) {
      throw new BpfRuntimeError(ErrorCode.HelperFailed, `the map argument is not a BPF_MAP_TYPE_CGROUP_ARRAY (the kernel's verifier refuses the program)`, { helper });
    }
    const k = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, index >>> 0, true);
    const at = maps!.valueAddress(m.index, k);
    const slot = at === 0 ? undefined : dv().getUint32(at, true);
    return BigInt(underCgroup(hostNet().cgroups, task || skbRun() !== undefined, index, m.maxEntries, slot, helper));
  };

  // --- checksums ---
  const csumAt = (ctx: number, offset: number): number | undefined => {
    const b = skbBounds(ctx);
    const o = offset >>> 0;
    if (!b || o > 0xffff || o & 1 || b[0] + o + 2 > b[1]) return undefined;
    return b[0] + o;
  };
  const l3Replace = (ctx: number, offset: number, from: bigint, to: bigint, flags: bigint): bigint => {
    const f = BigInt.asUintN(64, flags);
    if (f & ~BigInt(BPF_F_HDR_FIELD_MASK)) return BigInt(EINVAL);
    const at = csumAt(ctx, offset);
    if (at === undefined) return BigInt(EFAULT);
    const v = dv();
    const sum = v.getUint16(at, true);
    const fr = Number(BigInt.asUintN(32, from));
    const t = Number(BigInt.asUintN(32, to));
    switch (Number(f & 0xfn)) {
      case 0:
        if (BigInt.asUintN(64, from) !== 0n) return BigInt(EINVAL);
        v.setUint16(at, csumReplaceByDiff(sum, t), true);
        return 0n;
      case 2: v.setUint16(at, csumReplace(sum, fr & 0xffff, t & 0xffff), true); return 0n;
      case 4: v.setUint16(at, csumReplace(sum, fr, t), true); return 0n;
      default: return BigInt(EINVAL);
    }
  };
  const l4Replace = (ctx: number, offset: number, from: bigint, to: bigint, flags: bigint): bigint => {
    const f = Number(BigInt.asUintN(64, flags) & 0xffffffffn);
    if (BigInt.asUintN(64, flags) >> 32n || f & ~(BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6)) return BigInt(EINVAL);
    const at = csumAt(ctx, offset);
    if (at === undefined) return BigInt(EFAULT);
    const v = dv();
    const sum = v.getUint16(at, true);
    const mmzero = (f & BPF_F_MARK_MANGLED_0) !== 0;
    if (mmzero && !(f & BPF_F_MARK_ENFORCE) && sum === 0) return 0n;
    const fr = Number(BigInt.asUintN(32, from));
    const t = Number(BigInt.asUintN(32, to));
    // Without CHECKSUM_PARTIAL (the test run's skbs), BPF_F_PSEUDO_HDR changes nothing in the packet.
    let next: number;
    switch (f & BPF_F_HDR_FIELD_MASK) {
      case 0:
        if (BigInt.asUintN(64, from) !== 0n) return BigInt(EINVAL);
        next = csumReplaceByDiff(sum, t);
        break;
      case 2: next = csumReplace(sum, fr & 0xffff, t & 0xffff); break;
      case 4: next = csumReplace(sum, fr, t); break;
      default: return BigInt(EINVAL);
    }
    if (mmzero && next === 0) next = 0xffff;
    v.setUint16(at, next, true);
    return 0n;
  };

  // --- skb resizing ---
  /** Moves the skb's data to [data, end) (already in place) and records the new bounds. */
  const skbChangeTail = (ctx: number, newLen: number, flags: bigint): bigint => {
    const r = skbRun();
    if (!r || ctx >>> 0 !== r.ctx) return BigInt(EOPNOTSUPP);
    const b = skbBounds(ctx)!;
    const n = newLen >>> 0;
    const min = r.l2 ? ETH_HLEN : 0;
    const max = 65536 + ETH_HLEN;
    if (flags !== 0n || n > max || n < min) return BigInt(EINVAL);
    const end = b[0] + n;
    if (end > r.end) return BigInt(EINVAL);
    if (end > b[1]) u8().fill(0, b[1], end);
    setSkbData(r, b[0], end);
    return 0n;
  };
  const skbChangeHead = (ctx: number, room: number, flags: bigint): bigint => {
    const r = skbRun();
    if (!r || ctx >>> 0 !== r.ctx) return BigInt(EOPNOTSUPP);
    const b = skbBounds(ctx)!;
    const n = room >>> 0;
    const len = b[1] - b[0];
    if (flags !== 0n || len + n > 65536 + ETH_HLEN || len + n < len) return BigInt(EINVAL);
    if (b[0] - n < r.head) return BigInt(EINVAL);
    u8().fill(0, b[0] - n, b[0]);
    r.mac = b[0] - n;
    setSkbData(r, b[0] - n, b[1]);
    return 0n;
  };

  /** Inserts `n` zero bytes at `off` from skb->data, moving the bytes before them toward the head. */
  const skbInsert = (r: SkbRun, b: [number, number], off: number, n: number): boolean => {
    if (b[0] - n < r.head) return false;
    const m = u8();
    m.copyWithin(b[0] - n, b[0], b[0] + off);
    m.fill(0, b[0] - n + off, b[0] + off);
    shiftHeaders(r, b[0], -n, off);
    setSkbData(r, b[0] - n, b[1]);
    return true;
  };
  /** Removes `n` bytes at `off` from skb->data, moving the bytes before them toward the tail. */
  const skbRemove = (r: SkbRun, b: [number, number], off: number, n: number): void => {
    u8().copyWithin(b[0] + n, b[0], b[0] + off);
    shiftHeaders(r, b[0], n, off);
    setSkbData(r, b[0] + n, b[1]);
  };
  /** Headers before the edit point move with the bytes before it. */
  const shiftHeaders = (r: SkbRun, data: number, by: number, off: number): void => {
    if (r.mac < data + off) r.mac += by;
    if (r.network <= data + off) r.network += by;
  };
  const protocolOf = (r: SkbRun): number => dv().getUint32(r.ctx + SkBuff.protocol, true) & 0xffff;
  const setProtocol = (r: SkbRun, beProto: number): void => dv().setUint32(r.ctx + SkBuff.protocol, ((beProto & 0xff) << 8) | (beProto >> 8), true);
  const isVlan = (beProto: number): boolean => beProto === 0x8100 || beProto === 0x88a8;
  const protoBe = (r: SkbRun): number => {
    const p = protocolOf(r);
    return ((p & 0xff) << 8) | (p >> 8);
  };

  // --- VLAN tags (the test run's skbs carry no hardware tag until bpf_skb_vlan_push sets one) ---
  const vlanPush = (ctx: number, proto: number, tci: number): bigint => {
    const r = skbRun();
    if (!r || ctx >>> 0 !== r.ctx || !r.l2) return BigInt(EOPNOTSUPP);
    const v = dv();
    let p = ((proto & 0xff) << 8) | ((proto >> 8) & 0xff);
    if (!isVlan(p)) p = 0x8100;
    if (v.getUint32(r.ctx + SkBuff.vlan_present, true)) {
      // skb_vlan_push: the present tag goes into the packet after the MAC addresses.
      const b = skbBounds(ctx)!;
      if (b[1] - b[0] < ETH_HLEN) return BigInt(EINVAL);
      const oldProto = v.getUint32(r.ctx + SkBuff.vlan_proto, true);
      const oldTci = v.getUint32(r.ctx + SkBuff.vlan_tci, true);
      if (!skbInsert(r, b, 12, 4)) return BigInt(EINVAL);
      const d = v.getUint32(r.ctx + SkBuff.data, true);
      v.setUint16(d + 12, oldProto, true);
      v.setUint16(d + 14, oldTci, false);
      dv().setUint32(r.ctx + SkBuff.protocol, oldProto, true);
    }
    v.setUint32(r.ctx + SkBuff.vlan_present, 1, true);
    v.setUint32(r.ctx + SkBuff.vlan_tci, tci & 0xffff, true);
    v.setUint32(r.ctx + SkBuff.vlan_proto, ((p & 0xff) << 8) | (p >> 8), true);
    return 0n;
  };
  /** __skb_vlan_pop: removes the tag after the MAC addresses; skb->protocol becomes the inner type. */
  const popFromPacket = (r: SkbRun): { tci: number; ok: boolean } => {
    const b = skbBounds(r.ctx)!;
    if (b[1] - b[0] < ETH_HLEN + 4) return { tci: 0, ok: false };
    const v = dv();
    const tci = v.getUint16(b[0] + 14, false);
    const inner = v.getUint16(b[0] + 16, false);
    skbRemove(r, b, 12, 4);
    setProtocol(r, inner >= 0x600 ? inner : 0x0004);
    return { tci, ok: true };
  };
  const vlanPop = (ctx: number): bigint => {
    const r = skbRun();
    if (!r || ctx >>> 0 !== r.ctx || !r.l2) return BigInt(EOPNOTSUPP);
    const v = dv();
    if (v.getUint32(r.ctx + SkBuff.vlan_present, true)) {
      for (const f of [SkBuff.vlan_present, SkBuff.vlan_tci, SkBuff.vlan_proto]) v.setUint32(r.ctx + f, 0, true);
    } else {
      if (!isVlan(protoBe(r))) return 0n;
      if (!popFromPacket(r).ok) return BigInt(EINVAL);
    }
    // The next tag in the packet becomes the hardware tag.
    const outer = protoBe(r);
    if (!isVlan(outer)) return 0n;
    const { tci, ok } = popFromPacket(r);
    if (!ok) return BigInt(EINVAL);
    v.setUint32(r.ctx + SkBuff.vlan_present, 1, true);
    v.setUint32(r.ctx + SkBuff.vlan_tci, tci, true);
    v.setUint32(r.ctx + SkBuff.vlan_proto, ((outer & 0xff) << 8) | (outer >> 8), true);
    return 0n;
  };

  // --- protocol changes and room ---
  const changeProto = (ctx: number, proto: number, flags: bigint): bigint => {
    const r = skbRun();
    if (!r || ctx >>> 0 !== r.ctx) return BigInt(EOPNOTSUPP);
    if (flags !== 0n) return BigInt(EINVAL);
    const to = ((proto & 0xff) << 8) | ((proto >> 8) & 0xff);
    const from = protoBe(r);
    const b = skbBounds(ctx)!;
    const off = r.network - b[0];
    if (from === 0x0800 && to === 0x86dd) {
      if (!skbInsert(r, b, off, 20)) return BigInt(ENOMEM);
    } else if (from === 0x86dd && to === 0x0800) {
      if (b[1] - r.network < 20) return BigInt(EINVAL);
      skbRemove(r, b, off, 20);
    } else {
      return BigInt(ENOTSUPP);
    }
    setProtocol(r, to);
    return 0n;
  };
  const adjustRoom = (ctx: number, lenDiff: number, mode: number, flags: bigint): bigint => {
    const r = skbRun();
    if (!r || ctx >>> 0 !== r.ctx) return BigInt(EOPNOTSUPP);
    // BPF_F_ADJ_ROOM_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET: encapsulation flags change metadata only.
    if (BigInt.asUintN(64, flags) & ~0x7fffn) return BigInt(EINVAL);
    const abs = Math.abs(lenDiff);
    if (abs > 0xfff) return BigInt(EFAULT);
    const proto = protoBe(r);
    if (proto !== 0x0800 && proto !== 0x86dd) return BigInt(ENOTSUPP);
    const base = proto === 0x0800 ? 20 : 40;
    const b = skbBounds(ctx)!;
    let off: number;
    if ((mode >>> 0) === 0) off = r.network - b[0] + base;
    else if ((mode >>> 0) === 1) off = r.network - b[0];
    else return BigInt(ENOTSUPP);
    const lenCur = b[1] - r.network;
    if (lenDiff < 0) {
      if (abs >= lenCur || lenCur - abs < base) return BigInt(ENOTSUPP);
      skbRemove(r, b, off, abs);
    } else if (lenDiff > 0) {
      if (b[1] - b[0] + abs > 65536 + ETH_HLEN) return BigInt(ENOTSUPP);
      if (!skbInsert(r, b, off, abs)) return BigInt(ENOMEM);
    }
    return 0n;
  };

  // --- hashes and checksum state ---
  const flowHash = (r: SkbRun): number => {
    // The kernel's flow dissector hash is seeded randomly at boot: any stable non-zero hash of the flow stands in.
    const b = skbBounds(r.ctx)!;
    let h = 0x811c9dc5;
    const m = u8();
    for (let a = r.network; a < Math.min(b[1], r.network + 40); a++) h = Math.imul(h ^ m[a]!, 0x01000193) >>> 0;
    return h || 1;
  };
  const setHash = (r: SkbRun, h: number): void => {
    dv().setUint32(r.ctx + SkBuff.hash, h >>> 0, true);
    r.effects.hash = h >>> 0;
  };

  // --- load_bytes_relative ---
  const loadRelative = (ctx: number, off: number, to: number, len: number, start: number): bigint => {
    const r = skbRun();
    const b = skbBounds(ctx);
    const o = off >>> 0;
    const n = len >>> 0;
    const p = to >>> 0;
    if (!inMemory(p, n)) return BigInt(EFAULT);
    const fail = (): bigint => {
      u8().fill(0, p, p + n);
      return BigInt(EFAULT);
    };
    if (!b || o > 0xffff || (start >>> 0) > 1 || n === 0) return fail();
    const mac = r?.mac ?? b[0];
    const header = (start >>> 0) === 0 ? mac : r?.network ?? b[0];
    const from = header + o;
    if (from < mac || from + n > b[1]) return fail();
    u8().copyWithin(p, from, from + n);
    return 0n;
  };

  // --- ECN ---
  const ecnSetCe = (ctx: number): bigint => {
    const r = skbRun();
    const b = skbBounds(ctx);
    if (!b) return 0n;
    const v = dv();
    let proto = v.getUint32((ctx >>> 0) + SkBuff.protocol, true) & 0xffff;
    // skb_protocol(skb, true): the type behind the VLAN tags in the packet. The network header
    // stays where eth_type_trans put it (after the Ethernet header, on the first tag).
    if (r && (proto === 0x0081 || proto === 0xa888)) {
      for (let at = r.mac + 12, i = 0; i < 8 && at + 6 <= b[1]; at += 4, i++) {
        const inner = v.getUint16(at + 4, true);
        proto = inner;
        if (inner !== 0x0081 && inner !== 0xa888) break;
      }
    }
    const net = r?.network ?? b[0];
    if (proto === 0x0008) {
      if (net + 20 > b[1]) return 0n;
      const tos = u8()[net + 1]!;
      const ecn = tos & 3;
      if (ecn === 0) return 0n;
      if (ecn === 3) return 1n;
      const word = v.getUint16(net, true);
      u8()[net + 1] = tos | 3;
      v.setUint16(net + 10, csumReplace(v.getUint16(net + 10, true), word, v.getUint16(net, true)), true);
    } else if (proto === 0xdd86) {
      if (net + 40 > b[1]) return 0n;
      const m = u8();
      const ecn = (m[net + 1]! >> 4) & 3;
      if (ecn === 0) return 0n;
      m[net + 1] = m[net + 1]! | 0x30;
    } else {
      return 0n;
    }
    if (r) r.effects.ecnMarked = true;
    return 1n;
  };

  // --- tunnel metadata (the skb's dst metadata: set by bpf_skb_set_tunnel_key, read back by the getters) ---
  const TUNNEL_KEY_SIZES = new Set([44, 28, 24, 22, 8]);
  /** IP_TUNNEL_OPTS_MAX: options_len is a u8. */
  const TUNNEL_OPTS_MAX = 255;
  /** The key's flags as `ip_tunnel_flags_to_be16` gives them: TUNNEL_CSUM 0x1, _KEY 0x4, _SEQ 0x8, _DONT_FRAGMENT 0x100, _NOCACHE 0x2000, options 0xd800. */
  const tunnelFlags16 = (t: TunnelKey): number =>
    0x2000 | (t.flags & 4 ? 0x100 : 0) | (t.flags & 2 ? 0 : 0x1) | (t.flags & 8 ? 0x8 : 0) | (t.flags & 16 ? 0 : 0x4) | (t.options?.length ? 0xd800 : 0);
  const setTunnelKey = (ctx: number, key: number, size: number, flags: bigint): bigint => {
    const f = BigInt.asUintN(64, flags);
    // BPF_F_TUNINFO_IPV6 | BPF_F_ZERO_CSUM_TX | BPF_F_DONT_FRAGMENT | BPF_F_SEQ_NUMBER | BPF_F_NO_TUNNEL_KEY
    if (f & ~0x1fn) return BigInt(EINVAL);
    const n = size >>> 0;
    if (!TUNNEL_KEY_SIZES.has(n)) return BigInt(EINVAL);
    const k = key >>> 0;
    if (!inMemory(k, n)) return BigInt(EFAULT);
    // Shorter (older) layouts are the key's first bytes, the rest zero.
    const buf = new Uint8Array(44);
    buf.set(u8().subarray(k, k + n));
    const v = new DataView(buf.buffer);
    const ipv6 = (f & 1n) !== 0n;
    const label = v.getUint32(24, true);
    if ((!ipv6 && label !== 0) || v.getUint16(22, true) !== 0) return BigInt(EINVAL);
    const r = run();
    if (r) {
      r.effects.tunnelKey = {
        tunnelId: v.getUint32(0, true),
        remote: ipv6 ? buf.slice(4, 20) : v.getUint32(4, true),
        local: ipv6 ? buf.slice(28, 44) : v.getUint32(28, true),
        tos: buf[20]!, ttl: buf[21]!, label: ipv6 ? label & 0xfffff : 0, flags: Number(f),
      };
    }
    return 0n;
  };
  /**
   * bpf_skb_get_tunnel_key reads the skb's tunnel info as a receive path filled it: the key's
   * source is the remote, its destination the local, so after bpf_skb_set_tunnel_key (which
   * stores remote as the destination) the two come back exchanged, as in the kernel.
   */
  const getTunnelKey = (ctx: number, to: number, size: number, flags: bigint): bigint => {
    const n = size >>> 0;
    const t = to >>> 0;
    if (!inMemory(t, n)) return BigInt(EFAULT);
    const info = run()?.effects.tunnelKey;
    const f = BigInt.asUintN(64, flags);
    const ipv6 = (f & 1n) !== 0n;
    const fail = (err: number): bigint => {
      u8().fill(0, t, t + n);
      return BigInt(err);
    };
    // BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS
    if (!info || f & ~0x11n) return fail(EINVAL);
    const infoV6 = info.remote instanceof Uint8Array;
    if (infoV6 !== ipv6) return fail(EPROTO);
    if (!TUNNEL_KEY_SIZES.has(n) || (n === 8 && infoV6)) return fail(EINVAL);
    const out = new Uint8Array(44);
    const v = new DataView(out.buffer);
    v.setUint32(0, info.tunnelId, true);
    out[20] = info.tos;
    out[21] = info.ttl;
    if (f & 0x10n) v.setUint16(22, tunnelFlags16(info), false);
    if (info.remote instanceof Uint8Array && info.local instanceof Uint8Array) {
      out.set(info.local, 4);
      out.set(info.remote, 28);
      v.setUint32(24, info.label, true);
    } else {
      v.setUint32(4, info.local as number, true);
      v.setUint32(28, info.remote as number, true);
    }
    u8().set(out.subarray(0, n), t);
    return 0n;
  };
  /** bpf_skb_set_tunnel_opt: only on the metadata bpf_skb_set_tunnel_key set; a multiple of 4 bytes. */
  const setTunnelOpt = (ctx: number, from: number, size: number): bigint => {
    const n = size >>> 0;
    const info = run()?.effects.tunnelKey;
    if (!info || n & 3) return BigInt(EINVAL);
    if (n > TUNNEL_OPTS_MAX) return BigInt(ENOMEM);
    if (!inMemory(from >>> 0, n)) return BigInt(EFAULT);
    if (n > 0) info.options = u8().slice(from >>> 0, (from >>> 0) + n);
    else delete info.options;
    return 0n;
  };
  /** bpf_skb_get_tunnel_opt: the options' length, the rest of the buffer zeroed; -ENOENT without options. */
  const getTunnelOpt = (ctx: number, to: number, size: number): bigint => {
    const n = size >>> 0;
    const t = to >>> 0;
    if (!inMemory(t, n)) return BigInt(EFAULT);
    const opts = run()?.effects.tunnelKey?.options;
    const err = !opts ? ENOENT : n < opts.length ? ENOMEM : 0;
    u8().fill(0, t, t + n);
    if (err) return BigInt(err);
    u8().set(opts!, t);
    return BigInt(opts!.length);
  };

  // --- fib lookup and neighbours, against the host's network state (net.ts; the test run's host without one) ---
  const hostNet = (): NetState => netStateOf(memory) ?? (defaultNet ??= defaultNetState());
  /** The raw SYN cookie secrets: the host's (`net.syncookieSecret`), else drawn once per instance. */
  let keys: SyncookieKeys | undefined;
  const cookieKeys = (): SyncookieKeys => (keys ??= { secret: netStateOf(memory)?.syncookieSecret ?? randomSecret(), minutes: monotonicMinutes });
  const fibLookupHelper = (ctx: number, params: number, plen: number, flags: number): bigint => {
    const p = params >>> 0;
    if ((plen >>> 0) < FibParams.SIZE || (flags >>> 0) & ~0x3f) return BigInt(EINVAL);
    if (!inMemory(p, FibParams.SIZE)) return BigInt(EFAULT);
    const r = skbRun();
    const caller = r ? { kind: 'skb' as const, len: dv().getUint32(r.ctx + SkBuff.len, true) } : { kind: 'xdp' as const };
    return BigInt(fibLookup(hostNet(), u8(), p, plen, flags, caller));
  };
  /** bpf_redirect_neigh: `struct bpf_redir_neigh` (nh_family u32, then the address) when plen > 0. */
  const redirectNeigh = (ifindex: number, params: number, plen: number, flags: bigint): bigint => {
    const r = skbRun();
    const n = plen >>> 0;
    if ((n !== 0 && n < 20) || flags !== 0n) return BigInt(TcAction.SHOT);
    if (r) {
      let given: Uint8Array | undefined;
      if (n !== 0 && inMemory(params >>> 0, 20)) {
        const fam = dv().getUint32((params >>> 0), true);
        const at = (params >>> 0) + 4;
        given = fam === 10 ? u8().slice(at, at + 16) : fam === 2 ? u8().slice(at, at + 4) : undefined;
      }
      const b = skbBounds(r.ctx);
      let dst: Uint8Array | undefined;
      const proto = protoBe(r);
      if (b && proto === 0x0800 && r.network + 20 <= b[1]) dst = u8().slice(r.network + 16, r.network + 20);
      if (b && proto === 0x86dd && r.network + 40 <= b[1]) dst = u8().slice(r.network + 24, r.network + 40);
      const target = netStateOf(memory) ? neighTarget(hostNet(), ifindex >>> 0, given, dst) : given ? { nexthop: formatIp(given) } : {};
      r.effects.redirect = { helper: 'bpf_redirect_neigh', index: ifindex >>> 0, flags: 0, ...target };
    }
    return BigInt(TcAction.REDIRECT);
  };

  // --- perf event output with packet bytes ---
  /**
   * bpf_perf_event_output as XDP (bpf_xdp_event_output) and skb programs (bpf_skb_event_output)
   * have it: flags beyond the CPU index and BPF_F_CTXLEN_MASK are -EINVAL; the CTXLEN bits ask
   * for that many bytes of the packet from its start (XDP: data, fragments included; skb:
   * skb->data, so the network header of a socket filter in the kernel's mode), -EFAULT past the
   * packet's length; the sample is `data` followed by those bytes. Outside a packet test run
   * (tracing programs, `run(ctx)`) it is the standard helper (CTXLEN bits -EINVAL, as tracing
   * programs' bpf_perf_event_output has them).
   */
  const perfOutput = (ctx: number, map: number, flags: bigint, data: number, size: bigint): bigint => {
    const r = run();
    // Outside a packet run (tracing programs, run(ctx)): the standard helper's semantics.
    if (!r && maps?.standardPerfOutput) return maps.standardPerfOutput(ctx, map, flags, data, size) as bigint;
    const f = BigInt.asUintN(64, flags);
    if (f & ~(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK)) return BigInt(EINVAL);
    const n = Number((f & BPF_F_CTXLEN_MASK) >> 32n);
    const m = Number(BigInt.asUintN(64, size));
    const d = data >>> 0;
    if (m > 0xffffffff || !inMemory(d, m)) return BigInt(EFAULT);
    // The packet's bytes: XDP's linear part then its fragments; an skb's from skb->data.
    const parts: Uint8Array[] = [];
    if (r) {
      const b = r.kind === 'xdp' ? bounds(r.ctx, XdpMd.data, XdpMd.data_end) : skbBounds(r.ctx);
      if (b) parts.push(u8().subarray(b[0], r.kind === 'xdp' ? b[1] : b[0] + dv().getUint32(r.ctx + SkBuff.len, true)));
      if (r.kind === 'xdp') for (const x of r.frags) parts.push(x.page.subarray(0, x.len));
    }
    const sample = new Uint8Array(m + n);
    sample.set(u8().subarray(d, d + m));
    let at = m;
    for (const x of parts) {
      const k = Math.min(x.length, m + n - at);
      sample.set(x.subarray(0, k), at);
      at += k;
    }
    if (at < m + n) return BigInt(EFAULT);
    return BigInt(maps!.perfOutput!(map >>> 0, f & BPF_F_INDEX_MASK, sample) ?? EINVAL);
  };

  const impl: Array<[number, HelperFn]> = [
    // Without a perf output to call, the standard helpers' bpf_perf_event_output stays.
    ...(maps?.perfOutput ? [[25, perfOutput] as [number, HelperFn]] : []),
    [26, (skb: number, off: number, to: number, len: number): bigint => BigInt(skbCopy(skb, off, to, len, false))],
    [9, (skb: number, off: number, from: number, len: number, flags: bigint): bigint => {
      if (BigInt.asUintN(64, flags) & ~BigInt(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return BigInt(EINVAL);
      const ret = skbCopy(skb, off, from, len, true);
      const r = run();
      if (ret === 0 && r && BigInt.asUintN(64, flags) & BigInt(BPF_F_INVALIDATE_HASH)) r.effects.hash = 0;
      return BigInt(ret);
    }],
    [68, loadRelative],
    [10, l3Replace],
    [11, l4Replace],
    [18, vlanPush],
    [19, vlanPop],
    [31, changeProto],
    [50, adjustRoom],
    [34, (ctx: number): number => {
      const r = skbRun();
      if (!r) return 0;
      const cur = dv().getUint32(r.ctx + SkBuff.hash, true);
      if (cur === 0) setHash(r, flowHash(r));
      return dv().getUint32(r.ctx + SkBuff.hash, true);
    }],
    [48, (ctx: number, hash: number): bigint => {
      const r = skbRun();
      if (r) setHash(r, hash);
      return 0n;
    }],
    [41, (ctx: number): void => {
      const r = skbRun();
      if (r) setHash(r, 0);
    }],
    // The test run's skbs are CHECKSUM_NONE: no checksum to update, no level to query.
    [40, (): bigint => BigInt(ENOTSUPP)],
    // BPF_CSUM_LEVEL_QUERY 0, INC 1, DEC 2, RESET 3, on a CHECKSUM_NONE skb (level undefined).
    [135, (ctx: number, level: bigint): bigint => {
      const r = skbRun();
      const l = BigInt.asUintN(64, level);
      const cur = r?.effects.csumLevel;
      if (l === 0n) return cur !== undefined ? BigInt(cur) : BigInt(EACCES);
      if (l > 3n) return BigInt(EINVAL);
      if (r) {
        const next = l === 1n ? (cur === undefined ? 0 : Math.min(cur + 1, 3)) : l === 2n ? (cur === undefined || cur === 0 ? undefined : cur - 1) : undefined;
        if (next === undefined) delete r.effects.csumLevel;
        else r.effects.csumLevel = next;
      }
      return 0n;
    }],
    [39, (ctx: number, len: number): bigint => {
      const b = skbBounds(ctx);
      return b && (len >>> 0) <= b[1] - b[0] ? 0n : BigInt(ENOMEM);
    }],
    [17, (): number => 0],
    [24, (): number => 0],
    [23, redirect],
    [155, redirectPeer],
    [13, cloneRedirect],
    [51, redirectMap],
    [38, skbChangeTail],
    [43, skbChangeHead],
    [97, ecnSetCe],
    [21, setTunnelKey],
    [20, getTunnelKey],
    [29, getTunnelOpt],
    [30, setTunnelOpt],
    [69, fibLookupHelper],
    [163, (ctx: number, ifindex: number, mtuLen: number, lenDiff: number, flags: bigint): bigint => {
      if (!inMemory(mtuLen >>> 0, 4)) return BigInt(EFAULT);
      const r = run();
      const v = dv();
      const caller = r?.kind === 'skb' ? { kind: 'skb' as const, len: v.getUint32(r.ctx + SkBuff.len, true) } : { kind: 'xdp' as const };
      const b = r?.kind === 'skb' ? undefined : bounds(ctx, XdpMd.data, XdpMd.data_end);
      const len = r?.kind === 'skb' ? caller.kind === 'skb' ? caller.len : 0 : b ? b[1] - b[0] : 0;
      const device = r ? v.getUint32(r.ctx + (r.kind === 'xdp' ? XdpMd.ingress_ifindex : SkBuff.ifindex), true) : 1;
      return BigInt(checkMtu(hostNet(), u8(), caller, device, ifindex, mtuLen, lenDiff, flags, len));
    }],
    // Sockets: the host's (net.sockets), as the run's device sees them.
    [84, (ctx: number, tuple: number, size: number, netns: bigint, flags: bigint): number => skLookup(hostNet(), u8(), run(), tuple, size, netns, flags, 6, true)],
    [85, (ctx: number, tuple: number, size: number, netns: bigint, flags: bigint): number => skLookup(hostNet(), u8(), run(), tuple, size, netns, flags, 17, true)],
    [99, (ctx: number, tuple: number, size: number, netns: bigint, flags: bigint): number => skLookup(hostNet(), u8(), run(), tuple, size, netns, flags, 6, false)],
    [86, (sk: number): bigint => BigInt(skRelease(run(), sk))],
    [100, (sk: number, iph: number, iphLen: number, th: number, thLen: number): bigint => BigInt(syncookie(hostNet(), u8(), run(), sk, iph, iphLen, th, thLen, false))],
    [110, (sk: number, iph: number, iphLen: number, th: number, thLen: number): bigint => BigInt(syncookie(hostNet(), u8(), run(), sk, iph, iphLen, th, thLen, true))],
    [95, (sk: number): number => skFullsock(hostNet(), run(), sk)],
    [96, (sk: number): number => tcpSock(hostNet(), u8(), run(), sk)],
    [98, (sk: number): number => {
      const r = run();
      const dif = r ? dv().getUint32(r.ctx + (r.kind === 'xdp' ? XdpMd.ingress_ifindex : SkBuff.ifindex), true) : 0;
      return listenerSock(hostNet(), u8(), r, sk, dif);
    }],
    [124, (ctx: number, sk: number, flags: bigint): bigint => BigInt(skAssign(hostNet(), run(), sk, flags))],
    // Raw SYN cookies (syncookie.ts), with this instance's secrets.
    [204, (iph: number, th: number, thLen: number): bigint => rawGenSyncookie(cookieKeys(), u8(), iph, th, thLen, false)],
    [205, (iph: number, th: number, thLen: number): bigint => rawGenSyncookie(cookieKeys(), u8(), iph, th, thLen, true)],
    [206, (iph: number, th: number): bigint => BigInt(rawCheckSyncookie(cookieKeys(), u8(), iph, th, false))],
    [207, (iph: number, th: number): bigint => BigInt(rawCheckSyncookie(cookieKeys(), u8(), iph, th, true))],
    // The test run's dummy socket is in its caller's cgroup: `net.cgroup`, by default the root
    // (id 1, level 0); the current task is that caller too.
    [79, (): bigint => (skbRun() ? callerCgroupId(hostNet().cgroups) : 0n)],
    [83, (ctx: number, level: number): bigint => (skbRun() ? ancestorCgroupId(hostNet().cgroups, level) : 0n)],
    [33, (ctx: number, map: number, index: number): bigint => underCgroupHelper(false, map, index)],
    [37, (map: number, index: number): bigint => underCgroupHelper(true, map, index)],
    [80, (): bigint => callerCgroupId(hostNet().cgroups)],
    [123, (level: number): bigint => ancestorCgroupId(hostNet().cgroups, level)],
    // No IPsec: the test run's skb has no sec_path, so -EINVAL with the buffer zeroed.
    [66, (ctx: number, index: number, to: number, size: number, flags: bigint): bigint => {
      const n = size >>> 0;
      if (!inMemory(to >>> 0, n)) return BigInt(EFAULT);
      u8().fill(0, to >>> 0, (to >>> 0) + n);
      return BigInt(EINVAL);
    }],
    // bpf_skb_change_type: only among PACKET_HOST .. PACKET_OTHERHOST (0-3), from and to.
    [32, (ctx: number, type: number): bigint => {
      const c = ctx >>> 0;
      if (!inMemory(c, SkBuff.SIZE)) return BigInt(EINVAL);
      const v = dv();
      if (v.getUint32(c + SkBuff.pkt_type, true) > 3 || (type >>> 0) > 3) return BigInt(EINVAL);
      v.setUint32(c + SkBuff.pkt_type, type >>> 0, true);
      return 0n;
    }],
    // bpf_skb_set_tstamp: IPv4 / IPv6 skbs only; BPF_SKB_CLOCK_REALTIME 0 (any time),
    // _MONOTONIC 1 and _TAI 2 (non-zero); the type is what __sk_buff.tstamp_type reads.
    [192, (ctx: number, tstamp: bigint, type: number): bigint => {
      const c = ctx >>> 0;
      if (!inMemory(c, SkBuff.SIZE)) return BigInt(EINVAL);
      const v = dv();
      const proto = v.getUint32(c + SkBuff.protocol, true) & 0xffff;
      if (proto !== 0x0008 && proto !== 0xdd86) return BigInt(EOPNOTSUPP);
      const t = type >>> 0;
      const ts = BigInt.asUintN(64, tstamp);
      if (t > 2 || (t !== 0 && ts === 0n)) return BigInt(EINVAL);
      v.setBigUint64(c + SkBuff.tstamp, ts, true);
      u8()[c + SkBuff.tstamp_type] = t;
      return 0n;
    }],
    // bpf_skb_cgroup_classid: the dummy socket's net_cls class id, 0 in the root cgroup.
    [151, (): bigint => 0n],
    // The test run's skb belongs to a dummy socket: a fresh cookie per run, uid 0.
    [46, (): bigint => socketCookie(skbRun())],
    [47, (): number => 0],
    [152, redirectNeigh],
    [44, adjustHead],
    [54, adjustMeta],
    [65, adjustTail],
    [189, (xdp: number, off: number, buf: number, len: number): bigint => BigInt(xdpCopy(xdp, off, buf, len, false))],
    [190, (xdp: number, off: number, buf: number, len: number): bigint => BigInt(xdpCopy(xdp, off, buf, len, true))],
    [188, (xdp: number): bigint => {
      const b = bounds(xdp, XdpMd.data, XdpMd.data_end);
      const frags = xdpRun()?.frags ?? [];
      return BigInt(b ? b[1] - b[0] + frags.reduce((s, f) => s + f.len, 0) : 0);
    }],
  ];
  // The BTF socket casts (sock-cast.ts), in modules that carry their area.
  const area = maps?.sockCasts;
  if (area) {
    const tcpDefaults = Object.fromEntries(Object.keys(BpfTcpSock).filter((k) => k !== 'SIZE').map((k) => [k, TCP_SOCK_DEFAULTS[k as keyof typeof BpfTcpSock] ?? 0]));
    for (const id of SOCK_CASTS.keys()) impl.push([id, (sk: number): number => sockCast(area, hostNet(), u8, run(), sk, id, tcpDefaults)]);
  }
  return impl.map(([id, fn]) => {
    const proto = helperById(id)!;
    const signature = abiSignature(proto);
    // `long` results cross as i64: numbers become bigints.
    const f: HelperFn = signature.result === 'i64' ? (...a: unknown[]) => BigInt(fn(...a) as number | bigint) : fn;
    return { id, name: proto.name, signature, fn: f };
  });
}
