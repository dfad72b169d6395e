/* The raw SYN cookie helpers as a probe, from XDP and from tc. A frame is Ethernet, IPv4 (20
 * bytes) or IPv6 (40 bytes), a TCP header, padding to 60 bytes past the TCP header's start, then
 * the request (`struct req`) and room for the answer (`struct ans`):
 *   op 0: gen = bpf_tcp_raw_gen_syncookie_ipv4/6(iph, th, th_len)
 *   op 1: check = bpf_tcp_raw_check_syncookie_ipv4/6(iph, th)
 *   op 2: gen as op 0; if it made a cookie, the SYN becomes the client's ACK to the SYN-ACK
 *         (seq + 1, ack_seq = cookie + 1) and check runs on it.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct req {
  __u32 op;
  __u32 th_len;
};

struct ans {
  __s64 gen;
  __s64 check;
};

static __always_inline int probe(void *data, void *data_end) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return -1;
  int v6 = eth->h_proto == bpf_htons(ETH_P_IPV6);
  void *iph = eth + 1;
  __u8 *th = (__u8 *)iph + (v6 ? 40 : 20);
  struct req *r = (struct req *)(th + 60);
  struct ans *a = (struct ans *)(r + 1);
  if ((void *)(a + 1) > data_end) return -1;
  __u32 len = r->th_len;
  if (len < 1 || len > 60) return -1;
  a->gen = 0;
  a->check = 0;
  if (r->op == 0 || r->op == 2) {
    a->gen = v6 ? bpf_tcp_raw_gen_syncookie_ipv6(iph, (void *)th, len) : bpf_tcp_raw_gen_syncookie_ipv4(iph, (void *)th, len);
    if (r->op == 0 || a->gen < 0) return 0;
    __u32 *seq = (__u32 *)(th + 4);
    __u32 *ack = (__u32 *)(th + 8);
    *seq = bpf_htonl(bpf_ntohl(*seq) + 1);
    *ack = bpf_htonl((__u32)a->gen + 1);
  }
  a->check = v6 ? bpf_tcp_raw_check_syncookie_ipv6(iph, (void *)th) : bpf_tcp_raw_check_syncookie_ipv4(iph, (void *)th);
  return 0;
}

SEC("xdp")
int cookie_xdp(struct xdp_md *ctx) {
  return probe((void *)(long)ctx->data, (void *)(long)ctx->data_end) ? XDP_ABORTED : XDP_PASS;
}

SEC("tc")
int cookie_tc(struct __sk_buff *skb) {
  return probe((void *)(long)skb->data, (void *)(long)skb->data_end) ? TC_ACT_SHOT : TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
