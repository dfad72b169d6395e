/**
 * `run IN --pcap CAPTURE`: runs a packet program of an object (or a classic filter from
 * `tcpdump -dd`/`-ddd` text) over every frame of a capture, read as a stream, as the kernel's
 * test run runs it (the batch path: runtime/packet/batch.ts), and reports the verdict table (or
 * with --json one object per frame), trace output, ring/perf records and the maps; --out writes
 * the kept frames as the program left them.
 */
import { Bpf2WasmError } from '../../runtime/errors.js';
import { readCapture, requireEthernet, runClassicBatch, PcapWriter, concatBytes, type CaptureFrame } from '../../runtime/capture/index.js';
import type { BpfInstance, BpfProgram } from '../../runtime/program.js';
import { instantiate } from '../../runtime/instance.js';
import { mapInfo } from '../../runtime/maps/api.js';
import { MapType, TcAction, XdpAction } from '../../runtime/uapi/index.js';
import { classicToEbpf } from '../cbpf/index.js';
import { instantiateBytecode } from '../load.js';
import { compileObject } from '../object/compile-object.js';
import { compileOptions, UsageError, type Parsed } from './args.js';
import type { CliIO } from './io.js';
import { netState } from './net.js';
import { firstEntries, hexBytes, jsonReplacer, mapJson, mapText } from './print.js';

/** Frames run per batch call (and held in memory at once, without --repeat). */
const CHUNK = 4096;

/** The name of a verdict: XDP and tc actions by name, socket and classic filters keep or drop. */
function verdictName(kind: string, retval: number): string {
  if (kind === 'xdp') {
    const n = Object.entries(XdpAction).find(([, v]) => v === retval)?.[0];
    return n ? n.toLowerCase() : `retval ${retval}`;
  }
  if (kind === 'socket' || kind === 'classic') return retval === 0 ? 'drop' : 'keep';
  if (kind === 'tc' || kind === 'tc_action') {
    const n = Object.entries(TcAction).find(([, v]) => v >>> 0 === retval)?.[0];
    return n ? n.toLowerCase() : `retval ${retval}`;
  }
  return `retval ${retval}`;
}

/** The verdicts --out keeps unless --keep says. */
function defaultKeep(kind: string): string[] {
  if (kind === 'xdp') return ['pass', 'tx'];
  if (kind === 'socket' || kind === 'classic') return ['keep'];
  if (kind === 'tc' || kind === 'tc_action') return ['ok', 'unspec', 'pipe'];
  return [];
}

/** One frame's outcome. */
interface FrameResult {
  index: number;
  retval: number;
  dataOut?: Uint8Array;
  error?: Bpf2WasmError;
}

/** Runs frames through the program: the object's batch path, or the classic filter's. */
interface Runner {
  kind: string;
  run(frames: readonly CaptureFrame[]): { results: FrameResult[]; durationNs: number };
  /** Bytes written by --out for a kept frame. */
  output(frame: CaptureFrame, r: FrameResult): Uint8Array;
}

function objectRunner(handle: BpfProgram, p: Parsed): Runner {
  const kind = handle.type;
  if (!['xdp', 'socket', 'tc', 'tc_action', 'cgroup_skb', 'lwt'].includes(kind)) {
    throw new UsageError(`--pcap runs packet programs; ${handle.name} is of type ${kind}`);
  }
  // The output frames are read back only when they are shown (--json) or written (--out).
  const dataOut = p.json || (p.pcapOut !== undefined && kind !== 'socket');
  const opts = kind === 'socket' ? { skbData: p.skbData, dataOut } : { dataOut };
  return {
    kind,
    run(frames) {
      const r = handle.testBatch(frames.map((f) => f.data), opts);
      const results: FrameResult[] = frames.map((f, i) => {
        const error = r.errors.get(i);
        if (error) return { index: f.index, retval: 0, error };
        const out = dataOut ? r.dataOut(i) : undefined;
        return out ? { index: f.index, retval: r.retvals[i]!, dataOut: out } : { index: f.index, retval: r.retvals[i]! };
      });
      return { results, durationNs: r.durationNs };
    },
    output(frame, r) {
      if (kind !== 'socket') return r.dataOut ?? frame.data;
      // A socket filter keeps retval bytes from where its packet starts.
      const start = p.skbData === 'network' ? 14 : 0;
      return frame.data.slice(0, Math.min(frame.data.length, start + r.retval));
    },
  };
}

function classicRunner(inst: BpfInstance, io: CliIO): Runner {
  return {
    kind: 'classic',
    run(frames) {
      const t0 = io.now();
      const retvals = runClassicBatch(inst, frames);
      const results = frames.map((f, i): FrameResult => ({ index: f.index, retval: retvals[i]! }));
      return { results, durationNs: frames.length ? (io.now() - t0) / frames.length : 0 };
    },
    output(frame, r) {
      return frame.data.slice(0, Math.min(frame.data.length, r.retval));
    },
  };
}

/** `run OBJ --program NAME --pcap IN` (object) or `run FILTER.txt --pcap IN` (classic text). */
export async function runPcap(p: Parsed, input: { object?: Uint8Array; classic?: string }, io: CliIO): Promise<number> {
  if (p.engine === 'interpreter' && input.object) {
    throw new UsageError('objects run on the compiled engine only (their maps are Wasm code); drop --engine interpreter');
  }
  const trace: string[] = [];
  const records: { map: string; kind: 'ringbuf' | 'perf'; data: Uint8Array }[] = [];
  let inst: BpfInstance;
  let runner: Runner;
  let program: string;
  let makeRepeat: () => Promise<Runner>;
  if (input.object) {
    const compiled = await compileObject(input.object, compileOptions(p));
    const host = await netState(p, io);
    inst = await instantiate(compiled.wasm, { trace: (line) => { trace.push(line); }, ...host.options });
    host.fill(inst);
    const entry = p.program === undefined ? compiled.manifest.programs[0]! : compiled.manifest.programs.find((e) => e.name === p.program || e.section === p.program)!;
    program = entry.name;
    runner = objectRunner(inst.program(program), p);
    for (const m of inst.maps.values()) {
      if (m.type === MapType.RINGBUF) inst.ringbuf(m.name).onRecord((d) => { records.push({ map: m.name, kind: 'ringbuf', data: d.slice() }); });
      if (m.type === MapType.PERF_EVENT_ARRAY) inst.perfbuf(m.name).onRecord((d) => { records.push({ map: m.name, kind: 'perf', data: d.slice() }); });
    }
    makeRepeat = async () => {
      const again = await instantiate(compiled.wasm, { trace: () => {}, ...host.options });
      host.fill(again);
      return objectRunner(again.program(program), p);
    };
  } else {
    const cls = classicToEbpf(input.classic!);
    const opts = { ...compileOptions(p), engine: p.engine, helpers: [] };
    inst = await instantiateBytecode(cls.bytecode, opts);
    program = 'classic';
    runner = classicRunner(inst, io);
    makeRepeat = async () => classicRunner(await instantiateBytecode(cls.bytecode, opts), io);
  }
  const keep = new Set(p.keep ?? defaultKeep(runner.kind));
  const drain = (): void => {
    for (const m of inst.maps.values()) {
      if (m.type === MapType.RINGBUF) inst.ringbuf(m.name).consume();
      if (m.type === MapType.PERF_EVENT_ARRAY) inst.perfbuf(m.name).consume();
    }
  };

  const verdicts = new Map<string, number>();
  const packets: Record<string, unknown>[] = [];
  // --out: the kept frames of each chunk are written before the next chunk is read.
  if (p.pcapOut !== undefined && p.pcapOut === p.pcap) throw new UsageError('--out would overwrite the capture being read: give another file');
  const sink = p.pcapOut === undefined ? undefined : await outputSink(io, p.pcapOut);
  const out: Uint8Array[] = [];
  const writer = new PcapWriter();
  if (sink) out.push(writer.header());
  const all: CaptureFrame[] = [];
  let frameCount = 0;
  let refused = 0;
  let runNs = 0;
  let lastProgress = io.now();
  const t0 = io.now();
  const progress = (): void => {
    if (!io.stderrIsTTY) return;
    const now = io.now();
    if (now - lastProgress < 250e6) return;
    lastProgress = now;
    const secs = (now - t0) / 1e9;
    io.stderr(`\r${frameCount} frames, ${Math.round(frameCount / secs)} frames/s `);
  };
  const flush = async (chunk: CaptureFrame[]): Promise<void> => {
    if (chunk.length === 0) return;
    const { results, durationNs } = runner.run(chunk);
    runNs += durationNs * chunk.length;
    drain();
    for (let i = 0; i < chunk.length; i++) {
      const f = chunk[i]!;
      const r = results[i]!;
      frameCount++;
      if (r.error) {
        refused++;
        if (p.json) packets.push({ index: f.index, retval: 0, error: { code: r.error.code, message: r.error.message } });
        continue;
      }
      const v = verdictName(runner.kind, r.retval);
      verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
      if (p.json) {
        const pk: Record<string, unknown> = { index: f.index, retval: r.retval };
        if (r.dataOut && !sameBytes(r.dataOut, f.data)) pk.data_out = r.dataOut;
        packets.push(pk);
      }
      if (sink && keep.has(v)) {
        const data = runner.output(f, r);
        out.push(writer.record({ timestampNs: f.timestampNs, data, originalLength: Math.max(data.length, f.originalLength - f.data.length + data.length) }));
      }
    }
    if (sink && out.length > 0) await sink.write(out.splice(0));
    progress();
  };

  let error: Bpf2WasmError | undefined;
  let chunk: CaptureFrame[] = [];
  try {
    try {
      for await (const frame of readCapture(io.readStream ? io.readStream(p.pcap!) : await io.readFile(p.pcap!))) {
        requireEthernet(frame);
        chunk.push(frame);
        if (p.repeat > 0) all.push(frame);
        if (chunk.length >= CHUNK) {
          await flush(chunk);
          chunk = [];
        }
      }
    } catch (e) {
      if (!(e instanceof Bpf2WasmError)) throw e;
      error = e;
    }
    await flush(chunk);
  } finally {
    await sink?.close();
  }
  if (io.stderrIsTTY && frameCount >= CHUNK) io.stderr('\n');
  const wallNs = io.now() - t0;

  let nsPerPacket: number | undefined;
  if (p.repeat > 0 && !error && all.length > 0) {
    const r = await makeRepeat();
    const samples: number[] = [];
    for (let k = 0; k < p.repeat; k++) {
      let total = 0;
      for (let i = 0; i < all.length; i += CHUNK) {
        const part = all.slice(i, i + CHUNK);
        total += r.run(part).durationNs * part.length;
      }
      samples.push(total / all.length);
    }
    samples.sort((a, b) => a - b);
    nsPerPacket = samples[samples.length >> 1]!;
  }

  const maps = [...inst.maps.values()].filter((m) => m.type !== MapType.PERF_EVENT_ARRAY && m.type !== MapType.RINGBUF && !(mapInfo(m).poolOf !== undefined && firstEntries(m, 1).length === 0));
  const run = frameCount - refused;
  const pps = runNs > 0 ? (run * 1e9) / runNs : 0;
  if (p.json) {
    const obj: Record<string, unknown> = {
      program, packets, verdicts: Object.fromEntries(verdicts),
      trace, records: records.map((r) => ({ map: r.map, kind: r.kind, data: r.data })),
      maps: Object.fromEntries(maps.map((m) => [m.name, mapJson(m)])),
    };
    if (nsPerPacket !== undefined) {
      obj.repeat = p.repeat;
      obj.nsPerPacket = nsPerPacket;
      obj.packetsPerSecond = 1e9 / nsPerPacket;
    }
    if (error) obj.error = { code: error.code, message: error.message, ...error.location };
    io.stdout(JSON.stringify(obj, jsonReplacer) + '\n');
  } else {
    const lines: string[] = [`${program}: ${frameCount} frames${refused ? ` (${refused} refused)` : ''}, ${Math.round(pps)} frames/s in the program (${(wallNs / 1e6).toFixed(1)} ms in all)`];
    const width = Math.max(8, ...[...verdicts.keys()].map((k) => k.length));
    for (const [v, n] of [...verdicts].sort((a, b) => b[1] - a[1])) lines.push(`  ${v.padEnd(width)} ${String(n).padStart(10)}`);
    if (refused) lines.push(`  ${'refused'.padEnd(width)} ${String(refused).padStart(10)}`);
    if (trace.length > 0) lines.push('trace:', ...trace.map((t) => '  ' + t));
    for (const r of records) lines.push(`${r.kind} ${r.map}: ${hexBytes(r.data)}`);
    for (const m of maps) lines.push(...mapText(m));
    if (nsPerPacket !== undefined) lines.push(`repeat ${p.repeat}: median ${nsPerPacket.toFixed(1)} ns per frame (${Math.round(1e9 / nsPerPacket)} frames/s)`);
    io.stdout(lines.join('\n') + '\n');
    if (p.repeat > 0 && error) io.stderr('bpf2wasm: --repeat skipped: the capture is not whole\n');
  }
  if (error) {
    io.stderr(`bpf2wasm: ${p.pcap}: ${error.message}\n`);
    return 1;
  }
  return 0;
}

/** Where --out's bytes go: to the file as they come (io.writeStream), or collected and written at the end. */
async function outputSink(io: CliIO, path: string): Promise<{ write(parts: Uint8Array[]): Promise<void>; close(): Promise<void> }> {
  if (io.writeStream) {
    const file = await io.writeStream(path);
    return { write: (parts) => file.write(concatBytes(parts)), close: () => file.close() };
  }
  const all: Uint8Array[] = [];
  return { write: async (parts) => { all.push(...parts); }, close: () => io.writeFile(path, concatBytes(all)) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

