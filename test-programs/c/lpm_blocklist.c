/* IPv4 block list in an LPM trie: drops packets whose source address matches a blocked prefix
 * and counts the hits per prefix in the map value.
 *
 * The test should check:
 *  - map `blocklist`: BPF_MAP_TYPE_LPM_TRIE (11), key struct ipv4_lpm_key (8 bytes:
 *    prefixlen __u32 at 0, addr __u32 at 4, network byte order), value __u64 (8 bytes),
 *    max_entries 255, map_flags BPF_F_NO_PREALLOC (1, which LPM tries require);
 *  - program `xdp_blocklist` in section "xdp";
 *  - with 10.0.0.0/8 and 192.168.1.7/32 in the map: a packet from 10.1.2.3 -> XDP_DROP (1) and
 *    the /8 entry's count becomes 1; from 192.168.1.7 -> XDP_DROP; from 192.168.1.8 or
 *    11.0.0.1 -> XDP_PASS (2); a non-IPv4 or truncated frame -> XDP_PASS;
 *  - longest prefix wins: adding 10.1.0.0/16 makes 10.1.2.3 count against the /16 entry.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct ipv4_lpm_key {
  __u32 prefixlen;
  __u32 addr;
};

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __type(key, struct ipv4_lpm_key);
  __type(value, __u64);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 255);
} blocklist SEC(".maps");

SEC("xdp")
int xdp_blocklist(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return XDP_PASS;
  if (eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
  struct iphdr *iph = (void *)(eth + 1);
  if ((void *)(iph + 1) > data_end) return XDP_PASS;

  struct ipv4_lpm_key key = { .prefixlen = 32, .addr = iph->saddr };
  __u64 *hits = bpf_map_lookup_elem(&blocklist, &key);
  if (!hits) return XDP_PASS;
  __sync_fetch_and_add(hits, 1);
  return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
