/* Two programs in their own sections sharing .text subprograms (a global function and a static
 * one, neither inlined), with no maps, helpers or global data: what the loader links without
 * relocating anything but calls (compiler/elf/loader.ts, compiler/test/loader.test.ts).
 * `entry` (SEC "xdp") returns add_squares(mem[0], mem[1]) + square(len) (0 for fewer than two
 * bytes); `other` (SEC "socket") returns square(len + 1).
 *
 * Built (with clang 14, from the repository root) exactly as scripts/build-elf-fixtures.sh builds
 * the sources of test-programs/elf:
 *   clang -O2 -g -target bpfel -c -Wall -Werror -ffreestanding -I/usr/include/$(uname -m)-linux-gnu \
 *     -fdebug-prefix-map=$PWD=. test-programs/loader/linked.c -o test-programs/loader/linked.o
 * It lives outside test-programs/elf because the tests there enumerate that directory. */
#define SEC(name) __attribute__((section(name), used))

static __attribute__((noinline)) unsigned long square(unsigned long x) {
  return x * x;
}

__attribute__((noinline)) unsigned long add_squares(unsigned long a, unsigned long b) {
  return square(a) + square(b);
}

SEC("xdp") unsigned long entry(unsigned char *mem, unsigned long len) {
  if (len < 2) return 0;
  return add_squares(mem[0], mem[1]) + square(len);
}

SEC("socket") unsigned long other(unsigned char *mem, unsigned long len) {
  return square(len + 1);
}

char LICENSE[] SEC("license") = "GPL";
