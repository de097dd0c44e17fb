// Regressions found by an independent hostile review of the containers, one test each, beside
// the class matrices that now cover their families (allocator_propagation_test for the swap).

#include <core/memory/allocator/segregator.hpp>
#include <core/memory/allocator/slab_allocator.hpp>
#include <core/memory/allocator/stack_allocator.hpp>
#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/intrusive_list.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/container/stable_vector.hpp>
#include <core/memory/core/malloc_allocator.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <map>
#include <stdexcept>
#include <vector>

namespace cm = core::memory;

// A literal 0 used to convert to an iterator (its owner pointer), so insert(hint, {0, x}) took
// the range overload and copied parts of the map into itself.
TEST(ReviewRegressions, FlatMapHintedInsertOfKeyZero) {
  cm::FlatMap<int, int> m{{1, 10}, {2, 20}, {3, 30}};
  std::map<int, int> ref{{1, 10}, {2, 20}, {3, 30}};
  m.insert(m.begin(), {0, 2});
  ref.insert(ref.begin(), {0, 2});
  m.insert(m.end(), {0, 3});
  ref.insert(ref.end(), {0, 3});
  ASSERT_EQ(m.size(), ref.size());
  EXPECT_TRUE(std::equal(m.begin(), m.end(), ref.begin(), [](const auto& a, const auto& b) {
    return a.first == b.first && a.second == b.second;
  }));
  cm::FlatMultiMap<int, int> mm{{1, 2}, {1, 1}, {1, 3}};
  mm.insert(mm.begin() + 1, {0, 9});
  EXPECT_EQ(mm.size(), 4u);
  EXPECT_EQ(mm.begin()->first, 0);
  static_assert(!std::is_convertible_v<int, cm::FlatMap<int, int>::const_iterator>);
}

TEST(ReviewRegressions, IntrusiveListSpliceOfAnElementOntoItselfIsANoOp) {
  struct Node : cm::ListHook<> {
    int v;
    explicit Node(int x) : v(x) {}
  };
  Node a(1), b(2), c(3);
  cm::IntrusiveList<Node> l;
  l.push_back(a);
  l.push_back(b);
  l.push_back(c);
  auto it = std::next(l.begin());
  l.splice(it, l, it);               // before itself
  l.splice(std::next(it), l, it);    // before its successor
  std::vector<int> seen;
  for (const Node& n : l) seen.push_back(n.v);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(l.size(), 3u);
  l.clear();
}

// Moving from a StableVector used to leave the source with the destination's handle salt, so
// handles the source handed out afterwards were valid (and named other elements) in the destination.
TEST(ReviewRegressions, StableVectorMovedFromHandlesAreForeignToTheDestination) {
  cm::StableVector<int> a;
  (void)a.push_back(1);
  cm::StableVector<int> b(std::move(a));
  const auto h = a.push_back(99);  // NOLINT(bugprone-use-after-move): a moved-from vector is usable
  EXPECT_TRUE(a.is_valid(h));
  EXPECT_FALSE(b.is_valid(h));
  cm::StableVector<int> c;
  c = std::move(b);
  const auto hb = b.push_back(7);  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(c.is_valid(hb));
}

#if CORE_MEMORY_EXCEPTIONS
TEST(ReviewRegressions, SmallVectorReserveBeyondMaxSizeIsALengthError) {
  cm::SmallVector<int, 2> v;
  EXPECT_THROW(v.reserve(SIZE_MAX), std::length_error);
  EXPECT_THROW(v.reserve(v.max_size() + 1), std::length_error);
  EXPECT_TRUE(v.empty());
}
#endif

TEST(ReviewRegressions, SegregatorMaxSizeCoversTheSmallSide) {
  cm::Segregator<4096, cm::MallocAllocator, cm::StackAllocator> seg(cm::MallocAllocator{}, cm::StackAllocator(1024));
  EXPECT_GE(cm::allocator_traits<decltype(seg)>::max_size(seg), 2000u);
  void* p = seg.allocate(2000, 16);  // served by the small side
  seg.deallocate(p, 2000, 16);
}

// Correct frees of blocks beyond the size classes, from upstream, whose addresses fall between
// a cache's slabs: hardened builds used to read a "slab header" inside them (ASan: overflow).
TEST(ReviewRegressions, SlabAllocatorCorrectLargeFreesStaySilent) {
  cm::SlabAllocator sa;
  std::vector<std::pair<void*, std::size_t>> small;
  std::vector<void*> big;
  for (int i = 0; i < 2000; ++i) {
    const std::size_t n = 16 + static_cast<std::size_t>(i * 37) % 2000;
    small.emplace_back(sa.allocate(n, 16), n);
    if (i % 10 == 0) big.push_back(sa.allocate(18243, 16));
  }
  for (void* p : big) sa.deallocate(p, 18243, 16);
  for (auto [p, n] : small) sa.deallocate(p, n, 16);
}

#if CORE_MEMORY_CHECK_LEVEL >= 1
TEST(ReviewRegressionsDeathTest, FlatContainersCheckPositionsInHardenedBuilds) {
  cm::FlatMap<int, int> m{{1, 1}, {2, 2}};
  EXPECT_DEATH(m.erase(m.end()), "erase range out of bounds");
  cm::FlatSet<int> s{1, 2};
  EXPECT_DEATH(s.erase(s.end()), "erase range out of bounds");
  cm::FlatMap<int, int> other{{5, 5}};
  EXPECT_DEATH(m.erase(other.begin()), "erase range out of bounds");
}

TEST(ReviewRegressionsDeathTest, CircularBufferRotateChecksItsPosition) {
  cm::CircularBuffer<int> c(4);
  c.push_back(1);
  c.push_back(2);
  EXPECT_DEATH(c.rotate(c.begin() + 3), "rotate position out of range");
}
#endif

namespace {
/// An element whose operator& is deleted: containers must use std::addressof (as std's do).
struct NoAddressOf : cm::ListHook<> {
  int value = 0;
  explicit NoAddressOf(int v = 0) : value(v) {}
  void operator&() const = delete;
};
}  // namespace

// Defect (review): iterators' operator-> (IntrusiveList, StableVector) and BumpVector's clear
// took addresses with &, so an element type with a deleted or overloaded operator& did not compile.
TEST(ReviewRegressions, ElementsWithADeletedAddressOfOperator) {
  std::vector<NoAddressOf> nodes(3);
  cm::IntrusiveList<NoAddressOf> list;
  for (auto& n : nodes) list.push_back(n);
  EXPECT_EQ(list.begin()->value, 0);
  list.clear();
  cm::StableVector<NoAddressOf> sv;
  sv.emplace(7);
  EXPECT_EQ(sv.begin()->value, 7);
}
