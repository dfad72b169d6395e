/* Soak program (scripts/soak.ts): one run per call, exercising what a long-lived instance does
 * all day: a HASH map kept at capacity (an update that finds it full deletes the host's chosen
 * victim and retries), an LRU_HASH at capacity (evicting), a ring buffer record per run with a
 * sequence number, and a bpf_printk line when the host asks for one.
 *
 * The test should check:
 *  - maps counts (HASH u32 -> u64, max 1024), recent (LRU_HASH u32 -> u64, max 1024), events
 *    (RINGBUF 64 KiB), state (ARRAY of 4 __u64: [0] sequence, [1] ring buffer drops,
 *    [2] hash evictions); program soak in section "syscall";
 *  - each run returns its sequence number (1, 2, ...) and submits one struct soak_event
 *    { seq, key, value } with it; trace lines "soak seq=N key=K" when ctx->trace is set;
 *  - counts holds at most 1024 keys; when full, the victim is deleted and the new key inserted
 *    (state[2] counts those); a key already present is incremented in place.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct soak_ctx {
  __u32 key;
  __u32 victim;   /* deleted from counts when it is full */
  __u32 trace;    /* nonzero: print a trace line */
  __u32 pad;
};

struct soak_event {
  __u64 seq;
  __u32 key;
  __u32 pad;
  __u64 value;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1024);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1024);
} recent SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 4);
} state SEC(".maps");

static __always_inline void bump(__u32 i) {
  __u64 *v = bpf_map_lookup_elem(&state, &i);
  if (v) __sync_fetch_and_add(v, 1);
}

SEC("syscall")
long soak(struct soak_ctx *ctx) {
  __u32 zero = 0;
  __u64 *seqp = bpf_map_lookup_elem(&state, &zero);
  if (!seqp) return -1;
  __u64 seq = ++*seqp;
  __u32 key = ctx->key;

  __u64 value = 1;
  __u64 *c = bpf_map_lookup_elem(&counts, &key);
  if (c) {
    value = ++*c;
  } else if (bpf_map_update_elem(&counts, &key, &value, BPF_NOEXIST) != 0) {
    __u32 victim = ctx->victim;
    bpf_map_delete_elem(&counts, &victim);
    bump(2);
    if (bpf_map_update_elem(&counts, &key, &value, BPF_NOEXIST) != 0) return -2;
  }
  bpf_map_update_elem(&recent, &key, &seq, BPF_ANY);

  struct soak_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (e) {
    e->seq = seq;
    e->key = key;
    e->pad = 0;
    e->value = value;
    bpf_ringbuf_submit(e, 0);
  } else {
    bump(1);
  }
  if (ctx->trace) bpf_printk("soak seq=%llu key=%u", seq, key);
  return seq;
}

char LICENSE[] SEC("license") = "GPL";
