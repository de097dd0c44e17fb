#!/usr/bin/env bash
# Builds and runs the whole test suite in every configuration we support, then checks that an
# outside project can use the installed package. Installs missing Debian packages first.
#
# Usage: scripts/test.sh [preset...]
#   presets: asan (g++ Debug + ASan/UBSan, expensive checks), tsan (builds and runs the concurrent tests under
#   ThreadSanitizer), release, clang-noexcept (clang 14, -fno-exceptions, hardened: one build
#   for the second compiler and for builds without exceptions; noexcept and clang run each alone),
#   valgrind (a subset of the suite under memcheck, with the allocators' client requests),
#   fuzz (libFuzzer differential targets, 15 s each, clang + ASan/UBSan),
#   consumer (install + find_package + pkg-config). Default: all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh test

presets=("$@")
((${#presets[@]})) || presets=(asan tsan release clang-noexcept valgrind fuzz consumer)

passed=0
failed=0
failed_names=()
count() {  # count <preset> <ctest log>
  local line
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$2" | tail -1 || true)
  if [[ -z "$line" ]]; then
    failed=$((failed + 1)); failed_names+=("$1"); return
  fi
  local total bad
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + total - bad)); failed=$((failed + bad))
  ((bad == 0)) || failed_names+=("$1")
}

start=$SECONDS
for preset in "${presets[@]}"; do
  echo "=== ${preset} ==="
  t0=$SECONDS
  if [[ "$preset" == consumer ]]; then
    if bash scripts/consumer_check.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=(consumer); fi
  else
    if cmake --preset "$preset" >/dev/null && cmake --build --preset "$preset"; then
      log=$(mktemp)
      ctest --preset "$preset" 2>&1 | tee "$log" || true
      count "$preset" "$log"
      rm -f "$log"
    else
      echo "=== ${preset}: build failed ==="
      failed=$((failed + 1)); failed_names+=("$preset (build)")
    fi
  fi
  echo "=== ${preset}: $((SECONDS - t0)) s ==="
done

echo "test matrix (${presets[*]}) took $((SECONDS - start)) s"
((failed == 0)) || echo "failing: ${failed_names[*]}"
echo "${passed} passed, ${failed} failed"
((failed == 0))
