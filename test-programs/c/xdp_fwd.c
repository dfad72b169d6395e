/* Forwarding through the host's routes and neighbours, in the style of the kernel's
 * samples/bpf/xdp_fwd and xdp-tutorial's packet03 router:
 *
 * - `xdp_fwd` (xdp): IPv4 and IPv6 frames with a TTL/hop limit above 1 are looked up with
 *   bpf_fib_lookup from the ingress interface; on success the TTL is decremented (IPv4 checksum
 *   fixed), the MACs are rewritten from the lookup and the frame is redirected (bpf_redirect) to
 *   the egress interface. Blackhole/unreachable/prohibit routes drop, anything else passes.
 * - `fib_probe` (xdp) and `fib_probe_tc` (tc): a raw probe of the helper. After the 14-byte
 *   Ethernet header, the frame holds the lookup's flags (u32), a slot for its return value (s32)
 *   and a `struct bpf_fib_lookup` (64 bytes). The program copies the struct out, calls
 *   bpf_fib_lookup(ctx, &params, 64, flags) and writes the return value and the struct back
 *   into the frame, so the output frame is the complete result of the lookup.
 * - `mtu_probe` (XDP) and `mtu_probe_tc` (tc): after the Ethernet header, the ifindex (u32),
 *   mtu_len (u32, in and out), len_diff (s32), flags (u64) and a slot for the return value (s32)
 *   of bpf_check_mtu, which the program fills in.
 * - `tc_neigh` (tc): the last 32 bytes of the frame hold the target ifindex (u32), a switch
 *   (u32: nonzero passes the following `struct bpf_redir_neigh`, 20 bytes) and the helper's
 *   flags (u32); the program calls bpf_redirect_neigh and returns its result. Without params the
 *   kernel routes by the packet's own destination, so the frame before the probe is a packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

static __always_inline void ip_decrease_ttl(struct iphdr *iph) {
  __u32 check = iph->check;
  check += bpf_htons(0x0100);
  iph->check = (__u16)(check + (check >= 0xFFFF));
  iph->ttl--;
}

SEC("xdp")
int xdp_fwd(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  struct bpf_fib_lookup fib = {};
  struct iphdr *iph = 0;
  struct ipv6hdr *ip6h = 0;

  if ((void *)(eth + 1) > data_end) return XDP_DROP;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    iph = (void *)(eth + 1);
    if ((void *)(iph + 1) > data_end) return XDP_DROP;
    if (iph->ttl <= 1) return XDP_PASS;
    fib.family = AF_INET;
    fib.tos = iph->tos;
    fib.l4_protocol = iph->protocol;
    fib.tot_len = bpf_ntohs(iph->tot_len);
    fib.ipv4_src = iph->saddr;
    fib.ipv4_dst = iph->daddr;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    ip6h = (void *)(eth + 1);
    if ((void *)(ip6h + 1) > data_end) return XDP_DROP;
    if (ip6h->hop_limit <= 1) return XDP_PASS;
    fib.family = AF_INET6;
    fib.flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0FFFFFFF);
    fib.l4_protocol = ip6h->nexthdr;
    fib.tot_len = bpf_ntohs(ip6h->payload_len);
    __builtin_memcpy(fib.ipv6_src, &ip6h->saddr, 16);
    __builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, 16);
  } else {
    return XDP_PASS;
  }
  fib.ifindex = ctx->ingress_ifindex;

  long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
  if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
    if (iph) ip_decrease_ttl(iph);
    else if (ip6h) ip6h->hop_limit--;
    __builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
    return bpf_redirect(fib.ifindex, 0);
  }
  if (rc == BPF_FIB_LKUP_RET_BLACKHOLE || rc == BPF_FIB_LKUP_RET_UNREACHABLE || rc == BPF_FIB_LKUP_RET_PROHIBIT) return XDP_DROP;
  return XDP_PASS;
}

struct probe {
  __u32 flags;
  __s32 rc;
  struct bpf_fib_lookup params;
};

SEC("xdp")
int fib_probe(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct probe *p = data + sizeof(struct ethhdr);
  if ((void *)(p + 1) > data_end) return XDP_ABORTED;
  struct bpf_fib_lookup params;
  __builtin_memcpy(&params, &p->params, sizeof(params));
  p->rc = bpf_fib_lookup(ctx, &params, sizeof(params), p->flags);
  __builtin_memcpy(&p->params, &params, sizeof(params));
  return XDP_PASS;
}

SEC("tc")
int fib_probe_tc(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct probe *p = data + sizeof(struct ethhdr);
  if ((void *)(p + 1) > data_end) return TC_ACT_SHOT;
  struct bpf_fib_lookup params;
  __builtin_memcpy(&params, &p->params, sizeof(params));
  p->rc = bpf_fib_lookup(skb, &params, sizeof(params), p->flags);
  __builtin_memcpy(&p->params, &params, sizeof(params));
  return TC_ACT_OK;
}

struct neigh_probe {
  __u32 ifindex;
  __u32 with_params;
  __u32 flags;
  struct bpf_redir_neigh nh;
};

SEC("tc")
int tc_neigh(struct __sk_buff *skb) {
  struct neigh_probe p;
  if (skb->len < sizeof(p) || bpf_skb_load_bytes(skb, skb->len - sizeof(p), &p, sizeof(p))) return TC_ACT_OK;
  if (p.with_params) return bpf_redirect_neigh(p.ifindex, &p.nh, sizeof(p.nh), p.flags);
  return bpf_redirect_neigh(p.ifindex, 0, 0, p.flags);
}

struct mtu_probe {
  __u32 ifindex;
  __u32 mtu_len;
  __s32 len_diff;
  __u32 pad;
  __u64 flags;
  __s32 rc;
};

SEC("xdp")
int mtu_probe(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct mtu_probe *p = data + sizeof(struct ethhdr);
  if ((void *)(p + 1) > data_end) return XDP_ABORTED;
  __u32 mtu = p->mtu_len;
  p->rc = bpf_check_mtu(ctx, p->ifindex, &mtu, p->len_diff, p->flags);
  p->mtu_len = mtu;
  return XDP_PASS;
}

SEC("tc")
int mtu_probe_tc(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct mtu_probe *p = data + sizeof(struct ethhdr);
  if ((void *)(p + 1) > data_end) return TC_ACT_SHOT;
  __u32 mtu = p->mtu_len;
  p->rc = bpf_check_mtu(skb, p->ifindex, &mtu, p->len_diff, p->flags);
  p->mtu_len = mtu;
  return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
