// Heap allocation: core-memory's MallocAllocator / AlignedAllocator against the C heap, operator
// new, tbbmalloc, foonathan's heap_allocator, Boost.Align and std::pmr, plus the cost of the pmr
// bridge. mimalloc, jemalloc and tcmalloc rows come from the same binary run under LD_PRELOAD
// (see bench/run.py): the rows named "malloc", "operator_new", "aligned_alloc" and
// "posix_memalign" measure whatever allocator the process has.

#include <core/memory/core/aligned_allocator.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/memory_resource.hpp>
#include <core/memory/core/std_allocator.hpp>

#include <benchmark/benchmark.h>
#include <boost/align/aligned_alloc.hpp>
#include <foonathan/memory/heap_allocator.hpp>
#include <tbb/scalable_allocator.h>

#include <cstdlib>
#include <memory_resource>
#include <new>
#include <vector>

#include "bench_common.hpp"

namespace cm = core::memory;

namespace {

struct ProcessMalloc {
  void* allocate(std::size_t n, std::size_t) { return std::malloc(n); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { std::free(p); }
};
struct ProcessNew {
  void* allocate(std::size_t n, std::size_t) { return ::operator new(n); }
  void deallocate(void* p, std::size_t n, std::size_t) noexcept { ::operator delete(p, n); }
};
struct ProcessAlignedAlloc {
  void* allocate(std::size_t n, std::size_t a) { return std::aligned_alloc(a, cm::align_up(n, a)); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { std::free(p); }
};
struct ProcessPosixMemalign {
  void* allocate(std::size_t n, std::size_t a) {
    void* p = nullptr;
    return ::posix_memalign(&p, a, n) == 0 ? p : nullptr;
  }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { std::free(p); }
};
struct TbbScalable {
  void* allocate(std::size_t n, std::size_t a) {
    return a <= alignof(std::max_align_t) ? scalable_malloc(n) : scalable_aligned_malloc(n, a);
  }
  void deallocate(void* p, std::size_t, std::size_t a) noexcept {
    if (a <= alignof(std::max_align_t)) scalable_free(p);
    else scalable_aligned_free(p);
  }
};
struct FoonathanHeap {
  foonathan::memory::heap_allocator heap;
  void* allocate(std::size_t n, std::size_t a) { return heap.allocate_node(n, a); }
  void deallocate(void* p, std::size_t n, std::size_t a) noexcept { heap.deallocate_node(p, n, a); }
};
struct BoostAlign {
  void* allocate(std::size_t n, std::size_t a) { return boost::alignment::aligned_alloc(a, n); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { boost::alignment::aligned_free(p); }
};
/// Calls through a std::pmr::memory_resource pointer the optimiser cannot see through.
template <std::pmr::memory_resource* (*Get)()>
struct Pmr {
  std::pmr::memory_resource* r = [] {
    auto* res = Get();
    benchmark::DoNotOptimize(res);
    return res;
  }();
  void* allocate(std::size_t n, std::size_t a) { return r->allocate(n, a); }
  void deallocate(void* p, std::size_t n, std::size_t a) noexcept { r->deallocate(p, n, a); }
};
std::pmr::memory_resource* malloc_adapter() {
  static cm::MemoryResourceAdapter<cm::MallocAllocator> r;
  return &r;
}
std::pmr::memory_resource* aligned_adapter() {
  static cm::MemoryResourceAdapter<cm::AlignedAllocator<64>> r;
  return &r;
}

template <class Vector, class... Args>
void build_vector(benchmark::State& state, Args&&... args) {
  for (auto _ : state) {
    Vector v(args...);
    for (int i = 0; i < 64; ++i) v.push_back(i);
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

const bool registered = [] {
  using bench::register_patterns;
  for (std::size_t size : {32u, 256u}) {
    register_patterns<cm::MallocAllocator>("heap", "cm::MallocAllocator", size, 8);
    register_patterns<ProcessMalloc>("heap", "malloc", size, 8);
    register_patterns<ProcessNew>("heap", "operator_new", size, 8);
    register_patterns<TbbScalable>("heap", "tbb::scalable_malloc", size, 8);
    register_patterns<FoonathanHeap>("heap", "foonathan::heap_allocator", size, 8);
    register_patterns<Pmr<std::pmr::new_delete_resource>>("heap", "pmr::new_delete_resource", size, 8);
    register_patterns<Pmr<malloc_adapter>>("heap", "cm-pmr::MemoryResourceAdapter<MallocAllocator>", size, 8);

    register_patterns<cm::AlignedAllocator<64>>("aligned64", "cm::AlignedAllocator<64>", size, 64);
    register_patterns<ProcessAlignedAlloc>("aligned64", "aligned_alloc", size, 64);
    register_patterns<ProcessPosixMemalign>("aligned64", "posix_memalign", size, 64);
    register_patterns<TbbScalable>("aligned64", "tbb::scalable_aligned_malloc", size, 64);
    register_patterns<BoostAlign>("aligned64", "boost::alignment::aligned_alloc", size, 64);
    register_patterns<Pmr<std::pmr::new_delete_resource>>("aligned64", "pmr::new_delete_resource", size, 64);
    register_patterns<Pmr<aligned_adapter>>("aligned64", "cm-pmr::MemoryResourceAdapter<AlignedAllocator>", size, 64);
  }
  register_patterns<cm::AlignedAllocator<4096>>("page", "cm::AlignedAllocator<4096>", 4096, 4096);
  register_patterns<ProcessAlignedAlloc>("page", "aligned_alloc", 4096, 4096);
  register_patterns<ProcessPosixMemalign>("page", "posix_memalign", 4096, 4096);
  register_patterns<TbbScalable>("page", "tbb::scalable_aligned_malloc", 4096, 4096);
  register_patterns<BoostAlign>("page", "boost::alignment::aligned_alloc", 4096, 4096);

  // The pmr bridge: the same 64-int vector built on each allocator path.
  benchmark::RegisterBenchmark("vector64/cm::StdAllocator<int>/64", [](benchmark::State& s) {
    build_vector<std::vector<int, cm::StdAllocator<int>>>(s);
  });
  benchmark::RegisterBenchmark("vector64/std::allocator/64",
                               [](benchmark::State& s) { build_vector<std::vector<int>>(s); });
  benchmark::RegisterBenchmark("vector64/pmr::new_delete_resource/64", [](benchmark::State& s) {
    build_vector<std::pmr::vector<int>>(s, std::pmr::new_delete_resource());
  });
  benchmark::RegisterBenchmark("vector64/pmr::MemoryResourceAdapter<MallocAllocator>/64", [](benchmark::State& s) {
    build_vector<std::pmr::vector<int>>(s, malloc_adapter());
  });
  return true;
}();

}  // namespace
