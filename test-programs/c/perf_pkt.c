/* bpf_perf_event_output with packet bytes (BPF_F_CTXLEN_MASK) from XDP, tc and socket-filter
 * programs. The frame says what to ask for: after the 14-byte Ethernet header, a u32 `want`
 * (bytes of the packet to append) and a u32 `bad` (non-zero: also set flag bit 52, outside
 * BPF_F_CTXLEN_MASK). Each program outputs an 8-byte marker (its kind and `want`) and returns the
 * helper's result. The socket filter reads at offsets 0 and 4 (its skb->data is the network
 * header in the kernel's mode).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct marker {
  __u32 kind, want;
};

static __always_inline __u64 flags_for(__u32 want, __u32 bad) {
  return BPF_F_CURRENT_CPU | ((__u64)(want & 0xfffff) << 32) | (bad ? (1ULL << 52) : 0);
}

SEC("xdp")
int perf_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  __u32 *req = data + 14;
  if ((void *)(req + 2) > data_end) return XDP_ABORTED;
  struct marker m = { 1, req[0] };
  return bpf_perf_event_output(ctx, &events, flags_for(req[0], req[1]), &m, sizeof(m));
}

SEC("tc")
int perf_tc(struct __sk_buff *skb) {
  __u32 req[2];
  if (bpf_skb_load_bytes(skb, 14, req, sizeof(req))) return -1000;
  struct marker m = { 2, req[0] };
  return bpf_perf_event_output(skb, &events, flags_for(req[0], req[1]), &m, sizeof(m));
}

SEC("socket")
int perf_sock(struct __sk_buff *skb) {
  __u32 req[2];
  if (bpf_skb_load_bytes(skb, 0, req, sizeof(req))) return -1000;
  struct marker m = { 3, req[0] };
  return bpf_perf_event_output(skb, &events, flags_for(req[0], req[1]), &m, sizeof(m));
}

char _license[] SEC("license") = "GPL";
