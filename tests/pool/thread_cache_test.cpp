// ThreadCache, the calling thread's cache of a ConcurrentPool or a ThreadPoolAllocator held by
// the caller: conformance, blocks exchanged between threads that each hold their cache (and
// freed through the pool), exhaustion, and use on another thread (reported in hardened builds,
// served through the pool). The alignment and usable-memory matrices cover both as well
// (support/allocator_subjects.hpp).

#include <core/memory/pool/concurrent_pool.hpp>
#include <core/memory/pool/thread_pool_allocator.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <pthread.h>

#include "support/allocator_conformance.hpp"
#include "support/concurrent_stress.hpp"
#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

namespace {

// Each subject: a pool over a counting upstream, and the size its blocks are asked for.
struct OfConcurrentPool {
  using Pool = cm::BasicConcurrentPool<test::CountingAllocator>;
  static Pool make(test::CountingAllocator& upstream) { return Pool(upstream, 48, 16); }
  static constexpr std::size_t size = 48;
  static std::size_t live(const Pool& p) { return p.nodes_allocated(); }
};
struct OfThreadPoolAllocator {
  using Pool = cm::BasicThreadPoolAllocator<test::CountingAllocator>;
  static Pool make(test::CountingAllocator& upstream) { return Pool(upstream); }
  static constexpr std::size_t size = 200;
  static std::size_t live(const Pool& p) { return p.blocks_allocated(); }
};

template <class S>
class ThreadCacheTest : public ::testing::Test {};
using Subjects = ::testing::Types<OfConcurrentPool, OfThreadPoolAllocator>;
TYPED_TEST_SUITE(ThreadCacheTest, Subjects);

TYPED_TEST(ThreadCacheTest, ConformanceAndExhaustion) {
  test::CountingAllocator upstream;
  {
    auto pool = TypeParam::make(upstream);
    auto cache = pool.thread_cache();
    EXPECT_EQ(test::random_model(cache, 20000, 3000, 256, 5), 0u);
    test::std_containers(cache);
    EXPECT_EQ(TypeParam::live(pool), 0u);
    pool.shrink_to_fit();
  }
  EXPECT_EQ(upstream.live_blocks(), 0u);
  test::CountingAllocator bounded(256 * 1024);
  auto pool = TypeParam::make(bounded);
  auto cache = pool.thread_cache();
  test::exhaustion_and_recovery(cache, TypeParam::size, 16);
}

// A cache taken on a thread that is exiting (after the pool's exit handling took its heap back:
// here from a pthread key destructor that runs after the registry's) has no heap of its own. Its
// fast paths then find nothing and no room, and every call goes through the pool: blocks are
// served, freed (also ones taken earlier on a live thread) and all come back.
pthread_key_t late_key;
template <class Pool>
struct LateUse {
  Pool* pool;
  void* early;  // taken by the thread while it ran
  std::size_t size;
  bool served = false;
};
TYPED_TEST(ThreadCacheTest, ACacheTakenWhileItsThreadExitsGoesThroughThePool) {
  using Pool = typename TypeParam::Pool;
  test::CountingAllocator upstream;
  auto pool = TypeParam::make(upstream);
  pool.deallocate(pool.allocate(TypeParam::size, 16), TypeParam::size, 16);  // the registry's key first
  ASSERT_EQ(pthread_key_create(&late_key,
                               [](void* v) {
                                 auto& use = *static_cast<LateUse<Pool>*>(v);
                                 auto cache = use.pool->thread_cache();
                                 std::vector<void*> blocks;
                                 for (int i = 0; i < 200; ++i) {
                                   void* p = cache.try_allocate(use.size, 16);
                                   if (!p) return;
                                   std::memset(p, i, use.size);
                                   blocks.push_back(p);
                                 }
                                 for (void* p : blocks) cache.deallocate(p, use.size, 16);
                                 cache.deallocate(use.early, use.size, 16);
                                 use.served = true;
                               }),
            0);
  LateUse<Pool> use{&pool, nullptr, TypeParam::size};
  std::thread([&] {
    use.early = pool.allocate(TypeParam::size, 16);
    pthread_setspecific(late_key, &use);
  }).join();
  pthread_key_delete(late_key);
  EXPECT_TRUE(use.served);
  EXPECT_EQ(TypeParam::live(pool), 0u);
  pool.shrink_to_fit();
}

// Threads that each hold their cache for the whole run put every block into a shared slot array
// and free the block they displace (mostly another thread's), through their own cache; every
// fourth free goes through the pool instead. Blocks carry a cookie checked at the free. At the
// end every block is back and, after shrink_to_fit, every slab upstream.
TYPED_TEST(ThreadCacheTest, HeldCachesExchangeBlocksBetweenThreads) {
  test::CountingAllocator upstream;
  {
    auto pool = TypeParam::make(upstream);
    constexpr std::size_t size = TypeParam::size;
    std::vector<std::atomic<void*>> slots(256);
    std::atomic<std::size_t> bad{0};
    const auto check = [&](void* q) {
      if (*static_cast<std::uint64_t*>(q) != test::cookie_for(q, size)) bad.fetch_add(1);
    };
    for (int round = 0; round < 4; ++round) {
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, seed = unsigned(round * 10 + t)] {
          auto cache = pool.thread_cache();
          std::mt19937 rng(seed);
          for (int i = 0; i < 20000 / test::stress_scale; ++i) {
            void* p = cache.allocate(size, 16);
            *static_cast<std::uint64_t*>(p) = test::cookie_for(p, size);
            // acq_rel: the block's contents travel with the pointer.
            if (void* old = slots[rng() % slots.size()].exchange(p, std::memory_order_acq_rel)) {
              check(old);
              if (i % 4 == 0) pool.deallocate(old, size, 16);
              else cache.deallocate(old, size, 16);
            }
          }
        });
      for (auto& th : threads) th.join();
    }
    auto cache = pool.thread_cache();
    for (auto& slot : slots)
      if (void* p = slot.exchange(nullptr)) {
        check(p);
        cache.deallocate(p, size, 16);
      }
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_EQ(TypeParam::live(pool), 0u);
    pool.shrink_to_fit();
    EXPECT_EQ(upstream.bytes_allocated(), 0u) << "every slab is back upstream";
  }
  EXPECT_EQ(upstream.errors(), 0u);
}

// Caches are handles: copies are the same cache, caches of one pool compare equal (each frees
// the other's blocks), caches of two pools do not.
TYPED_TEST(ThreadCacheTest, CachesOfOnePoolAreEqualHandles) {
  test::CountingAllocator upstream;
  auto pool = TypeParam::make(upstream);
  auto other = TypeParam::make(upstream);
  auto a = pool.thread_cache();
  auto b = a;
  EXPECT_TRUE(cm::allocator_traits<decltype(a)>::is_handle);
  EXPECT_FALSE(cm::allocator_traits<decltype(a)>::is_thread_safe);
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(a == pool.thread_cache());
  EXPECT_FALSE(a == other.thread_cache());
  void* p = a.allocate(TypeParam::size, 16);
  b.deallocate(p, TypeParam::size, 16);
  EXPECT_EQ(TypeParam::live(pool), 0u);
}

// In every build: a cache used on another thread is reported at the latest on a slow path (here
// the other thread takes more blocks than a front holds), and the blocks are good.
TYPED_TEST(ThreadCacheTest, UseOffItsThreadIsReportedInEveryBuild) {
  test::MisuseCapture capture;
  test::CountingAllocator upstream;
  auto pool = TypeParam::make(upstream);
  auto cache = pool.thread_cache();
  std::vector<void*> blocks;
  std::thread other([&] {
    for (int i = 0; i < 2000; ++i) blocks.push_back(cache.allocate(TypeParam::size, 16));
  });
  other.join();
  ASSERT_GE(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::assertion);
  EXPECT_NE(capture.last().text.find("used off the thread that took it"), std::string::npos);
  for (void* p : blocks) pool.deallocate(p, TypeParam::size, 16);
  EXPECT_EQ(TypeParam::live(pool), 0u);
}

#if CORE_MEMORY_CHECK_LEVEL >= 1
// A cache taken on one thread and used on another: reported, and the call served through the
// pool (so the block is good and goes home); the owner's cache still works afterwards.
TYPED_TEST(ThreadCacheTest, UseOnAnotherThreadIsReportedAndServed) {
  test::MisuseCapture capture;
  test::CountingAllocator upstream;
  auto pool = TypeParam::make(upstream);
  auto cache = pool.thread_cache();
  void* mine = cache.allocate(TypeParam::size, 16);
  std::thread other([&] {
    void* p = cache.allocate(TypeParam::size, 16);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, TypeParam::size);
    cache.deallocate(p, TypeParam::size, 16);
    cache.deallocate(mine, TypeParam::size, 16);
  });
  other.join();
  ASSERT_EQ(capture.count(), 3u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::assertion);
  EXPECT_NE(capture.last().text.find("used off the thread that took it"), std::string::npos);
  EXPECT_EQ(TypeParam::live(pool), 0u);
  void* p = cache.allocate(TypeParam::size, 16);
  cache.deallocate(p, TypeParam::size, 16);
  EXPECT_EQ(capture.count(), 3u) << "its own thread: no report";
  cache.deallocate(p, TypeParam::size, 16);
  ASSERT_EQ(capture.count(), 4u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free) << "the pool's checks run through the cache";
}
#endif

}  // namespace
