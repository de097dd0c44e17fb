// ConcurrentPool, ConcurrentPoolAllocator and ConcurrentObjectPool: single-threaded behaviour
// (the RawAllocator conformance checks), then real threads: the exchange stress, exclusive
// ownership, producer/consumer, threads that exit holding blocks, exhaustion under contention,
// and misuse, including a double free racing on two threads. ThreadSanitizer runs this file.

#include <core/memory/pool/concurrent_pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "support/allocator_conformance.hpp"
#include "support/concurrent_stress.hpp"
#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

namespace {

using CountingPool = cm::BasicConcurrentPool<test::CountingAllocator>;

TEST(ConcurrentPool, NodesAreAlignedDistinctAndReused) {
  for (std::size_t align : {8u, 16u, 64u, 256u, 4096u}) {
    cm::ConcurrentPool pool(24, align);
    std::set<void*> seen;
    std::vector<void*> nodes;
    for (int i = 0; i < 300; ++i) {
      void* p = pool.allocate_node();
      ASSERT_TRUE(cm::is_aligned(p, align));
      ASSERT_TRUE(seen.insert(p).second) << "a node handed out twice";
      std::memset(p, i, 24);
      nodes.push_back(p);
    }
    EXPECT_EQ(pool.nodes_allocated(), 300u);
    pool.deallocate_node(nodes[50]);
    EXPECT_EQ(pool.allocate_node(), nodes[50]) << "the last freed node is reused first";
    for (void* p : nodes) pool.deallocate_node(p);
    EXPECT_EQ(pool.nodes_allocated(), 0u);
  }
}

TEST(ConcurrentPool, AllocatesNothingUntilFirstUseAndReturnsEverything) {
  test::CountingAllocator upstream;
  test::MisuseCapture capture;
  {
    CountingPool pool(upstream, 32);
    EXPECT_EQ(upstream.allocations(), 0u);
    EXPECT_EQ(pool.capacity(), 0u);
    void* p = pool.allocate_node();
    EXPECT_EQ(pool.chunks_allocated(), 1u);
    EXPECT_EQ(pool.capacity(), pool.nodes_per_chunk());
    EXPECT_EQ(pool.bytes_allocated(), upstream.bytes_allocated());
    pool.deallocate_node(p);
    pool.shrink_to_fit();
    EXPECT_EQ(pool.chunks_allocated(), 0u);
    EXPECT_EQ(upstream.bytes_allocated(), 0u);
    (void)pool.allocate_node();  // still live: destruction returns its chunk
  }
  EXPECT_EQ(upstream.live_blocks(), 0u);
  EXPECT_EQ(upstream.errors(), 0u);
  EXPECT_EQ(capture.count(), 0u) << "a pool may die with live nodes, as MemoryPool may";
}

TEST(ConcurrentPool, ReserveMakesRoomWithoutUpstreamCalls) {
  test::CountingAllocator upstream;
  CountingPool pool(upstream, 64, 16, 64);
  pool.reserve(1000);
  EXPECT_GE(pool.capacity(), 1000u);
  const std::size_t calls = upstream.allocations();
  std::vector<void*> nodes;
  for (int i = 0; i < 1000; ++i) nodes.push_back(pool.allocate_node());
  EXPECT_EQ(upstream.allocations(), calls) << "reserved chunks serve 1000 nodes";
  for (void* p : nodes) pool.deallocate_node(p);
}

TEST(ConcurrentPool, Conformance) {
  cm::ConcurrentPool pool(64, 16);
  EXPECT_EQ(test::random_model(pool, 5000, 200, 64, 7), 0u);
  test::std_containers(pool);
  EXPECT_EQ(pool.nodes_allocated(), 0u);
}

TEST(ConcurrentPool, ExhaustionAndRecovery) {
  test::CountingAllocator upstream(64 * 1024);
  CountingPool pool(upstream, 48, 16);
  test::exhaustion_and_recovery(pool, 48, 16);
}

TEST(ConcurrentPool, LargeRequestsGoUpstream) {
  test::CountingAllocator upstream;
  CountingPool pool(upstream, 32);
  void* p = pool.allocate(1000, 8);
  EXPECT_TRUE(upstream.owns(p));
  EXPECT_FALSE(pool.owns(p));
  pool.deallocate(p, 1000, 8);
  void* q = pool.allocate(20, 8);
  EXPECT_TRUE(pool.owns(q));
  pool.deallocate(q, 20, 8);
  EXPECT_EQ(upstream.errors(), 0u);
}

TEST(ConcurrentPool, AllocatorTraits) {
  static_assert(cm::allocator_traits<cm::ConcurrentPool>::is_thread_safe);
  static_assert(cm::allocator_traits<cm::ConcurrentPoolAllocator<long>>::is_thread_safe);
  cm::ConcurrentPoolAllocator<long, 256> alloc;
  long* a = alloc.allocate();
  long* b = alloc.allocate(10);
  *a = 1;
  b[9] = 2;
  EXPECT_EQ(alloc.objects_allocated(), 1u);
  alloc.deallocate(b, 10);
  alloc.deallocate(a);
  EXPECT_GE(alloc.nodes_per_chunk(), 256u);
  test::std_containers(alloc);
}

// --- real threads ----------------------------------------------------------------------------

TEST(ConcurrentPoolThreads, ExchangeStressReturnsEverything) {
  test::CountingAllocator upstream;
  {
    CountingPool pool(upstream, 64, 16);
    const auto r = test::exchange_stress([&](std::size_t) { return pool.try_allocate_node(); },
                                         [&](void* p, std::size_t) { pool.deallocate_node(p); }, {64}, 4,
                                         20 / test::stress_scale + 2, 20000 / test::stress_scale);
    EXPECT_EQ(r.bad_cookies, 0u);
    EXPECT_EQ(r.failed, 0u);
    EXPECT_EQ(pool.nodes_allocated(), 0u) << "statistics exact after the threads joined";
    const double held = static_cast<double>(pool.bytes_allocated());
    std::printf("peak live %zu bytes, held from upstream %.0f bytes (%.2fx), %zu thread caches\n",
                r.peak_live_bytes, held, held / static_cast<double>(r.peak_live_bytes), pool.thread_caches());
    pool.shrink_to_fit();
    EXPECT_EQ(pool.chunks_allocated(), 0u) << "every chunk is empty once all threads exited";
    EXPECT_EQ(upstream.bytes_allocated(), 0u);
  }
  EXPECT_EQ(upstream.live_blocks(), 0u);
  EXPECT_EQ(upstream.errors(), 0u);
}

TEST(ConcurrentPoolThreads, HeldMemoryStaysCloseToPeakLive) {
  // A live set far larger than the per-thread caches: what is held from upstream after the
  // stress is the peak's slabs, plus at most one cache's worth per thread.
  cm::ConcurrentPool pool(64, 16);
  const auto r = test::exchange_stress([&](std::size_t) { return pool.try_allocate_node(); },
                                       [&](void* p, std::size_t) { pool.deallocate_node(p); }, {64}, 4, 3,
                                       200000 / test::stress_scale, 65536);
  ASSERT_EQ(r.bad_cookies, 0u);
  const double ratio = static_cast<double>(pool.bytes_allocated()) / static_cast<double>(r.peak_live_bytes);
  std::printf("peak live %zu bytes, held %zu bytes: %.3fx\n", r.peak_live_bytes, pool.bytes_allocated(), ratio);
  EXPECT_LE(ratio, 1.1 + static_cast<double>(4 * pool.cache_limit() * 64) / static_cast<double>(r.peak_live_bytes));
}

TEST(ConcurrentPoolThreads, NoNodeHasTwoOwners) {
  cm::ConcurrentPool pool(64, 8);
  constexpr int threads = 4;
  const int ops = 50000 / test::stress_scale;
  std::atomic<int> collisions{0};
  std::vector<std::thread> pool_threads;
  for (int t = 0; t < threads; ++t) {
    pool_threads.emplace_back([&, t] {
      std::vector<unsigned char*> mine;
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < ops; ++i) {
        if (mine.size() < 64 && (mine.empty() || rng() % 2)) {
          auto* p = static_cast<unsigned char*>(pool.allocate_node());
          std::memset(p, t + 1, 64);
          mine.push_back(p);
        } else {
          const std::size_t k = rng() % mine.size();
          unsigned char* p = mine[k];
          for (int b = 0; b < 64; ++b)
            if (p[b] != t + 1) {
              collisions.fetch_add(1);
              break;
            }
          mine[k] = mine.back();
          mine.pop_back();
          pool.deallocate_node(p);
        }
      }
      for (auto* p : mine) pool.deallocate_node(p);
    });
  }
  for (auto& th : pool_threads) th.join();
  EXPECT_EQ(collisions.load(), 0);
  EXPECT_EQ(pool.nodes_allocated(), 0u);
}

TEST(ConcurrentPoolThreads, ProducerConsumerStaysBounded) {
  test::CountingAllocator upstream;
  CountingPool pool(upstream, 128, 16);
  std::mutex m;
  std::condition_variable cv, room;
  std::deque<void*> queue;
  bool done = false;
  const int items = 200000 / test::stress_scale;
  constexpr std::size_t in_flight = 1024;  // the queue's bound: the producer waits beyond it
  std::size_t max_bytes = 0;
  std::thread consumer([&] {
    for (;;) {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return !queue.empty() || done; });
      if (queue.empty()) return;
      std::deque<void*> batch;
      batch.swap(queue);
      lock.unlock();
      room.notify_one();
      for (void* p : batch) pool.deallocate_node(p);
    }
  });
  for (int i = 0; i < items; ++i) {
    void* p = pool.allocate_node();
    std::memset(p, 1, 128);
    {
      std::unique_lock lock(m);
      room.wait(lock, [&] { return queue.size() < in_flight; });
      queue.push_back(p);
      if (queue.size() > 256) cv.notify_one();
    }
    if (i % 1000 == 0) max_bytes = std::max(max_bytes, pool.bytes_allocated());
  }
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  consumer.join();
  EXPECT_EQ(pool.nodes_allocated(), 0u);
  // Memory is bounded by what is in flight (the queue, the batch being freed, two threads'
  // caches), not by the number of items: frees return to the producer's heap.
  const std::size_t bound = (3 * in_flight + 2 * pool.cache_limit()) * 128 * 2;
  EXPECT_LT(max_bytes, bound) << "held " << max_bytes << " bytes for " << items << " items";
  std::printf("producer/consumer: %zu items, at most %zu bytes held (bound %zu)\n", static_cast<std::size_t>(items),
              max_bytes, bound);
}

TEST(ConcurrentPoolThreads, BlocksOfExitedThreadsFindAHome) {
  test::CountingAllocator upstream;
  {
    CountingPool pool(upstream, 40, 8);
    std::vector<void*> orphans;
    for (int round = 0; round < 4; ++round) {
      std::thread([&] {
        for (int i = 0; i < 3000; ++i) orphans.push_back(pool.allocate_node());
      }).join();
    }
    EXPECT_EQ(pool.nodes_allocated(), orphans.size());
    EXPECT_LE(pool.thread_caches(), 2u) << "a new thread adopts the cache of an exited one";
    std::thread([&] {
      for (void* p : orphans) pool.deallocate_node(p);
    }).join();
    EXPECT_EQ(pool.nodes_allocated(), 0u);
    pool.shrink_to_fit();
    EXPECT_EQ(upstream.bytes_allocated(), 0u) << "blocks freed after their thread exited went home";
  }
  EXPECT_EQ(upstream.live_blocks(), 0u);
}

/// Remote frees go home in magazines (the first block of a group lists the others). One thread
/// frees the blocks of other threads, interleaved: six owners, so that its flushes send to more
/// owners than a flush keeps batches for; and one owner with a large cache, so that one flush
/// fills many magazines of the most items. Block sizes whose magazines hold no item (8 bytes; 16
/// hardened), one, a few and the most (63). Every block comes home exactly once: the owners get
/// distinct blocks back, and everything is back upstream at the end.
void remote_frees_come_home(std::size_t size, std::size_t owners, std::size_t cache_limit) {
  SCOPED_TRACE(testing::Message() << size << " bytes, " << owners << " owners, cache limit " << cache_limit);
  const std::size_t per_owner = 12000 / owners / static_cast<std::size_t>(test::stress_scale);
  test::CountingAllocator upstream;
  {
    CountingPool pool(upstream, size, 8, 0, cache_limit);
    std::vector<std::vector<void*>> blocks(owners);
    std::barrier sync(static_cast<std::ptrdiff_t>(owners + 1));
    std::atomic<std::size_t> bad{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < owners; ++t)
      threads.emplace_back([&, t] {
        for (std::size_t i = 0; i < per_owner; ++i) {
          auto* p = static_cast<unsigned char*>(pool.allocate_node());
          std::memset(p, static_cast<int>(t + 1), size);
          blocks[t].push_back(p);
        }
        sync.arrive_and_wait();  // the blocks are out
        sync.arrive_and_wait();  // another thread freed them all
        for (void*& p : blocks[t]) {  // drains the inbox
          p = pool.allocate_node();
          std::memset(p, static_cast<int>(t + 1), size);
        }
        sync.arrive_and_wait();  // every owner holds its new blocks
        for (void* p : blocks[t]) {
          const auto* b = static_cast<unsigned char*>(p);
          if (std::count(b, b + size, static_cast<unsigned char>(t + 1)) != static_cast<long>(size)) ++bad;
          pool.deallocate_node(p);
        }
      });
    sync.arrive_and_wait();
    for (std::size_t i = 0; i < per_owner; ++i)
      for (std::size_t t = 0; t < owners; ++t) pool.deallocate_node(blocks[t][i]);
    EXPECT_EQ(pool.nodes_allocated(), 0u);
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    std::set<void*> distinct;
    for (const auto& v : blocks) distinct.insert(v.begin(), v.end());
    EXPECT_EQ(distinct.size(), owners * per_owner) << "a block came home twice";
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0u) << "a block was written while another owner held it";
    EXPECT_EQ(pool.nodes_allocated(), 0u);
    pool.shrink_to_fit();
    EXPECT_EQ(upstream.bytes_allocated(), 0u) << "a block freed by another thread never came home";
  }
  EXPECT_EQ(upstream.live_blocks(), 0u);
}

TEST(ConcurrentPoolThreads, RemoteFreesOfManyOwnersComeHomeWhole) {
  for (std::size_t size : {8u, 16u, 24u, 32u, 256u, 1024u}) remote_frees_come_home(size, 6, 0);
  for (std::size_t size : {32u, 256u, 1024u}) remote_frees_come_home(size, 1, 512);
}

/// A thread-safe budget in front of malloc, for exhaustion under contention.
struct BudgetUpstream {
  static constexpr bool is_thread_safe = true;
  std::atomic<std::size_t> left;
  explicit BudgetUpstream(std::size_t budget) : left(budget) {}
  void* allocate(std::size_t n, std::size_t a) { return cm::detail::allocate_or_throw(*this, n, a); }
  void* try_allocate(std::size_t n, std::size_t a) noexcept {
    std::size_t cur = left.load();
    do {
      if (cur < n) return nullptr;
    } while (!left.compare_exchange_weak(cur, cur - n));
    void* p = cm::MallocAllocator{}.try_allocate(n, a);
    if (!p) left.fetch_add(n);
    return p;
  }
  void deallocate(void* p, std::size_t n, std::size_t a) noexcept {
    cm::MallocAllocator{}.deallocate(p, n, a);
    left.fetch_add(n);
  }
};

TEST(ConcurrentPoolThreads, ExhaustionUnderContentionIsCleanAndRecoverable) {
  BudgetUpstream upstream(256 * 1024);
  cm::BasicConcurrentPool<BudgetUpstream> pool(upstream, 100, 8);
  constexpr int threads = 4;
  std::vector<std::vector<void*>> held(threads);
#if CORE_MEMORY_EXCEPTIONS
  std::atomic<int> threw{0};
#endif
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      while (void* p = pool.try_allocate_node()) held[t].push_back(p);
#if CORE_MEMORY_EXCEPTIONS
      try {
        held[t].push_back(pool.allocate_node());
      } catch (const cm::out_of_memory&) {
        threw.fetch_add(1);
      }
#endif
    });
  }
  for (auto& th : ts) th.join();
  std::size_t total = 0;
  for (auto& h : held) total += h.size();
  EXPECT_GT(total, 1000u);
  EXPECT_LE(total * 100, 256u * 1024);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_GE(threw.load(), 1);
#endif
  for (auto& h : held)
    for (void* p : h) pool.deallocate_node(p);
  EXPECT_EQ(pool.nodes_allocated(), 0u);
  // The frees above sit partly in this thread's cache, which other threads do not take from:
  // hand them back first. (A new thread may adopt an exited worker's heap that never got a slab:
  // its refill then reclaims what the other exited heaps hold.)
  pool.flush_thread_cache();
  std::thread([&] {
    void* p = pool.try_allocate_node();
    EXPECT_NE(p, nullptr) << "usable again after the frees";
    if (p) pool.deallocate_node(p);
  }).join();
}

TEST(ConcurrentPoolThreads, SeveralPoolsCoexistAndDie) {
  for (int round = 0; round < 20; ++round) {
    cm::ConcurrentPool a(32), b(64);
    std::vector<std::thread> ts;
    for (int t = 0; t < 3; ++t) {
      ts.emplace_back([&] {
        std::vector<void*> xs, ys;
        for (int i = 0; i < 500; ++i) {
          xs.push_back(a.allocate_node());
          ys.push_back(b.allocate_node());
        }
        for (void* p : xs) a.deallocate_node(p);
        for (void* p : ys) b.deallocate_node(p);
      });
    }
    for (auto& th : ts) th.join();
    EXPECT_EQ(a.nodes_allocated(), 0u);
    EXPECT_EQ(b.nodes_allocated(), 0u);
  }
}

TEST(ConcurrentPoolThreads, ForkWhileOtherThreadsAllocate) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer does not support threads in the child of a threaded fork";
#endif
  cm::ConcurrentPool pool(48, 16);
  std::atomic<bool> stop{false};
  std::vector<void*> from_worker;
  std::mutex m;
  std::thread worker([&] {
    while (!stop.load()) {
      std::lock_guard lock(m);  // so the fork below never lands inside one of its calls
      void* p = pool.allocate_node();
      if (from_worker.size() < 1000) from_worker.push_back(p);
      else pool.deallocate_node(p);
    }
  });
  while (true) {
    std::lock_guard lock(m);
    if (from_worker.size() >= 100) break;
  }
  m.lock();  // the worker waits outside the pool while we fork
  const std::vector<void*> inherited = from_worker;
  const pid_t child = fork();
  if (child == 0) {
    // Only this thread exists here; the worker's heap was handed back by the fork hook.
    for (void* p : inherited) pool.deallocate_node(p);
    std::vector<void*> mine;
    for (int i = 0; i < 20000; ++i) mine.push_back(pool.allocate_node());
    for (void* p : mine) pool.deallocate_node(p);
    std::thread([&] { pool.deallocate_node(pool.allocate_node()); }).join();
    _exit(pool.nodes_allocated() == 0 ? 0 : 3);
  }
  m.unlock();
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  stop.store(true);
  worker.join();
  EXPECT_TRUE(WIFEXITED(status)) << "the child crashed or hung";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (void* p : from_worker) pool.deallocate_node(p);
  EXPECT_EQ(pool.nodes_allocated(), 0u);
}

TEST(ConcurrentPoolThreads, UsableFromThreadLocalDestructors) {
  static cm::ConcurrentPool pool(32);
  struct Holder {
    void* p = nullptr;
    ~Holder() {
      if (p) pool.deallocate_node(p);
      pool.deallocate_node(pool.allocate_node());  // allocation while the thread is exiting
    }
  };
  for (int i = 0; i < 8; ++i) {
    std::thread([] {
      thread_local Holder holder;
      holder.p = pool.allocate_node();
    }).join();
  }
  EXPECT_EQ(pool.nodes_allocated(), 0u);
}

TEST(ConcurrentObjectPool, AcquireAnywhereReleaseAnywhere) {
  struct Message {
    std::string text;
    int id;
    Message(std::string t, int i) : text(std::move(t)), id(i) {}
  };
  cm::ConcurrentObjectPool<Message> pool;
  std::vector<cm::ConcurrentObjectPool<Message>::UniquePtr> made;
  std::thread([&] {
    for (int i = 0; i < 1000; ++i) made.push_back(pool.make_unique(std::string(40, 'm'), i));
  }).join();
  EXPECT_EQ(pool.size(), 1000u);
  std::thread([&] {
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(made[static_cast<std::size_t>(i)]->id, i);
    made.clear();
  }).join();
  EXPECT_EQ(pool.size(), 0u);
}

// --- misuse ------------------------------------------------------------------------------------

#if CORE_MEMORY_CHECK_LEVEL >= 1
TEST(ConcurrentPoolMisuse, DoubleForeignAndInteriorFreesAreReported) {
  test::MisuseCapture capture;
  cm::ConcurrentPool pool(32, 8);
  void* p = pool.allocate_node();
  pool.deallocate_node(p);
  pool.deallocate_node(p);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  EXPECT_EQ(capture.last().allocator, "core::memory::ConcurrentPool");
  EXPECT_EQ(capture.last().address, p);

  alignas(64) static char local[64];
  pool.deallocate_node(local);
  ASSERT_EQ(capture.count(), 2u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);

  auto* q = static_cast<char*>(pool.allocate_node());
  pool.deallocate_node(q + 8);
  ASSERT_EQ(capture.count(), 3u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::interior_pointer);
  pool.deallocate_node(q);
  EXPECT_EQ(capture.count(), 3u);

  cm::ConcurrentPool other(32, 8);
  void* r = other.allocate_node();
  pool.deallocate_node(r);
  ASSERT_EQ(capture.count(), 4u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer) << "a node of another pool";
  other.deallocate_node(r);
}

/// A block on its way home (in a magazine, as its first block or as an item) freed again: reported
/// as a double free, and the magazine is not harmed (the cookie is outside its list of items).
TEST(ConcurrentPoolMisuse, DoubleFreeOfABlockOnItsWayHomeIsReported) {
  test::MisuseCapture capture;
  for (std::size_t size : {16u, 32u, 256u, 1024u}) {
    cm::ConcurrentPool pool(size, 8, 0, 16);  // a small cache: most of the blocks are sent home
    std::vector<void*> blocks(400);
    std::barrier sync(2);
    std::thread owner([&] {
      for (void*& p : blocks) p = pool.allocate_node();
      sync.arrive_and_wait();
      sync.arrive_and_wait();  // freed twice by the main thread, most of them still in the inbox
      for (void*& p : blocks) p = pool.allocate_node();
      sync.arrive_and_wait();
    });
    sync.arrive_and_wait();
    const std::set<void*> first_round(blocks.begin(), blocks.end());
    for (void* p : blocks) pool.deallocate_node(p);  // all but the last few flushed home
    const std::size_t before = capture.count();
    for (void* p : blocks) pool.deallocate_node(p);
    EXPECT_EQ(capture.count() - before, blocks.size()) << size;
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    owner.join();
    EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size()) << size;
    const auto back = std::count_if(blocks.begin(), blocks.end(), [&](void* p) { return first_round.count(p) != 0; });
    EXPECT_GE(back, 300) << size << ": the blocks in transit came home intact";
    for (void* p : blocks) pool.deallocate_node(p);
    EXPECT_EQ(pool.nodes_allocated(), 0u);
  }
  for (const auto& r : test::MisuseCapture::reports()) EXPECT_EQ(r.kind, cm::error_kind::double_free);
}

TEST(ConcurrentPoolMisuse, DoubleFreeRacingOnTwoThreadsIsReportedOnce) {
  test::MisuseCapture capture;
  cm::ConcurrentPool pool(32, 8);
  const int rounds = 200 / test::stress_scale;
  for (int i = 0; i < rounds; ++i) {
    void* p = pool.allocate_node();
    std::barrier start(2);
    auto racer = [&] {
      start.arrive_and_wait();
      pool.deallocate_node(p);
    };
    std::thread a(racer), b(racer);
    a.join();
    b.join();
  }
  ASSERT_EQ(capture.count(), static_cast<std::size_t>(rounds)) << "exactly one of each pair of frees is reported";
  for (const auto& r : test::MisuseCapture::reports()) EXPECT_EQ(r.kind, cm::error_kind::double_free);
  EXPECT_EQ(pool.nodes_allocated(), 0u);
}
#endif

}  // namespace
