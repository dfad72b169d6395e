/* XDP packet counter (seed 000): one ARRAY map, incremented atomically for every packet.
 *
 * The test should check:
 *  - map `pkt_count`: BPF_MAP_TYPE_ARRAY (2), key __u32 (4 bytes), value __u64 (8 bytes, a
 *    typedef of unsigned long long), max_entries 1, no flags, no pinning;
 *  - program `count_packets` in section "xdp", returning XDP_PASS (2);
 *  - running it N times leaves pkt_count[0] == N (the `__sync_fetch_and_add` compiles to an
 *    atomic add, `lock *(u64 *)(r0 + 0) += r1`);
 *  - the license section holds "Dual MIT/GPL".
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1);
} pkt_count SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx) {
  __u32 key = 0;
  __u64 *count = bpf_map_lookup_elem(&pkt_count, &key);
  if (count) __sync_fetch_and_add(count, 1);
  return XDP_PASS;
}

char __license[] SEC("license") = "Dual MIT/GPL";
