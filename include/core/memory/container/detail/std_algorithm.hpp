#pragma once
/// What the flat containers need beyond std_core.hpp: std::less/greater and uses_allocator (with
/// libstdc++ the internal headers that define them, elsewhere or with
/// CORE_MEMORY_FULL_STD_HEADERS <functional> and <memory>), and sort, unique and the binary
/// searches with a comparator, written here: <algorithm>'s own header (bits/stl_algo.h, 7.6k
/// preprocessed lines, a quarter of a flat container's) would be parsed by every file that
/// includes one for these. sort is libstdc++'s introsort (median-of-3 quicksort, heapsort past
/// 2 log n levels, insertion sort of the last runs), as fast on the containers' bulk builds.

#include <core/memory/container/detail/std_core.hpp>

#if defined(__GLIBCXX__) && !defined(CORE_MEMORY_FULL_STD_HEADERS)
#include <bits/stl_function.h>
#include <bits/stl_heap.h>
#include <bits/uses_allocator.h>
#else
#include <algorithm>
#include <functional>
#include <memory>
#endif

namespace core::memory::detail {

/// std::lower_bound (Lower) / std::upper_bound with a comparator: the first position in sorted
/// [first, last) whose element does not come before `k` / that `k` comes before.
template <bool Lower, class It, class K, class Comp>
It std_bound(It first, It last, const K& k, Comp& comp) {
  auto n = std::distance(first, last);
  while (n > 0) {
    const auto half = n / 2;
    It mid = std::next(first, half);
    if (Lower ? comp(*mid, k) : !comp(k, *mid)) {
      first = ++mid;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  return first;
}
template <class It, class K, class Comp>
It std_lower_bound(It first, It last, const K& k, Comp comp) {
  return detail::std_bound<true>(first, last, k, comp);
}
template <class It, class K, class Comp>
It std_upper_bound(It first, It last, const K& k, Comp comp) {
  return detail::std_bound<false>(first, last, k, comp);
}

/// std::equal_range: [lower bound, upper bound) of `k`.
template <class It, class K, class Comp>
std::pair<It, It> std_equal_range(It first, It last, const K& k, Comp comp) {
  It lo = detail::std_lower_bound(first, last, k, comp);
  return {lo, detail::std_upper_bound(lo, last, k, comp)};
}

/// std::unique with a predicate: keeps the first of each run of elements `same` says are equal.
template <class It, class Same>
It unique(It first, It last, Same same) {
  if (first == last) return last;
  It out = first;
  while (++first != last) {
    if (!same(*out, *first) && ++out != first) *out = std::move(*first);
  }
  return ++out;
}

/// Runs of at most this many elements are left to the final insertion sort.
inline constexpr std::ptrdiff_t sort_threshold = 16;

/// Moves the median of *a, *b, *c to *result.
template <class It, class Comp>
void move_median_to_first(It result, It a, It b, It c, Comp& comp) {
  if (comp(*a, *b)) {
    if (comp(*b, *c)) std::iter_swap(result, b);
    else if (comp(*a, *c)) std::iter_swap(result, c);
    else std::iter_swap(result, a);
  } else if (comp(*a, *c)) {
    std::iter_swap(result, a);
  } else if (comp(*b, *c)) {
    std::iter_swap(result, c);
  } else {
    std::iter_swap(result, b);
  }
}

/// Partitions [first, last) around *pivot (outside it), without bounds checks: the pivot is a
/// median of three, so each scan stops at an element on the other side.
template <class It, class Comp>
It unguarded_partition(It first, It last, It pivot, Comp& comp) {
  while (true) {
    while (comp(*first, *pivot)) ++first;
    --last;
    while (comp(*pivot, *last)) --last;
    if (!(first < last)) return first;
    std::iter_swap(first, last);
    ++first;
  }
}

template <class It, class Comp>
void introsort_loop(It first, It last, int depth, Comp& comp) {
  while (last - first > sort_threshold) {
    if (depth == 0) {
      std::make_heap(first, last, comp);
      std::sort_heap(first, last, comp);
      return;
    }
    --depth;
    const It mid = first + (last - first) / 2;
    detail::move_median_to_first(first, first + 1, mid, last - 1, comp);
    const It cut = detail::unguarded_partition(first + 1, last, first, comp);
    detail::introsort_loop(cut, last, depth, comp);
    last = cut;
  }
}

/// Insertion of *i into the sorted run before it; `guarded`: the run may hold no smaller element.
template <bool Guarded, class It, class Comp>
void insert_back(It first, It i, Comp& comp) {
  auto v = std::move(*i);
  It j = i;
  while ((!Guarded || j != first) && comp(v, *(j - 1))) {
    *j = std::move(*(j - 1));
    --j;
  }
  *j = std::move(v);
}

/// std::sort for random-access iterators (not stable).
template <class It, class Comp>
void sort(It first, It last, Comp comp) {
  const auto n = last - first;
  if (n <= sort_threshold) {  // no partitioning to do: a short loop the caller can inline
    if (n < 2) return;        // (first + 1 would step past an empty range's end)
    for (It i = first + 1; i < last; ++i) detail::insert_back<true>(first, i, comp);
    return;
  }
  int depth = 0;  // 2 log2(n), as libstdc++
  for (auto k = n; k > 1; k >>= 1) depth += 2;
  detail::introsort_loop(first, last, depth, comp);
  // Every element is now within sort_threshold of its place, and the smallest is in the first
  // run: insertion-sort that run with bounds checks, the rest without.
  const It guarded_end = first + sort_threshold;
  for (It i = first + 1; i < guarded_end; ++i) detail::insert_back<true>(first, i, comp);
  for (It i = guarded_end; i < last; ++i) detail::insert_back<false>(first, i, comp);
}
template <class It>
void sort(It first, It last) {
  detail::sort(first, last, std::less<>());
}

}  // namespace core::memory::detail
