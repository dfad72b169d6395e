/**
 * Flags and constants of helpers (linux/bpf.h): the ring buffer's (`BPF_RB_*`, record header
 * bits) and bpf_perf_event_output's (`BPF_F_INDEX_MASK`, `BPF_F_CURRENT_CPU`). 64-bit flags are
 * bigints, as helpers receive them.
 */

/** Submit/discard/output flag: do not wake consumers. */
export const BPF_RB_NO_WAKEUP = 1n;
/** Submit/discard/output flag: wake consumers even if the record is not the next to read. */
export const BPF_RB_FORCE_WAKEUP = 2n;
/** bpf_ringbuf_query: bytes not yet consumed. */
export const BPF_RB_AVAIL_DATA = 0n;
/** bpf_ringbuf_query: size of the data area. */
export const BPF_RB_RING_SIZE = 1n;
/** bpf_ringbuf_query: the consumer position. */
export const BPF_RB_CONS_POS = 2n;
/** bpf_ringbuf_query: the producer position. */
export const BPF_RB_PROD_POS = 3n;
/** Header length bit: the record is reserved, not yet submitted or discarded. */
export const BPF_RINGBUF_BUSY_BIT = 0x8000_0000;
/** Header length bit: the record was discarded. */
export const BPF_RINGBUF_DISCARD_BIT = 0x4000_0000;
/** Size of a record header. */
export const BPF_RINGBUF_HDR_SZ = 8;

/** The CPU-index bits of bpf_perf_event_output's flags; any other bit is -EINVAL. */
export const BPF_F_INDEX_MASK = 0xffff_ffffn;
/**
 * bpf_perf_event_output of XDP and skb programs (bpf_xdp_event_output, bpf_skb_event_output):
 * these bits of the flags are how many bytes of the packet to append to the sample.
 */
export const BPF_F_CTXLEN_MASK = 0xfffffn << 32n;
/** "The CPU the program runs on." */
export const BPF_F_CURRENT_CPU = 0xffff_ffffn;
