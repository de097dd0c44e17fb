#include <core/memory/allocator/freelist_allocator.hpp>

#include <gtest/gtest.h>

#include "support/allocator_conformance.hpp"
#include "support/misuse_capture.hpp"

namespace cm = core::memory;

TEST(FreeListAllocator, CoalescesWithBothNeighbours) {
  cm::FreeListAllocator fl(4096);
  void* a = fl.allocate(100);
  void* b = fl.allocate(100);
  void* c = fl.allocate(100);
  void* d = fl.allocate(100);  // keeps c from merging with the tail
  EXPECT_EQ(fl.free_block_count(), 1u);
  fl.deallocate(a, 100);
  fl.deallocate(c, 100);
  EXPECT_EQ(fl.free_block_count(), 3u);
  fl.deallocate(b, 100);  // merges a, b and c into one
  EXPECT_EQ(fl.free_block_count(), 2u);
  EXPECT_EQ(fl.allocate(320), a) << "the merged block (3 x 112 bytes) serves a request no single one could";
  fl.deallocate(a, 320);
  fl.deallocate(d, 100);
  EXPECT_EQ(fl.free_block_count(), 1u);
  EXPECT_EQ(fl.bytes_allocated(), 0u);
  EXPECT_EQ(fl.largest_free_block(), 4096u - 16u - 8u);
  EXPECT_EQ(fl.fragmentation(), 0.0);
}

TEST(FreeListAllocator, FirstFitAndBestFitChooseDifferently) {
  for (cm::fit_policy policy : {cm::fit_policy::first, cm::fit_policy::best}) {
    cm::FreeListAllocator fl(1 << 16, policy);
    void* big = fl.allocate(500);
    void* sep1 = fl.allocate(16);
    void* small = fl.allocate(40);
    void* sep2 = fl.allocate(16);
    fl.deallocate(small, 40);  // free list: small, big (LIFO), tail
    fl.deallocate(big, 500);   // free list: big, small, tail
    void* p = fl.allocate(40);
    if (policy == cm::fit_policy::first) EXPECT_EQ(p, big) << "first fit takes the first block that fits";
    else EXPECT_EQ(p, small) << "best fit takes the exact block";
    fl.deallocate(p, 40);
    fl.deallocate(sep1, 16);
    fl.deallocate(sep2, 16);
    EXPECT_EQ(fl.free_block_count(), 1u);
  }
}

TEST(FreeListAllocator, FragmentationFigure) {
  cm::FreeListAllocator fl(1 << 14);
  std::vector<void*> blocks;
  for (int i = 0; i < 40; ++i) blocks.push_back(fl.allocate(100));
  for (std::size_t i = 0; i < blocks.size(); i += 2) fl.deallocate(blocks[i], 100);  // holes of 112 bytes
  // 20 holes of 112 bytes beside a tail of 16368 - 40 * 112 = 11888 bytes.
  EXPECT_DOUBLE_EQ(fl.fragmentation(), 1.0 - 11888.0 / (11888.0 + 20 * 112.0));
  EXPECT_EQ(fl.free_block_count(), 21u);
  for (std::size_t i = 1; i < blocks.size(); i += 2) fl.deallocate(blocks[i], 100);
  EXPECT_EQ(fl.fragmentation(), 0.0);
}

TEST(FreeListAllocator, ConformanceFirstFit) {
  cm::FreeListAllocator fl(1 << 24);
  EXPECT_EQ(test::random_model(fl, 30000, 2000, 4096, 11), 0u);
  EXPECT_EQ(fl.bytes_allocated(), 0u);
  EXPECT_EQ(fl.free_block_count(), 1u) << "everything coalesced back";
  test::std_containers(fl);
}

TEST(FreeListAllocator, ConformanceBestFit) {
  cm::FreeListAllocator fl(1 << 24, cm::fit_policy::best);
  EXPECT_EQ(test::random_model(fl, 20000, 2000, 256, 12), 0u);
  EXPECT_EQ(fl.free_block_count(), 1u);
}

TEST(FreeListAllocator, ExhaustionAndCallerBuffer) {
  cm::FreeListAllocator fl(1 << 14);
  test::exhaustion_and_recovery(fl, 300, 16);
  alignas(16) std::byte buffer[2048];
  cm::FreeListAllocator local{std::span<std::byte>(buffer)};
  void* p = local.allocate(1000);
  EXPECT_TRUE(p > static_cast<void*>(buffer) && p < static_cast<void*>(buffer + 2048));
  EXPECT_EQ(local.try_allocate(1200, 8), nullptr);
  local.deallocate(p, 1000);
  EXPECT_NE(local.try_allocate(1200, 8), nullptr);
}

TEST(FreeListAllocator, MisuseIsReportedWhenChecked) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  test::MisuseCapture capture;
  cm::FreeListAllocator fl(4096);
  void* a = fl.allocate(64);
  void* b = fl.allocate(64);
  fl.deallocate(a, 64);
  fl.deallocate(a, 64);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  alignas(16) char local[64];
  fl.deallocate(local + 16, 8);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  fl.deallocate(b, 4000);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size);
  fl.deallocate(b, 64);
  EXPECT_EQ(capture.count(), 3u);
  EXPECT_EQ(fl.free_block_count(), 1u);
}

TEST(FreeListAllocatorDeathTest, AsanSeesOverrunIntoTheNextHeader) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  EXPECT_DEATH(
      {
        cm::FreeListAllocator fl(4096);
        auto* p = static_cast<volatile char*>(fl.allocate(32));
        (void)fl.allocate(32);
        p[40] = 1;
      },
      "use-after-poison");
}

TEST(FreeListAllocatorDeathTest, DoubleFreeAbortsByDefault) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::FreeListAllocator fl(4096);
  void* a = fl.allocate(64);
  (void)fl.allocate(64);
  fl.deallocate(a, 64);
  EXPECT_DEATH(fl.deallocate(a, 64), "double free in core::memory::FreeListAllocator");
}
