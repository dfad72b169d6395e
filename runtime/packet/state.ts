/**
 * The state of the packet run in progress on one linear memory: where its buffer lies, the
 * fragments of a multi-buffer XDP frame, and what the program asked of the outside world. The
 * test run (testrun.ts) opens it around the call into the program; the packet helpers
 * (helpers.ts) find it by the memory they run on.
 */

import { BpfRuntimeError, ErrorCode } from '../errors.js';
import type { NetState } from './net.js';

/** A redirect the program asked for (the last call wins, as in the kernel's bpf_redirect_info). */
export interface Redirect {
  /** The helper that set it. */
  helper: 'bpf_redirect' | 'bpf_redirect_map' | 'bpf_redirect_neigh' | 'bpf_redirect_peer';
  /** Target ifindex (bpf_redirect*), or the map key (bpf_redirect_map). */
  index: number;
  /** bpf_redirect_map: the map's name and type. */
  map?: string;
  mapType?: number;
  /** The flags the helper kept (BPF_F_INGRESS, BPF_F_BROADCAST, ...). */
  flags: number;
  /**
   * bpf_redirect_neigh: the nexthop (from `struct bpf_redir_neigh`, or with host network state
   * the route to the packet's destination out of `index`) ...
   */
  nexthop?: string;
  /** ... and its MAC, when the host's neighbour table has it. */
  mac?: string;
}

/**
 * `struct bpf_tunnel_key` as bpf_skb_set_tunnel_key received it: the skb's tunnel metadata
 * (dst metadata), which bpf_skb_get_tunnel_key and bpf_skb_set_tunnel_opt then find.
 */
export interface TunnelKey {
  tunnelId: number;
  /** IPv4 remote as a u32 in host order, or the 16 bytes of an IPv6 remote. */
  remote: number | Uint8Array;
  /** IPv4 local as a u32 in host order, or the 16 bytes of an IPv6 local. */
  local: number | Uint8Array;
  tos: number;
  ttl: number;
  label: number;
  flags: number;
  /** bpf_skb_set_tunnel_opt's options, when it was called after the key. */
  options?: Uint8Array;
}

/** A clone bpf_clone_redirect transmitted: the packet's bytes when it was cloned. */
export interface ClonedFrame {
  /** Target ifindex. */
  index: number;
  /** BPF_F_INGRESS (received by the device) or 0 (transmitted by it). */
  flags: number;
  data: Uint8Array;
}

/** What a run asked of the outside world, reported in the test-run result. */
export interface PacketEffects {
  redirect?: Redirect;
  tunnelKey?: TunnelKey;
  /** bpf_clone_redirect's clones, in call order (the first 256: `repeat` runs each send one). */
  clones?: ClonedFrame[];
  /** bpf_skb_ecn_set_ce marked the packet Congestion Experienced. */
  ecnMarked?: boolean;
  /** skb->hash after bpf_set_hash / bpf_get_hash_recalc / bpf_set_hash_invalid. */
  hash?: number;
  /** bpf_csum_level calls (BPF_CSUM_LEVEL_INC/DEC/RESET). */
  csumLevel?: number;
}

/** An XDP buffer: [hardStart, hardEnd) in linear memory, then fragments. */
export interface XdpRun {
  kind: 'xdp';
  ctx: number;
  hardStart: number;
  /** xdp_data_hard_end: the end of the linear part's room (the page minus skb_shared_info). */
  hardEnd: number;
  /** Fragments: each a page, `len` bytes used. */
  frags: { page: Uint8Array; len: number }[];
  effects: PacketEffects;
  /** What the run holds of the socket helpers (runSockets), made by the first of them. */
  sockets?: RunSockets | undefined;
}

/** A socket buffer: its room [head, end) in linear memory, data between ctx->data and ctx->data_end. */
export interface SkbRun {
  kind: 'skb';
  ctx: number;
  head: number;
  end: number;
  /** The Ethernet header (mac_header). */
  mac: number;
  /** The network header. */
  network: number;
  /** tc programs see the Ethernet header at data and may rewrite it; socket filters start at the network header. */
  l2: boolean;
  effects: PacketEffects;
  /** What the run holds of the socket helpers (runSockets), made by the first of them. */
  sockets?: RunSockets | undefined;
}

/** The run in progress. */
export type PacketRun = XdpRun | SkbRun;

/** The run in progress, as a property of the memory object (cheaper than a WeakMap on every run). */
const RUN = Symbol('bpf2wasm.packetRun');
type WithRun = WebAssembly.Memory & { [RUN]?: PacketRun | undefined };

/** The packet run in progress on `memory`, if any. */
export function currentRun(memory: WebAssembly.Memory): PacketRun | undefined {
  return (memory as WithRun)[RUN];
}

/** Runs `body` with `run` as the packet run in progress on `memory`. */
export function withRun<T>(memory: WebAssembly.Memory, run: PacketRun, body: () => T): T {
  const m = memory as WithRun;
  const outer = m[RUN];
  m[RUN] = run;
  try {
    return body();
  } finally {
    m[RUN] = outer;
  }
}

const netStates = new WeakMap<WebAssembly.Memory, NetState>();

/**
 * Records the host network of the instance on `memory` (ObjectRuntime, at creation). Kept here,
 * not in net.ts, so the test run reads it without loading the host-state code (which comes with
 * the object runtime's chunk).
 */
export function setNetState(memory: WebAssembly.Memory, state: NetState): void {
  netStates.set(memory, state);
}

/** The host network of the instance on `memory` (the default host when none was supplied). */
export function netStateOf(memory: WebAssembly.Memory): NetState | undefined {
  return netStates.get(memory);
}

/** What a run holds of the socket helpers (sockets.ts): where each socket's struct is, and the references taken. */
export interface RunSockets {
  /** Where each socket's struct is, by socket index. */
  at: Map<number, number>;
  /** The references taken, by struct address. */
  held: Map<number, number>;
  /** `struct bpf_tcp_sock` addresses handed out, by socket index. */
  tcpAt: Map<number, number>;
  cookie?: bigint;
  /** The bpf_skc_to_* casts' structs (sock-cast.ts), made by the first cast. */
  casts?: CastState | undefined;
}

/** What a run's bpf_skc_to_* casts hold: each socket's struct by socket index, and the check for stores into them. */
export interface CastState {
  at: Map<number, number>;
  /** An error when the program stored into a struct a cast returned (the verifier refuses such stores). */
  check(program: string): BpfRuntimeError | undefined;
}

/**
 * The socket state of each run (sockets.ts), here so the test run checks it without the socket
 * helpers. It lives in the run's `sockets` field: a batch's run (batch.ts) makes that field an
 * accessor that gives each frame its own state and checks the previous frame's for references
 * left held.
 */
export const runSockets = {
  get: (run: PacketRun): RunSockets | undefined => run.sockets,
  set: (run: PacketRun, s: RunSockets): void => { run.sockets = s; },
};

/**
 * After a run: an error when the program returned holding socket references (the kernel's
 * verifier refuses such a program: "Unreleased reference") or stored into a struct a
 * bpf_skc_to_* cast returned (the verifier refuses stores through those pointers).
 */
export function unreleasedSockets(run: PacketRun, program: string): BpfRuntimeError | undefined {
  return unreleasedIn(run.sockets, program);
}

/** unreleasedSockets of one run's socket state (a batch checks each frame's). */
export function unreleasedIn(st: RunSockets | undefined, program: string): BpfRuntimeError | undefined {
  const stored = st?.casts?.check(program);
  if (st?.casts) st.casts = undefined;
  const n = st ? [...st.held.values()].reduce((x, y) => x + y, 0) : 0;
  if (n === 0) return stored;
  st!.held.clear();
  return new BpfRuntimeError(ErrorCode.HelperFailed, `the program returned holding ${n} socket reference${n === 1 ? '' : 's'} from bpf_sk_lookup_*/bpf_skc_lookup_tcp without bpf_sk_release (the kernel's verifier refuses it: Unreleased reference)`, { program, helper: 'bpf_sk_release' });
}
