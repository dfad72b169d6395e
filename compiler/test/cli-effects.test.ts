/**
 * `run OBJ --packet`: what the run asked of the outside world is printed, in text and in
 * `--json`: bpf_clone_redirect's clones (with the bytes they were made of), the tunnel key with
 * its options, the ECN mark, the flow hash and the redirect; a run that asks for nothing prints
 * none of them.
 */
import { memoryIO as io } from '../../test/support/cli-io.js';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoPath } from '../../test/support/fixtures.js';
import { main } from '../cli/main.js';
import { tcProbe } from '../../runtime/test/frames.js';

const TUNHELP = new Uint8Array(readFileSync(repoPath('test-programs/c/tc_tunhelp.o')));
const TUNNEL = new Uint8Array(readFileSync(repoPath('test-programs/c/tc_tunnel.o')));
const NET = JSON.stringify({ interfaces: [{ ifindex: 5, name: 'tv0' }, { ifindex: 6, name: 'tv1' }] });

/** tc_tunhelp's probe frame: Ethernet, 20 bytes of IPv4, the request (op, a, b), room for the answer. */
function probe(op: number, a: number, b: bigint): Uint8Array {
  const { frame, view } = tcProbe(34 + 16 + 88);
  view.setUint32(34, op, true);
  view.setUint32(38, a, true);
  view.setBigUint64(42, b, true);
  return frame;
}

/** A UDP/IPv4 frame with ECT(0) for tc_tunnel (to port 9). */
function udpEct(): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 4);
  const v = new DataView(f.buffer);
  f.fill(2, 0, 6);
  f.fill(4, 6, 12);
  v.setUint16(12, 0x0800);
  f[14] = 0x45;
  f[15] = 2;
  v.setUint16(16, 32);
  f[22] = 64;
  f[23] = 17;
  f.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += v.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(24, ~sum & 0xffff);
  v.setUint16(34, 1234);
  v.setUint16(36, 9);
  v.setUint16(38, 12);
  return f;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('run --packet prints the run\'s effects', () => {
  it('a clone: text and JSON', async () => {
    const f = probe(1, 6, 1n);
    const x = io({ 't.o': TUNHELP, 'net.json': NET, 'p.bin': f });
    expect(await main(['run', 't.o', '--packet', 'p.bin', '--net', 'net.json'], x)).toBe(0);
    expect(x.out).toContain(`clone 0: bpf_clone_redirect to ifindex 6 (ingress), ${f.length} bytes: ${[...f].map((b) => b.toString(16).padStart(2, '0')).join(' ')}\n`);
    expect(x.out).not.toContain('tunnel key');
    const j = io({ 't.o': TUNHELP, 'net.json': NET, 'p.bin': f });
    expect(await main(['run', 't.o', '--packet', 'p.bin', '--net', 'net.json', '--json'], j)).toBe(0);
    const out = JSON.parse(j.out) as Record<string, unknown>;
    expect(out.clones).toEqual([{ index: 6, flags: 1, data: hex(f) }]);
    expect(out.tunnelKey).toBeUndefined();
  });

  it('a tunnel key with options', async () => {
    const x = io({ 't.o': TUNHELP, 'p.bin': probe(5, 0, 0n) });
    expect(await main(['run', 't.o', '--packet', 'p.bin'], x)).toBe(0);
    expect(x.out).toContain('tunnel key: id 287454020 remote 10.0.0.1 local 10.0.0.2 tos 5 ttl 64 label 0\n');
    expect(x.out).toContain('tunnel options: 01 02 03 04 05 06 07 08 09 0a 0b 0c\n');
    const j = io({ 't.o': TUNHELP, 'p.bin': probe(5, 0, 0n) });
    expect(await main(['run', 't.o', '--packet', 'p.bin', '--json'], j)).toBe(0);
    expect((JSON.parse(j.out) as Record<string, unknown>).tunnelKey).toEqual({
      tunnelId: 0x11223344, remote: '10.0.0.1', local: '10.0.0.2', tos: 5, ttl: 64, label: 0, flags: 0, options: '0102030405060708090a0b0c',
    });
    // IPv6 (BPF_F_TUNINFO_IPV6 = 1): fe80::1 and fe80::2, written without compression.
    const six = io({ 't.o': TUNHELP, 'p.bin': probe(5, 0, 1n) });
    expect(await main(['run', 't.o', '--packet', 'p.bin', '--json'], six)).toBe(0);
    expect((JSON.parse(six.out) as { tunnelKey: { remote: string; local: string } }).tunnelKey).toMatchObject({ remote: 'fe80:0:0:0:0:0:0:1', local: 'fe80:0:0:0:0:0:0:2' });
  });

  it('the ECN mark, the flow hash, the tunnel key and the redirect together', async () => {
    const x = io({ 't.o': TUNNEL, 'p.bin': udpEct() });
    expect(await main(['run', 't.o', '--packet', 'p.bin'], x)).toBe(0);
    expect(x.out).toContain('redirect: bpf_redirect_neigh to ifindex 1\n');
    expect(x.out).toContain('tunnel key: id 42 remote 10.0.0.9 local 0.0.0.0 tos 0 ttl 64 label 0 flags 0x2\n');
    expect(x.out).toContain('ecn: marked Congestion Experienced\n');
    expect(x.out).toMatch(/\nhash: 0x[0-9a-f]+\n/);
    const j = io({ 't.o': TUNNEL, 'p.bin': udpEct() });
    expect(await main(['run', 't.o', '--packet', 'p.bin', '--json'], j)).toBe(0);
    const out = JSON.parse(j.out) as Record<string, unknown>;
    expect(out.redirect).toEqual({ helper: 'bpf_redirect_neigh', index: 1, flags: 0 });
    expect(out.ecnMarked).toBe(true);
    expect(out.tunnelKey).toEqual({ tunnelId: 42, remote: '10.0.0.9', local: '0.0.0.0', tos: 0, ttl: 64, label: 0, flags: 2 });
    expect(typeof out.hash).toBe('number');
    expect(out.hash).not.toBe(0);
    expect(x.out).toContain(`hash: 0x${(out.hash as number).toString(16)}\n`);
  });

  it('a run that asks for nothing prints no effects', async () => {
    const x = io({ 't.o': TUNHELP, 'p.bin': probe(2, 0, 0n) });
    expect(await main(['run', 't.o', '--packet', 'p.bin', '--json'], x)).toBe(0);
    const out = JSON.parse(x.out) as Record<string, unknown>;
    for (const k of ['redirect', 'clones', 'tunnelKey', 'ecnMarked', 'hash', 'csumLevel']) expect(out[k]).toBeUndefined();
  });
});
