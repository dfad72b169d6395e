/* Seed 001's CO-RE program ("hello-buffer-config"), as close to the seed as possible without a
 * full vmlinux.h: a minimal header part declares the types it and bpf_tracing.h use (see
 * kprobe_args.c for pt_regs). BPF_KPROBE_SYSCALL (= BPF_KSYSCALL) reads the `__kconfig` extern
 * LINUX_HAS_SYSCALL_WRAPPER; the loader lays it out in the read-only `.kconfig` map and the runtime
 * gives it 1 (x86-64 pt_regs: the syscall's registers are behind the wrapper's first argument).
 *
 * The test should check: ctx = 168-byte pt_regs whose di points to the inner regs served by
 * env.probeRead; the inner regs' di points to the pathname (bpf_probe_read_user_str); the perf
 * event record holds pid, uid, comm, "Hello World" (no my_config entry) or the my_config message
 * for the uid, and the first 15 bytes of the pathname.
 */
#define __TARGET_ARCH_x86
#define __VMLINUX_H__
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* The part of vmlinux.h this program needs. */
typedef __u32 u32;
struct pt_regs {
  unsigned long di, si, dx, cx, r8, r10;
} __attribute__((preserve_access_index));

char message[12] = "Hello World";

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(u32));
    __uint(value_size, sizeof(u32));
} output SEC(".maps");

struct data_t {
   int pid;
   int uid;
   char command[16];
   char message[12];
   char path[16];
};

struct user_msg_t {
    char message[12];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 10240);
    __type(key, u32);
    __type(value, struct user_msg_t);
} my_config SEC(".maps");

SEC("ksyscall/execve")
int BPF_KPROBE_SYSCALL(hello, const char *pathname) {
    struct data_t data = {};
    struct user_msg_t *p;

    data.pid = bpf_get_current_pid_tgid() >> 32;
    data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;

    bpf_get_current_comm(&data.command, sizeof(data.command));
    bpf_probe_read_user_str(&data.path, sizeof(data.path), pathname);

    p = bpf_map_lookup_elem(&my_config, &data.uid);
    if (p != 0) {
        bpf_probe_read_kernel_str(&data.message, sizeof(data.message),
                                  p->message);
    } else {
        bpf_probe_read_kernel_str(&data.message, sizeof(data.message), message);
    }

    bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));
    return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
