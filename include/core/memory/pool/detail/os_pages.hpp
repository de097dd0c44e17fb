#pragma once
/// The few OS calls the process allocator needs, never through malloc: reserve address space,
/// commit and decommit parts of it, and map, unmap and resize whole mappings for large blocks.
/// Compiled part: src/pool/os_pages.cpp (Linux: mmap, mprotect, madvise, mremap).

#include <cstddef>

namespace core::memory::detail {

/// The OS page size.
[[nodiscard]] std::size_t os_page_size() noexcept;
/// `bytes` of address space aligned to `alignment` (a power of two, at least a page), readable
/// and writable by no one yet; null if refused.
[[nodiscard]] void* os_reserve(std::size_t bytes, std::size_t alignment) noexcept;
void os_release(void* p, std::size_t bytes) noexcept;
/// Makes reserved pages readable and writable (they read as zero at first); false if refused.
bool os_commit(void* p, std::size_t bytes) noexcept;
/// Gives the pages' memory back to the OS; they stay usable and read as zero next time.
void os_decommit(void* p, std::size_t bytes) noexcept;
/// A fresh readable, writable, zeroed mapping of `bytes`; null if refused.
[[nodiscard]] void* os_map(std::size_t bytes) noexcept;
void os_unmap(void* p, std::size_t bytes) noexcept;
/// Grows or shrinks a mapping from os_map, moving it if needed; null if refused (the old one
/// stays).
[[nodiscard]] void* os_remap(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept;

}  // namespace core::memory::detail
