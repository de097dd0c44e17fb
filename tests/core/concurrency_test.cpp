// The thread-safe heap allocators under real threads (ThreadSanitizer in CI), in the style of
// mimalloc's stress test: blocks move between threads through shared slots and carry a cookie
// that is verified when another thread frees them.

#include <core/memory/core/aligned_allocator.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/memory_resource.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace cm = core::memory;

namespace {

constexpr std::size_t slots = 256;

struct Header {
  std::uint64_t cookie;
  std::size_t size;
};

template <class Allocate, class Free>
std::size_t stress(Allocate allocate, Free free_block, std::size_t alignment) {
  std::vector<std::atomic<void*>> shared(slots);
  std::atomic<std::size_t> bad{0};
  const int threads = 4;
#if defined(__SANITIZE_THREAD__)
  const int ops = 5000;
#else
  const int ops = 40000;
#endif
  auto worker = [&](unsigned seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < ops; ++i) {
      const std::size_t size = sizeof(Header) + rng() % 512;
      auto* p = static_cast<Header*>(allocate(size, alignment));
      if (!cm::is_aligned(p, alignment)) bad.fetch_add(1);
      p->size = size;
      p->cookie = reinterpret_cast<std::uintptr_t>(p) ^ 0x9E3779B97F4A7C15ull;
      std::memset(p + 1, 0x5A, size - sizeof(Header));
      void* old = shared[rng() % slots].exchange(p, std::memory_order_acq_rel);
      if (old) {
        auto* h = static_cast<Header*>(old);
        if (h->cookie != (reinterpret_cast<std::uintptr_t>(h) ^ 0x9E3779B97F4A7C15ull)) bad.fetch_add(1);
        free_block(h, h->size, alignment);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, 1234u + static_cast<unsigned>(t));
  for (auto& th : pool) th.join();
  for (auto& s : shared)
    if (void* p = s.load()) free_block(p, static_cast<Header*>(p)->size, alignment);
  return bad.load();
}

}  // namespace

TEST(HeapAllocatorsConcurrency, MallocAllocatorCrossThreadFrees) {
  cm::MallocAllocator a;
  EXPECT_EQ(stress([&](std::size_t n, std::size_t al) { return a.allocate(n, al); },
                   [&](void* p, std::size_t n, std::size_t al) { a.deallocate(p, n, al); }, 16),
            0u);
}

TEST(HeapAllocatorsConcurrency, AlignedAllocatorCrossThreadFrees) {
  cm::AlignedAllocator<256> a;
  EXPECT_EQ(stress([&](std::size_t n, std::size_t al) { return a.allocate(n, al); },
                   [&](void* p, std::size_t n, std::size_t al) { a.deallocate(p, n, al); }, 256),
            0u);
}

TEST(HeapAllocatorsConcurrency, SharedPmrAdapter) {
  static_assert(cm::allocator_traits<cm::MallocAllocator>::is_thread_safe);
  cm::MemoryResourceAdapter<cm::MallocAllocator> resource;
  std::pmr::memory_resource* r = &resource;
  EXPECT_EQ(stress([&](std::size_t n, std::size_t al) { return r->allocate(n, al); },
                   [&](void* p, std::size_t n, std::size_t al) { r->deallocate(p, n, al); }, 64),
            0u);
}
