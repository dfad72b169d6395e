/**
 * The XDP and skb frames of the batch loop (runtime/packet/batch-loop.ts has the loop and the
 * classic filters' frame): what each kind writes before calling the program, and the output
 * frame. The runtime does not run this: every XDP and skb program compiled by this version has
 * its loop in its own module (compiler/batch-export.ts copies it from compiler/batch-loop-code.ts,
 * which scripts/gen-batch-loop.ts generates from here), and a module compiled before (without a
 * `__batch2` export) runs its batches frame by frame; keeping these out of the runtime keeps what
 * every user of `bpf2wasm/runtime` loads at start small (scripts/test/size.test.ts).
 */
import {
  BpfSock, CONTEXT_AREA, ETH_HLEN, LOOPBACK, PAGE_SIZE, PacketType, SKB_HEADROOM, SKB_ROOM_AFTER, SKB_ROOM_BEFORE, SKB_SOCKET_AREA, SkBuff, XDP_PACKET_HEADROOM, XdpMd,
} from './layout.js';
import {
  get, set, c, cat, add, sub, and, or, shl, shrU, eq, gtU, geU, eqz, select, load, load8, load16, load64, store, store64, when, brIf, flag, zero, copyBytes, copyFrame, BASE, OUT, OFF, LEN, DATA, D, OLEN, T, DST, W_MAC, W_NET, W_HEAD, W_END, LOOP_ZERO_HEADROOM, LOOP_FROM_MAC,
  classicFrame, loopFunctionBody, loopParts as partsOf, loopWasm, type Code, type FrameCode, type LoopKind, type LoopParts,
} from './batch-loop.js';

/** XDP: the test run's page, headroom 256, no metadata, the loopback device. */
export function xdpFrame(): FrameCode {
  return {
    refuse: [],
    // DATA = the frame's place (data = data_meta) in the page.
    setup: cat(add(get(BASE), c(CONTEXT_AREA + XDP_PACKET_HEADROOM)), set(DATA)),
    frame: cat(
      store(get(BASE), get(DATA), XdpMd.data),
      store(get(BASE), add(get(DATA), get(LEN)), XdpMd.data_end),
      store(get(BASE), get(DATA), XdpMd.data_meta),
      store(get(BASE), c(LOOPBACK.ifindex), XdpMd.ingress_ifindex),
      store64(get(BASE), [0x42, 0], XdpMd.rx_queue_index), // rx_queue_index, egress_ifindex
      when(flag(LOOP_ZERO_HEADROOM), zero(get(BASE), CONTEXT_AREA, XDP_PACKET_HEADROOM)),
      copyFrame(),
    ),
    entryLength: c(CONTEXT_AREA + PAGE_SIZE),
    // [data_meta, data_end)
    output: cat(
      load(get(BASE), XdpMd.data_meta), set(D),
      sub(load(get(BASE), XdpMd.data_end), get(D)), set(OLEN),
      copyBytes(OUT, D, OLEN),
    ),
  };
}

/** skb: eth_type_trans on the loopback device, the Ethernet header at DATA (mac). */
export function skbFrame(): FrameCode {
  const mac = get(DATA);
  const net = add(get(DATA), c(ETH_HLEN));
  const fromMac = flag(LOOP_FROM_MAC);
  // The EtherType (802.3 lengths: raw IPX 0x0001 when the payload starts ff ff, else 802.2 0x0004).
  const type = or(shl(load8(mac, 12), c(8)), load8(mac, 13));
  const proto = select(
    type,
    select(c(1), c(4), and(geU(get(LEN), c(ETH_HLEN + 2)), eq(load16(mac, 14), c(0xffff)))),
    geU(type, c(0x600)),
  );
  // The frame in the input (OFF): an IPv4 frame with less than 20 bytes after the Ethernet
  // header, or an IPv6 frame with less than 40, is refused by the test run (testrun.ts shortIpHeader).
  const inType = or(shl(load8(get(OFF), 12), c(8)), load8(get(OFF), 13));
  return {
    setup: cat(add(get(BASE), c(CONTEXT_AREA + SKB_ROOM_BEFORE + SKB_HEADROOM)), set(DATA)),
    refuse: cat(
      inType, set(T),
      brIf(1, and(eq(get(T), c(0x0800)), gtU(c(ETH_HLEN + 20), get(LEN)))),
      brIf(1, and(eq(get(T), c(0x86dd)), gtU(c(ETH_HLEN + 40), get(LEN)))),
    ),
    frame: cat(
      zero(get(BASE), 0, SkBuff.SIZE),
      zero(get(DATA), -SKB_HEADROOM, SKB_HEADROOM),
      // DST: the dummy socket's struct bpf_sock, at the start of the room's socket area
      // (layout.ts skbDummySock / writeSkbDummySock), which skb->sk points to.
      add(add(get(DATA), get(LEN)), c(SKB_ROOM_AFTER - SKB_SOCKET_AREA)), set(DST),
      zero(get(DST), 0, BpfSock.SIZE),
      store(get(BASE), get(DST), SkBuff.sk),
      store(get(DST), c(7), BpfSock.state), // TCP_CLOSE
      store(get(DST), c(-1), BpfSock.rx_queue_mapping), // NO_QUEUE_MAPPING
      copyFrame(),
      store(get(BASE), mac, W_MAC),
      store(get(BASE), net, W_NET),
      store(get(BASE), sub(get(DATA), c(SKB_HEADROOM)), W_HEAD),
      store(get(BASE), add(add(get(DATA), get(LEN)), c(SKB_ROOM_AFTER)), W_END),
      store(get(BASE), select(get(LEN), sub(get(LEN), c(ETH_HLEN)), fromMac), SkBuff.len),
      // pkt_type: 00:00:00:00:00:00 (lo's address) host; other multicast (lo's broadcast is zero too); else other host.
      store(get(BASE), select(
        c(PacketType.HOST),
        select(c(PacketType.MULTICAST), c(PacketType.OTHERHOST), and(load8(mac), c(1))),
        eqz(or(load(mac), load16(mac, 4))),
      ), SkBuff.pkt_type),
      // protocol in network byte order, as a little-endian u32 read sees it
      proto, set(T),
      or(shl(and(get(T), c(0xff)), c(8)), shrU(get(T), c(8))), set(T),
      store(get(BASE), get(T), SkBuff.protocol),
      store(get(BASE), c(LOOPBACK.ifindex), SkBuff.ifindex),
      select(mac, net, fromMac), set(D),
      store(get(BASE), get(D), SkBuff.data),
      store(get(BASE), add(get(DATA), get(LEN)), SkBuff.data_end),
      store(get(BASE), get(D), SkBuff.data_meta),
      // The test run's dummy socket: family and addresses from the IPv4 / IPv6 header, in
      // __sk_buff (family, remote_ip4, ...) and in its struct bpf_sock (DST).
      when(eq(get(T), c(0x0008)),
        store(get(BASE), c(2), SkBuff.family),
        store(get(DST), c(2), BpfSock.family),
        when(geU(get(LEN), c(ETH_HLEN + 20)),
          store(get(BASE), load(net, 16), SkBuff.remote_ip4),
          store(get(BASE), load(net, 12), SkBuff.local_ip4),
          store(get(DST), load(net, 12), BpfSock.src_ip4),
          store(get(DST), load(net, 16), BpfSock.dst_ip4))),
      when(eq(get(T), c(0xdd86)),
        store(get(BASE), c(10), SkBuff.family),
        store(get(DST), c(10), BpfSock.family),
        when(geU(get(LEN), c(ETH_HLEN + 40)),
          store64(get(BASE), load64(net, 24), SkBuff.remote_ip6),
          store64(get(BASE), load64(net, 32), SkBuff.remote_ip6 + 8),
          store64(get(BASE), load64(net, 8), SkBuff.local_ip6),
          store64(get(BASE), load64(net, 16), SkBuff.local_ip6 + 8),
          store64(get(DST), load64(net, 8), BpfSock.src_ip6),
          store64(get(DST), load64(net, 16), BpfSock.src_ip6 + 8),
          store64(get(DST), load64(net, 24), BpfSock.dst_ip6),
          store64(get(DST), load64(net, 32), BpfSock.dst_ip6 + 8))),
    ),
    // r2 spans the whole room, as the test run's (checked mode reads what helpers grow into).
    entryLength: add(c(CONTEXT_AREA + SKB_ROOM_BEFORE + SKB_HEADROOM + SKB_ROOM_AFTER), get(LEN)),
    // [data, data_end); a socket filter run from the network header gets a zeroed Ethernet header back in front.
    output: cat(
      load(get(BASE), SkBuff.data), set(D),
      sub(load(get(BASE), SkBuff.data_end), get(D)), set(OLEN),
      get(OUT), set(DST),
      when(eqz(fromMac),
        store64(get(OUT), [0x42, 0]), store(get(OUT), c(0), 8), [...get(OUT), ...c(0), 0x3b, 1, 12], // i32.store16
        add(get(OUT), c(ETH_HLEN)), set(DST)),
      copyBytes(DST, D, OLEN),
      sub(add(get(DST), get(OLEN)), get(OUT)), set(OLEN),
    ),
  };
}


/** The frame code of `kind`. */
export function frameOf(kind: LoopKind): FrameCode {
  return kind === 'xdp' ? xdpFrame() : kind === 'skb' ? skbFrame() : classicFrame();
}

/** The parts of `kind`'s loop function (batch-loop.ts `loopParts` with the kind's frame). */
export function loopParts(kind: LoopKind): LoopParts {
  return partsOf(kind, frameOf(kind));
}

/** `kind`'s loop function body calling function `program` (batch-loop.ts `loopFunctionBody`). */
export function loopBody(kind: LoopKind, program: number): number[] {
  return loopFunctionBody(kind, frameOf(kind), program);
}

/** A loop module of `kind` calling its import `p.f` (for tests: the runtime builds only the classic one). */
export function loopModuleOf(kind: LoopKind): WebAssembly.Module {
  return new WebAssembly.Module(loopWasm(kind, frameOf(kind)));
}
