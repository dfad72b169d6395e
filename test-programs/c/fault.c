/* A socket filter that reads past the end of its context: the kernel's verifier refuses it;
 * bpf2wasm with --checked stops it at run time with E_MEMORY_FAULT. Built with -g, so the
 * fault also names the C line, as the kernel's verifier log does.
 *
 * The test should check:
 *  - `bpf2wasm run fault.o --checked` exits 1 with E_MEMORY_FAULT naming
 *    `test-programs/c/fault.c:LINE` and the source text `return *p == 5 ? 1 : 2;`;
 *  - without --checked the read stays inside linear memory and the program returns 2;
 *  - `bpf2wasm disasm fault.o` shows the C lines between the instructions.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int read_past_end(struct __sk_buff *skb) {
  volatile unsigned char *p = (unsigned char *)skb + 4096;
  return *p == 5 ? 1 : 2;
}

char LICENSE[] SEC("license") = "GPL";
