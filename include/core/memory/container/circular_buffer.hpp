#pragma once
/// CircularBuffer<T, Alloc>: a fixed-capacity ring with push and pop at both ends in O(1), no
/// allocation after construction, random-access iterators. What a push into a full buffer does is
/// said by its name at the call site: push_back/push_front (and emplace_) overwrite the element at
/// the other end, as boost::circular_buffer does; try_push_back/try_push_front (and try_emplace_)
/// do nothing and return false, a result that cannot be ignored ([[nodiscard]]).
/// Pushes give the strong guarantee, except an overwriting push of a T whose move constructor may
/// throw (basic: the overwritten element keeps a valid value). Allocators behave as in std
/// containers (propagate_on_container_*; unequal, non-propagating ones: elements are copied or
/// moved into this buffer's own memory, also by swap). Under AddressSanitizer the free slots are
/// poisoned, as finely as its 8-byte granules allow (detail/slot_poison.hpp). Its pointers are
/// stored as the allocator's `pointer`: with an offset_ptr allocator it can live in shared memory.

#include <core/memory/container/detail/std_core.hpp>
#include <core/memory/container/detail/allocator_assignment.hpp>
#include <core/memory/container/detail/fancy_pointer.hpp>
#include <core/memory/container/detail/index_iterator.hpp>
#include <core/memory/container/detail/slot_poison.hpp>
#include <core/memory/container/detail/temporary_value.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <cstdint>
#include <span>

namespace core::memory {

template <class T, class Alloc = std::allocator<T>>
class CircularBuffer {
  using alloc_traits = std::allocator_traits<Alloc>;
  static constexpr bool pocma = alloc_traits::propagate_on_container_move_assignment::value;
  static constexpr bool pocs = alloc_traits::propagate_on_container_swap::value;
  static constexpr bool always_equal = alloc_traits::is_always_equal::value;
  /// What the buffer stores (buf_, end_, head_, tail_); the elements are reached through T*.
  using alloc_pointer = typename alloc_traits::pointer;
  static constexpr bool annotated = detail::sanitizer_annotations<alloc_pointer>;

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

  /// An empty ring of `capacity` elements (allocated now, never again until set_capacity).
  /// Throws std::length_error if capacity > max_size().
  explicit CircularBuffer(size_type capacity, const Alloc& alloc = Alloc()) : alloc_(alloc) {
    allocate_storage(capacity);
  }
  CircularBuffer(const CircularBuffer& o)
      : CircularBuffer(o, alloc_traits::select_on_container_copy_construction(o.alloc_)) {}
  CircularBuffer(const CircularBuffer& o, const Alloc& alloc) : CircularBuffer(o.cap_, alloc) {
    for (const T& x : o) construct_back(x);
  }
  /// Takes `o`'s buffer; `o` is left empty with capacity 0.
  CircularBuffer(CircularBuffer&& o) noexcept
      : alloc_(std::move(o.alloc_)), buf_(std::exchange(o.buf_, nullptr)), cap_(std::exchange(o.cap_, 0)),
        end_(std::exchange(o.end_, nullptr)), head_(std::exchange(o.head_, nullptr)), tail_(std::exchange(o.tail_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}
  /// Takes `o`'s buffer if `alloc` equals its allocator; else moves its elements into a buffer
  /// from `alloc` (`o` keeps its buffer and moved-from elements).
  CircularBuffer(CircularBuffer&& o, const Alloc& alloc) : CircularBuffer(alloc == o.alloc_ ? 0 : o.cap_, alloc) {
    if (alloc_ == o.alloc_) swap_contents<false>(o);
    else
      for (T& x : o) construct_back(std::move(x));
  }
  /// Copies `o`'s elements into this buffer's memory, or into memory of `o`'s allocator if it
  /// propagates on copy assignment. Strong guarantee.
  CircularBuffer& operator=(const CircularBuffer& o) {
    detail::allocator_assignment::copy(*this, o);
    return *this;
  }
  /// Takes `o`'s buffer when the allocators allow it (equal, or propagating on move assignment);
  /// otherwise moves the elements into this buffer's own memory. `o` is left empty.
  CircularBuffer& operator=(CircularBuffer&& o) noexcept(pocma || always_equal) {
    detail::allocator_assignment::move(*this, o);
    return *this;
  }
  ~CircularBuffer() { free_storage(); }

  /// Exchanges the contents. Allocators that propagate on swap are exchanged too; equal ones
  /// exchange the buffers; unequal, non-propagating ones keep their memory and the elements are
  /// moved across (copied if their move may throw: then strong; may allocate and throw).
  void swap(CircularBuffer& o) noexcept(pocs || always_equal) {
    if (pocs || alloc_ == o.alloc_) {
      swap_contents<pocs>(o);
    } else {
      CircularBuffer mine(o.cap_, alloc_), theirs(cap_, o.alloc_);
      for (T& x : o) mine.construct_back(std::move_if_noexcept(x));
      for (T& x : *this) theirs.construct_back(std::move_if_noexcept(x));
      swap_contents<false>(mine);
      o.swap_contents<false>(theirs);
    }
  }
  friend void swap(CircularBuffer& a, CircularBuffer& b) noexcept(noexcept(a.swap(b))) { a.swap(b); }

  // --- access -------------------------------------------------------------------------------
  reference operator[](size_type i) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", i < size_, "index out of range");
    return raw(buf_)[slot(i)];
  }
  const_reference operator[](size_type i) const noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", i < size_, "index out of range");
    return raw(buf_)[slot(i)];
  }
  reference at(size_type i) {
    if (i >= size_) throw_index_out_of_range("core::memory::CircularBuffer::at", i, size_);
    return raw(buf_)[slot(i)];
  }
  const_reference at(size_type i) const {
    if (i >= size_) throw_index_out_of_range("core::memory::CircularBuffer::at", i, size_);
    return raw(buf_)[slot(i)];
  }
  reference front() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", size_ != 0, "front() of an empty buffer");
    return *raw(head_);
  }
  const_reference front() const noexcept { return const_cast<CircularBuffer&>(*this).front(); }
  reference back() noexcept { return (*this)[size_ - 1]; }
  const_reference back() const noexcept { return (*this)[size_ - 1]; }
  /// The element at position `i` (for the iterators).
  reference element_at(size_type i) noexcept { return (*this)[i]; }
  const_reference element_at(size_type i) const noexcept { return (*this)[i]; }

  iterator begin() noexcept { return {*this, 0}; }
  iterator end() noexcept { return {*this, size_}; }
  const_iterator begin() const noexcept { return {*this, 0}; }
  const_iterator end() const noexcept { return {*this, size_}; }
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
  /// The largest capacity this buffer's allocator can serve.
  size_type max_size() const noexcept {
    return std::min<size_type>(alloc_traits::max_size(alloc_), PTRDIFF_MAX / sizeof(T));
  }
  allocator_type get_allocator() const noexcept { return alloc_; }

  // --- modifiers ----------------------------------------------------------------------------
  /// Appends; when full, the front element is overwritten (dropped) to make room. A buffer of
  /// capacity 0 drops the new element at once.
  template <class... Args>
  void emplace_back(Args&&... args) {
    if (size_ == cap_) [[unlikely]] {
      if (cap_ == 0) return;
      replace_slot(raw(head_), std::forward<Args>(args)...);  // the front slot becomes the back
      tail_ = head_ = fancy(next(raw(head_)));
      return;
    }
    construct_back(std::forward<Args>(args)...);
  }
  /// Prepends; when full, the back element is overwritten (dropped) to make room.
  template <class... Args>
  void emplace_front(Args&&... args) {
    if (size_ == cap_) [[unlikely]] {
      if (cap_ == 0) return;
      replace_slot(prev(raw(head_)), std::forward<Args>(args)...);  // the back slot becomes the front
      tail_ = head_ = fancy(prev(raw(head_)));
      return;
    }
    construct_front(std::forward<Args>(args)...);
  }
  void push_back(const T& x) { emplace_back(x); }
  void push_back(T&& x) { emplace_back(std::move(x)); }
  void push_front(const T& x) { emplace_front(x); }
  void push_front(T&& x) { emplace_front(std::move(x)); }

  /// Appends if there is room; when full, does nothing and returns false.
  template <class... Args>
  [[nodiscard]] bool try_emplace_back(Args&&... args) {
    if (size_ == cap_) return false;
    construct_back(std::forward<Args>(args)...);
    return true;
  }
  /// Prepends if there is room; when full, does nothing and returns false.
  template <class... Args>
  [[nodiscard]] bool try_emplace_front(Args&&... args) {
    if (size_ == cap_) return false;
    construct_front(std::forward<Args>(args)...);
    return true;
  }
  [[nodiscard]] bool try_push_back(const T& x) { return try_emplace_back(x); }
  [[nodiscard]] bool try_push_back(T&& x) { return try_emplace_back(std::move(x)); }
  [[nodiscard]] bool try_push_front(const T& x) { return try_emplace_front(x); }
  [[nodiscard]] bool try_push_front(T&& x) { return try_emplace_front(std::move(x)); }

  void pop_front() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", size_ != 0, "pop_front on an empty buffer");
    destroy_slot(raw(head_), cap_ - size_);  // the free slots all lie just before the front
    head_ = fancy(next(raw(head_)));
    --size_;
  }
  void pop_back() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", size_ != 0, "pop_back on an empty buffer");
    tail_ = fancy(prev(raw(tail_)));
    destroy_slot(raw(tail_), size_ == 1 ? cap_ - 1 : 0);
    --size_;
  }
  void clear() noexcept {
    while (size_) pop_back();
    head_ = tail_ = buf_;
  }

  /// The elements as at most two contiguous runs: [front .. end of storage) and the wrapped rest.
  std::span<T> array_one() noexcept { return {raw(head_), std::min(size_, cap_ - head())}; }
  std::span<T> array_two() noexcept { return {raw(buf_), size_ - std::min(size_, cap_ - head())}; }
  std::span<const T> array_one() const noexcept { return {raw(head_), std::min(size_, cap_ - head())}; }
  std::span<const T> array_two() const noexcept { return {raw(buf_), size_ - std::min(size_, cap_ - head())}; }
  [[nodiscard]] bool is_linearized() const noexcept { return head() + size_ <= cap_; }

  /// Rearranges the storage so the elements are contiguous from its start; returns them. O(n);
  /// moves the elements into a fresh buffer when they are not already at the start.
  std::span<T> linearize() {
    if (head_ != buf_) set_capacity_impl(cap_);
    return {raw(buf_), size_};
  }

  /// Makes the element at `new_first` the front, like std::rotate over the elements. O(n). Basic
  /// guarantee (strong for a full buffer, which only moves its head): the elements are swapped
  /// in place after linearize().
  void rotate(const_iterator new_first) {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::CircularBuffer", new_first.owner() == this && new_first.index() <= size_,
                              "rotate position out of range");
    const size_type k = new_first.index();
    if (k == 0 || k == size_) return;
    if (full()) {
      tail_ = head_ = fancy(raw(buf_) + slot(k));  // a full ring rotates by moving its head
      return;
    }
    linearize();
    detail::rotate(raw(buf_), raw(buf_) + k, raw(buf_) + size_);
  }

  /// Changes the capacity, keeping the first min(size(), n) elements. Strong guarantee.
  void set_capacity(size_type n) {
    if (n != cap_) set_capacity_impl(n);
  }

  friend bool operator==(const CircularBuffer& a, const CircularBuffer& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  friend struct detail::allocator_assignment;

  void set_capacity_impl(size_type n) {
    CircularBuffer fresh(n, alloc_);
    const size_type keep = std::min(size_, n);
    for (size_type i = 0; i < keep; ++i) fresh.construct_back(std::move_if_noexcept((*this)[i]));
    swap_contents<false>(fresh);
  }

  /// Swaps the contents, and the allocators if `with_allocators` (callers make sure each buffer
  /// always ends up with an allocator equal to the one that made it).
  template <bool with_allocators>
  void swap_contents(CircularBuffer& o) noexcept {
    using std::swap;
    if constexpr (with_allocators) swap(alloc_, o.alloc_);
    swap(buf_, o.buf_);
    swap(cap_, o.cap_);
    swap(end_, o.end_);
    swap(head_, o.head_);
    swap(tail_, o.tail_);
    swap(size_, o.size_);
  }

  size_type slot(size_type i) const noexcept {
    size_type j = head() + i;
    return j >= cap_ ? j - cap_ : j;
  }
  /// The index of the front slot.
  size_type head() const noexcept { return static_cast<size_type>(raw(head_) - raw(buf_)); }
  T* next(T* p) const noexcept { return p + 1 == raw(end_) ? raw(buf_) : p + 1; }
  T* prev(T* p) const noexcept { return p == raw(buf_) ? raw(end_) - 1 : p - 1; }
  static T* raw(const alloc_pointer& p) noexcept { return std::to_address(p); }
  static alloc_pointer fancy(T* p) noexcept { return detail::pointer_from<alloc_pointer>(p); }

  /// Builds a new back element; the buffer is not full.
  template <class... Args>
  void construct_back(Args&&... args) {
    construct_at_slot(raw(tail_), size_ == 0 ? cap_ - 1 : 0, std::forward<Args>(args)...);
    tail_ = fancy(next(raw(tail_)));
    ++size_;
  }
  /// Builds a new front element; the buffer is not full.
  template <class... Args>
  void construct_front(Args&&... args) {
    T* const p = prev(raw(head_));
    construct_at_slot(p, cap_ - size_ - 1, std::forward<Args>(args)...);
    head_ = fancy(p);
    ++size_;
  }
  /// Builds an element in the free slot `p`, which has `free_before` free slots right before it
  /// (for poisoning it again if the constructor throws).
  template <class... Args>
  void construct_at_slot(T* p, [[maybe_unused]] size_type free_before, Args&&... args) {
    if constexpr (annotated) unpoison_memory(p, sizeof(T));
#if CORE_MEMORY_EXCEPTIONS
    try {
      alloc_traits::construct(alloc_, p, std::forward<Args>(args)...);
    } catch (...) {
      if constexpr (annotated) detail::poison_freed_slot(raw(buf_), static_cast<size_type>(p - raw(buf_)), free_before);
      throw;
    }
#else
    alloc_traits::construct(alloc_, p, std::forward<Args>(args)...);
#endif
  }
  /// Overwrites the element in slot `p` with one built from `args`, which is built first (args
  /// may refer to that element), with this buffer's allocator. Strong guarantee if T's move
  /// constructor is noexcept; else the element is move-assigned and, should that throw, keeps a
  /// valid but unspecified value.
  template <class... Args>
  void replace_slot(T* p, Args&&... args) {
    detail::temporary_value<T, Alloc> tmp(alloc_, std::forward<Args>(args)...);
    if constexpr (std::is_nothrow_move_constructible_v<T>) {
      alloc_traits::destroy(alloc_, p);
      alloc_traits::construct(alloc_, p, std::move(tmp.get()));
    } else {
      *p = std::move(tmp.get());
    }
  }

  /// Destroys the element in slot `p`, which has `free_before` free slots right before it.
  void destroy_slot(T* p, size_type free_before) noexcept {
    alloc_traits::destroy(alloc_, p);
    if constexpr (annotated) detail::poison_freed_slot(raw(buf_), static_cast<size_type>(p - raw(buf_)), free_before);
  }

  void allocate_storage(size_type n) {
    if (n > max_size()) throw_length_error("core::memory::CircularBuffer", "CircularBuffer: capacity exceeds max_size()");
    buf_ = n ? alloc_traits::allocate(alloc_, n) : nullptr;
    end_ = fancy(raw(buf_) + n);
    head_ = tail_ = buf_;
    cap_ = n;
    if constexpr (annotated) poison_memory(raw(buf_), n * sizeof(T));
  }
  void free_storage() noexcept {
    clear();
    if (buf_) {
      if constexpr (annotated) unpoison_memory(raw(buf_), cap_ * sizeof(T));
      alloc_traits::deallocate(alloc_, buf_, cap_);
    }
    buf_ = nullptr;
  }

  [[no_unique_address]] Alloc alloc_;
  alloc_pointer buf_ = nullptr;
  size_type cap_ = 0;
  // Pointers, not indices, as on the hot paths (push_back, front, pop_front) they save the
  // address arithmetic and the add and wrap of head + size.
  alloc_pointer end_ = nullptr;   // buf_ + cap_
  alloc_pointer head_ = nullptr;  // the front element's slot
  alloc_pointer tail_ = nullptr;  // the slot after the back element
  size_type size_ = 0;
};

}  // namespace core::memory
