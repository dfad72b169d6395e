/*
 * uBPF harness of the bench's suite part (scripts/bench/suite.ts, `--ubpf DIR`): built against a
 * uBPF build the user gives (its vm/inc/ubpf.h and libubpf.a; only ubpf_create, ubpf_load,
 * ubpf_compile and ubpf_destroy are used, which every uBPF version has), it loads one kernel's
 * raw eBPF bytecode (the `.text` of the clang -O3 -target bpf object, as the native, wasm32 and
 * bpf2wasm columns get it) with ubpf_load, JIT-compiles it with ubpf_compile, reads the input
 * file once (none: NULL and length 0, as the native harness passes), and times the JIT-compiled
 * function exactly as suite-native.c times the native kernel (scripts/bench/suite-timing.h):
 * {"medianNs": 123.4, "result": "42", "runs": 1000}.
 *
 *   suite-ubpf --min-ms N CODEFILE [MEMFILE]
 */
/* Early uBPF headers use bool and size_t without including their headers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ubpf.h>

#include "suite-timing.h"

/* The JIT-compiled kernel through a volatile pointer, as the native harness calls its kernel. */
static ubpf_jit_fn volatile jitted;
static size_t mem_len;

static uint64_t run_jitted(void *mem)
{
	return jitted(mem, mem_len);
}

int main(int argc, char **argv)
{
	struct suite_args args;
	if (suite_parse_args(argc, argv, &args) < 0 || args.nfiles < 1) {
		fprintf(stderr, "usage: suite-ubpf --min-ms N CODEFILE [MEMFILE]\n");
		return 2;
	}
	size_t code_len = 0;
	void *code = suite_read_file(args.files[0], &code_len);
	if (!code)
		return 2;
	struct ubpf_vm *vm = ubpf_create();
	if (!vm) {
		fprintf(stderr, "ubpf_create failed\n");
		return 1;
	}
	char *err = NULL;
	if (ubpf_load(vm, code, (uint32_t)code_len, &err) < 0) {
		fprintf(stderr, "ubpf_load: %s\n", err ? err : "failed");
		return 1;
	}
	jitted = ubpf_compile(vm, &err);
	if (!jitted) {
		fprintf(stderr, "ubpf_compile: %s\n", err ? err : "failed");
		return 1;
	}
	void *mem = NULL;
	if (args.nfiles == 2 && !(mem = suite_read_file(args.files[1], &mem_len)))
		return 2;
	uint64_t result = jitted(mem, mem_len);
	long runs;
	double median = suite_median_ns(run_jitted, mem, args.min_ms, &runs);
	suite_print(median, result, runs);
	free(mem);
	free(code);
	ubpf_destroy(vm);
	return 0;
}
