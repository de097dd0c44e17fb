// SmallVector against std::vector, absl::InlinedVector and boost::container::small_vector:
// push_back into reserved capacity (no reallocation), building then destroying a vector of
// at most N = 8 ints (where the inline buffer avoids the heap altogether), and building a fresh
// vector of 4 to 1024 ints or strings with no reserve (where the growth factor decides how many
// elements are relocated).

#include <core/memory/container/small_vector.hpp>

#include <absl/container/inlined_vector.h>
#include <benchmark/benchmark.h>
#include <boost/container/small_vector.hpp>

#include <string>
#include <type_traits>
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

// A fresh vector grown by push_back from empty to state.range(0) elements, then destroyed: every
// reallocation on the way is paid (no reserve). Strings are 24 characters (heap-allocated by
// libstdc++), so each relocation moves a real string.
template <class T>
T element(int i) {
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(24, static_cast<char>('a' + i % 26));
  } else {
    return i;
  }
}
template <class V>
void build_fresh(benchmark::State& state) {
  using T = typename V::value_type;
  const int n = static_cast<int>(state.range(0));
  const T value = element<T>(n);
  for (auto _ : state) {
    V v;
    for (int i = 0; i < n; ++i) v.push_back(value);
    benchmark::DoNotOptimize(v.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

#define CM_SV_FRESH(T, tname)                                                                         \
  BENCHMARK_TEMPLATE(build_fresh, cm::SmallVector<T, n_small>)->Name("vector_build_fresh_" tname "/cm::SmallVector")->RangeMultiplier(2)->Range(4, 1024); \
  BENCHMARK_TEMPLATE(build_fresh, std::vector<T>)->Name("vector_build_fresh_" tname "/std::vector")->RangeMultiplier(2)->Range(4, 1024); \
  BENCHMARK_TEMPLATE(build_fresh, absl::InlinedVector<T, n_small>)->Name("vector_build_fresh_" tname "/absl::InlinedVector")->RangeMultiplier(2)->Range(4, 1024); \
  BENCHMARK_TEMPLATE(build_fresh, boost::container::small_vector<T, n_small>)->Name("vector_build_fresh_" tname "/boost::small_vector")->RangeMultiplier(2)->Range(4, 1024)

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
CM_SV_FRESH(int, "int");
CM_SV_FRESH(std::string, "string");

}  // namespace
