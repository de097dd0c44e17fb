#include <core/memory/container/stable_vector.hpp>

#include "support/element_types.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
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
  EXPECT_DEATH((void)v[a], "stale handle");
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
