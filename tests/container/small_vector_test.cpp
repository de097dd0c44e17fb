#include <core/memory/allocator/arena.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/core/std_allocator.hpp>

#include "support/element_types.hpp"
#include "support/offset_allocators.hpp"

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
TYPED_TEST_SUITE(SmallVectorDifferential, cm::test::ElementAllocatorTypes);  // T* and offset_ptr

TYPED_TEST(SmallVectorDifferential, RandomOperationsMatchStdVector) {
  using T = typename TypeParam::value_type;
  using V = cm::SmallVector<T, 4, typename TypeParam::template allocator<T>>;
  constexpr bool copyable = std::is_copy_constructible_v<T>;
  const long live_before = Counted::live;
  {
    V sv;
    std::vector<T> ref;
    V other;
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
  std::string& b = v.push_back("b");  // as inplace_vector's, push_back returns the element
  EXPECT_EQ(&b, &v[1]);
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
  // Elements of 1, 2 and 4 bytes in the inline buffer's last, partial granule (ASan names a
  // partial granule's bad read by where it lies: a stack buffer here).
  EXPECT_DEATH(([] {
                 cm::StaticVector<char, 7> v(1, 'a');
                 volatile char* p = v.data();
                 (void)p[5];
               }()),
               "container-overflow|buffer-overflow");
  EXPECT_DEATH(([] {
                 cm::SmallVector<int, 3> v(1, 1);
                 volatile int* p = v.data();
                 (void)p[2];
               }()),
               "container-overflow|buffer-overflow");
  EXPECT_DEATH(([] {
                 cm::SmallVector<std::int16_t, 3> v(2, std::int16_t{1});
                 volatile std::int16_t* p = v.data();
                 (void)p[2];
               }()),
               "container-overflow|buffer-overflow");
}

// The inline buffer's tail granule is given back whole: a vector's object can be reused for
// anything after it is gone, full or not (no false reports).
TEST(SmallVector, InlineBuffersLeaveNoPoisonBehind) {
  for (int round = 0; round < 3; ++round) {
    alignas(8) unsigned char raw[sizeof(cm::SmallVector<char, 7>)];
    auto* v = ::new (raw) cm::SmallVector<char, 7>(static_cast<std::size_t>(round * 3), 'x');
    v->push_back('y');
    if (round == 2) v->reserve(20);  // to the heap and back to nothing inline
    v->~SmallVector();
    for (unsigned char& b : raw) b = 0;  // every byte addressable again
    EXPECT_EQ(raw[sizeof raw - 1], 0);
  }
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

namespace {
/// Neither movable nor copyable: fine in a StaticVector, which never relocates.
struct Pinned {
  int v;
  explicit Pinned(int x = 7) : v(x) {}
  Pinned(const Pinned&) = delete;
  Pinned& operator=(const Pinned&) = delete;
  ~Pinned() { v = -1; }
};
}  // namespace

TEST(StaticVector, NonMovableElementsWithCountResizeAndEmplaceBack) {
  cm::StaticVector<Pinned, 4> v(3);
  EXPECT_EQ(v.size(), 3u);
  EXPECT_EQ(v[2].v, 7);
  v.resize(1);
  v.resize(3);
  v.emplace_back(5);
  EXPECT_EQ(v.back().v, 5);
  EXPECT_EQ(v.try_emplace_back(6), nullptr);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(v.emplace_back(6), std::bad_alloc);
  EXPECT_THROW(v.resize(5), std::bad_alloc);
#endif
  v.pop_back();
  EXPECT_NE(v.try_emplace_back(8), nullptr);
  EXPECT_EQ(v[3].v, 8);
  v.clear();
  EXPECT_TRUE(v.empty());
}

TEST(StaticVector, CapacityZero) {
  cm::StaticVector<std::string, 0> v;
  static_assert(decltype(v)::capacity() == 0 && decltype(v)::max_size() == 0);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.begin(), v.end());
  EXPECT_EQ(v.try_push_back("a"), nullptr);
  EXPECT_EQ(v, (cm::StaticVector<std::string, 0>{}));
  cm::StaticVector<std::string, 0> w;
  swap(v, w);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(v.push_back("a"), std::bad_alloc);
  EXPECT_THROW(v.resize(1), std::bad_alloc);
  EXPECT_THROW(v.reserve(1), std::bad_alloc);
#endif
  EXPECT_TRUE(v.empty());
}

TEST(StaticVector, HasItsOwnSwap) {
  cm::StaticVector<int, 4> a{1, 2, 3}, b{4};
  using std::swap;
  swap(a, b);  // StaticVector's, not std::swap's three moves
  EXPECT_EQ(a, (cm::StaticVector<int, 4>{4}));
  EXPECT_EQ(b, (cm::StaticVector<int, 4>{1, 2, 3}));
  static_assert(noexcept(swap(a, b)), "never allocates: noexcept for nothrow elements");
  static_assert(noexcept(a.swap(b)));
  cm::StaticVector<std::string, 3> c{"x"}, d{"y", "z", "w"};
  c.swap(d);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(d[0], "x");
}

#if CORE_MEMORY_EXCEPTIONS
TEST(StaticVector, OverflowSaysWhichCapacityWasExceeded) {
  cm::StaticVector<std::string, 3> v{"a", "b", "c"};
  auto expect_message = [](auto op, const char* needed) {
    try {
      op();
      ADD_FAILURE() << "no throw";
    } catch (const cm::capacity_exceeded& e) {
      const std::bad_alloc& as_bad_alloc = e;  // what inplace_vector throws
      EXPECT_EQ(std::string(as_bad_alloc.what()),
                std::string("core::memory::StaticVector: capacity N = 3 exceeded (") + needed + " elements needed)");
      EXPECT_EQ(e.capacity(), 3u);
    }
  };
  expect_message([&] { v.push_back("d"); }, "4");
  expect_message([&] { v.reserve(10); }, "10");
  expect_message([&] { v.insert(v.begin(), 2, "x"); }, "5");
  expect_message([&] { v.resize(7); }, "7");
  const std::string more[] = {"1", "2", "3", "4"};
  expect_message([&] { v.assign(std::begin(more), std::end(more)); }, "4");
  expect_message([&] { v.assign(4, "x"); }, "4");
  expect_message([&] { cm::StaticVector<std::string, 3>(5, "x"); }, "5");
  // A count that overflows with the size is reported saturated, not wrapped (review: "2 needed").
  expect_message([&] { v.insert(v.begin(), SIZE_MAX, "x"); }, "18446744073709551615");
  EXPECT_EQ(v, (cm::StaticVector<std::string, 3>{"a", "b", "c"}));
}
#else
TEST(StaticVectorDeathTest, OverflowWithoutExceptionsSaysWhichCapacityWasExceeded) {
  cm::StaticVector<int, 3> v{1, 2, 3};
  EXPECT_DEATH(v.push_back(4), "StaticVector: capacity N = 3 exceeded \\(4 elements needed\\)");
}
#endif

namespace {
/// Ordered by < and == only, as many pre-C++20 types are.
struct OnlyLess {
  int v;
  friend bool operator<(const OnlyLess& a, const OnlyLess& b) { return a.v < b.v; }
  friend bool operator==(const OnlyLess& a, const OnlyLess& b) { return a.v == b.v; }
};
struct Unordered {
  int v;
  friend bool operator==(const Unordered&, const Unordered&) = default;
};
template <class V>
concept orderable = requires(const V& a) { a < a; };
}  // namespace

TEST(SmallVector, OrderingForElementsWithOnlyLess) {
  cm::SmallVector<OnlyLess, 2> a{{1}, {2}}, b{{1}, {3}}, c{{1}, {2}, {0}};
  EXPECT_TRUE(a < b);
  EXPECT_TRUE(b > a);
  EXPECT_TRUE(a <= a && a >= a && a == a && a != b);
  EXPECT_TRUE(a < c) << "a prefix orders first";
  EXPECT_EQ(a <=> b, std::weak_ordering::less);
  EXPECT_EQ(a <=> a, std::weak_ordering::equivalent);
  cm::StaticVector<OnlyLess, 2> s{{2}}, t{{1}, {5}};
  EXPECT_TRUE(t < s);
  static_assert(std::is_same_v<decltype(a <=> b), std::weak_ordering>);
  static_assert(std::is_same_v<decltype(cm::SmallVector<int>() <=> cm::SmallVector<int>()), std::strong_ordering>);
  static_assert(!orderable<cm::SmallVector<Unordered>>, "no ordering for unordered elements");
  EXPECT_NE((cm::SmallVector<Unordered, 2>{{1}}), (cm::SmallVector<Unordered, 2>{{2}})) << "equality still works";
  static_assert(orderable<cm::SmallVector<OnlyLess>>);
}

TEST(SmallVectorDeathTest, DocumentedMisuseIsCaughtWhenHardened) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::SmallVector<int, 4> v{1, 2};
  cm::SmallVector<int, 4> empty;
  EXPECT_DEATH(empty.pop_back(), "core::memory::SmallVector: pop_back on an empty vector");
  EXPECT_DEATH((void)empty.front(), "SmallVector: index out of range");
  EXPECT_DEATH((void)empty.back(), "SmallVector: index out of range");
  EXPECT_DEATH((void)v[2], "SmallVector: index out of range");
  EXPECT_DEATH(v.insert(v.end() + 1, 5), "SmallVector: position out of range");
  EXPECT_DEATH(v.insert(v.begin() - 1, 2, 5), "SmallVector: position out of range");
  EXPECT_DEATH(v.emplace(v.end() + 3, 5), "SmallVector: position out of range");
  EXPECT_DEATH(v.erase(v.end()), "SmallVector: position out of range");
  EXPECT_DEATH(v.erase(v.begin() + 1, v.begin()), "SmallVector: erase range out of bounds");
  EXPECT_DEATH(v.erase(v.begin(), v.end() + 1), "SmallVector: position out of range");
  v.reserve(8);
  while (v.size() < v.capacity()) v.unchecked_push_back(0);
  EXPECT_DEATH(v.unchecked_push_back(1), "SmallVector: unchecked_emplace_back on a full vector");
  cm::StaticVector<int, 2> s;
  EXPECT_DEATH(s.pop_back(), "pop_back on an empty vector");
  EXPECT_DEATH((void)s[0], "index out of range");
}
