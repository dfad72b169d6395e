/**
 * Soak test: one instance of test-programs/c/soak.o through many runs (10 million by default) on
 * the fast path, checking that a long-lived instance stays healthy:
 *
 * - the HASH map `counts` stays at capacity (the host picks the victim an update that finds it
 *   full deletes) and every run's value is checked against a JS model of the map;
 * - the LRU_HASH `recent` stays at capacity, evicting;
 * - every run submits one ring buffer record with its sequence number, consumed by the host every
 *   256 runs: each sequence number must arrive exactly once, in order (nothing lost or doubled);
 * - every 1000th run prints a trace line, counted and checked the same way;
 * - after warm-up, the JS heap (after a full GC) and the linear memory must stay flat.
 *
 *   npm run soak [-- --runs N] [--json]     (npm test runs a short version: scripts/test/soak.test.ts)
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { compileObject } from '../compiler/index.js';
import { instantiate } from '../runtime/index.js';

/** Options of {@link soak}. */
export interface SoakOptions {
  /** Runs in total (default 10,000,000). */
  runs?: number;
  /** Runs before the baseline is taken (default a tenth of `runs`, at least 100,000). */
  warmup?: number;
  /** Called after every checkpoint (every tenth of the runs after warm-up). */
  progress?: (c: SoakCheckpoint) => void;
}

/** Heap and memory at one point of the soak. */
export interface SoakCheckpoint {
  runs: number;
  /** process.memoryUsage().heapUsed after a full GC, bytes. */
  heapUsed: number;
  /** Linear memory, 64 KiB pages. */
  pages: number;
}

/** What {@link soak} measured. Throws on the first inconsistency instead of returning. */
export interface SoakResult {
  runs: number;
  /** Time in the runs after warm-up (the checkpoints' garbage collections excluded). */
  seconds: number;
  runsPerSecond: number;
  records: number;
  traceLines: number;
  hashEvictions: number;
  hashSize: number;
  lruSize: number;
  /** After warm-up, and at the end. */
  baseline: SoakCheckpoint;
  final: SoakCheckpoint;
  checkpoints: SoakCheckpoint[];
  /** Largest heapUsed after GC at any checkpoint minus the baseline, bytes. */
  heapGrowth: number;
}

const CAPACITY = 1024;
const KEYS = 4096;
const BATCH = 256;
const TRACE_EVERY = 1000;
const CTX = 16;

// scripts/soak.ts under vitest, dist/scripts/soak.js from npm run soak: the project root either way.
const here = dirname(fileURLToPath(import.meta.url));
const root = existsSync(join(here, '../package.json')) ? resolve(here, '..') : resolve(here, '../..');

/** A full garbage collection (exposes V8's gc if the process was started without --expose-gc). */
function fullGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Runs the soak; throws an Error naming the first inconsistency. */
export async function soak(options: SoakOptions = {}): Promise<SoakResult> {
  const runs = options.runs ?? 10_000_000;
  const warmup = options.warmup ?? Math.min(runs, Math.max(100_000, Math.floor(runs / 10)));
  const gc = fullGc();
  const { wasm } = await compileObject(new Uint8Array(readFileSync(join(root, 'test-programs/c/soak.o'))));

  let traceLines = 0;
  let nextTraceSeq = TRACE_EVERY;
  const inst = await instantiate(wasm, {
    trace: (line) => {
      const m = /^soak seq=(\d+) key=(\d+)$/.exec(line);
      if (!m || Number(m[1]) !== nextTraceSeq) throw new Error(`trace line ${traceLines}: expected seq ${nextTraceSeq}, got ${JSON.stringify(line)}`);
      nextTraceSeq += TRACE_EVERY;
      traceLines++;
    },
  });
  const prog = inst.program('soak');
  const counts = inst.map('counts');
  const recent = inst.map('recent');
  const state = inst.map('state');
  const ring = inst.ringbuf('events');

  // The host's model of `counts`, in insertion order (the first key is the next victim), and the
  // values each run must report.
  const model = new Map<number, number>();
  const expected = new Float64Array(BATCH * 2);
  const expectedKey = new Uint32Array(BATCH * 2);
  let batchStart = 1;
  let records = 0;
  let nextSeq = 1;
  ring.onRecord((data) => {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const seq = Number(dv.getBigUint64(0, true));
    if (seq !== nextSeq) throw new Error(`ring buffer: expected record ${nextSeq}, got ${seq} (${seq < nextSeq ? 'delivered twice' : 'lost'})`);
    const i = seq - batchStart;
    const key = dv.getUint32(8, true);
    const value = Number(dv.getBigUint64(16, true));
    if (key !== expectedKey[i] || value !== expected[i]) {
      throw new Error(`run ${seq}: record key ${key} value ${value}, the model says key ${expectedKey[i]} value ${expected[i]}`);
    }
    nextSeq++;
    records++;
  });

  let x = 0x9e3779b9;
  let evictions = 0;
  const checkpoints: SoakCheckpoint[] = [];
  const checkpoint = (n: number): SoakCheckpoint => {
    gc();
    gc();
    const c = { runs: n, heapUsed: process.memoryUsage().heapUsed, pages: inst.memory.buffer.byteLength / 65536 };
    checkpoints.push(c);
    options.progress?.(c);
    return c;
  };
  let baseline: SoakCheckpoint | undefined;
  const every = Math.max(BATCH, Math.floor((runs - warmup) / 10 / BATCH) * BATCH);
  let nextCheckpoint = warmup + every;
  let loopMs = 0;

  for (let seq = 1; seq <= runs;) {
    if (!baseline && seq > warmup) {
      baseline = checkpoint(seq - 1);
    }
    if (baseline && seq > nextCheckpoint) {
      checkpoint(seq - 1);
      nextCheckpoint += every;
    }
    const t0 = performance.now();
    const view = inst.dataView(CTX);
    const dv = new DataView(view.buffer, view.byteOffset, CTX);
    const end = Math.min(runs, seq + BATCH - 1);
    batchStart = seq;
    for (; seq <= end; seq++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const key = (x >>> 0) % KEYS;
      let victim = 0;
      let value = model.get(key);
      if (value !== undefined) {
        value++;
      } else {
        if (model.size === CAPACITY) {
          victim = model.keys().next().value!;
          model.delete(victim);
          evictions++;
        }
        value = 1;
      }
      model.set(key, value);
      expected[seq - batchStart] = value;
      expectedKey[seq - batchStart] = key;
      dv.setUint32(0, key, true);
      dv.setUint32(4, victim, true);
      dv.setUint32(8, seq % TRACE_EVERY === 0 ? 1 : 0, true);
      const r0 = prog.runInPlace(CTX);
      if (r0 !== (seq >>> 0)) throw new Error(`run ${seq}: r0 = ${r0} (${inst.lastResult()})`);
    }
    const got = ring.consume();
    if (got !== end - batchStart + 1) throw new Error(`runs ${batchStart}-${end}: consumed ${got} records`);
    if (baseline) loopMs += performance.now() - t0;
  }
  const seconds = loopMs / 1000;
  const final = checkpoint(runs);
  baseline ??= final;

  // The end state: the model and the maps agree, nothing dropped.
  const stateAt = (i: number) => state.get(i) as bigint;
  if (stateAt(0) !== BigInt(runs)) throw new Error(`state[0] = ${stateAt(0)}, expected ${runs}`);
  if (stateAt(1) !== 0n) throw new Error(`${stateAt(1)} ring buffer records dropped`);
  if (stateAt(2) !== BigInt(evictions)) throw new Error(`${stateAt(2)} hash evictions, the model made ${evictions}`);
  if (counts.size !== model.size) throw new Error(`counts has ${counts.size} keys, the model ${model.size}`);
  for (const [k, v] of model) if (counts.get(k) !== BigInt(v)) throw new Error(`counts[${k}] = ${counts.get(k)}, the model says ${v}`);
  if (recent.size > CAPACITY) throw new Error(`recent has ${recent.size} entries`);
  if (records !== runs) throw new Error(`${records} records for ${runs} runs`);
  if (traceLines !== Math.floor(runs / TRACE_EVERY)) throw new Error(`${traceLines} trace lines for ${runs} runs`);

  const after = checkpoints.filter((c) => c.runs >= baseline!.runs);
  const heapGrowth = Math.max(...after.map((c) => c.heapUsed)) - baseline.heapUsed;
  const measured = runs - baseline.runs;
  return {
    runs, seconds, runsPerSecond: seconds > 0 ? measured / seconds : 0, records, traceLines,
    hashEvictions: evictions, hashSize: counts.size, lruSize: recent.size, baseline, final, checkpoints, heapGrowth,
  };
}

/** Heap growth after warm-up that counts as flat: 2 MiB (allocation noise of V8 and the test harness). */
export const HEAP_TOLERANCE = 2 * 1024 * 1024;

/** Problems with a result: heap or memory not flat. */
export function soakProblems(r: SoakResult): string[] {
  const out: string[] = [];
  if (r.final.pages !== r.baseline.pages) out.push(`linear memory grew from ${r.baseline.pages} to ${r.final.pages} pages`);
  if (r.heapGrowth > HEAP_TOLERANCE) out.push(`JS heap grew by ${(r.heapGrowth / 1024).toFixed(0)} KiB after warm-up`);
  return out;
}

async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--runs');
  const runs = i >= 0 ? Number(argv[i + 1]) : 10_000_000;
  if (!Number.isSafeInteger(runs) || runs <= 0) {
    console.error('soak: --runs takes a positive integer');
    return 2;
  }
  const mib = (b: number) => (b / 1048576).toFixed(2) + ' MiB';
  const r = await soak({
    runs,
    progress: (c) => {
      if (!argv.includes('--json')) console.log(`${String(c.runs).padStart(10)} runs  heap ${mib(c.heapUsed)}  memory ${c.pages} pages`);
    },
  });
  const problems = soakProblems(r);
  if (argv.includes('--json')) {
    console.log(JSON.stringify({ ...r, problems }));
  } else {
    console.log(`${r.runs} runs, ${(r.runsPerSecond / 1e6).toFixed(2)}M runs/s after warm-up (${r.seconds.toFixed(1)} s); ` +
      `${r.records} ring buffer records and ${r.traceLines} trace lines, each once and in order; ` +
      `counts ${r.hashSize} keys (${r.hashEvictions} deletions at capacity), recent ${r.lruSize} entries`);
    console.log(`heap after GC: ${mib(r.baseline.heapUsed)} after warm-up, ${mib(r.final.heapUsed)} at the end (max growth ${(r.heapGrowth / 1024).toFixed(0)} KiB); ` +
      `linear memory ${r.baseline.pages} -> ${r.final.pages} pages`);
    for (const p of problems) console.log(`FAIL: ${p}`);
  }
  return problems.length ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
    console.error(`soak: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
