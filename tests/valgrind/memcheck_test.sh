#!/usr/bin/env bash
# Runs tests/valgrind/memcheck_program under valgrind's memcheck and checks that each misuse of a
# pool, an arena, a slab or a debug allocator is reported as memcheck reports it for malloc (the block, its size and
# the function that allocated it), and that a clean run reports nothing.
# Usage: memcheck_test.sh <memcheck_program>
set -uo pipefail
program=$1
failures=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect <mode> <description> <regex>...: every regex must match memcheck's report.
expect() {
  local mode=$1 what=$2
  shift 2
  valgrind --leak-check=full --error-exitcode=99 --num-callers=12 "$program" "$mode" >"$out" 2>&1
  local rc=$?
  local ok=1
  [[ $rc -eq 99 ]] || { echo "FAIL $mode: memcheck exit code $rc, expected 99 (errors found)"; ok=0; }
  for re in "$@"; do
    grep -Eq -- "$re" "$out" || { echo "FAIL $mode: no match for /$re/"; ok=0; }
  done
  if ((ok)); then echo "ok   $mode: $what"; else failures=$((failures + 1)); sed 's/^/     | /' "$out"; fi
}

expect pool-use-after-free "use after free through a MemoryPool" \
  'Invalid read of size 4' 'at 0x[0-9A-F]+: .*read_after_free_from_pool'
expect pool-leak "a node never returned to a live MemoryPool" \
  '48 bytes in 1 blocks are definitely lost' 'leak_from_pool'
expect arena-leak "an arena-backed object leaked" \
  '100 bytes in 1 blocks are definitely lost' 'leak_from_arena'
expect arena-rewind-use "a block used after its arena scope rewound" \
  'Invalid read of size 4' 'at 0x[0-9A-F]+: .*use_after_rewind'
expect slab-overrun "a write past the end of a slab object" \
  'Invalid write of size 1' 'at 0x[0-9A-F]+: .*overrun_slab'
expect debug-use-after-free "a read of a block in the DebugAllocator's quarantine" \
  'Invalid read of size 4' 'at 0x[0-9A-F]+: .*read_quarantined_block'
expect debug-overrun "a write into a DebugAllocator block's canary" \
  'Invalid write of size 1' 'at 0x[0-9A-F]+: .*overrun_debug_block'

valgrind --leak-check=full --error-exitcode=99 "$program" clean >"$out" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q 'ERROR SUMMARY: 0 errors' "$out"; then
  echo "ok   clean: no report for correct use of pools, arenas, slabs and object pools"
else
  echo "FAIL clean: memcheck exit code $rc"; sed 's/^/     | /' "$out"; failures=$((failures + 1))
fi
exit $((failures > 0))
