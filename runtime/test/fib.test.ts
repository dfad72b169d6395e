/**
 * bpf_fib_lookup and bpf_redirect_neigh against host network state (`net`), without root: the
 * probes of fib-cases.ts give the kernel's return values (recorded from the kernel 6.18, which
 * fib-oracle.test.ts compares byte by byte where it can) on every engine, xdp_fwd forwards as
 * the kernel's sample does, and malformed host state is E_HOST_STATE naming the field.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { thrownBy } from '../../test/support/thrown.js';
import { Bpf2WasmError, ErrorCode } from '../errors.js';
import { instantiate, type InstantiateOptions } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { BpfInstance } from '../program.js';
import { checkHostNetwork, parseIp, type HostNetwork } from '../packet/net.js';
import { FWD_FRAMES, MTU_PROBES, mtuFrame, NET, PROBES, neighFrame, probeFrame, xdpCtx } from './fib-cases.js';
import { ETH_P, ether, inetChecksum, ipv4, udp } from './frames.js';

const bytes = new Uint8Array(readFileSync(repoPath('test-programs/c/xdp_fwd.o')));
const ENGINES: { label: string; open: (o: InstantiateOptions) => Promise<BpfInstance> }[] = [
  { label: '-O1', open: async (o) => instantiate((await compileObject(bytes)).wasm, o) },
  { label: '-O0', open: async (o) => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm, o) },
  { label: 'interpreter', open: (o) => interpretModule(planObject(bytes, {}).image, o) },
];
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const rcOf = (out: Uint8Array): number => new DataView(out.buffer, out.byteOffset).getInt32(18, true);
const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_REDIRECT = 4;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

describe('bpf_fib_lookup against host routes and neighbours', () => {
  const outputs: string[][] = [];
  for (const engine of ENGINES) {
    it(`${engine.label}: ${PROBES.length} probes give the kernel's return values`, async () => {
      const inst = await engine.open({ net: NET });
      const got = PROBES.map((p) => `${p.label}: ${rcOf(inst.program(p.tc ? 'fib_probe_tc' : 'fib_probe').test({ dataIn: probeFrame(p) }).dataOut)}`);
      expect(got).toEqual(PROBES.map((p) => `${p.label}: ${p.rc}`));
      outputs.push(PROBES.map((p) => hex(inst.program(p.tc ? 'fib_probe_tc' : 'fib_probe').test({ dataIn: probeFrame(p) }).dataOut)));
    });
  }
  it('every engine writes the same struct bpf_fib_lookup back', () => {
    expect(outputs.length).toBe(ENGINES.length);
    for (const o of outputs.slice(1)) expect(o).toEqual(outputs[0]);
  });

  it('a successful lookup fills ifindex, the gateway, the MACs, the metric and the MTU', async () => {
    const inst = await ENGINES[0]!.open({ net: NET });
    const out = inst.program('fib_probe').test({ dataIn: probeFrame(PROBES.find((p) => p.label === 'v4 via gateway with neighbour')!) }).dataOut;
    const s = 22;
    const v = new DataView(out.buffer, out.byteOffset);
    expect(v.getUint32(s + 8, true)).toBe(20);
    expect([...out.subarray(s + 32, s + 36)]).toEqual([10, 2, 0, 2]);
    expect(hex(out.subarray(s + 52, s + 58))).toBe('020000000b00');
    expect(hex(out.subarray(s + 58, s + 64))).toBe('020000000b02');
    expect(v.getUint16(s + 6, true)).toBe(1300);
    expect(v.getUint32(s + 12, true)).toBe(0);
  });

  it('FRAG_NEEDED reports the MTU in mtu_result; SKIP_NEIGH leaves the MACs alone', async () => {
    const inst = await ENGINES[0]!.open({ net: NET });
    const frag = inst.program('fib_probe').test({ dataIn: probeFrame({ label: '', ifindex: 10, dst: '10.50.9.9', totLen: 1500, rc: 8 }) }).dataOut;
    expect(rcOf(frag)).toBe(8);
    expect(new DataView(frag.buffer, frag.byteOffset).getUint16(22 + 6, true)).toBe(1200);
    const skip = inst.program('fib_probe').test({ dataIn: probeFrame({ label: '', ifindex: 10, dst: '10.30.9.9', flags: 4, rc: 0 }) }).dataOut;
    expect(rcOf(skip)).toBe(0);
    expect(hex(skip.subarray(22 + 52, 22 + 64))).toBe('ee'.repeat(12));
  });

  it('without host state: the test run host (lo only, forwarding off)', async () => {
    for (const engine of ENGINES) {
      const inst = await engine.open({});
      const run = (ifindex: number, dst: string): number => rcOf(inst.program('fib_probe').test({ dataIn: probeFrame({ label: '', ifindex, dst, rc: 0 }) }).dataOut);
      expect([run(1, '10.20.1.1'), run(10, '10.20.1.1'), run(1, '2001:db8:20::1'), run(2, '2001:db8:20::1')]).toEqual([5, -19, 5, -19]);
    }
  });

  it('a host interface with forwarding on and no routes: NOT_FWDED; with a default route: forwarded', async () => {
    const inst = await ENGINES[0]!.open({ net: { interfaces: [{ ifindex: 2, mac: '02:00:00:00:00:02', addresses: ['192.0.2.1/24'] }] } });
    expect(rcOf(inst.program('fib_probe').test({ dataIn: probeFrame({ label: '', ifindex: 2, dst: '198.51.100.1', rc: 0 }) }).dataOut)).toBe(4);
    const gw = await ENGINES[0]!.open({
      net: {
        interfaces: [{ ifindex: 2, mac: '02:00:00:00:00:02', addresses: ['192.0.2.1/24'] }],
        routes: [{ prefix: '0.0.0.0/0', via: '192.0.2.254' }],
        neighbours: [{ ip: '192.0.2.254', mac: '02:00:00:00:00:fe', ifindex: 2 }],
      },
    });
    const out = gw.program('fib_probe').test({ dataIn: probeFrame({ label: '', ifindex: 2, dst: '198.51.100.1', rc: 0 }) }).dataOut;
    expect(rcOf(out)).toBe(0);
    expect([...out.subarray(22 + 32, 22 + 36)]).toEqual([192, 0, 2, 254]);
  });
});

describe('bpf_check_mtu against the host interfaces', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: ${MTU_PROBES.length} probes give the kernel's return values and MTUs`, async () => {
      const inst = await engine.open({ net: NET });
      const mtus: Record<number, number> = { 0: 65536, 10: 1500, 20: 1300 };
      for (const p of MTU_PROBES) {
        const out = inst.program(p.tc ? 'mtu_probe_tc' : 'mtu_probe').test({ dataIn: mtuFrame(p) }).dataOut;
        const v = new DataView(out.buffer, out.byteOffset);
        const flagsBad = p.rc === -22;
        expect([p.label, v.getInt32(38, true), v.getUint32(18, true)]).toEqual([p.label, p.rc, flagsBad || p.rc === -19 ? 0 : mtus[p.ifindex]]);
      }
    });
  }
});

describe('xdp_fwd: the kernel sample forwarding through the host', () => {
  it('routes, rewrites MACs, decrements the TTL with a valid checksum and redirects to the egress interface', async () => {
    for (const engine of ENGINES) {
      const inst = await engine.open({ net: NET });
      const f = FWD_FRAMES[0]!;
      const r = inst.program('xdp_fwd').test({ dataIn: f.data, ctxIn: xdpCtx(f.ingress, f.data.length) });
      expect(r.retval).toBe(XDP_REDIRECT);
      expect(r.redirect).toEqual({ helper: 'bpf_redirect', index: 20, flags: 0 });
      expect(hex(r.dataOut.subarray(0, 12))).toBe('020000000b02020000000b00');
      expect(r.dataOut[14 + 8]).toBe(63);
      expect(inetChecksum(r.dataOut.subarray(14, 34))).toBe(0);
      const v6 = inst.program('xdp_fwd').test({ dataIn: FWD_FRAMES[6]!.data, ctxIn: xdpCtx(10, FWD_FRAMES[6]!.data.length) });
      expect([v6.retval, v6.redirect?.index, v6.dataOut[14 + 7], hex(v6.dataOut.subarray(0, 6))]).toEqual([XDP_REDIRECT, 20, 63, '020000000b22']);
      const verdicts = FWD_FRAMES.map((x) => inst.program('xdp_fwd').test({ dataIn: x.data, ctxIn: xdpCtx(x.ingress, x.data.length) }).retval);
      expect(verdicts).toEqual([XDP_REDIRECT, XDP_PASS, XDP_DROP, XDP_PASS, XDP_PASS, XDP_PASS, XDP_REDIRECT, XDP_DROP, XDP_PASS]);
    }
  });

  it('xdp_md.ingress_ifindex may name a host interface (its rx queues), not an unknown one', async () => {
    const inst = await ENGINES[0]!.open({ net: NET });
    const f = FWD_FRAMES[0]!.data;
    const ctx = xdpCtx(10, f.length);
    new DataView(ctx.buffer).setUint32(16, 1, true);
    expect(thrownBy(() => inst.program('xdp_fwd').test({ dataIn: f, ctxIn: ctx }), Bpf2WasmError).message).toMatch(/EINVAL: device 10 has 1 rx queue/);
    expect(thrownBy(() => inst.program('xdp_fwd').test({ dataIn: f, ctxIn: xdpCtx(12, f.length) }), Bpf2WasmError).code).toBe(ErrorCode.TestRun);
    const plain = await ENGINES[0]!.open({});
    expect(thrownBy(() => plain.program('xdp_fwd').test({ dataIn: f, ctxIn: xdpCtx(10, f.length) }), Bpf2WasmError).message).toMatch(/ENODEV/);
  });

  it('an skb test run on a host interface: __sk_buff.ifindex and pkt_type by its MAC', async () => {
    const inst = await ENGINES[0]!.open({ net: NET });
    const ctx = new Uint8Array(192);
    new DataView(ctx.buffer).setUint32(40, 20, true);
    const toB0 = ether(ETH_P.IP, ipv4({ proto: 17, dst: '10.20.1.1', payload: udp({ dport: 53 }) }), { dst: [2, 0, 0, 0, 0x0b, 0] });
    const r = inst.program('fib_probe_tc').test({ dataIn: new Uint8Array([...toB0, ...new Uint8Array(40)]), ctxIn: ctx });
    expect(new DataView(r.ctxOut!.buffer).getUint32(40, true)).toBe(20);
  });
});

describe('bpf_redirect_neigh: the redirect and its nexthop recorded', () => {
  it('with a nexthop given, with the route to the destination, and refused flags', async () => {
    for (const engine of ENGINES) {
      const inst = await engine.open({ net: NET });
      const run = (f: Uint8Array): { retval: number; redirect: unknown } => {
        const r = inst.program('tc_neigh').test({ dataIn: f });
        return { retval: r.retval, redirect: r.redirect };
      };
      expect(run(neighFrame('10.20.1.1', 20, '10.2.0.2'))).toEqual({ retval: TC_ACT_REDIRECT, redirect: { helper: 'bpf_redirect_neigh', index: 20, flags: 0, nexthop: '10.2.0.2', mac: '02:00:00:00:0b:02' } });
      expect(run(neighFrame('10.20.1.1', 20))).toEqual({ retval: TC_ACT_REDIRECT, redirect: { helper: 'bpf_redirect_neigh', index: 20, flags: 0, nexthop: '10.2.0.2', mac: '02:00:00:00:0b:02' } });
      expect(run(neighFrame('10.30.1.1', 20))).toEqual({ retval: TC_ACT_REDIRECT, redirect: { helper: 'bpf_redirect_neigh', index: 20, flags: 0, nexthop: '10.2.0.3' } });
      expect(run(neighFrame('10.20.1.1', 20, '2001:db8:2::2'))).toEqual({ retval: TC_ACT_REDIRECT, redirect: { helper: 'bpf_redirect_neigh', index: 20, flags: 0, nexthop: '2001:db8:2:0:0:0:0:2', mac: '02:00:00:00:0b:22' } });
      expect(run(neighFrame('10.20.1.1', 20, undefined, 1))).toEqual({ retval: TC_ACT_SHOT, redirect: undefined });
    }
  });
  it('without host state: the redirect and the given nexthop only', async () => {
    const inst = await ENGINES[0]!.open({});
    expect(inst.program('tc_neigh').test({ dataIn: neighFrame('10.20.1.1', 1) }).redirect).toEqual({ helper: 'bpf_redirect_neigh', index: 1, flags: 0 });
    expect(inst.program('tc_neigh').test({ dataIn: neighFrame('10.20.1.1', 1, '10.9.9.9') }).redirect).toEqual({ helper: 'bpf_redirect_neigh', index: 1, flags: 0, nexthop: '10.9.9.9' });
  });
});

describe('malformed host network state: E_HOST_STATE naming the field', () => {
  const cases: [string, unknown, string][] = [
    ['not an object', 42, 'net'],
    ['unknown top-level field', { routez: [] }, 'net.routez'],
    ['interfaces not an array', { interfaces: {} }, 'net.interfaces'],
    ['ifindex 0', { interfaces: [{ ifindex: 0 }] }, 'net.interfaces[0].ifindex'],
    ['ifindex not an integer', { interfaces: [{ ifindex: 2.5 }] }, 'net.interfaces[0].ifindex'],
    ['duplicate ifindex', { interfaces: [{ ifindex: 2 }, { ifindex: 2 }] }, 'net.interfaces[1].ifindex'],
    ['bad MAC', { interfaces: [{ ifindex: 2, mac: '02:00:00:00:00' }] }, 'net.interfaces[0].mac'],
    ['MTU too small', { interfaces: [{ ifindex: 2, mtu: 10 }] }, 'net.interfaces[0].mtu'],
    ['forwarding not a boolean', { interfaces: [{ ifindex: 2, forwarding: 'yes' }] }, 'net.interfaces[0].forwarding'],
    ['bad interface address', { interfaces: [{ ifindex: 2, addresses: ['10.0.0.300/24'] }] }, 'net.interfaces[0].addresses[0]'],
    ['unknown interface field', { interfaces: [{ ifindex: 2, speed: 10 }] }, 'net.interfaces[0].speed'],
    ['bad prefix', { routes: [{ prefix: '10.0.0/8', ifindex: 1 }] }, 'net.routes[0].prefix'],
    ['prefix length too long', { routes: [{ prefix: '10.0.0.0/33', ifindex: 1 }] }, 'net.routes[0].prefix'],
    ['host bits past the prefix', { routes: [{ prefix: '10.0.0.1/8', ifindex: 1 }] }, 'net.routes[0].prefix'],
    ['IPv6 host bits past the prefix', { routes: [{ prefix: '2001:db8::1/32', ifindex: 1 }] }, 'net.routes[0].prefix'],
    ['bad IPv6', { routes: [{ prefix: '2001:db8:::/32', ifindex: 1 }] }, 'net.routes[0].prefix'],
    ['unknown route interface', { routes: [{ prefix: '10.0.0.0/8', ifindex: 7 }] }, 'net.routes[0].ifindex'],
    ['unreachable gateway', { routes: [{ prefix: '10.0.0.0/8', via: '192.0.2.1' }] }, 'net.routes[0].via'],
    ['bad gateway', { routes: [{ prefix: '10.0.0.0/8', via: 'gateway' }] }, 'net.routes[0].via'],
    ['IPv6 route with an IPv4 gateway', { routes: [{ prefix: '2001:db8::/32', via: '10.0.0.1', ifindex: 1 }] }, 'net.routes[0].via'],
    ['gateway on a blackhole', { routes: [{ prefix: '10.0.0.0/8', type: 'blackhole', via: '10.0.0.1' }] }, 'net.routes[0].via'],
    ['unicast route without interface or gateway', { routes: [{ prefix: '10.0.0.0/8' }] }, 'net.routes[0]'],
    ['unknown route type', { routes: [{ prefix: '10.0.0.0/8', type: 'nat' }] }, 'net.routes[0].type'],
    ['negative metric', { routes: [{ prefix: '10.0.0.0/8', ifindex: 1, metric: -1 }] }, 'net.routes[0].metric'],
    ['route MTU below the minimum', { routes: [{ prefix: '2001:db8::/32', ifindex: 1, mtu: 1000 }] }, 'net.routes[0].mtu'],
    ['src of the other family', { routes: [{ prefix: '10.0.0.0/8', ifindex: 1, src: '::1' }] }, 'net.routes[0].src'],
    ['duplicate route', { routes: [{ prefix: '10.0.0.0/8', ifindex: 1 }, { prefix: '10.0.0.0/8', type: 'blackhole' }] }, 'net.routes[1].prefix'],
    ['neighbour without MAC', { neighbours: [{ ip: '10.0.0.1', ifindex: 1 }] }, 'net.neighbours[0].mac'],
    ['neighbour bad address', { neighbours: [{ ip: '10.0.0', mac: '02:00:00:00:00:01', ifindex: 1 }] }, 'net.neighbours[0].ip'],
    ['neighbour on an unknown interface', { neighbours: [{ ip: '10.0.0.1', mac: '02:00:00:00:00:01', ifindex: 3 }] }, 'net.neighbours[0].ifindex'],
    ['neighbour bad state', { neighbours: [{ ip: '10.0.0.1', mac: '02:00:00:00:00:01', ifindex: 1, state: 'gone' }] }, 'net.neighbours[0].state'],
    ['duplicate neighbour', { neighbours: [{ ip: '10.0.0.1', mac: '02:00:00:00:00:01', ifindex: 1 }, { ip: '10.0.0.1', mac: '02:00:00:00:00:02', ifindex: 1 }] }, 'net.neighbours[1].ip'],
  ];
  for (const [label, net, field] of cases) {
    it(label, () => {
      const e = thrownBy(() => checkHostNetwork(net), Bpf2WasmError);
      expect([e.code, e.location.field]).toEqual([ErrorCode.HostState, field]);
    });
  }
  it('instantiate refuses bad state before anything runs, on both engines', async () => {
    for (const engine of ENGINES) {
      const e = await engine.open({ net: { routes: [{ prefix: '10.0.0.1/8', ifindex: 1 }] } as HostNetwork }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(Bpf2WasmError);
      expect((e as Bpf2WasmError).code).toBe(ErrorCode.HostState);
      expect((e as Bpf2WasmError).message).toContain('field net.routes[0].prefix');
    }
  });
  it('IPv6 addresses parse as the kernel writes them', () => {
    expect(Buffer.from(parseIp('::')!).toString('hex')).toBe('0'.repeat(32));
    expect(Buffer.from(parseIp('::ffff:10.0.0.1')!).toString('hex')).toBe('00000000000000000000ffff0a000001');
    expect(Buffer.from(parseIp('2001:db8::1')!).toString('hex')).toBe('20010db8000000000000000000000001');
    for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', '01.2.3.4', '1.2.3.4.5', ':::', '']) expect(parseIp(bad)).toBeUndefined();
  });
});
