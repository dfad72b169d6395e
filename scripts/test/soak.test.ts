/**
 * A short soak (scripts/soak.ts; `npm run soak` runs 10 million): one instance through 300,000
 * runs with the hash and LRU maps at capacity, every ring buffer record and trace line checked by
 * sequence number, and the JS heap and linear memory flat after warm-up.
 */
import { describe, expect, it } from 'vitest';
import { HEAP_TOLERANCE, soak, soakProblems, type SoakResult } from '../soak.js';

describe('soak', () => {
  it('120,000 runs: nothing lost or doubled, maps at capacity, heap and memory flat', async () => {
    const r = await soak({ runs: 120_000, warmup: 30_000 });
    expect(soakProblems(r)).toEqual([]);
    expect(r.records).toBe(120_000);
    expect(r.traceLines).toBe(120);
    expect(r.hashSize).toBe(1024);
    expect(r.lruSize).toBe(1024);
    expect(r.hashEvictions).toBeGreaterThan(60_000);
    expect(r.final.pages).toBe(r.baseline.pages);
    expect(r.checkpoints.length).toBeGreaterThanOrEqual(10);
    expect(r.heapGrowth).toBeLessThan(HEAP_TOLERANCE);
  }, 120_000);

  it('reports growth of either kind', () => {
    const at = (runs: number, heapUsed: number, pages: number) => ({ runs, heapUsed, pages });
    const base: SoakResult = {
      runs: 2, seconds: 1, runsPerSecond: 1, records: 2, traceLines: 0, hashEvictions: 0, hashSize: 0, lruSize: 0,
      baseline: at(1, 1e6, 3), final: at(2, 1e6, 3), checkpoints: [at(1, 1e6, 3), at(2, 1e6, 3)], heapGrowth: 0,
    };
    expect(soakProblems(base)).toEqual([]);
    expect(soakProblems({ ...base, final: at(2, 1e6, 4) })).toEqual(['linear memory grew from 3 to 4 pages']);
    expect(soakProblems({ ...base, heapGrowth: 3 * 1024 * 1024 })).toEqual(['JS heap grew by 3072 KiB after warm-up']);
  });
});
