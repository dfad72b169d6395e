/**
 * The standard eBPF helpers, in JS, with the Linux kernel's semantics and return codes: clocks,
 * randomness, the current task, printk-style output, string conversion, probe reads, ring buffers
 * and perf output, bpf_loop / bpf_for_each_map_elem, spin locks and bpf_csum_diff.
 *
 * Each helper takes its arguments as `abiSignature()` of its prototype in the helper table makes
 * them cross the Wasm boundary (pointers and 32-bit scalars as signed numbers, 64-bit scalars as
 * signed bigints) and returns a bigint for `long`/`u64`, a number for `u32` and pointers.
 *
 * The kernel's verifier proves pointers and sizes valid before a helper runs; here each is checked
 * against linear memory instead, and a bad one returns -EFAULT (or -EINVAL where the kernel would
 * for a NULL) without touching memory outside the destination.
 *
 * Not here: the map helpers (lookup, update, delete, push, pop, peek), implemented in Wasm by the
 * maps module, and bpf_tail_call, compiled inline.
 */
import { NULL_GUARD_SIZE } from '../abi.js';
import { BpfRuntimeError, ErrorCode, InternalError } from '../errors.js';
import { abiSignature, BpfFunc, helperById } from '../helper-table.js';
import type { HelperDefinition, HelperFn } from '../helper-registry.js';
import { ProgramMemory, smallLength } from './access.js';
import { HOST_ENV_DEFAULTS, TASK_COMM_LEN, type StdlibContext } from './host.js';
import { Errno } from '../uapi/index.js';
import { formatBpf, MAX_BPRINTF_BUF, MAX_BPRINTF_VARARGS, traceLine } from './format.js';
import type { RingBuffer } from './ringbuf.js';
import { strncmp, strtol, strtoul } from './strings.js';

/** bpf_loop's limit on iterations (BPF_MAX_LOOPS). */
export const BPF_MAX_LOOPS = 1 << 23;
/** The most bytes bpf_csum_diff takes (from_size + to_size, the kernel's 512-byte scratchpad). */
const CSUM_DIFF_MAX = 512;
/** TAI - UTC since 2017. */
const TAI_OFFSET_NS = 37_000_000_000n;

/** Ids of the helpers standardHelpers() provides. */
export const STANDARD_HELPER_IDS: readonly number[] = [
  BpfFunc.probe_read, BpfFunc.ktime_get_ns, BpfFunc.trace_printk, BpfFunc.get_prandom_u32,
  BpfFunc.get_smp_processor_id, BpfFunc.get_current_pid_tgid, BpfFunc.get_current_uid_gid,
  BpfFunc.get_current_comm, BpfFunc.perf_event_output, BpfFunc.csum_diff, BpfFunc.get_current_task,
  BpfFunc.get_numa_node_id, BpfFunc.probe_read_str, BpfFunc.spin_lock, BpfFunc.spin_unlock,
  BpfFunc.strtol, BpfFunc.strtoul, BpfFunc.probe_read_user, BpfFunc.probe_read_kernel,
  BpfFunc.probe_read_user_str, BpfFunc.probe_read_kernel_str, BpfFunc.ktime_get_boot_ns,
  BpfFunc.ringbuf_output, BpfFunc.ringbuf_reserve, BpfFunc.ringbuf_submit, BpfFunc.ringbuf_discard,
  BpfFunc.ringbuf_query, BpfFunc.ktime_get_coarse_ns, BpfFunc.for_each_map_elem, BpfFunc.snprintf,
  BpfFunc.trace_vprintk, BpfFunc.loop, BpfFunc.strncmp, BpfFunc.ktime_get_tai_ns,
];

/** The standard helpers with the state they keep between calls. */
export interface StandardHelpers {
  readonly helpers: HelperDefinition[];
  /** Addresses of the spin locks held now (empty between runs unless a program trapped while holding one). */
  heldLocks(): number[];
  /**
   * Forgets held spin locks and discards ring buffer records still reserved. A kernel program
   * cannot end holding either (the verifier), but one here can trap in between: call this after
   * a run that threw.
   */
  reset(): void;
}

/** The standard helpers, ready to register (`HelperRegistry`, `instantiate({ helpers })`). */
export function standardHelpers(ctx: StdlibContext): HelperDefinition[] {
  return createStandardHelpers(ctx).helpers;
}

/** The standard helpers and a handle on their state (held locks, pending reservations). */
export function createStandardHelpers(ctx: StdlibContext): StandardHelpers {
  const mem = new ProgramMemory(ctx.memory, (address, length) => ctx.env.probeRead?.(address, length), ctx.accessFloor);
  const fail = (errno: number): bigint => BigInt(-errno);
  const held = new Set<number>();
  const reserved = new Map<number, RingBuffer>();
  const cpu = (): number => (ctx.env.cpu ?? HOST_ENV_DEFAULTS.cpu) >>> 0;
  const now = (): bigint => BigInt.asUintN(64, ctx.env.now ? ctx.env.now() : monotonicNs());

  // --- probe reads: zero the destination and return -EFAULT when the source is unreadable ---
  // The source is a 64-bit address (i64 in the helper ABI): kernel or user memory the host
  // exposes, or linear memory.
  const probeRead = (dst: number, size: number, src: bigint | number): bigint => {
    const d = dst >>> 0;
    const n = size >>> 0;
    if (n === 0) return 0n;
    if (!mem.valid(d, n)) return fail(Errno.EFAULT);
    const bytes = mem.read(BigInt.asUintN(64, BigInt(src)), n);
    if (!bytes) {
      mem.zero(d, n);
      return fail(Errno.EFAULT);
    }
    mem.write(d, bytes);
    return 0n;
  };
  const probeReadStr = (dst: number, size: number, src: bigint | number): bigint => {
    const d = dst >>> 0;
    const n = size >>> 0;
    if (n === 0) return 0n;
    if (!mem.valid(d, n)) return fail(Errno.EFAULT);
    const s = mem.readString(BigInt.asUintN(64, BigInt(src)), n);
    if (!s) {
      mem.zero(d, n);
      return fail(Errno.EFAULT);
    }
    const out = new Uint8Array(s.length + 1);
    out.set(s);
    mem.write(d, out);
    return BigInt(out.length);
  };

  // --- printf-like output ---
  const formatAt = (fmt: number, fmtSize: number): Uint8Array | bigint => {
    const f = fmt >>> 0;
    const n = fmtSize >>> 0;
    if (!mem.valid(f, n)) return fail(Errno.EFAULT);
    const bytes = mem.bytes().subarray(f, f + n);
    const nul = bytes.indexOf(0);
    return nul < 0 ? fail(Errno.EINVAL) : bytes.slice(0, nul);
  };
  const argsAt = (data: number, dataLen: number): bigint[] | bigint => {
    const d = data >>> 0;
    const len = dataLen >>> 0;
    if (len % 8 !== 0 || len > MAX_BPRINTF_VARARGS * 8 || (len !== 0 && d === 0)) return fail(Errno.EINVAL);
    if (!mem.valid(d, len)) return fail(Errno.EFAULT);
    const view = mem.view();
    const args: bigint[] = [];
    for (let i = 0; i < len; i += 8) args.push(view.getBigUint64(d + i, true));
    return args;
  };
  const trace = (fmt: Uint8Array, args: bigint[]): bigint => {
    const out = formatBpf(fmt, args, mem, MAX_BPRINTF_BUF);
    if (typeof out === 'number') return BigInt(out);
    ctx.trace(traceLine(out.bytes));
    return BigInt(out.length);
  };

  // --- ring buffer records, found again by the pointer reserve returned ---
  const commit = (data: number, flags: bigint, discard: boolean): void => {
    const a = data >>> 0;
    const rb = reserved.get(a);
    if (!rb) return;
    reserved.delete(a);
    if (discard) rb.discard(a, flags);
    else rb.submit(a, flags);
  };

  const lockError = (helper: string, detail: string, address: number): BpfRuntimeError =>
    new BpfRuntimeError(ErrorCode.HelperFailed, detail, { helper, address });

  const impl: Array<[number, HelperFn]> = [
    [BpfFunc.probe_read, probeRead],
    [BpfFunc.ktime_get_ns, now],
    [BpfFunc.trace_printk, (fmt: number, fmtSize: number, a1: bigint, a2: bigint, a3: bigint): bigint => {
      const f = formatAt(fmt, fmtSize);
      return typeof f === 'bigint' ? f : trace(f, [a1, a2, a3]);
    }],
    [BpfFunc.get_prandom_u32, (): number => (ctx.env.random ? ctx.env.random() : defaultRandom()) >>> 0],
    [BpfFunc.get_smp_processor_id, (): number => cpu()],
    [BpfFunc.get_current_pid_tgid, (): bigint => taskPair(ctx.env.tgid ?? HOST_ENV_DEFAULTS.tgid, ctx.env.pid ?? HOST_ENV_DEFAULTS.pid)],
    [BpfFunc.get_current_uid_gid, (): bigint => taskPair(ctx.env.gid ?? HOST_ENV_DEFAULTS.gid, ctx.env.uid ?? HOST_ENV_DEFAULTS.uid)],
    [BpfFunc.get_current_comm, (buf: number, size: number): bigint => {
      // strscpy_pad: at most size - 1 bytes of comm, then NULs to the end of the buffer.
      const b = buf >>> 0;
      const n = size >>> 0;
      if (n === 0) return 0n;
      if (!mem.valid(b, n)) return fail(Errno.EFAULT);
      const out = new Uint8Array(n);
      out.set(commBytes(ctx.env.comm ?? HOST_ENV_DEFAULTS.comm).subarray(0, n - 1));
      mem.write(b, out);
      return 0n;
    }],
    [BpfFunc.perf_event_output, (_ctx: number, map: number, flags: bigint, data: number, size: bigint): bigint => {
      const pe = ctx.perfAt(map >>> 0);
      if (!pe) return fail(Errno.EINVAL);
      const n = smallLength(size);
      const bytes = n === undefined ? undefined : mem.copyOut(data >>> 0, n);
      if (!bytes) return fail(Errno.EFAULT);
      return BigInt(pe.output(flags, bytes, cpu()));
    }],
    [BpfFunc.csum_diff, (from: number, fromSize: number, to: number, toSize: number, seed: number): bigint => {
      const fs = fromSize >>> 0;
      const ts = toSize >>> 0;
      if ((fs | ts) & 3 || fs + ts > CSUM_DIFF_MAX) return fail(Errno.EINVAL);
      const f = mem.copyOut(from >>> 0, fs);
      const t = mem.copyOut(to >>> 0, ts);
      if (!f || !t) return fail(Errno.EFAULT);
      return BigInt(csumDiff(f, t, seed >>> 0));
    }],
    // The host's task address (env.currentTask, served by env.probeRead), else NULL, which
    // bpf_probe_read turns into -EFAULT.
    [BpfFunc.get_current_task, (): bigint => BigInt.asUintN(64, ctx.env.currentTask ?? 0n)],
    [BpfFunc.get_numa_node_id, (): bigint => 0n],
    [BpfFunc.probe_read_str, probeReadStr],
    [BpfFunc.spin_lock, (lock: number): bigint => {
      const a = lock >>> 0;
      if (held.has(a)) throw lockError('bpf_spin_lock', `the lock at 0x${a.toString(16)} is already held (deadlock)`, a);
      if (held.size > 0) {
        const other = [...held][0]!;
        throw lockError('bpf_spin_lock', `the lock at 0x${other.toString(16)} is held; a program may hold one bpf_spin_lock at a time`, a);
      }
      held.add(a);
      return 0n;
    }],
    [BpfFunc.spin_unlock, (lock: number): bigint => {
      const a = lock >>> 0;
      if (!held.delete(a)) throw lockError('bpf_spin_unlock', `the lock at 0x${a.toString(16)} is not held`, a);
      return 0n;
    }],
    [BpfFunc.strtol, (buf: number, bufLen: bigint, flags: bigint, res: number): bigint => strtox(mem, buf, bufLen, flags, res, strtol)],
    [BpfFunc.strtoul, (buf: number, bufLen: bigint, flags: bigint, res: number): bigint => strtox(mem, buf, bufLen, flags, res, strtoul)],
    [BpfFunc.probe_read_user, probeRead],
    [BpfFunc.probe_read_kernel, probeRead],
    [BpfFunc.probe_read_user_str, probeReadStr],
    [BpfFunc.probe_read_kernel_str, probeReadStr],
    [BpfFunc.ktime_get_boot_ns, (): bigint => (ctx.env.bootNow ? BigInt.asUintN(64, ctx.env.bootNow()) : now())],
    [BpfFunc.ringbuf_output, (map: number, data: number, size: bigint, flags: bigint): bigint => {
      const rb = ctx.ringbufAt(map >>> 0);
      if (!rb) return fail(Errno.EINVAL);
      const n = smallLength(size);
      const bytes = n === undefined ? undefined : mem.copyOut(data >>> 0, n);
      if (!bytes) return fail(Errno.EFAULT);
      return BigInt(rb.output(bytes, flags));
    }],
    [BpfFunc.ringbuf_reserve, (map: number, size: bigint, flags: bigint): number => {
      const rb = ctx.ringbufAt(map >>> 0);
      if (!rb) return 0;
      const data = rb.reserve(size, flags);
      if (data !== 0) reserved.set(data, rb);
      return data;
    }],
    [BpfFunc.ringbuf_submit, (data: number, flags: bigint): void => commit(data, flags, false)],
    [BpfFunc.ringbuf_discard, (data: number, flags: bigint): void => commit(data, flags, true)],
    [BpfFunc.ringbuf_query, (map: number, flags: bigint): bigint => ctx.ringbufAt(map >>> 0)?.query(flags) ?? 0n],
    [BpfFunc.ktime_get_coarse_ns, (): bigint => {
      const t = now();
      return t - (t % 1_000_000n);
    }],
    [BpfFunc.for_each_map_elem, (map: number, callback: number, callbackCtx: number, flags: bigint): bigint => {
      if (flags !== 0n) return fail(Errno.EINVAL);
      const desc = map >>> 0;
      if (!ctx.mapAt(desc)) return fail(Errno.EINVAL);
      const m = BigInt(desc);
      const c = BigInt(callbackCtx >>> 0);
      let n = 0;
      for (const [key, value] of ctx.entries(desc)) {
        n++;
        if (ctx.callCallback(callback >>> 0, m, BigInt(key >>> 0), BigInt(value >>> 0), c, 0n) !== 0n) break;
      }
      return BigInt(n);
    }],
    [BpfFunc.snprintf, (str: number, strSize: number, fmt: number, data: number, dataLen: number): bigint => {
      const args = argsAt(data, dataLen);
      if (typeof args === 'bigint') return args;
      const f = fmt >>> 0;
      if (!mem.valid(f, 1)) return fail(Errno.EFAULT);
      const fmtBytes = mem.cString(f);
      if (!fmtBytes) return fail(Errno.EINVAL);
      const s = str >>> 0;
      const size = strSize >>> 0;
      if (!mem.valid(s, size)) return fail(Errno.EFAULT);
      const out = formatBpf(fmtBytes, args, mem, size);
      if (typeof out === 'number') return BigInt(out);
      if (size > 0) {
        const withNul = new Uint8Array(out.bytes.length + 1);
        withNul.set(out.bytes);
        mem.write(s, withNul);
      }
      return BigInt(out.length + 1);
    }],
    [BpfFunc.trace_vprintk, (fmt: number, fmtSize: number, data: number, dataLen: number): bigint => {
      const args = argsAt(data, dataLen);
      if (typeof args === 'bigint') return args;
      const f = formatAt(fmt, fmtSize);
      return typeof f === 'bigint' ? f : trace(f, args);
    }],
    [BpfFunc.loop, (nrLoops: number, callback: number, callbackCtx: number, flags: bigint): bigint => {
      if (flags !== 0n) return fail(Errno.EINVAL);
      const n = nrLoops >>> 0;
      if (n > BPF_MAX_LOOPS) return fail(Errno.E2BIG);
      const c = BigInt(callbackCtx >>> 0);
      for (let i = 0; i < n; i++) {
        // The callback returns 0 to continue, 1 to stop.
        if (ctx.callCallback(callback >>> 0, BigInt(i), c, 0n, 0n, 0n) !== 0n) return BigInt(i + 1);
      }
      return BigInt(n);
    }],
    [BpfFunc.strncmp, (s1: number, s1Size: number, s2: number): bigint => {
      const a = s1 >>> 0;
      const n = s1Size >>> 0;
      if (!mem.valid(a, n)) return fail(Errno.EFAULT);
      const m = mem.bytes();
      const b = s2 >>> 0;
      const r = strncmp(m.subarray(a, a + n), n, (i) => {
        const p = b + i;
        return p >= NULL_GUARD_SIZE && p < m.length ? m[p] : undefined;
      });
      return r === undefined ? fail(Errno.EFAULT) : BigInt(r);
    }],
    [BpfFunc.ktime_get_tai_ns, (): bigint => wallClockNs() + TAI_OFFSET_NS],
  ];

  const helpers = impl.map(([id, fn]): HelperDefinition => {
    const proto = helperById(id);
    if (!proto) throw new InternalError(ErrorCode.Internal, `helper ${id} is missing from the helper table`);
    return { id, name: proto.name, signature: abiSignature(proto), fn };
  });

  return {
    helpers,
    heldLocks: () => [...held],
    reset: () => {
      held.clear();
      for (const [data, rb] of reserved) rb.discard(data, 1n);
      reserved.clear();
    },
  };
}

/** bpf_strtol / bpf_strtoul: `*res` is zeroed first, and set only on success. */
function strtox(
  mem: ProgramMemory,
  buf: number,
  bufLen: bigint,
  flags: bigint,
  res: number,
  parse: typeof strtol,
): bigint {
  const r = res >>> 0;
  if (!mem.writeU64(r, 0n)) return BigInt(-Errno.EFAULT);
  const b = buf >>> 0;
  const len = BigInt.asUintN(64, bufLen);
  if (b === 0 || len === 0n) return BigInt(-Errno.EINVAL);
  const n = smallLength(len);
  if (n === undefined || !mem.valid(b, n)) return BigInt(-Errno.EFAULT);
  const out = parse(mem.bytes().subarray(b, b + n), flags);
  if (typeof out === 'number') return BigInt(out);
  mem.writeU64(r, out.value);
  return BigInt(out.consumed);
}

/** `hi << 32 | lo`, as bpf_get_current_pid_tgid / uid_gid pack them. */
function taskPair(hi: number, lo: number): bigint {
  return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
}

const encoder = new TextEncoder();
let commCache: [string, Uint8Array] = ['', new Uint8Array(0)];

/** `comm` as the kernel stores it: at most TASK_COMM_LEN - 1 bytes of UTF-8. */
function commBytes(comm: string): Uint8Array {
  if (commCache[0] !== comm) commCache = [comm, encoder.encode(comm).subarray(0, TASK_COMM_LEN - 1)];
  return commCache[1];
}

function msToNs(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.floor((ms - whole) * 1e6));
}

/** CLOCK_MONOTONIC stand-in: performance.now() in nanoseconds. */
function monotonicNs(): bigint {
  return typeof performance !== 'undefined' ? msToNs(performance.now()) : msToNs(Date.now());
}

/** CLOCK_REALTIME in nanoseconds. */
function wallClockNs(): bigint {
  return typeof performance !== 'undefined' && performance.timeOrigin > 0
    ? msToNs(performance.timeOrigin + performance.now())
    : msToNs(Date.now());
}

const randomPool = new Uint32Array(64);
let randomNext = randomPool.length;

function defaultRandom(): number {
  if (typeof crypto === 'undefined' || typeof crypto.getRandomValues !== 'function') {
    return Math.floor(Math.random() * 0x1_0000_0000);
  }
  if (randomNext === randomPool.length) {
    crypto.getRandomValues(randomPool);
    randomNext = 0;
  }
  return randomPool[randomNext++]!;
}

/**
 * bpf_csum_diff: the one's complement sum of `to` minus that of `from`, plus `seed`, folded to
 * 16 bits, as Linux 6.13+ computes it on every architecture (`csum_from32to16` of
 * `csum_sub(csum_partial(to, seed), csum_partial(from, 0))`). Earlier kernels returned the
 * architecture's unfolded 32-bit sum, which folds to the same checksum. The size checks (-EINVAL
 * unless multiples of 4 totalling at most 512 bytes) are those of Linux 6.1, whose helper table
 * this runtime uses.
 */
export function csumDiff(from: Uint8Array, to: Uint8Array, seed: number): number {
  if (from.length > 0 && to.length > 0) return from32to16(csumSub(csumPartial(to, seed), csumPartial(from, 0)));
  if (to.length > 0) return from32to16(csumPartial(to, seed));
  if (from.length > 0) return from32to16(~csumPartial(from, ~seed >>> 0) >>> 0);
  return seed >>> 0;
}

/** lib/checksum.c csum_partial: 16-bit little-endian words summed, folded, then the seed added with carry. */
function csumPartial(bytes: Uint8Array, seed: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += bytes[i]! | (bytes[i + 1]! << 8);
  if (bytes.length & 1) sum += bytes[bytes.length - 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return csumAdd(sum, seed);
}

function csumAdd(a: number, b: number): number {
  const r = (a >>> 0) + (b >>> 0);
  return (r > 0xffff_ffff ? r - 0xffff_ffff : r) >>> 0;
}

function csumSub(a: number, b: number): number {
  return csumAdd(a, ~b >>> 0);
}

function from32to16(x: number): number {
  x = (x & 0xffff) + (x >>> 16);
  return (x & 0xffff) + (x >>> 16);
}
