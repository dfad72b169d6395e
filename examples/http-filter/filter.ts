/**
 * The HTTP request filter shared by the edge examples (Cloudflare Workers, Deno, Node): runs
 * test-programs/c/http_filter.c, compiled ahead of time to `filter.wasm`, on every request, and an
 * operator's rule that arrives at run time (eBPF bytecode or assembly) on the interpreter, which
 * never compiles Wasm (Workers refuse to compile Wasm from bytes).
 *
 * Platform-neutral: web `Request`/`Response` only, no `node:*`. Each platform supplies the two
 * modules (as `WebAssembly.Module`s or bytes) and the client address.
 */
import { assemble } from '../../compiler/asm/assemble.js';
import { parseIpv4, parseIpv6 } from '../../runtime/ip.js';
import { instantiate, interpret, isBpf2WasmError, type BpfInstance } from '../../runtime/index.js';

/** Byte offsets and sizes of `struct http_request` (test-programs/c/http_filter.c; a test checks them against its BTF). */
export const REQUEST_LAYOUT = {
  size: 88,
  family: { offset: 0, size: 1 },
  method: { offset: 1, size: 1 },
  header_count: { offset: 2, size: 2 },
  path_len: { offset: 4, size: 4 },
  addr: { offset: 8, size: 16 },
  path: { offset: 24, size: 64 },
} as const;

/** `enum http_method` of the C program. */
export const METHODS: Readonly<Record<string, number>> = {
  GET: 1, HEAD: 2, POST: 3, PUT: 4, DELETE: 5, PATCH: 6, OPTIONS: 7,
};

/** `enum stat` of the C program: indexes of the `stats` array. */
const STAT_NAMES = ['pass', 'block', 'limit', 'other'] as const;

/** What the host knows about one request. */
export interface RequestInfo {
  /**
   * Client address as text (IPv4, IPv6, or IPv4-mapped IPv6 as Node reports dual-stack peers).
   * One that does not parse is family 0, which the program answers with 400.
   */
  ip: string;
  method: string;
  /** The URL's path (without the query). */
  path: string;
  headerCount: number;
}

/** A parsed address: family 4 (bytes 0-3 used) or 6, 16 bytes in network byte order. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** Configuration: the C program's `.rodata` values and the admin token. */
export interface FilterConfig {
  /** Tokens per second refilled into each client's bucket (`rate_per_sec`, default 10). */
  ratePerSec?: number;
  /** Bucket size (`burst`, default 20). */
  burst?: number;
  /** More headers than this is answered 431 (`max_headers`, default 64). */
  maxHeaders?: number;
  /** Bearer token for the `/__bpf/` admin endpoints; without one they answer 404. */
  adminToken?: string;
  /** Instruction budget of a run of the operator's rule (default 100,000). */
  ruleBudget?: number;
}

/** The modules a platform hands over: compiled (Workers, imported at deploy time) or bytes. */
export interface FilterModules {
  filter: WebAssembly.Module | Uint8Array;
  maps: WebAssembly.Module | Uint8Array;
}

/** A verdict: 0 passes the request on, anything else is the status to answer with. */
export type Verdict = number;

/** Prefix of the admin endpoints. */
export const ADMIN_PREFIX = '/__bpf/';

/** Parses an IPv4 or IPv6 address (IPv4-mapped IPv6 becomes IPv4); undefined if it is not one. */
export function parseIp(text: string): IpAddress | undefined {
  const s = text.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v4 = parseIpv4(s);
  if (v4) {
    const bytes = new Uint8Array(16);
    bytes.set(v4);
    return { family: 4, bytes };
  }
  const v6 = parseIpv6(s);
  if (!v6) return undefined;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  if (mapped) {
    const bytes = new Uint8Array(16);
    bytes.set(v6.subarray(12));
    return { family: 4, bytes };
  }
  return { family: 6, bytes: v6 };
}

/** Formats 16 address bytes of a family as text (IPv6 with the longest zero run compressed). */
export function formatIp(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join('.');
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** A prefix such as `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128). */
export interface Prefix extends IpAddress {
  length: number;
}

/** Parses a prefix; undefined when it is not one. Bits past the length are cleared. */
export function parsePrefix(text: string): Prefix | undefined {
  const [addr, len, extra] = text.trim().split('/');
  if (addr === undefined || extra !== undefined) return undefined;
  const ip = parseIp(addr);
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  if (len !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(len)) return undefined;
  const length = len === undefined ? max : Number(len);
  if (length > max) return undefined;
  const bytes = ip.bytes.slice();
  for (let bit = length; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family: ip.family, bytes, length };
}

/**
 * Fills `struct http_request` for a request: family 0 when the client address does not parse;
 * the path's first 64 bytes (UTF-8) copied, its full length recorded.
 */
export function encodeRequest(info: RequestInfo, out = new Uint8Array(REQUEST_LAYOUT.size)): Uint8Array {
  const L = REQUEST_LAYOUT;
  const ip = parseIp(info.ip);
  out.fill(0);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint8(L.family.offset, ip ? ip.family : 0);
  dv.setUint8(L.method.offset, METHODS[info.method.toUpperCase()] ?? 0);
  dv.setUint16(L.header_count.offset, Math.min(info.headerCount, 0xffff), true);
  const path = new TextEncoder().encode(info.path);
  dv.setUint32(L.path_len.offset, path.length, true);
  if (ip) out.set(ip.bytes, L.addr.offset);
  out.set(path.subarray(0, L.path.size), L.path.offset);
  return out;
}

/** Body of the JSON that `GET /__bpf/maps` returns. */
export interface FilterState {
  block: Array<{ prefix: string; hits: number }>;
  rate: Array<{ client: string; tokens: number; allowed: number; limited: number; lastNs: string }>;
  stats: Record<(typeof STAT_NAMES)[number], number>;
  rule: { installed: boolean; matched: number; errors: number; lastError?: string };
}

/** The filter: one instance of the compiled program (its maps live as long as this object). */
export class HttpFilter {
  private rule: BpfInstance | undefined;
  private ruleMatched = 0;
  private ruleErrors = 0;
  private ruleLastError: string | undefined;
  private readonly ctx = new Uint8Array(REQUEST_LAYOUT.size);

  private constructor(readonly instance: BpfInstance, private readonly config: FilterConfig) {}

  /** Instantiates the compiled filter with its precompiled maps module and `.rodata` settings. */
  static async create(modules: FilterModules, config: FilterConfig = {}): Promise<HttpFilter> {
    const maps = modules.maps instanceof WebAssembly.Module ? modules.maps : await WebAssembly.compile(new Uint8Array(modules.maps));
    const instance = await instantiate(modules.filter, {
      mapsModule: maps,
      globals: {
        rate_per_sec: BigInt(config.ratePerSec ?? 10),
        burst: BigInt(config.burst ?? 20),
        max_headers: config.maxHeaders ?? 64,
      },
      trace: () => {},
    });
    return new HttpFilter(instance, config);
  }

  /** The verdict for a request: the operator's rule first (if any), then the compiled program. */
  check(info: RequestInfo): Verdict {
    const ctx = encodeRequest(info, this.ctx);
    if (this.rule) {
      try {
        const r0 = this.rule.program().run(ctx);
        if (r0 !== 0n) {
          this.ruleMatched++;
          return r0 >= 400n && r0 <= 599n ? Number(r0) : 403;
        }
      } catch (e) {
        // A rule that faults or exceeds its budget lets the request through to the compiled filter.
        this.ruleErrors++;
        this.ruleLastError = describe(e);
      }
    }
    return Number(this.instance.program('http_filter').run(ctx));
  }

  /**
   * Installs an operator's rule: eBPF bytecode (8-byte instructions) or assembly text in the
   * conformance syntax. It runs on the interpreter (checked memory, a budget) with r1 pointing at
   * the same `struct http_request`; r0 = 0 passes, 400-599 is the status, any other value 403.
   * @throws Bpf2WasmError (E_ASM_SYNTAX, E_BAD_PROGRAM_LENGTH, ...) for a program that does not load.
   */
  setRule(program: Uint8Array | string): void {
    const bytecode = typeof program === 'string' ? assemble(program) : program;
    this.rule = interpret(bytecode, { checked: true, budget: this.config.ruleBudget ?? 100_000 });
    this.ruleMatched = 0;
    this.ruleErrors = 0;
    this.ruleLastError = undefined;
  }

  /** Removes the operator's rule. */
  clearRule(): void {
    this.rule = undefined;
  }

  /** Adds a prefix to the block list (keeping its hit count if present); false if it does not parse. */
  block(prefix: string): boolean {
    const p = parsePrefix(prefix);
    if (!p) return false;
    const key = lpmKey(p);
    const map = this.blockMap(p.family);
    const old = map.lookupRaw(key);
    if (!old || !sameKey(map, key)) map.updateRaw(key, new Uint8Array(8));
    return true;
  }

  /** Removes a prefix from the block list; false if it was not there or does not parse. */
  unblock(prefix: string): boolean {
    const p = parsePrefix(prefix);
    return p ? this.blockMap(p.family).deleteRaw(lpmKey(p)) : false;
  }

  /** The maps' contents, decoded. */
  state(): FilterState {
    const block: FilterState['block'] = [];
    for (const family of [4, 6] as const) {
      const map = this.blockMap(family);
      for (const k of map.keysRaw()) {
        const dv = new DataView(k.buffer, k.byteOffset, k.byteLength);
        const bytes = new Uint8Array(16);
        bytes.set(k.subarray(4));
        const v = map.lookupRaw(k);
        block.push({ prefix: `${formatIp(family, bytes)}/${dv.getUint32(0, true)}`, hits: v ? Number(u64(v, 0)) : 0 });
      }
    }
    const rate: FilterState['rate'] = [];
    const rateMap = this.instance.map('rate');
    for (const k of rateMap.keysRaw()) {
      const v = rateMap.lookupRaw(k);
      if (!v) continue;
      const family = k[0] === 6 ? 6 : 4;
      rate.push({
        client: formatIp(family, k.subarray(4)),
        tokens: Number(u64(v, 0)) / 1000,
        lastNs: u64(v, 8).toString(),
        allowed: Number(u64(v, 16)),
        limited: Number(u64(v, 24)),
      });
    }
    const statsMap = this.instance.map('stats');
    const stats = {} as FilterState['stats'];
    STAT_NAMES.forEach((name, i) => {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, i, true);
      const v = statsMap.lookupRaw(key);
      stats[name] = v ? Number(u64(v, 0)) : 0;
    });
    const rule: FilterState['rule'] = { installed: this.rule !== undefined, matched: this.ruleMatched, errors: this.ruleErrors };
    if (this.ruleLastError) rule.lastError = this.ruleLastError;
    return { block, rate, stats, rule };
  }

  /**
   * Handles a request: the admin endpoints under `/__bpf/` (with `authorization: Bearer TOKEN`),
   * otherwise the verdict; a passed request goes to `next`.
   *
   * Admin: `GET /__bpf/maps` (the state as JSON), `POST /__bpf/block` and `DELETE /__bpf/block`
   * (body: a prefix), `PUT /__bpf/rule` (body: bytecode as application/octet-stream, or assembly
   * as text), `DELETE /__bpf/rule`.
   */
  async handle(request: Request, clientIp: string, next: (request: Request) => Response | Promise<Response>): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith(ADMIN_PREFIX)) return this.admin(request, url.pathname.slice(ADMIN_PREFIX.length));
    let headerCount = 0;
    request.headers.forEach(() => headerCount++);
    const verdict = this.check({ ip: clientIp, method: request.method, path: url.pathname, headerCount });
    if (verdict !== 0) return new Response(`${verdict} ${reason(verdict)}\n`, { status: verdict, headers: { 'x-bpf-verdict': String(verdict) } });
    return next(request);
  }

  private async admin(request: Request, route: string): Promise<Response> {
    const token = this.config.adminToken;
    if (!token || request.headers.get('authorization') !== `Bearer ${token}`) return new Response('not found\n', { status: 404 });
    try {
      if (route === 'maps' && request.method === 'GET') return json(200, this.state());
      if (route === 'block' && (request.method === 'POST' || request.method === 'DELETE')) {
        const prefix = (await request.text()).trim();
        if (!parsePrefix(prefix)) return json(400, { error: `not an address or prefix: ${prefix}` });
        const ok = request.method === 'POST' ? this.block(prefix) : this.unblock(prefix);
        return json(ok ? 200 : 404, { prefix, ok });
      }
      if (route === 'rule' && request.method === 'PUT') {
        const type = request.headers.get('content-type') ?? '';
        const body = type.startsWith('application/octet-stream') ? new Uint8Array(await request.arrayBuffer()) : await request.text();
        this.setRule(body);
        return json(200, { installed: true, engine: 'interpreter' });
      }
      if (route === 'rule' && request.method === 'DELETE') {
        this.clearRule();
        return json(200, { installed: false });
      }
      return json(404, { error: `no admin route ${request.method} ${ADMIN_PREFIX}${route}` });
    } catch (e) {
      if (isBpf2WasmError(e)) return json(400, { error: e.message, code: e.code });
      throw e;
    }
  }

  private blockMap(family: 4 | 6) {
    return this.instance.map(family === 4 ? 'block_v4' : 'block_v6');
  }
}

function lpmKey(p: Prefix): Uint8Array {
  const n = p.family === 4 ? 4 : 16;
  const key = new Uint8Array(4 + n);
  new DataView(key.buffer).setUint32(0, p.length, true);
  key.set(p.bytes.subarray(0, n), 4);
  return key;
}

/** True when `key` is itself an entry of the trie (a lookup may return a shorter prefix's value). */
function sameKey(map: ReturnType<BpfInstance['map']>, key: Uint8Array): boolean {
  for (const k of map.keysRaw()) if (k.length === key.length && k.every((b, i) => b === key[i])) return true;
  return false;
}

function u64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset, true);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body) + '\n', { status, headers: { 'content-type': 'application/json' } });
}

function describe(e: unknown): string {
  return isBpf2WasmError(e) ? `${e.code}: ${e.message}` : String(e);
}

function reason(status: number): string {
  switch (status) {
    case 400: return 'Bad Request';
    case 403: return 'Forbidden';
    case 429: return 'Too Many Requests';
    case 431: return 'Request Header Fields Too Large';
    default: return 'Refused';
  }
}
