#pragma once
/// The parts of the standard library the containers are built from (allocator and its traits,
/// construct/destroy, uninitialized copies, copy/move/fill/equal/min/max, iterator adaptors and
/// concepts), without all of <algorithm>, <memory> and <iterator> (28k-52k preprocessed lines
/// each; <memory> alone brings shared_ptr and atomics into every file that includes a container).
/// With libstdc++ these are the internal headers <vector> itself is made of; with another
/// library, or with CORE_MEMORY_FULL_STD_HEADERS defined, the standard headers. The few
/// algorithms from <algorithm> the containers need are below, in detail.

#include <version>  // identifies the standard library

#if defined(__GLIBCXX__) && !defined(CORE_MEMORY_FULL_STD_HEADERS)
#include <bits/alloc_traits.h>
#include <bits/allocator.h>
#include <bits/range_access.h>
#include <bits/stl_algobase.h>
#include <bits/stl_construct.h>
#include <bits/stl_iterator.h>
#include <bits/stl_iterator_base_funcs.h>
#include <bits/stl_uninitialized.h>
#include <bits/uses_allocator.h>
#else
#include <algorithm>
#include <iterator>
#include <memory>
#endif

#include <compare>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <utility>

namespace core::memory::detail {

/// std::rotate for forward iterators (swaps only): [middle, last) moves to the front.
template <std::forward_iterator It>
constexpr It rotate(It first, It middle, It last) {
  if (first == middle) return last;
  if (middle == last) return first;
  It result = first;
  bool result_known = false;
  while (true) {  // Gries-Mills: swap the shorter side into place, continue with the rest
    It write = first, next = first;
    for (It read = middle; read != last; ++write, ++read) {
      if (write == next) next = read;
      std::iter_swap(write, read);
    }
    if (!result_known) result = write, result_known = true;
    if (next == write) return result;  // also when middle was the only break point left
    first = write;
    middle = next;
  }
}

/// std::remove_if: keeps the elements `pred` rejects, in order, at the front; returns their end.
template <std::forward_iterator It, class Pred>
constexpr It remove_if(It first, It last, Pred pred) {
  while (first != last && !pred(*first)) ++first;
  if (first == last) return first;
  It out = first;
  for (++first; first != last; ++first) {
    if (!pred(*first)) *out++ = std::move(*first);
  }
  return out;
}

}  // namespace core::memory::detail
