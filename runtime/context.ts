/**
 * Program contexts: what r1 points to for packet programs, laid out in linear memory at the
 * data address as the kernel's UAPI structs (`struct xdp_md`, `struct __sk_buff`), followed by
 * the packet. Pointers in them (`data`, `data_end`) are 32-bit linear-memory addresses, which is
 * what programs load (`(void *)(long)ctx->data`).
 *
 * Also the helpers that read and write the packet through the context (bpf_skb_load_bytes, ...).
 */
import { abiSignature, helperById } from './helper-table.js';
import type { HelperDefinition } from './helpers.js';
import { Errno } from './uapi/index.js';

/** Bytes reserved for the context struct before the packet (both structs fit; 8-aligned). */
export const CONTEXT_AREA = 256;

/** `struct xdp_md` field offsets. */
export const XdpMd = { data: 0, data_end: 4, data_meta: 8, ingress_ifindex: 12, rx_queue_index: 16, egress_ifindex: 20, SIZE: 24 } as const;

/** `struct __sk_buff` field offsets (linux/bpf.h). */
export const SkBuff = {
  len: 0, pkt_type: 4, mark: 8, queue_mapping: 12, protocol: 16, vlan_present: 20, vlan_tci: 24, vlan_proto: 28,
  priority: 32, ingress_ifindex: 36, ifindex: 40, tc_index: 44, cb: 48, hash: 68, tc_classid: 72, data: 76,
  data_end: 80, napi_id: 84, family: 88, remote_ip4: 92, local_ip4: 96, data_meta: 140, SIZE: 192,
} as const;

/** XDP actions (`enum xdp_action`; their home is runtime/uapi). */
export { XdpAction } from './uapi/index.js';

/** Optional fields of a packet context. */
export interface PacketContextOptions {
  ifindex?: number;
  rxQueue?: number;
  /** __sk_buff.mark, .priority, .hash. */
  mark?: number;
  priority?: number;
  hash?: number;
}

/** Where a packet context was placed: context at `ctx`, packet at [data, dataEnd). */
export interface PacketLayout {
  ctx: number;
  data: number;
  dataEnd: number;
  /** Bytes from ctx to dataEnd: what the runtime passes as r2 (the input length). */
  length: number;
}

/** Views of linear memory (made once per buffer by the caller: views cost more than the writes). */
export interface MemoryViews {
  bytes: Uint8Array;
  view: DataView;
}

function viewsOf(mem: ArrayBuffer | MemoryViews): MemoryViews {
  return mem instanceof ArrayBuffer ? { bytes: new Uint8Array(mem), view: new DataView(mem) } : mem;
}

const NO_OPTIONS: PacketContextOptions = {};

/** Writes a `struct xdp_md` at `base` and the packet after it. */
export function writeXdpContext(mem: ArrayBuffer | MemoryViews, base: number, packet: Uint8Array, o: PacketContextOptions = NO_OPTIONS): PacketLayout {
  const data = base + CONTEXT_AREA;
  const dataEnd = data + packet.length;
  const { bytes, view: v } = viewsOf(mem);
  bytes.fill(0, base, base + XdpMd.SIZE);
  bytes.set(packet, data);
  const at = (field: number): number => base + field;
  v.setUint32(at(XdpMd.data), data, true);
  v.setUint32(at(XdpMd.data_end), dataEnd, true);
  v.setUint32(at(XdpMd.data_meta), data, true);
  v.setUint32(at(XdpMd.ingress_ifindex), o.ifindex ?? 1, true);
  v.setUint32(at(XdpMd.rx_queue_index), o.rxQueue ?? 0, true);
  return { ctx: base, data, dataEnd, length: dataEnd - base };
}

/** Writes a `struct __sk_buff` at `base` and the packet (from its Ethernet header) after it. */
export function writeSkbContext(mem: ArrayBuffer | MemoryViews, base: number, packet: Uint8Array, o: PacketContextOptions = NO_OPTIONS): PacketLayout {
  const data = base + CONTEXT_AREA;
  const dataEnd = data + packet.length;
  const { bytes, view: v } = viewsOf(mem);
  bytes.fill(0, base, base + SkBuff.SIZE);
  bytes.set(packet, data);
  const at = (field: number): number => base + field;
  v.setUint32(at(SkBuff.len), packet.length, true);
  // skb->protocol is the Ethernet type in network byte order, as the kernel stores it.
  if (packet.length >= 14) v.setUint32(at(SkBuff.protocol), packet[12]! | (packet[13]! << 8), true);
  v.setUint32(at(SkBuff.mark), o.mark ?? 0, true);
  v.setUint32(at(SkBuff.priority), o.priority ?? 0, true);
  v.setUint32(at(SkBuff.ingress_ifindex), o.ifindex ?? 1, true);
  v.setUint32(at(SkBuff.ifindex), o.ifindex ?? 1, true);
  v.setUint32(at(SkBuff.hash), o.hash ?? 0, true);
  v.setUint32(at(SkBuff.data), data, true);
  v.setUint32(at(SkBuff.data_end), dataEnd, true);
  v.setUint32(at(SkBuff.data_meta), data, true);
  return { ctx: base, data, dataEnd, length: dataEnd - base };
}

/**
 * The packet helpers, reading the packet bounds from the context the program passes (as the
 * kernel does from its skb / xdp_buff), with the kernel's checks and errors:
 * bpf_skb_load_bytes (26), bpf_skb_store_bytes (9), bpf_xdp_load_bytes (189),
 * bpf_xdp_store_bytes (190), bpf_xdp_get_buff_len (188).
 */
export function packetHelpers(memory: () => ArrayBuffer): HelperDefinition[] {
  const EFAULT = -Errno.EFAULT;
  const EINVAL = -Errno.EINVAL;
  const bounds = (ctx: number, dataOff: number, endOff: number): [number, number] | undefined => {
    const buf = memory();
    const c = ctx >>> 0;
    if (c + CONTEXT_AREA > buf.byteLength) return undefined;
    const v = new DataView(buf);
    const data = v.getUint32(c + dataOff, true);
    const end = v.getUint32(c + endOff, true);
    if (end < data || end > buf.byteLength) return undefined;
    return [data, end];
  };
  const inMemory = (addr: number, len: number): boolean => addr + len <= memory().byteLength;
  const copy = (ctx: number, off: number, ptr: number, len: number, dataOff: number, endOff: number, store: boolean): number => {
    const b = bounds(ctx, dataOff, endOff);
    const o = off >>> 0;
    const n = len >>> 0;
    const p = ptr >>> 0;
    if (!b || n === 0 || !inMemory(p, n)) return EFAULT;
    if (b[0] + o + n > b[1]) {
      if (!store) new Uint8Array(memory(), p, n).fill(0);
      return EFAULT;
    }
    const buf = new Uint8Array(memory());
    if (store) buf.copyWithin(b[0] + o, p, p + n);
    else buf.copyWithin(p, b[0] + o, b[0] + o + n);
    return 0;
  };
  const def = (id: number, fn: HelperDefinition['fn']): HelperDefinition => {
    const proto = helperById(id)!;
    return { id, name: proto.name, signature: abiSignature(proto), fn };
  };
  return [
    def(26, (skb: number, off: number, to: number, len: number) => BigInt(copy(skb, off, to, len, SkBuff.data, SkBuff.data_end, false))),
    def(9, (skb: number, off: number, from: number, len: number, flags: bigint) =>
      BigInt(flags & ~3n ? EINVAL : copy(skb, off, from, len, SkBuff.data, SkBuff.data_end, true))),
    def(189, (xdp: number, off: number, buf: number, len: number) => BigInt(copy(xdp, off, buf, len, XdpMd.data, XdpMd.data_end, false))),
    def(190, (xdp: number, off: number, buf: number, len: number) => BigInt(copy(xdp, off, buf, len, XdpMd.data, XdpMd.data_end, true))),
    def(188, (xdp: number) => {
      const b = bounds(xdp, XdpMd.data, XdpMd.data_end);
      return BigInt(b ? b[1] - b[0] : 0);
    }),
  ];
}
