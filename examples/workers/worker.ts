/**
 * Cloudflare Worker: filters every request through test-programs/c/http_filter.c, compiled ahead
 * of time to `filter.wasm` (`npm run build:examples`). Workers refuse to compile Wasm from bytes,
 * so both modules are imported (wrangler and workerd hand them over as compiled
 * `WebAssembly.Module`s) and an operator's run-time rule runs on the interpreter.
 *
 * The filter's maps live as long as this isolate: see README "Deploying".
 */
import filterWasm from './filter.wasm';
import mapsWasm from './maps.wasm';
import { HttpFilter } from '../http-filter/filter.js';

/** Bindings (wrangler.toml `[vars]`, workerd config `bindings`). */
interface Env {
  ADMIN_TOKEN?: string;
  RATE_PER_SEC?: string;
  BURST?: string;
  MAX_HEADERS?: string;
  /** Where passed requests go; without it the worker answers 200 itself. */
  ORIGIN?: string;
}

let filter: Promise<HttpFilter> | undefined;

function filterFor(env: Env): Promise<HttpFilter> {
  filter ??= HttpFilter.create({ filter: filterWasm, maps: mapsWasm }, {
    adminToken: env.ADMIN_TOKEN,
    ratePerSec: env.RATE_PER_SEC ? Number(env.RATE_PER_SEC) : undefined,
    burst: env.BURST ? Number(env.BURST) : undefined,
    maxHeaders: env.MAX_HEADERS ? Number(env.MAX_HEADERS) : undefined,
  });
  // A failed start is not cached: the next request tries again.
  filter.catch(() => {
    filter = undefined;
  });
  return filter;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const f = await filterFor(env);
    // Cloudflare's edge sets cf-connecting-ip to the client's address (a client cannot forge it there).
    const ip = request.headers.get('cf-connecting-ip') ?? '';
    return f.handle(request, ip, (req) => {
      if (env.ORIGIN) {
        const url = new URL(req.url);
        return fetch(new URL(url.pathname + url.search, env.ORIGIN), req);
      }
      return new Response(`ok ${req.method} ${new URL(req.url).pathname}\n`, { status: 200 });
    });
  },
};
