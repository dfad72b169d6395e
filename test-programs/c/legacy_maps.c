/* Legacy map definitions: `struct bpf_map_def` variables in the "maps" section (the pre-BTF
 * libbpf / iproute2 convention; libbpf 1.x headers no longer define the struct, so it is
 * declared here with the same layout: five __u32 fields).
 *
 * The test should check:
 *  - the "maps" section holds two 20-byte definitions, read through the symbol table:
 *    `legacy_counts` = { type HASH (1), key_size 4, value_size 8, max_entries 64,
 *    map_flags BPF_F_NO_PREALLOC (1) } at offset 0, and `legacy_array` = { ARRAY (2), 4, 4, 16,
 *    0 } at offset 20;
 *  - program `count_legacy` in section "socket": each run increments legacy_counts[skb->len]
 *    (inserting 1 the first time) and legacy_array[skb->len & 15], and returns 0.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
  __u32 type;
  __u32 key_size;
  __u32 value_size;
  __u32 max_entries;
  __u32 map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
  .type = BPF_MAP_TYPE_HASH,
  .key_size = sizeof(__u32),
  .value_size = sizeof(__u64),
  .max_entries = 64,
  .map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") legacy_array = {
  .type = BPF_MAP_TYPE_ARRAY,
  .key_size = sizeof(__u32),
  .value_size = sizeof(__u32),
  .max_entries = 16,
};

SEC("socket")
int count_legacy(struct __sk_buff *skb) {
  __u32 len = skb->len;
  __u64 one = 1;
  __u64 *count = bpf_map_lookup_elem(&legacy_counts, &len);
  if (count)
    __sync_fetch_and_add(count, 1);
  else
    bpf_map_update_elem(&legacy_counts, &len, &one, BPF_NOEXIST);
  __u32 slot = len & 15;
  __u32 *value = bpf_map_lookup_elem(&legacy_array, &slot);
  if (value) __sync_fetch_and_add(value, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
