#pragma once
/// StdAllocator<T, A>: the typed level of the allocator model. It meets the standard Allocator
/// requirements, so std::vector<T, StdAllocator<T, Arena>> and every other allocator-aware
/// container run on any RawAllocator, and adds aligned, bulk and statistics calls.
///
/// It plays the role of the spec's AllocatorBase: one non-virtual adapter over any RawAllocator
/// instead of a base class each allocator derives from (runtime polymorphism is std::pmr's job,
/// see memory_resource.hpp).

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>
#include <span>
#include <type_traits>

namespace core::memory {

/// Typed allocator for std containers over the RawAllocator `A`.
///
/// A stateless or handle allocator is held by value (StdAllocator<T> is then empty and always
/// equal); any other is held by reference and must outlive every container using it. Containers
/// keep the allocator they were built with on copy/move assignment and swap (as std::pmr does),
/// unless A is stateless, so a long-lived container never ends up pointing into a short-lived arena.
template <class T, RawAllocator A = MallocAllocator>
class StdAllocator {
  using traits = allocator_traits<A>;

 public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using raw_allocator_type = A;
  using propagate_on_container_copy_assignment = std::bool_constant<traits::is_stateless>;
  using propagate_on_container_move_assignment = std::bool_constant<traits::is_stateless>;
  using propagate_on_container_swap = std::bool_constant<traits::is_stateless>;
  using is_always_equal = std::bool_constant<traits::is_stateless>;

  template <class U>
  struct rebind {
    using other = StdAllocator<U, A>;
  };

  /// Default construction, for stateless allocators only.
  StdAllocator() noexcept
    requires traits::is_stateless
  = default;

  /// Uses `a`: by reference, or a copy for handles.
  StdAllocator(A& a) noexcept : ref_(a) {}  // NOLINT(google-explicit-constructor): as std::pmr does

  /// Copies a stateless or handle allocator.
  StdAllocator(const A& a) noexcept  // NOLINT(google-explicit-constructor)
    requires traits::stored_by_value
      : ref_(a) {}

  template <class U>
  StdAllocator(const StdAllocator<U, A>& other) noexcept : ref_(other.ref_) {}  // NOLINT

  /// Storage for `n` objects (not constructed). Throws std::bad_array_new_length if n * sizeof(T)
  /// overflows, out_of_memory if the allocator is exhausted.
  [[nodiscard]] T* allocate(size_type n) {
    return static_cast<T*>(traits::allocate(ref_.get(), array_bytes<T>(n, traits::name), alignof(T)));
  }

  /// Returns storage from allocate(n).
  void deallocate(T* p, size_type n) noexcept { traits::deallocate(ref_.get(), p, n * sizeof(T), alignof(T)); }

  /// What allocate_at_least returns: storage for `count` >= n objects.
  struct allocation {
    T* ptr;
    size_type count;
  };

  /// Storage for at least `n` objects; reports how many fit in what the allocator handed out
  /// (C++23 allocate_at_least). Free it with deallocate(ptr, n).
  [[nodiscard]] allocation allocate_at_least(size_type n) {
    const allocation_result r = traits::allocate_at_least(ref_.get(), array_bytes<T>(n, traits::name), alignof(T));
    return {static_cast<T*>(r.ptr), r.size / sizeof(T)};
  }

  /// Storage for `n` objects aligned to max(alignment, alignof(T)); `alignment` must be a power
  /// of two (reported to the misuse handler otherwise).
  [[nodiscard]] T* allocate_aligned(size_type n, size_type alignment) {
    if (!is_valid_alignment(alignment)) [[unlikely]]
      detail::fail_invalid_alignment(traits::name, n * sizeof(T), alignment);
    return static_cast<T*>(traits::allocate(ref_.get(), array_bytes<T>(n, traits::name), effective_alignment(alignment)));
  }

  /// Returns storage from allocate_aligned(n, alignment).
  void deallocate_aligned(T* p, size_type n, size_type alignment) noexcept {
    traits::deallocate(ref_.get(), p, n * sizeof(T), effective_alignment(alignment));
  }

  /// Fills `out` with out.size() separate arrays of `n` objects each. All or nothing: if one
  /// fails, those already obtained are returned and the error is thrown.
  void allocate_many(std::span<T*> out, size_type n) {
    traits::allocate_many(ref_.get(), reinterpret_cast<void**>(out.data()), out.size(), array_bytes<T>(n, traits::name),
                          alignof(T));
  }

  /// Returns arrays from allocate_many(…, n).
  void deallocate_many(std::span<T* const> blocks, size_type n) noexcept {
    traits::deallocate_many(ref_.get(), reinterpret_cast<void* const*>(blocks.data()), blocks.size(),
                            n * sizeof(T), alignof(T));
  }

  /// Largest `n` allocate could accept.
  [[nodiscard]] size_type max_size() const noexcept { return traits::max_size(ref_.get()) / sizeof(T); }

  /// False if allocate(n) is certain to fail: too large, or more than an allocator of fixed
  /// capacity has left (a growing one, such as an arena or a pool, may still grow). True does not
  /// promise success.
  [[nodiscard]] bool can_allocate(size_type n) const noexcept {
    if (n > max_size()) return false;
    if constexpr (traits::has_bytes_available && traits::is_fixed_capacity)
      return n * sizeof(T) <= ref_.get().bytes_available();
    return true;
  }

  /// Bytes the underlying allocator has handed out and not taken back.
  [[nodiscard]] size_type bytes_allocated() const noexcept
    requires traits::has_bytes_allocated
  {
    return ref_.get().bytes_allocated();
  }

  /// Bytes the underlying allocator can still hand out.
  [[nodiscard]] size_type bytes_available() const noexcept
    requires traits::has_bytes_available
  {
    return ref_.get().bytes_available();
  }

  /// The underlying RawAllocator.
  [[nodiscard]] A& raw_allocator() const noexcept { return ref_.get(); }

  template <class U>
  friend bool operator==(const StdAllocator& x, const StdAllocator<U, A>& y) noexcept {
    return x.ref_ == detail::allocator_ref<A>(y.raw_allocator());
  }

 private:
  template <class, RawAllocator>
  friend class StdAllocator;

  static size_type effective_alignment(size_type alignment) noexcept {
    return alignment > alignof(T) ? alignment : alignof(T);
  }

  [[no_unique_address]] detail::allocator_ref<A> ref_;
};

}  // namespace core::memory
