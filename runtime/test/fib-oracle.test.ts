/**
 * The kernel as the reference for bpf_fib_lookup against host state: where root, `ip netns` and
 * bpftool work, the host network of fib-cases.ts is built in a fresh network namespace (veth
 * pairs, addresses, per-interface forwarding, routes, neighbours), test-programs/c/xdp_fwd.o is
 * loaded, and every probe runs through the kernel's BPF_PROG_TEST_RUN inside the namespace
 * (`ip netns exec NS bpftool prog run id N`) and through bpf2wasm with the same state as `net`:
 * the return values and the output frames (the whole `struct bpf_fib_lookup` the helper wrote
 * back) must be identical. Elsewhere it says so and skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { instantiate } from '../instance.js';
import type { HostNetwork } from '../packet/net.js';
import { FWD_FRAMES, NEIGH_FRAMES, NET, PROBES, probeFrame, xdpCtx } from './fib-cases.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OBJECT = path.join(root, 'test-programs/c/xdp_fwd.o');
const NS = `bpf2wasm-fib-${process.pid}`;
const PIN = `/sys/fs/bpf/bpf2wasm-fib-${process.pid}`;

function run(cmd: string, args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}
const ip = (...args: string[]): { ok: boolean; out: string; err: string } => run('ip', ['-n', NS, ...args]);

/** The `ip` commands that build `net` in the namespace (veth pairs by consecutive ifindex). */
function commands(net: HostNetwork): string[][] {
  const cmds: string[][] = [['link', 'set', 'lo', 'up']];
  const itfs = net.interfaces ?? [];
  for (let i = 0; i + 1 < itfs.length; i += 2) {
    const a = itfs[i]!;
    const b = itfs[i + 1]!;
    cmds.push(['link', 'add', a.name!, 'index', String(a.ifindex), 'type', 'veth', 'peer', 'name', b.name!, 'index', String(b.ifindex)]);
  }
  for (const itf of itfs) {
    cmds.push(['link', 'set', itf.name!, 'address', itf.mac!, 'mtu', String(itf.mtu ?? 1500), 'up']);
    for (const a of itf.addresses ?? []) cmds.push([...(a.includes(':') ? ['-6'] : []), 'addr', 'add', a, 'dev', itf.name!, ...(a.includes(':') ? ['nodad'] : [])]);
  }
  const name = (ifindex: number): string => itfs.find((x) => x.ifindex === ifindex)!.name!;
  for (const r of net.routes ?? []) {
    const c = [...(r.prefix.includes(':') ? ['-6'] : []), 'route', 'add'];
    if (r.type && r.type !== 'unicast') c.push(r.type);
    c.push(r.prefix);
    if (r.via) c.push('via', ...(r.via.includes(':') && !r.prefix.includes(':') ? ['inet6'] : []), r.via);
    if (r.ifindex) c.push('dev', name(r.ifindex));
    if (r.metric !== undefined) c.push('metric', String(r.metric));
    if (r.table !== undefined) c.push('table', String(r.table));
    if (r.mtu !== undefined) c.push('mtu', 'lock', String(r.mtu));
    if (r.src !== undefined) c.push('src', r.src);
    cmds.push(c);
  }
  for (const n of net.neighbours ?? []) cmds.push(['neigh', 'add', n.ip, 'lladdr', n.mac, 'dev', name(n.ifindex), 'nud', n.state ?? 'permanent']);
  return cmds;
}

/** Why the namespace cannot be built here, or undefined when it is. */
function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  if (!run('bpftool', ['version']).ok) return 'bpftool not found';
  if (!existsSync('/sys/fs/bpf')) return 'no bpffs at /sys/fs/bpf';
  const add = run('ip', ['netns', 'add', NS]);
  if (!add.ok) return `ip netns add failed: ${add.err.trim()}`;
  for (const c of commands(NET)) {
    const r = ip(...c);
    if (!r.ok) return `ip ${c.join(' ')} failed: ${r.err.trim()}`;
  }
  for (const itf of NET.interfaces ?? []) {
    for (const fam of ['ipv4', 'ipv6']) {
      const r = run('ip', ['netns', 'exec', NS, 'sysctl', '-qw', `net.${fam}.conf.${itf.name!}.forwarding=${itf.forwarding === false ? 0 : 1}`]);
      if (!r.ok) return `sysctl failed: ${r.err.trim()}`;
    }
  }
  mkdirSync(PIN, { recursive: true });
  const load = run('bpftool', ['prog', 'loadall', OBJECT, `${PIN}/p`]);
  if (!load.ok) return `bpf() refused xdp_fwd.o: ${load.err.trim().split('\n').pop() ?? ''}`;
  return undefined;
}

const reason = unavailable();
const SKIP = `skipped: the fib oracle needs root, ip netns, bpftool and bpf() (${reason ?? ''})`;
if (reason) console.log(`fib-oracle.test.ts: ${SKIP}`);
const work = mkdtempSync(path.join(tmpdir(), 'bpf2wasm-fib-'));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(PIN, { recursive: true, force: true });
  run('ip', ['netns', 'del', NS]);
});

function progId(name: string): string {
  const r = run('bpftool', ['-j', 'prog', 'show', 'pinned', `${PIN}/p/${name}`]);
  return String((JSON.parse(r.out) as { id: number }).id);
}

function kernelRun(id: string, data: Uint8Array, ctxIn?: Uint8Array): { retval: number; dataOut: string } | { error: string } {
  const fin = path.join(work, 'in');
  const fout = path.join(work, 'out');
  writeFileSync(fin, data);
  rmSync(fout, { force: true });
  const args = ['netns', 'exec', NS, 'bpftool', 'prog', 'run', 'id', id, 'data_in', fin, 'data_out', fout];
  if (ctxIn) {
    writeFileSync(path.join(work, 'ctx'), ctxIn);
    args.push('ctx_in', path.join(work, 'ctx'));
  }
  const r = run('ip', args);
  if (!r.ok) return { error: r.err.trim() };
  const m = /Return value: (\d+)/.exec(r.out + r.err);
  return m ? { retval: Number(m[1]), dataOut: Buffer.from(readFileSync(fout)).toString('hex') } : { error: r.out };
}

describe('bpf_fib_lookup: the kernel in a network namespace vs bpf2wasm with the same host state', () => {
  if (reason) {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it(`${PROBES.length} probes of fib_probe / fib_probe_tc, ${FWD_FRAMES.length} frames of xdp_fwd`, async () => {
    const { wasm } = await compileObject(new Uint8Array(readFileSync(OBJECT)));
    const inst = await instantiate(wasm, { net: NET });
    const mismatches: string[] = [];
    const ids = { fib_probe: progId('fib_probe'), fib_probe_tc: progId('fib_probe_tc'), xdp_fwd: progId('xdp_fwd') };
    for (const p of PROBES) {
      const name = p.tc ? 'fib_probe_tc' : 'fib_probe';
      const frame = probeFrame(p);
      const k = kernelRun(ids[name], frame);
      const o = inst.program(name).test({ dataIn: frame });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      if (JSON.stringify(k) !== JSON.stringify(ours)) mismatches.push(`${p.label}:\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(ours)}`);
      const rc = 'error' in k ? undefined : new DataView(Uint8Array.from(Buffer.from(k.dataOut, 'hex')).buffer).getInt32(18, true);
      if (rc !== p.rc) mismatches.push(`${p.label}: the kernel returned ${String(rc)}, fib-cases.ts records ${p.rc}`);
    }
    for (const f of FWD_FRAMES) {
      const ctx = xdpCtx(f.ingress, f.data.length);
      const k = kernelRun(ids.xdp_fwd, f.data, ctx);
      const o = inst.program('xdp_fwd').test({ dataIn: f.data, ctxIn: ctx });
      const ours = { retval: o.retval, dataOut: Buffer.from(o.dataOut).toString('hex') };
      if (JSON.stringify(k) !== JSON.stringify(ours)) mismatches.push(`xdp_fwd ${f.label}:\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(ours)}`);
    }
    // bpf_redirect_neigh: the test run does not redirect; its return value is the helper's.
    const neigh = progId('tc_neigh');
    for (const [label, frame] of NEIGH_FRAMES) {
      const k = kernelRun(neigh, frame);
      const o = inst.program('tc_neigh').test({ dataIn: frame });
      if ('error' in k || k.retval !== o.retval) mismatches.push(`tc_neigh ${label}: kernel ${JSON.stringify(k)}, bpf2wasm ${o.retval}`);
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 120_000);
});
