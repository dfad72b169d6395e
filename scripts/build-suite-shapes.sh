#!/usr/bin/env bash
# Rebuilds the code-shape fixtures test-programs/suite-shapes/shapes.c into the committed eBPF
# object the tests read (compiler/test/switch-table.test.ts, compiler/test/narrow-div.test.ts),
# so the tests need no clang:
#
#   shapes_O3.o  clang -O3 -target bpf (the flags of the bpf-benchmark suite's Makefile)
#
#   scripts/build-suite-shapes.sh           rebuild the object in place
#   scripts/build-suite-shapes.sh --check   rebuild into a temporary directory and fail if the
#                                           object differs from the committed one
#
# Pinned to clang 14 like the other fixtures; CLANG=/path/to/clang overrides the compiler.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="test-programs/suite-shapes"
me="build-suite-shapes.sh"

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

"$clang" -O3 -g -target bpf -c -Wall -Werror -fdebug-prefix-map="$root"=. "$src_dir/shapes.c" -o "$out_dir/shapes_O3.o"

if [ "$mode" = build ]; then
  echo "$me: built $src_dir/shapes_O3.o with $version_line"
  exit 0
fi
if ! cmp -s "$out_dir/shapes_O3.o" "$src_dir/shapes_O3.o"; then
  echo "$me: $src_dir/shapes_O3.o differs from a fresh build (run scripts/$me)" >&2
  exit 1
fi
echo "$me: the committed object matches a fresh build"
