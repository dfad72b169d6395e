/* A root XDP program in the style of katran's xdp_root.c: three bpf_tail_call sites into one
 * PROG_ARRAY (slots 0, 1, 2, tried in order; the first filled slot takes over), falling back to
 * XDP_PASS when every slot is empty. The two target programs share a static noinline function,
 * so the object's programs share .text (each program gets its own copy of it, relocated).
 *
 * The test should check:
 *  - map `root_array`: BPF_MAP_TYPE_PROG_ARRAY (3), key __u32, value_size 4, max_entries 3,
 *    initial contents from `.values`: slot 1 -> xdp_second, slot 2 -> xdp_third (slot 0 empty);
 *  - it compiles at -O0, -O1 and -O2 (three tail-call sites in one function);
 *  - running xdp_root returns xdp_second's result, mix(2) = 2 * 31 + 7 = 69; with slot 1
 *    deleted it returns xdp_third's mix(3) = 100; with every slot empty it returns XDP_PASS (2);
 *  - compiling the object never changes the input bytes (the .text relocations are applied to
 *    copies), so compiling the same buffer twice gives the same module.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int mix(int x) {
  return x * 31 + 7;
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx) {
  return mix(2);
}

SEC("xdp")
int xdp_third(struct xdp_md *ctx) {
  return mix(3);
}

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 3);
  __type(key, __u32);
  __array(values, int(struct xdp_md *));
} root_array SEC(".maps") = {
  .values = {
    [1] = (void *)&xdp_second,
    [2] = (void *)&xdp_third,
  },
};

SEC("xdp")
int xdp_root(struct xdp_md *ctx) {
  bpf_tail_call(ctx, &root_array, 0);
  bpf_tail_call(ctx, &root_array, 1);
  bpf_tail_call(ctx, &root_array, 2);
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
