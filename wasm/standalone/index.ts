/**
 * The standalone support module: everything a compiled eBPF object needs at run time that needs
 * no host, as Wasm, for modules that run without JavaScript (`bpf2wasm compile --standalone`).
 * The linker (compiler/standalone/link.ts) copies the functions of this module that a program
 * reaches into the standalone module, ahead of the program's, and binds its helper imports to the
 * exports named after the kernel's helpers (`bpf_*`); the `bpf2wasm_*` exports are the module's
 * interface to its host (documented in the README, "Standalone modules").
 *
 * It contains the maps module (wasm/maps/), and imports only WASI: `clock_time_get` (the ktime
 * helpers), `random_get` (bpf_get_prandom_u32) and `fd_write` (trace output on stdout), plus
 * `env.memory` and `env.table` (the program's callbacks at their numbers), which the linker
 * turns into the module's own memory and table. Its state lives in scratch memory (config.ts):
 * no globals, no static data.
 *
 * Semantics follow the JS runtime's helpers (runtime/stdlib/standard.ts) with HostEnv's defaults
 * for the task (pid = tgid = 1000, uid = gid = 0, comm "bpf2wasm", CPU 0).
 */
import {
  map_delete_elem, map_get_next_key, map_lookup_elem, map_lookup_percpu_elem, map_next_slot, map_peek_elem,
  map_pop_elem, map_push_elem, map_slot_key, map_slot_value, map_update_elem, user_delete_elem, user_lookup_elem,
  user_peek_elem, user_pop_elem, user_push_elem, user_update_elem,
} from '../maps/index';
import {
  D_KEY_SIZE, D_MAX_ENTRIES, D_TYPE, D_VALUE_SIZE, DESC_SIZE, E2BIG, EFAULT, EINVAL, ENOENT, ENOSPC, ERANGE,
  MAP_ARRAY, MAP_ARRAY_OF_MAPS, MAP_BLOOM_FILTER, MAP_CGROUP_ARRAY, MAP_HASH_OF_MAPS, MAP_PERCPU_ARRAY, MAP_PROG_ARRAY, MAP_QUEUE, MAP_STACK,
  MAP_TABLE_BASE, MAP_TABLE_COUNT,
} from '../maps/desc';
import {
  SA_ARGS, SA_CALLBACKS, SA_DATA, SA_DEPTH, SA_FLOOR, SA_IOV, SA_KEY_SCRATCH, SA_KEY_SLOT, SA_KEY_SLOTS, SA_LINE, SA_LOCK,
  SA_MAX_PAGES, SA_NWRITTEN, SA_RESULT, SA_STATUS, SA_STATUS_DETAIL, SA_STATUS_INSN, SA_TMP,
} from './config';
import { format } from './format';
import { memEnd, NULL_GUARD, stringLength, valid } from './mem';
import { commit, consume, discardReserved, output, query, reserve } from './ringbuf';

// ---- WASI ----
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: u32, iovsLen: u32, nwritten: u32): u32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: u32, precision: u64, time: u32): u32;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: u32, len: u32): u32;

// ---- status of a run (bpf2wasm_status) ----
/** The last run returned normally. */
const STATUS_OK: u32 = 0;
/** A run is in progress, or trapped without saying why: an access outside linear memory, or a Wasm trap. */
const STATUS_TRAP: u32 = 1;
/** runtime/abi.ts FaultCode values + 1: call depth, unknown helper, memory fault (checked mode), budget. */
const STATUS_FAULT_BASE: u32 = 1;
/** A helper failed in a way the kernel's verifier would have prevented (bpf_spin_lock misuse). */
const STATUS_HELPER: u32 = 6;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const MAX_LOOPS: u32 = 1 << 23;
const MAX_VARARGS: u32 = 12;
const LINE_SIZE: u32 = 1024;
const CSUM_DIFF_MAX: u32 = 512;
const TAI_OFFSET_NS: u64 = 37_000_000_000;

function isMap(map: u32): bool {
  return rotr<u32>(map - load<u32>(MAP_TABLE_BASE), 6) < load<u32>(MAP_TABLE_COUNT);
}

/** Stops the run: records why (bpf2wasm_status) and traps. */
function stop(status: u32, insn: u32, detail: u32): void {
  store<u32>(SA_STATUS, status);
  store<u32>(SA_STATUS_INSN, insn);
  store<u32>(SA_STATUS_DETAIL, detail);
  unreachable();
}

// ---- the linker's hooks ----

/** The compiled code's `env.fault(code, insn, detail)`: a fault the program raised (E_BUDGET, E_CALL_DEPTH, ...). */
export function bpf2wasm_fault(code: u32, insn: u32, detail: u32): void {
  stop(STATUS_FAULT_BASE + code, insn, detail);
}

/** Called before each run: clears what a trapped run left (reserved records, a held lock) and marks the run in progress. */
export function bpf2wasm_begin(): void {
  if (load<u32>(SA_STATUS) != STATUS_OK) {
    discardReserved();
    store<u32>(SA_LOCK, 0);
    store<u32>(SA_DEPTH, 0);
  }
  store<u32>(SA_STATUS, STATUS_TRAP);
  store<u32>(SA_STATUS_INSN, 0xffffffff);
  store<u32>(SA_STATUS_DETAIL, 0);
}

/** Called after a run that returned: its r0. */
export function bpf2wasm_end(): u64 {
  store<u32>(SA_STATUS, STATUS_OK);
  return load<u64>(SA_RESULT);
}

// ---- the host's interface ----

/** The address where the host writes `len` bytes of input (context or packet), memory grown as needed; -1 if it cannot grow. */
export function bpf2wasm_input(len: u32): i32 {
  const data = load<u32>(SA_DATA);
  const need = <u64>data + len;
  const end = memEnd();
  if (need > end) {
    const pages = <i32>((need - end + 0xffff) >> 16);
    if (<u64>memory.size() + pages > <u64>load<u32>(SA_MAX_PAGES) || memory.grow(pages) < 0) return -1;
  }
  return <i32>data;
}

/** The status of the last run: 0 returned, 1 trapped (memory access outside linear memory, a Wasm trap), 2 call depth, 3 unknown helper, 4 memory fault (checked), 5 budget, 6 helper misuse. */
export function bpf2wasm_status(): u32 {
  return load<u32>(SA_STATUS);
}

/** The eBPF instruction where the last run stopped (status 2-5), or -1. */
export function bpf2wasm_status_insn(): i32 {
  return <i32>load<u32>(SA_STATUS_INSN);
}

/** The fault's detail: the address of a checked-mode memory fault, a helper id. */
export function bpf2wasm_status_detail(): u32 {
  return load<u32>(SA_STATUS_DETAIL);
}

/** The descriptor of map `index`, or 0. */
function mapAt(index: u32): u32 {
  return index < load<u32>(MAP_TABLE_COUNT) ? load<u32>(MAP_TABLE_BASE) + index * DESC_SIZE : 0;
}

function isSlotMap(t: u32): bool {
  return t == MAP_PROG_ARRAY || t == MAP_ARRAY_OF_MAPS || t == MAP_HASH_OF_MAPS || t == MAP_CGROUP_ARRAY;
}

function hostRange(addr: u32, len: u32): bool {
  return addr >= NULL_GUARD && <u64>addr + len <= memEnd();
}

/**
 * Map `index`'s value for the key at `key` copied to `value` (value_size bytes; a u32 slot for
 * prog arrays and maps of maps; queue and stack: the head, key ignored): 0 or -errno (-ENOENT).
 */
export function bpf2wasm_map_lookup(index: u32, key: u32, value: u32): i32 {
  const map = mapAt(index);
  if (map == 0) return -EINVAL;
  const t = load<u32>(map, D_TYPE);
  const vs = isSlotMap(t) ? 4 : load<u32>(map, D_VALUE_SIZE);
  if (!hostRange(key, load<u32>(map, D_KEY_SIZE)) || !hostRange(value, vs)) return -EFAULT;
  if (t == MAP_QUEUE || t == MAP_STACK || t == MAP_BLOOM_FILTER) {
    const r = user_peek_elem(map, value);
    return r < 0 ? r : 0;
  }
  const at = user_lookup_elem(map, key);
  if (at == 0) return -ENOENT;
  if (isSlotMap(t) && load<u32>(at) == 0) return -ENOENT;
  memory.copy(value, at, vs);
  return 0;
}

/** Updates map `index` (BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2); queue, stack, bloom filter: push `value`. 0 or -errno. */
export function bpf2wasm_map_update(index: u32, key: u32, value: u32, flags: u32): i32 {
  const map = mapAt(index);
  if (map == 0) return -EINVAL;
  const t = load<u32>(map, D_TYPE);
  const vs = isSlotMap(t) ? 4 : load<u32>(map, D_VALUE_SIZE);
  if (!hostRange(key, load<u32>(map, D_KEY_SIZE)) || !hostRange(value, vs)) return -EFAULT;
  if (t == MAP_QUEUE || t == MAP_STACK || t == MAP_BLOOM_FILTER) {
    const r = user_push_elem(map, value, flags);
    return r < 0 ? r : 0;
  }
  const r = user_update_elem(map, key, value, flags);
  return r < 0 ? r : 0;
}

/** Deletes the key at `key` from map `index` (queue and stack: pops the head into `key`): 0 or -errno. */
export function bpf2wasm_map_delete(index: u32, key: u32): i32 {
  const map = mapAt(index);
  if (map == 0) return -EINVAL;
  const t = load<u32>(map, D_TYPE);
  if (t == MAP_QUEUE || t == MAP_STACK) {
    if (!hostRange(key, load<u32>(map, D_VALUE_SIZE))) return -EFAULT;
    const r = user_pop_elem(map, key);
    return r < 0 ? r : 0;
  }
  if (!hostRange(key, load<u32>(map, D_KEY_SIZE))) return -EFAULT;
  return user_delete_elem(map, key);
}

/** The key after the one at `key` (the first when `key` is 0) copied to `next`: 0, -ENOENT after the last, or -errno. */
export function bpf2wasm_map_next_key(index: u32, key: u32, next: u32): i32 {
  const map = mapAt(index);
  if (map == 0) return -EINVAL;
  const ks = load<u32>(map, D_KEY_SIZE);
  if ((key != 0 && !hostRange(key, ks)) || !hostRange(next, ks)) return -EFAULT;
  return map_get_next_key(map, key, next);
}

/** The next record of ring buffer map `index` copied to `out` (at most `cap` bytes): its length, or -ENOENT (none), -ENOSPC, -EINVAL. */
export function bpf2wasm_ringbuf_consume(index: u32, out: u32, cap: u32): i32 {
  const map = mapAt(index);
  if (map == 0) return -EINVAL;
  if (!hostRange(out, cap)) return -EFAULT;
  return consume(map, out, cap);
}

// ---- helpers: maps ----

export function bpf_map_lookup_elem(map: u32, key: u32): u32 {
  return map_lookup_elem(map, key);
}
export function bpf_map_update_elem(map: u32, key: u32, value: u32, flags: u64): i64 {
  return map_update_elem(map, key, value, flags);
}
export function bpf_map_delete_elem(map: u32, key: u32): i64 {
  return map_delete_elem(map, key);
}
export function bpf_map_push_elem(map: u32, value: u32, flags: u64): i64 {
  return map_push_elem(map, value, flags);
}
/** pop and peek write through the program's pointer: never below the floor (map metadata). */
export function bpf_map_pop_elem(map: u32, value: u32): i64 {
  return value < load<u32>(SA_FLOOR) ? -EFAULT : map_pop_elem(map, value);
}
export function bpf_map_peek_elem(map: u32, value: u32): i64 {
  return value < load<u32>(SA_FLOOR) ? -EFAULT : map_peek_elem(map, value);
}
export function bpf_map_lookup_percpu_elem(map: u32, key: u32, cpu: u32): u32 {
  return map_lookup_percpu_elem(map, key, cpu);
}

// ---- helpers: time, randomness, the task ----

function clock(id: u32): u64 {
  if (clock_time_get(id, 1, SA_TMP) != 0) return 0;
  return load<u64>(SA_TMP);
}
export function bpf_ktime_get_ns(): u64 {
  return clock(CLOCK_MONOTONIC);
}
export function bpf_ktime_get_boot_ns(): u64 {
  return clock(CLOCK_MONOTONIC);
}
export function bpf_ktime_get_coarse_ns(): u64 {
  const t = clock(CLOCK_MONOTONIC);
  return t - t % 1_000_000;
}
export function bpf_ktime_get_tai_ns(): u64 {
  return clock(CLOCK_REALTIME) + TAI_OFFSET_NS;
}
export function bpf_get_prandom_u32(): u32 {
  store<u32>(SA_TMP, 0);
  random_get(SA_TMP, 4);
  return load<u32>(SA_TMP);
}
export function bpf_get_smp_processor_id(): u32 {
  return 0;
}
export function bpf_get_numa_node_id(): i64 {
  return 0;
}
export function bpf_get_current_task(): i64 {
  return 0;
}
export function bpf_get_current_pid_tgid(): u64 {
  return (<u64>1000 << 32) | 1000;
}
export function bpf_get_current_uid_gid(): u64 {
  return 0;
}
/** strscpy_pad of "bpf2wasm". */
export function bpf_get_current_comm(buf: u32, size: u32): i64 {
  if (size == 0) return 0;
  if (!valid(buf, size)) return -EFAULT;
  memory.fill(buf, 0, size);
  const comm: u64 = 0x6d73_6177_3266_7062; // "bpf2wasm", little-endian
  for (let i: u32 = 0; i < 8 && i < size - 1; i++) store<u8>(buf + i, <u8>(comm >> (i * 8)));
  return 0;
}

// ---- helpers: printf-like ----

/** Writes the formatted line at SA_LINE (up to its first NUL, one trailing newline dropped) and a newline to stdout. */
function traceOut(len: u32): void {
  let n = min<u32>(len, LINE_SIZE - 1);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u8>(SA_LINE + i) == 0) {
      n = i;
      break;
    }
  }
  if (n > 0 && load<u8>(SA_LINE + n - 1) == 0x0a) n--;
  store<u8>(SA_LINE + n, 0x0a);
  store<u32>(SA_IOV, SA_LINE);
  store<u32>(SA_IOV, n + 1, 4);
  fd_write(1, SA_IOV, 1, SA_NWRITTEN);
}

/** The format's length before its NUL within `size` bytes at `fmt`, -EFAULT or -EINVAL. */
function formatLength(fmt: u32, size: u32): i64 {
  if (!valid(fmt, size)) return -EFAULT;
  for (let i: u32 = 0; i < size; i++) if (load<u8>(fmt + i) == 0) return i;
  return -EINVAL;
}

function trace(fmt: u32, fmtLen: u32, args: u32, nargs: u32): i64 {
  const checked = format(fmt, fmtLen, args, nargs, SA_LINE, LINE_SIZE, false);
  if (checked < 0) return checked;
  const len = format(fmt, fmtLen, args, nargs, SA_LINE, LINE_SIZE, true);
  traceOut(<u32>len);
  return len;
}

/** The arguments array of vprintk/snprintf: its count, or -errno. */
function argCount(data: u32, dataLen: u32): i64 {
  if (dataLen % 8 != 0 || dataLen > MAX_VARARGS * 8 || (dataLen != 0 && data == 0)) return -EINVAL;
  if (!valid(data, dataLen)) return -EFAULT;
  return dataLen / 8;
}

export function bpf_trace_printk(fmt: u32, fmtSize: u32, a1: u64, a2: u64, a3: u64): i64 {
  const n = formatLength(fmt, fmtSize);
  if (n < 0) return n;
  store<u64>(SA_ARGS, a1);
  store<u64>(SA_ARGS + 8, a2);
  store<u64>(SA_ARGS + 16, a3);
  return trace(fmt, <u32>n, SA_ARGS, 3);
}

export function bpf_trace_vprintk(fmt: u32, fmtSize: u32, data: u32, dataLen: u32): i64 {
  const nargs = argCount(data, dataLen);
  if (nargs < 0) return nargs;
  const n = formatLength(fmt, fmtSize);
  if (n < 0) return n;
  return trace(fmt, <u32>n, data, <u32>nargs);
}

export function bpf_snprintf(str: u32, strSize: u32, fmt: u32, data: u32, dataLen: u32): i64 {
  const nargs = argCount(data, dataLen);
  if (nargs < 0) return nargs;
  if (!valid(fmt, 1)) return -EFAULT;
  const end = memEnd();
  let fmtLen: u32 = 0;
  for (;; fmtLen++) {
    if (<u64>fmt + fmtLen >= end) return -EINVAL;
    if (load<u8>(fmt + fmtLen) == 0) break;
  }
  if (!valid(str, strSize)) return -EFAULT;
  const checked = format(fmt, fmtLen, data, <u32>nargs, str, strSize, false);
  if (checked < 0) return checked;
  const len = format(fmt, fmtLen, data, <u32>nargs, str, strSize, true);
  if (strSize > 0) store<u8>(str + min<u32>(<u32>len, strSize - 1), 0);
  return len + 1;
}

// ---- helpers: ring buffers ----

export function bpf_ringbuf_output(map: u32, data: u32, size: u64, flags: u64): i64 {
  if (!isMap(map) || load<u32>(map, D_TYPE) != 27) return -EINVAL;
  if (size >= 0x1_0000_0000 || !valid(data, size)) return -EFAULT;
  return output(map, data, <u32>size, flags);
}
export function bpf_ringbuf_reserve(map: u32, size: u64, flags: u64): u32 {
  return reserve(map, size, flags);
}
export function bpf_ringbuf_submit(data: u32, flags: u64): void {
  commit(data, false);
}
export function bpf_ringbuf_discard(data: u32, flags: u64): void {
  commit(data, true);
}
export function bpf_ringbuf_query(map: u32, flags: u64): i64 {
  return query(map, flags);
}

// ---- helpers: callbacks ----

/** Calls the program's callback `n` (what `lddw src_reg=4` loaded), table entry n; a bad number is an unknown-helper fault. */
function callback(n: u32, r1: u64, r2: u64, r3: u64, r4: u64, r5: u64): u64 {
  if (n == 0 || n > load<u32>(SA_CALLBACKS)) stop(STATUS_HELPER, 0xffffffff, n);
  return call_indirect<u64>(n, r1, r2, r3, r4, r5);
}

export function bpf_loop(nrLoops: u32, cb: u32, ctx: u32, flags: u64): i64 {
  if (flags != 0) return -EINVAL;
  if (nrLoops > MAX_LOOPS) return -E2BIG;
  for (let i: u32 = 0; i < nrLoops; i++) {
    // The callback returns 0 to continue, 1 to stop.
    if (callback(cb, i, ctx, 0, 0, 0) != 0) return i + 1;
  }
  return nrLoops;
}

export function bpf_for_each_map_elem(map: u32, cb: u32, ctx: u32, flags: u64): i64 {
  if (flags != 0) return -EINVAL;
  if (!isMap(map)) return -EINVAL;
  const depth = load<u32>(SA_DEPTH);
  if (depth >= load<u32>(SA_KEY_SLOTS)) stop(STATUS_HELPER, 0xffffffff, 164);
  const t = load<u32>(map, D_TYPE);
  const array = t == MAP_ARRAY || t == MAP_PERCPU_ARRAY || t == 14 || t == 16 || t == 17;
  const slot = load<u32>(SA_KEY_SCRATCH) + depth * load<u32>(SA_KEY_SLOT);
  const ks = load<u32>(map, D_KEY_SIZE);
  store<u32>(SA_DEPTH, depth + 1);
  let n: i64 = 0;
  for (let s = map_next_slot(map, 0); s >= 0; s = map_next_slot(map, <u32>s + 1)) {
    if (array) store<u32>(slot, <u32>s);
    else memory.copy(slot, map_slot_key(map, <u32>s), ks);
    n++;
    if (callback(cb, map, slot, map_slot_value(map, <u32>s), ctx, 0) != 0) break;
  }
  store<u32>(SA_DEPTH, depth);
  return n;
}

// ---- helpers: checksums, locks, strings ----

/** csum_partial: 16-bit little-endian words summed and folded, then the seed added with carry. */
function csumPartial(p: u32, n: u32, seed: u32): u32 {
  let sum: u64 = 0;
  let i: u32 = 0;
  for (; i + 1 < n; i += 2) sum += <u64>load<u16>(p + i);
  if (n & 1) sum += <u64>load<u8>(p + n - 1);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  const s = <u64>sum + seed;
  return <u32>((s & 0xffffffff) + (s >> 32));
}
function from32to16(x: u32): u32 {
  x = (x & 0xffff) + (x >> 16);
  return (x & 0xffff) + (x >> 16);
}

export function bpf_csum_diff(from: u32, fromSize: u32, to: u32, toSize: u32, seed: u32): i64 {
  if ((fromSize | toSize) & 3 || <u64>fromSize + toSize > CSUM_DIFF_MAX) return -EINVAL;
  if (!valid(from, fromSize) || !valid(to, toSize)) return -EFAULT;
  return csumDiff(from, fromSize, to, toSize, seed);
}

function csumAdd(a: u32, b: u32): u32 {
  const r = <u64>a + b;
  return <u32>((r & 0xffffffff) + (r >> 32));
}

/** runtime/stdlib/standard.ts csumDiff (Linux 6.13+ folding). */
function csumDiff(from: u32, fromSize: u32, to: u32, toSize: u32, seed: u32): u32 {
  if (fromSize > 0 && toSize > 0) return from32to16(csumAdd(csumPartial(to, toSize, seed), ~csumPartial(from, fromSize, 0)));
  if (toSize > 0) return from32to16(csumPartial(to, toSize, seed));
  if (fromSize > 0) return from32to16(~csumPartial(from, fromSize, ~seed));
  return seed;
}

/** A program may hold one lock at a time; misuse (the verifier's business in the kernel) stops the run with status 6. */
export function bpf_spin_lock(lock: u32): i64 {
  if (load<u32>(SA_LOCK) != 0) stop(STATUS_HELPER, 0xffffffff, 93);
  store<u32>(SA_LOCK, lock);
  return 0;
}
export function bpf_spin_unlock(lock: u32): i64 {
  if (load<u32>(SA_LOCK) != lock || lock == 0) stop(STATUS_HELPER, 0xffffffff, 94);
  store<u32>(SA_LOCK, 0);
  return 0;
}

/**
 * runtime/stdlib/strings.ts parseUnsigned: the kernel's strtoul over `len` bytes at `buf`.
 * Stores the value at SA_TMP and returns the bytes consumed (bit 31 set if negative), or -errno.
 */
function parseUnsigned(buf: u32, len: u32, flags: u64): i64 {
  let base = <u32>(flags & 0x1f);
  if (len == 0) return -EINVAL;
  if (base != 0 && base != 8 && base != 10 && base != 16) return -EINVAL;
  if (flags & ~(<u64>0x1f)) return -EINVAL;
  let pos: u32 = 0;
  while (pos < len && isSpaceByte(load<u8>(buf + pos))) pos++;
  const negative = pos < len && load<u8>(buf + pos) == 0x2d;
  if (negative) pos++;
  if (pos == len) return -EINVAL;
  const str = buf + pos;
  const slen = min<u32>(len - pos, 63);
  if (base == 0) {
    if (byteOr0(str, slen, 0) == 0x30) base = (byteOr0(str, slen, 1) | 0x20) == 0x78 && isXDigit(byteOr0(str, slen, 2)) ? 16 : 8;
    else base = 10;
  }
  let i: u32 = 0;
  if (base == 16 && byteOr0(str, slen, 0) == 0x30 && (byteOr0(str, slen, 1) | 0x20) == 0x78) i = 2;
  const start = i;
  let value: u64 = 0;
  let overflow = false;
  for (;; i++) {
    const c = byteOr0(str, slen, i);
    let digit: u32 = 0;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) digit = (c | 0x20) - 0x61 + 10;
    else break;
    if (digit >= base) break;
    // value * base + digit > U64_MAX?
    const hi = (value >> 32) * base;
    const lo = (value & 0xffffffff) * base + digit;
    if ((hi + (lo >> 32)) >> 32 != 0) overflow = true;
    value = value * base + digit;
  }
  if (overflow) return -ERANGE;
  if (i == start) return -EINVAL;
  store<u64>(SA_TMP, value);
  return <i64>(pos + i) | (negative ? 0x8000_0000 : 0);
}

function byteOr0(p: u32, n: u32, i: u32): u32 {
  return i < n ? <u32>load<u8>(p + i) : 0;
}
function isSpaceByte(c: u32): bool {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0xa0;
}
function isXDigit(c: u32): bool {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

function strtox(buf: u32, bufLen: u64, flags: u64, res: u32, signed: bool): i64 {
  if (!valid(res, 8)) return -EFAULT;
  store<u64>(res, 0);
  if (buf == 0 || bufLen == 0) return -EINVAL;
  if (bufLen >= 0x1_0000_0000 || !valid(buf, bufLen)) return -EFAULT;
  const r = parseUnsigned(buf, <u32>bufLen, flags);
  if (r < 0) return r;
  const negative = (r & 0x8000_0000) != 0;
  const consumed = r & 0x7fff_ffff;
  const v = load<u64>(SA_TMP);
  if (signed) {
    if (negative) {
      if (v > (<u64>1 << 63)) return -ERANGE;
      store<u64>(res, 0 - v);
    } else {
      if (v >= (<u64>1 << 63)) return -ERANGE;
      store<u64>(res, v);
    }
  } else {
    if (negative) return -EINVAL;
    store<u64>(res, v);
  }
  return consumed;
}

export function bpf_strtol(buf: u32, bufLen: u64, flags: u64, res: u32): i64 {
  return strtox(buf, bufLen, flags, res, true);
}
export function bpf_strtoul(buf: u32, bufLen: u64, flags: u64, res: u32): i64 {
  return strtox(buf, bufLen, flags, res, false);
}

/** bpf_strncmp: s1 (s1Size bytes, valid) against s2 read from memory above the null guard. */
export function bpf_strncmp(s1: u32, s1Size: u32, s2: u32): i64 {
  if (!valid(s1, s1Size)) return -EFAULT;
  const end = memEnd();
  for (let i: u32 = 0; i < s1Size; i++) {
    const c1 = load<u8>(s1 + i);
    const p = <u64>s2 + i;
    if (p < NULL_GUARD || p >= end) return -EFAULT;
    const c2 = load<u8>(<u32>p);
    if (c1 != c2) return c1 < c2 ? -1 : 1;
    if (c1 == 0) break;
  }
  return 0;
}

// ---- helpers: probe reads (linear memory only: a standalone module has no host memory to read) ----

/** bpf_probe_read*: copies `size` bytes from `src` (in linear memory, above the floor) to `dst`; else zeroes `dst` and returns -EFAULT. */
function probeRead(dst: u32, size: u32, src: u64): i64 {
  if (size == 0) return 0;
  if (!valid(dst, size)) return -EFAULT;
  if (src >= memEnd() || !valid(<u32>src, size)) {
    memory.fill(dst, 0, size);
    return -EFAULT;
  }
  memory.copy(dst, <u32>src, size);
  return 0;
}

/** bpf_probe_read*_str: the string at `src` (NUL-terminated, at most size - 1 bytes kept) and its NUL; the length with the NUL, or -EFAULT. */
function probeReadStr(dst: u32, size: u32, src: u64): i64 {
  if (size == 0) return 0;
  if (!valid(dst, size)) return -EFAULT;
  const n = stringLength(src, size);
  if (n < 0) {
    memory.fill(dst, 0, size);
    return -EFAULT;
  }
  memory.copy(dst, <u32>src, <u32>n);
  store<u8>(dst + <u32>n, 0);
  return n + 1;
}

export function bpf_probe_read(dst: u32, size: u32, src: u64): i64 {
  return probeRead(dst, size, src);
}
export function bpf_probe_read_kernel(dst: u32, size: u32, src: u64): i64 {
  return probeRead(dst, size, src);
}
export function bpf_probe_read_user(dst: u32, size: u32, src: u64): i64 {
  return probeRead(dst, size, src);
}
export function bpf_probe_read_str(dst: u32, size: u32, src: u64): i64 {
  return probeReadStr(dst, size, src);
}
export function bpf_probe_read_kernel_str(dst: u32, size: u32, src: u64): i64 {
  return probeReadStr(dst, size, src);
}
export function bpf_probe_read_user_str(dst: u32, size: u32, src: u64): i64 {
  return probeReadStr(dst, size, src);
}
