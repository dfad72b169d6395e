/**
 * A host network (runtime/packet/net.ts's `HostNetwork`) built for real in a fresh Linux network
 * namespace with `ip` (veth pairs by consecutive interfaces, addresses, per-interface forwarding,
 * routes, neighbours), an object loaded with bpftool (its maps pinned, for mapLookup), and
 * `bpftool prog run` inside the namespace: the kernel reference of fib-oracle.test.ts and sk-oracle.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { HostNetwork } from '../packet/net.js';

/** A command's outcome. */
export interface Ran { ok: boolean; out: string; err: string }

/** Runs a command (20 s at most). */
export function run(cmd: string, args: string[]): Ran {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** The `ip` commands that build `net` (veth pairs: interfaces 0-1, 2-3, ...). */
export function commands(net: HostNetwork): string[][] {
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

/** A namespace with `net` built and an object loaded (its programs by name), or why not. */
export class KernelHost {
  readonly ns: string;
  private readonly pin: string;
  private readonly work: string;
  private readonly ids = new Map<string, string>();

  private constructor(tag: string) {
    this.ns = `bpf2wasm-${tag}-${process.pid}`;
    this.pin = `/sys/fs/bpf/bpf2wasm-${tag}-${process.pid}`;
    this.work = mkdtempSync(path.join(tmpdir(), `bpf2wasm-${tag}-`));
  }

  /** Builds the host and loads `object`; a string says why the kernel cannot serve here. */
  static open(tag: string, net: HostNetwork, object: string): KernelHost | string {
    if (process.platform !== 'linux') return 'not Linux';
    if (process.getuid?.() !== 0) return 'not root';
    if (!run('bpftool', ['version']).ok) return 'bpftool not found';
    if (!existsSync('/sys/fs/bpf')) return 'no bpffs at /sys/fs/bpf';
    const h = new KernelHost(tag);
    const why = h.build(net, object);
    if (why) {
      h.close();
      return why;
    }
    return h;
  }

  private build(net: HostNetwork, object: string): string | undefined {
    const add = run('ip', ['netns', 'add', this.ns]);
    if (!add.ok) return `ip netns add failed: ${add.err.trim()}`;
    for (const c of commands(net)) {
      const r = run('ip', ['-n', this.ns, ...c]);
      if (!r.ok) return `ip ${c.join(' ')} failed: ${r.err.trim()}`;
    }
    for (const itf of net.interfaces ?? []) {
      for (const fam of ['ipv4', 'ipv6']) {
        const r = run('ip', ['netns', 'exec', this.ns, 'sysctl', '-qw', `net.${fam}.conf.${itf.name!}.forwarding=${itf.forwarding === false ? 0 : 1}`]);
        if (!r.ok) return `sysctl failed: ${r.err.trim()}`;
      }
    }
    mkdirSync(this.pin, { recursive: true });
    const load = run('bpftool', ['prog', 'loadall', object, `${this.pin}/p`, 'pinmaps', `${this.pin}/m`]);
    if (!load.ok) return `bpf() refused ${path.basename(object)}: ${load.err.trim().split('\n').pop() ?? ''}`;
    return undefined;
  }

  private id(program: string): string {
    let id = this.ids.get(program);
    if (!id) {
      const r = run('bpftool', ['-j', 'prog', 'show', 'pinned', `${this.pin}/p/${program}`]);
      this.ids.set(program, (id = String((JSON.parse(r.out) as { id: number }).id)));
    }
    return id;
  }

  /** `bpftool prog run` of `program` inside the namespace: retval and the output frame in hex. */
  testRun(program: string, data: Uint8Array, ctxIn?: Uint8Array): { retval: number; dataOut: string } | { error: string } {
    const fin = path.join(this.work, 'in');
    const fout = path.join(this.work, 'out');
    writeFileSync(fin, data);
    rmSync(fout, { force: true });
    const args = ['netns', 'exec', this.ns, 'bpftool', 'prog', 'run', 'id', this.id(program), 'data_in', fin, 'data_out', fout];
    if (ctxIn) {
      writeFileSync(path.join(this.work, 'ctx'), ctxIn);
      args.push('ctx_in', path.join(this.work, 'ctx'));
    }
    const r = run('ip', args);
    if (!r.ok) return { error: r.err.trim() };
    const m = /Return value: (\d+)/.exec(r.out + r.err);
    return m ? { retval: Number(m[1]), dataOut: Buffer.from(readFileSync(fout)).toString('hex') } : { error: r.out };
  }

  /** The value of `map` (of the loaded object) at `key`, as `bpftool map lookup` gives it; undefined when it has none. */
  mapLookup(map: string, key: Uint8Array): Uint8Array | undefined {
    const r = run('bpftool', ['-j', 'map', 'lookup', 'pinned', `${this.pin}/m/${map}`, 'key', ...[...key].map(String)]);
    if (!r.ok) return undefined;
    const v = (JSON.parse(r.out) as { value?: string[] }).value;
    return v ? Uint8Array.from(v.map((x) => parseInt(x, 16))) : undefined;
  }

  /** Removes the namespace, the pins and the work directory. */
  close(): void {
    rmSync(this.work, { recursive: true, force: true });
    rmSync(this.pin, { recursive: true, force: true });
    run('ip', ['netns', 'del', this.ns]);
  }
}

/**
 * The kernel host a comparison test file runs against (KernelHost.open), closed after the file's
 * tests; or, where it cannot be opened, why (`skip`, printed once with the file's name, for the
 * file's skipped test to carry).
 */
export function kernelComparisonHost(file: string, tag: string, net: HostNetwork, object: string): { host: KernelHost | string; skip: string } {
  const host = KernelHost.open(tag, net, object);
  const skip = `skipped: the kernel comparison needs root, ip netns, bpftool and bpf() (${typeof host === 'string' ? host : ''})`;
  if (typeof host === 'string') console.log(`${file}: ${skip}`);
  afterAll(() => {
    if (typeof host !== 'string') host.close();
  });
  return { host, skip };
}
