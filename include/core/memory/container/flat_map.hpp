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
/// keys and values (SmallVector annotates its unused capacity). In shared memory: sequences on
/// an offset_ptr allocator (SmallVector or std::vector with SharedMemoryAllocator); the map itself
/// keeps no pointer.

#include <core/memory/container/detail/flat_common.hpp>
#include <core/memory/container/detail/index_iterator.hpp>

namespace core::memory {

namespace detail {

/// A forward iterator over the `.first` (Second: `.second`) of the pairs `It` refers to: the keys
/// and the values of a range of pairs go into their sequences each by one range insert, which
/// copies in a tight loop (two push_backs per pair test the capacity twice). `It` must yield
/// references (a member of a pair returned by value would dangle).
template <class It, bool Second>
class member_iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using iterator_concept = std::forward_iterator_tag;
  using difference_type = std::iter_difference_t<It>;
  using reference = std::conditional_t<Second, decltype(((*std::declval<const It&>()).second)),
                                       decltype(((*std::declval<const It&>()).first))>;
  using value_type = std::remove_cvref_t<reference>;
  using pointer = void;

  member_iterator() = default;
  explicit member_iterator(It it) : it_(std::move(it)) {}
  reference operator*() const {
    if constexpr (Second) {
      return static_cast<reference>((*it_).second);
    } else {
      return static_cast<reference>((*it_).first);
    }
  }
  member_iterator& operator++() {
    ++it_;
    return *this;
  }
  member_iterator operator++(int) {
    member_iterator old = *this;
    ++it_;
    return old;
  }
  friend bool operator==(const member_iterator& a, const member_iterator& b) { return a.it_ == b.it_; }

 private:
  It it_{};
};

/// A forward iterator over base[order[0]], base[order[1]], ...: a range in a computed order.
template <class It>
class permuted_iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using iterator_concept = std::forward_iterator_tag;
  using difference_type = std::iter_difference_t<It>;
  using reference = std::iter_reference_t<It>;
  using value_type = std::iter_value_t<It>;
  using pointer = void;

  permuted_iterator() = default;
  permuted_iterator(It base, const std::uint32_t* order) : base_(std::move(base)), order_(order) {}
  reference operator*() const { return base_[static_cast<difference_type>(*order_)]; }
  permuted_iterator& operator++() {
    ++order_;
    return *this;
  }
  permuted_iterator operator++(int) {
    permuted_iterator old = *this;
    ++order_;
    return old;
  }
  friend bool operator==(const permuted_iterator& a, const permuted_iterator& b) { return a.order_ == b.order_; }

 private:
  It base_{};
  const std::uint32_t* order_ = nullptr;
};

/// FlatMap's const_reference: a pair of const references, as std::pair<const K&, const T&>, but
/// of a class of its own, converting to the value type and not from it, so that the two have a
/// common reference and the const_iterator is a std::input_iterator (with std::pair both convert,
/// which leaves std::common_reference without an answer before C++23).
template <class K, class T>
struct const_pair_ref : std::pair<const K&, const T&> {
  constexpr const_pair_ref(const K& k, const T& v) noexcept : std::pair<const K&, const T&>(k, v) {}
};

}  // namespace detail

template <class Key, class T, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>,
          class MappedContainer = std::vector<T>, bool Multi = false>
class BasicFlatMap {
  static_assert(std::is_lvalue_reference_v<decltype(std::declval<const KeyContainer&>()[0])> &&
                    std::is_lvalue_reference_v<decltype(std::declval<const MappedContainer&>()[0])>,
                "FlatMap's iterators refer to the elements of its sequences, and std::vector<bool> has none "
                "(its operator[] returns proxies): use another sequence, such as std::deque<bool>");

 public:
  using key_type = Key;
  using mapped_type = T;
  using value_type = std::pair<Key, T>;
  using key_compare = Compare;
  using reference = std::pair<const Key&, T&>;
  using const_reference = detail::const_pair_ref<Key, T>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using key_container_type = KeyContainer;
  using mapped_container_type = MappedContainer;

  /// Orders elements by key, as std::map::value_compare.
  class value_compare {
   public:
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return comp_(a.first, b.first);
    }

   private:
    friend class BasicFlatMap;
    explicit value_compare(const Compare& c) : comp_(c) {}
    Compare comp_;
  };

  /// The two sequences, as extract() returns them and replace() takes them.
  struct containers {
    KeyContainer keys;
    MappedContainer values;
  };

  using iterator = detail::index_iterator<BasicFlatMap, value_type, reference>;
  using const_iterator = detail::index_iterator<const BasicFlatMap, value_type, const_reference>;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;
  /// Elements are not stored as pairs: what operator-> of the iterators returns.
  using pointer = typename iterator::pointer;
  using const_pointer = typename const_iterator::pointer;

  // --- construction -------------------------------------------------------------------------
  BasicFlatMap() = default;
  explicit BasicFlatMap(const Compare& comp) : comp_(comp) {}
  /// Takes the two sequences (same length), sorting them by key (and dropping duplicate keys).
  BasicFlatMap(KeyContainer keys, MappedContainer values, const Compare& comp = Compare())
      : c_{std::move(keys), std::move(values)}, comp_(comp) {
    check_lengths();
    detail::sort_together(c_.keys, &c_.values, comp_, !Multi, true);
  }
  /// Takes sequences already sorted (sorted_unique: and unique; the multi map also takes
  /// sorted_equivalent): no sorting. The order is checked in debug builds.
  template <detail::sorted_tag<Multi> Tag>
  BasicFlatMap(Tag, KeyContainer keys, MappedContainer values, const Compare& comp = Compare())
      : c_{std::move(keys), std::move(values)}, comp_(comp) {
    check_lengths();
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatMap", is_sorted_unique(), "input is not sorted as its tag says");
  }
  template <std::input_iterator It>
  BasicFlatMap(It first, It last, const Compare& comp = Compare()) : comp_(comp) {
    insert(first, last);
  }
  template <detail::sorted_tag<Multi> Tag, std::input_iterator It>
  BasicFlatMap(Tag s, It first, It last, const Compare& comp = Compare()) : comp_(comp) {
    insert(s, first, last);
  }
  BasicFlatMap(std::initializer_list<value_type> il, const Compare& comp = Compare())
      : BasicFlatMap(il.begin(), il.end(), comp) {}
  template <detail::sorted_tag<Multi> Tag>
  BasicFlatMap(Tag s, std::initializer_list<value_type> il, const Compare& comp = Compare())
      : BasicFlatMap(s, il.begin(), il.end(), comp) {}

  // Allocator-extended constructors (C++23 flat_map's): both sequences are built with `a`.
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  explicit BasicFlatMap(const Alloc& a) : BasicFlatMap(Compare(), a) {}
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(const Compare& comp, const Alloc& a) : c_{KeyContainer(a), MappedContainer(a)}, comp_(comp) {}
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(const KeyContainer& keys, const MappedContainer& values, const Alloc& a)
      : BasicFlatMap(KeyContainer(keys, a), MappedContainer(values, a)) {}
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(const KeyContainer& keys, const MappedContainer& values, const Compare& comp, const Alloc& a)
      : BasicFlatMap(KeyContainer(keys, a), MappedContainer(values, a), comp) {}
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(sorted_unique_t s, const KeyContainer& keys, const MappedContainer& values, const Alloc& a)
      : BasicFlatMap(s, KeyContainer(keys, a), MappedContainer(values, a)) {}
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(const BasicFlatMap& o, const Alloc& a)
      : c_{KeyContainer(o.c_.keys, a), MappedContainer(o.c_.values, a)}, comp_(o.comp_) {}
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(BasicFlatMap&& o, const Alloc& a) : BasicFlatMap(o.comp_, a) {
    // Every allocation and copy before the first move: if one fails, `o` is as it was.
    detail::reserve_if_possible(c_.keys, o.size());
    detail::reserve_if_possible(c_.values, o.size());
    detail::gather_together(c_.keys, o.c_.keys, &c_.values, &o.c_.values, detail::all_positions{o.size()});
    o.clear();
  }
  template <std::input_iterator It, detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(It first, It last, const Alloc& a) : BasicFlatMap(Compare(), a) {
    insert(first, last);
  }
  template <std::input_iterator It, detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(It first, It last, const Compare& comp, const Alloc& a) : BasicFlatMap(comp, a) {
    insert(first, last);
  }
  template <std::input_iterator It, detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(sorted_unique_t s, It first, It last, const Alloc& a) : BasicFlatMap(Compare(), a) {
    insert(s, first, last);
  }
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(std::initializer_list<value_type> il, const Alloc& a) : BasicFlatMap(il.begin(), il.end(), a) {}
  template <detail::allocator_for<KeyContainer, MappedContainer> Alloc>
  BasicFlatMap(std::initializer_list<value_type> il, const Compare& comp, const Alloc& a)
      : BasicFlatMap(il.begin(), il.end(), comp, a) {}

  BasicFlatMap(const BasicFlatMap&) = default;
  BasicFlatMap(BasicFlatMap&& o) noexcept(std::is_nothrow_move_constructible_v<containers>)
      : c_(take(o)), comp_(o.comp_) {}
  /// Each sequence's own copy assignment: with an allocator that does not propagate, the elements
  /// are copied into this map's memory. If a copy fails, the map is emptied (basic, as std).
  BasicFlatMap& operator=(const BasicFlatMap& o) {
    if (this != &o) {
      keep_in_step([&] {
        c_.keys = o.c_.keys;
        c_.values = o.c_.values;
      });
      comp_ = o.comp_;
    }
    return *this;
  }
  /// Each sequence's own move assignment (buffers stolen, or elements moved into this map's
  /// memory when the allocators differ and do not propagate); `o` is left empty.
  BasicFlatMap& operator=(BasicFlatMap&& o) noexcept(
      std::is_nothrow_move_assignable_v<KeyContainer>&& std::is_nothrow_move_assignable_v<MappedContainer>) {
    if (this != &o) {
      detail::clear_both_on_throw(*this, o, [&] {
        c_.keys = std::move(o.c_.keys);
        c_.values = std::move(o.c_.values);
      });
      comp_ = o.comp_;
      o.clear();
    }
    return *this;
  }
  BasicFlatMap& operator=(std::initializer_list<value_type> il) {
    BasicFlatMap tmp(il, comp_);
    return *this = std::move(tmp);
  }
  ~BasicFlatMap() = default;

  // --- iterators, capacity ------------------------------------------------------------------
  iterator begin() noexcept { return {*this, 0}; }
  iterator end() noexcept { return {*this, size()}; }
  const_iterator begin() const noexcept { return {*this, 0}; }
  const_iterator end() const noexcept { return {*this, size()}; }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }
  const_reverse_iterator crbegin() const noexcept { return rbegin(); }
  const_reverse_iterator crend() const noexcept { return rend(); }

  [[nodiscard]] bool empty() const noexcept { return c_.keys.empty(); }
  size_type size() const noexcept { return c_.keys.size(); }
  size_type max_size() const noexcept { return std::min<size_type>(c_.keys.max_size(), c_.values.max_size()); }
  /// Reserves both sequences (a no-op for sequences without reserve, as std::deque).
  void reserve(size_type n) {
    detail::reserve_if_possible(c_.keys, n);
    detail::reserve_if_possible(c_.values, n);
  }
  void shrink_to_fit() {
    c_.keys.shrink_to_fit();
    c_.values.shrink_to_fit();
  }

  // --- access -------------------------------------------------------------------------------
  T& operator[](const Key& k) requires(!Multi) { return try_emplace(k).first->second; }
  T& operator[](Key&& k) requires(!Multi) { return try_emplace(std::move(k)).first->second; }
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
  iterator nth(size_type i) noexcept { return {*this, i}; }
  const_iterator nth(size_type i) const noexcept { return {*this, i}; }
  /// Position of `it` in key order.
  size_type index_of(const_iterator it) const noexcept { return it.index(); }
  /// Position of `it` in key order.
  size_type index_of(iterator it) const noexcept { return it.index(); }
  /// The element at position `i` as a pair of references (for the iterators). Hardened builds
  /// report a position past the last element (end() or nth(size()) dereferenced), as the other
  /// containers' checked accesses do.
  reference element_at(size_type i) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::FlatMap", i < c_.keys.size(), "element past the end dereferenced");
    return {c_.keys[i], c_.values[i]};
  }
  const_reference element_at(size_type i) const noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::FlatMap", i < c_.keys.size(), "element past the end dereferenced");
    return {c_.keys[i], c_.values[i]};
  }

  const KeyContainer& keys() const noexcept { return c_.keys; }
  const MappedContainer& values() const noexcept { return c_.values; }

  // --- lookup (heterogeneous with a transparent comparator) -----------------------------------
  template <class K = Key>
  iterator find(const K& k) {
    return {*this, find_index(k)};
  }
  template <class K = Key>
  const_iterator find(const K& k) const {
    return {*this, find_index(k)};
  }
  template <class K = Key>
  bool contains(const K& k) const {
    return find_index(k) != size();
  }
  template <class K = Key>
  size_type count(const K& k) const {
    const auto [lo, hi] = equal_range_index(k);
    return hi - lo;
  }
  template <class K = Key>
  iterator lower_bound(const K& k) {
    return {*this, lower_index(k)};
  }
  template <class K = Key>
  const_iterator lower_bound(const K& k) const {
    return {*this, lower_index(k)};
  }
  template <class K = Key>
  iterator upper_bound(const K& k) {
    return {*this, upper_index(k)};
  }
  template <class K = Key>
  const_iterator upper_bound(const K& k) const {
    return {*this, upper_index(k)};
  }
  template <class K = Key>
  std::pair<iterator, iterator> equal_range(const K& k) {
    const auto [lo, hi] = equal_range_index(k);
    return {{*this, lo}, {*this, hi}};
  }
  template <class K = Key>
  std::pair<const_iterator, const_iterator> equal_range(const K& k) const {
    const auto [lo, hi] = equal_range_index(k);
    return {{*this, lo}, {*this, hi}};
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
      if (i != size() && !comp_(v.first, c_.keys[i])) return std::pair<iterator, bool>{{*this, i}, false};
      return std::pair<iterator, bool>{insert_at(i, std::move(v.first), std::move(v.second)), true};
    }
  }
  /// emplace, searching from `hint`: O(1) compares when the element belongs just before it (so
  /// appending sorted input with hint end() is O(1) each); else a search. Returns the element
  /// (the existing one for the non-multi map if the key was present).
  template <class... Args>
  iterator emplace_hint(const_iterator hint, Args&&... args) {
    value_type v(std::forward<Args>(args)...);
    const size_type i = hinted_index(hint.index(), v.first);
    if constexpr (!Multi) {
      if (i != size() && !comp_(v.first, c_.keys[i])) return {*this, i};
    }
    return insert_at(i, std::move(v.first), std::move(v.second));
  }
  auto insert(const value_type& v) { return emplace(v); }
  auto insert(value_type&& v) { return emplace(std::move(v)); }
  iterator insert(const_iterator hint, const value_type& v) { return emplace_hint(hint, v); }
  iterator insert(const_iterator hint, value_type&& v) { return emplace_hint(hint, std::move(v)); }
  /// Inserts a range: appended, then sorted and merged once. O(n log n + size()). Strong: if an
  /// element cannot be copied in or the merge fails, the map is left as it was (over StaticVector
  /// sequences, which cannot swap without moving elements, an element move that throws while the
  /// merged result is swapped in empties the map instead).
  template <std::input_iterator It>
  void insert(It first, It last) {
    if constexpr (sorts_positions<It>) {
      const auto n = static_cast<std::size_t>(last - first);
      if (empty() && n < detail::radix_sort_min) return build_in_order(first, n);
    }
    merge_tail(append_range(first, last), false);
  }
  /// Inserts a range already sorted (sorted_unique: and unique): merged without sorting. Strong,
  /// as insert().
  template <detail::sorted_tag<Multi> Tag, std::input_iterator It>
  void insert(Tag, It first, It last) {
    merge_tail(append_range(first, last), true);
  }
  void insert(std::initializer_list<value_type> il) { insert(il.begin(), il.end()); }
  template <detail::sorted_tag<Multi> Tag>
  void insert(Tag s, std::initializer_list<value_type> il) {
    insert(s, il.begin(), il.end());
  }

  /// Inserts {k, T(args...)} unless k is present; `args` are untouched if it is.
  template <class K, class... Args>
  requires(!Multi && !std::is_convertible_v<K&&, const_iterator> &&
           !std::is_convertible_v<K&&, iterator>) std::pair<iterator, bool> try_emplace(K&& k, Args&&... args) {
    const size_type i = lower_index(k);
    if (i != size() && !comp_(k, c_.keys[i])) return {{*this, i}, false};
    return {emplace_at(i, std::forward<K>(k), std::forward<Args>(args)...), true};
  }
  /// try_emplace searching from `hint` (see emplace_hint).
  template <class K, class... Args>
  requires(!Multi) iterator try_emplace(const_iterator hint, K&& k, Args&&... args) {
    const size_type i = hinted_index(hint.index(), k);
    if (i != size() && !comp_(k, c_.keys[i])) return {*this, i};
    return emplace_at(i, std::forward<K>(k), std::forward<Args>(args)...);
  }
  /// Inserts {k, v}, or assigns v to the existing element.
  template <class K, class M>
  requires(!Multi) std::pair<iterator, bool> insert_or_assign(K&& k, M&& v) {
    return assign_at(lower_index(k), std::forward<K>(k), std::forward<M>(v));
  }
  /// insert_or_assign searching from `hint` (see emplace_hint).
  template <class K, class M>
  requires(!Multi) iterator insert_or_assign(const_iterator hint, K&& k, M&& v) {
    return assign_at(hinted_index(hint.index(), k), std::forward<K>(k), std::forward<M>(v)).first;
  }

  /// Moves in the elements of `source` whose keys are not here (for the non-multi map; the others
  /// stay in `source`, as std::map::merge), or all of them (multi). Elements equivalent to ones
  /// here come after them. If copying in fails, both maps are left as they were.
  /// The elements are copied in, then erased from `source` (so keys and values must be copyable);
  /// if erasing them throws (a throwing move), `source` is emptied.
  template <bool Multi2>
  void merge(BasicFlatMap<Key, T, Compare, KeyContainer, MappedContainer, Multi2>& source) {
    if (static_cast<const void*>(&source) == this) return;
    std::vector<bool> taken(source.size(), false);
    const size_type old = size();
    detail::recover_on_throw(
        [&] {
          detail::for_each_in_order(source.c_.keys, comp_, [&](const std::size_t i) {
            const Key& k = source.c_.keys[i];
            if constexpr (!Multi) {
              const auto b = c_.keys.begin(), e = b + static_cast<difference_type>(old);  // appends move them
              if (detail::find(b, e, k, comp_) != e) return;           // present: stays in the source
              if (size() != old && !comp_(c_.keys.back(), k)) return;  // repeats the last taken (multi source)
            }
            append(k, source.c_.values[i]);
            taken[i] = true;
          });
          merge_tail_or_throw(old, true);
        },
        [&] { truncate(old); });
    size_type i = 0;
    erase_if(source, [&](const auto&) { return taken[i++]; });
  }
  template <bool Multi2>
  void merge(BasicFlatMap<Key, T, Compare, KeyContainer, MappedContainer, Multi2>&& source) {
    merge(source);
  }

  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  /// Erases [first, last). If a move inside a sequence throws, the sequences are kept in step
  /// (emptied if need be): basic guarantee.
  iterator erase(const_iterator first, const_iterator last) {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::FlatMap", first.owner() == this && last.owner() == this &&
                              first.index() <= last.index() && last.index() <= size(), "erase range out of bounds");
    const auto f = static_cast<difference_type>(first.index()), l = static_cast<difference_type>(last.index());
    keep_in_step([&] {
      c_.values.erase(c_.values.begin() + f, c_.values.begin() + l);
      c_.keys.erase(c_.keys.begin() + f, c_.keys.begin() + l);
    });
    return {*this, first.index()};
  }
  /// Erases the elements with key equivalent to `k` (heterogeneous with a transparent comparator).
  template <class K = Key>
  requires(!std::is_convertible_v<K, const_iterator>) size_type erase(const K& k) {
    const auto [lo, hi] = equal_range_index(k);
    erase(const_iterator{*this, lo}, const_iterator{*this, hi});
    return hi - lo;
  }
  void clear() noexcept {
    c_.keys.clear();
    c_.values.clear();
  }
  /// Exchanges the contents. When the sequences' allocators neither propagate on swap nor are
  /// equal (two std::pmr resources, say), each map keeps its allocator and the elements are copied
  /// into the other's memory (std leaves that case undefined): then it may throw, and a failure
  /// leaves both maps as they were unless it came from a throwing move (then both are emptied).
  void swap(BasicFlatMap& o) noexcept(
      detail::always_buffers_swappable<KeyContainer>&& detail::always_buffers_swappable<MappedContainer>&&
          std::is_nothrow_swappable_v<KeyContainer>&& std::is_nothrow_swappable_v<MappedContainer>) {
    using std::swap;
    if (detail::buffers_swappable(c_.keys, o.c_.keys) && detail::buffers_swappable(c_.values, o.c_.values)) {
      // Only a sequence whose swap moves elements (SmallVector) can throw.
      detail::clear_both_on_throw(*this, o, [&] {
        swap(c_.keys, o.c_.keys);
        swap(c_.values, o.c_.values);
      });
    } else {
      containers mine{detail::copy_into_allocator_of(o.c_.keys, c_.keys),
                      detail::copy_into_allocator_of(o.c_.values, c_.values)};
      containers theirs{detail::copy_into_allocator_of(c_.keys, o.c_.keys),
                        detail::copy_into_allocator_of(c_.values, o.c_.values)};
      detail::clear_both_on_throw(*this, o, [&] {  // equal allocators now: the buffers are taken over
        c_.keys = std::move(mine.keys);
        c_.values = std::move(mine.values);
        o.c_.keys = std::move(theirs.keys);
        o.c_.values = std::move(theirs.values);
      });
    }
    swap(comp_, o.comp_);
  }
  friend void swap(BasicFlatMap& a, BasicFlatMap& b) noexcept(noexcept(a.swap(b))) { a.swap(b); }

  /// Moves the sequences out, leaving the map empty.
  containers extract() && { return take(*this); }
  /// Replaces the sequences (sorted by key, unique for the non-multi map, equal lengths).
  void replace(KeyContainer&& keys, MappedContainer&& values) {
    c_.keys = std::move(keys);
    c_.values = std::move(values);
    check_lengths();
    CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatMap", is_sorted_unique(), "replacement is not sorted");
  }

  key_compare key_comp() const { return comp_; }
  value_compare value_comp() const { return value_compare(comp_); }
  /// The allocator of the key sequence (C++23 flat_map has none; for the uses-allocator protocol).
  auto get_allocator() const noexcept requires detail::has_allocator<KeyContainer> { return c_.keys.get_allocator(); }

  friend bool operator==(const BasicFlatMap& a, const BasicFlatMap& b) {
    return a.c_.keys == b.c_.keys && a.c_.values == b.c_.values;
  }
  /// Lexicographic by (key, value), with synth-three-way (so keys and values with only < work).
  friend auto operator<=>(const BasicFlatMap& a, const BasicFlatMap& b) {
    using R = std::common_comparison_category_t<detail::synth_three_way_result<Key>, detail::synth_three_way_result<T>>;
    return std::lexicographical_compare_three_way(
        a.begin(), a.end(), b.begin(), b.end(), [](const_reference x, const_reference y) -> R {
          if (const auto c = detail::synth_three_way(x.first, y.first); c != 0) return c;
          return detail::synth_three_way(x.second, y.second);
        });
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
  template <class, class, class, class, class, bool>
  friend class BasicFlatMap;

  /// Where `k` goes (lower bound for the non-multi map; for the multi map the position nearest
  /// `h` among the equivalent ones, as std::multimap's hint): `h` itself, after at most two
  /// compares, when the key belongs just before it; else a search.
  template <class K>
  size_type hinted_index(size_type h, const K& k) const {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::FlatMap", h <= size(), "hint out of range");
    if (h > size()) h = size();  // a bad hint costs a search, never a read out of bounds
    const bool after_prev = h == 0 || (Multi ? !comp_(k, c_.keys[h - 1]) : comp_(c_.keys[h - 1], k));
    const bool before_next = h == size() || !comp_(c_.keys[h], k);
    if (after_prev && before_next) return h;
    if constexpr (Multi) {
      const auto b = c_.keys.begin();
      if (!after_prev)
        return static_cast<size_type>(detail::upper_bound(b, b + static_cast<difference_type>(h), k, comp_) - b);
      return static_cast<size_type>(detail::lower_bound(b + static_cast<difference_type>(h), c_.keys.end(), k, comp_) -
                                    b);
    } else {
      return lower_index(k);
    }
  }

  /// Moves the sequences out of `m`, leaving it empty (also if a move throws, as std::deque's
  /// may: it allocates for the source).
  static containers take(BasicFlatMap& m) {
    return detail::recover_on_throw(
        [&] {
          containers out{std::move(m.c_.keys), std::move(m.c_.values)};
          m.clear();
          return out;
        },
        [&] { m.clear(); });
  }

  template <class K, class M>
  std::pair<iterator, bool> assign_at(size_type i, K&& k, M&& v) {
    if (i != size() && !comp_(k, c_.keys[i])) {
      c_.values[i] = std::forward<M>(v);
      return {{*this, i}, false};
    }
    return {emplace_at(i, std::forward<K>(k), std::forward<M>(v)), true};
  }

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
    return {*this, i};
  }

  /// insert_at with a key built from `k` and a value from `args`: first (they may refer to
  /// elements), and as the sequences build their elements (detail::with_element).
  template <class K, class... Args>
  iterator emplace_at(size_type i, K&& k, Args&&... args) {
    return detail::with_element(
        c_.keys,
        [&](Key&& key) {
          return detail::with_element(
              c_.values, [&](T&& value) { return insert_at(i, std::move(key), std::move(value)); },
              std::forward<Args>(args)...);
        },
        std::forward<K>(k));
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
    detail::recover_on_throw([&] { c_.values.push_back(std::forward<V>(v)); }, [&] { c_.keys.pop_back(); });
  }

  /// Ranges that build_in_order takes: random access to pairs held in memory, small integer keys
  /// of the map's own type, values that copy in without throwing.
  template <class It>
  static constexpr bool sorts_positions =
      std::random_access_iterator<It> && std::is_reference_v<std::iter_reference_t<It>> &&
      std::is_same_v<std::remove_cvref_t<decltype((*std::declval<It>()).first)>, Key> && detail::radix_sortable<Key, Compare> &&
      sizeof(Key) <= 4 && std::is_nothrow_constructible_v<mapped_type, decltype(((*std::declval<It>()).second))>;

  /// Builds the empty map from the n elements at `first` (n < radix_sort_min): their positions
  /// are sorted by key aside (on the stack up to stack_sort_max), then the keys and the values go
  /// in by one range insert each, in that order: each element is copied once, and each sequence
  /// allocates once and copies in a tight loop. (Appending them unsorted and sorting both sequences alongside moves each twice;
  /// a push_back per element tests the capacity each time.) If a sequence cannot grow, both are
  /// emptied: as the map was.
  template <class It>
  void build_in_order(It first, std::size_t n) {
    detail::scratch_buffer<std::uint32_t, detail::stack_sort_max> buffer(n);
    std::uint32_t* const order = buffer.data();
    std::size_t m = 0;
    detail::for_each_sorted_position<Compare>(
        n, [&](std::size_t i) { return first[static_cast<std::iter_difference_t<It>>(i)].first; }, !Multi,
        [&](std::size_t i) { order[m++] = static_cast<std::uint32_t>(i); });
    using P = detail::permuted_iterator<It>;
    keep_in_step([&] {
      detail::reserve_if_possible(c_.keys, m);
      detail::reserve_if_possible(c_.values, m);
      c_.keys.insert(c_.keys.end(), detail::member_iterator<P, false>(P(first, order)),
                     detail::member_iterator<P, false>(P(first, order + m)));
      c_.values.insert(c_.values.end(), detail::member_iterator<P, true>(P(first, order)),
                       detail::member_iterator<P, true>(P(first, order + m)));
    });
  }

  /// Appends [first, last) (unsorted) and returns the old size; if an element cannot be added,
  /// the appended ones are taken out again (strong).
  template <class It>
  size_type append_range(It first, It last) {
    const size_type old = size();
    if constexpr (std::forward_iterator<It>) {  // one allocation, not one per doubling
      const auto n = old + static_cast<size_type>(std::distance(first, last));
      detail::grow_for(c_.keys, n);
      detail::grow_for(c_.values, n);
    }
    detail::recover_on_throw(
        [&] {
          if constexpr (std::forward_iterator<It> && std::is_reference_v<std::iter_reference_t<It>>) {
            c_.keys.insert(c_.keys.end(), detail::member_iterator<It, false>(first), detail::member_iterator<It, false>(last));
            c_.values.insert(c_.values.end(), detail::member_iterator<It, true>(first), detail::member_iterator<It, true>(last));
          } else {
            for (; first != last; ++first) append((*first).first, (*first).second);
          }
        },
        [&] { truncate(old); });
    return old;
  }

  /// Erases the elements from position `n` on (none if there are fewer).
  void truncate(size_type n) noexcept {
    if (c_.keys.size() > n) c_.keys.erase(c_.keys.begin() + static_cast<difference_type>(n), c_.keys.end());
    if (c_.values.size() > n) c_.values.erase(c_.values.begin() + static_cast<difference_type>(n), c_.values.end());
  }

  /// Sorts the elements from `old` on and merges them into the sorted prefix; for the non-multi
  /// map an appended key already present (or repeated) is dropped, the existing element kept.
  /// If sorting fails, nothing was swapped in: the appended elements are taken out again (strong).
  void merge_tail(size_type old, bool tail_sorted) {
    detail::recover_on_throw([&] { merge_tail_or_throw(old, tail_sorted); }, [&] { truncate(old); });
  }
  void merge_tail_or_throw(size_type old, bool tail_sorted) {
    if (old == size()) return;
    if (tail_sorted)
      CORE_MEMORY_EXPENSIVE_ASSERT("core::memory::FlatMap", detail::is_sorted_keys(c_.keys, comp_, Multi, old),
                                   "input is not sorted as its tag says");
    // Stable sort of the whole by key, with the old elements first among equals, then unique
    // (in place if the map was empty: a failure then empties it, as it was).
    detail::sort_together(c_.keys, &c_.values, comp_, !Multi, old == 0);
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

// Deduction guides (C++23 flat_map's, for the sequences, ranges and initializer lists).
template <class KeyContainer, class MappedContainer, class Compare = std::less<typename KeyContainer::value_type>>
requires(!std::input_iterator<KeyContainer>) BasicFlatMap(KeyContainer, MappedContainer, Compare = Compare())
->BasicFlatMap<typename KeyContainer::value_type, typename MappedContainer::value_type, Compare, KeyContainer,
               MappedContainer>;
template <class KeyContainer, class MappedContainer, class Compare = std::less<typename KeyContainer::value_type>>
BasicFlatMap(sorted_unique_t, KeyContainer, MappedContainer, Compare = Compare())
    -> BasicFlatMap<typename KeyContainer::value_type, typename MappedContainer::value_type, Compare, KeyContainer,
                    MappedContainer>;
template <std::input_iterator It,
          class Compare = std::less<std::remove_const_t<typename std::iter_value_t<It>::first_type>>>
BasicFlatMap(It, It, Compare = Compare())
    -> BasicFlatMap<std::remove_const_t<typename std::iter_value_t<It>::first_type>,
                    typename std::iter_value_t<It>::second_type, Compare>;
template <std::input_iterator It,
          class Compare = std::less<std::remove_const_t<typename std::iter_value_t<It>::first_type>>>
BasicFlatMap(sorted_unique_t, It, It, Compare = Compare())
    -> BasicFlatMap<std::remove_const_t<typename std::iter_value_t<It>::first_type>,
                    typename std::iter_value_t<It>::second_type, Compare>;
template <class Key, class T, class Compare = std::less<Key>>
BasicFlatMap(std::initializer_list<std::pair<Key, T>>, Compare = Compare()) -> BasicFlatMap<Key, T, Compare>;
template <class Key, class T, class Compare = std::less<Key>>
BasicFlatMap(sorted_unique_t, std::initializer_list<std::pair<Key, T>>, Compare = Compare())
    -> BasicFlatMap<Key, T, Compare>;

template <class Key, class T, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>,
          class MappedContainer = std::vector<T>>
using FlatMap = BasicFlatMap<Key, T, Compare, KeyContainer, MappedContainer, false>;
template <class Key, class T, class Compare = std::less<Key>, class KeyContainer = std::vector<Key>,
          class MappedContainer = std::vector<T>>
using FlatMultiMap = BasicFlatMap<Key, T, Compare, KeyContainer, MappedContainer, true>;

}  // namespace core::memory

/// The uses-allocator protocol (C++23 flat_map's): a FlatMap inside an allocator-aware container
/// (a std::pmr::vector of maps, say) is built with that container's allocator.
template <class Key, class T, class Compare, class KeyContainer, class MappedContainer, bool Multi, class Alloc>
struct std::uses_allocator<core::memory::BasicFlatMap<Key, T, Compare, KeyContainer, MappedContainer, Multi>, Alloc>
    : std::bool_constant<std::uses_allocator_v<KeyContainer, Alloc> && std::uses_allocator_v<MappedContainer, Alloc>> {
};
