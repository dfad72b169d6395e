/**
 * bpf_skb_change_type, bpf_skb_set_tstamp and bpf_skb_cgroup_classid through
 * test-programs/c/tc_misc.c on every engine, each probe's answer as the kernel (6.18) gave it;
 * where root and bpftool work, the output frames are compared with the kernel's test run (and
 * ctx_out's tstamp); elsewhere that part says so and skips.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { instantiate } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { BpfInstance } from '../program.js';
import { kernelComparisonHost } from './netns.js';

const OBJECT = repoPath('test-programs/c/tc_misc.o');
const bytes = new Uint8Array(readFileSync(OBJECT));
const ENGINES: { label: string; open: () => Promise<BpfInstance> }[] = [
  { label: '-O1', open: async () => instantiate((await compileObject(bytes)).wasm) },
  { label: '-O0', open: async () => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm) },
  { label: 'checked', open: async () => instantiate((await compileObject(bytes, { checked: true })).wasm) },
  { label: 'interpreter', open: () => interpretModule(planObject(bytes, {}).image, {}) },
];

/** A frame: Ethernet (to `dst`, EtherType `proto`), 20 bytes, the request, room for the answer. */
function frame(op: number, a: number, b: bigint, proto = 0x0800, dst = [2, 2, 2, 2, 2, 2]): Uint8Array {
  const f = new Uint8Array(34 + 16 + 24);
  const v = new DataView(f.buffer);
  f.set(dst, 0);
  f.fill(4, 6, 12);
  v.setUint16(12, proto);
  f[14] = 0x45;
  v.setUint32(34, op, true);
  v.setUint32(38, a, true);
  v.setBigUint64(42, b, true);
  return f;
}

/** [label, frame, rc, tstamp, tstamp_type, pkt_type] as the kernel answered. */
const PROBES: [string, Uint8Array, number, bigint, number, number][] = [
  ['change_type 0', frame(0, 0, 0n), 0, 0n, 0, 0],
  ['change_type 1', frame(0, 1, 0n), 0, 0n, 0, 1],
  ['change_type 3', frame(0, 3, 0n), 0, 0n, 0, 3],
  ['change_type 4', frame(0, 4, 0n), -22, 0n, 0, 3],
  ['change_type 7', frame(0, 7, 0n), -22, 0n, 0, 3],
  ['change_type 1 from PACKET_HOST', frame(0, 1, 0n, 0x0800, [0, 0, 0, 0, 0, 0]), 0, 0n, 0, 1],
  ['set_tstamp realtime', frame(1, 0, 123n), 0, 123n, 0, 3],
  ['set_tstamp realtime 0', frame(1, 0, 0n), 0, 0n, 0, 3],
  ['set_tstamp monotonic', frame(1, 1, 456n), 0, 456n, 1, 3],
  ['set_tstamp monotonic 0', frame(1, 1, 0n), -22, 0n, 0, 3],
  ['set_tstamp tai', frame(1, 2, 789n), 0, 789n, 2, 3],
  ['set_tstamp tai 0', frame(1, 2, 0n), -22, 0n, 0, 3],
  ['set_tstamp type 3', frame(1, 3, 5n), -22, 0n, 0, 3],
  ['set_tstamp on ARP', frame(1, 0, 123n, 0x0806), -95, 0n, 0, 3],
  ['cgroup_classid', frame(2, 0, 0n), 0, 0n, 0, 3],
];

function answer(out: Uint8Array): [number, bigint, number, number] {
  const v = new DataView(out.buffer, out.byteOffset + 50, 24);
  return [Number(v.getBigInt64(0, true)), v.getBigUint64(8, true), v.getUint32(16, true), v.getUint32(20, true)];
}

describe('bpf_skb_change_type, bpf_skb_set_tstamp, bpf_skb_cgroup_classid', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: each probe answers as the kernel`, async () => {
      const inst = await engine.open();
      for (const [label, f, rc, ts, type, pkt] of PROBES) {
        const r = inst.program('tc_misc').test({ dataIn: f });
        expect([label, r.retval, ...answer(r.dataOut)]).toEqual([label, 0, rc, ts, type, pkt]);
      }
    });
  }
});

const { host, skip: SKIP } = kernelComparisonHost('tc-misc.test.ts', 'tcmisc', {}, OBJECT);

describe('bpf_skb_change_type, bpf_skb_set_tstamp, bpf_skb_cgroup_classid: the kernel', () => {
  if (typeof host === 'string') {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it('identical output frames', async () => {
    const inst = await ENGINES[0]!.open();
    const mismatches: string[] = [];
    for (const [label, f] of PROBES) {
      const k = host.testRun('tc_misc', f);
      const o = inst.program('tc_misc').test({ dataIn: f });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      if (JSON.stringify(k) !== JSON.stringify(ours)) mismatches.push(`${label}:\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(ours)}`);
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 60_000);
});
