/**
 * The standalone support module's helpers (wasm/standalone/) against the JS runtime's
 * (runtime/stdlib/standard.ts), differentially: both run on identical memories with the same
 * arguments, and must return the same value, leave the same memory and print the same trace
 * lines. Formats for bpf_snprintf / bpf_trace_printk / bpf_trace_vprintk are generated from the
 * kernel's conversions, flags and widths plus invalid ones; strtol/strtoul, strncmp,
 * csum_diff and get_current_comm likewise. Also: the configuration addresses agree with
 * wasm/standalone/config.ts.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStandardHelpers } from '../../runtime/stdlib/standard.js';
import { helperByName } from '../../runtime/helper-table.js';
import { STANDALONE_CONFIG } from '../standalone/image.js';
import { supportWasmBytes } from '../standalone/support-wasm.js';
import { repoPath } from '../../test/support/fixtures.js';

const PAGES = 4;
const FLOOR = 0x2000;
const FMT = 0x3000;
const ARGS = 0x3800;
const STRS = 0x4000;
const OUT = 0x5000;

type Fn = (...a: Array<number | bigint>) => number | bigint;

/** The support module on its own memory, with WASI as the module sees it (stdout captured). */
async function support(): Promise<{ memory: WebAssembly.Memory; fns: Record<string, Fn>; lines: string[] }> {
  const memory = new WebAssembly.Memory({ initial: PAGES });
  const table = new WebAssembly.Table({ initial: 1, element: 'anyfunc' });
  const lines: string[] = [];
  let pending = '';
  const view = (): DataView => new DataView(memory.buffer);
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(new Uint8Array(supportWasmBytes())), {
    env: { memory, table },
    wasi_snapshot_preview1: {
      fd_write: (fd: number, iovs: number, n: number, written: number): number => {
        let total = 0;
        for (let i = 0; i < n; i++) {
          const p = view().getUint32(iovs + 8 * i, true);
          const len = view().getUint32(iovs + 8 * i + 4, true);
          expect(fd).toBe(1);
          pending += new TextDecoder().decode(new Uint8Array(memory.buffer, p, len));
          total += len;
        }
        view().setUint32(written, total, true);
        const parts = pending.split('\n');
        pending = parts.pop()!;
        lines.push(...parts);
        return 0;
      },
      clock_time_get: (_id: number, _p: bigint, out: number): number => {
        view().setBigUint64(out, 123_456_789n, true);
        return 0;
      },
      random_get: (buf: number, len: number): number => {
        new Uint8Array(memory.buffer, buf, len).fill(0x5a);
        return 0;
      },
    },
  });
  view().setUint32(STANDALONE_CONFIG.floor, FLOOR, true);
  view().setUint32(STANDALONE_CONFIG.maxPages, PAGES, true);
  return { memory, fns: instance.exports as unknown as Record<string, Fn>, lines };
}

/** The JS runtime's standard helpers over their own memory. */
function jsHelpers(): { memory: WebAssembly.Memory; fns: Record<string, Fn>; lines: string[] } {
  const memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
  const lines: string[] = [];
  const std = createStandardHelpers({
    memory, accessFloor: FLOOR, env: {}, trace: (l) => lines.push(l),
    mapAt: () => undefined, entries: () => [], callCallback: () => 0n, ringbufAt: () => undefined, perfAt: () => undefined,
  });
  const fns: Record<string, Fn> = {};
  for (const h of std.helpers) {
    const name = h.name ?? helperByName(String(h.id))?.name;
    if (name) fns[name] = h.fn as Fn;
  }
  return { memory, fns, lines };
}

/** Calls helper `name` on both sides after `setup` wrote both memories; expects the same result, memory and trace. */
async function agree(name: string, setup: (m: Uint8Array) => void, args: Array<number | bigint>): Promise<void> {
  const a = await support();
  const b = jsHelpers();
  setup(new Uint8Array(a.memory.buffer));
  setup(new Uint8Array(b.memory.buffer));
  const ra = BigInt.asUintN(64, BigInt(a.fns[name]!(...args)));
  const rb = BigInt.asUintN(64, BigInt(b.fns[name]!(...args)));
  expect(ra, `${name} result`).toBe(rb);
  const ma = new Uint8Array(a.memory.buffer, FLOOR, PAGES * 65536 - FLOOR);
  const mb = new Uint8Array(b.memory.buffer, FLOOR, PAGES * 65536 - FLOOR);
  const diff = ma.findIndex((x, i) => x !== mb[i]);
  expect(diff, `${name}: first differing byte at 0x${(FLOOR + diff).toString(16)}`).toBe(-1);
  // stdout is a byte stream: a trace line with a newline inside (JS: one line) reads back as two.
  expect(a.lines.join('\n'), `${name} trace`).toBe(b.lines.join('\n'));
  expect(a.lines.length).toBeGreaterThanOrEqual(b.lines.length);
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Format pieces: text, valid conversions with flags and widths, invalid ones. */
const piece = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[ -$&-~]{0,6}$/) },
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom('', '0', '-', '+', ' ', '-0', '+ '), fc.constantFrom('', '1', '5', '12', '40'),
    fc.constantFrom('d', 'i', 'u', 'x', 'X', 'ld', 'li', 'lu', 'lx', 'lld', 'llu', 'llx', 'llX', 'c', 's', 'p', 'pK', 'px', 'ps', 'pS',
      'pI4', 'pi4', 'pI6', 'pi6', 'pks', 'pus'))
    .map(([f, w, c]) => `%${f}${w}${c}`) },
  { weight: 1, arbitrary: fc.constantFrom('%%', '%#x', '%.3d', '%hd', '%lc', '%pB', '%pM', '%sx', '%*d', '%', '\x01', '\t', '\n', 'é', '%z') },
);
const format = fc.array(piece, { maxLength: 8 }).map((p) => p.join(''));
/** Arguments: small and large numbers, and pointers to strings and addresses (some unreadable). */
const arg = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, 1n, 255n, 0x7fffffffn, 0x80000000n, 0xffffffffn, (1n << 63n), (1n << 64n) - 1n),
  fc.integer({ min: 0, max: 3 }).map((i) => BigInt(STRS + i * 64)),
  fc.constantFrom(0n, 0x10n, BigInt(FLOOR - 4), BigInt(PAGES * 65536 - 3), 1n << 40n),
);
const strings = (m: Uint8Array): void => {
  m.set(ascii('hello\0'), STRS);
  m.set(ascii('a string of some length, to be cut by widths\0'), STRS + 64);
  m.set([10, 0, 0, 1, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 1], STRS + 128);
  m.set(ascii(''), STRS + 192);
};

describe('standalone support module vs the JS runtime\'s helpers', () => {
  it('bpf_snprintf on generated formats, arguments and buffer sizes', async () => {
    await fc.assert(fc.asyncProperty(format, fc.array(arg, { maxLength: 12 }), fc.integer({ min: 0, max: 300 }), async (f, args, size) => {
      await agree('bpf_snprintf', (m) => {
        strings(m);
        m.set([...ascii(f), 0], FMT);
        const v = new DataView(m.buffer);
        args.forEach((x, i) => v.setBigUint64(ARGS + 8 * i, x, true));
      }, [OUT, size, FMT, ARGS, args.length * 8]);
    }), { numRuns: 250 });
  });

  it('bpf_trace_printk (3 arguments) and bpf_trace_vprintk (up to 12) print the same lines', async () => {
    await fc.assert(fc.asyncProperty(format, fc.array(arg, { minLength: 3, maxLength: 12 }), async (f, args) => {
      const setup = (m: Uint8Array): void => {
        strings(m);
        m.set([...ascii(f), 0], FMT);
        const v = new DataView(m.buffer);
        args.forEach((x, i) => v.setBigUint64(ARGS + 8 * i, x, true));
      };
      const fmtSize = ascii(f).length + 1;
      await agree('bpf_trace_printk', setup, [FMT, fmtSize, args[0]!, args[1]!, args[2]!]);
      await agree('bpf_trace_vprintk', setup, [FMT, fmtSize, ARGS, args.length * 8]);
    }), { numRuns: 300 });
  });

  it('printf-like helpers\' argument errors: bad sizes, no NUL, pointers below the floor or past memory', async () => {
    const setup = (m: Uint8Array): void => {
      m.set([...ascii('x %d'), 0], FMT);
      m.set(ascii('no nul'), FMT + 100);
    };
    for (const args of [[FMT, 0], [FMT + 100, 6], [FLOOR - 8, 8], [PAGES * 65536 - 2, 8], [FMT, 5]] as const) {
      await agree('bpf_trace_printk', setup, [args[0], args[1], 1n, 2n, 3n]);
    }
    for (const [data, len] of [[ARGS, 7], [ARGS, 13 * 8], [0, 8], [FLOOR - 8, 8], [0, 0]] as const) {
      await agree('bpf_trace_vprintk', setup, [FMT, 5, data, len]);
      await agree('bpf_snprintf', setup, [OUT, 16, FMT, data, len]);
    }
    await agree('bpf_snprintf', setup, [FLOOR - 100, 16, FMT, ARGS, 8]);
    await agree('bpf_snprintf', setup, [OUT, 16, 8, ARGS, 8]);
  });

  it('bpf_strtol and bpf_strtoul', async () => {
    const text = fc.oneof(
      fc.stringMatching(/^[ \t]{0,2}-?(0x|0X|0)?[0-9a-fA-FxX]{0,22}[ g]?$/),
      fc.constantFrom('9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809',
        '18446744073709551615', '18446744073709551616', '0x', '-', '', '   ', '0777', '0x1g'),
    );
    await fc.assert(fc.asyncProperty(text, fc.constantFrom(0n, 8n, 10n, 16n, 2n, 0x20n, 0x1010n), fc.integer({ min: 0, max: 70 }), async (s, flags, extra) => {
      const b = ascii(s);
      for (const name of ['bpf_strtol', 'bpf_strtoul']) {
        await agree(name, (m) => m.set(b, STRS), [STRS, BigInt(Math.min(b.length + (extra % 3), 80)), flags, OUT]);
      }
    }), { numRuns: 300 });
    await agree('bpf_strtol', (m) => m.set(ascii('12'), STRS), [STRS, 2n, 0n, FLOOR - 8]);
    await agree('bpf_strtol', (m) => m.set(ascii('12'), STRS), [0, 2n, 0n, OUT]);
  });

  it('bpf_csum_diff, bpf_strncmp, bpf_get_current_comm', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 5 }), async (from, to, seed, cut) => {
        const fs = from.length - (cut === 1 ? (from.length % 4) : 0);
        const ts = to.length - (cut === 2 ? 0 : (to.length % 4));
        await agree('bpf_csum_diff', (m) => {
          m.set(from, STRS);
          m.set(to, STRS + 256);
        }, [STRS, fs, STRS + 256, ts, seed | 0]);
        await agree('bpf_strncmp', (m) => {
          m.set(from, STRS);
          m.set(to, STRS + 256);
        }, [STRS, Math.min(fs, 32), STRS + 256]);
      }), { numRuns: 200 });
    await agree('bpf_csum_diff', () => {}, [STRS, 300, STRS, 300, 0]);
    await agree('bpf_csum_diff', () => {}, [FLOOR - 8, 8, STRS, 4, 0]);
    for (const size of [0, 1, 4, 8, 9, 16, 40]) await agree('bpf_get_current_comm', () => {}, [OUT, size]);
    await agree('bpf_get_current_comm', () => {}, [FLOOR - 4, 16]);
    for (const name of ['bpf_get_current_pid_tgid', 'bpf_get_current_uid_gid', 'bpf_get_smp_processor_id', 'bpf_get_numa_node_id', 'bpf_get_current_task']) {
      await agree(name, () => {}, []);
    }
  });

  it('bpf_probe_read* and bpf_probe_read*_str over linear memory (nothing else to read)', async () => {
    const srcs = [STRS, STRS + 60, FLOOR - 4, 0x10, PAGES * 65536 - 5, PAGES * 65536 + 8, 2 ** 40];
    const dsts = [OUT, FLOOR - 2, PAGES * 65536 - 4];
    for (const name of ['bpf_probe_read', 'bpf_probe_read_kernel', 'bpf_probe_read_user', 'bpf_probe_read_str', 'bpf_probe_read_kernel_str', 'bpf_probe_read_user_str']) {
      for (const src of srcs) {
        for (const dst of dsts) {
          for (const size of [0, 1, 5, 6, 64]) {
            await agree(name, (m) => m.set(ascii('hello\0world'), STRS), [dst, size, BigInt(src)]);
          }
        }
      }
    }
  });

  it('the configuration addresses are those of wasm/standalone/config.ts', () => {
    const text = readFileSync(repoPath('wasm/standalone/config.ts'), 'utf8');
    const consts = new Map([...text.matchAll(/^export const (SA_\w+): u32 = (0x[0-9a-f]+|\d+);$/gm)].map((m) => [m[1]!, Number(m[2])]));
    expect({
      floor: consts.get('SA_FLOOR'), data: consts.get('SA_DATA'), maxPages: consts.get('SA_MAX_PAGES'),
      keyScratch: consts.get('SA_KEY_SCRATCH'), keySlot: consts.get('SA_KEY_SLOT'), keySlots: consts.get('SA_KEY_SLOTS'),
      callbacks: consts.get('SA_CALLBACKS'),
    }).toEqual(STANDALONE_CONFIG);
    expect(consts.get('SA_RESULT')).toBe(0x1000);
  });
});
