#include <core/memory/allocator/stack_allocator.hpp>
#include <core/memory/container/bump_vector.hpp>

#include "support/element_types.hpp"

#include <gtest/gtest.h>

#include <random>

#include <memory>
#include <string>
#include <vector>

namespace cm = core::memory;

TEST(BumpVector, AddressesNeverChange) {
  cm::Arena arena;
  cm::BumpVector<std::string> v(arena);
  std::vector<const std::string*> addresses;
  for (int i = 0; i < 5000; ++i) {
    addresses.push_back(&v.emplace_back(std::to_string(i)));
    if (i % 500 == 0) {
      for (std::size_t j = 0; j < addresses.size(); ++j) {
        ASSERT_EQ(&v[j], addresses[j]) << "element moved";
      }
    }
  }
  for (std::size_t j = 0; j < addresses.size(); ++j) {
    ASSERT_EQ(&v[j], addresses[j]);
    ASSERT_EQ(*addresses[j], std::to_string(j));
  }
  EXPECT_EQ(v.size(), 5000u);
  EXPECT_GE(v.capacity(), 5000u);
  EXPECT_TRUE(arena.owns(addresses.back()));
  long sum = 0;
  for (const auto& s : v) sum += static_cast<long>(s.size());
  EXPECT_GT(sum, 0);
  EXPECT_EQ(v.end() - v.begin(), 5000);
}

TEST(BumpVector, MatchesStdVectorAndDestroysElements) {
  auto token = std::make_shared<int>(0);
  {
    cm::Arena arena(256);
    cm::BumpVector<std::shared_ptr<int>> v(arena);
    std::vector<std::shared_ptr<int>> ref;
    for (int i = 0; i < 1000; ++i) {
      v.push_back(token);
      ref.push_back(token);
    }
    EXPECT_EQ(token.use_count(), 2001);
    v.clear();
    EXPECT_EQ(token.use_count(), 1001);
    const std::size_t used = arena.bytes_used();
    for (int i = 0; i < 1000; ++i) v.push_back(token);
    EXPECT_EQ(arena.bytes_used(), used) << "segments are reused after clear";
  }
  EXPECT_EQ(token.use_count(), 1);
}

namespace {
using cm::test::make;
using cm::test::value_of;

template <class T>
class BumpVectorDifferential : public ::testing::Test {};
TYPED_TEST_SUITE(BumpVectorDifferential, cm::test::ElementTypes);

TYPED_TEST(BumpVectorDifferential, RandomOperationsMatchStdVectorAndNothingMoves) {
  using T = TypeParam;
  const cm::test::LiveCountGuard guard;
  cm::Arena arena(128);
  cm::BumpVector<T> v(arena);
  std::vector<T> ref;
  std::vector<const T*> where;
  std::mt19937 rng(31);
  for (int step = 0; step < 20000; ++step) {
    const int x = static_cast<int>(rng() % 1000);
    switch (rng() % 8) {
      case 0: case 1: case 2: where.push_back(&v.emplace_back(make<T>(x))); ref.push_back(make<T>(x)); break;
      case 3: v.push_back(make<T>(x)); where.push_back(&v.back()); ref.push_back(make<T>(x)); break;
      case 4: if (!ref.empty()) {
          const auto i = rng() % ref.size();
          v[i] = make<T>(x);
          ref[i] = make<T>(x);
        } break;
      case 5: if (!ref.empty()) {
          ASSERT_EQ(value_of(v.front()), value_of(ref.front()));
          ASSERT_EQ(value_of(v.back()), value_of(ref.back()));
        } break;
      case 6: if (rng() % 200 == 0) { v.clear(); ref.clear(); where.clear(); } break;
      case 7: if (rng() % 500 == 0) {  // moved-from vectors are empty, the elements stay put
          cm::BumpVector<T> moved(std::move(v));
          v = std::move(moved);
        } break;
    }
    if (step % 50 == 0 || ref.size() < 20) {
      ASSERT_EQ(v.size(), ref.size());
      std::size_t i = 0;
      for (const auto& e : v) {
        ASSERT_EQ(&e, where[i]) << "element " << i << " moved, step " << step;
        ASSERT_EQ(value_of(e), value_of(ref[i])) << "step " << step;
        ++i;
      }
    }
  }
}
}  // namespace

TEST(BumpVectorDeathTest, AsanSeesTheUnusedTailOfASegment) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  cm::Arena arena;
  cm::BumpVector<long> v(arena);
  for (long i = 0; i < 3; ++i) v.push_back(i);  // segment 0 holds 8
  auto read_past_end = [&] {
    volatile long* past = &v.back() + 1;
    (void)*past;
  };
  EXPECT_DEATH(read_past_end(), "container-overflow|use-after-poison");
  auto read_after_clear = [&] {
    volatile long* first = &v.front();
    v.clear();
    (void)*first;
  };
  EXPECT_DEATH(read_after_clear(), "container-overflow|use-after-poison");
  v.clear();
  v.push_back(7);  // the slot is usable again
  EXPECT_EQ(v.front(), 7);
}

// BumpVector takes any bump-style RawAllocator, not only Arena.
TEST(BumpVector, OverAStackAllocator) {
  cm::StackAllocator stack(1 << 16);
  {
    cm::BumpVector<int, cm::StackAllocator> v(stack);
    for (int i = 0; i < 1000; ++i) v.push_back(i);
    EXPECT_EQ(v[999], 999);
    EXPECT_GT(stack.bytes_used(), 1000 * sizeof(int));
    EXPECT_EQ(&v.arena(), &stack);
  }
  static_assert(cm::BumpVector<char>::max_size() == 8 * ((std::size_t{1} << 48) - 1));
}

TEST(BumpVectorDeathTest, IndexOutOfRangeIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::Arena arena;
  cm::BumpVector<int> v(arena);
  v.push_back(1);
  EXPECT_DEATH((void)v[1], "index out of range");
}
