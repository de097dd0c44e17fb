// Builds against the installed core-memory package and uses its compiled and header parts.
#include <core/memory.hpp>

#include <cstdio>
#include <memory_resource>
#include <vector>

int main() {
  namespace cm = core::memory;
  std::vector<int, cm::StdAllocator<int, cm::AlignedAllocator<64>>> v{1, 2, 3};
  cm::MemoryResourceAdapter<cm::MallocAllocator> resource;
  std::pmr::vector<int> pv({4, 5, 6}, &resource);
  char text[128];
  cm::format_report({cm::error_kind::double_free, "consumer", nullptr, 8, 0, nullptr, nullptr, 0}, text, sizeof text);
  std::printf("consumer: %d %d, aligned %d, line %zu, report '%s'\n", v[2], pv[2], cm::is_aligned(v.data(), 64),
              cm::runtime_cache_line_size(), text);
  return v[2] == 3 && pv[2] == 6 && cm::is_aligned(v.data(), 64) ? 0 : 1;
}
