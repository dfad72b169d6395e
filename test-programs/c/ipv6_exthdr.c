/* XDP: walks the IPv6 extension headers (hop-by-hop, routing, destination options, fragment,
 * AH) with a real bounded loop (at most 8 headers, not unrolled) to the upper-layer protocol,
 * which counts in `upper` (array indexed by protocol number). Drops frames whose chain is longer
 * than 8 headers or runs past the frame, and ICMPv6 echo requests behind extension headers;
 * passes the rest. Non-IPv6 frames pass uncounted.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 256);
} upper SEC(".maps");

#define MAX_EXT 8

SEC("xdp")
int ext_walk(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6)) return XDP_PASS;
  struct ipv6hdr *ip6 = (void *)(eth + 1);
  if ((void *)(ip6 + 1) > data_end) return XDP_DROP;
  __u32 next = ip6->nexthdr;
  __u32 off = sizeof(*eth) + sizeof(*ip6);
  int n = 0;
#pragma clang loop unroll(disable)
  for (int i = 0; i < MAX_EXT; i++) {
    if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
        next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
      goto done;
    __u8 hdr[2];
    if (bpf_xdp_load_bytes(ctx, off, hdr, 2) < 0) return XDP_DROP;
    __u32 len = next == IPPROTO_FRAGMENT ? 8 : next == IPPROTO_AH ? (hdr[1] + 2) * 4 : (hdr[1] + 1) * 8;
    next = hdr[0];
    off += len;
    n++;
  }
  if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
      next == IPPROTO_FRAGMENT || next == IPPROTO_AH)
    return XDP_DROP;
done:;
  __u64 *c = bpf_map_lookup_elem(&upper, &next);
  if (c) __sync_fetch_and_add(c, 1);
  if (next == IPPROTO_ICMPV6 && n > 0) {
    __u8 type;
    if (bpf_xdp_load_bytes(ctx, off, &type, 1) < 0) return XDP_DROP;
    if (type == 128) return XDP_DROP;
  }
  return XDP_PASS;
}

char __license[] SEC("license") = "GPL";
