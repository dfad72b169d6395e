/* Socket lookups against the host's sockets, as a probe: after the 14-byte Ethernet header the
 * frame holds the request (`struct req`: which helper, the tuple size, netns and flags, then a
 * `struct bpf_sock_tuple`) and room for the answer (`struct ans`): whether a socket was found and
 * the `struct bpf_sock` fields the program may read (all of them for bpf_sk_lookup_tcp / _udp,
 * the sock_common ones for bpf_skc_lookup_tcp). Every reference is released. `sk_probe` is XDP,
 * `sk_probe_tc` tc, which also reports bpf_get_socket_cookie (non-zero or not) and
 * bpf_get_socket_uid of the test run's skb. `syn_cookie` (XDP) finds the TCP socket of an
 * IPv4 or IPv6 TCP frame (bpf_skc_lookup_tcp) and returns bpf_tcp_gen_syncookie's result for a
 * SYN, bpf_tcp_check_syncookie's for anything else (low 32 bits), or 0x7fff0000 without a socket.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct req {
  __u32 op;          /* 0 bpf_sk_lookup_tcp, 1 bpf_sk_lookup_udp, 2 bpf_skc_lookup_tcp */
  __u32 v6;          /* tuple size: 0 sizeof(tuple.ipv4), 1 sizeof(tuple.ipv6), 2 a bad size (8) */
  __u64 netns;
  __u64 flags;
  struct bpf_sock_tuple tuple;
};

struct ans {
  __s32 found;
  __u32 family, type, protocol, mark, priority, bound_dev_if;
  __u32 src_ip4, src_ip6[4], src_port, dst_port, dst_ip4, dst_ip6[4], state;
  __s32 rx_queue_mapping;
  __u32 cookie_nonzero, uid;
};

struct probe {
  struct req req;
  struct ans ans;
};

static __always_inline struct bpf_sock *lookup(void *ctx, struct req *r) {
  struct bpf_sock_tuple t;
  __builtin_memcpy(&t, &r->tuple, sizeof(t));
  if (r->op == 0) {
    if (r->v6 == 0) return bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), r->netns, r->flags);
    if (r->v6 == 1) return bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv6), r->netns, r->flags);
    return bpf_sk_lookup_tcp(ctx, &t, 8, r->netns, r->flags);
  }
  if (r->v6 == 0) return bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4), r->netns, r->flags);
  return bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv6), r->netns, r->flags);
}

static __always_inline struct bpf_sock *lookup_common(void *ctx, struct req *r) {
  struct bpf_sock_tuple t;
  __builtin_memcpy(&t, &r->tuple, sizeof(t));
  if (r->v6 == 0) return (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), r->netns, r->flags);
  return (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv6), r->netns, r->flags);
}

static __always_inline void answer(struct probe *p, struct bpf_sock *sk) {
  struct ans *a = &p->ans;
  a->found = 1;
  a->family = sk->family;
  a->src_ip4 = sk->src_ip4;
  a->src_ip6[0] = sk->src_ip6[0];
  a->src_ip6[1] = sk->src_ip6[1];
  a->src_ip6[2] = sk->src_ip6[2];
  a->src_ip6[3] = sk->src_ip6[3];
  a->src_port = sk->src_port;
  a->dst_port = sk->dst_port;
  a->dst_ip4 = sk->dst_ip4;
  a->dst_ip6[0] = sk->dst_ip6[0];
  a->dst_ip6[1] = sk->dst_ip6[1];
  a->dst_ip6[2] = sk->dst_ip6[2];
  a->dst_ip6[3] = sk->dst_ip6[3];
  a->state = *(volatile __u32 *)&sk->state;
}

static __always_inline void answer_full(struct probe *p, struct bpf_sock *sk) {
  struct ans *a = &p->ans;
  a->type = sk->type;
  a->protocol = sk->protocol;
  a->mark = sk->mark;
  a->priority = sk->priority;
  a->bound_dev_if = sk->bound_dev_if;
  a->rx_queue_mapping = sk->rx_queue_mapping;
}

#define PROBE(ctx, data, data_end)                                  \
  struct probe *p = (data) + 14;                                    \
  if ((void *)(p + 1) > (data_end)) return 0;                       \
  struct req r;                                                     \
  __builtin_memcpy(&r, &p->req, sizeof(r));                         \
  if (r.op == 2) {                                                  \
    struct bpf_sock *sk = lookup_common(ctx, &r);                   \
    if (sk) {                                                       \
      answer(p, sk);                                                \
      bpf_sk_release(sk);                                           \
    }                                                               \
  } else {                                                          \
    struct bpf_sock *sk = lookup(ctx, &r);                          \
    if (sk) {                                                       \
      answer(p, sk);                                                \
      answer_full(p, sk);                                           \
      bpf_sk_release(sk);                                           \
    }                                                               \
  }

SEC("xdp")
int sk_probe(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  PROBE(ctx, data, data_end)
  return XDP_PASS;
}

SEC("tc")
int sk_probe_tc(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  PROBE(skb, data, data_end)
  p->ans.cookie_nonzero = bpf_get_socket_cookie(skb) != 0;
  p->ans.uid = bpf_get_socket_uid(skb);
  return TC_ACT_OK;
}

SEC("xdp")
int syn_cookie(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk;
  struct tcphdr *th;
  void *iph = eth + 1;
  int v6;
  if ((void *)(eth + 1) > data_end) return XDP_ABORTED;
  if (eth->h_proto == __builtin_bswap16(ETH_P_IP)) {
    struct iphdr *ip = iph;
    if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP) return XDP_PASS;
    th = (void *)(ip + 1);
    if ((void *)(th + 1) > data_end) return XDP_PASS;
    t.ipv4.saddr = ip->saddr;
    t.ipv4.daddr = ip->daddr;
    t.ipv4.sport = th->source;
    t.ipv4.dport = th->dest;
    v6 = 0;
    sk = (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), -1, 0);
  } else if (eth->h_proto == __builtin_bswap16(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = iph;
    if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP) return XDP_PASS;
    th = (void *)(ip6 + 1);
    if ((void *)(th + 1) > data_end) return XDP_PASS;
    __builtin_memcpy(t.ipv6.saddr, &ip6->saddr, 16);
    __builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
    t.ipv6.sport = th->source;
    t.ipv6.dport = th->dest;
    v6 = 1;
    sk = (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv6), -1, 0);
  } else {
    return XDP_PASS;
  }
  if (!sk) return 0x7fff0000;
  long rc;
  if (th->syn && !th->ack) {
    if (v6) rc = bpf_tcp_gen_syncookie(sk, iph, sizeof(struct ipv6hdr), th, sizeof(*th));
    else rc = bpf_tcp_gen_syncookie(sk, iph, sizeof(struct iphdr), th, sizeof(*th));
  } else {
    if (v6) rc = bpf_tcp_check_syncookie(sk, iph, sizeof(struct ipv6hdr), th, sizeof(*th));
    else rc = bpf_tcp_check_syncookie(sk, iph, sizeof(struct iphdr), th, sizeof(*th));
  }
  bpf_sk_release(sk);
  return (int)rc;
}

char _license[] SEC("license") = "GPL";
