/* Helpers called by number through a register (`callx`, as clang emits an indirect call): the
 * helper ids are read from a global, so nothing is known of them when the object is loaded.
 * `xdp_callx` and `tc_callx` pick one by the last byte of the destination MAC address plus the
 * frame's length, and count the picks: 0 strips the Ethernet header (bpf_xdp_adjust_head) /
 * grows the frame by 4 bytes (bpf_skb_change_tail), 1 redirects to ifindex 3 (bpf_redirect),
 * 2 trims 4 bytes and transmits (bpf_xdp_adjust_tail) / sets the hash (bpf_set_hash), 3 calls a
 * helper that does not exist (the run faults). The kernel refuses callx, so these run against
 * bpf2wasm's own per-frame test run (runtime/test/batch.test.ts, compiler/test/programs.test.ts).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

volatile __u32 xdp_ids[4] = { BPF_FUNC_xdp_adjust_head, BPF_FUNC_redirect, BPF_FUNC_xdp_adjust_tail, 0x7fff };
volatile __u32 tc_ids[4] = { BPF_FUNC_skb_change_tail, BPF_FUNC_redirect, BPF_FUNC_set_hash, 0x7fff };

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} picks SEC(".maps");

typedef long (*fn_ctx_int)(void *, long);
typedef long (*fn_ctx_int_int)(void *, long, long);
typedef long (*fn_int_int)(long, long);

static __always_inline __u32 pick(void *data, __u32 len) {
  __u32 sel = (((__u8 *)data)[5] + len) & 3;
  __u64 *n = bpf_map_lookup_elem(&picks, &sel);
  if (n) __sync_fetch_and_add(n, 1);
  return sel;
}

SEC("xdp")
int xdp_callx(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  if (data + 14 > data_end) return XDP_ABORTED;
  __u32 sel = pick(data, data_end - data);
  if (sel == 0) return ((fn_ctx_int)(long)xdp_ids[0])(ctx, 14) ? XDP_ABORTED : XDP_PASS;
  if (sel == 1) return ((fn_int_int)(long)xdp_ids[1])(3, 0);
  if (sel == 2) return ((fn_ctx_int)(long)xdp_ids[2])(ctx, -4) ? XDP_ABORTED : XDP_TX;
  return ((fn_ctx_int)(long)xdp_ids[3])(ctx, 0);
}

SEC("tc")
int tc_callx(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  if (data + 14 > data_end) return TC_ACT_SHOT;
  __u32 sel = pick(data, skb->len);
  if (sel == 0) return ((fn_ctx_int_int)(long)tc_ids[0])(skb, skb->len + 4, 0) ? TC_ACT_SHOT : TC_ACT_OK;
  if (sel == 1) return ((fn_int_int)(long)tc_ids[1])(3, 0);
  if (sel == 2) {
    ((fn_ctx_int)(long)tc_ids[2])(skb, 0x1234);
    return TC_ACT_OK;
  }
  return ((fn_ctx_int)(long)tc_ids[3])(skb, 0);
}

char _license[] SEC("license") = "GPL";
