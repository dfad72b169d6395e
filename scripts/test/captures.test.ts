/**
 * The committed captures are what scripts/captures/build.ts builds (its --check, run in-process),
 * hold the kinds of frame the issue lists, and carry correct checksums (tcpdump -vv reports none
 * wrong, where installed; the IPv4 header checksums are verified here too).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FRAMES, buildCaptures } from '../captures/build.js';
import { inetChecksum } from '../captures/packets.js';

const DIR = fileURLToPath(new URL('../../test-programs/captures/', import.meta.url));

describe('test-programs/captures', () => {
  const built = buildCaptures();
  it('builds four files', () => expect([...built.keys()].sort()).toEqual(['frames-be.pcapng', 'frames-ns-be.pcap', 'frames.pcap', 'frames.pcapng']));
  for (const [name, bytes] of built) {
    it(`${name} is committed as built (rebuild: node dist/scripts/captures/build.js)`, () => {
      expect(Buffer.compare(readFileSync(DIR + name), Buffer.from(bytes))).toBe(0);
    });
  }

  it('covers the frame kinds the issue lists', () => {
    const names = FRAMES.map((f) => f.name).join('\n');
    for (const kind of ['802.1q', 'qinq', 'arp', 'ipv4 with options', 'fragment', 'hop-by-hop', 'routing header', 'ipv6 fragment header',
      'destination options', 'syn', 'syn-ack', 'rst', 'fin', 'psh', 'udp', 'icmp echo', 'icmpv6', 'jumbo', 'runt', 'snaplen-cut']) {
      expect(names, kind).toContain(kind);
    }
    expect(FRAMES.some((f) => f.wire.length === 9000)).toBe(true);
    expect(FRAMES.some((f) => f.wire.length < 14)).toBe(true);
    expect(FRAMES.some((f) => f.caplen !== undefined && f.caplen < f.wire.length)).toBe(true);
  });

  it('every IPv4 header checksum verifies', () => {
    let n = 0;
    for (const f of FRAMES) {
      let o = 12;
      while (o + 2 <= f.wire.length && (f.wire[o]! << 8 | f.wire[o + 1]!) !== 0x0800 && [0x8100, 0x88a8].includes(f.wire[o]! << 8 | f.wire[o + 1]!)) o += 4;
      if (o + 2 > f.wire.length || (f.wire[o]! << 8 | f.wire[o + 1]!) !== 0x0800) continue;
      const ip = f.wire.subarray(o + 2);
      const ihl = (ip[0]! & 0xf) * 4;
      expect(inetChecksum(ip.subarray(0, ihl)), f.name).toBe(0);
      n++;
    }
    expect(n).toBeGreaterThan(15);
  });

  let tcpdump = true;
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'pipe' });
  } catch {
    tcpdump = false;
  }
  it.skipIf(!tcpdump)('tcpdump -vv reports no wrong checksum', () => {
    const out = execFileSync('tcpdump', ['-r', DIR + 'frames.pcap', '-nn', '-vv'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    expect(out.split('\n').length).toBeGreaterThan(FRAMES.length);
    expect(out).not.toMatch(/bad cksum|incorrect|wrong/i);
    expect(out).toMatch(/cksum 0x[0-9a-f]+ \(correct\)/);
  });
});
