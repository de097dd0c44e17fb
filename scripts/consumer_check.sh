#!/usr/bin/env bash
# Installs the library from a Release build into a scratch prefix, then builds and runs the
# consumer project in tests/consumer against it with find_package and with pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prefix=$root/build/consumer/prefix
rm -rf build/consumer
cmake -S . -B build/consumer/lib -G Ninja -DCMAKE_BUILD_TYPE=Release -DCORE_MEMORY_BUILD_TESTS=OFF \
      -DCORE_MEMORY_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build build/consumer/lib
cmake --install build/consumer/lib >/dev/null

# find_package(core_memory) + target_link_libraries(app core::memory)
cmake -S tests/consumer -B build/consumer/app -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/consumer/app
./build/consumer/app/consumer

# pkg-config
libdir=$(find "$prefix" -name core-memory.pc -printf '%h\n' | head -1)
flags=$(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs core-memory)
# shellcheck disable=SC2086
g++ tests/consumer/main.cpp $flags -o build/consumer/consumer_pc
./build/consumer/consumer_pc
echo "consumer: find_package and pkg-config builds run"
