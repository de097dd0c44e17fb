#pragma once
/// The binary searches behind FlatMap and FlatSet: std::lower_bound / upper_bound / equal_range,
/// and for scalar keys under the built-in orders a branch-free search.
///
/// Why branch-free: on random probes every halving of a branchy search is a coin toss for the
/// branch predictor, and each miss throws away the work of the next levels (~15 cycles). A search
/// that selects the next half with a conditional move never mispredicts, and since consecutive
/// lookups do not depend on each other the processor overlaps several of them. While the range is
/// larger than the caches the next level's two candidate keys are prefetched, so the loads no
/// longer wait on each other. Measured on random probes over the whole key space (g++ 12, AMD
/// EPYC): 3.2-3.9x faster than a branchy search at 10^3..10^5 int keys, 1.9x at 10^6
/// (bench/containers_bench.cpp, map_lookup).
///
/// Compilers do not reliably keep the conditional move: clang 14 turns it back into a branch inside
/// loops whatever the hint (its x86 cmov-conversion pass), g++ only keeps it with a probability
/// hint. So on x86-64 integer and pointer keys compare and select in two instructions of inline
/// assembly; elsewhere (other keys, other processors) the select is written in C++ with the
/// compiler's "unpredictable" hint.

#include <core/memory/container/detail/std_algorithm.hpp>
#include <core/memory/util/prefetch.hpp>

namespace core::memory::detail {

/// Scalar keys under the built-in orders: compares are cheap and side-effect free, so the
/// branch-free search pays off. A user's comparator may be costly or branchy itself: it gets the
/// std algorithms.
template <class Key, class K, class Comp>
inline constexpr bool scalar_search =
    std::is_scalar_v<Key> && std::is_scalar_v<K> &&
    (std::is_same_v<Comp, std::less<>> || std::is_same_v<Comp, std::less<Key>> ||
     std::is_same_v<Comp, std::greater<>> || std::is_same_v<Comp, std::greater<Key>>);

enum class bound { lower, upper };

template <class T, class... U>
inline constexpr bool is_any_of = (std::is_same_v<T, U> || ...);

/// True while `x` comes before the bound being searched for `k`: `comp(x, k)` for the lower bound,
/// `!comp(k, x)` for the upper.
template <bound B, class T, class K, class Comp>
constexpr bool before(const T& x, const K& k, const Comp& comp) {
  if constexpr (B == bound::lower) {
    return comp(x, k);
  } else {
    return !comp(k, x);
  }
}

/// A condition the compiler should not turn into a branch.
inline bool unpredictable(bool c) {
#if defined(__clang__)
  return __builtin_unpredictable(c);
#elif defined(__GNUC__)
  return __builtin_expect_with_probability(c, 1, 0.5);
#else
  return c;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
inline constexpr bool asm_select = true;
#else
inline constexpr bool asm_select = false;
#endif

/// The keys the inline-assembly select compares: exactly what fits one general register and whose
/// order is the machine's signed or unsigned order. Named types, not traits: std::is_integral
/// admits __int128 under gnu++20 (two registers), and an extended type a compiler may add later
/// must fall back to C++, not be compared in part.
template <class T>
inline constexpr bool register_key =
    std::is_pointer_v<T> ||
    detail::is_any_of<T, bool, char, signed char, unsigned char, wchar_t, char8_t, char16_t, char32_t, short,
                      unsigned short, int, unsigned, long, unsigned long, long long, unsigned long long>;

/// `before(*mid) ? mid : first`, without a branch. `It` is a raw pointer when the keys are
/// contiguous.
template <bound B, class It, class K, class Comp>
It select(It first, It mid, const K& k, const Comp& comp) {
  using T = std::remove_cv_t<std::iter_value_t<It>>;
  if constexpr (asm_select && std::is_pointer_v<It> && std::is_same_v<T, std::remove_cv_t<K>> && register_key<T>) {
    // `cmp k, *mid` sets the flags of *mid - k; the condition is the one `before` tests.
    constexpr bool greater = std::is_same_v<Comp, std::greater<>> || std::is_same_v<Comp, std::greater<T>>;
    constexpr bool is_signed = std::is_signed_v<T>;
    constexpr bool lower = B == bound::lower;
#define CORE_MEMORY_DETAIL_SELECT(cc) \
  asm("cmp %[k], %[v]\n\tcmov" cc " %[mid], %[first]" : [first] "+r"(first) : [v] "m"(*mid), [k] "r"(k), [mid] "r"(mid) : "cc")
    if constexpr (!greater && lower) {
      if constexpr (is_signed) CORE_MEMORY_DETAIL_SELECT("l"); else CORE_MEMORY_DETAIL_SELECT("b");
    } else if constexpr (!greater) {
      if constexpr (is_signed) CORE_MEMORY_DETAIL_SELECT("le"); else CORE_MEMORY_DETAIL_SELECT("be");
    } else if constexpr (lower) {
      if constexpr (is_signed) CORE_MEMORY_DETAIL_SELECT("g"); else CORE_MEMORY_DETAIL_SELECT("a");
    } else {
      if constexpr (is_signed) CORE_MEMORY_DETAIL_SELECT("ge"); else CORE_MEMORY_DETAIL_SELECT("ae");
    }
#undef CORE_MEMORY_DETAIL_SELECT
    return first;
  } else {
    return unpredictable(detail::before<B>(*mid, k, comp)) ? mid : first;
  }
}

/// Ranges larger than this are beyond the first cache levels: prefetch the next level's keys.
inline constexpr std::size_t search_prefetch_bytes = std::size_t{64} << 10;

/// The branch-free search: halves [first, first + n) keeping the half that holds the bound, one
/// conditional move per halving, then settles the last key. The invariant: the bound is in
/// [first, first + n].
template <bound B, class It, class K, class Comp>
It branch_free_bound(It first, std::iter_difference_t<It> n, const K& k, const Comp& comp) {
  if (n == 0) return first;
  if constexpr (std::is_pointer_v<It>) {  // a loop of its own, so small ranges pay no test
    constexpr auto large = static_cast<std::ptrdiff_t>(search_prefetch_bytes / sizeof(*first));
    for (; n > large; n -= n / 2) {
      const auto half = n / 2;
      prefetch_read(first + half / 2);
      prefetch_read(first + half + half / 2);
      first = detail::select<B>(first, first + half, k, comp);
    }
  }
  for (; n > 1; n -= n / 2) first = detail::select<B>(first, first + n / 2, k, comp);
  return first + (detail::before<B>(*first, k, comp) ? 1 : 0);
}

/// The bound `B` of `k` in sorted [first, last), as std::lower_bound / std::upper_bound.
template <bound B, class It, class K, class Comp>
It search(It first, It last, const K& k, const Comp& comp) {
  if constexpr (!scalar_search<std::iter_value_t<It>, K, Comp>) {
    if constexpr (B == bound::lower) {
      return detail::std_lower_bound(first, last, k, comp);
    } else {
      return detail::std_upper_bound(first, last, k, comp);
    }
  } else if constexpr (std::contiguous_iterator<It> && !std::is_pointer_v<It>) {
    const auto* p = std::to_address(first);
    return first + (detail::branch_free_bound<B>(p, last - first, k, comp) - p);
  } else {
    return detail::branch_free_bound<B>(first, last - first, k, comp);
  }
}

template <class It, class K, class Comp>
It lower_bound(It first, It last, const K& k, const Comp& comp) {
  return detail::search<bound::lower>(first, last, k, comp);
}

template <class It, class K, class Comp>
It upper_bound(It first, It last, const K& k, const Comp& comp) {
  return detail::search<bound::upper>(first, last, k, comp);
}

template <class It, class K, class Comp>
std::pair<It, It> equal_range(It first, It last, const K& k, const Comp& comp) {
  if constexpr (scalar_search<std::iter_value_t<It>, K, Comp>) {
    const It lo = detail::lower_bound(first, last, k, comp);
    return {lo, detail::upper_bound(lo, last, k, comp)};
  } else {
    return detail::std_equal_range(first, last, k, comp);
  }
}

/// The first key equivalent to `k` in sorted [first, last), or `last`. For scalar keys whether it
/// was found is selected, not branched on: random probes would mispredict the branch (clang makes
/// one of the plain form: 1.4x slower lookups).
template <class It, class K, class Comp>
It find(It first, It last, const K& k, const Comp& comp) {
  const It it = detail::lower_bound(first, last, k, comp);
  if (it == last) return last;
  if constexpr (scalar_search<std::iter_value_t<It>, K, Comp>) {
    return unpredictable(comp(k, *it)) ? last : it;
  } else {
    return comp(k, *it) ? last : it;
  }
}

/// equal_range in a container whose keys are unique if `UniqueKeys`. Then a probe of the keys' own
/// type has at most one equivalent key (two would be equivalent to each other), so one search
/// does. A heterogeneous probe may be equivalent to several keys (a comparator by prefix, say).
template <bool UniqueKeys, class It, class K, class Comp>
std::pair<It, It> equal_range_in(It first, It last, const K& k, const Comp& comp) {
  if constexpr (UniqueKeys && std::is_same_v<K, std::iter_value_t<It>>) {
    const It lo = detail::lower_bound(first, last, k, comp);
    return {lo, lo != last && !comp(k, *lo) ? std::next(lo) : lo};
  } else {
    return detail::equal_range(first, last, k, comp);
  }
}

}  // namespace core::memory::detail
