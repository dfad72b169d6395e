/* Perf-buffer variant of ringbuf_hello.c: the record is built on the stack and copied out with
 * bpf_perf_event_output into a PERF_EVENT_ARRAY, on the current CPU.
 *
 * The test should check:
 *  - map `output`: BPF_MAP_TYPE_PERF_EVENT_ARRAY (4), key_size 4 and value_size 4 given with
 *    __uint (so there are no key/value BTF types), max_entries 0 (the loader uses the CPU count);
 *  - program `hello` in section "kprobe/sys_execve" calls bpf_perf_event_output (25) with
 *    flags BPF_F_CURRENT_CPU (0xffffffff) and size 40;
 *  - the consumer receives one 40-byte record {pid, uid, command, message "Hello World!"} per
 *    run, like ringbuf_hello.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct data_t {
  int pid;
  int uid;
  char command[16];
  char message[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} output SEC(".maps");

SEC("kprobe/sys_execve")
int hello(void *ctx) {
  struct data_t data = {};
  data.pid = bpf_get_current_pid_tgid() >> 32;
  data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
  bpf_get_current_comm(&data.command, sizeof(data.command));
  __builtin_memcpy(data.message, "Hello World!", 13);
  bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
