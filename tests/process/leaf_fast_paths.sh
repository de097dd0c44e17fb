#!/usr/bin/env bash
# malloc, free and the common operator new/delete forms must be leaf functions on their fast
# path: the thread-cache pop or push inlined, every slow path a tail call. When the compiler
# stopped inlining that path (a bigger engine), malloc called it and saved a frame, and a
# malloc/free pair went from 3.2 to 5.9 ns with no test noticing. Optimized builds only.
# Usage: leaf_fast_paths.sh <libcore_memory_malloc.so>
set -euo pipefail
lib=$1
command -v objdump >/dev/null || { echo "objdump not found"; exit 77; }
dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
objdump -d --no-show-raw-insn "$lib" >"$dump"
status=0
# operator new(size_t), operator delete(void*), operator delete(void*, size_t)
for sym in malloc free _Znwm _ZdlPv _ZdlPvm; do
  body=$(awk -v s="<$sym>:" '$2 == s { f = 1; next } f && /^$/ { exit } f' "$dump")
  if [[ -z $body ]]; then
    echo "$sym: not found in $lib"
    status=1
    continue
  fi
  # The fast path: the instructions up to the first return.
  fast=$(awk '/\tret/ { exit } { print }' <<<"$body" || true)
  if grep -q $'\tcall' <<<"$fast"; then
    echo "$sym: its fast path makes a call (not inlined):"
    grep $'\tcall' <<<"$fast"
    status=1
  else
    echo "$sym: leaf fast path ($(wc -l <<<"$fast") instructions to its return)"
  fi
done
exit $status
