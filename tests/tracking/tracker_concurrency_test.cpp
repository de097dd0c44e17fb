// MemoryTracker under real threads (run under TSan by the tsan preset): counts, usage and peak stay
// exact, blocks freed on other threads than their allocating one are matched, nothing is lost.
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/tracking/tracking_allocator.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace cm = core::memory;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int rounds = 2000;
#else
constexpr int rounds = 20000;
#endif
constexpr int threads = 4;

TEST(TrackerConcurrency, PeakIsExactWhenEveryThreadAllocatesBeforeAnyFrees) {
  cm::MemoryTracker t;
  constexpr int per_thread = 500;
  std::vector<std::vector<void*>> blocks(threads);
  std::atomic<int> allocated{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      for (int k = 0; k < per_thread; ++k) {
        void* p = std::malloc(24);
        t.record_allocation(p, 24, "x");
        blocks[i].push_back(p);
      }
      allocated.fetch_add(1);
      while (allocated.load() < threads) std::this_thread::yield();
      for (void* p : blocks[i]) {
        t.record_deallocation(p);
        std::free(p);
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(t.peak_usage(), std::size_t(threads) * per_thread * 24);
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_EQ(t.allocation_count(), std::size_t(threads) * per_thread);
  EXPECT_EQ(t.live_count(), 0u);
  EXPECT_EQ(t.unmatched_frees(), 0u);
}

// Blocks exchanged through a shared slot array (mimalloc's test-stress pattern): most frees happen
// on another thread than the allocation; the final state must match what is still in the slots.
TEST(TrackerConcurrency, CrossThreadFreesAreMatchedAndTotalsExact) {
  cm::MemoryTracker t({.stack_depth = 4, .stack = cm::stack_method::frame_pointers});
  constexpr std::size_t slots = 256;
  std::vector<std::atomic<void*>> slot(slots);
  std::vector<std::thread> pool;
  std::atomic<std::size_t> made{0}, made_bytes{0};
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      std::uint64_t x = 0x9E3779B97F4A7C15ull * (i + 1);
      for (int k = 0; k < rounds; ++k) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const std::size_t size = 16 + (x >> 40) % 256;
        void* p = std::malloc(size);
        *static_cast<std::size_t*>(p) = size;
        t.record_allocation(p, size, "stress");
        made.fetch_add(1, std::memory_order_relaxed);
        made_bytes.fetch_add(size, std::memory_order_relaxed);
        if (void* old = slot[(x >> 8) % slots].exchange(p)) {
          t.record_deallocation(old);
          std::free(old);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  std::size_t live = 0, live_bytes = 0;
  for (auto& s : slot) {
    if (void* p = s.load()) {
      ++live;
      live_bytes += *static_cast<std::size_t*>(p);
    }
  }
  EXPECT_EQ(t.allocation_count(), made.load());
  EXPECT_EQ(t.total_allocated(), made_bytes.load());
  EXPECT_EQ(t.live_count(), live);
  EXPECT_EQ(t.current_usage(), live_bytes);
  EXPECT_EQ(t.find_leaks().size(), live);
  EXPECT_EQ(t.unmatched_frees(), 0u);
  EXPECT_GE(t.peak_usage(), live_bytes);
  for (auto& s : slot) {
    if (void* p = s.load()) {
      t.record_deallocation(p);
      std::free(p);
    }
  }
  EXPECT_EQ(t.current_usage(), 0u);
}

// Reports and figures read while other threads record (the readers take each shard's lock).
TEST(TrackerConcurrency, ReportsWhileRecording) {
  cm::MemoryTracker t;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    static char blocks[64];
    while (!stop.load()) {
      for (auto& b : blocks) t.record_allocation(&b, 1);
      for (auto& b : blocks) t.record_deallocation(&b);
    }
  });
  for (int i = 0; i < 50; ++i) {
    EXPECT_LE(t.find_leaks().size(), 64u);
    EXPECT_LE(t.current_usage(), 64u);
    (void)t.sites();
  }
  stop.store(true);
  writer.join();
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_EQ(t.peak_usage() <= 64u, true);
}

// A TrackingAllocator over a thread-safe allocator is thread-safe: its own counts stay exact, and so
// does the registry listing taken meanwhile.
TEST(TrackerConcurrency, TrackingAllocatorOverTheHeapFromSeveralThreads) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "shared heap", .tracker = &t});
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      std::vector<void*> mine;
      for (int k = 0; k < rounds / 10; ++k) {
        mine.push_back(a.allocate(32, 8));
        if (k % 3 == 2) {
          a.deallocate(mine.back(), 32, 8);
          mine.pop_back();
        }
      }
      (void)cm::live_allocator_stats();
      for (void* p : mine) a.deallocate(p, 32, 8);
    });
  }
  for (auto& th : pool) th.join();
  const cm::memory_stats s = a.stats();
  EXPECT_EQ(s.allocation_count, std::size_t(threads) * (rounds / 10));
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.live_count, 0u);
  EXPECT_EQ(t.allocation_count(), s.allocation_count);
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_GE(s.peak_bytes, 32u * (rounds / 10) * 2 / 3);
}

}  // namespace
