/* A tc program that looks up a TCP socket (the listener of 10.1.0.1:8080 when the frame is over
 * 100 bytes) and returns without bpf_sk_release: the kernel's verifier refuses it ("Unreleased
 * reference"); bpf2wasm fails the run that ends holding the reference.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int sk_leak(struct __sk_buff *skb) {
  struct bpf_sock_tuple t = {};
  t.ipv4.dport = __builtin_bswap16(8080);
  t.ipv4.daddr = skb->len > 100 ? 0x0100010a : 0;
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4), -1, 0);
  return sk ? 1 : 0;
}

char _license[] SEC("license") = "GPL";
