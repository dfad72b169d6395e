/**
 * The playground (playground/) end to end in real headless Chromium (Debian's, driven by
 * playwright-core; never a downloaded browser): builds it with Vite into tmp/playground/site,
 * serves that folder on loopback as any static host would, drops a clang object and a capture
 * on the page, runs, and checks what the page shows (verdict counts, a map value decoded with BTF,
 * C source lines in the disassembly, the WAT highlight, packet details, a fault with its C line,
 * -O1 with Binaryen loaded on demand, a share link, offline reload through the service worker).
 * The verdicts and map values expected are computed here with the library itself, in Node.
 * Screenshots go to tmp/playground/. Skips with a message where Chromium is not installed.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT as root } from '../../test/support/fixtures.js';
import { serveStatic, type StaticServer } from '../../test/support/static-server.js';
import { compileObject } from '../../compiler/index.js';
import { instantiate } from '../../runtime/index.js';
import { readCaptureSync } from '../../runtime/capture/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const OUT = join(root, 'tmp/playground');
const SITE = join(OUT, 'site');

/** What the library says the page should show: verdict counts and the drops counter. */
async function expected(object: string, capture: string): Promise<{ counts: Record<string, number>; drops: string }> {
  const { wasm } = await compileObject(readFileSync(join(root, object)), { optLevel: 0 });
  const inst = await instantiate(wasm);
  const names = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'];
  const counts: Record<string, number> = {};
  for (const f of readCaptureSync(readFileSync(join(root, capture)))) {
    let v: string;
    try {
      v = names[inst.program('xdp_drop_icmp').test({ dataIn: f.data }).retval]!;
    } catch (e) {
      // Frames BPF_PROG_TEST_RUN refuses (runts, too long): the page says so per frame.
      if ((e as { code?: string }).code !== 'E_TEST_RUN') throw e;
      v = 'refused by test run';
    }
    counts[v] = (counts[v] ?? 0) + 1;
  }
  const drops = inst.map<number, bigint[]>('drops').get(0)!;
  return { counts, drops: `[${drops.join(', ')}]` };
}

describe('the playground in headless Chromium', () => {
  if (!HAVE_CHROMIUM) it.skipIf(true)(`Chromium not found at ${CHROMIUM} (apt-get install chromium)`, () => {});

  let server: StaticServer | undefined;
  let base = '';
  beforeAll(async () => {
    if (!HAVE_CHROMIUM) return;
    mkdirSync(OUT, { recursive: true });
    const { build } = await import('vite');
    await build({ configFile: join(root, 'playground/vite.config.ts'), logLevel: 'warn', build: { outDir: SITE, emptyOutDir: true } });
    // A static host: files of the built folder only.
    server = await serveStatic(SITE);
    base = server.base;
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  });

  it.skipIf(!HAVE_CHROMIUM)('compiles, runs a capture, shows verdicts, maps, C lines, faults; shares and works offline', async () => {
    const want = await expected('test-programs/c/xdp_drop_icmp.o', 'test-programs/captures/frames.pcapng');
    expect(want.counts.XDP_DROP).toBeGreaterThan(0);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await page.screenshot({ path: join(OUT, 'start.png') });

      // Drop the object and a capture, as a user drags them from a file manager.
      const drop = async (files: Array<{ name: string; path: string }>): Promise<void> => {
        const payload = files.map((f) => ({ name: f.name, bytes: [...readFileSync(join(root, f.path))] }));
        await page.evaluate((list) => {
          const dt = new DataTransfer();
          for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
          document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        }, payload);
      };
      await drop([
        { name: 'xdp_drop_icmp.o', path: 'test-programs/c/xdp_drop_icmp.o' },
        { name: 'frames.pcapng', path: 'test-programs/captures/frames.pcapng' },
      ]);
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('frames of frames.pcapng'), null, { timeout: 20_000 });
      const chips = async (): Promise<Record<string, number>> => page.$$eval('#verdicts .chip', (els) =>
        Object.fromEntries(els.map((e) => [(e as HTMLElement).dataset.verdict!, Number((e as HTMLElement).dataset.count)])));
      expect(await chips()).toEqual(want.counts);
      expect(await page.locator('#packets tbody tr').count()).toBe(33);
      // The per-CPU drops counter, decoded with BTF.
      expect(await page.locator('.map[data-map="drops"] td').allTextContents()).toEqual(['0', want.drops]);
      // C lines from .BTF.ext between the instructions.
      const disasm = await page.locator('#disasm').textContent();
      expect(disasm).toContain('xdp_drop_icmp.c:');
      expect(disasm).toContain('if (icmp->type != ICMP_ECHO) return XDP_PASS;');
      expect(disasm).toContain('<xdp_drop_icmp>:');
      // The WAT, and an instruction under the cursor highlighted in both panes.
      await page.waitForSelector('#wat .l[data-insn]', { timeout: 20_000 });
      // Every instruction with code has its WAT lines (CompileOptions.mapAllInstructions): r0 = 0 is
      // an i64.const and a local.set.
      await page.locator('#disasm .l[data-insn="0"]').hover();
      expect(await page.locator('#disasm .l.hl').count()).toBe(1);
      expect(await page.locator('#wat .l.hl').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('i64.const 0')]));
      // A load, hovered in the WAT: its eBPF instruction lights up in the disassembly.
      const load = page.locator('#wat .l[data-insn]', { hasText: 'i64.load32_u' }).first();
      const loadInsn = await load.getAttribute('data-insn');
      await load.hover();
      expect(await page.locator('#disasm .l.hl').getAttribute('data-insn')).toBe(loadInsn);
      expect(await page.locator('#disasm .l.hl').textContent()).toContain('*(u32 *)');
      // A C line lights up every instruction it covers, in both panes.
      const cLine = page.locator('#disasm .l.src', { hasText: 'if (icmp->type != ICMP_ECHO) return XDP_PASS;' });
      const covered = (await cLine.getAttribute('data-insns'))!.split(',');
      await cLine.hover();
      expect(await page.locator('#disasm .l.hl[data-insn]').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.insn))).toEqual(covered);
      expect(await page.locator('#wat .l.hl').count()).toBeGreaterThan(covered.length);
      await page.screenshot({ path: join(OUT, 'highlight.png') });
      // The dropped ping's detail.
      await page.locator('#packets tbody tr.v-drop', { hasText: 'XDP_DROP' }).first().click();
      const detail = await page.locator('#detail').textContent();
      expect(detail).toContain('Internet Control Message Protocol');
      expect(detail).toContain('Echo (ping) request');
      await page.screenshot({ path: join(OUT, 'xdp_drop_icmp.png') });

      // -O1: Binaryen loads on demand; same verdicts.
      await page.selectOption('#opt', '1');
      await page.waitForSelector('#status[data-compiled="-O1"]', { timeout: 60_000 });
      expect(await chips()).toEqual(want.counts);

      // A share link restores the program and settings in a fresh page.
      await page.click('#share');
      await page.waitForFunction(() => location.hash.startsWith('#s='));
      const link = page.url();
      const page2 = await context.newPage();
      await page2.goto(link);
      await page2.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      expect(await page2.locator('#opt').inputValue()).toBe('1');
      expect(Object.fromEntries(await page2.$$eval('#verdicts .chip', (els) =>
        els.map((e) => [(e as HTMLElement).dataset.verdict!, Number((e as HTMLElement).dataset.count)])))).toEqual(want.counts);
      await page2.close();

      // A fault points at the instruction and the C line.
      await page.selectOption('#opt', '0');
      await page.selectOption('#sample', { label: 'fault.o — a fault and its C line' });
      await page.waitForFunction(() => !document.getElementById('error')?.hidden, null, { timeout: 20_000 });
      const error = await page.locator('#error').textContent();
      expect(error).toContain('E_MEMORY_FAULT');
      expect(error).toContain('fault.c:17: return *p == 5 ? 1 : 2;');
      expect(await page.locator('#disasm .l.fault').count()).toBe(1);
      await page.screenshot({ path: join(OUT, 'fault.png') });

      // Trace output, tagged with the frame that printed it, and a global in .bss decoded with BTF.
      await page.selectOption('#capture', 'frames.pcapng');
      await page.waitForFunction(() => document.getElementById('status')?.textContent?.includes('frames of frames.pcapng'), null, { timeout: 20_000 });
      await page.selectOption('#sample', { label: 'printk.o — bpf_printk per packet' });
      await page.waitForSelector('#status[data-compiled="-O0"]', { timeout: 20_000 });
      const output = await page.locator('#output').textContent();
      // Every frame the test run accepts runs the program once (runts are refused, as the kernel's).
      const passed = (await chips()).XDP_PASS!;
      expect(passed).toBe(want.counts.XDP_PASS! + want.counts.XDP_DROP! + (want.counts.XDP_ABORTED ?? 0));
      expect(output).toContain('#1 Helloworld 1');
      expect(output).toContain(`args ${passed} ${passed + 1} ${passed + 2} ${passed + 3}`);
      expect(await page.locator('.map[data-map=".bss"]').textContent()).toContain(`counter: ${passed}`);
      await page.screenshot({ path: join(OUT, 'printk.png') });

      // A program that is not a packet program runs once; its ring buffer record is shown.
      await page.selectOption('#sample', { label: 'ringbuf_hello.o — ring buffer events' });
      await page.waitForFunction(() => document.getElementById('output')?.textContent?.includes('ringbuf output:'), null, { timeout: 20_000 });
      expect(await page.locator('#output').textContent()).toContain('not a packet program: ran once');

      // An assembly error names its line; fixing it compiles again.
      await page.selectOption('#sample', { label: 'IPv4 or not — assembly' });
      await page.waitForSelector('#status[data-compiled="-O0"]', { timeout: 20_000 });
      // The assembly sample returns 1 for untagged IPv4 frames: counted here from the bytes.
      const frames = [...readCaptureSync(readFileSync(join(root, 'test-programs/captures/frames.pcapng')))];
      const ipv4 = frames.filter((f) => f.data.length >= 14 && f.data[12] === 0x08 && f.data[13] === 0x00).length;
      expect(await chips()).toEqual({ 'r0 = 1': ipv4, 'r0 = 0': frames.length - ipv4 });
      await page.fill('#asm', 'mov %r0, 1\nbogus %r1\nexit');
      await page.waitForFunction(() => document.getElementById('error')?.textContent?.includes('E_ASM_SYNTAX'), null, { timeout: 20_000 });
      expect(await page.locator('#error').textContent()).toContain('line 2');
      await page.screenshot({ path: join(OUT, 'asm-error.png') });

      // Offline: the service worker serves the page and its assets.
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      await page.reload(); // the worker now controls the page and caches what it fetches
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await context.setOffline(true);
      await page.goto(`${base}/`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      expect(await page.locator('#packets tbody tr').count()).toBe(33);
      await context.setOffline(false);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
