// Regression tests from a hostile review of the concurrent pools (ConcurrentPool,
// ThreadPoolAllocator): each test names the defect it caught. ThreadSanitizer runs this file.

#include <core/memory/pool/concurrent_pool.hpp>
#include <core/memory/pool/thread_pool_allocator.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <vector>

#include "support/misuse_capture.hpp"

namespace cm = core::memory;

namespace {

/// A RawAllocator serving from one buffer with a poisoned gap (a redzone, as malloc's under
/// ASan) before every block, so that a read of memory the allocator did not hand out is
/// reported by AddressSanitizer.
class RedzoneArena {
 public:
  static constexpr const char* allocator_name = "test::RedzoneArena";
  static constexpr std::size_t capacity = std::size_t{1} << 20;

  RedzoneArena() : base_(static_cast<std::byte*>(std::aligned_alloc(capacity, capacity))) {
    cm::poison_memory(base_, capacity);
  }
  RedzoneArena(const RedzoneArena&) = delete;
  RedzoneArena& operator=(const RedzoneArena&) = delete;
  ~RedzoneArena() {
    cm::unpoison_memory(base_, capacity);
    std::free(base_);
  }

  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    std::size_t at = (used_ + 64 + align - 1) / align * align;  // at least 64 bytes of redzone
    if (at + size > capacity) return nullptr;
    used_ = at + size;
    cm::unpoison_memory(base_ + at, size);
    return base_ + at;
  }
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) {
    void* p = try_allocate(size, align);
    if (!p) std::abort();
    return p;
  }
  void deallocate(void* p, std::size_t size, std::size_t) noexcept { cm::poison_memory(p, size); }

 private:
  std::byte* base_;
  std::size_t used_ = 0;
};

// Defect: a block whose slab is spare (back in the depot after a flush) had its slab header
// read although the depot poisons it: owns() -- a query valid on any pointer -- and the
// hardened check of a double free crashed under ASan instead of answering or reporting.
TEST(ConcurrentReview, OwnsAndDoubleFreeOfABlockWhoseSlabIsSpare) {
  test::MisuseCapture capture;
  {
    cm::ConcurrentPool pool(32, 8);
    void* p = pool.allocate_node();
    pool.deallocate_node(p);
    pool.flush_thread_cache();  // the slab is empty: it goes to the depot
    EXPECT_FALSE(pool.owns(p)) << "a block of a spare slab is no block of the pool";
#if CORE_MEMORY_CHECK_LEVEL >= 1
    pool.deallocate_node(p);
    ASSERT_EQ(capture.count(), 1u);
#if CORE_MEMORY_CHECK_LEVEL >= 3
    EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
#endif
#endif
  }
  {
    cm::ThreadPoolAllocator a;
    void* p = a.allocate(64, 16);
    a.deallocate(p, 64, 16);
    a.flush_thread_cache();
    EXPECT_FALSE(a.owns(p));
#if CORE_MEMORY_CHECK_LEVEL >= 1
    a.deallocate(p, 64, 16);
    ASSERT_EQ(capture.count(), 2u);
#if CORE_MEMORY_CHECK_LEVEL >= 3
    EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
#endif
#endif
  }
}

// Defect: the hardened check of a correct free of a large block (one that went upstream) masked
// its address and read a "slab header" there -- memory outside any allocation of the pool (the
// redzone in front of the block here; unmapped memory in general). SlabAllocator had the same
// defect fixed before: the check belongs to the expensive tier, by an exact slab lookup.
TEST(ConcurrentReview, CorrectLargeFreesReadNoMemoryOutsideTheirBlock) {
  test::MisuseCapture capture;
  {
    RedzoneArena arena;
    cm::BasicConcurrentPool<RedzoneArena> pool(arena, 64, 16, 8);
    std::vector<void*> nodes;
    nodes.push_back(pool.allocate_node());  // first slab
    void* large = pool.allocate(100, 16);   // after it, behind a redzone
    while (pool.chunks_allocated() < 2) nodes.push_back(pool.allocate_node());  // a slab above it
    pool.deallocate(large, 100, 16);
    for (void* p : nodes) pool.deallocate_node(p);
  }
  {
    RedzoneArena arena;
    cm::BasicThreadPoolAllocator<RedzoneArena> a(arena);
    std::vector<void*> blocks;
    blocks.push_back(a.allocate(16, 16));
    void* large = a.allocate(3000, 16);
    while (a.bytes_allocated() < 2 * 4096) blocks.push_back(a.allocate(16, 16));
    a.deallocate(large, 3000, 16);
    for (void* p : blocks) a.deallocate(p, 16, 16);
  }
  EXPECT_EQ(capture.count(), 0u);
}

}  // namespace
