#include <core/memory/allocator/arena.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/core/std_allocator.hpp>

#include "support/element_types.hpp"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <memory_resource>
#include <random>
#include <string>
#include <vector>

namespace cm = core::memory;

namespace {

using cm::test::Counted;
using cm::test::make;
using cm::test::value_of;

template <class A, class B>
void expect_same(const A& sv, const B& ref, int step) {
  ASSERT_EQ(sv.size(), ref.size()) << "step " << step;
  for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(value_of(sv[i]), value_of(ref[i])) << "step " << step << " index " << i;
  ASSERT_GE(sv.capacity(), sv.size());
  ASSERT_EQ(sv.on_stack(), sv.data() == nullptr || sv.capacity() == sv.inline_capacity() ? sv.on_stack() : false);
}

template <class T>
class SmallVectorDifferential : public ::testing::Test {};
TYPED_TEST_SUITE(SmallVectorDifferential, cm::test::ElementTypes);

TYPED_TEST(SmallVectorDifferential, RandomOperationsMatchStdVector) {
  using T = TypeParam;
  constexpr bool copyable = std::is_copy_constructible_v<T>;
  const long live_before = Counted::live;
  {
    cm::SmallVector<T, 4> sv;
    std::vector<T> ref;
    cm::SmallVector<T, 4> other;
    std::vector<T> other_ref;
    std::mt19937 rng(17);
    for (int step = 0; step < 6000; ++step) {
      const int x = static_cast<int>(rng() % 1000);
      const auto pos = ref.empty() ? 0 : rng() % (ref.size() + 1);
      switch (rng() % 16) {
        case 0: sv.push_back(make<T>(x)); ref.push_back(make<T>(x)); break;
        case 1: sv.emplace_back(make<T>(x)); ref.emplace_back(make<T>(x)); break;
        case 2: if (!ref.empty()) { sv.pop_back(); ref.pop_back(); } break;
        case 3: sv.insert(sv.begin() + pos, make<T>(x)); ref.insert(ref.begin() + static_cast<long>(pos), make<T>(x)); break;
        case 4: sv.emplace(sv.begin() + pos, make<T>(x)); ref.emplace(ref.begin() + static_cast<long>(pos), make<T>(x)); break;
        case 5: if (!ref.empty()) { const auto i = rng() % ref.size(); sv.erase(sv.begin() + i); ref.erase(ref.begin() + static_cast<long>(i)); } break;
        case 6: if (!ref.empty()) {
            const auto i = rng() % ref.size(), j = i + rng() % (ref.size() - i + 1);
            sv.erase(sv.begin() + i, sv.begin() + j);
            ref.erase(ref.begin() + static_cast<long>(i), ref.begin() + static_cast<long>(j));
          } break;
        case 7: { const auto n = rng() % 12; sv.resize(n); ref.resize(n); } break;
        case 8: if (rng() % 8 == 0) { sv.clear(); ref.clear(); } break;
        case 9: { const auto n = rng() % 20; sv.reserve(n); ref.reserve(n); } break;
        case 10: sv.shrink_to_fit(); break;
        case 11: sv.swap(other); std::swap(ref, other_ref); break;
        case 12: other.push_back(make<T>(x)); other_ref.push_back(make<T>(x)); break;
        case 13:
          if constexpr (copyable) {
            if (!ref.empty()) {  // arguments that alias the vector's own elements
              const auto i = rng() % ref.size();
              const auto n = rng() % 5;
              sv.insert(sv.begin() + pos, n, sv[i]);
              ref.insert(ref.begin() + static_cast<long>(pos), n, ref[i]);
              sv.push_back(sv[i]);
              ref.push_back(ref[i]);
            }
          }
          break;
        case 14:
          if constexpr (copyable) {
            if (rng() % 2) { sv = other; ref = other_ref; }
            else { sv.assign(other.begin(), other.end()); ref.assign(other_ref.begin(), other_ref.end()); }
          } else {
            sv = std::move(other); ref = std::move(other_ref);
            other.clear(); other_ref.clear();
          }
          break;
        case 15:
          if constexpr (copyable) {
            const auto n = rng() % 10;
            sv.resize(n, make<T>(x)); ref.resize(n, make<T>(x));
            if (!ref.empty()) { sv.resize(sv.size() + 3, sv[0]); ref.resize(ref.size() + 3, ref[0]); }
          }
          break;
      }
      expect_same(sv, ref, step);
      expect_same(other, other_ref, step);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_EQ(Counted::live, live_before) << "every element destroyed exactly once";
}

}  // namespace

TEST(SmallVector, NoHeapAllocationUpToN) {
  cm::Arena arena;
  using V = cm::SmallVector<int, 8, cm::ArenaAllocator<int>>;
  V v{cm::ArenaAllocator<int>(arena)};
  for (int i = 0; i < 8; ++i) v.push_back(i);
  EXPECT_TRUE(v.on_stack());
  EXPECT_EQ(arena.bytes_used(), 0u) << "no allocation for <= N elements";
  v.push_back(8);
  EXPECT_FALSE(v.on_stack());
  EXPECT_GT(arena.bytes_used(), 0u);
  v.resize(3);
  v.shrink_to_fit();
  EXPECT_TRUE(v.on_stack()) << "shrink_to_fit moves back inline";
  EXPECT_EQ(v, (V({0, 1, 2}, cm::ArenaAllocator<int>(arena))));
}

namespace {
long sum_any(const cm::SmallVectorImpl<long>& v) {
  long s = 0;
  for (long x : v) s += x;
  return s;
}
void append_to(cm::SmallVectorImpl<long>& v, long x) { v.push_back(x); }
}  // namespace

TEST(SmallVector, SizeErasedBaseAcceptsAnyN) {
  cm::SmallVector<long, 2> a{1, 2};
  cm::SmallVector<long, 16> b{3, 4, 5};
  append_to(a, 10);
  append_to(b, 20);
  EXPECT_EQ(sum_any(a), 13);
  EXPECT_EQ(sum_any(b), 32);
  cm::SmallVector<long, 16> c(a);  // from another N
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(c.on_stack());
}

TEST(SmallVector, MovesStealHeapBuffersAndCopyInlineOnes) {
  cm::SmallVector<std::string, 2> heap{"a", "b", "c"};
  const std::string* data = heap.data();
  cm::SmallVector<std::string, 2> stolen(std::move(heap));
  EXPECT_EQ(stolen.data(), data);
  EXPECT_TRUE(heap.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(heap.on_stack());
  cm::SmallVector<std::string, 4> inl{"x", "y"};
  cm::SmallVector<std::string, 4> moved(std::move(inl));
  EXPECT_TRUE(moved.on_stack());
  EXPECT_EQ(moved[1], "y");
}

TEST(SmallVector, ComparisonsAndErase) {
  cm::SmallVector<int, 4> a{1, 2, 3}, b{1, 2, 4};
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(a != b);
  EXPECT_EQ(a <=> a, std::strong_ordering::equal);
  cm::SmallVector<int, 4> c{1, 2, 1, 3, 1};
  EXPECT_EQ(cm::erase(c, 1), 3u);
  EXPECT_EQ(cm::erase_if(c, [](int x) { return x > 2; }), 1u);
  EXPECT_EQ(c, (cm::SmallVector<int, 4>{2}));
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)c.at(5), std::out_of_range);
#endif
}

TEST(SmallVector, NarrowSizeTypeShrinksTheHeader) {
  static_assert(sizeof(cm::SmallVector<char, 8, std::allocator<char>, std::uint32_t>) <
                sizeof(cm::SmallVector<char, 8>));
  cm::SmallVector<char, 8, std::allocator<char>, std::uint8_t> tiny;
  EXPECT_EQ(tiny.max_size(), 255u);
  for (int i = 0; i < 255; ++i) tiny.push_back('x');
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(tiny.push_back('y'), std::length_error);
  EXPECT_EQ(tiny.size(), 255u);
#endif
}

TEST(SmallVector, WorksWithPmrAllocators) {
  std::pmr::monotonic_buffer_resource r;
  cm::SmallVector<int, 2, std::pmr::polymorphic_allocator<int>> v{&r};
  for (int i = 0; i < 100; ++i) v.push_back(i);
  EXPECT_EQ(v.get_allocator().resource(), &r);
  EXPECT_EQ(v[99], 99);
}

TEST(StaticVector, NeverAllocates) {
  cm::StaticVector<std::string, 3> v;
  static_assert(decltype(v)::capacity() == 3 && decltype(v)::max_size() == 3);
  EXPECT_NE(v.try_push_back("a"), nullptr);
  v.push_back("b");
  v.unchecked_push_back("c");
  EXPECT_EQ(v.try_push_back("d"), nullptr);
  EXPECT_EQ(v.try_emplace_back(5, 'x'), nullptr);
  EXPECT_EQ(v.size(), 3u);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(v.push_back("d"), std::bad_alloc);
  EXPECT_THROW(v.reserve(4), std::bad_alloc);
  EXPECT_EQ(v, (cm::StaticVector<std::string, 3>{"a", "b", "c"})) << "unchanged after the failures";
#endif
  v.erase(v.begin());
  EXPECT_NE(v.try_push_back("z"), nullptr);
  EXPECT_EQ(v.back(), "z");
}

TEST(SmallVectorDeathTest, AsanSeesReadsPastSize) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  auto read_inline = [] {
    cm::SmallVector<long, 8> v(3, 1L);
    volatile long* p = v.data();
    (void)p[5];  // inline capacity, past size
  };
  auto read_heap = [] {
    cm::SmallVector<long, 2> v(3, 1L);
    v.reserve(100);
    volatile long* p = v.data();
    (void)p[50];  // heap capacity, past size
  };
  EXPECT_DEATH(read_inline(), "container-overflow");
  EXPECT_DEATH(read_heap(), "container-overflow");
}

TEST(SmallVectorDeathTest, IndexOutOfRangeIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::SmallVector<int, 4> v{1, 2};
  EXPECT_DEATH((void)v[2], "index out of range");
}

TEST(SmallVector, UncheckedPushBackFillsReservedCapacity) {
  cm::SmallVector<std::string, 2> v{"a"};
  v.unchecked_push_back("b");  // the inline buffer's last slot
  EXPECT_TRUE(v.on_stack());
  v.reserve(40);
  const std::string s = "long enough to live on the heap, not in the string's small buffer";
  for (int i = 0; i < 38; ++i) {
    auto& e = (i % 2 == 0) ? v.unchecked_push_back(s) : v.unchecked_emplace_back(3, 'x');
    EXPECT_EQ(&e, &v.back());
  }
  EXPECT_EQ(v.size(), 40u);
  EXPECT_EQ(v.capacity(), 40u) << "no growth";
  EXPECT_EQ(v[1], "b");
  EXPECT_EQ(v[2], s);
  EXPECT_EQ(v[39], "xxx");
}

TEST(SmallVectorDeathTest, UncheckedPushBackPastCapacityIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::SmallVector<int, 2> v{1, 2};
  EXPECT_DEATH(v.unchecked_push_back(3), "unchecked_emplace_back on a full vector");
  cm::StaticVector<int, 1> w{1};
  EXPECT_DEATH(w.unchecked_push_back(2), "unchecked_emplace_back on a full vector");
}

TEST(SmallVector, DefaultInlineCapacityKeepsTheVectorNearOneCacheLine) {
  EXPECT_EQ(cm::SmallVector<int>().inline_capacity(), 8u);
  EXPECT_EQ(cm::SmallVector<double>().inline_capacity(), 4u);
  EXPECT_EQ((cm::SmallVector<std::array<char, 100>>().inline_capacity()), 1u);
  EXPECT_LE(sizeof(cm::SmallVector<int>), 64u);
  EXPECT_LE(sizeof(cm::SmallVector<std::string>), 64u);
}
