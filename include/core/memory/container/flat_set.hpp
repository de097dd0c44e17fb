#pragma once
/// FlatSet / FlatMultiSet: sorted contiguous keys (C++23 std::flat_set) with the std::set
/// interface. Same properties as FlatMap: binary-search lookup over contiguous memory,
/// heterogeneous lookup, O(n log n) bulk construction, sorted_unique tags, extract()/replace().

#include <core/memory/container/flat_map.hpp>

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

  BasicFlatSet() = default;
  explicit BasicFlatSet(const Compare& comp) : comp_(comp) {}
  /// Takes a sequence, sorting it (and dropping duplicates).
  explicit BasicFlatSet(KeyContainer keys, const Compare& comp = Compare()) : keys_(std::move(keys)), comp_(comp) {
    detail::sort_together(keys_, static_cast<KeyContainer*>(nullptr), comp_, !Multi);
  }
  BasicFlatSet(sorted_unique_t, KeyContainer keys, const Compare& comp = Compare()) : keys_(std::move(keys)), comp_(comp) {
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatSet", is_sorted_unique(), "input is not sorted and unique");
  }
  template <std::input_iterator It>
  BasicFlatSet(It first, It last, const Compare& comp = Compare()) : comp_(comp) {
    insert(first, last);
  }
  BasicFlatSet(std::initializer_list<Key> il, const Compare& comp = Compare()) : BasicFlatSet(il.begin(), il.end(), comp) {}

  iterator begin() const noexcept { return keys_.begin(); }
  iterator end() const noexcept { return keys_.end(); }
  const_iterator cbegin() const noexcept { return keys_.begin(); }
  const_iterator cend() const noexcept { return keys_.end(); }
  reverse_iterator rbegin() const noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() const noexcept { return reverse_iterator(begin()); }

  [[nodiscard]] bool empty() const noexcept { return keys_.empty(); }
  size_type size() const noexcept { return keys_.size(); }
  size_type max_size() const noexcept { return keys_.max_size(); }
  void reserve(size_type n) { keys_.reserve(n); }

  const Key& nth(size_type i) const noexcept { return keys_[i]; }
  size_type index_of(const_iterator it) const noexcept { return static_cast<size_type>(it - keys_.begin()); }
  const KeyContainer& keys() const noexcept { return keys_; }

  template <class K = Key>
  const_iterator find(const K& k) const {
    return detail::find(keys_.begin(), keys_.end(), k, comp_);
  }
  template <class K = Key>
  bool contains(const K& k) const { return find(k) != end(); }
  template <class K = Key>
  size_type count(const K& k) const {
    const auto [lo, hi] = equal_range(k);
    return static_cast<size_type>(hi - lo);
  }
  template <class K = Key>
  const_iterator lower_bound(const K& k) const { return detail::lower_bound(keys_.begin(), keys_.end(), k, comp_); }
  template <class K = Key>
  const_iterator upper_bound(const K& k) const { return detail::upper_bound(keys_.begin(), keys_.end(), k, comp_); }
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
  auto insert(const Key& k) { return emplace(k); }
  auto insert(Key&& k) { return emplace(std::move(k)); }
  /// Inserts a range: appended, then sorted and merged once. O(n log n + size()). Strong: if
  /// anything throws, the appended elements are taken out again.
  template <std::input_iterator It>
  void insert(It first, It last) {
    const size_type old = size();
    detail::recover_on_throw(
        [&] {
          keys_.insert(keys_.end(), first, last);
          if (old != size()) detail::sort_together(keys_, static_cast<KeyContainer*>(nullptr), comp_, !Multi);
        },
        [&] { keys_.erase(keys_.begin() + static_cast<difference_type>(old), keys_.end()); });
  }
  void insert(std::initializer_list<Key> il) { insert(il.begin(), il.end()); }

  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    return keep_sorted([&] { return keys_.erase(first, last); });
  }
  template <class K = Key>
    requires(!std::is_convertible_v<K, const_iterator>)
  size_type erase(const K& k) {
    const auto [lo, hi] = equal_range(k);
    erase(lo, hi);
    return static_cast<size_type>(hi - lo);
  }
  void clear() noexcept { keys_.clear(); }
  void swap(BasicFlatSet& o) noexcept {
    using std::swap;
    swap(keys_, o.keys_);
    swap(comp_, o.comp_);
  }

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
  friend bool operator==(const BasicFlatSet& a, const BasicFlatSet& b) { return a.keys_ == b.keys_; }
  friend auto operator<=>(const BasicFlatSet& a, const BasicFlatSet& b) { return a.keys_ <=> b.keys_; }

  template <class Pred>
  friend size_type erase_if(BasicFlatSet& s, Pred pred) {
    return s.keep_sorted([&] {
      const auto it = std::remove_if(s.keys_.begin(), s.keys_.end(), pred);
      const auto n = static_cast<size_type>(s.keys_.end() - it);
      s.keys_.erase(it, s.keys_.end());
      return n;
    });
  }

 private:
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

template <class Key, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>>
using FlatSet = BasicFlatSet<Key, Compare, KeyContainer, false>;
template <class Key, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>>
using FlatMultiSet = BasicFlatSet<Key, Compare, KeyContainer, true>;

}  // namespace core::memory
