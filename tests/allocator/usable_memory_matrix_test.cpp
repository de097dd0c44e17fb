// Defect class: promises about usable memory (issue 9, class 5), for every allocator:
// - allocate_at_least never reports more than the block holds, and every reported byte may be
//   written (under AddressSanitizer an overrun or a still-poisoned byte is reported); the block
//   can be freed with the size asked for or the size reported (C++23's rule);
// - StdAllocator::can_allocate never says false for a request that then succeeds;
// - owns(p) is true for every block of an allocator that claims owns_every_block (what
//   FallbackAllocator routes its frees by), oversized and over-aligned blocks included;
// - max_size() is exact: max_size() + 1 bytes always fail, and an allocator of fixed capacity
//   serves max_size() bytes when fresh.

#include <core/memory.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "support/allocator_subjects.hpp"
#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

namespace {

constexpr std::size_t sizes[] = {0,    1,    7,    8,    9,    15,   16,   17,   24,   31,   33,   48,
                                 63,   64,   65,   100,  127,  128,  129,  255,  256,  257,  1000, 2047,
                                 2048, 2049, 3001, 4095, 4096, 4097, 10000, 70000};
constexpr std::size_t alignments[] = {1, 2, 8, 16, 32, 64, 256, 4096};

/// `n`, hidden from the optimiser (g++ warns about a constant malloc size above PTRDIFF_MAX).
std::size_t opaque(std::size_t n) {
  __asm__ __volatile__("" : "+r"(n));
  return n;
}

template <class S>
class UsableMemory : public test::subjects::Fixture<S> {};

TYPED_TEST_SUITE(UsableMemory, test::subjects::All, test::subjects::Names);

TYPED_TEST(UsableMemory, AllocateAtLeastReportsOnlyWritableBytes) {
  using traits = cm::allocator_traits<typename TypeParam::allocator>;
  struct Live {
    void* p;
    std::size_t size, usable;
  };
  for (bool free_reported : {false, true}) {
    for (std::size_t align : alignments) {
      std::vector<Live> live;
      for (std::size_t size : sizes) {
        SCOPED_TRACE(testing::Message() << "size " << size << " alignment " << align);
        const cm::allocation_result r = traits::allocate_at_least(this->a, size, align);
        ASSERT_NE(r.ptr, nullptr);
        EXPECT_GE(r.size, size);
        EXPECT_TRUE(cm::is_aligned(r.ptr, align));
        std::memset(r.ptr, 0xA5, r.size);  // every reported byte: ASan sees an overrun or a poisoned byte
        live.push_back({r.ptr, size, r.size});
      }
      for (auto it = live.rbegin(); it != live.rend(); ++it)  // newest first, for the stack
        this->a.deallocate(it->p, free_reported ? it->usable : it->size, align);
    }
  }
}

TYPED_TEST(UsableMemory, StdAllocatorAllocateAtLeastCountsWholeObjects) {
  cm::StdAllocator<std::uint64_t, typename TypeParam::allocator> alloc(this->a);
  for (std::size_t n : {1, 2, 3, 5, 17, 100, 375, 1000}) {
    auto [p, count] = alloc.allocate_at_least(n);
    ASSERT_GE(count, n);
    std::fill_n(p, count, std::uint64_t{42});
    alloc.deallocate(p, n);
  }
}

/// can_allocate(n) against the real allocation of n objects of T, for n around every limit.
template <class T, class A>
void check_can_allocate(A& a) {
  using traits = cm::allocator_traits<A>;
  cm::StdAllocator<T, A> alloc(a);
  std::vector<std::size_t> counts = {0, 1, 2, 3, 100, 1000, 4096, 10000, std::size_t{1} << 17, alloc.max_size(),
                                     alloc.max_size() + 1};
  if constexpr (traits::has_bytes_available) {
    const std::size_t n = a.bytes_available() / sizeof(T);
    counts.insert(counts.end(), {n - 1, n, n + 1});
  }
  for (std::size_t n : counts) {
    SCOPED_TRACE(testing::Message() << n << " objects of " << sizeof(T) << " bytes");
    const bool can = alloc.can_allocate(n);
    std::size_t bytes = 0;
    if (cm::mul_overflows(opaque(n), sizeof(T), bytes)) continue;
    void* p = test::escape(traits::try_allocate(a, bytes, alignof(T)));  // clang elides a malloc/free pair
    if (p) {
      EXPECT_TRUE(can) << "can_allocate said false, the allocation succeeded";
      a.deallocate(p, bytes, alignof(T));
    }
  }
}

TYPED_TEST(UsableMemory, CanAllocateIsNeverFalseWhenAllocationSucceeds) {
  if (!TypeParam::graceful) GTEST_SKIP() << "exhaustion of a std::pmr resource cannot be caught without exceptions";
  check_can_allocate<unsigned char>(this->a);  // fresh
  check_can_allocate<std::uint64_t>(this->a);
  std::vector<void*> held;
  for (int i = 0; i < 3; ++i) held.push_back(this->a.allocate(1000, 16));
  check_can_allocate<unsigned char>(this->a);  // in use
  check_can_allocate<std::uint64_t>(this->a);
  for (auto it = held.rbegin(); it != held.rend(); ++it) this->a.deallocate(*it, 1000, 16);
}

TYPED_TEST(UsableMemory, MaxSizeIsExact) {
  if (!TypeParam::graceful) GTEST_SKIP() << "exhaustion of a std::pmr resource cannot be caught without exceptions";
  using traits = cm::allocator_traits<typename TypeParam::allocator>;
  test::MisuseCapture capture;
  const std::size_t max = opaque(traits::max_size(this->a));
  EXPECT_EQ((cm::StdAllocator<std::uint64_t, typename TypeParam::allocator>(this->a).max_size()), max / 8);
  if (TypeParam::bounded) {  // fresh: the whole capacity in one request
    void* p = test::escape(traits::try_allocate(this->a, max, 1));
    ASSERT_NE(p, nullptr) << "max_size() " << max << " cannot be allocated";
    std::memset(p, 1, max);
    this->a.deallocate(p, max, 1);
  }
  ASSERT_LT(max, SIZE_MAX);
  EXPECT_EQ(test::escape(traits::try_allocate(this->a, max + 1, 1)), nullptr);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(test::escape(this->a.allocate(max + 1, 1)), std::bad_alloc);
#endif
  EXPECT_EQ(capture.count(), 0u);
}

TYPED_TEST(UsableMemory, OwnsTellsEveryBlockWhenItClaimsTo) {
  using traits = cm::allocator_traits<typename TypeParam::allocator>;
  if constexpr (!traits::owns_every_block) {
    GTEST_SKIP() << (traits::has_owns ? "owns() tells only some blocks (declared)" : "no owns()");
  } else {
    for (std::size_t align : alignments) {
      std::vector<std::pair<void*, std::size_t>> live;
      for (std::size_t size : sizes) {
        void* p = traits::try_allocate(this->a, size, align);
        if (!p) continue;  // a bounded allocator may run out
        EXPECT_TRUE(traits::owns(this->a, p)) << "size " << size << " alignment " << align;
        live.emplace_back(p, size);
      }
      for (auto it = live.rbegin(); it != live.rend(); ++it) traits::deallocate(this->a, it->first, it->second, align);
    }
  }
}

}  // namespace
