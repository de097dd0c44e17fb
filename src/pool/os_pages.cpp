// Linux implementation of pool/detail/os_pages.hpp.

#include <core/memory/pool/detail/os_pages.hpp>

#include <cstdint>

#include <sys/mman.h>
#include <unistd.h>

namespace core::memory::detail {

std::size_t os_page_size() noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

void* os_reserve(std::size_t bytes, std::size_t alignment) noexcept {
  if (alignment < os_page_size()) alignment = os_page_size();
  const std::size_t span = bytes + alignment;
  if (span < bytes) return nullptr;
  void* p = ::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t aligned = (base + alignment - 1) & ~(alignment - 1);
  if (aligned > base) ::munmap(p, aligned - base);
  const std::uintptr_t end = aligned + bytes;
  if (base + span > end) ::munmap(reinterpret_cast<void*>(end), base + span - end);
  return reinterpret_cast<void*>(aligned);
}

void os_release(void* p, std::size_t bytes) noexcept { ::munmap(p, bytes); }

bool os_commit(void* p, std::size_t bytes) noexcept { return ::mprotect(p, bytes, PROT_READ | PROT_WRITE) == 0; }

void os_decommit(void* p, std::size_t bytes) noexcept { ::madvise(p, bytes, MADV_DONTNEED); }

void* os_map(std::size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void os_unmap(void* p, std::size_t bytes) noexcept { ::munmap(p, bytes); }

void* os_remap(void* p, std::size_t old_bytes, std::size_t new_bytes) noexcept {
  void* q = ::mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? nullptr : q;
}

}  // namespace core::memory::detail
