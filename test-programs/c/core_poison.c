/* CO-RE relocations that cannot be resolved against the contexts the runtime presents poison
 * their instruction, as libbpf does (`call 0xbad2310`): running it is the error E_CORE_RELO, naming
 * the relocation; a path that does not reach it runs normally. (The kernel's verifier rejects
 * these programs, whose poisoned instructions are reachable, so the kernel oracle skips them.)
 *
 * The test should check (compiler/test/programs.test.ts):
 *  - poison reads a field `struct __sk_buff` does not have: frames up to 100 bytes return 1,
 *    longer ones run the poisoned load and fail with E_CORE_RELO naming
 *    `struct __sk_buff___local.no_such_field`;
 *  - enum_missing asks for an enumerator `enum xdp_action` lacks: its existence is 0 (no poison),
 *    so it returns 7; enum_value runs the poisoned lddw of its value and fails with E_CORE_RELO;
 *  - task_pid reads `struct task_struct`, which the runtime does not present: E_CORE_RELO naming it;
 *  - short_mark reads the UAPI `__u32 mark` through a local signed `short`: a load cannot follow
 *    that size change (only unsigned integers and pointers can), so it is poisoned.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct __sk_buff___local {
  __u32 len;
  __u32 no_such_field;
} __attribute__((preserve_access_index));

enum xdp_action___local {
  XDP_PASS___local = 12,
  XDP_NOPE___local = 13,
};

struct __sk_buff___short {
  short mark;
} __attribute__((preserve_access_index));

struct task_struct {
  int pid;
} __attribute__((preserve_access_index));

SEC("tc")
int poison(struct __sk_buff *ctx) {
  struct __sk_buff___local *skb = (void *)ctx;
  if (ctx->len <= 100) return 1;
  return skb->no_such_field;
}

SEC("xdp")
int enum_missing(struct xdp_md *ctx) {
  if (!bpf_core_enum_value_exists(enum xdp_action___local, XDP_NOPE___local)) return 7;
  return bpf_core_enum_value(enum xdp_action___local, XDP_NOPE___local);
}

SEC("xdp")
int enum_value(struct xdp_md *ctx) {
  return bpf_core_enum_value(enum xdp_action___local, XDP_NOPE___local);
}

SEC("tc")
int task_pid(struct __sk_buff *ctx) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  return BPF_CORE_READ(task, pid);
}

SEC("tc")
int short_mark(struct __sk_buff *ctx) {
  struct __sk_buff___short *skb = (void *)ctx;
  return skb->mark;
}

char LICENSE[] SEC("license") = "GPL";
