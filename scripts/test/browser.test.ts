/**
 * bpf2wasm in a real browser: headless Chromium (Debian's, driven by playwright-core; CI installs
 * it) loads test-programs/browser/, which compiles and runs eBPF in the page with both engines and
 * runs the runtime alone in a module worker. Skips with a message where Chromium is not installed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT as root } from '../../test/support/fixtures.js';
import { serveStatic, type StaticServer } from '../../test/support/static-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);

describe('in headless Chromium', () => {
  if (!HAVE_CHROMIUM) it.skipIf(true)(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`, () => {});

  let server: StaticServer | undefined;
  let base = '';
  beforeAll(async () => {
    if (!HAVE_CHROMIUM) return;
    if (!existsSync(join(root, 'dist/compiler/index.js'))) throw new Error('dist/ is missing: run npm run build');
    // Serves the project read-only on loopback: the page, dist/, the test objects and the package it imports.
    const allowed = ['/dist/', '/node_modules/binaryen/', '/test-programs/browser/', '/test-programs/c/'];
    server = await serveStatic(root, (path) => allowed.some((p) => path.startsWith(p)));
    base = server.base;
  });
  afterAll(async () => {
    await server?.close();
  });

  it.skipIf(!HAVE_CHROMIUM)('compiles and runs in the page and in a worker', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/test-programs/browser/index.html`);
      await page.waitForFunction(() => (window as unknown as { results?: unknown }).results !== undefined, null, { timeout: 60_000 });
      const results = await page.evaluate(() => (window as unknown as { results: Record<string, string> }).results);
      expect(errors).toEqual([]);
      expect(results).toEqual({
        O0: '0xb861',
        O1: '0xb861',
        interpreter: '0xb861',
        fault: 'E_MEMORY_FAULT insn 2',
        xdpCounter: '3',
        ringbuf: '42',
        worker: '0xb861 count=5',
      });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
