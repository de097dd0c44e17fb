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

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <vector>

#if CORE_MEMORY_EXCEPTIONS

namespace cm = core::memory;

namespace {

using cm::test::FailingAllocator;
using cm::test::g_countdown;
using cm::test::Thrower;

/// Runs `op` on a fresh container from `make` with a failure at every k until it completes.
template <class C, class Make, class Op, class Snapshot, class Invariant>
void every_failure(const char* name, bool strong, Make make, Op op, Snapshot snapshot, Invariant invariant) {
  bool completed = false;
  for (int k = 1; k < 300 && !completed; ++k) {
    const long live_before = Thrower::live;
    {
      C c = make();
      const auto before = snapshot(c);
      g_countdown = k;
      try {
        op(c);
        completed = true;
      } catch (const std::exception&) {  // injected: runtime_error or bad_alloc
        if (strong) {
          EXPECT_EQ(snapshot(c), before) << name << ", failure " << k;
        }
        EXPECT_TRUE(invariant(c)) << name << ", failure " << k;
      }
      g_countdown = -1;
    }
    EXPECT_EQ(Thrower::live, live_before) << "leak in " << name << ", failure " << k;
  }
  EXPECT_TRUE(completed) << name;
}

}  // namespace

TEST(ContainerExceptions, CircularBuffer) {
  using B = cm::CircularBuffer<Thrower, FailingAllocator<Thrower>>;
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

TEST(ContainerExceptions, StableVector) {
  using S = cm::StableVector<Thrower, 64, FailingAllocator<Thrower>>;
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

TEST(ContainerExceptions, FlatMap) {
  using M = cm::FlatMap<int, Thrower, std::less<int>, std::vector<int, FailingAllocator<int>>,
                        std::vector<Thrower, FailingAllocator<Thrower>>>;
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
  using K = cm::FlatMap<Thrower, int, ByV, std::vector<Thrower, FailingAllocator<Thrower>>,
                        std::vector<int, FailingAllocator<int>>>;
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

TEST(ContainerExceptions, FlatSet) {
  struct ByV {
    bool operator()(const Thrower& a, const Thrower& b) const { return a.v < b.v; }
  };
  using F = cm::FlatSet<Thrower, ByV, std::vector<Thrower, FailingAllocator<Thrower>>>;
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

TEST(ContainerExceptions, BumpVector) {
  cm::Arena arena;
  const long live_before = Thrower::live;
  {
    cm::BumpVector<Thrower> v(arena);
    const Thrower t(1);
    for (int k = 1; k < 40; ++k) {
      const std::size_t before = v.size();
      g_countdown = k % 3 == 0 ? 1 : -1;
      try {
        v.push_back(t);
      } catch (const std::runtime_error&) {
        EXPECT_EQ(v.size(), before) << "a failed append leaves the size";
      }
      g_countdown = -1;
    }
  }
  EXPECT_EQ(Thrower::live, live_before);
}

#endif
