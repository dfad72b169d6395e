/* The kernel side of runtime/test/ksyscall-oracle.test.ts: loads PROGRAM of OBJECT with libbpf
 * (test-programs/c/ksyscall_hello.o's `hello`, SEC("ksyscall/execve"): a kprobe on the syscall's
 * wrapper, or ksyscall_fentry.o's `hello_fentry`; the object's other programs are not loaded),
 * attaches it, names this process (comm), calls execve on a path that does not exist (the probe runs at the
 * syscall's entry; the call then fails with ENOENT), adds a my_config entry for this uid, calls
 * execve once more, and prints the perf records this process caused (the probe sees every
 * process's execve) as `record SIZE HEX` lines after a `self PID UID` line.
 *
 *   ksyscall-loader OBJECT PROGRAM PATH COMM
 *
 * Exit status: 0 with two records; 3 when the kernel refuses the program, its attachment or the
 * perf buffer (the reason on stdout as `refused: ...`); 1 on anything else.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int records;

static void on_sample(void *ctx, int cpu, void *data, __u32 size) {
  (void)ctx;
  (void)cpu;
  int pid;
  if (size < sizeof(pid)) return;
  memcpy(&pid, data, sizeof(pid));
  if (pid != getpid()) return;
  printf("record %u ", size);
  for (__u32 i = 0; i < size; i++) printf("%02x", ((unsigned char *)data)[i]);
  printf("\n");
  records++;
}

static void on_lost(void *ctx, int cpu, __u64 n) {
  (void)ctx;
  fprintf(stderr, "lost %llu records on cpu %d\n", (unsigned long long)n, cpu);
}

static int refused(const char *what, int err) {
  printf("refused: %s: %s\n", what, strerror(err < 0 ? -err : err));
  return 3;
}

static void try_exec(const char *path) {
  char *const argv[] = { (char *)path, NULL };
  char *const envp[] = { NULL };
  execve(path, argv, envp);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: ksyscall-loader OBJECT PROGRAM PATH COMM\n");
    return 1;
  }
  const char *path = argv[3];
  if (prctl(PR_SET_NAME, argv[4], 0, 0, 0) != 0) return 1;
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj) return refused("open", errno);
  struct bpf_program *prog = NULL, *p;
  bpf_object__for_each_program(p, obj) {
    if (strcmp(bpf_program__name(p), argv[2]) == 0) prog = p;
    else bpf_program__set_autoload(p, false);
  }
  if (!prog) return 1;
  int err = bpf_object__load(obj);
  if (err) return refused("load", err);
  struct bpf_link *link = bpf_program__attach(prog);
  if (!link) return refused("attach", errno);
  int out_fd = bpf_object__find_map_fd_by_name(obj, "output");
  int cfg_fd = bpf_object__find_map_fd_by_name(obj, "my_config");
  if (out_fd < 0 || cfg_fd < 0) return 1;
  struct perf_buffer *pb = perf_buffer__new(out_fd, 8, on_sample, on_lost, NULL, NULL);
  if (!pb) return refused("perf buffer", errno);
  printf("self %d %u\n", getpid(), getuid());
  try_exec(path);
  __u32 uid = getuid();
  char msg[12] = "hi from cfg";
  if (bpf_map_update_elem(cfg_fd, &uid, msg, BPF_ANY) != 0) return 1;
  try_exec(path);
  for (int i = 0; i < 50 && records < 2; i++) perf_buffer__poll(pb, 100);
  perf_buffer__free(pb);
  bpf_link__destroy(link);
  bpf_object__close(obj);
  fflush(stdout);
  return records == 2 ? 0 : 1;
}
