#include <core/memory/allocator/stack_allocator.hpp>
#include <core/memory/core/memory_resource.hpp>
#include <core/memory/core/std_allocator.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <memory_resource>
#include <random>
#include <span>
#include <vector>

#include "support/block_checker.hpp"
#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;

TEST(StackAllocator, LifoFreesRestoreTheTopExactly) {
  cm::StackAllocator stack(1 << 16);
  EXPECT_EQ(stack.bytes_available(), 1u << 16) << "nothing allocated before first use";
  void* a = stack.allocate(24, 8);
  const std::size_t after_a = stack.bytes_used();
  void* b = stack.allocate(100, 256);
  void* c = stack.allocate(3, 1);
  EXPECT_TRUE(cm::is_aligned(b, 256));
  stack.deallocate(c, 3, 1);
  stack.deallocate(b, 100, 256);
  // Every build restores the exact top: checked ones from the block's header, release ones from
  // the word below an over-aligned block (a free of a, next, would not end at the top otherwise).
  EXPECT_EQ(stack.bytes_used(), after_a);
  EXPECT_EQ(stack.allocate(100, 256), b) << "freed space is reused at once";
  stack.deallocate(b, 100, 256);
  stack.deallocate(a, 24, 8);
  EXPECT_EQ(stack.bytes_used(), 0u);
  EXPECT_EQ(stack.allocate(24, 8), a);
}

// Strict LIFO with over-aligned blocks gives every byte back in every build (release builds
// kept the padding, and the next free no longer ended at the top: a 256-byte stack ran out).
TEST(StackAllocator, OverAlignedLifoFreesGiveEverythingBack) {
  cm::StackAllocator stack(256);
  for (int i = 0; i < 20; ++i) {
    void* a = stack.allocate(16, 16);
    void* b = stack.allocate(16, 64);
    EXPECT_TRUE(cm::is_aligned(b, 64));
    stack.deallocate(b, 16, 64);
    stack.deallocate(a, 16, 16);
    ASSERT_EQ(stack.bytes_used(), 0u) << "round " << i;
  }
}

// A free that names another alignment than the allocation (misuse, ignored or reported) never
// moves the top into a live block nor touches memory outside it: release builds read the word
// below a block only for the most recent over-aligned one, which they know (a stale top left
// there by an earlier over-aligned block, or a live block's own bytes, used to be taken for it).
TEST(StackAllocator, AFreeWithAnotherAlignmentNeverReachesLiveBlocks) {
  test::MisuseCapture capture;
  cm::StackAllocator stack(4096);
  void* x = stack.allocate(64, 64);
  stack.deallocate(x, 64, 64);
  // y ends where x began: its last word is where x kept the top it was carved from.
  const std::size_t y_size = static_cast<std::size_t>(static_cast<std::byte*>(x) - static_cast<std::byte*>(stack.mark().top));
  auto* y = static_cast<unsigned char*>(stack.allocate(y_size ? y_size : 16, 16));
  std::memset(y, 'Y', y_size ? y_size : 16);
  const std::size_t used = stack.bytes_used();
  void* z = stack.allocate(32, 16);
  stack.deallocate(z, 32, 64);  // another alignment than allocated
  EXPECT_EQ(stack.bytes_used(), used) << "the top goes back to z's start, not below y";
  auto* next = static_cast<unsigned char*>(stack.allocate(16, 16));
  EXPECT_GE(next, y + (y_size ? y_size : 16)) << "a new block inside the live y";
  for (std::size_t i = 0; i < (y_size ? y_size : 16); ++i) ASSERT_EQ(y[i], 'Y') << i;
  // A block at the region's start freed with a large alignment: nothing before the region is read.
  alignas(64) std::byte buffer[512];
  cm::StackAllocator on_buffer{std::span<std::byte>(buffer)};
  void* first = on_buffer.allocate(32, 16);
  on_buffer.deallocate(first, 32, 64);
  EXPECT_EQ(on_buffer.bytes_used(), 0u);
}

TEST(StackAllocator, MarkersRewind) {
  cm::StackAllocator stack(4096);
  const auto start = stack.mark();
  (void)stack.allocate(100);
  const auto m = stack.mark();
  void* p = stack.allocate(200);
  (void)stack.allocate(300);
  stack.rewind(m);
  EXPECT_EQ(stack.allocate(200), p);
  stack.rewind(start);
  EXPECT_EQ(stack.bytes_used(), 0u);
  (void)stack.allocate(10);
  stack.reset();
  EXPECT_EQ(stack.bytes_used(), 0u);
}

// Checked builds accept a marker only where the live stack has a position (the stale-marker
// check walks the headers): no valid sequence may be rejected. Random marks, allocations of odd
// sizes and alignments, in-place frees, and rewinds to any live marker, against a model.
TEST(StackAllocator, EveryLiveMarkerRewinds) {
  cm::StackAllocator stack(1 << 16);
  std::mt19937 rng(5);
  struct Entry {
    bool is_marker;
    cm::StackAllocator::Marker m;
    unsigned char* p;
    std::size_t size, align, used;
  };
  std::vector<Entry> live;  // markers and allocations, oldest first
  auto check = [](const Entry& e) {
    for (std::size_t i = 0; i < e.size; ++i) ASSERT_EQ(e.p[i], static_cast<unsigned char>(e.size + i)) << "block overwritten";
  };
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 4) {
      case 0:
        live.push_back({true, stack.mark(), nullptr, 0, 0, stack.bytes_used()});
        break;
      case 1: {
        const std::size_t size = rng() % 300, align = std::size_t{1} << (rng() % 9);
        auto* p = static_cast<unsigned char*>(stack.try_allocate(size, align));
        if (!p) break;
        for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<unsigned char>(size + i);
        live.push_back({false, {}, p, size, align, 0});
        break;
      }
      case 2:
        if (!live.empty() && !live.back().is_marker) {
          check(live.back());
          stack.deallocate(live.back().p, live.back().size, live.back().align);
          live.pop_back();
        }
        break;
      default: {
        std::vector<std::size_t> markers;
        for (std::size_t i = 0; i < live.size(); ++i)
          if (live[i].is_marker) markers.push_back(i);
        if (markers.empty()) break;
        const std::size_t k = markers[rng() % markers.size()];
        stack.rewind(live[k].m);
        ASSERT_EQ(stack.bytes_used(), live[k].used) << "step " << step;
        live.resize(k + 1);  // the marker itself stays valid
        for (const Entry& e : live)
          if (!e.is_marker) check(e);
      }
    }
  }
}

TEST(StackAllocator, AlignmentSweepAndRandomLifoAgainstAModel) {
  cm::StackAllocator stack(1 << 20);
  test::BlockChecker blocks;
  struct Live {
    void* p;
    std::size_t size, align;
  };
  std::vector<Live> live;
  std::mt19937 rng(3);
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const std::size_t align = std::size_t{1} << (rng() % 13);
      const std::size_t size = rng() % 200;
      void* p = stack.try_allocate(size, align);
      if (!p) continue;  // full: the model frees below
      blocks.add(p, size, align);
      live.push_back({p, size, align});
    } else {
      blocks.remove(live.back().p);
      stack.deallocate(live.back().p, live.back().size, live.back().align);
      live.pop_back();
    }
  }
  blocks.verify_all();
  for (; !live.empty(); live.pop_back()) stack.deallocate(live.back().p, live.back().size, live.back().align);
  EXPECT_EQ(stack.bytes_used(), 0u) << "LIFO frees give every byte back";
}

TEST(StackAllocator, ExhaustionAndCallerBuffer) {
  alignas(16) std::byte buffer[1024];
  cm::StackAllocator stack{std::span<std::byte>(buffer)};
  EXPECT_EQ(stack.capacity(), 1024u);
  void* p = stack.allocate(500);
  EXPECT_GE(static_cast<std::byte*>(p), buffer);
  EXPECT_EQ(stack.try_allocate(600, 8), nullptr);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)stack.allocate(600, 8), cm::out_of_memory);
#endif
  EXPECT_NE(stack.allocate(100, 8), nullptr) << "still usable after a failed request";
}

TEST(StackAllocator, UpstreamFailureAtFirstUse) {
  test::CountingAllocator upstream;
  cm::BasicStackAllocator<test::CountingAllocator> stack(4096, upstream);
  upstream.fail_nth(1);
  EXPECT_EQ(stack.try_allocate(10, 8), nullptr);
  EXPECT_NE(stack.try_allocate(10, 8), nullptr);
  EXPECT_EQ(upstream.live_blocks(), 1u);
}

TEST(StackAllocator, VectorWithReserveAndPmr) {
  cm::StackAllocator stack(1 << 16);
  {
    std::vector<int, cm::StdAllocator<int, cm::StackAllocator>> v(stack);
    v.reserve(1000);
    for (int i = 0; i < 1000; ++i) v.push_back(i);
    EXPECT_TRUE(stack.owns(v.data()));
  }
  EXPECT_EQ(stack.bytes_used(), 0u) << "the vector's only block was the top: freed in place";
  cm::MemoryResourceAdapter<cm::StackAllocator> resource(stack);
  std::pmr::vector<double> pv(&resource);
  pv.reserve(100);
  pv.assign(100, 1.5);
  EXPECT_TRUE(stack.owns(pv.data()));
}

TEST(StackAllocator, NonLifoFreeIsReportedWhenChecked) {
  test::MisuseCapture capture;
  cm::StackAllocator stack(4096);
  void* a = stack.allocate(32);
  void* b = stack.allocate(32);
  stack.deallocate(a, 32);  // b is still live
  EXPECT_EQ(stack.allocate(32, 16) != a, true) << "the early free did not release a's memory";
  alignas(16) long local[8] = {};
  stack.deallocate(local, 4);
  if (cm::checks::hardened) {
    ASSERT_EQ(capture.count(), 2u);
    EXPECT_EQ(test::MisuseCapture::reports()[0].kind, cm::error_kind::lifo_violation);
    EXPECT_EQ(test::MisuseCapture::reports()[0].address, a);
    EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  } else {
    EXPECT_EQ(capture.count(), 0u);
  }
  (void)b;
}

TEST(StackAllocatorDeathTest, NonLifoFreeAbortsByDefault) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::StackAllocator stack(4096);
  void* a = stack.allocate(32);
  (void)stack.allocate(32);
  EXPECT_DEATH(stack.deallocate(a, 32), "LIFO violation in core::memory::StackAllocator");
}

TEST(StackAllocatorDeathTest, AsanSeesUseAfterFree) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  EXPECT_DEATH(
      {
        cm::StackAllocator stack(4096);
        auto* p = static_cast<volatile char*>(stack.allocate(64));
        stack.deallocate(const_cast<char*>(p), 64);
        (void)p[0];
      },
      "use-after-poison");
}
