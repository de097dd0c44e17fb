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
///   size() is reported (not with a fancy-pointer allocator: see detail/fancy_pointer.hpp).
/// - The size type can be narrowed (e.g. std::uint32_t) to make the header smaller.
/// - Allocators propagate as in std::vector (propagate_on_container_copy_assignment,
///   _move_assignment, _swap). With unequal allocators that do not propagate, each vector keeps
///   its allocator and its memory: move assignment and swap then move elements, and may allocate
///   (std leaves such a swap undefined).
/// - Hardened builds (CORE_MEMORY_CHECK_LEVEL >= 1) check operator[], front/back, pop_back, the
///   positions given to insert/emplace/erase and unchecked_push_back's capacity.
/// - Fancy pointers: the buffer pointer is stored as the allocator's `pointer`, also while it
///   points at the inline buffer, so with an offset_ptr allocator (SharedMemoryAllocator) a vector
///   in shared memory works in every process that maps it, at any address. data() and the
///   iterators are T*, valid in the process that obtained them.

#include <core/memory/container/detail/std_core.hpp>
#include <core/memory/container/detail/fancy_pointer.hpp>
#include <core/memory/container/detail/synth_three_way.hpp>
#include <core/memory/container/detail/temporary_value.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstdint>
#include <limits>

namespace core::memory {

/// Thrown when a StaticVector would exceed its capacity: a std::bad_alloc (as C++26
/// inplace_vector's), and an out_of_memory whose what() says which capacity was exceeded.
class capacity_exceeded : public out_of_memory {
 public:
  capacity_exceeded(std::size_t capacity, std::size_t requested, std::size_t element_size) noexcept
      : out_of_memory("core::memory::StaticVector", bytes(requested, element_size), 0), capacity_(capacity),
        requested_(requested) {
    format(what_, sizeof what_, capacity, requested);
  }
  [[nodiscard]] const char* what() const noexcept override { return what_; }
  /// The StaticVector's capacity N.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  /// The number of elements it would have needed.
  [[nodiscard]] std::size_t requested() const noexcept { return requested_; }
  /// requested elements of element_size bytes, saturated (for out_of_memory's size()).
  static std::size_t bytes(std::size_t requested, std::size_t element_size) noexcept {
    std::size_t out = 0;
    return mul_overflows(requested, element_size, out) ? SIZE_MAX : out;
  }

  /// "core::memory::StaticVector: capacity N = <capacity> exceeded (<requested> elements needed)".
  static void format(char* out, std::size_t n, std::size_t capacity, std::size_t requested) noexcept {
    std::size_t at = 0;
    auto put = [&](const char* text) {
      for (; *text && at + 1 < n; ++text) out[at++] = *text;
    };
    auto put_number = [&](std::size_t v) {
      char digits[24];
      int d = 0;
      do digits[d++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0);
      while (d > 0 && at + 1 < n) out[at++] = digits[--d];
    };
    put("core::memory::StaticVector: capacity N = ");
    put_number(capacity);
    put(" exceeded (");
    put_number(requested);
    put(" elements needed)");
    out[at] = '\0';
  }

 private:
  std::size_t capacity_;
  std::size_t requested_;
  char what_[96];
};

namespace detail {
/// The allocator of StaticVector: it has no heap. SmallVectorImpl recognises it and reports
/// growth past the inline capacity as capacity_exceeded, and never instantiates its relocation
/// code, so StaticVector works with elements that cannot be moved.
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
template <class A>
inline constexpr bool is_no_heap_allocator = false;
template <class T>
inline constexpr bool is_no_heap_allocator<no_heap_allocator<T>> = true;

/// Throws capacity_exceeded; without exceptions, reports it and aborts.
[[noreturn]] inline CORE_MEMORY_NOINLINE void throw_capacity_exceeded(std::size_t capacity, std::size_t requested,
                                                                     std::size_t element_size) {
#if CORE_MEMORY_EXCEPTIONS
  throw capacity_exceeded(capacity, requested, element_size);
#else
  char text[96];
  capacity_exceeded::format(text, sizeof text, capacity, requested);
  (void)element_size;
  fatal_error({error_kind::capacity_exceeded, "core::memory::StaticVector", nullptr, 0, 0, text, nullptr, 0});
#endif
}

}  // namespace detail

namespace detail {
/// Alignment of the inline buffer: at least T's, a pointer's and the base's (whose allocator may
/// be aligned more), so the buffer can never be placed in the base's tail padding and always
/// sits at align_up(sizeof(base), alignment). (With T's and a pointer's only, an allocator of
/// alignment 32 put the buffer inside the base's padding, and elements were written past the
/// object.)
template <class T, class Base>
inline constexpr std::size_t small_vector_alignment =
    alignof(Base) > (alignof(T) > alignof(void*) ? alignof(T) : alignof(void*))
        ? alignof(Base)
        : (alignof(T) > alignof(void*) ? alignof(T) : alignof(void*));
}  // namespace detail

/// The size-erased part of every SmallVector<T, N, Alloc, SizeT>: all of the vector interface.
template <class T, class Alloc = std::allocator<T>, class SizeT = std::size_t>
class SmallVectorImpl {
  using alloc_traits = std::allocator_traits<Alloc>;
  static_assert(std::is_same_v<typename alloc_traits::value_type, T>, "Alloc::value_type must be T");
  static_assert(std::is_unsigned_v<SizeT>, "SizeT must be an unsigned integer type");
  /// StaticVector's allocator: growth past the inline capacity is an overflow, never a relocation.
  static constexpr bool fixed_capacity = detail::is_no_heap_allocator<Alloc>;
  /// What the vector stores (buf_) and allocates with; the elements are reached through T*.
  using alloc_pointer = typename alloc_traits::pointer;

 public:
  using value_type = T;
  using allocator_type = Alloc;
  using size_type = SizeT;
  using difference_type = std::ptrdiff_t;
  using reference = T&;
  using const_reference = const T&;
  using pointer = typename alloc_traits::pointer;  // data() and the iterators are T* whatever it is
  using const_pointer = typename alloc_traits::const_pointer;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  SmallVectorImpl(const SmallVectorImpl&) = delete;

  // --- element access -----------------------------------------------------------------------
  // Indices and counts are std::size_t whatever SizeT is: one beyond SizeT is out of range (or a
  // length_error), never silently narrowed.
  reference operator[](std::size_t i) noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", i < size_, "index out of range");
    return elems()[i];
  }
  const_reference operator[](std::size_t i) const noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", i < size_, "index out of range");
    return elems()[i];
  }
  reference at(std::size_t i) {
    if (i >= size_) throw_index_out_of_range("core::memory::SmallVector::at", i, size_);
    return elems()[i];
  }
  const_reference at(std::size_t i) const {
    if (i >= size_) throw_index_out_of_range("core::memory::SmallVector::at", i, size_);
    return elems()[i];
  }
  reference front() noexcept { return (*this)[0]; }
  const_reference front() const noexcept { return (*this)[0]; }
  reference back() noexcept { return (*this)[size_ - 1]; }
  const_reference back() const noexcept { return (*this)[size_ - 1]; }
  T* data() noexcept { return elems(); }
  const T* data() const noexcept { return elems(); }

  // --- iterators ----------------------------------------------------------------------------
  iterator begin() noexcept { return elems(); }
  const_iterator begin() const noexcept { return elems(); }
  const_iterator cbegin() const noexcept { return elems(); }
  iterator end() noexcept { return elems() + size_; }
  const_iterator end() const noexcept { return elems() + size_; }
  const_iterator cend() const noexcept { return elems() + size_; }
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
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    if constexpr (fixed_capacity) {
      overflow(n);
    } else {
      check_size(n);  // length_error, as std::vector's
      reallocate(static_cast<size_type>(n));
    }
  }
  /// Moves the elements back inline if they fit, else to a heap buffer of exactly size().
  void shrink_to_fit() {
    if (on_stack() || size_ == capacity_) return;
    reallocate(size_ <= inline_capacity_ ? inline_capacity_ : size_, size_ <= inline_capacity_);
  }

  allocator_type get_allocator() const noexcept { return alloc_; }

  // --- modifiers ----------------------------------------------------------------------------
  void clear() noexcept {
    destroy_elements(elems(), elems() + size_);
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
    T* const end = elems() + size_;  // read on both paths, so a loop keeps it in a register
    if (size_ < capacity_) [[likely]] {
      return append_in_place(end, std::forward<Args>(args)...);
    }
    if constexpr (fixed_capacity) {
      overflow(std::size_t{size_} + 1);
    } else {
      // The slow path returns the new buffer and this frame stores it: every field's new value is
      // then known here on both paths, so a caller's loop of pushes keeps them in registers
      // instead of reloading them from memory on each iteration (as it must after an opaque call
      // that writes them): 1024 pushes into a caller-owned vector 1.45x -> ~1x std::vector's time.
      const size_type at = size_;
      Grown g;
      if constexpr (passed_by_value<Args...>) {
        g = grow_with_value(T(std::forward<Args>(args)...));
      } else {
        g = grow_with(std::forward<Args>(args)...);
      }
      buf_ = g.buf;
      capacity_ = g.cap;
      size_ = at + 1;
      annotate_fresh();
      return elems()[at];
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
    return append_in_place(elems() + size_, std::forward<Args>(args)...);
  }
  [[gnu::always_inline]] reference unchecked_push_back(const T& value) { return unchecked_emplace_back(value); }
  [[gnu::always_inline]] reference unchecked_push_back(T&& value) { return unchecked_emplace_back(std::move(value)); }

  void pop_back() noexcept {
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", size_ != 0, "pop_back on an empty vector");
    --size_;
    alloc_traits::destroy(alloc_, elems() + size_);
    annotate(size_ + 1, size_);
  }

  /// Strong guarantee: if an element cannot be built, the vector is as it was, capacity and
  /// buffer included (a growth builds the new elements in the new buffer first, so `value` may
  /// be one of the elements).
  void resize(std::size_t n) { resize_impl(n, [&](T* p) { alloc_traits::construct(alloc_, p); }); }
  void resize(std::size_t n, const T& value) {
    resize_impl(n, [&](T* p) { alloc_traits::construct(alloc_, p, value); });
  }

  /// Strong guarantee when the elements need a new buffer (they are built there first).
  void assign(std::size_t n, const T& value) {
    if (n > capacity_) {
      assign_fresh(n, [&](T* fresh) { construct_n(fresh, n, value); });
    } else if (aliases(value)) {  // cleared first
      detail::temporary_value<T, Alloc> copy(alloc_, value);
      clear();
      append_n(n, copy.get());
    } else {
      clear();
      append_n(n, value);
    }
  }
  /// Strong guarantee when the elements need a new buffer (they are built there first).
  template <std::input_iterator It>
  void assign(It first, It last) {
    if constexpr (sized<It>) {
      const std::size_t n = distance(first, last);
      if (n > capacity_) {
        assign_fresh(n, [&](T* fresh) { construct_range(fresh, first, n); });
        return;
      }
    }
    clear();
    append_range(first, last);
  }
  void assign(std::initializer_list<T> il) { assign(il.begin(), il.end()); }

  iterator insert(const_iterator pos, const T& value) { return emplace(pos, value); }
  iterator insert(const_iterator pos, T&& value) { return emplace(pos, std::move(value)); }
  iterator insert(const_iterator pos, std::size_t n, const T& value) {
    const auto i = index_of(pos);
    if (n == 0) return elems() + i;
    const size_type old = size_;
    if (aliases(value)) {  // an element that may move
      detail::temporary_value<T, Alloc> copy(alloc_, value);
      append_n(n, copy.get());
    } else {
      append_n(n, value);
    }
    detail::rotate(elems() + i, elems() + old, elems() + size_);
    return elems() + i;
  }
  template <std::input_iterator It>
  iterator insert(const_iterator pos, It first, It last) {
    const auto i = index_of(pos);
    const size_type old = size_;
    append_range(first, last);
    detail::rotate(elems() + i, elems() + old, elems() + size_);
    return elems() + i;
  }
  iterator insert(const_iterator pos, std::initializer_list<T> il) { return insert(pos, il.begin(), il.end()); }

  /// Inserts an element built from `args` before `pos`. At the end: strong guarantee.
  template <class... Args>
  iterator emplace(const_iterator pos, Args&&... args) {
    const auto i = index_of(pos);
    if (i == size_) {
      emplace_back(std::forward<Args>(args)...);
      return elems() + i;
    }
    // Built first (args may refer to elements that move), with the vector's allocator.
    detail::temporary_value<T, Alloc> tmp(alloc_, std::forward<Args>(args)...);
    emplace_back(std::move(elems()[size_ - 1]));
    std::move_backward(elems() + i, elems() + size_ - 2, elems() + size_ - 1);
    elems()[i] = std::move(tmp.get());
    return elems() + i;
  }

  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last) {
    const auto i = index_of(first);
    const auto j = index_of(last);
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", i <= j && j <= size_, "erase range out of bounds");
    if (i == j) return elems() + i;
    T* new_end = std::move(elems() + j, elems() + size_, elems() + i);
    destroy_elements(new_end, elems() + size_);
    const size_type old = size_;
    size_ = static_cast<size_type>(new_end - elems());
    annotate(old, size_);
    return elems() + i;
  }

  /// Swaps contents. O(1) when both are on the heap and the allocators are equal or propagate
  /// (propagate_on_container_swap, exchanged through their own swap). Otherwise element-wise,
  /// which may allocate (an inline vector taking more elements than fit inline), so it is not
  /// noexcept: it allocates first, and with a non-throwing move it is then strong. Unequal
  /// allocators that do not propagate stay where they are, each with its own memory; unequal ones
  /// that do propagate are exchanged after the elements moved into memory of their new owner.
  void swap(SmallVectorImpl& other) {
    if (this == &other) return;
    constexpr bool propagate = alloc_traits::propagate_on_container_swap::value;
    const bool equal = allocators_equal(other);
    if ((equal || propagate) && !on_stack() && !other.on_stack() && capacity_ > other.inline_capacity_ &&
        other.capacity_ > inline_capacity_) {  // each buffer is larger than the other's inline one
      std::swap(buf_, other.buf_);
      std::swap(size_, other.size_);
      std::swap(capacity_, other.capacity_);
      if constexpr (propagate) swap_allocators(other);
      return;
    }
    swap_elements(other);
    if constexpr (propagate) {
      if (!equal) rehome_pair(other);
      swap_allocators(other);
      if (!equal) {  // inline elements rehome_pair rebuilt through a buffer of their new allocator
        back_inline();
        other.back_inline();
      }
    }
  }

  /// Copies the elements; takes `other`'s allocator if propagate_on_container_copy_assignment
  /// (after giving its memory back to its own). Strong when a new buffer is needed, else basic.
  SmallVectorImpl& operator=(const SmallVectorImpl& other) {
    if (this == &other) return *this;
    if constexpr (alloc_traits::propagate_on_container_copy_assignment::value) {
      if (!allocators_equal(other)) release();
      alloc_ = other.alloc_;
    }
    assign(other.begin(), other.end());
    return *this;
  }
  /// Steals `other`'s heap buffer when its memory may be freed through this vector's allocator
  /// afterwards (equal allocators, or propagate_on_container_move_assignment); otherwise moves the
  /// elements into this vector's own memory, which may allocate.
  SmallVectorImpl& operator=(SmallVectorImpl&& other) {
    if (this == &other) return *this;
    if (!allocators_equal(other)) {
      if constexpr (!alloc_traits::propagate_on_container_move_assignment::value) {
        move_elements_from(other);  // each keeps its allocator and memory
        return *this;
      }
      release();  // back to our allocator before it is replaced
    }
    if constexpr (alloc_traits::propagate_on_container_move_assignment::value) alloc_ = other.alloc_;
    take_from(other);
    return *this;
  }
  SmallVectorImpl& operator=(std::initializer_list<T> il) {
    assign(il);
    return *this;
  }

  friend bool operator==(const SmallVectorImpl& a, const SmallVectorImpl& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  /// As std::vector's: <=> where T has it, else derived from T's < (the standard's synth-three-way).
  friend auto operator<=>(const SmallVectorImpl& a, const SmallVectorImpl& b)
    requires std::invocable<detail::synth_three_way_t, const T&, const T&>
  {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end(), detail::synth_three_way);
  }

 protected:
  SmallVectorImpl(size_type inline_capacity, const Alloc& alloc) noexcept
      : alloc_(alloc), buf_(inline_pointer()), capacity_(inline_capacity), inline_capacity_(inline_capacity) {
    annotate_fresh();
  }
  SmallVectorImpl(size_type inline_capacity, Alloc&& alloc) noexcept
      : alloc_(std::move(alloc)), buf_(inline_pointer()), capacity_(inline_capacity), inline_capacity_(inline_capacity) {
    annotate_fresh();
  }
  ~SmallVectorImpl() { release(); }

  /// Frees everything and leaves the vector on its inline buffer, unannotated.
  void release() noexcept {
    destroy_elements(elems(), elems() + size_);
    annotate(size_, capacity_);
    if (!on_stack()) alloc_traits::deallocate(alloc_, buf_, capacity_);
    buf_ = inline_pointer();
    size_ = 0;
    capacity_ = inline_capacity_;
  }

  /// The inline buffer. SmallVector places it right after this base: a function of the base
  /// alone (checked by SmallVector's constructor), so the size-erased base can find it.
  T* inline_ptr() const noexcept {
    constexpr std::size_t alignment = detail::small_vector_alignment<T, SmallVectorImpl>;
    return reinterpret_cast<T*>(const_cast<std::byte*>(reinterpret_cast<const std::byte*>(this)) +
                                align_up(sizeof(SmallVectorImpl), alignment));
  }
  /// The inline buffer as the allocator's pointer type (an offset_ptr to it is self-relative).
  alloc_pointer inline_pointer() const noexcept { return detail::pointer_from<alloc_pointer>(inline_ptr()); }
  /// The elements (std::to_address of buf_: the same register as buf_ when it is a T*).
  [[gnu::always_inline]] T* elems() const noexcept { return std::to_address(buf_); }

  template <class It>
  void append_range(It first, It last) {
    if constexpr (sized<It>) {
      const std::size_t n = distance(first, last);
      append_built(n, [&](T* out) { construct_range(out, first, n); });
    } else {
      for (; first != last; ++first) emplace_back(*first);
    }
  }

  void append_n(std::size_t n, const T& value) {
    append_built(n, [&](T* out) { construct_n(out, n, value); });
  }

  /// Appends `n` elements that `construct(out)` builds at `out` (destroying those it built if it
  /// throws: then the vector is as it was, its buffer and capacity too).
  template <class Construct>
  void append_built(std::size_t n, Construct construct) {
    if (n > std::size_t{max_size()} - size_) {
      if constexpr (fixed_capacity) overflow(n > SIZE_MAX - size_ ? SIZE_MAX : size_ + n);  // (saturated: not a wrapped count)
      throw_length_error("core::memory::SmallVector", "SmallVector: size exceeds max_size()");
    }
    if (size_ + n > capacity_) return grow_building(grown_capacity(size_ + n), static_cast<size_type>(n), construct);
    annotate(size_, size_ + n);
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      construct(elems() + size_);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      annotate(size_ + n, size_);
      throw;
    }
#endif
    size_ = static_cast<size_type>(size_ + n);
  }

  /// Marks the unused capacity of a fresh buffer as such for AddressSanitizer.
  void annotate_fresh() const noexcept { annotate(capacity_, size_); }
  void annotate(std::size_t old_size, std::size_t new_size) const noexcept {
    if constexpr (detail::sanitizer_annotations<alloc_pointer>) {
      // The inline buffer fills whole granules (small_vector_storage), so its last, partial one
      // is annotated too (elements of 1, 2 or 4 bytes there were never reported); a full vector
      // (and an unannotated one: size == capacity) leaves all of it addressable.
      const void* end = elems() + capacity_;
      if (on_stack()) end = reinterpret_cast<const void*>((reinterpret_cast<std::uintptr_t>(end) + 7) & ~std::uintptr_t{7});
      const auto at = [&](std::size_t n) -> const void* { return n == capacity_ ? end : elems() + n; };
      annotate_contiguous_container(elems(), end, at(old_size), at(new_size));
    }
  }

  [[no_unique_address]] Alloc alloc_;
  /// The elements' buffer, as the allocator's pointer type (an offset_ptr stays valid when the
  /// vector is mapped elsewhere, also while it points into the vector's own inline buffer).
  alloc_pointer buf_;
  size_type size_ = 0;
  size_type capacity_;
  size_type inline_capacity_;

 private:
  template <class, std::size_t, class, class>
  friend class SmallVector;

  /// The index of `pos`, which must be in [begin(), end()] (checked in hardened builds).
  size_type index_of(const_iterator pos) const noexcept {
    const auto i = static_cast<std::size_t>(pos - elems());
    CORE_MEMORY_HARDEN_ASSERT("core::memory::SmallVector", i <= size_, "position out of range");
    return static_cast<size_type>(i);
  }

  /// Iterators whose distance is known before the elements are read (move_iterator over a
  /// pointer is one, though not a forward iterator).
  template <class It>
  static constexpr bool sized = std::forward_iterator<It> || std::sized_sentinel_for<It, It>;
  template <class It>
  static std::size_t distance(It first, It last) {
    if constexpr (std::sized_sentinel_for<It, It>) {
      return static_cast<std::size_t>(last - first);
    } else {
      return static_cast<std::size_t>(std::distance(first, last));
    }
  }
  void check_size(std::size_t n) const {
    if (n > max_size()) throw_length_error("core::memory::SmallVector", "SmallVector: size exceeds max_size()");
  }

  /// A StaticVector needed `needed` elements.
  [[noreturn]] void overflow(std::size_t needed) const {
    detail::throw_capacity_exceeded(inline_capacity_, needed, sizeof(T));
  }

  bool allocators_equal(const SmallVectorImpl& other) const noexcept {
    return alloc_traits::is_always_equal::value || alloc_ == other.alloc_;
  }
  void swap_allocators(SmallVectorImpl& other) noexcept {
    using std::swap;  // the allocator's own swap, found by ADL, else std::swap
    swap(alloc_, other.alloc_);
  }

  /// Destroys the elements from index n on.
  void truncate(size_type n) noexcept {
    destroy_elements(elems() + n, elems() + size_);
    annotate(size_, n);
    size_ = n;
  }

  /// Takes `other`'s elements, whose memory this vector's allocator may free: its heap buffer if
  /// this vector may hold it (larger than the inline one), else by moving the elements.
  void take_from(SmallVectorImpl& other) {
    if (!other.on_stack() && other.capacity_ > inline_capacity_) {
      release();
      buf_ = std::exchange(other.buf_, other.inline_pointer());
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, other.inline_capacity_);
      other.annotate_fresh();  // (the stolen buffer's annotation is already right)
      return;
    }
    move_elements_from(other);
  }
  /// Moves `other`'s elements into this vector's own memory; `other` ends empty.
  void move_elements_from(SmallVectorImpl& other) {
    assign(std::make_move_iterator(other.begin()), std::make_move_iterator(other.end()));
    other.clear();
  }

  /// Swaps the elements, each vector keeping its allocator and memory.
  void swap_elements(SmallVectorImpl& other) {
    SmallVectorImpl& small = size_ <= other.size_ ? *this : other;
    SmallVectorImpl& large = size_ <= other.size_ ? other : *this;
    small.reserve(large.size_);
    const size_type common = small.size_;
    if (allocators_equal(other)) {
      std::swap_ranges(small.elems(), small.elems() + common, large.elems());
    } else {
      // Not the elements' own swap: allocator-aware elements (pmr strings) would exchange memory
      // of the two unequal allocators. Moves keep each element in its own vector's memory.
      for (size_type i = 0; i < common; ++i) {
        T tmp(std::move(small.elems()[i]));
        small.elems()[i] = std::move(large.elems()[i]);
        large.elems()[i] = std::move(tmp);
      }
    }
    small.append_range(std::make_move_iterator(large.elems() + common), std::make_move_iterator(large.elems() + large.size_));
    large.truncate(common);
  }

  /// For a swap that propagates unequal allocators, after swap_elements: moves each vector's heap
  /// elements into memory of the other's allocator (inline where they fit), both or neither.
  void rehome_pair(SmallVectorImpl& other) {
    size_type cap_mine = 0, cap_theirs = 0;
    alloc_pointer mine = rehome_target(other.alloc_, cap_mine);
    alloc_pointer theirs = nullptr;
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      theirs = other.rehome_target(alloc_, cap_theirs);
      if (mine) move_elements(std::to_address(mine), other.alloc_);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      drop_target(mine, cap_mine, other.alloc_, false);
      other.drop_target(theirs, cap_theirs, alloc_, false);
      throw;
    }
    try {
#endif
      if (theirs) other.move_elements(std::to_address(theirs), alloc_);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      drop_target(mine, cap_mine, other.alloc_, true);
      other.drop_target(theirs, cap_theirs, alloc_, false);
      throw;
    }
#endif
    if (mine) adopt(mine, cap_mine, size_);
    if (theirs) other.adopt(theirs, cap_theirs, other.size_);
  }
  /// Where a vector's elements go when `a` becomes its allocator: a heap vector's inline if they
  /// fit, else to a buffer from `a`. An inline vector's stay, unless `a` builds or destroys
  /// elements itself: then they are built anew through it, in a buffer from `a` for now (swap
  /// brings them back inline, back_inline). Null: they stay.
  alloc_pointer rehome_target(Alloc& a, size_type& cap) {
    if (on_stack()) {
      if (!(allocator_constructs || allocator_destroys) || size_ == 0) return nullptr;
      cap = inline_capacity_ + 1;  // a heap buffer is larger than the inline one (on_stack)
      return alloc_traits::allocate(a, cap);
    }
    cap = size_ <= inline_capacity_ ? inline_capacity_ : capacity_;
    return size_ <= inline_capacity_ ? inline_pointer() : alloc_traits::allocate(a, cap);
  }
  /// A heap vector whose elements fit inline (an inline one rebuilt by rehome_pair) moves them
  /// back inline, through its allocator. Never throws: if a move throws, they stay where they are
  /// (the move is strong), which is as valid.
  void back_inline() noexcept {
    if (on_stack() || size_ > inline_capacity_) return;
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      shrink_to_fit();
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
    }
#endif
  }
  void drop_target(const alloc_pointer& target, size_type cap, Alloc& a, bool built) noexcept {
    if (!target) return;
    T* const p = std::to_address(target);
    if (built) destroy_with(a, p, p + size_);
    if (p != inline_ptr()) alloc_traits::deallocate(a, target, cap);
  }

  /// Builds n elements at `out`, `build_one(p)` each in order; if one throws, destroys those built
  /// and rethrows. (Stopping at out + n, not at a source's end, lets g++ see that the writes stay
  /// within a buffer of n: no -Warray-bounds false positive at -O3.)
  template <class BuildOne>
  void build_each(T* out, std::size_t n, BuildOne build_one) {
    T* p = out;
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      for (T* end = out + n; p != end; ++p) build_one(p);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      destroy_elements(out, p);
      throw;
    }
#endif
  }
  /// Copies of the n elements from `first` at `out`, as build_each.
  template <class It>
  void construct_range(T* out, It first, std::size_t n) {
    build_each(out, n, [&](T* p) {
      alloc_traits::construct(alloc_, p, *first);
      ++first;
    });
  }
  /// n copies of `value` at `out`, as build_each.
  void construct_n(T* out, std::size_t n, const T& value) {
    build_each(out, n, [&](T* p) { alloc_traits::construct(alloc_, p, value); });
  }

  /// Replaces the elements with `n` (more than fit) that `construct` builds in a new buffer
  /// (cleaning up what it built if it throws); if it throws, the vector is unchanged.
  template <class Construct>
  void assign_fresh(std::size_t n, Construct construct) {
    if constexpr (fixed_capacity) {
      overflow(n);
    } else {
      check_size(n);
      const auto cap = static_cast<size_type>(n);
      alloc_pointer fresh = alloc_traits::allocate(alloc_, cap);
#if CORE_MEMORY_EXCEPTIONS
      try {
#endif
        construct(std::to_address(fresh));
#if CORE_MEMORY_EXCEPTIONS
      } catch (...) {
        alloc_traits::deallocate(alloc_, fresh, cap);
        throw;
      }
#endif
      adopt(fresh, cap, cap);
    }
  }

  /// Builds the element past the end, in capacity already there.
  template <class... Args>
  [[gnu::always_inline]] reference append_in_place(T* p, Args&&... args) {
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
    return std::addressof(value) >= elems() && std::addressof(value) < elems() + size_;
  }

  size_type grown_capacity(std::size_t needed) const {
    if constexpr (fixed_capacity) {
      if (needed > inline_capacity_) overflow(needed);
    }
    const std::size_t limit = max_size();
    if (needed > limit) throw_length_error("core::memory::SmallVector", "SmallVector: size exceeds max_size()");
    // Doubling, as std::vector and absl::InlinedVector: 1.5x relocated 165 elements on the way
    // from 8 to 64 (doubling: 56) and measured 1.2-1.9x slower to build fresh vectors.
    std::size_t c = capacity_ > limit / 2 ? limit : 2 * std::size_t{capacity_};
    if (c < 4) c = 4;
    if (c < needed) c = needed;
    if (c > limit) c = limit;
    return static_cast<size_type>(c);
  }

  /// Moves the elements into a buffer of `cap` (inline if `to_inline`). Strong guarantee: the
  /// elements are moved only if that cannot throw, else copied.
  void reallocate(size_type cap, bool to_inline = false) {
    if constexpr (fixed_capacity) {
      overflow(cap);  // (never a relocation: T need not be movable)
    } else {
      alloc_pointer fresh = to_inline ? inline_pointer() : alloc_traits::allocate(alloc_, cap);
      relocate_into(fresh, cap, to_inline);
    }
  }
  // (The inline buffer is unannotated while the elements live on the heap, so moving back is plain.)

  void relocate_into(const alloc_pointer& fresh, size_type cap, [[maybe_unused]] bool to_inline) {
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      relocate_elements(std::to_address(fresh));
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      if (!to_inline) alloc_traits::deallocate(alloc_, fresh, cap);
      throw;
    }
#endif
    adopt(fresh, cap, size_, relocation_destroys);
  }

  /// Destroys the old elements, frees the old heap buffer, and takes `fresh` (holding `size`
  /// elements already) as the buffer.
  void adopt(const alloc_pointer& fresh, size_type cap, size_type size, bool destroyed = false) noexcept {
    release_buffer(destroyed);
    buf_ = fresh;
    capacity_ = cap;
    size_ = size;
    annotate_fresh();
  }

  /// Destroys the elements (unless `destroyed`) and frees the heap buffer; the fields still name it.
  void release_buffer(bool destroyed) noexcept {
    if (!destroyed) destroy_elements(elems(), elems() + size_);
    annotate(size_, capacity_);
    if (!on_stack()) alloc_traits::deallocate(alloc_, buf_, capacity_);
  }

  /// Whether the allocator builds or destroys elements itself (std::pmr::polymorphic_allocator's
  /// uses-allocator construction, std::scoped_allocator_adaptor, a counting allocator): then every
  /// element is built and destroyed through it, relocations too, as std::vector does. Otherwise
  /// (std::allocator and the library's allocators) allocator_traits would do placement new and
  /// a destructor call anyway, so the relocations keep their one-pass and memmove paths.
  /// (Relocations bypassed it: a SmallVector of pmr containers moved its elements out of its
  /// arena on growth, and a counting allocator saw 13 constructions and 1 destruction where
  /// std::vector makes 27 and 27.)
  static constexpr bool allocator_constructs = requires(Alloc& a, T* p) { a.construct(p, std::declval<T&&>()); };
  static constexpr bool allocator_destroys = requires(Alloc& a, T* p) { a.destroy(p); };
  /// Destroys [first, last) through the allocator if it destroys elements itself.
  void destroy_elements(T* first, T* last) noexcept { destroy_with(alloc_, first, last); }
  /// destroy_elements through `a`: elements built by another allocator (rehome_pair's).
  static void destroy_with(Alloc& a, T* first, T* last) noexcept {
    if constexpr (allocator_destroys) {
      for (; first != last; ++first) alloc_traits::destroy(a, first);
    } else {
      std::destroy(first, last);
    }
  }

  /// Whether relocate_elements destroys the old elements as it goes.
  static constexpr bool relocation_destroys = std::is_nothrow_move_constructible_v<T> &&
                                              !std::is_trivially_copyable_v<T> && !allocator_constructs &&
                                              !allocator_destroys;
  /// move_elements for a growth: with a non-throwing move, each element is moved and destroyed in
  /// one pass, as std::vector relocates (strings: 1024 pushes 10-15% faster than two passes).
  void relocate_elements(T* fresh) noexcept(relocation_destroys) {
    if constexpr (relocation_destroys) {
      for (T *from = elems(), *to = fresh, *end = elems() + size_; from != end; ++from, ++to) {
        ::new (static_cast<void*>(to)) T(std::move(*from));
        from->~T();
      }
    } else {
      move_elements(fresh, alloc_);
    }
  }
  /// Moves (or copies, if moving may throw) the elements to `fresh`, through allocator `a` if it
  /// builds them itself: this vector's, or for rehome_pair the one that will own `fresh`.
  void move_elements(T* fresh, Alloc& a) {
    if constexpr (allocator_constructs) {
      T* to = fresh;
#if CORE_MEMORY_EXCEPTIONS
      try {
#endif
        for (T *from = elems(), *end = elems() + size_; from != end; ++from, ++to)
          alloc_traits::construct(a, to, std::move_if_noexcept(*from));
#if CORE_MEMORY_EXCEPTIONS
      } catch (...) {
        destroy_with(a, fresh, to);
        throw;
      }
#endif
    } else if constexpr (std::is_nothrow_move_constructible_v<T> || !std::is_copy_constructible_v<T>) {
      std::uninitialized_move(elems(), elems() + size_, fresh);
    } else {
      std::uninitialized_copy(elems(), elems() + size_, fresh);
    }
  }

  /// Small trivially copyable elements reach the growth path by value: a reference would force the
  /// caller to keep the value in memory on the fast path too.
  template <class... Args>
  static constexpr bool passed_by_value =
      std::is_trivially_copyable_v<T> && sizeof(T) <= 2 * sizeof(void*) && sizeof...(Args) == 1 &&
      (std::is_same_v<std::remove_cvref_t<Args>, T> && ...);

  /// A grown buffer that holds the old elements and the appended one; the old buffer is gone.
  struct Grown {
    alloc_pointer buf;
    size_type cap;
  };
  [[gnu::noinline]] Grown grow_with_value(T value) { return grow_with(std::move(value)); }

  /// Out of line, so the fast path stays small enough for the caller's loops to unroll. Leaves
  /// the fields for the caller to set (see emplace_back).
  template <class... Args>
  [[gnu::noinline]] Grown grow_with(Args&&... args) {
    const size_type cap = grown_capacity(std::size_t{size_} + 1);
    // The new element first, while `args` (which may be elements) are still valid.
    return {build_then_relocate(cap, 1, [&](T* out) { alloc_traits::construct(alloc_, out, std::forward<Args>(args)...); }),
            cap};
  }

  /// Truncates, or appends the elements `construct(p)` builds (strong, as append_built).
  template <class Construct>
  void resize_impl(std::size_t wanted, Construct construct) {
    if (wanted <= size_) return truncate(static_cast<size_type>(wanted));
    const std::size_t added = wanted - size_;
    append_built(added, [&](T* out) { build_each(out, added, construct); });
  }
  /// A growth to `cap` that adds `added` elements, built by `build(out)` at `out`, as append_built.
  template <class Build>
  void grow_building(size_type cap, size_type added, Build build) {
    if constexpr (fixed_capacity) {
      overflow(std::size_t{size_} + added);
    } else {
      buf_ = build_then_relocate(cap, added, build);
      capacity_ = cap;
      size_ = static_cast<size_type>(size_ + added);
      annotate_fresh();
    }
  }
  /// Every growth: allocates `cap` elements, builds the `added` new ones there with `build(out)`
  /// (which destroys those it built if it throws), then relocates the old elements and frees the
  /// old buffer. Returns the new buffer; the caller sets the fields. New elements first: if
  /// building or relocating throws, the vector is as it was, buffer and capacity included, and
  /// the arguments may be its own elements. (Reallocating first left a failed resize or append
  /// with a grown buffer and every pointer invalid.)
  template <class Build>
  alloc_pointer build_then_relocate(size_type cap, [[maybe_unused]] size_type added, Build build) {
    alloc_pointer fresh = alloc_traits::allocate(alloc_, cap);
    T* const elements = std::to_address(fresh);
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      build(elements + size_);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      alloc_traits::deallocate(alloc_, fresh, cap);
      throw;
    }
    try {
#endif
      relocate_elements(elements);
#if CORE_MEMORY_EXCEPTIONS
    } catch (...) {
      destroy_elements(elements + size_, elements + size_ + added);
      alloc_traits::deallocate(alloc_, fresh, cap);
      throw;
    }
#endif
    release_buffer(relocation_destroys);
    return fresh;
  }
};

}  // namespace core::memory

namespace core::memory {

namespace detail {
/// Storage for N elements, laid out right after the SmallVectorImpl base (aligned as
/// small_vector_alignment).
template <class T, std::size_t N, std::size_t Align>
struct alignas(Align) small_vector_storage {
  // Whole 8-byte granules: the last one is the vector's own (not tail padding a derived class
  // may reuse), so AddressSanitizer can be told about every slot of it (see annotate).
  std::byte bytes[(N * sizeof(T) + 7) / 8 * 8];
};
template <class T, std::size_t Align>
struct alignas(Align) small_vector_storage<T, 0, Align> {};

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
  static_assert(N > 0 || detail::is_no_heap_allocator<Alloc>,
                "SmallVector needs an inline capacity; use std::vector for N == 0 (StaticVector allows 0)");
  static_assert(N <= std::numeric_limits<SizeT>::max(), "N does not fit SizeT");

 public:
  using typename base::size_type;
  using typename base::value_type;

  SmallVector() noexcept(std::is_nothrow_default_constructible_v<Alloc>) : SmallVector(Alloc()) {}
  explicit SmallVector(const Alloc& alloc) noexcept : base(static_cast<SizeT>(N), alloc) { check_layout(); }
  explicit SmallVector(std::size_t n, const Alloc& alloc = Alloc()) : SmallVector(alloc) { this->resize(n); }
  SmallVector(std::size_t n, const T& value, const Alloc& alloc = Alloc()) : SmallVector(alloc) {
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
  explicit SmallVector(const base& other)
      : SmallVector(std::allocator_traits<Alloc>::select_on_container_copy_construction(other.get_allocator())) {
    this->append_range(other.begin(), other.end());
  }
  /// Never allocates: the allocator is moved, the heap buffer stolen, or the elements fit inline.
  SmallVector(SmallVector&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : base(static_cast<SizeT>(N), std::move(other.alloc_)) {
    check_layout();
    this->take_from(other);
  }
  /// With `alloc`: steals the heap buffer if `alloc` equals other's, else moves the elements.
  SmallVector(SmallVector&& other, const Alloc& alloc) : SmallVector(alloc) {
    if (this->allocators_equal(other)) {
      this->take_from(other);
    } else {
      this->move_elements_from(other);
    }
  }
  /// From any SmallVector<T, M>: may allocate, when M > N.
  SmallVector(base&& other) : SmallVector(other.get_allocator()) { this->take_from(other); }

  SmallVector& operator=(const SmallVector& other) {
    base::operator=(other);
    return *this;
  }
  /// From any SmallVector<T, M> (or the size-erased base).
  SmallVector& operator=(const base& other) {
    base::operator=(other);
    return *this;
  }
  SmallVector& operator=(base&& other) {
    base::operator=(std::move(other));
    return *this;
  }
  /// Allocates only with unequal allocators (a heap buffer cannot be stolen across them).
  SmallVector& operator=(SmallVector&& other) noexcept(
      std::is_nothrow_move_constructible_v<T> &&
      (std::allocator_traits<Alloc>::propagate_on_container_move_assignment::value ||
       std::allocator_traits<Alloc>::is_always_equal::value)) {
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
  detail::small_vector_storage<T, N, detail::small_vector_alignment<T, base>> storage_;
};

/// Erases every element equal to `value`; returns how many.
template <class T, class A, class S, class U>
typename SmallVectorImpl<T, A, S>::size_type erase(SmallVectorImpl<T, A, S>& v, const U& value) {
  const auto it = detail::remove_if(v.begin(), v.end(), [&value](const T& x) { return x == value; });
  const auto n = static_cast<typename SmallVectorImpl<T, A, S>::size_type>(v.end() - it);
  v.erase(it, v.end());
  return n;
}

/// Erases every element for which `pred` holds; returns how many.
template <class T, class A, class S, class Pred>
typename SmallVectorImpl<T, A, S>::size_type erase_if(SmallVectorImpl<T, A, S>& v, Pred pred) {
  const auto it = detail::remove_if(v.begin(), v.end(), pred);
  const auto n = static_cast<typename SmallVectorImpl<T, A, S>::size_type>(v.end() - it);
  v.erase(it, v.end());
  return n;
}

}  // namespace core::memory

namespace core::memory {

/// A vector of at most N elements that never allocates: C++26 inplace_vector's interface. N may be
/// 0. Growing past N throws capacity_exceeded (a std::bad_alloc naming N and the size needed);
/// try_push_back / try_emplace_back return null instead. Construction with a count, resize and
/// emplace_back need no movable T (nothing is ever relocated); insert, erase and swap do.
template <class T, std::size_t N, class SizeT = std::size_t>
class StaticVector : public SmallVector<T, N, detail::no_heap_allocator<T>, SizeT> {
  using base = SmallVector<T, N, detail::no_heap_allocator<T>, SizeT>;

 public:
  using typename base::size_type;
  using base::base;
  StaticVector() noexcept = default;

  static constexpr size_type max_size() noexcept { return static_cast<size_type>(N); }
  static constexpr size_type capacity() noexcept { return static_cast<size_type>(N); }

  /// As inplace_vector's, returns the new element (std::vector's returns nothing).
  T& push_back(const T& value) { return this->emplace_back(value); }
  T& push_back(T&& value) { return this->emplace_back(std::move(value)); }

  /// Appends if there is room; returns the new element or null.
  template <class... Args>
  T* try_emplace_back(Args&&... args) {
    if (this->size() == N) return nullptr;
    return std::addressof(this->unchecked_emplace_back(std::forward<Args>(args)...));
  }
  T* try_push_back(const T& value) { return try_emplace_back(value); }
  T* try_push_back(T&& value) { return try_emplace_back(std::move(value)); }

  /// Element-wise (there is no buffer to exchange); never allocates.
  void swap(StaticVector& other) noexcept(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_swappable_v<T>) {
    base::swap(other);
  }
  friend void swap(StaticVector& a, StaticVector& b) noexcept(noexcept(a.swap(b))) { a.swap(b); }
};

}  // namespace core::memory
