/*
 * Integer floor(log2(x)) summed over an array of u64.
 *
 * Input: len / 8 little-endian u64 values. log2(0) counts as 0.
 * Result: the sum of the logarithms.
 */
#include "bench.h"

/* Branchy binary search over the bit positions, as in many C code bases. */
static __always_inline uint32_t ilog2_u64(uint64_t v)
{
	uint32_t r = 0;
	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

uint64_t bench_log2(void *mem, uint64_t len)
{
	const uint64_t *a = (const uint64_t *)mem;
	uint64_t n = len / 8;
	uint64_t sum = 0;
	for (uint64_t i = 0; i < n; i++)
		sum += ilog2_u64(a[i]);
	return sum;
}
