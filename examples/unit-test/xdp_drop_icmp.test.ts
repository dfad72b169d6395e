/**
 * Unit-testing an eBPF program without root: the XDP program of test-programs/c/xdp_drop_icmp.c,
 * built by clang, run frame by frame as the kernel's BPF_PROG_TEST_RUN runs it. This is the
 * README's "Unit-testing your eBPF programs" example, run as part of `npm test`; it imports the
 * package by name, as a user's project would.
 */
import { readFile } from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { compileObject } from 'bpf2wasm/compiler';
import { instantiate, type BpfInstance } from 'bpf2wasm/runtime';

const XDP_ABORTED = 0;
const XDP_DROP = 1;
const XDP_PASS = 2;

/** An Ethernet + IPv4 + ICMP frame of the given ICMP type (8: echo request, 0: echo reply). */
function icmpFrame(type: number): Uint8Array {
  const frame = new Uint8Array(14 + 20 + 8);
  frame.set([0x08, 0x00], 12); // EtherType IPv4
  frame.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1], 14); // version 4, IHL 5, length 28, TTL 64, ICMP
  frame.set([10, 0, 0, 1, 10, 0, 0, 2], 26); // 10.0.0.1 -> 10.0.0.2
  frame[34] = type;
  return frame;
}

describe('xdp_drop_icmp', () => {
  let inst: BpfInstance;

  beforeEach(async () => {
    const object = await readFile(new URL('../../test-programs/c/xdp_drop_icmp.o', import.meta.url));
    const { wasm } = await compileObject(object, { optLevel: 0 });
    inst = await instantiate(wasm); // a fresh instance (fresh maps) for every test
  });

  it('drops ICMP echo requests and counts them', () => {
    const { retval } = inst.program('xdp_drop_icmp').test({ dataIn: icmpFrame(8) });
    expect(retval).toBe(XDP_DROP);
    expect(inst.map('drops').get(0)).toEqual([1n]); // a per-CPU array: one value per CPU
  });

  it('passes echo replies, unchanged', () => {
    const frame = icmpFrame(0);
    const { retval, dataOut } = inst.program('xdp_drop_icmp').test({ dataIn: frame });
    expect(retval).toBe(XDP_PASS);
    expect(dataOut).toEqual(frame);
    expect(inst.map('drops').get(0)).toEqual([0n]);
  });

  it('aborts on an IPv4 header cut short', () => {
    expect(inst.program('xdp_drop_icmp').test({ dataIn: icmpFrame(8).subarray(0, 20) }).retval).toBe(XDP_ABORTED);
  });

  it('refuses a frame the kernel would refuse (shorter than an Ethernet header)', () => {
    expect(() => inst.program('xdp_drop_icmp').test({ dataIn: new Uint8Array(10) })).toThrow(/E_TEST_RUN/);
  });
});
