/* A tc classifier that rewrites TCP and UDP destination port 80 to 8080 on IPv4 frames and
 * decrements the TTL, fixing the checksums incrementally: bpf_skb_store_bytes for the new
 * values, bpf_l4_csum_replace (size 2; UDP with BPF_F_MARK_MANGLED_0, leaving a zero UDP checksum
 * alone) for the port, bpf_l3_csum_replace (size 2) for the TTL. Frames it rewrites count in
 * `rewritten`; it returns TC_ACT_OK for every frame, TC_ACT_SHOT for IPv4 with TTL <= 1.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1);
} rewritten SEC(".maps");

#define IP_OFF ETH_HLEN
#define TTL_OFF (IP_OFF + offsetof(struct iphdr, ttl))
#define IPCSUM_OFF (IP_OFF + offsetof(struct iphdr, check))

SEC("tc")
int port_rewrite(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) return TC_ACT_OK;
  struct iphdr *ip = (void *)(eth + 1);
  if ((void *)(ip + 1) > data_end || ip->ihl != 5) return TC_ACT_OK;
  if (ip->ttl <= 1) return TC_ACT_SHOT;
  __u8 proto = ip->protocol;
  /* TTL shares a 16-bit word with the protocol. */
  __u16 old_word = *(__u16 *)&ip->ttl;
  __u8 ttl = ip->ttl - 1;
  bpf_skb_store_bytes(skb, TTL_OFF, &ttl, 1, 0);
  data = (void *)(long)skb->data;
  data_end = (void *)(long)skb->data_end;
  ip = data + IP_OFF;
  if ((void *)(ip + 1) > data_end) return TC_ACT_OK;
  __u16 new_word = *(__u16 *)&ip->ttl;
  bpf_l3_csum_replace(skb, IPCSUM_OFF, old_word, new_word, 2);

  __u32 l4 = IP_OFF + sizeof(struct iphdr);
  __u32 csum_off, flags = 2;
  if (proto == IPPROTO_TCP) {
    csum_off = l4 + offsetof(struct tcphdr, check);
  } else if (proto == IPPROTO_UDP) {
    csum_off = l4 + offsetof(struct udphdr, check);
    flags |= BPF_F_MARK_MANGLED_0;
  } else {
    return TC_ACT_OK;
  }
  __u16 dport;
  if (bpf_skb_load_bytes(skb, l4 + 2, &dport, 2) < 0 || dport != bpf_htons(80)) return TC_ACT_OK;
  __u16 nport = bpf_htons(8080);
  bpf_l4_csum_replace(skb, csum_off, dport, nport, flags);
  bpf_skb_store_bytes(skb, l4 + 2, &nport, 2, 0);
  __u32 key = 0;
  __u64 *n = bpf_map_lookup_elem(&rewritten, &key);
  if (n) __sync_fetch_and_add(n, 1);
  return TC_ACT_OK;
}

char __license[] SEC("license") = "GPL";
