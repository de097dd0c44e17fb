#pragma once
/// FallbackAllocator<Primary, Fallback>: serves from `Primary` while it can and from `Fallback`
/// when it is exhausted, e.g. a stack buffer with the heap behind it. Deallocation asks
/// Primary::owns(p), so Primary must tell every block it returns (allocator_traits::owns_every_block:
/// not a pool that passes large requests to its own upstream). Holds both allocators.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>

#include <cstddef>
#include <type_traits>
#include <utility>

namespace core::memory {

template <RawAllocator Primary, RawAllocator Fallback>
class FallbackAllocator {
  static_assert(allocator_traits<Primary>::has_owns, "FallbackAllocator: Primary must have owns(p)");
  static_assert(allocator_traits<Primary>::owns_every_block,
                "FallbackAllocator: Primary's owns(p) must tell every block it returns (a pool that passes large "
                "requests to its upstream does not: their frees would reach Fallback)");

 public:
  static constexpr const char* allocator_name = "core::memory::FallbackAllocator";
  /// owns() tells Fallback's blocks only if Fallback can.
  static constexpr bool owns_every_block = allocator_traits<Fallback>::owns_every_block;

  // Constrained, without default member initializers: clang 14 otherwise instantiates Primary{}
  // (e.g. a StackAllocator, which needs a capacity) as soon as the traits ask about the type.
  FallbackAllocator()
    requires(std::is_default_constructible_v<Primary> && std::is_default_constructible_v<Fallback>)
      : primary_(), fallback_() {}
  template <class P, class F>
  FallbackAllocator(P&& primary, F&& fallback)
      : primary_(std::forward<P>(primary)), fallback_(std::forward<F>(fallback)) {}

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) {
    if (void* p = allocator_traits<Primary>::try_allocate(primary_, size, align)) return p;
    if (!is_valid_alignment(align)) [[unlikely]]  // Primary has reported it: fail, report once
      throw_out_of_memory(allocator_name, size, align);
    return allocator_traits<Fallback>::allocate(fallback_, size, align);
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    if (void* p = allocator_traits<Primary>::try_allocate(primary_, size, align)) return p;
    if (!is_valid_alignment(align)) [[unlikely]]  // Primary has reported it
      return nullptr;
    return allocator_traits<Fallback>::try_allocate(fallback_, size, align);
  }

  /// Largest request either allocator could serve.
  [[nodiscard]] std::size_t max_size() const noexcept {
    const std::size_t p = allocator_traits<Primary>::max_size(primary_);
    const std::size_t f = allocator_traits<Fallback>::max_size(fallback_);
    return p > f ? p : f;
  }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (allocator_traits<Primary>::owns(primary_, p)) allocator_traits<Primary>::deallocate(primary_, p, size, align);
    else allocator_traits<Fallback>::deallocate(fallback_, p, size, align);
  }
  /// True if either allocator owns `p` (Fallback only if it can tell).
  [[nodiscard]] bool owns(const void* p) const noexcept {
    if (allocator_traits<Primary>::owns(primary_, p)) return true;
    if constexpr (allocator_traits<Fallback>::has_owns) return allocator_traits<Fallback>::owns(fallback_, p);
    return false;
  }

  [[nodiscard]] Primary& primary() noexcept { return primary_; }
  [[nodiscard]] Fallback& fallback() noexcept { return fallback_; }

 private:
  [[no_unique_address]] Primary primary_;
  [[no_unique_address]] Fallback fallback_;
};

}  // namespace core::memory
