#pragma once
// Allocators for tests: a stateful one that records and verifies every block and can be made to
// fail, and minimal ones for trait detection.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>

#include <cstddef>
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

}  // namespace test
