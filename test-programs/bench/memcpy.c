/*
 * Copies the first half of the input memory to the second half, one byte at a time.
 *
 * Input: 2 MiB (the bench fills the first half with a pattern). Running it again gives the same
 * memory, so it can be repeated on the same buffer.
 * Result: the number of bytes copied plus the last byte copied.
 */
#include "bench.h"

static __always_inline void copy_bytes(uint8_t *dst, const uint8_t *src, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		dst[i] = src[i];
}

BENCH_NO_LIBCALLS
uint64_t bench_memcpy(void *mem, uint64_t len)
{
	uint8_t *p = (uint8_t *)mem;
	uint64_t half = len / 2;
	copy_bytes(p + half, p, half);
	return half == 0 ? 0 : half + p[len - 1];
}
