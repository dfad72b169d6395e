/**
 * `bpf2wasm run IN --pcap CAPTURE`: the verdict table, the --json shape, --out contents (read back
 * with the capture reader and, where installed, tcpdump), truncated and corrupt captures, classic
 * filter files and link types other than Ethernet.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT as root } from '../../test/support/fixtures.js';
import { canRun } from '../../test/support/tools.js';
import { main, type CliIO } from '../cli/main.js';
import { compileObject } from '../object/compile-object.js';
import { instantiate } from '../../runtime/instance.js';
import { LinkType, readCaptureSync, writePcap } from '../../runtime/capture/index.js';
import { Bpf2WasmError } from '../../runtime/errors.js';

const file = (p: string): Uint8Array => new Uint8Array(readFileSync(path.join(root, p)));
const CAPTURE = file('test-programs/captures/frames.pcap');
const FRAMES = [...readCaptureSync(CAPTURE)];

interface FakeIO extends CliIO { files: Map<string, Uint8Array>; out: string; err: string }

function fakeIO(files: Record<string, Uint8Array | string>): FakeIO {
  const map = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(files)) map.set(k, typeof v === 'string' ? new TextEncoder().encode(v) : v);
  let clock = 0;
  const io: FakeIO = {
    files: map, out: '', err: '',
    async readFile(p) {
      const f = map.get(p);
      if (!f) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      return f.slice();
    },
    async *readStream(p) {
      const f = await io.readFile(p);
      // Small chunks: records cross chunk boundaries.
      for (let i = 0; i < f.length; i += 37) yield f.slice(i, i + 37);
    },
    async writeFile(p, d) { map.set(p, typeof d === 'string' ? new TextEncoder().encode(d) : d.slice()); },
    stdout(t) { io.out += t; },
    stderr(t) { io.err += t; },
    now() { return (clock += 1000); },
  };
  return io;
}

/** What test() gives, frame by frame, on a fresh instance. */
async function expected(obj: string, program?: string, skbData?: 'mac' | 'network') {
  const inst = await instantiate((await compileObject(file(`test-programs/c/${obj}`))).wasm, { trace: () => {} });
  const p = program ? inst.program(program) : [...inst.programs][0]!;
  return FRAMES.map((f) => {
    try {
      const r = p.test({ dataIn: f.data, ...(skbData ? { skbData } : {}) });
      return { retval: r.retval, dataOut: r.dataOut };
    } catch (e) {
      if (!(e instanceof Bpf2WasmError)) throw e;
      return { error: e.code };
    }
  });
}

const XDP_NAMES = ['aborted', 'drop', 'pass', 'tx', 'redirect'];
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hasTcpdump = canRun('tcpdump');

describe('run --pcap', () => {
  it('prints the verdict table and the maps (XDP)', async () => {
    const io = fakeIO({ 'p.o': file('test-programs/c/xdp_drop_icmp.o'), 'c.pcap': CAPTURE });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap'], io)).toBe(0);
    const want = await expected('xdp_drop_icmp.o');
    const counts = new Map<string, number>();
    for (const w of want) if ('retval' in w) counts.set(XDP_NAMES[w.retval!]!, (counts.get(XDP_NAMES[w.retval!]!) ?? 0) + 1);
    for (const [v, n] of counts) expect(io.out).toMatch(new RegExp(`^  ${v} +${n}$`, 'm'));
    const refused = want.filter((w) => 'error' in w).length;
    expect(io.out).toContain(`${FRAMES.length} frames (${refused} refused)`);
    expect(io.out).toMatch(/map drops/);
  });

  it('--json: one object, a packet per frame, data_out only when changed, refusals with their reason', async () => {
    const io = fakeIO({ 'p.o': file('test-programs/c/xdp_vlan_strip.o'), 'c.pcap': CAPTURE });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--json'], io)).toBe(0);
    const j = JSON.parse(io.out);
    expect(Object.keys(j)).toEqual(expect.arrayContaining(['program', 'packets', 'verdicts', 'maps']));
    const want = await expected('xdp_vlan_strip.o');
    expect(j.packets).toHaveLength(FRAMES.length);
    let changed = 0;
    j.packets.forEach((pk: { index: number; retval: number; data_out?: string; error?: { code: string; message: string } }, i: number) => {
      expect(pk.index).toBe(i);
      const w = want[i]!;
      if ('error' in w) {
        expect(pk.error!.code).toBe(w.error);
        expect(pk.error!.message).toMatch(/shorter than an Ethernet header/);
        return;
      }
      expect(pk.retval).toBe(w.retval);
      const same = hex(w.dataOut!) === hex(FRAMES[i]!.data);
      if (!same) changed++;
      expect(pk.data_out).toBe(same ? undefined : hex(w.dataOut!));
    });
    expect(changed).toBeGreaterThan(0);
    const total = Object.values(j.verdicts as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(total).toBe(want.filter((w) => !('error' in w)).length);
  });

  it('--out writes the kept frames as the program left them; --keep chooses', async () => {
    const io = fakeIO({ 'p.o': file('test-programs/c/xdp_vlan_strip.o'), 'c.pcap': CAPTURE });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--out', 'o.pcap'], io)).toBe(0);
    const want = await expected('xdp_vlan_strip.o');
    const kept = want.filter((w) => 'retval' in w && (w.retval === 2 || w.retval === 3)).map((w) => hex(w.dataOut!));
    const got = [...readCaptureSync(io.files.get('o.pcap')!)];
    expect(got.map((f) => hex(f.data))).toEqual(kept);
    if (hasTcpdump) {
      const dir = mkdtempSync(path.join(tmpdir(), 'b2w-'));
      writeFileSync(path.join(dir, 'o.pcap'), io.files.get('o.pcap')!);
      const r = spawnSync('tcpdump', ['-n', '-r', path.join(dir, 'o.pcap')], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(kept.length);
    }
    const io2 = fakeIO({ 'p.o': file('test-programs/c/xdp_drop_icmp.o'), 'c.pcap': CAPTURE });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--out', 'o.pcap', '--keep', 'drop'], io2)).toBe(0);
    const drops = (await expected('xdp_drop_icmp.o')).filter((w) => 'retval' in w && w.retval === 1);
    expect([...readCaptureSync(io2.files.get('o.pcap')!)].map((f) => hex(f.data))).toEqual(drops.map((w) => hex(w.dataOut!)));
  });

  it('--out is written chunk by chunk while the capture is read, and equals the file written at once', async () => {
    // 12,000 frames: several batches of the CLI's 4096.
    const big = writePcap(Array.from({ length: 12_000 }, (_, i) => ({ timestampNs: BigInt(i) * 1000n, data: FRAMES[i % FRAMES.length]!.data })));
    const whole = fakeIO({ 'p.o': file('test-programs/c/xdp_drop_icmp.o'), 'c.pcap': big });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--out', 'o.pcap'], whole)).toBe(0);
    const streamed = fakeIO({ 'p.o': file('test-programs/c/xdp_drop_icmp.o'), 'c.pcap': big });
    let read = 0;
    const writes: { bytes: number; readBefore: number }[] = [];
    const parts: Uint8Array[] = [];
    let closed = false;
    streamed.readStream = async function* (p) {
      const f = await streamed.readFile(p);
      for (let i = 0; i < f.length; i += 65536) {
        read = Math.min(f.length, i + 65536);
        yield f.slice(i, i + 65536);
      }
    };
    streamed.writeStream = async (p) => {
      expect(p).toBe('o.pcap');
      return {
        async write(d) { writes.push({ bytes: d.length, readBefore: read }); parts.push(d.slice()); },
        async close() { closed = true; },
      };
    };
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--out', 'o.pcap'], streamed)).toBe(0);
    expect(closed).toBe(true);
    expect(streamed.files.has('o.pcap')).toBe(false);
    expect(hex(Buffer.concat(parts))).toBe(hex(whole.files.get('o.pcap')!));
    expect(writes.length).toBeGreaterThanOrEqual(3);
    expect(writes[0]!.readBefore).toBeLessThan(big.length);
    expect(Math.max(...writes.map((w) => w.bytes))).toBeLessThan(whole.files.get('o.pcap')!.length / 2);
    expect([...readCaptureSync(whole.files.get('o.pcap')!)].length).toBeGreaterThan(8000);
    // Reading and writing one file would truncate the capture under the reader.
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--out', 'c.pcap'], streamed)).toBe(2);
  });

  it('socket filters: keep/drop, --out cut to the bytes returned', async () => {
    const io = fakeIO({ 'p.o': file('test-programs/c/sock_syn.o'), 'c.pcap': CAPTURE });
    expect(await main(['run', 'p.o', '--program', 'syn_mac', '--pcap', 'c.pcap', '--skb-data', 'mac', '--out', 'o.pcap', '--json'], io)).toBe(0);
    const want = await expected('sock_syn.o', 'syn_mac', 'mac');
    const j = JSON.parse(io.out);
    const keeps = want.map((w, i) => ({ w, i })).filter(({ w }) => 'retval' in w && w.retval! > 0);
    expect(j.verdicts.keep).toBe(keeps.length);
    expect(keeps.length).toBeGreaterThan(0);
    const got = [...readCaptureSync(io.files.get('o.pcap')!)];
    expect(got.map((f) => hex(f.data))).toEqual(keeps.map(({ w, i }) => hex(FRAMES[i]!.data.subarray(0, Math.min(w.retval!, FRAMES[i]!.data.length)))));
  });

  it('a truncated capture: exit 1 naming frame and offset, after the frames before it', async () => {
    const cut = CAPTURE.subarray(0, FRAMES[5]!.offset + 20);
    for (const json of [false, true]) {
      const io = fakeIO({ 'p.o': file('test-programs/c/xdp_drop_icmp.o'), 'c.pcap': cut });
      expect(await main(['run', 'p.o', '--pcap', 'c.pcap', ...(json ? ['--json'] : [])], io)).toBe(1);
      expect(io.err).toContain(`frame 5, offset 0x${FRAMES[5]!.offset.toString(16)}`);
      expect(io.err).not.toMatch(/at .*\.(ts|js):\d+/);
      if (json) {
        const j = JSON.parse(io.out);
        expect(j.packets).toHaveLength(5);
        expect(j.error).toMatchObject({ code: 'E_BAD_CAPTURE', frame: 5, offset: FRAMES[5]!.offset });
      } else {
        expect(io.out).toContain('5 frames');
      }
    }
  });

  it('a corrupt capture (bad magic) and a link type other than Ethernet exit 1', async () => {
    const bad = CAPTURE.slice();
    bad[0] = 0;
    const io = fakeIO({ 'p.o': file('test-programs/c/xdp_drop_icmp.o'), 'c.pcap': bad });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap'], io)).toBe(1);
    expect(io.err).toMatch(/E_BAD_CAPTURE at frame 0, offset 0x0/);
    const raw = writePcap([{ timestampNs: 0n, data: FRAMES[0]!.data.subarray(14) }], { linkType: LinkType.RAW });
    const io2 = fakeIO({ 'p.o': file('test-programs/c/xdp_drop_icmp.o'), 'c.pcap': raw });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap'], io2)).toBe(1);
    expect(io2.err).toMatch(/E_LINK_TYPE.*RAW/);
  });

  it('classic filters from tcpdump -dd and -ddd keep what tcpdump keeps', async () => {
    // `tcpdump -dd tcp` for Ethernet as tcpdump 4.99 prints it, and the same program in -ddd form.
    const dd = `{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 2, 0x00000800 },\n{ 0x30, 0, 0, 0x00000017 },\n{ 0x15, 6, 7, 0x00000006 },\n{ 0x15, 0, 6, 0x000086dd },\n{ 0x30, 0, 0, 0x00000014 },\n{ 0x15, 3, 0, 0x00000006 },\n{ 0x15, 0, 3, 0x0000002c },\n{ 0x30, 0, 0, 0x00000036 },\n{ 0x15, 0, 1, 0x00000006 },\n{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n`;
    const ddd = '12\n' + dd.trim().split('\n').map((l) => l.replace(/[{},]/g, ' ').trim().split(/\s+/).map((x) => Number(x)).join(' ')).join('\n') + '\n';
    const outs: string[][] = [];
    for (const text of [dd, ddd]) {
      const io = fakeIO({ 'f.txt': text, 'c.pcap': CAPTURE });
      expect(await main(['run', 'f.txt', '--pcap', 'c.pcap', '--out', 'o.pcap'], io)).toBe(0);
      expect(io.out).toMatch(/keep +\d+/);
      outs.push([...readCaptureSync(io.files.get('o.pcap')!)].map((f) => hex(f.data)));
    }
    expect(outs[1]).toEqual(outs[0]);
    if (hasTcpdump) {
      const r = spawnSync('tcpdump', ['-n', '-r', path.join(root, 'test-programs/captures/frames.pcap'), 'tcp'], { encoding: 'utf8' });
      expect(outs[0]).toHaveLength(r.stdout.trim() === '' ? 0 : r.stdout.trim().split('\n').length);
    }
  });

  it('--repeat adds nsPerPacket and packetsPerSecond; usage errors exit 2', async () => {
    const io = fakeIO({ 'p.o': file('test-programs/c/xdp_counter.o'), 'c.pcap': CAPTURE });
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--json', '--repeat', '3'], io)).toBe(0);
    const j = JSON.parse(io.out);
    expect(j.nsPerPacket).toBeGreaterThan(0);
    expect(j.packetsPerSecond).toBeCloseTo(1e9 / j.nsPerPacket);
    const io2 = fakeIO({ 'p.o': file('test-programs/c/xdp_counter.o') });
    expect(await main(['run', 'p.o', '--out', 'x.pcap'], io2)).toBe(2);
    expect(await main(['run', 'p.o', '--pcap', 'c.pcap', '--keep', ''], io2)).toBe(2);
  });
});
