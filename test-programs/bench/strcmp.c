/*
 * Compares two strings of the same length byte by byte, strncmp style: stops at the first
 * difference or NUL.
 *
 * Input: 2 MiB, two equal 1 MiB strings without NUL, so the loop runs to the end.
 * Result: the number of bytes equal before the loop stopped, and in the top byte the
 * difference of the bytes where it stopped (0 when equal).
 */
#include "bench.h"

static __always_inline uint64_t compare(const uint8_t *a, const uint8_t *b, uint64_t n, int32_t *diff)
{
	uint64_t i = 0;
	*diff = 0;
	for (; i < n; i++) {
		uint8_t x = a[i], y = b[i];
		if (x != y) {
			*diff = (int32_t)x - (int32_t)y;
			break;
		}
		if (x == 0)
			break;
	}
	return i;
}

BENCH_NO_LIBCALLS
uint64_t bench_strcmp(void *mem, uint64_t len)
{
	const uint8_t *p = (const uint8_t *)mem;
	uint64_t half = len / 2;
	int32_t diff;
	uint64_t same = compare(p, p + half, half, &diff);
	return same | ((uint64_t)(uint8_t)diff << 56);
}
