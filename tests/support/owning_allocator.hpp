#pragma once
// Allocators that know which blocks they own, for allocator-propagation tests: a Heap records its
// live blocks and fails the test loudly when asked to free a block it does not own (the symptom
// of a container freeing memory through the wrong allocator); OwningAllocator is a std-style
// allocator over one Heap whose propagation traits are template parameters.

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <memory>
#include <memory_resource>
#include <type_traits>

namespace test {

/// A heap with an identity: records every live block and reports foreign and mismatched frees.
class Heap {
 public:
  explicit Heap(const char* name) : name_(name) {}
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;
  ~Heap() {
    EXPECT_TRUE(live_.empty()) << name_ << ": " << live_.size() << " blocks leaked";
    for (auto& entry : live_) ::operator delete(const_cast<void*>(entry.first));
  }

  void* allocate(std::size_t bytes) {
    void* p = ::operator new(bytes == 0 ? 1 : bytes);
    live_[p] = bytes;
    return p;
  }
  void deallocate(void* p, std::size_t bytes) {
    auto it = live_.find(p);
    if (it == live_.end()) {
      ADD_FAILURE() << name_ << ": freed a block it does not own (" << p << ", " << bytes << " bytes)";
      return;  // leak it rather than corrupt whichever heap owns it
    }
    EXPECT_EQ(it->second, bytes) << name_ << ": block freed with the wrong size";
    ::operator delete(p);
    live_.erase(it);
  }
  [[nodiscard]] bool owns(const void* p) const {
    auto it = live_.upper_bound(p);
    if (it == live_.begin()) return false;
    --it;
    return static_cast<const char*>(p) < static_cast<const char*>(it->first) + (it->second ? it->second : 1);
  }
  [[nodiscard]] std::size_t live_blocks() const { return live_.size(); }
  [[nodiscard]] const char* name() const { return name_; }

 private:
  const char* name_;
  std::map<const void*, std::size_t, std::less<>> live_;
};

/// RawAllocator over one Heap (for core::memory::StdAllocator, which holds it by reference).
class HeapRaw {
 public:
  explicit HeapRaw(Heap& heap) noexcept : heap_(&heap) {}
  HeapRaw(const HeapRaw&) = delete;
  HeapRaw& operator=(const HeapRaw&) = delete;
  [[nodiscard]] void* allocate(std::size_t size, std::size_t) { return heap_->allocate(size); }
  void deallocate(void* p, std::size_t size, std::size_t) noexcept { heap_->deallocate(p, size); }

 private:
  Heap* heap_;
};

/// std::pmr resource over a Heap (for polymorphic_allocator, which never propagates).
class HeapResource : public std::pmr::memory_resource {
 public:
  explicit HeapResource(const char* name) : heap(name), raw(heap) {}
  Heap heap;
  HeapRaw raw;

 private:
  void* do_allocate(std::size_t bytes, std::size_t) override { return heap.allocate(bytes); }
  void do_deallocate(void* p, std::size_t bytes, std::size_t) noexcept override { heap.deallocate(p, bytes); }
  bool do_is_equal(const std::pmr::memory_resource& o) const noexcept override { return this == &o; }
};

/// Std-style stateful allocator over one Heap; equal when over the same Heap. POCCA, POCMA and
/// POCS set propagate_on_container_copy_assignment / _move_assignment / _swap.
template <class T, bool POCCA, bool POCMA, bool POCS>
class OwningAllocator {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::bool_constant<POCCA>;
  using propagate_on_container_move_assignment = std::bool_constant<POCMA>;
  using propagate_on_container_swap = std::bool_constant<POCS>;
  using is_always_equal = std::false_type;
  template <class U>
  struct rebind {
    using other = OwningAllocator<U, POCCA, POCMA, POCS>;
  };

  explicit OwningAllocator(Heap& heap) noexcept : heap_(&heap) {}
  template <class U>
  OwningAllocator(const OwningAllocator<U, POCCA, POCMA, POCS>& o) noexcept : heap_(&o.heap()) {}

  T* allocate(std::size_t n) { return static_cast<T*>(heap_->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { heap_->deallocate(p, n * sizeof(T)); }

  [[nodiscard]] Heap& heap() const noexcept { return *heap_; }
  template <class U>
  friend bool operator==(const OwningAllocator& a, const OwningAllocator<U, POCCA, POCMA, POCS>& b) noexcept {
    return &a.heap() == &b.heap();
  }

 private:
  Heap* heap_;
};

}  // namespace test
