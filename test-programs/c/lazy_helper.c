/* Two programs of one object: `uses_xfrm` (tc) calls bpf_skb_get_xfrm_state, which bpf2wasm does
 * not implement; `plain` (xdp) calls nothing. `plain` must run: a helper only another program of
 * the object uses does not stop it; `uses_xfrm` fails at the call, naming the helper.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int uses_xfrm(struct __sk_buff *skb) {
  struct bpf_xfrm_state x;
  if (skb->len < 20) return 1;
  return bpf_skb_get_xfrm_state(skb, 0, &x, sizeof(x), 0) == 0 ? 0 : 2;
}

SEC("xdp")
int plain(struct xdp_md *ctx) {
  return ctx->data_end - ctx->data > 100 ? XDP_DROP : XDP_PASS;
}

char __license[] SEC("license") = "GPL";
