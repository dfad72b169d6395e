/* CO-RE on struct pt_regs (seed 001's BPF_KPROBE_SYSCALL, without vmlinux.h): libbpf's
 * bpf_tracing.h reads kprobe arguments through `struct pt_regs` with CO-RE relocations. This file
 * declares only the registers it reads, in another order than the kernel's, as a minimal
 * vmlinux.h would (`__VMLINUX_H__` selects bpf_tracing.h's kernel register names di, si, ...);
 * the runtime's context BTF presents x86-64's `struct pt_regs` (runtime/uapi/tracing.ts), so the
 * relocations give the kernel's offsets.
 *
 * BPF_KSYSCALL itself reads the `LINUX_HAS_SYSCALL_WRAPPER` __kconfig extern (ksyscall_hello.c
 * uses it): openat_args does by hand what it does on a kernel with the syscall wrapper
 * (x86-64 since 4.17): the syscall's registers are those pointed to by the wrapper's first
 * argument (PT_REGS_SYSCALL_REGS), read with bpf_probe_read_kernel (PT_REGS_PARM*_CORE_SYSCALL).
 *
 * The test should check:
 *  - unlink_args: byte_off relocations of pt_regs.di, .si, .dx (local offsets 0, 8, 16) become
 *    112, 104, 96; with di = 7, si = 5000, dx = 3 it returns 7 * 1000 + 3 - 5000 = 2003;
 *  - openat_args: reads di of its ctx (112), then di, dx, r10 (4th syscall argument) of the
 *    inner regs through bpf_probe_read_kernel (113) at offsets 112, 96, 56: the host serves them
 *    with env.probeRead; returns dfd * 1000000 + flags * 1000 + mode;
 *  - arm64_arg: a pt_regs___arm64 flavour's orig_x0 has no match in x86-64's pt_regs: poisoned,
 *    running it fails with E_CORE_RELO.
 */
#define __TARGET_ARCH_x86
#define __VMLINUX_H__
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct pt_regs {
  unsigned long di, si, dx, cx, r8, r10;
} __attribute__((preserve_access_index));

struct pt_regs___arm64 {
  unsigned long orig_x0;
} __attribute__((preserve_access_index));

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(unlink_args, int dfd, const char *name, int flags) {
  return dfd * 1000 + flags - (long)name;
}

SEC("kprobe/__x64_sys_openat")
int BPF_KPROBE(openat_args) {
  struct pt_regs *regs = PT_REGS_SYSCALL_REGS(ctx);
  long dfd = PT_REGS_PARM1_CORE_SYSCALL(regs);
  long flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
  long mode = PT_REGS_PARM4_CORE_SYSCALL(regs);
  return dfd * 1000000 + flags * 1000 + mode;
}

SEC("kprobe/__arm64_sys_openat")
int BPF_KPROBE(arm64_arg) {
  return BPF_CORE_READ((struct pt_regs___arm64 *)ctx, orig_x0);
}

char LICENSE[] SEC("license") = "GPL";
