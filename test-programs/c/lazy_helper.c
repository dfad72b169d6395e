/* Two programs of one object: `uses_clone` (tc) calls bpf_clone_redirect, which bpf2wasm does
 * not implement; `plain` (xdp) calls nothing. `plain` must run: a helper only another program of
 * the object uses does not stop it; `uses_clone` fails at the call, naming the helper.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int uses_clone(struct __sk_buff *skb) {
  if (skb->len < 20) return 1;
  return bpf_clone_redirect(skb, 1, 0) == 0 ? 0 : 2;
}

SEC("xdp")
int plain(struct xdp_md *ctx) {
  return ctx->data_end - ctx->data > 100 ? XDP_DROP : XDP_PASS;
}

char __license[] SEC("license") = "GPL";
