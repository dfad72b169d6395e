/* Map keys, values and globals of many C types, for `bpf2wasm gen types` (compiler/gen/): the
 * generated TypeScript types must be what BpfMap.get and getGlobal return at run time.
 *
 * The test should check:
 *  - `events`: HASH, key __u32, value struct event: a __u32, a char[16] (a string), an enum
 *    (its enumerator's name), a __s64 (a bigint), a bool, two bitfields, an anonymous union
 *    merged into the struct (ipv4 and raw), a named member of anonymous struct type (ports), a
 *    __u16[4] array;
 *  - `words`: ARRAY of a union (every member decoded); `by_state`: HASH keyed by an enum;
 *    `by_comm`: HASH keyed by a char[16] typedef; `percpu_stats`: PERCPU_ARRAY of a struct (an
 *    array of one value); `pending`: QUEUE of __u32 (no key); `jumps`: PROG_ARRAY (values are
 *    program names);
 *  - globals: `current_state` (enum, .data), `total` (__u64, .bss), `last_addr` (struct, .bss),
 *    `label` (const volatile char[8], .rodata);
 *  - program `record` (xdp) fills each map once and returns XDP_PASS; `dispatch` (xdp) tail
 *    calls jumps[0] and returns XDP_ABORTED when the slot is empty.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

enum state { IDLE = 0, RUNNING = 1, DONE = 2 };

typedef char comm_t[16];

struct addr {
  __u8 bytes[4];
};

struct event {
  __u32 pid;
  comm_t comm;
  enum state state;
  __s64 delta;
  bool urgent;
  __u8 flags : 3;
  __u8 kind : 5;
  union {
    __u32 ipv4;
    __u8 raw[4];
  };
  struct {
    __u16 sport;
    __u16 dport;
  } ports;
  __u16 hist[4];
};

union word {
  __u64 wide;
  __u32 halves[2];
};

struct stats {
  __u64 packets;
  __u64 bytes;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, struct event);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, union word);
} words SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __type(key, enum state);
  __type(value, __u64);
} by_state SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8);
  __type(key, comm_t);
  __type(value, __s32);
} by_comm SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct stats);
} percpu_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_QUEUE);
  __uint(max_entries, 8);
  __type(value, __u32);
} pending SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 2);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} jumps SEC(".maps");

enum state current_state = RUNNING;
__u64 total;
struct addr last_addr;
const volatile char label[8] = "typed";

SEC("xdp")
int record(struct xdp_md *ctx) {
  __u32 key = 1;
  struct event e = {};
  e.pid = 42;
  __builtin_memcpy(e.comm, "bpf2wasm", 9);
  e.state = current_state;
  e.delta = -5;
  e.urgent = true;
  e.flags = 5;
  e.kind = 17;
  e.ipv4 = 0x0100007f;
  e.ports.sport = 80;
  e.ports.dport = 443;
  e.hist[0] = 1;
  e.hist[3] = 4;
  bpf_map_update_elem(&events, &key, &e, BPF_ANY);

  __u32 zero = 0;
  union word w = { .wide = 0x1122334455667788ULL };
  bpf_map_update_elem(&words, &zero, &w, BPF_ANY);

  enum state s = DONE;
  __u64 one = 1;
  bpf_map_update_elem(&by_state, &s, &one, BPF_ANY);

  comm_t c = "bpf2wasm";
  __s32 v = -7;
  bpf_map_update_elem(&by_comm, &c, &v, BPF_ANY);

  __u64 len = ctx->data_end - ctx->data;
  struct stats *st = bpf_map_lookup_elem(&percpu_stats, &zero);
  if (st) {
    st->packets++;
    st->bytes += len;
  }

  __u32 q = 99;
  bpf_map_push_elem(&pending, &q, 0);

  total += len;
  last_addr.bytes[0] = 10;
  last_addr.bytes[3] = 1;
  current_state = label[0] == 't' ? DONE : IDLE;
  return XDP_PASS;
}

SEC("xdp")
int dispatch(struct xdp_md *ctx) {
  bpf_tail_call(ctx, &jumps, 0);
  return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
