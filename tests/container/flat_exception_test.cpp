// Exception and allocation-failure safety of the flat containers, as a matrix: every public
// operation that can fail x FlatMap, FlatMultiMap, FlatSet, FlatMultiSet x every sequence type they
// support (std::vector, SmallVector, std::deque, std::pmr::vector) x keys and values whose copies
// and moves throw. The k-th event (allocation, element copy, move or assignment) fails, for every k
// until the operation completes. After each failure: no element leaked, keys sorted (and unique
// for the unique containers), keys and values of equal length and in step (every value is ten
// times its key, or a default 0 that operator[] may leave), and contents unchanged where the
// operation promises the strong guarantee.

#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/small_vector.hpp>

#include "support/fault_injection.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#if CORE_MEMORY_EXCEPTIONS

namespace cm = core::memory;

namespace {

using cm::test::FailingAllocator;
using cm::test::g_countdown;
using cm::test::Mover;
using cm::test::Thrower;

/// The pmr default resource while a test runs: its allocations are events too.
class FailingResource : public std::pmr::memory_resource {
  void* do_allocate(std::size_t n, std::size_t a) override {
    if (g_countdown > 0 && --g_countdown == 0) throw std::bad_alloc();
    return std::pmr::new_delete_resource()->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    std::pmr::new_delete_resource()->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};

template <class T>
using Vector = std::vector<T, FailingAllocator<T>>;
template <class T>
using Small = cm::SmallVector<T, 4, FailingAllocator<T>>;
template <class T>
using Deque = std::deque<T, FailingAllocator<T>>;
template <class T>
using Pmr = std::pmr::vector<T>;
// Sequences on an allocator whose pointer is offset_ptr<T> (as in shared memory).
template <class T>
using OffsetVector = std::vector<T, FailingAllocator<T, true>>;
template <class T>
using OffsetSmall = cm::SmallVector<T, 4, FailingAllocator<T, true>>;

struct ByV {
  bool operator()(const Mover& a, const Mover& b) const { return a.v < b.v; }
  bool operator()(const Thrower& a, const Thrower& b) const { return a.v < b.v; }
  bool operator()(int a, int b) const { return a < b; }
};

int num(int x) { return x; }
int num(const Thrower& x) { return x.v; }
int num(const Mover& x) { return x.v; }
template <class T>
T el(int v) {
  if constexpr (std::is_same_v<T, int>) return v;
  else return T(v);
}

/// The shared every-failure loop, with a default pmr resource that fails too (temporaries a
/// container makes without its allocator are events as well).
template <class C, class Make, class Op, class Snapshot, class Invariant>
void every_failure(const std::string& name, bool strong, Make make, Op op, Snapshot snapshot, Invariant invariant) {
  FailingResource resource;
  std::pmr::memory_resource* const old_default = std::pmr::set_default_resource(&resource);
  cm::test::every_failure<C>(name, strong, make, op, snapshot, invariant, /*invariant_on_success=*/true);
  std::pmr::set_default_resource(old_default);
}

/// Every operation of a map type M (keys K, values V, value == 10 * key).
template <class M>
void map_matrix(const std::string& label) {
  using K = typename M::key_type;
  using V = typename M::mapped_type;
  using P = std::pair<K, V>;
  constexpr bool multi = !requires(M& m) { m.try_emplace(el<K>(0)); };
  auto make = [] {
    M m;
    for (int i = 0; i < 12; ++i) m.emplace(el<K>(i * 2), el<V>(i * 20));
    if constexpr (multi) m.emplace(el<K>(6), el<V>(60));
    return m;
  };
  auto snapshot = [](const M& m) {
    std::vector<std::pair<int, int>> v;
    for (const auto& [k, x] : m) v.emplace_back(num(k), num(x));
    return v;
  };
  auto ok = [](const M& m) {
    const auto& ks = m.keys();
    const auto& vs = m.values();
    if (ks.size() != vs.size() || ks.size() != m.size()) return false;
    for (std::size_t i = 0; i < ks.size(); ++i) {
      if (num(vs[i]) != 10 * num(ks[i]) && num(vs[i]) != 0) return false;
      if (i > 0 && (multi ? num(ks[i]) < num(ks[i - 1]) : num(ks[i]) <= num(ks[i - 1]))) return false;
    }
    return true;
  };
  auto batch = [] {  // unsorted, with keys already present and repeated
    std::vector<P> b;
    for (int i : {9, 3, 4, 21, 3, 30, 1, 16}) b.emplace_back(el<K>(i), el<V>(10 * i));
    return b;
  };
  auto sorted_batch = [] {
    std::vector<P> b;
    for (int i : {1, 3, 5, 13, 30, 31}) b.emplace_back(el<K>(i), el<V>(10 * i));
    return b;
  };
  auto other = [] {
    M o;
    for (int i : {1, 4, 7, 40}) o.emplace(el<K>(i), el<V>(10 * i));
    return o;
  };
  auto run = [&](const char* op, bool strong, auto f) { every_failure<M>(label + ": " + op, strong, make, f, snapshot, ok); };

  run("emplace in the middle", false, [](M& m) { m.emplace(el<K>(7), el<V>(70)); });
  run("emplace at the end", false, [](M& m) { m.emplace(el<K>(99), el<V>(990)); });
  run("insert(value)", false, [](M& m) { m.insert(P(el<K>(5), el<V>(50))); });
  run("emplace_hint(end) appending", false, [](M& m) { m.emplace_hint(m.end(), el<K>(99), el<V>(990)); });
  run("insert(wrong hint, value)", false, [](M& m) { m.insert(m.begin(), P(el<K>(9), el<V>(90))); });
  run("insert(range)", true, [&](M& m) {
    const auto b = batch();
    m.insert(b.begin(), b.end());
  });
  run("insert(il)", true, [](M& m) { m.insert({P(el<K>(5), el<V>(50)), P(el<K>(1), el<V>(10))}); });
  if constexpr (multi) {
    run("insert(sorted_equivalent, range)", true, [&](M& m) {
      const auto b = sorted_batch();
      m.insert(cm::sorted_equivalent, b.begin(), b.end());
    });
  } else {
    run("insert(sorted_unique, range)", true, [&](M& m) {
      const auto b = sorted_batch();
      m.insert(cm::sorted_unique, b.begin(), b.end());
    });
    run("try_emplace", false, [](M& m) { m.try_emplace(el<K>(9), el<V>(90)); });
    run("try_emplace(hint)", false, [](M& m) { m.try_emplace(m.end(), el<K>(99), el<V>(990)); });
    run("insert_or_assign (new)", false, [](M& m) { m.insert_or_assign(el<K>(9), el<V>(90)); });
    run("insert_or_assign (present)", false, [](M& m) { m.insert_or_assign(el<K>(4), el<V>(40)); });
    run("insert_or_assign(hint)", false, [](M& m) { m.insert_or_assign(m.begin(), el<K>(9), el<V>(90)); });
    run("operator[]", false, [](M& m) { (void)m[el<K>(9)]; });
  }
  run("range constructor", true, [&](M&) {
    const auto b = batch();
    M copy(b.begin(), b.end());
  });
  run("sequences constructor", true, [](M& m) {
    M copy(m.keys(), m.values());
  });
  run("copy constructor", true, [](M& m) { M copy(m); });
  run("move constructor", false, [](M& m) { M moved(std::move(m)); });
  run("copy assignment to", false, [&](M& m) {
    const M o = other();
    m = o;
  });
  run("copy assignment from", true, [&](M& m) {
    M o = other();
    o = m;
  });
  run("move assignment", false, [&](M& m) {
    M o = other();
    m = std::move(o);
  });
  run("swap", false, [&](M& m) {
    M o = other();
    m.swap(o);
  });
  run("merge", false, [&](M& m) {
    M o = other();
    m.merge(o);
  });
  run("erase(key)", false, [](M& m) { m.erase(el<K>(4)); });
  run("erase(iterator)", false, [](M& m) { m.erase(m.begin() + 1); });
  run("erase(range)", false, [](M& m) { m.erase(m.begin() + 1, m.begin() + 4); });
  run("erase_if", false, [](M& m) { erase_if(m, [](const auto& p) { return num(p.first) % 3 == 0; }); });
  run("reserve", true, [](M& m) { m.reserve(100); });
  run("shrink_to_fit", true, [](M& m) { m.shrink_to_fit(); });
  run("extract and replace", false, [](M& m) {
    auto c = std::move(m).extract();
    m.replace(std::move(c.keys), std::move(c.values));
  });
}

/// Every operation of a set type S.
template <class S>
void set_matrix(const std::string& label) {
  using K = typename S::key_type;
  constexpr bool multi = !requires(S& s) { s.insert(el<K>(0)).second; };
  auto make = [] {
    S s;
    for (int i = 0; i < 12; ++i) s.emplace(el<K>(i * 2));
    if constexpr (multi) s.emplace(el<K>(6));
    return s;
  };
  auto snapshot = [](const S& s) {
    std::vector<int> v;
    for (const auto& k : s) v.push_back(num(k));
    return v;
  };
  auto ok = [](const S& s) {
    const auto& ks = s.keys();
    for (std::size_t i = 1; i < ks.size(); ++i)
      if (multi ? num(ks[i]) < num(ks[i - 1]) : num(ks[i]) <= num(ks[i - 1])) return false;
    return ks.size() == s.size();
  };
  auto batch = [] {
    std::vector<K> b;
    for (int i : {9, 3, 4, 21, 3, 30, 1, 16}) b.push_back(el<K>(i));
    return b;
  };
  auto sorted_batch = [] {
    std::vector<K> b;
    for (int i : {1, 3, 5, 13, 30, 31}) b.push_back(el<K>(i));
    return b;
  };
  auto other = [] {
    S o;
    for (int i : {1, 4, 7, 40}) o.emplace(el<K>(i));
    return o;
  };
  auto run = [&](const char* op, bool strong, auto f) { every_failure<S>(label + ": " + op, strong, make, f, snapshot, ok); };

  run("emplace in the middle", false, [](S& s) { s.emplace(el<K>(7)); });
  run("insert at the end", false, [](S& s) { s.insert(el<K>(99)); });
  run("emplace_hint(end) appending", false, [](S& s) { s.emplace_hint(s.end(), el<K>(99)); });
  run("insert(wrong hint)", false, [](S& s) { s.insert(s.begin(), el<K>(9)); });
  run("insert(range)", true, [&](S& s) {
    const auto b = batch();
    s.insert(b.begin(), b.end());
  });
  if constexpr (multi) {
    run("insert(sorted_equivalent, range)", true, [&](S& s) {
      const auto b = sorted_batch();
      s.insert(cm::sorted_equivalent, b.begin(), b.end());
    });
  } else {
    run("insert(sorted_unique, range)", true, [&](S& s) {
      const auto b = sorted_batch();
      s.insert(cm::sorted_unique, b.begin(), b.end());
    });
  }
  run("range constructor", true, [&](S&) {
    const auto b = batch();
    S copy(b.begin(), b.end());
  });
  run("sequence constructor", true, [](S& s) { S copy(s.keys()); });
  run("copy constructor", true, [](S& s) { S copy(s); });
  run("move constructor", false, [](S& s) { S moved(std::move(s)); });
  run("copy assignment to", false, [&](S& s) {
    const S o = other();
    s = o;
  });
  run("move assignment", false, [&](S& s) {
    S o = other();
    s = std::move(o);
  });
  run("copy assignment from", true, [&](S& s) {
    S o = other();
    o = s;
  });
  run("swap", false, [&](S& s) {
    S o = other();
    s.swap(o);
  });
  run("merge", false, [&](S& s) {
    S o = other();
    s.merge(o);
  });
  run("erase(key)", false, [](S& s) { s.erase(el<K>(4)); });
  run("erase(range)", false, [](S& s) { s.erase(s.begin() + 1, s.begin() + 4); });
  run("erase_if", false, [](S& s) { erase_if(s, [](const auto& k) { return num(k) % 3 == 0; }); });
  run("extract and replace", false, [](S& s) {
    auto c = std::move(s).extract();
    s.replace(std::move(c));
  });
}

template <template <class> class Seq>
void all_flat_containers(const std::string& seq) {
  map_matrix<cm::BasicFlatMap<int, Thrower, ByV, Seq<int>, Seq<Thrower>, false>>("FlatMap<int, Thrower> over " + seq);
  map_matrix<cm::BasicFlatMap<int, Thrower, ByV, Seq<int>, Seq<Thrower>, true>>("FlatMultiMap<int, Thrower> over " + seq);
  map_matrix<cm::BasicFlatMap<Thrower, int, ByV, Seq<Thrower>, Seq<int>, false>>("FlatMap<Thrower, int> over " + seq);
  map_matrix<cm::BasicFlatMap<Thrower, int, ByV, Seq<Thrower>, Seq<int>, true>>("FlatMultiMap<Thrower, int> over " + seq);
  set_matrix<cm::BasicFlatSet<Thrower, ByV, Seq<Thrower>, false>>("FlatSet<Thrower> over " + seq);
  set_matrix<cm::BasicFlatSet<Thrower, ByV, Seq<Thrower>, true>>("FlatMultiSet<Thrower> over " + seq);
  // Elements that move without throwing but are emptied by it, beside ones that copy and throw.
  map_matrix<cm::BasicFlatMap<Mover, Thrower, ByV, Seq<Mover>, Seq<Thrower>, false>>("FlatMap<Mover, Thrower> over " + seq);
  set_matrix<cm::BasicFlatSet<Mover, ByV, Seq<Mover>, false>>("FlatSet<Mover> over " + seq);
}

TEST(FlatExceptions, OverStdVector) { all_flat_containers<Vector>("std::vector"); }
TEST(FlatExceptions, OverSmallVector) { all_flat_containers<Small>("SmallVector"); }
TEST(FlatExceptions, OverStdDeque) { all_flat_containers<Deque>("std::deque"); }
TEST(FlatExceptions, OverPmrVector) { all_flat_containers<Pmr>("std::pmr::vector"); }
TEST(FlatExceptions, OverStdVectorWithOffsetPointers) { all_flat_containers<OffsetVector>("std::vector, offset_ptr"); }
TEST(FlatExceptions, OverSmallVectorWithOffsetPointers) { all_flat_containers<OffsetSmall>("SmallVector, offset_ptr"); }

/// The reproduction: a copy that throws in insert(sorted_unique, ...) once left the keys
/// out of order, after which lookups missed and operator[] added duplicates.
TEST(FlatExceptions, SortedUniqueInsertRollsBack) {
  using M = cm::FlatMap<int, Thrower>;
  M m;
  for (int i = 0; i < 5; ++i) m.try_emplace(i * 10, i);
  std::vector<std::pair<int, Thrower>> batch;
  for (int i = 0; i < 4; ++i) batch.emplace_back(i * 10 + 5, Thrower(i));
  g_countdown = 3;
  EXPECT_THROW(m.insert(cm::sorted_unique, batch.begin(), batch.end()), std::runtime_error);
  g_countdown = -1;
  EXPECT_EQ(m.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(m.contains(i * 10));
  (void)m[40];
  EXPECT_EQ(m.size(), 5u);
}

// A small map on SmallVector sequences, its elements in their inline buffers, whose values copy
// and move with exceptions: a failed bulk insert leaves it as it was (the sorted result used to
// be swapped in element by element between inline buffers, and a failure there emptied the map).
TEST(FlatExceptions, SmallMapsOnInlineBuffersStayAsTheyWere) {
  using M = cm::BasicFlatMap<int, Thrower, ByV, cm::SmallVector<int, 8, FailingAllocator<int>>,
                             cm::SmallVector<Thrower, 8, FailingAllocator<Thrower>>, false>;
  using S = cm::BasicFlatSet<Thrower, ByV, cm::SmallVector<Thrower, 8, FailingAllocator<Thrower>>, false>;
  auto map_values = [](const M& m) {
    std::vector<std::pair<int, int>> v;
    for (const auto& [k, x] : m) v.emplace_back(k, x.v);
    return v;
  };
  auto set_values = [](const S& s) {
    std::vector<int> v;
    for (const auto& k : s) v.push_back(k.v);
    return v;
  };
  cm::test::every_failure<M>(
      "FlatMap on SmallVector<8>: insert(range)", true,
      [] {
        M m;
        m.emplace(1, Thrower(10));
        m.emplace(5, Thrower(50));
        return m;
      },
      [](M& m) {
        const std::vector<std::pair<int, Thrower>> b{{4, Thrower(40)}, {2, Thrower(20)}, {9, Thrower(90)}};
        m.insert(b.begin(), b.end());
      },
      map_values, [](const M& m) { return m.keys().size() == m.values().size(); });
  cm::test::every_failure<S>(
      "FlatSet on SmallVector<8>: insert(range)", true,
      [] {
        S s;
        s.emplace(1);
        s.emplace(5);
        return s;
      },
      [](S& s) {
        const std::vector<Thrower> b{Thrower(4), Thrower(2), Thrower(9)};
        s.insert(b.begin(), b.end());
      },
      set_values, [](const S&) { return true; });
}

/// Throws at the k-th compare (the countdown).
struct ThrowingLess {
  bool operator()(int a, int b) const {
    cm::test::tick();
    return a < b;
  }
};

/// Bulk building sorts elements that move without throwing in place (insertion sort, unique);
/// a compare that throws there: the constructor throws, leaking nothing; an insertion into an
/// empty container leaves it empty; into a non-empty one, unchanged (sorted aside).
TEST(FlatExceptions, ThrowingCompareWhileSortingInPlace) {
  using M = cm::FlatMap<int, std::string, ThrowingLess>;
  using MM = cm::FlatMultiMap<int, std::string, ThrowingLess>;
  using S = cm::FlatSet<int, ThrowingLess>;
  std::vector<std::pair<int, std::string>> batch;
  std::vector<int> keys;
  for (int i : {9, 3, 4, 21, 3, 30, 1, 16, 9, 2, 40, 0}) {  // 12: sorted in place by insertion
    batch.emplace_back(i, std::string(30, 'v') + std::to_string(i));  // heap strings: a leak shows
    keys.push_back(i);
  }
  const M existing{{5, "five, long enough to be on the heap"}, {7, "seven, long enough to be on the heap"}};
  for (int k = 1;; ++k) {
    SCOPED_TRACE(k);
    g_countdown = k;
    bool threw = false;
    try {
      M built(batch.begin(), batch.end());
      MM built_multi(batch.begin(), batch.end());
      S set(keys.begin(), keys.end());
    } catch (const std::runtime_error&) {
      threw = true;
    }
    g_countdown = k;
    M empty;
    try {
      empty.insert(batch.begin(), batch.end());
    } catch (const std::runtime_error&) {
      threw = true;
      g_countdown = -1;
      EXPECT_TRUE(empty.empty()) << "an insertion into an empty map that failed leaves it empty";
      EXPECT_EQ(empty.keys().size(), empty.values().size());
    }
    g_countdown = k;
    M m = existing;
    try {
      m.insert(batch.begin(), batch.end());
    } catch (const std::runtime_error&) {
      threw = true;
      g_countdown = -1;
      EXPECT_EQ(m, existing) << "strong guarantee";
    }
    g_countdown = -1;
    if (!threw) break;
  }
}

}  // namespace

#endif
