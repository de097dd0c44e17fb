#!/usr/bin/env bash
# Every header under include/ compiles on its own, first in its translation unit, with the
# project's warnings as errors. A test includes other headers before the one it tests, so it would
# not notice a header that forgot an include.
# Usage: self_contained.sh <c++ compiler> <include dir> [extra flags...]
set -euo pipefail
cxx=$1 include=$(cd "$2" && pwd)
shift 2
flags=(-std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror
       -I"$include" "$@")
export cxx
check() {  # check <header path relative to the include dir>
  if ! out=$(printf '#include <%s>\n' "$1" | "$cxx" "${@:2}" -x c++ - 2>&1); then
    printf 'NOT SELF-CONTAINED: %s\n%s\n' "$1" "$out"
    return 1
  fi
}
export -f check
cd "$include"
headers=$(find . -name '*.hpp' | sed 's|^\./||' | sort)
echo "$headers" | xargs -P "$(nproc)" -I{} bash -c 'check "$@"' _ {} "${flags[@]}"
echo "$(echo "$headers" | wc -l) headers compile on their own"
