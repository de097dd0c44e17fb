#pragma once
/// CircularBuffer<T, Alloc>: a fixed-capacity ring with push and pop at both ends in O(1), no
/// allocation after construction, random-access iterators. What a push does when the buffer is
/// full is chosen explicitly at construction: overwrite the element at the other end, or reject
/// the push (it returns false). Under AddressSanitizer the free slots are poisoned.
/// Pushes give the strong guarantee, except an overwriting push of a T whose move constructor may
/// throw (basic: the overwritten element keeps a valid value).

#include <core/memory/container/detail/index_iterator.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <algorithm>
#include <compare>
#include <cstddef>
#include <iterator>
#include <memory>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace core::memory {

/// What a push into a full CircularBuffer does.
enum class overflow_policy {
  reject,            ///< The push does nothing and returns false.
  overwrite_oldest,  ///< The element at the other end is dropped to make room (push_back drops front()).
};

template <class T, class Alloc = std::allocator<T>>
class CircularBuffer {
  using alloc_traits = std::allocator_traits<Alloc>;

 public:
  using value_type = T;
  using allocator_type = Alloc;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = T&;
  using const_reference = const T&;

  using iterator = detail::index_iterator<CircularBuffer, T, T&>;
  using const_iterator = detail::index_iterator<const CircularBuffer, T, const T&>;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  /// A ring of `capacity` elements (allocated now, never again until set_capacity).
  explicit CircularBuffer(size_type capacity, overflow_policy policy = overflow_policy::reject,
                          const Alloc& alloc = Alloc())
      : alloc_(alloc), policy_(policy) {
    allocate_storage(capacity);
  }
  CircularBuffer(const CircularBuffer& o)
      : CircularBuffer(o.cap_, o.policy_, alloc_traits::select_on_container_copy_construction(o.alloc_)) {
    for (const T& x : o) emplace_back(x);
  }
  CircularBuffer(CircularBuffer&& o) noexcept
      : alloc_(std::move(o.alloc_)), buf_(std::exchange(o.buf_, nullptr)), cap_(std::exchange(o.cap_, 0)),
        head_(std::exchange(o.head_, 0)), size_(std::exchange(o.size_, 0)), policy_(o.policy_) {}
  CircularBuffer& operator=(CircularBuffer o) noexcept {
    swap(o);
    return *this;
  }
  ~CircularBuffer() { free_storage(); }

  void swap(CircularBuffer& o) noexcept {
    using std::swap;
    if constexpr (alloc_traits::propagate_on_container_swap::value) swap(alloc_, o.alloc_);
    swap(buf_, o.buf_);
    swap(cap_, o.cap_);
    swap(head_, o.head_);
    swap(size_, o.size_);
    swap(policy_, o.policy_);
  }
  friend void swap(CircularBuffer& a, CircularBuffer& b) noexcept { a.swap(b); }

  // --- access -------------------------------------------------------------------------------
  reference operator[](size_type i) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", i < size_, "index out of range");
    return buf_[slot(i)];
  }
  const_reference operator[](size_type i) const noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", i < size_, "index out of range");
    return buf_[slot(i)];
  }
  reference at(size_type i) {
    if (i >= size_) throw_out_of_range("core::memory::CircularBuffer", "CircularBuffer::at: index out of range");
    return buf_[slot(i)];
  }
  const_reference at(size_type i) const {
    if (i >= size_) throw_out_of_range("core::memory::CircularBuffer", "CircularBuffer::at: index out of range");
    return buf_[slot(i)];
  }
  reference front() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", size_ != 0, "front() of an empty buffer");
    return buf_[head_];
  }
  const_reference front() const noexcept { return const_cast<CircularBuffer&>(*this).front(); }
  reference back() noexcept { return (*this)[size_ - 1]; }
  const_reference back() const noexcept { return (*this)[size_ - 1]; }
  /// The element at position `i` (for the iterators).
  reference element_at(size_type i) noexcept { return (*this)[i]; }
  const_reference element_at(size_type i) const noexcept { return (*this)[i]; }

  iterator begin() noexcept { return {this, 0}; }
  iterator end() noexcept { return {this, size_}; }
  const_iterator begin() const noexcept { return {this, 0}; }
  const_iterator end() const noexcept { return {this, size_}; }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] bool full() const noexcept { return size_ == cap_; }
  size_type size() const noexcept { return size_; }
  size_type capacity() const noexcept { return cap_; }
  overflow_policy policy() const noexcept { return policy_; }
  allocator_type get_allocator() const noexcept { return alloc_; }

  // --- modifiers ----------------------------------------------------------------------------
  /// Appends; when full, overwrites front() or is rejected (returns false), as the policy says.
  template <class... Args>
  bool emplace_back(Args&&... args) {
    if (full()) {
      if (policy_ == overflow_policy::reject || cap_ == 0) return false;
      replace_slot(head_, std::forward<Args>(args)...);  // the front slot becomes the back
      head_ = next_slot(head_);
      return true;
    }
    construct_at_slot(slot(size_), std::forward<Args>(args)...);
    ++size_;
    return true;
  }
  /// Prepends; when full, overwrites back() or is rejected, as the policy says.
  template <class... Args>
  bool emplace_front(Args&&... args) {
    if (full()) {
      if (policy_ == overflow_policy::reject || cap_ == 0) return false;
      replace_slot(prev_slot(head_), std::forward<Args>(args)...);  // the back slot becomes the front
      head_ = prev_slot(head_);
      return true;
    }
    construct_at_slot(prev_slot(head_), std::forward<Args>(args)...);
    head_ = prev_slot(head_);
    ++size_;
    return true;
  }
  bool push_back(const T& x) { return emplace_back(x); }
  bool push_back(T&& x) { return emplace_back(std::move(x)); }
  bool push_front(const T& x) { return emplace_front(x); }
  bool push_front(T&& x) { return emplace_front(std::move(x)); }

  void pop_front() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", size_ != 0, "pop_front on an empty buffer");
    destroy_slot(head_);
    head_ = next_slot(head_);
    --size_;
  }
  void pop_back() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", size_ != 0, "pop_back on an empty buffer");
    destroy_slot(slot(size_ - 1));
    --size_;
  }
  void clear() noexcept {
    while (size_) pop_back();
    head_ = 0;
  }

  /// The elements as at most two contiguous runs: [front .. end of storage) and the wrapped rest.
  std::span<T> array_one() noexcept { return {buf_ + head_, std::min(size_, cap_ - head_)}; }
  std::span<T> array_two() noexcept { return {buf_, size_ - std::min(size_, cap_ - head_)}; }
  std::span<const T> array_one() const noexcept { return {buf_ + head_, std::min(size_, cap_ - head_)}; }
  std::span<const T> array_two() const noexcept { return {buf_, size_ - std::min(size_, cap_ - head_)}; }
  [[nodiscard]] bool is_linearized() const noexcept { return head_ + size_ <= cap_; }

  /// Rearranges the storage so the elements are contiguous from its start; returns them. O(n);
  /// moves the elements into a fresh buffer when they are not already at the start.
  std::span<T> linearize() {
    if (head_ != 0) set_capacity_impl(cap_);
    return {buf_, size_};
  }

  /// Makes the element at `new_first` the front, like std::rotate over the elements. O(n).
  void rotate(const_iterator new_first) {
    const size_type k = new_first.index();
    if (k == 0 || k == size_) return;
    if (full()) {
      head_ = slot(k);  // a full ring rotates by moving its head
      return;
    }
    linearize();
    std::rotate(buf_, buf_ + k, buf_ + size_);
  }

  /// Changes the capacity, keeping the first min(size(), n) elements. Strong guarantee.
  void set_capacity(size_type n) {
    if (n != cap_) set_capacity_impl(n);
  }

  friend bool operator==(const CircularBuffer& a, const CircularBuffer& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  void set_capacity_impl(size_type n) {
    CircularBuffer fresh(n, policy_, alloc_);
    const size_type keep = std::min(size_, n);
    for (size_type i = 0; i < keep; ++i) fresh.emplace_back(std::move_if_noexcept((*this)[i]));
    swap(fresh);
  }

  size_type slot(size_type i) const noexcept {
    size_type j = head_ + i;
    return j >= cap_ ? j - cap_ : j;
  }
  size_type next_slot(size_type s) const noexcept { return s + 1 == cap_ ? 0 : s + 1; }
  size_type prev_slot(size_type s) const noexcept { return s == 0 ? cap_ - 1 : s - 1; }

  template <class... Args>
  void construct_at_slot(size_type s, Args&&... args) {
    unpoison_memory(buf_ + s, sizeof(T));
#if CORE_MEMORY_EXCEPTIONS
    try {
      alloc_traits::construct(alloc_, buf_ + s, std::forward<Args>(args)...);
    } catch (...) {
      poison_memory_inside(buf_ + s, sizeof(T));
      throw;
    }
#else
    alloc_traits::construct(alloc_, buf_ + s, std::forward<Args>(args)...);
#endif
  }
  /// Overwrites the element in slot `s` with one built from `args`, which is built first (args
  /// may refer to that element). Strong guarantee if T's move constructor is noexcept; else the
  /// element is move-assigned and, should that throw, keeps a valid but unspecified value.
  template <class... Args>
  void replace_slot(size_type s, Args&&... args) {
    T tmp(std::forward<Args>(args)...);
    if constexpr (std::is_nothrow_move_constructible_v<T>) {
      alloc_traits::destroy(alloc_, buf_ + s);
      alloc_traits::construct(alloc_, buf_ + s, std::move(tmp));
    } else {
      buf_[s] = std::move(tmp);
    }
  }

  void destroy_slot(size_type s) noexcept {
    alloc_traits::destroy(alloc_, buf_ + s);
    poison_memory_inside(buf_ + s, sizeof(T));
  }

  void allocate_storage(size_type n) {
    cap_ = n;
    buf_ = n ? alloc_traits::allocate(alloc_, n) : nullptr;
    poison_free();
  }
  void free_storage() noexcept {
    clear();
    if (buf_) {
      unpoison_all();
      alloc_traits::deallocate(alloc_, buf_, cap_);
    }
    buf_ = nullptr;
  }
  void unpoison_all() const noexcept { unpoison_memory(buf_, cap_ * sizeof(T)); }
  void poison_free() const noexcept {
    for (size_type i = size_; i < cap_; ++i) poison_memory_inside(buf_ + slot(i), sizeof(T));
  }

  [[no_unique_address]] Alloc alloc_;
  T* buf_ = nullptr;
  size_type cap_ = 0;
  size_type head_ = 0;
  size_type size_ = 0;
  overflow_policy policy_;
};

}  // namespace core::memory
