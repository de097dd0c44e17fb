// The lock-free cache of small blocks in a managed segment (detail::SegmentCache): every class
// serves its sizes and reuses freed blocks; alignment beyond 16 bypasses it; each class is bounded
// and the figures count cached blocks apart; exhaustion and trim() return them to the heap; a second
// free of a cached block is a double free, and every other misuse still reaches the heap's report;
// validate() finds an overwritten cached block; threads and processes share the stacks (with
// pattern checks); children killed with SIGKILL at random points 1,000 times leave a segment that
// validates.
#include <core/memory/system/managed_shared_memory.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/misuse_capture.hpp"
#define CORE_MEMORY_SHM_CHILD "unused"  // children are forked, not started
#include "system/shared_memory_support.hpp"
#include "system/system_support.hpp"

namespace cm = core::memory;
using Cache = cm::detail::SegmentCache;

namespace {

using test::expect_valid;

/// Every block is live, cached or free: the figures add up to the heap's size.
void expect_figures_add_up(const cm::ManagedSharedMemory& m) {
  const auto s = m.statistics();
  EXPECT_EQ(s.used_bytes + s.cached_bytes + s.free_bytes, s.size);
}

/// A block of `size` bytes (at least 8) stamped with its size and a fill byte; false if changed.
void stamp(void* p, std::size_t size, unsigned char fill) {
  std::memcpy(p, &size, sizeof size);
  std::memset(static_cast<char*>(p) + sizeof size, fill, size - sizeof size);
}
bool intact(const void* p, std::size_t size, unsigned char fill) {
  std::size_t s = 0;
  std::memcpy(&s, p, sizeof s);
  if (s != size) return false;
  const auto* c = static_cast<const unsigned char*>(p) + sizeof size;
  return std::all_of(c, c + size - sizeof size, [&](unsigned char x) { return x == fill; });
}

/// Sizes at every class boundary (and either side), to the largest cached request and beyond.
std::vector<std::size_t> boundary_sizes() {
  std::vector<std::size_t> sizes;
  for (std::size_t s = 0; s <= 600; ++s) sizes.push_back(s);
  for (std::size_t l = 9; l <= 12; ++l)
    for (std::size_t j = 0; j < 16; ++j)
      for (std::size_t d : {9, 8, 7}) sizes.push_back(((16 + j) << (l - 4)) - d);  // block size b: b - 8 fills it
  sizes.push_back(Cache::max_request);
  sizes.push_back(Cache::max_request + 1);
  sizes.push_back(10000);
  return sizes;
}

TEST(SegmentCache, EveryClassServesItsSizesAndReusesFreedBlocks) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 4 << 20);
  for (std::size_t size : boundary_sizes()) {
    auto* p = static_cast<unsigned char*>(m.allocate(size));  // a miss also caches a batch
    const auto before = m.statistics();
    EXPECT_TRUE(cm::is_aligned(p, 16));
    std::memset(p, 0xA5, size);
    m.deallocate(p, size);
    const bool cached = size <= Cache::max_request;
    EXPECT_EQ(m.statistics().cached_blocks, before.cached_blocks + (cached ? 1 : 0)) << size;
    EXPECT_EQ(m.statistics().live_blocks, 0u) << size;
    void* q = m.allocate(size);
    if (cached) {
      EXPECT_EQ(q, p) << size;  // the block just freed, from its class's stack
    }
    m.deallocate(q, size);
    expect_figures_add_up(m);
  }
  expect_valid(m);
  EXPECT_EQ(m.bytes_allocated(), 0u);
  EXPECT_GT(m.statistics().cached_blocks, 0u);
  // An alignment beyond 16 never takes a cached block.
  void* p = m.allocate(64);
  m.deallocate(p, 64);
  for (std::size_t align : {32, 64, 256, 4096}) {
    const std::size_t cached = m.statistics().cached_blocks;
    void* a = m.allocate(64, align);
    EXPECT_TRUE(cm::is_aligned(a, align));
    EXPECT_EQ(m.statistics().cached_blocks, cached) << align;
    m.deallocate(a, 64, align);  // a block of a class's size: cached, whatever it was asked with
  }
  m.trim();
  EXPECT_EQ(m.statistics().cached_blocks, 0u);
  EXPECT_EQ(m.statistics().cached_bytes, 0u);
  EXPECT_EQ(m.statistics().free_blocks, 1u);  // all merged back
  expect_valid(m);
}

TEST(SegmentCache, EachClassIsBoundedAndTheFiguresCountItApart) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);  // a class holds at most 64 KiB
  const std::size_t bound = (std::size_t{1} << 20) / 16 / 80;  // 64-byte requests: 80-byte blocks
  std::vector<void*> blocks(2000);
  for (void*& p : blocks) p = m.allocate(64);
  EXPECT_EQ(m.bytes_allocated(), 2000u * 80);
  for (void* p : blocks) m.deallocate(p, 64);
  const auto s = m.statistics();
  EXPECT_LE(s.cached_blocks, bound);
  EXPECT_GE(s.cached_blocks, bound - 32);  // a full class flushes a batch
  EXPECT_EQ(s.cached_bytes, s.cached_blocks * 80);
  EXPECT_EQ(s.live_blocks, 0u);
  EXPECT_EQ(s.used_bytes, 0u);
  expect_figures_add_up(m);
  EXPECT_GE(m.bytes_available(), s.free_bytes + s.cached_bytes);
  expect_valid(m);
}

TEST(SegmentCache, ExhaustionReturnsCachedBlocksBeforeFailingOrGrowing) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 512 << 10, {.max_size = 512 << 10});
  std::vector<void*> blocks;
  for (std::size_t i = 0;; ++i) {
    void* p = m.try_allocate(16 + (i % 40) * 16);
    if (p == nullptr) break;
    blocks.push_back(p);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) m.deallocate(blocks[i], 16 + (i % 40) * 16);
  ASSERT_GT(m.statistics().cached_blocks, 100u);
  const std::size_t available = m.bytes_available();
  void* big = m.allocate(available - 64 * 1024);  // only with the cached blocks back in the heap
  EXPECT_EQ(m.statistics().cached_blocks, 0u);
  EXPECT_EQ(m.segment().size(), std::size_t{512} << 10);
  m.deallocate(big, 0);
  expect_valid(m);
}

TEST(SegmentCache, ASecondFreeOfACachedBlockIsADoubleFree) {
  if constexpr (!cm::checks::hardened) GTEST_SKIP() << "checks off";
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  test::MisuseCapture capture;
  void* p = m.allocate(48);
  m.deallocate(p, 48);
  m.deallocate(p, 48);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  EXPECT_EQ(capture.last().address, p);
  EXPECT_NE(capture.last().text.find("already free (in the segment's cache)"), std::string::npos) << capture.last().text;
  // The second free was ignored: one block cached, handed out once.
  void* a = m.allocate(48);
  void* b = m.allocate(48);
  EXPECT_EQ(a, p);
  EXPECT_NE(b, p);
  m.deallocate(a, 48);
  m.deallocate(b, 48);
  expect_valid(m);
}

/// The cache takes only what the heap would take without a report: every misuse of a free still
/// reaches the misuse handler, once, with its kind, and changes nothing.
TEST(SegmentCache, EveryMisuseOfAFreeIsStillReported) {
  if constexpr (!cm::checks::hardened) GTEST_SKIP() << "checks off";
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  auto* small = static_cast<char*>(m.allocate(48));    // a cached class
  auto* large = static_cast<char*>(m.allocate(10000));  // beyond the cache
  int local = 0;
  struct Case {
    void* p;
    std::size_t size;
    cm::error_kind kind;
  };
  const Case cases[] = {
      {&local, 4, cm::error_kind::foreign_pointer},   {small + 16, 8, cm::error_kind::interior_pointer},
      {large + 32, 8, cm::error_kind::interior_pointer}, {small, 100, cm::error_kind::invalid_size},
      {large, 20000, cm::error_kind::invalid_size},
  };
  for (const Case& c : cases) {
    test::MisuseCapture capture;
    const auto before = m.statistics();
    m.deallocate(c.p, c.size);
    ASSERT_EQ(capture.count(), 1u) << static_cast<int>(c.kind);
    EXPECT_EQ(capture.last().kind, c.kind) << capture.last().text;
    EXPECT_EQ(capture.last().address, c.p);
    EXPECT_EQ(m.statistics().cached_blocks, before.cached_blocks);
    EXPECT_EQ(m.statistics().live_blocks, before.live_blocks);
  }
  m.deallocate(large, 10000);
  test::MisuseCapture capture;
  m.deallocate(large, 10000);  // a double free the heap sees
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  m.deallocate(small, 48);
  expect_valid(m);
}

TEST(SegmentCache, ValidateFindsAnOverwrittenCachedBlock) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  auto* p = static_cast<unsigned char*>(m.allocate(32));
  m.deallocate(p, 32);
  expect_valid(m);
  std::memset(p + 8, 0xAB, 8);  // a use after free overwrites its mark
  const char* why = m.validate();
  ASSERT_NE(why, nullptr);
  EXPECT_STREQ(why, "a cached block's mark is overwritten");
}

// Threads ------------------------------------------------------------------------------------

TEST(SegmentCache, ThreadsShareTheStacksWhileAnotherValidatesAndTrims) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 8 << 20);
  constexpr int threads = 4;
  const int rounds = test::under_tsan ? 4000 : 40000;
  // Blocks are handed between threads through these slots, so most are freed by another thread.
  std::vector<std::atomic<void*>> slots(64);
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread checker([&] {
    while (!done.load(std::memory_order_acquire)) {
      if (const char* why = m.validate()) {
        ADD_FAILURE() << why;
        break;
      }
      const auto s = m.statistics();
      if (s.used_bytes + s.cached_bytes + s.free_bytes != s.size) bad.fetch_add(1);
      m.trim();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < rounds; ++i) {
        const std::size_t size = i % 97 == 0 ? 9000 : 8 + rng() % 3 * 40 + rng() % 8;  // few classes: contention
        void* p = m.allocate(size);
        stamp(p, size, static_cast<unsigned char>(size));
        void* got = slots[rng() % slots.size()].exchange(p, std::memory_order_acq_rel);
        if (got == nullptr) continue;
        std::size_t s = 0;
        std::memcpy(&s, got, sizeof s);
        if (!intact(got, s, static_cast<unsigned char>(s))) bad.fetch_add(1);
        m.deallocate(got, s);
      }
    });
  }
  for (auto& w : workers) w.join();
  done.store(true, std::memory_order_release);
  checker.join();
  for (auto& slot : slots) {
    if (void* p = slot.load()) {
      std::size_t s = 0;
      std::memcpy(&s, p, sizeof s);
      EXPECT_TRUE(intact(p, s, static_cast<unsigned char>(s)));
      m.deallocate(p, s);
    }
  }
  EXPECT_EQ(bad.load(), 0);
  expect_valid(m);
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  m.trim();
  EXPECT_EQ(m.statistics().free_blocks, 1u);
}

// Processes ----------------------------------------------------------------------------------

/// Children churn small blocks, handing them to each other through slots in the segment, while
/// others allocate large blocks (the heap's mutex), trim and validate; each checks every block
/// it receives.
TEST(SegmentCache, ProcessesHammerTheStacksWhileOthersUseTheHeap) {
  SKIP_PROCESSES_UNDER_TSAN();
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20, {.max_size = 64 << 20});
  auto slots = m.construct_array<std::atomic<std::uint64_t>>("slots", 64);
  std::vector<pid_t> children;
  for (int c = 0; c < 6; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid != 0) {
      children.push_back(pid);
      continue;
    }
    std::mt19937 rng(static_cast<unsigned>(c));
    int bad = 0;
    for (int i = 0; i < test::rounds(10000); ++i) {
      if (c >= 4) {  // the heap: large blocks, trim, validate
        const std::size_t size = 10000 + rng() % 20000;
        void* p = m.allocate(size);
        stamp(p, size, 7);
        if (!intact(p, size, 7)) ++bad;
        m.deallocate(p, size);
        if (i % 1000 == 0) {
          m.trim();
          if (m.validate() != nullptr) ++bad;
        }
        continue;
      }
      const std::size_t size = 8 + rng() % 600;
      void* p = m.allocate(size);
      stamp(p, size, static_cast<unsigned char>(size));
      const std::uint64_t got = slots[rng() % slots.size()].exchange(m.offset_of(p), std::memory_order_acq_rel);
      if (got == 0) continue;
      void* q = m.address_of(got);
      std::size_t s = 0;
      std::memcpy(&s, q, sizeof s);
      if (!intact(q, s, static_cast<unsigned char>(s))) ++bad;
      m.deallocate(q, s);
    }
    ::_exit(bad == 0 ? 0 : 1);
  }
  for (pid_t pid : children) EXPECT_EQ(test::exit_status(pid), 0);
  for (auto& slot : slots) {
    if (const std::uint64_t o = slot.load()) {
      void* q = m.address_of(o);
      std::size_t s = 0;
      std::memcpy(&s, q, sizeof s);
      EXPECT_TRUE(intact(q, s, static_cast<unsigned char>(s)));
      m.deallocate(q, s);
    }
  }
  expect_valid(m);
  expect_figures_add_up(m);
  EXPECT_EQ(m.statistics().live_blocks, 1u);  // the slots
}

/// Children using the cache (and trim, validate and the heap) are killed at random points; after
/// each, the segment validates (what a child held, or was moving between a stack and the heap, is
/// leaked) and the parent's own blocks stay intact.
TEST(SegmentCache, ChildrenKilledAtRandomPointsAThousandTimesLeaveAValidSegment) {
  SKIP_PROCESSES_UNDER_TSAN();
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 4 << 20);
  std::mt19937_64 rng(7);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::vector<std::pair<void*, std::size_t>> mine;
  int runs = 0;
  const int kills = test::rounds(1000);  // (a tenth under sanitizers, whose forks are slow)
  for (; runs < kills && std::chrono::steady_clock::now() < deadline; ++runs) {
    const auto s = m.statistics();
    if (s.free_bytes + s.cached_bytes < (1u << 20)) {  // the leaks of killed children add up
      for (auto& [p, size] : mine) m.deallocate(p, size);
      mine.clear();
      m = cm::ManagedSharedMemory();
      cm::SharedMemory::remove(name);
      m = cm::ManagedSharedMemory::create(name, 4 << 20);
    }
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<std::pair<void*, std::size_t>> live;
      live.reserve(32);
      for (std::uint64_t i = 0;; ++i) {
        if (i % 4096 == 0) m.trim();
        if (i % 8192 == 1) (void)m.validate();
        if (live.size() < 32 && (live.empty() || i % 3 != 0)) {
          const std::size_t size = i % 50 == 0 ? 20000 : (i * 37) % 2000;
          if (void* p = m.try_allocate(size)) live.emplace_back(p, size);
        } else {
          const std::size_t k = i % live.size();
          m.deallocate(live[k].first, live[k].second);
          live[k] = live.back();
          live.pop_back();
        }
      }
    }
    ::usleep(static_cast<useconds_t>(rng() % 1000));
    ::kill(pid, SIGKILL);
    ASSERT_EQ(test::exit_status(pid), 128 + SIGKILL);
    ASSERT_EQ(m.validate(), nullptr) << "run " << runs;
    const auto after = m.statistics();
    ASSERT_EQ(after.used_bytes + after.cached_bytes + after.free_bytes, after.size) << "run " << runs;
    for (auto& [p, size] : mine) ASSERT_TRUE(intact(p, size, static_cast<unsigned char>(size))) << "run " << runs;
    const std::size_t size = 8 + rng() % 500;
    void* p = m.allocate(size);
    stamp(p, size, static_cast<unsigned char>(size));
    mine.emplace_back(p, size);
    if (mine.size() > 16) {
      m.deallocate(mine.front().first, mine.front().second);
      mine.erase(mine.begin());
    }
  }
  EXPECT_GE(runs, kills / 5);
  std::printf("%d children killed\n", runs);
  for (auto& [p, size] : mine) m.deallocate(p, size);
  expect_valid(m);
}

}  // namespace
