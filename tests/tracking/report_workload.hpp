#pragma once
// A representative workload for the HTML report (tests, scripts/report_screenshot.sh and the scale
// measurement): a small "server" that parses requests (temporary buffers), builds a cache that
// grows and is trimmed (memory in use rises and falls), keeps messages in a tracked pool, and
// leaks a few sessions, with stacks, over about `ms` milliseconds, making `allocations` in all.
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/tracking/tracking_allocator.hpp>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <thread>
#include <vector>

namespace report_workload {

namespace cm = core::memory;

struct Server {
  cm::MemoryTracker& tracker;
  cm::TrackingAllocator<cm::MallocAllocator> heap{{.name = "request heap", .tracker = &tracker}};
  cm::TrackingAllocator<cm::MemoryPool> messages{{.name = "message pool", .tracker = &tracker}, 256};
  std::deque<std::pair<void*, std::size_t>> cache;
  std::vector<void*> pooled;
  std::vector<void*> leaked;
  std::size_t made = 0;

  explicit Server(cm::MemoryTracker& t) : tracker(t) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    for (auto& [p, n] : cache) heap.deallocate(p, n, 16);
    for (void* p : pooled) messages.deallocate(p, 256, 16);
    // `leaked` stays live: the report's leaks (the memory itself is freed by the caller's free_leaks).
  }

  CORE_MEMORY_NOINLINE void parse_request(std::size_t i) {
    const std::size_t n = 32 + (i * 37) % 480;  // a scratch buffer freed at once: temporary
    void* p = heap.allocate(n, 16);
    asm volatile("" ::"r"(p) : "memory");
    heap.deallocate(p, n, 16);
    ++made;
  }
  CORE_MEMORY_NOINLINE void cache_response(std::size_t i) {
    const std::size_t n = std::size_t(1024) << (i % 5);
    cache.emplace_back(heap.allocate(n, 16), n);
    ++made;
  }
  CORE_MEMORY_NOINLINE void trim_cache(std::size_t keep) {
    while (cache.size() > keep) {
      heap.deallocate(cache.front().first, cache.front().second, 16);
      cache.pop_front();
    }
  }
  CORE_MEMORY_NOINLINE void queue_message() {
    pooled.push_back(messages.allocate(256, 16));
    ++made;
    if (pooled.size() > 64) {
      messages.deallocate(pooled.front(), 256, 16);
      pooled.erase(pooled.begin());
    }
  }
  CORE_MEMORY_NOINLINE void open_session(std::size_t i) {
    const std::size_t n = 4096 + 64 * (i % 8);
    void* p = std::malloc(n);
    tracker.record_allocation(p, n, "Session");  // a site recorded by hand (no allocator)
    leaked.push_back(p);
    ++made;
  }
  CORE_MEMORY_NOINLINE void load_config(std::size_t i) {
    const std::size_t n = 200 + i % 300;
    leaked_config.emplace_back(heap.allocate(n, 16), n);  // never given back: a leak
    ++made;
  }
  CORE_MEMORY_NOINLINE void handle(std::size_t i) {
    parse_request(i);
    if (i % 4 == 0) cache_response(i);
    if (i % 3 == 0) queue_message();
    if (i % 997 == 0) open_session(i);
    if (i % 4999 == 0) load_config(i);
  }
  std::vector<std::pair<void*, std::size_t>> leaked_config;
};

/// Runs the workload: `allocations` in all over about `ms` ms, then `done()` while its allocators
/// are alive (write the report there); returns the blocks it leaked (recorded live in `tracker`),
/// to free with free_leaks.
template <class Done>
std::vector<void*> run(cm::MemoryTracker& tracker, std::size_t allocations, unsigned ms, Done done) {
  Server s(tracker);
  const auto start = std::chrono::steady_clock::now();
  const std::size_t phases = 8;
  for (std::size_t phase = 0; phase < phases; ++phase) {
    const std::size_t goal = allocations * (phase + 1) / phases;
    for (std::size_t i = s.made; s.made < goal; ++i) s.handle(i);
    // The cache grows for three phases out of four, then is cut back.
    s.trim_cache(phase % 4 == 3 ? 16 : s.cache.size());
    std::this_thread::sleep_until(start + std::chrono::milliseconds(ms * (phase + 1) / phases));
  }
  done();
  // The configuration blocks come from the heap allocator, which must free them itself.
  for (auto& [p, n] : s.leaked_config) s.heap.deallocate(p, n, 16);
  return std::move(s.leaked);
}
inline std::vector<void*> run(cm::MemoryTracker& tracker, std::size_t allocations, unsigned ms) {
  return run(tracker, allocations, ms, [] {});
}

inline void free_leaks(cm::MemoryTracker& tracker, const std::vector<void*>& leaks) {
  for (void* p : leaks) {
    tracker.record_deallocation(p);
    std::free(p);
  }
}

}  // namespace report_workload
