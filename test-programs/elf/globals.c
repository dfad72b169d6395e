/* Needs relocations: a global variable (.bss), a constant table (.rodata) and a call to a
 * non-static function placed before `main` (R_BPF_64_32). */
__attribute__((noinline)) unsigned long times_three(unsigned long x) { return x * 3; }

static __attribute__((noinline)) unsigned long plus_seven(unsigned long x) { return x + 7; }

int counter;
const int table[4] = {1, 2, 3, 4};

long main(unsigned char *mem, unsigned long len) {
  counter++;
  return times_three(len) + plus_seven(mem[0]) + table[len & 3];
}
