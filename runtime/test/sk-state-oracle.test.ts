/**
 * The kernel as the reference for the socket-state helpers (test-programs/c/sk_state.c): where
 * root, `ip netns` and bpftool work, a listener on 10.9.0.2:80 and a connection to it from
 * 10.9.0.2:40001 are opened for real inside a network namespace and the probes of
 * sk-state.test.ts run through the kernel's BPF_PROG_TEST_RUN there and through bpf2wasm with the
 * same sockets as `net.sockets`. The listener, no-socket and flags probes must give identical
 * output frames; for the established socket every field but its live TCP state (which the host
 * supplies to bpf2wasm) must agree. Elsewhere it says so and skips.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { instantiate } from '../instance.js';
import { KernelHost } from './netns.js';
import { STATE_NET, stateAnswer, stateFrame } from './sk-state-cases.js';

const OBJECT = repoPath('test-programs/c/sk_state.o');
const host = KernelHost.open('skst', { interfaces: [{ ifindex: 1, name: 'lo', mac: '00:00:00:00:00:00', mtu: 65536, addresses: ['10.9.0.2/32'] }] }, OBJECT);
const SKIP = `skipped: the socket-state oracle needs root, ip netns, bpftool and bpf() (${typeof host === 'string' ? host : ''})`;
if (typeof host === 'string') console.log(`sk-state-oracle.test.ts: ${SKIP}`);
let sockets: ChildProcess | undefined;
afterAll(() => {
  sockets?.stdin?.end();
  sockets?.kill();
  if (typeof host !== 'string') host.close();
});

const SCRIPT = `
const net = require('node:net');
const kept = [];
const s = net.createServer((c) => kept.push(c));
s.listen({ port: 80, host: '10.9.0.2' }, () => {
  const c = net.connect({ port: 80, host: '10.9.0.2', localAddress: '10.9.0.2', localPort: 40001 }, () => { kept.push(c); setTimeout(() => console.log('ready'), 100); });
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

describe('socket-state helpers: the kernel with real sockets in a network namespace vs bpf2wasm with net.sockets', () => {
  if (typeof host === 'string') {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it('listener, established, no socket, bpf_sk_assign flags', async () => {
    sockets = spawn('ip', ['netns', 'exec', host.ns, process.execPath, '-e', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      sockets!.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      sockets!.on('exit', (code) => reject(new Error(`the socket process exited (${String(code)})`)));
    });
    const inst = await instantiate((await compileObject(new Uint8Array(readFileSync(OBJECT)))).wasm, { net: STATE_NET });
    const mismatches: string[] = [];
    const probes: [string, Uint8Array, boolean][] = [
      ['listener', stateFrame([10, 9, 0, 2], 40000, 80), true],
      ['no socket', stateFrame([10, 9, 0, 2], 40000, 81), true],
      ['flags', stateFrame([10, 9, 0, 2], 40000, 80, 1n), true],
      ['established', stateFrame([10, 9, 0, 2], 40001, 80), false],
    ];
    for (const [label, frame, exact] of probes) {
      const k = host.testRun('sk_state', frame);
      const o = inst.program('sk_state').test({ dataIn: frame });
      if ('error' in k) {
        mismatches.push(`${label}: the kernel's run failed: ${k.error}`);
        continue;
      }
      const kOut = new Uint8Array(Buffer.from(k.dataOut, 'hex'));
      if (exact) {
        const ours = Buffer.from(o.dataOut).toString('hex');
        if (k.retval !== o.retval || k.dataOut !== ours) mismatches.push(`${label}:\n  kernel   ${k.retval} ${JSON.stringify(stateAnswer(kOut), (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}\n  bpf2wasm ${o.retval} ${JSON.stringify(stateAnswer(o.dataOut), (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
      } else {
        const strip = (a: ReturnType<typeof stateAnswer>): string => JSON.stringify({ ...a, tcpFields: undefined, bytesAcked: undefined }, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
        if (k.retval !== o.retval || strip(stateAnswer(kOut)) !== strip(stateAnswer(o.dataOut))) mismatches.push(`${label}:\n  kernel   ${strip(stateAnswer(kOut))}\n  bpf2wasm ${strip(stateAnswer(o.dataOut))}`);
      }
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 120_000);
});
