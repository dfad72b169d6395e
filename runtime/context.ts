/**
 * Program contexts: what r1 points to for packet programs, laid out in linear memory at the
 * data address as the kernel's UAPI structs (`struct xdp_md`, `struct __sk_buff`), followed by
 * the packet. Pointers in them (`data`, `data_end`) are 32-bit linear-memory addresses, which is
 * what programs load (`(void *)(long)ctx->data`).
 *
 * These writers serve runs over raw bytes; packet/testrun.ts makes contexts as the kernel's
 * BPF_PROG_TEST_RUN does, and packet/helpers.ts has the packet helpers.
 */

export { CONTEXT_AREA, XdpMd, SkBuff, XdpAction } from './packet/layout.js';
export { packetHelpers } from './packet/helpers.js';
import { CONTEXT_AREA, XdpMd, SkBuff } from './packet/layout.js';

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

