#pragma once
/// FlatSet / FlatMultiSet: sorted contiguous keys (C++23 std::flat_set) with the std::set
/// interface. Same properties as FlatMap: binary-search lookup over contiguous memory,
/// heterogeneous lookup, O(n log n) bulk construction, sorted_unique tags, extract()/replace().

#include <core/memory/container/detail/flat_common.hpp>

namespace core::memory {

template <class Key, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>, bool Multi = false>
class BasicFlatSet {
 public:
  using key_type = Key;
  using value_type = Key;
  using key_compare = Compare;
  using value_compare = Compare;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using container_type = KeyContainer;
  using iterator = typename KeyContainer::const_iterator;  // elements are immutable: they are keys
  using const_iterator = typename KeyContainer::const_iterator;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;
  using reference = Key&;
  using const_reference = const Key&;
  using pointer = typename std::iterator_traits<typename KeyContainer::iterator>::pointer;
  using const_pointer = typename std::iterator_traits<const_iterator>::pointer;

  BasicFlatSet() = default;
  explicit BasicFlatSet(const Compare& comp) : comp_(comp) {}
  /// Takes a sequence, sorting it (and dropping duplicates).
  explicit BasicFlatSet(KeyContainer keys, const Compare& comp = Compare()) : keys_(std::move(keys)), comp_(comp) {
    detail::sort_together(keys_, static_cast<KeyContainer*>(nullptr), comp_, !Multi, true);
  }
  /// Takes a sequence already sorted (sorted_unique: and unique; the multi set also takes
  /// sorted_equivalent): no sorting. The order is checked in debug builds.
  template <detail::sorted_tag<Multi> Tag>
  BasicFlatSet(Tag, KeyContainer keys, const Compare& comp = Compare()) : keys_(std::move(keys)), comp_(comp) {
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatSet", is_sorted_unique(), "input is not sorted as its tag says");
  }
  template <std::input_iterator It>
  BasicFlatSet(It first, It last, const Compare& comp = Compare()) : comp_(comp) {
    insert(first, last);
  }
  template <detail::sorted_tag<Multi> Tag, std::input_iterator It>
  BasicFlatSet(Tag s, It first, It last, const Compare& comp = Compare()) : comp_(comp) {
    insert(s, first, last);
  }
  BasicFlatSet(std::initializer_list<Key> il, const Compare& comp = Compare())
      : BasicFlatSet(il.begin(), il.end(), comp) {}
  template <detail::sorted_tag<Multi> Tag>
  BasicFlatSet(Tag s, std::initializer_list<Key> il, const Compare& comp = Compare())
      : BasicFlatSet(s, il.begin(), il.end(), comp) {}

  // Allocator-extended constructors (C++23 flat_set's): the sequence is built with `a`.
  template <detail::allocator_for<KeyContainer> Alloc>
  explicit BasicFlatSet(const Alloc& a) : keys_(a) {}
  template <detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(const Compare& comp, const Alloc& a) : keys_(a), comp_(comp) {}
  template <detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(const KeyContainer& keys, const Alloc& a) : BasicFlatSet(KeyContainer(keys, a)) {}
  template <detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(sorted_unique_t s, const KeyContainer& keys, const Alloc& a) : BasicFlatSet(s, KeyContainer(keys, a)) {}
  template <detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(const BasicFlatSet& o, const Alloc& a) : keys_(o.keys_, a), comp_(o.comp_) {}
  template <detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(BasicFlatSet&& o, const Alloc& a) : keys_(a), comp_(o.comp_) {
    // Moves only what cannot fail once reserved: if a copy or the allocation fails, `o` is as it was.
    detail::reserve_if_possible(keys_, o.size());
    detail::gather_together(keys_, o.keys_, static_cast<KeyContainer*>(nullptr), static_cast<KeyContainer*>(nullptr),
                            detail::all_positions{o.size()});
    o.clear();
  }
  template <std::input_iterator It, detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(It first, It last, const Alloc& a) : keys_(a) {
    insert(first, last);
  }
  template <std::input_iterator It, detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(It first, It last, const Compare& comp, const Alloc& a) : keys_(a), comp_(comp) {
    insert(first, last);
  }
  template <std::input_iterator It, detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(sorted_unique_t s, It first, It last, const Alloc& a) : keys_(a) {
    insert(s, first, last);
  }
  template <detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(std::initializer_list<Key> il, const Alloc& a) : BasicFlatSet(il.begin(), il.end(), a) {}
  template <detail::allocator_for<KeyContainer> Alloc>
  BasicFlatSet(std::initializer_list<Key> il, const Compare& comp, const Alloc& a)
      : BasicFlatSet(il.begin(), il.end(), comp, a) {}

  BasicFlatSet(const BasicFlatSet&) = default;
  BasicFlatSet(BasicFlatSet&& o) noexcept(std::is_nothrow_move_constructible_v<KeyContainer>)
      : keys_(std::move(o.keys_)), comp_(o.comp_) {
    o.clear();
  }
  /// The sequence's own copy assignment (an allocator that does not propagate keeps its memory).
  BasicFlatSet& operator=(const BasicFlatSet& o) {
    if (this != &o) {
      keep_sorted([&] { keys_ = o.keys_; });
      comp_ = o.comp_;
    }
    return *this;
  }
  /// The sequence's own move assignment; `o` is left empty.
  BasicFlatSet& operator=(BasicFlatSet&& o) noexcept(std::is_nothrow_move_assignable_v<KeyContainer>) {
    if (this != &o) {
      detail::clear_both_on_throw(*this, o, [&] { keys_ = std::move(o.keys_); });
      comp_ = o.comp_;
      o.clear();
    }
    return *this;
  }
  BasicFlatSet& operator=(std::initializer_list<Key> il) {
    BasicFlatSet tmp(il, comp_);
    return *this = std::move(tmp);
  }
  ~BasicFlatSet() = default;

  iterator begin() const noexcept { return keys_.begin(); }
  iterator end() const noexcept { return keys_.end(); }
  const_iterator cbegin() const noexcept { return keys_.begin(); }
  const_iterator cend() const noexcept { return keys_.end(); }
  reverse_iterator rbegin() const noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() const noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator crbegin() const noexcept { return rbegin(); }
  const_reverse_iterator crend() const noexcept { return rend(); }

  [[nodiscard]] bool empty() const noexcept { return keys_.empty(); }
  size_type size() const noexcept { return keys_.size(); }
  size_type max_size() const noexcept { return keys_.max_size(); }
  void reserve(size_type n) { detail::reserve_if_possible(keys_, n); }
  void shrink_to_fit() { keys_.shrink_to_fit(); }

  /// The element at position `i` in key order (an iterator, as FlatMap::nth and Boost's).
  const_iterator nth(size_type i) const noexcept { return keys_.begin() + static_cast<difference_type>(i); }
  size_type index_of(const_iterator it) const noexcept { return static_cast<size_type>(it - keys_.begin()); }
  const KeyContainer& keys() const noexcept { return keys_; }

  template <class K = Key>
  const_iterator find(const K& k) const {
    return detail::find(keys_.begin(), keys_.end(), k, comp_);
  }
  template <class K = Key>
  bool contains(const K& k) const {
    return find(k) != end();
  }
  template <class K = Key>
  size_type count(const K& k) const {
    const auto [lo, hi] = equal_range(k);
    return static_cast<size_type>(hi - lo);
  }
  template <class K = Key>
  const_iterator lower_bound(const K& k) const {
    return detail::lower_bound(keys_.begin(), keys_.end(), k, comp_);
  }
  template <class K = Key>
  const_iterator upper_bound(const K& k) const {
    return detail::upper_bound(keys_.begin(), keys_.end(), k, comp_);
  }
  template <class K = Key>
  std::pair<const_iterator, const_iterator> equal_range(const K& k) const {
    return detail::equal_range_in<!Multi>(keys_.begin(), keys_.end(), k, comp_);
  }

  template <class... Args>
  auto emplace(Args&&... args) {
    Key k(std::forward<Args>(args)...);
    if constexpr (Multi) {
      const auto at = upper_bound(k);
      return keep_sorted([&] { return keys_.insert(at, std::move(k)); });
    } else {
      const auto it = lower_bound(k);
      if (it != end() && !comp_(k, *it)) return std::pair<iterator, bool>{it, false};
      return std::pair<iterator, bool>{keep_sorted([&] { return keys_.insert(it, std::move(k)); }), true};
    }
  }
  /// emplace, searching from `hint`: O(1) compares when the key belongs just before it (so
  /// appending sorted input with hint end() is O(1) each); else a search. Returns the element
  /// (the existing one for the non-multi set if the key was present).
  template <class... Args>
  iterator emplace_hint(const_iterator hint, Args&&... args) {
    Key k(std::forward<Args>(args)...);
    const auto it = hinted_position(hint, k);
    if constexpr (!Multi) {
      if (it != end() && !comp_(k, *it)) return it;
    }
    return keep_sorted([&] { return keys_.insert(it, std::move(k)); });
  }
  auto insert(const Key& k) { return emplace(k); }
  auto insert(Key&& k) { return emplace(std::move(k)); }
  iterator insert(const_iterator hint, const Key& k) { return emplace_hint(hint, k); }
  iterator insert(const_iterator hint, Key&& k) { return emplace_hint(hint, std::move(k)); }
  /// Inserts a range: appended, then sorted and merged once. O(n log n + size()). Strong: if
  /// anything throws, the appended elements are taken out again (over a StaticVector, whose swap
  /// moves elements, a move that throws while the result is swapped in empties the set instead).
  template <std::input_iterator It>
  void insert(It first, It last) {
    insert_range(first, last, false);
  }
  /// Inserts a range already sorted (sorted_unique: and unique): merged without sorting. Strong,
  /// as insert().
  template <detail::sorted_tag<Multi> Tag, std::input_iterator It>
  void insert(Tag, It first, It last) {
    insert_range(first, last, true);
  }
  void insert(std::initializer_list<Key> il) { insert(il.begin(), il.end()); }
  template <detail::sorted_tag<Multi> Tag>
  void insert(Tag s, std::initializer_list<Key> il) {
    insert(s, il.begin(), il.end());
  }

  /// Moves in the elements of `source` that are not here (non-multi set; the others stay in
  /// `source`, as std::set::merge), or all of them (multi). The elements are copied in (if that
  /// fails, both sets are left as they were), then erased from `source` (emptied if that throws).
  template <bool Multi2>
  void merge(BasicFlatSet<Key, Compare, KeyContainer, Multi2>& source) {
    if (static_cast<const void*>(&source) == this) return;
    std::vector<bool> taken(source.size(), false);
    const size_type old = size();
    detail::recover_on_throw(
        [&] {
          detail::for_each_in_order(source.keys_, comp_, [&](const std::size_t i) {
            const Key& k = source.keys_[i];
            if constexpr (!Multi) {
              const auto b = keys_.begin(), e = b + static_cast<difference_type>(old);
              if (detail::find(b, e, k, comp_) != e) return;         // present: stays in the source
              if (size() != old && !comp_(keys_.back(), k)) return;  // repeats the last taken (multi source)
            }
            keys_.push_back(k);
            taken[i] = true;
          });
          if (old != size())
            detail::sort_together(keys_, static_cast<KeyContainer*>(nullptr), comp_, !Multi, old == 0);
        },
        [&] { truncate(old); });
    size_type i = 0;
    erase_if(source, [&](const Key&) { return taken[i++]; });
  }
  template <bool Multi2>
  void merge(BasicFlatSet<Key, Compare, KeyContainer, Multi2>&& source) {
    merge(source);
  }

  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::FlatSet", keys_.begin() <= first && first <= last && last <= keys_.end(),
                              "erase range out of bounds");
    return keep_sorted([&] { return keys_.erase(first, last); });
  }
  template <class K = Key>
  requires(!std::is_convertible_v<K, const_iterator>) size_type erase(const K& k) {
    const auto [lo, hi] = equal_range(k);
    erase(lo, hi);
    return static_cast<size_type>(hi - lo);
  }
  void clear() noexcept { keys_.clear(); }
  /// Exchanges the contents; with allocators that neither propagate on swap nor are equal, each
  /// set keeps its allocator and the elements are copied across (see FlatMap::swap).
  void swap(BasicFlatSet& o) noexcept(
      detail::always_buffers_swappable<KeyContainer>&& std::is_nothrow_swappable_v<KeyContainer>) {
    using std::swap;
    if (detail::buffers_swappable(keys_, o.keys_)) {
      // Only a sequence whose swap moves elements (SmallVector) can throw.
      detail::clear_both_on_throw(*this, o, [&] { swap(keys_, o.keys_); });
    } else {
      KeyContainer mine = detail::copy_into_allocator_of(o.keys_, keys_);
      KeyContainer theirs = detail::copy_into_allocator_of(keys_, o.keys_);
      detail::clear_both_on_throw(*this, o, [&] {  // equal allocators now: the buffers are taken over
        keys_ = std::move(mine);
        o.keys_ = std::move(theirs);
      });
    }
    swap(comp_, o.comp_);
  }
  friend void swap(BasicFlatSet& a, BasicFlatSet& b) noexcept(noexcept(a.swap(b))) { a.swap(b); }

  /// Moves the sequence out, leaving the set empty.
  KeyContainer extract() && {
    KeyContainer out = std::move(keys_);
    keys_.clear();
    return out;
  }
  /// Replaces the sequence (sorted, unique for the non-multi set).
  void replace(KeyContainer&& keys) {
    keys_ = std::move(keys);
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatSet", is_sorted_unique(), "replacement is not sorted");
  }

  key_compare key_comp() const { return comp_; }
  value_compare value_comp() const { return comp_; }
  auto get_allocator() const noexcept requires detail::has_allocator<KeyContainer> { return keys_.get_allocator(); }
  friend bool operator==(const BasicFlatSet& a, const BasicFlatSet& b) { return a.keys_ == b.keys_; }
  /// Lexicographic, with synth-three-way (so keys with only < work).
  friend auto operator<=>(const BasicFlatSet& a, const BasicFlatSet& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end(), detail::synth_three_way);
  }

  template <class Pred>
  friend size_type erase_if(BasicFlatSet& s, Pred pred) {
    return s.keep_sorted([&] {
      const auto it = detail::remove_if(s.keys_.begin(), s.keys_.end(), pred);
      const auto n = static_cast<size_type>(s.keys_.end() - it);
      s.keys_.erase(it, s.keys_.end());
      return n;
    });
  }

 private:
  template <class, class, class, bool>
  friend class BasicFlatSet;

  /// Where `k` goes: `hint` itself, after at most two compares, when the key belongs just before
  /// it; else a search (for the multi set, the position nearest the hint, as std::multiset's).
  const_iterator hinted_position(const_iterator hint, const Key& k) const {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::FlatSet", begin() <= hint && hint <= end(), "hint out of range");
    const bool after_prev = hint == begin() || (Multi ? !comp_(k, *std::prev(hint)) : comp_(*std::prev(hint), k));
    const bool before_next = hint == end() || !comp_(*hint, k);
    if (after_prev && before_next) return hint;
    if constexpr (Multi) {
      return !after_prev ? detail::upper_bound(begin(), hint, k, comp_) : detail::lower_bound(hint, end(), k, comp_);
    } else {
      return lower_bound(k);
    }
  }

  template <class It>
  void insert_range(It first, It last, bool sorted) {
    const size_type old = size();
    if constexpr (std::forward_iterator<It>)  // one allocation, not one per doubling
      detail::grow_for(keys_, old + static_cast<size_type>(std::distance(first, last)));
    detail::recover_on_throw(
        [&] {
          for (; first != last; ++first) keys_.push_back(*first);
          if (old == size()) return;
          if (sorted)
            CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatSet", detail::is_sorted_keys(keys_, comp_, Multi, old),
                                         "input is not sorted as its tag says");
          detail::sort_together(keys_, static_cast<KeyContainer*>(nullptr), comp_, !Multi, old == 0);
        },
        [&] { truncate(old); });
  }

  /// Erases the elements from position `n` on (none if there are fewer).
  void truncate(size_type n) noexcept {
    if (keys_.size() > n) keys_.erase(keys_.begin() + static_cast<difference_type>(n), keys_.end());
  }

  /// Runs `f`, which changes the sequence; if it throws having left the keys out of order (a
  /// throwing move half-way through a shift), empties the set so it stays valid (and rethrows).
  template <class F>
  decltype(auto) keep_sorted(F f) {
    return detail::recover_on_throw(f, [&] {
      if (!is_sorted_unique()) clear();
    });
  }

  bool is_sorted_unique() const { return detail::is_sorted_keys(keys_, comp_, Multi); }

  KeyContainer keys_;
  [[no_unique_address]] Compare comp_;
};

// Deduction guides (C++23 flat_set's).
template <class KeyContainer, class Compare = std::less<typename KeyContainer::value_type>>
requires(!std::input_iterator<KeyContainer>) BasicFlatSet(KeyContainer, Compare = Compare())
->BasicFlatSet<typename KeyContainer::value_type, Compare, KeyContainer>;
template <class KeyContainer, class Compare = std::less<typename KeyContainer::value_type>>
BasicFlatSet(sorted_unique_t, KeyContainer, Compare = Compare())
    -> BasicFlatSet<typename KeyContainer::value_type, Compare, KeyContainer>;
template <std::input_iterator It, class Compare = std::less<std::iter_value_t<It>>>
BasicFlatSet(It, It, Compare = Compare()) -> BasicFlatSet<std::iter_value_t<It>, Compare>;
template <std::input_iterator It, class Compare = std::less<std::iter_value_t<It>>>
BasicFlatSet(sorted_unique_t, It, It, Compare = Compare()) -> BasicFlatSet<std::iter_value_t<It>, Compare>;
template <class Key, class Compare = std::less<Key>>
BasicFlatSet(std::initializer_list<Key>, Compare = Compare()) -> BasicFlatSet<Key, Compare>;
template <class Key, class Compare = std::less<Key>>
BasicFlatSet(sorted_unique_t, std::initializer_list<Key>, Compare = Compare()) -> BasicFlatSet<Key, Compare>;

template <class Key, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>>
using FlatSet = BasicFlatSet<Key, Compare, KeyContainer, false>;
template <class Key, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>>
using FlatMultiSet = BasicFlatSet<Key, Compare, KeyContainer, true>;

}  // namespace core::memory

/// The uses-allocator protocol (C++23 flat_set's).
template <class Key, class Compare, class KeyContainer, bool Multi, class Alloc>
struct std::uses_allocator<core::memory::BasicFlatSet<Key, Compare, KeyContainer, Multi>, Alloc>
    : std::uses_allocator<KeyContainer, Alloc> {};
