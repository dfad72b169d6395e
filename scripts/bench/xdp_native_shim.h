/* What test-programs/c/xdp_port_count.c needs to build natively (scripts/bench/xdp_native.c):
 * the kernel types and constants it names, a context whose data pointers are full pointers, the
 * libbpf map-definition macros, and the two map helpers over a small open-addressing hash table. */
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>

struct xdp_md { unsigned long data, data_end, data_meta; __u32 ingress_ifindex, rx_queue_index, egress_ifindex; };
enum { XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };
#define BPF_NOEXIST 1
#define BPF_MAP_TYPE_HASH 1
#define SEC(name)
#define __uint(name, val) int (*name)[val]
#define __type(name, val) val *name
#define bpf_htons(x) htons(x)
#define bpf_ntohs(x) ntohs(x)

/* A HASH map of u32 keys and u64 values, 1024 entries at most (open addressing, 2048 slots). */
struct native_map { __u32 used[2048]; __u32 keys[2048]; __u64 values[2048]; __u32 count; };
extern struct native_map native_port_counts;
#define port_counts native_port_counts_def
static inline void *bpf_map_lookup_elem(void *map, const void *key) {
  (void)map;
  __u32 k = *(const __u32 *)key;
  for (__u32 i = (k * 2654435761u) & 2047;; i = (i + 1) & 2047) {
    if (!native_port_counts.used[i]) return 0;
    if (native_port_counts.keys[i] == k) return &native_port_counts.values[i];
  }
}
static inline long bpf_map_update_elem(void *map, const void *key, const void *value, __u64 flags) {
  (void)map; (void)flags;
  __u32 k = *(const __u32 *)key;
  if (native_port_counts.count >= 1024) return -7; /* -E2BIG */
  for (__u32 i = (k * 2654435761u) & 2047;; i = (i + 1) & 2047) {
    if (!native_port_counts.used[i]) {
      native_port_counts.used[i] = 1;
      native_port_counts.keys[i] = k;
      native_port_counts.values[i] = *(const __u64 *)value;
      native_port_counts.count++;
      return 0;
    }
    if (native_port_counts.keys[i] == k) return -17; /* -EEXIST */
  }
}
