/*
 * Shared definitions for the benchmark kernels.
 *
 * Every kernel is built twice from the same source: for eBPF with `clang -O2 -g -target bpf -c`
 * (scripts/build-bench.sh, objects committed next to the sources) and natively with `cc -O2`
 * by the harness in scripts/bench/native.c. No system header is included, so the eBPF build
 * needs no libc headers.
 *
 * Kernel contract (the eBPF calling convention):
 *     uint64_t bench_<name>(void *mem, uint64_t len);
 * r1 = pointer to the input memory, r2 = its length, r0 = the result. No global variables, no
 * helper calls, every callee `static __always_inline`, stack well under 512 bytes.
 */
#ifndef BENCH_H
#define BENCH_H

typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * Keeps byte loops as loops. clang turns a byte copy loop into a call to memcpy, which the bpf
 * target cannot emit; gcc does the same natively. Both builds keep the plain loop so they run
 * the same algorithm.
 */
#if defined(__clang__)
#define BENCH_NO_LIBCALLS __attribute__((no_builtin))
#elif defined(__GNUC__)
#define BENCH_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define BENCH_NO_LIBCALLS
#endif

#endif
