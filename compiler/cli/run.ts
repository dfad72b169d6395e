/**
 * `run`: runs raw bytecode or one program of an object and reports r0 (and, for objects, trace
 * output, ring/perf buffer records and every map), timing --repeat runs.
 */
import type { HelperDefinition } from '../../runtime/helper-registry.js';
import type { BpfInstance, TestRunResult } from '../../runtime/program.js';
import { instantiateBytecode } from '../load.js';
import { compileObject, planObject } from '../object/compile-object.js';
import { interpretModule } from '../../runtime/interpreter.js';
import type { Manifest } from '../../runtime/abi.js';
import { instantiate } from '../../runtime/instance.js';
import type { PerfEventArray } from '../../runtime/stdlib/perf.js';
import type { RingBuffer } from '../../runtime/stdlib/ringbuf.js';
import { mapInfo } from '../../runtime/maps/api.js';
import { MapType } from '../../runtime/uapi/index.js';
import type { CliIO } from './io.js';
import { compileOptions, UsageError, type Parsed } from './args.js';
import { netState } from './net.js';
import type { LoadedInput } from './sniff.js';
import { firstEntries, hex64, hexBytes, jsonReplacer, mapJson, mapText } from './print.js';
import { effectLines, effectsJson } from './effects.js';

/** Context size given to object programs run without --mem / --packet: zeroes. */
const DEFAULT_CONTEXT = 256;

/**
 * `run OBJ`: compiles every program of the object (so tail calls find their targets), runs one,
 * and reports r0, trace output, ring/perf buffer records and the maps afterwards.
 */
export async function runObject(p: Parsed, object: Uint8Array, io: CliIO): Promise<number> {
  const trace: string[] = [];
  // Output is kept for the first run only (--repeat would pile it up).
  let collecting = true;
  const host = await netState(p, io);
  const sink = { trace: (line: string): void => { if (collecting) trace.push(line); }, ...host.options };
  let compiled: { manifest: Manifest };
  let inst: BpfInstance;
  if (p.engine === 'interpreter') {
    // The object planned as compileObject plans it, run on the interpreter.
    const planned = planObject(object, compileOptions(p));
    compiled = planned;
    inst = await interpretModule(planned.image, sink);
  } else {
    const c = await compileObject(object, compileOptions(p));
    compiled = c;
    inst = await instantiate(c.wasm, sink);
  }
  host.fill(inst);
  const program = p.program === undefined
    ? compiled.manifest.programs[0]!.name
    : compiled.manifest.programs.find((e) => e.name === p.program || e.section === p.program)!.name;
  const records: { map: string; kind: 'ringbuf' | 'perf'; data: Uint8Array }[] = [];
  const ringbufs = new Map<string, RingBuffer>();
  const perfs = new Map<string, PerfEventArray>();
  for (const m of inst.maps.values()) {
    if (m.type === MapType.RINGBUF) ringbufs.set(m.name, inst.ringbuf(m.name));
    if (m.type === MapType.PERF_EVENT_ARRAY) perfs.set(m.name, inst.perfbuf(m.name));
  }
  for (const [name, rb] of ringbufs) rb.onRecord((data) => { if (collecting) records.push({ map: name, kind: 'ringbuf', data: data.slice() }); });
  for (const [name, pb] of perfs) pb.onRecord((data) => { if (collecting) records.push({ map: name, kind: 'perf', data: data.slice() }); });

  let result: bigint;
  let packetOut: Uint8Array | undefined;
  let effects: TestRunResult | undefined;
  let timeBatch: (n: number) => number;
  if (p.packet !== undefined) {
    const packet = await io.readFile(p.packet);
    const handle = inst.program(program);
    const opts = { dataIn: packet, ...(handle.type === 'socket' ? { skbData: p.skbData } : {}) };
    const r = handle.test(opts);
    result = r.r0;
    packetOut = r.dataOut;
    effects = r;
    // As BPF_PROG_TEST_RUN: test() places the packet once per batch and times only the runs.
    timeBatch = (n) => handle.test({ ...opts, repeat: n }).durationNs;
  } else {
    const ctx = p.mem !== undefined ? await io.readFile(p.mem) : new Uint8Array(DEFAULT_CONTEXT);
    result = inst.program(program).run(ctx);
    timeBatch = inPlaceBatch(inst, program, ctx, io);
  }
  for (const rb of ringbufs.values()) rb.consume();
  for (const pb of perfs.values()) pb.consume();
  const firstRun = { trace: [...trace], records: [...records] };
  collecting = false;
  let medianNs: number | undefined;
  if (p.repeat > 0) medianNs = medianRunNs(timeBatch, p.repeat, () => {
    for (const rb of ringbufs.values()) rb.consume();
    for (const pb of perfs.values()) pb.consume();
  });

  // Ring/perf buffers print as records; unused inner maps laid out in advance are left out.
  const maps = [...inst.maps.values()].filter((m) => m.type !== MapType.PERF_EVENT_ARRAY && m.type !== MapType.RINGBUF && !(mapInfo(m).poolOf !== undefined && firstEntries(m, 1).length === 0));
  if (p.json) {
    const out: Record<string, unknown> = {
      program,
      result: hex64(result),
      trace: firstRun.trace,
      // A record's type is the program's business (the map declares none): its bytes, in hex.
      records: firstRun.records.map((r) => ({ map: r.map, kind: r.kind, data: r.data })),
      maps: Object.fromEntries(maps.map((m) => [m.name, mapJson(m)])),
    };
    if (packetOut) out.packet = packetOut;
    if (effects) Object.assign(out, effectsJson(effects));
    if (medianNs !== undefined) {
      out.repeat = p.repeat;
      out.medianNs = medianNs;
    }
    io.stdout(JSON.stringify(out, jsonReplacer) + '\n');
    return 0;
  }
  const lines: string[] = [`${program}: r0 = ${hex64(result)} (${BigInt.asIntN(64, result)})`];
  if (effects) lines.push(...effectLines(effects));
  if (firstRun.trace.length > 0) lines.push('trace:', ...firstRun.trace.map((t) => '  ' + t));
  for (const r of firstRun.records) lines.push(`${r.kind} ${r.map}: ${hexBytes(r.data)}`);
  for (const m of maps) lines.push(...mapText(m));
  if (medianNs !== undefined) lines.push(`repeat ${p.repeat}: median ${medianNs.toFixed(1)} ns per run`);
  io.stdout(lines.join('\n') + '\n');
  return 0;
}


/** `run` of raw bytecode (a program without an object): prints r0, and the median time with --repeat. */
export async function runCommand(p: Parsed, input: LoadedInput, io: CliIO): Promise<number> {
  const helpers: HelperDefinition[] = [];
  const inst = await instantiateBytecode(input.bytecode, { ...compileOptions(p), engine: p.engine, helpers });
  const mem = p.mem !== undefined ? await io.readFile(p.mem) : input.mem;
  const result = inst.program().run(mem);
  let medianNs: number | undefined;
  if (p.repeat > 0) medianNs = medianRunNs(inPlaceBatch(inst, undefined, mem, io), p.repeat);
  if (p.json) {
    const out: Record<string, unknown> = { result: hex64(result) };
    if (medianNs !== undefined) {
      out.repeat = p.repeat;
      out.medianNs = medianNs;
    }
    io.stdout(JSON.stringify(out) + '\n');
  } else {
    io.stdout(hex64(result) + '\n');
    if (medianNs !== undefined) io.stdout(`repeat ${p.repeat}: median ${medianNs.toFixed(1)} ns per run\n`);
  }
  return 0;
}

/**
 * A batch timer for `n` runs on `mem`, copied into the instance's input memory once (not timed),
 * as BPF_PROG_TEST_RUN copies its data once and times the repeated runs; each run sees what the
 * previous one left, as in the kernel. The runs loop inside Wasm (`runInPlace(len, n)`: the
 * module's repeat loop), as the kernel's loop runs inside the kernel. Returns ns per run.
 */
function inPlaceBatch(inst: BpfInstance, name: string | undefined, mem: Uint8Array | undefined, io: CliIO): (n: number) => number {
  const len = mem ? mem.length : 0;
  const program = inst.program(name);
  if (mem) inst.dataView(len).set(mem);
  return (n) => {
    const t0 = io.now();
    program.runInPlace(len, n);
    return (io.now() - t0) / n;
  };
}

/** The median ns per run over `repeat` runs in up to 31 batches timed by `batch`; `between` runs after each batch. */
function medianRunNs(batch: (n: number) => number, repeat: number, between?: () => void): number {
  const batches = Math.min(31, repeat);
  const per = Math.floor(repeat / batches);
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const n = b === batches - 1 ? repeat - per * (batches - 1) : per;
    samples.push(batch(n));
    between?.();
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}
