#pragma once
/// SmallVector<T, N, Alloc>: a std::vector whose first N elements live inside the object, so a
/// small vector never touches the heap. SmallVectorImpl<T, Alloc> is the size-erased base: take
/// `SmallVectorImpl<T>&` to accept a SmallVector<T, N> of any N. StaticVector<T, N> (C++26
/// inplace_vector's interface) never allocates at all.
///
/// - The whole std::vector interface; iterators are pointers.
/// - Strong exception guarantee where std::vector gives it (push_back, emplace_back, reserve,
///   insert at the end...), and arguments that alias the vector's own elements work as for
///   std::vector (`v.push_back(v[0])` when full, `v.insert(p, n, v[i])`).
/// - Under AddressSanitizer the unused capacity (inline or heap) is annotated: touching past
///   size() is reported.
/// - The size type can be narrowed (e.g. std::uint32_t) to make the header smaller.

#include <core/memory/util/align.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace core::memory {


/// The size-erased part of every SmallVector<T, N, Alloc, SizeT>: all of the vector interface.
template <class T, class Alloc = std::allocator<T>, class SizeT = std::size_t>
class SmallVectorImpl {
  using alloc_traits = std::allocator_traits<Alloc>;
  static_assert(std::is_same_v<typename alloc_traits::value_type, T>, "Alloc::value_type must be T");
  static_assert(std::is_unsigned_v<SizeT>, "SizeT must be an unsigned integer type");

 public:
  using value_type = T;
  using allocator_type = Alloc;
  using size_type = SizeT;
  using difference_type = std::ptrdiff_t;
  using reference = T&;
  using const_reference = const T&;
  using pointer = T*;
  using const_pointer = const T*;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  SmallVectorImpl(const SmallVectorImpl&) = delete;

  // --- element access -----------------------------------------------------------------------
  reference operator[](size_type i) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", i < size_, "index out of range");
    return data_[i];
  }
  const_reference operator[](size_type i) const noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", i < size_, "index out of range");
    return data_[i];
  }
  reference at(size_type i) {
    if (i >= size_) throw_out_of_range("core::memory::SmallVector", "SmallVector::at: index out of range");
    return data_[i];
  }
  const_reference at(size_type i) const {
    if (i >= size_) throw_out_of_range("core::memory::SmallVector", "SmallVector::at: index out of range");
    return data_[i];
  }
  reference front() noexcept { return (*this)[0]; }
  const_reference front() const noexcept { return (*this)[0]; }
  reference back() noexcept { return (*this)[size_ - 1]; }
  const_reference back() const noexcept { return (*this)[size_ - 1]; }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }

  // --- iterators ----------------------------------------------------------------------------
  iterator begin() noexcept { return data_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator cbegin() const noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator end() const noexcept { return data_ + size_; }
  const_iterator cend() const noexcept { return data_ + size_; }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator crbegin() const noexcept { return rbegin(); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }
  const_reverse_iterator crend() const noexcept { return rend(); }

  // --- capacity -----------------------------------------------------------------------------
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  size_type size() const noexcept { return size_; }
  size_type capacity() const noexcept { return capacity_; }
  size_type max_size() const noexcept {
    const std::size_t a = alloc_traits::max_size(alloc_);
    const std::size_t s = std::numeric_limits<SizeT>::max();
    return static_cast<size_type>(a < s ? a : s);
  }
  /// True while the elements live in the inline buffer (no heap memory held). A heap buffer is
  /// always larger than the inline one, so this needs no address arithmetic on `this`, which
  /// keeps the vector's fields in registers in hot loops.
  [[nodiscard]] bool on_stack() const noexcept { return capacity_ <= inline_capacity_; }
  /// Number of elements the inline buffer holds.
  size_type inline_capacity() const noexcept { return inline_capacity_; }

  /// Makes room for `n` elements. Strong guarantee.
  void reserve(size_type n) {
    if (n > capacity_) reallocate(n);
  }
  /// Moves the elements back inline if they fit, else to a heap buffer of exactly size().
  void shrink_to_fit() {
    if (on_stack() || size_ == capacity_) return;
    reallocate(size_ <= inline_capacity_ ? inline_capacity_ : size_, size_ <= inline_capacity_);
  }

  allocator_type get_allocator() const noexcept { return alloc_; }

  // --- modifiers ----------------------------------------------------------------------------
  void clear() noexcept {
    std::destroy(data_, data_ + size_);
    annotate(size_, 0);
    size_ = 0;
  }

  [[gnu::always_inline]] void push_back(const T& value) { emplace_back(value); }
  [[gnu::always_inline]] void push_back(T&& value) { emplace_back(std::move(value)); }

  /// Appends an element built from `args`. Strong guarantee; `args` may refer to elements.
  /// Always inlined (the growth path is out of line): g++ otherwise gives up folding a caller's
  /// short loop of pushes into plain stores (8-element build 3.6 -> 1.4 ns).
  template <class... Args>
  [[gnu::always_inline]] reference emplace_back(Args&&... args) {
    if (size_ < capacity_) [[likely]] {
      return append_in_place(std::forward<Args>(args)...);
    }
    if constexpr (passed_by_value<Args...>) {
      return grow_and_push_value(T(std::forward<Args>(args)...));
    } else {
      return grow_and_emplace_back(std::forward<Args>(args)...);
    }
  }

  /// Appends into capacity already reserved: precondition size() < capacity(), checked in
  /// hardened and debug builds (C++26 inplace_vector's name). For loops that reserve first: with
  /// no capacity test and no growth call in the loop, the compiler keeps the vector's fields in
  /// registers and may vectorise the loop, which it cannot do around push_back once the vector's
  /// address has escaped (as any inline buffer's does, through data()).
  template <class... Args>
  [[gnu::always_inline]] reference unchecked_emplace_back(Args&&... args) {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", size_ < capacity_, "unchecked_emplace_back on a full vector");
    return append_in_place(std::forward<Args>(args)...);
  }
  [[gnu::always_inline]] reference unchecked_push_back(const T& value) { return unchecked_emplace_back(value); }
  [[gnu::always_inline]] reference unchecked_push_back(T&& value) { return unchecked_emplace_back(std::move(value)); }

  void pop_back() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", size_ != 0, "pop_back on an empty vector");
    --size_;
    alloc_traits::destroy(alloc_, data_ + size_);
    annotate(size_ + 1, size_);
  }

  void resize(size_type n) { resize_impl(n, [&](T* p) { alloc_traits::construct(alloc_, p); }); }
  void resize(size_type n, const T& value) {
    if (n > size_ && n > capacity_ && aliases(value)) {  // value lives in the buffer about to move
      T copy(value);
      resize_impl(n, [&](T* p) { alloc_traits::construct(alloc_, p, copy); });
    } else {
      resize_impl(n, [&](T* p) { alloc_traits::construct(alloc_, p, value); });
    }
  }

  void assign(size_type n, const T& value) {
    T copy(value);  // value may be an element
    clear();
    reserve(n);
    append_n(n, copy);
  }
  template <std::input_iterator It>
  void assign(It first, It last) {
    clear();
    append_range(first, last);
  }
  void assign(std::initializer_list<T> il) { assign(il.begin(), il.end()); }

  iterator insert(const_iterator pos, const T& value) { return emplace(pos, value); }
  iterator insert(const_iterator pos, T&& value) { return emplace(pos, std::move(value)); }
  iterator insert(const_iterator pos, size_type n, const T& value) {
    const auto i = index_of(pos);
    if (n == 0) return data_ + i;
    T copy(value);  // value may be an element that moves
    const size_type old = size_;
    append_n(n, copy);
    std::rotate(data_ + i, data_ + old, data_ + size_);
    return data_ + i;
  }
  template <std::input_iterator It>
  iterator insert(const_iterator pos, It first, It last) {
    const auto i = index_of(pos);
    const size_type old = size_;
    append_range(first, last);
    std::rotate(data_ + i, data_ + old, data_ + size_);
    return data_ + i;
  }
  iterator insert(const_iterator pos, std::initializer_list<T> il) { return insert(pos, il.begin(), il.end()); }

  /// Inserts an element built from `args` before `pos`. At the end: strong guarantee.
  template <class... Args>
  iterator emplace(const_iterator pos, Args&&... args) {
    const auto i = index_of(pos);
    if (i == size_) {
      emplace_back(std::forward<Args>(args)...);
      return data_ + i;
    }
    T tmp(std::forward<Args>(args)...);  // built first: args may refer to elements that move
    emplace_back(std::move(data_[size_ - 1]));
    std::move_backward(data_ + i, data_ + size_ - 2, data_ + size_ - 1);
    data_[i] = std::move(tmp);
    return data_ + i;
  }

  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    const auto i = index_of(first);
    const auto j = index_of(last);
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", i <= j && j <= size_, "erase range out of bounds");
    if (i == j) return data_ + i;
    T* new_end = std::move(data_ + j, data_ + size_, data_ + i);
    std::destroy(new_end, data_ + size_);
    const size_type old = size_;
    size_ = static_cast<size_type>(new_end - data_);
    annotate(old, size_);
    return data_ + i;
  }

  /// Swaps contents: O(1) when both are on the heap, element-wise otherwise. Unlike
  /// std::vector's, it may allocate (an inline vector taking more elements than fit inline), so
  /// it is not noexcept; it allocates first, and with a non-throwing move it is then strong.
  void swap(SmallVectorImpl& other) {
    if (this == &other) return;
    if (!on_stack() && !other.on_stack() && capacity_ > other.inline_capacity_ &&
        other.capacity_ > inline_capacity_) {  // each buffer is larger than the other's inline one
      std::swap(data_, other.data_);
      std::swap(size_, other.size_);
      std::swap(capacity_, other.capacity_);
      if constexpr (alloc_traits::propagate_on_container_swap::value) std::swap(alloc_, other.alloc_);
      return;
    }
    SmallVectorImpl& small = size_ <= other.size_ ? *this : other;
    SmallVectorImpl& large = size_ <= other.size_ ? other : *this;
    small.reserve(large.size_);
    const size_type common = small.size_;
    std::swap_ranges(small.data_, small.data_ + common, large.data_);
    small.append_range(std::make_move_iterator(large.data_ + common), std::make_move_iterator(large.data_ + large.size_));
    large.erase(large.begin() + common, large.end());
  }

  SmallVectorImpl& operator=(const SmallVectorImpl& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  /// Steals a heap buffer when it can; else moves the elements, which may allocate (the source
  /// may hold more elements inline than fit here, or use an unequal allocator).
  SmallVectorImpl& operator=(SmallVectorImpl&& other) {
    if (this == &other) return *this;
    if (!other.on_stack() && other.capacity_ > inline_capacity_ &&
        (alloc_traits::is_always_equal::value || alloc_ == other.alloc_)) {
      release();  // steal the heap buffer
      data_ = std::exchange(other.data_, other.inline_ptr());
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, other.inline_capacity_);
      other.annotate_fresh();
      return *this;
    }
    clear();
    reserve(other.size_);
    append_range(std::make_move_iterator(other.begin()), std::make_move_iterator(other.end()));
    other.clear();
    return *this;
  }
  SmallVectorImpl& operator=(std::initializer_list<T> il) {
    assign(il);
    return *this;
  }

  friend bool operator==(const SmallVectorImpl& a, const SmallVectorImpl& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend auto operator<=>(const SmallVectorImpl& a, const SmallVectorImpl& b)
    requires std::three_way_comparable<T>
  {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 protected:
  SmallVectorImpl(size_type inline_capacity, const Alloc& alloc) noexcept
      : alloc_(alloc), data_(inline_ptr()), capacity_(inline_capacity), inline_capacity_(inline_capacity) {
    annotate_fresh();
  }
  ~SmallVectorImpl() { release(); }

  /// Frees everything and leaves the vector on its inline buffer, unannotated.
  void release() noexcept {
    std::destroy(data_, data_ + size_);
    annotate(size_, capacity_);
    if (!on_stack()) alloc_traits::deallocate(alloc_, data_, capacity_);
    data_ = inline_ptr();
    size_ = 0;
    capacity_ = inline_capacity_;
  }

  /// The inline buffer. SmallVector places it right after this base: a function of the base
  /// alone (checked by SmallVector's constructor), so the size-erased base can find it.
  T* inline_ptr() const noexcept {
    constexpr std::size_t alignment = alignof(T) > alignof(void*) ? alignof(T) : alignof(void*);
    return reinterpret_cast<T*>(const_cast<std::byte*>(reinterpret_cast<const std::byte*>(this)) +
                                align_up(sizeof(SmallVectorImpl), alignment));
  }

  template <class It>
  void append_range(It first, It last) {
    if constexpr (std::forward_iterator<It>) {
      const auto n = static_cast<std::size_t>(std::distance(first, last));
      if (n > max_size() - size_) throw_length_error("core::memory::SmallVector", "SmallVector: size exceeds max_size()");
      if (size_ + n > capacity_) reallocate(grown_capacity(size_ + n));
      annotate(size_, size_ + n);
      T* out = data_ + size_;
#if CORE_MEMORY_EXCEPTIONS
      try {
#endif
        for (; first != last; ++first, ++out) alloc_traits::construct(alloc_, out, *first);
#if CORE_MEMORY_EXCEPTIONS
      } catch (...) {
        std::destroy(data_ + size_, out);
        annotate(size_ + n, size_);
        throw;
      }
#endif
      size_ = static_cast<size_type>(size_ + n);
    } else {
      for (; first != last; ++first) emplace_back(*first);
    }
  }

  void append_n(size_type n, const T& value) {
    if (n > max_size() - size_) throw_length_error("core::memory::SmallVector", "SmallVector: size exceeds max_size()");
    if (size_ + n > capacity_) reallocate(grown_capacity(size_ + n));
    annotate(size_, size_ + n);
    size_type done = 0;
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      for (; done < n; ++done) alloc_traits::construct(alloc_, data_ + size_ + done, value);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      std::destroy(data_ + size_, data_ + size_ + done);
      annotate(size_ + n, size_);
      throw;
    }
#endif
    size_ = static_cast<size_type>(size_ + n);
  }

  /// Marks the unused capacity of a fresh buffer as such for AddressSanitizer.
  void annotate_fresh() const noexcept { annotate_contiguous_container(data_, data_ + capacity_, data_ + capacity_, data_ + size_); }
  void annotate(std::size_t old_size, std::size_t new_size) const noexcept {
    annotate_contiguous_container(data_, data_ + capacity_, data_ + old_size, data_ + new_size);
  }

  [[no_unique_address]] Alloc alloc_;
  T* data_;
  size_type size_ = 0;
  size_type capacity_;
  size_type inline_capacity_;

 private:
  template <class, std::size_t, class, class>
  friend class SmallVector;

  size_type index_of(const_iterator pos) const noexcept { return static_cast<size_type>(pos - data_); }

  /// Builds the element past the end, in capacity already there.
  template <class... Args>
  [[gnu::always_inline]] reference append_in_place(Args&&... args) {
    T* p = data_ + size_;
    annotate(size_, size_ + 1);
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      alloc_traits::construct(alloc_, p, std::forward<Args>(args)...);
    } else {
      construct_or_unannotate(p, std::forward<Args>(args)...);
    }
    ++size_;
    return *p;
  }
  /// Constructs the element past the end; on an exception hands the slot back to ASan and rethrows.
  template <class... Args>
  void construct_or_unannotate(T* p, Args&&... args) {
#if CORE_MEMORY_EXCEPTIONS
    try {
      alloc_traits::construct(alloc_, p, std::forward<Args>(args)...);
    } catch (...) {
      annotate(size_ + 1, size_);
      throw;
    }
#else
    alloc_traits::construct(alloc_, p, std::forward<Args>(args)...);
#endif
  }
  bool aliases(const T& value) const noexcept {
    return std::addressof(value) >= data_ && std::addressof(value) < data_ + size_;
  }

  size_type grown_capacity(std::size_t needed) const {
    const std::size_t limit = max_size();
    if (needed > limit) throw_length_error("core::memory::SmallVector", "SmallVector: size exceeds max_size()");
    std::size_t c = capacity_ + capacity_ / 2 + (capacity_ < 4 ? 4 : 0);
    if (c < needed) c = needed;
    if (c > limit) c = limit;
    return static_cast<size_type>(c);
  }

  /// Moves the elements into a buffer of `cap` (inline if `to_inline`). Strong guarantee: the
  /// elements are moved only if that cannot throw, else copied.
  void reallocate(size_type cap, bool to_inline = false) {
    T* fresh = to_inline ? inline_ptr() : alloc_traits::allocate(alloc_, cap);
    relocate_into(fresh, cap, to_inline);
  }
  // (The inline buffer is unannotated while the elements live on the heap, so moving back is plain.)

  void relocate_into(T* fresh, size_type cap, [[maybe_unused]] bool to_inline) {
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      move_elements(fresh);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      if (!to_inline) alloc_traits::deallocate(alloc_, fresh, cap);
      throw;
    }
#endif
    adopt(fresh, cap, size_);
  }

  /// Destroys the old elements, frees the old heap buffer, and takes `fresh` (holding `size`
  /// elements already) as the buffer.
  void adopt(T* fresh, size_type cap, size_type size) noexcept {
    std::destroy(data_, data_ + size_);
    annotate(size_, capacity_);
    if (!on_stack()) alloc_traits::deallocate(alloc_, data_, capacity_);
    data_ = fresh;
    capacity_ = cap;
    size_ = size;
    annotate_fresh();
  }

  void move_elements(T* fresh) {
    if constexpr (std::is_nothrow_move_constructible_v<T> || !std::is_copy_constructible_v<T>) {
      std::uninitialized_move(data_, data_ + size_, fresh);
    } else {
      std::uninitialized_copy(data_, data_ + size_, fresh);
    }
  }

  /// Small trivially copyable elements reach the growth path by value: a reference would force the
  /// caller to keep the value in memory on the fast path too.
  template <class... Args>
  static constexpr bool passed_by_value =
      std::is_trivially_copyable_v<T> && sizeof(T) <= 2 * sizeof(void*) && sizeof...(Args) == 1 &&
      (std::is_same_v<std::remove_cvref_t<Args>, T> && ...);

  [[gnu::noinline]] reference grow_and_push_value(T value) { return grow_and_emplace_back(std::move(value)); }

  /// Out of line, so the fast path stays small enough for the caller's loops to unroll.
  template <class... Args>
  [[gnu::noinline]] reference grow_and_emplace_back(Args&&... args) {
    const size_type cap = grown_capacity(std::size_t{size_} + 1);
    T* fresh = alloc_traits::allocate(alloc_, cap);
    // The new element first, while `args` (which may be elements) are still valid.
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      alloc_traits::construct(alloc_, fresh + size_, std::forward<Args>(args)...);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      alloc_traits::deallocate(alloc_, fresh, cap);
      throw;
    }
    try {
#endif
      move_elements(fresh);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      alloc_traits::destroy(alloc_, fresh + size_);
      alloc_traits::deallocate(alloc_, fresh, cap);
      throw;
    }
#endif
    adopt(fresh, cap, size_ + 1);
    return data_[size_ - 1];
  }

  template <class Construct>
  void resize_impl(size_type n, Construct construct) {
    if (n <= size_) {
      erase(begin() + n, end());
      return;
    }
    if (n > capacity_) reallocate(grown_capacity(n));
    annotate(size_, n);
    size_type i = size_;
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      for (; i < n; ++i) construct(data_ + i);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      std::destroy(data_ + size_, data_ + i);
      annotate(n, size_);
      throw;
    }
#endif
    size_ = n;
  }
};

}  // namespace core::memory

namespace core::memory {

namespace detail {
/// Alignment of the inline buffer: at least the base's, so the buffer can never be placed in the
/// base's tail padding and always sits at align_up(sizeof(base), alignment).
template <class T>
inline constexpr std::size_t small_vector_alignment = alignof(T) > alignof(void*) ? alignof(T) : alignof(void*);

/// Storage for N elements, laid out right after the SmallVectorImpl base.
template <class T, std::size_t N>
struct alignas(small_vector_alignment<T>) small_vector_storage {
  std::byte bytes[N * sizeof(T)];
};

/// The default N: as many elements as fit in 32 bytes (at least one), so that with the 32-byte
/// header a SmallVector<T> is about one cache line.
template <class T>
inline constexpr std::size_t small_vector_default_n = sizeof(T) >= 32 ? 1 : 32 / sizeof(T);
}  // namespace detail

/// A vector with room for N elements inside the object (see the file comment).
template <class T, std::size_t N = detail::small_vector_default_n<T>, class Alloc = std::allocator<T>,
          class SizeT = std::size_t>
class SmallVector : public SmallVectorImpl<T, Alloc, SizeT> {
  using base = SmallVectorImpl<T, Alloc, SizeT>;
  static_assert(N > 0, "SmallVector needs an inline capacity; use std::vector for N == 0");
  static_assert(N <= std::numeric_limits<SizeT>::max(), "N does not fit SizeT");

 public:
  using typename base::size_type;
  using typename base::value_type;

  SmallVector() noexcept(std::is_nothrow_default_constructible_v<Alloc>) : SmallVector(Alloc()) {}
  explicit SmallVector(const Alloc& alloc) noexcept : base(static_cast<SizeT>(N), alloc) { check_layout(); }
  explicit SmallVector(size_type n, const Alloc& alloc = Alloc()) : SmallVector(alloc) { this->resize(n); }
  SmallVector(size_type n, const T& value, const Alloc& alloc = Alloc()) : SmallVector(alloc) {
    this->assign(n, value);
  }
  template <std::input_iterator It>
  SmallVector(It first, It last, const Alloc& alloc = Alloc()) : SmallVector(alloc) {
    this->append_range(first, last);
  }
  SmallVector(std::initializer_list<T> il, const Alloc& alloc = Alloc()) : SmallVector(alloc) {
    this->append_range(il.begin(), il.end());
  }
  SmallVector(const SmallVector& other)
      : SmallVector(std::allocator_traits<Alloc>::select_on_container_copy_construction(other.alloc_)) {
    this->append_range(other.begin(), other.end());
  }
  SmallVector(const SmallVector& other, const Alloc& alloc) : SmallVector(alloc) {
    this->append_range(other.begin(), other.end());
  }
  /// From any SmallVector<T, M> (or the size-erased base).
  explicit SmallVector(const base& other) : SmallVector(other.get_allocator()) {
    this->append_range(other.begin(), other.end());
  }
  /// Never allocates: the heap buffer is stolen (same allocator), or the elements fit inline.
  SmallVector(SmallVector&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : SmallVector(other.alloc_) {
    base::operator=(std::move(other));
  }
  /// From any SmallVector<T, M>: may allocate, when M > N.
  SmallVector(base&& other) : SmallVector(other.get_allocator()) {
    base::operator=(std::move(other));
  }

  SmallVector& operator=(const SmallVector& other) {
    base::operator=(other);
    return *this;
  }
  /// Allocates only with unequal allocators (a heap buffer cannot be stolen across them).
  SmallVector& operator=(SmallVector&& other) noexcept(
      std::is_nothrow_move_constructible_v<T> && std::allocator_traits<Alloc>::is_always_equal::value) {
    base::operator=(std::move(other));
    return *this;
  }
  SmallVector& operator=(std::initializer_list<T> il) {
    this->assign(il);
    return *this;
  }

  ~SmallVector() = default;

  friend void swap(SmallVector& a, SmallVector& b) noexcept(noexcept(a.swap(b))) { a.swap(b); }

 private:
  void check_layout() const noexcept {
    CORE_MEMORY_ASSERT("core::memory::SmallVector", static_cast<const void*>(&storage_) == this->inline_ptr(),
                       "inline buffer is not where the size-erased base expects it");
  }
  detail::small_vector_storage<T, N> storage_;
};

/// Erases every element equal to `value`; returns how many.
template <class T, class A, class S, class U>
typename SmallVectorImpl<T, A, S>::size_type erase(SmallVectorImpl<T, A, S>& v, const U& value) {
  const auto it = std::remove(v.begin(), v.end(), value);
  const auto n = static_cast<typename SmallVectorImpl<T, A, S>::size_type>(v.end() - it);
  v.erase(it, v.end());
  return n;
}

/// Erases every element for which `pred` holds; returns how many.
template <class T, class A, class S, class Pred>
typename SmallVectorImpl<T, A, S>::size_type erase_if(SmallVectorImpl<T, A, S>& v, Pred pred) {
  const auto it = std::remove_if(v.begin(), v.end(), pred);
  const auto n = static_cast<typename SmallVectorImpl<T, A, S>::size_type>(v.end() - it);
  v.erase(it, v.end());
  return n;
}

}  // namespace core::memory

namespace core::memory {

namespace detail {
/// The allocator of StaticVector: it has no heap, so growing past N fails with out_of_memory.
template <class T>
struct no_heap_allocator {
  using value_type = T;
  using is_always_equal = std::true_type;
  no_heap_allocator() = default;
  template <class U>
  no_heap_allocator(const no_heap_allocator<U>&) noexcept {}
  [[noreturn]] T* allocate(std::size_t n) { throw_out_of_memory("core::memory::StaticVector", n * sizeof(T), alignof(T)); }
  void deallocate(T*, std::size_t) noexcept {}
  friend bool operator==(no_heap_allocator, no_heap_allocator) noexcept { return true; }
};
}  // namespace detail

/// A vector of at most N elements that never allocates: C++26 inplace_vector's interface.
/// Growing past N throws out_of_memory (a std::bad_alloc); try_push_back / try_emplace_back return
/// null instead.
template <class T, std::size_t N, class SizeT = std::size_t>
class StaticVector : public SmallVector<T, N, detail::no_heap_allocator<T>, SizeT> {
  using base = SmallVector<T, N, detail::no_heap_allocator<T>, SizeT>;

 public:
  using typename base::size_type;
  using base::base;
  StaticVector() noexcept = default;

  static constexpr size_type max_size() noexcept { return static_cast<size_type>(N); }
  static constexpr size_type capacity() noexcept { return static_cast<size_type>(N); }

  /// Appends if there is room; returns the new element or null.
  template <class... Args>
  T* try_emplace_back(Args&&... args) {
    if (this->size() == N) return nullptr;
    return std::addressof(this->unchecked_emplace_back(std::forward<Args>(args)...));
  }
  T* try_push_back(const T& value) { return try_emplace_back(value); }
  T* try_push_back(T&& value) { return try_emplace_back(std::move(value)); }
};

}  // namespace core::memory
