// Variable sizes: one fixed random sequence of allocations (16 B .. 2 KiB, skewed small) and frees
// in random order, with about 2000 blocks live, replayed on each allocator. core-memory's
// FreeListAllocator (first and best fit), BuddyAllocator and SlabAllocator against the process
// malloc (glibc here; mimalloc, jemalloc, tcmalloc through LD_PRELOAD), foonathan's
// memory_pool_collection and std::pmr::unsynchronized_pool_resource. Each core-memory row also
// reports its fragmentation figure at the end of the sequence (before everything is freed).

#include <core/memory/allocator/buddy_allocator.hpp>
#include <core/memory/allocator/freelist_allocator.hpp>
#include <core/memory/allocator/slab_allocator.hpp>

#include <benchmark/benchmark.h>
#include <foonathan/memory/memory_pool_collection.hpp>
#include <foonathan/memory/memory_pool_type.hpp>

#include <cstdlib>
#include <memory_resource>
#include <random>
#include <vector>

namespace cm = core::memory;

namespace {

struct Op {
  std::uint32_t slot;
  std::uint32_t size;  // 0: free the slot
};

/// `count` operations with about `live_target` blocks live, sizes from `size_of(rng)`.
template <class SizeOf>
std::vector<Op> make_sequence(int count, std::size_t live_target, SizeOf size_of) {
  std::vector<Op> v;
  std::mt19937 rng(2024);
  std::vector<std::uint32_t> live, empty;
  for (std::uint32_t i = 0; i < 4096; ++i) empty.push_back(i);
  for (int i = 0; i < count; ++i) {
    const bool alloc = live.empty() || (live.size() < live_target ? rng() % 100 < 60 : rng() % 100 < 40);
    if (alloc && !empty.empty()) {
      const std::uint32_t slot = empty.back();
      empty.pop_back();
      v.push_back({slot, size_of(rng)});
      live.push_back(slot);
    } else {
      const std::size_t k = rng() % live.size();
      v.push_back({live[k], 0});
      empty.push_back(live[k]);
      live[k] = live.back();
      live.pop_back();
    }
  }
  for (std::uint32_t slot : live) v.push_back({slot, 0});
  return v;
}

/// 16 B .. ~1 KiB, log-uniform, about 2000 live.
const std::vector<Op>& sequence() {
  static const std::vector<Op> ops = make_sequence(100000, 2000, [](std::mt19937& rng) {
    return static_cast<std::uint32_t>((16u << (rng() % 7)) + rng() % 64);
  });
  return ops;
}
/// 16 KiB .. 512 KiB, log-uniform, about 200 live: buffers, I/O blocks, a compiler's tables.
const std::vector<Op>& medium_sequence() {
  static const std::vector<Op> ops = make_sequence(20000, 200, [](std::mt19937& rng) {
    return static_cast<std::uint32_t>((std::uint32_t{16} << 10 << (rng() % 5)) + rng() % 16384);
  });
  return ops;
}
/// 1 MiB .. 8 MiB, about 16 live: the blocks every allocator maps from the OS at some size.
const std::vector<Op>& large_sequence() {
  static const std::vector<Op> ops = make_sequence(2000, 16, [](std::mt19937& rng) {
    return static_cast<std::uint32_t>((std::uint32_t{1} << 20 << (rng() % 3)) + rng() % (std::uint32_t{1} << 20));
  });
  return ops;
}

/// Replays the sequence; `report` runs at the point of most blocks live near the end.
template <class Alloc, class Report>
void replay(benchmark::State& state, Alloc& a, Report report, const std::vector<Op>& ops = sequence()) {
  std::vector<void*> ptr(4096);
  std::vector<std::uint32_t> size(4096);
  const std::size_t report_at = ops.size() > 2200 ? ops.size() - 2200 : 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      if (op.size) {
        ptr[op.slot] = a.allocate(op.size, 16);
        size[op.slot] = op.size;
        for (std::uint32_t at = 0; at < op.size; at += 4096) static_cast<volatile char*>(ptr[op.slot])[at] = 1;
      } else {
        a.deallocate(ptr[op.slot], size[op.slot], 16);
      }
      if (i == report_at) report();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ops.size()));
}

struct ProcessMalloc {
  void* allocate(std::size_t n, std::size_t) { return std::malloc(n); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { std::free(p); }
};
struct FoonathanCollection {
  foonathan::memory::memory_pool_collection<foonathan::memory::node_pool, foonathan::memory::log2_buckets> pools{
      2048, 1 << 20};
  void* allocate(std::size_t n, std::size_t) { return pools.allocate_node(n); }
  void deallocate(void* p, std::size_t n, std::size_t) noexcept { pools.deallocate_node(p, n); }
};
struct PmrPool {
  std::pmr::unsynchronized_pool_resource pool;
  void* allocate(std::size_t n, std::size_t a) { return pool.allocate(n, a); }
  void deallocate(void* p, std::size_t n, std::size_t a) noexcept { pool.deallocate(p, n, a); }
};

void BM_freelist_first(benchmark::State& state) {
  cm::FreeListAllocator a(std::size_t{64} << 20, cm::fit_policy::first);
  replay(state, a, [&] { state.counters["fragmentation"] = a.fragmentation(); });
}
BENCHMARK(BM_freelist_first)->Name("mixed/cm::FreeListAllocator (first fit)/1024");

void BM_freelist_best(benchmark::State& state) {
  cm::FreeListAllocator a(std::size_t{64} << 20, cm::fit_policy::best);
  replay(state, a, [&] { state.counters["fragmentation"] = a.fragmentation(); });
}
BENCHMARK(BM_freelist_best)->Name("mixed/cm-best::FreeListAllocator (best fit)/1024");

void BM_buddy(benchmark::State& state) {
  cm::BuddyAllocator a(16, std::size_t{1} << 26);
  replay(state, a, [&] { state.counters["fragmentation"] = a.internal_fragmentation(); });
}
BENCHMARK(BM_buddy)->Name("mixed/cm-buddy::BuddyAllocator/1024");

void BM_slab(benchmark::State& state) {
  cm::SlabAllocator a;
  replay(state, a, [&] { state.counters["fragmentation"] = a.fragmentation(); });
}
BENCHMARK(BM_slab)->Name("mixed/cm-slab::SlabAllocator/1024");

void BM_malloc(benchmark::State& state) {
  ProcessMalloc a;
  replay(state, a, [] {});
}
BENCHMARK(BM_malloc)->Name("mixed/malloc/1024");

/// The process malloc on blocks of 16 KiB to 512 KiB, each page written once.
void BM_malloc_medium(benchmark::State& state) {
  ProcessMalloc a;
  replay(state, a, [] {}, medium_sequence());
}
BENCHMARK(BM_malloc_medium)->Name("mixed_medium/malloc/512K");
void BM_malloc_large(benchmark::State& state) {
  ProcessMalloc a;
  replay(state, a, [] {}, large_sequence());
}
BENCHMARK(BM_malloc_large)->Name("mixed_large/malloc/8M");

void BM_foonathan(benchmark::State& state) {
  FoonathanCollection a;
  replay(state, a, [] {});
}
BENCHMARK(BM_foonathan)->Name("mixed/foonathan::memory_pool_collection/1024");

void BM_pmr(benchmark::State& state) {
  PmrPool a;
  replay(state, a, [] {});
}
BENCHMARK(BM_pmr)->Name("mixed/pmr::unsynchronized_pool_resource/1024");

}  // namespace
