/**
 * The socket-state helpers of tc programs against `net.sockets`, through
 * `test-programs/c/sk_state.c` on every engine: bpf_sk_fullsock, bpf_tcp_sock (tcp_init_sock's
 * values or the host's `tcp` state), bpf_get_listener_sock, bpf_sk_assign (-EOPNOTSUPP: a test
 * run is not at tc ingress; -EINVAL for flags), bpf_skb_cgroup_id / _ancestor (the root cgroup)
 * and bpf_skb_get_xfrm_state (-EINVAL, buffer zeroed). The listener's and the no-socket answers
 * are the kernel's (6.18, `bpftool prog run` in a network namespace with the same sockets:
 * sk-oracle.test.ts runs that comparison where root is available). Malformed host TCP state is
 * E_HOST_STATE naming the field.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { thrownBy } from '../../test/support/thrown.js';
import { Bpf2WasmError, ErrorCode } from '../errors.js';
import { instantiate, type InstantiateOptions } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { BpfInstance } from '../program.js';
import { checkHostNetwork } from '../packet/net.js';
import { SKB, STATE_NET, STATE_PROBES, stateAnswer, stateFrame, type StateAnswer } from './sk-state-cases.js';

const bytes = new Uint8Array(readFileSync(repoPath('test-programs/c/sk_state.o')));
const ENGINES: { label: string; open: (o: InstantiateOptions) => Promise<BpfInstance> }[] = [
  { label: '-O1', open: async (o) => instantiate((await compileObject(bytes)).wasm, o) },
  { label: '-O0', open: async (o) => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm, o) },
  { label: 'checked', open: async (o) => instantiate((await compileObject(bytes, { checked: true })).wasm, o) },
  { label: 'interpreter', open: (o) => interpretModule(planObject(bytes, {}).image, o) },
];

const pick = (a: StateAnswer, want: Partial<StateAnswer>): Partial<StateAnswer> =>
  Object.fromEntries(Object.keys(want).map((k) => [k, a[k as keyof StateAnswer]]));

describe('bpf_sk_fullsock, bpf_tcp_sock, bpf_get_listener_sock, bpf_sk_assign, cgroup ids, xfrm state', () => {
  for (const engine of ENGINES) {
    it(`${engine.label}: each probe answers as the kernel`, async () => {
      const inst = await engine.open({ net: STATE_NET });
      for (const p of STATE_PROBES) {
        const r = inst.program('sk_state').test({ dataIn: p.frame });
        expect([p.label, r.retval]).toEqual([p.label, 0]);
        expect([p.label, pick(stateAnswer(r.dataOut), p.want)]).toEqual([p.label, p.want]);
      }
    });
  }

  it('without net.sockets: no socket, the skb answers alone', async () => {
    const inst = await ENGINES[0]!.open({});
    const a = stateAnswer(inst.program('sk_state').test({ dataIn: stateFrame([10, 9, 0, 2], 40000, 80) }).dataOut);
    expect(pick(a, { found: 0, listener: 0, ...SKB })).toEqual({ found: 0, listener: 0, ...SKB });
  });

  it('malformed TCP state of a host socket: E_HOST_STATE naming the field', () => {
    const cases: [unknown, string][] = [
      [{ protocol: 'udp', local: '10.0.0.1:53', tcp: {} }, 'net.sockets[0].tcp'],
      [{ protocol: 'tcp', local: '10.0.0.1:80', tcp: 5 }, 'net.sockets[0].tcp'],
      [{ protocol: 'tcp', local: '10.0.0.1:80', tcp: { cwnd: 1 } }, 'net.sockets[0].tcp.cwnd'],
      [{ protocol: 'tcp', local: '10.0.0.1:80', tcp: { snd_cwnd: -1 } }, 'net.sockets[0].tcp.snd_cwnd'],
      [{ protocol: 'tcp', local: '10.0.0.1:80', tcp: { snd_cwnd: 2 ** 32 } }, 'net.sockets[0].tcp.snd_cwnd'],
      [{ protocol: 'tcp', local: '10.0.0.1:80', tcp: { bytes_acked: 1.5 } }, 'net.sockets[0].tcp.bytes_acked'],
    ];
    for (const [sock, field] of cases) {
      const e = thrownBy(() => checkHostNetwork({ sockets: [sock] }), Bpf2WasmError);
      expect([e.code, e.location.field]).toEqual([ErrorCode.HostState, field]);
    }
  });
});
