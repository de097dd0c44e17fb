// Every size, count and order parameter of every allocator's constructor (and reserve, and the
// typed allocate(n)) at its limits: 0, 1, SIZE_MAX/2, SIZE_MAX, values whose products overflow,
// orders beyond the supported range. Each must construct or fail with the documented error
// (std::bad_array_new_length for size arithmetic that overflows, out_of_memory for memory that
// cannot be had, invalid_size/invalid_alignment through the handler for arguments that are not
// allowed), naming the component; none may hang, crash or divide by zero.

#include <core/memory/allocator/arena.hpp>
#include <core/memory/allocator/buddy_allocator.hpp>
#include <core/memory/allocator/fallback_allocator.hpp>
#include <core/memory/allocator/freelist_allocator.hpp>
#include <core/memory/allocator/pool_allocator.hpp>
#include <core/memory/allocator/segregator.hpp>
#include <core/memory/allocator/slab_allocator.hpp>
#include <core/memory/allocator/stack_allocator.hpp>
#include <core/memory/core/aligned_allocator.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/std_allocator.hpp>
#include <core/memory/pool/growing_pool.hpp>
#include <core/memory/pool/concurrent_pool.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/pool/object_pool.hpp>
#include <core/memory/pool/thread_pool_allocator.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "support/misuse_capture.hpp"

namespace cm = core::memory;

namespace {

constexpr std::size_t max = SIZE_MAX;
constexpr std::size_t sizes[] = {0, 1, 2, 15, 16, 4096, max / 16, max / 8, max / 2, max / 2 + 1, max - 15, max};

/// `n`, hidden from the optimiser (g++ warns about constant sizes beyond PTRDIFF_MAX reaching malloc).
std::size_t opaque(std::size_t n) {
  volatile std::size_t v = n;
  return v;
}

std::string name(const char* component) { return std::string("core::memory::") + component; }

/// `f()` fails with std::bad_array_new_length (without exceptions: dies reporting a bad array
/// length in `component`).
template <class F>
void expect_bad_array_length(F f, const char* component) {
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(f(), std::bad_array_new_length) << component;
#else
  EXPECT_DEATH(f(), "bad array length in " + name(component) + ", size [0-9]+: size arithmetic overflowed");
#endif
}

/// `f()` fails with out_of_memory naming `component` (without exceptions: dies reporting it).
template <class F>
void expect_out_of_memory(F f, const char* component) {
#if CORE_MEMORY_EXCEPTIONS
  try {
    f();
    ADD_FAILURE() << component << ": no exception";
  } catch (const cm::out_of_memory& e) {
    EXPECT_EQ(e.allocator(), name(component));
  }
#else
  EXPECT_DEATH(f(), "out of memory in " + name(component));
#endif
}

/// Allocates, writes and frees `size` bytes: the allocator works.
template <class A>
void expect_usable(A& a, std::size_t size = 24) {
  void* p = a.allocate(size, 8);
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, size);
  a.deallocate(p, size, 8);
}

TEST(ParameterLimits, ArenaBlockSize) {
  for (std::size_t block : sizes) {
    cm::Arena arena(block);
    expect_usable(arena);
    EXPECT_EQ(arena.try_allocate(max / 2), nullptr);
    EXPECT_EQ(arena.try_allocate(max), nullptr);
    EXPECT_EQ(arena.try_allocate(max - 8, 4096), nullptr);
    expect_out_of_memory([&] { (void)arena.allocate(max); }, "Arena");
    expect_bad_array_length([&] { (void)arena.allocate<std::uint64_t>(max / 4); }, "Arena");
    expect_usable(arena);
  }
  std::byte buffer[64];
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{48}, std::size_t{64}}) {
    cm::Arena arena(std::span<std::byte>(buffer, n));
    expect_usable(arena);
  }
}

TEST(ParameterLimits, StackAndFreeListCapacity) {
  for (std::size_t capacity : sizes) {
    cm::StackAllocator stack(capacity);
    cm::FreeListAllocator fl(capacity);
    const bool small = capacity < 64;
    const bool huge = capacity > (std::size_t{1} << 40);
    if (!small && !huge) {
      expect_usable(stack);
      expect_usable(fl);
    }
    EXPECT_EQ(stack.try_allocate(max), nullptr);
    EXPECT_EQ(fl.try_allocate(max), nullptr);
    EXPECT_EQ(fl.try_allocate(max - 7), nullptr);
    if (small || huge) {
      expect_out_of_memory([&] { (void)stack.allocate(64); }, "StackAllocator");
      expect_out_of_memory([&] { (void)fl.allocate(64); }, "FreeListAllocator");
    }
  }
}

TEST(ParameterLimits, BuddyBlockSizesAndOrders) {
  struct Row {
    std::size_t min_block, max_block;
    bool valid;
  };
  const std::size_t top = std::size_t{1} << 63;
  const Row rows[] = {
      {0, 1024, false},          {1, 1024, false},           {8, 1024, false},   {48, 1024, false},
      {64, 1000, false},         {1024, 64, false},          {64, max, false},   {max, max, false},
      {16, 16 << 20, true},      {64, 64, true},             {top, top, true},   {16, std::size_t{16} << 47, true},
      {16, std::size_t{16} << 48, false},
      {16, std::size_t{16} << 46, true}, {64, top, false},   {std::size_t{1} << 17, top, true},
  };
  for (const Row& r : rows) {
    test::MisuseCapture capture;
    cm::BuddyAllocator buddy(opaque(r.min_block), opaque(r.max_block));
    if (r.valid) {
      EXPECT_EQ(capture.count(), 0u) << r.min_block << ' ' << r.max_block;
      EXPECT_EQ(buddy.max_block_size(), r.max_block);
      if (r.max_block <= (std::size_t{1} << 30)) {
        expect_usable(buddy);
      } else {
        expect_out_of_memory([&] { (void)buddy.allocate(64); }, "BuddyAllocator");
      }
    } else {
      ASSERT_EQ(capture.count(), 1u) << r.min_block << ' ' << r.max_block;
      EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size);
      EXPECT_EQ(capture.last().allocator, name("BuddyAllocator"));
      EXPECT_NE(capture.last().text.find("max_block " + std::to_string(r.max_block)), std::string::npos)
          << capture.last().text;
      EXPECT_EQ(buddy.min_block_size(), 64u) << "the defaults are used";
      EXPECT_EQ(buddy.max_block_size(), std::size_t{1} << 20);
      expect_usable(buddy);
    }
    EXPECT_EQ(buddy.try_allocate(opaque(max)), nullptr);
  }
}

TEST(ParameterLimitsDeathTest, BuddyInvalidSizesAbortByDefault) {
  EXPECT_DEATH(cm::BuddyAllocator(16, std::size_t{16} << 48),
               "invalid size in core::memory::BuddyAllocator, size 4503599627370496: block sizes must be "
               "powers of two with 16 <= min_block <= max_block <= min_block << 47 \\(min_block 16, max_block "
               "4503599627370496\\)");
}

TEST(ParameterLimits, SlabCacheObjectSize) {
  // The known instance: a cache for a huge object size hung, crashed or divided by zero.
  for (std::size_t size : sizes) {
    for (bool caching : {false, true}) {
      const auto ctor = caching ? +[](void* p) { std::memset(p, 0, 8); } : nullptr;
      if (size >= max / 16) {  // 8 objects (and the slab header) exceed 2^63 bytes, or the stride overflows
        expect_bad_array_length([&] { cm::SlabCache cache(size, 16, ctor); }, "SlabCache");
        continue;
      }
      cm::SlabCache cache(size, 16, ctor);
      EXPECT_GE(cache.objects_per_slab(), 1u);
      EXPECT_TRUE(cm::is_power_of_two(cache.slab_size()));
      if (size <= 4096) {
        void* p = cache.allocate_object();
        std::memset(p, 0x5a, size);
        cache.deallocate_object(p);
      } else {
        expect_out_of_memory([&] { (void)cache.allocate_object(); }, "SlabCache");
      }
    }
  }
  for (std::size_t alignment : {std::size_t{1}, std::size_t{4096}}) {
    cm::SlabCache cache(max / 16 - 4096, alignment);  // the largest slab: 2^63 bytes
    EXPECT_EQ(cache.slab_size(), std::size_t{1} << 63);
    expect_out_of_memory([&] { (void)cache.allocate_object(); }, "SlabCache");
  }
  test::MisuseCapture capture;
  for (std::size_t alignment : {std::size_t{0}, std::size_t{24}, std::size_t{8192}, max}) {
    cm::SlabCache cache(64, alignment);
    ASSERT_EQ(capture.count(), 1u);
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
    EXPECT_EQ(capture.last().allocator, name("SlabCache"));
    EXPECT_EQ(capture.last().alignment, alignment);
    test::MisuseCapture::reports().clear();
    void* p = cache.allocate_object();
    cache.deallocate_object(p);
  }
}

TEST(ParameterLimits, MemoryPoolParameters) {
  for (std::size_t node : sizes) {
    for (std::size_t alignment : {std::size_t{1}, std::size_t{16}, std::size_t{1} << 20, std::size_t{1} << 63}) {
      std::size_t stride = 0;
      const bool overflows = cm::add_overflows(node < 16 ? 16 : node, (alignment < 16 ? 16 : alignment) - 1, stride);
      if (overflows) {
        expect_bad_array_length([&] { cm::MemoryPool pool(node, alignment); }, "MemoryPool");
        expect_bad_array_length([&] { cm::GrowingPool pool(node, alignment); }, "GrowingPool");
        continue;
      }
      cm::MemoryPool pool(node, alignment);
      cm::GrowingPool growing(node, alignment);
      if (node <= 4096 && alignment <= (std::size_t{1} << 20)) {
        void* p = pool.allocate_node();
        std::memset(p, 0x5a, node);
        pool.deallocate_node(p);
        growing.deallocate_node(growing.allocate_node());
      } else {
        expect_out_of_memory([&] { (void)pool.allocate_node(); }, "MemoryPool");
        expect_out_of_memory([&] { (void)growing.allocate_node(); }, "GrowingPool");
      }
    }
  }
  // Chunk counts and the node limit.
  for (std::size_t per_chunk : sizes) {
    for (std::size_t max_per_chunk : {std::size_t{0}, std::size_t{1}, max / 2, max}) {
      cm::MemoryPool pool(32, 16, per_chunk, max_per_chunk);
      if (per_chunk <= 4096) {
        for (int i = 0; i < 100; ++i) (void)pool.allocate_node();  // growth never wraps to an empty chunk
        EXPECT_EQ(pool.nodes_allocated(), 100u);
      } else {
        expect_out_of_memory([&] { (void)pool.allocate_node(); }, "MemoryPool");
      }
    }
  }
  for (std::size_t limit : {std::size_t{0}, std::size_t{1}, std::size_t{100}}) {
    cm::MemoryPool pool(32, 16, 0, 0, limit);
    for (std::size_t i = 0; i < limit; ++i) (void)pool.allocate_node();
    expect_out_of_memory([&] { (void)pool.allocate_node(); }, "MemoryPool");
    expect_out_of_memory([&] { pool.reserve(limit + 1); }, "MemoryPool");
    EXPECT_LE(pool.capacity(), limit) << "a reserve beyond max_nodes does not reserve part of it";
  }
  {
    test::MisuseCapture capture;
    for (std::size_t alignment : {std::size_t{0}, std::size_t{24}, max}) {
      cm::GrowingPool bad(32, alignment);
      ASSERT_EQ(capture.count(), 1u);
      EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
      EXPECT_EQ(capture.last().allocator, name("GrowingPool"));
      EXPECT_EQ(capture.last().alignment, alignment);
      test::MisuseCapture::reports().clear();
      EXPECT_EQ(bad.node_alignment(), alignof(std::max_align_t)) << "the default is used";
      bad.deallocate_node(bad.allocate_node());
    }
  }
  cm::MemoryPool pool(32);
  for (std::size_t n : {max / 2, max / 32, max}) expect_out_of_memory([&] { pool.reserve(n); }, "MemoryPool");
  pool.reserve(1000);
  EXPECT_GE(pool.capacity(), 1000u);
}

TEST(ParameterLimits, ObjectPoolAndPoolAllocator) {
  for (std::size_t block : sizes) {
    cm::ObjectPool<std::uint64_t> pool(block);
    if (block <= 4096) {
      pool.release(pool.acquire(7u));
    } else {
      expect_out_of_memory([&] { (void)pool.acquire(7u); }, "ObjectPool");
    }
    expect_out_of_memory([&] { pool.reserve(max); }, "ObjectPool");
  }
  cm::PoolAllocator<std::uint64_t, 1> pool;
  std::uint64_t* one = pool.allocate(1);
  pool.deallocate(one, 1);
  std::uint64_t* none = pool.allocate(0);
  pool.deallocate(none, 0);
  for (std::size_t n : {max / 8 + 1, max / 2, max})
    expect_bad_array_length([&] { (void)pool.allocate(n); }, "PoolAllocator");
  expect_out_of_memory([&] { (void)pool.allocate(opaque(max / 16)); }, "PoolAllocator");
}

TEST(ParameterLimits, ConcurrentPoolsParameters) {
  for (std::size_t node : sizes) {
    if (node >= max / 16) {  // 8 nodes and the slab header exceed 2^63 bytes, or the stride overflows
      expect_bad_array_length([&] { cm::ConcurrentPool pool(node); }, "ConcurrentPool");
      continue;
    }
    cm::ConcurrentPool pool(node);
    if (node <= 4096) {
      void* p = pool.allocate_node();
      std::memset(p, 0x5a, node);
      pool.deallocate_node(p);
    } else {
      expect_out_of_memory([&] { (void)pool.allocate_node(); }, "ConcurrentPool");
    }
  }
  for (std::size_t n : sizes) {  // nodes per chunk and per-thread cache limit: any value is served
    cm::ConcurrentPool pool(32, 16, n, n);
    std::vector<void*> nodes;
    for (int i = 0; i < 3000; ++i) nodes.push_back(pool.allocate_node());
    for (void* p : nodes) pool.deallocate_node(p);
    EXPECT_EQ(pool.nodes_allocated(), 0u);
    cm::ThreadPoolAllocator tpa(n);
    expect_usable(tpa, 100);
  }
  cm::ConcurrentPool pool(32);
  for (std::size_t n : {max / 2, max / 32, max, max / 64})  // one upstream call: refused at once
    expect_out_of_memory([&] { pool.reserve(n); }, "ConcurrentPool");
  EXPECT_EQ(pool.capacity(), 0u) << "a failed reserve reserves nothing";
  pool.reserve(1000);
  EXPECT_GE(pool.capacity(), 1000u);
  test::MisuseCapture capture;
  for (std::size_t alignment : {std::size_t{0}, std::size_t{24}, std::size_t{8192}, max}) {
    cm::ConcurrentPool bad(32, alignment);
    ASSERT_EQ(capture.count(), 1u);
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
    EXPECT_EQ(capture.last().allocator, name("ConcurrentPool"));
    EXPECT_EQ(capture.last().alignment, alignment);
    test::MisuseCapture::reports().clear();
    bad.deallocate_node(bad.allocate_node());
  }
}

TEST(ParameterLimits, HeapAndCompositions) {
  cm::MallocAllocator malloc_heap;
  cm::AlignedAllocator<64> aligned;
  cm::Segregator<256, cm::MemoryPool, cm::MallocAllocator> seg(cm::MemoryPool(256), {});
  cm::FallbackAllocator<cm::StackAllocator, cm::MallocAllocator> fb(cm::StackAllocator(1024), cm::MallocAllocator{});
  for (std::size_t size : {opaque(max / 2), opaque(max - 4096), opaque(max)}) {
    for (std::size_t alignment : {std::size_t{16}, std::size_t{64}, std::size_t{4096}}) {
      EXPECT_EQ(malloc_heap.try_allocate(size, alignment), nullptr);
      EXPECT_EQ(aligned.try_allocate(size, alignment), nullptr);
      EXPECT_EQ(seg.try_allocate(size, alignment), nullptr);
      EXPECT_EQ(fb.try_allocate(size, alignment), nullptr);
    }
  }
  // Kept in a volatile: clang drops an unused malloc and assumes it succeeded.
  static void* volatile sink = nullptr;
  expect_out_of_memory([&] { sink = malloc_heap.allocate(opaque(max)); }, "MallocAllocator");
  expect_out_of_memory([&] { sink = aligned.allocate(opaque(max)); }, "AlignedAllocator");
  EXPECT_EQ(sink, nullptr);
  expect_usable(seg);
  expect_usable(fb);
  cm::Arena arena;
  cm::StdAllocator<std::uint64_t, cm::Arena> typed(arena);
  expect_bad_array_length([&] { (void)typed.allocate(max / 4); }, "Arena");
}

}  // namespace
