/**
 * Negative LD_ABS / LD_IND offsets (SKF_NET_OFF, SKF_LL_OFF) in socket filters, on every engine
 * and in both skbData modes: the values the kernel's BPF_PROG_TEST_RUN gives for
 * test-programs/c/ldabs_neg.c (kernel-oracle.test.ts compares the network mode frame by frame),
 * and nothing outside a test run, where no headers are known.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileObject, planObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { instantiate } from '../instance.js';
import { interpretModule } from '../interpreter.js';
import type { BpfInstance } from '../program.js';
import { ETH_P, ether, ipv4, udp } from './frames.js';

const bytes = new Uint8Array(readFileSync(repoPath('test-programs/c/ldabs_neg.o')));
const ENGINES: [string, () => Promise<BpfInstance>][] = [
  ['-O1', async () => instantiate((await compileObject(bytes)).wasm)],
  ['-O0', async () => instantiate((await compileObject(bytes, { optLevel: 0 })).wasm)],
  ['checked', async () => instantiate((await compileObject(bytes, { checked: true })).wasm)],
  ['interpreter', () => interpretModule(planObject(bytes, {}).image)],
];
const frame = ether(ETH_P.IP, ipv4({ proto: 17, src: '10.0.0.1', payload: udp({ dport: 53, payload: [1, 2, 3, 0xab] }) }));
const EXPECTED: Record<string, number> = {
  ll_type: 0x10800, net_proto: 0x10011, net_saddr: 0x10001, net_last: 0x100ab, net_past: 0, ll_proto: 0x10011, net_minus: 0, below_ll: 0,
};

describe('LD_ABS / LD_IND with SKF_NET_OFF and SKF_LL_OFF', () => {
  for (const [label, open] of ENGINES) {
    it(`${label}: the headers whatever skb->data is; outside them the program ends with 0`, async () => {
      const inst = await open();
      for (const skbData of ['network', 'mac'] as const) {
        const got = Object.fromEntries(Object.keys(EXPECTED).map((p) => [p, inst.program(p).test({ dataIn: frame, skbData }).retval]));
        // In mac mode skb->len counts the Ethernet header too: network + len - 1 is past the end.
        expect({ skbData, got }).toEqual({ skbData, got: { ...EXPECTED, ...(skbData === 'mac' ? { net_last: 0 } : {}) } });
      }
      // A run over raw bytes has no recorded headers: negative offsets read nothing.
      const ctx = new Uint8Array(256);
      expect(inst.program('ll_type').run(ctx)).toBe(0n);
      // After a test run the headers are forgotten again.
      inst.program('ll_type').test({ dataIn: frame });
      expect(inst.program('ll_type').run(ctx)).toBe(0n);
    });
  }
});
