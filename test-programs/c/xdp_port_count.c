/* XDP filter of the packet bench (`npm run bench`, part "packet"): parses Ethernet, IPv4 and TCP
 * with bounds checks and counts frames per TCP destination port in a HASH map; frames too short
 * for the headers they announce are dropped, everything else passes.
 *
 * The same source builds natively (-DBPF2WASM_NATIVE, scripts/bench/xdp_native.c supplies the map
 * and the context), so the bench compares bpf2wasm, the kernel's test run and native code on one
 * program.
 */
#ifdef BPF2WASM_NATIVE
#include "xdp_native_shim.h"
#else
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#endif

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1024);
} port_counts SEC(".maps");

SEC("xdp")
int port_count(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return XDP_DROP;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > end || ip->ihl < 5) return XDP_DROP;
  if (ip->protocol != IPPROTO_TCP) return XDP_PASS;
  struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
  if ((void *)(tcp + 1) > end) return XDP_DROP;
  __u32 port = bpf_ntohs(tcp->dest);
  __u64 *count = bpf_map_lookup_elem(&port_counts, &port);
  if (count) {
    __sync_fetch_and_add(count, 1);
  } else {
    __u64 one = 1;
    bpf_map_update_elem(&port_counts, &port, &one, BPF_NOEXIST);
  }
  return XDP_PASS;
}

char __license[] SEC("license") = "Dual MIT/GPL";
