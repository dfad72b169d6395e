/* Maps shared between objects by pinning name (with pin_consumer.c): both declare `events` with
 * LIBBPF_PIN_BY_NAME, so loaded together they use one map, as libbpf shares it through bpffs.
 * Each also has a `.bss` counter of its own.
 *
 * The test should check:
 *  - map `events`: BPF_MAP_TYPE_HASH (1), key __u32, value __u64, max_entries 64, pinning 1;
 *  - compiled alone, `produce` (section "xdp") adds 1 to events[packet length] and returns
 *    XDP_PASS (2), and `produced` in .bss counts its runs;
 *  - compiled together with pin_consumer.o (compileObject([producer, consumer])), both programs
 *    see one `events` map: after producing for lengths 10, 10 and 20, `consume` with a 10-byte
 *    packet returns 2, and each object's .bss is its own (`.bss` and `1:.bss`).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

__u64 produced;

SEC("xdp")
int produce(struct xdp_md *ctx) {
  __u32 len = ctx->data_end - ctx->data;
  __u64 one = 1;
  __u64 *v = bpf_map_lookup_elem(&events, &len);
  if (v) __sync_fetch_and_add(v, 1);
  else bpf_map_update_elem(&events, &len, &one, BPF_NOEXIST);
  produced++;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
