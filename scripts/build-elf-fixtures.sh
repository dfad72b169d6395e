#!/usr/bin/env bash
# Rebuilds the ELF test fixtures test-programs/elf/*.c and test-programs/loader/*.c into the
# committed eBPF objects next to them, which compiler/test/elf.test.ts, loader.test.ts and
# scripts/test/conformance-plugin.test.ts read (so the tests themselves never need clang).
#
#   scripts/build-elf-fixtures.sh           rebuild the objects in place
#   scripts/build-elf-fixtures.sh --check   rebuild into a temporary directory and fail if any
#                                           object differs from the committed one
#
# Every source is built little-endian (NAME.o); sum.c is also built big-endian (sum.be.o).
# The objects are pinned to clang 14 (the output, debug info included, depends on the clang
# version). CLANG=/path/to/clang overrides the compiler.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dirs=(test-programs/elf test-programs/loader)
big_endian=(sum)

. "$root/scripts/lib/clang-pin.sh"
parse_mode "$0" "${1:-}"
require_clang build-elf-fixtures.sh

cd "$root"
if [ "$mode" = check ]; then
  out_root="$(mktemp -d)"
  trap 'rm -rf "$out_root"' EXIT
else
  out_root="."
fi

# -ffreestanding: `main` takes (mem, len) like a conformance program, not (argc, argv).
# The host's multiarch include directory provides <asm/types.h> for <linux/bpf.h>.
multiarch="/usr/include/$(uname -m)-linux-gnu"
build() { # build SOURCE TARGET OUTPUT
  "$clang" -O2 -g -target "$2" -c -Wall -Werror -ffreestanding \
    -I"$multiarch" -fdebug-prefix-map="$root"=. "$1" -o "$3"
}

shopt -s nullglob
outputs=()
for src_dir in "${src_dirs[@]}"; do
  mkdir -p "$out_root/$src_dir"
  for src in "$src_dir"/*.c; do
    name="$(basename "$src" .c)"
    build "$src" bpfel "$out_root/$src_dir/$name.o"
    outputs+=("$src_dir/$name.o")
    for be in "${big_endian[@]}"; do
      if [ "$be" = "$name" ] && [ "$src_dir" = test-programs/elf ]; then
        build "$src" bpfeb "$out_root/$src_dir/$name.be.o"
        outputs+=("$src_dir/$name.be.o")
      fi
    done
  done
done

if [ "$mode" = build ]; then
  echo "build-elf-fixtures.sh: built ${#outputs[@]} objects in ${src_dirs[*]} with $version_line"
  exit 0
fi

status=0
for obj in "${outputs[@]}"; do
  if [ ! -f "$obj" ]; then
    echo "build-elf-fixtures.sh: $obj is missing (run scripts/build-elf-fixtures.sh)" >&2
    status=1
  elif ! cmp -s "$out_root/$obj" "$obj"; then
    echo "build-elf-fixtures.sh: $obj differs from a fresh build (run scripts/build-elf-fixtures.sh)" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  echo "build-elf-fixtures.sh: all ${#outputs[@]} objects match their sources"
fi
exit "$status"
