/* tc: one skb-editing helper per frame, chosen by the last byte of the source MAC address; the
 * program returns the helper's result (so a test run's retval shows it) and writes what the
 * context shows after it (vlan fields, len, protocol) into the last 16 bytes of the frame, when
 * it has room. 1 vlan_push, 2 two vlan_push (the first tag goes into the packet), 3 vlan_pop,
 * 4 change_tail +10, 5 change_tail -5, 6 change_head 8, 7 adjust_room +8 NET, 8 adjust_room
 * -4 MAC, 9 change_proto IPv6, 10 ecn_set_ce, 11 store_bytes with BPF_F_RECOMPUTE_CSUM,
 * 12 load_bytes_relative NET, 13 pull_data past the end, 14 csum_level query, 15 change_proto
 * back and forth, 16 adjust_room past the packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline void report(struct __sk_buff *skb) {
  __u32 f[4] = { skb->vlan_present, skb->vlan_tci, skb->vlan_proto, skb->protocol };
  __u32 len = skb->len;
  if (len >= 16 + 14 && len < 4000) bpf_skb_store_bytes(skb, len - 16, f, sizeof(f), 0);
}

SEC("tc")
int skb_edit(struct __sk_buff *skb) {
  __u8 op;
  long r = -1;
  if (bpf_skb_load_bytes(skb, 11, &op, 1)) return -2;
  switch (op) {
  case 1: r = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 5); break;
  case 2:
    r = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021AD), 7);
    if (!r) r = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 9);
    break;
  case 3: r = bpf_skb_vlan_pop(skb); break;
  case 4: r = bpf_skb_change_tail(skb, skb->len + 10, 0); break;
  case 5: r = bpf_skb_change_tail(skb, skb->len - 5, 0); break;
  case 6: r = bpf_skb_change_head(skb, 8, 0); break;
  case 7: r = bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 0); break;
  case 8: r = bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_MAC, 0); break;
  case 9: r = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0); break;
  case 10: r = bpf_skb_ecn_set_ce(skb); break;
  case 11: {
    __u32 v = 0xabcdef01;
    r = bpf_skb_store_bytes(skb, 30, &v, 4, BPF_F_RECOMPUTE_CSUM);
    break;
  }
  case 12: {
    __u32 v = 0;
    r = bpf_skb_load_bytes_relative(skb, 12, &v, 4, BPF_HDR_START_NET);
    if (!r) r = v & 0x7fffffff;
    break;
  }
  case 13: r = bpf_skb_pull_data(skb, skb->len + 1); break;
  case 14: r = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY); break;
  case 15:
    r = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IPV6), 0);
    if (!r) r = bpf_skb_change_proto(skb, bpf_htons(ETH_P_IP), 0);
    break;
  case 16: r = bpf_skb_adjust_room(skb, -4000, BPF_ADJ_ROOM_NET, 0); break;
  }
  report(skb);
  return r;
}

char __license[] SEC("license") = "GPL";
