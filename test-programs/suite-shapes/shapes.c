/*
 * Code shapes of small "bpf_main(mem)" kernels as clang -O3 -target bpf emits them (the shapes an
 * independent benchmark suite of such kernels has), written for this project's tests:
 *
 *   lut_switch  a switch whose cases only pick a constant: clang hoists a case's constant into the
 *               compare that leads to it (`r0 = K; if r5 == c goto join`), so the compare tree has
 *               moves in its inner nodes (compiler/rewrite/switch-table.ts)
 *   trial_div   trial division on 32-bit unsigned values: `r7 /= r0` on registers known to hold
 *               zero-extended 32-bit values (compiler/rewrite/narrow-div.ts)
 *   byte_cmp    a NUL-terminated byte compare with an early exit
 *
 * Input: `mem`, a count followed by that many values (lut_switch), nothing (trial_div) or two
 * strings 1 KiB apart (byte_cmp). Every kernel is a global function in .text (r1 = the memory).
 * Rebuilt by scripts/build-suite-shapes.sh into shapes_O3.o (clang -O3 -target bpf).
 */
typedef unsigned int u32;
typedef unsigned long long u64;

u64 lut_switch(int *mem)
{
	u64 acc = 0;
	for (int i = 1; i <= mem[0]; i++) {
		int v;
		switch (mem[i]) {
		case 0: v = 17; break;
		case 1: v = 4; break;
		case 2: v = 29; break;
		case 3: v = 8; break;
		case 4: v = 31; break;
		case 5: v = 2; break;
		case 6: v = 23; break;
		case 7: v = 11; break;
		case 8: v = 19; break;
		case 9: v = 0; break;
		case 10: v = 26; break;
		case 11: v = 13; break;
		case 12: v = 7; break;
		case 13: v = 30; break;
		case 14: v = 1; break;
		case 15: v = 22; break;
		case 16: v = 9; break;
		case 17: v = 27; break;
		case 18: v = 14; break;
		case 19: v = 5; break;
		case 20: v = 20; break;
		case 21: v = 3; break;
		case 22: v = 28; break;
		case 23: v = 12; break;
		default: v = 99991; break;
		}
		acc = acc * 3 + (u64)v;
	}
	return acc;
}

u64 trial_div(void *mem)
{
	u64 count = 0;
	for (u32 n = 2; n < 3000; n++) {
		u32 d = 2;
		while (d * d <= n && n % d != 0)
			d++;
		count += d * d > n;
	}
	return count;
}

u64 byte_cmp(char *mem)
{
	const char *a = mem, *b = mem + 1024;
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}
