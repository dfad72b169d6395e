/**
 * `run OBJ --net NET.json`: the host network state from a JSON file reaches the packet helpers
 * of `--packet` and `--pcap` runs; the redirect is printed; `cgroupArrays` fills the object's
 * BPF_MAP_TYPE_CGROUP_ARRAY maps by path; a malformed file is one error line (E_HOST_STATE naming
 * the field, for cgroupArrays the map and index), exit 1; `--net` elsewhere is a usage error.
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

describe('run --net with cgroupArrays', () => {
  const CG = new Uint8Array(readFileSync(repoPath('test-programs/c/cgroup_array.o')));
  const COUNTER = new Uint8Array(readFileSync(repoPath('test-programs/c/xdp_counter.o')));
  /** test-programs/c/cgroup_array.c's probe: bpf_skb_under_cgroup(skb, &cgroups, index), the result at byte 50. */
  const probe = (index: number): Uint8Array => {
    const f = new Uint8Array(34 + 16 + 8);
    f[12] = 8;
    f[14] = 0x45;
    new DataView(f.buffer).setUint32(38, index, true);
    return f;
  };
  const host = { cgroups: [{ path: '/a', id: 50 }, { path: '/a/b', id: 51 }], cgroup: '/a/b' };
  const under = async (net: object, index: number, file = 'p.bin'): Promise<{ rc: string; out: string }> => {
    const x = io({ 'cg.o': CG, 'net.json': JSON.stringify(net), 'p.bin': probe(index), 'q.bin': probe(1) });
    expect(await main(['run', 'cg.o', '--program', 'under_cgroup', '--packet', file, '--net', 'net.json', '--json'], x), x.err).toBe(0);
    const out = JSON.parse(x.out) as { packet: string };
    return { rc: out.packet.slice(100, 116), out: x.out };
  };
  it('fills the slots by path before the run: bpf_skb_under_cgroup sees them, the dump shows them', async () => {
    // Empty slot: -EAGAIN; slot 0 holding /a, the cgroup the run is in being /a/b: 1; slot 1 holding /a/b itself: 1.
    expect((await under(host, 0)).rc).toBe('f5ffffffffffffff');
    const filled = await under({ ...host, cgroupArrays: { cgroups: { 0: '/a', 1: '/a/b', 3: '/' } } }, 0);
    expect(filled.rc).toBe('0100000000000000');
    expect(filled.out).toContain('/a/b');
    expect((await under({ ...host, cgroupArrays: { cgroups: { 1: '/a/b' } } }, 1)).rc).toBe('0100000000000000');
    // A cgroup the run is not below: 0.
    expect((await under({ cgroups: host.cgroups, cgroup: '/a', cgroupArrays: { cgroups: { 1: '/a/b' } } }, 1)).rc).toBe('0000000000000000');
  });
  it('a --pcap run fills each instance it makes', async () => {
    const pcap = writePcap([probe(0), probe(2)].map((data) => ({ data, timestampNs: 0n })));
    const x = io({ 'cg.o': CG, 'net.json': JSON.stringify({ ...host, cgroupArrays: { cgroups: { 0: '/a' } } }), 'in.pcap': pcap });
    expect(await main(['run', 'cg.o', '--program', 'under_cgroup', '--pcap', 'in.pcap', '--net', 'net.json', '--json'], x), x.err).toBe(0);
    const out = JSON.parse(x.out) as { packets: { data_out: string }[]; maps: { cgroups: { entries: unknown[] } } };
    // Slot 0 holds /a, above the run's /a/b: 1; slot 2 is empty: -EAGAIN.
    expect(out.packets.map((q) => q.data_out.slice(100, 116))).toEqual(['0100000000000000', 'f5ffffffffffffff']);
    expect(out.maps.cgroups.entries).toEqual([{ key: 0, value: '/a' }]);
  });
  it('bad entries: one line naming the map and index, exit 1', async () => {
    const cases: [object, Uint8Array, string, RegExp][] = [
      [{ cgroupArrays: { nope: { 0: '/' } } }, CG, 'net.cgroupArrays.nope', /no map nope \(its maps: cgroups/],
      [{ cgroupArrays: { pkt_count: { 0: '/' } } }, COUNTER, 'net.cgroupArrays.pkt_count', /not a BPF_MAP_TYPE_CGROUP_ARRAY/],
      [{ cgroupArrays: { cgroups: { 4: '/' } } }, CG, 'net.cgroupArrays.cgroups.4', /from 0 to 3/],
      [{ cgroupArrays: { cgroups: { '-1': '/' } } }, CG, 'net.cgroupArrays.cgroups.-1', /not an integer/],
      [{ cgroupArrays: { cgroups: { 0: 5 } } }, CG, 'net.cgroupArrays.cgroups.0', /expected a cgroup path/],
      [{ ...host, cgroupArrays: { cgroups: { 2: '/nope' } } }, CG, 'net.cgroupArrays.cgroups.2', /no cgroup \/nope/],
      [{ cgroupArrays: { cgroups: ['/'] } }, CG, 'net.cgroupArrays.cgroups', /expected an object/],
      [{ cgroupArrays: 'x' }, CG, 'net.cgroupArrays', /expected an object/],
    ];
    for (const [net, obj, field, msg] of cases) {
      const x = io({ 'o.o': obj, 'net.json': JSON.stringify(net), 'p.bin': probe(0) });
      expect(await main(['run', 'o.o', '--packet', 'p.bin', '--net', 'net.json'], x)).toBe(1);
      expect(x.err).toMatch(new RegExp(`^bpf2wasm: o.o: E_HOST_STATE at field ${field.replace(/[[\].]/g, '\\$&')}: [^\\n]+\\n$`));
      expect(x.err).toMatch(msg);
    }
  });
});
