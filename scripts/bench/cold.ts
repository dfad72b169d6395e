/**
 * Cold start in Chromium, for `npm run bench` part (g): Debian's Chromium (`/usr/bin/chromium`, or
 * CHROMIUM_PATH) driven by playwright-core (never a downloaded browser), `--no-sandbox`. Each
 * sample is a fresh browser context (its own HTTP cache, so no code cache carries over) loading
 * scripts/bench/cold-page/, which imports the built compiler and runtime from dist/ and times
 * compile + instantiate + first run at -O0 of the 100-instruction program and of an object with
 * a map, as the Node cold start does. The project is served read-only on loopback. Where Chromium
 * or playwright-core is missing, the rows say why they were skipped.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { serveStatic } from '../../test/support/static-server.js';
import { median } from './stats.js';

/** One subject's cold start in Chromium. */
export interface BrowserColdRow {
  what: string;
  /** Median over the samples, or null when skipped. */
  importMs: number | null;
  afterImportMs: number | null;
  /** The compile alone (the rest of afterImportMs is instantiate + first run). */
  compileMs: number | null;
  samples: number;
  skipped?: string;
}

const SUBJECTS = [
  { what: 'filter', label: '100-insn program' },
  { what: 'object', label: 'xdp_drop_icmp.o (1 map)' },
] as const;

/** Why Chromium cannot be driven here, or null. */
async function unavailable(chromium: string): Promise<string | null> {
  if (!existsSync(chromium)) return `Chromium not found at ${chromium} (apt-get install chromium)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed';
  }
  return null;
}

/** (g) in Chromium: `samples` fresh contexts per subject, interleaved; medians. */
export async function benchColdBrowser(root: string, samples: number, log: (m: string) => void): Promise<BrowserColdRow[]> {
  const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
  const why = await unavailable(chromiumPath);
  if (!why && !existsSync(path.join(root, 'dist/compiler/index.js'))) throw new Error(`no built package at ${root}/dist (npm run build)`);
  if (why) return SUBJECTS.map((s) => ({ what: s.label, importMs: null, afterImportMs: null, compileMs: null, samples: 0, skipped: why }));
  const { chromium } = await import('playwright-core');
  const allowed = ['/dist/', '/scripts/bench/cold-page/', '/test-programs/c/xdp_drop_icmp.o'];
  const server = await serveStatic(root, (p) => allowed.some((a) => p.startsWith(a)));
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const got = new Map<string, { importMs: number; afterImportMs: number; compileMs: number }[]>(SUBJECTS.map((s) => [s.what, []]));
    for (let i = 0; i < samples; i++) {
      for (const s of SUBJECTS) {
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          await page.goto(`${server.base}/scripts/bench/cold-page/?what=${s.what}`);
          await page.waitForFunction(() => (globalThis as { coldResult?: unknown }).coldResult !== undefined, undefined, { timeout: 30_000 });
          const r = await page.evaluate(() => (globalThis as { coldResult?: unknown }).coldResult) as { importMs: number; afterImportMs: number; compileMs: number; error?: string };
          if (r.error !== undefined) throw new Error(`cold start page (${s.what}): ${r.error}`);
          got.get(s.what)!.push(r);
        } finally {
          await context.close();
        }
      }
    }
    return SUBJECTS.map((s) => {
      const rs = got.get(s.what)!;
      const row: BrowserColdRow = {
        what: s.label,
        importMs: median(rs.map((r) => r.importMs)),
        afterImportMs: median(rs.map((r) => r.afterImportMs)),
        compileMs: median(rs.map((r) => r.compileMs)),
        samples,
      };
      log(`cold in Chromium ${row.what}: import ${row.importMs!.toFixed(1)} ms, then ${row.afterImportMs!.toFixed(1)} ms`);
      return row;
    });
  } finally {
    await browser.close();
    await server.close();
  }
}
