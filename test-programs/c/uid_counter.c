/* kprobe-style counter keyed by uid (seed 001's "hello map"): a HASH map from the calling
 * user's uid to the number of calls.
 *
 * The test should check:
 *  - map `counter_table`: BPF_MAP_TYPE_HASH (1), key __u32 uid (4 bytes), value __u64 (8 bytes),
 *    max_entries 10240, no flags;
 *  - program `hello` in section "kprobe/sys_execve";
 *  - with bpf_get_current_uid_gid() returning (gid << 32) | uid, running the program 3 times
 *    under uid 1000 and once under uid 0 leaves counter_table == { 1000: 3, 0: 1 };
 *  - the first run inserts with BPF_ANY, later ones update the existing value.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, __u64);
} counter_table SEC(".maps");

SEC("kprobe/sys_execve")
int hello(void *ctx) {
  __u32 uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
  __u64 counter = 0;
  __u64 *p = bpf_map_lookup_elem(&counter_table, &uid);
  if (p) counter = *p;
  counter++;
  bpf_map_update_elem(&counter_table, &uid, &counter, BPF_ANY);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
