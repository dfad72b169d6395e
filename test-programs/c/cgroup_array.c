/* bpf_skb_under_cgroup over a BPF_MAP_TYPE_CGROUP_ARRAY, bpf_skb_cgroup_id and
 * bpf_skb_ancestor_cgroup_id as a probe (`under_cgroup`, tc): the request (`struct req`) follows
 * the frame's first 34 bytes (Ethernet and a 20-byte IPv4 header), the helper's result (an s64)
 * follows the request. The test run's skb belongs to a socket in the cgroup of the process that
 * runs the test. `task_cgroup` (raw tracepoint) asks the same of the current task:
 * args[0] the op, args[1] the index or level, args[2] which half of the s64 result to return.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
  __uint(max_entries, 4);
} cgroups SEC(".maps");

struct req {
  __u32 op; /* 0 bpf_skb_under_cgroup(index), 1 bpf_skb_cgroup_id, 2 bpf_skb_ancestor_cgroup_id(level) */
  __u32 index;
  __s32 level;
  __u32 pad;
};

SEC("tc")
int under_cgroup(struct __sk_buff *skb) {
  struct req r;
  __s64 rc;
  if (bpf_skb_load_bytes(skb, 34, &r, sizeof(r))) return TC_ACT_SHOT;
  if (r.op == 0) rc = bpf_skb_under_cgroup(skb, &cgroups, r.index);
  else if (r.op == 1) rc = bpf_skb_cgroup_id(skb);
  else rc = bpf_skb_ancestor_cgroup_id(skb, r.level);
  bpf_skb_store_bytes(skb, 34 + sizeof(r), &rc, sizeof(rc), 0);
  return TC_ACT_OK;
}

SEC("raw_tp/sys_enter")
int task_cgroup(__u64 *args) {
  __u64 op = args[0], arg = args[1], half = args[2];
  __s64 rc;
  if (op == 0) rc = bpf_current_task_under_cgroup(&cgroups, (__u32)arg);
  else if (op == 1) rc = bpf_get_current_cgroup_id();
  else rc = bpf_get_current_ancestor_cgroup_id((int)arg);
  return half ? (__u32)((__u64)rc >> 32) : (__u32)rc;
}

char _license[] SEC("license") = "GPL";
