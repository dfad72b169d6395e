/* The other half of pin_producer.c: the same pinned `events` map, read by another object.
 *
 * The test should check (see pin_producer.c):
 *  - `consume` (section "xdp") returns events[packet length] (0 when absent) and counts its runs
 *    in its own `.bss` variable `consumed`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

__u64 consumed;

SEC("xdp")
int consume(struct xdp_md *ctx) {
  __u32 len = ctx->data_end - ctx->data;
  __u64 *v = bpf_map_lookup_elem(&events, &len);
  consumed++;
  return v ? *v : 0;
}

char LICENSE[] SEC("license") = "GPL";
