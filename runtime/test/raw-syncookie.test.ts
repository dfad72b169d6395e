/**
 * The raw SYN cookie helpers (runtime/packet/syncookie.ts) through test-programs/c/raw_syncookie.c
 * from XDP and tc on every engine: the MSS bits of the result (the kernel's tables), the errors
 * for bad lengths, a cookie made and then checked, cookies of another secret or too old refused.
 * The kernel's cookies depend on its boot secret, so where root and bpftool work the kernel's test
 * run is compared on everything else: retval, the MSS bits, the errors, the check of a cookie made
 * in the same run, and the frames but for the cookie's bytes; and a cookie the kernel made is
 * accepted by the kernel and refused here, one made here the reverse.
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
import { checkHostNetwork } from '../packet/net.js';
import { rawCheckSyncookie, rawGenSyncookie, siphash24, type SyncookieKeys } from '../packet/syncookie.js';
import { kernelComparisonHost } from './netns.js';

const OBJECT = repoPath('test-programs/c/raw_syncookie.o');
const bytes = new Uint8Array(readFileSync(OBJECT));
const ENGINES: { label: string; open: (o?: InstantiateOptions) => Promise<BpfInstance> }[] = [
  { label: '-O1', open: async (o) => instantiate((await compileObject(bytes)).wasm, o) },
  { label: '-O0', open: async (o) => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm, o) },
  { label: 'checked', open: async (o) => instantiate((await compileObject(bytes, { checked: true })).wasm, o) },
  { label: 'interpreter', open: (o) => interpretModule(planObject(bytes, {}).image, o ?? {}) },
];
const PROGRAMS = ['cookie_xdp', 'cookie_tc'] as const;
const EINVAL = -22n;
const EACCES = -13n;

/** A SYN (Ethernet, IPv4 or IPv6, TCP with `options`), padded, then the request. */
function frame(v6: boolean, options: number[], op: number, thLen?: number, seq = 0x11223344): Uint8Array {
  const ip = v6 ? 40 : 20;
  const th = 14 + ip;
  const f = new Uint8Array(th + 60 + 8 + 16);
  const v = new DataView(f.buffer);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  v.setUint16(12, v6 ? 0x86dd : 0x0800);
  const doff = 5 + Math.ceil(options.length / 4);
  if (v6) {
    f[14] = 0x60;
    v.setUint16(18, doff * 4);
    f[20] = 6;
    f[21] = 64;
    f.set([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1], 22);
    f.set([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 2], 38);
  } else {
    f[14] = 0x45;
    v.setUint16(16, 20 + doff * 4);
    f[22] = 64;
    f[23] = 6;
    f.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
  }
  v.setUint16(th, 40000);
  v.setUint16(th + 2, 80);
  v.setUint32(th + 4, seq);
  f[th + 12] = doff << 4;
  f[th + 13] = 0x02; // SYN
  v.setUint16(th + 14, 64240);
  f.set(options, th + 20);
  v.setUint32(th + 60, op, true);
  v.setUint32(th + 64, thLen ?? doff * 4, true);
  return f;
}
const mssOption = (mss: number): number[] => [2, 4, mss >> 8, mss & 0xff];
const answer = (f: Uint8Array): [bigint, bigint] => {
  const v = new DataView(f.buffer, f.byteOffset + f.length - 16, 16);
  return [v.getBigInt64(0, true), v.getBigInt64(8, true)];
};

/** [label, v6, TCP options, the MSS the result carries] */
const MSS_CASES: [string, boolean, number[], number][] = [
  ['v4 no option', false, [], 536],
  ['v4 mss 100', false, mssOption(100), 536],
  ['v4 mss 1299', false, mssOption(1299), 536],
  ['v4 mss 1300', false, mssOption(1300), 1300],
  ['v4 mss 1440', false, mssOption(1440), 1440],
  ['v4 mss 1460', false, mssOption(1460), 1460],
  ['v4 mss 9000', false, mssOption(9000), 1460],
  ['v4 mss 0 (ignored)', false, mssOption(0), 536],
  ['v4 nop, wscale, mss 1440, two mss (the last wins)', false, [1, 3, 3, 7, ...mssOption(1300), ...mssOption(1440)], 1440],
  ['v4 mss after EOL (not read)', false, [0, 0, 0, 0, ...mssOption(1460)], 536],
  ['v4 bad option length (stops)', false, [8, 1, 0, 0, ...mssOption(1460)], 536],
  ['v6 no option', true, [], 1220],
  ['v6 mss 1220', true, mssOption(1220), 1220],
  ['v6 mss 1419', true, mssOption(1419), 1220],
  ['v6 mss 1420', true, mssOption(1420), 1420],
  ['v6 mss 1460', true, mssOption(1460), 1440],
  ['v6 mss 8940', true, mssOption(8940), 8940],
  ['v6 mss 65535', true, mssOption(65535), 8940],
  ['v6 mss 536', true, mssOption(536), 1220],
];

/** [label, frame, gen's error] for lengths the helper refuses. */
const LENGTH_CASES: [string, Uint8Array, bigint][] = [
  ['v4 th_len 16', frame(false, [], 0, 16), EINVAL],
  ['v4 th_len 24, doff 5', frame(false, [], 0, 24), EINVAL],
  ['v4 th_len 20, doff 6', frame(false, mssOption(1460), 0, 20), EINVAL],
  ['v6 th_len 19', frame(true, [], 0, 19), EINVAL],
  ['v6 th_len 60, doff 5', frame(true, [], 0, 60), EINVAL],
];

describe('raw SYN cookies on every engine', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: the MSS bits, the errors, a cookie made then checked`, async () => {
      const inst = await engine.open();
      for (const prog of PROGRAMS) {
        for (const [label, v6, opts, mss] of MSS_CASES) {
          const [gen] = answer(inst.program(prog).test({ dataIn: frame(v6, opts, 0) }).dataOut);
          expect([prog, label, gen >> 32n]).toEqual([prog, label, BigInt(mss)]);
          const r = inst.program(prog).test({ dataIn: frame(v6, opts, 2) });
          const [gen2, check] = answer(r.dataOut);
          expect([prog, label, gen2 >> 32n, check]).toEqual([prog, label, BigInt(mss), 0n]);
          // The ACK carries the cookie + 1 and the SYN's seq + 1.
          const th = 14 + (v6 ? 40 : 20);
          const dv = new DataView(r.dataOut.buffer, r.dataOut.byteOffset);
          expect([dv.getUint32(th + 4), dv.getUint32(th + 8)]).toEqual([0x11223345, (Number(gen2 & 0xffffffffn) + 1) >>> 0]);
        }
        for (const [label, f, err] of LENGTH_CASES) {
          expect([prog, label, answer(inst.program(prog).test({ dataIn: f }).dataOut)[0]]).toEqual([prog, label, err]);
        }
        // A SYN's own ack_seq (0) is no cookie.
        expect(answer(inst.program(prog).test({ dataIn: frame(false, [], 1) }).dataOut)[1]).toBe(EACCES);
        expect(answer(inst.program(prog).test({ dataIn: frame(true, [], 1) }).dataOut)[1]).toBe(EACCES);
      }
    });
  }

  it('another instance (another secret) refuses the cookie; the same host secret accepts it', async () => {
    const made = (await ENGINES[1]!.open()).program('cookie_xdp').test({ dataIn: frame(false, mssOption(1460), 2) }).dataOut;
    const ack = made.slice();
    new DataView(ack.buffer).setUint32(14 + 20 + 60, 1, true);
    expect(answer((await ENGINES[1]!.open()).program('cookie_xdp').test({ dataIn: ack }).dataOut)[1]).toBe(EACCES);
    const secret = 'a5'.repeat(64);
    const a = await ENGINES[1]!.open({ net: { syncookieSecret: secret } });
    const b = await ENGINES[3]!.open({ net: { syncookieSecret: secret } });
    const fromA = a.program('cookie_tc').test({ dataIn: frame(true, mssOption(1440), 2) }).dataOut;
    const check = fromA.slice();
    new DataView(check.buffer).setUint32(14 + 40 + 60, 1, true);
    expect(answer(b.program('cookie_tc').test({ dataIn: check }).dataOut)[1]).toBe(0n);
    // The same flow with another source port is refused.
    check[14 + 40 + 1] ^= 1;
    expect(answer(b.program('cookie_tc').test({ dataIn: check }).dataOut)[1]).toBe(EACCES);
  });

  it('a cookie lasts two minutes; the MSS index must be in the table', () => {
    let minute = 1000;
    const keys: SyncookieKeys = { secret: new Uint8Array(64).map((_, i) => i * 7), minutes: () => minute };
    for (const v6 of [false, true]) {
      const f = frame(v6, mssOption(1440), 0);
      const th = 14 + (v6 ? 40 : 20);
      const gen = rawGenSyncookie(keys, f, 14, th, 24, v6);
      const dv = new DataView(f.buffer);
      dv.setUint32(th + 4, 0x11223345);
      dv.setUint32(th + 8, (Number(gen & 0xffffffffn) + 1) >>> 0);
      expect(rawCheckSyncookie(keys, f, 14, th, v6)).toBe(0);
      minute = 1001;
      expect(rawCheckSyncookie(keys, f, 14, th, v6)).toBe(0);
      minute = 1002;
      expect(rawCheckSyncookie(keys, f, 14, th, v6)).toBe(-13);
      minute = 1000;
      // Data past the table: the cookie's MSS bits + 4 (a valid hash, an index of 5).
      dv.setUint32(th + 8, (Number(gen & 0xffffffffn) + 1 + 4) >>> 0);
      expect(rawCheckSyncookie(keys, f, 14, th, v6)).toBe(-13);
      // Pointers outside memory: -EFAULT (the kernel's verifier would refuse the program).
      expect(rawGenSyncookie(keys, f, f.length - 10, th, 20, v6)).toBe(-14n);
      expect(rawCheckSyncookie(keys, f, 14, f.length - 4, v6)).toBe(-14);
    }
  });

  it('SipHash-2-4 gives the reference vectors', () => {
    const key = new Uint8Array(16).map((_, i) => i);
    // From the SipHash paper (Aumasson and Bernstein), appendix A: 15 bytes 00..0e.
    expect(siphash24(key, new Uint8Array(15).map((_, i) => i))).toBe(0xa129ca6149be45e5n);
    // The reference implementation's vectors.h: the empty message and 8 bytes 00..07.
    expect(siphash24(key, new Uint8Array(0))).toBe(0x726fdb47dd0e0e31n);
    expect(siphash24(key, new Uint8Array(8).map((_, i) => i))).toBe(0x93f5f5799a932462n);
  });

  it('a malformed secret is E_HOST_STATE naming the field', () => {
    for (const bad of ['a5'.repeat(63), 'zz'.repeat(64), 7]) {
      const e = thrownBy(() => checkHostNetwork({ syncookieSecret: bad }), Bpf2WasmError);
      expect([e.code, e.location.field]).toEqual([ErrorCode.HostState, 'net.syncookieSecret']);
    }
  });
});

// ---- the kernel ----

const { host, skip: SKIP } = kernelComparisonHost('raw-syncookie.test.ts', 'rawcookie', {}, OBJECT);

/** A test run's result with the cookie's bytes masked: the ACK's ack_seq and gen's low 32 bits. */
function masked(v6: boolean, retval: number, out: Uint8Array): string {
  const o = new Uint8Array(out);
  const th = 14 + (v6 ? 40 : 20);
  const [gen] = answer(o);
  if (gen >= 0n) {
    o.fill(0, th + 8, th + 12);
    o.fill(0, o.length - 16, o.length - 12);
  }
  return `${retval} ${Buffer.from(o).toString('hex')}`;
}

describe('raw SYN cookies: the kernel', () => {
  if (typeof host === 'string') {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it('identical results but for the cookies themselves', async () => {
    const inst = await ENGINES[0]!.open();
    const mismatches: string[] = [];
    const probes: [string, boolean, Uint8Array][] = [
      ...MSS_CASES.flatMap(([label, v6, opts]): [string, boolean, Uint8Array][] => [[`${label} gen`, v6, frame(v6, opts, 0)], [`${label} gen+check`, v6, frame(v6, opts, 2)]]),
      ...LENGTH_CASES.map(([label, f]): [string, boolean, Uint8Array] => [label, label.startsWith('v6'), f]),
      ['v4 check of a SYN', false, frame(false, [], 1)],
      ['v6 check of a SYN', true, frame(true, [], 1)],
    ];
    for (const prog of PROGRAMS) {
      for (const [label, v6, f] of probes) {
        const k = host.testRun(prog, f);
        const o = inst.program(prog).test({ dataIn: f });
        const theirs = 'error' in k ? k.error : masked(v6, k.retval, Buffer.from(k.dataOut, 'hex'));
        const ours = masked(v6, o.retval, o.dataOut);
        if (theirs !== ours) mismatches.push(`${prog} ${label}:\n  kernel   ${theirs}\n  bpf2wasm ${ours}`);
      }
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 60_000);

  it("the kernel's cookie checks in the kernel and not here; ours the reverse", async () => {
    const inst = await ENGINES[0]!.open();
    for (const v6 of [false, true]) {
      const asCheck = (out: Uint8Array): Uint8Array => {
        const c = new Uint8Array(out);
        new DataView(c.buffer).setUint32(14 + (v6 ? 40 : 20) + 60, 1, true);
        return c;
      };
      const k = host.testRun('cookie_xdp', frame(v6, mssOption(1460), 2));
      if ('error' in k) throw new Error(k.error);
      const kernelAck = asCheck(Buffer.from(k.dataOut, 'hex'));
      const oursAck = asCheck(inst.program('cookie_xdp').test({ dataIn: frame(v6, mssOption(1460), 2) }).dataOut);
      const kk = host.testRun('cookie_xdp', kernelAck);
      const ko = host.testRun('cookie_xdp', oursAck);
      if ('error' in kk || 'error' in ko) throw new Error('the kernel refused a frame');
      expect([v6, answer(Buffer.from(kk.dataOut, 'hex'))[1], answer(inst.program('cookie_xdp').test({ dataIn: kernelAck }).dataOut)[1]]).toEqual([v6, 0n, EACCES]);
      expect([v6, answer(Buffer.from(ko.dataOut, 'hex'))[1], answer(inst.program('cookie_xdp').test({ dataIn: oursAck }).dataOut)[1]]).toEqual([v6, EACCES, 0n]);
    }
  }, 60_000);
});
