/* Two programs of one object: `uses_missing` (tc) calls bpf_dynptr_from_mem, which the kernel
 * gives tc programs (bpf_base_func_proto) and bpf2wasm does not implement (dynptrs are not
 * done); `plain` (xdp) calls nothing. `plain` must run: a helper only another program of the
 * object uses does not stop it; `uses_missing` fails at the call, naming the helper.
 */
#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>

/* bpf_dynptr_from_mem takes map memory: a global's. */
char buf[16];

SEC("tc")
int uses_missing(struct __sk_buff *skb) {
  struct bpf_dynptr ptr;
  if (skb->len < 20) return 1;
  return bpf_dynptr_from_mem(buf, sizeof(buf), 0, &ptr) ? 2 : 0;
}

SEC("xdp")
int plain(struct xdp_md *ctx) {
  return ctx->data_end - ctx->data > 100 ? XDP_DROP : XDP_PASS;
}

char __license[] SEC("license") = "GPL";
