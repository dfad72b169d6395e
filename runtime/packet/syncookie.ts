/**
 * The raw SYN cookie helpers (XDP and tc): bpf_tcp_raw_gen_syncookie_ipv4 / _ipv6 and
 * bpf_tcp_raw_check_syncookie_ipv4 / _ipv6 (net/core/filter.c), with the kernel's construction
 * (net/ipv4/syncookies.c, net/ipv6/syncookies.c):
 *
 *     cookie = H(secret0; addrs, ports, 0) + seq + (count << 24)
 *              + ((H(secret1; addrs, ports, count) + mssind) mod 2^24)
 *
 * where H is SipHash-2-4 (truncated to 32 bits) over the addresses and ports (and the minute
 * counter), `count` counts minutes (the kernel's `jiffies / (60 * HZ)`) and `mssind` indexes the
 * family's MSS table. A cookie is valid for two minutes. The kernel's secrets are drawn at boot
 * and never leave it, so cookies here cannot equal the kernel's: each instance draws its own
 * (`net.syncookieSecret` sets them), and what a program can see of the construction is the
 * kernel's: the MSS bits of the result, the errors, and that a cookie it made checks.
 */
import { Errno } from '../uapi/index.js';

/** MSS tables (msstab): IPv4 and IPv6 (1280, 1480, 1500, 9000 minus 60). */
const MSS_V4 = [536, 1300, 1440, 1460] as const;
const MSS_V6 = [1220, 1420, 1440, 8940] as const;
/** TCP_MSS_DEFAULT, and IPv6's clamp (IPV6_MIN_MTU - TCP and IPv6 headers): the MSS without the option. */
const MSS_DEFAULT_V4 = 536;
const MSS_DEFAULT_V6 = 1280 - 20 - 40;
const COOKIEBITS = 24;
const COOKIEMASK = (1 << COOKIEBITS) - 1;
const MAX_SYNCOOKIE_AGE = 2;
const EACCES = -13;

/** Bytes of the secrets: two SipHash keys for IPv4, two for IPv6 (syncookie_secret, syncookie6_secret). */
export const SYNCOOKIE_SECRET_BYTES = 64;

const MASK64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & MASK64;

/** SipHash-2-4 of `msg` under the 16-byte `key` (the kernel's siphash()). */
export function siphash24(key: Uint8Array, msg: Uint8Array): bigint {
  const kv = new DataView(key.buffer, key.byteOffset, 16);
  const k0 = kv.getBigUint64(0, true);
  const k1 = kv.getBigUint64(8, true);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & MASK64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & MASK64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & MASK64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const mv = new DataView(msg.buffer, msg.byteOffset, msg.length);
  const full = msg.length & ~7;
  const block = (m: bigint): void => {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  for (let i = 0; i < full; i += 8) block(mv.getBigUint64(i, true));
  let last = BigInt(msg.length & 0xff) << 56n;
  for (let i = full; i < msg.length; i++) last |= BigInt(msg[i]!) << BigInt(8 * (i - full));
  block(last);
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return (v0 ^ v1 ^ v2 ^ v3) & MASK64;
}

/** What the cookie helpers need of an instance: its secrets and the minute counter. */
export interface SyncookieKeys {
  /** {@link SYNCOOKIE_SECRET_BYTES} bytes. */
  secret: Uint8Array;
  /** tcp_cookie_time(): minutes on a monotonic clock. */
  minutes(): number;
}

/** The flow a cookie is bound to: the headers' bytes as the kernel hashes them. */
interface Flow {
  v6: boolean;
  saddr: Uint8Array;
  daddr: Uint8Array;
  /** The ports as the kernel reads them from the header (big-endian u16 values, used raw). */
  sport: Uint8Array;
  dport: Uint8Array;
}

/** cookie_hash: H(secret c; flow, count), the low 32 bits. */
function cookieHash(keys: SyncookieKeys, f: Flow, count: number, c: 0 | 1): number {
  const key = keys.secret.subarray((f.v6 ? 32 : 0) + 16 * c, (f.v6 ? 32 : 0) + 16 * c + 16);
  let msg: Uint8Array;
  if (f.v6) {
    // struct { in6_addr saddr, daddr; u32 count; __be16 sport, dport; }
    msg = new Uint8Array(40);
    msg.set(f.saddr, 0);
    msg.set(f.daddr, 16);
    new DataView(msg.buffer).setUint32(32, count >>> 0, true);
    msg.set(f.sport, 36);
    msg.set(f.dport, 38);
  } else {
    // siphash_4u32(saddr, daddr, sport << 16 | dport, count): four u32 words, little-endian.
    msg = new Uint8Array(16);
    msg.set(f.saddr, 0);
    msg.set(f.daddr, 4);
    const v = new DataView(msg.buffer);
    const sport = f.sport[0]! | (f.sport[1]! << 8);
    const dport = f.dport[0]! | (f.dport[1]! << 8);
    v.setUint32(8, ((sport << 16) | dport) >>> 0, true);
    v.setUint32(12, count >>> 0, true);
  }
  return Number(siphash24(key, msg) & 0xffffffffn);
}

/** secure_tcp_syn_cookie. */
function makeCookie(keys: SyncookieKeys, f: Flow, seq: number, data: number): number {
  const count = keys.minutes() >>> 0;
  return (cookieHash(keys, f, 0, 0) + seq + ((count << COOKIEBITS) >>> 0) + ((cookieHash(keys, f, count, 1) + data) & COOKIEMASK)) >>> 0;
}

/** check_tcp_syn_cookie: the MSS index the cookie carries, or 0xffffffff when it is too old. */
function cookieData(keys: SyncookieKeys, f: Flow, cookie: number, seq: number): number {
  const count = keys.minutes() >>> 0;
  const c = (cookie - (cookieHash(keys, f, 0, 0) + seq)) >>> 0;
  const diff = (count - (c >>> COOKIEBITS)) & (0xffffffff >>> COOKIEBITS);
  if (diff >= MAX_SYNCOOKIE_AGE) return 0xffffffff;
  return ((c - cookieHash(keys, f, (count - diff) >>> 0, 1)) >>> 0) & COOKIEMASK;
}

/** tcp_parse_mss_option(th, 0): the last well-formed non-zero MSS option, 0 without one. */
function parseMss(mem: Uint8Array, th: number): number {
  let length = (mem[th + 12]! >> 4) * 4 - 20;
  let p = th + 20;
  let mss = 0;
  while (length > 0) {
    const opcode = mem[p++]!;
    if (opcode === 0) return mss;
    if (opcode === 1) {
      length--;
      continue;
    }
    if (length < 2) return mss;
    const opsize = mem[p++]!;
    if (opsize < 2 || opsize > length) return mss;
    if (opcode === 2 && opsize === 4) {
      const inMss = (mem[p]! << 8) | mem[p + 1]!;
      if (inMss) mss = inMss;
    }
    p += opsize - 2;
    length -= opsize;
  }
  return mss;
}

function flowOf(mem: Uint8Array, iph: number, th: number, v6: boolean): Flow {
  const a = v6 ? 8 : 12;
  const n = v6 ? 16 : 4;
  return {
    v6, saddr: mem.slice(iph + a, iph + a + n), daddr: mem.slice(iph + a + n, iph + a + 2 * n),
    sport: mem.slice(th, th + 2), dport: mem.slice(th + 2, th + 4),
  };
}

const be32 = (mem: Uint8Array, at: number): number => ((mem[at]! << 24) | (mem[at + 1]! << 16) | (mem[at + 2]! << 8) | mem[at + 3]!) >>> 0;

/**
 * bpf_tcp_raw_gen_syncookie_ipv4 / _ipv6(iph, th, th_len): -EINVAL unless th_len is at least a
 * TCP header and equals its data offset (doff * 4); else the cookie in the low 32 bits and the
 * MSS it encodes (the table's entry at or below the SYN's MSS option, or the family's default
 * without one) in the next 16. The kernel's verifier guarantees the headers are readable; here a
 * pointer outside memory is -EFAULT.
 */
export function rawGenSyncookie(keys: SyncookieKeys, mem: Uint8Array, iph: number, th: number, thLen: number, v6: boolean): bigint {
  const i = iph >>> 0;
  const t = th >>> 0;
  const len = thLen >>> 0;
  if (i + (v6 ? 40 : 20) > mem.length || t + Math.max(len, 20) > mem.length) return BigInt(-Errno.EFAULT);
  if (len < 20 || len !== (mem[t + 12]! >> 4) * 4) return BigInt(-Errno.EINVAL);
  const table = v6 ? MSS_V6 : MSS_V4;
  const mss = parseMss(mem, t) || (v6 ? MSS_DEFAULT_V6 : MSS_DEFAULT_V4);
  let ind = table.length - 1;
  while (ind > 0 && mss < table[ind]!) ind--;
  const cookie = makeCookie(keys, flowOf(mem, i, t, v6), be32(mem, t + 4), ind);
  return BigInt(cookie) | (BigInt(table[ind]!) << 32n);
}

/**
 * bpf_tcp_raw_check_syncookie_ipv4 / _ipv6(iph, th): 0 when the ACK's ack_seq - 1 is a cookie
 * this instance made for the flow (seq - 1) in the last two minutes, carrying a valid MSS index;
 * -EACCES otherwise. The TCP flags are not looked at, as in the kernel.
 */
export function rawCheckSyncookie(keys: SyncookieKeys, mem: Uint8Array, iph: number, th: number, v6: boolean): number {
  const i = iph >>> 0;
  const t = th >>> 0;
  if (i + (v6 ? 40 : 20) > mem.length || t + 20 > mem.length) return -Errno.EFAULT;
  const cookie = (be32(mem, t + 8) - 1) >>> 0;
  const seq = (be32(mem, t + 4) - 1) >>> 0;
  const ind = cookieData(keys, flowOf(mem, i, t, v6), cookie, seq);
  return ind < (v6 ? MSS_V6 : MSS_V4).length ? 0 : EACCES;
}

/** Fresh secrets (Web Crypto, else Math.random). */
export function randomSecret(): Uint8Array {
  const s = new Uint8Array(SYNCOOKIE_SECRET_BYTES);
  if (typeof globalThis.crypto?.getRandomValues === 'function') globalThis.crypto.getRandomValues(s);
  else for (let i = 0; i < s.length; i++) s[i] = Math.floor(Math.random() * 256);
  return s;
}

/** tcp_cookie_time on the host's monotonic clock (performance.now; the kernel's jiffies since boot). */
export function monotonicMinutes(): number {
  const now = typeof globalThis.performance?.now === 'function' ? globalThis.performance.now() : Date.now();
  return Math.floor(now / 60_000);
}
