#pragma once
/// What FlatMap and FlatSet share (flat_set.hpp includes this, not all of flat_map.hpp): the
/// sorted-input tags, the allocator helpers of their allocator-extended constructors and swaps,
/// and the headers of their searches and sorts.

#include <core/memory/container/detail/std_algorithm.hpp>
#include <core/memory/container/detail/search.hpp>
#include <core/memory/container/detail/sort.hpp>
#include <core/memory/container/detail/synth_three_way.hpp>
#include <core/memory/container/detail/temporary_value.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <vector>

namespace core::memory {

/// Tag: the input is sorted by key and has no duplicates.
struct sorted_unique_t {
  explicit sorted_unique_t() = default;
};
inline constexpr sorted_unique_t sorted_unique{};
/// Tag: the input is sorted by key (duplicates allowed, for the multi containers).
struct sorted_equivalent_t {
  explicit sorted_equivalent_t() = default;
};
inline constexpr sorted_equivalent_t sorted_equivalent{};

namespace detail {

/// The tags that say the input is sorted: sorted_unique, and for the multi containers also
/// sorted_equivalent (sorted_unique input is sorted_equivalent input too).
template <class Tag, bool Multi>
concept sorted_tag = std::same_as<Tag, sorted_unique_t> || (Multi && std::same_as<Tag, sorted_equivalent_t>);

template <class Seq>
concept has_allocator = requires(const Seq& s) {
  typename Seq::allocator_type;
  s.get_allocator();
};

/// The sequences can take an allocator `Alloc`: the condition of the allocator-extended constructors.
template <class Alloc, class... Seqs>
concept allocator_for = (std::uses_allocator_v<Seqs, Alloc> && ...);

/// True when swapping `a` and `b` exchanges their buffers (as std::swap of sequences may only do
/// if the allocators propagate on swap or are equal). Sequences without an allocator always can.
template <class Seq>
bool buffers_swappable(const Seq& a, const Seq& b) {
  if constexpr (has_allocator<Seq>) {
    using traits = std::allocator_traits<typename Seq::allocator_type>;
    if constexpr (traits::propagate_on_container_swap::value || traits::is_always_equal::value) {
      return true;
    } else {
      return a.get_allocator() == b.get_allocator();
    }
  } else {
    return true;
  }
}
template <class Seq>
inline constexpr bool always_buffers_swappable = [] {
  if constexpr (has_allocator<Seq>) {
    using traits = std::allocator_traits<typename Seq::allocator_type>;
    return traits::propagate_on_container_swap::value || traits::is_always_equal::value;
  } else {
    return true;
  }
}();

/// Calls f(element&&) with an element of `seq` built from `args` as a temporary, built as the
/// sequence builds its elements: through its allocator, so an allocator-aware element (a pmr
/// string in a pmr vector) draws from the sequence's memory, not the default resource.
template <class Seq, class F, class... Args>
decltype(auto) with_element(const Seq& seq, F&& f, Args&&... args) {
  using E = typename Seq::value_type;
  if constexpr (has_allocator<Seq>) {
    auto alloc = seq.get_allocator();
    temporary_value<E, decltype(alloc)> e(alloc, std::forward<Args>(args)...);
    return f(std::move(e.get()));
  } else {
    E e(std::forward<Args>(args)...);
    return f(std::move(e));
  }
}

/// A copy of `from`'s elements in memory from `to`'s allocator: copied (so `from` is untouched if
/// this fails), or moved if they cannot be copied.
template <class Seq>
Seq copy_into_allocator_of(Seq& from, const Seq& to) {
  if constexpr (std::is_copy_constructible_v<typename Seq::value_type>) {
    return Seq(from.begin(), from.end(), to.get_allocator());
  } else {
    return Seq(std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()), to.get_allocator());
  }
}

}  // namespace detail
}  // namespace core::memory
