/* A map of maps declared as katran's balancer.bpf.c declares its lru_mapping: with both
 * `__type(value, __u32)` and `__array(values, ...)`. libbpf accepts this (parse_btf_map_def:
 * `values` needs value_size 0 or 4, and the __u32 value type gives 4); so does the kernel.
 *
 * The test should check:
 *  - `lru_mapping`: BPF_MAP_TYPE_ARRAY_OF_MAPS (12), key __u32, value_size 4, max_entries 2,
 *    inner map definition LRU_HASH (9) __u32 -> __u64, max_entries 16, slot 0 -> `fallback`;
 *  - program `count` in section "xdp": adds 1 to key 7 of the inner map at slot 0 and returns
 *    the new count (1, then 2, ...); XDP_ABORTED (0) when the lookup fails;
 *  - a map of maps with `__type(value, __u64)` and `__array(values, ...)` is still refused
 *    (value_size 8 != 4), as libbpf refuses it ("conflicting value size").
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct lru_map {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, __u64);
} fallback SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, __u32);
  __array(values, struct lru_map);
} lru_mapping SEC(".maps") = {
  .values = { &fallback },
};

SEC("xdp")
int count(struct xdp_md *ctx) {
  __u32 slot = 0, key = 7;
  void *inner = bpf_map_lookup_elem(&lru_mapping, &slot);
  if (!inner) return XDP_ABORTED;
  __u64 *v = bpf_map_lookup_elem(inner, &key);
  if (v) {
    *v += 1;
    return (int)*v;
  }
  __u64 one = 1;
  bpf_map_update_elem(inner, &key, &one, BPF_ANY);
  return 1;
}

char LICENSE[] SEC("license") = "GPL";
