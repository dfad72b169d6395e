/* A QUEUE and a STACK filled by a program, for listing them without changing them (what
 * `bpf2wasm run` prints after the program ran).
 *
 * The test should check:
 *  - `fifo`: BPF_MAP_TYPE_QUEUE (22) and `lifo`: BPF_MAP_TYPE_STACK (23), no key (key_size 0),
 *    value __u32, max_entries 4;
 *  - program `fill` (section "xdp") pushes 1..5 onto both with BPF_EXIST (a full map drops its
 *    oldest element), pops one element of the queue and returns it: 2;
 *  - afterwards `fifo` holds 3, 4, 5 (pop order) and `lifo` 5, 4, 3, 2; listing them
 *    (`bpf2wasm run`, BpfMap.elements()) leaves them unchanged.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __uint(max_entries, 4);
  __type(value, __u32);
} fifo SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK);
  __uint(max_entries, 4);
  __type(value, __u32);
} lifo SEC(".maps");

SEC("xdp")
int fill(struct xdp_md *ctx) {
  for (__u32 i = 1; i <= 5; i++) {
    bpf_map_push_elem(&fifo, &i, BPF_EXIST);
    bpf_map_push_elem(&lifo, &i, BPF_EXIST);
  }
  __u32 v = 0;
  bpf_map_pop_elem(&fifo, &v);
  return v;
}

char LICENSE[] SEC("license") = "GPL";
