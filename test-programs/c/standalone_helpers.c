/* Helpers a standalone module carries inside (README "Standalone modules"), in one tracepoint
 * program whose context is two u64 arguments: bpf_for_each_map_elem over a hash map,
 * bpf_snprintf (BPF_SNPRINTF), bpf_strtol, ring buffer output / reserve / submit / discard /
 * query (the ring fills up, and wraps around when the host consumes between runs),
 * queue push and pop, bpf_printk of the formatted text. args[0] is added to the result.
 *
 * The test should check (compiler/test/programs.test.ts, and compiler/test/standalone.test.ts
 * against the JS runtime):
 *  - program `helpers` in section "tracepoint/syscalls/sys_enter_getpid", maps `events`
 *    (RINGBUF, 4096 bytes), `counts` (HASH u32 -> u64, 64 entries), `slots` (ARRAY of 8 u64),
 *    `fifo` (QUEUE of u32, 8);
 *  - run k (from 1) stores k in slots[k % 8]; a for_each over `slots` stops at the first empty
 *    slot: `prefix` (the non-empty slots before it) is 0 for runs 1-7 (slot 0 is empty) and 8
 *    from run 8 on;
 *  - run k adds k to counts[k % 5]; for_each visits every entry and sums keys and values into
 *    `visited`, `key_sum`, `value_sum`; `text` becomes "run K: V visited, sum S, ok"; `parsed` is strtol of
 *    "  -42x" (-42, 5 bytes consumed: `consumed`);
 *  - a 64-byte record of `text` is output, then a 1500-byte record (its first 16 bytes the run
 *    number) is reserved and submitted on odd runs, discarded on even ones;
 *    `avail` is BPF_RB_AVAIL_DATA after both; `out_err` the output's result (-EAGAIN when full);
 *  - k is pushed on `fifo`; every third run pops one into `popped`;
 *  - the text is printed; the program returns k + args[0].
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 64);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 8);
} slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __type(value, __u32);
  __uint(max_entries, 8);
} fifo SEC(".maps");

struct sum_ctx {
  __u64 keys;
  __u64 values;
  __u32 seen;
};

__u64 run_no;
__u32 visited;
__u64 key_sum;
__u64 value_sum;
char text[64];
long parsed;
long consumed;
long avail;
long out_err;
__u32 popped;

__u32 prefix;

static long add_entry(void *map, __u32 *key, __u64 *value, struct sum_ctx *c) {
  c->keys += *key;
  c->values += *value;
  c->seen++;
  return 0;
}

/* Counts the slots before the first empty one: stops the walk there. */
static long count_prefix(void *map, __u32 *key, __u64 *value, __u32 *n) {
  if (*value == 0) return 1;
  *n += 1;
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int helpers(__u64 *args) {
  __u64 k = ++run_no;
  __u32 key = k % 5;
  __u64 *v = bpf_map_lookup_elem(&counts, &key);
  if (v) {
    *v += k;
  } else {
    __u64 init = k;
    bpf_map_update_elem(&counts, &key, &init, BPF_ANY);
  }

  __u32 slot = k % 8;
  bpf_map_update_elem(&slots, &slot, &k, BPF_ANY);
  __u32 n = 0;
  bpf_for_each_map_elem(&slots, count_prefix, &n, 0);
  prefix = n;

  struct sum_ctx c = {};
  bpf_for_each_map_elem(&counts, add_entry, &c, 0);
  visited = c.seen;
  key_sum = c.keys;
  value_sum = c.values;

  BPF_SNPRINTF(text, sizeof(text), "run %llu: %u visited, sum %llu, %s", k, c.seen, c.values, "ok");
  static const char number[] = "  -42x";
  consumed = bpf_strtol(number, sizeof(number) - 1, 0, &parsed);

  out_err = bpf_ringbuf_output(&events, text, sizeof(text), 0);
  __u8 *rec = bpf_ringbuf_reserve(&events, 1500, 0);
  if (rec) {
    for (int i = 0; i < 16; i++) rec[i] = k;
    if (k & 1) bpf_ringbuf_submit(rec, 0);
    else bpf_ringbuf_discard(rec, 0);
  }
  avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

  __u32 item = k;
  bpf_map_push_elem(&fifo, &item, BPF_EXIST);
  if (k % 3 == 0) bpf_map_pop_elem(&fifo, &popped);

  bpf_printk("%s", text);
  return k + args[0];
}

char LICENSE[] SEC("license") = "GPL";
