/*
 * Native side of `npm run bench`: runs the benchmark kernels (the C files in test-programs/bench,
 * linked in, built with `cc -O2`) on the inputs the bench wrote to files, and prints one JSON object:
 *
 *     {"primes": {"medianNs": 1234.5, "result": "1229", "runs": 1000, "samples": 20}, ...}
 *
 * Usage: native [--min-ms N] [--min-samples N] name=input-file ...
 *
 * Each kernel runs once for its result, then in batches sized so that a batch takes about
 * 1/20 of --min-ms, until at least --min-ms have passed and --min-samples batches were timed.
 * medianNs is the median over the batches of the time per call. The result is printed as a
 * decimal string because a u64 does not fit a JSON number.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_primes(void *mem, uint64_t len);
uint64_t bench_log2(void *mem, uint64_t len);
uint64_t bench_switch(void *mem, uint64_t len);
uint64_t bench_memcpy(void *mem, uint64_t len);
uint64_t bench_strcmp(void *mem, uint64_t len);

typedef uint64_t (*kernel_fn)(void *mem, uint64_t len);

static const struct {
	const char *name;
	kernel_fn fn;
} kernels[] = {
	{ "primes", bench_primes },
	{ "log2", bench_log2 },
	{ "switch", bench_switch },
	{ "memcpy", bench_memcpy },
	{ "strcmp", bench_strcmp },
};

#define MAX_SAMPLES 4096

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static kernel_fn find_kernel(const char *name)
{
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
		if (strcmp(kernels[i].name, name) == 0)
			return kernels[i].fn;
	return NULL;
}

/* Reads a whole file into a 64-byte aligned buffer (at least 64 bytes, zero-padded). */
static uint8_t *read_file(const char *path, uint64_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0) {
		fclose(f);
		return NULL;
	}
	long size = ftell(f);
	rewind(f);
	if (size < 0) {
		fclose(f);
		return NULL;
	}
	size_t cap = ((size_t)size + 64 + 63) & ~(size_t)63;
	uint8_t *buf = aligned_alloc(64, cap);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	memset(buf, 0, cap);
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (uint64_t)size;
	return buf;
}

int main(int argc, char **argv)
{
	double min_ms = 200;
	long min_samples = 5;
	int first = 1;
	int argi = 1;
	static double samples[MAX_SAMPLES];

	for (; argi < argc; argi++) {
		if (strcmp(argv[argi], "--min-ms") == 0 && argi + 1 < argc)
			min_ms = atof(argv[++argi]);
		else if (strcmp(argv[argi], "--min-samples") == 0 && argi + 1 < argc)
			min_samples = atol(argv[++argi]);
		else
			break;
	}
	if (min_samples < 1)
		min_samples = 1;
	if (min_samples > MAX_SAMPLES)
		min_samples = MAX_SAMPLES;

	printf("{");
	for (; argi < argc; argi++) {
		char *arg = argv[argi];
		char *eq = strchr(arg, '=');
		if (!eq) {
			fprintf(stderr, "native: expected name=file, got '%s'\n", arg);
			return 2;
		}
		*eq = '\0';
		kernel_fn fn = find_kernel(arg);
		if (!fn) {
			fprintf(stderr, "native: unknown kernel '%s'\n", arg);
			return 2;
		}
		uint64_t len = 0;
		uint8_t *mem = read_file(eq + 1, &len);
		if (!mem) {
			fprintf(stderr, "native: cannot read '%s'\n", eq + 1);
			return 2;
		}

		/* First call: the result, and a rough time per call to size the batches. */
		double t0 = now_ns();
		uint64_t result = fn(mem, len);
		double one = now_ns() - t0;
		if (one < 1)
			one = 1;
		double batch_ns = min_ms * 1e6 / 20;
		uint64_t batch = (uint64_t)(batch_ns / one);
		if (batch < 1)
			batch = 1;

		size_t n = 0;
		uint64_t runs = 0;
		int resized = 0;
		double start = now_ns();
		while (n < MAX_SAMPLES && (n < (size_t)min_samples || now_ns() - start < min_ms * 1e6)) {
			double b0 = now_ns();
			for (uint64_t i = 0; i < batch; i++)
				fn(mem, len);
			double b1 = now_ns();
			samples[n++] = (b1 - b0) / (double)batch;
			runs += batch;
			/* The first estimate came from a cold call: resize once from a warm batch. */
			if (!resized && n == 1 && b1 - b0 < batch_ns / 4) {
				resized = 1;
				double per = (b1 - b0) / (double)batch;
				batch = (uint64_t)(batch_ns / (per > 0.5 ? per : 0.5));
				if (batch < 1)
					batch = 1;
				n = 0;
				runs = 0;
				start = now_ns();
			}
		}
		double med = median(samples, n);
		printf("%s\"%s\": {\"medianNs\": %.3f, \"result\": \"%" PRIu64 "\", \"runs\": %" PRIu64 ", \"samples\": %zu}",
		       first ? "" : ", ", arg, med, result, runs, n);
		first = 0;
		free(mem);
	}
	printf("}\n");
	return 0;
}
