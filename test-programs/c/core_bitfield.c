/* CO-RE bitfield relocations against the contexts the runtime presents: a local flavour of
 * `struct __sk_buff` declares `mark` and `priority` as bitfields; BPF_CORE_READ_BITFIELD's
 * relocations (byte offset, byte size, signedness, left and right shifts) resolve against the UAPI
 * `__u32` fields. (The kernel's verifier refuses the macro's load through a ctx pointer plus an
 * offset, so the kernel oracle does not run this object.)
 *
 * The test should check (compiler/test/programs.test.ts):
 *  - bits with ctx mark = 0x12345 and priority = 7 returns mark + (priority << 20) = 0x712345
 *    (the whole 32-bit mark, not the 12 bits the local declaration has).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct __sk_buff___bits {
  __u32 mark : 12;
  __u32 priority : 4;
} __attribute__((preserve_access_index));

SEC("tc")
int bits(struct __sk_buff *ctx) {
  struct __sk_buff___bits *skb = (void *)ctx;
  __u64 mark = BPF_CORE_READ_BITFIELD(skb, mark);
  __u64 priority = BPF_CORE_READ_BITFIELD(skb, priority);
  return mark + (priority << 20);
}

char LICENSE[] SEC("license") = "GPL";
