/* Socket filters reading through the negative LD_ABS / LD_IND offsets of the kernel
 * (linux/filter.h): SKF_NET_OFF + k reads the network header, SKF_LL_OFF + k the link-layer
 * (Ethernet) header, whatever skb->data is; bpf_internal_load_pointer_neg_helper allows
 * [skb->head, the packet's end), and a load outside ends the program with 0. Each program
 * returns what it read plus 0x10000, so a zero byte read is told from a failed load.
 */
#include <linux/bpf.h>
#include <linux/filter.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

#define SEEN(x) ((__u32)(x) + 0x10000)

/* The EtherType from the Ethernet header (LD_ABS, SKF_LL_OFF). */
SEC("socket")
int ll_type(struct __sk_buff *skb) { return SEEN(load_half(skb, SKF_LL_OFF + 12)); }

/* The IPv4 protocol and source address from the network header (LD_ABS, SKF_NET_OFF). */
SEC("socket")
int net_proto(struct __sk_buff *skb) { return SEEN(load_byte(skb, SKF_NET_OFF + 9)); }

SEC("socket")
int net_saddr(struct __sk_buff *skb) { return load_word(skb, SKF_NET_OFF + 12) == 0x0a000001 ? 0x10001 : 0x10000; }

/* LD_IND from the network header: the last byte of the packet, and one past it (0). */
SEC("socket")
int net_last(struct __sk_buff *skb) { return SEEN(load_byte(skb, SKF_NET_OFF + skb->len - 1)); }

SEC("socket")
int net_past(struct __sk_buff *skb) { return SEEN(load_byte(skb, SKF_NET_OFF + skb->len)); }

/* The IPv4 protocol again, counted from the link-layer header (14 + 9). */
SEC("socket")
int ll_proto(struct __sk_buff *skb) { return SEEN(load_byte(skb, SKF_LL_OFF + 14 + 9)); }

/* A k below SKF_NET_OFF counts from the link-layer header: SKF_NET_OFF - 14 is the Ethernet
 * header + 0xffff2, past the packet (0); below SKF_LL_OFF there is no header (0); the headroom
 * before the Ethernet header is out of reach. */
SEC("socket")
int net_minus(struct __sk_buff *skb) { return SEEN(load_byte(skb, SKF_NET_OFF - 14)); }

SEC("socket")
int below_ll(struct __sk_buff *skb) { return SEEN(load_byte(skb, SKF_LL_OFF - 1)); }

char __license[] SEC("license") = "GPL";
