/* CO-RE against the contexts the runtime presents: local flavours of `struct __sk_buff` and
 * `struct xdp_md` (`___local`, `___swapped`) declare a subset of the UAPI fields in another order,
 * so only relocated offsets read the right fields; field existence/size/offset, type
 * existence/size and enum value relocations resolve against the runtime's context BTF as libbpf
 * resolves them against the kernel's.
 *
 * The test should check (compiler/test/programs.test.ts; the kernel oracle runs the same frames,
 * runtime/test/packet-cases.ts):
 *  - skb_fields with a 60-byte frame and ctx mark = 3 returns len + (mark << 16) = 196668;
 *  - skb_info returns field_exists(no_such_field) * 1 + field_exists(mark) * 2
 *    + field_size(sk) * 10 + offset(sk) * 1000 + offset(cb[2]) * 1000000 = 56168082;
 *  - narrow returns the frame length, read through a local `__u16 len` at offset 2 (the load widens);
 *  - xdp_bounds with 60 bytes returns 20 + XDP_PASS * 100 + type_exists(bpf_sock) * 1000
 *    + type_size(bpf_sock) * 10000 = 801220;
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct bpf_sock___local {
  __u32 family;
} __attribute__((preserve_access_index));

struct __sk_buff___local {
  __u32 mark;
  __u32 cb[5];
  __u32 len;
  struct bpf_sock___local *sk;
  __u32 no_such_field;
} __attribute__((preserve_access_index));

struct __sk_buff___narrow {
  __u16 pad;
  __u16 len;
} __attribute__((preserve_access_index));

struct xdp_md___swapped {
  __u32 data_end;
  __u32 data;
} __attribute__((preserve_access_index));

enum xdp_action___local {
  XDP_DROP___local = 11,
  XDP_PASS___local = 12,
};

SEC("tc")
int skb_fields(struct __sk_buff *ctx) {
  struct __sk_buff___local *skb = (void *)ctx;
  return skb->len + (skb->mark << 16);
}

SEC("tc")
int skb_info(struct __sk_buff *ctx) {
  struct __sk_buff___local *skb = (void *)ctx;
  return bpf_core_field_exists(skb->no_such_field) + bpf_core_field_exists(skb->mark) * 2 +
         bpf_core_field_size(skb->sk) * 10 + __builtin_preserve_field_info(skb->sk, BPF_FIELD_BYTE_OFFSET) * 1000 +
         __builtin_preserve_field_info(skb->cb[2], BPF_FIELD_BYTE_OFFSET) * 1000000;
}

/* A 2-byte local len is read with a 4-byte load of the UAPI __u32 (unsigned: safe to widen). */
SEC("tc")
int narrow(struct __sk_buff *ctx) {
  struct __sk_buff___narrow *skb = (void *)ctx;
  return skb->len;
}

SEC("xdp")
int xdp_bounds(struct xdp_md *arg) {
  struct xdp_md___swapped *ctx = (void *)arg;
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  int r = 30;
  if (data + 64 > end) r = 20;
  if (data + 60 > end) r = 10;
  return r + bpf_core_enum_value(enum xdp_action___local, XDP_PASS___local) * 100 +
         bpf_core_type_exists(struct bpf_sock___local) * 1000 + bpf_core_type_size(struct bpf_sock___local) * 10000;
}

char LICENSE[] SEC("license") = "GPL";
