/*
 * Copy and fill loops as clang emits them for eBPF, for the copy-loop rewrite
 * (compiler/rewrite/copy-loop.ts) and its tests (compiler/test/copy-loop.test.ts).
 *
 * Built twice by scripts/build-copy-loops.sh: copy_loops_O2.o (clang -O2) and copy_loops_O3.o
 * (clang -O3), both committed. Every function is a global in .text with the bench kernels'
 * contract: r1 = the input memory, r2 = its length, r0 = the result. The input starts with a
 * header of u64 words that the test chooses: h[0] destination offset, h[1] source offset,
 * h[2] element count, h[3] fill value. Offsets are relative to the memory, so a test makes the
 * ranges overlap, touch the end of memory or leave it.
 */
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INT64_TYPE__ int64_t;

/* Keeps the loops as loops: clang would call memcpy/memset, which the bpf target cannot emit. */
#define LOOP __attribute__((no_builtin))

#define H(mem, i) (((const uint64_t *)(mem))[i])

/* Counted byte copy: the shape of the bench's memcpy kernel. Returns i + the last byte. */
LOOP uint64_t copy_u8(void *mem, uint64_t len)
{
	uint8_t *d = (uint8_t *)mem + H(mem, 0);
	const uint8_t *s = (const uint8_t *)mem + H(mem, 1);
	uint64_t n = H(mem, 2), i;
	uint8_t last = 0;
	for (i = 0; i < n; i++) {
		last = s[i];
		d[i] = last;
	}
	return i * 256 + last;
}

LOOP uint64_t copy_u16(void *mem, uint64_t len)
{
	uint16_t *d = (uint16_t *)((uint8_t *)mem + H(mem, 0));
	const uint16_t *s = (const uint16_t *)((uint8_t *)mem + H(mem, 1));
	uint64_t n = H(mem, 2);
	for (uint64_t i = 0; i < n; i++)
		d[i] = s[i];
	return n;
}

LOOP uint64_t copy_u32(void *mem, uint64_t len)
{
	uint32_t *d = (uint32_t *)((uint8_t *)mem + H(mem, 0));
	const uint32_t *s = (const uint32_t *)((uint8_t *)mem + H(mem, 1));
	uint64_t n = H(mem, 2);
	for (uint64_t i = 0; i < n; i++)
		d[i] = s[i];
	return n;
}

LOOP uint64_t copy_u64(void *mem, uint64_t len)
{
	uint64_t *d = (uint64_t *)((uint8_t *)mem + H(mem, 0));
	const uint64_t *s = (const uint64_t *)((uint8_t *)mem + H(mem, 1));
	uint64_t n = H(mem, 2);
	for (uint64_t i = 0; i < n; i++)
		d[i] = s[i];
	return n;
}

/* Pointer-bumped: `while (s != end) *d++ = *s++`. Returns where d stopped. */
LOOP uint64_t copy_ptr(void *mem, uint64_t len)
{
	uint8_t *d = (uint8_t *)mem + H(mem, 0);
	const uint8_t *s = (const uint8_t *)mem + H(mem, 1);
	const uint8_t *end = s + H(mem, 2);
	while (s != end)
		*d++ = *s++;
	return (uint64_t)(d - (uint8_t *)mem);
}

/* Counted with a signed index. */
LOOP uint64_t copy_signed(void *mem, uint64_t len)
{
	uint8_t *d = (uint8_t *)mem + H(mem, 0);
	const uint8_t *s = (const uint8_t *)mem + H(mem, 1);
	int64_t n = (int64_t)H(mem, 2);
	int64_t i;
	for (i = 0; i < n; i++)
		d[i] = s[i];
	return (uint64_t)i;
}

/* Backward: memmove's other direction. */
LOOP uint64_t copy_down(void *mem, uint64_t len)
{
	uint8_t *d = (uint8_t *)mem + H(mem, 0);
	const uint8_t *s = (const uint8_t *)mem + H(mem, 1);
	uint64_t n = H(mem, 2);
	for (uint64_t i = n; i > 0; i--)
		d[i - 1] = s[i - 1];
	return n;
}

LOOP uint64_t fill_u8(void *mem, uint64_t len)
{
	uint8_t *d = (uint8_t *)mem + H(mem, 0);
	uint64_t n = H(mem, 2), i;
	uint8_t v = (uint8_t)H(mem, 3);
	for (i = 0; i < n; i++)
		d[i] = v;
	return i;
}

LOOP uint64_t fill_u32(void *mem, uint64_t len)
{
	uint32_t *d = (uint32_t *)((uint8_t *)mem + H(mem, 0));
	uint64_t n = H(mem, 2);
	uint32_t v = (uint32_t)H(mem, 3);
	for (uint64_t i = 0; i < n; i++)
		d[i] = v;
	return n;
}

LOOP uint64_t zero_u64(void *mem, uint64_t len)
{
	uint64_t *d = (uint64_t *)((uint8_t *)mem + H(mem, 0));
	uint64_t n = H(mem, 2);
	for (uint64_t i = 0; i < n; i++)
		d[i] = 0;
	return n;
}

/* Not copies: every other byte, and a transformed copy. The rewrite must leave them alone. */
LOOP uint64_t copy_strided(void *mem, uint64_t len)
{
	uint8_t *d = (uint8_t *)mem + H(mem, 0);
	const uint8_t *s = (const uint8_t *)mem + H(mem, 1);
	uint64_t n = H(mem, 2);
	for (uint64_t i = 0; i < n; i++)
		d[2 * i] = s[i];
	return n;
}

LOOP uint64_t copy_plus_one(void *mem, uint64_t len)
{
	uint8_t *d = (uint8_t *)mem + H(mem, 0);
	const uint8_t *s = (const uint8_t *)mem + H(mem, 1);
	uint64_t n = H(mem, 2);
	for (uint64_t i = 0; i < n; i++)
		d[i] = s[i] + 1;
	return n;
}
