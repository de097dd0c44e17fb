#include <core/memory/container/stable_vector.hpp>

#include "support/element_types.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <memory_resource>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace cm = core::memory;

namespace {
using cm::test::make;
using cm::test::value_of;

template <class T>
class StableVectorDifferential : public ::testing::Test {};
TYPED_TEST_SUITE(StableVectorDifferential, cm::test::ElementTypes);

TYPED_TEST(StableVectorDifferential, RandomOperationsAgainstAModel) {
  using T = TypeParam;
  using SV = cm::StableVector<T>;
  const cm::test::LiveCountGuard guard;
  SV v;
  struct Live {
    typename SV::Handle h;
    const T* p;
    int value;
  };
  std::map<std::uint32_t, Live> model;  // by slot: the iteration order
  std::vector<typename SV::Handle> stale;
  std::mt19937 rng(6);
  for (int step = 0; step < 30000; ++step) {
    const auto op = rng() % 10;
    if (op < 6 || model.empty()) {
      const int x = static_cast<int>(rng() % 1000);
      const auto pick = rng() % 3;
      const auto h = pick == 0 ? v.emplace(make<T>(x)) : pick == 1 ? v.push_back(make<T>(x)) : v.emplace_back(make<T>(x));
      ASSERT_TRUE(v.is_valid(h));
      ASSERT_EQ(model.count(h.slot), 0u) << "slot handed out twice";
      model[h.slot] = {h, v.get(h), value_of(make<T>(x))};
    } else if (op < 9) {
      auto it = std::next(model.begin(), static_cast<long>(rng() % model.size()));
      if (rng() % 2) {
        v.erase(it->second.h);
      } else {  // erase through an iterator: the one returned is the next element
        auto next = v.erase(v.get_iterator(it->second.p));
        auto mnext = std::next(it);
        ASSERT_EQ(next == v.end(), mnext == model.end());
        if (mnext != model.end()) {
          ASSERT_EQ(&*next, mnext->second.p);
        }
      }
      stale.push_back(it->second.h);
      model.erase(it);
    } else if (rng() % 20 == 0) {
      v.shrink_to_fit();
    }
    if (step % 97 == 0) {
      ASSERT_EQ(v.size(), model.size());
      auto mit = model.begin();
      for (auto it = v.begin(); it != v.end(); ++it, ++mit) {
        ASSERT_NE(mit, model.end());
        ASSERT_EQ(&*it, mit->second.p) << "element moved";
        ASSERT_EQ(value_of(*it), mit->second.value);
        ASSERT_EQ(it.handle(), mit->second.h);
      }
      ASSERT_EQ(mit, model.end());
      mit = model.begin();
      std::as_const(v).for_each([&](const T& x) {
        ASSERT_EQ(&x, mit->second.p);
        ++mit;
      });
      ASSERT_EQ(mit, model.end());
      for (const auto& h : stale) ASSERT_FALSE(v.is_valid(h)) << "stale handle accepted";
      for (const auto& [slot, live] : model) {
        ASSERT_EQ(v.get(live.h), live.p);
        ASSERT_EQ(v.get_iterator(live.p).handle(), live.h);
      }
    }
  }
}
}  // namespace

TEST(StableVector, HandlesDetectReuseOfTheirSlot) {
  cm::StableVector<int> v;
  const auto a = v.emplace(1);
  v.erase(a);
  const auto b = v.emplace(2);
  EXPECT_EQ(a.slot, b.slot) << "the freed slot is reused";
  EXPECT_FALSE(v.is_valid(a)) << "but the old handle knows it is not its element";
  EXPECT_EQ(v.get(a), nullptr);
  EXPECT_EQ(*v.get(b), 2);
  EXPECT_FALSE(v.is_valid(cm::StableVector<int>::Handle{}));
  int outside = 0;
  EXPECT_EQ(v.get_iterator(&outside), v.end());
}

TEST(StableVector, ReserveShrinkAndCounts) {
  auto token = std::make_shared<int>(0);
  {
    cm::StableVector<std::shared_ptr<int>, 64> v;
    v.reserve(300);
    EXPECT_EQ(v.block_count(), 5u);
    std::vector<cm::StableVector<std::shared_ptr<int>, 64>::Handle> hs;
    for (int i = 0; i < 300; ++i) hs.push_back(v.push_back(token));
    EXPECT_EQ(token.use_count(), 301);
    for (std::size_t i = 100; i < 300; ++i) v.erase(hs[i]);
    v.shrink_to_fit();
    EXPECT_EQ(v.block_count(), 2u) << "trailing empty blocks released";
    EXPECT_EQ(token.use_count(), 101);
    for (int i = 0; i < 50; ++i) v.push_back(token);  // reuses the freed slots of block 1 first
    EXPECT_EQ(v.block_count(), 3u);
  }
  EXPECT_EQ(token.use_count(), 1);
}

TEST(StableVectorDeathTest, StaleHandleIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::StableVector<int> v;
  const auto a = v.emplace(1);
  v.erase(a);
  EXPECT_DEATH((void)v[a], "stale or foreign handle");
}

// Found by fuzzing: a released block's slot numbers come back with a new block; the handles into
// the released block must stay invalid.
TEST(StableVector, HandlesStayInvalidAcrossShrinkAndRegrow) {
  cm::StableVector<int, 64> v;
  std::vector<cm::StableVector<int, 64>::Handle> hs;
  for (int i = 0; i < 100; ++i) hs.push_back(v.emplace(i));
  for (std::size_t i = 64; i < 100; ++i) v.erase(hs[i]);
  v.shrink_to_fit();
  EXPECT_EQ(v.block_count(), 1u);
  for (int i = 0; i < 40; ++i) (void)v.emplace(-i);  // the slots of the released block again
  for (std::size_t i = 64; i < 100; ++i) EXPECT_FALSE(v.is_valid(hs[i])) << i;
  for (std::size_t i = 0; i < 64; ++i) EXPECT_TRUE(v.is_valid(hs[i])) << i;
}

TEST(StableVector, MoveOnlyElements) {
  cm::StableVector<std::unique_ptr<int>> v;
  const auto h = v.emplace(std::make_unique<int>(7));
  const auto g = v.push_back(std::make_unique<int>(8));
  EXPECT_EQ(**v.get(h), 7);
  v.erase(g);
  cm::StableVector<std::unique_ptr<int>> moved(std::move(v));
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_EQ(**moved.get(h), 7);
}

TEST(StableVector, ForEachVisitsFullAndPartialWordsInOrder) {
  cm::StableVector<int, 128> v;
  std::vector<cm::StableVector<int, 128>::Handle> hs;
  for (int i = 0; i < 1000; ++i) hs.push_back(v.emplace(i));
  for (int i = 130; i < 200; ++i) v.erase(hs[static_cast<std::size_t>(i)]);  // some words partial, some empty
  v.erase(hs[999]);
  std::vector<int> seen, expected;
  v.for_each([&](int& x) { seen.push_back(x); });
  for (int x : v) expected.push_back(x);
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(seen.size(), v.size());
  v.for_each([](int& x) { x = -x; });
  EXPECT_EQ(*v.get(hs[5]), -5);
}

TEST(StableVector, SetBitDecoderListsEveryBitInOrder) {
  std::mt19937_64 rng(3);
  std::vector<std::uint64_t> words{0, 1, std::uint64_t{1} << 63, ~std::uint64_t{0}, 0x5555555555555555u,
                                   0xff00ff00ff00ff00u, 0x8000000000000001u};
  for (int i = 0; i < 1000; ++i) words.push_back(rng() & rng());  // about a quarter of the bits
  for (int i = 0; i < 1000; ++i) words.push_back(rng() | rng());  // about three quarters
  for (const std::uint64_t w : words) {
    std::vector<std::size_t> expected, got;
    for (std::size_t b = 0; b < 64; ++b)
      if ((w >> b) & 1u) expected.push_back(b);
    cm::detail::for_each_set_bit(w, [&](std::size_t b) { got.push_back(b); });
    ASSERT_EQ(got, expected) << std::hex << w;
  }
}

TEST(StableVector, IteratorsCompareByPosition) {
  cm::StableVector<int> v;
  std::vector<cm::StableVector<int>::Handle> hs;
  for (int i = 0; i < 10; ++i) hs.push_back(v.emplace(i));
  auto a = std::next(v.begin(), 3);
  v.erase(hs[7]);  // changes the occupancy word `a` was made from
  const auto b = std::next(v.begin(), 3);
  EXPECT_EQ(a, b);
  cm::StableVector<int>::const_iterator c = a;
  EXPECT_EQ(c, b);
  EXPECT_EQ(*c, 3);
  EXPECT_NE(a, v.end());
  for (int i = 0; i < 10; ++i)
    if (i != 7) v.erase(hs[static_cast<std::size_t>(i)]);
  EXPECT_EQ(v.begin(), v.end());
}

TEST(StableVector, CopyKeepsSlotsAndGenerationsSoHandlesWorkInTheCopy) {
  const cm::test::LiveCountGuard guard;
  using SV = cm::StableVector<cm::test::Counted>;
  SV v;
  std::vector<SV::Handle> hs;
  for (int i = 0; i < 200; ++i) hs.push_back(v.emplace(i));
  for (int i = 0; i < 200; i += 3) v.erase(hs[static_cast<std::size_t>(i)]);
  const SV copy(v);
  ASSERT_EQ(copy.size(), v.size());
  for (int i = 0; i < 200; ++i) {
    const auto& h = hs[static_cast<std::size_t>(i)];
    ASSERT_EQ(copy.is_valid(h), v.is_valid(h)) << i;
    if (v.is_valid(h)) {
      EXPECT_EQ(copy.get(h)->v, i);
      EXPECT_NE(copy.get(h), v.get(h)) << "a copy has its own elements";
    }
  }
  SV assigned;
  assigned.emplace(-1);
  assigned = copy;
  EXPECT_EQ(assigned.size(), v.size());
  EXPECT_EQ(assigned.get(hs[1])->v, 1);
  // Both go on independently: the next insertion lands in the same free slot in each.
  EXPECT_EQ(assigned.emplace(7), v.emplace(7));
}

TEST(StableVector, MoveAssignmentKeepsHandlesAndGenerationFloor) {
  using SV = cm::StableVector<int>;
  SV a;
  std::vector<SV::Handle> hs;
  for (int i = 0; i < 130; ++i) hs.push_back(a.emplace(i));  // three blocks
  for (int i = 64; i < 130; ++i) a.erase(hs[static_cast<std::size_t>(i)]);
  a.shrink_to_fit();  // releases the third block: its slot numbers may come back
  SV b;
  b.emplace(99);
  b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.emplace(5).slot, 0u) << "a moved-from vector is empty and usable";
  EXPECT_EQ(*b.get(hs[10]), 10);
  for (int i = 0; i < 200; ++i) b.emplace(i);  // regrows over the released slot numbers
  for (int i = 128; i < 130; ++i) EXPECT_FALSE(b.is_valid(hs[static_cast<std::size_t>(i)])) << "stale after the move too";
  SV c(std::move(b));
  EXPECT_EQ(*c.get(hs[10]), 10);
  swap(c, b);
  EXPECT_EQ(*b.get(hs[10]), 10);
}

TEST(StableVector, MoveAssignmentAcrossUnequalAllocatorsMovesTheElements) {
  using SV = cm::StableVector<std::string, 64, std::pmr::polymorphic_allocator<std::string>>;
  std::pmr::monotonic_buffer_resource r1, r2;
  SV a{std::pmr::polymorphic_allocator<std::string>(&r1)};
  SV b{std::pmr::polymorphic_allocator<std::string>(&r2)};
  const auto h = a.emplace("kept in its slot, moved to the other resource");
  a.emplace("x");
  b = std::move(a);
  EXPECT_EQ(b.get_allocator().resource(), &r2) << "polymorphic_allocator does not propagate";
  ASSERT_TRUE(b.is_valid(h));
  EXPECT_EQ(*b.get(h), "kept in its slot, moved to the other resource");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
}
