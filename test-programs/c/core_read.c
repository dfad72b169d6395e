/* CO-RE (seed 003): reads kernel structures through `preserve_access_index` types, so the
 * object carries CO-RE relocations in .BTF.ext that a loader resolves against the target's BTF.
 * The runtime's target BTF presents the packet contexts only, not `struct task_struct`, so the
 * offsets are poisoned as libbpf poisons them against a kernel without the type.
 *
 * The test should check:
 *  - .BTF.ext has CO-RE relocation records for section "kprobe/do_exit": field byte offsets
 *    (kind 0) with access strings "0:1" (task_struct.tgid), "0:2" (task_struct.real_parent) and
 *    "0:0" (task_struct.pid), and a field-exists check (kind 2) for "0:3" (task_struct.flags);
 *  - program `parent_tgid` calls bpf_get_current_task (35) and bpf_probe_read_kernel (113);
 *  - the three offsets become `call 0xbad2310` and field_exists(flags) 0; running the program
 *    fails with E_CORE_RELO naming `struct task_struct.pid` at the first poisoned instruction.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
  int pid;
  int tgid;
  struct task_struct *real_parent;
  unsigned int flags;
} __attribute__((preserve_access_index));

struct record {
  int pid;
  int ppid;
  int has_flags;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct record);
} last SEC(".maps");

SEC("kprobe/do_exit")
int parent_tgid(void *ctx) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  __u32 key = 0;
  struct record *r = bpf_map_lookup_elem(&last, &key);
  if (!r) return 0;
  r->pid = BPF_CORE_READ(task, pid);
  r->ppid = BPF_CORE_READ(task, real_parent, tgid);
  r->has_flags = bpf_core_field_exists(task->flags);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
