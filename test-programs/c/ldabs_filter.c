/* A socket filter written with the legacy packet loads (LD_ABS / LD_IND, as classic BPF
 * filters translate): offsets are from skb->data, which BPF_PROG_TEST_RUN puts at the network
 * header. Keeps IPv4 UDP datagrams to port 53 (the first 64 bytes of them), drops the rest;
 * reads the IPv4 header length with LD_ABS and the port with LD_IND past it. A load past the
 * end ends the program with 0.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

SEC("socket")
int dns_only(struct __sk_buff *skb) {
  if ((load_byte(skb, 0) >> 4) != 4) return 0;
  if (load_byte(skb, 9) != IPPROTO_UDP) return 0;
  if (load_half(skb, 6) & 0x1fff) return 0;
  __u32 ihl = (load_byte(skb, 0) & 0xf) * 4;
  if (load_half(skb, ihl + 2) != 53) return 0;
  return 64;
}

char __license[] SEC("license") = "GPL";
