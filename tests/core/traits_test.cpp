#include <core/memory/allocator/stack_allocator.hpp>
#include <core/memory/core/aligned_allocator.hpp>
#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/memory_resource.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

namespace {

// Empty and default-constructible: detected stateless; nothing else declared.
struct Minimal {
  void* allocate(std::size_t n, std::size_t) { return std::malloc(n ? n : 1); }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { std::free(p); }
};

// Holds state: not stateless.
struct Stateful : Minimal {
  int id = 0;
};

// Empty, but declares itself otherwise, and thread-safe and 64-aligned.
struct Declared : Minimal {
  static constexpr bool is_stateless = false;
  static constexpr bool is_thread_safe = true;
  static constexpr std::size_t alignment = 64;
  static constexpr const char* allocator_name = "Declared";
};

// A handle: stateful but copied by value.
struct Handle : Minimal {
  static constexpr bool is_handle = true;
  int* target = nullptr;
  friend bool operator==(const Handle& a, const Handle& b) noexcept { return a.target == b.target; }
};

// Throws on exhaustion but has no try_allocate.
struct ThrowsOnBig : Minimal {
  void* allocate(std::size_t n, std::size_t a) {
#if CORE_MEMORY_EXCEPTIONS
    if (n > 100) throw std::bad_alloc();
#endif
    return Minimal::allocate(n, a);
  }
};

struct NotNoexceptFree {
  void* allocate(std::size_t, std::size_t);
  void deallocate(void*, std::size_t, std::size_t);  // not noexcept
};
struct WrongReturn {
  int* allocate(std::size_t, std::size_t);
  void deallocate(void*, std::size_t, std::size_t) noexcept;
};
struct NoFree {
  void* allocate(std::size_t, std::size_t);
};

}  // namespace

static_assert(cm::RawAllocator<Minimal> && cm::RawAllocator<Stateful> && cm::RawAllocator<cm::MallocAllocator>);
static_assert(cm::RawAllocator<cm::AlignedAllocator<64>> && cm::RawAllocator<cm::MemoryResourceAllocator>);
static_assert(cm::RawAllocator<test::CountingAllocator>);
static_assert(!cm::RawAllocator<NotNoexceptFree> && !cm::RawAllocator<WrongReturn> && !cm::RawAllocator<NoFree>);
static_assert(!cm::RawAllocator<int>);

TEST(AllocatorTraits, DetectsFromTheType) {
  using M = cm::allocator_traits<Minimal>;
  static_assert(M::is_stateless && !M::is_thread_safe && !M::is_handle && M::stored_by_value);
  static_assert(M::alignment == 1 && !M::has_try_allocate && !M::has_owns && !M::has_bytes_allocated);

  using S = cm::allocator_traits<Stateful>;
  static_assert(!S::is_stateless && !S::stored_by_value);

  using D = cm::allocator_traits<Declared>;
  static_assert(!D::is_stateless && D::is_thread_safe && D::alignment == 64 && !D::stored_by_value);

  using H = cm::allocator_traits<Handle>;
  static_assert(!H::is_stateless && H::is_handle && H::stored_by_value);

  using Mal = cm::allocator_traits<cm::MallocAllocator>;
  static_assert(Mal::is_stateless && Mal::is_thread_safe && Mal::alignment == alignof(std::max_align_t));
  static_assert(Mal::has_try_allocate);

  using Al = cm::allocator_traits<cm::AlignedAllocator<256>>;
  static_assert(Al::is_stateless && Al::is_thread_safe && Al::alignment == 256);

  using C = cm::allocator_traits<test::CountingAllocator>;
  static_assert(!C::is_stateless && C::has_try_allocate && C::has_owns && C::has_bytes_allocated &&
                C::has_bytes_available);

  using R = cm::allocator_traits<cm::MemoryResourceAllocator>;
  static_assert(R::is_handle && R::stored_by_value && !R::is_thread_safe);

  EXPECT_STREQ(D::name, "Declared");
  EXPECT_STREQ(M::name, "allocator");
  EXPECT_STREQ(Mal::name, "core::memory::MallocAllocator");
}

TEST(AllocatorTraits, StatelessReferenceIsEmpty) {
  static_assert(sizeof(cm::detail::allocator_ref<Minimal>) == 1);
  static_assert(sizeof(cm::detail::allocator_ref<Stateful>) == sizeof(void*));
  Stateful a, b;
  EXPECT_TRUE(cm::detail::allocator_ref<Stateful>(a) == cm::detail::allocator_ref<Stateful>(a));
  EXPECT_FALSE(cm::detail::allocator_ref<Stateful>(a) == cm::detail::allocator_ref<Stateful>(b));
  EXPECT_EQ(&cm::detail::allocator_ref<Stateful>(a).get(), &a);
  int x = 0, y = 0;
  Handle h1{{}, &x}, h2{{}, &x}, h3{{}, &y};
  EXPECT_TRUE(cm::detail::allocator_ref<Handle>(h1) == cm::detail::allocator_ref<Handle>(h2));
  EXPECT_FALSE(cm::detail::allocator_ref<Handle>(h1) == cm::detail::allocator_ref<Handle>(h3));
}

TEST(AllocatorTraits, TryAllocateFallsBackToCatching) {
  ThrowsOnBig a;
  using T = cm::allocator_traits<ThrowsOnBig>;
  void* p = T::try_allocate(a, 10, 8);
  ASSERT_NE(p, nullptr);
  T::deallocate(a, p, 10, 8);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_EQ(T::try_allocate(a, 1000, 8), nullptr);
#endif
}

TEST(AllocatorTraits, MaxSizeAndOwns) {
  Minimal m;
  EXPECT_EQ(cm::allocator_traits<Minimal>::max_size(m), static_cast<std::size_t>(PTRDIFF_MAX));
  test::CountingAllocator c;
  void* p = c.allocate(16, 8);
  EXPECT_TRUE(cm::allocator_traits<test::CountingAllocator>::owns(c, p));
  int other = 0;
  EXPECT_FALSE(cm::allocator_traits<test::CountingAllocator>::owns(c, &other));
  c.deallocate(p, 16, 8);
}

TEST(AllocatorTraits, AllocateManyIsAllOrNothing) {
  using T = cm::allocator_traits<test::CountingAllocator>;
  test::CountingAllocator c;
  void* blocks[8] = {};
  T::allocate_many(c, blocks, 8, 24, 8);
  EXPECT_EQ(c.live_blocks(), 8u);
  T::deallocate_many(c, blocks, 8, 24, 8);
  EXPECT_EQ(c.live_blocks(), 0u);
  EXPECT_EQ(c.errors(), 0u);
#if CORE_MEMORY_EXCEPTIONS
  for (std::size_t k = 1; k <= 8; ++k) {
    c.fail_nth(k);
    EXPECT_THROW(T::allocate_many(c, blocks, 8, 24, 8), cm::out_of_memory) << k;
    EXPECT_EQ(c.live_blocks(), 0u) << "blocks obtained before failure " << k << " were returned";
  }
  c.fail_nth(0);
#endif
}

// A stack takes its blocks back newest first only: allocate_many's rollback and deallocate_many
// free the last block first (in the other order every free but the last was a LIFO violation, and
// the stack kept them: a failed all-or-nothing call held 240 of 256 bytes).
TEST(AllocatorTraits, ManyBlocksGoBackToAStackNewestFirst) {
  using T = cm::allocator_traits<cm::StackAllocator>;
  test::MisuseCapture capture;
  cm::StackAllocator stack(256);
  void* blocks[32] = {};
  T::allocate_many(stack, blocks, 4, 16, 16);
  T::deallocate_many(stack, blocks, 4, 16, 16);
  EXPECT_EQ(stack.bytes_used(), 0u);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(T::allocate_many(stack, blocks, 32, 16, 16), cm::out_of_memory);
  EXPECT_EQ(stack.bytes_used(), 0u) << "all or nothing";
#endif
  EXPECT_EQ(capture.count(), 0u) << (capture.count() ? capture.last().text : "");
}
