/**
 * Node: the same filter (test-programs/c/http_filter.c as `filter.wasm`) as plain `node:http`
 * middleware, `(req, res, next)`, as Connect and Express call it.
 *
 *   const filter = await HttpFilter.create({ filter: readFileSync('filter.wasm'), maps: readFileSync('maps.wasm') });
 *   const guard = httpFilterMiddleware(filter);
 *   createServer((req, res) => guard(req, res, () => { res.end('ok'); })).listen(8080);
 *
 * Admin endpoints (`/__bpf/...`) are answered through the filter's fetch-style handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ADMIN_PREFIX, HttpFilter } from '../http-filter/filter.js';

/** Options of {@link httpFilterMiddleware}. */
export interface MiddlewareOptions {
  /** Take the client address from x-forwarded-for (only behind a proxy that sets it). */
  trustForwarded?: boolean;
}

/** A `(req, res, next)` function that answers refused requests and calls `next` for the others. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** Middleware running `filter` on every request. */
export function httpFilterMiddleware(filter: HttpFilter, options: MiddlewareOptions = {}): Middleware {
  return (req, res, next) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const forwarded = options.trustForwarded ? headerValue(req.headers['x-forwarded-for'])?.split(',')[0]?.trim() : undefined;
    const ip = forwarded ?? req.socket.remoteAddress ?? '';
    if (path.startsWith(ADMIN_PREFIX)) {
      adminRequest(filter, req, ip).then((r) => send(res, r), (e: unknown) => {
        res.writeHead(500).end(String(e));
      });
      return;
    }
    // rawHeaders alternates names and values: as many headers as the client sent (repeats included).
    const verdict = filter.check({ ip, method: req.method ?? 'GET', path, headerCount: req.rawHeaders.length / 2 });
    if (verdict === 0) {
      next();
      return;
    }
    res.writeHead(verdict, { 'content-type': 'text/plain', 'x-bpf-verdict': String(verdict) }).end(`${verdict}\n`);
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

async function adminRequest(filter: HttpFilter, req: IncomingMessage, ip: string): Promise<Response> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const body = chunks.length ? Buffer.concat(chunks) : undefined;
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
    method: req.method ?? 'GET', headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
  });
  return filter.handle(request, ip, () => new Response('not found\n', { status: 404 }));
}

async function send(res: ServerResponse, r: Response): Promise<void> {
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    headers[k] = v;
  });
  res.writeHead(r.status, headers).end(Buffer.from(await r.arrayBuffer()));
}
