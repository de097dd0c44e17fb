// FlatMap lookup against std::map and boost::container::flat_map at 10^3 .. 10^5 keys;
// CircularBuffer push/pop against boost::circular_buffer; IntrusiveList insert/erase/iterate
// against std::list.

#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/intrusive_list.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/container/stable_vector.hpp>

#include <benchmark/benchmark.h>
#include <boost/circular_buffer.hpp>
#include <boost/container/flat_map.hpp>
#include <boost/container/stable_vector.hpp>
#include <plf_colony.h>

#include <algorithm>
#include <list>
#include <memory>
#include <map>
#include <random>
#include <vector>

namespace cm = core::memory;

namespace {

/// `count` random keys in [0, range).
std::vector<int> random_keys(std::size_t count, std::size_t range, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int> k(count);
  for (auto& x : k) x = static_cast<int>(rng() % range);
  return k;
}

template <class Map>
void lookup(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::pair<int, int>> input;
  for (int k : random_keys(n, n * 4, 1)) input.emplace_back(k, k);
  const Map m(input.begin(), input.end());  // bulk: one-by-one insertion into a flat map is O(n^2)
  // Probes spread over the whole key space (about a quarter hit), and too many for the branch
  // predictor to learn their sequence.
  const auto probes = random_keys(1 << 16, n * 4, 2);
  for (auto _ : state) {
    long hits = 0;
    for (int k : probes) hits += m.find(k) != m.end();
    benchmark::DoNotOptimize(hits);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long>(probes.size()));
}
BENCHMARK_TEMPLATE(lookup, cm::FlatMap<int, int>)->Name("map_lookup/cm::FlatMap")->Arg(1000)->Arg(10000)->Arg(100000)->Arg(1000000);
BENCHMARK_TEMPLATE(lookup, std::map<int, int>)->Name("map_lookup/std::map")->Arg(1000)->Arg(10000)->Arg(100000)->Arg(1000000);
BENCHMARK_TEMPLATE(lookup, boost::container::flat_map<int, int>)
    ->Name("map_lookup/boost::flat_map")
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000);

/// The same 4096 random probes over and over (a loop over a fixed probe list, as a cache or a
/// join does): a branchy search's predictor can learn them, a branch-free one gains nothing.
template <class Map>
void lookup_repeated_probes(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::pair<int, int>> input;
  for (int k : random_keys(n, n * 4, 1)) input.emplace_back(k, k);
  const Map m(input.begin(), input.end());
  const auto probes = random_keys(4096, n * 4, 2);
  for (auto _ : state) {
    long hits = 0;
    for (int k : probes) hits += m.find(k) != m.end();
    benchmark::DoNotOptimize(hits);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long>(probes.size()));
}
BENCHMARK_TEMPLATE(lookup_repeated_probes, cm::FlatMap<int, int>)
    ->Name("map_lookup_repeated_probes/cm::FlatMap")
    ->Arg(1000)
    ->Arg(10000);
BENCHMARK_TEMPLATE(lookup_repeated_probes, std::map<int, int>)
    ->Name("map_lookup_repeated_probes/std::map")
    ->Arg(1000)
    ->Arg(10000);
BENCHMARK_TEMPLATE(lookup_repeated_probes, boost::container::flat_map<int, int>)
    ->Name("map_lookup_repeated_probes/boost::flat_map")
    ->Arg(1000)
    ->Arg(10000);

template <class Map>
void bulk_build(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::pair<int, int>> input;
  for (int k : random_keys(n, n * 4, 3)) input.emplace_back(k, k);
  for (auto _ : state) {
    Map m(input.begin(), input.end());
    benchmark::DoNotOptimize(&m);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long>(n));
}
// Every size from 10 to 10^5 unsorted pairs: the target is boost's speed at each. 300 is on the
// path between the stack's 128 and the radix sort's 512.
void bulk_sizes(benchmark::internal::Benchmark* b) {
  for (long n : {10, 100, 300, 1000, 10000, 100000}) b->Arg(n);
}
BENCHMARK_TEMPLATE(bulk_build, cm::FlatMap<int, int>)->Name("map_bulk_build/cm::FlatMap")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(bulk_build, std::map<int, int>)->Name("map_bulk_build/std::map")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(bulk_build, boost::container::flat_map<int, int>)->Name("map_bulk_build/boost::flat_map")->Apply(bulk_sizes);
// Small maps built often: keys and values in SmallVector<16> sequences, no allocation at all (the
// default std::vector pair allocates twice, where boost's one vector of pairs allocates once).
BENCHMARK_TEMPLATE(bulk_build, cm::BasicFlatMap<int, int, std::less<int>, cm::SmallVector<int, 16>, cm::SmallVector<int, 16>>)
    ->Name("map_bulk_build/cm-small::FlatMap on SmallVector<int, 16>")
    ->Arg(10);

template <class Ring, class Make>
void ring_push_pop(benchmark::State& state, Make make) {
  Ring r = make();
  for (int i = 0; i < 512; ++i) r.push_back(i);
  int x = 0;
  for (auto _ : state) {
    for (int i = 0; i < 1024; ++i) {
      r.push_back(++x);
      benchmark::DoNotOptimize(r.front());
      r.pop_front();
    }
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
void BM_cm_ring(benchmark::State& s) {
  ring_push_pop<cm::CircularBuffer<int>>(s, [] { return cm::CircularBuffer<int>(1024); });
}
void BM_boost_ring(benchmark::State& s) {
  ring_push_pop<boost::circular_buffer<int>>(s, [] { return boost::circular_buffer<int>(1024); });
}
BENCHMARK(BM_cm_ring)->Name("ring_push_pop/cm::CircularBuffer/1024");
BENCHMARK(BM_boost_ring)->Name("ring_push_pop/boost::circular_buffer/1024");

// Steady FIFO (issue 9): capacity 1024, half full, push_back + read front + pop_front, the ring on
// the heap and reached through a pointer the compiler cannot see through, as when code shares it.
template <class Ring>
void ring_fifo_steady(benchmark::State& state) {
  auto owner = std::make_unique<Ring>(1024);
  Ring* r = owner.get();
  benchmark::DoNotOptimize(r);
  for (int i = 0; i < 512; ++i) r->push_back(i);
  int x = 0;
  long sum = 0;
  for (auto _ : state) {
    for (int i = 0; i < 1024; ++i) {
      r->push_back(++x);
      sum += r->front();
      r->pop_front();
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
BENCHMARK_TEMPLATE(ring_fifo_steady, cm::CircularBuffer<int>)->Name("ring_fifo_steady/cm::CircularBuffer/1024");
BENCHMARK_TEMPLATE(ring_fifo_steady, boost::circular_buffer<int>)->Name("ring_fifo_steady/boost::circular_buffer/1024");

struct Item : cm::ListHook<> {
  int v = 0;
};
void BM_intrusive(benchmark::State& state) {
  std::vector<Item> items(1024);
  for (auto _ : state) {
    cm::IntrusiveList<Item> l;
    for (auto& it : items) l.push_back(it);
    long s = 0;
    for (auto& it : l) s += it.v;
    for (std::size_t i = 0; i < items.size(); i += 2) l.remove(items[i]);
    l.clear();
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
void BM_std_list(benchmark::State& state) {
  std::vector<int> items(1024);
  for (auto _ : state) {
    std::list<int> l;
    std::vector<std::list<int>::iterator> pos;
    pos.reserve(items.size());
    for (int v : items) pos.push_back(l.insert(l.end(), v));
    long s = 0;
    for (int v : l) s += v;
    for (std::size_t i = 0; i < pos.size(); i += 2) l.erase(pos[i]);
    l.clear();
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_intrusive)->Name("list_insert_iterate_erase/cm::IntrusiveList/1024");
BENCHMARK(BM_std_list)->Name("list_insert_iterate_erase/std::list/1024");

// StableVector: iterate 10^4 elements after erasing a random third (holes to skip, in no pattern
// a branch predictor could learn), and insert + erase churn, against plf::colony,
// boost::stable_vector and std::vector (iteration).
constexpr int n_stable = 10000;

/// Which of the n_stable elements (by insertion order) the iteration benchmarks erase.
const std::vector<bool>& erased_third() {
  static const std::vector<bool> gone = [] {
    std::mt19937 rng(5);
    std::vector<bool> g(n_stable);
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = rng() % 3 == 0;
    return g;
  }();
  return gone;
}
/// Erases the chosen third from an insertion-ordered container, through its iterators.
template <class C>
void erase_chosen(C& c) {
  std::size_t k = 0;
  for (auto it = c.begin(); it != c.end();) it = erased_third()[k++] ? c.erase(it) : std::next(it);
}

template <class C, class Insert, class Erase>
void stable_iterate(benchmark::State& state, Insert insert, Erase erase_every_third) {
  C c;
  for (int i = 0; i < n_stable; ++i) insert(c, i);
  erase_every_third(c);
  for (auto _ : state) {
    long s = 0;
    for (const auto& x : c) s += x;
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<long>(c.size()));
}
void BM_sv_iterate(benchmark::State& s) {
  using C = cm::StableVector<int>;
  std::vector<C::Handle> hs;
  stable_iterate<C>(
      s, [&](C& c, int i) { hs.push_back(c.emplace(i)); },
      [&](C& c) {
        for (std::size_t i = 0; i < hs.size(); ++i)
          if (erased_third()[i]) c.erase(hs[i]);
      });
}
void BM_colony_iterate(benchmark::State& s) {
  using C = plf::colony<int>;
  stable_iterate<C>(s, [](C& c, int i) { c.insert(i); }, [](C& c) { erase_chosen(c); });
}
void BM_boost_sv_iterate(benchmark::State& s) {
  using C = boost::container::stable_vector<int>;
  stable_iterate<C>(s, [](C& c, int i) { c.push_back(i); }, [](C& c) { erase_chosen(c); });
}
void BM_vector_iterate(benchmark::State& s) {
  using C = std::vector<int>;
  stable_iterate<C>(
      s, [](C& c, int i) { c.push_back(i); },
      [](C& c) {
        std::size_t k = 0;
        std::erase_if(c, [&](int) { return erased_third()[k++]; });
      });
}
void BM_sv_for_each(benchmark::State& s) {
  using C = cm::StableVector<int>;
  std::vector<C::Handle> hs;
  C c;
  for (int i = 0; i < n_stable; ++i) hs.push_back(c.emplace(i));
  for (std::size_t i = 0; i < hs.size(); ++i)
    if (erased_third()[i]) c.erase(hs[i]);
  for (auto _ : s) {
    long sum = 0;
    c.for_each([&](int x) { sum += x; });
    benchmark::DoNotOptimize(sum);
  }
  s.SetItemsProcessed(s.iterations() * static_cast<long>(c.size()));
}
BENCHMARK(BM_sv_iterate)->Name("stable_iterate/cm::StableVector/10000");
BENCHMARK(BM_sv_for_each)->Name("stable_iterate/cm-for_each::StableVector/10000");
BENCHMARK(BM_colony_iterate)->Name("stable_iterate/plf::colony/10000");
BENCHMARK(BM_boost_sv_iterate)->Name("stable_iterate/boost::stable_vector/10000");
BENCHMARK(BM_vector_iterate)->Name("stable_iterate/std::vector/10000");

// The same without holes (nothing erased): the case a vector is usually compared in.
template <class C, class Insert, class Visit>
void dense_iterate(benchmark::State& state, Insert insert, Visit visit) {
  C c;
  for (int i = 0; i < n_stable; ++i) insert(c, i);
  for (auto _ : state) {
    long s = 0;
    visit(c, s);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * n_stable);
}
void BM_sv_dense(benchmark::State& s) {
  dense_iterate<cm::StableVector<int>>(
      s, [](auto& c, int i) { c.emplace(i); },
      [](auto& c, long& sum) {
        for (int x : c) sum += x;
      });
}
void BM_sv_dense_for_each(benchmark::State& s) {
  dense_iterate<cm::StableVector<int>>(
      s, [](auto& c, int i) { c.emplace(i); }, [](auto& c, long& sum) { c.for_each([&](int x) { sum += x; }); });
}
void BM_colony_dense(benchmark::State& s) {
  dense_iterate<plf::colony<int>>(
      s, [](auto& c, int i) { c.insert(i); },
      [](auto& c, long& sum) {
        for (int x : c) sum += x;
      });
}
void BM_boost_sv_dense(benchmark::State& s) {
  dense_iterate<boost::container::stable_vector<int>>(
      s, [](auto& c, int i) { c.push_back(i); },
      [](auto& c, long& sum) {
        for (int x : c) sum += x;
      });
}
void BM_vector_dense(benchmark::State& s) {
  dense_iterate<std::vector<int>>(
      s, [](auto& c, int i) { c.push_back(i); },
      [](auto& c, long& sum) {
        for (int x : c) sum += x;
      });
}
BENCHMARK(BM_sv_dense)->Name("stable_iterate_dense/cm::StableVector/10000");
BENCHMARK(BM_sv_dense_for_each)->Name("stable_iterate_dense/cm-for_each::StableVector/10000");
BENCHMARK(BM_colony_dense)->Name("stable_iterate_dense/plf::colony/10000");
BENCHMARK(BM_boost_sv_dense)->Name("stable_iterate_dense/boost::stable_vector/10000");
BENCHMARK(BM_vector_dense)->Name("stable_iterate_dense/std::vector/10000");

void BM_sv_churn(benchmark::State& state) {
  cm::StableVector<int> c;
  std::vector<cm::StableVector<int>::Handle> hs;
  for (int i = 0; i < 1024; ++i) hs.push_back(c.emplace(i));
  std::size_t k = 0;
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) {
      k = (k + 97) % hs.size();
      c.erase(hs[k]);
      hs[k] = c.emplace(i);
    }
  }
  state.SetItemsProcessed(state.iterations() * 256);
}
void BM_colony_churn(benchmark::State& state) {
  plf::colony<int> c;
  std::vector<plf::colony<int>::iterator> its;
  for (int i = 0; i < 1024; ++i) its.push_back(c.insert(i));
  std::size_t k = 0;
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) {
      k = (k + 97) % its.size();
      c.erase(its[k]);
      its[k] = c.insert(i);
    }
  }
  state.SetItemsProcessed(state.iterations() * 256);
}
void BM_boost_sv_churn(benchmark::State& state) {
  boost::container::stable_vector<int> c;
  for (int i = 0; i < 1024; ++i) c.push_back(i);
  std::size_t k = 0;
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) {
      k = (k + 97) % c.size();
      c.erase(c.begin() + static_cast<long>(k));
      c.insert(c.begin() + static_cast<long>(k), i);
    }
  }
  state.SetItemsProcessed(state.iterations() * 256);
}
BENCHMARK(BM_sv_churn)->Name("stable_erase_insert/cm::StableVector/1024");

// Erase a random 10% of 10^5 elements through held handles / iterators (issue 9). The container is
// rebuilt, untimed, before each run.
constexpr int n_erase = 100000;
const std::vector<std::size_t>& random_tenth() {
  static const std::vector<std::size_t> picks = [] {
    std::vector<std::size_t> all(n_erase);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::shuffle(all.begin(), all.end(), std::mt19937(11));
    all.resize(n_erase / 10);
    return all;
  }();
  return picks;
}
template <class C, class Insert>
void stable_erase_tenth(benchmark::State& state, Insert insert) {
  for (auto _ : state) {
    state.PauseTiming();
    auto c = std::make_unique<C>();
    std::vector<decltype(insert(*c, 0))> held;
    held.reserve(n_erase);
    for (int i = 0; i < n_erase; ++i) held.push_back(insert(*c, i));
    state.ResumeTiming();
    for (const std::size_t k : random_tenth()) c->erase(held[k]);
    benchmark::DoNotOptimize(c->size());
    state.PauseTiming();
    c.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * (n_erase / 10));
}
void BM_sv_erase_tenth(benchmark::State& s) {
  stable_erase_tenth<cm::StableVector<int>>(s, [](auto& c, int i) { return c.emplace(i); });
}
void BM_colony_erase_tenth(benchmark::State& s) {
  stable_erase_tenth<plf::colony<int>>(s, [](auto& c, int i) { return c.insert(i); });
}
BENCHMARK(BM_sv_erase_tenth)->Name("stable_erase_random_tenth/cm::StableVector/100000");
BENCHMARK(BM_colony_erase_tenth)->Name("stable_erase_random_tenth/plf::colony/100000");
BENCHMARK(BM_colony_churn)->Name("stable_erase_insert/plf::colony/1024");
BENCHMARK(BM_boost_sv_churn)->Name("stable_erase_insert/boost::stable_vector/1024");

}  // namespace
