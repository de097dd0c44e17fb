// std::pmr interoperability, both ways.
#include <core/memory.hpp>

#include <cstdio>
#include <memory_resource>
#include <vector>

namespace cm = core::memory;

int main() {
  // 1. Any core-memory allocator as a std::pmr::memory_resource.
  cm::MemoryResourceAdapter<cm::AlignedAllocator<64>> aligned_resource;
  std::pmr::vector<double> samples(&aligned_resource);
  for (int i = 0; i < 1000; ++i) samples.push_back(i * 0.25);

  // 2. Any std::pmr resource feeding core-memory's typed allocator (and later its containers).
  std::byte buffer[2048];
  std::pmr::monotonic_buffer_resource frame(buffer, sizeof buffer);
  std::vector<int, cm::StdAllocator<int, cm::MemoryResourceAllocator>> ids{cm::MemoryResourceAllocator(&frame)};
  ids.reserve(64);
  for (int i = 0; i < 64; ++i) ids.push_back(i);

  const bool on_stack = reinterpret_cast<std::byte*>(ids.data()) >= buffer &&
                        reinterpret_cast<std::byte*>(ids.data()) < buffer + sizeof buffer;
  std::printf("samples: %zu (64-byte aligned: %s); ids live in the stack buffer: %s\n", samples.size(),
              cm::is_aligned(samples.data(), 64) ? "yes" : "no", on_stack ? "yes" : "no");
  return on_stack && cm::is_aligned(samples.data(), 64) ? 0 : 1;
}
