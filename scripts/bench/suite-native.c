/*
 * Native harness of the bench's suite part (scripts/bench/suite.ts): linked with one kernel of a
 * bpf-benchmark checkout compiled natively (`uint64_t bpf_main(void *mem)`), it reads the input
 * file once (or passes NULL without one, as the suite's own wrapper does), runs the kernel in
 * batches for at least --min-ms milliseconds and prints the median ns per run and the first run's
 * result as JSON (scripts/bench/suite-timing.h, shared with the uBPF harness):
 * {"medianNs": 123.4, "result": "42", "runs": 1000}.
 *
 *   suite-native --min-ms N [MEMFILE]
 */
#include "suite-timing.h"

extern uint64_t bpf_main(void *mem);

/* The kernel through a volatile pointer, so the calls are never merged or hoisted. */
static uint64_t (*volatile kernel)(void *) = bpf_main;

static uint64_t run_kernel(void *mem)
{
	return kernel(mem);
}

int main(int argc, char **argv)
{
	struct suite_args args;
	if (suite_parse_args(argc, argv, &args) < 0 || args.nfiles > 1) {
		fprintf(stderr, "usage: suite-native --min-ms N [MEMFILE]\n");
		return 2;
	}
	void *mem = NULL;
	size_t len = 0;
	if (args.nfiles == 1 && !(mem = suite_read_file(args.files[0], &len)))
		return 2;
	uint64_t result = kernel(mem);
	long runs;
	double median = suite_median_ns(run_kernel, mem, args.min_ms, &runs);
	suite_print(median, result, runs);
	free(mem);
	return 0;
}
