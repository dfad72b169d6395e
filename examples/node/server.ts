/**
 * Node: a server with the filter as middleware in front of a trivial handler.
 *
 *   npm run build:examples && node examples/node/dist/server.js
 *
 * Environment as the Deno example: PORT (default 8000; 0 picks one), HOST, ADMIN_TOKEN,
 * RATE_PER_SEC, BURST, MAX_HEADERS, TRUST_FORWARDED=1.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpFilter } from '../http-filter/filter.js';
import { httpFilterMiddleware } from './middleware.js';

const env = process.env;
const num = (v: string | undefined): number | undefined => (v ? Number(v) : undefined);
const here = new URL('.', import.meta.url);

const filter = await HttpFilter.create({
  filter: readFileSync(new URL('filter.wasm', here)),
  maps: readFileSync(new URL('maps.wasm', here)),
}, { adminToken: env.ADMIN_TOKEN, ratePerSec: num(env.RATE_PER_SEC), burst: num(env.BURST), maxHeaders: num(env.MAX_HEADERS) });
const guard = httpFilterMiddleware(filter, { trustForwarded: env.TRUST_FORWARDED === '1' });

const server = createServer((req, res) => guard(req, res, () => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${req.method} ${new URL(req.url ?? '/', 'http://host').pathname}\n`);
}));
server.listen(num(env.PORT) ?? 8000, env.HOST ?? '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  console.log(`listening on http://${a.address}:${a.port}/`);
});
