/* ksyscall_hello.c's program body behind an entry this project's kernel can attach: that kernel
 * is built without CONFIG_KPROBES (and without BPF trampolines), so SEC("ksyscall/execve") loads
 * but cannot be attached, while the raw tracepoint sys_enter can. `hello_raw` sees every
 * syscall's entry with the syscall's pt_regs, the same pt_regs the execve wrapper gets as its
 * argument; for execve it runs the very body of `hello` (____hello, which BPF_KPROBE_SYSCALL
 * generates) with the pathname read from them as `hello` reads it. So both give the same perf
 * record for the same execve (runtime/test/ksyscall-oracle.test.ts compares the kernel's record
 * with bpf2wasm's run of `hello`).
 */
#include "ksyscall_hello.c"

SEC("raw_tp/sys_enter")
int hello_raw(struct bpf_raw_tracepoint_args *ctx) {
  if (ctx->args[1] != 59 /* __NR_execve on x86-64 */) return 0;
  struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
  return ____hello((struct pt_regs *)ctx, (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs));
}
