/* Socket filters keeping TCP SYNs (SYN set, ACK clear) of IPv4 frames, two ways: `syn_mac`
 * reads the frame from its Ethernet header (an AF_PACKET SOCK_RAW socket, skbData 'mac') and
 * `syn_net` from the network header (what BPF_PROG_TEST_RUN gives socket filters, skbData
 * 'network'). Both return skb->len to keep a SYN, 0 to drop anything else, and count the SYNs
 * they keep in `syns` (index 0 mac, 1 network).
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
  __uint(max_entries, 2);
} syns SEC(".maps");

static __always_inline int keep_syn(struct __sk_buff *skb, __u32 l3, __u32 slot) {
  struct iphdr ip;
  __u8 flags;
  if (skb->protocol != bpf_htons(ETH_P_IP)) return 0;
  if (bpf_skb_load_bytes(skb, l3, &ip, sizeof(ip)) < 0) return 0;
  if (ip.protocol != IPPROTO_TCP || (ip.frag_off & bpf_htons(0x1fff))) return 0;
  if (bpf_skb_load_bytes(skb, l3 + ip.ihl * 4 + 13, &flags, 1) < 0) return 0;
  if ((flags & 0x12) != 0x02) return 0;
  __u64 *n = bpf_map_lookup_elem(&syns, &slot);
  if (n) __sync_fetch_and_add(n, 1);
  return skb->len;
}

SEC("socket")
int syn_mac(struct __sk_buff *skb) { return keep_syn(skb, ETH_HLEN, 0); }

SEC("socket")
int syn_net(struct __sk_buff *skb) { return keep_syn(skb, 0, 1); }

char __license[] SEC("license") = "GPL";
