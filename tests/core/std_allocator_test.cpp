#include <core/memory/core/aligned_allocator.hpp>
#include <core/memory/core/std_allocator.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/misuse_capture.hpp"
#include "support/test_allocators.hpp"

namespace cm = core::memory;
using test::CountingAllocator;

template <class T>
using Counting = cm::StdAllocator<T, CountingAllocator>;

// The standard Allocator requirements, as std::allocator_traits sees them.
using IntAlloc = cm::StdAllocator<int>;
using IntTraits = std::allocator_traits<IntAlloc>;
static_assert(std::is_same_v<IntTraits::rebind_alloc<double>, cm::StdAllocator<double>>);
static_assert(std::is_same_v<IntTraits::pointer, int*> && std::is_same_v<IntTraits::size_type, std::size_t>);
static_assert(IntTraits::is_always_equal::value && std::is_empty_v<IntAlloc>);
static_assert(std::is_nothrow_copy_constructible_v<IntAlloc> && std::is_default_constructible_v<IntAlloc>);
static_assert(!std::is_default_constructible_v<Counting<int>>, "a stateful allocator must be given");
static_assert(!std::allocator_traits<Counting<int>>::is_always_equal::value);
static_assert(!std::allocator_traits<Counting<int>>::propagate_on_container_move_assignment::value);
static_assert(sizeof(Counting<int>) == sizeof(void*));
static_assert(std::is_nothrow_constructible_v<Counting<long>, const Counting<int>&>);

TEST(StdAllocator, VectorOnStatelessMalloc) {
  std::vector<int, cm::StdAllocator<int>> v;
  for (int i = 0; i < 10000; ++i) v.push_back(i);
  long sum = 0;
  for (int x : v) sum += x;
  EXPECT_EQ(sum, 10000L * 9999 / 2);
  v.shrink_to_fit();
  if (cm::exceptions_enabled) {  // libstdc++ skips shrink_to_fit without exceptions
    EXPECT_EQ(v.capacity(), v.size());
  }
}

TEST(StdAllocator, ContainersAgreeWithStdAndReturnEverything) {
  CountingAllocator counting;
  {
    std::vector<std::string, Counting<std::string>> v(counting);
    std::map<int, std::string, std::less<>, Counting<std::pair<const int, std::string>>> m(counting);
    std::list<int, Counting<int>> l(counting);
    std::vector<std::string> rv;
    std::map<int, std::string> rm;
    std::list<int> rl;
    std::mt19937 rng(7);
    for (int step = 0; step < 4000; ++step) {
      const int key = static_cast<int>(rng() % 500);
      switch (rng() % 6) {
        case 0: v.emplace_back(std::to_string(key) + std::string(key % 40, 'x')), rv.emplace_back(v.back()); break;
        case 1: if (!v.empty()) v.pop_back(), rv.pop_back(); break;
        case 2: m.insert_or_assign(key, std::to_string(step)), rm.insert_or_assign(key, std::to_string(step)); break;
        case 3: m.erase(key), rm.erase(key); break;
        case 4: l.push_front(key), rl.push_front(key); break;
        case 5: if (!l.empty()) l.remove(l.back()), rl.remove(rl.back()); break;
      }
    }
    EXPECT_TRUE(std::equal(v.begin(), v.end(), rv.begin(), rv.end()));
    EXPECT_TRUE(std::equal(m.begin(), m.end(), rm.begin(), rm.end()));
    EXPECT_TRUE(std::equal(l.begin(), l.end(), rl.begin(), rl.end()));
    EXPECT_GT(counting.allocations(), 100u);
    EXPECT_EQ(v.get_allocator().bytes_allocated(), counting.bytes_allocated());
  }
  EXPECT_EQ(counting.live_blocks(), 0u);
  EXPECT_EQ(counting.bytes_allocated(), 0u);
  EXPECT_EQ(counting.errors(), 0u) << "every deallocate matched its allocate's size and alignment";
}

TEST(StdAllocator, ContainersKeepTheirAllocator) {
  CountingAllocator a, b;
  {
    std::vector<int, Counting<int>> va({1, 2, 3}, a);
    std::vector<int, Counting<int>> vb({4, 5, 6, 7}, b);
    va = vb;  // no propagation: vb's elements are copied into a's memory
    EXPECT_EQ(&va.get_allocator().raw_allocator(), &a);
    EXPECT_TRUE(a.owns(va.data()));
    va = std::move(vb);  // unequal allocators: moved element-wise, still in a
    EXPECT_EQ(&va.get_allocator().raw_allocator(), &a);
    EXPECT_TRUE(a.owns(va.data()));
    EXPECT_EQ(va, (std::vector<int, Counting<int>>({4, 5, 6, 7}, b)));
  }
  EXPECT_EQ(a.live_blocks() + b.live_blocks(), 0u);
  EXPECT_EQ(a.errors() + b.errors(), 0u);
}

TEST(StdAllocator, EqualityFollowsTheUnderlyingAllocator) {
  CountingAllocator a, b;
  Counting<int> ia(a), ib(b);
  Counting<double> da(ia);
  EXPECT_TRUE(ia == da);
  EXPECT_FALSE(ia == ib);
  EXPECT_TRUE(ia != ib);
  EXPECT_TRUE(cm::StdAllocator<int>() == cm::StdAllocator<char>());
}

namespace {
struct alignas(128) Wide {
  double lanes[16];
};
}  // namespace

TEST(StdAllocator, OverAlignedTypesGetTheirAlignment) {
  CountingAllocator counting;
  {
    std::vector<Wide, Counting<Wide>> v(counting);
    for (int i = 0; i < 100; ++i) {
      v.push_back(Wide{});
      EXPECT_TRUE(cm::is_aligned(v.data(), 128));
      EXPECT_EQ(counting.alignment_of(v.data()), 128u);
    }
  }
  EXPECT_EQ(counting.errors(), 0u);
}

TEST(StdAllocator, AlignedAndBulkExtras) {
  CountingAllocator counting;
  Counting<float> alloc(counting);
  for (std::size_t a = 1; a <= 65536; a <<= 1) {
    float* p = alloc.allocate_aligned(33, a);
    EXPECT_TRUE(cm::is_aligned(p, a < alignof(float) ? alignof(float) : a));
    alloc.deallocate_aligned(p, 33, a);
  }
  float* blocks[5];
  alloc.allocate_many(blocks, 10);
  EXPECT_EQ(counting.live_blocks(), 5u);
  for (float* b : blocks) std::fill_n(b, 10, 1.0f);
  alloc.deallocate_many(blocks, 10);
  EXPECT_EQ(counting.live_blocks(), 0u);
  EXPECT_EQ(counting.errors(), 0u);
}

TEST(StdAllocator, SizeLimitsAndBudget) {
  CountingAllocator budgeted(1000);
  Counting<std::uint64_t> alloc(budgeted);
  EXPECT_EQ(alloc.max_size(), static_cast<std::size_t>(PTRDIFF_MAX) / 8);
  EXPECT_TRUE(alloc.can_allocate(125));
  EXPECT_FALSE(alloc.can_allocate(126));
  EXPECT_FALSE(alloc.can_allocate(std::numeric_limits<std::size_t>::max()));
  auto* p = alloc.allocate(100);
  EXPECT_EQ(alloc.bytes_allocated(), 800u);
  EXPECT_EQ(alloc.bytes_available(), 200u);
  EXPECT_FALSE(alloc.can_allocate(26));
  alloc.deallocate(p, 100);
  EXPECT_TRUE(cm::StdAllocator<int>().can_allocate(1000));
}

#if CORE_MEMORY_EXCEPTIONS
TEST(StdAllocator, ExhaustionAndOverflowThrow) {
  CountingAllocator budgeted(64);
  Counting<int> alloc(budgeted);
  EXPECT_THROW((void)alloc.allocate(17), cm::out_of_memory);
  EXPECT_THROW((void)alloc.allocate(std::numeric_limits<std::size_t>::max() / 2), std::bad_array_new_length);
  EXPECT_THROW((void)cm::StdAllocator<int>().allocate(std::numeric_limits<std::size_t>::max() / 4 + 1),
               std::bad_array_new_length);
  EXPECT_THROW(test::escape(cm::StdAllocator<char>().allocate(static_cast<std::size_t>(PTRDIFF_MAX))),
               std::bad_alloc);
  std::vector<int, Counting<int>> v(alloc);
  EXPECT_THROW(v.resize(100), std::bad_alloc);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(budgeted.live_blocks(), 0u);
}

TEST(StdAllocator, InvalidAlignmentIsReported) {
  test::MisuseCapture capture;
  cm::StdAllocator<int> alloc;
  EXPECT_THROW((void)alloc.allocate_aligned(4, 24), cm::out_of_memory);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
  EXPECT_EQ(capture.last().alignment, 24u);
}
#else
TEST(StdAllocatorDeathTest, ExhaustionAbortsWithoutExceptions) {
  CountingAllocator budgeted(64);
  Counting<int> alloc(budgeted);
  EXPECT_DEATH((void)alloc.allocate(17), "out of memory in test::CountingAllocator, size 68");
  EXPECT_DEATH((void)alloc.allocate(std::numeric_limits<std::size_t>::max() / 2), "bad array length");
}
#endif
