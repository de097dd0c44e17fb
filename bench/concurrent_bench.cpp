// Allocation from several threads: core-memory's ConcurrentPool and ThreadPoolAllocator against
// the process malloc (glibc here; mimalloc, jemalloc, tcmalloc and tbbmalloc through LD_PRELOAD,
// see bench/run.py), TBB's scalable_malloc, std::pmr::synchronized_pool_resource and a
// MemoryPool behind a std::mutex; the single-threaded MemoryPool is the floor at one thread.
// Every allocator is shared by the threads and reached through a pointer; in the lifo and batch
// rows, through one the compiler cannot see through at every call (so no allocator keeps its
// state in registers across calls, and none has a load folded into the previous call's store),
// and every block is written to.
//   mtN_lifo:  N threads each allocate a block, touch it, free it.
//   mtN_batch: N threads each allocate 64 blocks, then free them in allocation order.
//   mt1_lifo_inlined, mt1_batch_inlined (the single-threaded MemoryPool only): the same with the
//              pool reached once per iteration, as an application's loop would, so the compiler
//              may forward the free's store of the list head to the next allocation's load (the
//              pair becomes the block's link load and two stores). Not the floor of the targets.
//   mt1_interleaved_lifo, mt1_interleaved_batch: the one-thread rows of MemoryPool and of the
//              concurrent allocators (directly and through thread_cache()) run in turn within
//              each iteration, 1024 blocks each: their ratios, measured under one machine state.
//   mtN_larson: N threads put each new block into a random slot of a shared array and free the
//              block it displaces, so most frees are of another thread's block.
//   prodcons:  one thread allocates, the other frees (xmalloc-test's pattern).
//   scratch:   cache-scratch (Hoard's test of passive false sharing): one thread allocates two
//              adjacent blocks and hands one to each of two threads, which free it and then, over
//              and over, allocate a block, write it 64 times and free it. An allocator that gives
//              a thread the block another thread freed next to the other's makes them write one
//              cache line from two cores.
// Times are per block, for all threads together (wall time / blocks).

#include <core/memory/pool/concurrent_pool.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/pool/thread_pool_allocator.hpp>

#include <benchmark/benchmark.h>
#include <tbb/scalable_allocator.h>

#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <memory_resource>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace cm = core::memory;

namespace {

template <std::size_t Size>
struct OursPool {
  cm::ConcurrentPool* pool = new cm::ConcurrentPool(Size, 16);
  void* allocate(std::size_t) { return pool->allocate_node(); }
  void deallocate(void* p, std::size_t) noexcept { pool->deallocate_node(p); }
};
struct OursThreadPool {
  cm::ThreadPoolAllocator* a = new cm::ThreadPoolAllocator;
  void* allocate(std::size_t n) { return a->allocate(n, 16); }
  void deallocate(void* p, std::size_t n) noexcept { a->deallocate(p, n, 16); }
};
template <std::size_t Size>
struct SingleThreadedPool {  // the floor at one thread; never shared
  cm::MemoryPool* pool = new cm::MemoryPool(Size, 16);
  void* allocate(std::size_t) { return pool->allocate_node(); }
  void deallocate(void* p, std::size_t) noexcept { pool->deallocate_node(p); }
};
template <std::size_t Size>
struct MutexPool {
  std::mutex m;
  cm::MemoryPool pool{Size, 16};
  void* allocate(std::size_t) {
    std::lock_guard lock(m);
    return pool.allocate_node();
  }
  void deallocate(void* p, std::size_t) noexcept {
    std::lock_guard lock(m);
    pool.deallocate_node(p);
  }
};
struct ProcessMalloc {
  void* allocate(std::size_t n) { return std::malloc(n); }
  void deallocate(void* p, std::size_t) noexcept { std::free(p); }
};
struct TbbScalable {
  void* allocate(std::size_t n) { return scalable_malloc(n); }
  void deallocate(void* p, std::size_t) noexcept { scalable_free(p); }
};
struct PmrSynchronized {
  std::pmr::synchronized_pool_resource* r = new std::pmr::synchronized_pool_resource;
  void* allocate(std::size_t n) { return r->allocate(n, 16); }
  void deallocate(void* p, std::size_t n) noexcept { r->deallocate(p, n, 16); }
};

/// The allocator, shared by the threads of a run and reached through a pointer the compiler
/// cannot see through (each wrapper holds a pointer to the real allocator, never destroyed).
template <class A>
A& shared() {
  static A a;
  static A* volatile p = &a;
  return *p;
}

// The same allocators through the calling thread's cache, held by the caller (thread_cache()):
// one per thread (see holder), still reached through an opaque pointer at every call.
template <std::size_t Size>
struct OursPoolCache {
  static constexpr bool per_thread = true;
  static OursPoolCache make() { return {shared<OursPool<Size>>().pool->thread_cache()}; }
  cm::ConcurrentPool::ThreadCache cache;
  void* allocate(std::size_t) { return cache.allocate_node(); }
  void deallocate(void* p, std::size_t) noexcept { cache.deallocate_node(p); }
};
struct OursThreadPoolCache {
  static constexpr bool per_thread = true;
  static OursThreadPoolCache make() { return {shared<OursThreadPool>().a->thread_cache()}; }
  cm::ThreadPoolAllocator::ThreadCache cache;
  void* allocate(std::size_t n) { return cache.allocate(n, 16); }
  void deallocate(void* p, std::size_t n) noexcept { cache.deallocate(p, n, 16); }
};

/// What a thread of a run allocates with: the shared allocator, or (per_thread) the thread's own
/// cache of the shared one, taken at the thread's first run.
template <class A>
A& holder() {
  if constexpr (requires { A::per_thread; }) {
    thread_local A a = A::make();
    return a;
  } else {
    return shared<A>();
  }
}

/// `a`, through a pointer the compiler knows nothing about (and may assume any memory changed).
template <class A>
A& opaque(A& a) {
  A* p = &a;
  benchmark::DoNotOptimize(p);
  return *p;
}

template <class A, bool Inlined = false>
void lifo(benchmark::State& state, std::size_t size) {
  A& a = holder<A>();
  for (auto _ : state) {
    void* p = (Inlined ? a : opaque(a)).allocate(size);
    bench::touch(p);
    (Inlined ? a : opaque(a)).deallocate(p, size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <class A, bool Inlined = false>
void batch(benchmark::State& state, std::size_t size) {
  A& a = holder<A>();
  std::array<void*, 64> blocks{};
  for (auto _ : state) {
    for (auto& p : blocks) {
      p = (Inlined ? a : opaque(a)).allocate(size);
      bench::touch(p);
    }
    for (void* p : blocks) (Inlined ? a : opaque(a)).deallocate(p, size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * blocks.size()));
}

constexpr std::size_t larson_slots = 4096;
template <class A>
std::array<std::atomic<void*>, larson_slots>& larson_array() {
  static std::array<std::atomic<void*>, larson_slots> slots{};
  return slots;
}

template <class A>
void larson(benchmark::State& state, std::size_t size) {
  A& a = shared<A>();
  auto& slots = larson_array<A>();
  std::minstd_rand rng(static_cast<unsigned>(state.thread_index() + 1));
  for (auto _ : state) {
    void* p = a.allocate(size);
    bench::touch(p);
    if (void* old = slots[rng() % larson_slots].exchange(p, std::memory_order_acq_rel)) a.deallocate(old, size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  for (auto& s : slots)  // each thread empties what it finds at its end
    if (void* old = s.exchange(nullptr, std::memory_order_acq_rel)) a.deallocate(old, size);
}

/// Single-producer single-consumer ring of block pointers.
struct Ring {
  static constexpr std::size_t capacity = 4096;
  std::array<void*, capacity> items{};
  alignas(64) std::atomic<std::size_t> head{0};  // next to pop
  alignas(64) std::atomic<std::size_t> tail{0};  // next to push
};

template <class A>
void prodcons(benchmark::State& state, std::size_t size) {
  A& a = shared<A>();
  static Ring ring;
  constexpr std::size_t per_iteration = 64;
  if (state.thread_index() == 0) {
    for (auto _ : state) {
      for (std::size_t i = 0; i < per_iteration; ++i) {
        void* p = a.allocate(size);
        bench::touch(p);
        const std::size_t t = ring.tail.load(std::memory_order_relaxed);
        for (cm::Backoff b; t - ring.head.load(std::memory_order_acquire) == Ring::capacity;) b.pause();
        ring.items[t % Ring::capacity] = p;
        ring.tail.store(t + 1, std::memory_order_release);
      }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration));
  } else {
    for (auto _ : state) {
      for (std::size_t i = 0; i < per_iteration; ++i) {
        const std::size_t h = ring.head.load(std::memory_order_relaxed);
        for (cm::Backoff b; ring.tail.load(std::memory_order_acquire) == h;) b.pause();
        void* p = ring.items[h % Ring::capacity];
        ring.head.store(h + 1, std::memory_order_release);
        a.deallocate(p, size);
      }
    }
  }
}

template <class A>
void cache_scratch(benchmark::State& state, std::size_t size) {
  A& a = shared<A>();
  static std::array<void*, 2> handed{};
  static std::barrier<> both(2);
  if (state.thread_index() == 0) {
    handed[0] = a.allocate(size);
    handed[1] = a.allocate(size);
  }
  both.arrive_and_wait();
  a.deallocate(handed[static_cast<std::size_t>(state.thread_index())], size);
  for (auto _ : state) {
    auto* p = static_cast<volatile unsigned char*>(a.allocate(size));
    for (unsigned r = 0; r < 64; ++r) p[r % 8] = static_cast<unsigned char>(p[r % 8] + r);
    a.deallocate(const_cast<unsigned char*>(p), size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  both.arrive_and_wait();  // the next run's blocks come after both threads are done
}

template <class A>
void register_lifo_batch(const std::string& t, const std::string& tail, int threads, std::size_t size) {
  benchmark::RegisterBenchmark((t + "_lifo" + tail).c_str(), [=](benchmark::State& s) { lifo<A>(s, size); })
      ->Threads(threads)
      ->UseRealTime();
  benchmark::RegisterBenchmark((t + "_batch" + tail).c_str(), [=](benchmark::State& s) { batch<A>(s, size); })
      ->Threads(threads)
      ->UseRealTime();
}

template <class A>
void register_all(const char* impl, std::size_t size, bool shared_ok, bool any_size) {
  const std::string tail = std::string("/") + impl + "/" + std::to_string(size);
  for (int threads : {1, 2}) {
    if (threads > 1 && !shared_ok) continue;
    const std::string t = "mt" + std::to_string(threads);
    register_lifo_batch<A>(t, tail, threads, size);
    if (shared_ok)
      benchmark::RegisterBenchmark((t + "_larson" + tail).c_str(), [=](benchmark::State& s) { larson<A>(s, size); })
          ->Threads(threads)
          ->UseRealTime();
  }
  if (shared_ok) {
    benchmark::RegisterBenchmark(("prodcons" + tail).c_str(), [=](benchmark::State& s) { prodcons<A>(s, size); })
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("mt2_scratch" + tail).c_str(), [=](benchmark::State& s) { cache_scratch<A>(s, size); })
        ->Threads(2)
        ->UseRealTime();
  }
  if (!shared_ok) {  // the single-threaded floor, also as the compiler may inline it
    benchmark::RegisterBenchmark(("mt1_lifo_inlined" + tail).c_str(), [=](benchmark::State& s) {
      lifo<A, true>(s, size);
    })->UseRealTime();
    benchmark::RegisterBenchmark(("mt1_batch_inlined" + tail).c_str(), [=](benchmark::State& s) {
      batch<A, true>(s, size);
    })->UseRealTime();
  }
  (void)any_size;
}

/// The lifo and batch rows of an allocator used through each thread's cache.
template <class A>
void register_cached(const char* impl, std::size_t size) {
  const std::string tail = std::string("/") + impl + "/" + std::to_string(size);
  for (int threads : {1, 2}) register_lifo_batch<A>("mt" + std::to_string(threads), tail, threads, size);
}

/// `blocks` allocations through `a` (each written, reached through an opaque pointer): pairs
/// (LIFO), or batches of 64 freed in allocation order. Returns the nanoseconds taken.
template <class A, bool Batch>
std::int64_t timed_run(std::size_t size) {
  constexpr int blocks = 1024;
  A& a = holder<A>();
  const auto start = std::chrono::steady_clock::now();
  if constexpr (Batch) {
    std::array<void*, 64> held{};
    for (int r = 0; r < blocks / 64; ++r) {
      for (auto& p : held) {
        p = opaque(a).allocate(size);
        bench::touch(p);
      }
      for (void* p : held) opaque(a).deallocate(p, size);
    }
  } else {
    for (int r = 0; r < blocks; ++r) {
      void* p = opaque(a).allocate(size);
      bench::touch(p);
      opaque(a).deallocate(p, size);
    }
  }
  return std::chrono::nanoseconds(std::chrono::steady_clock::now() - start).count();
}

/// The one-thread targets side by side: each iteration runs 1024 blocks through the
/// single-threaded MemoryPool and through each concurrent allocator (directly and through the
/// caller's thread_cache()), in an order that rotates, so that all see the same state of the
/// machine. (Separate rows of this VM move by up to 40% from run to run, more than the ratios
/// measured.) Counters: ns per block of each, and each one's time over MemoryPool's (`_x`).
template <std::size_t Size, bool Batch>
void interleaved(benchmark::State& state) {
  struct Run {
    const char* name;
    std::int64_t (*run)(std::size_t);
  };
  const std::array<Run, 5> runs{{{"pool", timed_run<SingleThreadedPool<Size>, Batch>},
                                 {"concurrent_pool", timed_run<OursPool<Size>, Batch>},
                                 {"thread_pool", timed_run<OursThreadPool, Batch>},
                                 {"concurrent_pool_cache", timed_run<OursPoolCache<Size>, Batch>},
                                 {"thread_pool_cache", timed_run<OursThreadPoolCache, Batch>}}};
  std::array<std::int64_t, runs.size()> total{};
  std::size_t round = 0;
  for (auto _ : state) {
    for (std::size_t k = 0; k < runs.size(); ++k) {
      const std::size_t i = (round + k) % runs.size();
      total[i] += runs[i].run(Size);
    }
    ++round;
  }
  const double blocks = static_cast<double>(state.iterations()) * 1024;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    state.counters[std::string(runs[i].name) + "_ns"] = static_cast<double>(total[i]) / blocks;
    if (i > 0) state.counters[std::string(runs[i].name) + "_x"] = static_cast<double>(total[i]) / static_cast<double>(total[0]);
  }
}

template <std::size_t Size>
void register_size() {
  benchmark::RegisterBenchmark(("mt1_interleaved_lifo/" + std::to_string(Size)).c_str(), interleaved<Size, false>);
  benchmark::RegisterBenchmark(("mt1_interleaved_batch/" + std::to_string(Size)).c_str(), interleaved<Size, true>);
  register_all<OursPool<Size>>("cm::ConcurrentPool", Size, true, false);
  register_all<OursThreadPool>("cm::ThreadPoolAllocator", Size, true, true);
  register_cached<OursPoolCache<Size>>("cm-cache::ConcurrentPool::ThreadCache", Size);
  register_cached<OursThreadPoolCache>("cm-cache::ThreadPoolAllocator::ThreadCache", Size);
  register_all<SingleThreadedPool<Size>>("cm-1thread::MemoryPool", Size, false, false);
  register_all<MutexPool<Size>>("std::mutex+MemoryPool", Size, true, false);
  register_all<ProcessMalloc>("malloc", Size, true, true);
  register_all<TbbScalable>("tbb::scalable_malloc", Size, true, true);
  register_all<PmrSynchronized>("pmr::synchronized_pool", Size, true, true);
}

const bool registered = [] {
  register_size<32>();
  register_size<256>();
  return true;
}();

}  // namespace
