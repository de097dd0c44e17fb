#include <core/memory/allocator/pool_allocator.hpp>
#include <core/memory/core/memory_resource.hpp>
#include <core/memory/core/std_allocator.hpp>
#include <core/memory/pool/growing_pool.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/pool/object_pool.hpp>
#include <core/memory/pool/detail/page_set.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <map>
#include <memory_resource>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/block_checker.hpp"
#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;
using test::CountingAllocator;
using CountingPool = cm::BasicMemoryPool<CountingAllocator>;

TEST(MemoryPool, NodesAreAlignedDistinctAndReused) {
  for (std::size_t align = 1; align <= 4096; align <<= 1) {
    cm::MemoryPool pool(24, align, 16);
    test::BlockChecker blocks;
    std::vector<void*> nodes;
    for (int i = 0; i < 100; ++i) {
      void* p = pool.allocate_node();
      blocks.add(p, 24, align);
      nodes.push_back(p);
    }
    blocks.verify_all();
    EXPECT_EQ(pool.nodes_allocated(), 100u);
    blocks.remove(nodes[50]);
    pool.deallocate_node(nodes[50]);
    EXPECT_EQ(pool.allocate_node(), nodes[50]) << "the last freed node is reused first";
  }
}

TEST(MemoryPool, AllocatesNothingUntilFirstUse) {
  CountingAllocator upstream;
  CountingPool pool(upstream, 32);
  EXPECT_EQ(upstream.allocations(), 0u);
  EXPECT_EQ(pool.capacity(), 0u);
  void* p = pool.allocate_node();
  EXPECT_EQ(upstream.allocations(), 1u);
  pool.deallocate_node(p);
}

TEST(MemoryPool, StatisticsAreExact) {
  CountingAllocator upstream;
  CountingPool pool(upstream, 40, 8, 10);  // stride 40, 10 nodes per chunk
  EXPECT_EQ(pool.node_stride(), 40u);
  std::vector<void*> nodes;
  for (int i = 0; i < 25; ++i) nodes.push_back(pool.allocate_node());
  EXPECT_EQ(pool.nodes_allocated(), 25u);
  EXPECT_EQ(pool.chunks_allocated(), 3u);
  EXPECT_EQ(pool.capacity(), 30u);
  EXPECT_EQ(pool.bytes_available(), 5u * 40u);
  EXPECT_EQ(pool.bytes_allocated(), upstream.bytes_allocated());
  for (void* p : nodes) pool.deallocate_node(p);
  EXPECT_EQ(pool.nodes_allocated(), 0u);
  EXPECT_EQ(pool.capacity(), 30u) << "memory is kept for reuse";
  for (int i = 0; i < 30; ++i) (void)pool.allocate_node();
  EXPECT_EQ(upstream.allocations(), 3u) << "no upstream call while free nodes remain";
}

TEST(MemoryPool, ShrinkToFitReleasesEmptyChunksAndFragmentationIsReported) {
  CountingAllocator upstream;
  CountingPool pool(upstream, 16, 8, 4);
  std::vector<void*> nodes;
  for (int i = 0; i < 16; ++i) nodes.push_back(pool.allocate_node());  // 4 full chunks
  EXPECT_EQ(pool.fragmentation(), 0.0);
  // Free chunk-by-chunk pattern: one live node left in each of two chunks, two chunks emptied.
  // Group the nodes by chunk: each chunk is a contiguous run of 4 nodes.
  std::vector<std::vector<void*>> by_chunk(4);
  std::vector<void*> sorted = nodes;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < 16; ++i) by_chunk[i / 4].push_back(sorted[i]);
  for (std::size_t c = 0; c < 4; ++c)
    for (std::size_t k = 0; k < 4; ++k)
      if (!(c < 2 && k == 0)) pool.deallocate_node(by_chunk[c][k]);
  EXPECT_EQ(pool.nodes_allocated(), 2u);
  EXPECT_DOUBLE_EQ(pool.fragmentation(), 6.0 / 16.0) << "3 free nodes stranded in each of 2 chunks";
  pool.shrink_to_fit();
  EXPECT_EQ(pool.chunks_allocated(), 2u);
  EXPECT_EQ(upstream.live_blocks(), 2u);
  EXPECT_DOUBLE_EQ(pool.fragmentation(), 6.0 / 8.0);
  // The remaining free nodes are all valid and reusable.
  std::set<void*> again;
  for (int i = 0; i < 6; ++i) again.insert(pool.allocate_node());
  EXPECT_EQ(again.size(), 6u);
  for (void* p : again) EXPECT_TRUE(pool.owns(p));
  EXPECT_EQ(upstream.allocations(), 4u);
  pool.clear();
  EXPECT_EQ(upstream.live_blocks(), 0u);
  EXPECT_EQ(upstream.errors(), 0u);
}

TEST(MemoryPool, ExhaustionThrowsAndRecovers) {
  cm::MemoryPool pool(32, 8, 8, 8, /*max_nodes=*/20);
  std::vector<void*> nodes;
  void* p;
  while ((p = pool.try_allocate_node()) != nullptr) nodes.push_back(p);
  EXPECT_EQ(nodes.size(), 20u);
#if CORE_MEMORY_EXCEPTIONS
  try {
    (void)pool.allocate_node();
    ADD_FAILURE() << "no exception";
  } catch (const cm::out_of_memory& e) {
    EXPECT_STREQ(e.allocator(), "core::memory::MemoryPool");
    EXPECT_EQ(e.size(), 32u);
  }
#endif
  pool.deallocate_node(nodes.back());
  EXPECT_NE(pool.try_allocate_node(), nullptr) << "usable again after a free";
}

TEST(MemoryPool, UpstreamFailureEveryK) {
  for (std::size_t k = 1; k <= 4; ++k) {
    CountingAllocator upstream;
    CountingPool pool(upstream, 16, 8, 4);
    upstream.fail_nth(k);
    std::size_t got = 0, failed = 0;
    for (int i = 0; i < 20; ++i) {
      if (pool.try_allocate_node()) ++got;
      else ++failed;
    }
    EXPECT_EQ(failed, 1u) << "only the k-th chunk request fails, k = " << k;
    EXPECT_EQ(got, 19u);
  }
}

TEST(MemoryPool, RawAllocatorRoutesBySize) {
  CountingAllocator upstream;
  CountingPool pool(upstream, 64, 16);
  void* small = pool.allocate(48, 8);
  void* big = pool.allocate(1000, 8);
  void* over_aligned = pool.allocate(32, 64);
  EXPECT_TRUE(pool.owns(small));
  EXPECT_FALSE(pool.owns(big));
  EXPECT_FALSE(pool.owns(over_aligned));
  EXPECT_TRUE(cm::is_aligned(over_aligned, 64));
  auto r = pool.allocate_at_least(10, 8);
  EXPECT_EQ(r.size, 64u);
  pool.deallocate(r.ptr, 10, 8);
  pool.deallocate(over_aligned, 32, 64);
  pool.deallocate(big, 1000, 8);
  pool.deallocate(small, 48, 8);
  EXPECT_EQ(upstream.live_blocks(), 1u) << "only the chunk remains";
  EXPECT_EQ(pool.nodes_allocated(), 0u);
}

TEST(MemoryPool, StdAndPmrContainers) {
  cm::MemoryPool pool(64);
  {
    std::list<int, cm::StdAllocator<int, cm::MemoryPool>> l(pool);
    std::map<int, int, std::less<>, cm::StdAllocator<std::pair<const int, int>, cm::MemoryPool>> m(pool);
    std::vector<int, cm::StdAllocator<int, cm::MemoryPool>> v(pool);  // arrays go upstream
    for (int i = 0; i < 1000; ++i) {
      l.push_back(i);
      m[i] = i * 2;
      v.push_back(i);
    }
    EXPECT_EQ(pool.nodes_allocated(), 2000u + (v.capacity() * sizeof(int) <= 64 ? 1u : 0u));
    EXPECT_EQ(m[999], 1998);
    EXPECT_TRUE(pool.owns(&l.back()));
  }
  EXPECT_EQ(pool.nodes_allocated(), 0u);
  cm::MemoryResourceAdapter<cm::MemoryPool> resource(pool);
  std::pmr::set<int> s(&resource);
  for (int i = 0; i < 500; ++i) s.insert(i);
  EXPECT_EQ(pool.nodes_allocated(), 500u);
}

TEST(MemoryPool, RandomOperationsAgainstAModel) {
  cm::GrowingPool pool(48, 16, 4, 256);
  test::BlockChecker blocks;
  std::vector<void*> live;
  std::mt19937 rng(9);
  for (int step = 0; step < 50000; ++step) {
    if (live.empty() || rng() % 5 < 3) {
      void* p = pool.allocate_node();
      blocks.add(p, 48, 16);
      live.push_back(p);
    } else {
      const std::size_t i = rng() % live.size();
      blocks.remove(live[i]);
      pool.deallocate_node(live[i]);
      live[i] = live.back();
      live.pop_back();
    }
    if (step % 10000 == 9999) pool.shrink_to_fit();
  }
  blocks.verify_all();
  EXPECT_EQ(pool.nodes_allocated(), live.size());
}

TEST(GrowingPool, ChunksDoubleUpToTheBound) {
  CountingAllocator upstream;
  cm::BasicGrowingPool<CountingAllocator> pool(upstream, 16, 8, 4, 32);
  std::vector<std::size_t> capacities;
  for (int i = 0; i < 200; ++i) {
    (void)pool.allocate_node();
    if (capacities.empty() || capacities.back() != pool.capacity()) capacities.push_back(pool.capacity());
  }
  EXPECT_EQ(capacities, (std::vector<std::size_t>{4, 12, 28, 60, 92, 124, 156, 188, 220}));
}

// Defect (review): clear() kept the growth, so a pool cleared between cycles of the same work
// took ever larger chunks (65,536 nodes after 12 cycles of 100). It starts over now.
TEST(GrowingPool, ClearStartsTheGrowthOver) {
  cm::GrowingPool pool(64);
  std::size_t first_cycle = 0;
  for (int cycle = 0; cycle < 12; ++cycle) {
    for (int i = 0; i < 100; ++i) (void)pool.allocate_node();
    if (cycle == 0) first_cycle = pool.capacity();
    EXPECT_EQ(pool.capacity(), first_cycle) << cycle;
    pool.clear();
  }
}

// Defect (review): a pool adapter's invalid alignment was reported as MemoryPool's, while the
// exception named the adapter.
TEST(GrowingPool, MisuseReportsNameThePool) {
  test::MisuseCapture capture;
  cm::GrowingPool pool(64);
  EXPECT_EQ(pool.try_allocate(100, 3), nullptr);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
  EXPECT_EQ(capture.last().allocator, "core::memory::GrowingPool");
}

TEST(PoolAllocator, TypedInterface) {
  struct Particle {
    double x, y, z;
  };
  cm::PoolAllocator<Particle, 64> pool;
  std::vector<Particle*> ps;
  for (int i = 0; i < 200; ++i) ps.push_back(pool.allocate());
  EXPECT_EQ(pool.objects_allocated(), 200u);
  EXPECT_EQ(pool.chunks_allocated(), 4u);
  Particle* many = pool.allocate(10);  // contiguous: from upstream
  many[9].z = 1;
  pool.deallocate(many, 10);
  for (Particle* p : ps) pool.deallocate(p);
  pool.reserve(300);
  EXPECT_GE(pool.capacity(), 300u);
  pool.shrink_to_fit();
  EXPECT_EQ(pool.chunks_allocated(), 0u);
  EXPECT_EQ(pool.fragmentation(), 0.0);
}

namespace {
struct Counted {
  static inline int alive = 0;
  static inline int throw_at = -1;
  std::string name;
  explicit Counted(std::string n) : name(std::move(n)) {
#if CORE_MEMORY_EXCEPTIONS
    if (throw_at == 0) throw_at = -1, throw std::runtime_error("ctor");
#endif
    if (throw_at > 0) --throw_at;
    ++alive;
  }
  ~Counted() { --alive; }
};
}  // namespace

TEST(ObjectPool, AcquireReleaseAndUniquePtr) {
  cm::ObjectPool<Counted> pool(8);
  Counted* a = pool.acquire("a");
  EXPECT_EQ(a->name, "a");
  EXPECT_EQ(Counted::alive, 1);
  {
    auto msg = pool.make_unique("message");
    EXPECT_EQ(msg->name, "message");
    auto moved = std::move(msg);
    EXPECT_FALSE(msg);
    EXPECT_EQ(Counted::alive, 2);
    EXPECT_EQ(pool.size(), 2u);
  }
  EXPECT_EQ(Counted::alive, 1);
  pool.release(a);
  EXPECT_EQ(Counted::alive, 0);
  EXPECT_EQ(pool.size(), 0u);
  auto u = pool.make_unique("x");
  Counted* raw = u.detach();
  pool.release(raw);
  EXPECT_EQ(Counted::alive, 0);
}

#if CORE_MEMORY_EXCEPTIONS
TEST(ObjectPool, ThrowingConstructorReturnsTheNode) {
  cm::ObjectPool<Counted> pool(4);
  Counted::throw_at = 0;
  EXPECT_THROW((void)pool.acquire("boom"), std::runtime_error);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_EQ(Counted::alive, 0);
  auto ok = pool.make_unique("fine");
  EXPECT_EQ(pool.size(), 1u);
}
#endif

TEST(ObjectPool, LeakIsReportedInDebugBuilds) {
  test::MisuseCapture capture;
  {
    cm::ObjectPool<int> pool;
    (void)pool.acquire(7);
  }
  if (cm::checks::debug) {
    ASSERT_EQ(capture.count(), 1u);
    EXPECT_EQ(capture.last().kind, cm::error_kind::leak);
  } else {
    EXPECT_EQ(capture.count(), 0u);
  }
}

TEST(PoolMisuse, DoubleFreeAndForeignPointerAreReported) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  test::MisuseCapture capture;
  cm::MemoryPool pool(32);
  void* a = pool.allocate_node();
  void* b = pool.allocate_node();
  pool.deallocate_node(a);
  pool.deallocate_node(a);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  EXPECT_EQ(capture.last().address, a);
  alignas(16) long local[8] = {};  // not from the pool (big enough that the check is the only guard)
  pool.deallocate_node(local);
  ASSERT_EQ(capture.count(), 2u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  // The pool is intact: a once on the free list, b still live.
  EXPECT_EQ(pool.nodes_allocated(), 1u);
  EXPECT_EQ(pool.allocate_node(), a);
  EXPECT_NE(pool.allocate_node(), a);
  pool.deallocate_node(b);
}

TEST(PoolMisuse, DoubleReleaseDoesNotDestroyTwice) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  test::MisuseCapture capture;
  cm::ObjectPool<Counted> pool;
  Counted* c = pool.acquire("once");
  pool.release(c);
  EXPECT_EQ(Counted::alive, 0);
  pool.release(c);
  EXPECT_EQ(Counted::alive, 0) << "destructor did not run a second time";
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
}

// Hardened pools mark a free node with a cookie and confirm a suspected double free by walking the
// free list. A node carved from memory that upstream handed out before, where the pool had freed
// that node, must not keep the old mark: every free of it walked the whole free list (a cycle of
// 40,000 frees went from 0.1 ms to 900 ms once malloc gave a cleared pool's chunk back).
TEST(PoolMisuse, FreshNodesCarryNoStaleFreeMark) {
  if (!cm::checks::hardened) GTEST_SKIP() << "release builds keep no cookie";
  struct Recycling {  // gives out one buffer again and again, as malloc does with a freed block
    alignas(64) std::byte buffer[4096];
    void* allocate(std::size_t n, std::size_t) {
      if (n > sizeof buffer) cm::throw_out_of_memory("Recycling", n, 64);
      return buffer;
    }
    void deallocate(void*, std::size_t, std::size_t) noexcept {}
  } upstream;
  cm::BasicMemoryPool<Recycling> pool(upstream, 8, 8, 64, 64);
  auto mark = [](void* node) {  // the word after the node's link: the cookie (8-byte nodes, 16-byte stride)
    std::byte* word = static_cast<std::byte*>(node) + sizeof(void*);
    cm::unpoison_memory(word, sizeof(std::uintptr_t));
    std::uintptr_t v;
    std::memcpy(&v, word, sizeof v);
    return v;
  };
  void* n = pool.allocate_node();
  pool.deallocate_node(n);
  const std::uintptr_t free_mark = mark(n);
  pool.clear();  // the chunk goes back upstream, marks and all
  void* again = pool.allocate_node();
  ASSERT_EQ(again, n) << "the same memory, carved again";
  EXPECT_NE(mark(again), free_mark) << "a fresh node still looks free";
  pool.deallocate_node(again);
}

TEST(PoolMisuseDeathTest, DoubleFreeAbortsByDefault) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::MemoryPool pool(32);
  void* a = pool.allocate_node();
  pool.deallocate_node(a);
  EXPECT_DEATH(pool.deallocate_node(a), "double free in core::memory::MemoryPool");
}

TEST(PoolMisuseDeathTest, AsanSeesReadOfAFreedNode) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  EXPECT_DEATH(
      {
        cm::MemoryPool pool(32);
        auto* p = static_cast<volatile long*>(pool.allocate_node());
        pool.deallocate_node(const_cast<long*>(p));
        (void)p[1];
      },
      "use-after-poison");
}

TEST(PoolMisuseDeathTest, AsanSeesOverrunPastTheNode) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  EXPECT_DEATH(
      {
        cm::MemoryPool pool(20, 16);  // stride 32: bytes 20..31 are padding
        auto* p = static_cast<volatile char*>(pool.allocate_node());
        (void)p[24];
      },
      "use-after-poison");
}

TEST(MemoryPool, PageAlignedNodes) {
  cm::MemoryPool pool(100, 4096, 4);
  std::vector<void*> nodes;
  for (int i = 0; i < 10; ++i) {
    nodes.push_back(pool.allocate_node());
    EXPECT_TRUE(cm::is_aligned(nodes.back(), 4096));
  }
  EXPECT_EQ(pool.node_stride(), 4096u);
  for (void* p : nodes) pool.deallocate_node(p);
}

// PageSet (the pools' record of their chunks' pages for the hardened checks) against a map of
// page counts: random ranges inserted and erased, sharing pages, in and out of order, through
// growth and backward-shift deletion; every probe answers as the map does.
TEST(PageSet, AgreesWithAMapOfPageCountsThroughRandomInsertsAndErases) {
  core::memory::detail::PageSet set;
  std::map<std::uintptr_t, std::size_t> pages;
  std::vector<std::pair<std::uintptr_t, std::size_t>> ranges;
  std::mt19937_64 rng(7);
  auto probe_all = [&] {
    for (int i = 0; i < 200; ++i) {
      const std::uintptr_t page = rng() % 3000;
      const auto p = reinterpret_cast<const void*>((page << 12) + rng() % 4096);
      ASSERT_EQ(set.contains(p), pages.count(page) != 0) << "page " << page;
    }
    for (const auto& [page, count] : pages) ASSERT_TRUE(set.contains(reinterpret_cast<const void*>(page << 12)));
  };
  for (int step = 0; step < 4000; ++step) {
    if (ranges.empty() || rng() % 3 != 0) {
      // Ranges start anywhere in a page and span 1 byte to 5 pages: neighbours share pages.
      const std::uintptr_t begin = (rng() % 2900) * 4096 + rng() % 4096;
      const std::size_t bytes = 1 + rng() % (5 * 4096);
      ASSERT_TRUE(set.insert(reinterpret_cast<const void*>(begin), bytes));
      ranges.emplace_back(begin, bytes);
      for (std::uintptr_t page = begin >> 12; page <= (begin + bytes - 1) >> 12; ++page) ++pages[page];
    } else {
      const std::size_t i = rng() % ranges.size();
      const auto [begin, bytes] = ranges[i];
      ranges.erase(ranges.begin() + static_cast<std::ptrdiff_t>(i));
      set.erase(reinterpret_cast<const void*>(begin), bytes);
      for (std::uintptr_t page = begin >> 12; page <= (begin + bytes - 1) >> 12; ++page)
        if (--pages[page] == 0) pages.erase(page);
    }
    if (step % 50 == 0) probe_all();
  }
  probe_all();
  for (const auto& [begin, bytes] : ranges) set.erase(reinterpret_cast<const void*>(begin), bytes);
  for (std::uintptr_t page = 0; page < 3000; ++page)
    ASSERT_FALSE(set.contains(reinterpret_cast<const void*>(page << 12))) << page;
}
