// MallocAllocator and AlignedAllocator: alignment sweep 1..64 KiB, non-overlap, zero-size
// requests, exhaustion and misuse.

#include <core/memory/core/aligned_allocator.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/util/memory_utils.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <string>
#include <vector>

#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

template <class A>
class HeapAllocatorTest : public ::testing::Test {};
using HeapAllocators = ::testing::Types<cm::MallocAllocator, cm::AlignedAllocator<16>, cm::AlignedAllocator<64>,
                                        cm::AlignedAllocator<4096>>;
TYPED_TEST_SUITE(HeapAllocatorTest, HeapAllocators);

TYPED_TEST(HeapAllocatorTest, AlignmentSweepWithoutOverlap) {
  TypeParam a;
  struct Block {
    unsigned char* p;
    std::size_t size;
    unsigned char tag;
  };
  std::vector<Block> live;
  unsigned char tag = 1;
  for (std::size_t align = 1; align <= 65536; align <<= 1) {
    for (std::size_t size : {std::size_t{1}, std::size_t{3}, std::size_t{64}, std::size_t{1000}, align + 1}) {
      auto* p = static_cast<unsigned char*>(a.allocate(size, align));
      ASSERT_NE(p, nullptr);
      const std::size_t guaranteed = std::max(align, TypeParam::alignment);
      EXPECT_TRUE(cm::is_aligned(p, guaranteed)) << "size " << size << " alignment " << align;
      cm::fill(p, size, tag);
      live.push_back({p, size, tag});
      tag = static_cast<unsigned char>(tag % 250 + 1);
    }
  }
  // Every block still holds its own pattern: no two live blocks overlap.
  for (const Block& b : live) EXPECT_TRUE(cm::check_pattern(b.p, b.size, b.tag));
  std::vector<Block> sorted = live;
  std::sort(sorted.begin(), sorted.end(), [](const Block& x, const Block& y) { return x.p < y.p; });
  for (std::size_t i = 1; i < sorted.size(); ++i) EXPECT_LE(sorted[i - 1].p + sorted[i - 1].size, sorted[i].p);
  std::size_t align = 1, i = 0;
  for (const Block& b : live) {
    a.deallocate(b.p, b.size, align);
    if (++i % 5 == 0) align <<= 1;
  }
}

TYPED_TEST(HeapAllocatorTest, ZeroSizeGivesDistinctFreeableBlocks) {
  TypeParam a;
  void* p = a.allocate(0, 8);
  void* q = a.allocate(0, 8);
  EXPECT_NE(p, nullptr);
  EXPECT_NE(p, q);
  a.deallocate(p, 0, 8);
  a.deallocate(q, 0, 8);
}

TYPED_TEST(HeapAllocatorTest, ExhaustionIsReportedAndRecoverable) {
  TypeParam a;
  const std::size_t huge = static_cast<std::size_t>(PTRDIFF_MAX) - 4096;
  EXPECT_EQ(test::escape(a.try_allocate(huge, 8)), nullptr);
  EXPECT_EQ(test::escape(a.try_allocate(huge, 8192)), nullptr);
#if CORE_MEMORY_EXCEPTIONS
  try {
    test::escape(a.allocate(huge, 64));
    ADD_FAILURE() << "allocate of " << huge << " bytes succeeded";
  } catch (const cm::out_of_memory& e) {
    EXPECT_EQ(e.size(), huge);
    EXPECT_EQ(e.alignment(), 64u);
    EXPECT_NE(std::string(e.what()).find(std::to_string(huge)), std::string::npos);
  }
#endif
  void* p = a.allocate(100, 8);  // still usable
  a.deallocate(p, 100, 8);
}

TYPED_TEST(HeapAllocatorTest, InvalidAlignmentIsMisuse) {
  TypeParam a;
  test::MisuseCapture capture;
  for (std::size_t bad : {std::size_t{0}, std::size_t{3}, std::size_t{24}, std::size_t{4097}}) {
    EXPECT_EQ(a.try_allocate(16, bad), nullptr) << bad;
    ASSERT_EQ(capture.count(), 1u) << bad;
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
    EXPECT_EQ(capture.last().alignment, bad);
    EXPECT_EQ(capture.last().allocator, TypeParam::allocator_name) << "the allocator asked, not the one underneath";
    test::MisuseCapture::reports().clear();
  }
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)a.allocate(16, 48), cm::out_of_memory);
#endif
}

TEST(HeapAllocatorDeathTest, InvalidAlignmentAbortsByDefault) {
  cm::MallocAllocator a;
  EXPECT_DEATH((void)a.try_allocate(16, 12), "invalid alignment in core::memory::MallocAllocator, size 16, alignment 12");
}

TEST(HeapAllocator, AlignedAllocatorRejectsForeignPointers) {
  if (!cm::checks::hardened) GTEST_SKIP() << "foreign-pointer checks are off in this build";
  test::MisuseCapture capture;
  cm::AlignedAllocator<64> a;
  cm::MallocAllocator heap;
  // A 64-aligned block that did not come from AlignedAllocator: its hidden word is garbage.
  auto* foreign = static_cast<unsigned char*>(heap.allocate(256, 64));
  std::memset(foreign, 0, 256);
  a.deallocate(foreign + 64, 32, 64);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  EXPECT_EQ(capture.last().address, foreign + 64);
  heap.deallocate(foreign, 256, 64);
  // Its own blocks pass, through both the carved and the posix_memalign paths.
  for (std::size_t size : {std::size_t{8}, std::size_t{300}, std::size_t{5000}}) {
    for (std::size_t align : {std::size_t{64}, std::size_t{512}, std::size_t{4096}}) {
      void* p = a.allocate(size, align);
      a.deallocate(p, size, align);
    }
  }
  EXPECT_EQ(capture.count(), 1u);
}

TEST(HeapAllocator, PageAndLargerAlignments) {
  cm::AlignedAllocator<> a;
  static_assert(cm::AlignedAllocator<>::alignment == cm::cache_line_size);
  for (std::size_t align : {std::size_t{4096}, std::size_t{1} << 16, std::size_t{1} << 21}) {
    void* p = a.allocate(align * 2, align);
    EXPECT_TRUE(cm::is_aligned(p, align));
    cm::fill(p, align * 2, 0x5A);
    a.deallocate(p, align * 2, align);
  }
}
