#pragma once
/// AlignedAllocator<Alignment>: heap blocks aligned to at least `Alignment` (a cache line by
/// default), e.g. for SIMD data or to keep per-thread blocks off each other's lines. A request
/// for more alignment is honoured too, up to and beyond the page size.

#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/cache_line.hpp>

#include <cstddef>

namespace core::memory {

template <std::size_t Alignment = cache_line_size>
class AlignedAllocator {
  static_assert(is_valid_alignment(Alignment), "AlignedAllocator: Alignment must be a power of two");

 public:
  static constexpr const char* allocator_name = "core::memory::AlignedAllocator";
  static constexpr bool is_stateless = true;
  static constexpr bool is_thread_safe = true;
  /// Every block is aligned to at least this.
  static constexpr std::size_t alignment = Alignment > MallocAllocator::alignment ? Alignment : MallocAllocator::alignment;

  /// `size` bytes aligned to max(align, Alignment); throws out_of_memory.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignment) {
    void* p = try_allocate(size, align);
    if (!p) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    return p;
  }

  /// As allocate, but nullptr on exhaustion; a non-power-of-two `align` is reported as misuse.
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignment) noexcept {
    return MallocAllocator{}.try_allocate(size, align > alignment || !is_valid_alignment(align) ? align : alignment);
  }

  void deallocate(void* p, std::size_t size, std::size_t align = alignment) noexcept {
    MallocAllocator{}.deallocate(p, size, align);
  }

  [[nodiscard]] std::size_t max_size() const noexcept { return MallocAllocator{}.max_size(); }

  friend bool operator==(AlignedAllocator, AlignedAllocator) noexcept { return true; }
};

}  // namespace core::memory
