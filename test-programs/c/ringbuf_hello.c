/* Ring-buffer "hello" (seed 001): every run emits one {pid, uid, command, message} record.
 *
 * The test should check:
 *  - map `output`: BPF_MAP_TYPE_RINGBUF (27), no key or value (sizes 0), max_entries 262144
 *    (256 KiB, a power-of-2 multiple of the page size);
 *  - the record is struct data_t: 40 bytes, pid (int, offset 0), uid (int, 4), command
 *    (char[16], 8), message (char[16], 24); BTF does not describe it (a ring buffer has no
 *    value type), so the test decodes it by hand;
 *  - program `hello` in section "kprobe/sys_execve" calls bpf_ringbuf_reserve (131),
 *    bpf_get_current_pid_tgid (14), bpf_get_current_uid_gid (15), bpf_get_current_comm (16)
 *    and bpf_ringbuf_submit (132);
 *  - with pid_tgid = (4242 << 32) | 4243, uid 1000 and comm "bash", the consumer reads one
 *    40-byte record { pid: 4242, uid: 1000, command: "bash", message: "Hello World!" };
 *  - when the ring buffer is full, reserve returns NULL and the program returns 1 without
 *    writing anything.
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
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} output SEC(".maps");

SEC("kprobe/sys_execve")
int hello(void *ctx) {
  struct data_t *data = bpf_ringbuf_reserve(&output, sizeof(*data), 0);
  if (!data) return 1;
  data->pid = bpf_get_current_pid_tgid() >> 32;
  data->uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
  bpf_get_current_comm(&data->command, sizeof(data->command));
  __builtin_memcpy(data->message, "Hello World!", 13);
  bpf_ringbuf_submit(data, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
