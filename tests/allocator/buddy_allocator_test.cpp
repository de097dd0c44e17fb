#include <core/memory/allocator/buddy_allocator.hpp>

#include <gtest/gtest.h>

#include "support/allocator_conformance.hpp"
#include "support/misuse_capture.hpp"

namespace cm = core::memory;

TEST(BuddyAllocator, SplitsAndMergesExactly) {
  cm::BuddyAllocator buddy(64, 4096);
  EXPECT_EQ(buddy.largest_free_block(), 4096u);
  void* a = buddy.allocate(64);
  EXPECT_EQ(buddy.largest_free_block(), 2048u);
  void* b = buddy.allocate(64);
  EXPECT_EQ(static_cast<std::byte*>(b) - static_cast<std::byte*>(a), 64) << "b is a's buddy";
  void* c = buddy.allocate(1000);  // a 1024 block
  EXPECT_TRUE(cm::is_aligned(c, 1024));
  EXPECT_EQ(buddy.bytes_allocated(), 64u + 64u + 1024u);
  EXPECT_EQ(buddy.bytes_requested(), 64u + 64u + 1000u);
  buddy.deallocate(a, 64);
  buddy.deallocate(b, 64);
  buddy.deallocate(c, 1000);
  EXPECT_EQ(buddy.largest_free_block(), 4096u) << "everything merged back into one block";
  EXPECT_EQ(buddy.bytes_allocated(), 0u);
}

TEST(BuddyAllocator, BlocksAreAlignedToTheirSize) {
  cm::BuddyAllocator buddy(16, 1 << 20);
  test::BlockChecker blocks;
  std::vector<test::LiveBlock> live;
  for (std::size_t align = 1; align <= 4096; align <<= 1) {
    for (std::size_t size : {std::size_t{1}, std::size_t{17}, std::size_t{100}, std::size_t{3000}}) {
      void* p = buddy.allocate(size, align);
      blocks.add(p, size, align);
      EXPECT_TRUE(cm::is_aligned(p, cm::next_power_of_two(std::max({size, align, std::size_t{16}}))));
      live.push_back({p, size, align});
    }
  }
  blocks.verify_all();
  for (auto& b : live) buddy.deallocate(b.p, b.size, b.align);
  EXPECT_EQ(buddy.largest_free_block(), 1u << 20);
}

TEST(BuddyAllocator, InternalFragmentationIsReported) {
  cm::BuddyAllocator buddy(64, 1 << 16);
  EXPECT_EQ(buddy.internal_fragmentation(), 0.0);
  void* p = buddy.allocate(65);  // takes a 128-byte block
  EXPECT_DOUBLE_EQ(buddy.internal_fragmentation(), 1.0 - 65.0 / 128.0);
  void* q = buddy.allocate(128);
  EXPECT_DOUBLE_EQ(buddy.internal_fragmentation(), 1.0 - 193.0 / 256.0);
  buddy.deallocate(p, 65);
  buddy.deallocate(q, 128);
}

// allocate_at_least may be freed with any size from the one asked for to the one reported: the
// requested bytes must balance either way (they wrapped below zero when freed with the latter).
TEST(BuddyAllocator, RequestedBytesBalanceWhateverSizeAnAtLeastBlockIsFreedWith) {
  cm::BuddyAllocator buddy(64, 1 << 16);
  void* keep = buddy.allocate(64);
  for (std::size_t freed_with : {std::size_t{100}, std::size_t{128}, std::size_t{120}}) {
    const auto r = buddy.allocate_at_least(100);
    ASSERT_EQ(r.size, 128u);
    EXPECT_EQ(buddy.bytes_requested(), 64u + 128u);
    buddy.deallocate(r.ptr, freed_with);
    EXPECT_EQ(buddy.bytes_requested(), 64u) << "freed with " << freed_with;
    EXPECT_DOUBLE_EQ(buddy.internal_fragmentation(), 0.0);
    void* p = buddy.allocate(100);  // the same block, asked for by allocate: counted as asked
    EXPECT_EQ(p, r.ptr);
    EXPECT_EQ(buddy.bytes_requested(), 164u);
    buddy.deallocate(p, 100);
  }
  buddy.deallocate(keep, 64);
  EXPECT_EQ(buddy.bytes_requested(), 0u);
}

TEST(BuddyAllocator, Conformance) {
  cm::BuddyAllocator buddy(32, 1 << 25);  // room for the ~4000 blocks the model keeps live
  EXPECT_EQ(test::random_model(buddy, 40000, 3000, 256, 5), 0u);
  EXPECT_EQ(buddy.bytes_allocated(), 0u);
  EXPECT_EQ(buddy.largest_free_block(), 1u << 25) << "fully merged after everything was freed";
  test::std_containers(buddy);
}

TEST(BuddyAllocator, ExhaustionAndOversizedRequests) {
  cm::BuddyAllocator buddy(64, 1 << 14);
  test::exhaustion_and_recovery(buddy, 1000, 8);
  EXPECT_EQ(buddy.try_allocate((1 << 14) + 1, 8), nullptr) << "larger than the region";
  test::CountingAllocator upstream;
  cm::BasicBuddyAllocator<test::CountingAllocator> lazy(upstream, 64, 4096);
  EXPECT_EQ(upstream.allocations(), 0u) << "the region is obtained on first use";
  upstream.fail_nth(1);
  EXPECT_EQ(lazy.try_allocate(10, 8), nullptr);
  void* p = lazy.allocate(10, 8);
  lazy.deallocate(p, 10, 8);
}

TEST(BuddyAllocator, MisuseIsReportedWhenChecked) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  test::MisuseCapture capture;
  cm::BuddyAllocator buddy(64, 4096);
  void* a = buddy.allocate(64);
  void* b = buddy.allocate(64);
  buddy.deallocate(a, 64);
  buddy.deallocate(a, 64);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  alignas(64) char local[128];
  buddy.deallocate(local, 64);
  ASSERT_EQ(capture.count(), 2u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  buddy.deallocate(b, 64);
  EXPECT_EQ(buddy.largest_free_block(), 4096u);
}

TEST(BuddyAllocatorDeathTest, DoubleFreeAbortsByDefault) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::BuddyAllocator buddy(64, 4096);
  void* a = buddy.allocate(64);
  buddy.deallocate(a, 64);
  EXPECT_DEATH(buddy.deallocate(a, 64), "double free in core::memory::BuddyAllocator");
}

TEST(BuddyAllocatorDeathTest, AsanSeesUseOfAFreeBlock) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  EXPECT_DEATH(
      {
        cm::BuddyAllocator buddy(64, 4096);
        auto* p = static_cast<volatile char*>(buddy.allocate(64));
        buddy.deallocate(const_cast<char*>(p), 64);
        (void)p[32];
      },
      "use-after-poison");
}
