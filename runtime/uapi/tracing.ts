/**
 * The context of kprobe and uprobe programs (ContextKind `pt_regs`): the register file the kernel
 * saves on entry, as the program sees it. bpf2wasm presents x86-64's layout
 * (arch/x86/include/asm/ptrace.h, as vmlinux BTF describes it on x86-64): 21 unsigned longs.
 *
 * Programs built for another architecture (`-D__TARGET_ARCH_arm64` ...) read registers by that
 * architecture's names (`struct pt_regs___arm64`'s `orig_x0`, `user_pt_regs`' `regs[0]`): their
 * CO-RE relocations find no such member in x86-64's pt_regs and poison their instruction
 * (E_CORE_RELO when run), as libbpf does against a kernel without the field. The kernel's
 * `cs` and `ss` words are unions on recent kernels (`cs`/`csx`/`fred_cs`); only the plain
 * unsigned long names are presented.
 */

/** `struct pt_regs` member byte offsets on x86-64 (each an 8-byte unsigned long), and its size. */
export const PtRegs = {
  r15: 0, r14: 8, r13: 16, r12: 24, bp: 32, bx: 40, r11: 48, r10: 56, r9: 64, r8: 72, ax: 80, cx: 88, dx: 96,
  si: 104, di: 112, orig_ax: 120, ip: 128, cs: 136, flags: 144, sp: 152, ss: 160, SIZE: 168,
} as const;
