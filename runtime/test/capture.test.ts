/**
 * Capture files in and out: the project's captures, round trips through the writers in both byte
 * orders and both timestamp precisions, streaming in arbitrary chunks, tcpdump as a second reader
 * (and converter), every kind of corruption with its reason, frame index and offset after the
 * frames before it, and random mutations (typed error or frames, never a crash or a hang).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CaptureError, PcapWriter, PcapngWriter, concatBytes, readCapture, readCaptureSync, runClassicFilter, writePcap,
  LinkType, type CaptureFrame,
} from '../capture/index.js';
import { Bpf2WasmError, ErrorCode } from '../errors.js';
import { interpret } from '../interpreter.js';
import { FRAMES } from '../../scripts/captures/build.js';
import { canRun } from '../../test/support/tools.js';

const CAPTURES = fileURLToPath(new URL('../../test-programs/captures/', import.meta.url));
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(CAPTURES + name));

interface Outcome {
  frames: CaptureFrame[];
  error?: unknown;
}

function readAll(bytes: Uint8Array): Outcome {
  const frames: CaptureFrame[] = [];
  try {
    for (const f of readCaptureSync(bytes)) frames.push(f);
    return { frames };
  } catch (error) {
    return { frames, error };
  }
}

async function readAllAsync(source: Parameters<typeof readCapture>[0]): Promise<Outcome> {
  const frames: CaptureFrame[] = [];
  try {
    for await (const f of readCapture(source)) frames.push(f);
    return { frames };
  } catch (error) {
    return { frames, error };
  }
}

async function* chunked(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let o = 0;
  let i = 0;
  while (o < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    yield bytes.slice(o, o + n);
    o += n;
  }
}

const expected = FRAMES.map((f) => ({ data: f.wire.subarray(0, f.caplen ?? f.wire.length), originalLength: f.wire.length }));
const BASE_NS = 1_700_000_000_000_000_000n;
const tsNs = (i: number): bigint => BASE_NS + BigInt(i) * 1_000_123_457n;

function expectFrames(frames: readonly CaptureFrame[]): void {
  expect(frames.length).toBe(expected.length);
  frames.forEach((f, i) => {
    expect(f.index).toBe(i);
    expect(f.data).toEqual(expected[i]!.data);
    expect(f.originalLength).toBe(expected[i]!.originalLength);
    expect(f.interface.linkType).toBe(LinkType.ETHERNET);
  });
}

function expectCaptureError(out: Outcome, reason: string, frame: number, offset: number, framesBefore = frame): void {
  expect(out.error, 'an error').toBeInstanceOf(CaptureError);
  const e = out.error as CaptureError;
  expect(e.code).toBe(ErrorCode.BadCapture);
  expect(e.reason).toBe(reason);
  expect(e.location).toEqual({ frame, offset });
  expect(out.frames.length).toBe(framesBefore);
}

describe('the project captures', () => {
  it('frames.pcap: microsecond, little-endian', () => {
    const frames = [...readCaptureSync(read('frames.pcap'))];
    expectFrames(frames);
    frames.forEach((f, i) => expect(f.timestampNs).toBe((tsNs(i) / 1000n) * 1000n));
    expect(frames[0]!.interface.tsUnitsPerSecond).toBe(1_000_000n);
    expect(frames[0]!.offset).toBe(24);
    expect(frames[1]!.offset).toBe(24 + 16 + frames[0]!.data.length);
  });

  it('frames-ns-be.pcap: nanosecond, big-endian', () => {
    const frames = [...readCaptureSync(read('frames-ns-be.pcap'))];
    expectFrames(frames);
    frames.forEach((f, i) => expect(f.timestampNs).toBe(tsNs(i)));
  });

  it('frames.pcapng: one interface with its name', () => {
    const frames = [...readCaptureSync(read('frames.pcapng'))];
    expectFrames(frames);
    expect(frames[0]!.interface.name).toBe('eth0');
    frames.forEach((f, i) => expect(f.timestampNs).toBe((tsNs(i) / 1000n) * 1000n));
  });

  it('frames-be.pcapng: big-endian, two interfaces with if_tsresol, an unknown block, a second section with simple packet blocks', () => {
    const frames = [...readCaptureSync(read('frames-be.pcapng'))];
    expectFrames(frames);
    const half = Math.ceil(frames.length / 2);
    expect(frames.slice(0, half).map((f) => f.interface.name)).toEqual(frames.slice(0, half).map((_, i) => (i % 2 ? 'eth1' : 'eth0')));
    expect(frames[1]!.interface.tsUnitsPerSecond).toBe(1n << 20n);
    expect(frames[0]!.timestampNs).toBe(tsNs(0));
    // 2^-20 s units: the fraction is truncated to those units, then scaled to nanoseconds (as libpcap does).
    const t = tsNs(1);
    const units = (t / 1_000_000_000n) * (1n << 20n) + ((t % 1_000_000_000n) << 20n) / 1_000_000_000n;
    expect(frames[1]!.timestampNs).toBe((units >> 20n) * 1_000_000_000n + ((units & ((1n << 20n) - 1n)) * 1_000_000_000n) / (1n << 20n));
    const second = frames.slice(half);
    expect(second.every((f) => f.interface.section === 1 && f.interface.name === 'eth2')).toBe(true);
    expect(second.some((f) => f.timestampNs === 0n)).toBe(true); // simple packet blocks carry no timestamp
  });

  it('a stream in chunks of any size gives the same frames, in constant chunks', async () => {
    for (const name of ['frames.pcap', 'frames-be.pcapng']) {
      const bytes = read(name);
      const whole = [...readCaptureSync(bytes)];
      for (const sizes of [[1], [7], [3, 5000, 1, 64], [1 << 20]]) {
        const out = await readAllAsync(chunked(bytes, sizes));
        expect(out.error).toBeUndefined();
        expect(out.frames).toEqual(whole);
      }
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let o = 0; o < bytes.length; o += 100) c.enqueue(bytes.slice(o, o + 100));
          c.close();
        },
      });
      expect((await readAllAsync(stream)).frames).toEqual(whole);
    }
  });

  it('a long capture generated on the fly streams through (100,000 frames)', async () => {
    const w = new PcapWriter();
    const frame = expected[0]!.data;
    async function* gen(): AsyncGenerator<Uint8Array> {
      yield w.header();
      for (let i = 0; i < 100_000; i++) yield w.record({ timestampNs: BigInt(i) * 1000n, data: frame });
    }
    let n = 0;
    for await (const f of readCapture(gen())) {
      if (f.index !== n++) throw new Error('out of order');
    }
    expect(n).toBe(100_000);
  });
});

describe('writers', () => {
  const frames = FRAMES.map((f, i) => ({ timestampNs: tsNs(i), data: f.wire.subarray(0, f.caplen ?? f.wire.length), originalLength: f.wire.length }));

  for (const bigEndian of [false, true]) {
    for (const nanosecond of [false, true]) {
      it(`pcap round trip (${bigEndian ? 'big' : 'little'}-endian, ${nanosecond ? 'nano' : 'micro'}seconds)`, () => {
        const bytes = writePcap(frames, { bigEndian, nanosecond, snapLen: 65535 });
        const back = [...readCaptureSync(bytes)];
        expectFrames(back);
        back.forEach((f, i) => expect(f.timestampNs).toBe(nanosecond ? tsNs(i) : (tsNs(i) / 1000n) * 1000n));
        expect(back[0]!.interface.snapLen).toBe(65535);
      });
    }
    it(`pcapng round trip (${bigEndian ? 'big' : 'little'}-endian, nanosecond interface)`, () => {
      const w = new PcapngWriter({ bigEndian });
      const bytes = concatBytes([w.sectionHeader(), w.interfaceDescription({ tsResolution: 9, name: 'x' }), ...frames.map((f) => w.enhancedPacket(0, f))]);
      const back = [...readCaptureSync(bytes)];
      expectFrames(back);
      back.forEach((f, i) => expect(f.timestampNs).toBe(tsNs(i)));
    });
  }

  it('refuses timestamps and lengths a pcap record cannot hold', () => {
    const w = new PcapWriter();
    expect(() => w.record({ timestampNs: -1n, data: new Uint8Array(1) })).toThrow(Bpf2WasmError);
    expect(() => w.record({ timestampNs: 1n << 62n, data: new Uint8Array(1) })).toThrow(Bpf2WasmError);
    expect(() => w.record({ timestampNs: 0n, data: new Uint8Array(1), originalLength: -1 })).toThrow(Bpf2WasmError);
  });
});

const TCPDUMP = canRun('tcpdump');
if (!TCPDUMP) console.warn('capture.test.ts: tcpdump is not installed; reading and converting with it is skipped');

describe.skipIf(!TCPDUMP)('tcpdump as a second reader', () => {
  for (const name of ['frames.pcap', 'frames-ns-be.pcap', 'frames.pcapng', 'frames-be.pcapng']) {
    it(`${name}: tcpdump -r converts it to a pcap file with the frames bpf2wasm reads`, () => {
      const out = execFileSync('tcpdump', ['-r', CAPTURES + name, '--nano', '-w', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const theirs = [...readCaptureSync(new Uint8Array(out))];
      const ours = [...readCaptureSync(read(name))];
      expect(theirs.map((f) => [f.timestampNs, f.originalLength, Buffer.from(f.data).toString('hex')]))
        .toEqual(ours.map((f) => [f.timestampNs, f.originalLength, Buffer.from(f.data).toString('hex')]));
    });
  }
});

// ---- corruption, kind by kind ------------------------------------------------------------------

const pcap = read('frames.pcap');
const f0 = 24;
const f1 = f0 + 16 + expected[0]!.data.length;
const f2 = f1 + 16 + expected[1]!.data.length;

function patch(bytes: Uint8Array, at: number, values: number[] | { u32: number; le?: boolean } | { u16: number; le?: boolean }): Uint8Array {
  const b = Uint8Array.from(bytes);
  const dv = new DataView(b.buffer);
  if (Array.isArray(values)) b.set(values, at);
  else if ('u32' in values) dv.setUint32(at, values.u32, values.le ?? true);
  else dv.setUint16(at, values.u16, values.le ?? true);
  return b;
}

describe('corrupt pcap files', () => {
  it('bad magic', () => expectCaptureError(readAll(patch(pcap, 0, [1, 2, 3, 4])), 'bad-magic', 0, 0));
  it('bad version', () => {
    expectCaptureError(readAll(patch(pcap, 4, { u16: 1 })), 'bad-version', 0, 4);
    expectCaptureError(readAll(patch(pcap, 6, { u16: 5 })), 'bad-version', 0, 4);
  });
  it('file header cut short', () => {
    expectCaptureError(readAll(pcap.subarray(0, 10)), 'truncated-file-header', 0, 0);
    expectCaptureError(readAll(pcap.subarray(0, 3)), 'truncated-file-header', 0, 0);
    expectCaptureError(readAll(new Uint8Array(0)), 'truncated-file-header', 0, 0);
  });
  it('record header cut short, after the frames before it', () => expectCaptureError(readAll(pcap.subarray(0, f2 + 5)), 'truncated-record-header', 2, f2));
  it('frame cut short', () => expectCaptureError(readAll(pcap.subarray(0, f2 + 16 + 3)), 'truncated-frame', 2, f2));
  it('captured length past the end of the file', () => expectCaptureError(readAll(patch(pcap.subarray(0, f2 + 16 + 10), f2 + 8, { u32: 9999 })), 'truncated-frame', 2, f2));
  it("captured length above the link type's maximum snapshot (262144)", () => {
    expectCaptureError(readAll(patch(pcap, f1 + 8, { u32: 262145 })), 'caplen-over-max', 1, f1);
  });
  it("a captured length above the file's snapshot length is cut to it, as libpcap does", () => {
    const cut = patch(pcap, 16, { u32: 40 });
    const frames = [...readCaptureSync(cut)];
    expect(frames.length).toBe(expected.length);
    expect(frames[0]!.data).toEqual(expected[0]!.data.subarray(0, 40));
    expect(frames[0]!.originalLength).toBe(expected[0]!.originalLength);
  });
  it('snapshot length 0 means the maximum', () => {
    expect([...readCaptureSync(patch(pcap, 16, { u32: 0 }))][0]!.interface.snapLen).toBe(262144);
  });
  it('version 2.2 files have caplen and len swapped', () => {
    const w = writePcap([{ timestampNs: 0n, data: new Uint8Array(10), originalLength: 60 }]);
    const swapped = patch(patch(patch(w, 6, { u16: 2 }), 24 + 8, { u32: 60 }), 24 + 12, { u32: 10 });
    const [f] = [...readCaptureSync(swapped)];
    expect([f!.data.length, f!.originalLength]).toEqual([10, 60]);
  });
});

const ng = new PcapngWriter();
const shb = ng.sectionHeader();
const idb = ng.interfaceDescription({ name: 'eth0' });
const epb = (id: number, data: Uint8Array, len = data.length): Uint8Array => ng.enhancedPacket(id, { timestampNs: 5_000_000_000n, data, originalLength: len });
const pkt = expected[0]!.data;
const good = concatBytes([shb, idb, epb(0, pkt), epb(0, pkt)]);
const b0 = shb.length + idb.length;
const b1 = b0 + epb(0, pkt).length;

describe('corrupt pcapng files', () => {
  it('reads the good file', () => expect(readAll(good).frames.length).toBe(2));
  it('first block not a section header', () => expectCaptureError(readAll(concatBytes([idb, epb(0, pkt)])), 'bad-magic', 0, 0));
  it('section header with a bad byte-order magic', () => expectCaptureError(readAll(patch(good, 8, [0, 0, 0, 0])), 'bad-magic', 0, 0));
  it('unsupported version', () => expectCaptureError(readAll(patch(good, 12, { u16: 2 })), 'bad-version', 0, 0));
  it('block length not a multiple of 4, below 12, above 16 MiB', () => {
    expectCaptureError(readAll(patch(good, b1 + 4, { u32: 31 })), 'bad-block-length', 1, b1, 1);
    expectCaptureError(readAll(patch(good, b1 + 4, { u32: 8 })), 'bad-block-length', 1, b1, 1);
    expectCaptureError(readAll(patch(good, b1 + 4, { u32: 32 * 1024 * 1024 })), 'block-too-large', 1, b1, 1);
    expectCaptureError(readAll(patch(good, 4, { u32: 20 })), 'bad-block-length', 0, 0, 0);
  });
  it('trailer length differs from the header', () => {
    expectCaptureError(readAll(patch(good, good.length - 4, { u32: 64 })), 'block-length-mismatch', 1, b1, 1);
  });
  it('block cut short', () => expectCaptureError(readAll(good.subarray(0, good.length - 6)), 'truncated-block', 1, b1, 1));
  it('block header cut short', () => expectCaptureError(readAll(concatBytes([good, new Uint8Array(5)])), 'truncated-block', 2, good.length, 2));
  it('a packet before any interface', () => expectCaptureError(readAll(concatBytes([shb, epb(0, pkt)])), 'no-interface', 0, shb.length));
  it('a packet on an unknown interface', () => expectCaptureError(readAll(concatBytes([shb, idb, epb(0, pkt), epb(3, pkt)])), 'no-interface', 1, b1, 1));
  it("captured length above the interface's snapshot length", () => {
    const w = new PcapngWriter();
    const bytes = concatBytes([w.sectionHeader(), w.interfaceDescription({ snapLen: 20 }), w.enhancedPacket(0, { timestampNs: 0n, data: pkt })]);
    expectCaptureError(readAll(bytes), 'caplen-over-snaplen', 0, 28 + 20);
  });
  it('captured length past its block', () => expectCaptureError(readAll(patch(good, b0 + 8 + 12, { u32: 4000 })), 'block-too-short', 0, b0));
  it('interface description with a bad option', () => {
    const w = new PcapngWriter();
    const bad = patch(w.interfaceDescription({ tsResolution: 6 }), 8 + 8 + 2, { u16: 2 }); // if_tsresol of length 2
    expectCaptureError(readAll(concatBytes([shb, bad])), 'bad-option', 0, shb.length);
    const overrun = patch(w.interfaceDescription({ name: 'abcd' }), 8 + 8 + 2, { u16: 200 });
    expectCaptureError(readAll(concatBytes([shb, overrun])), 'bad-option', 0, shb.length);
  });
  it('a later section header with a bad byte-order magic', () => {
    expectCaptureError(readAll(concatBytes([good, patch(shb, 8, [9, 9, 9, 9])])), 'bad-byte-order', 2, good.length, 2);
  });
  it('a later section may change byte order; its interfaces start again', () => {
    const be = new PcapngWriter({ bigEndian: true });
    const bytes = concatBytes([good, be.sectionHeader(), be.interfaceDescription({ name: 'be0' }), be.enhancedPacket(0, { timestampNs: 7n, data: pkt })]);
    const frames = [...readCaptureSync(bytes)];
    expect(frames.map((f) => [f.interface.section, f.interface.id, f.interface.index, f.interface.name])).toEqual([[0, 0, 0, 'eth0'], [0, 0, 0, 'eth0'], [1, 0, 1, 'be0']]);
    expectCaptureError(readAll(concatBytes([good, ng.sectionHeader(), epb(0, pkt)])), 'no-interface', 2, good.length + shb.length, 2);
  });
  it('errors from a stream name the same frame and offset', async () => {
    const out = await readAllAsync(chunked(good.subarray(0, good.length - 6), [5]));
    expectCaptureError(out, 'truncated-block', 1, b1, 1);
  });
});

describe('link types', () => {
  it('the reader reports any link type; running a filter on a non-Ethernet frame is E_LINK_TYPE naming it', async () => {
    const bytes = writePcap([{ timestampNs: 0n, data: new Uint8Array(20) }], { linkType: LinkType.LINUX_SLL });
    const [f] = [...readCaptureSync(bytes)];
    expect(f!.interface.linkType).toBe(113);
    const engine = interpret(new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]));
    const run = async (): Promise<void> => {
      for await (const _ of runClassicFilter(engine, readCaptureSync(bytes))) { /* consume */ }
    };
    await expect(run()).rejects.toMatchObject({ code: ErrorCode.LinkType, location: { frame: 0, offset: 24 } });
    await expect(run()).rejects.toThrow(/LINUX_SLL/);
  });
});

describe('random mutations give frames or a typed error, never a crash or a hang', () => {
  const inputs = [read('frames.pcap'), read('frames-be.pcapng'), good];
  const mutation = fc.record({
    input: fc.nat(inputs.length - 1),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
    cut: fc.option(fc.nat()),
    chunk: fc.integer({ min: 1, max: 300 }),
  });
  it('sync and streamed reads agree and fail only with CaptureError', async () => {
    await fc.assert(fc.asyncProperty(mutation, async ({ input, edits, cut, chunk }) => {
      let b = Uint8Array.from(inputs[input]!);
      for (const [at, v] of edits) b[at % b.length] = v;
      if (cut !== null) b = b.subarray(0, cut % (b.length + 1));
      const sync = readAll(b);
      if (sync.error !== undefined) expect(sync.error).toBeInstanceOf(CaptureError);
      const streamed = await readAllAsync(chunked(b, [chunk]));
      expect(streamed.frames.length).toBe(sync.frames.length);
      expect((streamed.error as CaptureError | undefined)?.location).toEqual((sync.error as CaptureError | undefined)?.location);
    }), { numRuns: 400, seed: 9 });
  });
});
