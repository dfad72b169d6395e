/**
 * The bpf_skc_to_* casts without a kernel (skc-oracle.test.ts compares with the kernel where it
 * can): test-programs/c/skc_cast.o compiled against this machine's /sys/kernel/btf/vmlinux, its
 * probes over skc-cases.ts's host sockets on every engine (which casts give NULL, as recorded
 * from the kernel, and the fields read through CO-RE), testBatch() frame by frame, the TCP
 * state (tcp_init_sock's defaults, `HostSocket.tcp`, `HostSocket.kernel` by member path),
 * what the kernel's verifier refuses (test-programs/c/skc_store.c: a store through a cast,
 * NULL or a stack address as the socket), releasing through the cast, no host BTF, and
 * malformed host state and manifests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SockCastManifest } from '../abi.js';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { rejectedWith, thrownBy } from '../../test/support/thrown.js';
import { Bpf2WasmError, BpfRuntimeError, ErrorCode } from '../errors.js';
import { instantiate, type InstantiateOptions } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { BpfInstance } from '../program.js';
import type { HostNetwork, HostSocket } from '../packet/net.js';
import { prepareSockCasts } from '../packet/sock-cast.js';
import { NET } from './fib-cases.js';
import { castFlags, SKC_ANSWER_AT, SKC_CAST_SIZE, SKC_CASTS_AT, SKC_NET, SKC_PROBES, SKC_SOCKETS, skcFrame, type SkcProbe } from './skc-cases.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';
const HAVE_BTF = existsSync(VMLINUX);
if (!HAVE_BTF) console.log(`skc-cast.test.ts: skipped where host BTF is needed: no ${VMLINUX}`);
const btf = HAVE_BTF ? new Uint8Array(readFileSync(VMLINUX)) : new Uint8Array();
const CAST = new Uint8Array(readFileSync(repoPath('test-programs/c/skc_cast.o')));
const STORE = new Uint8Array(readFileSync(repoPath('test-programs/c/skc_store.o')));

type Open = (o: InstantiateOptions) => Promise<BpfInstance>;
const engines = (bytes: Uint8Array): { label: string; open: Open }[] => [
  { label: '-O1', open: async (o) => instantiate((await compileObject(bytes, { btf })).wasm, o) },
  { label: '-O0 checked', open: async (o) => instantiate((await compileObject(bytes, { btf, optLevel: 0, checked: true })).wasm, o) },
  { label: 'interpreter', open: (o) => interpretModule(planObject(bytes, { btf }).image, o) },
];

/** One cast's answer (struct skc_cast_ans). */
function cast(out: Uint8Array, i: number): Record<string, number | string> {
  const at = SKC_ANSWER_AT + SKC_CASTS_AT + i * SKC_CAST_SIZE;
  const v = new DataView(out.buffer, out.byteOffset + at);
  const u = (k: number): number => v.getUint32(4 * k, true);
  const hex = (k: number): string => Buffer.from(out.subarray(at + 4 * k, at + 4 * k + 16)).toString('hex');
  return {
    nonnull: u(0), family: u(1), state: u(2), num: u(3), dport: v.getUint16(16, false), rcv_saddr: [...out.subarray(at + 20, at + 24)].join('.'),
    daddr: [...out.subarray(at + 24, at + 28)].join('.'), bound_dev_if: u(7), v6_rcv_saddr: hex(8), v6_daddr: hex(12), protocol: u(16), type: u(17),
  };
}

const port = (e: string): number => Number(e.split(':').pop());

describe.skipIf(!HAVE_BTF)('bpf_skc_to_* over net.sockets, compiled against the host BTF', () => {
  for (const engine of engines(CAST)) {
    it(`${engine.label}: each cast is NULL or not as in the kernel, its fields the socket's`, async () => {
      const inst = await engine.open({ net: SKC_NET });
      for (const p of SKC_PROBES) {
        const out = inst.program('skc_probe').test({ dataIn: skcFrame(p) }).dataOut;
        expect([p.label, castFlags(out)]).toEqual([p.label, p.casts]);
        // `found`: the lookup's socket, or skb->sk (the test run's dummy socket, which every cast gives NULL).
        expect([p.label, out[SKC_ANSWER_AT]]).toEqual([p.label, p.op === 'skb-sk' || p.finds >= 0 ? 1 : 0]);
        // XDP casts the sockets its lookups return alike (it has no skb->sk).
        if (p.op !== 'skb-sk') expect([p.label, Buffer.from(inst.program('skc_probe_xdp').test({ dataIn: skcFrame(p) }).dataOut).toString('hex')]).toEqual([p.label, Buffer.from(out).toString('hex')]);
        if (p.finds < 0) continue;
        const s = SKC_SOCKETS[p.finds]!;
        const v6 = s.local.startsWith('[');
        const state = { 'time-wait': 6, 'syn-recv': 12 }[s.state as string] ?? (s.remote ? 1 : s.protocol === 'tcp' ? 10 : 7);
        p.casts.forEach((nonnull, i) => {
          if (!nonnull) return;
          const c = cast(out, i);
          expect([p.label, i, c.family, c.state, c.num, c.dport]).toEqual([p.label, i, v6 ? 10 : 2, state, port(s.local), s.remote ? port(s.remote) : 0]);
          if (i < 2 || i === 4) expect([p.label, c.protocol, c.type]).toEqual([p.label, s.protocol === 'tcp' ? 6 : 17, s.protocol === 'tcp' ? 1 : 2]);
          if (!v6) expect([p.label, c.rcv_saddr]).toEqual([p.label, s.local.split(':')[0]]);
        });
        expect([p.label, new DataView(out.buffer, out.byteOffset).getUint32(SKC_ANSWER_AT + 8, true)]).toEqual([p.label, p.op === 'skc' ? state : 0]);
        // bpf_skc_to_tcp_sock of the tcp6_sock pointer is that pointer, as the kernel's casts all return the socket.
        expect([p.label, new DataView(out.buffer, out.byteOffset).getUint32(SKC_ANSWER_AT + 4, true)]).toEqual([p.label, p.casts[0]]);
      }
    }, 60_000);
  }

  it('testBatch(): every frame as its own test()', async () => {
    const { wasm } = await compileObject(CAST, { btf });
    const one = await instantiate(wasm, { net: SKC_NET });
    const many = await instantiate(wasm, { net: SKC_NET });
    // Each probe twice, in an order that makes consecutive frames cast different sockets.
    const probes: SkcProbe[] = [...SKC_PROBES, ...[...SKC_PROBES].reverse()];
    for (const name of ['skc_probe', 'skc_probe_xdp']) {
      const b = many.program(name).testBatch(probes.map(skcFrame));
      expect(b.fastPath).toBe(true);
      probes.forEach((p, i) => {
        const t = one.program(name).test({ dataIn: skcFrame(p) });
        expect([name, p.label, b.errors.get(i), b.retvals[i], Buffer.from(b.dataOut(i)!).toString('hex')]).toEqual([name, p.label, undefined, t.retval, Buffer.from(t.dataOut).toString('hex')]);
      });
    }
  }, 60_000);
});

/** The skc_tcp_fields frame: Ethernet, struct skc_req (bpf_sk_lookup_tcp of src -> dst), room for struct tcp_ans. */
function tcpFrame(src: string, dst: string): Uint8Array {
  const p = skcFrame({ label: '', op: 'tcp', src, dst, finds: 0, casts: [0, 0, 0, 0, 0, 0, 0] });
  return p.subarray(0, 14 + 44 + 44);
}
function tcpAnswer(out: Uint8Array): number[] {
  const v = new DataView(out.buffer, out.byteOffset + 14 + 44);
  return Array.from({ length: 11 }, (_, i) => (i === 6 || i === 7 ? v.getInt32(4 * i, true) : v.getUint32(4 * i, true)));
}

describe.skipIf(!HAVE_BTF)('the TCP state through bpf_skc_to_tcp_sock', () => {
  const sockets: HostSocket[] = [
    { protocol: 'tcp', local: '10.1.0.1:80' },
    { protocol: 'tcp', local: '10.1.0.1:80', remote: '10.9.0.1:5000', mark: 7, priority: 3, tcp: { snd_cwnd: 20, srtt_us: 8000, rtt_min: 50, icsk_retransmits: 2 },
      kernel: { 'inet_conn.icsk_inet.sk.sk_rcvbuf': 131072, 'inet_conn.icsk_inet.sk.sk_sndbuf': '-1', reordering: 3, snd_cwnd: 21 } },
    { protocol: 'tcp', local: '[2001:db8:1::1]:80', kernel: { snd_cwnd: 33, 'tcp.srtt_us': 9, 'inet6.hop_limit': -1 } },
  ];
  for (const engine of engines(CAST)) {
    it(`${engine.label}: tcp_init_sock's values, then HostSocket.tcp, then HostSocket.kernel by path`, async () => {
      const inst = await engine.open({ net: { ...NET, sockets } });
      const run = (src: string, dst: string): [number, number[]] => {
        const r = inst.program('skc_tcp_fields').test({ dataIn: tcpFrame(src, dst) });
        return [r.retval, tcpAnswer(r.dataOut)];
      };
      expect(run('10.9.0.2:1', '10.1.0.1:80')).toEqual([1, [10, 0, 0xffffffff, 0x7fffffff, 536, 0, 0, 0, 0, 0, 0]]);
      expect(run('10.9.0.1:5000', '10.1.0.1:80')).toEqual([1, [21, 8000, 50, 0x7fffffff, 536, 2, 131072, -1, 3, 7, 3]]);
      expect(run('[2001:db8::9]:1', '[2001:db8:1::1]:80')).toEqual([1, [33, 9, 0xffffffff, 0x7fffffff, 536, 0, 0, 0, 0, 0, 0]]);
    }, 60_000);
  }
});

describe.skipIf(!HAVE_BTF)('what the kernel refuses (test-programs/c/skc_store.c)', () => {
  const net: HostNetwork = { ...NET, sockets: [{ protocol: 'tcp', local: '10.1.0.1:80' }] };
  // An IPv4 frame whose first 12 bytes after the Ethernet header are the tuple (20 in all: the test run refuses less).
  const tuple = new Uint8Array([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 10, 9, 0, 1, 10, 1, 0, 1, 0x13, 0x88, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0]);
  for (const engine of engines(STORE)) {
    it(`${engine.label}: a store through the cast's struct, NULL and a stack address are E_HELPER_FAILED; releasing through the cast is the socket's release`, async () => {
      const inst = await engine.open({ net });
      const store = thrownBy(() => inst.program('store_through_cast').test({ dataIn: tuple }), BpfRuntimeError);
      expect(store.code).toBe(ErrorCode.HelperFailed);
      expect(store.message).toMatch(/stored into the struct tcp_sock that bpf_skc_to_tcp_sock returned.*read-only/);
      for (const [name, helper] of [['cast_null', 'bpf_skc_to_tcp_sock'], ['cast_stack', 'bpf_skc_to_udp6_sock']] as const) {
        const e = thrownBy(() => inst.program(name).test({ dataIn: tuple }), Bpf2WasmError);
        expect([name, e.code, e.location.helper]).toEqual([name, ErrorCode.HelperFailed, helper]);
        expect(e.message).toMatch(/is not a socket pointer of this run/);
      }
      expect(inst.program('release_cast').test({ dataIn: tuple }).retval).toBe(1);
      // The instance is intact: the same cast after the refused store reads the socket's values again.
      expect(inst.program('release_cast').test({ dataIn: tuple }).retval).toBe(1);
    }, 60_000);
  }

  it('testBatch(): the storing frame gets the error, the others run', async () => {
    const inst = await instantiate((await compileObject(STORE, { btf })).wasm, { net });
    const other = tuple.slice();
    other[25] = 81; // no socket on port 81: no cast, no store
    const b = inst.program('store_through_cast').testBatch([other, tuple, other, tuple]);
    expect([b.retvals[0], b.retvals[2]]).toEqual([0, 0]);
    expect([0, 1, 2, 3].map((i) => b.errors.get(i)?.code)).toEqual([undefined, ErrorCode.HelperFailed, undefined, ErrorCode.HelperFailed]);
  });
});

describe('without host BTF', () => {
  it('the casts decide NULL as with it; CO-RE reads of the kernel structs are poisoned (E_CORE_RELO) when they run', async () => {
    const { wasm, manifest } = await compileObject(CAST);
    expect(manifest.sockCasts?.types).toEqual({});
    const inst = await instantiate(wasm, { net: SKC_NET });
    const udp4 = SKC_PROBES.find((p) => p.label === 'udp bound')!;
    expect(castFlags(inst.program('skc_probe').test({ dataIn: skcFrame(udp4) }).dataOut)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const listener = SKC_PROBES.find((p) => p.label === 'tcp listener')!;
    const e = thrownBy(() => inst.program('skc_probe').test({ dataIn: skcFrame(listener) }), Bpf2WasmError);
    expect(e.code).toBe(ErrorCode.CoreRelo);
    expect(e.message).toMatch(/the target has no struct (tcp_sock|sock)\b/);
  });

  it('a module whose programs call no cast has no cast area', async () => {
    const { manifest } = await compileObject(new Uint8Array(readFileSync(repoPath('test-programs/c/sk_lookup.o'))));
    expect(manifest.sockCasts).toBeUndefined();
  });
});

describe.skipIf(!HAVE_BTF)('malformed HostSocket.kernel: E_HOST_STATE naming the field', () => {
  const open = async (s: HostSocket): Promise<unknown> => instantiate((await compileObject(CAST, { btf })).wasm, { net: { ...NET, sockets: [s] } });
  const cases: [string, HostSocket, string, RegExp][] = [
    ['no such member', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { snd_cwin: 1 } }, 'net.sockets[0].kernel.snd_cwin', /no scalar member snd_cwin/],
    ['a struct, not a scalar', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { rtt_min: 1 } }, 'net.sockets[0].kernel.rtt_min', /no scalar member/],
    ['an element past the array', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { 'rtt_min.s[3].v': 1 } }, 'net.sockets[0].kernel.rtt_min.s[3].v', /no scalar member/],
    ['too large for a u8', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { 'inet_conn.icsk_retransmits': 256 } }, 'net.sockets[0].kernel.inet_conn.icsk_retransmits', /256 does not fit .* unsigned 8-bit/],
    ['negative for an unsigned member', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { snd_cwnd: -1 } }, 'net.sockets[0].kernel.snd_cwnd', /-1 does not fit/],
    ['a request socket has no tcp_sock members', { protocol: 'tcp', local: '10.1.0.1:80', remote: '10.9.0.1:1', state: 'syn-recv', kernel: { snd_cwnd: 1 } }, 'net.sockets[0].kernel.snd_cwnd', /struct tcp_request_sock/],
  ];
  for (const [label, s, field, msg] of cases) {
    it(label, async () => {
      const e = await rejectedWith(open(s), BpfRuntimeError);
      expect([e.code, e.location.field]).toEqual([ErrorCode.HostState, field]);
      expect(e.message).toMatch(msg);
    });
  }
  const parseCases: [string, HostSocket, string][] = [
    ['not an integer', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { snd_cwnd: 1.5 } }, 'net.sockets[0].kernel.snd_cwnd'],
    ['not a number', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { snd_cwnd: 'ten' } }, 'net.sockets[0].kernel.snd_cwnd'],
    ['not a path', { protocol: 'tcp', local: '10.1.0.1:80', kernel: { 'a..b': 1 } }, 'net.sockets[0].kernel.a..b'],
    ['not an object', { protocol: 'tcp', local: '10.1.0.1:80', kernel: [1] as unknown as Record<string, number> }, 'net.sockets[0].kernel'],
    ['an IPv4 UDP socket, which no cast gives', { protocol: 'udp', local: '10.1.0.1:53', kernel: { 'udp.inet.sk.sk_mark': 1 } }, 'net.sockets[0].kernel'],
  ];
  for (const [label, s, field] of parseCases) {
    it(label, async () => {
      const e = await rejectedWith(open(s), BpfRuntimeError);
      expect([e.code, e.location.field]).toEqual([ErrorCode.HostState, field]);
    });
  }
});

describe('a malformed sockCasts manifest is E_BAD_MODULE', () => {
  const good: SockCastManifest = { address: 0x3000, slotSize: 64, slots: 2, types: { tcp_sock: { size: 64, fields: [['snd_cwnd', 0, 32, 0, 1]] } } };
  const cases: [string, SockCastManifest][] = [
    ['below the maps', { ...good, address: 0x100 }],
    ['into the stack', { ...good, slotSize: 128, slots: 64 }],
    ['a slot size not a multiple of 8', { ...good, slotSize: 60 }],
    ['a struct larger than its slot', { ...good, types: { tcp_sock: { size: 65, fields: [] } } }],
    ['a field past its struct', { ...good, types: { tcp_sock: { size: 64, fields: [['x', 500, 32, 0, 1]] } } }],
    ['a struct no cast returns', { ...good, types: { task_struct: { size: 8, fields: [] } } }],
    ['a malformed field', { ...good, types: { tcp_sock: { size: 64, fields: [['x', 0, 0, 0, 1]] } } }],
  ];
  it('a good one is taken', () => expect(prepareSockCasts(good, 0x2000, 0x4000).layouts.get('tcp_sock')?.size).toBe(64));
  for (const [label, m] of cases) {
    it(label, () => expect(thrownBy(() => prepareSockCasts(m, 0x2000, 0x4000), BpfRuntimeError).code).toBe(ErrorCode.BadModule));
  }
});
