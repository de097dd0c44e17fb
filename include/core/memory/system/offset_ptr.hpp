#pragma once
/// offset_ptr<T>: a pointer that stays valid when the memory holding it is mapped at another
/// address (shared memory, a mapped file), because it stores the distance from itself to its
/// target instead of an address. atomic_offset_ptr<T>: the same as a lock-free atomic.
///
/// - Both the pointer and its target must live in the same mapping (or both in ordinary memory):
///   the distance between them is what survives, not the address.
/// - Null is the distance 1 (a pointer cannot point into its own bytes), so a zeroed offset_ptr is
///   a pointer to itself, not null: construct offset_ptrs, never memset or memcpy them. Copying
///   one recomputes the distance from the copy, which is why offset_ptr is not trivially copyable.
/// - It is a random-access fancy pointer with std::pointer_traits support (pointer_to, rebind,
///   std::to_address), usable as an allocator's `pointer`, as SharedMemoryAllocator<T> does, so
///   std::vector, std::basic_string and the library's containers can live in shared memory.
/// - constexpr where a pointer's value is not needed (null construction, comparison with null).

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <type_traits>

namespace core::memory {

template <class T>
class offset_ptr {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using difference_type = std::ptrdiff_t;
  using pointer = offset_ptr;
  using reference = std::add_lvalue_reference_t<T>;
  using iterator_category = std::random_access_iterator_tag;
  using iterator_concept = std::contiguous_iterator_tag;

  constexpr offset_ptr() noexcept = default;
  constexpr offset_ptr(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)
  offset_ptr(T* p) noexcept : off_(distance_to(p)) {}  // NOLINT(google-explicit-constructor)
  offset_ptr(const offset_ptr& o) noexcept : off_(distance_to(o.get())) {}
  /// Implicit where U* converts to T* implicitly (derived to base, T* to const T*, to void*).
  template <class U>
    requires std::is_convertible_v<U*, T*>
  offset_ptr(const offset_ptr<U>& o) noexcept : off_(distance_to(o.get())) {}  // NOLINT
  /// Explicit where only static_cast converts (void* to T*, base to derived), as an allocator's
  /// void_pointer converts to its pointer.
  template <class U>
    requires(!std::is_convertible_v<U*, T*> && requires(U* u) { static_cast<T*>(u); })
  explicit offset_ptr(const offset_ptr<U>& o) noexcept : off_(distance_to(static_cast<T*>(o.get()))) {}

  offset_ptr& operator=(const offset_ptr& o) noexcept {
    off_ = distance_to(o.get());
    return *this;
  }
  offset_ptr& operator=(T* p) noexcept {
    off_ = distance_to(p);
    return *this;
  }
  constexpr offset_ptr& operator=(std::nullptr_t) noexcept {
    off_ = null_offset;
    return *this;
  }

  /// The address it points to (null if null).
  [[nodiscard]] T* get() const noexcept {
    return off_ == null_offset ? nullptr : reinterpret_cast<T*>(self() + static_cast<std::uintptr_t>(off_));
  }
  [[nodiscard]] T* operator->() const noexcept { return get(); }
  template <class U = T>
    requires(!std::is_void_v<U>)
  [[nodiscard]] U& operator*() const noexcept {
    return *get();
  }
  template <class U = T>
    requires(!std::is_void_v<U>)
  [[nodiscard]] U& operator[](difference_type i) const noexcept {
    return get()[i];
  }
  [[nodiscard]] constexpr explicit operator bool() const noexcept { return off_ != null_offset; }

  /// std::pointer_traits<offset_ptr<T>>::pointer_to (what containers use to make a pointer).
  template <class U = T>
    requires(!std::is_void_v<U>)
  [[nodiscard]] static offset_ptr pointer_to(U& r) noexcept {
    return offset_ptr(std::addressof(r));
  }

  // Arithmetic (T not void), as on T*.
  offset_ptr& operator+=(difference_type n) noexcept requires(!std::is_void_v<T>) { return *this = get() + n; }
  offset_ptr& operator-=(difference_type n) noexcept requires(!std::is_void_v<T>) { return *this = get() - n; }
  offset_ptr& operator++() noexcept requires(!std::is_void_v<T>) { return *this += 1; }
  offset_ptr& operator--() noexcept requires(!std::is_void_v<T>) { return *this -= 1; }
  offset_ptr operator++(int) noexcept requires(!std::is_void_v<T>) {
    offset_ptr old(*this);
    ++*this;
    return old;
  }
  offset_ptr operator--(int) noexcept requires(!std::is_void_v<T>) {
    offset_ptr old(*this);
    --*this;
    return old;
  }
  [[nodiscard]] friend offset_ptr operator+(const offset_ptr& p, difference_type n) noexcept requires(!std::is_void_v<T>) {
    return offset_ptr(p.get() + n);
  }
  [[nodiscard]] friend offset_ptr operator+(difference_type n, const offset_ptr& p) noexcept requires(!std::is_void_v<T>) {
    return offset_ptr(p.get() + n);
  }
  [[nodiscard]] friend offset_ptr operator-(const offset_ptr& p, difference_type n) noexcept requires(!std::is_void_v<T>) {
    return offset_ptr(p.get() - n);
  }
  [[nodiscard]] friend difference_type operator-(const offset_ptr& a, const offset_ptr& b) noexcept requires(!std::is_void_v<T>) {
    return a.get() - b.get();
  }

  // Comparison by address (a null offset_ptr equals nullptr and a null T*).
  template <class U>
  [[nodiscard]] friend bool operator==(const offset_ptr& a, const offset_ptr<U>& b) noexcept {
    return a.get() == b.get();
  }
  template <class U>
  [[nodiscard]] friend std::strong_ordering operator<=>(const offset_ptr& a, const offset_ptr<U>& b) noexcept {
    return std::compare_three_way{}(a.get(), b.get());
  }
  [[nodiscard]] friend bool operator==(const offset_ptr& a, T* b) noexcept { return a.get() == b; }
  [[nodiscard]] friend std::strong_ordering operator<=>(const offset_ptr& a, T* b) noexcept {
    return std::compare_three_way{}(a.get(), b);
  }
  [[nodiscard]] friend constexpr bool operator==(const offset_ptr& a, std::nullptr_t) noexcept { return !a; }

  friend void swap(offset_ptr& a, offset_ptr& b) noexcept {
    T* pa = a.get();
    a = b.get();
    b = pa;
  }

  /// The stored distance from this object to the target (1 when null); for tests and debugging.
  [[nodiscard]] constexpr std::ptrdiff_t offset() const noexcept { return off_; }

 private:
  static constexpr std::ptrdiff_t null_offset = 1;

  std::uintptr_t self() const noexcept { return reinterpret_cast<std::uintptr_t>(this); }
  std::ptrdiff_t distance_to(const volatile void* p) const noexcept {
    return p == nullptr ? null_offset
                        : static_cast<std::ptrdiff_t>(reinterpret_cast<std::uintptr_t>(p) - self());
  }

  std::ptrdiff_t off_ = null_offset;
};

/// Casts as on raw pointers (what std code reaches through pointer_traits and static_cast).
template <class T, class U>
[[nodiscard]] offset_ptr<T> static_pointer_cast(const offset_ptr<U>& p) noexcept {
  return offset_ptr<T>(static_cast<T*>(p.get()));
}
template <class T, class U>
[[nodiscard]] offset_ptr<T> const_pointer_cast(const offset_ptr<U>& p) noexcept {
  return offset_ptr<T>(const_cast<T*>(p.get()));
}
template <class T, class U>
[[nodiscard]] offset_ptr<T> reinterpret_pointer_cast(const offset_ptr<U>& p) noexcept {
  return offset_ptr<T>(reinterpret_cast<T*>(p.get()));
}

/// An offset_ptr<T> as a lock-free atomic: the distance is the atomic word, measured from the
/// atomic object itself, so it is position-independent like offset_ptr. Memory orders as on
/// std::atomic<T*>. Not copyable.
template <class T>
class atomic_offset_ptr {
 public:
  static constexpr bool is_always_lock_free = std::atomic<std::ptrdiff_t>::is_always_lock_free;
  static_assert(is_always_lock_free, "atomic_offset_ptr needs a lock-free pointer-sized atomic");

  constexpr atomic_offset_ptr() noexcept = default;
  explicit atomic_offset_ptr(T* p) noexcept : off_(distance_to(p)) {}
  atomic_offset_ptr(const atomic_offset_ptr&) = delete;
  atomic_offset_ptr& operator=(const atomic_offset_ptr&) = delete;

  [[nodiscard]] T* load(std::memory_order order = std::memory_order_seq_cst) const noexcept {
    return address(off_.load(order));
  }
  void store(T* p, std::memory_order order = std::memory_order_seq_cst) noexcept { off_.store(distance_to(p), order); }
  T* exchange(T* p, std::memory_order order = std::memory_order_seq_cst) noexcept {
    return address(off_.exchange(distance_to(p), order));
  }
  /// As std::atomic<T*>: on failure `expected` receives the current value.
  bool compare_exchange_weak(T*& expected, T* desired, std::memory_order success,
                             std::memory_order failure) noexcept {
    std::ptrdiff_t e = distance_to(expected);
    const bool ok = off_.compare_exchange_weak(e, distance_to(desired), success, failure);
    if (!ok) expected = address(e);
    return ok;
  }
  bool compare_exchange_strong(T*& expected, T* desired, std::memory_order success,
                               std::memory_order failure) noexcept {
    std::ptrdiff_t e = distance_to(expected);
    const bool ok = off_.compare_exchange_strong(e, distance_to(desired), success, failure);
    if (!ok) expected = address(e);
    return ok;
  }
  bool compare_exchange_weak(T*& expected, T* desired, std::memory_order order = std::memory_order_seq_cst) noexcept {
    return compare_exchange_weak(expected, desired, order, failure_order(order));
  }
  bool compare_exchange_strong(T*& expected, T* desired, std::memory_order order = std::memory_order_seq_cst) noexcept {
    return compare_exchange_strong(expected, desired, order, failure_order(order));
  }
  operator T*() const noexcept { return load(); }  // NOLINT(google-explicit-constructor)
  T* operator=(T* p) noexcept {
    store(p);
    return p;
  }

 private:
  static constexpr std::ptrdiff_t null_offset = 1;
  static constexpr std::memory_order failure_order(std::memory_order o) noexcept {
    return o == std::memory_order_acq_rel ? std::memory_order_acquire
           : o == std::memory_order_release ? std::memory_order_relaxed
                                            : o;
  }
  std::uintptr_t self() const noexcept { return reinterpret_cast<std::uintptr_t>(&off_); }
  std::ptrdiff_t distance_to(const volatile void* p) const noexcept {
    return p == nullptr ? null_offset
                        : static_cast<std::ptrdiff_t>(reinterpret_cast<std::uintptr_t>(p) - self());
  }
  T* address(std::ptrdiff_t off) const noexcept {
    return off == null_offset ? nullptr : reinterpret_cast<T*>(self() + static_cast<std::uintptr_t>(off));
  }

  std::atomic<std::ptrdiff_t> off_{null_offset};
};

}  // namespace core::memory

template <class T>
struct std::hash<core::memory::offset_ptr<T>> {
  std::size_t operator()(const core::memory::offset_ptr<T>& p) const noexcept { return std::hash<T*>{}(p.get()); }
};
