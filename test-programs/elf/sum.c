/* Sums the first (at most 64) bytes of the input memory and returns 2 * sum + 1.
 * `main` calls a static function placed after it (a bpf-to-bpf call clang resolves itself,
 * without a relocation). Built little-endian (sum.o) and big-endian (sum.be.o). */
static __attribute__((noinline)) unsigned long twice_plus_one(unsigned long x) {
  return x * 2 + 1;
}

unsigned long main(unsigned char *mem, unsigned long len) {
  unsigned long sum = 0;
  for (unsigned long i = 0; i < len && i < 64; i++) sum += mem[i];
  return twice_plus_one(sum);
}
