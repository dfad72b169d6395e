/**
 * Classic BPF against the reference: for each filter expression, Debian's tcpdump compiles the
 * program (`tcpdump -r FILE -ddd EXPR`, for the file's link type) and filters the project's
 * captures (`tcpdump -r FILE -w - EXPR`); bpf2wasm runs the same program, translated to eBPF, on
 * both engines and must keep exactly the frames tcpdump keeps (compared by frame index, found
 * from the unique timestamps of the frames tcpdump writes). Skipped, saying so, where tcpdump is
 * absent; classic-fixtures.test.ts checks committed programs without it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { classicToEbpf } from '../cbpf/index.js';
import { instantiateBytecode } from '../load.js';
import { readCaptureSync } from '../../runtime/capture/reader.js';
import { runClassicBatch, runClassicOnBytes } from '../../runtime/capture/classic.js';
import type { CaptureFrame } from '../../runtime/capture/frame.js';
import { canRun } from '../../test/support/tools.js';

const CAPTURES = fileURLToPath(new URL('../../test-programs/captures/', import.meta.url));
const FILES = ['frames.pcap', 'frames-ns-be.pcap', 'frames.pcapng', 'frames-be.pcapng'];

/** The expressions checked (a few dozen, covering the captures' protocols and libpcap's idioms). */
export const EXPRESSIONS = [
  'tcp', 'udp', 'icmp', 'icmp6', 'arp', 'ip', 'ip6', 'vlan', 'vlan 100', 'vlan 300 and ip6', 'vlan and udp',
  'vlan and tcp', 'ip6 and tcp', 'ip6 and udp', 'udp port 53', 'port 53', 'tcp port 80', 'tcp dst port 443 or tcp dst port 22',
  'tcp[tcpflags] & tcp-syn != 0', 'tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)', 'tcp[tcpflags] & tcp-rst != 0',
  'tcp[tcpflags] & tcp-fin != 0', 'tcp[tcpflags] & tcp-push != 0', 'tcp[13] & 0x20 != 0', 'greater 100', 'less 60', 'len > 1000',
  'ip[6:2] & 0x1fff != 0', 'ip[6] & 0x20 != 0', 'ip[0] & 0xf > 5', 'ether broadcast', 'ether multicast', 'ip multicast',
  'net 10.0.0.0/8', 'src net 192.168.0.0/16', 'host 10.0.0.2', 'dst host 8.8.8.8', 'ip6 host 2001:db8::2', 'portrange 1000-2000',
  'tcp portrange 1000-2000', 'udp and not port 53', 'ether host 02:00:00:00:00:01', 'ether src 02:00:00:00:00:02', 'ip proto 17',
  'ip6 proto 58', 'icmp[icmptype] == icmp-echo', 'icmp6 and ip6[40] == 128', 'ip6[6] == 0', 'ip6[6] == 43', 'ip6[6] == 44',
  'udp[8:2] == 0x1234', 'ether[12:2] == 0x88a8', 'not ip and not ip6', 'ip and ip[2:2] > 1000', 'ip[2:2] / 4 > 100',
  'ether[0] & 1 = 0 and ip[16] >= 224', 'tcp[0:2] - tcp[2:2] = 0', 'len - 14 > 1000 or len * 2 < 130',
];


const TCPDUMP = canRun('tcpdump');
if (!TCPDUMP) console.warn('cbpf-tcpdump.test.ts: tcpdump is not installed; the differential test against it is skipped');

function tcpdump(args: string[]): Buffer {
  return execFileSync('tcpdump', args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** Frames are told apart by timestamp, bytes and length (simple packet blocks have no timestamp). */
function frameKey(f: CaptureFrame): string {
  return `${f.timestampNs}/${f.originalLength}/${Buffer.from(f.data).toString('hex')}`;
}

function keptByTcpdump(file: string, expr: string, frames: readonly CaptureFrame[]): number[] {
  const out = tcpdump(['-r', file, '--nano', '-w', '-', expr]);
  const byKey = new Map<string, number>();
  for (const f of frames) {
    if (byKey.has(frameKey(f))) throw new Error(`${file}: frames ${byKey.get(frameKey(f))} and ${f.index} cannot be told apart`);
    byKey.set(frameKey(f), f.index);
  }
  return [...readCaptureSync(new Uint8Array(out))].map((f) => {
    const i = byKey.get(frameKey(f));
    if (i === undefined) throw new Error(`tcpdump wrote a frame bpf2wasm did not read: ${frameKey(f).slice(0, 80)}`);
    return i;
  });
}

describe.skipIf(!TCPDUMP)('classic BPF: the frames bpf2wasm keeps are the frames tcpdump keeps', () => {
  for (const file of FILES) {
    const path = CAPTURES + file;
    const frames = [...readCaptureSync(new Uint8Array(readFileSync(path)))];
    it(`${file}: the capture has frames`, () => {
      expect(frames.length).toBeGreaterThan(30);
    });
    for (const expr of EXPRESSIONS) {
      it(`${file}: ${expr}`, async () => {
        const text = tcpdump(['-r', path, '-ddd', expr]).toString();
        const { bytecode } = classicToEbpf(text);
        const want = keptByTcpdump(path, expr, frames);
        for (const engine of ['compiled', 'interpreter'] as const) {
          const inst = await instantiateBytecode(bytecode, { engine, optLevel: 0 });
          const kept = frames.filter((f) => runClassicOnBytes(inst, f.data, f.originalLength) !== 0).map((f) => f.index);
          // The batch (a loop inside Wasm for the compiled engine) returns what the filter returns frame by frame.
          expect([...runClassicBatch(inst, frames)], `${engine} batch`).toEqual(frames.map((f) => runClassicOnBytes(inst, f.data, f.originalLength)));
          expect(kept, `${engine} engine`).toEqual(want);
        }
      });
    }
  }

  it('the expressions keep and drop different frames (the comparison is not vacuous)', () => {
    const path = CAPTURES + FILES[0];
    const frames = [...readCaptureSync(new Uint8Array(readFileSync(path)))];
    const sets = new Set(EXPRESSIONS.map((e) => keptByTcpdump(path, e, frames).join(',')));
    expect(sets.size).toBeGreaterThan(EXPRESSIONS.length * 0.7);
    for (const e of ['tcp', 'udp', 'vlan', 'less 60']) expect(keptByTcpdump(path, e, frames).length).toBeGreaterThan(0);
  });
});
