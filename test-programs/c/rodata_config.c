/* Global configuration in .rodata: `const volatile` values that the loader overrides from JS
 * before the program runs (libbpf's skeleton "rodata" pattern).
 *
 * The test should check:
 *  - BTF DATASEC ".rodata" holds the VARs target_uid (__u32), min_len (__u32), verbose
 *    (_Bool, 1 byte), each global (linkage 1) and `const volatile`, plus the static bpf_printk
 *    format `filter.____fmt`; clang leaves the DATASEC offsets of global variables at 0, the
 *    symbol table places them at offsets 0, 4 and 8 of .rodata;
 *  - the defaults in the .rodata bytes: target_uid 0, min_len 64, verbose 0;
 *  - program `filter` in section "socket" (BPF_PROG_TYPE_SOCKET_FILTER): with the defaults a
 *    60-byte packet returns 0 (dropped) and a 100-byte one returns 100 (kept);
 *  - after overriding min_len = 10 from JS, the 60-byte packet returns 60; with
 *    target_uid = 1000 it returns 0 unless bpf_get_current_uid_gid() says uid 1000;
 *  - the loads of min_len are real memory loads (not folded constants), because of `volatile`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

const volatile __u32 target_uid = 0;
const volatile __u32 min_len = 64;
const volatile bool verbose = false;

SEC("socket")
int filter(struct __sk_buff *skb) {
  if (target_uid != 0 && (__u32)bpf_get_current_uid_gid() != target_uid) return 0;
  if (skb->len < min_len) {
    if (verbose) bpf_printk("short packet: %u", skb->len);
    return 0;
  }
  return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
