/* Tail calls dispatching on the syscall number (seed 001's BPF_PROG_ARRAY example): `hello`
 * runs on every sys_enter and tail-calls the program stored at the syscall's slot of a
 * PROG_ARRAY; when the slot is empty it falls through and prints the number.
 *
 * The test should check:
 *  - map `syscall`: BPF_MAP_TYPE_PROG_ARRAY (3), key __u32 (4 bytes), value_size 4 (implied by
 *    the __array(values, ...) member), max_entries 300;
 *  - the map's initial contents come from the `.values` initializer (relocations in .rel.maps):
 *    slot 59 -> hello_exec, slots 222..226 -> hello_timer, slots 21 and 22 -> ignore_opcode;
 *  - programs: hello ("raw_tracepoint/sys_enter"), hello_exec, hello_timer, ignore_opcode
 *    (each in its own "raw_tracepoint/..." section);
 *  - running hello with args[1] = 59 ends in hello_exec (its bpf_printk output, return 0);
 *    args[1] = 222 ends in hello_timer printing "Create a timer"; args[1] = 1 (empty slot)
 *    prints "Another syscall: 1" and returns 0; args[1] = -1 or 300 (out of range) likewise
 *    falls through; a chain of more than 33 tail calls stops (the kernel's tail-call limit).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("raw_tracepoint/exec")
int hello_exec(struct bpf_raw_tracepoint_args *ctx) {
  bpf_printk("execve syscall");
  return 0;
}

SEC("raw_tracepoint/timer")
int hello_timer(struct bpf_raw_tracepoint_args *ctx) {
  if (ctx->args[1] == 222) {
    bpf_printk("Create a timer");
  } else if (ctx->args[1] == 226) {
    bpf_printk("Delete a timer");
  } else {
    bpf_printk("Some other timer operation");
  }
  return 0;
}

SEC("raw_tracepoint/ignore")
int ignore_opcode(struct bpf_raw_tracepoint_args *ctx) {
  return 0;
}

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 300);
  __type(key, __u32);
  __array(values, int(struct bpf_raw_tracepoint_args *));
} syscall SEC(".maps") = {
  .values = {
    [21] = (void *)&ignore_opcode,
    [22] = (void *)&ignore_opcode,
    [59] = (void *)&hello_exec,
    [222] = (void *)&hello_timer,
    [223] = (void *)&hello_timer,
    [224] = (void *)&hello_timer,
    [225] = (void *)&hello_timer,
    [226] = (void *)&hello_timer,
  },
};

SEC("raw_tracepoint/sys_enter")
int hello(struct bpf_raw_tracepoint_args *ctx) {
  int opcode = ctx->args[1];
  bpf_tail_call(ctx, &syscall, opcode);
  bpf_printk("Another syscall: %d", opcode);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
