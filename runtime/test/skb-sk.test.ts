/**
 * `skb->sk` of an skb test run: the kernel's BPF_PROG_TEST_RUN gives every skb a dummy socket
 * (net/bpf/test_run.c bpf_prog_test_run_skb), and test-programs/c/skb_sk.c reads every field of
 * its `struct bpf_sock` (some narrowly), the full socket's through bpf_sk_fullsock, and what
 * bpf_tcp_sock, bpf_get_listener_sock, bpf_sk_assign, bpf_tcp_check_syncookie and
 * bpf_tcp_gen_syncookie answer for it, from tc, tc action, socket filter, cgroup_skb and lwt
 * programs. On every engine, through `test()` and `testBatch()`, each answer is the kernel's
 * (recorded below as Linux 6.18 gave it), and an IP frame too short for its header is refused
 * (EINVAL), as the kernel's test run refuses it before it reads the addresses; where root and bpftool work, the kernel's test run is
 * compared frame by frame (output frames, and the `answers` map for the programs that may not
 * write the packet); elsewhere that part says so and skips.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { BpfRuntimeError } from '../errors.js';
import { instantiate } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { BpfInstance } from '../program.js';
import { kernelComparisonHost } from './netns.js';

const OBJECT = repoPath('test-programs/c/skb_sk.o');
const bytes = new Uint8Array(readFileSync(OBJECT));
const ENGINES: { label: string; open: () => Promise<BpfInstance> }[] = [
  { label: '-O1', open: async () => instantiate((await compileObject(bytes)).wasm) },
  { label: '-O0', open: async () => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm) },
  { label: 'checked', open: async () => instantiate((await compileObject(bytes, { checked: true })).wasm) },
  { label: 'interpreter', open: () => interpretModule(planObject(bytes, {}).image, {}) },
];

const ANSWER_AT = 64;
const ANSWER_SIZE = 128;
const KEY_AT = 63;

/** A frame of `len` bytes: Ethernet with EtherType `type`, then `l3`, the map key at byte 63. */
function frame(type: number, l3: number[], key: number, len = ANSWER_AT + ANSWER_SIZE): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(2, 0, 6);
  f.fill(4, 6, 12);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(l3.slice(0, len - 14), 14);
  if (len > KEY_AT) f[KEY_AT] = key;
  return f;
}

const SRC4 = [10, 1, 2, 3];
const DST4 = [192, 168, 7, 9];
const SRC6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
const DST6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
const ipv4 = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, ...SRC4, ...DST4];
const ipv6 = [0x60, 0, 0, 0, 0, 0, 6, 64, ...SRC6, ...DST6];

/** The dummy socket's fields the kernel gives for a frame: its family, and the addresses when the header is whole. */
interface Dummy { family: number; src4?: number[]; dst4?: number[]; src6?: number[]; dst6?: number[] }

/** [label, frame, the dummy socket as the kernel presents it]: full-size frames (tc writes its answer into them). */
const FRAMES: [string, Uint8Array, Dummy][] = [
  ['IPv4 10.1.2.3 > 192.168.7.9', frame(0x0800, ipv4, 1), { family: 2, src4: SRC4, dst4: DST4 }],
  ['IPv6 2001:db8::1234 > fe80::211:22ff:fe33:4455', frame(0x86dd, ipv6, 2), { family: 10, src6: SRC6, dst6: DST6 }],
  ['ARP', frame(0x0806, new Array<number>(28).fill(1), 3), { family: 0 }],
  ['802.1Q tag before IPv4 (skb->protocol 0x8100)', frame(0x8100, [0, 100, 0x08, 0x00, ...ipv4], 4), { family: 0 }],
  ['802.3 length', frame(0x0040, new Array<number>(64).fill(0xaa), 5), { family: 0 }],
];

/** IP frames just long enough for their header (map programs: key 0), and one byte short, which the test run refuses. */
const SHORT: [string, Uint8Array, Dummy | 'EINVAL'][] = [
  ['IPv4, 19 bytes of header', frame(0x0800, ipv4, 0, 14 + 19), 'EINVAL'],
  ['IPv4, 20 bytes of header', frame(0x0800, ipv4, 0, 14 + 20), { family: 2, src4: SRC4, dst4: DST4 }],
  ['IPv6, 39 bytes of header', frame(0x86dd, ipv6, 0, 14 + 39), 'EINVAL'],
  ['IPv6, 40 bytes of header', frame(0x86dd, ipv6, 0, 14 + 40), { family: 10, src6: SRC6, dst6: DST6 }],
];

/** What each program asks: tc programs everything, cgroup_skb the fields and bpf_sk_fullsock / bpf_tcp_sock / bpf_get_listener_sock, the others the fields. */
type Probe = 'tc' | 'cg' | 'fields';
const PROGRAMS: { name: string; probe: Probe; map: boolean }[] = [
  { name: 'skb_sk_tc', probe: 'tc', map: false },
  { name: 'skb_sk_act', probe: 'tc', map: false },
  { name: 'skb_sk_socket', probe: 'fields', map: true },
  { name: 'skb_sk_cg', probe: 'cg', map: true },
  { name: 'skb_sk_lwt', probe: 'fields', map: true },
];

const le = (b: number[] | undefined, at: number): number => (b ? (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0 : 0);

/** `struct skb_sk_ans` as the kernel fills it for `d` (test_run.c: sk_alloc zeroed, sock_init_data: TCP_CLOSE, no rx queue). */
function expected(d: Dummy, probe: Probe): number[] {
  const words = [
    1, 0, d.family, le(d.src4, 0), le(d.src6, 0), le(d.src6, 4), le(d.src6, 8), le(d.src6, 12), 0, 0, le(d.dst4, 0),
    le(d.dst6, 0), le(d.dst6, 4), le(d.dst6, 8), le(d.dst6, 12), 7, -1 >>> 0,
    // narrow: family's byte, dst_port's 16 bits, src_ip4's second byte, dst_ip6[3]'s high half
    d.family, 0, d.src4?.[1] ?? 0, d.dst6 ? (d.dst6[14]! | (d.dst6[15]! << 8)) : 0,
  ];
  // bpf_sk_fullsock: the same socket, type / protocol / mark / priority 0; no tcp_sock, no listener.
  words.push(...(probe === 'fields' ? [0, 0, 0, 0, 0, 0, 0, 0] : [1, 1, 0, 0, 0, 0, 0, 0]));
  // bpf_sk_assign -EOPNOTSUPP (not at tc ingress), both syncookie helpers -EINVAL (no TCP listener).
  words.push(...(probe === 'tc' ? [-95 >>> 0, -22 >>> 0, -22 >>> 0] : [0, 0, 0]));
  return words;
}

const words = (b: Uint8Array): number[] => Array.from(new Uint32Array(b.slice(0, ANSWER_SIZE).buffer));
const key = (k: number): Uint8Array => new Uint8Array([k, 0, 0, 0]);

/** The program's answer to the frame it just ran over: in the output frame, or in `answers` at the frame's key. */
function answerOf(inst: BpfInstance, p: { map: boolean }, f: Uint8Array, dataOut: Uint8Array | undefined): number[] {
  if (!p.map) return words(dataOut!.subarray(ANSWER_AT));
  const v = inst.map('answers').lookupRaw(key(f.length > KEY_AT ? f[KEY_AT]! : 0));
  return words(v!);
}

describe('skb->sk: the test run\'s dummy socket', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: every field and helper answer as the kernel's, test() and testBatch()`, async () => {
      const inst = await engine.open();
      for (const p of PROGRAMS) {
        for (const [label, f, d] of FRAMES) {
          const r = inst.program(p.name).test({ dataIn: f, repeat: 2 });
          expect([p.name, label, r.retval, answerOf(inst, p, f, r.dataOut)]).toEqual([p.name, label, p.name === 'skb_sk_cg' ? 1 : 0, expected(d, p.probe)]);
        }
        for (const [label, f, d] of SHORT) {
          if (d === 'EINVAL') {
            expect(() => inst.program(p.name).test({ dataIn: f }), `${p.name} ${label}`).toThrow(/EINVAL: the IPv[46] frame has \d+ bytes after its Ethernet header/);
            continue;
          }
          const r = inst.program(p.name).test({ dataIn: f });
          // tc programs have no room for their answer in these frames (retval 2).
          if (p.map) expect([p.name, label, answerOf(inst, p, f, undefined)]).toEqual([p.name, label, expected(d, p.probe)]);
          else expect([p.name, label, r.retval]).toEqual([p.name, label, 2]);
        }
        // A batch: each frame its own dummy socket; the short frames refused alone, in order.
        const batchInst = await engine.open();
        const all = [...FRAMES.slice(0, 2), SHORT[0]!, ...FRAMES.slice(2), SHORT[2]!];
        const b = batchInst.program(p.name).testBatch(all.map(([, f]) => f));
        if (engine.label !== 'interpreter') expect([p.name, b.fastPath]).toEqual([p.name, true]);
        all.forEach(([label, f, d], i) => {
          if (d === 'EINVAL') expect([p.name, label, b.errors.get(i)?.message]).toEqual([p.name, label, expect.stringMatching(/EINVAL/)]);
          else expect([p.name, label, b.errors.get(i), answerOf(batchInst, p, f, b.dataOut(i))]).toEqual([p.name, label, undefined, expected(d, p.probe)]);
        });
      }
    });
  }

});

describe('skb->sk: helpers the kernel\'s verifier refuses it to', () => {
  it('bpf_sk_release(skb->sk) is E_HELPER_FAILED naming skb->sk (no reference was taken), on every engine', async () => {
    const release = new Uint8Array(readFileSync(repoPath('test-programs/c/skb_sk_release.o')));
    const insts = [
      await instantiate((await compileObject(release)).wasm),
      await instantiate((await compileObject(release, { optLevel: 0, checked: true })).wasm),
      await interpretModule(planObject(release, {}).image, {}),
    ];
    for (const inst of insts) {
      let err: unknown;
      try {
        inst.program('release_skb_sk').test({ dataIn: FRAMES[0]![1] });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BpfRuntimeError);
      expect((err as BpfRuntimeError).code).toBe('E_HELPER_FAILED');
      expect((err as Error).message).toMatch(/bpf_sk_release of skb->sk/);
    }
  });
});

const { host, skip: SKIP } = kernelComparisonHost('skb-sk.test.ts', 'skbsk', {}, OBJECT);

describe('skb->sk: the kernel\'s BPF_PROG_TEST_RUN', () => {
  if (typeof host === 'string') {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it('identical answers for IPv4, IPv6 and non-IP frames from tc, tc action, socket filter, cgroup_skb and lwt programs', async () => {
    const inst = await ENGINES[0]!.open();
    const batchInst = await ENGINES[0]!.open();
    const mismatches: string[] = [];
    const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : 'none');
    for (const p of PROGRAMS) {
      const batch = batchInst.program(p.name).testBatch(FRAMES.map(([, f]) => f));
      for (const [label, f] of [...FRAMES, ...SHORT]) {
        const i = FRAMES.findIndex(([l]) => l === label);
        const k = host.testRun(p.name, f);
        if ('error' in k) {
          // Refused by both (EINVAL: `bpftool prog run` reports "Invalid argument").
          let ours = 'none';
          try {
            inst.program(p.name).test({ dataIn: f });
          } catch (e) {
            ours = (e as Error).message;
          }
          if (!/Invalid argument/.test(k.error) || !/EINVAL/.test(ours)) mismatches.push(`${p.name} ${label}:\n  kernel   ${k.error}\n  bpf2wasm ${ours}`);
          continue;
        }
        const o = inst.program(p.name).test({ dataIn: f });
        const mine = { retval: o.retval, dataOut: hex(o.dataOut) };
        if (JSON.stringify(k) !== JSON.stringify(mine)) mismatches.push(`${p.name} ${label}:\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(mine)}`);
        if (p.map) {
          const kv = hex(host.mapLookup('answers', key(f.length > KEY_AT ? f[KEY_AT]! : 0)));
          const ov = hex(inst.map('answers').lookupRaw(key(f.length > KEY_AT ? f[KEY_AT]! : 0)));
          if (kv !== ov) mismatches.push(`${p.name} ${label} answers:\n  kernel   ${kv}\n  bpf2wasm ${ov}`);
          if (i >= 0) {
            const bv = hex(batchInst.map('answers').lookupRaw(key(f[KEY_AT]!)));
            if (kv !== bv) mismatches.push(`${p.name} ${label} answers (testBatch):\n  kernel   ${kv}\n  bpf2wasm ${bv}`);
          }
        } else if (i >= 0) {
          const mineBatched = { retval: batch.retvals[i]!, dataOut: hex(batch.dataOut(i)) };
          if (JSON.stringify(k) !== JSON.stringify(mineBatched)) mismatches.push(`${p.name} ${label} (testBatch):\n  kernel   ${JSON.stringify(k)}\n  bpf2wasm ${JSON.stringify(mineBatched)}`);
        }
      }
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 120_000);
});
