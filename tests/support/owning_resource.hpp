#pragma once
// Memory that knows its owner, for allocator tests (propagation, uses-allocator construction,
// failure safety): the one helper of the container tests for it.
// - OwningResource, a std::pmr::memory_resource that records the blocks it handed out, fails the
//   test loudly when asked to free one it does not own or with another size (a container freeing
//   through the wrong allocator), and when blocks are still live as it goes away (it frees them).
//   Its allocations are fault-injection events (support/fault_injection.hpp) when exceptions are on.
// - OwningRaw (its member `raw`), the same memory as a RawAllocator, for core::memory::StdAllocator.
// - OwningAllocator<T, POCCA, POCMA, POCS>, a std-style stateful allocator over one OwningResource
//   with each propagate_on_container_* chosen; it counts its copies (to see that a move
//   constructor moves it) and its swaps (to see that a container swaps it through its own swap).
//   PropagatingAllocator<T>: all three true.

#include <core/memory/system/offset_ptr.hpp>
#include <core/memory/util/config.hpp>

#include "support/fault_injection.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <memory_resource>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace core::memory::test {

class OwningResource;

/// RawAllocator over an OwningResource (StdAllocator holds it by reference).
class OwningRaw {
 public:
  explicit OwningRaw(OwningResource& r) noexcept : resource_(&r) {}
  OwningRaw(const OwningRaw&) = delete;
  OwningRaw& operator=(const OwningRaw&) = delete;
  [[nodiscard]] void* allocate(std::size_t size, std::size_t alignment);
  void deallocate(void* p, std::size_t size, std::size_t alignment) noexcept;

 private:
  OwningResource* resource_;
};

class OwningResource : public std::pmr::memory_resource {
 public:
  explicit OwningResource(std::string name = "owning resource") : raw(*this), name_(std::move(name)) {}
  OwningResource(const OwningResource&) = delete;
  OwningResource& operator=(const OwningResource&) = delete;
  ~OwningResource() override {
    EXPECT_TRUE(live_.empty()) << name_ << ": " << live_.size() << " blocks leaked";
    for (const auto& [p, b] : live_) ::operator delete(p, std::align_val_t{b.alignment});
  }

  /// True if `p` lies inside a live block of this resource.
  [[nodiscard]] bool holds(const void* p) const {
    auto it = live_.upper_bound(const_cast<void*>(p));
    if (it == live_.begin()) return false;
    --it;
    return static_cast<const char*>(p) < static_cast<const char*>(it->first) + (it->second.size ? it->second.size : 1);
  }
  /// True if `p` is the start of a live block of this resource.
  [[nodiscard]] bool owns(const void* p) const { return live_.count(const_cast<void*>(p)) != 0; }
  [[nodiscard]] std::size_t allocations() const noexcept { return allocations_; }
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t live_blocks() const noexcept { return live_.size(); }
  [[nodiscard]] std::size_t foreign_frees() const noexcept { return foreign_frees_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  OwningRaw raw;  ///< This resource as a RawAllocator.

 private:
  struct block {
    std::size_t size, alignment;
  };
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
#if CORE_MEMORY_EXCEPTIONS
    if (g_countdown > 0 && --g_countdown == 0) throw std::bad_alloc();
#endif
    void* p = ::operator new(bytes == 0 ? 1 : bytes, std::align_val_t{alignment});
    live_[p] = {bytes, alignment};
    bytes_ += bytes;
    ++allocations_;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    auto it = live_.find(p);
    if (it == live_.end() || it->second.size != bytes) {
      ++foreign_frees_;
      ADD_FAILURE() << name_ << ": asked to free " << p << " (" << bytes << " bytes), which it does not own"
                    << (it == live_.end() ? "" : " with that size");
      return;  // not freed: freeing it here would corrupt whichever heap owns it
    }
    live_.erase(it);
    ::operator delete(p, std::align_val_t{alignment});
  }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }

  std::string name_;
  std::map<void*, block> live_;
  std::size_t allocations_ = 0, bytes_ = 0, foreign_frees_ = 0;
};

inline void* OwningRaw::allocate(std::size_t size, std::size_t alignment) {
  return resource_->allocate(size, alignment);
}
inline void OwningRaw::deallocate(void* p, std::size_t size, std::size_t alignment) noexcept {
  resource_->deallocate(p, size, alignment);
}

/// Std-style stateful allocator over one OwningResource; equal when over the same resource. With
/// `Offset`, its pointer is offset_ptr<T>: with no propagation, that is a shared-memory allocator.
template <class T, bool POCCA, bool POCMA, bool POCS, bool Offset = false>
struct OwningAllocator {
  using value_type = T;
  using pointer = std::conditional_t<Offset, offset_ptr<T>, T*>;
  using propagate_on_container_copy_assignment = std::bool_constant<POCCA>;
  using propagate_on_container_move_assignment = std::bool_constant<POCMA>;
  using propagate_on_container_swap = std::bool_constant<POCS>;
  using is_always_equal = std::false_type;
  template <class U>
  struct rebind {
    using other = OwningAllocator<U, POCCA, POCMA, POCS, Offset>;
  };
  static inline int copies = 0;
  static inline int swaps = 0;

  explicit OwningAllocator(OwningResource& r) noexcept : resource(&r) {}
  explicit OwningAllocator(OwningResource* r) noexcept : resource(r) {}
  OwningAllocator(const OwningAllocator& o) noexcept : resource(o.resource) { ++copies; }
  OwningAllocator(OwningAllocator&& o) noexcept : resource(o.resource) {}
  template <class U>
  OwningAllocator(const OwningAllocator<U, POCCA, POCMA, POCS, Offset>& o) noexcept : resource(o.resource) {}  // NOLINT
  OwningAllocator& operator=(const OwningAllocator&) = default;
  OwningAllocator& operator=(OwningAllocator&&) = default;
  ~OwningAllocator() = default;

  pointer allocate(std::size_t n) { return pointer(static_cast<T*>(resource->allocate(n * sizeof(T), alignof(T)))); }
  void deallocate(pointer p, std::size_t n) noexcept { resource->deallocate(std::to_address(p), n * sizeof(T), alignof(T)); }
  template <class U>
  friend bool operator==(const OwningAllocator& a, const OwningAllocator<U, POCCA, POCMA, POCS, Offset>& b) noexcept {
    return a.resource == b.resource;
  }
  friend void swap(OwningAllocator& a, OwningAllocator& b) noexcept {
    std::swap(a.resource, b.resource);
    ++swaps;
  }

  OwningResource* resource;
};

/// An OwningAllocator that travels with the elements: every propagate_on_container_* is true.
template <class T>
using PropagatingAllocator = OwningAllocator<T, true, true, true>;
/// What a shared-memory allocator is (SharedMemoryAllocator): offset_ptr, unequal, not propagating.
template <class T>
using OffsetOwningAllocator = OwningAllocator<T, false, false, false, true>;

}  // namespace core::memory::test
