/**
 * Micro benchmark of map lookups as compiled programs make them: a tiny Wasm module imports the
 * maps module's `map_lookup_elem` (helper 1) Wasm to Wasm, as a compiled eBPF program does, and
 * calls it in a loop over keys that are all present. Prints the median ns per lookup (the loop's
 * own cost included: a load of the key's address and an add).
 *
 *   npm run build && node dist/scripts/bench/map-lookups.js [--quick] [--json]
 *
 * Cases: hash maps of 10k entries with 4-, 8- and 16-byte keys, an LRU hash, an array, and an
 * LPM trie of IPv4 prefixes of mixed lengths. Timings come from one run on whatever machine this
 * is: compare them side by side only.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { MapShape } from '../../runtime/maps/descriptor.js';
import { BPF_F_NO_PREALLOC, MapType } from '../../runtime/uapi/index.js';
import { layoutMaps } from '../../runtime/maps/placement.js';
import { MapStore } from '../../runtime/maps/store.js';
import { formatNs, median, table } from './stats.js';

/** The loop: `run(map, keys, stride, count, n)` looks up keys[i % count] n times. */
const LOOP_WAT = `(module
  (import "env" "memory" (memory 1))
  (import "helpers" "map_lookup_elem" (func $lookup (param i32 i32) (result i32)))
  (func (export "run") (param $map i32) (param $keys i32) (param $stride i32) (param $count i32) (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $hits i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $hits (i32.add (local.get $hits)
        (i32.ne (call $lookup (local.get $map) (i32.add (local.get $keys) (i32.mul (local.get $j) (local.get $stride)))) (i32.const 0))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (if (i32.eq (local.get $j) (local.get $count)) (then (local.set $j (i32.const 0))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $hits)))`;

export interface MapBenchCase {
  name: string;
  entries: number;
  /** Median ns per lookup. */
  ns: number;
}

interface CaseDef {
  name: string;
  shape: Omit<MapShape, 'name'>;
  /** The i-th key (present in the map). */
  key: (i: number) => Uint8Array;
  /** Keys to insert, when different from the looked-up ones (LPM prefixes). */
  insert?: (i: number) => Uint8Array;
}

const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
/** A scrambled 32-bit key (Knuth's multiplicative hash of i). */
const scramble = (i: number): number => Math.imul(i, 2654435761) >>> 0;

function cases(entries: number): CaseDef[] {
  const bytes = (n: number) => (i: number): Uint8Array => {
    const b = new Uint8Array(n);
    const v = new DataView(b.buffer);
    for (let o = 0; o + 4 <= n; o += 4) v.setUint32(o, scramble(i + o * 7919), true);
    return b;
  };
  return [
    { name: 'hash, 4-byte keys', shape: { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: entries, flags: 0 }, key: bytes(4) },
    { name: 'hash, 8-byte keys', shape: { type: MapType.HASH, keySize: 8, valueSize: 8, maxEntries: entries, flags: 0 }, key: bytes(8) },
    { name: 'hash, 16-byte keys', shape: { type: MapType.HASH, keySize: 16, valueSize: 8, maxEntries: entries, flags: 0 }, key: bytes(16) },
    { name: 'lru_hash, 4-byte keys', shape: { type: MapType.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: entries, flags: 0 }, key: bytes(4) },
    { name: 'array', shape: { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: entries, flags: 0 }, key: (i) => u32(i) },
    {
      // /8, /16 and /24 prefixes; lookups of /32 addresses inside them.
      name: 'lpm_trie, IPv4, /8 /16 /24',
      shape: { type: MapType.LPM_TRIE, keySize: 8, valueSize: 8, maxEntries: entries, flags: BPF_F_NO_PREALLOC },
      insert: (i) => {
        const len = [8, 16, 24][i % 3]!;
        const addr = scramble(i) & (0xffffffff << (32 - len));
        return Uint8Array.of(...u32(len), addr >>> 24, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff);
      },
      key: (i) => {
        const addr = scramble(i) | (0xff >>> 0);
        return Uint8Array.of(...u32(32), addr >>> 24, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff);
      },
    },
  ];
}

/** Runs every case; returns the median ns per lookup of each. */
export async function benchMaps(options: { quick?: boolean } = {}): Promise<MapBenchCase[]> {
  const entries = 10_000;
  const lookups = options.quick ? 100_000 : 2_000_000;
  const rounds = options.quick ? 3 : 15;
  const wabt = await (await import('wabt')).default();
  const loop = new WebAssembly.Module(wabt.parseWat('maps-bench.wat', LOOP_WAT).toBinary({}).buffer as Uint8Array<ArrayBuffer>);
  const out: MapBenchCase[] = [];
  for (const c of cases(entries)) {
    const shape: MapShape = { name: 'bench', ...c.shape };
    const layout = layoutMaps([shape], 0x2000);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const store = await MapStore.create(memory, [{ shape, placement: layout.placements[0]!, index: 0 }]);
    for (let i = 0; i < entries; i++) store.update(0, (c.insert ?? c.key)(i), new Uint8Array(8).fill(1));
    // The keys, one after the other past the maps, as a program's stack would hold them.
    const stride = Math.ceil(shape.keySize / 8) * 8;
    const keys = layout.arenaEnd;
    const need = keys + entries * stride;
    if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
    const mem = new Uint8Array(memory.buffer);
    for (let i = 0; i < entries; i++) mem.set(c.key(i), keys + i * stride);
    const instance = new WebAssembly.Instance(loop, { env: { memory }, helpers: { map_lookup_elem: store.helperImports[1]! } });
    const run = instance.exports.run as (map: number, keys: number, stride: number, count: number, n: number) => number;
    const desc = store.descOf(0);
    if (run(desc, keys, stride, entries, entries) !== entries) throw new Error(`${c.name}: not every key was found`);
    run(desc, keys, stride, entries, lookups); // warm up
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      run(desc, keys, stride, entries, lookups);
      times.push(Number(process.hrtime.bigint() - t0) / lookups);
    }
    out.push({ name: c.name, entries, ns: median(times) });
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  const results = await benchMaps({ quick: argv.includes('--quick') });
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(results)}\n`);
    return;
  }
  process.stdout.write(`map lookups from Wasm (helper 1 imported Wasm to Wasm), ${results[0]?.entries ?? 0} entries\n`);
  process.stdout.write(`${table(['map', 'median per lookup'], results.map((r) => [r.name, formatNs(r.ns)]))}\n`);
}

const invoked = process.argv[1] ? pathToFileURL(path.resolve(process.argv[1])).href : '';
if (import.meta.url === invoked || fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
