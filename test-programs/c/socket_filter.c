/* A socket filter (SEC("socket"), BPF_PROG_TYPE_SOCKET_FILTER): keeps IPv4 TCP packets to port
 * 22 and counts packets per IP protocol number.
 *
 * The test should check:
 *  - map `proto_count`: BPF_MAP_TYPE_ARRAY (2), key __u32, value __u64, max_entries 256;
 *  - program `ssh_filter` in section "socket": the return value is the number of bytes to keep
 *    (skb->len for a kept packet, 0 to drop);
 *  - it reads the packet with bpf_skb_load_bytes (26), so the context is a __sk_buff whose
 *    `len` field (offset 0) the test sets;
 *  - an Ethernet + IPv4 + TCP packet with destination port 22 -> returns skb->len and
 *    proto_count[6] grows by 1; TCP port 80 -> 0 (still counted); UDP -> 0 and proto_count[17]
 *    grows; a non-IPv4 frame or one shorter than 34 bytes (Ethernet + IPv4) -> 0, nothing
 *    counted.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 256);
} proto_count SEC(".maps");

SEC("socket")
int ssh_filter(struct __sk_buff *skb) {
  struct ethhdr eth;
  struct iphdr iph;
  __be16 dport;

  if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0) return 0;
  if (eth.h_proto != bpf_htons(ETH_P_IP)) return 0;
  if (bpf_skb_load_bytes(skb, sizeof(eth), &iph, sizeof(iph)) < 0) return 0;

  __u32 proto = iph.protocol;
  __u64 *count = bpf_map_lookup_elem(&proto_count, &proto);
  if (count) __sync_fetch_and_add(count, 1);

  if (iph.protocol != IPPROTO_TCP) return 0;
  __u32 dport_off = sizeof(eth) + iph.ihl * 4 + __builtin_offsetof(struct tcphdr, dest);
  if (bpf_skb_load_bytes(skb, dport_off, &dport, sizeof(dport)) < 0) return 0;
  return dport == bpf_htons(22) ? skb->len : 0;
}

char LICENSE[] SEC("license") = "GPL";
