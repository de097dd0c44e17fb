#pragma once
/// AlignedAllocator<Alignment>: heap blocks aligned to at least `Alignment` (a cache line by
/// default), e.g. for SIMD data or to keep per-thread blocks off each other's lines. A request
/// for more alignment is honoured too, up to and beyond the page size.
///
/// Why not posix_memalign: glibc's memalign splits chunks and is 4-5x slower than malloc at 64-byte
/// alignment, and pathological for page-aligned batches (microseconds per call). Instead, unless
/// that would waste more than max(size, 256) bytes, a block is carved from malloc(size + align)
/// and the original pointer is kept in the word before it. Deallocate relies on the size and
/// alignment it is given (the RawAllocator contract) to know which path a block took; blocks are
/// therefore not free()-compatible. Hardened builds check the hidden word and report a foreign
/// pointer instead of corrupting the heap.

#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/cache_line.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace core::memory {

template <std::size_t Alignment = cache_line_size>
class CORE_MEMORY_LEVEL_ABI AlignedAllocator {
  static_assert(is_valid_alignment(Alignment), "AlignedAllocator: Alignment must be a power of two");

 public:
  static constexpr const char* allocator_name = "core::memory::AlignedAllocator";
  static constexpr bool is_stateless = true;
  static constexpr bool is_thread_safe = true;
  /// Every block is aligned to at least this.
  static constexpr std::size_t alignment =
      Alignment > MallocAllocator::alignment ? Alignment : MallocAllocator::alignment;

  /// `size` bytes aligned to max(align, Alignment); throws out_of_memory.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignment) {
    return detail::allocate_or_throw(*this, size, align);
  }

  /// As allocate, but nullptr on exhaustion; a non-power-of-two `align` is reported as misuse.
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignment) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    align = effective(align);
    if (align <= MallocAllocator::alignment) return std::malloc(size != 0 ? size : 1);
    if (!carved(size, align)) return MallocAllocator{}.try_allocate(size, align);
    std::size_t total = 0;
    if (__builtin_add_overflow(size, align, &total) || total > static_cast<std::size_t>(PTRDIFF_MAX)) return nullptr;
    auto* raw = static_cast<std::byte*>(std::malloc(total));
    if (!raw) [[unlikely]]
      return nullptr;
    std::byte* block = align_up(raw + sizeof(std::uintptr_t), align);
    const std::uintptr_t word = reinterpret_cast<std::uintptr_t>(raw) ^ cookie(block);
    std::memcpy(block - sizeof word, &word, sizeof word);
    return block;
  }

  /// Returns a block; `size` and `align` must be those given to allocate. Hardened builds report
  /// a pointer whose hidden word does not name the malloc block it was carved from. Not caught: a
  /// carved block freed with a size or alignment that say it was not carved (its free() then
  /// gets an address inside the block): telling that needs the word before a block malloc
  /// returned whole, which another malloc (ThreadSanitizer's, jemalloc's large ones) may not map.
  void deallocate(void* p, std::size_t size, std::size_t align = alignment) noexcept {
    if (!p) return;
    align = effective(align);
    if (align <= MallocAllocator::alignment || !carved(size, align)) return std::free(p);
    if constexpr (checks::hardened) {
      if (!is_aligned(p, align) || !carved_from(p, align)) [[unlikely]] {
        report_misuse({error_kind::foreign_pointer, allocator_name, p, size, align,
                       "not a block of this allocator, or size/alignment differ from the allocation", nullptr, 0});
        return;
      }
    }
    std::free(raw_of(p));
  }

  [[nodiscard]] std::size_t max_size() const noexcept { return MallocAllocator{}.max_size(); }

  friend bool operator==(AlignedAllocator, AlignedAllocator) noexcept { return true; }

 private:
  static constexpr std::size_t effective(std::size_t align) noexcept { return align > alignment ? align : alignment; }

  /// Carve from malloc unless the padding would exceed max(size, 256) bytes.
  static constexpr bool carved(std::size_t size, std::size_t align) noexcept { return align <= 256 || align <= size; }

  /// The malloc block a carved block was cut from, read from the word before it.
  static void* raw_of(const void* p) noexcept {
    std::uintptr_t word;
    std::memcpy(&word, static_cast<const std::byte*>(p) - sizeof word, sizeof word);
    return reinterpret_cast<void*>(word ^ cookie(p));
  }
  /// True if the word before `p` names a malloc block that `p` was carved from, at most
  /// `max_gap` bytes before it (the hardened check).
  static bool carved_from(const void* p, std::size_t max_gap) noexcept {
    const auto raw = reinterpret_cast<std::uintptr_t>(raw_of(p));
    const auto block = reinterpret_cast<std::uintptr_t>(p);
    return raw < block && block - raw >= sizeof(std::uintptr_t) && block - raw <= max_gap &&
           raw % MallocAllocator::alignment == 0;
  }

  /// Scrambles the stored pointer so a stray pointer is unlikely to pass the hardened check.
  static std::uintptr_t cookie(const void* block) noexcept {
    return (reinterpret_cast<std::uintptr_t>(block) >> 4) * 0x9E3779B97F4A7C15ull;
  }
};

static_assert(RawAllocator<AlignedAllocator<>>);

}  // namespace core::memory
