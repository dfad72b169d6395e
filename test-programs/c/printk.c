/* bpf_printk (seed 001's XDP "Helloworld"): a global counter in .bss printed on every packet,
 * plus the other bpf_printk shapes.
 *
 * The test should check:
 *  - program `hello` in section "xdp" returns XDP_PASS (2) and increments `counter` (.bss);
 *  - bpf_printk with up to 3 arguments calls bpf_trace_printk (6) with a format string that
 *    lives in .rodata (a `static const char ____fmt[]` VAR per call site, linkage 0 in BTF);
 *    the trace output of the first run is "Helloworld 1", then "Helloworld 2", ...;
 *  - with more than 3 arguments it calls bpf_trace_vprintk (177) with a u64 array on the stack:
 *    the first run prints "args 1 2 3 4";
 *  - "no arguments" is printed once per run with no extra helper arguments.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int counter = 0;

SEC("xdp")
int hello(void *ctx) {
  counter++;
  bpf_printk("Helloworld %d", counter);
  bpf_printk("no arguments");
  bpf_printk("args %d %d %d %d", counter, counter + 1, counter + 2, counter + 3);
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
