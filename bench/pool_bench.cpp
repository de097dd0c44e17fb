// Fixed-size blocks of 32 bytes: core-memory's MemoryPool / PoolAllocator against a hand-written
// intrusive free list (the floor), foonathan's memory_pool, std::pmr::unsynchronized_pool_resource,
// boost::pool and boost::object_pool, and the process malloc (glibc here; mimalloc, jemalloc,
// tcmalloc and tbbmalloc through LD_PRELOAD, see bench/run.py). lifo: allocate and free at once;
// fifo: a batch of 1024 freed in allocation order (where boost::object_pool's ordered free is O(n)).

#include <core/memory/allocator/pool_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>

#include <benchmark/benchmark.h>
#include <boost/pool/object_pool.hpp>
#include <boost/pool/pool.hpp>
#include <foonathan/memory/memory_pool.hpp>

#include <cstdlib>
#include <memory_resource>

#include "bench_common.hpp"

namespace cm = core::memory;

namespace {

constexpr std::size_t node = 32;
struct Block {
  alignas(16) unsigned char bytes[node];
};

/// The floor: an intrusive free list over chunks carved from malloc, nothing else.
struct HandFreeList {
  struct N {
    N* next;
  };
  N* head = nullptr;
  std::vector<void*> chunks;
  ~HandFreeList() {
    for (void* c : chunks) std::free(c);
  }
  void* allocate(std::size_t, std::size_t) {
    if (!head) refill();
    N* n = head;
    head = n->next;
    return n;
  }
  void deallocate(void* p, std::size_t, std::size_t) noexcept {
    auto* n = static_cast<N*>(p);
    n->next = head;
    head = n;
  }
  void refill() {
    auto* c = static_cast<unsigned char*>(std::malloc(node * 4096));
    chunks.push_back(c);
    for (std::size_t i = 0; i < 4096; ++i) deallocate(c + i * node, node, 16);
  }
};

struct CmMemoryPool {
  cm::MemoryPool pool{node, 16, 4096, 4096};
  void* allocate(std::size_t, std::size_t) { return pool.allocate_node(); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { pool.deallocate_node(p); }
};
struct CmPoolAllocator {
  cm::PoolAllocator<Block, 4096> pool;
  void* allocate(std::size_t, std::size_t) { return pool.allocate(); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { pool.deallocate(static_cast<Block*>(p)); }
};
struct FoonathanPool {
  foonathan::memory::memory_pool<> pool{node, 4096 * node};
  void* allocate(std::size_t, std::size_t) { return pool.allocate_node(); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { pool.deallocate_node(p); }
};
struct PmrPool {
  std::pmr::unsynchronized_pool_resource pool;
  void* allocate(std::size_t n, std::size_t a) { return pool.allocate(n, a); }
  void deallocate(void* p, std::size_t n, std::size_t a) noexcept { pool.deallocate(p, n, a); }
};
struct BoostPool {
  boost::pool<> pool{node};
  void* allocate(std::size_t, std::size_t) { return pool.malloc(); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { pool.free(p); }
};
struct BoostObjectPool {
  boost::object_pool<Block> pool;
  void* allocate(std::size_t, std::size_t) { return pool.malloc(); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { pool.free(static_cast<Block*>(p)); }
};
struct ProcessMalloc {
  void* allocate(std::size_t n, std::size_t) { return std::malloc(n); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { std::free(p); }
};

// --- pool pairs: allocate one object, write it, free it; the pool reached through a pointer and
// its state kept in memory (ClobberMemory every pair), as when code shares it.

template <class T>
T* through_pointer(T& x) {
  T* p = &x;
  benchmark::DoNotOptimize(p);
  return p;
}

inline void write_block(void* p) {
  *static_cast<volatile unsigned char*>(p) = 1;
  asm volatile("" : : "r"(p));
}

void BM_pair_hand_free_list(benchmark::State& state) {
  HandFreeList storage;
  HandFreeList* pool = through_pointer(storage);
  for (auto _ : state) {
    void* p = pool->allocate(node, 16);
    write_block(p);
    pool->deallocate(p, node, 16);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_pair_hand_free_list)->Name("pool_pair/hand-written free list/32");

void BM_pair_pool_allocator(benchmark::State& state) {
  cm::PoolAllocator<Block, 4096> storage;
  auto* pool = through_pointer(storage);
  for (auto _ : state) {
    Block* p = pool->allocate(1);
    write_block(p);
    pool->deallocate(p, 1);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_pair_pool_allocator)->Name("pool_pair/cm-typed::PoolAllocator<T>/32");

const bool registered = [] {
  using bench::register_patterns;
  register_patterns<CmMemoryPool>("pool", "cm::MemoryPool", node, 16);
  register_patterns<CmPoolAllocator>("pool", "cm-typed::PoolAllocator", node, 16);
  register_patterns<HandFreeList>("pool", "hand-written free list", node, 16);
  register_patterns<FoonathanPool>("pool", "foonathan::memory_pool", node, 16);
  register_patterns<PmrPool>("pool", "pmr::unsynchronized_pool_resource", node, 16);
  register_patterns<BoostPool>("pool", "boost::pool", node, 16);
  register_patterns<BoostObjectPool>("pool", "boost::object_pool", node, 16);
  register_patterns<ProcessMalloc>("pool", "malloc", node, 16);
  return true;
}();

}  // namespace
