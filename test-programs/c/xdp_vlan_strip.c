/* XDP: strips one 802.1Q or 802.1ad tag: the MAC addresses move 4 bytes forward and
 * bpf_xdp_adjust_head(ctx, 4) drops the old start. The tag's VLAN id counts in `vlans`
 * (a hash map, id -> frames); untagged frames pass unchanged; a tagged frame too short to hold
 * the inner EtherType is dropped.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u16);
  __type(value, __u64);
  __uint(max_entries, 64);
} vlans SEC(".maps");

struct vlan_hdr {
  __be16 tci;
  __be16 proto;
};

SEC("xdp")
int vlan_strip(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end) return XDP_PASS;
  if (eth->h_proto != bpf_htons(ETH_P_8021Q) && eth->h_proto != bpf_htons(ETH_P_8021AD)) return XDP_PASS;
  struct vlan_hdr *vh = (void *)(eth + 1);
  if ((void *)(vh + 1) > data_end) return XDP_DROP;
  __u16 id = bpf_ntohs(vh->tci) & 0x0fff;
  __u8 macs[12];
  __builtin_memcpy(macs, eth, 12);
  __u64 one = 1, *n = bpf_map_lookup_elem(&vlans, &id);
  if (n) __sync_fetch_and_add(n, 1);
  else bpf_map_update_elem(&vlans, &id, &one, BPF_NOEXIST);
  if (bpf_xdp_adjust_head(ctx, 4)) return XDP_ABORTED;
  data = (void *)(long)ctx->data;
  data_end = (void *)(long)ctx->data_end;
  eth = data;
  if ((void *)(eth + 1) > data_end) return XDP_ABORTED;
  __builtin_memcpy(eth, macs, 12);
  return XDP_PASS;
}

char __license[] SEC("license") = "GPL";
