#pragma once
// Allocators for allocator-propagation tests: OwningResource, a std::pmr::memory_resource that
// records the blocks it handed out and fails the test loudly when asked to free one it does not
// own (a container freeing through the wrong allocator); PropagatingAllocator<T>, a stateful
// allocator over an OwningResource whose propagate_on_container_* are all true. Both count as
// fault-injection events (support/fault_injection.hpp) when exceptions are on.

#include <core/memory/util/config.hpp>

#include "support/fault_injection.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <memory_resource>
#include <new>
#include <string>

namespace core::memory::test {

class OwningResource : public std::pmr::memory_resource {
 public:
  explicit OwningResource(std::string name) : name_(std::move(name)) {}
  OwningResource(const OwningResource&) = delete;
  OwningResource& operator=(const OwningResource&) = delete;
  ~OwningResource() override { EXPECT_TRUE(live_.empty()) << name_ << ": " << live_.size() << " blocks leaked"; }

  /// True if `p` lies inside a block this resource handed out and that is still live.
  [[nodiscard]] bool holds(const void* p) const {
    auto it = live_.upper_bound(const_cast<void*>(p));
    if (it == live_.begin()) return false;
    --it;
    return static_cast<const char*>(p) < static_cast<const char*>(it->first) + it->second;
  }
  [[nodiscard]] std::size_t allocations() const noexcept { return allocations_; }
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t live_blocks() const noexcept { return live_.size(); }
  [[nodiscard]] std::size_t foreign_frees() const noexcept { return foreign_frees_; }
  const std::string& name() const noexcept { return name_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
#if CORE_MEMORY_EXCEPTIONS
    if (g_countdown > 0 && --g_countdown == 0) throw std::bad_alloc();
#endif
    void* p = ::operator new(bytes, std::align_val_t{alignment});
    live_[p] = bytes;
    bytes_ += bytes;
    ++allocations_;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    auto it = live_.find(p);
    if (it == live_.end() || it->second != bytes) {
      ++foreign_frees_;
      ADD_FAILURE() << name_ << ": asked to free " << p << " (" << bytes << " bytes), which it does not own";
      return;  // not freed: freeing it here would corrupt the heap
    }
    live_.erase(it);
    ::operator delete(p, std::align_val_t{alignment});
  }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }

  std::string name_;
  std::map<void*, std::size_t> live_;
  std::size_t allocations_ = 0, bytes_ = 0, foreign_frees_ = 0;
};

/// A stateful allocator over an OwningResource that travels with the elements: every
/// propagate_on_container_* is true.
template <class T>
struct PropagatingAllocator {
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  explicit PropagatingAllocator(OwningResource& r) noexcept : resource(&r) {}
  template <class U>
  PropagatingAllocator(const PropagatingAllocator<U>& o) noexcept : resource(o.resource) {}  // NOLINT
  T* allocate(std::size_t n) { return static_cast<T*>(resource->allocate(n * sizeof(T), alignof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { resource->deallocate(p, n * sizeof(T), alignof(T)); }
  template <class U>
  friend bool operator==(const PropagatingAllocator& a, const PropagatingAllocator<U>& b) noexcept {
    return a.resource == b.resource;
  }

  OwningResource* resource;
};

}  // namespace core::memory::test
