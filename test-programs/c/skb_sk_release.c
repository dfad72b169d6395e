/* bpf_sk_release(skb->sk): a program the kernel's verifier refuses (skb->sk, the test run's
 * dummy socket, is no reference the program took), which bpf2wasm refuses at the call with
 * E_HELPER_FAILED. Not loaded into the kernel by any test. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int release_skb_sk(struct __sk_buff *skb) {
  struct bpf_sock *sk = skb->sk;
  if (sk) bpf_sk_release(sk);
  return 0;
}

char _license[] SEC("license") = "GPL";
