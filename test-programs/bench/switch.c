/*
 * A 64-way switch over an array of u32: the low six bits of each value pick one of 64 small
 * computations, each folding the value into an accumulator.
 *
 * Input: len / 4 little-endian u32 values.
 * Result: the accumulator.
 */
#include "bench.h"

static __always_inline uint64_t step(uint64_t acc, uint32_t x)
{
	switch (x & 63) {
		case 0:
			acc += x;
			break;
		case 1:
			acc ^= x * 3;
			break;
		case 2:
			acc = acc * 5 + x;
			break;
		case 3:
			acc -= x >> 3;
			break;
		case 4:
			acc += (uint64_t)x << 7;
			break;
		case 5:
			acc ^= acc >> 13;
			break;
		case 6:
			acc = (acc << 1) | (acc >> 63);
			break;
		case 7:
			acc += x & 0xff;
			break;
		case 8:
			acc |= x & 0x0f0f;
			break;
		case 9:
			acc &= ~(uint64_t)(x & 0xf0);
			break;
		case 10:
			acc += x * x;
			break;
		case 11:
			acc ^= (uint64_t)x * 0x9e3779b97f4a7c15ull;
			break;
		case 12:
			acc += x / 3;
			break;
		case 13:
			acc += x % 7;
			break;
		case 14:
			acc -= x * 11;
			break;
		case 15:
			acc = acc * 31 + (x >> 16);
			break;
		case 16:
			acc += (x >> 1) ^ x;
			break;
		case 17:
			acc ^= x << 3;
			break;
		case 18:
			acc += ~x;
			break;
		case 19:
			acc = acc - (acc >> 7) + x;
			break;
		case 20:
			acc += (x & 1) ? x : 17;
			break;
		case 21:
			acc ^= (x > 0x80000000u) ? acc : x;
			break;
		case 22:
			acc += (uint16_t)x;
			break;
		case 23:
			acc += (uint8_t)(x >> 8);
			break;
		case 24:
			acc = (acc >> 3) | (acc << 61);
			break;
		case 25:
			acc += x * 0x10001u;
			break;
		case 26:
			acc ^= 0x5555555555555555ull;
			break;
		case 27:
			acc += (uint64_t)x * x;
			break;
		case 28:
			acc -= (uint64_t)x << 32;
			break;
		case 29:
			acc += x / 10;
			break;
		case 30:
			acc += x % 100;
			break;
		case 31:
			acc ^= (acc * 7) >> 5;
			break;
		case 32:
			acc += x | 0x100;
			break;
		case 33:
			acc += (x ^ 0xdeadbeefu) >> 4;
			break;
		case 34:
			acc = acc * 3 - x;
			break;
		case 35:
			acc += (x << 5) - x;
			break;
		case 36:
			acc ^= (uint64_t)(x + 1) << 17;
			break;
		case 37:
			acc += acc < x ? 1 : 2;
			break;
		case 38:
			acc += (int32_t)x >> 5;
			break;
		case 39:
			acc -= (int64_t)(int32_t)x;
			break;
		case 40:
			acc += (x >> 24) * 9;
			break;
		case 41:
			acc ^= x & (x - 1);
			break;
		case 42:
			acc += x & -x;
			break;
		case 43:
			acc = (acc ^ x) + 0x1234;
			break;
		case 44:
			acc += (x * 13) >> 3;
			break;
		case 45:
			acc ^= (uint64_t)x << ((x >> 8) & 31);
			break;
		case 46:
			acc += x >> ((x >> 12) & 15);
			break;
		case 47:
			acc += (acc & 0xffff) * 3;
			break;
		case 48:
			acc -= x ^ 0x7f;
			break;
		case 49:
			acc += (x % 3 == 0) ? x : 0;
			break;
		case 50:
			acc ^= acc << 9;
			break;
		case 51:
			acc += (x >> 2) + (x >> 4);
			break;
		case 52:
			acc = acc + x + (acc >> 40);
			break;
		case 53:
			acc += (uint32_t)(acc * x);
			break;
		case 54:
			acc ^= (uint64_t)(x % 1000) << 20;
			break;
		case 55:
			acc += 64 - (x & 63);
			break;
		case 56:
			acc += (x & 0xf) * (x >> 28);
			break;
		case 57:
			acc ^= ~acc >> 1;
			break;
		case 58:
			acc += x < 1000000u ? 5 : 3;
			break;
		case 59:
			acc -= (acc >> 11) & x;
			break;
		case 60:
			acc += (x + 7) / 8;
			break;
		case 61:
			acc = acc * 0x100000001b3ull ^ x;
			break;
		case 62:
			acc += (x >> 3) & 0x1fff;
			break;
		case 63:
			acc ^= x + (acc >> 17);
			break;
		default:
			acc += 1;
			break;
	}
	return acc;
}

uint64_t bench_switch(void *mem, uint64_t len)
{
	const uint32_t *a = (const uint32_t *)mem;
	uint64_t n = len / 4;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < n; i++)
		acc = step(acc, a[i]);
	return acc;
}
