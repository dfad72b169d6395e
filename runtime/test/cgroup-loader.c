/* The kernel side of cgroup-oracle.test.ts, built at test time with gcc and libbpf: loads an
 * object, then follows commands from stdin, one per line, and answers on stdout:
 *
 *   mk REL          mkdir MOUNT/REL                 -> "id REL N" (the cgroup id, by name_to_handle_at)
 *   set I REL       cgroup array slot I = fd of MOUNT/REL -> "set I RC"
 *   join REL        move this process into MOUNT/REL ("/" the root) -> "join RC"
 *   run PROG HEX    BPF_PROG_TEST_RUN of PROG on the frame -> "run RC RETVAL HEXOUT"
 *   ctx PROG HEX    BPF_PROG_TEST_RUN of PROG with HEX as ctx_in (raw tracepoints) -> "ctx RC RETVAL"
 *
 * usage: cgroup-loader OBJECT MAP MOUNT. On exit it moves back to the cgroup it started in
 * and removes the directories it made (deepest first). Errors: "error WHAT ERRNO" and exit 1.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char mount_dir[512];
static char start_cgroup[8192];
static char made[32][600];
static int n_made;

static void path_of(char *out, size_t size, const char *rel) {
  snprintf(out, size, "%s%s%s", mount_dir, rel[0] == '/' ? "" : "/", strcmp(rel, "/") == 0 ? "" : rel);
}

static int join(const char *rel) {
  char p[600];
  path_of(p, sizeof p, rel);
  strncat(p, "/cgroup.procs", sizeof p - strlen(p) - 1);
  FILE *f = fopen(p, "w");
  if (!f) return -errno;
  int rc = fprintf(f, "%d\n", getpid()) < 0 ? -EIO : 0;
  if (fclose(f) != 0 && rc == 0) rc = -errno;
  return rc;
}

static void cleanup(void) {
  join(start_cgroup);
  for (int i = n_made - 1; i >= 0; i--) rmdir(made[i]);
}

static unsigned long long cgroup_id(const char *p) {
  struct {
    struct file_handle fh;
    unsigned char id[8];
  } h;
  int mount_id;
  h.fh.handle_bytes = 8;
  if (name_to_handle_at(AT_FDCWD, p, &h.fh, &mount_id, 0) != 0) return 0;
  unsigned long long id;
  memcpy(&id, h.fh.f_handle, 8);
  return id;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s OBJECT MAP MOUNT\n", argv[0]);
    return 2;
  }
  snprintf(mount_dir, sizeof mount_dir, "%s", argv[3]);
  FILE *self = fopen("/proc/self/cgroup", "r");
  char line[8192];
  snprintf(start_cgroup, sizeof start_cgroup, "/");
  while (self && fgets(line, sizeof line, self)) {
    if (strncmp(line, "0::", 3) == 0) {
      line[strcspn(line, "\n")] = 0;
      snprintf(start_cgroup, sizeof start_cgroup, "%s", line + 3);
    }
  }
  if (self) fclose(self);
  atexit(cleanup);
  libbpf_set_print(NULL);
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj || bpf_object__load(obj)) {
    printf("error load %d\n", errno);
    return 1;
  }
  struct bpf_map *map = bpf_object__find_map_by_name(obj, argv[2]);
  if (!map) {
    printf("error find %d\n", ENOENT);
    return 1;
  }
  int map_fd = bpf_map__fd(map);
  static unsigned char in[4096], out[8192];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char p[600];
    if (strncmp(line, "mk ", 3) == 0) {
      path_of(p, sizeof p, line + 3);
      if (mkdir(p, 0755) != 0) {
        printf("error mkdir %d\n", errno);
        return 1;
      }
      if (n_made < 32) snprintf(made[n_made++], sizeof made[0], "%s", p);
      printf("id %s %llu\n", line + 3, cgroup_id(p));
    } else if (strncmp(line, "set ", 4) == 0) {
      unsigned key;
      char rel[512];
      if (sscanf(line + 4, "%u %511s", &key, rel) != 2) return 2;
      path_of(p, sizeof p, rel);
      int fd = open(p, O_RDONLY | O_DIRECTORY);
      int rc = fd < 0 ? -errno : bpf_map_update_elem(map_fd, &key, &fd, BPF_ANY);
      if (fd >= 0) close(fd);
      printf("set %u %d\n", key, rc);
    } else if (strncmp(line, "join ", 5) == 0) {
      printf("join %d\n", join(line + 5));
    } else if (strncmp(line, "run ", 4) == 0 || strncmp(line, "ctx ", 4) == 0) {
      int ctx = line[0] == 'c';
      char name[128];
      int skip = 0;
      if (sscanf(line + 4, "%127s %n", name, &skip) != 1) return 2;
      struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);
      if (!prog) {
        printf("error find %d\n", ENOENT);
        return 1;
      }
      const char *hex = line + 4 + skip;
      size_t n = strlen(hex) / 2;
      if (n > sizeof in) return 2;
      for (size_t i = 0; i < n; i++) in[i] = (unsigned char)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
      LIBBPF_OPTS(bpf_test_run_opts, opts);
      if (ctx) {
        opts.ctx_in = in;
        opts.ctx_size_in = (unsigned)n;
      } else {
        opts.data_in = in;
        opts.data_size_in = (unsigned)n;
        opts.data_out = out;
        opts.data_size_out = sizeof out;
        opts.repeat = 1;
      }
      int rc = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
      printf("%s %d %u", ctx ? "ctx" : "run", rc, opts.retval);
      if (!ctx) printf(" ");
      for (unsigned i = 0; !ctx && rc == 0 && i < opts.data_size_out; i++) printf("%02x", out[i]);
      printf("\n");
    } else {
      return 2;
    }
    fflush(stdout);
  }
  bpf_object__close(obj);
  return 0;
}
