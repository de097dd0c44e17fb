#include <core/memory/allocator/arena.hpp>
#include <core/memory/allocator/buddy_allocator.hpp>
#include <core/memory/allocator/fallback_allocator.hpp>
#include <core/memory/allocator/pool_allocator.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/allocator/segregator.hpp>
#include <core/memory/allocator/slab_allocator.hpp>
#include <core/memory/allocator/stack_allocator.hpp>
#include <core/memory/core/std_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>

#include <gtest/gtest.h>

#include "support/allocator_conformance.hpp"

namespace cm = core::memory;

namespace {
/// A pool of 64-byte nodes that can be default-constructed (for the segregator).
struct SmallPool : cm::MemoryPool {
  SmallPool() : cm::MemoryPool(64) {}
};
}  // namespace

TEST(Segregator, RoutesBySize) {
  cm::Segregator<64, SmallPool, cm::MallocAllocator> seg;
  static_assert(cm::RawAllocator<decltype(seg)>);
  void* small = seg.allocate(40, 8);
  void* large = seg.allocate(4000, 8);
  EXPECT_TRUE(seg.small().owns(small));
  EXPECT_FALSE(seg.small().owns(large));
  EXPECT_EQ(seg.allocate_at_least(10, 8).size, 64u);
  seg.deallocate(small, 40, 8);
  seg.deallocate(large, 4000, 8);
  EXPECT_EQ(test::random_model(seg, 20000, 300, 16, 4), 0u);
  test::std_containers(seg);
}

TEST(FallbackAllocator, OverflowsIntoTheFallback) {
  using Stack = cm::StackAllocator;
  struct SmallStack : Stack {
    SmallStack() : Stack(1024) {}
  };
  cm::FallbackAllocator<SmallStack, cm::MallocAllocator> fb;
  void* a = fb.allocate(800, 16);
  void* b = fb.allocate(800, 16);  // does not fit the stack any more
  EXPECT_TRUE(fb.primary().owns(a));
  EXPECT_FALSE(fb.primary().owns(b));
  EXPECT_TRUE(fb.owns(a));
  fb.deallocate(b, 800, 16);
  fb.deallocate(a, 800, 16);
  EXPECT_EQ(fb.primary().bytes_used(), 0u);
}

TEST(AllocateAtLeast, ReportsWhatEachStrategyRoundsTo) {
  cm::BuddyAllocator buddy(64, 1 << 16);
  auto r = cm::allocator_traits<cm::BuddyAllocator>::allocate_at_least(buddy, 100, 8);
  EXPECT_EQ(r.size, 128u);
  buddy.deallocate(r.ptr, 100, 8);
  cm::SlabAllocator slab;
  EXPECT_EQ(slab.allocate_at_least(50, 8).size, 64u);
  cm::Arena arena;
  EXPECT_EQ(arena.allocate_at_least(5).size, 16u);
  cm::MallocAllocator heap;
  r = cm::allocator_traits<cm::MallocAllocator>::allocate_at_least(heap, 100, 8);
  EXPECT_EQ(r.size, 100u) << "allocators that cannot tell report the request";
  heap.deallocate(r.ptr, 100, 8);
  cm::StdAllocator<int, cm::BuddyAllocator> typed(buddy);
  auto t = typed.allocate_at_least(20);  // 80 bytes: a 128-byte block holds 32 ints
  EXPECT_EQ(t.count, 32u);
  typed.deallocate(t.ptr, 20);
  EXPECT_EQ(buddy.bytes_allocated(), 0u);
}

// Routing frees by Primary::owns needs an owns() that tells every block: a pool passes requests
// it cannot serve to its upstream and does not know those blocks, so it cannot be a Primary
// (its large blocks' frees reached the Fallback: a BuddyAllocator wrote outside its region).
static_assert(!cm::allocator_traits<cm::MemoryPool>::owns_every_block);
static_assert(!cm::allocator_traits<cm::PoolAllocator<int>>::owns_every_block);
static_assert(!cm::allocator_traits<cm::SlabAllocator>::owns_every_block);
static_assert(cm::allocator_traits<cm::StackAllocator>::owns_every_block);
static_assert(cm::allocator_traits<cm::Arena>::owns_every_block);
static_assert(cm::allocator_traits<cm::BuddyAllocator>::owns_every_block);
static_assert(!cm::allocator_traits<cm::FallbackAllocator<cm::StackAllocator, cm::MallocAllocator>>::owns_every_block);
static_assert(cm::allocator_traits<cm::FallbackAllocator<cm::StackAllocator, cm::BuddyAllocator>>::owns_every_block);
static_assert(!cm::allocator_traits<cm::MallocAllocator>::owns_every_block);

TEST(FallbackAllocator, NestedFallbacksRouteEveryBlockHome) {
  struct Stack256 : cm::StackAllocator {
    Stack256() : cm::StackAllocator(256) {}
  };
  struct Buddy4K : cm::BuddyAllocator {
    Buddy4K() : cm::BuddyAllocator(64, 4096) {}
  };
  using Inner = cm::FallbackAllocator<Stack256, Buddy4K>;
  static_assert(cm::allocator_traits<Inner>::owns_every_block);
  cm::FallbackAllocator<Inner, cm::MallocAllocator> fb;
  void* on_stack = fb.allocate(100, 16);
  void* in_buddy = fb.allocate(1000, 16);  // past the stack: the inner fallback
  void* on_heap = fb.allocate(8000, 16);   // past both
  EXPECT_TRUE(fb.primary().primary().owns(on_stack));
  EXPECT_TRUE(fb.primary().fallback().owns(in_buddy));
  EXPECT_FALSE(fb.primary().owns(on_heap));
  fb.deallocate(on_heap, 8000, 16);
  fb.deallocate(in_buddy, 1000, 16);
  fb.deallocate(on_stack, 100, 16);
  EXPECT_EQ(fb.primary().primary().bytes_used(), 0u);
  EXPECT_EQ(fb.primary().fallback().bytes_allocated(), 0u);
}
