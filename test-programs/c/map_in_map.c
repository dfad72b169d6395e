/* Maps of maps: an ARRAY_OF_MAPS whose slots are statically initialised with two inner ARRAY
 * maps (libbpf's `.values = { &inner_a, &inner_b }`), and a HASH_OF_MAPS whose inner map is an
 * anonymous struct, filled at run time.
 *
 * The test should check:
 *  - `inner_a` and `inner_b`: BPF_MAP_TYPE_ARRAY (2), key __u32, value __u32, max_entries 4;
 *  - `outer`: BPF_MAP_TYPE_ARRAY_OF_MAPS (12), key __u32 (4), value_size 4 (implied by
 *    __array(values, ...)), max_entries 2, inner map definition = struct inner_map (ARRAY,
 *    4 x __u32 -> __u32), initial values from .rel.maps: slot 0 -> inner_a, slot 1 -> inner_b;
 *  - `outer_hash`: BPF_MAP_TYPE_HASH_OF_MAPS (13), key __u32, max_entries 8, inner map
 *    definition HASH (1) with __u64 keys and values and max_entries 16, no initial values;
 *  - program `lookup_nested` in section "xdp": with inner_a[1] = 5 and inner_b[1] = 7, it
 *    returns 5 + 7 = 12 (XDP_PASS (2) when a lookup fails); after writing inner_b[1] = 8 from
 *    JS it returns 13.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner_map {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 2);
  __type(key, __u32);
  __array(values, struct inner_map);
} outer SEC(".maps") = {
  .values = { &inner_a, &inner_b },
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 8);
  __type(key, __u32);
  __array(values, struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u64);
    __type(value, __u64);
  });
} outer_hash SEC(".maps");

static __u32 read_slot(__u32 outer_key) {
  __u32 key = 1;
  void *inner = bpf_map_lookup_elem(&outer, &outer_key);
  if (!inner) return 0;
  __u32 *value = bpf_map_lookup_elem(inner, &key);
  return value ? *value : 0;
}

SEC("xdp")
int lookup_nested(struct xdp_md *ctx) {
  __u32 a = read_slot(0);
  __u32 b = read_slot(1);
  __u32 hkey = 3;
  if (bpf_map_lookup_elem(&outer_hash, &hkey)) return XDP_DROP;
  if (!a || !b) return XDP_PASS;
  return a + b;
}

char LICENSE[] SEC("license") = "GPL";
