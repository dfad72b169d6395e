/**
 * The batch path against the per-frame test run: for every packet program of test-programs/c, at
 * -O0 and -O1, `testBatch()` over the frames of the project's captures gives the same return
 * value, output frame and refusals as `test({ dataIn })` frame by frame, and the same maps
 * afterwards. Also: which programs take the loop inside Wasm, faults mid-batch, bad arguments.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { compile } from '../../compiler/compile.js';
import { instantiate } from '../instance.js';
import type { BpfInstance } from '../program.js';
import { readCaptureSync } from '../capture/index.js';
import { Bpf2WasmError } from '../errors.js';
import { mapJson } from '../../compiler/cli/print.js';
import { jsonReplacer } from '../../compiler/cli/print.js';
import type { HostNetwork } from '../packet/net.js';
import type { BatchTestResult } from '../packet/batch.js';
import { shortIpHeader } from '../packet/testrun.js';
import { ANSWER_AT, SOCK_NET, SOCK_PROBES, SYN_FRAMES, sockFrame } from './sk-cases.js';
import { STATE_NET, STATE_PROBES } from './sk-state-cases.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(root, 'test-programs/c');
const captures = path.join(root, 'test-programs/captures');

/** Every frame of the project's captures, plus runts and a multi-buffer frame. */
const frames: Uint8Array[] = [];
for (const f of readdirSync(captures).sort()) {
  for (const fr of readCaptureSync(new Uint8Array(readFileSync(path.join(captures, f))))) frames.push(fr.data);
}
frames.push(new Uint8Array(5), new Uint8Array(5000).fill(0x45));

const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString('hex') : undefined);
const mapsOf = (inst: BpfInstance): string => JSON.stringify([...inst.maps.values()].map((m) => [m.name, mapJson(m)]), jsonReplacer);

const objects = readdirSync(dir).filter((f) => f.endsWith('.o')).sort();

describe('testBatch() = test() frame by frame', () => {
  for (const opt of [0, 1] as const) {
    for (const obj of objects) {
      it(`${obj} -O${opt}`, async () => {
        let compiled;
        try {
          compiled = await compileObject(new Uint8Array(readFileSync(path.join(dir, obj))), { optLevel: opt });
        } catch {
          return; // objects that do not compile whole are other tests' business
        }
        const packet = compiled.manifest.programs.filter((p) => ['xdp', 'socket', 'tc', 'tc_action', 'cgroup_skb', 'lwt'].includes(p.type));
        for (const p of packet) {
          // Socket filters in both modes: from the network header (the kernel's) and from the Ethernet header.
          for (const skbData of p.type === 'socket' ? ['network', 'mac'] as const : [undefined]) {
            const opts = { trace: (): void => {} };
            let a: BpfInstance, b: BpfInstance;
            try {
              a = await instantiate(compiled.wasm, opts);
              b = await instantiate(compiled.wasm, opts);
            } catch {
              return; // needs host helpers or kfuncs
            }
            const batch = a.program(p.name).testBatch(frames, skbData ? { skbData } : {});
            // Every program of a compiled module loops inside Wasm: socket lookups and callx included.
            expect(batch.fastPath, p.name).toBe(true);
            const single = b.program(p.name);
            for (let i = 0; i < frames.length; i++) {
              let want: { retval: number; out?: string; err?: string; effects?: unknown };
              try {
                const { retval, dataOut, r0: _r0, durationNs: _ns, ...effects } = single.test({ dataIn: frames[i]!, ...(skbData ? { skbData } : {}) });
                want = { retval, out: hex(dataOut), effects };
              } catch (e) {
                if (!(e instanceof Bpf2WasmError)) throw e;
                want = { retval: 0, err: `${e.code} ${e.message}` };
              }
              const err = batch.errors.get(i);
              const got = err ? { retval: batch.retvals[i]!, err: `${err.code} ${err.message}` } : { retval: batch.retvals[i]!, out: hex(batch.dataOut(i)), effects: batch.effects(i) };
              expect(got, `${p.name} ${skbData ?? ''} frame ${i}`).toEqual(want);
            }
            expect(mapsOf(a), p.name).toBe(mapsOf(b));
          }
        }
      });
    }
  }
});

/** Frame by frame, `testBatch()` of `a` against `test()` of `b`: retval, output frame, effects, or the same error. */
function expectSameAsTest(a: BpfInstance, b: BpfInstance, program: string, input: readonly Uint8Array[]): BatchTestResult {
  const batch = a.program(program).testBatch(input);
  expect(batch.fastPath, program).toBe(true);
  const single = b.program(program);
  for (let i = 0; i < input.length; i++) {
    let want: { retval: number; out?: string; err?: string; effects?: unknown };
    try {
      const { retval, dataOut, r0: _r0, durationNs: _ns, ...effects } = single.test({ dataIn: input[i]! });
      want = { retval, out: hex(dataOut), effects };
    } catch (e) {
      if (!(e instanceof Bpf2WasmError)) throw e;
      want = { retval: 0, err: `${e.code} ${e.message}` };
    }
    const err = batch.errors.get(i);
    const got = err ? { retval: batch.retvals[i]!, err: `${err.code} ${err.message}` } : { retval: batch.retvals[i]!, out: hex(batch.dataOut(i)), effects: batch.effects(i) };
    expect(got, `${program} frame ${i}`).toEqual(want);
  }
  expect(mapsOf(a), program).toBe(mapsOf(b));
  return batch;
}

describe('socket lookups and callx modules in the batch loop', () => {
  // Each object with the host it needs and frames that find sockets (the probes), mixed with
  // the captures' frames (most find none; runts and multi-buffer frames go alone).
  const probes = SOCK_PROBES.map(sockFrame);
  const cases: { obj: string; net: HostNetwork; programs: string[]; input: Uint8Array[] }[] = [
    { obj: 'sk_lookup.o', net: SOCK_NET, programs: ['sk_probe', 'sk_probe_tc', 'syn_cookie'], input: [...probes, ...SYN_FRAMES.map((f) => f.data), ...frames, ...probes] },
    { obj: 'sk_state.o', net: STATE_NET, programs: ['sk_state'], input: [...STATE_PROBES.map((p) => p.frame), ...frames, ...STATE_PROBES.map((p) => p.frame)] },
  ];
  for (const optLevel of [0, 1] as const) {
    for (const c of cases) {
      it(`${c.obj} -O${optLevel}: every frame as test() gives it, sockets found and released per frame`, async () => {
        const { wasm } = await compileObject(new Uint8Array(readFileSync(path.join(dir, c.obj))), { optLevel });
        const a = await instantiate(wasm, { net: c.net, trace: () => {} });
        const b = await instantiate(wasm, { net: c.net, trace: () => {} });
        for (const p of c.programs) expectSameAsTest(a, b, p, c.input);
        // Not vacuous: the probes found sockets.
        if (c.obj === 'sk_lookup.o') {
          const r = a.program('sk_probe').testBatch(probes);
          expect(SOCK_PROBES.map((p, i) => r.dataOut(i)![ANSWER_AT] === 1)).toEqual(SOCK_PROBES.map((p) => p.finds >= 0));
        }
      }, 60_000);
    }

    it(`sk_leak.o -O${optLevel}: a frame that returns holding a reference fails alone, wherever it is in the batch`, async () => {
      const { wasm } = await compileObject(new Uint8Array(readFileSync(path.join(dir, 'sk_leak.o'))), { optLevel });
      const a = await instantiate(wasm, { net: SOCK_NET });
      const b = await instantiate(wasm, { net: SOCK_NET });
      // sk_leak finds the listener (and keeps it) on frames over 100 bytes: first, between
      // frames that find nothing, before a runt (which goes alone), twice in a row, and last.
      const short = new Uint8Array(60), long = new Uint8Array(120);
      const input = [long, short, long, new Uint8Array(5), long, long, short, ...frames, short, long];
      const r = expectSameAsTest(a, b, 'sk_leak', input);
      // Errors: the leaking frames (101 to 3712 bytes), runts, IP frames shorter than their header
      // and frames too long for an skb.
      const leaking = input.flatMap((f, i) => (f.length > 100 && f.length <= 3712 ? [i] : []));
      expect(leaking.length).toBeGreaterThan(8);
      expect([...r.errors.keys()].sort((x, y) => x - y)).toEqual(input.flatMap((f, i) => (f.length > 100 || f.length < 14 || shortIpHeader(f) ? [i] : [])));
      for (const i of leaking) expect(r.errors.get(i)!.location.helper, `frame ${i}`).toBe('bpf_sk_release');
      // The batches after keep no reference over: the same again gives the same.
      const again = a.program('sk_leak').testBatch(input);
      expect([...again.errors.keys()]).toEqual([...r.errors.keys()]);
    }, 60_000);

    it(`xdp_callx.o -O${optLevel}: helpers called by number, faults among them, loop inside Wasm`, async () => {
      const { wasm } = await compileObject(new Uint8Array(readFileSync(path.join(dir, 'xdp_callx.o'))), { optLevel });
      const a = await instantiate(wasm);
      const b = await instantiate(wasm);
      // The captures' frames pick every helper; the picks counted per frame are compared as maps.
      for (const p of ['xdp_callx', 'tc_callx']) {
        const r = expectSameAsTest(a, b, p, frames);
        expect(new Set(frames.map((f) => (f.length >= 14 ? (f[5]! + f.length) & 3 : -1))).size).toBe(5);
        expect([...r.errors.values()].some((e) => e.code === 'E_UNKNOWN_HELPER')).toBe(true);
        expect(frames.some((_, i) => r.effects(i).redirect !== undefined)).toBe(true);
      }
    }, 60_000);
  }
});

describe('batch path', () => {
  it('XDP and skb programs of compiled modules loop inside Wasm, effect-recording helpers included', async () => {
    const load = async (n: string): Promise<BpfInstance> =>
      instantiate((await compileObject(new Uint8Array(readFileSync(path.join(dir, n))))).wasm, { trace: () => {} });
    const counter = await load('xdp_counter.o');
    expect(counter.program(counter.programs[Symbol.iterator]().next().value!.name).testBatch(frames.slice(0, 3)).fastPath).toBe(true);
    const redirect = await load('xdp_redirect.o');
    for (const p of redirect.programs) {
      expect(p.testBatch(frames.slice(0, 3)).fastPath).toBe(true);
      expect(p.testBatch(frames.slice(0, 3), { perFrame: true }).fastPath).toBe(false);
    }
    const sock = await load('sock_syn.o');
    for (const p of sock.programs) expect(p.testBatch(frames.slice(0, 3), { skbData: 'mac' }).fastPath).toBe(true);
  });

  it('refuses runts per frame and keeps going; dataOut: false keeps no frames', async () => {
    const inst = await instantiate((await compileObject(new Uint8Array(readFileSync(path.join(dir, 'xdp_drop_icmp.o'))))).wasm);
    const p = [...inst.programs][0]!;
    const r = p.testBatch([frames[0]!, new Uint8Array(3), frames[1]!], { dataOut: false });
    expect(r.fastPath).toBe(true);
    expect([...r.errors.keys()]).toEqual([1]);
    expect(r.errors.get(1)!.code).toBe('E_TEST_RUN');
    expect(r.dataOut(0)).toBeUndefined();
    expect(r.retvals[0]).toBe(p.test({ dataIn: frames[0]! }).retval);
  });

  it('packed frames ({ data, lengths }) give what the array gives', async () => {
    const data = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) { data.set(f, at); at += f.length; }
    const lengths = Uint32Array.from(frames, (f) => f.length);
    for (const obj of ['xdp_vlan_strip.o', 'xdp_port_count.o', 'xdp_meta_trim.o']) {
      const wasm = (await compileObject(new Uint8Array(readFileSync(path.join(dir, obj))))).wasm;
      const a = await instantiate(wasm, { trace: () => {} });
      const b = await instantiate(wasm, { trace: () => {} });
      for (const p of a.programs) {
        const x = p.testBatch(frames);
        const y = b.program(p.name).testBatch({ data, lengths });
        expect(y.fastPath).toBe(x.fastPath);
        expect([...y.retvals]).toEqual([...x.retvals]);
        expect([...y.errors.keys()]).toEqual([...x.errors.keys()]);
        for (let i = 0; i < frames.length; i++) expect(hex(y.dataOut(i)), `${obj} frame ${i}`).toBe(hex(x.dataOut(i)));
      }
      expect(mapsOf(b)).toBe(mapsOf(a));
    }
    const inst = await instantiate((await compileObject(new Uint8Array(readFileSync(path.join(dir, 'xdp_drop_icmp.o'))))).wasm);
    expect(() => [...inst.programs][0]!.testBatch({ data: new Uint8Array(10), lengths: Uint32Array.of(20) })).toThrow(/add up to 20 bytes/);
  });

  it('rejects what is not a frame array', async () => {
    const inst = await instantiate((await compileObject(new Uint8Array(readFileSync(path.join(dir, 'xdp_drop_icmp.o'))))).wasm);
    const p = [...inst.programs][0]!;
    expect(() => p.testBatch('x' as unknown as Uint8Array[])).toThrow(Bpf2WasmError);
    expect(() => p.testBatch([new Uint8Array(20), 'x' as unknown as Uint8Array])).toThrow(/frame 1/);
    expect(() => p.testBatch([new Uint8Array(20)], { skbData: 'mac' })).toThrow(/skbData/);
  });
});

describe('a module compiled before the batch loop it carries (no __batch2 export)', () => {
  it('runs its batches frame by frame, with what the loop gives', async () => {
    for (const obj of ['xdp_port_count.o', 'tc_port_rewrite.o']) {
      const { wasm } = await compileObject(new Uint8Array(readFileSync(path.join(dir, obj))));
      // The export renamed as an older version named it (same length: the module stays valid).
      const bytes = new Uint8Array(wasm);
      const name = new TextEncoder().encode('__batch2');
      let renamed = 0;
      for (let i = 0; i + name.length <= bytes.length; i++) {
        if (name.every((b, k) => bytes[i + k] === b)) { bytes[i + name.length - 1] = 0x31; renamed++; }
      }
      expect(renamed, obj).toBeGreaterThan(0);
      const older = await instantiate(bytes);
      const current = await instantiate(wasm);
      const program = [...current.programs][0]!.name;
      const input = frames.slice(0, 40);
      const a = older.program(program).testBatch(input);
      const b = current.program(program).testBatch(input);
      expect([a.fastPath, b.fastPath], obj).toEqual([false, true]);
      expect([...a.retvals], obj).toEqual([...b.retvals]);
      for (let i = 0; i < input.length; i++) expect(hex(a.dataOut(i)), `${obj} frame ${i}`).toBe(hex(b.dataOut(i)));
      expect(mapsOf(older), obj).toBe(mapsOf(current));
    }
  });
});

describe('batch exports inside compiled modules', () => {
  // r0 = 0; r2 = 0xfffffff0; r0 = *(u64 *)(r2 + 0) (outside linear memory: a trap); then loads
  // through r1 (more code after the trap, so that a wrong offset in the instruction map names
  // another instruction); exit
  const code = new Uint8Array([
    0xb7, 0x00, 0, 0, 0, 0, 0, 0,
    0x18, 0x02, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
    0x79, 0x20, 0, 0, 0, 0, 0, 0,
    ...Array.from({ length: 24 }, (_, k) => [0x61, 0x13, k * 4, 0, 0, 0, 0, 0]).flat(),
    0x95, 0, 0, 0, 0, 0, 0, 0,
  ]);
  for (const optLevel of [0, 1] as const) {
    it(`XDP and skb programs get <export>__batch2; traps still name their instruction (-O${optLevel})`, async () => {
      const { wasm } = await compile(code, { optLevel, mapAllInstructions: true, entries: [{ name: 'x', pc: 0, type: 'xdp' }, { name: 's', pc: 0, type: 'tc' }, { name: 'r', pc: 0, type: 'raw' }] });
      const names = WebAssembly.Module.exports(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>)).map((e) => e.name);
      expect(names.filter((n) => n.includes('__batch')).sort()).toEqual(['s__batch2', 'x__batch2']);
      const inst = await instantiate(wasm);
      for (const p of ['x', 's', 'r']) {
        let err: unknown;
        try {
          inst.program(p).test(p === 'r' ? {} : { dataIn: frames[0]! });
        } catch (e) {
          err = e;
        }
        expect(err, p).toBeInstanceOf(Bpf2WasmError);
        expect((err as Bpf2WasmError).location.insn, p).toBe(3);
      }
      const r = inst.program('x').testBatch([frames[0]!, frames[1]!]);
      expect(r.fastPath).toBe(true);
      expect([...r.errors.keys()]).toEqual([0, 1]);
      expect(r.errors.get(1)!.location.insn).toBe(3);
    });
  }
});

describe('long batches', () => {
  // 20,000 frames cycling through the captures' frames (runts, jumbo and multi-buffer frames
  // among them): several chunks of lengths, bytes and output frames, and frames the loop hands
  // back to the caller in the middle of chunks.
  const many = Array.from({ length: 20_000 }, (_, i) => frames[(i * 7) % frames.length]!);
  const packedMany = (): { data: Uint8Array; lengths: Uint32Array } => {
    const data = new Uint8Array(many.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of many) { data.set(f, at); at += f.length; }
    return { data, lengths: Uint32Array.from(many, (f) => f.length) };
  };
  for (const [obj, program, skbData] of [['xdp_vlan_strip.o', undefined, undefined], ['tc_port_rewrite.o', undefined, undefined], ['sock_syn.o', 'syn_net', 'network'], ['sock_syn.o', 'syn_mac', 'mac']] as const) {
    it(`${obj}${program ? ` ${program}` : ''}: packed and array batches equal the per-frame path`, async () => {
      const wasm = (await compileObject(new Uint8Array(readFileSync(path.join(dir, obj))))).wasm;
      const opts = skbData ? { skbData } : {};
      const runs = await Promise.all([0, 1, 2].map(() => instantiate(wasm, { trace: () => {} })));
      const name = program ?? [...runs[0]!.programs][0]!.name;
      const slow = runs[0]!.program(name).testBatch(many, { ...opts, perFrame: true });
      const fastArray = runs[1]!.program(name).testBatch(many, opts);
      const fastPacked = runs[2]!.program(name).testBatch(packedMany(), opts);
      expect(slow.fastPath).toBe(false);
      for (const fast of [fastArray, fastPacked]) {
        expect(fast.fastPath).toBe(true);
        expect([...fast.errors.keys()]).toEqual([...slow.errors.keys()]);
        expect(Buffer.from(fast.retvals.buffer).equals(Buffer.from(slow.retvals.buffer))).toBe(true);
        for (let i = 0; i < many.length; i++) {
          const a = fast.dataOut(i), b = slow.dataOut(i);
          if (a === undefined || b === undefined ? a !== b : !Buffer.from(a).equals(Buffer.from(b))) expect(hex(a), `frame ${i}`).toBe(hex(b));
        }
      }
      expect(mapsOf(runs[1]!)).toBe(mapsOf(runs[0]!));
      expect(mapsOf(runs[2]!)).toBe(mapsOf(runs[0]!));
      expect(slow.errors.size).toBeGreaterThan(0);
      // Not vacuous: the verdicts differ, or the program rewrote frames.
      expect(new Set(slow.retvals).size > 1 || many.some((f, i) => !slow.errors.has(i) && hex(slow.dataOut(i)) !== hex(f))).toBe(true);
    }, 60_000);
  }
});
