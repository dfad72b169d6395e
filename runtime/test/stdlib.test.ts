/**
 * The standard helpers (runtime/stdlib/) against a fake runtime: one page of linear memory, maps
 * and callbacks given as plain functions. Helpers are called as the Wasm boundary calls them
 * (numbers for i32, bigints for i64), and every return code is the kernel's.
 */
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/thrown.js';
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { abiSignature, helperById } from '../helper-table.js';
import { callWithRegisters, HelperRegistry } from '../helper-registry.js';
import { D_MAX_ENTRIES, D_TYPE, D_VALUES } from '../maps/descriptor.js';
import { MapType } from '../uapi/index.js';
import {
  BPF_F_CURRENT_CPU,
  BPF_MAX_LOOPS,
  BPF_RB_AVAIL_DATA,
  BPF_RB_CONS_POS,
  BPF_RB_FORCE_WAKEUP,
  BPF_RB_NO_WAKEUP,
  BPF_RB_PROD_POS,
  BPF_RB_RING_SIZE,
  BPF_RINGBUF_BUSY_BIT,
  BPF_RINGBUF_DISCARD_BIT,
  createStandardHelpers,
  csumDiff,
  Errno,
  PerfEventArray,
  RingBuffer,
  STANDARD_HELPER_IDS,
  standardHelpers,
  type HostEnv,
  type StdlibContext,
} from '../stdlib/index.js';

const EINVAL = BigInt(-Errno.EINVAL);
const EFAULT = BigInt(-Errno.EFAULT);
const ERANGE = BigInt(-Errno.ERANGE);
const ENOSPC = BigInt(-Errno.ENOSPC);
const E2BIG = BigInt(-Errno.E2BIG);

const RB_DESC = 0x3000;
const PERF_DESC = 0x3040;
const RING_BASE = 0x4000;
const OUT_OF_MEMORY = 0x20000; // one page is 0x10000 bytes

const enc = new TextEncoder();
const dec = new TextDecoder();

type Fn = (...args: unknown[]) => unknown;

function setup(over: Partial<StdlibContext> = {}, env: HostEnv = {}) {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const traces: string[] = [];
  const ctx: StdlibContext = {
    memory,
    env,
    trace: (line) => traces.push(line),
    mapAt: () => undefined,
    entries: () => [],
    callCallback: () => 0n,
    ringbufAt: () => undefined,
    perfAt: () => undefined,
    ...over,
  };
  const std = createStandardHelpers(ctx);
  const fns = new Map(std.helpers.map((h) => [h.name!, h.fn as Fn]));
  const call = (name: string, ...args: unknown[]): unknown => {
    const fn = fns.get(name);
    if (!fn) throw new Error(`no helper ${name}`);
    return fn(...args);
  };
  const u8 = (): Uint8Array => new Uint8Array(memory.buffer);
  let next = 0x8000;
  const alloc = (n: number): number => {
    const a = next;
    next += (Math.max(n, 1) + 15) & ~15;
    return a;
  };
  const bytesAt = (data: ArrayLike<number>): number => {
    const a = alloc(data.length);
    u8().set(data, a);
    return a;
  };
  const cstr = (s: string | Uint8Array): number => {
    const b = typeof s === 'string' ? enc.encode(s) : s;
    const a = alloc(b.length + 1);
    u8().set(b, a);
    u8()[a + b.length] = 0;
    return a;
  };
  const u64s = (values: bigint[]): number => {
    const a = alloc(values.length * 8);
    const v = new DataView(memory.buffer);
    values.forEach((x, i) => v.setBigUint64(a + i * 8, BigInt.asUintN(64, x), true));
    return a;
  };
  const read = (a: number, n: number): Uint8Array => u8().slice(a, a + n);
  const readCStr = (a: number): string => {
    const m = u8();
    const end = m.indexOf(0, a);
    return dec.decode(m.subarray(a, end));
  };
  const printk = (fmt: string | Uint8Array, ...args: bigint[]): { ret: unknown; line: string | undefined } => {
    const b = typeof fmt === 'string' ? enc.encode(fmt) : fmt;
    const f = cstr(b);
    const before = traces.length;
    const ret = call('bpf_trace_printk', f, b.length + 1, args[0] ?? 0n, args[1] ?? 0n, args[2] ?? 0n);
    return { ret, line: traces.length > before ? traces[traces.length - 1] : undefined };
  };
  return { memory, ctx, env, traces, std, call, u8, alloc, bytesAt, cstr, u64s, read, readCStr, printk };
}

describe('the helper set', () => {
  it('declares each helper as the helper table says it crosses the Wasm boundary', () => {
    const { std } = setup();
    expect(std.helpers.map((h) => h.id)).toEqual(STANDARD_HELPER_IDS);
    for (const h of std.helpers) {
      const proto = helperById(h.id)!;
      expect(h.name).toBe(proto.name);
      expect(h.signature).toEqual(abiSignature(proto));
    }
    for (const notOurs of [1, 2, 3, 12, 87, 88, 89]) expect(STANDARD_HELPER_IDS).not.toContain(notOurs);
  });

  it('registers in a HelperRegistry and works through callWithRegisters', () => {
    const s = setup();
    const reg = new HelperRegistry(standardHelpers(s.ctx));
    const fmt = s.cstr('x=%d');
    const r = callWithRegisters(reg.getByName('bpf_trace_printk')!, [BigInt(fmt), 5n, 0xffff_ffffn, 0n, 0n]);
    expect(r).toBe(4n);
    expect(s.traces).toEqual(['x=-1']);
    expect(callWithRegisters(reg.get(14)!, [])).toBe((1000n << 32n) | 1000n);
  });
});

describe('bpf_trace_printk formatting', () => {
  const cases: Array<[string, bigint[], string]> = [
    ['hello\n', [], 'hello'],
    ['%d', [-1n], '-1'],
    ['%d', [0xffff_ffffn], '-1'],
    ['%d', [0x1_0000_0005n], '5'],
    ['%i', [-42n], '-42'],
    ['%u', [-1n], '4294967295'],
    ['%ld', [-1n], '-1'],
    ['%lu', [-1n], '18446744073709551615'],
    ['%lld', [1n << 63n], '-9223372036854775808'],
    ['%lli', [123n], '123'],
    ['%llu', [1n << 63n], '9223372036854775808'],
    ['%x', [255n], 'ff'],
    ['%X', [0xbeefn], 'BEEF'],
    ['%x', [-1n], 'ffffffff'],
    ['%lx', [-1n], 'ffffffffffffffff'],
    ['%llX', [0xabcdef0123n], 'ABCDEF0123'],
    ['%5d|', [42n], '   42|'],
    ['%-5d|', [42n], '42   |'],
    ['%05d', [-42n], '-0042'],
    ['%-05d|', [7n], '7    |'],
    ['%+d %+d', [5n, -5n], '+5 -5'],
    ['% d', [5n], ' 5'],
    ['%+u', [5n], '5'],
    ['%08x', [0xbeefn], '0000beef'],
    ['%-8x|', [0xbeefn], 'beef    |'],
    ['%2d', [100n], '100'],
    ['%c%c', [0x68n, 0x69n], 'hi'],
    ['%3c|%-3c|', [0x78n, 0x79n], '  x|y  |'],
    ['100%%', [], '100%'],
    ['%%d', [], '%d'],
    ['%p', [0x1234n], '0000000000001234'],
    ['%px', [0xffff_8880_0000_1000n], 'ffff888000001000'],
    ['%pK.', [0n], '0000000000000000.'],
    ['%20p|', [0xabcn], '                 abc|'],
    ['%ps', [0x1234n], '0x1234'],
    ['%10pS|', [0xffn], '      0xff|'],
    ['%pxyz!', [1n], '0000000000000001!'],
    ['a\n\n', [], 'a\n'],
    ['\t tab', [], '\t tab'],
    ['caf\u00e9 %d', [1n], 'caf\u00e9 1'],
  ];
  for (const [fmt, args, want] of cases) {
    it(`formats ${JSON.stringify(fmt)}`, () => {
      const s = setup();
      const { ret, line } = s.printk(fmt, ...args);
      expect(line).toBe(want);
      expect(ret).toBe(BigInt(enc.encode(fmt.endsWith('\n') ? `${want}\n` : want).length));
    });
  }

  it('reads %s strings from memory, with widths', () => {
    const s = setup();
    const w = s.cstr('world');
    expect(s.printk('hello %s!', BigInt(w)).line).toBe('hello world!');
    expect(s.printk('[%8s]', BigInt(w)).line).toBe('[   world]');
    expect(s.printk('[%-8s]', BigInt(w)).line).toBe('[world   ]');
    expect(s.printk('[%s]', 0n).line).toBe('[]');
    expect(s.printk('[%s]', BigInt(OUT_OF_MEMORY)).line).toBe('[]');
    expect(s.printk('[%pks] [%pus]', BigInt(w), BigInt(w)).line).toBe('[world] [world]');
  });

  it('truncates %s to the kernel argument buffer', () => {
    const s = setup();
    const long = s.cstr('y'.repeat(700));
    expect(s.printk('%s', BigInt(long)).line).toBe('y'.repeat(511));
    // 4 bytes of %d before it leave 508 for the string and its NUL.
    expect(s.printk('%d%s', 1n, BigInt(long)).line).toBe(`1${'y'.repeat(507)}`);
  });

  it('reads strings from host memory through probeRead', () => {
    const s = setup({}, {
      probeRead: (address, length) =>
        address === 0xffff_0000_0000_1000n ? enc.encode('host\0garbage').subarray(0, length) : undefined,
    });
    expect(s.printk('%s|%s', 0xffff_0000_0000_1000n, 0xffff_0000_0000_2000n).line).toBe('host|');
  });

  it('formats IP addresses read from memory', () => {
    const s = setup();
    const v4 = BigInt(s.bytesAt([192, 168, 0, 1]));
    const v6 = BigInt(s.bytesAt([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
    expect(s.printk('%pI4 %pi4', v4, v4).line).toBe('192.168.0.1 192.168.000.001');
    expect(s.printk('%pI6', v6).line).toBe('2001:0db8:0000:0000:0000:0000:0000:0001');
    expect(s.printk('%pi6', v6).line).toBe('20010db8000000000000000000000001');
    // The width does not apply to pre-formatted addresses; unreadable ones print as zeros.
    expect(s.printk('[%20pI4]', v4).line).toBe('[192.168.0.1]');
    expect(s.printk('%pI4', 0n).line).toBe('0.0.0.0');
    // bstr_printf skips every alphanumeric after %p: the 'c' of %pI6c is swallowed.
    expect(s.printk('%pI6c!', v6).line).toBe('2001:0db8:0000:0000:0000:0000:0000:0001!');
  });

  it('stops the trace line at a NUL written by %c', () => {
    const s = setup();
    const { ret, line } = s.printk('a%cb', 0n);
    expect(line).toBe('a');
    expect(ret).toBe(3n);
  });

  it('truncates the trace line to 1023 bytes and returns the full length', () => {
    const s = setup();
    const { ret, line } = s.printk('%1500d', 7n);
    expect(ret).toBe(1500n);
    expect(line).toBe(' '.repeat(1023));
    expect(s.printk('%9999999999d', 7n).ret).toBe(BigInt((1 << 23) - 1));
  });

  const invalid: Array<[string | Uint8Array, bigint[]]> = [
    ['%d %d %d %d', [1n, 2n, 3n]],
    ['%#x', [1n]],
    ['%.2d', [1n]],
    ['%*d', [1n]],
    ['%hd', [1n]],
    ['%hhd', [1n]],
    ['%zu', [1n]],
    ['%lc', [1n]],
    ['%llc', [1n]],
    ['%ls', [1n]],
    ['%lls', [1n]],
    ['%q', [1n]],
    ['%', [1n]],
    ['%5%', [1n]],
    ['%--------', [1n]],
    ['%sx', [1n]],
    ['%pB', [1n]],
    ['%pM', [1n]],
    ['%pI5', [1n]],
    ['%pI', [1n]],
    ['%pksx', [1n]],
    ['bell\x07', []],
    ['\x01', []],
    [new Uint8Array([0x25, 0x80]), [1n]],
  ];
  for (const [fmt, args] of invalid) {
    it(`rejects ${JSON.stringify(typeof fmt === 'string' ? fmt : [...fmt])} with -EINVAL`, () => {
      const s = setup();
      const { ret, line } = s.printk(fmt, ...args);
      expect(ret).toBe(EINVAL);
      expect(line).toBeUndefined();
    });
  }

  it('accepts bytes >= 0x80 in the text', () => {
    const s = setup();
    expect(s.printk(new Uint8Array([0x80, 0x41])).ret).toBe(2n);
  });

  it('needs the NUL within fmt_size and fmt inside memory', () => {
    const s = setup();
    const f = s.cstr('abc');
    expect(s.call('bpf_trace_printk', f, 3, 0n, 0n, 0n)).toBe(EINVAL);
    expect(s.call('bpf_trace_printk', f, 0, 0n, 0n, 0n)).toBe(EINVAL);
    expect(s.call('bpf_trace_printk', f, 4, 0n, 0n, 0n)).toBe(3n);
    expect(s.call('bpf_trace_printk', 0, 4, 0n, 0n, 0n)).toBe(EFAULT);
    expect(s.call('bpf_trace_printk', 0xfffe, 4, 0n, 0n, 0n)).toBe(EFAULT);
    expect(s.call('bpf_trace_printk', -1, 4, 0n, 0n, 0n)).toBe(EFAULT);
  });

  it('runs out of the 512-byte argument buffer with -ENOSPC', () => {
    const s = setup();
    const long = s.cstr('z'.repeat(600));
    const args = s.u64s([BigInt(long), 1n]);
    expect(s.call('bpf_trace_vprintk', s.cstr('%s%c'), 5, args, 16)).toBe(ENOSPC);
  });
});

describe('bpf_trace_vprintk', () => {
  it('takes up to 12 u64 arguments from memory', () => {
    const s = setup();
    const fmt = '%d %d %d %d %d %d %d %d %d %d %d %d';
    const f = s.cstr(fmt);
    const args = s.u64s([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n]);
    expect(s.call('bpf_trace_vprintk', f, fmt.length + 1, args, 96)).toBe(26n);
    expect(s.traces).toEqual(['1 2 3 4 5 6 7 8 9 10 11 12']);
  });

  it('checks data_len and data', () => {
    const s = setup();
    const f = s.cstr('%d');
    const args = s.u64s([1n, 2n]);
    expect(s.call('bpf_trace_vprintk', f, 3, args, 12)).toBe(EINVAL);
    expect(s.call('bpf_trace_vprintk', f, 3, args, 104)).toBe(EINVAL);
    expect(s.call('bpf_trace_vprintk', f, 3, 0, 8)).toBe(EINVAL);
    expect(s.call('bpf_trace_vprintk', f, 3, 0xfffc, 8)).toBe(EFAULT);
    expect(s.call('bpf_trace_vprintk', f, 3, 0, 0)).toBe(EINVAL); // %d without an argument
    expect(s.call('bpf_trace_vprintk', s.cstr('plain'), 6, 0, 0)).toBe(5n);
    expect(s.call('bpf_trace_vprintk', f, 3, args, 8)).toBe(1n);
  });
});

describe('bpf_snprintf', () => {
  const snprintf = (s: ReturnType<typeof setup>, str: number, size: number, fmt: string, args: bigint[]): unknown =>
    s.call('bpf_snprintf', str, size, s.cstr(fmt), args.length ? s.u64s(args) : 0, args.length * 8);

  it('returns the full length plus one and writes a NUL-terminated string', () => {
    const s = setup();
    const buf = s.alloc(32);
    s.u8().fill(0xaa, buf, buf + 32);
    expect(snprintf(s, buf, 32, '%d-%s', [42n, BigInt(s.cstr('abc'))])).toBe(7n);
    expect(s.readCStr(buf)).toBe('42-abc');
    expect(s.u8()[buf + 7]).toBe(0xaa);
  });

  it('truncates to str_size - 1 bytes', () => {
    const s = setup();
    const buf = s.alloc(8);
    s.u8().fill(0xaa, buf, buf + 8);
    expect(snprintf(s, buf, 4, '%d-%s', [42n, BigInt(s.cstr('abc'))])).toBe(7n);
    expect([...s.read(buf, 5)]).toEqual([0x34, 0x32, 0x2d, 0, 0xaa]);
    expect(snprintf(s, buf, 1, 'abc', [])).toBe(4n);
    expect(s.u8()[buf]).toBe(0);
  });

  it('takes a NULL buffer with size 0 and only measures', () => {
    const s = setup();
    expect(snprintf(s, 0, 0, '%05d', [1n])).toBe(6n);
    // A pre-formatted %pI4 only counts while the buffer has room (bstr_printf's `str < end`).
    expect(snprintf(s, 0, 0, 'ip=%pI4', [BigInt(s.bytesAt([1, 2, 3, 4]))])).toBe(4n);
    const buf = s.alloc(32);
    expect(snprintf(s, buf, 32, 'ip=%pI4', [BigInt(s.bytesAt([1, 2, 3, 4]))])).toBe(11n);
    expect(s.readCStr(buf)).toBe('ip=1.2.3.4');
  });

  it('leaves the buffer alone on an invalid format', () => {
    const s = setup();
    const buf = s.alloc(16);
    s.u8().fill(0xaa, buf, buf + 16);
    expect(snprintf(s, buf, 16, '%d %d', [1n])).toBe(EINVAL);
    expect(snprintf(s, buf, 16, '%#x', [1n])).toBe(EINVAL);
    expect([...s.read(buf, 16)].every((b) => b === 0xaa)).toBe(true);
  });

  it('checks data_len, the buffer and the format string', () => {
    const s = setup();
    const buf = s.alloc(16);
    const fmt = s.cstr('%d');
    const args = s.u64s([1n]);
    expect(s.call('bpf_snprintf', buf, 16, fmt, args, 7)).toBe(EINVAL);
    expect(s.call('bpf_snprintf', buf, 16, fmt, args, 13 * 8)).toBe(EINVAL);
    expect(s.call('bpf_snprintf', 0xfff8, 16, fmt, args, 8)).toBe(EFAULT);
    expect(s.call('bpf_snprintf', 0, 16, fmt, args, 8)).toBe(EFAULT);
    expect(s.call('bpf_snprintf', buf, 16, 0, args, 8)).toBe(EFAULT);
    // A format running to the end of memory without a NUL.
    s.u8().fill(0x41, 0xfff0, 0x10000);
    expect(s.call('bpf_snprintf', buf, 16, 0xfff0, 0, 0)).toBe(EINVAL);
  });
});

describe('bpf_strtol / bpf_strtoul', () => {
  const strtox = (name: 'bpf_strtol' | 'bpf_strtoul', text: string, flags: bigint, len?: number) => {
    const s = setup();
    const b = s.cstr(text);
    const res = s.alloc(8);
    new DataView(s.memory.buffer).setBigUint64(res, 0x5555n, true);
    const ret = s.call(name, b, BigInt(len ?? text.length), flags, res);
    const value = new DataView(s.memory.buffer)[name === 'bpf_strtol' ? 'getBigInt64' : 'getBigUint64'](res, true);
    return { ret, value };
  };

  const cases: Array<[string, bigint, bigint, bigint]> = [
    ['123', 10n, 3n, 123n],
    ['123abc', 0n, 3n, 123n],
    ['  -42xyz', 10n, 5n, -42n],
    ['\t\n 7', 0n, 4n, 7n],
    ['0x1f', 16n, 4n, 31n],
    ['0X1F', 0n, 4n, 31n],
    ['1f', 16n, 2n, 31n],
    ['0777', 0n, 4n, 511n],
    ['0777', 8n, 4n, 511n],
    ['0789', 0n, 2n, 7n],
    ['0x', 0n, 1n, 0n],
    ['0xg', 0n, 1n, 0n],
    ['-0x10', 16n, 5n, -16n],
    ['9223372036854775807', 10n, 19n, 9223372036854775807n],
    ['-9223372036854775808', 10n, 20n, -9223372036854775808n],
    ['-0', 10n, 2n, 0n],
  ];
  for (const [text, flags, consumed, value] of cases) {
    it(`strtol(${JSON.stringify(text)}, ${flags})`, () => {
      expect(strtox('bpf_strtol', text, flags)).toEqual({ ret: consumed, value });
    });
  }

  const errors: Array<[string, bigint, bigint]> = [
    ['9223372036854775808', 10n, ERANGE],
    ['-9223372036854775809', 10n, ERANGE],
    ['18446744073709551616', 10n, ERANGE],
    ['0x10000000000000000', 16n, ERANGE],
    ['+5', 10n, EINVAL],
    ['abc', 10n, EINVAL],
    ['0x', 16n, EINVAL],
    ['   ', 10n, EINVAL],
    ['-', 10n, EINVAL],
    ['12', 3n, EINVAL],
    ['12', 2n, EINVAL],
    ['12', 0x2an, EINVAL],
    ['12', 1n << 40n, EINVAL],
    ['- 5', 10n, EINVAL],
  ];
  for (const [text, flags, err] of errors) {
    it(`strtol(${JSON.stringify(text)}, ${flags}) fails and zeroes *res`, () => {
      expect(strtox('bpf_strtol', text, flags)).toEqual({ ret: err, value: 0n });
    });
  }

  it('strtoul takes the full u64 range and refuses negative numbers', () => {
    expect(strtox('bpf_strtoul', '18446744073709551615', 10n)).toEqual({ ret: 20n, value: (1n << 64n) - 1n });
    expect(strtox('bpf_strtoul', '0xffffffffffffffff', 0n)).toEqual({ ret: 18n, value: (1n << 64n) - 1n });
    expect(strtox('bpf_strtoul', '18446744073709551616', 10n)).toEqual({ ret: ERANGE, value: 0n });
    expect(strtox('bpf_strtoul', '-1', 10n)).toEqual({ ret: EINVAL, value: 0n });
    expect(strtox('bpf_strtoul', '  42', 10n)).toEqual({ ret: 4n, value: 42n });
  });

  it('respects buf_len, looks at 63 characters at most, and checks pointers', () => {
    expect(strtox('bpf_strtol', '12345', 10n, 3)).toEqual({ ret: 3n, value: 123n });
    expect(strtox('bpf_strtoul', `${'0'.repeat(62)}12`, 10n)).toEqual({ ret: 63n, value: 1n });
    const s = setup();
    const res = s.alloc(8);
    expect(s.call('bpf_strtol', s.cstr('1'), 0n, 10n, res)).toBe(EINVAL);
    expect(s.call('bpf_strtol', 0, 1n, 10n, res)).toBe(EINVAL);
    expect(s.call('bpf_strtol', 0xffff, 2n, 10n, res)).toBe(EFAULT);
    expect(s.call('bpf_strtol', s.cstr('1'), 1n << 40n, 10n, res)).toBe(EFAULT);
    expect(s.call('bpf_strtol', s.cstr('1'), 1n, 10n, 0xfffc)).toBe(EFAULT);
  });
});

describe('bpf_strncmp', () => {
  it('compares like the kernel strncmp', () => {
    const s = setup();
    const cmp = (a: string, n: number, b: string): unknown => s.call('bpf_strncmp', s.cstr(a), n, s.cstr(b));
    expect(cmp('abc', 3, 'abd')).toBe(-1n);
    expect(cmp('abd', 3, 'abc')).toBe(1n);
    expect(cmp('abc', 4, 'abc')).toBe(0n);
    expect(cmp('abcd', 2, 'abzz')).toBe(0n);
    expect(cmp('ab', 3, 'abc')).toBe(-1n);
    expect(cmp('\u00ff', 1, 'a')).toBe(1n);
    expect(s.call('bpf_strncmp', s.cstr('ab'), 3, 0)).toBe(EFAULT);
    expect(s.call('bpf_strncmp', 0xfffe, 4, s.cstr('ab'))).toBe(EFAULT);
  });
});

describe('probe reads', () => {
  it('copies from linear memory', () => {
    const s = setup();
    const src = s.bytesAt([1, 2, 3, 4]);
    const dst = s.alloc(4);
    for (const name of ['bpf_probe_read', 'bpf_probe_read_kernel', 'bpf_probe_read_user']) {
      s.u8().fill(0, dst, dst + 4);
      expect(s.call(name, dst, 4, src)).toBe(0n);
      expect([...s.read(dst, 4)]).toEqual([1, 2, 3, 4]);
    }
    expect(s.call('bpf_probe_read', dst, 0, 0)).toBe(0n);
  });

  it('zeroes the destination and returns -EFAULT when the source is unreadable', () => {
    const s = setup();
    const dst = s.alloc(8);
    for (const src of [0, 0x10, OUT_OF_MEMORY, 0xfffc, -16]) {
      s.u8().fill(0xaa, dst, dst + 9);
      expect(s.call('bpf_probe_read_kernel', dst, 8, src)).toBe(EFAULT);
      expect([...s.read(dst, 9)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0xaa]);
    }
  });

  it('refuses a destination outside memory without writing', () => {
    const s = setup();
    const src = s.cstr('abc');
    const before = s.u8().slice();
    expect(s.call('bpf_probe_read', 0xfffc, 8, src)).toBe(EFAULT);
    expect(s.call('bpf_probe_read', 0x10, 8, src)).toBe(EFAULT);
    expect(s.call('bpf_probe_read_str', 0xfffc, 8, src)).toBe(EFAULT);
    expect(s.u8()).toEqual(before);
  });

  it('reads host memory through env.probeRead', () => {
    const s = setup({}, {
      probeRead: (address, length) => (address === 0x100000n ? new Uint8Array(length).fill(7) : undefined),
    });
    const dst = s.alloc(4);
    expect(s.call('bpf_probe_read_user', dst, 4, 0x100000)).toBe(0n);
    expect([...s.read(dst, 4)]).toEqual([7, 7, 7, 7]);
    expect(s.call('bpf_probe_read_user', dst, 4, 0x200000)).toBe(EFAULT);
    expect([...s.read(dst, 4)]).toEqual([0, 0, 0, 0]);
  });

  it('copies strings with their NUL and returns the length with it', () => {
    const s = setup();
    const src = s.cstr('hello');
    const dst = s.alloc(16);
    s.u8().fill(0xaa, dst, dst + 16);
    expect(s.call('bpf_probe_read_str', dst, 16, src)).toBe(6n);
    expect([...s.read(dst, 7)]).toEqual([...enc.encode('hello'), 0, 0xaa]);
    expect(s.call('bpf_probe_read_kernel_str', dst, 3, src)).toBe(3n);
    expect(s.readCStr(dst)).toBe('he');
    expect(s.call('bpf_probe_read_user_str', dst, 6, src)).toBe(6n);
    expect(s.call('bpf_probe_read_user_str', dst, 0, src)).toBe(0n);
  });

  it('fails a string that runs off the end of memory, zeroing the destination', () => {
    const s = setup();
    s.u8().fill(0x41, 0xfff0, 0x10000);
    const dst = s.alloc(32);
    s.u8().fill(0xaa, dst, dst + 32);
    expect(s.call('bpf_probe_read_kernel_str', dst, 32, 0xfff0)).toBe(EFAULT);
    expect([...s.read(dst, 32)].every((b) => b === 0)).toBe(true);
    // Within the size limit it is fine: 16 bytes read, the last replaced by the NUL.
    expect(s.call('bpf_probe_read_kernel_str', dst, 16, 0xfff0)).toBe(16n);
    expect(s.readCStr(dst)).toBe('A'.repeat(15));
    expect(s.call('bpf_probe_read_str', dst, 8, 0)).toBe(EFAULT);
  });
});

describe('the current task', () => {
  it('packs pid/tgid and uid/gid like the kernel', () => {
    const s = setup({}, { pid: 7, tgid: 9, uid: 1000, gid: 100 });
    expect(s.call('bpf_get_current_pid_tgid')).toBe((9n << 32n) | 7n);
    expect(s.call('bpf_get_current_uid_gid')).toBe((100n << 32n) | 1000n);
    const d = setup();
    expect(d.call('bpf_get_current_pid_tgid')).toBe((1000n << 32n) | 1000n);
    expect(d.call('bpf_get_current_uid_gid')).toBe(0n);
    expect(setup({}, { tgid: 0xffff_ffff, pid: 1 }).call('bpf_get_current_pid_tgid')).toBe(-0x1_0000_0000n + 1n);
  });

  it('copies comm NUL-padded and truncated', () => {
    const s = setup({}, { comm: 'a-very-long-command-name' });
    const buf = s.alloc(20);
    s.u8().fill(0xff, buf, buf + 20);
    expect(s.call('bpf_get_current_comm', buf, 20)).toBe(0n);
    expect([...s.read(buf, 20)]).toEqual([...enc.encode('a-very-long-com'), 0, 0, 0, 0, 0]);
    s.u8().fill(0xff, buf, buf + 20);
    expect(s.call('bpf_get_current_comm', buf, 4)).toBe(0n);
    expect([...s.read(buf, 5)]).toEqual([...enc.encode('a-v'), 0, 0xff]);
    expect(s.call('bpf_get_current_comm', 0xfffc, 16)).toBe(EFAULT);

    const d = setup();
    const b2 = d.alloc(16);
    d.u8().fill(0xff, b2, b2 + 16);
    expect(d.call('bpf_get_current_comm', b2, 16)).toBe(0n);
    expect([...d.read(b2, 16)]).toEqual([...enc.encode('bpf2wasm'), 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('reads clocks, randomness and the CPU from the environment', () => {
    let t = 1_234_567_890n;
    const s = setup({}, { now: () => t, random: () => -1, cpu: 3 });
    expect(s.call('bpf_ktime_get_ns')).toBe(1_234_567_890n);
    expect(s.call('bpf_ktime_get_boot_ns')).toBe(1_234_567_890n);
    expect(s.call('bpf_ktime_get_coarse_ns')).toBe(1_234_000_000n);
    t = 5n;
    expect(s.call('bpf_ktime_get_ns')).toBe(5n);
    expect(s.call('bpf_get_prandom_u32')).toBe(0xffff_ffff);
    expect(s.call('bpf_get_smp_processor_id')).toBe(3);
    expect(s.call('bpf_get_numa_node_id')).toBe(0n);
    expect(s.call('bpf_get_current_task')).toBe(0n);
  });

  it('has working defaults', () => {
    const s = setup();
    const a = s.call('bpf_ktime_get_ns') as bigint;
    const b = s.call('bpf_ktime_get_ns') as bigint;
    expect(b >= a).toBe(true);
    expect(s.call('bpf_ktime_get_tai_ns') as bigint).toBeGreaterThan(1_600_000_000_000_000_000n);
    const r = s.call('bpf_get_prandom_u32') as number;
    expect(Number.isInteger(r) && r >= 0 && r <= 0xffff_ffff).toBe(true);
    expect(s.call('bpf_get_smp_processor_id')).toBe(0);
  });
});

describe('bpf_loop', () => {
  it('calls the callback until it returns 1 and returns the iterations', () => {
    const calls: bigint[][] = [];
    const s = setup({
      callCallback: (cb, ...regs) => {
        calls.push([BigInt(cb), ...regs]);
        return regs[0] === 3n ? 1n : 0n;
      },
    });
    expect(s.call('bpf_loop', 10, 7, 0x9000, 0n)).toBe(4n);
    expect(calls).toEqual([0n, 1n, 2n, 3n].map((i) => [7n, i, 0x9000n, 0n, 0n, 0n]));
    calls.length = 0;
    expect(s.call('bpf_loop', 3, 7, 0, 0n)).toBe(3n);
    expect(s.call('bpf_loop', 0, 7, 0, 0n)).toBe(0n);
  });

  it('checks flags before the loop count', () => {
    let n = 0;
    const s = setup({ callCallback: () => { n++; return 1n; } });
    expect(s.call('bpf_loop', 1, 0, 0, 1n)).toBe(EINVAL);
    expect(s.call('bpf_loop', BPF_MAX_LOOPS + 1, 0, 0, 1n)).toBe(EINVAL);
    expect(s.call('bpf_loop', BPF_MAX_LOOPS + 1, 0, 0, 0n)).toBe(E2BIG);
    expect(s.call('bpf_loop', -1, 0, 0, 0n)).toBe(E2BIG);
    expect(n).toBe(0);
    expect(s.call('bpf_loop', BPF_MAX_LOOPS, 0, 0, 0n)).toBe(1n);
  });
});

describe('bpf_for_each_map_elem', () => {
  it('visits entries until the callback returns 1 and counts the visited ones', () => {
    const calls: bigint[][] = [];
    const s = setup({
      mapAt: (d) => (d === 0x3000 ? { index: 0, name: 'm', type: MapType.HASH } : undefined),
      entries: () => [[0x8000, 0x8100], [0x8008, 0x8108], [0x8010, 0x8110]],
      callCallback: (cb, ...regs) => {
        calls.push([BigInt(cb), ...regs]);
        return calls.length === 2 ? 1n : 0n;
      },
    });
    expect(s.call('bpf_for_each_map_elem', 0x3000, 5, 0x9000, 0n)).toBe(2n);
    expect(calls).toEqual([
      [5n, 0x3000n, 0x8000n, 0x8100n, 0x9000n, 0n],
      [5n, 0x3000n, 0x8008n, 0x8108n, 0x9000n, 0n],
    ]);
    expect(s.call('bpf_for_each_map_elem', 0x3000, 5, 0, 1n)).toBe(EINVAL);
    expect(s.call('bpf_for_each_map_elem', 0x3040, 5, 0, 0n)).toBe(EINVAL);
  });

  it('returns the number of entries when the callback never stops it', () => {
    const s = setup({
      mapAt: () => ({ index: 0, name: 'm', type: MapType.ARRAY }),
      entries: () => [[1, 2], [3, 4]],
    });
    expect(s.call('bpf_for_each_map_elem', 0x3000, 5, 0, 0n)).toBe(2n);
  });
});

describe('bpf_spin_lock / bpf_spin_unlock', () => {
  const thrown = (f: () => unknown): BpfRuntimeError => thrownBy(f, BpfRuntimeError);

  it('pairs locks and unlocks', () => {
    const s = setup();
    expect(s.call('bpf_spin_lock', 0x9000)).toBe(0n);
    expect(s.std.heldLocks()).toEqual([0x9000]);
    const twice = thrown(() => s.call('bpf_spin_lock', 0x9000));
    expect(twice.code).toBe(ErrorCode.HelperFailed);
    expect(twice.location).toEqual({ helper: 'bpf_spin_lock', address: 0x9000 });
    const other = thrown(() => s.call('bpf_spin_lock', 0x9010));
    expect(other.location.helper).toBe('bpf_spin_lock');
    expect(s.call('bpf_spin_unlock', 0x9000)).toBe(0n);
    const unheld = thrown(() => s.call('bpf_spin_unlock', 0x9000));
    expect(unheld.code).toBe(ErrorCode.HelperFailed);
    expect(unheld.location.helper).toBe('bpf_spin_unlock');
    expect(s.call('bpf_spin_lock', 0x9010)).toBe(0n);
    s.std.reset();
    expect(s.std.heldLocks()).toEqual([]);
    expect(s.call('bpf_spin_lock', 0x9010)).toBe(0n);
  });
});

describe('bpf_csum_diff', () => {
  // The IPv4 header of test-programs/examples/ipv4-checksum.data; its checksum is 0xb861.
  const header = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];

  it('sums a header (to only) into the Internet checksum', () => {
    const s = setup();
    const r = s.call('bpf_csum_diff', 0, 0, s.bytesAt(header), 20, 0) as bigint;
    expect(r).toBeLessThanOrEqual(0xffffn);
    // The sum is over little-endian words: complemented, it is the checksum as stored in memory.
    expect(~Number(r) & 0xffff).toBe(0x61b8);
  });

  it('updates a checksum incrementally like a full recompute', () => {
    const s = setup();
    const fold = (x: number): number => {
      while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
      return x;
    };
    const old = [0xc0, 0xa8, 0x00, 0x01];
    const neu = [0x0a, 0x00, 0x00, 0x2a];
    const diff = Number(s.call('bpf_csum_diff', s.bytesAt(old), 4, s.bytesAt(neu), 4, 0));
    const updated = header.slice();
    updated.splice(12, 4, ...neu);
    const full = Number(s.call('bpf_csum_diff', 0, 0, s.bytesAt(updated), 20, 0));
    const oldSum = Number(s.call('bpf_csum_diff', 0, 0, s.bytesAt(header), 20, 0));
    expect(fold(oldSum + diff)).toBe(fold(full));
    // The seed is added in; from only subtracts.
    expect(Number(s.call('bpf_csum_diff', 0, 0, s.bytesAt(neu), 4, oldSum))).toBe(fold(oldSum + Number(s.call('bpf_csum_diff', 0, 0, s.bytesAt(neu), 4, 0))));
    const pulled = Number(s.call('bpf_csum_diff', s.bytesAt(old), 4, 0, 0, oldSum));
    expect(fold(pulled + Number(s.call('bpf_csum_diff', 0, 0, s.bytesAt(old), 4, 0))) % 0xffff).toBe(oldSum % 0xffff);
  });

  it('matches the kernel on small cases and checks sizes', () => {
    expect(csumDiff(new Uint8Array(0), new Uint8Array(0), 0x1234_5678)).toBe(0x1234_5678);
    expect(csumDiff(new Uint8Array(0), new Uint8Array([28, 0, 0, 0]), 0)).toBe(28);
    expect(csumDiff(new Uint8Array([28, 0, 0, 0]), new Uint8Array(0), 0)).toBe(0xffe3);
    const s = setup();
    const p = s.alloc(520);
    expect(s.call('bpf_csum_diff', p, 3, p, 4, 0)).toBe(EINVAL);
    expect(s.call('bpf_csum_diff', p, 4, p, 6, 0)).toBe(EINVAL);
    expect(s.call('bpf_csum_diff', p, 256, p, 260, 0)).toBe(EINVAL);
    // Equal sums cancel to one's complement -0, which the kernel's fold leaves as 0xffff.
    expect(s.call('bpf_csum_diff', p, 256, p, 256, 0)).toBe(0xffffn);
    expect(s.call('bpf_csum_diff', 0xfffc, 8, p, 4, 0)).toBe(EFAULT);
  });
});

describe('RingBuffer', () => {
  function ring(size = 64) {
    const rb = { current: undefined as RingBuffer | undefined };
    const s = setup({ ringbufAt: (d) => (d === RB_DESC ? rb.current : undefined) });
    rb.current = new RingBuffer(s.memory, RING_BASE, size, 'events');
    const records: number[][] = [];
    rb.current.onRecord((data) => records.push([...data]));
    const reserve = (n: number, flags = 0n): number => s.call('bpf_ringbuf_reserve', RB_DESC, BigInt(n), flags) as number;
    const submit = (p: number, flags = 0n): unknown => s.call('bpf_ringbuf_submit', p, flags);
    const discard = (p: number, flags = 0n): unknown => s.call('bpf_ringbuf_discard', p, flags);
    const query = (f: bigint): unknown => s.call('bpf_ringbuf_query', RB_DESC, f);
    const output = (data: number[], flags = 0n): unknown =>
      s.call('bpf_ringbuf_output', RB_DESC, s.bytesAt(data), BigInt(data.length), flags);
    return { ...s, rb: rb.current, records, reserve, submit, discard, query, output };
  }

  it('reserves records in place with kernel-format headers', () => {
    const r = ring();
    const a = r.reserve(5);
    expect(a).toBe(RING_BASE + 8);
    const hdr = new DataView(r.memory.buffer);
    expect(hdr.getUint32(RING_BASE, true)).toBe((5 | BPF_RINGBUF_BUSY_BIT) >>> 0);
    expect(r.reserve(8)).toBe(RING_BASE + 24);
    r.u8().set([1, 2, 3, 4, 5], a);
    r.submit(a);
    expect(hdr.getUint32(RING_BASE, true)).toBe(5);
    expect(r.rb.consume()).toBe(1);
    expect(r.records).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('delivers in reservation order; a reserved record blocks later ones', () => {
    const r = ring();
    const a = r.reserve(1);
    const b = r.reserve(1);
    const c = r.reserve(1);
    r.u8()[a] = 0xa;
    r.u8()[b] = 0xb;
    r.u8()[c] = 0xc;
    r.submit(c);
    r.discard(b);
    expect(new DataView(r.memory.buffer).getUint32(b - 8, true)).toBe((1 | BPF_RINGBUF_DISCARD_BIT) >>> 0);
    expect(r.rb.consume()).toBe(0);
    expect(r.records).toEqual([]);
    r.submit(a);
    expect(r.rb.consume()).toBe(2);
    expect(r.records).toEqual([[0xa], [0xc]]);
    expect(r.query(BPF_RB_AVAIL_DATA)).toBe(0n);
  });

  it('counts unconsumed records against the space and refuses what does not fit', () => {
    const r = ring(64);
    // Each 8-byte record takes 16 bytes; the producer may run at most 63 bytes ahead.
    const ps = [r.reserve(8), r.reserve(8), r.reserve(8)];
    expect(ps.every((p) => p !== 0)).toBe(true);
    expect(r.reserve(8)).toBe(0);
    for (const p of ps) r.submit(p);
    expect(r.reserve(8)).toBe(0);
    expect(r.query(BPF_RB_AVAIL_DATA)).toBe(48n);
    expect(r.rb.consume()).toBe(3);
    expect(r.reserve(8)).not.toBe(0);
    const big = ring(64);
    expect(big.reserve(57)).toBe(0);
    expect(big.reserve(56)).toBe(0);
    expect(big.reserve(48)).not.toBe(0);
    expect(ring().reserve(1, 1n)).toBe(0);
    expect(ring().reserve(-1)).toBe(0);
  });

  it('wraps around, keeping records contiguous and intact', () => {
    const r = ring(128);
    let seq = 0;
    for (let round = 0; round < 50; round++) {
      const sizes = [1 + (round % 13), 1 + ((round * 7) % 24)];
      const sent: number[][] = [];
      for (const n of sizes) {
        const p = r.reserve(n);
        expect(p).not.toBe(0);
        expect(p).toBeGreaterThanOrEqual(RING_BASE + 8);
        expect(p + n).toBeLessThanOrEqual(RING_BASE + 128);
        const data = Array.from({ length: n }, () => seq++ & 0xff);
        r.u8().set(data, p);
        sent.push(data);
        r.submit(p);
      }
      r.records.length = 0;
      expect(r.rb.consume()).toBe(2);
      expect(r.records).toEqual(sent);
    }
    expect(Number(r.query(BPF_RB_CONS_POS))).toBeGreaterThan(128 * 10);
    expect(r.query(BPF_RB_PROD_POS)).toBe(r.query(BPF_RB_CONS_POS));
    expect(r.query(BPF_RB_RING_SIZE)).toBe(128n);
    expect(r.query(99n)).toBe(0n);
  });

  it('pads the tail when a record would straddle the end', () => {
    const r = ring(64);
    const a = r.reserve(32); // 40 bytes at 0
    r.submit(a);
    r.rb.consume();
    const b = r.reserve(16); // 24 bytes: 40 + 24 = 64 fits exactly
    expect(b).toBe(RING_BASE + 48);
    r.submit(b);
    r.rb.consume();
    const c = r.reserve(8); // 16 bytes at offset 0 (no padding needed: offset 64 % 64 == 0)
    expect(c).toBe(RING_BASE + 8);
    r.submit(c);
    const d = r.reserve(32); // 40 bytes at offset 16: fits up to 56
    expect(d).toBe(RING_BASE + 24);
    r.submit(d);
    r.rb.consume();
    const e = r.reserve(8); // offset 56: 16 bytes would straddle, so 8 bytes of padding first
    expect(e).toBe(RING_BASE + 8);
    expect(r.query(BPF_RB_AVAIL_DATA)).toBe(24n);
    r.submit(e);
    r.records.length = 0;
    expect(r.rb.consume()).toBe(1);
    expect(r.records.length).toBe(1);
  });

  it('ignores pointers that bpf_ringbuf_reserve did not return', () => {
    const r = ring();
    const a = r.reserve(8);
    const before = r.u8().slice();
    for (const bad of [a + 1, a - 8, RING_BASE, 0, -1, 0xdead_beef | 0, OUT_OF_MEMORY]) {
      expect(r.submit(bad)).toBeUndefined();
      expect(r.discard(bad)).toBeUndefined();
    }
    expect(r.u8()).toEqual(before);
    expect(r.rb.consume()).toBe(0);
    r.submit(a);
    r.submit(a); // twice: the second is ignored
    r.discard(a);
    expect(r.rb.consume()).toBe(1);
    expect(r.rb.consume()).toBe(0);
  });

  it('copies with bpf_ringbuf_output and checks its arguments', () => {
    const r = ring(64);
    expect(r.output([9, 8, 7])).toBe(0n);
    expect(r.output([1], 4n)).toBe(EINVAL);
    expect(r.output([1], BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)).toBe(0n);
    expect(r.output(new Array(40).fill(1))).toBe(BigInt(-Errno.EAGAIN));
    expect(r.call('bpf_ringbuf_output', RB_DESC + 8, r.bytesAt([1]), 1n, 0n)).toBe(EINVAL);
    expect(r.call('bpf_ringbuf_output', RB_DESC, 0xfffe, 4n, 0n)).toBe(EFAULT);
    expect(r.call('bpf_ringbuf_reserve', RB_DESC + 8, 8n, 0n)).toBe(0);
    expect(r.call('bpf_ringbuf_query', RB_DESC + 8, 0n)).toBe(0n);
    expect(r.rb.consume()).toBe(2);
    expect(r.records).toEqual([[9, 8, 7], [1]]);
  });

  it('keeps working after memory grows', () => {
    const r = ring();
    const a = r.reserve(4);
    r.memory.grow(1);
    r.u8().set([4, 3, 2, 1], a);
    r.submit(a);
    expect(r.rb.consume()).toBe(1);
    expect(r.records).toEqual([[4, 3, 2, 1]]);
  });

  it('discards reservations left by a program that trapped', () => {
    const r = ring(64);
    r.reserve(8);
    r.reserve(8);
    r.reserve(8);
    expect(r.reserve(8)).toBe(0);
    r.std.reset();
    expect(r.rb.reservedCount).toBe(0);
    expect(r.rb.consume()).toBe(0);
    expect(r.reserve(8)).not.toBe(0);
  });

  it('feeds async iterators on wakeup, as the kernel decides it', async () => {
    const r = ring(256);
    const it = r.rb[Symbol.asyncIterator]();
    const first = it.next();
    const p = r.reserve(2);
    r.u8().set([1, 2], p);
    r.submit(p);
    expect(await first).toEqual({ value: new Uint8Array([1, 2]), done: false });

    // NO_WAKEUP: a waiting consumer is not woken ...
    let woken = false;
    const second = it.next().then((x) => { woken = true; return x; });
    r.output([3], BPF_RB_NO_WAKEUP);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(woken).toBe(false);
    // ... until a later record forces it.
    r.output([4], BPF_RB_FORCE_WAKEUP);
    expect((await second).value).toEqual(new Uint8Array([3]));
    expect((await it.next()).value).toEqual(new Uint8Array([4]));

    // A record behind a reserved one does not wake; submitting the reserved one does.
    const third = it.next();
    const q = r.reserve(1);
    r.output([6]);
    r.u8()[q] = 5;
    r.submit(q);
    expect((await third).value).toEqual(new Uint8Array([5]));
    expect((await it.next()).value).toEqual(new Uint8Array([6]));
    expect(r.records).toEqual([[1, 2], [3], [4], [5], [6]]);
  });

  it('ends for-await loops on close()', async () => {
    const r = ring(256);
    const got: number[] = [];
    const loop = (async () => {
      for await (const rec of r.rb) got.push(rec[0]!);
    })();
    r.output([1]);
    r.output([2]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    r.output([3]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    r.rb.close();
    await loop;
    expect(got).toEqual([1, 2, 3]);
    const late = r.rb[Symbol.asyncIterator]();
    expect((await late.next()).done).toBe(true);
  });

  it('is built from a map descriptor and validates its layout', () => {
    const s = setup();
    const v = new DataView(s.memory.buffer);
    v.setUint32(RB_DESC + D_TYPE, MapType.RINGBUF, true);
    v.setUint32(RB_DESC + D_VALUES, RING_BASE, true);
    v.setUint32(RB_DESC + D_MAX_ENTRIES, 4096, true);
    const rb = RingBuffer.fromDescriptor(s.memory, RB_DESC, 'events');
    expect(rb.size).toBe(4096);
    expect(rb.base).toBe(RING_BASE);
    v.setUint32(RB_DESC + D_TYPE, MapType.ARRAY, true);
    expect(() => RingBuffer.fromDescriptor(s.memory, RB_DESC)).toThrow(BpfRuntimeError);
    expect(() => new RingBuffer(s.memory, RING_BASE, 100)).toThrow(/power of two/);
    expect(() => new RingBuffer(s.memory, 0xf000, 0x2000)).toThrow(BpfRuntimeError);
    expect(() => new RingBuffer(s.memory, RING_BASE + 4, 64)).toThrow(BpfRuntimeError);
  });
});

describe('PerfEventArray', () => {
  function perf(env: HostEnv = {}, bufferSize = 64) {
    const pe = new PerfEventArray({ name: 'events', maxEntries: 4, bufferSize });
    const s = setup({ perfAt: (d) => (d === PERF_DESC ? pe : undefined) }, env);
    const output = (data: number[], flags: bigint = BPF_F_CURRENT_CPU): unknown =>
      s.call('bpf_perf_event_output', 0x9000, PERF_DESC, flags, s.bytesAt(data), BigInt(data.length));
    return { ...s, pe, output };
  }

  it('outputs on the current CPU, padding samples as the kernel does', () => {
    const p = perf();
    const got: Array<[number[], number]> = [];
    p.pe.onRecord((data, cpu) => got.push([[...data], cpu]));
    expect(p.output([1, 2, 3, 4, 5])).toBe(0n);
    expect(p.output([6, 7, 8, 9], 0n)).toBe(0n);
    expect(p.pe.pendingCount).toBe(2);
    expect(p.pe.consume()).toBe(2);
    expect(got).toEqual([
      [[1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0], 0],
      [[6, 7, 8, 9], 0],
    ]);
  });

  it('returns the kernel errors for the index and flags', () => {
    const p = perf();
    expect(p.output([1], 1n)).toBe(BigInt(-Errno.EOPNOTSUPP));
    expect(p.output([1], 4n)).toBe(E2BIG);
    expect(p.output([1], 1n << 32n)).toBe(EINVAL);
    expect(p.call('bpf_perf_event_output', 0, PERF_DESC + 8, 0n, p.bytesAt([1]), 1n)).toBe(EINVAL);
    expect(p.call('bpf_perf_event_output', 0, PERF_DESC, 0n, 0xfffe, 4n)).toBe(EFAULT);
    const on2 = perf({ cpu: 2 });
    const cpus: number[] = [];
    on2.pe.onRecord((_d, cpu) => cpus.push(cpu));
    expect(on2.output([1])).toBe(0n);
    expect(on2.output([1], 2n)).toBe(0n);
    expect(on2.output([1], 0n)).toBe(BigInt(-Errno.EOPNOTSUPP));
    on2.pe.consume();
    expect(cpus).toEqual([2, 2]);
  });

  it('loses samples when the buffer is full and reports them in order', () => {
    const p = perf({}, 64);
    const events: string[] = [];
    p.pe.onRecord((d) => events.push(`rec ${d[0]}`));
    p.pe.onLost((n, cpu) => events.push(`lost ${n} on ${cpu}`));
    // A 5-byte sample takes 8 + 4 + 12 = 24 bytes: two fit in 64.
    expect(p.output([1, 0, 0, 0, 0])).toBe(0n);
    expect(p.output([2, 0, 0, 0, 0])).toBe(0n);
    expect(p.output([3, 0, 0, 0, 0])).toBe(ENOSPC);
    expect(p.output([4, 0, 0, 0, 0])).toBe(ENOSPC);
    expect(p.pe.lost).toBe(2);
    expect(p.pe.consume()).toBe(2);
    expect(events).toEqual(['rec 1', 'rec 2', 'lost 2 on 0']);
    expect(p.output([5])).toBe(0n);
  });

  it('feeds async iterators', async () => {
    const p = perf({}, 1024);
    const it = p.pe[Symbol.asyncIterator]();
    const first = it.next();
    p.output([1, 2, 3, 4]);
    expect((await first).value).toEqual(new Uint8Array([1, 2, 3, 4]));
    p.pe.close();
    expect((await it.next()).done).toBe(true);
  });

  it('is built from a map descriptor', () => {
    const s = setup();
    const v = new DataView(s.memory.buffer);
    v.setUint32(PERF_DESC + D_TYPE, MapType.PERF_EVENT_ARRAY, true);
    v.setUint32(PERF_DESC + D_MAX_ENTRIES, 8, true);
    expect(PerfEventArray.fromDescriptor(s.memory, PERF_DESC).maxEntries).toBe(8);
    v.setUint32(PERF_DESC + D_TYPE, MapType.RINGBUF, true);
    expect(() => PerfEventArray.fromDescriptor(s.memory, PERF_DESC)).toThrow(BpfRuntimeError);
  });
});

describe('robustness', () => {
  it('answers any arguments with a result, never a JS exception or a write into the null page', () => {
    let seed = 0x1234_5678;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const interesting = [0, 1, -1, 8, 0x1000, 0x2000, 0x8000, 0xfff8, 0xffff, 0x10000, 0x7fff_ffff, -0x8000_0000];
    const i32 = (): number => (rand() & 1 ? interesting[rand() % interesting.length]! : rand() | 0);
    const i64 = (): bigint => (rand() & 1 ? BigInt(i32()) : BigInt.asIntN(64, (BigInt(rand()) << 32n) | BigInt(rand())));
    const rb = { current: undefined as RingBuffer | undefined };
    const pe = new PerfEventArray({ maxEntries: 1 });
    const s = setup({
      ringbufAt: () => rb.current,
      perfAt: () => pe,
      mapAt: () => ({ index: 0, name: 'm', type: MapType.ARRAY }),
      entries: () => [[0x8000, 0x8008]],
      callCallback: () => BigInt(rand() & 1),
    });
    rb.current = new RingBuffer(s.memory, RING_BASE, 256);
    // Helpers write only where a program may point: never into the null guard page.
    for (const h of s.std.helpers) {
      if (h.id === 93 || h.id === 94) continue; // spin locks throw on purpose
      for (let n = 0; n < 300; n++) {
        const args = h.signature!.args.map((k) => (k === 'i64' ? i64() : i32()));
        expect(() => h.fn(...args), `${h.name}(${args.join(', ')})`).not.toThrow();
        expect(s.u8().subarray(0, 0x1000).every((b) => b === 0), `${h.name}(${args.join(', ')}) wrote into the null page`).toBe(true);
        s.std.reset();
      }
    }
  });
});
