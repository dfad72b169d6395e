# Shared by the scripts that rebuild committed eBPF objects (sourced, not run).
# parse_mode SCRIPT ARG: sets `mode` to build or check (--check); prints help for -h.
# require_clang SCRIPT: checks $CLANG (default clang) is installed, sets `clang` and `version_line`,
# and warns when its major version differs from the pinned one (the objects, debug info included,
# depend on the clang version).
pinned_major=14

parse_mode() { # parse_mode SCRIPT_PATH FIRST_ARG
  mode=build
  case "${2:-}" in
    "") ;;
    --check) mode=check ;;
    -h|--help) sed -n '2,12p' "$1" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$(basename "$1"): unknown argument '$2' (expected --check)" >&2; exit 2 ;;
  esac
}

require_clang() { # require_clang SCRIPT_NAME
  clang="${CLANG:-clang}"
  if ! command -v "$clang" >/dev/null 2>&1; then
    echo "$1: '$clang' not found; install clang $pinned_major (apt-get install clang-$pinned_major)" >&2
    exit 2
  fi
  version_line="$("$clang" --version | head -n 1)"
  local major
  major="$(printf '%s\n' "$version_line" | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p')"
  if [ "$major" != "$pinned_major" ]; then
    echo "$1: warning: the objects are built with clang $pinned_major, this is '$version_line';" \
      "the output will likely differ from the committed objects" >&2
  fi
}

# finish SCRIPT SRC_DIR OUT_DIR SOURCES...: after building, reports the build, or (check mode)
# compares every fresh object in OUT_DIR with the committed one in SRC_DIR and flags committed
# objects without a source; exits with the status.
finish() {
  local me="$1" src_dir="$2" out_dir="$3"
  shift 3
  if [ "$mode" = build ]; then
    echo "$me: built $# objects in $src_dir with $version_line"
    exit 0
  fi
  local status=0 src name obj
  for src in "$@"; do
    name="$(basename "$src" .c)"
    if [ ! -f "$src_dir/$name.o" ]; then
      echo "$me: $src_dir/$name.o is missing (run scripts/$me)" >&2
      status=1
    elif ! cmp -s "$out_dir/$name.o" "$src_dir/$name.o"; then
      echo "$me: $src_dir/$name.o differs from a fresh build of $src (run scripts/$me)" >&2
      status=1
    fi
  done
  for obj in "$src_dir"/*.o; do
    name="$(basename "$obj" .o)"
    if [ ! -f "$src_dir/$name.c" ]; then
      echo "$me: $obj has no source $src_dir/$name.c" >&2
      status=1
    fi
  done
  if [ "$status" -eq 0 ]; then
    echo "$me: all $# objects match their sources"
  fi
  exit "$status"
}
