#pragma once
/// Typed uninitialised storage: room for N objects of T, correctly aligned, whose lifetimes the
/// owner manages with construct_at / destroy_at. Replaces the deprecated std::aligned_storage.

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace core::memory {

/// Raw storage for `N` objects of `T`. Not copyable: it does not know which slots are alive.
/// Preconditions (unchecked, as for placement new): index < N; construct only into an empty slot,
/// destroy and access only a constructed one.
template <class T, std::size_t N = 1>
class AlignedStorage {
  static_assert(N > 0, "AlignedStorage needs room for at least one object");

 public:
  using value_type = T;

  AlignedStorage() noexcept = default;
  AlignedStorage(const AlignedStorage&) = delete;
  AlignedStorage& operator=(const AlignedStorage&) = delete;

  /// Number of slots.
  static constexpr std::size_t capacity() noexcept { return N; }

  /// Constructs a T in slot `index` from `args`; returns it.
  template <class... Args>
  T& construct_at(std::size_t index, Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    return *::new (static_cast<void*>(bytes_ + index * sizeof(T))) T(std::forward<Args>(args)...);
  }

  /// Constructs the single T (N == 1).
  template <class... Args>
    requires(N == 1)
  T& construct(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    return construct_at(0, std::forward<Args>(args)...);
  }

  /// Destroys the T in slot `index`.
  void destroy_at(std::size_t index) noexcept { std::destroy_at(data() + index); }

  /// Destroys the single T (N == 1).
  void destroy() noexcept
    requires(N == 1)
  {
    destroy_at(0);
  }

  /// Pointer to slot 0; valid for pointer arithmetic over all N slots.
  T* data() noexcept { return std::launder(reinterpret_cast<T*>(bytes_)); }
  const T* data() const noexcept { return std::launder(reinterpret_cast<const T*>(bytes_)); }

  /// The object in slot `index`.
  T& operator[](std::size_t index) noexcept { return data()[index]; }
  const T& operator[](std::size_t index) const noexcept { return data()[index]; }

  /// The single object (N == 1).
  T& get() noexcept
    requires(N == 1)
  {
    return *data();
  }
  const T& get() const noexcept
    requires(N == 1)
  {
    return *data();
  }

  /// The raw bytes.
  std::byte* bytes() noexcept { return bytes_; }
  const std::byte* bytes() const noexcept { return bytes_; }

 private:
  alignas(T) std::byte bytes_[sizeof(T) * N];
};

}  // namespace core::memory
