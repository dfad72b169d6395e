/**
 * Test support: running a packet program over any bytes, as a program's own logic is tested.
 *
 * `program.test()` is BPF_PROG_TEST_RUN exactly (frames shorter than an Ethernet header are
 * refused, socket filters start at the network header by default). Tests of what a program does
 * with a runt, a cut-off header or a frame seen from its Ethernet header (as an AF_PACKET SOCK_RAW
 * socket gives it, tcpdump's view) run it here instead: the same context and helpers, runts
 * allowed, socket filters from the Ethernet header. Programs without a packet context get the
 * bytes as their memory, as `test()` gives them.
 */
import { engineOf } from '../../runtime/program.js';
import type { BpfInstance } from '../../runtime/program.js';
import { contextKind, testRunPacket } from '../../runtime/packet/testrun.js';

/** What a run over a frame gave: r0 and the frame (or memory) as the program left it. */
export interface FrameRun {
  r0: bigint;
  retval: number;
  dataOut: Uint8Array;
}

/** Runs `program` (the first by default) of `inst` over `frame`. */
export function runFrame(inst: BpfInstance, frame: Uint8Array, program?: string): FrameRun {
  const handle = inst.program(program);
  if (!contextKind(handle.type)) return handle.test({ dataIn: frame });
  return testRunPacket(engineOf(inst), handle, {
    dataIn: frame, allowRunts: true, time: false, ...(handle.type === 'socket' ? { skbData: 'mac' as const } : {}),
  });
}
