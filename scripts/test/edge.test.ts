/**
 * The edge examples (examples/, README "Deploying") on their real platforms: the worker in workerd
 * (Cloudflare's runtime, npm `workerd`), the Deno server under the `deno` binary (npm `deno`) and
 * the Node middleware server under node, each built by examples/build.mjs (CLI + esbuild) and
 * driven over loopback with fetch: allowed 200, blocked 403 (IPv4 and IPv6 prefixes), too many
 * headers 431, rate-limited 429 (and the bucket refilling from the real clock), the maps' state
 * from the admin endpoint, and an operator's rule that arrives at run time and runs on the
 * interpreter. Each platform skips with a notice where its binary (or esbuild) is not installed;
 * BPF2WASM_TOOLS names other folders whose node_modules hold them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble } from '../../compiler/asm/assemble.js';
import { readElfBtf } from '../../compiler/elf/btf-sections.js';
import { parseElf } from '../../compiler/elf/elf64.js';
import { typeDescOf } from '../../compiler/btf/typedesc.js';
import { REQUEST_LAYOUT, encodeRequest, formatIp, parseIp, parsePrefix } from '../../examples/http-filter/filter.js';
import { buildExamples, findTool, loadEsbuild, root, workerdConfig } from '../../examples/build.mjs';

const HAVE_ESBUILD = (await loadEsbuild()) !== undefined;
const WORKERD = findTool('workerd');
const DENO = findTool('deno');
const TOKEN = 'test-token';
const admin = { authorization: `Bearer ${TOKEN}` };

let out = '';
let dirs: { workers: string; deno: string; node: string } | undefined;
beforeAll(async () => {
  if (!HAVE_ESBUILD) return;
  out = mkdtempSync(join(tmpdir(), 'bpf2wasm-edge-'));
  dirs = await buildExamples({ out });
}, 120_000);
afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('struct http_request', () => {
  it('the layout the hosts fill is the one the object\'s BTF describes', () => {
    const elf = parseElf(new Uint8Array(readFileSync(join(root, 'test-programs/c/http_filter.o'))));
    const { btf } = readElfBtf(elf);
    const t = btf!.typeByName('http_request', 'struct')!;
    const desc = typeDescOf(btf!, btf!.types.indexOf(t));
    if (desc.kind !== 'struct') throw new Error('not a struct');
    expect(desc.size).toBe(REQUEST_LAYOUT.size);
    const fields = Object.fromEntries(desc.members.map((m) => [m.name, { offset: m.offset, size: sizeOf(m.type) }]));
    const { size: _size, ...layout } = REQUEST_LAYOUT;
    expect(fields).toEqual(layout);
  });

  it('encodes addresses, methods, header counts and paths', () => {
    const ctx = encodeRequest({ ip: '::ffff:192.0.2.7', method: 'delete', path: '/a' + 'x'.repeat(100), headerCount: 70000 });
    const dv = new DataView(ctx.buffer);
    expect([ctx[0], ctx[1], dv.getUint16(2, true), dv.getUint32(4, true)]).toEqual([4, 5, 0xffff, 102]);
    expect([...ctx.subarray(8, 12)]).toEqual([192, 0, 2, 7]);
    expect(new TextDecoder().decode(ctx.subarray(24, 28))).toBe('/axx');
    expect(encodeRequest({ ip: 'nonsense', method: 'GET', path: '/', headerCount: 0 })[0]).toBe(0);
    expect(formatIp(6, parseIp('2001:db8:0:0:1::1')!.bytes)).toBe('2001:db8::1:0:0:1');
    expect(formatIp(6, parseIp('::')!.bytes)).toBe('::');
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '']) expect(parseIp(bad)).toBeUndefined();
    expect(parsePrefix('10.1.2.3/8')).toMatchObject({ family: 4, length: 8 });
    expect([...parsePrefix('10.1.2.3/8')!.bytes.subarray(0, 4)]).toEqual([10, 0, 0, 0]);
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/8/1', '10.0.0.0/-1', 'x/8']) expect(parsePrefix(bad)).toBeUndefined();
  });
});

function sizeOf(t: { kind: string; size?: number; length?: number; element?: unknown }): number {
  if ('size' in t && typeof t.size === 'number') return t.size;
  if (t.kind === 'array') return (t.length as number) * sizeOf(t.element as { kind: string });
  throw new Error(`no size for ${JSON.stringify(t)}`);
}

/** A free loopback port (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Served {
  base: string;
  child: ChildProcess;
  log: () => string;
}

/** Starts a server process and waits until `ready(base)` answers or stdout names the port. */
async function serve(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; port?: number }): Promise<Served> {
  const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode}:\n${text}`);
    let base = options.port ? `http://127.0.0.1:${options.port}` : undefined;
    const m = /listening on (http:\/\/[^\s/]+)/.exec(text);
    if (!base && m) base = m[1]!;
    if (base) {
      try {
        await fetch(`${base}/__bpf/ready`);
        return { base, child, log: () => text };
      } catch {
        // not accepting yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`${cmd} did not start in 30 s:\n${text}`);
}

function stop(s: Served | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    s.child.once('exit', () => r());
    s.child.kill('SIGTERM');
  });
}

/**
 * The same scenario on every platform. `client(ip)` is the header that tells the server the
 * client's address (cf-connecting-ip on Workers; x-forwarded-for behind a trusted proxy).
 * Settings: BURST=3, RATE_PER_SEC=2, MAX_HEADERS=16.
 */
function scenario(get: () => Served | undefined, clientHeader: string): void {
  const from = (ip: string, extra: Record<string, string> = {}) => ({ [clientHeader]: ip, ...extra });
  const req = (path: string, init: RequestInit = {}) => fetch(get()!.base + path, init);
  const state = async () => (await (await req('/__bpf/maps', { headers: admin })).json()) as {
    block: { prefix: string; hits: number }[];
    rate: { client: string; tokens: number; allowed: number; limited: number }[];
    stats: Record<string, number>;
    rule: { installed: boolean; matched: number; errors: number; lastError?: string };
  };

  it('passes a request on (200) and hides the admin endpoints without the token', async () => {
    const r = await req('/hello?x=1', { headers: from('198.51.100.1') });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('ok GET /hello\n');
    expect((await req('/__bpf/maps')).status).toBe(404);
    expect((await req('/__bpf/maps', { headers: { authorization: 'Bearer wrong' } })).status).toBe(404);
    expect((await req('/nothing', { headers: from('not an address') })).status).toBe(400);
  });

  it('blocks IPv4 and IPv6 prefixes (403), longest prefix counted, and unblocks', async () => {
    for (const p of ['203.0.113.0/24', '203.0.113.128/25', '2001:db8::/32']) {
      const r = await req('/__bpf/block', { method: 'POST', headers: admin, body: p });
      expect(await r.json()).toEqual({ prefix: p, ok: true });
    }
    expect((await req('/__bpf/block', { method: 'POST', headers: admin, body: '300.1.1.1/8' })).status).toBe(400);
    expect((await req('/', { headers: from('203.0.113.9') })).status).toBe(403);
    expect((await req('/', { headers: from('203.0.113.200') })).status).toBe(403);
    expect((await req('/', { headers: from('203.0.113.201') })).status).toBe(403);
    expect((await req('/', { headers: from('2001:db8:1::5') })).status).toBe(403);
    expect((await req('/', { headers: from('2001:db9::5') })).status).toBe(200);
    expect((await req('/', { headers: from('203.0.114.1') })).status).toBe(200);
    const s = await state();
    expect(s.block.sort((a, b) => a.prefix.localeCompare(b.prefix))).toEqual([
      { prefix: '2001:db8::/32', hits: 1 },
      { prefix: '203.0.113.0/24', hits: 1 },
      { prefix: '203.0.113.128/25', hits: 2 },
    ]);
    expect((await req('/__bpf/block', { method: 'DELETE', headers: admin, body: '203.0.113.0/24' })).status).toBe(200);
    expect((await req('/__bpf/block', { method: 'DELETE', headers: admin, body: '203.0.113.0/24' })).status).toBe(404);
    expect((await req('/', { headers: from('203.0.113.9') })).status).toBe(200);
    expect((await req('/', { headers: from('203.0.113.200') })).status).toBe(403);
  });

  it('answers 431 above MAX_HEADERS', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 20; i++) many[`x-h${i}`] = String(i);
    expect((await req('/', { headers: from('198.51.100.50', many) })).status).toBe(431);
  });

  it('rate-limits per client (429 after BURST), refilling from bpf_ktime_get_ns', async () => {
    const ip = '192.0.2.33';
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await req('/', { headers: from(ip) })).status);
    expect(codes).toEqual([200, 200, 200, 429, 429]);
    expect((await req('/', { headers: from('192.0.2.34') })).status).toBe(200);
    let s = await state();
    expect(s.rate.find((e) => e.client === ip)).toMatchObject({ allowed: 3, limited: 2 });
    await new Promise((r) => setTimeout(r, 1100)); // RATE_PER_SEC=2: two tokens back
    expect((await req('/', { headers: from(ip) })).status).toBe(200);
    s = await state();
    expect(s.rate.find((e) => e.client === ip)).toMatchObject({ allowed: 4, limited: 2 });
    expect(s.stats.limit).toBe(2);
    expect(s.stats.block).toBe(5);
    expect(s.stats.other).toBe(2); // the 431 and the unparsable address (400)
    expect(s.stats.pass).toBe(s.rate.reduce((n, e) => n + e.allowed, 0));
  });

  it('runs an operator\'s rule posted at run time on the interpreter (bytecode and assembly)', async () => {
    // Bytecode: DELETE (method 5) gets 405.
    const bytecode = assemble('ldxb %r2, [%r1+1]\nmov %r0, 0\njne %r2, 5, out\nmov %r0, 405\nout:\nexit');
    let r = await req('/__bpf/rule', { method: 'PUT', headers: { ...admin, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytecode) });
    expect(await r.json()).toEqual({ installed: true, engine: 'interpreter' });
    expect((await req('/x', { method: 'DELETE', headers: from('198.51.100.7') })).status).toBe(405);
    expect((await req('/x', { headers: from('198.51.100.7') })).status).toBe(200);
    expect((await state()).rule).toEqual({ installed: true, matched: 1, errors: 0 });
    // Assembly text: paths starting with "/wp-" get 410 (path at offset 24, little-endian u32).
    const wp = new DataView(new TextEncoder().encode('/wp-').buffer).getUint32(0, true);
    r = await req('/__bpf/rule', { method: 'PUT', headers: admin, body: `ldxw %r2, [%r1+24]\nmov %r0, 0\njne %r2, ${wp}, out\nmov %r0, 410\nout:\nexit` });
    expect(r.status).toBe(200);
    expect((await req('/wp-login.php', { headers: from('198.51.100.8') })).status).toBe(410);
    expect((await req('/x', { method: 'DELETE', headers: from('198.51.100.8') })).status).toBe(200);
    // A rule that reads outside its context faults: counted, and the request goes on to the filter.
    r = await req('/__bpf/rule', { method: 'PUT', headers: admin, body: 'ldxw %r0, [%r1+4096]\nexit' });
    expect(r.status).toBe(200);
    expect((await req('/x', { headers: from('198.51.100.9') })).status).toBe(200);
    const rule = (await state()).rule;
    expect(rule).toMatchObject({ installed: true, matched: 0, errors: 1 });
    expect(rule.lastError).toMatch(/^E_MEMORY_FAULT/);
    // An endless loop stops at the budget.
    await req('/__bpf/rule', { method: 'PUT', headers: admin, body: 'top:\nja top\nexit' });
    expect((await req('/x', { headers: from('198.51.100.9') })).status).toBe(200);
    expect((await state()).rule.lastError).toMatch(/^E_BUDGET/);
    // Bad programs are refused with their error code; the installed rule stays.
    r = await req('/__bpf/rule', { method: 'PUT', headers: admin, body: 'mov %r0, 1\nbogus' });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { code: string }).code).toBe('E_ASM_SYNTAX');
    r = await req('/__bpf/rule', { method: 'PUT', headers: { ...admin, 'content-type': 'application/octet-stream' }, body: new Uint8Array(12) });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { code: string }).code).toMatch(/^E_/);
    expect((await req('/__bpf/rule', { method: 'DELETE', headers: admin })).status).toBe(200);
    expect((await state()).rule.installed).toBe(false);
    expect((await req('/x', { method: 'DELETE', headers: from('198.51.100.7') })).status).toBe(200);
  });
}

const SETTINGS = { ADMIN_TOKEN: TOKEN, BURST: '3', RATE_PER_SEC: '2', MAX_HEADERS: '16' };

describe('Cloudflare Workers example in workerd', () => {
  const why = !HAVE_ESBUILD ? 'esbuild is not installed' : !WORKERD ? 'workerd is not installed (npm ci installs it)' : '';
  if (why) it.skipIf(true)(`skipped: ${why}`, () => {});
  let server: Served | undefined;
  beforeAll(async () => {
    if (why) return;
    const port = await freePort();
    writeFileSync(join(dirs!.workers, 'test.capnp'), workerdConfig({ address: `127.0.0.1:${port}`, bindings: SETTINGS }));
    server = await serve(WORKERD!, ['serve', 'test.capnp'], { cwd: dirs!.workers, port });
  }, 60_000);
  afterAll(() => stop(server));
  if (!why) scenario(() => server, 'cf-connecting-ip');

  it.skipIf(!!why)('refuses to compile Wasm from bytes, which is why run-time rules use the interpreter', async () => {
    // A second worker in its own workerd: WebAssembly.compile of the smallest valid module.
    const dir = mkdtempSync(join(out, 'probe-'));
    writeFileSync(join(dir, 'probe.js'), `export default { async fetch() {
      try { await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); return new Response('compiled'); }
      catch (e) { return new Response(String(e && e.message)); } } };`);
    const port = await freePort();
    writeFileSync(join(dir, 'probe.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [(name = "main", worker = .w)], sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")]);
const w :Workerd.Worker = (modules = [(name = "probe.js", esModule = embed "probe.js")], compatibilityDate = "2025-01-01");
`);
    const probe = await serve(WORKERD!, ['serve', 'probe.capnp'], { cwd: dir, port });
    try {
      expect(await (await fetch(probe.base)).text()).toMatch(/disallowed by embedder/);
    } finally {
      await stop(probe);
    }
  });
});

describe('Deno example', () => {
  const why = !HAVE_ESBUILD ? 'esbuild is not installed' : !DENO ? 'deno is not installed (npm ci installs it)' : '';
  if (why) it.skipIf(true)(`skipped: ${why}`, () => {});
  let server: Served | undefined;
  beforeAll(async () => {
    if (why) return;
    server = await serve(DENO!, ['run', '--allow-net=127.0.0.1', `--allow-read=${dirs!.deno}`, '--allow-env', 'server.js'], {
      cwd: dirs!.deno,
      env: { ...SETTINGS, PORT: '0', TRUST_FORWARDED: '1', DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(out, 'deno-cache'), NO_COLOR: '1' },
    });
  }, 60_000);
  afterAll(() => stop(server));
  if (!why) scenario(() => server, 'x-forwarded-for');
});

describe('Node middleware example', () => {
  const why = !HAVE_ESBUILD ? 'esbuild is not installed' : '';
  if (why) it.skipIf(true)(`skipped: ${why}`, () => {});
  let server: Served | undefined;
  beforeAll(async () => {
    if (why) return;
    server = await serve(process.execPath, ['server.js'], { cwd: dirs!.node, env: { ...SETTINGS, PORT: '0', TRUST_FORWARDED: '1' } });
  }, 60_000);
  afterAll(() => stop(server));
  if (!why) scenario(() => server, 'x-forwarded-for');
});
