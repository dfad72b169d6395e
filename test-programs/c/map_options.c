/* Every BTF map-definition attribute libbpf knows besides the inner map: map_flags, pinning,
 * numa_node, map_extra, key_size/value_size given as numbers, and struct/typedef key and value
 * types.
 *
 * The test should check:
 *  - `flows`: BPF_MAP_TYPE_LRU_HASH (9), key struct flow_key (16 bytes: saddr, daddr, sport,
 *    dport, proto + 3 bytes of padding), value flow_stats_t (a typedef of struct flow_stats,
 *    16 bytes),
 *    max_entries 4096, map_flags BPF_F_NUMA_NODE (4), numa_node 1, pinning LIBBPF_PIN_BY_NAME
 *    (1);
 *  - `seen`: BPF_MAP_TYPE_BLOOM_FILTER (30), no key (key_size 0), value __u32, max_entries 1000,
 *    map_extra 3 (the number of hash functions);
 *  - `scratch`: BPF_MAP_TYPE_PERCPU_HASH (5), key_size 16 and value_size 64 given with __uint (no
 *    BTF types), max_entries 32, map_flags BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG (0x81),
 *    pinning 0 (LIBBPF_PIN_NONE);
 *  - program `account` in section "tc": a 5-tuple packet updates flows[key] (packets + 1,
 *    bytes + skb->len) and returns TC_ACT_OK (0).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
  __u32 saddr;
  __u32 daddr;
  __u16 sport;
  __u16 dport;
  __u8 proto;
};

typedef struct flow_stats {
  __u64 packets;
  __u64 bytes;
} flow_stats_t;

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, struct flow_key);
  __type(value, flow_stats_t);
  __uint(map_flags, BPF_F_NUMA_NODE);
  __uint(numa_node, 1);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
  __type(value, __u32);
  __uint(max_entries, 1000);
  __uint(map_extra, 3);
} seen SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(key_size, 16);
  __uint(value_size, 64);
  __uint(max_entries, 32);
  __uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
  __uint(pinning, LIBBPF_PIN_NONE);
} scratch SEC(".maps");

SEC("tc")
int account(struct __sk_buff *skb) {
  struct flow_key key = {};
  key.saddr = skb->remote_ip4;
  key.daddr = skb->local_ip4;
  key.sport = skb->remote_port >> 16;
  key.dport = skb->local_port;
  key.proto = skb->protocol;
  __u32 h = key.saddr ^ key.daddr;
  bpf_map_push_elem(&seen, &h, 0);
  flow_stats_t *stats = bpf_map_lookup_elem(&flows, &key);
  if (stats) {
    __sync_fetch_and_add(&stats->packets, 1);
    __sync_fetch_and_add(&stats->bytes, skb->len);
  } else {
    flow_stats_t fresh = { .packets = 1, .bytes = skb->len };
    bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST);
  }
  return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
