// SmallVector against std::vector, absl::InlinedVector and boost::container::small_vector:
// push_back into reserved capacity (no reallocation), and building then destroying a vector of
// at most N = 8 ints (where the inline buffer avoids the heap altogether).

#include <core/memory/container/small_vector.hpp>

#include <absl/container/inlined_vector.h>
#include <benchmark/benchmark.h>
#include <boost/container/small_vector.hpp>

#include <vector>

namespace cm = core::memory;

namespace {

constexpr int n_small = 8;
constexpr int n_push = 1024;

// Unchecked: SmallVector's unchecked_push_back (no capacity test, no growth call in the loop).
template <class V, bool Unchecked = false>
void push_reserved(benchmark::State& state) {
  V v;
  v.reserve(n_push);
  for (auto _ : state) {
    for (int i = 0; i < n_push; ++i) {
      if constexpr (Unchecked) {
        v.unchecked_push_back(i);
      } else {
        v.push_back(i);
      }
    }
    benchmark::DoNotOptimize(v.data());
    v.clear();
  }
  state.SetItemsProcessed(state.iterations() * n_push);
}

// The same loop into a vector the caller owns (an out-parameter, a member): the vector's address
// is known to the rest of the program, as it is in most real code.
template <class V>
[[gnu::noinline]] void fill(V& v) {
  for (int i = 0; i < n_push; ++i) v.push_back(i);
}
template <class V>
void push_reserved_out(benchmark::State& state) {
  V v;
  v.reserve(n_push);
  for (auto _ : state) {
    fill(v);
    benchmark::DoNotOptimize(v.data());
    v.clear();
  }
  state.SetItemsProcessed(state.iterations() * n_push);
}

template <class V>
void build_small(benchmark::State& state) {
  for (auto _ : state) {
    V v;
    for (int i = 0; i < n_small; ++i) v.push_back(i);
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations());
}

template <class V>
void iterate(benchmark::State& state) {
  V v;
  for (int i = 0; i < n_push; ++i) v.push_back(i);
  for (auto _ : state) {
    long s = 0;
    for (int x : v) s += x;
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * n_push);
}

#define CM_SV_ROWS(fn, group, size)                                                                  \
  BENCHMARK_TEMPLATE(fn, cm::SmallVector<int, n_small>)->Name(group "/cm::SmallVector/" size);      \
  BENCHMARK_TEMPLATE(fn, std::vector<int>)->Name(group "/std::vector/" size);                       \
  BENCHMARK_TEMPLATE(fn, absl::InlinedVector<int, n_small>)->Name(group "/absl::InlinedVector/" size); \
  BENCHMARK_TEMPLATE(fn, boost::container::small_vector<int, n_small>)->Name(group "/boost::small_vector/" size)

CM_SV_ROWS(push_reserved, "vector_push_reserved", "1024");
BENCHMARK_TEMPLATE(push_reserved, cm::SmallVector<int, n_small>, true)->Name("vector_push_reserved/cm-unchecked::SmallVector/1024");
CM_SV_ROWS(push_reserved_out, "vector_push_reserved_out", "1024");
CM_SV_ROWS(build_small, "vector_build_destroy", "8");
CM_SV_ROWS(iterate, "vector_iterate", "1024");

}  // namespace
