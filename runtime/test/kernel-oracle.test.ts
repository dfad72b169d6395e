/**
 * The kernel as a differential oracle: where root, bpftool and bpf() are available, every packet
 * program of test-programs/c is loaded into the kernel and run over the frames of
 * packet-cases.ts with `bpftool prog run` (BPF_PROG_TEST_RUN), and bpf2wasm's test run must give
 * the same retval and output frame for each frame (and the same ctx_out), and the same map
 * contents afterwards (`bpftool -j map dump`). Elsewhere it says so and skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { instantiate } from '../instance.js';
import type { BpfInstance } from '../program.js';
import { testRunPacket } from '../packet/testrun.js';
import { PACKET_CASES, type PacketCase } from './packet-cases.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const objectPath = (name: string): string => path.join(root, 'test-programs/c', `${name}.o`);
const PIN_ROOT = `/sys/fs/bpf/bpf2wasm-oracle-${process.pid}`;

function bpftool(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('bpftool', args, { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** Why the kernel cannot serve as the oracle here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  if (!bpftool(['version']).ok) return 'bpftool not found';
  if (!existsSync('/sys/fs/bpf')) return 'no bpffs at /sys/fs/bpf';
  try {
    mkdirSync(PIN_ROOT, { recursive: true });
  } catch (e) {
    return `cannot create ${PIN_ROOT}: ${(e as Error).message}`;
  }
  const probe = bpftool(['prog', 'loadall', objectPath('xdp_counter'), `${PIN_ROOT}/probe`]);
  rmSync(`${PIN_ROOT}/probe`, { recursive: true, force: true });
  if (!probe.ok) return `bpf() refused a trivial program: ${probe.err.split('\n').find((l) => l.startsWith('Error')) ?? probe.err.trim()}`;
  return undefined;
}

const reason = unavailable();
const SKIP = `skipped: the kernel oracle needs root, bpftool and bpf() (${reason ?? ''})`;
if (reason) console.log(`kernel-oracle.test.ts: ${SKIP}`);

const work = mkdtempSync(path.join(tmpdir(), 'bpf2wasm-oracle-'));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(PIN_ROOT, { recursive: true, force: true });
});

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface KernelRun { retval: number; dataOut: Uint8Array; ctxOut?: Uint8Array }

function kernelRun(pinned: string, data: Uint8Array, ctxIn?: Uint8Array): KernelRun | { error: string } {
  const fin = path.join(work, 'in');
  const fout = path.join(work, 'out');
  const cin = path.join(work, 'ctx_in');
  const cout = path.join(work, 'ctx_out');
  writeFileSync(fin, data);
  rmSync(fout, { force: true });
  const args = ['prog', 'run', 'pinned', pinned, 'data_in', fin, 'data_out', fout, 'data_size_out', '16384'];
  if (ctxIn) {
    writeFileSync(cin, ctxIn);
    rmSync(cout, { force: true });
    args.push('ctx_in', cin, 'ctx_out', cout);
  }
  const r = bpftool(args);
  if (!r.ok) return { error: r.err.trim() };
  const m = /Return value: (\d+)/.exec(r.out + r.err);
  if (!m) return { error: `no return value in ${r.out}` };
  return {
    retval: Number(m[1]),
    dataOut: new Uint8Array(readFileSync(fout)),
    ...(ctxIn ? { ctxOut: new Uint8Array(readFileSync(cout)) } : {}),
  };
}

/** `bpftool -j map dump` as hex key -> hex value. */
function kernelMap(pinned: string): Map<string, string> {
  const r = bpftool(['-j', 'map', 'dump', 'pinned', pinned]);
  const out = new Map<string, string>();
  if (!r.ok) throw new Error(`map dump failed: ${r.err}`);
  const bytes = (xs: string[]): Uint8Array => Uint8Array.from(xs.map((x) => parseInt(x, 16)));
  for (const e of JSON.parse(r.out) as { key: string[]; value?: string[] | { error: string }; values?: { value: string[] }[] }[]) {
    // An absent element of an array-like map (DEVMAP, CPUMAP) or one the kernel cannot show (XSKMAP).
    if (e.value && !Array.isArray(e.value)) continue;
    if (e.value) {
      out.set(hex(bytes(e.key)), hex(bytes(e.value)));
      continue;
    }
    // A per-CPU map: the test runs ran on whichever CPUs; bpf2wasm has one. Compare the sums of
    // the little-endian counters (every per-CPU map of the fixtures holds counters).
    const sum = new Uint8Array(bytes(e.values![0]!.value).length);
    const view = new DataView(sum.buffer);
    for (const v of e.values!) {
      const b = bytes(v.value);
      const d = new DataView(b.buffer);
      for (let i = 0; i + 8 <= b.length; i += 8) view.setBigUint64(i, view.getBigUint64(i, true) + d.getBigUint64(i, true), true);
    }
    out.set(hex(bytes(e.key)), hex(sum));
  }
  return out;
}

function ourMap(inst: BpfInstance, name: string): Map<string, string> {
  const m = inst.map(name);
  const out = new Map<string, string>();
  for (const k of m.keysRaw()) {
    const v = m.lookupRaw(k);
    if (v) out.set(hex(k), hex(v));
  }
  return out;
}

/** Cases grouped by object, so that one kernel load and one instance serve the object's programs in order. */
const byObject = new Map<string, PacketCase[]>();
// BPF_PROG_TEST_RUN gives socket filters the network header: 'mac' cases have no kernel twin.
for (const c of PACKET_CASES.filter((x) => x.skbData !== 'mac' && !x.hostDependent)) byObject.set(c.object, [...(byObject.get(c.object) ?? []), c]);

describe('kernel oracle: BPF_PROG_TEST_RUN vs bpf2wasm, frame by frame', () => {
  if (reason) {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  for (const [object, cases] of byObject) {
    it(`${object}: ${cases.map((c) => c.program).join(', ')}`, async () => {
      const dir = `${PIN_ROOT}/${object}`;
      const maps = `${PIN_ROOT}/${object}-maps`;
      mkdirSync(maps, { recursive: true });
      const load = bpftool(['prog', 'loadall', objectPath(object), dir, 'pinmaps', maps]);
      expect(load.ok, load.err).toBe(true);
      const { wasm } = await compileObject(new Uint8Array(readFileSync(objectPath(object))));
      const inst = await instantiate(wasm, { trace: () => {} });
      // A second instance runs the same frames through testBatch() (the loop inside Wasm).
      const batchInst = await instantiate(wasm, { trace: () => {} });
      const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
      for (const c of cases) {
        for (const m of c.maps ?? []) {
          const set = bpftool(['map', 'update', 'pinned', `${maps}/${m.map}`, 'key', ...[...u32(m.key)].map(String), 'value', ...[...u32(m.value)].map(String)]);
          expect(set.ok, set.err).toBe(true);
          inst.map(m.map).updateRaw(u32(m.key), u32(m.value));
          batchInst.map(m.map).updateRaw(u32(m.key), u32(m.value));
        }
      }
      const mismatches: string[] = [];
      for (const c of cases) {
        const batch = c.ctxIn ? undefined : batchInst.program(c.program).testBatch(c.frames.map((f) => f.data), c.skbData ? { skbData: c.skbData } : {});
        if (batch) expect(batch.fastPath, c.program).toBe(true);
        for (const [i, f] of c.frames.entries()) {
          const k = kernelRun(`${dir}/${c.program}`, f.data, c.ctxIn);
          if (batch) {
            const err = batch.errors.get(i);
            const same = 'error' in k ? err !== undefined : !err && batch.retvals[i] === k.retval && hex(batch.dataOut(i)!) === hex(k.dataOut);
            if (!same) mismatches.push(`${c.program} / ${f.label} (testBatch): kernel ${'error' in k ? 'error' : `retval ${k.retval}`}, batch ${err ? `error ${err.message}` : `retval ${batch.retvals[i]}`}`);
          } else {
            try {
              batchInst.program(c.program).test({ dataIn: f.data, ctxIn: c.ctxIn, skbData: c.skbData });
            } catch {
              // compared on the first instance
            }
          }
          let ours: KernelRun | { error: string };
          try {
            ours = inst.program(c.program).test({ dataIn: f.data, ctxIn: c.ctxIn, skbData: c.skbData });
          } catch (e) {
            ours = { error: (e as Error).message };
          }
          const show = (r: KernelRun | { error: string }): string => 'error' in r ? 'error' : JSON.stringify({
            retval: r.retval, dataOut: hex(r.dataOut), ...(r.ctxOut ? { ctxOut: hex(r.ctxOut) } : {}),
          });
          const brief = (r: KernelRun | { error: string }): string => 'error' in r ? `error ${r.error}` : JSON.stringify({
            retval: r.retval, length: r.dataOut.length, dataOut: hex(r.dataOut).slice(0, 160), ...(r.ctxOut ? { ctxOut: hex(r.ctxOut) } : {}),
          });
          if (show(k) !== show(ours)) mismatches.push(`${c.program} / ${f.label}:\n  kernel   ${brief(k)}\n  bpf2wasm ${brief(ours)}`);
        }
      }
      for (const name of inst.maps.keys()) {
        if (name.startsWith('.')) continue;
        const pinned = `${maps}/${name}`;
        if (!existsSync(pinned)) continue;
        const theirs = kernelMap(pinned);
        const mine = ourMap(inst, name);
        expect(Object.fromEntries(mine), `map ${name} after the run`).toEqual(Object.fromEntries(theirs));
        expect(Object.fromEntries(ourMap(batchInst, name)), `map ${name} after the batch`).toEqual(Object.fromEntries(theirs));
      }
      expect(mismatches, mismatches.join('\n')).toEqual([]);
    }, 60_000);
  }
});
