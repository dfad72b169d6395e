/* String literals in .rodata.str1.1 (a mergeable-strings section): literals whose address is
 * passed to helpers stay in memory, one copy per distinct string.
 *
 * The test should check:
 *  - the object has a section .rodata.str1.1 (flags MERGE | STRINGS | ALLOC) containing
 *    "even length %d\n" and "odd length %d\n" once each, NUL-terminated; the lddw instructions
 *    that load them carry R_BPF_64_64 relocations against that section with the string's
 *    offset in the imm field (the REL addend);
 *  - program `describe` in section "socket": bpf_trace_printk (6) gets the address of one of
 *    the literals and its size (including the NUL): 16 for "even length %d\n", 15 for the odd
 *    one, and skb->len as the third argument; returns skb->len;
 *  - the trace output for a 10-byte packet is "even length 10\n", for 7 bytes "odd length 7\n".
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int describe(struct __sk_buff *skb) {
  __u32 len = skb->len;
  if (len % 2 == 0)
    bpf_trace_printk("even length %d\n", sizeof("even length %d\n"), len);
  else
    bpf_trace_printk("odd length %d\n", sizeof("odd length %d\n"), len);
  return len;
}

char LICENSE[] SEC("license") = "GPL";
