/*
 * The measurement shared by the suite part's C harnesses (scripts/bench/suite-native.c and
 * scripts/bench/suite-ubpf.c), so that the native and the uBPF JIT columns are timed the same way:
 * the input file read once into memory (none: NULL, as the suite's own wrapper passes), then
 * the kernel run in batches of about 1/20 of --min-ms after a 20 ms warm-up, for at least
 * --min-ms and at least 7 batches, and the median ns per run printed as JSON with the first
 * run's result: {"medianNs": 123.4, "result": "42", "runs": 1000}.
 */
#ifndef SUITE_TIMING_H
#define SUITE_TIMING_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The command line both harnesses take after their own arguments: --min-ms N and files. */
struct suite_args {
	double min_ms;
	const char *files[2];
	int nfiles;
};

static int suite_parse_args(int argc, char **argv, struct suite_args *a)
{
	a->min_ms = 200;
	a->nfiles = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc)
			a->min_ms = atof(argv[++i]);
		else if (a->nfiles < 2)
			a->files[a->nfiles++] = argv[i];
		else
			return -1;
	}
	return 0;
}

/* The whole file in a fresh buffer (at least 1 byte); NULL after a message on failure. */
static void *suite_read_file(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		perror(file);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *buf = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: cannot read\n", file);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint64_t suite_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int suite_by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/*
 * Median ns per call of run(arg): a 20 ms warm-up sizes batches of about min_ms / 20, then
 * batches until min_ms and at least 7 have passed (at most 4096). *runs counts the timed calls.
 */
static double suite_median_ns(uint64_t (*run)(void *), void *arg, double min_ms, long *runs)
{
	uint64_t t0 = suite_now_ns();
	long calls = 0;
	do {
		run(arg);
		calls++;
	} while (suite_now_ns() - t0 < 20000000u);
	double per = (double)(suite_now_ns() - t0) / (double)calls;
	long batch = (long)(min_ms * 1e6 / 20 / (per > 1 ? per : 1));
	if (batch < 1)
		batch = 1;
	enum { MAX_SAMPLES = 4096 };
	static double samples[MAX_SAMPLES];
	int count = 0;
	*runs = 0;
	uint64_t start = suite_now_ns();
	while ((count < 7 || (double)(suite_now_ns() - start) < min_ms * 1e6) && count < MAX_SAMPLES) {
		uint64_t b0 = suite_now_ns();
		for (long i = 0; i < batch; i++)
			run(arg);
		samples[count++] = (double)(suite_now_ns() - b0) / (double)batch;
		*runs += batch;
	}
	qsort(samples, (size_t)count, sizeof samples[0], suite_by_value);
	return count % 2 ? samples[count / 2] : (samples[count / 2 - 1] + samples[count / 2]) / 2;
}

static void suite_print(double median_ns, uint64_t result, long runs)
{
	printf("{\"medianNs\": %.3f, \"result\": \"%llu\", \"runs\": %ld}\n", median_ns, (unsigned long long)result, runs);
}

#endif
