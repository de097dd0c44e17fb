// Counts, indices and their reports at the limits, for every container they apply to:
// - a SmallVector with a narrow size type (uint8_t, uint16_t) takes every count and index as
//   std::size_t: one that does not fit is a std::length_error (an index: std::out_of_range), never
//   silently narrowed, for every operation taking a count; the vector is unchanged;
// - at() out of range names the container, the index and the size (SmallVector, StaticVector,
//   CircularBuffer), with and without exceptions;
// - StaticVector overflow without exceptions is reported as capacity exceeded, with the capacity
//   and the element count needed.

#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/small_vector.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace cm = core::memory;

namespace {

#if CORE_MEMORY_EXCEPTIONS
template <class SizeT>
void check_counts_at_the_limit() {
  using V = cm::SmallVector<char, 8, std::allocator<char>, SizeT>;
  constexpr std::size_t limit = std::numeric_limits<SizeT>::max();
  SCOPED_TRACE(limit);
  // Counts that do not fit: just past the limit, one that would wrap to a small count, the largest.
  for (const std::size_t bad : {limit + 1, limit + 1 + 44, std::numeric_limits<std::size_t>::max()}) {
    SCOPED_TRACE(bad);
    const V original{'a', 'b', 'c'};
    V v = original;
    auto expect_length_error = [&](const char* what, auto op) {
      EXPECT_THROW(op(), std::length_error) << what;
      EXPECT_EQ(v, original) << what << ": the vector is unchanged";
    };
    expect_length_error("construct(n)", [&] { V w(bad); });
    expect_length_error("construct(n, value)", [&] { V w(bad, 'x'); });
    expect_length_error("reserve", [&] { v.reserve(bad); });
    expect_length_error("resize(n)", [&] { v.resize(bad); });
    expect_length_error("resize(n, value)", [&] { v.resize(bad, 'x'); });
    expect_length_error("resize(n, element)", [&] { v.resize(bad, v[0]); });
    expect_length_error("assign(n, value)", [&] { v.assign(bad, 'x'); });
    expect_length_error("insert(pos, n, value)", [&] { v.insert(v.begin() + 1, bad, 'x'); });
    expect_length_error("insert(end, n, element)", [&] { v.insert(v.end(), bad, v[1]); });
    if (bad < 100000) {
      const std::vector<char> many(bad, 'y');
      expect_length_error("assign(range)", [&] { v.assign(many.begin(), many.end()); });
      expect_length_error("insert(pos, range)", [&] { v.insert(v.begin(), many.begin(), many.end()); });
      expect_length_error("construct(range)", [&] { V w(many.begin(), many.end()); });
    }
    EXPECT_THROW((void)v.at(bad), std::out_of_range);
  }
  // The limit itself fits, by every route.
  V v(limit, 'x');
  EXPECT_EQ(v.size(), limit);
  EXPECT_EQ(v.at(limit - 1), 'x');
  EXPECT_THROW(v.push_back('y'), std::length_error);
  EXPECT_THROW(v.insert(v.begin(), std::size_t{1}, 'y'), std::length_error);
  EXPECT_EQ(v.size(), limit);
  v.resize(1);
  v.insert(v.end(), limit - 1, 'z');
  EXPECT_EQ(v.size(), limit);
  v.assign(limit, 'w');
  EXPECT_EQ(v.back(), 'w');
  V w;
  w.reserve(limit);
  EXPECT_EQ(w.capacity(), limit);
}
#endif

}  // namespace

#if CORE_MEMORY_EXCEPTIONS
TEST(SmallVectorLimits, NarrowSizeTypeRejectsCountsThatDoNotFit) {
  check_counts_at_the_limit<std::uint8_t>();
  check_counts_at_the_limit<std::uint16_t>();
}

TEST(ContainerMessages, AtOutOfRangeNamesTheIndexAndTheSize) {
  auto expect_message = [](auto op, const std::string& expected) {
    try {
      op();
      ADD_FAILURE() << "no throw: " << expected;
    } catch (const std::out_of_range& e) {
      EXPECT_EQ(e.what(), expected);
    }
  };
  cm::SmallVector<int, 4> small{1, 2, 3};
  const auto& const_small = small;
  expect_message([&] { (void)small.at(5); }, "core::memory::SmallVector::at: index 5 out of range (size 3)");
  expect_message([&] { (void)const_small.at(3); }, "core::memory::SmallVector::at: index 3 out of range (size 3)");
  cm::StaticVector<int, 4> fixed{1};
  expect_message([&] { (void)fixed.at(1); }, "core::memory::SmallVector::at: index 1 out of range (size 1)");
  cm::SmallVector<int, 4, std::allocator<int>, std::uint8_t> narrow{1, 2};
  expect_message([&] { (void)narrow.at(258); }, "core::memory::SmallVector::at: index 258 out of range (size 2)");
  cm::CircularBuffer<int> ring(4);
  ring.push_back(1);
  const auto& const_ring = ring;
  expect_message([&] { (void)ring.at(7); }, "core::memory::CircularBuffer::at: index 7 out of range (size 1)");
  expect_message([&] { (void)const_ring.at(1); }, "core::memory::CircularBuffer::at: index 1 out of range (size 1)");
}
#else
TEST(ContainerMessagesDeathTest, AtOutOfRangeNamesTheIndexAndTheSize) {
  cm::SmallVector<int, 4> small{1, 2, 3};
  EXPECT_DEATH((void)small.at(5), "SmallVector::at: index 5 out of range \\(size 3\\)");
  cm::CircularBuffer<int> ring(4);
  EXPECT_DEATH((void)ring.at(7), "CircularBuffer::at: index 7 out of range \\(size 0\\)");
}

TEST(SmallVectorLimitsDeathTest, NarrowSizeTypeRejectsCountsThatDoNotFit) {
  cm::SmallVector<char, 8, std::allocator<char>, std::uint8_t> v;
  EXPECT_DEATH(v.resize(std::size_t{300}), "invalid size in core::memory::SmallVector: SmallVector: size exceeds max_size");
}

TEST(StaticVectorDeathTest, OverflowWithoutExceptionsIsCapacityExceeded) {
  cm::StaticVector<int, 3> v{1, 2, 3};
  EXPECT_DEATH(v.push_back(4), "capacity exceeded in core::memory::StaticVector: .*capacity N = 3 exceeded "
                               "\\(4 elements needed\\)");
  cm::StaticVector<int, 3, std::uint8_t> narrow;
  EXPECT_DEATH(narrow.resize(std::size_t{300}), "capacity exceeded in core::memory::StaticVector: .*capacity N = 3 "
                                                "exceeded \\(300 elements needed\\)");
}
#endif

// Defect (review): hardened builds did not check a FlatMap iterator's dereference, so end()->second
// or nth(size())->first read past the sequences (the other containers report it).
TEST(ContainerMessagesDeathTest, FlatMapDereferencePastTheEndIsReportedWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "a hardened check";
  cm::FlatMap<int, int> m{{1, 10}, {2, 20}};
  EXPECT_EQ(m.nth(1)->second, 20);
  EXPECT_DEATH((void)m.end()->second, "core::memory::FlatMap.*element past the end dereferenced");
  EXPECT_DEATH((void)m.nth(2)->first, "element past the end dereferenced");
}
