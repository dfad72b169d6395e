/**
 * BPF_MAP_TYPE_CGROUP_ARRAY, bpf_skb_under_cgroup, bpf_skb_cgroup_id and
 * bpf_skb_ancestor_cgroup_id through test-programs/c/cgroup_array.c against host cgroups
 * (`net.cgroups`, `net.cgroup`), on every engine, with the answers worked out from the kernel's
 * rules (net/core/filter.c); malformed host cgroups are E_HOST_STATE naming the field. Where root,
 * gcc, libbpf and a cgroup2 mount allow, the kernel answers the same probes: a small loader
 * (runtime/test/cgroup-loader.c, built here) makes the cgroups, fills the map with their fds, moves
 * itself into each cgroup in turn and runs BPF_PROG_TEST_RUN, of the tc probe and of a raw
 * tracepoint asking the current task's cgroup helpers (bpf_current_task_under_cgroup,
 * bpf_get_current_cgroup_id, bpf_get_current_ancestor_cgroup_id); elsewhere that part says why and skips.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { thrownBy } from '../../test/support/thrown.js';
import { Bpf2WasmError, ErrorCode } from '../errors.js';
import { instantiate, type InstantiateOptions } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { BpfInstance } from '../program.js';
import { checkHostNetwork, type HostNetwork } from '../packet/net.js';
import { checkCgroups, underCgroup } from '../packet/cgroups.js';
import { tcProbe } from './frames.js';
import { compileStandalone } from '../../compiler/index.js';
import { main } from '../../compiler/cli/main.js';
import { mapJson, mapText } from '../../compiler/cli/print.js';
import { memoryIO } from '../../test/support/cli-io.js';

const OBJECT = repoPath('test-programs/c/cgroup_array.o');
const bytes = new Uint8Array(readFileSync(OBJECT));
const ENGINES: { label: string; open: (o: InstantiateOptions) => Promise<BpfInstance> }[] = [
  { label: '-O1', open: async (o) => instantiate((await compileObject(bytes)).wasm, o) },
  { label: '-O0', open: async (o) => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm, o) },
  { label: 'checked', open: async (o) => instantiate((await compileObject(bytes, { checked: true })).wasm, o) },
  { label: 'interpreter', open: (o) => interpretModule(planObject(bytes, {}).image, o) },
];

const EAGAIN = -11;
const E2BIG = -7;
const ENOENT = -2;

/** A probe frame: Ethernet, 20 bytes of IPv4, the request, 8 bytes for the answer. */
function frame(op: number, index = 0, level = 0): Uint8Array {
  const { frame: f, view: v } = tcProbe(34 + 16 + 8);
  v.setUint32(34, op, true);
  v.setUint32(38, index, true);
  v.setInt32(42, level, true);
  return f;
}
const answer = (out: Uint8Array): bigint => new DataView(out.buffer, out.byteOffset + 50, 8).getBigInt64(0, true);

/** The requests [label, op, index or level]: under_cgroup at every slot and past the end, the own id, ancestors from -1 to 4. */
const REQUESTS: [string, number, number][] = [
  ...[0, 1, 2, 3, 4, 0xffffffff].map((i): [string, number, number] => [`under_cgroup ${i}`, 0, i]),
  ['cgroup_id', 1, 0],
  ...[-1, 0, 1, 2, 3, 4, 0x7fffffff].map((l): [string, number, number] => [`ancestor ${l}`, 2, l]),
];
/** The requests as frames for `under_cgroup` (tc). */
const PROBES: [string, Uint8Array][] = REQUESTS.map(([label, op, x]) => [label, op === 2 ? frame(op, 0, x) : frame(op, x)]);
/** The requests as contexts for `task_cgroup` (raw tracepoint): args op, index or level, half. */
function taskCtx(op: number, x: number, half: number): Uint8Array {
  const c = new Uint8Array(24);
  const v = new DataView(c.buffer);
  v.setBigUint64(0, BigInt(op), true);
  v.setBigInt64(8, BigInt(x), true);
  v.setBigUint64(16, BigInt(half), true);
  return c;
}
/** `task_cgroup`'s s64 from its two halves (each run returns one in its low 32 bits). */
function taskAnswer(run: (ctx: Uint8Array) => number, op: number, x: number): bigint {
  return BigInt.asIntN(64, (BigInt(run(taskCtx(op, x, 1)) >>> 0) << 32n) | BigInt(run(taskCtx(op, x, 0)) >>> 0));
}
const ourTask = (inst: BpfInstance) => (ctx: Uint8Array): number => Number(inst.program('task_cgroup').run(ctx) & 0xffffffffn);

/** The hierarchy below a base cgroup (`base` its path from the mount), with ids. */
function hierarchy(base: string, ids: Record<string, bigint>): HostNetwork {
  return { cgroups: ['', '/a', '/a/b', '/c'].map((rel) => ({ path: base + rel, id: ids[rel]! })) };
}
/** Slots: 0 = base/a, 1 = base/c, 2 = base, 3 empty (max_entries 4). */
const SLOTS: [number, string][] = [[0, '/a'], [1, '/c'], [2, '']];
/** The cgroups the test runs in, relative to the base ('/' the root itself). */
const CALLERS = ['/', '', '/a', '/a/b', '/c'];

/** What the kernel's rules give for a caller: the probes' answers in PROBES order. */
function expected(base: string, ids: Record<string, bigint>, caller: string): bigint[] {
  const chain = caller === '/' ? ['/'] : ['/', '', ...(caller === '' ? [] : caller === '/a/b' ? ['/a', '/a/b'] : [caller])];
  const id = (rel: string): bigint => (rel === '/' ? 1n : ids[rel]!);
  const under = (rel: string): bigint => (chain.includes(rel) ? 1n : 0n);
  return [
    under('/a'), under('/c'), under(''), BigInt(EAGAIN), BigInt(E2BIG), BigInt(E2BIG),
    id(chain.at(-1)!),
    0n, ...[0, 1, 2, 3, 4].map((l) => (l < chain.length ? id(chain[l]!) : 0n)), 0n,
  ];
}

async function setUp(engine: (typeof ENGINES)[number], base: string, ids: Record<string, bigint>, caller: string): Promise<BpfInstance> {
  const net = { ...hierarchy(base, ids), cgroup: caller === '/' ? '/' : base + caller };
  const inst = await engine.open({ net });
  const map = inst.map('cgroups');
  for (const [slot, rel] of SLOTS) map.set(slot, base + rel);
  return inst;
}

const IDS: Record<string, bigint> = { '': 4000n, '/a': 4001n, '/a/b': 0x1_0000_0002n, '/c': 4003n };

describe('bpf_skb_under_cgroup and the cgroup ids against host cgroups', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: every caller, every probe`, async () => {
      for (const caller of CALLERS) {
        const inst = await setUp(engine, '/srv', IDS, caller);
        const got = PROBES.map(([, f]) => answer(inst.program('under_cgroup').test({ dataIn: f }).dataOut));
        expect([caller, got]).toEqual([caller, expected('/srv', IDS, caller)]);
        // The current task runs in the same cgroup, and bpf_current_task_under_cgroup needs no socket.
        const task = REQUESTS.map(([, op, x]) => taskAnswer(ourTask(inst), op, x));
        expect(['task', caller, task]).toEqual(['task', caller, expected('/srv', IDS, caller)]);
      }
    });
  }

  it('without host cgroups: the root, slots empty (-EAGAIN), ids of the root', async () => {
    const inst = await ENGINES[0]!.open({});
    const got = PROBES.map(([, f]) => answer(inst.program('under_cgroup').test({ dataIn: f }).dataOut));
    expect(got).toEqual([EAGAIN, EAGAIN, EAGAIN, EAGAIN, E2BIG, E2BIG, 1, 0, 1, 0, 0, 0, 0, 0].map(BigInt));
    inst.map('cgroups').set(1, '/');
    expect(answer(inst.program('under_cgroup').test({ dataIn: frame(0, 1) }).dataOut)).toBe(1n);
  });

  it('outside a test run there is no socket: -ENOENT', () => {
    const cg = checkCgroups(hierarchy('/srv', IDS).cgroups, '/srv/a');
    expect(underCgroup(cg, false, 0, 4, 2)).toBe(ENOENT);
    expect(underCgroup(cg, true, 0, 4, 2)).toBe(1);
    expect(underCgroup(cg, true, 0, 4, 4)).toBe(0);
    expect(() => underCgroup(cg, true, 0, 4, 9)).toThrow(expect.objectContaining({ code: ErrorCode.HelperFailed }));
  });
});

describe('the cgroup array from the map API', () => {
  it('takes and gives cgroup paths; raw slots hold the cgroup number + 1', async () => {
    const inst = await ENGINES[1]!.open({ net: { ...hierarchy('/srv', IDS), cgroup: '/srv/a' } });
    const map = inst.map<number, string>('cgroups');
    map.set(0, '/srv/c');
    map.set(3, '/');
    expect(map.get(0)).toBe('/srv/c');
    expect(map.get(1)).toBeUndefined();
    expect([...map.entries()]).toEqual([[0, '/srv/c'], [3, '/']]);
    expect(Array.from(map.lookupRaw(new Uint8Array([0, 0, 0, 0]))!)).toEqual([5, 0, 0, 0]);
    map.updateRaw(new Uint8Array([1, 0, 0, 0]), new Uint8Array([3, 0, 0, 0]));
    expect(map.get(1)).toBe('/srv/a');
    expect(map.delete(1)).toBe(true);
    expect(map.delete(1)).toBe(false);
    expect(map.size).toBe(4);
  });

  it('refuses what is no cgroup of the host, and indexes past max_entries', async () => {
    const inst = await ENGINES[1]!.open({ net: hierarchy('/srv', IDS) });
    const map = inst.map('cgroups');
    const e1 = thrownBy(() => map.set(0, '/nope'), Bpf2WasmError);
    expect([e1.code, e1.location.map]).toEqual([ErrorCode.BadArgument, 'cgroups']);
    const e2 = thrownBy(() => map.updateRaw(new Uint8Array(4), new Uint8Array([6, 0, 0, 0])), Bpf2WasmError);
    expect([e2.code, e2.location.map]).toEqual([ErrorCode.BadArgument, 'cgroups']);
    const e3 = thrownBy(() => map.updateRaw(new Uint8Array(4), new Uint8Array([0, 0, 0, 0])), Bpf2WasmError);
    expect(e3.code).toBe(ErrorCode.BadArgument);
    const e4 = thrownBy(() => map.set(4, '/'), Bpf2WasmError);
    expect([e4.code, e4.detail]).toEqual([ErrorCode.MapOp, expect.stringContaining('E2BIG')]);
    const e5 = thrownBy(() => map.set(0, '/', 1), Bpf2WasmError);
    expect([e5.code, e5.detail]).toEqual([ErrorCode.MapOp, expect.stringContaining('EINVAL')]);
  });

  it('the CLI dumps its entries as paths, and --net gives the cgroups', async () => {
    const inst = await ENGINES[1]!.open({ net: hierarchy('/srv', IDS) });
    const map = inst.map('cgroups');
    map.set(1, '/srv/a/b');
    map.set(3, '/');
    expect(mapText(map)).toEqual(['map cgroups (2 entries):', '  1 => "/srv/a/b"', '  3 => "/"']);
    expect(mapJson(map)).toEqual({ entries: [{ key: 1, value: '/srv/a/b' }, { key: 3, value: '/' }] });
    const net = JSON.stringify({ cgroups: ['', '/a', '/a/b', '/c'].map((rel) => ({ path: '/srv' + rel, id: Number(IDS[rel]) })), cgroup: '/srv/c' });
    const x = memoryIO({ 'c.o': bytes, 'net.json': net, 'p.bin': frame(1) });
    expect(await main(['run', 'c.o', '--program', 'under_cgroup', '--packet', 'p.bin', '--net', 'net.json', '--json'], x)).toBe(0);
    const out = JSON.parse(x.out) as { packet: string; maps: Record<string, unknown> };
    expect(answer(Buffer.from(out.packet, 'hex'))).toBe(IDS['/c']);
    expect(out.maps.cgroups).toEqual({ entries: [] });
    const bad = memoryIO({ 'c.o': bytes, 'net.json': '{"cgroups": [{"path": "/a/b"}]}', 'p.bin': frame(1) });
    expect(await main(['run', 'c.o', '--packet', 'p.bin', '--net', 'net.json'], bad)).toBe(1);
    expect(bad.err).toContain('E_HOST_STATE at field net.cgroups[0].path');
  });

  it('a standalone module refuses bpf_skb_under_cgroup, which needs the host', async () => {
    const e = await compileStandalone(bytes).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(Bpf2WasmError);
    expect((e as Bpf2WasmError).code).toBe(ErrorCode.StandaloneHelper);
  });
});

describe('malformed host cgroups: E_HOST_STATE naming the field', () => {
  const cases: [string, unknown, string][] = [
    ['cgroups not an array', { cgroups: {} }, 'net.cgroups'],
    ['a cgroup not an object', { cgroups: ['/a'] }, 'net.cgroups[0]'],
    ['unknown field', { cgroups: [{ path: '/a', weight: 1 }] }, 'net.cgroups[0].weight'],
    ['relative path', { cgroups: [{ path: 'a' }] }, 'net.cgroups[0].path'],
    ['empty component', { cgroups: [{ path: '/a//b' }] }, 'net.cgroups[0].path'],
    ['trailing slash', { cgroups: [{ path: '/a/' }] }, 'net.cgroups[0].path'],
    ['dot-dot', { cgroups: [{ path: '/a/..' }] }, 'net.cgroups[0].path'],
    ['the root listed', { cgroups: [{ path: '/' }] }, 'net.cgroups[0].path'],
    ['parent not listed before', { cgroups: [{ path: '/a/b' }, { path: '/a' }] }, 'net.cgroups[0].path'],
    ['listed twice', { cgroups: [{ path: '/a' }, { path: '/a' }] }, 'net.cgroups[1].path'],
    ['id of the root', { cgroups: [{ path: '/a', id: 1 }] }, 'net.cgroups[0].id'],
    ['id not an integer', { cgroups: [{ path: '/a', id: 2.5 }] }, 'net.cgroups[0].id'],
    ['id as a string', { cgroups: [{ path: '/a', id: '7' }] }, 'net.cgroups[0].id'],
    ['id past 64 bits', { cgroups: [{ path: '/a', id: 1n << 64n }] }, 'net.cgroups[0].id'],
    ['duplicate id', { cgroups: [{ path: '/a', id: 9 }, { path: '/b', id: 9 }] }, 'net.cgroups[1].id'],
    ['caller not listed', { cgroups: [{ path: '/a' }], cgroup: '/b' }, 'net.cgroup'],
    ['caller not a path', { cgroup: 3 }, 'net.cgroup'],
  ];
  for (const [label, net, field] of cases) {
    it(label, () => {
      const e = thrownBy(() => checkHostNetwork(net), Bpf2WasmError);
      expect([e.code, e.location.field]).toEqual([ErrorCode.HostState, field]);
    });
  }
  it('ids default to one above the largest so far', () => {
    const s = checkHostNetwork({ cgroups: [{ path: '/a' }, { path: '/a/b', id: 10 }, { path: '/c' }] });
    expect(s.cgroups.list.map((c) => [c.path, c.id, c.level])).toEqual([['/', 1n, 0], ['/a', 2n, 1], ['/a/b', 10n, 2], ['/c', 11n, 1]]);
  });
});

// ---- the kernel ----

/** The cgroup2 mount, or undefined. */
function cgroup2Mount(): string | undefined {
  const mounts = existsSync('/proc/mounts') ? readFileSync('/proc/mounts', 'utf8') : '';
  return mounts.split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
}

interface Kernel { loader: string; mount: string; work: string }

function openKernel(): Kernel | string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  const mount = cgroup2Mount();
  if (!mount) return 'no cgroup2 mount';
  const work = mkdtempSync(path.join(tmpdir(), 'bpf2wasm-cgroup-'));
  const loader = path.join(work, 'loader');
  const cc = spawnSync('gcc', ['-O1', '-o', loader, repoPath('runtime/test/cgroup-loader.c'), '-lbpf'], { encoding: 'utf8' });
  if (cc.status !== 0) {
    rmSync(work, { recursive: true, force: true });
    return `gcc with libbpf cannot build the loader (${(cc.stderr || String(cc.error)).split('\n')[0]})`;
  }
  return { loader, mount, work };
}

/** Runs one session of the loader; its answer lines. */
function session(k: Kernel, commands: string[]): string[] {
  const r = spawnSync(k.loader, [OBJECT, 'cgroups', k.mount], { input: commands.join('\n') + '\n', encoding: 'utf8', timeout: 30_000 });
  return (r.stdout ?? '').split('\n').filter((l) => l !== '');
}

const kernel = openKernel();
afterAll(() => {
  if (typeof kernel !== 'string') rmSync(kernel.work, { recursive: true, force: true });
});
let kernelSkip = typeof kernel === 'string' ? kernel : '';
if (typeof kernel !== 'string') {
  const probe = session(kernel, []);
  if (probe[0]?.startsWith('error')) kernelSkip = `the kernel refused the object (${probe[0]})`;
}
const SKIP = `skipped: the kernel comparison needs root, a cgroup2 mount, gcc and libbpf (${kernelSkip})`;
if (kernelSkip) console.log(`cgroup.test.ts: ${SKIP}`);

describe('bpf_skb_under_cgroup and the cgroup ids: the kernel', () => {
  if (kernelSkip) {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  const k = kernel as Kernel;
  it('every caller, every probe: identical retval and output frame', async () => {
    const base = `/bpf2wasm-cg-${process.pid}`;
    const commands = [
      ...['', '/a', '/a/b', '/c'].map((rel) => `mk ${base + rel}`),
      ...SLOTS.map(([slot, rel]) => `set ${slot} ${base + rel}`),
    ];
    for (const caller of CALLERS) {
      commands.push(`join ${caller === '/' ? '/' : base + caller}`);
      for (const [, f] of PROBES) commands.push(`run under_cgroup ${Buffer.from(f).toString('hex')}`);
      for (const [, op, x] of REQUESTS) for (const half of [0, 1]) commands.push(`ctx task_cgroup ${Buffer.from(taskCtx(op, x, half)).toString('hex')}`);
    }
    const lines = session(k, commands);
    expect(lines.filter((l) => l.startsWith('error') || /^(set \d+|join) -/.test(l))).toEqual([]);
    const ids: Record<string, bigint> = {};
    for (const l of lines.filter((x) => x.startsWith('id '))) {
      const [, p, id] = l.split(' ');
      ids[p!.slice(base.length)] = BigInt(id!);
    }
    expect(Object.keys(ids).sort()).toEqual(['', '/a', '/a/b', '/c']);
    const runs = lines.filter((l) => l.startsWith('run '));
    expect(runs.length).toBe(CALLERS.length * PROBES.length);
    const ctxRuns = lines.filter((l) => l.startsWith('ctx '));
    expect(ctxRuns.length).toBe(CALLERS.length * REQUESTS.length * 2);
    expect(ctxRuns.filter((l) => !l.startsWith('ctx 0 '))).toEqual([]);
    let j = 0;
    const mismatches: string[] = [];
    let i = 0;
    for (const caller of CALLERS) {
      const inst = await setUp(ENGINES[0]!, base, ids, caller);
      for (const [label, f] of PROBES) {
        const o = inst.program('under_cgroup').test({ dataIn: f });
        const ours = `run 0 ${o.retval} ${Buffer.from(o.dataOut).toString('hex')}`;
        const theirs = runs[i++]!;
        if (ours !== theirs) mismatches.push(`${caller} ${label}:\n  kernel   ${theirs}\n  bpf2wasm ${ours}`);
      }
      // The expectation table is the kernel's too.
      const theirs = runs.slice(i - PROBES.length, i).map((l) => answer(Buffer.from(l.split(' ')[3]!, 'hex')));
      expect([caller, theirs]).toEqual([caller, expected(base, ids, caller)]);
      // The current task's helpers, from a raw tracepoint's test run in the same cgroup.
      const kernelTask = REQUESTS.map(() => {
        const lo = Number(ctxRuns[j++]!.split(' ')[2]);
        const hi = Number(ctxRuns[j++]!.split(' ')[2]);
        return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
      });
      const oursTask = REQUESTS.map(([, op, x]) => taskAnswer(ourTask(inst), op, x));
      expect(['task', caller, oursTask]).toEqual(['task', caller, kernelTask]);
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 60_000);
});
