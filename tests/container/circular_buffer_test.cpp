#include <core/memory/allocator/arena.hpp>
#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/core/std_allocator.hpp>

#include "support/element_types.hpp"
#include "support/offset_allocators.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace cm = core::memory;

namespace {
using cm::test::make;
using cm::test::value_of;

template <class B, class D>
void expect_same(const B& b, const D& d, int step) {
  ASSERT_EQ(b.size(), d.size()) << "step " << step;
  std::vector<int> seen, segments, expected;
  for (const auto& x : b) seen.push_back(value_of(x));
  for (const auto& x : b.array_one()) segments.push_back(value_of(x));
  for (const auto& x : b.array_two()) segments.push_back(value_of(x));
  for (const auto& x : d) expected.push_back(value_of(x));
  ASSERT_EQ(seen, expected) << "step " << step;
  ASSERT_EQ(segments, expected) << "segments, step " << step;
  for (std::size_t i = 0; i < d.size(); ++i) ASSERT_EQ(value_of(b[i]), expected[i]) << "step " << step;
}

template <class T>
class CircularBufferDifferential : public ::testing::Test {};
TYPED_TEST_SUITE(CircularBufferDifferential, cm::test::ElementAllocatorTypes);  // T* and offset_ptr

TYPED_TEST(CircularBufferDifferential, RandomOperationsMatchABoundedDeque) {
  using T = typename TypeParam::value_type;
  const cm::test::LiveCountGuard guard;
  for (const bool overwrite : {false, true}) {  // push_* overwrite, try_push_* reject
    const std::size_t cap = 7;
    cm::CircularBuffer<T, typename TypeParam::template allocator<T>> b(cap);
    std::deque<T> d;
    std::mt19937 rng(3);
    for (int step = 0; step < 20000; ++step) {
      const int x = static_cast<int>(rng() % 1000);
      const bool room = d.size() < cap;
      switch (rng() % 10) {
        case 0:
        case 1: {
          const bool accepted = overwrite ? (b.push_back(make<T>(x)), true) : b.try_push_back(make<T>(x));
          if (!room && overwrite) d.pop_front();
          if (room || overwrite) d.push_back(make<T>(x));
          EXPECT_EQ(accepted, room || overwrite);
        } break;
        case 2: {
          const bool accepted = overwrite ? (b.push_front(make<T>(x)), true) : b.try_push_front(make<T>(x));
          if (!room && overwrite) d.pop_back();
          if (room || overwrite) d.push_front(make<T>(x));
          EXPECT_EQ(accepted, room || overwrite);
        } break;
        case 3: if (!d.empty()) b.pop_front(), d.pop_front(); break;
        case 4: if (!d.empty()) b.pop_back(), d.pop_back(); break;
        case 5:
          if constexpr (std::is_copy_constructible_v<T>) {
            if (!d.empty() && overwrite) {
              b.push_back(b.front());  // aliasing: the overwritten front is the argument
              const T f = d.front();
              if (d.size() == cap) d.pop_front();
              d.push_back(f);
            }
          }
          break;
        case 6: if (!d.empty()) {
            const auto k = rng() % d.size();
            b.rotate(b.cbegin() + static_cast<long>(k));
            std::rotate(d.begin(), d.begin() + static_cast<long>(k), d.end());
          } break;
        case 7: if (rng() % 10 == 0) {
            const auto span = b.linearize();
            ASSERT_TRUE(b.is_linearized());
            ASSERT_EQ(span.size(), d.size());
            for (std::size_t i = 0; i < d.size(); ++i) ASSERT_EQ(value_of(span[i]), value_of(d[i]));
          } break;
        case 8: if (!d.empty()) {  // assignment through an iterator
            const auto i = rng() % d.size();
            b.begin()[static_cast<long>(i)] = make<T>(x);
            d[i] = make<T>(x);
          } break;
        case 9: if (rng() % 50 == 0) b.clear(), d.clear(); break;
      }
      expect_same(b, d, step);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}
}  // namespace

TEST(CircularBuffer, RandomAccessIteratorsAndSetCapacity) {
  cm::CircularBuffer<int> b(5);
  for (int i = 0; i < 8; ++i) b.push_back(i);  // 3 4 5 6 7
  EXPECT_EQ(b.front(), 3);
  EXPECT_EQ(*(b.begin() + 2), 5);
  EXPECT_EQ(b.end() - b.begin(), 5);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  std::sort(b.rbegin(), b.rend());
  EXPECT_EQ(b.front(), 7);
  b.set_capacity(3);  // keeps the first three
  EXPECT_EQ((std::vector<int>(b.begin(), b.end())), (std::vector<int>{7, 6, 5}));
  b.set_capacity(10);
  EXPECT_TRUE(b.try_push_back(1));
  EXPECT_EQ(b.size(), 4u);
  cm::CircularBuffer<int> copy = b;
  EXPECT_EQ(copy, b);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)b.at(4), std::out_of_range);
#endif
}

TEST(CircularBuffer, AllocatesOnceFromAnyAllocator) {
  cm::Arena arena;
  cm::CircularBuffer<int, cm::ArenaAllocator<int>> b(64, cm::ArenaAllocator<int>(arena));
  const std::size_t used = arena.bytes_used();
  for (int i = 0; i < 10000; ++i) b.push_back(i);
  EXPECT_EQ(arena.bytes_used(), used) << "no allocation after construction";
  EXPECT_EQ(b.back(), 9999);
  EXPECT_EQ(b.front(), 9999 - 63);
}

TEST(CircularBuffer, CountsConstructionsAndDestructions) {
  auto counter = std::make_shared<int>(0);
  {
    cm::CircularBuffer<std::shared_ptr<int>> b(3);
    for (int i = 0; i < 10; ++i) b.push_back(counter);
    EXPECT_EQ(counter.use_count(), 4);
    b.pop_front();
    EXPECT_EQ(counter.use_count(), 3);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(CircularBufferDeathTest, AsanSeesReadsOfFreeSlots) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  auto read_free = [] {
    cm::CircularBuffer<long> b(8);
    b.push_back(1);
    b.push_back(2);
    b.pop_front();
    volatile long* slot0 = &b.front() - 1;  // the slot just freed
    (void)*slot0;
  };
  EXPECT_DEATH(read_free(), "use-after-poison");
}

TEST(CircularBuffer, MoveOnlyElements) {
  cm::CircularBuffer<std::unique_ptr<int>> b(3);
  for (int i = 0; i < 5; ++i) b.push_back(std::make_unique<int>(i));
  EXPECT_EQ(*b.front(), 2);
  b.push_front(std::make_unique<int>(-1));  // overwrites the back
  EXPECT_EQ(*b.back(), 3);
  b.set_capacity(5);
  (void)b.linearize();
  EXPECT_EQ(*b[0], -1);
  cm::CircularBuffer<std::unique_ptr<int>> moved(std::move(b));
  EXPECT_EQ(moved.size(), 3u);
}

// Class 4: sizes beyond max_size() are rejected with std::length_error, as std does.
TEST(CircularBuffer, CapacityBeyondMaxSizeIsRejected) {
  cm::CircularBuffer<int> b(4);
  b.push_back(1);
  EXPECT_EQ(b.max_size(), std::size_t{PTRDIFF_MAX} / sizeof(int)) << "as std::vector<int>";
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(cm::CircularBuffer<int>(SIZE_MAX), std::length_error);
  EXPECT_THROW(cm::CircularBuffer<int>(b.max_size() + 1), std::length_error);
  EXPECT_THROW(b.set_capacity(SIZE_MAX), std::length_error);
  EXPECT_THROW(b.set_capacity(b.max_size() + 1), std::length_error);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(b.capacity(), 4u);
  EXPECT_EQ(b.front(), 1);
#else
  EXPECT_DEATH(cm::CircularBuffer<int>(SIZE_MAX), "capacity exceeds max_size");
#endif
}

TEST(CircularBuffer, TryPushRejectsAndPushOverwrites) {
  cm::CircularBuffer<int> b(2);
  EXPECT_TRUE(b.try_push_back(1));
  EXPECT_TRUE(b.try_push_front(0));
  EXPECT_FALSE(b.try_push_back(2)) << "full: rejected";
  EXPECT_FALSE(b.try_emplace_front(-1));
  EXPECT_EQ((std::vector<int>(b.begin(), b.end())), (std::vector<int>{0, 1}));
  b.push_back(2);  // overwrites the front
  EXPECT_EQ((std::vector<int>(b.begin(), b.end())), (std::vector<int>{1, 2}));
  b.push_front(0);  // overwrites the back
  EXPECT_EQ((std::vector<int>(b.begin(), b.end())), (std::vector<int>{0, 1}));
  cm::CircularBuffer<int> none(0);
  none.push_back(1);
  EXPECT_TRUE(none.empty()) << "capacity 0 drops every element";
  EXPECT_FALSE(none.try_push_back(1));
}

// Class 6: free slots of 1-, 2-, 4- and 8-byte elements are poisoned as finely as ASan's granules
// allow: a popped slot is reported whenever the rest of its granule is free too.
template <class T>
class CircularBufferSmallElementDeathTest : public ::testing::Test {};
using SmallElements = ::testing::Types<char, short, float, double>;
TYPED_TEST_SUITE(CircularBufferSmallElementDeathTest, SmallElements);

TYPED_TEST(CircularBufferSmallElementDeathTest, ReadsOfPoppedSlotsAreReported) {
  using T = TypeParam;
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  cm::CircularBuffer<T> b(64);
  for (int i = 0; i < 32; ++i) b.push_back(static_cast<T>(i));
  const T* first = &b.front();
  const T* last = &b.back();
  for (int i = 0; i < 8; ++i) b.pop_front();  // slots 0..7: whole granules for every size here
  b.pop_back();                              // slot 31: the free slots after it complete its granule
  auto read = [](const T* p) { (void)*static_cast<const volatile T*>(p); };
  for (int i = 0; i < 8; ++i) EXPECT_DEATH(read(first + i), "use-after-poison") << "popped front slot " << i;
  EXPECT_DEATH(read(last), "use-after-poison") << "popped back slot";
  read(first + 8);  // live elements stay readable
  read(last - 1);
  b.clear();
  EXPECT_DEATH(read(first + 8), "use-after-poison") << "after clear()";
  b.push_back(T{});  // and free slots become usable again
  read(&b.front());
}

// The buffer may share its last granule with a neighbour (a buffer carved from an arena): the
// neighbour must stay addressable whatever is popped.
TEST(CircularBuffer, NeighbourSharingTheLastGranuleStaysAddressable) {
  cm::Arena arena;
  cm::CircularBuffer<char, cm::ArenaAllocator<char>> b(5, cm::ArenaAllocator<char>(arena));
  char* neighbour = static_cast<char*>(arena.allocate(3, 1));
  for (char c = 'a'; c < 'f'; ++c) b.push_back(c);
  while (!b.empty()) b.pop_back();
  for (int i = 0; i < 3; ++i) neighbour[i] = 'n';  // ASan would report a poisoned neighbour here
  EXPECT_EQ(neighbour[2], 'n');
}

// Class 8: the misuse hardened builds catch, with the message each reports.
TEST(CircularBufferDeathTest, MisuseIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::CircularBuffer<int> b(4);
  EXPECT_DEATH((void)b.front(), "front\\(\\) of an empty buffer");
  EXPECT_DEATH(b.pop_front(), "pop_front on an empty buffer");
  EXPECT_DEATH(b.pop_back(), "pop_back on an empty buffer");
  b.push_back(1);
  EXPECT_DEATH((void)b[1], "index out of range");
}
