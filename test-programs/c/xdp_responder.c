/* XDP responder: answers ICMP echo requests to any IPv4 address with an echo reply sent back
 * out of the same port (XDP_TX): MAC and IP addresses swapped, type 8 -> 0, the ICMP checksum
 * fixed incrementally (RFC 1624) and the IPv4 header's left valid (the swap keeps its sum).
 * Anything else passes; a truncated ICMP header is dropped. Replies count in `replies`.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* <linux/icmp.h> pulls in libc headers: the part of it this program needs. */
struct icmphdr {
  __u8 type;
  __u8 code;
  __sum16 checksum;
  __be16 id;
  __be16 sequence;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1);
} replies SEC(".maps");

static __always_inline __u16 csum_fold_add(__u16 sum, __u16 old, __u16 new) {
  /* HC' = ~(~HC + ~m + m') */
  __u32 s = (__u16)~sum + (__u16)~old + new;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return ~s;
}

SEC("xdp")
int icmp_echo(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_ICMP || ip->ihl != 5) return XDP_PASS;
  struct icmphdr *icmp = (void *)(ip + 1);
  if ((void *)(icmp + 1) > data_end) return XDP_DROP;
  if (icmp->type != ICMP_ECHO || icmp->code != 0) return XDP_PASS;

  __u8 mac[ETH_ALEN];
  __builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
  __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
  __builtin_memcpy(eth->h_source, mac, ETH_ALEN);
  __be32 addr = ip->daddr;
  ip->daddr = ip->saddr;
  ip->saddr = addr;
  ip->ttl = 64;
  /* TTL changed: recompute the IPv4 header checksum from scratch. */
  ip->check = 0;
  __u32 sum = 0;
  __u16 *w = (__u16 *)ip;
#pragma unroll
  for (int i = 0; i < 10; i++) sum += w[i];
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  ip->check = ~sum;

  __u16 old = *(__u16 *)icmp;
  icmp->type = ICMP_ECHOREPLY;
  icmp->checksum = csum_fold_add(icmp->checksum, old, *(__u16 *)icmp);
  __u32 key = 0;
  __u64 *n = bpf_map_lookup_elem(&replies, &key);
  if (n) __sync_fetch_and_add(n, 1);
  return XDP_TX;
}

char __license[] SEC("license") = "GPL";
