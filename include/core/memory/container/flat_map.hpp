#pragma once
/// FlatMap / FlatMultiMap: sorted contiguous keys and values (two sequences, as C++23's
/// std::flat_map), with the std::map interface. Lookup is a binary search over contiguous keys:
/// cache-friendly and compact; insertion and erasure in the middle are O(n). Bulk construction and
/// insertion from unsorted input sort once: O(n log n), never O(n^2).
///
/// - Heterogeneous lookup and erase with a transparent comparator (std::less<>).
/// - `sorted_unique` / `sorted_equivalent` tags take input known to be sorted without sorting it.
/// - extract() / replace() move the underlying sequences out and in; keys() / values() view them.
/// - nth(i) and index_of(it) convert between positions and iterators.
/// Allocator-aware through the sequences: e.g. std::vector<K, StdAllocator<K, Arena>>. With
/// SmallVector sequences a small map needs no heap, and AddressSanitizer sees accesses past the
/// keys and values (SmallVector annotates its unused capacity).

#include <core/memory/container/detail/index_iterator.hpp>
#include <core/memory/container/detail/search.hpp>
#include <core/memory/container/detail/sort.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>

#include <algorithm>
#include <compare>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <type_traits>
#include <utility>
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

/// Runs `f`; if it throws, runs `recover` and rethrows (without exceptions, just runs `f`).
template <class F, class R>
decltype(auto) recover_on_throw(F&& f, R&& recover) {
#if CORE_MEMORY_EXCEPTIONS
  try {
    return f();
  } catch (...) {
    recover();
    throw;
  }
#else
  (void)recover;
  return f();
#endif
}

}  // namespace detail

template <class Key, class T, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>,
          class MappedContainer = std::vector<T>, bool Multi = false>
class BasicFlatMap {
 public:
  using key_type = Key;
  using mapped_type = T;
  using value_type = std::pair<Key, T>;
  using key_compare = Compare;
  using reference = std::pair<const Key&, T&>;
  using const_reference = std::pair<const Key&, const T&>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using key_container_type = KeyContainer;
  using mapped_container_type = MappedContainer;

  /// The two sequences, as extract() returns them and replace() takes them.
  struct containers {
    KeyContainer keys;
    MappedContainer values;
  };

  using iterator = detail::index_iterator<BasicFlatMap, value_type, reference>;
  using const_iterator = detail::index_iterator<const BasicFlatMap, value_type, const_reference>;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  // --- construction -------------------------------------------------------------------------
  BasicFlatMap() = default;
  explicit BasicFlatMap(const Compare& comp) : comp_(comp) {}
  /// Takes the two sequences (same length), sorting them by key (and dropping duplicate keys).
  BasicFlatMap(KeyContainer keys, MappedContainer values, const Compare& comp = Compare())
      : c_{std::move(keys), std::move(values)}, comp_(comp) {
    check_lengths();
    detail::sort_together(c_.keys, &c_.values, comp_, !Multi);
  }
  /// Takes sequences already sorted (and unique, for the non-multi map): no sorting.
  BasicFlatMap(sorted_unique_t, KeyContainer keys, MappedContainer values, const Compare& comp = Compare())
      : c_{std::move(keys), std::move(values)}, comp_(comp) {
    check_lengths();
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatMap", is_sorted_unique(), "input is not sorted and unique");
  }
  BasicFlatMap(sorted_equivalent_t, KeyContainer keys, MappedContainer values, const Compare& comp = Compare())
    requires Multi
      : c_{std::move(keys), std::move(values)}, comp_(comp) {
    check_lengths();
  }
  template <std::input_iterator It>
  BasicFlatMap(It first, It last, const Compare& comp = Compare()) : comp_(comp) {
    insert(first, last);
  }
  template <std::input_iterator It>
  BasicFlatMap(sorted_unique_t, It first, It last, const Compare& comp = Compare()) : comp_(comp) {
    for (; first != last; ++first) append((*first).first, (*first).second);
  }
  BasicFlatMap(std::initializer_list<value_type> il, const Compare& comp = Compare()) : BasicFlatMap(il.begin(), il.end(), comp) {}

  // --- iterators, capacity ------------------------------------------------------------------
  iterator begin() noexcept { return {this, 0}; }
  iterator end() noexcept { return {this, size()}; }
  const_iterator begin() const noexcept { return {this, 0}; }
  const_iterator end() const noexcept { return {this, size()}; }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  [[nodiscard]] bool empty() const noexcept { return c_.keys.empty(); }
  size_type size() const noexcept { return c_.keys.size(); }
  size_type max_size() const noexcept { return std::min<size_type>(c_.keys.max_size(), c_.values.max_size()); }
  void reserve(size_type n) {
    c_.keys.reserve(n);
    c_.values.reserve(n);
  }
  void shrink_to_fit() {
    c_.keys.shrink_to_fit();
    c_.values.shrink_to_fit();
  }

  // --- access -------------------------------------------------------------------------------
  T& operator[](const Key& k)
    requires(!Multi)
  {
    return try_emplace(k).first->second;
  }
  T& operator[](Key&& k)
    requires(!Multi)
  {
    return try_emplace(std::move(k)).first->second;
  }
  template <class K>
  T& at(const K& k) {
    const auto it = find(k);
    if (it == end()) throw_out_of_range("core::memory::FlatMap", "FlatMap::at: key not found");
    return c_.values[it.index()];
  }
  template <class K>
  const T& at(const K& k) const {
    const auto it = find(k);
    if (it == end()) throw_out_of_range("core::memory::FlatMap", "FlatMap::at: key not found");
    return c_.values[it.index()];
  }
  /// The element at position `i` in key order.
  iterator nth(size_type i) noexcept { return {this, i}; }
  const_iterator nth(size_type i) const noexcept { return {this, i}; }
  /// Position of `it` in key order.
  size_type index_of(const_iterator it) const noexcept { return it.index(); }
  /// The element at position `i` as a pair of references (for the iterators).
  reference element_at(size_type i) noexcept { return {c_.keys[i], c_.values[i]}; }
  const_reference element_at(size_type i) const noexcept { return {c_.keys[i], c_.values[i]}; }

  const KeyContainer& keys() const noexcept { return c_.keys; }
  const MappedContainer& values() const noexcept { return c_.values; }

  // --- lookup (heterogeneous with a transparent comparator) -----------------------------------
  template <class K = Key>
  iterator find(const K& k) { return {this, find_index(k)}; }
  template <class K = Key>
  const_iterator find(const K& k) const { return {this, find_index(k)}; }
  template <class K = Key>
  bool contains(const K& k) const { return find_index(k) != size(); }
  template <class K = Key>
  size_type count(const K& k) const {
    const auto [lo, hi] = equal_range_index(k);
    return hi - lo;
  }
  template <class K = Key>
  iterator lower_bound(const K& k) { return {this, lower_index(k)}; }
  template <class K = Key>
  const_iterator lower_bound(const K& k) const { return {this, lower_index(k)}; }
  template <class K = Key>
  iterator upper_bound(const K& k) { return {this, upper_index(k)}; }
  template <class K = Key>
  const_iterator upper_bound(const K& k) const { return {this, upper_index(k)}; }
  template <class K = Key>
  std::pair<iterator, iterator> equal_range(const K& k) {
    const auto [lo, hi] = equal_range_index(k);
    return {{this, lo}, {this, hi}};
  }
  template <class K = Key>
  std::pair<const_iterator, const_iterator> equal_range(const K& k) const {
    const auto [lo, hi] = equal_range_index(k);
    return {{this, lo}, {this, hi}};
  }

  // --- modifiers ----------------------------------------------------------------------------
  /// Inserts unless the key is present (non-multi); returns the element and whether it was added.
  template <class... Args>
  auto emplace(Args&&... args) {
    value_type v(std::forward<Args>(args)...);
    if constexpr (Multi) {
      return insert_at(upper_index(v.first), std::move(v.first), std::move(v.second));
    } else {
      const size_type i = lower_index(v.first);
      if (i != size() && !comp_(v.first, c_.keys[i])) return std::pair<iterator, bool>{{this, i}, false};
      return std::pair<iterator, bool>{insert_at(i, std::move(v.first), std::move(v.second)), true};
    }
  }
  auto insert(const value_type& v) { return emplace(v); }
  auto insert(value_type&& v) { return emplace(std::move(v)); }
  /// Inserts a range: appended, then sorted and merged once. O(n log n + size()). If an element
  /// cannot be copied in, the map is left as it was.
  template <std::input_iterator It>
  void insert(It first, It last) {
    const size_type old = size();
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      for (; first != last; ++first) append((*first).first, (*first).second);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      c_.keys.erase(c_.keys.begin() + static_cast<difference_type>(old), c_.keys.end());
      c_.values.erase(c_.values.begin() + static_cast<difference_type>(old), c_.values.end());
      throw;
    }
#endif
    merge_tail(old);
  }
  /// Inserts a range already sorted (and unique): merged without sorting.
  template <std::input_iterator It>
  void insert(sorted_unique_t, It first, It last) {
    const size_type old = size();
    for (; first != last; ++first) append((*first).first, (*first).second);
    merge_tail(old);
  }
  void insert(std::initializer_list<value_type> il) { insert(il.begin(), il.end()); }

  /// Inserts {k, T(args...)} unless k is present; `args` are untouched if it is.
  template <class K, class... Args>
  std::pair<iterator, bool> try_emplace(K&& k, Args&&... args)
    requires(!Multi)
  {
    const size_type i = lower_index(k);
    if (i != size() && !comp_(k, c_.keys[i])) return {{this, i}, false};
    return {insert_at(i, Key(std::forward<K>(k)), T(std::forward<Args>(args)...)), true};
  }
  /// Inserts {k, v}, or assigns v to the existing element.
  template <class K, class M>
  std::pair<iterator, bool> insert_or_assign(K&& k, M&& v)
    requires(!Multi)
  {
    const size_type i = lower_index(k);
    if (i != size() && !comp_(k, c_.keys[i])) {
      c_.values[i] = std::forward<M>(v);
      return {{this, i}, false};
    }
    return {insert_at(i, Key(std::forward<K>(k)), T(std::forward<M>(v))), true};
  }

  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  /// Erases [first, last). If a move inside a sequence throws, the sequences are kept in step
  /// (emptied if need be): basic guarantee.
  iterator erase(const_iterator first, const_iterator last) {
    const auto f = static_cast<difference_type>(first.index()), l = static_cast<difference_type>(last.index());
    keep_in_step([&] {
      c_.values.erase(c_.values.begin() + f, c_.values.begin() + l);
      c_.keys.erase(c_.keys.begin() + f, c_.keys.begin() + l);
    });
    return {this, first.index()};
  }
  /// Erases the elements with key equivalent to `k` (heterogeneous with a transparent comparator).
  template <class K = Key>
    requires(!std::is_convertible_v<K, const_iterator>)
  size_type erase(const K& k) {
    const auto [lo, hi] = equal_range_index(k);
    erase(const_iterator{this, lo}, const_iterator{this, hi});
    return hi - lo;
  }
  void clear() noexcept {
    c_.keys.clear();
    c_.values.clear();
  }
  void swap(BasicFlatMap& o) noexcept {
    using std::swap;
    swap(c_.keys, o.c_.keys);
    swap(c_.values, o.c_.values);
    swap(comp_, o.comp_);
  }
  friend void swap(BasicFlatMap& a, BasicFlatMap& b) noexcept { a.swap(b); }

  /// Moves the sequences out, leaving the map empty.
  containers extract() && {
    containers out{std::move(c_.keys), std::move(c_.values)};
    clear();
    return out;
  }
  /// Replaces the sequences (sorted by key, unique for the non-multi map, equal lengths).
  void replace(KeyContainer&& keys, MappedContainer&& values) {
    c_.keys = std::move(keys);
    c_.values = std::move(values);
    check_lengths();
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatMap", is_sorted_unique(), "replacement is not sorted");
  }

  key_compare key_comp() const { return comp_; }

  friend bool operator==(const BasicFlatMap& a, const BasicFlatMap& b) {
    return a.c_.keys == b.c_.keys && a.c_.values == b.c_.values;
  }

  /// Erases every element for which `pred(pair<const Key&, T&>)` holds; returns how many.
  template <class Pred>
  friend size_type erase_if(BasicFlatMap& m, Pred pred) {
    size_type out = 0;
    const size_type n = m.size();
    m.keep_in_step([&] {
      for (size_type i = 0; i < n; ++i) {
        if (pred(std::pair<const Key&, T&>(m.c_.keys[i], m.c_.values[i]))) continue;
        if (out != i) {
          m.c_.keys[out] = std::move(m.c_.keys[i]);
          m.c_.values[out] = std::move(m.c_.values[i]);
        }
        ++out;
      }
      m.c_.keys.erase(m.c_.keys.begin() + static_cast<difference_type>(out), m.c_.keys.end());
      m.c_.values.erase(m.c_.values.begin() + static_cast<difference_type>(out), m.c_.values.end());
    });
    return n - out;
  }

 private:
  template <class K>
  size_type lower_index(const K& k) const {
    return static_cast<size_type>(detail::lower_bound(c_.keys.begin(), c_.keys.end(), k, comp_) - c_.keys.begin());
  }
  template <class K>
  size_type upper_index(const K& k) const {
    return static_cast<size_type>(detail::upper_bound(c_.keys.begin(), c_.keys.end(), k, comp_) - c_.keys.begin());
  }
  template <class K>
  std::pair<size_type, size_type> equal_range_index(const K& k) const {
    const auto b = c_.keys.begin(), e = c_.keys.end();
    const auto [lo, hi] = detail::equal_range_in<!Multi>(b, e, k, comp_);
    return {static_cast<size_type>(lo - b), static_cast<size_type>(hi - b)};
  }
  template <class K>
  size_type find_index(const K& k) const {
    return static_cast<size_type>(detail::find(c_.keys.begin(), c_.keys.end(), k, comp_) - c_.keys.begin());
  }

  /// Inserts at position i keeping the map valid. A failure without effect leaves the map as it
  /// was (strong); one half-way through shifting a sequence (a throwing move) empties the map
  /// (basic: keys never out of order, never out of step with the values).
  iterator insert_at(size_type i, Key&& k, T&& v) {
    const auto at = static_cast<difference_type>(i);
    keep_keys_valid([&] { c_.keys.insert(c_.keys.begin() + at, std::move(k)); });
    detail::recover_on_throw([&] { c_.values.insert(c_.values.begin() + at, std::move(v)); },
                             [&] {
                               if (c_.values.size() == c_.keys.size() - 1)  // values untouched
                                 keep_keys_valid([&] { c_.keys.erase(c_.keys.begin() + at); });
                               else
                                 clear();
                             });
    return {this, i};
  }

  /// Runs `f`, which changes only the keys; if it throws having left them out of order or out of
  /// step with the values, empties the map (and rethrows).
  template <class F>
  void keep_keys_valid(F f) {
    detail::recover_on_throw(f, [&] {
      if (c_.keys.size() != c_.values.size() || !is_sorted_unique()) clear();
    });
  }

  template <class K, class V>
  void append(K&& k, V&& v) {
    c_.keys.push_back(std::forward<K>(k));
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      c_.values.push_back(std::forward<V>(v));
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      c_.keys.pop_back();
      throw;
    }
#endif
  }

  /// Sorts the elements from `old` on and merges them into the sorted prefix; for the non-multi
  /// map an appended key already present (or repeated) is dropped, the existing element kept.
  /// If sorting fails, nothing was swapped in: the appended elements are taken out again (strong).
  void merge_tail(size_type old) {
    if (old == size()) return;
    // Stable sort of the whole by key, with the old elements first among equals, then unique.
    detail::recover_on_throw([&] { detail::sort_together(c_.keys, &c_.values, comp_, !Multi); },
                             [&] {
                               c_.keys.erase(c_.keys.begin() + static_cast<difference_type>(old), c_.keys.end());
                               c_.values.erase(c_.values.begin() + static_cast<difference_type>(old), c_.values.end());
                             });
  }

  /// Runs `f`, which changes both sequences; if it throws, empties both so they can never be
  /// out of step (and rethrows).
  template <class F>
  void keep_in_step(F f) {
    detail::recover_on_throw(f, [&] { clear(); });
  }

  void check_lengths() const {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::FlatMap", c_.keys.size() == c_.values.size(),
                              "key and value sequences differ in length");
  }
  bool is_sorted_unique() const { return detail::is_sorted_keys(c_.keys, comp_, Multi); }

  containers c_;
  [[no_unique_address]] Compare comp_;
};

template <class Key, class T, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>,
          class MappedContainer = std::vector<T>>
using FlatMap = BasicFlatMap<Key, T, Compare, KeyContainer, MappedContainer, false>;
template <class Key, class T, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>,
          class MappedContainer = std::vector<T>>
using FlatMultiMap = BasicFlatMap<Key, T, Compare, KeyContainer, MappedContainer, true>;

}  // namespace core::memory
