/* skb->sk of a BPF_PROG_TEST_RUN: the kernel gives every skb test run's skb a dummy socket
 * (net/bpf/test_run.c bpf_prog_test_run_skb: sk_alloc(AF_UNSPEC) and sock_init_data(NULL, sk),
 * then the family and the addresses of the IPv4 / IPv6 header). Each program reads every field
 * of `struct bpf_sock` through skb->sk (PTR_TO_SOCK_COMMON_OR_NULL), a few of them narrowly, then
 * through bpf_sk_fullsock's full socket the fields only a full socket has (type, protocol, mark,
 * priority), and what bpf_tcp_sock, bpf_get_listener_sock and (tc) bpf_sk_assign,
 * bpf_tcp_check_syncookie and bpf_tcp_gen_syncookie answer for it, into `struct skb_sk_ans`.
 *
 * tc and tc action programs write the answer (128 bytes) into the frame at byte 64 (a frame of 192
 * bytes: 64 of headers, then room for it; shorter frames return 2 and write nothing); socket filters, cgroup_skb and lwt programs, which may not write
 * the packet, into the `answers` map at the key in the frame's byte 63. Each returns 0 (cgroup_skb:
 * 1, pass).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ANSWER_AT 64
#define KEY_AT 63
#define ETH_HLEN 14

struct skb_sk_ans {
  __u32 found;
  __u32 bound_dev_if, family, src_ip4, src_ip6[4], src_port, dst_port, dst_ip4, dst_ip6[4], state;
  __s32 rx_queue_mapping;
  /* narrow reads: family's low byte, dst_port's 16 bits, src_ip4's second byte, dst_ip6[3]'s high half */
  __u32 family8, dst_port16, src_ip4_b1, dst_ip6_h;
  /* bpf_sk_fullsock: non-NULL, the same pointer, and the full socket's fields */
  __u32 full, full_same, type, protocol, mark, priority;
  /* bpf_tcp_sock and bpf_get_listener_sock non-NULL */
  __u32 tcp, listener;
  /* tc only: bpf_sk_assign(skb, sk, 0), bpf_tcp_check_syncookie, bpf_tcp_gen_syncookie */
  __s32 assign, check_cookie, gen_cookie;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, struct skb_sk_ans);
} answers SEC(".maps");

static __always_inline struct bpf_sock *fields(struct __sk_buff *skb, struct skb_sk_ans *a) {
  struct bpf_sock *sk = skb->sk;
  if (!sk) return 0;
  a->found = 1;
  a->bound_dev_if = sk->bound_dev_if;
  a->family = sk->family;
  a->src_ip4 = sk->src_ip4;
  for (int i = 0; i < 4; i++) {
    a->src_ip6[i] = sk->src_ip6[i];
    a->dst_ip6[i] = sk->dst_ip6[i];
  }
  a->src_port = sk->src_port;
  a->dst_port = sk->dst_port;
  a->dst_ip4 = sk->dst_ip4;
  a->state = sk->state;
  a->rx_queue_mapping = sk->rx_queue_mapping;
  a->family8 = *(volatile __u8 *)&sk->family;
  a->dst_port16 = *(volatile __u16 *)&sk->dst_port;
  a->src_ip4_b1 = ((volatile __u8 *)&sk->src_ip4)[1];
  a->dst_ip6_h = ((volatile __u16 *)&sk->dst_ip6[3])[1];
  return sk;
}

static __always_inline void full_helpers(struct bpf_sock *sk, struct skb_sk_ans *a) {
  struct bpf_sock *f = bpf_sk_fullsock(sk);
  if (f) {
    a->full = 1;
    a->full_same = f == sk;
    a->type = f->type;
    a->protocol = f->protocol;
    a->mark = f->mark;
    a->priority = f->priority;
    a->tcp = bpf_tcp_sock(f) != 0;
  }
  a->listener = bpf_get_listener_sock(sk) != 0;
}

static __always_inline int tc_probe(struct __sk_buff *skb) {
  struct skb_sk_ans a = {};
  struct bpf_sock *sk = fields(skb, &a);
  if (sk) {
    full_helpers(sk, &a);
    a.assign = bpf_sk_assign(skb, sk, 0);
    __u8 hdr[60] = {};
    hdr[0] = 0x45;
    hdr[40 + 12] = 0x50;
    hdr[40 + 13] = 0x10; /* ACK */
    a.check_cookie = bpf_tcp_check_syncookie(sk, hdr, 20, (struct tcphdr *)(hdr + 40), 20);
    hdr[40 + 13] = 0x02; /* SYN */
    a.gen_cookie = (__s32)bpf_tcp_gen_syncookie(sk, hdr, 20, (struct tcphdr *)(hdr + 40), 20);
  }
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  if (data + ANSWER_AT + sizeof(a) > data_end) return 2;
  __builtin_memcpy(data + ANSWER_AT, &a, sizeof(a));
  return 0;
}

SEC("tc")
int skb_sk_tc(struct __sk_buff *skb) { return tc_probe(skb); }

SEC("action")
int skb_sk_act(struct __sk_buff *skb) { return tc_probe(skb); }

/* The answer into `answers` at the frame's byte 63 (from the network header: 63 - 14). */
static __always_inline void to_map(struct __sk_buff *skb, struct skb_sk_ans *a) {
  __u8 k8 = 0;
  bpf_skb_load_bytes(skb, KEY_AT - ETH_HLEN, &k8, 1);
  __u32 key = k8 & 15;
  bpf_map_update_elem(&answers, &key, a, BPF_ANY);
}

SEC("socket")
int skb_sk_socket(struct __sk_buff *skb) {
  struct skb_sk_ans a = {};
  fields(skb, &a);
  to_map(skb, &a);
  return 0;
}

SEC("cgroup_skb/ingress")
int skb_sk_cg(struct __sk_buff *skb) {
  struct skb_sk_ans a = {};
  struct bpf_sock *sk = fields(skb, &a);
  if (sk) full_helpers(sk, &a);
  to_map(skb, &a);
  return 1;
}

SEC("lwt_in")
int skb_sk_lwt(struct __sk_buff *skb) {
  struct skb_sk_ans a = {};
  fields(skb, &a);
  to_map(skb, &a);
  return 0;
}

char _license[] SEC("license") = "GPL";
