#!/usr/bin/env bash
# Rebuilds the seed test programs test-programs/c/*.c (libbpf-style programs: maps, helpers,
# tail calls, globals, CO-RE) into the committed eBPF objects test-programs/c/*.o, which the
# tests read (so the tests themselves never need clang).
#
#   scripts/build-test-programs.sh           rebuild the objects in place
#   scripts/build-test-programs.sh --check   rebuild into a temporary directory and fail if any
#                                            object differs from the committed one (or is
#                                            missing, or has no source)
#
# The objects are pinned to clang 14 (the output, BTF and DWARF included, depends on the clang
# version); another major version gets a warning and will most likely differ under --check.
# Needs libbpf's headers (<bpf/bpf_helpers.h>: apt-get install libbpf-dev) and the kernel UAPI
# headers (<linux/bpf.h>). CLANG=/path/to/clang overrides the compiler.
#
# Sources that #include "vmlinux.h" (skc_cast.c: the kernel's own socket structs through CO-RE)
# get one generated from this machine's /sys/kernel/btf/vmlinux with bpftool into a temporary
# directory (never committed: it is megabytes, and the kernel's): their objects then depend on
# the build machine's kernel as well as on clang (the committed ones: Linux 6.18).
#
# Reproducibility: sources are compiled from the project root by their relative path and the
# root is mapped to '.', so neither the DWARF nor the .BTF.ext file names depend on where the
# checkout lives.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="test-programs/c"
me="build-test-programs.sh"

. "$root/scripts/lib/clang-pin.sh"
parse_mode "$0" "${1:-}"
require_clang build-test-programs.sh

cd "$root"
shopt -s nullglob
sources=("$src_dir"/*.c)
if [ "${#sources[@]}" -eq 0 ]; then
  echo "$me: no sources in $src_dir" >&2
  exit 2
fi

if [ "$mode" = check ]; then
  out_dir="$(mktemp -d)"
  trap 'rm -rf "$out_dir"' EXIT
else
  out_dir="$src_dir"
fi

# The host's multiarch include directory provides <asm/types.h> for <linux/bpf.h>.
multiarch="/usr/include/$(uname -m)-linux-gnu"
vmlinux_dir=""
for src in "${sources[@]}"; do
  name="$(basename "$src" .c)"
  extra=()
  if grep -q '#include "vmlinux.h"' "$src"; then
    if [ -z "$vmlinux_dir" ]; then
      vmlinux_dir="$(mktemp -d)"
      trap 'rm -rf "$vmlinux_dir" ${out_dir:+$( [ "$mode" = check ] && echo "$out_dir")}' EXIT
      if ! bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$vmlinux_dir/vmlinux.h"; then
        echo "$me: $src needs vmlinux.h: bpftool btf dump file /sys/kernel/btf/vmlinux format c failed" >&2
        exit 2
      fi
    fi
    extra=(-I"$vmlinux_dir" -fdebug-prefix-map="$vmlinux_dir"=vmlinux)
  fi
  "$clang" -O2 -g -target bpf -c -Wall -Werror \
    -I"$multiarch" "${extra[@]}" -fdebug-prefix-map="$root"=. \
    "$src" -o "$out_dir/$name.o"
done

finish $me "$src_dir" "$out_dir" "${sources[@]}"
