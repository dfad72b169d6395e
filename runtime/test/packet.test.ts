/**
 * Packet programs of test-programs/c under bpf2wasm's test run (runtime/packet/testrun.ts):
 * verdicts and output frames asserted frame by frame, checksums checked independently, the
 * contexts as BPF_PROG_TEST_RUN fills them, and the inputs it refuses. (kernel-oracle.test.ts
 * compares the same frames with the kernel where the machine allows.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { instantiate } from '../instance.js';
import type { BpfInstance } from '../program.js';
import { testRunPacket, type PacketTestOptions, type PacketTestResult } from '../packet/testrun.js';
import { csumReplace } from '../packet/helpers.js';
import { ETH_P, MAC_A, MAC_B, ether, ext6, icmp, inetChecksum, ipv4, ipv6, mac, rd16, tcp, udp } from './frames.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function load(object: string): Promise<BpfInstance> {
  const { wasm } = await compileObject(new Uint8Array(readFileSync(path.join(root, 'test-programs/c', `${object}.o`))));
  return instantiate(wasm, { trace: () => {} });
}

function run(inst: BpfInstance, program: string, data: Uint8Array, opts: PacketTestOptions = {}): PacketTestResult {
  return inst.program(program).test({ dataIn: data, ...opts });
}

function refusal(f: () => unknown): BpfRuntimeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BpfRuntimeError);
    return e as BpfRuntimeError;
  }
  throw new Error('expected a refusal');
}

const SYN = 2;
const ACK = 0x10;
const IP = (proto: number, payload: Uint8Array, o: Partial<Parameters<typeof ipv4>[0]> = {}): Uint8Array => ether(ETH_P.IP, ipv4({ proto, payload, ...o }));
const u32s = (b: Uint8Array, at: number, n: number): number[] => Array.from({ length: n }, (_, i) => new DataView(b.buffer, b.byteOffset).getUint32(at + 4 * i, true));

describe('contexts as BPF_PROG_TEST_RUN fills them', () => {
  it('tc: len, pkt_type by destination MAC on the loopback device, protocol, ifindex 1, ingress_ifindex 0', async () => {
    const inst = await load('ctx_dump');
    const frame = (dst: number[]): Uint8Array => IP(17, udp({ dport: 9, payload: new Array<number>(60).fill(0) }), {}).map((b, i) => (i < 6 ? dst[i]! : b));
    const fields = (dst: number[]): number[] => u32s(run(inst, 'tc_ctx', frame(dst)).dataOut, 14, 14);
    // len, pkt_type, mark, queue_mapping, protocol, vlan_present, priority, ingress_ifindex, ifindex, cb[0], hash, wire_len, gso_segs, data_end - data
    expect(fields(MAC_B)).toEqual([102, 3, 0, 0, 0x0008, 0, 0, 0, 1, 0, 0, 0, 0, 102]);
    expect(fields(mac('ff:ff:ff:ff:ff:ff'))[1]).toBe(2); // multicast: lo's broadcast address is 00:00:00:00:00:00
    expect(fields(mac('01:00:5e:00:00:01'))[1]).toBe(2);
    expect(fields([0, 0, 0, 0, 0, 0])[1]).toBe(0); // lo's own address: PACKET_HOST
  });

  it('tc: ctxIn sets mark, priority, cb, gso_segs; ctxOut returns what the program wrote; wire_len defaults to len', async () => {
    const inst = await load('ctx_dump');
    const ctx = new Uint8Array(192);
    const v = new DataView(ctx.buffer);
    v.setUint32(8, 0x1234, true);
    v.setUint32(32, 7, true);
    v.setUint32(48, 0xc0ffee, true);
    v.setUint32(164, 3, true);
    const frame = IP(6, tcp({ dport: 80, flags: SYN, payload: new Array<number>(20).fill(1) }));
    const r = run(inst, 'tc_ctx', frame, { ctxIn: ctx });
    expect(u32s(r.dataOut, 14, 14)).toEqual([74, 3, 0x1234, 0, 8, 0, 7, 0, 1, 0xc0ffee, 0, 74, 3, 74]);
    const o = new DataView(r.ctxOut!.buffer);
    expect([o.getUint32(8, true), o.getUint32(52, true), o.getUint32(160, true), o.getUint32(40, true)]).toEqual([74, 8, 74, 1]);
    expect(ctx[8]).toBe(0x34); // the input is not modified
  });

  it('refuses a ctxIn the kernel refuses: fields it does not accept, ifindex of no device, wire_len out of range', async () => {
    const inst = await load('ctx_dump');
    const frame = IP(17, udp({ dport: 53 }));
    const withField = (off: number, val: number): Uint8Array => {
      const c = new Uint8Array(192);
      new DataView(c.buffer).setUint32(off, val, true);
      return c;
    };
    for (const [off, val, msg] of [[0, 60, /EINVAL.*__sk_buff.len/], [68, 1, /EINVAL.*hash/], [40, 77, /ENODEV/], [160, 10, /EINVAL.*wire_len/]] as const) {
      const e = refusal(() => run(inst, 'tc_ctx', frame, { ctxIn: withField(off, val) }));
      expect(e.code).toBe(ErrorCode.TestRun);
      expect(e.message).toMatch(msg);
    }
    const big = new Uint8Array(200);
    big[199] = 1;
    expect(refusal(() => run(inst, 'tc_ctx', frame, { ctxIn: big })).message).toMatch(/E2BIG/);
  });

  it('frames shorter than an Ethernet header or longer than the test run takes are refused with EINVAL', async () => {
    const inst = await load('ctx_dump');
    for (const [prog, n] of [['tc_ctx', 13], ['xdp_ctx', 13], ['sock_ctx', 0], ['tc_ctx', 3713]] as const) {
      const e = refusal(() => run(inst, prog, new Uint8Array(n)));
      expect(e.code).toBe(ErrorCode.TestRun);
      expect(e.message).toMatch(/EINVAL: the frame is/);
    }
    expect(run(inst, 'tc_ctx', new Uint8Array(3712)).retval).toBe(0);
  });

  it('XDP: ingress_ifindex 1 (lo), rx queue 0, 256 bytes of headroom of which xdp_frame takes 40, metadata from ctxIn', async () => {
    const inst = await load('ctx_dump');
    const frame = IP(17, udp({ dport: 9, payload: new Array<number>(40).fill(0) }));
    // ingress_ifindex, rx_queue_index, data_end - data, data - data_meta, bpf_xdp_get_buff_len, headroom probe
    expect(u32s(run(inst, 'xdp_ctx', frame).dataOut, 14, 6)).toEqual([1, 0, 82, 0, 82, 216]);
    const meta = new Uint8Array([9, 9, 9, 9, 8, 8, 8, 8, ...frame]);
    const ctx = new Uint8Array(24);
    new DataView(ctx.buffer).setUint32(0, 8, true);
    new DataView(ctx.buffer).setUint32(4, meta.length, true);
    const r = run(inst, 'xdp_ctx', meta, { ctxIn: ctx });
    expect(r.dataOut.subarray(0, 8)).toEqual(meta.subarray(0, 8)); // dataOut starts at data_meta
    expect(u32s(r.dataOut, 8 + 14, 6)).toEqual([1, 0, 82, 8, 82, 192]); // 216 bytes of room no longer fit
  });

  it('XDP multi-buffer: 3520 linear bytes, the rest in fragments, dataOut the whole frame', async () => {
    const inst = await load('ctx_dump');
    const frame = IP(17, udp({ dport: 9, payload: Array.from({ length: 9000 }, (_, i) => i & 0xff) }));
    const r = run(inst, 'xdp_ctx', frame);
    expect(u32s(r.dataOut, 14, 5)).toEqual([1, 0, 3520, 0, frame.length]);
    expect(r.dataOut.length).toBe(frame.length);
    expect(r.dataOut.subarray(3600)).toEqual(frame.subarray(3600));
  });
});

describe('socket filters: skbData', () => {
  it('keeps TCP SYNs: syn_net with the network header at offset 0 (the kernel test run), syn_mac from the Ethernet header', async () => {
    const inst = await load('sock_syn');
    const frames: [Uint8Array, boolean][] = [
      [IP(6, tcp({ dport: 80, flags: SYN })), true],
      [IP(6, tcp({ dport: 80, flags: SYN | ACK })), false],
      [IP(6, tcp({ dport: 22, flags: ACK })), false],
      [IP(6, tcp({ dport: 443, flags: SYN }), { options: [1, 1, 1, 0] }), true],
      [IP(6, tcp({ dport: 80, flags: SYN }), { fragOff: 4 }), false],
      [IP(17, udp({ dport: 80 })), false],
      [ether(ETH_P.IPV6, ipv6({ next: 6, payload: tcp({ dport: 80, flags: SYN }) })), false],
    ];
    for (const [f, keep] of frames) {
      const net = run(inst, 'syn_net', f, { skbData: 'network' });
      expect(net.retval).toBe(keep ? f.length - 14 : 0);
      // The kernel puts back a zeroed Ethernet header after a network-mode run.
      expect(net.dataOut).toEqual(new Uint8Array([...new Array<number>(14).fill(0), ...f.subarray(14)]));
      const m = run(inst, 'syn_mac', f, { skbData: 'mac' });
      expect(m.retval).toBe(keep ? f.length : 0);
      expect(m.dataOut).toEqual(f);
      // Each program read with the other's offsets finds no SYN.
      expect(run(inst, 'syn_mac', f, { skbData: 'network' }).retval).toBe(0);
    }
    expect([...inst.map('syns').entries()].map(([, v]) => v)).toEqual([2n, 2n]);
  });

  it('the default for socket filters is the kernel\'s: network', async () => {
    const inst = await load('sock_syn');
    const f = IP(6, tcp({ dport: 80, flags: SYN }));
    expect(run(inst, 'syn_net', f).retval).toBe(f.length - 14);
  });

  it('LD_ABS / LD_IND read from skb->data: DNS datagrams keep 64 bytes, loads past the end return 0', async () => {
    const inst = await load('ldabs_filter');
    expect(run(inst, 'dns_only', IP(17, udp({ dport: 53 }))).retval).toBe(64);
    expect(run(inst, 'dns_only', IP(17, udp({ dport: 54 }))).retval).toBe(0);
    expect(run(inst, 'dns_only', IP(6, tcp({ dport: 53, flags: SYN }))).retval).toBe(0);
    expect(run(inst, 'dns_only', IP(17, udp({ dport: 53 }), { fragOff: 8 })).retval).toBe(0);
    // A whole IPv4 header and no UDP header: the port load is past the end.
    expect(run(inst, 'dns_only', ether(ETH_P.IP, [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])).retval).toBe(0);
    // Less than an IPv4 header: the test run refuses the frame, as the kernel's (EINVAL).
    expect(() => run(inst, 'dns_only', ether(ETH_P.IP, [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17]))).toThrow(/EINVAL: the IPv4 frame has 10 bytes/);
    // From the Ethernet header (skbData 'mac'), offset 0 is a MAC address: nothing matches.
    expect(run(inst, 'dns_only', IP(17, udp({ dport: 53 })), { skbData: 'mac' }).retval).toBe(0);
  });
});

describe('tc: port rewrite with checksum fix-up', () => {
  it('rewrites TCP and UDP port 80 to 8080, decrements the TTL, and leaves every checksum valid', async () => {
    const inst = await load('tc_port_rewrite');
    for (const seg of [tcp({ dport: 80, flags: SYN }), udp({ dport: 80 })]) {
      const proto = seg.length === 20 ? 6 : 17;
      const f = IP(proto, seg);
      const r = run(inst, 'port_rewrite', f);
      expect(r.retval).toBe(0);
      const out = r.dataOut;
      expect(rd16(out, 36)).toBe(8080);
      expect(out[22]).toBe(63);
      expect(inetChecksum(out.subarray(14, 34))).toBe(0);
      const l4 = out.subarray(34);
      const pseudo = new Uint8Array([...out.subarray(26, 34), 0, proto, l4.length >> 8, l4.length & 0xff]);
      expect(inetChecksum(new Uint8Array([...pseudo, ...l4]))).toBe(0);
    }
    // A zero UDP checksum stays zero (BPF_F_MARK_MANGLED_0).
    const r = run(inst, 'port_rewrite', IP(17, udp({ dport: 80, noChecksum: true })));
    expect(rd16(r.dataOut, 40)).toBe(0);
    expect(run(inst, 'port_rewrite', IP(6, tcp({ dport: 80, flags: SYN }), { ttl: 1 })).retval).toBe(2);
    expect(run(inst, 'port_rewrite', IP(17, udp({ dport: 81 }))).dataOut[22]).toBe(63);
    expect(inst.map('rewritten').get(0)).toBe(3n);
  });

  it('csum_replace agrees with recomputing the checksum', () => {
    const h = ipv4({ proto: 6, payload: [] });
    const before = (h[8]! << 8) | h[9]!;
    h[8] = 17;
    const after = (h[8]! << 8) | h[9]!;
    const old = (h[10]! << 8) | h[11]!;
    h[10] = h[11] = 0;
    // Values as the host reads them from memory (little-endian 16-bit words).
    const swap = (x: number): number => ((x & 0xff) << 8) | (x >> 8);
    expect(swap(csumReplace(swap(old), swap(before), swap(after)))).toBe(inetChecksum(h));
  });
});

describe('XDP programs', () => {
  it('vlan_strip: removes one tag with bpf_xdp_adjust_head, counts VLAN ids', async () => {
    const inst = await load('xdp_vlan_strip');
    const inner = ipv4({ proto: 17, payload: udp({ dport: 53 }) });
    const tagged = ether(ETH_P.IP, inner, { tags: [[0x8100, 100]] });
    const r = run(inst, 'vlan_strip', tagged);
    expect(r.retval).toBe(2);
    expect(r.dataOut).toEqual(ether(ETH_P.IP, inner));
    const qinq = run(inst, 'vlan_strip', ether(ETH_P.IP, inner, { tags: [[0x88a8, 10], [0x8100, 20]] }));
    expect(qinq.dataOut).toEqual(ether(ETH_P.IP, inner, { tags: [[0x8100, 20]] }));
    const untagged = ether(ETH_P.IP, inner);
    expect(run(inst, 'vlan_strip', untagged).dataOut).toEqual(untagged);
    expect(run(inst, 'vlan_strip', ether(0x8100, [0, 5])).retval).toBe(1);
    expect(new Map([...inst.map('vlans').entries()])).toEqual(new Map([[100, 1n], [10, 1n]]));
  });

  it('icmp_echo: answers echo requests with XDP_TX, addresses swapped, checksums valid', async () => {
    const inst = await load('xdp_responder');
    const req = ether(ETH_P.IP, ipv4({ proto: 1, src: '10.1.1.1', dst: '10.2.2.2', ttl: 9, payload: icmp(8, 0, [0, 7, 0, 1, 1, 2, 3, 4]) }));
    const r = run(inst, 'icmp_echo', req);
    expect(r.retval).toBe(3);
    const out = r.dataOut;
    expect([...out.subarray(0, 6)]).toEqual(MAC_A);
    expect([...out.subarray(6, 12)]).toEqual(MAC_B);
    expect([...out.subarray(26, 34)]).toEqual([10, 2, 2, 2, 10, 1, 1, 1]);
    expect(out[34]).toBe(0);
    expect(inetChecksum(out.subarray(14, 34))).toBe(0);
    expect(inetChecksum(out.subarray(34))).toBe(0);
    expect(run(inst, 'icmp_echo', ether(ETH_P.IP, ipv4({ proto: 1, payload: icmp(0, 0, [0, 1, 0, 1]) }))).retval).toBe(2);
    expect(run(inst, 'icmp_echo', ether(ETH_P.IP, ipv4({ proto: 1, payload: [8, 0, 0] }))).retval).toBe(1);
    expect(inst.map('replies').get(0)).toBe(1n);
  });

  it('ext_walk: a bounded loop over IPv6 extension headers, across fragments too', async () => {
    const inst = await load('ipv6_exthdr');
    const v6 = (next: number, payload: number[]): Uint8Array => ether(ETH_P.IPV6, ipv6({ next, payload }));
    expect(run(inst, 'ext_walk', v6(17, [...udp({ dport: 53 })])).retval).toBe(2);
    expect(run(inst, 'ext_walk', v6(0, [...ext6(0, 60), ...ext6(60, 58, 1), 128, 0, 0, 0])).retval).toBe(1);
    expect(run(inst, 'ext_walk', v6(0, [...ext6(0, 58), 129, 0, 0, 0])).retval).toBe(2);
    expect(run(inst, 'ext_walk', v6(44, [...ext6(44, 51), ...ext6(51, 6, 1), ...tcp({ dport: 80, flags: SYN })])).retval).toBe(2);
    const nine = v6(60, [...Array.from({ length: 9 }, () => ext6(60, 60)).flat(), ...ext6(60, 17)]);
    expect(run(inst, 'ext_walk', nine).retval).toBe(1);
    expect(run(inst, 'ext_walk', v6(0, [43, 4, 0, 0, 0, 0, 0, 0])).retval).toBe(1);
    expect(run(inst, 'ext_walk', IP(6, tcp({ dport: 1, flags: SYN }))).retval).toBe(2);
    const counts = inst.map('upper');
    expect([counts.get(17), counts.get(58), counts.get(6)]).toEqual([1n, 2n, 1n]);
  });

  it('meta_trim: metadata, tail trimmed to 128 bytes, a 4-byte header pushed; dataOut from data_meta', async () => {
    const inst = await load('xdp_meta_trim');
    const long = IP(17, udp({ dport: 9, payload: new Array<number>(200).fill(0x5a) }));
    const r = run(inst, 'meta_trim', long);
    expect(r.retval).toBe(2);
    expect(u32s(r.dataOut, 0, 2)).toEqual([long.length, 0xfeedf00d]);
    expect(r.dataOut.subarray(8)).toEqual(long.subarray(0, 128));
    const ee = ether(0x0800, new Uint8Array(30), { dst: mac('ee:00:00:00:00:01') });
    const pushed = run(inst, 'meta_trim', ee).dataOut;
    expect(pushed.length).toBe(8 + 4 + ee.length);
    expect([...pushed.subarray(8, 20)]).toEqual([...ee.subarray(0, 12)]);
    expect([...pushed.subarray(20, 24)]).toEqual([0x88, 0xb5, 0, 0]);
  });
});

describe('redirects: recorded in the result', () => {
  const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
  const port = (p: number): Uint8Array => IP(17, udp({ dport: p }));

  it('bpf_redirect_map over DEVMAP, CPUMAP, XSKMAP and DEVMAP_HASH; the flags\' low bits when the key is absent', async () => {
    const inst = await load('xdp_redirect');
    inst.map('tx_ports').updateRaw(u32(1), u32(4));
    inst.map('cpus').updateRaw(u32(0), u32(192));
    inst.map('xsks').updateRaw(u32(2), u32(77));
    inst.map('tx_hash').updateRaw(u32(3), u32(9));
    // entries() walks the present elements only (get_next_key walks every index).
    expect([...inst.map('tx_ports').entries()]).toEqual([[1, 4]]);
    expect([...inst.map('tx_ports').keysRaw()].length).toBe(8);
    const r = (p: number): PacketTestResult => run(inst, 'redirect_by_port', port(p));
    expect(r(1001)).toMatchObject({ retval: 4, redirect: { helper: 'bpf_redirect_map', map: 'tx_ports', index: 1, mapType: 14 } });
    expect(r(1000).retval).toBe(2);
    expect(r(1000).redirect).toBeUndefined();
    expect(r(2000)).toMatchObject({ retval: 4, redirect: { map: 'cpus', index: 0 } });
    expect(r(2001).retval).toBe(1);
    expect(r(3002)).toMatchObject({ retval: 4, redirect: { map: 'xsks', index: 2, mapType: 17 } });
    expect(r(3001).retval).toBe(2);
    expect(r(4003)).toMatchObject({ retval: 4, redirect: { map: 'tx_hash', index: 3, mapType: 25 } });
    expect(r(5007)).toMatchObject({ retval: 4, redirect: { helper: 'bpf_redirect', index: 7 } });
    expect(r(6000).retval).toBe(0);
    // Entries are absent while their first u32 is 0, and deleting empties them.
    inst.map('tx_ports').updateRaw(u32(1), u32(0));
    expect(r(1001).retval).toBe(2);
    expect(inst.map('tx_ports').lookupRaw(u32(1))).toBeUndefined();
    expect([...inst.map('xsks').keysRaw()].length).toBe(4);
    inst.map('xsks').deleteRaw(u32(2));
    expect(r(3002).retval).toBe(2);
  });

  it('tc: bpf_redirect with BPF_F_INGRESS gives TC_ACT_REDIRECT and records the flags', async () => {
    const inst = await load('xdp_redirect');
    expect(run(inst, 'tc_redirect', IP(6, tcp({ dport: 1, flags: SYN })))).toMatchObject({ retval: 7, redirect: { index: 1, flags: 0 } });
    expect(run(inst, 'tc_redirect', port(9))).toMatchObject({ retval: 7, redirect: { index: 1, flags: 1 } });
    expect(run(inst, 'tc_redirect', IP(1, icmp(8, 0, [0, 0, 0, 0]))).redirect).toBeUndefined();
  });
});

describe('run --program P needs only what P uses', () => {
  it('a kernel helper bpf2wasm lacks fails only the program that calls it, when it calls it', async () => {
    const inst = await load('lazy_helper');
    expect(run(inst, 'plain', IP(17, udp({ dport: 9 }))).retval).toBe(2);
    expect(run(inst, 'uses_missing', ether(ETH_P.ARP, [1, 2])).retval).toBe(1);
    const e = refusal(() => run(inst, 'uses_missing', IP(17, udp({ dport: 9 }))));
    expect(e.code).toBe(ErrorCode.UnknownHelper);
    expect(e.location.helper).toBe('bpf_dynptr_from_mem');
    expect(run(inst, 'plain', IP(17, udp({ dport: 9, payload: new Array<number>(100).fill(0) }))).retval).toBe(1);
  });
});

describe('requests to the outside world', () => {
  it('tunnel key, FIB lookup on a host without routes, flow hash, ECN mark and a neighbour redirect are recorded', async () => {
    const inst = await load('tc_tunnel');
    const ctx = new Uint8Array(192);
    const r = run(inst, 'tunnel', IP(17, udp({ dport: 9 }), { tos: 2 }), { ctxIn: ctx });
    expect(r.retval).toBe(7);
    expect(r.redirect).toEqual({ helper: 'bpf_redirect_neigh', index: 1, flags: 0 });
    expect(r.tunnelKey).toEqual({ tunnelId: 42, remote: 0x0a000009, local: 0, tos: 0, ttl: 64, label: 0, flags: 2 }); // BPF_F_ZERO_CSUM_TX
    expect(r.ecnMarked).toBe(true);
    expect(r.dataOut[15]! & 3).toBe(3);
    expect(inetChecksum(r.dataOut.subarray(14, 34))).toBe(0);
    const cb = u32s(r.ctxOut!, 48, 3);
    expect(cb[0]).toBe(5); // BPF_FIB_LKUP_RET_FWD_DISABLED
    expect(cb[1]).toBe(r.hash);
    expect(cb[1]).not.toBe(0);
    expect(cb[2]).toBe(1);
    // Not ECN-capable: no mark.
    expect(run(inst, 'tunnel', IP(17, udp({ dport: 9 }))).ecnMarked).toBeUndefined();
  });

  it('skb editing helpers, with the results the kernel gave for the same frames', async () => {
    const inst = await load('tc_skb_edit');
    const frame = (op: number, tags: [number, number][] = []): Uint8Array =>
      ether(ETH_P.IP, ipv4({ proto: 17, payload: udp({ dport: 9, payload: new Array<number>(40).fill(op) }) }), { src: [2, 0, 0, 0, 0, op], tags });
    const tail = (b: Uint8Array): number[] => u32s(b, b.length - 16, 4); // vlan_present, vlan_tci, vlan_proto, protocol
    const push = run(inst, 'skb_edit', frame(1));
    expect([push.retval, push.dataOut.length, ...tail(push.dataOut)]).toEqual([0, 82, 1, 5, 0x0081, 0x0008]);
    const twice = run(inst, 'skb_edit', frame(2));
    expect([twice.dataOut.length, rd16(twice.dataOut, 12), rd16(twice.dataOut, 14), ...tail(twice.dataOut)]).toEqual([86, 0x88a8, 7, 1, 9, 0x0081, 0xa888]);
    const pop = run(inst, 'skb_edit', frame(3, [[0x88a8, 10], [0x8100, 20]]));
    expect([pop.dataOut.length, rd16(pop.dataOut, 12), ...tail(pop.dataOut)]).toEqual([82, 0x0800, 1, 20, 0x0081, 0x0008]);
    expect(run(inst, 'skb_edit', frame(4)).dataOut.length).toBe(92);
    expect(run(inst, 'skb_edit', frame(5)).dataOut.length).toBe(77);
    const head = run(inst, 'skb_edit', frame(6)).dataOut;
    expect([...head.subarray(0, 8)]).toEqual(new Array<number>(8).fill(0));
    const room = run(inst, 'skb_edit', frame(7)).dataOut;
    expect([room.length, ...room.subarray(34, 42)]).toEqual([90, 0, 0, 0, 0, 0, 0, 0, 0]);
    const v6 = run(inst, 'skb_edit', frame(9));
    expect([v6.retval, v6.dataOut.length, tail(v6.dataOut)[3]]).toEqual([0, 102, 0xdd86]);
    expect(run(inst, 'skb_edit', frame(13)).retval).toBe(-12 >>> 0);
    expect(run(inst, 'skb_edit', frame(14)).retval).toBe(-13 >>> 0);
    expect(run(inst, 'skb_edit', frame(16)).retval).toBe(-524 >>> 0); // ENOTSUPP: shrinking past the IPv4 header
  });
});
