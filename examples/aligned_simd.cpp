// Utilities: aligned storage, cache-padded per-thread counters, prefetching, secure zeroing.
#include <core/memory.hpp>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

namespace cm = core::memory;

int main() {
  // Counters updated by different threads, each on its own cache lines.
  std::vector<cm::CachePadded<std::atomic<long>>> hits(2);
  std::thread worker([&] {
    for (int i = 0; i < 100000; ++i) hits[1]->fetch_add(1, std::memory_order_relaxed);
  });
  for (int i = 0; i < 100000; ++i) hits[0]->fetch_add(1, std::memory_order_relaxed);
  worker.join();

  // Walk a large array with software prefetch a few lines ahead.
  cm::AlignedAllocator<64> heap;
  const std::size_t n = 1 << 16;
  auto* data = static_cast<float*>(heap.allocate(n * sizeof(float), 64));
  for (std::size_t i = 0; i < n; ++i) data[i] = 1.0f;
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 16 == 0) cm::prefetch_read<cm::locality::low>(data + i + 256);
    sum += data[i];
  }
  heap.deallocate(data, n * sizeof(float), 64);

  // Secrets are wiped in a way the optimiser keeps.
  char password[32] = "correct horse battery staple";
  cm::secure_zero(password, sizeof password);

  std::printf("hits: %ld + %ld, sum: %.0f, line size: %zu (runtime %zu)\n", hits[0]->load(), hits[1]->load(), sum,
              cm::cache_line_size, cm::runtime_cache_line_size());
  return sum == double(n) && cm::check_pattern(password, sizeof password, 0) ? 0 : 1;
}
