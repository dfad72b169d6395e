/**
 * The kernel as the reference for bpf_fib_lookup against host state: where root, `ip netns` and
 * bpftool work, the host network of fib-cases.ts is built in a fresh network namespace
 * (netns.ts), test-programs/c/xdp_fwd.o is loaded, and every probe runs through the kernel's
 * BPF_PROG_TEST_RUN inside the namespace and through bpf2wasm with the same state as `net`: the
 * return values and the output frames (the whole `struct bpf_fib_lookup` the helper wrote back)
 * must be identical. Elsewhere it says so and skips.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { instantiate } from '../instance.js';
import { FWD_FRAMES, MTU_PROBES, mtuFrame, NEIGH_FRAMES, NET, PROBES, probeFrame, xdpCtx } from './fib-cases.js';
import { KernelHost } from './netns.js';

const OBJECT = repoPath('test-programs/c/xdp_fwd.o');
const host = KernelHost.open('fib', NET, OBJECT);
const SKIP = `skipped: the fib oracle needs root, ip netns, bpftool and bpf() (${typeof host === 'string' ? host : ''})`;
if (typeof host === 'string') console.log(`fib-oracle.test.ts: ${SKIP}`);
afterAll(() => {
  if (typeof host !== 'string') host.close();
});

describe('bpf_fib_lookup: the kernel in a network namespace vs bpf2wasm with the same host state', () => {
  if (typeof host === 'string') {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it(`${PROBES.length} probes of fib_probe / fib_probe_tc, ${FWD_FRAMES.length} frames of xdp_fwd, ${NEIGH_FRAMES.length} of tc_neigh, ${MTU_PROBES.length} bpf_check_mtu probes`, async () => {
    const { wasm } = await compileObject(new Uint8Array(readFileSync(OBJECT)));
    const inst = await instantiate(wasm, { net: NET });
    const mismatches: string[] = [];
    for (const p of PROBES) {
      const name = p.tc ? 'fib_probe_tc' : 'fib_probe';
      const frame = probeFrame(p);
      const k = host.testRun(name, frame);
      const o = inst.program(name).test({ dataIn: frame });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      if (JSON.stringify(k) !== JSON.stringify(ours)) mismatches.push(`${p.label}:\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(ours)}`);
      const rc = 'error' in k ? undefined : new DataView(Uint8Array.from(Buffer.from(k.dataOut, 'hex')).buffer).getInt32(18, true);
      if (rc !== p.rc) mismatches.push(`${p.label}: the kernel returned ${String(rc)}, fib-cases.ts records ${p.rc}`);
    }
    for (const f of FWD_FRAMES) {
      const ctx = xdpCtx(f.ingress, f.data.length);
      const k = host.testRun('xdp_fwd', f.data, ctx);
      const o = inst.program('xdp_fwd').test({ dataIn: f.data, ctxIn: ctx });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      if (JSON.stringify(k) !== JSON.stringify(ours)) mismatches.push(`xdp_fwd ${f.label}:\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(ours)}`);
    }
    for (const p of MTU_PROBES) {
      const name = p.tc ? 'mtu_probe_tc' : 'mtu_probe';
      const k = host.testRun(name, mtuFrame(p));
      const o = inst.program(name).test({ dataIn: mtuFrame(p) });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      if (JSON.stringify(k) !== JSON.stringify(ours)) mismatches.push(`${name} ${p.label}:\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(ours)}`);
      const rc = 'error' in k ? undefined : new DataView(Uint8Array.from(Buffer.from(k.dataOut, 'hex')).buffer).getInt32(38, true);
      if (rc !== p.rc) mismatches.push(`${name} ${p.label}: the kernel returned ${String(rc)}, fib-cases.ts records ${p.rc}`);
    }
    // bpf_redirect_neigh: the test run does not redirect; its return value is the helper's.
    for (const [label, frame] of NEIGH_FRAMES) {
      const k = host.testRun('tc_neigh', frame);
      const o = inst.program('tc_neigh').test({ dataIn: frame });
      if ('error' in k || k.retval !== o.retval) mismatches.push(`tc_neigh ${label}: kernel ${JSON.stringify(k)}, bpf2wasm ${o.retval}`);
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 120_000);
});
