/**
 * Test support: a read-only static file server on loopback, for the tests that drive Chromium
 * (the browser test serves the project, the playground test its built site).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.o': 'application/octet-stream', '.pcap': 'application/octet-stream', '.pcapng': 'application/octet-stream',
};

/** A running server: its base URL and how to stop it. */
export interface StaticServer {
  base: string;
  close(): Promise<void>;
}

/**
 * Serves the files below `root` whose URL path `allow` accepts (all by default); a path ending
 * in `/` serves its `index.html`. Anything else, or outside `root`, is 404. With `cacheable`,
 * responses say a browser may keep them for an hour (`cache-control: max-age=3600`), as a site
 * would serve a release: what lets a browser with a profile on disk reuse them, and V8's code
 * cache with them, on a later visit.
 */
export async function serveStatic(root: string, allow: (path: string) => boolean = () => true, cacheable = false): Promise<StaticServer> {
  const server = createServer((req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (path.endsWith('/')) path += 'index.html';
    const file = join(root, path);
    if (!allow(path) || !file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      ...(cacheable ? { 'cache-control': 'max-age=3600' } : {}),
    });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
