/* bpf-to-bpf calls that are not inlined: a global (non-static) function, which the kernel
 * verifies on its own (a "global subprogram"), and two static functions, one of them called
 * twice.
 *
 * The test should check:
 *  - func_info lists, for section "tc": `classify` at instruction 0, and, for .text, `checksum`
 *    (global, BTF FUNC linkage 1) and the static `fold` and `clamp` (linkage 0), each with the
 *    right FUNC_PROTO (parameter names and types);
 *  - calls from `classify` are `call` instructions with src_reg 1 (BPF_PSEUDO_CALL) whose
 *    targets need the R_BPF_64_32 relocations / pc-relative offsets resolved across sections;
 *  - for a packet of bytes 1..20 (skb->len 20), classify returns clamp(checksum(...)) computed
 *    the same way in JS: fold(sum of the 16-bit big-endian words) bounded to 0..0xfff0;
 *  - the call depth reaches 3 frames (classify -> checksum -> fold).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) __u32 fold(__u32 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  return (sum & 0xffff) + (sum >> 16);
}

static __attribute__((noinline)) __u32 clamp(__u32 value, __u32 lo, __u32 hi) {
  if (value < lo) return lo;
  if (value > hi) return hi;
  return value;
}

__attribute__((noinline)) int checksum(struct __sk_buff *skb) {
  __u32 sum = 0;
  __u8 buf[20];
  if (skb->len < sizeof(buf)) return -1;
  if (bpf_skb_load_bytes(skb, 0, buf, sizeof(buf)) < 0) return -1;
  for (int i = 0; i < (int)sizeof(buf); i += 2) sum += ((__u32)buf[i] << 8) | buf[i + 1];
  return fold(sum);
}

SEC("tc")
int classify(struct __sk_buff *skb) {
  int sum = checksum(skb);
  if (sum < 0) return 0;
  return clamp(sum, 0, 0xfff0) + clamp(fold(skb->len), 1, 100);
}

char LICENSE[] SEC("license") = "GPL";
