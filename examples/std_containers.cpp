// Standard containers on core-memory allocators through StdAllocator.
#include <core/memory.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace cm = core::memory;

int main() {
  // Stateless: StdAllocator<T> over MallocAllocator is an empty, always-equal allocator.
  std::vector<int, cm::StdAllocator<int>> squares;
  for (int i = 0; i < 10; ++i) squares.push_back(i * i);

  // Over-aligned element storage for SIMD: every allocation starts on a 64-byte boundary.
  std::vector<float, cm::StdAllocator<float, cm::AlignedAllocator<64>>> lanes(1024, 1.0f);

  // Node containers work the same way.
  std::map<std::string, int, std::less<>, cm::StdAllocator<std::pair<const std::string, int>>> ages;
  ages["ada"] = 36;
  ages["alan"] = 41;

  const bool aligned = cm::is_aligned(lanes.data(), 64);
  std::printf("squares[9] = %d, lanes aligned to 64: %s, ages: %zu\n", squares[9], aligned ? "yes" : "no",
              ages.size());
  return squares[9] == 81 && aligned && ages.at("alan") == 41 ? 0 : 1;
}
