/**
 * Program UAPI facts: what r1 points to for each program type (its context struct), and the
 * return codes of packet programs (`enum xdp_action`, `TC_ACT_*` of linux/pkt_cls.h).
 */

/**
 * The struct a program's r1 points to, by its UAPI name; `raw` when it is not a packet or socket
 * context bpf2wasm knows (tracing arguments, raw bytecode, cgroup programs whose context depends
 * on the attach point): the caller's bytes as given.
 */
export type ContextKind =
  | 'xdp_md' | '__sk_buff' | 'sk_msg_md' | 'bpf_sock_ops' | 'bpf_sk_lookup' | 'sk_reuseport_md'
  | 'pt_regs' | 'bpf_perf_event_data' | 'raw';

/** Every {@link ContextKind}. */
export const CONTEXT_KINDS: readonly ContextKind[] = [
  'xdp_md', '__sk_buff', 'sk_msg_md', 'bpf_sock_ops', 'bpf_sk_lookup', 'sk_reuseport_md',
  'pt_regs', 'bpf_perf_event_data', 'raw',
];

/**
 * Context struct by program type (bpf2wasm's names of `enum bpf_prog_type`, as the ELF loader
 * derives them from section names), as the kernel's `bpf_prog_types` table pairs them.
 */
const CONTEXT_OF_TYPE: Readonly<Record<string, ContextKind>> = {
  xdp: 'xdp_md',
  socket: '__sk_buff',
  tc: '__sk_buff',
  tc_action: '__sk_buff',
  cgroup_skb: '__sk_buff',
  sk_skb: '__sk_buff',
  lwt: '__sk_buff',
  flow_dissector: '__sk_buff',
  sk_msg: 'sk_msg_md',
  sock_ops: 'bpf_sock_ops',
  sk_lookup: 'bpf_sk_lookup',
  sk_reuseport: 'sk_reuseport_md',
  kprobe: 'pt_regs',
  uprobe: 'pt_regs',
  perf_event: 'bpf_perf_event_data',
};

/** The context struct of a program type (`xdp` -> `xdp_md`); `raw` for any other type. */
export function contextKindOf(programType: string): ContextKind {
  return Object.hasOwn(CONTEXT_OF_TYPE, programType) ? CONTEXT_OF_TYPE[programType]! : 'raw';
}

/** `enum xdp_action`: what an XDP program returns. */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

/** `TC_ACT_*` (linux/pkt_cls.h): what a tc classifier or action returns. */
export const TcAction = {
  UNSPEC: -1, OK: 0, RECLASSIFY: 1, SHOT: 2, PIPE: 3, STOLEN: 4, QUEUED: 5, REPEAT: 6, REDIRECT: 7, TRAP: 8,
} as const;

/**
 * The kernel's limit on chained tail calls (MAX_TAIL_CALL_CNT, include/linux/bpf.h): the 34th
 * `bpf_tail_call` of a chain fails and the program goes on. Both engines count by it.
 */
export const MAX_TAIL_CALL_CNT = 33;
