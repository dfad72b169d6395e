/* Context probes: each program writes the context fields it may read where a test run shows
 * them, so a differential test compares them with the kernel's. `tc_ctx` (tc) and `xdp_ctx`
 * (xdp) overwrite the frame from byte 14 on with u32 fields (little-endian, in the order below;
 * frames must be at least 14 + 4 * fields bytes, shorter ones return 1 untouched);
 * `sock_ctx` (socket filter, which cannot write the packet) stores its fields in the array map
 * `sock_fields` and returns skb->len. tc also sets mark = len and cb[1] = protocol, which a
 * ctx_out shows.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u32);
  __uint(max_entries, 16);
} sock_fields SEC(".maps");

SEC("tc")
int tc_ctx(struct __sk_buff *skb) {
  __u32 f[14] = {
    skb->len, skb->pkt_type, skb->mark, skb->queue_mapping, skb->protocol, skb->vlan_present,
    skb->priority, skb->ingress_ifindex, skb->ifindex, skb->cb[0], skb->hash, skb->wire_len,
    skb->gso_segs, skb->data_end - skb->data,
  };
  if (bpf_skb_store_bytes(skb, 14, f, sizeof(f), 0)) return 1;
  skb->mark = skb->len;
  skb->cb[1] = skb->protocol;
  return 0;
}

SEC("xdp")
int xdp_ctx(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  __u32 f[6] = {
    ctx->ingress_ifindex, ctx->rx_queue_index, ctx->data_end - ctx->data, ctx->data - ctx->data_meta,
    bpf_xdp_get_buff_len(ctx), 0,
  };
  /* How far the headroom goes: the most bpf_xdp_adjust_head accepts, probed and undone. */
  int room = 0;
  if (bpf_xdp_adjust_head(ctx, -216) == 0) { room = 216; bpf_xdp_adjust_head(ctx, 216); }
  else if (bpf_xdp_adjust_head(ctx, -192) == 0) { room = 192; bpf_xdp_adjust_head(ctx, 192); }
  f[5] = room;
  data = (void *)(long)ctx->data;
  data_end = (void *)(long)ctx->data_end;
  if (data + 14 + sizeof(f) > data_end) return 1;
  __builtin_memcpy(data + 14, f, sizeof(f));
  return XDP_PASS;
}

SEC("socket")
int sock_ctx(struct __sk_buff *skb) {
  __u32 f[10] = {
    skb->len, skb->pkt_type, skb->mark, skb->protocol, skb->priority, skb->ingress_ifindex,
    skb->ifindex, skb->cb[0], skb->vlan_present, skb->hash,
  };
#pragma unroll
  for (__u32 i = 0; i < 10; i++) {
    __u32 k = i;
    bpf_map_update_elem(&sock_fields, &k, &f[i], BPF_ANY);
  }
  return skb->len;
}

char __license[] SEC("license") = "GPL";
