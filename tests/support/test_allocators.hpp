#pragma once
// Allocators for tests: a stateful one that records and verifies every block and can be made to
// fail, and minimal ones for trait detection.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <map>

namespace test {

/// Makes `p` escape, so the compiler cannot delete an allocation whose result is unused (clang
/// elides unused malloc calls, even ones that would fail).
inline void* escape(void* p) noexcept {
  __asm__ __volatile__("" : : "g"(p) : "memory");
  return p;
}

/// Stateful RawAllocator over malloc that records every live block (size and alignment), counts
/// deallocations that do not match a live block or its size/alignment, can fail the k-th
/// allocation from now, and can have a byte budget (so it has bytes_available).
class CountingAllocator {
 public:
  static constexpr const char* allocator_name = "test::CountingAllocator";
  static constexpr bool is_fixed_capacity = true;  // the budget bounds every request

  explicit CountingAllocator(std::size_t budget = SIZE_MAX) : budget_(budget) {}
  CountingAllocator(const CountingAllocator&) = delete;
  CountingAllocator& operator=(const CountingAllocator&) = delete;
  ~CountingAllocator() {
    for (auto& [p, b] : live_) core::memory::MallocAllocator{}.deallocate(p, b.size, b.alignment);
  }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t alignment) {
    return core::memory::detail::allocate_or_throw(*this, size, alignment);
  }

  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t alignment) noexcept {
    ++attempts_;
    if (fail_at_ != 0 && attempts_ == fail_at_) return nullptr;
    if (size > budget_ - bytes_) return nullptr;
    void* p = core::memory::MallocAllocator{}.try_allocate(size, alignment);
    if (!p) return nullptr;
    live_[p] = {size, alignment};
    bytes_ += size;
    ++allocations_;
    return p;
  }

  void deallocate(void* p, std::size_t size, std::size_t alignment) noexcept {
    auto it = live_.find(p);
    if (it == live_.end() || it->second.size != size || it->second.alignment != alignment) {
      ++errors_;
      return;
    }
    bytes_ -= size;
    live_.erase(it);
    ++deallocations_;
    core::memory::MallocAllocator{}.deallocate(p, size, alignment);
  }

  [[nodiscard]] bool owns(const void* p) const noexcept { return live_.count(const_cast<void*>(p)) != 0; }
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t bytes_available() const noexcept { return budget_ - bytes_; }

  /// The k-th allocation attempt from now fails (k >= 1); 0 disables.
  void fail_nth(std::size_t k) noexcept {
    attempts_ = 0;
    fail_at_ = k;
  }
  [[nodiscard]] std::size_t live_blocks() const noexcept { return live_.size(); }
  [[nodiscard]] std::size_t allocations() const noexcept { return allocations_; }
  [[nodiscard]] std::size_t deallocations() const noexcept { return deallocations_; }
  /// Deallocations that did not match a live block exactly.
  [[nodiscard]] std::size_t errors() const noexcept { return errors_; }
  /// Alignment recorded for a live block (0 if unknown).
  [[nodiscard]] std::size_t alignment_of(const void* p) const {
    auto it = live_.find(const_cast<void*>(p));
    return it == live_.end() ? 0 : it->second.alignment;
  }

 private:
  struct Block {
    std::size_t size;
    std::size_t alignment;
  };
  std::map<void*, Block> live_;
  std::size_t budget_;
  std::size_t bytes_ = 0;
  std::size_t attempts_ = 0;
  std::size_t fail_at_ = 0;
  std::size_t allocations_ = 0;
  std::size_t deallocations_ = 0;
  std::size_t errors_ = 0;
};

/// A RawAllocator whose blocks are pages of one reservation with an inaccessible gap after each,
/// and whose freed blocks become inaccessible too: the layout malloc gives a pool's slabs when it
/// maps large ones apart (or from other threads' arenas) and unmaps them when they come back.
class GappedPages {
 public:
  static constexpr const char* allocator_name = "test::GappedPages";
  static constexpr std::size_t capacity = std::size_t{64} << 20;

  GappedPages() {
    raw_ = ::mmap(nullptr, 2 * capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw_ == MAP_FAILED) std::abort();
    base_ = (reinterpret_cast<std::uintptr_t>(raw_) + capacity - 1) / capacity * capacity;
  }
  GappedPages(const GappedPages&) = delete;
  GappedPages& operator=(const GappedPages&) = delete;
  ~GappedPages() { ::munmap(raw_, 2 * capacity); }

  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    const std::size_t step = (std::max(size, align) + 4095) / 4096 * 4096;  // whole pages
    std::uintptr_t at = (next_ + step - 1) / step * step;
    if (at + 2 * step > capacity) return nullptr;
    next_ = at + 2 * step;  // the next block leaves a gap of `step` bytes
    if (first_ == 0) first_ = step;
    auto* p = reinterpret_cast<void*>(base_ + at);
    if (::mprotect(p, size, PROT_READ | PROT_WRITE) != 0) return nullptr;
    ++live_;
    return p;
  }
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) {
    void* p = try_allocate(size, align);
    if (!p) std::abort();
    return p;
  }
  void deallocate(void* p, std::size_t size, std::size_t) noexcept {
    const std::size_t bytes = (size + 4095) / 4096 * 4096;
    (void)::mprotect(p, bytes, PROT_NONE);
    (void)::madvise(p, bytes, MADV_DONTNEED);
    --live_;
  }
  /// Blocks handed out and not given back.
  [[nodiscard]] std::size_t live() const noexcept { return live_; }
  /// An address in the gap after the first block.
  [[nodiscard]] void* gap_after_first() const noexcept { return reinterpret_cast<void*>(base_ + first_ + 64); }

 private:
  void* raw_;
  std::uintptr_t base_;
  std::uintptr_t next_ = 0;
  std::size_t first_ = 0;
  std::size_t live_ = 0;
};

/// GappedPages as a stateless allocator (one reservation for the process), for allocators that
/// take their upstream by type (SlabAllocator).
struct SharedGappedPages {
  static constexpr const char* allocator_name = "test::SharedGappedPages";
  static GappedPages& pages() {
    static GappedPages p;
    return p;
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept { return pages().try_allocate(size, align); }
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) { return pages().allocate(size, align); }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept { pages().deallocate(p, size, align); }
};

}  // namespace test
