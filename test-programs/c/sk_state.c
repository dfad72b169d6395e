/* The socket-state helpers of tc programs, as a probe: for an IPv4 or IPv6 TCP frame, `sk_state`
 * finds the socket of its 4-tuple with bpf_skc_lookup_tcp and writes `struct ans` over the TCP
 * payload (the frame must have room for it): whether a socket was found, bpf_sk_fullsock (NULL or
 * the same pointer), bpf_tcp_sock and some of its fields, bpf_get_listener_sock and the listener's
 * port and state, bpf_sk_assign's result (with `flags` from the first payload word),
 * and without a socket as with one bpf_skb_cgroup_id, bpf_skb_ancestor_cgroup_id (levels 0 and 1) and bpf_skb_get_xfrm_state
 * (its result and whether it left the buffer zero). Every reference is released (through the
 * bpf_tcp_sock pointer when there is one).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct ans {
  __u32 flags_lo, flags_hi; /* in: bpf_sk_assign's flags */
  __s32 found, full, full_same, tcp;
  __u32 snd_cwnd, srtt_us, rtt_min, snd_ssthresh, rcv_nxt, snd_nxt, mss_cache, total_retrans;
  __u64 bytes_acked;
  __s32 listener;
  __u32 listener_port, listener_state;
  __s64 assign;
  __u64 skb_cgroup, skb_ancestor0, skb_ancestor1;
  __s64 xfrm;
  __u32 xfrm_zero, pad;
};

SEC("tc")
int sk_state(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  struct bpf_sock_tuple t = {};
  struct bpf_sock *sk;
  struct tcphdr *th;
  if ((void *)(eth + 1) > data_end) return TC_ACT_SHOT;
  if (eth->h_proto == __builtin_bswap16(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP) return TC_ACT_SHOT;
    th = (void *)(ip + 1);
    if ((void *)(th + 1) > data_end) return TC_ACT_SHOT;
    t.ipv4.saddr = ip->saddr;
    t.ipv4.daddr = ip->daddr;
    t.ipv4.sport = th->source;
    t.ipv4.dport = th->dest;
    sk = (struct bpf_sock *)bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), -1, 0);
  } else if (eth->h_proto == __builtin_bswap16(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP) return TC_ACT_SHOT;
    th = (void *)(ip6 + 1);
    if ((void *)(th + 1) > data_end) return TC_ACT_SHOT;
    __builtin_memcpy(t.ipv6.saddr, &ip6->saddr, 16);
    __builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
    t.ipv6.sport = th->source;
    t.ipv6.dport = th->dest;
    sk = (struct bpf_sock *)bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv6), -1, 0);
  } else {
    return TC_ACT_SHOT;
  }
  struct ans *a = (void *)(th + 1);
  if ((void *)(a + 1) > data_end) {
    if (sk) bpf_sk_release(sk);
    return TC_ACT_SHOT;
  }
  struct bpf_xfrm_state x;
  __builtin_memset(&x, 0xff, sizeof(x));
  a->xfrm = bpf_skb_get_xfrm_state(skb, 0, &x, sizeof(x), 0);
  a->xfrm_zero = x.reqid == 0 && x.spi == 0 && x.family == 0 && x.ext == 0 && x.remote_ipv6[0] == 0 && x.remote_ipv6[3] == 0;
  a->skb_cgroup = bpf_skb_cgroup_id(skb);
  a->skb_ancestor0 = bpf_skb_ancestor_cgroup_id(skb, 0);
  a->skb_ancestor1 = bpf_skb_ancestor_cgroup_id(skb, 1);
  if (!sk) return TC_ACT_OK;
  a->found = 1;
  __u64 flags = ((__u64)a->flags_hi << 32) | a->flags_lo;
  a->assign = bpf_sk_assign(skb, sk, flags);
  struct bpf_sock *l = bpf_get_listener_sock(sk);
  if (l) {
    a->listener = 1;
    a->listener_port = l->src_port;
    a->listener_state = l->state;
  }
  struct bpf_sock *full = bpf_sk_fullsock(sk);
  if (full) {
    a->full = 1;
    a->full_same = full == sk;
  }
  struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
  if (tp) {
    a->tcp = 1;
    a->snd_cwnd = tp->snd_cwnd;
    a->srtt_us = tp->srtt_us;
    a->rtt_min = tp->rtt_min;
    a->snd_ssthresh = tp->snd_ssthresh;
    a->rcv_nxt = tp->rcv_nxt;
    a->snd_nxt = tp->snd_nxt;
    a->mss_cache = tp->mss_cache;
    a->total_retrans = tp->total_retrans;
    a->bytes_acked = tp->bytes_acked;
    bpf_sk_release((struct bpf_sock *)tp);
  } else {
    bpf_sk_release(sk);
  }
  return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
