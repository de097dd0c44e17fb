#!/usr/bin/env bash
# Builds the benchmarks in Release and runs core-memory against its peers (glibc, mimalloc,
# jemalloc, tcmalloc, tbbmalloc, foonathan/memory, Boost, std::pmr), printing a table of ratios
# and writing bench/results/{summary.md,results.json,chart.svg,chart.png}. Installs missing
# Debian packages first.
#
# Usage: scripts/bench.sh [--smoke | --full] [--filter REGEX]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh bench
cmake --preset bench >/dev/null
cmake --build --preset bench
python3 bench/run.py --build-dir build/bench "$@"
