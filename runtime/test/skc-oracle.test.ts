/**
 * The kernel as the reference for the bpf_skc_to_* casts: where root, `ip netns`, bpftool,
 * python3 and /sys/kernel/btf/vmlinux are there, the sockets of skc-cases.ts (a time-wait and a
 * request socket among them) are opened for real in a network namespace and
 * test-programs/c/skc_cast.o's probes run through the kernel's BPF_PROG_TEST_RUN there and
 * through bpf2wasm (compiled with the same vmlinux BTF, so its CO-RE reads land where the
 * kernel's do) with the same sockets as `net.sockets`: per cast, NULL or not, and every field
 * the program read (family, state, ports, addresses v4/v6, bound device, protocol, type) must be
 * identical, through `test()` and `testBatch()` (but an IPv4 time-wait socket's IPv6 addresses,
 * which the kernel never writes: uninitialized slab memory there). `skb->sk` is the test run's dummy
 * socket in both (found, and every cast of it NULL). Elsewhere it says so and skips.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { instantiate } from '../instance.js';
import { KernelHost, run } from './netns.js';
import { castFlags, SKC_ANSWER_AT, SKC_CAST_SIZE, SKC_CASTS_AT, SKC_NET, SKC_PROBES, SKC_SOCKET_SCRIPT, skcFrame } from './skc-cases.js';

const OBJECT = repoPath('test-programs/c/skc_cast.o');
const VMLINUX = '/sys/kernel/btf/vmlinux';
const why = !existsSync(VMLINUX) ? `no ${VMLINUX}` : !run('python3', ['-c', 'import socket; socket.TCP_DEFER_ACCEPT']).ok ? 'no python3 with TCP_DEFER_ACCEPT' : undefined;
const host = why ?? KernelHost.open('skc', SKC_NET, OBJECT);
const SKIP = `skipped: the cast oracle needs root, ip netns, bpftool, python3, ${VMLINUX} and bpf() (${typeof host === 'string' ? host : ''})`;
if (typeof host === 'string') console.log(`skc-oracle.test.ts: ${SKIP}`);
let sockets: ChildProcess | undefined;
afterAll(() => {
  sockets?.stdin?.end();
  sockets?.kill();
  if (typeof host !== 'string') host.close();
});

/**
 * The frame with the time-wait cast's IPv6 addresses zeroed: an IPv4 time-wait socket's
 * skc_v6_rcv_saddr / skc_v6_daddr are never written by the kernel (inet_twsk_alloc copies them
 * only for AF_INET6), so they hold whatever the slab had (kernel pointers, seen here); bpf2wasm's
 * are zero.
 */
const withoutTwV6 = (hex: string): string => {
  const at = (SKC_ANSWER_AT + SKC_CASTS_AT + 2 * SKC_CAST_SIZE + 32) * 2;
  return hex.slice(0, at) + '0'.repeat(64) + hex.slice(at + 64);
};

describe('bpf_skc_to_*: the kernel with real sockets in a network namespace vs bpf2wasm with net.sockets and the same BTF', () => {
  if (typeof host === 'string') {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it(`${SKC_PROBES.length} probes of skc_probe (tc) and ${SKC_PROBES.length - 1} of skc_probe_xdp, 7 casts each`, async () => {
    sockets = spawn('ip', ['netns', 'exec', host.ns, 'python3', '-c', SKC_SOCKET_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      sockets!.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      sockets!.on('exit', (code) => reject(new Error(`the socket process exited (${String(code)})`)));
    });
    const { wasm } = await compileObject(new Uint8Array(readFileSync(OBJECT)), { btf: new Uint8Array(readFileSync(VMLINUX)) });
    const inst = await instantiate(wasm, { net: SKC_NET });
    const batchInst = await instantiate(wasm, { net: SKC_NET });
    const batch = batchInst.program('skc_probe').testBatch(SKC_PROBES.map(skcFrame));
    const mismatches: string[] = [];
    if (!batch.fastPath) mismatches.push('testBatch() did not take the loop inside Wasm');
    SKC_PROBES.forEach((p, i) => {
      const frame = skcFrame(p);
      const k = host.testRun('skc_probe', frame);
      if ('error' in k) {
        mismatches.push(`${p.label}: the kernel's test run failed: ${k.error}`);
        return;
      }
      const o = inst.program('skc_probe').test({ dataIn: frame });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      const err = batch.errors.get(i);
      const batched = err ? { error: err.message } : { retval: batch.retvals[i]!, dataOut: Buffer.from(batch.dataOut(i)!).toString('hex') };
      const kernel = p.casts[2] ? { ...k, dataOut: withoutTwV6(k.dataOut) } : k;
      const mine = ours;
      const mineBatched = batched;
      if (JSON.stringify(kernel) !== JSON.stringify(mine)) mismatches.push(`${p.label}:\n  kernel   ${JSON.stringify(kernel)}\n  bpf2wasm ${JSON.stringify(mine)}`);
      if (JSON.stringify(kernel) !== JSON.stringify(mineBatched)) mismatches.push(`${p.label} (testBatch):\n  kernel   ${JSON.stringify(kernel)}\n  bpf2wasm ${JSON.stringify(mineBatched)}`);
      // The recorded expectations (skc-cases.ts, which skc-cast.test.ts checks without a kernel) are the kernel's.
      const flags = castFlags(Buffer.from(k.dataOut, 'hex'));
      if (flags.join() !== p.casts.join()) mismatches.push(`${p.label}: the kernel's casts ${flags.join('')}, skc-cases.ts records ${p.casts.join('')}`);
      const found = Buffer.from(k.dataOut, 'hex')[SKC_ANSWER_AT];
      if (found !== (p.op === 'skb-sk' || p.finds >= 0 ? 1 : 0)) mismatches.push(`${p.label}: the kernel found ${String(found)}`);
    });
    // The same lookups and casts from XDP (no skb->sk there).
    const xdpProbes = SKC_PROBES.filter((p) => p.op !== 'skb-sk');
    const xdpBatch = batchInst.program('skc_probe_xdp').testBatch(xdpProbes.map(skcFrame));
    xdpProbes.forEach((p, i) => {
      const k = host.testRun('skc_probe_xdp', skcFrame(p));
      const o = inst.program('skc_probe_xdp').test({ dataIn: skcFrame(p) });
      const kernel = 'error' in k || !p.casts[2] ? k : { ...k, dataOut: withoutTwV6(k.dataOut) };
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      const batched = xdpBatch.errors.has(i) ? { error: xdpBatch.errors.get(i)!.message } : { retval: xdpBatch.retvals[i]!, dataOut: Buffer.from(xdpBatch.dataOut(i)!).toString('hex') };
      if (JSON.stringify(kernel) !== JSON.stringify(ours)) mismatches.push(`XDP ${p.label}:\n  kernel   ${JSON.stringify(kernel)}\n  bpf2wasm ${JSON.stringify(ours)}`);
      if (JSON.stringify(kernel) !== JSON.stringify(batched)) mismatches.push(`XDP ${p.label} (testBatch):\n  kernel   ${JSON.stringify(kernel)}\n  bpf2wasm ${JSON.stringify(batched)}`);
    });
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 180_000);
});
