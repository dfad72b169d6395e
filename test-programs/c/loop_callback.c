/* bpf_loop (helper 181) with a static callback: sums i * i for i in [0, n) and stores the
 * result in a global, counting the iterations it actually ran.
 *
 * The test should check:
 *  - program `sum_squares` in section "xdp"; the callback `square_step` is a static function in
 *    .text (func_info, linkage 0) whose address is loaded by an lddw with an R_BPF_64_64
 *    relocation against .text (imm = the callback's byte offset in .text); the loader turns it
 *    into a function reference (src_reg 4, BPF_PSEUDO_FUNC) when it links .text in;
 *  - with the XDP packet length as n (capped at 1000): n = 10 stores result = 285 and
 *    iterations = 10 (bpf_loop returns the number of callback calls) and returns XDP_PASS (2);
 *  - the callback stops the loop early by returning 1 once the running sum passes 1000000:
 *    n = 1000 -> iterations = 145 (indices 0..144, the stopping call included), result 1005720;
 *  - n = 0 never calls the callback: result 0, iterations 0;
 *  - BTF: `struct loop_ctx` { __u64 sum; __u64 limit; } and the globals `result` and
 *    `iterations` in DATASEC .bss.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct loop_ctx {
  __u64 sum;
  __u64 limit;
};

__u64 result;
long iterations;

static long square_step(__u32 index, void *data) {
  struct loop_ctx *c = data;
  c->sum += (__u64)index * index;
  return c->sum > c->limit ? 1 : 0;
}

SEC("xdp")
int sum_squares(struct xdp_md *ctx) {
  struct loop_ctx c = { .sum = 0, .limit = 1000000 };
  __u32 n = ctx->data_end - ctx->data;
  if (n > 1000) n = 1000;
  iterations = bpf_loop(n, square_step, &c, 0);
  result = c.sum;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
