/*
 * Counts the primes below a limit by trial division.
 *
 * Input: a u64 limit at offset 0 (the bench passes 10000; without input the limit is 10000).
 * Result: the number of primes below the limit (1229 for 10000).
 */
#include "bench.h"

static __always_inline int is_prime(uint64_t n)
{
	if (n < 2)
		return 0;
	for (uint64_t d = 2; d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

uint64_t bench_primes(void *mem, uint64_t len)
{
	uint64_t limit = 10000;
	if (len >= 8)
		limit = *(const uint64_t *)mem;
	uint64_t count = 0;
	for (uint64_t n = 2; n < limit; n++)
		count += is_prime(n);
	return count;
}
