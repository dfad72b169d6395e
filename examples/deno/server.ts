/**
 * Deno: the same filter (test-programs/c/http_filter.c as `filter.wasm`) in front of a small
 * HTTP server. Bundle it (`npm run build:examples` writes examples/deno/dist/server.js next to
 * filter.wasm and maps.wasm), then:
 *
 *   deno run --allow-net --allow-read --allow-env examples/deno/dist/server.js
 *
 * Environment: PORT (default 8000; 0 picks one), HOST (default 127.0.0.1), ADMIN_TOKEN,
 * RATE_PER_SEC, BURST, MAX_HEADERS, TRUST_FORWARDED=1 (take the client address from the
 * x-forwarded-for header set by a proxy in front; never without one).
 */
import { HttpFilter } from '../http-filter/filter.js';

/** The part of Deno's API this example uses (declared here so the project's tsc checks the file without Deno's types). */
declare const Deno: {
  readFile(path: URL): Promise<Uint8Array>;
  env: { get(name: string): string | undefined };
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number; hostname: string }) => void },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): { finished: Promise<void> };
};

const env = (name: string): string | undefined => Deno.env.get(name);
const num = (name: string): number | undefined => (env(name) ? Number(env(name)) : undefined);

const filter = await HttpFilter.create({
  filter: await Deno.readFile(new URL('./filter.wasm', import.meta.url)),
  maps: await Deno.readFile(new URL('./maps.wasm', import.meta.url)),
}, { adminToken: env('ADMIN_TOKEN'), ratePerSec: num('RATE_PER_SEC'), burst: num('BURST'), maxHeaders: num('MAX_HEADERS') });

const trustForwarded = env('TRUST_FORWARDED') === '1';

Deno.serve({
  port: num('PORT') ?? 8000,
  hostname: env('HOST') ?? '127.0.0.1',
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
}, (request, info) => {
  const forwarded = trustForwarded ? request.headers.get('x-forwarded-for')?.split(',')[0]?.trim() : undefined;
  return filter.handle(request, forwarded ?? info.remoteAddr.hostname, (req) =>
    new Response(`ok ${req.method} ${new URL(req.url).pathname}\n`));
});
