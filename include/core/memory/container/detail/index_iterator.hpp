#pragma once
/// The random-access iterator of the containers that address elements by position (CircularBuffer,
/// FlatMap, BumpVector): an owner pointer and an index; dereferencing asks the owner for the
/// element at that index (`owner.element_at(i)`), which may be a reference or a proxy.

#include <core/memory/container/detail/std_core.hpp>

namespace core::memory::detail {

template <class Owner, class Value, class Reference>
class index_iterator {
  /// What operator-> returns: the address for true references, a holder for proxies.
  struct arrow_proxy {
    Reference r;
    const Reference* operator->() const noexcept { return std::addressof(r); }
  };

 public:
  using iterator_category = std::random_access_iterator_tag;
  using iterator_concept = std::random_access_iterator_tag;
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using reference = Reference;
  using pointer = std::conditional_t<std::is_reference_v<Reference>, std::add_pointer_t<Reference>, arrow_proxy>;

  index_iterator() noexcept = default;
  /// By reference, so that no literal 0 or nullptr converts to an iterator: `m.insert(hint, {0, x})`
  /// must mean the value {0, x}, not a range.
  index_iterator(Owner& owner, std::size_t i) noexcept : owner_(std::addressof(owner)), i_(i) {}
  /// iterator -> const_iterator.
  template <class O, class R>
    requires(std::is_same_v<const O, Owner> && !std::is_same_v<O, Owner>)
  index_iterator(const index_iterator<O, Value, R>& o) noexcept : owner_(o.owner()), i_(o.index()) {}  // NOLINT

  reference operator*() const noexcept { return owner_->element_at(i_); }
  pointer operator->() const noexcept {
    if constexpr (std::is_reference_v<Reference>) return std::addressof(**this);
    else return arrow_proxy{**this};
  }
  reference operator[](difference_type n) const noexcept { return owner_->element_at(i_ + static_cast<std::size_t>(n)); }
  index_iterator& operator++() noexcept { return ++i_, *this; }
  index_iterator operator++(int) noexcept { auto t = *this; ++i_; return t; }
  index_iterator& operator--() noexcept { return --i_, *this; }
  index_iterator operator--(int) noexcept { auto t = *this; --i_; return t; }
  index_iterator& operator+=(difference_type n) noexcept { return i_ += static_cast<std::size_t>(n), *this; }
  index_iterator& operator-=(difference_type n) noexcept { return i_ -= static_cast<std::size_t>(n), *this; }
  friend index_iterator operator+(index_iterator it, difference_type n) noexcept { return it += n; }
  friend index_iterator operator+(difference_type n, index_iterator it) noexcept { return it += n; }
  friend index_iterator operator-(index_iterator it, difference_type n) noexcept { return it -= n; }
  friend difference_type operator-(const index_iterator& a, const index_iterator& b) noexcept {
    return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
  }
  friend bool operator==(const index_iterator& a, const index_iterator& b) noexcept { return a.i_ == b.i_; }
  friend auto operator<=>(const index_iterator& a, const index_iterator& b) noexcept { return a.i_ <=> b.i_; }

  /// The position in the owner.
  std::size_t index() const noexcept { return i_; }
  Owner* owner() const noexcept { return owner_; }

 private:
  Owner* owner_ = nullptr;
  std::size_t i_ = 0;
};

}  // namespace core::memory::detail
