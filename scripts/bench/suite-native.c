/*
 * Native harness of the bench's suite part (scripts/bench/suite.ts): linked with one kernel of a
 * bpf-benchmark checkout compiled natively (`uint64_t bpf_main(void *mem)`), it reads the input
 * file once (or passes NULL without one, as the suite's own wrapper does), runs the kernel in
 * batches for at least --min-ms milliseconds and prints the median ns per run and the first run's
 * result as JSON: {"medianNs": 123.4, "result": "42", "runs": 1000}.
 *
 *   suite-native --min-ms N [MEMFILE]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern uint64_t bpf_main(void *mem);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The kernel through a volatile pointer, so the calls are never merged or hoisted. */
static uint64_t (*volatile kernel)(void *) = bpf_main;

int main(int argc, char **argv)
{
	double min_ms = 200;
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc)
			min_ms = atof(argv[++i]);
		else
			file = argv[i];
	}
	void *mem = NULL;
	if (file) {
		FILE *f = fopen(file, "rb");
		if (!f) {
			perror(file);
			return 2;
		}
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		fseek(f, 0, SEEK_SET);
		mem = malloc(n > 0 ? (size_t)n : 1);
		if (!mem || fread(mem, 1, (size_t)n, f) != (size_t)n) {
			fprintf(stderr, "%s: cannot read\n", file);
			return 2;
		}
		fclose(f);
	}
	uint64_t result = kernel(mem);
	/* Warm-up, then batches of about 1/20 of the time. */
	uint64_t t0 = now_ns();
	long calls = 0;
	do {
		kernel(mem);
		calls++;
	} while (now_ns() - t0 < 20000000u);
	double per = (double)(now_ns() - t0) / (double)calls;
	long batch = (long)(min_ms * 1e6 / 20 / (per > 1 ? per : 1));
	if (batch < 1)
		batch = 1;
	enum { MAX_SAMPLES = 4096 };
	static double samples[MAX_SAMPLES];
	int count = 0;
	long runs = 0;
	uint64_t start = now_ns();
	while ((count < 7 || (double)(now_ns() - start) < min_ms * 1e6) && count < MAX_SAMPLES) {
		uint64_t b0 = now_ns();
		for (long i = 0; i < batch; i++)
			kernel(mem);
		samples[count++] = (double)(now_ns() - b0) / (double)batch;
		runs += batch;
	}
	qsort(samples, (size_t)count, sizeof samples[0], by_value);
	double median = count % 2 ? samples[count / 2] : (samples[count / 2 - 1] + samples[count / 2]) / 2;
	printf("{\"medianNs\": %.3f, \"result\": \"%llu\", \"runs\": %ld}\n", median, (unsigned long long)result, runs);
	free(mem);
	return 0;
}
