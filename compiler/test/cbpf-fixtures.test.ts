/**
 * Committed classic programs (test-programs/classic/fixtures.json: the expression, tcpdump's
 * `-dd` or `-ddd` output for frames.pcap, and the frames tcpdump keeps) run on both engines
 * without tcpdump. Where tcpdump is installed, the test also checks the fixtures are still what it
 * prints and keeps; `UPDATE_CLASSIC_FIXTURES=1 npx vitest run compiler/test/cbpf-fixtures.test.ts`
 * rewrites them from tcpdump.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { classicToEbpf } from '../cbpf/index.js';
import { instantiateBytecode } from '../load.js';
import { readCaptureSync } from '../../runtime/capture/reader.js';
import { runClassicBatch, runClassicOnBytes } from '../../runtime/capture/classic.js';
import { canRun } from '../../test/support/tools.js';

const CAPTURE = fileURLToPath(new URL('../../test-programs/captures/frames.pcap', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../test-programs/classic/fixtures.json', import.meta.url));

interface Fixture {
  expression: string;
  format: 'dd' | 'ddd';
  program: string;
  kept: number[];
}

const SPEC: Array<[string, 'dd' | 'ddd']> = [
  ['tcp', 'ddd'], ['udp port 53', 'dd'], ['vlan and udp', 'ddd'], ['ip6 and tcp', 'dd'], ['tcp[tcpflags] & tcp-syn != 0', 'ddd'],
  ['greater 100', 'ddd'], ['less 60', 'dd'], ['ip[6:2] & 0x1fff != 0', 'ddd'], ['arp', 'ddd'], ['ether broadcast', 'dd'],
  ['ip6[6] == 44', 'ddd'], ['portrange 1000-2000', 'ddd'],
];


const frames = [...readCaptureSync(new Uint8Array(readFileSync(CAPTURE)))];

function fromTcpdump(expression: string, format: 'dd' | 'ddd'): Fixture {
  const run = (args: string[]): Buffer => execFileSync('tcpdump', ['-r', CAPTURE, ...args, expression], { stdio: ['ignore', 'pipe', 'pipe'] });
  const times = new Map(frames.map((f) => [f.timestampNs, f.index]));
  const kept = [...readCaptureSync(new Uint8Array(run(['-w', '-'])))].map((f) => times.get(f.timestampNs)!);
  return { expression, format, program: run([`-${format}`]).toString(), kept };
}

if (process.env.UPDATE_CLASSIC_FIXTURES && canRun('tcpdump')) {
  writeFileSync(FIXTURES, JSON.stringify(SPEC.map(([e, f]) => fromTcpdump(e, f)), null, 1) + '\n');
}

const fixtures = JSON.parse(readFileSync(FIXTURES, 'utf8')) as Fixture[];

describe('committed classic programs keep the frames tcpdump keeps', () => {
  it('has every fixture, with frames kept and dropped', () => {
    expect(fixtures.map((f) => f.expression)).toEqual(SPEC.map(([e]) => e));
    for (const f of fixtures) {
      expect(f.kept.length, f.expression).toBeGreaterThan(0);
      expect(f.kept.length, f.expression).toBeLessThan(frames.length);
    }
  });
  for (const fx of fixtures) {
    it(`${fx.expression} (-${fx.format})`, async () => {
      const { bytecode } = classicToEbpf(fx.program);
      for (const engine of ['compiled', 'interpreter'] as const) {
        const inst = await instantiateBytecode(bytecode, { engine, optLevel: 0 });
        const kept = frames.filter((f) => runClassicOnBytes(inst, f.data, f.originalLength) !== 0).map((f) => f.index);
        // The batch (a loop inside Wasm for the compiled engine) returns what the filter returns frame by frame.
        expect([...runClassicBatch(inst, frames)], `${engine} batch`).toEqual(frames.map((f) => runClassicOnBytes(inst, f.data, f.originalLength)));
        expect(kept, engine).toEqual(fx.kept);
      }
    });
  }
  it.skipIf(!canRun('tcpdump'))('the fixtures are what tcpdump prints and keeps today', () => {
    for (const [e, f] of SPEC) expect(fixtures.find((x) => x.expression === e)).toEqual(fromTcpdump(e, f));
  });
});
