/* Redirects through every XDP redirect target, chosen by the UDP destination port of IPv4
 * frames: 1000 + n -> bpf_redirect_map(&tx_ports, n) (DEVMAP, XDP_PASS when slot n is empty),
 * 2000 + n -> bpf_redirect_map(&cpus, n) (CPUMAP, XDP_DROP when empty), 3000 + n ->
 * bpf_redirect_map(&xsks, n) only if bpf_map_lookup_elem finds a socket (XSKMAP), 4000 + n ->
 * DEVMAP_HASH `tx_hash` (XDP_PASS when absent), 5000 + n -> bpf_redirect(n, 0), 6000 ->
 * bpf_redirect with a flag, which XDP refuses (XDP_ABORTED). Other frames pass. `tc_redirect`
 * (tc) sends TCP to ifindex 1's egress and UDP to its ingress (BPF_F_INGRESS), 7 = TC_ACT_REDIRECT.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __type(key, __u32);
  __type(value, __u32);
  __uint(max_entries, 8);
} tx_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
  __type(key, __u32);
  __type(value, __u32);
  __uint(max_entries, 8);
} tx_hash SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_CPUMAP);
  __type(key, __u32);
  __type(value, __u32);
  __uint(max_entries, 2);
} cpus SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __type(key, __u32);
  __type(value, __u32);
  __uint(max_entries, 4);
} xsks SEC(".maps");

static __always_inline int udp_port(void *data, void *data_end) {
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return -1;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP || ip->ihl != 5) return -1;
  struct udphdr *udp = (void *)(ip + 1);
  if ((void *)(udp + 1) > data_end) return -1;
  return bpf_ntohs(udp->dest);
}

SEC("xdp")
int redirect_by_port(struct xdp_md *ctx) {
  int port = udp_port((void *)(long)ctx->data, (void *)(long)ctx->data_end);
  if (port < 1000) return XDP_PASS;
  __u32 n = port % 1000;
  switch (port / 1000) {
  case 1: return bpf_redirect_map(&tx_ports, n, XDP_PASS);
  case 2: return bpf_redirect_map(&cpus, n, XDP_DROP);
  case 3:
    if (bpf_map_lookup_elem(&xsks, &n)) return bpf_redirect_map(&xsks, n, 0);
    return XDP_PASS;
  case 4: return bpf_redirect_map(&tx_hash, n, XDP_PASS);
  case 5: return bpf_redirect(n, 0);
  case 6: return bpf_redirect(1, 1);
  }
  return XDP_PASS;
}

SEC("tc")
int tc_redirect(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end) return TC_ACT_OK;
  if (ip->protocol == IPPROTO_TCP) return bpf_redirect(1, 0);
  if (ip->protocol == IPPROTO_UDP) return bpf_redirect(1, BPF_F_INGRESS);
  return TC_ACT_OK;
}

char __license[] SEC("license") = "GPL";
