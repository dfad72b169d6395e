/* Global variables in .data (initialised) and .bss (zero), global and static, scalar, struct
 * and array, which the loader places in linear memory and exposes to JS.
 *
 * The test should check:
 *  - BTF DATASEC ".data": `config` (struct config, 8 bytes: step __u32 at 0, limit __u32 at 4,
 *    initialised to {2, 1000}) and the static `calls_left` (int, initialised to 3, VAR linkage
 *    0); DATASEC ".bss": `packets` (__u64), `bytes` (__u64) and `last_bytes` (__u8[8]), all
 *    zero;
 *  - program `track` in section "xdp": each run adds config.step to `packets` (until it reaches
 *    config.limit), adds the packet length to `bytes`, copies the first 8 packet bytes (when
 *    there are 8) into `last_bytes`, decrements `calls_left` down to 0 and returns XDP_PASS (2)
 *    while calls_left was positive, XDP_DROP (1) afterwards (run 4 on);
 *  - changing config.step from JS between runs changes the increment.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct config {
  __u32 step;
  __u32 limit;
};

struct config config = { .step = 2, .limit = 1000 };
static int calls_left = 3;

__u64 packets;
__u64 bytes;
__u8 last_bytes[8];

SEC("xdp")
int track(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  if (packets < config.limit) packets += config.step;
  bytes += data_end - data;
  if (data + 8 <= data_end) __builtin_memcpy(last_bytes, data, 8);
  if (calls_left <= 0) return XDP_DROP;
  calls_left--;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
