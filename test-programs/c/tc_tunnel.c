/* tc: asks the outside world for things a test run records: a tunnel key
 * (bpf_skb_set_tunnel_key, id 42 to 10.0.0.9, ttl 64), a FIB lookup for the IPv4 destination
 * (bpf_fib_lookup; its result goes to cb[0]), the flow hash (bpf_get_hash_recalc, cb[1]), an ECN
 * mark (bpf_skb_ecn_set_ce, cb[2]), and a redirect through the neighbour subsystem
 * (bpf_redirect_neigh to ifindex 1, the return value). Non-IPv4 frames: TC_ACT_OK.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2

SEC("tc")
int tunnel(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end) return TC_ACT_OK;

  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.ifindex = skb->ifindex;
  fib.ipv4_src = ip->saddr;
  fib.ipv4_dst = ip->daddr;
  fib.tot_len = bpf_ntohs(ip->tot_len);
  skb->cb[0] = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);

  struct bpf_tunnel_key key = {};
  key.tunnel_id = 42;
  key.remote_ipv4 = 0x0a000009;
  key.tunnel_ttl = 64;
  if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX)) return TC_ACT_SHOT;
  skb->cb[1] = bpf_get_hash_recalc(skb);
  skb->cb[2] = bpf_skb_ecn_set_ce(skb);
  return bpf_redirect_neigh(1, 0, 0, 0);
}

char __license[] SEC("license") = "GPL";
