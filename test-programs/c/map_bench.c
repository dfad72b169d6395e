/* Map lookup benchmark (npm run bench, part e) and test: 1000 lookups per run, in a loop clang
 * does not unroll, in a HASH map with 4-byte keys and 10,000 entries and in an ARRAY map of the
 * same size (whose lookups compile inline).
 *
 * The test should check:
 *  - map `hash10k`: BPF_MAP_TYPE_HASH (1), key __u32, value __u64, max_entries 10000;
 *  - map `array10k`: BPF_MAP_TYPE_ARRAY (2), key __u32, value __u64, max_entries 10000;
 *  - with hash10k[k] = k for k < 10000, `hash_lookups` returns the sum over i < 1000 of
 *    (i * 7919) % 10000 (a lookup that misses adds nothing); same for `array_lookups`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 10000);
} hash10k SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 10000);
} array10k SEC(".maps");

SEC("xdp")
int hash_lookups(struct xdp_md *ctx) {
  __u64 sum = 0;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 1000; i++) {
    __u32 key = (i * 7919) % 10000;
    __u64 *v = bpf_map_lookup_elem(&hash10k, &key);
    if (v) sum += *v;
  }
  return sum;
}

SEC("xdp")
int array_lookups(struct xdp_md *ctx) {
  __u64 sum = 0;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < 1000; i++) {
    __u32 key = (i * 7919) % 10000;
    __u64 *v = bpf_map_lookup_elem(&array10k, &key);
    if (v) sum += *v;
  }
  return sum;
}

char LICENSE[] SEC("license") = "GPL";
