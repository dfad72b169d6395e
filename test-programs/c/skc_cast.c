/* The BTF socket casts (bpf_skc_to_tcp6_sock, _tcp_sock, _tcp_timewait_sock, _tcp_request_sock,
 * _udp6_sock, _unix_sock, _mptcp_sock) as a tc probe, built against a vmlinux.h that
 * scripts/build-test-programs.sh generates from the build machine's /sys/kernel/btf/vmlinux
 * (bpftool btf dump ... format c), so every field read below is a CO-RE relocation against the
 * kernel's own socket structs. After the 14-byte Ethernet header the frame holds the request
 * (`struct skc_req`: which socket to cast and the tuple) and room for the answer (`struct skc_ans`): for
 * each cast whether it gave NULL and, when not, the sock_common fields read through the cast's
 * struct (family, state, ports, addresses, bound device) and, for full sockets, sk_protocol and
 * sk_type, and the state bpf_skc_lookup_tcp's `struct bpf_sock` reports. `same_tcp` records whether bpf_skc_to_tcp_sock of the tcp6_sock pointer is that
 * pointer (the kernel's casts all return the socket itself). The lookup's reference is released.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TC_ACT_OK 0

struct skc_req {
  __u32 op; /* 0 bpf_sk_lookup_tcp, 1 bpf_sk_lookup_udp, 2 bpf_skc_lookup_tcp, 3 skb->sk */
  __u32 v6;
  struct bpf_sock_tuple tuple;
};

struct skc_cast_ans {
  __u32 nonnull, family, state, num, dport, rcv_saddr, daddr, bound_dev_if;
  __u32 v6_rcv_saddr[4], v6_daddr[4];
  __u32 protocol, type;
};

struct skc_ans {
  __s32 found;
  __u32 same_tcp;
  __u32 sock_state; /* bpf_skc_lookup_tcp's struct bpf_sock's state */
  struct skc_cast_ans c[7];
};

struct skc_probe_frame {
  struct skc_req req;
  struct skc_ans ans;
};

static __always_inline void common(struct skc_cast_ans *a, struct sock_common *c) {
  a->nonnull = 1;
  a->family = c->skc_family;
  a->state = c->skc_state;
  a->num = c->skc_num;
  a->dport = c->skc_dport;
  a->rcv_saddr = c->skc_rcv_saddr;
  a->daddr = c->skc_daddr;
  a->bound_dev_if = c->skc_bound_dev_if;
  for (int i = 0; i < 4; i++) {
    a->v6_rcv_saddr[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
    a->v6_daddr[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
  }
}

static __always_inline void full(struct skc_cast_ans *a, struct sock *s) {
  common(a, &s->__sk_common);
  a->protocol = s->sk_protocol;
  a->type = s->sk_type;
}

static __always_inline void casts(struct skc_ans *a, void *sk) {
  struct tcp6_sock *t6 = bpf_skc_to_tcp6_sock(sk);
  if (t6) {
    full(&a->c[0], &t6->tcp.inet_conn.icsk_inet.sk);
    a->same_tcp = (void *)bpf_skc_to_tcp_sock(t6) == (void *)t6;
  }
  struct tcp_sock *t = bpf_skc_to_tcp_sock(sk);
  if (t) full(&a->c[1], &t->inet_conn.icsk_inet.sk);
  struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(sk);
  if (tw) common(&a->c[2], &tw->tw_sk.__tw_common);
  struct tcp_request_sock *rq = bpf_skc_to_tcp_request_sock(sk);
  if (rq) common(&a->c[3], &rq->req.req.__req_common);
  struct udp6_sock *u6 = bpf_skc_to_udp6_sock(sk);
  if (u6) full(&a->c[4], &u6->udp.inet.sk);
  struct unix_sock *un = bpf_skc_to_unix_sock(sk);
  if (un) full(&a->c[5], &un->sk);
  struct mptcp_sock *mp = bpf_skc_to_mptcp_sock(sk);
  if (mp) full(&a->c[6], &mp->sk.icsk_inet.sk);
}

/* The lookup of ops 0-2 and the casts of what it found; the lookup's reference is released. */
#define LOOKUP_AND_CAST(ctx, p, r, size)                                                      \
  struct bpf_sock *sk;                                                                        \
  if (r.op == 0) {                                                                            \
    sk = bpf_sk_lookup_tcp(ctx, &r.tuple, size, BPF_F_CURRENT_NETNS, 0);                      \
  } else if (r.op == 1) {                                                                     \
    sk = bpf_sk_lookup_udp(ctx, &r.tuple, size, BPF_F_CURRENT_NETNS, 0);                      \
  } else {                                                                                    \
    /* Only here (a load on a path the others share would read a struct bpf_sock and a      \
     * struct bpf_sock_common with one instruction, which the verifier refuses). */           \
    sk = (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, &r.tuple, size, BPF_F_CURRENT_NETNS, 0);  \
    if (!sk) return 0;                                                                        \
    p->ans.sock_state = *(volatile __u32 *)&sk->state;                                        \
  }                                                                                           \
  if (!sk) return 0;                                                                          \
  p->ans.found = 1;                                                                           \
  casts(&p->ans, sk);                                                                         \
  bpf_sk_release(sk);

SEC("tc")
int skc_probe(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct skc_probe_frame *p = data + 14;
  if ((void *)(p + 1) > data_end) return TC_ACT_OK;
  struct skc_req r;
  __builtin_memcpy(&r, &p->req, sizeof(r));
  __u32 size = r.v6 ? sizeof(r.tuple.ipv6) : sizeof(r.tuple.ipv4);
  if (r.op == 3) {
    struct bpf_sock *sk = skb->sk;
    p->ans.found = sk != 0;
    if (sk) casts(&p->ans, sk);
    return TC_ACT_OK;
  }
  LOOKUP_AND_CAST(skb, p, r, size)
  return TC_ACT_OK;
}

/* `skc_probe_xdp`: the same lookups and casts from XDP (ops 0-2: XDP has no skb->sk); XDP_PASS
 * after the casts, 0 (XDP_ABORTED) when the lookup finds nothing. */
SEC("xdp")
int skc_probe_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct skc_probe_frame *p = data + 14;
  if ((void *)(p + 1) > data_end) return XDP_PASS;
  struct skc_req r;
  __builtin_memcpy(&r, &p->req, sizeof(r));
  if (r.op > 2) return XDP_PASS;
  __u32 size = r.v6 ? sizeof(r.tuple.ipv6) : sizeof(r.tuple.ipv4);
  LOOKUP_AND_CAST(ctx, p, r, size)
  return XDP_PASS;
}

/* `skc_tcp_fields`: the TCP state read through bpf_skc_to_tcp_sock of the socket a
 * bpf_sk_lookup_tcp finds (request as in skc_probe), written after the request as `struct
 * tcp_ans`: what bpf_tcp_sock also reports (snd_cwnd, srtt_us, rtt_min, snd_ssthresh, mss_cache,
 * icsk_retransmits), members only the host's `kernel` values set (sk_rcvbuf, sk_sndbuf,
 * tcp_sock.reordering), and the sock's mark and priority. Returns 1 when a struct was read. */
struct tcp_ans {
  __u32 snd_cwnd, srtt_us, rtt_min, snd_ssthresh, mss_cache, icsk_retransmits;
  __s32 rcvbuf, sndbuf;
  __u32 reordering, mark, priority;
};

SEC("tc")
int skc_tcp_fields(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct skc_req *q = data + 14;
  struct tcp_ans *a = (void *)(q + 1);
  if ((void *)(a + 1) > data_end) return 0;
  struct skc_req r;
  __builtin_memcpy(&r, q, sizeof(r));
  __u32 size = r.v6 ? sizeof(r.tuple.ipv6) : sizeof(r.tuple.ipv4);
  struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &r.tuple, size, BPF_F_CURRENT_NETNS, 0);
  if (!sk) return 0;
  int ret = 0;
  struct tcp_sock *t = bpf_skc_to_tcp_sock(sk);
  if (t) {
    a->snd_cwnd = t->snd_cwnd;
    a->srtt_us = t->srtt_us;
    a->rtt_min = t->rtt_min.s[0].v;
    a->snd_ssthresh = t->snd_ssthresh;
    a->mss_cache = t->mss_cache;
    a->icsk_retransmits = t->inet_conn.icsk_retransmits;
    a->rcvbuf = t->inet_conn.icsk_inet.sk.sk_rcvbuf;
    a->sndbuf = t->inet_conn.icsk_inet.sk.sk_sndbuf;
    a->reordering = t->reordering;
    a->mark = t->inet_conn.icsk_inet.sk.sk_mark;
    a->priority = t->inet_conn.icsk_inet.sk.sk_priority;
    ret = 1;
  }
  bpf_sk_release(sk);
  return ret;
}

char _license[] SEC("license") = "GPL";
