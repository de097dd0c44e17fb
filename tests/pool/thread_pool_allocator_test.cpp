// ThreadPoolAllocator: conformance on one thread, then the exchange stress over mixed sizes,
// blocks outliving their threads, bounded caches, independent instances, and misuse.

#include <core/memory/pool/thread_pool_allocator.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "support/allocator_conformance.hpp"
#include "support/concurrent_stress.hpp"
#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

namespace {

using CountingTPA = cm::BasicThreadPoolAllocator<test::CountingAllocator>;

TEST(ThreadPoolAllocator, Conformance) {
  cm::ThreadPoolAllocator a;
  EXPECT_EQ(test::random_model(a, 20000, 3000, 256, 11), 0u);
  test::std_containers(a);
  EXPECT_EQ(a.blocks_allocated(), 0u);
}

TEST(ThreadPoolAllocator, EveryClassAlignedDistinctAndUsable) {
  cm::ThreadPoolAllocator a;
  std::set<void*> seen;
  std::vector<std::pair<void*, std::size_t>> live;
  for (std::size_t size = 1; size <= 2100; size += 7) {
    auto r = a.allocate_at_least(size, 16);
    ASSERT_GE(r.size, size);
    ASSERT_TRUE(cm::is_aligned(r.ptr, 16));
    ASSERT_TRUE(seen.insert(r.ptr).second);
    std::memset(r.ptr, 0xAB, r.size);
    live.emplace_back(r.ptr, size);
  }
  for (auto [p, size] : live) a.deallocate(p, size, 16);
  EXPECT_EQ(a.blocks_allocated(), 0u);
  for (std::size_t align : {32u, 64u, 128u, 256u}) {
    void* p = a.allocate(align, align);
    EXPECT_TRUE(cm::is_aligned(p, align));
    a.deallocate(p, align, align);
  }
}

TEST(ThreadPoolAllocator, ExhaustionAndRecovery) {
  test::CountingAllocator upstream(256 * 1024);
  CountingTPA a(upstream);
  test::exhaustion_and_recovery(a, 100, 16);
}

TEST(ThreadPoolAllocatorThreads, MixedSizeExchangeStressReturnsEverything) {
  test::CountingAllocator upstream;
  {
    CountingTPA a(upstream);
    const auto r = test::exchange_stress([&](std::size_t n) { return a.try_allocate(n, 16); },
                                         [&](void* p, std::size_t n) { a.deallocate(p, n, 16); },
                                         {16, 24, 32, 48, 64, 100, 128, 200, 256, 512, 1000, 2048, 4000}, 4,
                                         16 / test::stress_scale + 2, 15000 / test::stress_scale);
    EXPECT_EQ(r.bad_cookies, 0u);
    EXPECT_EQ(r.failed, 0u);
    EXPECT_EQ(a.blocks_allocated(), 0u);
    a.shrink_to_fit();
    EXPECT_EQ(a.bytes_allocated(), 0u);
    EXPECT_EQ(upstream.bytes_allocated(), 0u) << "every slab and large block is back upstream";
  }
  EXPECT_EQ(upstream.live_blocks(), 0u);
  EXPECT_EQ(upstream.errors(), 0u);
}

TEST(ThreadPoolAllocatorThreads, AThreadThatOnlyFreesHoardsNothing) {
  cm::ThreadPoolAllocator a(4096);  // at most 4096 / 64 = 64 blocks per class cached per thread
  std::vector<void*> blocks;
  for (int i = 0; i < 20000; ++i) blocks.push_back(a.allocate(64, 16));
  const std::size_t held = a.bytes_allocated();
  std::atomic<int> phase{0};
  std::thread freer([&] {
    for (void* p : blocks) a.deallocate(p, 64, 16);
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();  // stays alive, cache and all
  });
  while (phase.load() != 1) std::this_thread::yield();
  // All but the freeing thread's bounded cache went home: allocating as many again needs at
  // most one more slab (4 KiB for 64-byte blocks).
  for (int i = 0; i < 20000; ++i) blocks[static_cast<std::size_t>(i)] = a.allocate(64, 16);
  EXPECT_LE(a.bytes_allocated(), held + 4096);
  phase.store(2);
  freer.join();
  for (void* p : blocks) a.deallocate(p, 64, 16);
}

TEST(ThreadPoolAllocatorThreads, InstancesAreIndependent) {
  cm::ThreadPoolAllocator a, b;
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        void* p = a.allocate(32, 16);
        void* q = b.allocate(32, 16);
        EXPECT_FALSE(b.owns(p));
        a.deallocate(p, 32, 16);
        b.deallocate(q, 32, 16);
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(a.blocks_allocated(), 0u);
  EXPECT_EQ(b.blocks_allocated(), 0u);
}

#if CORE_MEMORY_CHECK_LEVEL >= 1
TEST(ThreadPoolAllocatorMisuse, WrongClassDoubleAndForeignFreesAreReported) {
  test::MisuseCapture capture;
  cm::ThreadPoolAllocator a;
  void* p = a.allocate(32, 16);
  a.deallocate(p, 512, 16);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size);
  std::size_t reports = 1;
  if (cm::checks::expensive) {  // as SlabAllocator: by an exact lookup of the slabs
    a.deallocate(p, 5000, 16);
    ASSERT_EQ(capture.count(), ++reports);
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size) << "a class block freed as a large one";
  }
  a.deallocate(p, 32, 16);
  EXPECT_EQ(capture.count(), reports);
  a.deallocate(p, 32, 16);
  ASSERT_EQ(capture.count(), ++reports);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  EXPECT_EQ(capture.last().allocator, "core::memory::ThreadPoolAllocator");
  cm::ThreadPoolAllocator other;
  void* q = other.allocate(32, 16);
  a.deallocate(q, 32, 16);
  ASSERT_EQ(capture.count(), ++reports);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  other.deallocate(q, 32, 16);
  // The caller's size is the report's, a size of 0 too (review: it read as "not given").
  void* z = a.allocate(0);
  a.deallocate(z, 0);
  a.deallocate(z, 0);
  ASSERT_EQ(capture.count(), ++reports);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  EXPECT_EQ(capture.last().size, 0u);
}
#endif

}  // namespace
