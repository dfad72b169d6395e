/**
 * bpf_redirect_peer, bpf_clone_redirect, bpf_skb_get_tunnel_key, bpf_skb_get_tunnel_opt and
 * bpf_skb_set_tunnel_opt through test-programs/c/tc_tunhelp.c on every engine, each probe's
 * answer as the kernel (6.18) gave it, and what the result records (the redirect, the clones,
 * the tunnel key and options); where root and bpftool work, the return values and output frames
 * are compared with the kernel's test run inside a namespace with the same devices; elsewhere
 * that part says so and skips.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { instantiate } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { HostNetwork } from '../packet/net.js';
import type { BpfInstance } from '../program.js';
import { kernelComparisonHost } from './netns.js';
import { tcProbe } from './frames.js';

const OBJECT = repoPath('test-programs/c/tc_tunhelp.o');
const bytes = new Uint8Array(readFileSync(OBJECT));
/** A veth pair (ifindex 5 and 6) next to the loopback device. */
const NET: HostNetwork = {
  interfaces: [
    { ifindex: 5, name: 'tv0', mac: '02:00:00:00:00:05' },
    { ifindex: 6, name: 'tv1', mac: '02:00:00:00:00:06' },
  ],
};
const ENGINES: { label: string; open: () => Promise<BpfInstance> }[] = [
  { label: '-O1', open: async () => instantiate((await compileObject(bytes)).wasm, { net: NET }) },
  { label: '-O0', open: async () => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm, { net: NET }) },
  { label: 'checked', open: async () => instantiate((await compileObject(bytes, { checked: true })).wasm, { net: NET }) },
  { label: 'interpreter', open: () => interpretModule(planObject(bytes, {}).image, { net: NET }) },
];

const ANS = 34 + 16;
/** A frame: Ethernet, a 20-byte IPv4 header, the request, room for the answer (24 + 44 + 16, padded to 88). */
function frame(op: number, a: number, b: bigint): Uint8Array {
  const { frame: f, view: v } = tcProbe(ANS + 88);
  v.setUint32(34, op, true);
  v.setUint32(38, a, true);
  v.setBigUint64(42, b, true);
  return f;
}

interface Answer { rc: number[]; key: string; opt: string }
function answer(out: Uint8Array): Answer {
  const v = new DataView(out.buffer, out.byteOffset + ANS, 84);
  const hex = (from: number, to: number): string => Buffer.from(out.subarray(ANS + from, ANS + to)).toString('hex');
  return { rc: [0, 8, 16].map((o) => Number(v.getBigInt64(o, true))), key: hex(24, 68), opt: hex(68, 84) };
}

const Z44 = '00'.repeat(44);
const Z16 = '00'.repeat(16);
/**
 * [label, request (op, a, b), retval, [rc1, rc2, rc3], key, options] as the kernel answered:
 * op 0 bpf_redirect_peer(a, b), 1 bpf_clone_redirect(a, b), 2 bpf_skb_get_tunnel_key without
 * metadata, 3 set_tunnel_key then get_tunnel_key, 4 get_tunnel_opt and set_tunnel_opt without a
 * key, 5 set_tunnel_key, set_tunnel_opt, get_tunnel_opt, get_tunnel_key, 6 a short option buffer
 * (test-programs/c/tc_tunhelp.c says which bits of a and b choose what).
 */
const EXPECTED: [string, number, number[], string, string][] = [
  ['redirect_peer 5', 7, [7, 0, 0], Z44, Z16],
  ['redirect_peer 5 flags 1', 2, [2, 0, 0], Z44, Z16],
  ['redirect_peer 99', 7, [7, 0, 0], Z44, Z16],
  ['clone_redirect lo', 0, [0, 0, 0], Z44, Z16],
  ['clone_redirect lo ingress', 0, [0, 0, 0], Z44, Z16],
  ['clone_redirect veth', 0, [0, 0, 0], Z44, Z16],
  ['clone_redirect veth ingress', 0, [0, 0, 0], Z44, Z16],
  ['clone_redirect flags 2', 0, [-22, 0, 0], Z44, Z16],
  ['clone_redirect 99', 0, [-22, 0, 0], Z44, Z16],
  ['get_tunnel_key none', 0, [-22, 0, 0], Z44, Z16],
  ['get_tunnel_key none v6', 0, [-22, 0, 0], Z44, Z16],
  ['get_tunnel_key none size 12', 0, [-22, 0, 0], Z44, Z16],
  ['set+get v4', 0, [0, 0, 0], '443322110200000a00000000000000000000000005400000000000000100000a000000000000000000000000', Z16],
  ['set+get v4 size 28', 0, [0, 0, 0], '443322110200000a000000000000000000000000054000000000000000000000000000000000000000000000', Z16],
  ['set+get v4 label', 0, [-22, -22, 0], Z44, Z16],
  ['set+get v4 as v6', 0, [0, -71, 0], Z44, Z16],
  ['set+get v4 flags', 0, [0, 0, 0], '443322110200000a00000000000000000000000005402005000000000100000a000000000000000000000000', Z16],
  ['set+get v4 DF|SEQ|ZERO_CSUM|NO_KEY flags', 0, [0, 0, 0], '443322110200000a00000000000000000000000005402108000000000100000a000000000000000000000000', Z16],
  ['set+get v4 bad get flag', 0, [0, -22, 0], Z44, Z16],
  ['set v4 bad flag 0x20', 0, [-22, -22, 0], Z44, Z16],
  ['set+get v6', 0, [0, 0, 0], '44332211fe8000000000000000000000000000020540000000000000fe800000000000000000000000000001', Z16],
  ['set+get v6 label', 0, [0, 0, 0], '44332211fe8000000000000000000000000000020540000007000000fe800000000000000000000000000001', Z16],
  ['set+get v6 as v4', 0, [0, -71, 0], Z44, Z16],
  ['get_opt none, set_opt no key', 0, [-2, -22, 0], Z44, Z16],
  ['set_opt 12', 0, [0, 0, 12], '443322110200000a0000000000000000000000000540f805000000000100000a000000000000000000000000', '0102030405060708090a0b0c00000000'],
  ['set_opt 8', 0, [0, 0, 8], '443322110200000a0000000000000000000000000540f805000000000100000a000000000000000000000000', '01020304050607080000000000000000'],
  ['set_opt 6', 0, [0, -22, -2], '443322110200000a00000000000000000000000005402005000000000100000a000000000000000000000000', Z16],
  ['set_opt 4', 0, [0, 0, 4], '443322110200000a0000000000000000000000000540f805000000000100000a000000000000000000000000', '01020304000000000000000000000000'],
  ['set_opt 12 v6', 0, [0, 0, 12], '44332211fe8000000000000000000000000000020540f80500000000fe800000000000000000000000000001', '0102030405060708090a0b0c00000000'],
  ['get_opt short buffer', 0, [0, 0, -12], Z44, Z16],
];
const REQUESTS: [number, number, bigint][] = [
  [0, 5, 0n], [0, 5, 1n], [0, 99, 0n],
  [1, 1, 0n], [1, 1, 1n], [1, 5, 0n], [1, 6, 1n], [1, 1, 2n], [1, 99, 0n],
  [2, 0, 0n], [2, 0, 1n], [2, 3, 0n],
  [3, 0, 0n], [3, 1, 0n], [3, 2, 0n], [3, 0x100, 0n], [3, 0x1000, 0n], [3, 0x1000, 0x1en], [3, 0x200, 0n], [3, 0, 0x20n],
  [3, 0x100, 1n], [3, 0x102, 1n], [3, 0, 1n],
  [4, 0, 0n],
  [5, 0, 0n], [5, 1, 0n], [5, 2, 0n], [5, 3, 0n], [5, 0, 1n],
  [6, 0, 0n],
];
/** A __sk_buff for ctx_in with gso_size 1400. */
function gsoCtx(): Uint8Array {
  const ctx = new Uint8Array(192);
  new DataView(ctx.buffer).setUint32(176, 1400, true);
  return ctx;
}
const PROBES: [string, Uint8Array][] = EXPECTED.map(([label], i) => [label, frame(...REQUESTS[i]!)]);

describe('bpf_redirect_peer, bpf_clone_redirect, the tunnel getters and bpf_skb_set_tunnel_opt', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: each probe answers as the kernel`, async () => {
      const inst = await engine.open();
      for (const [i, [label, retval, rc, key, opt]] of EXPECTED.entries()) {
        const r = inst.program('tc_tunhelp').test({ dataIn: PROBES[i]![1] });
        expect([label, r.retval, answer(r.dataOut)]).toEqual([label, retval, { rc, key, opt }]);
      }
    });
  }

  it('records the peer redirect, the clones (bytes when cloned) and the tunnel key with its options', async () => {
    const inst = await ENGINES[0]!.open();
    const p = inst.program('tc_tunhelp');
    expect(p.test({ dataIn: frame(0, 5, 0n) }).redirect).toEqual({ helper: 'bpf_redirect_peer', index: 5, flags: 0 });
    expect(p.test({ dataIn: frame(0, 5, 1n) }).redirect).toBeUndefined();
    const f = frame(1, 6, 1n);
    const r = p.test({ dataIn: f });
    expect(r.clones).toEqual([{ index: 6, flags: 1, data: f }]);
    expect(r.dataOut[33]).toBe(0xee);
    expect(p.test({ dataIn: frame(1, 99, 0n) }).clones).toBeUndefined();
    // Each of `repeat` runs sends a clone; the result keeps the first 256.
    // (the skb is the same over the runs, as the kernel's: the later clones carry the first run's mark)
    const marked = Uint8Array.from(f);
    marked[33] = 0xee;
    expect(p.test({ dataIn: f, repeat: 3 }).clones).toEqual([f, marked, marked].map((data) => ({ index: 6, flags: 1, data })));
    expect(p.test({ dataIn: f, repeat: 1000 }).clones).toHaveLength(256);
    const t = p.test({ dataIn: frame(5, 0, 0n) }).tunnelKey;
    expect(t).toEqual({
      tunnelId: 0x11223344, remote: 0x0a000001, local: 0x0a000002, tos: 5, ttl: 64, label: 0, flags: 0,
      options: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    });
    expect(p.test({ dataIn: frame(5, 2, 0n) }).tunnelKey?.options).toBeUndefined();
    expect(p.test({ dataIn: frame(4, 0, 0n) }).tunnelKey).toBeUndefined();
  });

  it('clone_redirect: a GSO skb without a GSO type is -EBADMSG, as the kernel', async () => {
    const inst = await ENGINES[0]!.open();
    const ctxIn = gsoCtx();
    const r = inst.program('tc_tunhelp').test({ dataIn: frame(1, 1, 0n), ctxIn });
    expect(answer(r.dataOut).rc[0]).toBe(-74);
    expect(r.clones).toBeUndefined();
  });
});

const { host, skip: SKIP } = kernelComparisonHost('tc-tunhelp.test.ts', 'tctun', NET, OBJECT);

describe('tc_tunhelp: the kernel', () => {
  if (typeof host === 'string') {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it('identical return values and output frames', async () => {
    const inst = await ENGINES[0]!.open();
    const mismatches: string[] = [];
    for (const [label, f] of PROBES) {
      const k = host.testRun('tc_tunhelp', f);
      const o = inst.program('tc_tunhelp').test({ dataIn: f });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      if (JSON.stringify(k) !== JSON.stringify(ours)) {
        const ka = 'dataOut' in k ? JSON.stringify([k.retval, answer(Buffer.from(k.dataOut, 'hex'))]) : JSON.stringify(k);
        mismatches.push(`${label}:\n  kernel   ${ka}\n  bpf2wasm ${JSON.stringify([o.retval, answer(o.dataOut)])}`);
      }
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 60_000);

  it('clone_redirect of a GSO skb without a GSO type: identical', async () => {
    const inst = await ENGINES[0]!.open();
    const f = frame(1, 1, 0n);
    const k = host.testRun('tc_tunhelp', f, gsoCtx());
    const o = inst.program('tc_tunhelp').test({ dataIn: f, ctxIn: gsoCtx() });
    expect(k).toEqual({ retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') });
  });
});
