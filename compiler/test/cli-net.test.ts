/**
 * `run OBJ --net NET.json`: the host network state from a JSON file reaches the packet helpers
 * of `--packet` and `--pcap` runs; the redirect is printed; a malformed file is one error line
 * (E_HOST_STATE naming the field), exit 1; `--net` elsewhere is a usage error.
 */
import { memoryIO as io } from '../../test/support/cli-io.js';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoPath } from '../../test/support/fixtures.js';
import { main } from '../cli/main.js';
import { FWD_FRAMES, NET, probeFrame } from '../../runtime/test/fib-cases.js';
import { writePcap } from '../../runtime/capture/index.js';

const OBJ = new Uint8Array(readFileSync(repoPath('test-programs/c/xdp_fwd.o')));


describe('run --net', () => {
  const probe = probeFrame({ label: '', ifindex: 10, dst: '10.20.1.1', rc: 0 });
  it('--packet: bpf_fib_lookup sees the routes; the JSON has the output frame', async () => {
    const x = io({ 'fwd.o': OBJ, 'net.json': JSON.stringify(NET), 'p.bin': probe });
    expect(await main(['run', 'fwd.o', '--program', 'fib_probe', '--packet', 'p.bin', '--net', 'net.json', '--json'], x)).toBe(0);
    const out = JSON.parse(x.out) as { packet: string };
    // rc 0 (SUCCESS) at byte 18, egress ifindex 20 at 22 + 8.
    expect(out.packet.slice(36, 44)).toBe('00000000');
    expect(out.packet.slice(60, 68)).toBe('14000000');
    const plain = io({ 'fwd.o': OBJ, 'p.bin': probe });
    expect(await main(['run', 'fwd.o', '--program', 'fib_probe', '--packet', 'p.bin', '--json'], plain)).toBe(0);
    expect((JSON.parse(plain.out) as { packet: string }).packet.slice(36, 44)).toBe('edffffff');
  });
  it('--packet: the redirect is printed', async () => {
    const ctxless = FWD_FRAMES[0]!.data;
    // Without ctx_in the frame arrives on lo, where forwarding is off: give lo forwarding and routes.
    const net = { interfaces: [{ ifindex: 1, forwarding: true }, ...NET.interfaces!.filter((i) => i.ifindex !== 1)], routes: NET.routes, neighbours: NET.neighbours };
    const x = io({ 'fwd.o': OBJ, 'net.json': JSON.stringify(net), 'f.bin': ctxless });
    expect(await main(['run', 'fwd.o', '--program', 'xdp_fwd', '--packet', 'f.bin', '--net', 'net.json'], x)).toBe(0);
    expect(x.out).toContain('xdp_fwd: r0 = 0x4 (4)');
    expect(x.out).toContain('redirect: bpf_redirect to ifindex 20');
  });
  it('--pcap: every frame runs against the routes', async () => {
    const pcap = writePcap(FWD_FRAMES.map((f) => ({ data: f.data, timestampNs: 0n })));
    const net = { interfaces: [{ ifindex: 1, forwarding: true }, ...NET.interfaces!], routes: NET.routes, neighbours: NET.neighbours };
    const x = io({ 'fwd.o': OBJ, 'net.json': JSON.stringify(net), 'in.pcap': pcap });
    expect(await main(['run', 'fwd.o', '--program', 'xdp_fwd', '--pcap', 'in.pcap', '--net', 'net.json', '--json'], x)).toBe(0);
    const retvals = (JSON.parse(x.out) as { packets: { retval: number }[] }).packets.map((q) => q.retval);
    expect(retvals).toEqual([4, 2, 1, 2, 4, 4, 4, 1, 2]);
  });
  it('a malformed file: one line naming the field, exit 1', async () => {
    for (const [text, field] of [['{"routes": [{"prefix": "10.0.0.1/8", "ifindex": 1}]}', 'net.routes[0].prefix'], ['{"routes": [', 'net'], ['[]', 'net']]) {
      const x = io({ 'fwd.o': OBJ, 'net.json': text!, 'p.bin': probe });
      expect(await main(['run', 'fwd.o', '--program', 'fib_probe', '--packet', 'p.bin', '--net', 'net.json'], x)).toBe(1);
      expect(x.err).toMatch(new RegExp(`^bpf2wasm: fwd.o: E_HOST_STATE at field ${field!.replace(/[[\].]/g, '\\$&')}: [^\\n]+\\n$`));
    }
  });
  it('--net without an object run is a usage error; a missing file is an error', async () => {
    const x = io({ 'fwd.o': OBJ, 'net.json': '{}' });
    expect(await main(['disasm', 'fwd.o', '--net', 'net.json'], x)).toBe(2);
    const y = io({ 'fwd.o': OBJ, 'p.bin': probe });
    expect(await main(['run', 'fwd.o', '--packet', 'p.bin', '--net', 'nope.json'], y)).toBe(1);
  });
});
