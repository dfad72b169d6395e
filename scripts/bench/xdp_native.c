/*
 * Native side of the packet bench (`npm run bench`, part "packet"): test-programs/c/xdp_port_count.c
 * built with `cc -O2 -DBPF2WASM_NATIVE`, run over the frames in FILE (a u32 count, then each frame
 * as a u32 length and its bytes), each copied into a page as the kernel's test run does, and prints
 * {"nsPerFrame": N, "pass": P, "drop": D} (median over batches of whole passes).
 *
 * Usage: xdp_native FILE [--min-ms N]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "xdp_native_shim.h"

struct native_map native_port_counts;
int port_count(struct xdp_md *ctx);

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: xdp_native FILE [--min-ms N]\n"); return 2; }
  double min_ms = argc >= 4 ? atof(argv[3]) : 500;
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  uint32_t n;
  if (fread(&n, 4, 1, f) != 1) return 1;
  unsigned char **frames = malloc(n * sizeof *frames);
  uint32_t *lens = malloc(n * sizeof *lens);
  for (uint32_t i = 0; i < n; i++) {
    if (fread(&lens[i], 4, 1, f) != 1) return 1;
    frames[i] = malloc(lens[i]);
    if (fread(frames[i], 1, lens[i], f) != lens[i]) return 1;
  }
  fclose(f);
  static unsigned char page[4096];
  unsigned long verdicts[5] = {0};
  double samples[1000];
  int ns = 0;
  double start = now_ns();
  for (int pass = 0; ns < 1000 && (now_ns() - start < min_ms * 1e6 || ns < 5); pass++) {
    double t0 = now_ns();
    for (uint32_t i = 0; i < n; i++) {
      memcpy(page + 256, frames[i], lens[i]);
      struct xdp_md ctx = { (unsigned long)(page + 256), (unsigned long)(page + 256 + lens[i]), (unsigned long)(page + 256), 1, 0, 0 };
      __asm__ volatile("" ::: "memory");
      int r = port_count(&ctx);
      if (pass == 0 && r >= 0 && r < 5) verdicts[r]++;
    }
    samples[ns++] = (now_ns() - t0) / n;
  }
  qsort(samples, ns, sizeof *samples, cmp);
  printf("{\"nsPerFrame\": %.2f, \"pass\": %lu, \"drop\": %lu}\n", samples[ns / 2], verdicts[XDP_PASS], verdicts[XDP_DROP]);
  return 0;
}
