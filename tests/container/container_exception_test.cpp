// Exception safety of CircularBuffer, StableVector, FlatMap, FlatSet and BumpVector: an element
// type that throws on the k-th copy, move or assignment and an allocator that fails the k-th
// allocation (one shared count of events), for every k across each operation. Nothing may leak,
// invariants must hold after a failure, and operations documented as strong leave the contents
// unchanged.

#include <core/memory/container/bump_vector.hpp>
#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/stable_vector.hpp>

#include "support/fault_injection.hpp"
#include "support/owning_resource.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <vector>

#if CORE_MEMORY_EXCEPTIONS

namespace cm = core::memory;

namespace {

using cm::test::FailingAllocator;
using cm::test::g_countdown;
using cm::test::Thrower;

using cm::test::every_failure;

/// The memory resource an allocator draws from.
cm::test::OwningResource* owner(const std::pmr::polymorphic_allocator<Thrower>& a) {
  return static_cast<cm::test::OwningResource*>(a.resource());
}
cm::test::OwningResource* owner(const cm::test::OffsetOwningAllocator<Thrower>& a) { return a.resource; }

// Each case runs on an allocator whose pointer is T* and on one whose pointer is offset_ptr<T>
// (Offset), as a shared-memory allocator's.

template <bool Offset>
void circular_buffer_cases() {
  using B = cm::CircularBuffer<Thrower, FailingAllocator<Thrower, Offset>>;
  auto snapshot = [](const B& b) {
    std::vector<int> v;
    for (const auto& x : b) v.push_back(x.v);
    return v;
  };
  auto ok = [](const B& b) { return b.size() == b.capacity(); };  // every case starts full and stays full
  {
    auto make = [] {
      B b(6);
      for (int i = 0; i < 6; ++i) b.emplace_back(i);  // full, wrapped after the pops below
      b.pop_front();
      b.pop_front();
      b.emplace_back(6);
      b.emplace_back(7);
      return b;
    };
    const Thrower t(42);
    // Overwriting a Thrower (its move may throw) is basic; rejecting is trivially strong.
    every_failure<B>("push_back when full", false, make, [&](B& b) { b.push_back(t); }, snapshot, ok);
    every_failure<B>("push_front when full", false, make, [&](B& b) { b.push_front(t); }, snapshot, ok);
    every_failure<B>("try_push_back when full", true, make, [&](B& b) { EXPECT_FALSE(b.try_push_back(t)); }, snapshot, ok);
    every_failure<B>("set_capacity", true, make, [](B& b) { b.set_capacity(20); }, snapshot, ok);
    every_failure<B>("linearize", true, make, [](B& b) { (void)b.linearize(); }, snapshot, ok);
    every_failure<B>("copy", true, make, [](B& b) { B copy(b); }, snapshot, ok);
  }
}

}  // namespace

TEST(ContainerExceptions, CircularBuffer) {
  circular_buffer_cases<false>();
  circular_buffer_cases<true>();
}

namespace {
template <bool Offset>
void stable_vector_cases() {
  using S = cm::StableVector<Thrower, 64, FailingAllocator<Thrower, Offset>>;
  auto make = [] {
    S s;
    for (int i = 0; i < 70; ++i) s.emplace(i);  // two blocks
    return s;
  };
  auto snapshot = [](const S& s) {
    std::vector<int> v;
    for (const auto& x : s) v.push_back(x.v);
    return v;
  };
  auto ok = [](const S& s) { return static_cast<std::size_t>(std::distance(s.begin(), s.end())) == s.size(); };
  const Thrower t(9);
  every_failure<S>("emplace copy", true, make, [&](S& s) { (void)s.emplace(t); }, snapshot, ok);
  every_failure<S>("emplace many", false, make, [&](S& s) { for (int i = 0; i < 100; ++i) (void)s.emplace(t); },
                   snapshot, ok);
  auto make_full = [] {
    S s;
    for (int i = 0; i < 128; ++i) s.emplace(i);  // two full blocks: the next emplace allocates
    return s;
  };
  every_failure<S>("emplace that adds a block", true, make_full, [&](S& s) { (void)s.emplace(t); }, snapshot, ok);
  every_failure<S>("reserve", true, make_full, [](S& s) { s.reserve(1000); }, snapshot, ok);
  every_failure<S>("copy", true, make, [](S& s) { S copy(s); }, snapshot, ok);
  every_failure<S>("copy assignment", true, make,
                   [](S& s) {
                     S other;
                     other.emplace(1);
                     other = s;
                   },
                   snapshot, ok);
}
}  // namespace

TEST(ContainerExceptions, StableVector) {
  stable_vector_cases<false>();
  stable_vector_cases<true>();
}

// Every public operation of CircularBuffer that can copy, move or allocate, with equal and
// unequal (non-propagating) allocators, failed at every event. Elements must stay in their
// container's own memory.
namespace {
template <class A>
void circular_buffer_every_operation() {
  cm::test::OwningResource r1("resource 1"), r2("resource 2");
  using B = cm::CircularBuffer<Thrower, A>;
  auto snapshot = [](const B& b) {
    std::vector<int> v;
    for (const auto& x : b) v.push_back(x.v);
    return v;
  };
  auto ok = [](const B& b) {
    auto* r = owner(b.get_allocator());
    return static_cast<std::size_t>(b.end() - b.begin()) == b.size() && b.size() <= b.capacity() &&
           std::all_of(b.begin(), b.end(), [&](const Thrower& x) { return r->holds(&x); });
  };
  const Thrower t(42);
  for (const bool full : {false, true}) {
    SCOPED_TRACE(full ? "full" : "not full");
    auto make = [&r1, full] {
      B b(6, A(&r1));
      for (int i = 0; i < 6; ++i) b.emplace_back(i);
      b.pop_front();
      b.pop_front();  // wrapped from here on
      b.emplace_back(6);
      if (full) b.emplace_back(7);
      return b;
    };
    // Overwriting a Thrower (its move may throw) is basic; everything else is strong.
    every_failure<B>("push_back", !full, make, [&](B& b) { b.push_back(t); }, snapshot, ok);
    every_failure<B>("push_front", !full, make, [&](B& b) { b.push_front(t); }, snapshot, ok);
    every_failure<B>("push_back(T&&)", !full, make, [](B& b) { b.push_back(Thrower(3)); }, snapshot, ok);
    every_failure<B>("emplace_back", !full, make, [](B& b) { b.emplace_back(3); }, snapshot, ok);
    every_failure<B>("emplace_front", !full, make, [](B& b) { b.emplace_front(3); }, snapshot, ok);
    every_failure<B>("try_push_back", true, make, [&](B& b) { (void)b.try_push_back(t); }, snapshot, ok);
    every_failure<B>("try_push_front", true, make, [&](B& b) { (void)b.try_push_front(t); }, snapshot, ok);
    every_failure<B>("try_emplace_back", true, make, [](B& b) { (void)b.try_emplace_back(3); }, snapshot, ok);
    every_failure<B>("try_emplace_front", true, make, [](B& b) { (void)b.try_emplace_front(3); }, snapshot, ok);
    every_failure<B>("set_capacity up", true, make, [](B& b) { b.set_capacity(20); }, snapshot, ok);
    every_failure<B>("set_capacity down", true, make, [](B& b) { b.set_capacity(3); }, snapshot, ok);
    every_failure<B>("linearize", true, make, [](B& b) { (void)b.linearize(); }, snapshot, ok);
    every_failure<B>("rotate", full, make, [](B& b) { b.rotate(b.cbegin() + 2); }, snapshot, ok);
    every_failure<B>("construct", true, make, [&](B&) { B c(5, A(&r2)); }, snapshot, ok);
    every_failure<B>("copy", true, make, [](B& b) { B c(b); }, snapshot, ok);
    every_failure<B>("copy with an equal allocator", true, make, [&](B& b) { B c(b, A(&r1)); }, snapshot, ok);
    every_failure<B>("copy with another allocator", true, make, [&](B& b) { B c(b, A(&r2)); }, snapshot, ok);
    // The source of a move keeps moved-from elements: basic for it.
    every_failure<B>("move with another allocator", false, make, [&](B& b) { B c(std::move(b), A(&r2)); },
                     snapshot, ok);
    for (auto* other : {&r1, &r2}) {
      SCOPED_TRACE(other == &r1 ? "equal allocators" : "unequal allocators");
      auto source = [other] {
        B o(4, A(other));
        o.emplace_back(100);
        o.emplace_back(101);
        return o;
      };
      every_failure<B>("copy assignment", true, make, [&](B& b) { const B o = source(); b = o; }, snapshot, ok);
      every_failure<B>("move assignment", true, make, [&](B& b) { B o = source(); b = std::move(o); }, snapshot, ok);
      every_failure<B>("swap", true, make, [&](B& b) { B o = source(); swap(b, o); }, snapshot, ok);
    }
  }
}
}  // namespace

TEST(ContainerExceptions, CircularBufferEveryOperation) {
  circular_buffer_every_operation<std::pmr::polymorphic_allocator<Thrower>>();
  circular_buffer_every_operation<cm::test::OffsetOwningAllocator<Thrower>>();
}

// Every public operation of StableVector that can copy, move or allocate, likewise.
namespace {
template <class A>
void stable_vector_every_operation() {
  cm::test::OwningResource r1("resource 1"), r2("resource 2");
  using S = cm::StableVector<Thrower, 64, A>;
  auto snapshot = [](const S& s) {
    std::vector<std::pair<std::uint32_t, int>> v;  // handles and values: slots must not change
    for (auto it = s.begin(); it != s.end(); ++it) v.emplace_back(it.handle().slot, it->v);
    return v;
  };
  auto ok = [](const S& s) {
    auto* r = owner(s.get_allocator());
    return static_cast<std::size_t>(std::distance(s.begin(), s.end())) == s.size() &&
           std::all_of(s.begin(), s.end(), [&](const Thrower& x) { return r->holds(&x); });
  };
  const Thrower t(9);
  // Holes to reuse, fresh slots in the last block, or every slot taken (the next insert allocates).
  for (const int shape : {0, 1, 2}) {
    SCOPED_TRACE(testing::Message() << "shape " << shape);
    auto make = [&r1, shape] {
      S s{A(&r1)};
      std::vector<typename S::Handle> hs;
      for (int i = 0; i < (shape == 2 ? 128 : 70); ++i) hs.push_back(s.emplace(i));
      if (shape == 0)
        for (std::size_t i = 3; i < 70; i += 9) s.erase(hs[i]);
      return s;
    };
    every_failure<S>("emplace copy", true, make, [&](S& s) { (void)s.emplace(t); }, snapshot, ok);
    every_failure<S>("push_back(T&&)", true, make, [](S& s) { (void)s.push_back(Thrower(1)); }, snapshot, ok);
    every_failure<S>("emplace_back", true, make, [](S& s) { (void)s.emplace_back(1); }, snapshot, ok);
    every_failure<S>("reserve", true, make, [](S& s) { s.reserve(1000); }, snapshot, ok);
    every_failure<S>("shrink_to_fit", true, make, [](S& s) { s.shrink_to_fit(); }, snapshot, ok);
    every_failure<S>("construct", true, make, [&](S&) { S c{A(&r2)}; c.reserve(10); }, snapshot, ok);
    every_failure<S>("copy", true, make, [](S& s) { S c(s); }, snapshot, ok);
    every_failure<S>("copy with an equal allocator", true, make, [&](S& s) { S c(s, A(&r1)); }, snapshot, ok);
    every_failure<S>("copy with another allocator", true, make, [&](S& s) { S c(s, A(&r2)); }, snapshot, ok);
    every_failure<S>("move with another allocator", false, make, [&](S& s) { S c(std::move(s), A(&r2)); },
                     snapshot, ok);
    for (auto* other : {&r1, &r2}) {
      SCOPED_TRACE(other == &r1 ? "equal allocators" : "unequal allocators");
      auto source = [other] {
        S o{A(other)};
        (void)o.emplace(100);
        (void)o.emplace(101);
        return o;
      };
      every_failure<S>("copy assignment", true, make, [&](S& s) { const S o = source(); s = o; }, snapshot, ok);
      every_failure<S>("move assignment", true, make, [&](S& s) { S o = source(); s = std::move(o); }, snapshot, ok);
      every_failure<S>("swap", true, make, [&](S& s) { S o = source(); swap(s, o); }, snapshot, ok);
    }
  }
}
}  // namespace

TEST(ContainerExceptions, StableVectorEveryOperation) {
  stable_vector_every_operation<std::pmr::polymorphic_allocator<Thrower>>();
  stable_vector_every_operation<cm::test::OffsetOwningAllocator<Thrower>>();
}

namespace {
template <bool Offset>
void flat_map_cases() {
  using M = cm::FlatMap<int, Thrower, std::less<int>, std::vector<int, FailingAllocator<int, Offset>>,
                        std::vector<Thrower, FailingAllocator<Thrower, Offset>>>;
  auto make = [] {
    M m;
    for (int i = 0; i < 20; ++i) m.try_emplace(i * 2, i);
    return m;
  };
  auto snapshot = [](const M& m) {
    std::vector<std::pair<int, int>> v;
    for (auto [k, x] : m) v.emplace_back(k, x.v);
    return v;
  };
  auto ok = [](const M& m) {
    return m.keys().size() == m.values().size() && std::is_sorted(m.keys().begin(), m.keys().end()) &&
           std::adjacent_find(m.keys().begin(), m.keys().end()) == m.keys().end();
  };
  const Thrower t(5);
  every_failure<M>("insert in the middle", false, make, [&](M& m) { m.insert({7, t}); }, snapshot, ok);
  every_failure<M>("insert_or_assign", false, make, [&](M& m) { m.insert_or_assign(8, t); }, snapshot, ok);
  every_failure<M>("bulk insert", true, make,
                   [&](M& m) {
                     std::vector<std::pair<int, Thrower>> batch;
                     for (int i = 0; i < 10; ++i) batch.emplace_back(i * 3, Thrower(i));
                     m.insert(batch.begin(), batch.end());
                   },
                   snapshot, ok);
  every_failure<M>("erase", false, make, [](M& m) { m.erase(4); }, snapshot, ok);
  every_failure<M>("erase_if", false, make, [](M& m) { erase_if(m, [](const auto& p) { return p.first % 3 == 0; }); },
                   snapshot, ok);

  // Keys whose moves throw: a failed shift of the keys must not leave them out of order.
  struct ByV {
    bool operator()(const Thrower& a, const Thrower& b) const { return a.v < b.v; }
  };
  using K = cm::FlatMap<Thrower, int, ByV, std::vector<Thrower, FailingAllocator<Thrower, Offset>>,
                        std::vector<int, FailingAllocator<int, Offset>>>;
  auto make_k = [] {
    K m;
    for (int i = 0; i < 20; ++i) m.try_emplace(Thrower(i * 2), i);
    return m;
  };
  auto snapshot_k = [](const K& m) {
    std::vector<std::pair<int, int>> v;
    for (const auto& [k, x] : m) v.emplace_back(k.v, x);
    return v;
  };
  auto ok_k = [](const K& m) {
    const auto& k = m.keys();
    return k.size() == m.values().size() &&
           std::adjacent_find(k.begin(), k.end(), [](const Thrower& a, const Thrower& b) { return a.v >= b.v; }) ==
               k.end() &&
           std::all_of(m.begin(), m.end(), [](const auto& p) { return p.second == p.first.v / 2; });
  };
  every_failure<K>("throwing key: insert in the middle", false, make_k, [](K& m) { m.try_emplace(Thrower(7), 3); },
                   snapshot_k, ok_k);
  every_failure<K>("throwing key: erase", false, make_k, [](K& m) { m.erase(Thrower(4)); }, snapshot_k, ok_k);
}
}  // namespace

// Moving elements between unequal, non-propagating allocators (swap, move assignment, the
// allocator-extended move constructor) allocates in the target: a failed allocation must come
// before the first element leaves the source. Elements whose move cannot throw but empties them
// (Mover, as std::string) show a source that lost them.
namespace {
/// Builds a container with `make(resource)` and runs `op(it, other resource)`, failing the k-th
/// allocation or element copy for every k until it completes: after each failure the container
/// (`snapshot`) is as it was.
template <class Make, class Op, class Snapshot>
void source_whole_after_failures(const std::string& name, Make make, Op op, Snapshot snapshot) {
  bool completed = false;
  for (int k = 1; k < 400 && !completed; ++k) {
    cm::test::OwningResource target("target"), source_memory("source");
    auto source = make(&source_memory);
    const auto before = snapshot(source);
    g_countdown = k;
    try {
      op(source, &target);
      completed = true;
    } catch (const std::bad_alloc&) {
      g_countdown = -1;
      EXPECT_EQ(snapshot(source), before) << name << ", failure " << k;
    }
    g_countdown = -1;
  }
  EXPECT_TRUE(completed) << name;
}

/// source_whole_after_failures for `op(target, source)` on containers of Mover, the target on
/// the other resource.
template <class C, class Op>
void source_survives(const std::string& name, Op op) {
  using A = std::pmr::polymorphic_allocator<cm::test::Mover>;
  auto fill = [](C& c, int n, int base) {
    for (int i = 0; i < n; ++i) {
      if constexpr (requires { c.try_emplace(cm::test::Mover(i)); })
        c.try_emplace(cm::test::Mover(base + i), cm::test::Mover(i));
      else if constexpr (requires { c.emplace_back(cm::test::Mover(i)); })
        c.emplace_back(cm::test::Mover(base + i));
      else
        c.insert(cm::test::Mover(base + i));
    }
  };
  auto values = [](const C& c) {
    std::vector<int> v;
    for (const auto& x : c) {
      if constexpr (requires { x.second; }) v.push_back(x.first.v * 1000 + x.second.v);
      else v.push_back(x.v);
    }
    return v;
  };
  source_whole_after_failures(
      name,
      [&](std::pmr::memory_resource* r) {
        C c{A(r)};
        fill(c, 130, 0);  // three blocks of a StableVector
        return c;
      },
      [&](C& source, std::pmr::memory_resource* r) {
        C target{A(r)};
        fill(target, 5, 1000);
        op(target, source);
      },
      values);
}
}  // namespace

TEST(ContainerExceptions, UnequalAllocatorsLeaveTheSourceWhole) {
  using cm::test::Mover;
  using SV = cm::StableVector<Mover, 64, std::pmr::polymorphic_allocator<Mover>>;
  source_survives<SV>("StableVector swap", [](SV& t, SV& s) { t.swap(s); });
  source_survives<SV>("StableVector move assignment", [](SV& t, SV& s) { t = std::move(s); });
  source_survives<SV>("StableVector move constructor with an allocator",
                      [](SV& t, SV& s) { SV moved(std::move(s), t.get_allocator()); });
  // (FlatMap and FlatSet take the allocator of their sequences.)
  using FM = cm::FlatMap<Mover, Mover, std::less<>, std::pmr::vector<Mover>, std::pmr::vector<Mover>>;
  source_survives<FM>("FlatMap move constructor with an allocator", [](FM& t, FM& s) {
    FM moved(std::move(s), std::pmr::polymorphic_allocator<Mover>(t.keys().get_allocator()));
  });
  using FS = cm::FlatSet<Mover, std::less<>, std::pmr::vector<Mover>>;
  source_survives<FS>("FlatSet move constructor with an allocator", [](FS& t, FS& s) {
    FS moved(std::move(s), std::pmr::polymorphic_allocator<Mover>(t.keys().get_allocator()));
  });
}

// Elements built with the allocator (std::pmr::string in pmr sequences): moved into memory of
// another resource they are copied, which may fail, and short ones are emptied by a move. The
// source must be whole after any failure (a unique map was left with three equal empty keys).
TEST(ContainerExceptions, ElementsBuiltWithTheAllocatorStayInTheSource) {
  using S = std::pmr::string;
  using A = std::pmr::polymorphic_allocator<S>;
  using FM = cm::FlatMap<S, S, std::less<>, std::pmr::vector<S>, std::pmr::vector<S>>;
  using FS = cm::FlatSet<S, std::less<>, std::pmr::vector<S>>;
  using SV = cm::StableVector<S, 64, A>;
  const std::vector<std::string> words{"a", "b", "c", "a long key that the string keeps on the heap, not inline"};
  auto check = [](const char* name, auto make, auto op, auto snapshot) {
    source_whole_after_failures(
        name, [&](std::pmr::memory_resource* r) { return make(A(r)); },
        [&](auto& source, std::pmr::memory_resource* r) { op(source, A(r)); }, snapshot);
  };
  auto map_snapshot = [](const FM& m) {
    std::vector<std::string> v;
    for (const auto& [k, x] : m) v.push_back(std::string(k) + "=" + std::string(x));
    return v;
  };
  auto make_map = [&](const A& a) {
    FM m(a);
    for (const std::string& w : words) m.try_emplace(S(w, a), S(w + w, a));
    return m;
  };
  check("FlatMap(FlatMap&&, alloc)", make_map, [](FM& m, const A& a) { FM moved(std::move(m), a); }, map_snapshot);
  auto set_snapshot = [](const FS& s) { return std::vector<std::string>(s.begin(), s.end()); };
  check(
      "FlatSet(FlatSet&&, alloc)",
      [&](const A& a) {
        FS s(a);
        for (const std::string& w : words) s.insert(S(w, a));
        return s;
      },
      [](FS& s, const A& a) { FS moved(std::move(s), a); }, set_snapshot);
  auto vector_snapshot = [](const SV& v) { return std::vector<std::string>(v.begin(), v.end()); };
  auto make_vector = [&](const A& a) {
    SV v(a);
    for (const std::string& w : words) v.emplace(w);
    return v;
  };
  check("StableVector::swap", make_vector, [&](SV& v, const A& a) {
    SV other = make_vector(a);
    v.swap(other);
  }, vector_snapshot);
  check("StableVector(StableVector&&, alloc)", make_vector, [](SV& v, const A& a) { SV moved(std::move(v), a); },
        vector_snapshot);
}

TEST(ContainerExceptions, FlatMap) {
  flat_map_cases<false>();
  flat_map_cases<true>();
}

namespace {
template <bool Offset>
void flat_set_cases() {
  struct ByV {
    bool operator()(const Thrower& a, const Thrower& b) const { return a.v < b.v; }
  };
  using F = cm::FlatSet<Thrower, ByV, std::vector<Thrower, FailingAllocator<Thrower, Offset>>>;
  auto make = [] {
    F f;
    for (int i = 0; i < 20; ++i) f.emplace(i * 2);
    return f;
  };
  auto snapshot = [](const F& f) {
    std::vector<int> v;
    for (const auto& x : f) v.push_back(x.v);
    return v;
  };
  auto ok = [](const F& f) {
    return std::adjacent_find(f.begin(), f.end(), [](const Thrower& a, const Thrower& b) { return a.v >= b.v; }) ==
           f.end();
  };
  const Thrower odd(7), last(100);
  every_failure<F>("insert in the middle", false, make, [&](F& f) { f.insert(odd); }, snapshot, ok);
  every_failure<F>("insert at the end", true, make, [&](F& f) { f.insert(last); }, snapshot, ok);
  every_failure<F>("bulk insert", true, make,
                   [](F& f) {
                     std::vector<Thrower> batch;
                     for (int i = 0; i < 10; ++i) batch.emplace_back(i * 3);
                     f.insert(batch.begin(), batch.end());
                   },
                   snapshot, ok);
  every_failure<F>("erase", false, make, [](F& f) { f.erase(Thrower(4)); }, snapshot, ok);
}
}  // namespace

TEST(ContainerExceptions, FlatSet) {
  flat_set_cases<false>();
  flat_set_cases<true>();
}

/// A bump-style RawAllocator over an Arena whose allocations are fault-injection events.
struct FailingArena {
  cm::Arena arena;
  void* allocate(std::size_t size, std::size_t align) {
    if (g_countdown > 0 && --g_countdown == 0) throw std::bad_alloc();
    return arena.allocate(size, align);
  }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept { arena.deallocate(p, size, align); }
};

TEST(ContainerExceptions, BumpVector) {
  FailingArena fa;
  using V = cm::BumpVector<Thrower, FailingArena>;
  auto snapshot = [](const V& v) {
    std::vector<std::pair<const Thrower*, int>> r;  // addresses too: elements never move
    for (const auto& x : v) r.emplace_back(&x, x.v);
    return r;
  };
  auto ok = [](const V& v) { return static_cast<std::size_t>(v.end() - v.begin()) == v.size(); };
  const Thrower t(1);
  for (const int n : {5, 8}) {  // room in the segment, or the next push needs a new segment
    auto make = [&fa, n] {
      V v(fa);
      for (int i = 0; i < n; ++i) v.emplace_back(i);
      return v;
    };
    every_failure<V>("push_back", true, make, [&](V& v) { v.push_back(t); }, snapshot, ok);
    every_failure<V>("push_back(T&&)", true, make, [](V& v) { v.push_back(Thrower(2)); }, snapshot, ok);
    every_failure<V>("emplace_back", true, make, [](V& v) { v.emplace_back(3); }, snapshot, ok);
  }
}

#endif
