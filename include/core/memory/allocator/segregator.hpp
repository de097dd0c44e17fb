#pragma once
/// Segregator<Threshold, Small, Large>: routes requests of at most `Threshold` bytes to `Small`
/// and the rest to `Large`, e.g. a pool for small nodes in front of the heap. Deallocation routes
/// by the same size, so neither side needs owns(). Holds both allocators.

#include <core/memory/core/allocator_traits.hpp>

#include <cstddef>
#include <utility>

namespace core::memory {

template <std::size_t Threshold, RawAllocator Small, RawAllocator Large>
class Segregator {
 public:
  static constexpr const char* allocator_name = "core::memory::Segregator";
  static constexpr bool is_thread_safe =
      allocator_traits<Small>::is_thread_safe && allocator_traits<Large>::is_thread_safe;

  Segregator() = default;
  Segregator(Small small, Large large) : small_(std::move(small)), large_(std::move(large)) {}

  /// True if a request of `size` bytes goes to the small allocator.
  [[nodiscard]] static constexpr bool is_small(std::size_t size) noexcept { return size <= Threshold; }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) {
    return is_small(size) ? allocator_traits<Small>::allocate(small_, size, align)
                          : allocator_traits<Large>::allocate(large_, size, align);
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    return is_small(size) ? allocator_traits<Small>::try_allocate(small_, size, align)
                          : allocator_traits<Large>::try_allocate(large_, size, align);
  }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (is_small(size)) allocator_traits<Small>::deallocate(small_, p, size, align);
    else allocator_traits<Large>::deallocate(large_, p, size, align);
  }
  /// Like allocate, with the usable size the chosen allocator reports; a small block reports at
  /// most Threshold bytes, so freeing it with the reported size still routes it to Small.
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align) {
    if (!is_small(size)) return allocator_traits<Large>::allocate_at_least(large_, size, align);
    allocation_result r = allocator_traits<Small>::allocate_at_least(small_, size, align);
    if (r.size > Threshold) r.size = Threshold;
    return r;
  }
  /// The largest request either side can serve (Small serves up to Threshold).
  [[nodiscard]] std::size_t max_size() const noexcept {
    const std::size_t small = allocator_traits<Small>::max_size(small_);
    const std::size_t large = allocator_traits<Large>::max_size(large_);
    const std::size_t small_served = small < Threshold ? small : Threshold;
    return large > small_served ? large : small_served;
  }

  [[nodiscard]] Small& small() noexcept { return small_; }
  [[nodiscard]] Large& large() noexcept { return large_; }

 private:
  [[no_unique_address]] Small small_{};
  [[no_unique_address]] Large large_{};
};

}  // namespace core::memory
