/* What the kernel's verifier refuses around the BTF socket casts, for bpf2wasm's errors (the
 * kernel never loads this object): `store_through_cast` writes snd_cwnd through the struct
 * tcp_sock bpf_skc_to_tcp_sock returned (BTF pointers are read-only to tc programs: "only read
 * is supported"); `cast_null` passes NULL, `cast_stack` a stack address (neither is a socket:
 * "R1 type=scalar expected=ptr_, ..."); `release_cast` releases the lookup's reference through
 * the cast's pointer, which the kernel allows (the cast shares the socket's ref_obj_id).
 * After the Ethernet header: a `struct bpf_sock_tuple` (IPv4) to look up with bpf_sk_lookup_tcp.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

static __always_inline struct bpf_sock *lookup(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct bpf_sock_tuple *t = data + 14;
  if ((void *)t + sizeof(t->ipv4) > data_end) return 0;
  struct bpf_sock_tuple tuple = {};
  __builtin_memcpy(&tuple.ipv4, &t->ipv4, sizeof(t->ipv4));
  return bpf_sk_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
}

SEC("tc")
int store_through_cast(struct __sk_buff *skb) {
  struct bpf_sock *sk = lookup(skb);
  if (!sk) return 0;
  struct tcp_sock *t = bpf_skc_to_tcp_sock(sk);
  if (t) t->snd_cwnd = 1;
  bpf_sk_release(sk);
  return 1;
}

SEC("tc")
int cast_null(struct __sk_buff *skb) {
  return bpf_skc_to_tcp_sock((void *)0) ? 1 : 0;
}

SEC("tc")
int cast_stack(struct __sk_buff *skb) {
  __u64 x[8] = {};
  return bpf_skc_to_udp6_sock(x) ? 1 : 0;
}

SEC("tc")
int release_cast(struct __sk_buff *skb) {
  struct bpf_sock *sk = lookup(skb);
  if (!sk) return 0;
  struct tcp_sock *t = bpf_skc_to_tcp_sock(sk);
  if (!t) {
    bpf_sk_release(sk);
    return 2;
  }
  bpf_sk_release(t);
  return 1;
}

char _license[] SEC("license") = "GPL";
