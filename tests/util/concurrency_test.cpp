// Real threads: run under ThreadSanitizer in CI.

#include <core/memory/util/cache_line.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/memory_barrier.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace cm = core::memory;

// Message passing with relaxed atomics ordered by stand-alone fences: the reader that sees the
// flag must see every payload word.
TEST(MemoryBarrier, FencesOrderMessagePassing) {
  constexpr int rounds = 2000;
  std::atomic<int> payload[4] = {};
  std::atomic<int> flag{0};
  std::thread writer([&] {
    for (int r = 1; r <= rounds; ++r) {
      while (flag.load(std::memory_order_relaxed) != 0) cm::cpu_pause();
      for (auto& p : payload) p.store(r, std::memory_order_relaxed);
      cm::release_fence();
      flag.store(r, std::memory_order_relaxed);
    }
  });
  int mismatches = 0;
  for (int r = 1; r <= rounds; ++r) {
    cm::Backoff backoff;
    int seen;
    while ((seen = flag.load(std::memory_order_relaxed)) == 0) backoff.pause();
    cm::acquire_fence();
    for (auto& p : payload) mismatches += p.load(std::memory_order_relaxed) != seen;
    cm::full_fence();
    flag.store(0, std::memory_order_relaxed);
  }
  writer.join();
  EXPECT_EQ(mismatches, 0);
}

TEST(CacheLine, PaddedCountersUnderContention) {
  constexpr int threads = 4, increments = 100000;
  std::vector<cm::CachePadded<std::atomic<long>>> counters(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < increments; ++i) counters[static_cast<std::size_t>(t)]->fetch_add(1, std::memory_order_relaxed);
    });
  for (auto& th : pool) th.join();
  for (auto& c : counters) EXPECT_EQ(c->load(), increments);
}

namespace {
std::atomic<int> g_reports{0};
void counting_handler(const cm::error_report&) { g_reports.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

TEST(MisuseHandler, SwappedAndCalledFromManyThreads) {
  const cm::misuse_handler original = cm::get_misuse_handler();
  cm::set_misuse_handler(&counting_handler);
  constexpr int threads = 4, reports = 2000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([] {
      for (int i = 0; i < reports; ++i) {
        cm::report_misuse({cm::error_kind::double_free, "t", nullptr, 0, 0, nullptr, nullptr, 0});
        cm::set_misuse_handler(&counting_handler);  // racing writers install the same handler
      }
    });
  for (auto& th : pool) th.join();
  cm::set_misuse_handler(original);
  EXPECT_EQ(g_reports.load(), threads * reports);
}
