/**
 * The socket helpers against `net.sockets`, without root: the probes of sk-cases.ts find the
 * sockets the kernel finds (sk-oracle.test.ts compares the bytes where it can) on every engine,
 * `struct bpf_sock` holds the socket's fields, time-wait / request sockets, bound devices,
 * reference tracking, and malformed sockets (E_HOST_STATE naming the field).
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
import { checkHostNetwork, type HostNetwork } from '../packet/net.js';
import { ANSWER_AT, SOCK_NET, SOCK_PROBES, SOCKETS, SYN_FRAMES, sockFrame, type SockProbe } from './sk-cases.js';

const engines = (object: string): { label: string; open: (o: InstantiateOptions) => Promise<BpfInstance> }[] => {
  const bytes = new Uint8Array(readFileSync(repoPath(`test-programs/c/${object}.o`)));
  return [
    { label: '-O1', open: async (o) => instantiate((await compileObject(bytes)).wasm, o) },
    { label: '-O0', open: async (o) => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm, o) },
    { label: 'checked', open: async (o) => instantiate((await compileObject(bytes, { checked: true })).wasm, o) },
    { label: 'interpreter', open: (o) => interpretModule(planObject(bytes, {}).image, o) },
  ];
};
const ENGINES = engines('sk_lookup');

interface Answer {
  found: number; family: number; type: number; protocol: number; srcPort: number; dstPort: number; state: number;
  srcIp4: string; dstIp4: string; rxQueue: number; cookieNonzero: number; uid: number;
}
function answer(out: Uint8Array): Answer {
  const v = new DataView(out.buffer, out.byteOffset + ANSWER_AT);
  const u = (i: number): number => v.getUint32(4 * i, true);
  const ip4 = (i: number): string => [...out.subarray(ANSWER_AT + 4 * i, ANSWER_AT + 4 * i + 4)].join('.');
  return {
    found: v.getInt32(0, true), family: u(1), type: u(2), protocol: u(3), srcIp4: ip4(7), srcPort: u(12), dstPort: v.getUint16(13 * 4, false),
    dstIp4: ip4(14), state: u(19), rxQueue: v.getInt32(20 * 4, true), cookieNonzero: u(21), uid: u(22),
  };
}
const run = (inst: BpfInstance, p: SockProbe): Answer => answer(inst.program(p.tc ? 'sk_probe_tc' : 'sk_probe').test({ dataIn: sockFrame(p) }).dataOut);

describe('bpf_sk_lookup_tcp / _udp, bpf_skc_lookup_tcp against net.sockets', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: each probe finds the socket the kernel finds, its struct bpf_sock as the kernel fills it`, async () => {
      const inst = await engine.open({ net: SOCK_NET });
      for (const p of SOCK_PROBES) {
        const a = run(inst, p);
        expect([p.label, a.found]).toEqual([p.label, p.finds >= 0 ? 1 : 0]);
        if (p.finds < 0) continue;
        const s = SOCKETS[p.finds]!;
        const [lip, lport] = s.local.replace(/^\[|\](?=:)/g, '').split(/:(?=\d+$)/);
        expect([p.label, a.family, a.srcPort, a.rxQueue]).toEqual([p.label, lip!.includes(':') ? 10 : 2, Number(lport), p.op === 'skc' ? 0 : -1]);
        if (p.op !== 'skc') expect([p.label, a.protocol, a.type]).toEqual([p.label, s.protocol === 'tcp' ? 6 : 17, s.protocol === 'tcp' ? 1 : 2]);
        const state = s.remote ? 1 : s.protocol === 'tcp' ? 10 : 7;
        expect([p.label, a.state]).toEqual([p.label, state]);
        if (s.remote) expect([p.label, a.dstPort]).toEqual([p.label, Number(s.remote.split(':').pop())]);
      }
    });
  }
  it('tc runs see the dummy socket of the test run: a cookie, uid 0', async () => {
    const inst = await ENGINES[0]!.open({ net: SOCK_NET });
    const a = run(inst, SOCK_PROBES.find((p) => p.tc)!);
    expect([a.cookieNonzero, a.uid]).toEqual([1, 0]);
  });
  it('without sockets every lookup is NULL (no host state, or none listed)', async () => {
    for (const opts of [{}, { net: { interfaces: [] } }]) {
      const inst = await ENGINES[0]!.open(opts);
      expect(SOCK_PROBES.map((p) => run(inst, p).found)).toEqual(SOCK_PROBES.map(() => 0));
    }
  });
  it('time-wait: bpf_skc_lookup_tcp finds it, bpf_sk_lookup_tcp does not; a request socket stands for its listener', async () => {
    const net: HostNetwork = {
      sockets: [
        { protocol: 'tcp', local: '10.0.0.1:80', remote: '10.0.0.2:5000', state: 'time-wait' },
        { protocol: 'tcp', local: '10.0.0.1:80', remote: '10.0.0.3:5000', state: 'syn-recv' },
        { protocol: 'tcp', local: '10.0.0.1:80' },
      ],
    };
    const inst = await ENGINES[0]!.open({ net });
    const tw = { label: '', src: '10.0.0.2:5000', dst: '10.0.0.1:80', finds: 0 };
    expect(run(inst, { ...tw, op: 'skc' })).toMatchObject({ found: 1, state: 6 });
    expect(run(inst, { ...tw, op: 'tcp' })).toMatchObject({ found: 0 });
    expect(run(inst, { label: '', op: 'tcp', src: '10.0.0.3:5000', dst: '10.0.0.1:80', finds: 2 })).toMatchObject({ found: 1, state: 10, dstPort: 0 });
    expect(run(inst, { label: '', op: 'skc', src: '10.0.0.3:5000', dst: '10.0.0.1:80', finds: 1 })).toMatchObject({ found: 1, state: 12 }); // TCP_NEW_SYN_RECV (skc-oracle.test.ts: the kernel's)
  });
  it('a socket bound to a device is found only for packets on it', async () => {
    const net: HostNetwork = { interfaces: [{ ifindex: 5 }], sockets: [{ protocol: 'udp', local: '0.0.0.0:53', ifindex: 5 }] };
    const inst = await ENGINES[0]!.open({ net });
    const p: SockProbe = { label: '', op: 'udp', src: '10.0.0.9:1000', dst: '10.0.0.1:53', finds: 0 };
    expect(run(inst, p).found).toBe(0);
    const ctx = new Uint8Array(24);
    const frame = sockFrame(p);
    new DataView(ctx.buffer).setUint32(4, frame.length, true);
    new DataView(ctx.buffer).setUint32(12, 5, true);
    expect(answer(inst.program('sk_probe').test({ dataIn: frame, ctxIn: ctx }).dataOut).found).toBe(1);
  });
  it('a run that returns holding a reference fails (the kernel refuses such a program: Unreleased reference)', async () => {
    for (const engine of engines('sk_leak')) {
      const inst = await engine.open({ net: SOCK_NET });
      expect(inst.program('sk_leak').test({ dataIn: new Uint8Array(60) }).retval).toBe(0);
      const e = thrownBy(() => inst.program('sk_leak').test({ dataIn: new Uint8Array(120) }), Bpf2WasmError);
      expect([e.code, e.location.helper, e.location.program]).toEqual([ErrorCode.HelperFailed, 'bpf_sk_release', 'sk_leak']);
      // The instance stays usable.
      expect(inst.program('sk_leak').test({ dataIn: new Uint8Array(60) }).retval).toBe(0);
    }
  });
});

describe('bpf_tcp_gen_syncookie / bpf_tcp_check_syncookie on a host with tcp_syncookies = 1', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: the kernel's checks in order, then ENOENT (no listener overflowed)`, async () => {
      const inst = await engine.open({ net: SOCK_NET });
      expect(SYN_FRAMES.map((f) => `${f.label}: ${inst.program('syn_cookie').test({ dataIn: f.data }).retval.toString(16)}`))
        .toEqual(SYN_FRAMES.map((f) => `${f.label}: ${f.retval.toString(16)}`));
    });
  }
});

describe('malformed sockets: E_HOST_STATE naming the field', () => {
  const cases: [string, unknown, string][] = [
    ['sockets not an array', { sockets: 1 }, 'net.sockets'],
    ['unknown protocol', { sockets: [{ protocol: 'sctp', local: '10.0.0.1:1' }] }, 'net.sockets[0].protocol'],
    ['local without port', { sockets: [{ protocol: 'tcp', local: '10.0.0.1' }] }, 'net.sockets[0].local'],
    ['port too large', { sockets: [{ protocol: 'tcp', local: '10.0.0.1:70000' }] }, 'net.sockets[0].local'],
    ['IPv6 without brackets', { sockets: [{ protocol: 'tcp', local: '2001:db8::1:80' }] }, 'net.sockets[0].local'],
    ['remote of another family', { sockets: [{ protocol: 'tcp', local: '10.0.0.1:1', remote: '[::1]:2' }] }, 'net.sockets[0].remote'],
    ['unknown state', { sockets: [{ protocol: 'tcp', local: '10.0.0.1:1', state: 'open' }] }, 'net.sockets[0].state'],
    ['UDP listening', { sockets: [{ protocol: 'udp', local: '10.0.0.1:1', state: 'listen' }] }, 'net.sockets[0].state'],
    ['listener with a remote', { sockets: [{ protocol: 'tcp', local: '10.0.0.1:1', remote: '10.0.0.2:2', state: 'listen' }] }, 'net.sockets[0].remote'],
    ['bound to an unknown interface', { sockets: [{ protocol: 'tcp', local: '10.0.0.1:1', ifindex: 9 }] }, 'net.sockets[0].ifindex'],
    ['unknown field', { sockets: [{ protocol: 'tcp', local: '10.0.0.1:1', cookie: 5 }] }, 'net.sockets[0].cookie'],
  ];
  for (const [label, net, field] of cases) {
    it(label, () => {
      const e = thrownBy(() => checkHostNetwork(net), Bpf2WasmError);
      expect([e.code, e.location.field]).toEqual([ErrorCode.HostState, field]);
    });
  }
});
