/**
 * The packet part of `npm run bench`: test-programs/c/xdp_port_count.o (parses Ethernet, IPv4 and
 * TCP, counts per destination port in a HASH map) over 64-byte frames, run four ways: bpf2wasm's
 * batch path (`testBatch`, copying the frames into linear memory included), bpf2wasm's per-frame
 * `test()`, the same C built natively (scripts/bench/xdp_native.c), and the kernel's
 * BPF_PROG_TEST_RUN (`bpftool prog run ... repeat N`) where the machine allows (root, bpftool,
 * bpf()); otherwise that row says why it was skipped. A program that only returns XDP_PASS
 * gives the batch path's own cost (copy in, loop, calls, JS per batch). More rows run other programs over the
 * same frames, batch and per frame: an skb program (test-programs/c/sock_syn.o's socket
 * filter), socket lookups (sk_lookup.o's syn_cookie) and helpers called by number (xdp_callx.o).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compile } from '../../compiler/compile.js';
import { compileObject } from '../../compiler/object/compile-object.js';
import { instantiate } from '../../runtime/instance.js';

/** One way of running the filter. */
export interface PacketRow {
  path: string;
  /** Median ns per frame, or null when skipped. */
  nsPerFrame: number | null;
  /** Why the row has no figure. */
  skipped?: string;
}

/** 64-byte Ethernet/IPv4/TCP frames to 16 destination ports (and a few UDP frames). */
export function benchFrames(n: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const f = new Uint8Array(64);
    f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    f.set([0x45, 0, 0, 50, 0, 0, 0, 0, 64, i % 16 === 15 ? 17 : 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
    const port = 1000 + (i % 16);
    f.set([0x9c, 0x40, port >> 8, port & 0xff], 34);
    frames.push(f);
  }
  return frames;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Runs `pass` (one pass over the frames) for at least `minMs`, returns the median ns per frame. */
function timePasses(pass: () => void, frames: number, minMs: number): number {
  for (let i = 0; i < 3; i++) pass();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 5 || performance.now() - start < minMs) {
    const t0 = performance.now();
    pass();
    samples.push(((performance.now() - t0) * 1e6) / frames);
  }
  return median(samples);
}

/** The packet bench rows. */
export async function benchPacket(root: string, minMs: number, log: (m: string) => void): Promise<PacketRow[]> {
  const objPath = path.join(root, 'test-programs/c/xdp_port_count.o');
  const obj = new Uint8Array(readFileSync(objPath));
  const frames = benchFrames(4096);
  const wasm = (await compileObject(obj)).wasm;
  const rows: PacketRow[] = [];

  const a = await instantiate(wasm);
  const pa = a.program('port_count');
  if (!pa.testBatch(frames.slice(0, 1)).fastPath) throw new Error('xdp_port_count did not take the batch fast path');
  const packed = { data: new Uint8Array(frames.length * 64), lengths: new Uint32Array(frames.length).fill(64) };
  frames.forEach((f, i) => packed.data.set(f, i * 64));
  rows.push({ path: 'bpf2wasm testBatch() packed (frames copied in)', nsPerFrame: timePasses(() => pa.testBatch(packed, { dataOut: false }), frames.length, minMs) });
  log(`packet: batch packed ${rows.at(-1)!.nsPerFrame!.toFixed(1)} ns/frame`);
  // The batch's own cost (the copy in, the loop, the calls, the JS per batch): the same frames
  // through an XDP program that only returns XDP_PASS (`r0 = 2; exit`).
  const passWasm = (await compile(new Uint8Array([0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]), { entries: [{ name: 'pass', pc: 0, type: 'xdp' }] })).wasm;
  const pp = (await instantiate(passWasm)).program('pass');
  if (!pp.testBatch(frames.slice(0, 1)).fastPath) throw new Error('the XDP_PASS program did not take the batch fast path');
  rows.push({ path: 'testBatch() packed, a program returning XDP_PASS', nsPerFrame: timePasses(() => pp.testBatch(packed, { dataOut: false }), frames.length, minMs) });
  log(`packet: batch packed, XDP_PASS only ${rows.at(-1)!.nsPerFrame!.toFixed(1)} ns/frame`);
  rows.push({ path: 'bpf2wasm testBatch() array (frames copied in)', nsPerFrame: timePasses(() => pa.testBatch(frames, { dataOut: false }), frames.length, minMs) });
  log(`packet: batch ${rows.at(-1)!.nsPerFrame!.toFixed(1)} ns/frame`);
  rows.push({ path: 'bpf2wasm testBatch() array, output frames kept', nsPerFrame: timePasses(() => pa.testBatch(frames), frames.length, minMs) });
  const b = await instantiate(wasm);
  const pb = b.program('port_count');
  rows.push({ path: 'bpf2wasm test() per frame', nsPerFrame: timePasses(() => { for (const f of frames) pb.test({ dataIn: f }); }, frames.length, minMs) });
  log(`packet: per-frame ${rows.at(-1)!.nsPerFrame!.toFixed(1)} ns/frame`);
  // An skb program on the same frames: a socket filter calling bpf_skb_load_bytes twice (a JS helper).
  const sockWasm = (await compileObject(new Uint8Array(readFileSync(path.join(root, 'test-programs/c/sock_syn.o'))))).wasm;
  const ps = (await instantiate(sockWasm)).program('syn_net');
  rows.push({ path: 'socket filter sock_syn.o:syn_net, testBatch() packed', nsPerFrame: timePasses(() => ps.testBatch(packed, { dataOut: false }), frames.length, minMs) });
  const pt = (await instantiate(sockWasm)).program('syn_net');
  rows.push({ path: 'socket filter sock_syn.o:syn_net, test() per frame', nsPerFrame: timePasses(() => { for (const f of frames) pt.test({ dataIn: f }); }, frames.length, minMs) });
  log(`packet: socket filter batch ${rows.at(-2)!.nsPerFrame!.toFixed(1)} ns/frame, per frame ${rows.at(-1)!.nsPerFrame!.toFixed(1)} ns/frame`);
  // Programs that took the per-frame path until the loop carried them: socket lookups (a
  // listener on each destination port, so every TCP frame finds one, asks for a SYN cookie and
  // releases it) and helpers called by number (callx). `perFrame: true` is that old path.
  const net = { interfaces: [{ ifindex: 1, addresses: ['10.0.0.2/32'] }], sockets: Array.from({ length: 16 }, (_, i) => ({ protocol: 'tcp' as const, local: `10.0.0.2:${1000 + i}` })) };
  for (const [obj, program, options] of [['sk_lookup.o', 'syn_cookie', { net }], ['xdp_callx.o', 'xdp_callx', {}]] as const) {
    const w = (await compileObject(new Uint8Array(readFileSync(path.join(root, 'test-programs/c', obj))))).wasm;
    const fast = (await instantiate(w, options)).program(program);
    const slow = (await instantiate(w, options)).program(program);
    rows.push({ path: `${obj}:${program}, testBatch() packed`, nsPerFrame: timePasses(() => fast.testBatch(packed, { dataOut: false }), frames.length, minMs) });
    rows.push({ path: `${obj}:${program}, testBatch() per frame`, nsPerFrame: timePasses(() => slow.testBatch(packed, { dataOut: false, perFrame: true }), frames.length, minMs) });
    log(`packet: ${program} batch ${rows.at(-2)!.nsPerFrame!.toFixed(1)} ns/frame, per frame ${rows.at(-1)!.nsPerFrame!.toFixed(1)} ns/frame`);
  }

  const work = mkdtempSync(path.join(tmpdir(), 'bpf2wasm-packet-bench-'));
  try {
    // The frames file of the native harness: u32 count, then (u32 length, bytes) each.
    const parts: number[] = [];
    const u32 = (v: number): void => { parts.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24); };
    u32(frames.length);
    for (const f of frames) { u32(f.length); parts.push(...f); }
    writeFileSync(path.join(work, 'frames.bin'), new Uint8Array(parts));
    const exe = path.join(work, 'xdp_native');
    const cc = process.env.CC ?? 'cc';
    const build = spawnSync(cc, ['-O2', '-DBPF2WASM_NATIVE', '-I', path.join(root, 'scripts/bench'), '-o', exe,
      path.join(root, 'scripts/bench/xdp_native.c'), path.join(root, 'test-programs/c/xdp_port_count.c')], { encoding: 'utf8' });
    if (build.status !== 0) {
      rows.push({ path: 'native cc -O2', nsPerFrame: null, skipped: `${cc} failed: ${(build.stderr || String(build.error)).split('\n')[0]}` });
    } else {
      const r = spawnSync(exe, [path.join(work, 'frames.bin'), '--min-ms', String(minMs)], { encoding: 'utf8' });
      const j = r.status === 0 ? JSON.parse(r.stdout) as { nsPerFrame: number } : undefined;
      rows.push(j ? { path: `native ${cc} -O2 (frames copied in)`, nsPerFrame: j.nsPerFrame } : { path: 'native cc -O2', nsPerFrame: null, skipped: r.stderr.trim() });
    }
    rows.push(kernelRow(objPath, frames[0]!, work));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

/** The kernel's test run of the same object on one frame, `repeat` times (what bpftool can do). */
function kernelRow(objPath: string, frame: Uint8Array, work: string): PacketRow {
  const name = 'kernel BPF_PROG_TEST_RUN (bpftool prog run, repeat)';
  if (process.platform !== 'linux') return { path: name, nsPerFrame: null, skipped: 'not Linux' };
  if (process.getuid?.() !== 0) return { path: name, nsPerFrame: null, skipped: 'not root' };
  const bt = (args: string[]) => spawnSync('bpftool', args, { encoding: 'utf8', timeout: 30_000 });
  if (bt(['version']).status !== 0) return { path: name, nsPerFrame: null, skipped: 'bpftool not found' };
  const pin = `/sys/fs/bpf/bpf2wasm-bench-${process.pid}`;
  try {
    const load = bt(['prog', 'loadall', objPath, pin]);
    if (load.status !== 0) return { path: name, nsPerFrame: null, skipped: `bpftool prog loadall failed: ${load.stderr.trim().split('\n').at(-1)}` };
    writeFileSync(path.join(work, 'frame'), frame);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = bt(['prog', 'run', 'pinned', `${pin}/port_count`, 'data_in', path.join(work, 'frame'), 'repeat', '1000000']);
      const m = /duration \(average\): (\d+)ns/.exec(r.stdout + r.stderr);
      if (!m) return { path: name, nsPerFrame: null, skipped: `no duration in bpftool's output: ${(r.stdout + r.stderr).trim().split('\n')[0]}` };
      samples.push(Number(m[1]));
    }
    return { path: name, nsPerFrame: median(samples) };
  } finally {
    rmSync(pin, { recursive: true, force: true });
  }
}
