#!/usr/bin/env bash
# Rebuilds the copy- and fill-loop fixtures test-programs/copyloops/copy_loops.c into the committed
# eBPF objects the copy-loop tests read (compiler/test/copy-loop.test.ts), so the tests need no clang:
#
#   copy_loops_O2.o  clang -O2 -target bpf (cpu v1: 64-bit compares, as the bench kernels)
#   copy_loops_O3.o  clang -O3 -target bpf (what bpf-benchmark uses; clang 14 emits the same loops)
#   copy_loops_v3.o  clang -O2 -mcpu=v3 -target bpf (32-bit subregisters and jlt/jle compares)
#
#   scripts/build-copy-loops.sh           rebuild the objects in place
#   scripts/build-copy-loops.sh --check   rebuild into a temporary directory and fail if any
#                                         object differs from the committed one
#
# Pinned to clang 14 like the other fixtures; CLANG=/path/to/clang overrides the compiler.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="test-programs/copyloops"
me="build-copy-loops.sh"

. "$root/scripts/lib/clang-pin.sh"
parse_mode "$0" "${1:-}"
require_clang $me

cd "$root"
if [ "$mode" = check ]; then
  out_dir="$(mktemp -d)"
  trap 'rm -rf "$out_dir"' EXIT
else
  out_dir="$src_dir"
fi

src="$src_dir/copy_loops.c"
build() { # build SUFFIX FLAGS...
  local suffix="$1"
  shift
  "$clang" "$@" -g -target bpf -c -Wall -Werror -fdebug-prefix-map="$root"=. "$src" -o "$out_dir/copy_loops_$suffix.o"
}
build O2 -O2
build O3 -O3
build v3 -O2 -mcpu=v3

if [ "$mode" = build ]; then
  echo "$me: built 3 objects in $src_dir with $version_line"
  exit 0
fi
status=0
for suffix in O2 O3 v3; do
  if ! cmp -s "$out_dir/copy_loops_$suffix.o" "$src_dir/copy_loops_$suffix.o"; then
    echo "$me: $src_dir/copy_loops_$suffix.o differs from a fresh build (run scripts/$me)" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "$me: the committed objects match a fresh build"
exit $status
