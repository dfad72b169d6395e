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
import { buildElf, StrTab, symtabBytes } from '../../test/support/elf-writer.js';
import { slotBytes } from '../../test/support/slots.js';
import { SectionFlags, SectionType, SymbolBind, SymbolType } from '../../compiler/elf/elf64.js';
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

describe('socket-state helpers given something other than a socket of the run', () => {
  /** A tc object whose program calls helper `id` with r1 = `r1` (and r2 = r1, r3 = 0) and returns 0. */
  function caller(id: number, r1: number): Uint8Array {
    const names = new StrTab();
    const prog = names.add('bad_sk');
    const lic = names.add('_license');
    const text = Uint8Array.from([...slotBytes(0xb7, 1, 0, r1), ...slotBytes(0xbf, 0x12, 0, 0), ...slotBytes(0xb7, 3, 0, 0), ...slotBytes(0x85, 0, 0, id), ...slotBytes(0xb7, 0, 0, 0), ...slotBytes(0x95, 0, 0, 0)]);
    return buildElf([
      { name: '.shstrtab', type: SectionType.STRTAB },
      { name: '.symtab', type: SectionType.SYMTAB, link: '.shstrtab', info: 1, entsize: 24, data: symtabBytes([
        { name: 0, value: 0, size: 0, type: 0, bind: 0, shndx: 0 },
        { name: prog, value: 0, size: text.length, type: SymbolType.FUNC, bind: SymbolBind.GLOBAL, shndx: 3 },
        { name: lic, value: 0, size: 4, type: SymbolType.OBJECT, bind: SymbolBind.GLOBAL, shndx: 4 },
      ]) },
      { name: 'tc', type: SectionType.PROGBITS, flags: SectionFlags.ALLOC | SectionFlags.EXECINSTR, data: text },
      { name: 'license', type: SectionType.PROGBITS, flags: SectionFlags.ALLOC | SectionFlags.WRITE, data: new TextEncoder().encode('GPL\0') },
    ], '.shstrtab', names);
  }
  const HELPERS: [number, string][] = [[95, 'bpf_sk_fullsock'], [96, 'bpf_tcp_sock'], [98, 'bpf_get_listener_sock'], [124, 'bpf_sk_assign'], [86, 'bpf_sk_release']];
  for (const [id, name] of HELPERS) {
    it(`${name} of a pointer no lookup returned: E_HELPER_FAILED naming it (the kernel's verifier refuses the program)`, async () => {
      const obj = caller(id, 0x2000);
      for (const open of [async () => instantiate((await compileObject(obj)).wasm, { net: STATE_NET }), () => interpretModule(planObject(obj, {}).image, { net: STATE_NET })]) {
        const inst = await open();
        const e = thrownBy(() => inst.program('bad_sk').test({ dataIn: stateFrame([10, 9, 0, 2], 40000, 80) }), Bpf2WasmError);
        expect([e.code, e.location.helper]).toEqual([ErrorCode.HelperFailed, name]);
      }
    });
  }
  it('bpf_sk_assign of NULL: -EINVAL, as the kernel', async () => {
    const inst = await instantiate((await compileObject(caller(124, 0))).wasm, { net: STATE_NET });
    expect(inst.program('bad_sk').test({ dataIn: stateFrame([10, 9, 0, 2], 40000, 80) }).retval).toBe(0);
  });
});
