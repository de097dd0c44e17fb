#pragma once
/// MallocAllocator: the C heap as a RawAllocator. Stateless and thread-safe; requests aligned
/// beyond what malloc guarantees go to posix_memalign, so every power-of-two alignment works.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace core::memory {

class MallocAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::MallocAllocator";
  static constexpr bool is_stateless = true;
  static constexpr bool is_thread_safe = true;
  /// What malloc guarantees for every block.
  static constexpr std::size_t alignment = alignof(std::max_align_t);

  /// `size` bytes aligned to `align`; throws out_of_memory. allocate(0) returns a unique block.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignment) {
    return detail::allocate_or_throw(*this, size, align);
  }

  /// As allocate, but returns nullptr on exhaustion. An alignment that is not a power of two is
  /// reported to the misuse handler (then nullptr).
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignment) noexcept {
    if (align <= alignment && is_valid_alignment(align)) [[likely]]
      return std::malloc(size != 0 ? size : 1);
    return aligned_slow(size, align);
  }

  void deallocate(void* p, std::size_t /*size*/, std::size_t /*align*/ = alignment) noexcept { std::free(p); }

  [[nodiscard]] std::size_t max_size() const noexcept { return static_cast<std::size_t>(PTRDIFF_MAX); }

  friend bool operator==(MallocAllocator, MallocAllocator) noexcept { return true; }

 private:
  CORE_MEMORY_NOINLINE static void* aligned_slow(std::size_t size, std::size_t align) noexcept {
    if (!is_valid_alignment(align)) {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    // No block is aligned to more than PTRDIFF_MAX (only address 0 would be), and some
    // posix_memalign implementations (AddressSanitizer's) overflow on such alignments.
    if (align > static_cast<std::size_t>(PTRDIFF_MAX)) return nullptr;
    void* p = nullptr;
    return ::posix_memalign(&p, align, size != 0 ? size : 1) == 0 ? p : nullptr;
  }
};

static_assert(RawAllocator<MallocAllocator>);

}  // namespace core::memory
