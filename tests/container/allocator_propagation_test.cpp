// Allocator propagation, one matrix for every allocator-aware container: copy/move construction
// with an allocator, copy/move assignment and swap, between containers on equal and unequal
// allocators, with allocators that propagate and ones that do not (std::pmr's never do). Each
// allocator sits on a test::Heap that fails the test when asked to free a block it does not own
// and reports leaks, so a container that frees through the wrong allocator, or keeps memory from
// an allocator it no longer holds, is caught when it is destroyed.

#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/core/std_allocator.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/container/stable_vector.hpp>

#include "support/owning_resource.hpp"

#include <gtest/gtest.h>

#include <memory_resource>
#include <string>
#include <utility>
#include <vector>

namespace cm = core::memory;

namespace {

// ---- allocator configurations -------------------------------------------------------------

/// std::pmr::polymorphic_allocator: stateful, never propagates, copy construction takes the
/// default resource.
struct Pmr {
  using element = std::string;
  static constexpr bool pocca = false, pocma = false, pocs = false;
  template <class T>
  using alloc = std::pmr::polymorphic_allocator<T>;
  template <class T>
  static alloc<T> make(cm::test::OwningResource& r) { return alloc<T>(&r); }
};

/// pmr all the way down: elements are std::pmr::strings that take the container's resource
/// (uses-allocator construction), so an element swap or move across unequal resources that
/// exchanges the elements' own buffers shows as a foreign free too.
struct PmrElements : Pmr {
  using element = std::pmr::string;
};

/// core::memory::StdAllocator over a stateful RawAllocator: held by reference, never propagates.
struct Std {
  using element = std::string;
  static constexpr bool pocca = false, pocma = false, pocs = false;
  template <class T>
  using alloc = cm::StdAllocator<T, cm::test::OwningRaw>;
  template <class T>
  static alloc<T> make(cm::test::OwningResource& r) { return alloc<T>(r.raw); }
};

template <bool CopyAssign, bool MoveAssign, bool Swap>
struct Owning {
  using element = std::string;
  static constexpr bool pocca = CopyAssign, pocma = MoveAssign, pocs = Swap;
  template <class T>
  using alloc = cm::test::OwningAllocator<T, CopyAssign, MoveAssign, Swap>;
  template <class T>
  static alloc<T> make(cm::test::OwningResource& r) { return alloc<T>(r); }
};

template <class Range>
std::vector<std::string> strings(const Range& r) {
  std::vector<std::string> out;
  for (const auto& x : r) out.emplace_back(x);
  return out;
}

std::string value(int seed, int i) {  // long enough to live on the heap: a leak or a double free shows
  return "element " + std::to_string(seed) + "/" + std::to_string(i) + " of a propagation test";
}

// ---- containers ---------------------------------------------------------------------------
// Each kind: C, make(alloc, n, seed), contents(c), allocator(c).

template <class Config>
struct SmallVectorKind {
  using E = typename Config::element;
  using A = typename Config::template alloc<E>;
  using C = cm::SmallVector<E, 4, A>;
  static C make(const A& a, int n, int seed) {
    C c(a);
    for (int i = 0; i < n; ++i) c.emplace_back(E(value(seed, i)));
    return c;
  }
  static std::vector<std::string> contents(const C& c) { return strings(c); }
  static A allocator(const C& c) { return c.get_allocator(); }
};

template <class Config>
struct StableVectorKind {
  using E = typename Config::element;
  using A = typename Config::template alloc<E>;
  using C = cm::StableVector<E, 64, A>;
  static C make(const A& a, int n, int seed) {
    C c(a);
    for (int i = 0; i < n; ++i) (void)c.emplace(E(value(seed, i)));
    return c;
  }
  static std::vector<std::string> contents(const C& c) { return strings(c); }
  static A allocator(const C& c) { return c.get_allocator(); }
};

template <class Config>
struct CircularBufferKind {
  using E = typename Config::element;
  using A = typename Config::template alloc<E>;
  using C = cm::CircularBuffer<E, A>;
  static C make(const A& a, int n, int seed) {
    C c(static_cast<std::size_t>(n) + 3, a);
    for (int i = 0; i < n; ++i) EXPECT_TRUE(c.try_push_back(E(value(seed, i))));
    return c;
  }
  static std::vector<std::string> contents(const C& c) { return strings(c); }
  static A allocator(const C& c) { return c.get_allocator(); }
};

template <class Config>
struct FlatMapKind {
  using E = typename Config::element;
  using A = typename Config::template alloc<E>;
  using C = cm::FlatMap<E, E, std::less<>, std::vector<E, A>,
                        std::vector<E, A>>;
  static C make(const A& a, int n, int seed) {
    C c(a);
    for (int i = 0; i < n; ++i) c.emplace(E(value(seed, i)), E(value(seed + 1, i)));
    return c;
  }
  static std::vector<std::string> contents(const C& c) {
    std::vector<std::string> out;
    for (auto [k, v] : c) out.push_back(std::string(k) + "=" + std::string(v));
    return out;
  }
  static A allocator(const C& c) {
    EXPECT_TRUE(c.keys().get_allocator() == c.values().get_allocator()) << "keys and values on different allocators";
    return c.keys().get_allocator();
  }
};

template <class Config>
struct FlatSetKind {
  using E = typename Config::element;
  using A = typename Config::template alloc<E>;
  using C = cm::FlatMultiSet<E, std::less<>, std::vector<E, A>>;
  static C make(const A& a, int n, int seed) {
    C c(a);
    for (int i = 0; i < n; ++i) c.insert(E(value(seed, i)));
    return c;
  }
  static std::vector<std::string> contents(const C& c) { return strings(c); }
  static A allocator(const C& c) { return c.keys().get_allocator(); }
};

template <template <class> class Kind, class Config>
struct Case : Kind<Config> {
  using config = Config;
  using E = typename Config::element;
};

template <class K>
class Propagation : public ::testing::Test {};

using Kinds = ::testing::Types<
    Case<SmallVectorKind, Pmr>,
    Case<SmallVectorKind, PmrElements>,
    Case<SmallVectorKind, Std>,
    Case<SmallVectorKind, Owning<false, false, false>>,
    Case<SmallVectorKind, Owning<true, true, true>>,
    Case<SmallVectorKind, Owning<true, false, false>>,
    Case<SmallVectorKind, Owning<false, true, false>>,
    Case<SmallVectorKind, Owning<false, false, true>>,
    Case<StableVectorKind, Pmr>,
    Case<StableVectorKind, PmrElements>,
    Case<StableVectorKind, Std>,
    Case<StableVectorKind, Owning<false, false, false>>,
    Case<StableVectorKind, Owning<true, true, true>>,
    Case<StableVectorKind, Owning<true, false, false>>,
    Case<StableVectorKind, Owning<false, true, false>>,
    Case<StableVectorKind, Owning<false, false, true>>,
    Case<CircularBufferKind, Pmr>,
    Case<CircularBufferKind, PmrElements>,
    Case<CircularBufferKind, Std>,
    Case<CircularBufferKind, Owning<false, false, false>>,
    Case<CircularBufferKind, Owning<true, true, true>>,
    Case<CircularBufferKind, Owning<true, false, false>>,
    Case<CircularBufferKind, Owning<false, true, false>>,
    Case<CircularBufferKind, Owning<false, false, true>>,
    Case<FlatMapKind, Pmr>,
    Case<FlatMapKind, PmrElements>,
    Case<FlatMapKind, Std>,
    Case<FlatMapKind, Owning<false, false, false>>,
    Case<FlatMapKind, Owning<true, true, true>>,
    Case<FlatMapKind, Owning<true, false, false>>,
    Case<FlatMapKind, Owning<false, true, false>>,
    Case<FlatMapKind, Owning<false, false, true>>,
    Case<FlatSetKind, Pmr>,
    Case<FlatSetKind, PmrElements>,
    Case<FlatSetKind, Std>,
    Case<FlatSetKind, Owning<false, false, false>>,
    Case<FlatSetKind, Owning<true, true, true>>,
    Case<FlatSetKind, Owning<true, false, false>>,
    Case<FlatSetKind, Owning<false, true, false>>,
    Case<FlatSetKind, Owning<false, false, true>>>;
TYPED_TEST_SUITE(Propagation, Kinds);

// Sizes on both sides of SmallVector's inline capacity (4) and of one StableVector block (64).
constexpr int kSizes[] = {0, 3, 9, 70};

template <class K, class Op>
void for_all(Op op) {
  using Config = typename K::config;
  for (bool equal : {true, false}) {
    for (int n : kSizes) {
      for (int m : kSizes) {
        cm::test::OwningResource ra("heap a"), rb("heap b");
        auto a = Config::template make<typename K::E>(ra);
        auto b = Config::template make<typename K::E>(equal ? ra : rb);
        SCOPED_TRACE(::testing::Message() << (equal ? "equal" : "unequal") << " allocators, sizes " << n << " and " << m);
        op(a, b, n, m, equal);
      }
    }
  }
}

}  // namespace

TYPED_TEST(Propagation, CopyConstructWithAllocator) {
  using K = TypeParam;
  for_all<K>([](const auto& a, const auto& b, int n, int, bool) {
    const auto src = K::make(a, n, 1);
    typename K::C copy(src, b);
    EXPECT_TRUE(K::allocator(copy) == b);
    EXPECT_EQ(K::contents(copy), K::contents(src));
  });
}

TYPED_TEST(Propagation, MoveConstructWithAllocator) {
  using K = TypeParam;
  for_all<K>([](const auto& a, const auto& b, int n, int, bool) {
    auto src = K::make(a, n, 1);
    const auto expected = K::contents(src);
    typename K::C moved(std::move(src), b);
    EXPECT_TRUE(K::allocator(moved) == b);
    EXPECT_EQ(K::contents(moved), expected);
    src = K::make(a, 2, 3);  // the source stays usable
    EXPECT_EQ(K::contents(src).size(), 2u);
  });
}

TYPED_TEST(Propagation, CopyAssign) {
  using K = TypeParam;
  for_all<K>([](const auto& a, const auto& b, int n, int m, bool) {
    const auto src = K::make(a, n, 1);
    auto dst = K::make(b, m, 2);
    dst = src;
    EXPECT_TRUE(K::allocator(dst) == (K::config::pocca ? a : b));
    EXPECT_EQ(K::contents(dst), K::contents(src));
    dst = K::make(K::allocator(dst), 5, 4);  // still usable in its memory
    EXPECT_EQ(K::contents(dst).size(), 5u);
  });
}

TYPED_TEST(Propagation, MoveAssign) {
  using K = TypeParam;
  for_all<K>([](const auto& a, const auto& b, int n, int m, bool) {
    auto src = K::make(a, n, 1);
    const auto expected = K::contents(src);
    auto dst = K::make(b, m, 2);
    dst = std::move(src);
    EXPECT_TRUE(K::allocator(dst) == (K::config::pocma ? a : b));
    EXPECT_EQ(K::contents(dst), expected);
    src = K::make(a, 2, 3);
    EXPECT_EQ(K::contents(src).size(), 2u);
  });
}

TYPED_TEST(Propagation, Swap) {
  using K = TypeParam;
  for (bool member : {false, true}) {  // the free and the member swap; destroyed right after, so
    for_all<K>([member](const auto& a, const auto& b, int n, int m, bool) {  // memory handed to the
      auto x = K::make(a, n, 1);                                            // wrong side shows
      auto y = K::make(b, m, 2);
      const auto cx = K::contents(x), cy = K::contents(y);
      using std::swap;
      if (member) x.swap(y);
      else swap(x, y);
      EXPECT_EQ(K::contents(x), cy);
      EXPECT_EQ(K::contents(y), cx);
      EXPECT_TRUE(K::allocator(x) == (K::config::pocs ? b : a));
      EXPECT_TRUE(K::allocator(y) == (K::config::pocs ? a : b));
    });
  }
}

TYPED_TEST(Propagation, SelfAssignment) {
  using K = TypeParam;
  cm::test::OwningResource r("heap");
  auto a = K::config::template make<typename K::E>(r);
  for (int n : kSizes) {
    auto c = K::make(a, n, 1);
    const auto expected = K::contents(c);
    auto& alias = c;
    c = alias;
    EXPECT_EQ(K::contents(c), expected);
    c = std::move(alias);
    (void)K::contents(c);  // valid, contents unspecified as for std containers
  }
}
