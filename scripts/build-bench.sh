#!/usr/bin/env bash
# Rebuilds the benchmark kernels test-programs/bench/*.c into the committed eBPF objects
# test-programs/bench/*.o, which `npm run bench` reads (so the bench itself needs no clang).
#
#   scripts/build-bench.sh           rebuild the objects in place
#   scripts/build-bench.sh --check   rebuild into a temporary directory and fail if any object
#                                    differs from the committed one (or is missing / extra)
#
# The objects are pinned to clang 14 (the output, debug info included, depends on the clang
# version); another major version gets a warning and will most likely differ under --check.
# CLANG=/path/to/clang overrides the compiler.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="test-programs/bench"

. "$root/scripts/lib/clang-pin.sh"
parse_mode "$0" "${1:-}"
require_clang build-bench.sh

cd "$root"
shopt -s nullglob
sources=("$src_dir"/*.c)
if [ "${#sources[@]}" -eq 0 ]; then
  echo "build-bench.sh: no sources in $src_dir" >&2
  exit 2
fi

if [ "$mode" = check ]; then
  out_dir="$(mktemp -d)"
  trap 'rm -rf "$out_dir"' EXIT
else
  out_dir="$src_dir"
fi

# Paths are relative to the project root and the root is mapped to '.', so the debug info does not
# depend on where the checkout lives.
for src in "${sources[@]}"; do
  name="$(basename "$src" .c)"
  "$clang" -O2 -g -target bpf -c -Wall -Werror \
    -fdebug-prefix-map="$root"=. \
    "$src" -o "$out_dir/$name.o"
done

finish build-bench.sh "$src_dir" "$out_dir" "${sources[@]}"
