/* `__kconfig` externs of every kind libbpf lays out in its `.kconfig` map (compiler/elf/kconfig.ts,
 * compiler/test/loader.test.ts): the runtime's virtual LINUX_* externs (strong) and weak CONFIG_*
 * ones, which the host may supply (the `kconfig` option) or which read 0.
 *
 * Built (with clang 14, from the repository root) by scripts/build-elf-fixtures.sh:
 *   clang -O2 -g -target bpfel -c -Wall -Werror -ffreestanding -I/usr/include/$(uname -m)-linux-gnu \
 *     -fdebug-prefix-map=$PWD=. test-programs/loader/kconfig.c -o test-programs/loader/kconfig.o
 *
 * The test should check the layout (align descending, size ascending, name): CONFIG_PHYSICAL_START
 * 0, CONFIG_BPF_LSM 8, CONFIG_HZ 12, LINUX_KERNEL_VERSION 16, CONFIG_NR_CPUS 20, CONFIG_BPF_JIT 22,
 * CONFIG_CHAR 23, LINUX_HAS_BPF_COOKIE 24, LINUX_HAS_SYSCALL_WRAPPER 25, CONFIG_LOCALVERSION 26
 * (8 bytes): 34 bytes; `version` returns LINUX_KERNEL_VERSION, `config` a mix of the CONFIG_*
 * values (see its body).
 */
#define SEC(name) __attribute__((section(name), used))
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))

enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern _Bool CONFIG_BPF_JIT __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPF_LSM __kconfig __weak;
extern char CONFIG_LOCALVERSION[8] __kconfig __weak;
extern unsigned long long CONFIG_PHYSICAL_START __kconfig __weak;
extern unsigned short CONFIG_NR_CPUS __kconfig __weak;
extern char CONFIG_CHAR __kconfig __weak;

SEC("socket") unsigned long version(void *ctx) {
  return LINUX_KERNEL_VERSION + ((unsigned long)LINUX_HAS_BPF_COOKIE << 32) + ((unsigned long)LINUX_HAS_SYSCALL_WRAPPER << 33);
}

/* HZ + NR_CPUS * 2^16 + BPF_JIT * 2^32 + BPF_LSM * 2^33 + LOCALVERSION[1] * 2^40 + CHAR * 2^48
 * + PHYSICAL_START (low bits added). */
SEC("socket") unsigned long config(void *ctx) {
  return (unsigned long)CONFIG_HZ + ((unsigned long)CONFIG_NR_CPUS << 16) + ((unsigned long)CONFIG_BPF_JIT << 32) +
         ((unsigned long)CONFIG_BPF_LSM << 33) + ((unsigned long)(unsigned char)CONFIG_LOCALVERSION[1] << 40) +
         ((unsigned long)(unsigned char)CONFIG_CHAR << 48) + CONFIG_PHYSICAL_START;
}

char LICENSE[] SEC("license") = "GPL";
