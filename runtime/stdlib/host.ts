/**
 * What the standard helpers need from the runtime: the program's memory, the simulated current
 * task and clocks, where trace output goes, and how to reach maps and the program's callbacks.
 */
import type { PerfEventArray } from './perf.js';
import type { RingBuffer } from './ringbuf.js';

/**
 * The world as the helpers see it: the "current task", clocks, randomness and memory outside the
 * program. Every field is optional; the defaults (`HOST_ENV_DEFAULTS` for the task) are:
 *
 * - `pid` = `tgid` = 1000, `uid` = `gid` = 0 (loading eBPF programs takes root), `comm` =
 *   `'bpf2wasm'`. `comm` is truncated to 15 bytes of UTF-8, as the kernel's `task->comm` is
 *   16 bytes with its NUL.
 * - `now`: nanoseconds from `performance.now()` (monotonic, arbitrary origin, as
 *   CLOCK_MONOTONIC). `bootNow` defaults to `now` (a sandbox never suspends).
 *   `bpf_ktime_get_coarse_ns` is `now` rounded down to the millisecond (a HZ=1000 tick) and
 *   `bpf_ktime_get_tai_ns` is the wall clock plus the 37 s TAI-UTC offset.
 * - `random`: `crypto.getRandomValues`, or `Math.random` where there is no Web Crypto.
 * - `cpu`: 0.
 */
export interface HostEnv {
  pid?: number;
  tgid?: number;
  uid?: number;
  gid?: number;
  /** At most 15 bytes of it are visible (TASK_COMM_LEN is 16 with the NUL). */
  comm?: string;
  /** Nanoseconds for bpf_ktime_get_ns (default: performance.now based, monotonic). */
  now?: () => bigint;
  /** Nanoseconds for bpf_ktime_get_boot_ns (default: `now`). */
  bootNow?: () => bigint;
  /** A u32 for bpf_get_prandom_u32 (default: crypto.getRandomValues, or Math.random). */
  random?: () => number;
  /** What bpf_get_smp_processor_id returns, and the CPU perf events are output on (default 0). */
  cpu?: number;
  /**
   * Memory outside the program the host exposes to bpf_probe_read* (and to `%s` / `%pI4` in the
   * printf-like helpers): return the bytes, or undefined (=> -EFAULT). Reads inside the program's
   * linear memory (above its null guard page) never reach this function. It may return fewer
   * bytes than asked when the readable region ends early: a string read then stops there, a
   * fixed-size read fails with -EFAULT. Exceptions it throws propagate to the program's caller.
   */
  probeRead?: (address: bigint, length: number) => Uint8Array | undefined;
  /**
   * What bpf_get_current_task returns: the address of the current `struct task_struct` in the
   * host memory `probeRead` serves, laid out as the host BTF (the `btf` compile option)
   * describes it. Default 0 (NULL: reads through it fail with -EFAULT).
   */
  currentTask?: bigint;
}

/** What the standard helpers need from the runtime that runs the program. */
export interface StdlibContext {
  memory: WebAssembly.Memory;
  /**
   * Lowest address pointer arguments may reach (default: above the null guard). Modules with maps
   * pass the start of the value arena: helpers never touch map descriptors or metadata.
   */
  accessFloor?: number;
  env: HostEnv;
  /** One line of trace output (bpf_trace_printk/bpf_printk/bpf_trace_vprintk), without trailing newline. */
  trace: (line: string) => void;
  /** The map whose descriptor is at `desc` (runtime/maps/descriptor.ts), or undefined. */
  mapAt: (desc: number) => { index: number; name: string; type: number } | undefined;
  /** (keyAddr, valueAddr) of every entry of the map at `desc`, for bpf_for_each_map_elem. */
  entries: (desc: number) => Iterable<[number, number]>;
  /** Calls the program's callback number `callback` (what `lddw src_reg=4` loaded) with r1..r5; returns r0. */
  callCallback: (callback: number, r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint) => bigint;
  /** Ring buffers and perf event arrays by descriptor address (see ringbuf.ts and perf.ts). */
  ringbufAt: (desc: number) => RingBuffer | undefined;
  perfAt: (desc: number) => PerfEventArray | undefined;
}

/** The task values HostEnv defaults to. */
export const HOST_ENV_DEFAULTS = {
  pid: 1000,
  tgid: 1000,
  uid: 0,
  gid: 0,
  comm: 'bpf2wasm',
  cpu: 0,
} as const;

/** The kernel's TASK_COMM_LEN: `comm` with its NUL. */
export const TASK_COMM_LEN = 16;
