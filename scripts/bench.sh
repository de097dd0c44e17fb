#!/usr/bin/env bash
# Builds the benchmarks in Release and runs core-memory against its peers (glibc, mimalloc,
# jemalloc, tcmalloc, tbbmalloc, foonathan/memory, Boost, std::pmr), printing a table of ratios
# and writing bench/results/{summary.md,results.json,chart.svg} and process.md. Installs missing
# Debian packages first.
#
# Usage: scripts/bench.sh [--clang] [--smoke | --full] [--filter REGEX]
#   --clang  builds with clang 14 instead of g++ 12 (some container ratios differ: see README)
set -euo pipefail
cd "$(dirname "$0")/.."

preset=bench
if [[ "${1:-}" == --clang ]]; then
  preset=bench-clang
  shift
fi
bash scripts/deps.sh bench
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
python3 bench/run.py --build-dir "build/$preset" "$@"
# Whole programs (redis-server, g++) on each process allocator, ours included.
process_args=()
for a in "$@"; do [[ $a == --smoke ]] && process_args+=(--smoke); done
python3 bench/process_bench.py --build-dir "build/$preset" "${process_args[@]}"
