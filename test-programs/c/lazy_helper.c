/* Two programs of one object: `uses_missing` (tc) calls bpf_skc_to_tcp_sock, which bpf2wasm
 * does not implement (it returns a pointer into the kernel's own struct tcp_sock); `plain` (xdp)
 * calls nothing. `plain` must run: a helper only another program of the object uses does not
 * stop it; `uses_missing` fails at the call, naming the helper.
 */
#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int uses_missing(struct __sk_buff *skb) {
  struct tcphdr th = {};
  if (skb->len < 20) return 1;
  return bpf_skc_to_tcp_sock(&th) ? 0 : 2;
}

SEC("xdp")
int plain(struct xdp_md *ctx) {
  return ctx->data_end - ctx->data > 100 ? XDP_DROP : XDP_PASS;
}

char __license[] SEC("license") = "GPL";
