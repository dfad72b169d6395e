/* kfunc calls: extern functions declared `__ksym`, which the host provides by name. clang
 * emits `call -1` with an R_BPF_64_32 relocation against the undefined symbol; the loader turns
 * them into kfunc calls (src_reg 2) and the compiler into imports named after the function, with
 * the Wasm signature of their BTF prototype.
 *
 * The test should check:
 *  - program `use_kfuncs` in section "xdp" calls kfuncs `bpf2wasm_hash` (const void *, __u32)
 *    -> __u64 and `bpf2wasm_note` (__u32) -> void;
 *  - instantiating without them fails with E_UNKNOWN_HELPER naming bpf2wasm_hash;
 *  - with bpf2wasm_hash(data, len) = the sum of the `len` bytes at `data` and bpf2wasm_note
 *    recording its argument: a packet [1, 2, 3, 4] -> hash 10, note(10), XDP_DROP (1);
 *    [1, 2, 3, 5] -> hash 11, note(11), XDP_PASS (2); a packet shorter than 4 bytes ->
 *    XDP_ABORTED (0) and no kfunc call.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern __u64 bpf2wasm_hash(const void *data, __u32 len) __ksym;
extern void bpf2wasm_note(__u32 code) __ksym;

SEC("xdp")
int use_kfuncs(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  if (data + 4 > end) return XDP_ABORTED;
  __u64 h = bpf2wasm_hash(data, 4);
  bpf2wasm_note(h & 0xff);
  return h & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
