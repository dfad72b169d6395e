/* A libbpf-style program: an XDP program in its own section, a BTF-defined map in .maps and a
 * license section. The map lookup needs an R_BPF_64_64 relocation in .relxdp. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx) {
  __u32 key = ctx->ingress_ifindex & 3;
  __u64 *value = bpf_map_lookup_elem(&counts, &key);
  if (value) __sync_fetch_and_add(value, 1);
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
