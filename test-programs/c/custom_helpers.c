/* Custom helpers by id (seed 004's style): function pointers initialised with helper numbers
 * that no kernel defines, so the host (the JS runtime) provides them.
 *
 * The test should check:
 *  - the program `use_custom_helpers` (section "xdp") contains `call 1000`, `call 1001` and
 *    `call 42` (helper ids in the imm field, src_reg 0) and no relocation for them;
 *  - loading without helpers 1000/1001/42 registered fails with E_UNKNOWN_HELPER naming the id;
 *  - with builtin_max(a, b) = max, builtin_mul(a, b) = a * b and my_helper(a, b) = a - b
 *    registered from JS, and an empty packet (len 0): returns max(0, 7) * 3 - 2 = 19;
 *    for a 10-byte packet: 10 * 3 - 2 = 28;
 *  - my_helper receives the address of a string literal (in .rodata.str1.1) as its first
 *    argument on the other path (len > 100), where the program returns my_helper's result.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum {
  BUILTIN_INVALID = 0,
  BUILTIN_MUL = 42,
  BUILTIN_MAX = 1000,
  MY_HELPER = 1001,
};

static long (*builtin_max)(long a, long b) = (void *)BUILTIN_MAX;
static long (*builtin_mul)(long a, long b) = (void *)BUILTIN_MUL;
static long (*my_helper)(long a, long b) = (void *)MY_HELPER;

SEC("xdp")
int use_custom_helpers(struct xdp_md *ctx) {
  long len = ctx->data_end - ctx->data;
  if (len > 100) return my_helper((long)"packet too long", len);
  long m = builtin_max(len, 7);
  return builtin_mul(m, 3) - my_helper(2, 0);
}

char LICENSE[] SEC("license") = "GPL";
