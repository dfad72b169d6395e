/* XDP: exercises the buffer helpers the way a load balancer does: reserves 8 bytes of metadata
 * (bpf_xdp_adjust_meta(-8)) holding the frame's original length and a tag, trims frames longer
 * than 128 bytes to 128 (bpf_xdp_adjust_tail), and pushes a 4-byte header in front of frames
 * whose first byte is 0xee (bpf_xdp_adjust_head(-4)), copying the MACs there. Returns XDP_PASS,
 * or XDP_ABORTED when a helper fails; `fails` counts the helper errors by helper.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 3);
} fails SEC(".maps");

static __always_inline int fail(__u32 which) {
  __u64 *n = bpf_map_lookup_elem(&fails, &which);
  if (n) __sync_fetch_and_add(n, 1);
  return XDP_ABORTED;
}

SEC("xdp")
int meta_trim(struct xdp_md *ctx) {
  __u32 len = ctx->data_end - ctx->data;
  if (bpf_xdp_adjust_meta(ctx, -8)) return fail(0);
  void *data = (void *)(long)ctx->data;
  void *meta = (void *)(long)ctx->data_meta;
  if (meta + 8 > data) return fail(0);
  ((__u32 *)meta)[0] = len;
  ((__u32 *)meta)[1] = 0xfeedf00d;
  if (len > 128 && bpf_xdp_adjust_tail(ctx, 128 - (int)len)) return fail(1);
  data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  if (data + 12 > data_end) return XDP_PASS;
  if (*(__u8 *)data != 0xee) return XDP_PASS;
  if (bpf_xdp_adjust_head(ctx, -4)) return fail(2);
  data = (void *)(long)ctx->data;
  data_end = (void *)(long)ctx->data_end;
  if (data + 16 > data_end) return fail(2);
  __builtin_memmove(data, data + 4, 12);
  ((__u8 *)data)[12] = 0x88;
  ((__u8 *)data)[13] = 0xb5;
  ((__u8 *)data)[14] = 0;
  ((__u8 *)data)[15] = 0;
  return XDP_PASS;
}

char __license[] SEC("license") = "GPL";
