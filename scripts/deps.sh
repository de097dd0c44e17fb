#!/usr/bin/env bash
# Installs the Debian packages a task needs, only if some are missing.
# Usage: scripts/deps.sh test|bench
set -euo pipefail

packages=(cmake ninja-build g++ clang libclang-rt-14-dev libgtest-dev libgmock-dev pkg-config python3 git redis-server
          redis-tools libunwind8 valgrind  # libunwind8: the tracker's fast unwinder (loaded at run time when present)
          chromium fonts-dejavu-core)  # the HTML memory report's test and screenshot (headless)
if [[ "${1:-test}" == bench ]]; then
  packages+=(libbenchmark-dev libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev libtbb-dev
             libfoonathan-memory-dev libplf-colony-dev libboost-dev libabsl-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
