/* XDP program that drops ICMP echo requests (seed 003's packet parsing): parses the Ethernet,
 * IPv4 and ICMP headers with a bounds check before every access, and counts what it drops in a
 * per-CPU array.
 *
 * The test should check (the packet is the XDP context's data .. data_end):
 *  - map `drops`: BPF_MAP_TYPE_PERCPU_ARRAY (6), key __u32, value __u64, max_entries 1;
 *  - program `xdp_drop_icmp` in section "xdp";
 *  - an IPv4 ICMP echo request (type 8) -> XDP_DROP (1), and drops[0] grows by 1;
 *  - an ICMP echo reply (type 0), a TCP or UDP packet, an ARP frame (ethertype 0x0806) or an
 *    IPv6 frame -> XDP_PASS (2);
 *  - a frame shorter than an Ethernet header, an IPv4 header cut short, an IHL below 5 or an
 *    ICMP header past data_end -> XDP_ABORTED (0), without reading out of bounds;
 *  - IP options are honoured: with IHL 6 the ICMP header is read 24 bytes after the IP header.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* <linux/icmp.h> pulls in libc headers through <linux/if.h>, so the 8-byte ICMP header is
 * declared here. */
struct icmphdr {
  __u8 type;
  __u8 code;
  __sum16 checksum;
  __be32 rest;
};
#define ICMP_ECHO 8

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1);
} drops SEC(".maps");

SEC("xdp")
int xdp_drop_icmp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;

  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return XDP_ABORTED;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;

  struct iphdr *iph = (void *)(eth + 1);
  if ((void *)(iph + 1) > data_end) return XDP_ABORTED;
  if (iph->ihl < 5) return XDP_ABORTED;
  if (iph->protocol != IPPROTO_ICMP) return XDP_PASS;

  struct icmphdr *icmp = (void *)iph + iph->ihl * 4;
  if ((void *)(icmp + 1) > data_end) return XDP_ABORTED;
  if (icmp->type != ICMP_ECHO) return XDP_PASS;

  __u32 key = 0;
  __u64 *count = bpf_map_lookup_elem(&drops, &key);
  if (count) *count += 1;
  return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
