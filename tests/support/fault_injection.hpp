#pragma once
// Fault injection for exception-safety tests: one countdown shared by an element type that throws
// on copy, move and assignment (Thrower) and an allocator that fails (FailingAllocator), so that
// "fail at the k-th event" for every k reaches every copy, move and allocation of an operation.

#include <core/memory/util/config.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>

#if CORE_MEMORY_EXCEPTIONS  // nothing to inject without exceptions
namespace core::memory::test {

inline int g_countdown = -1;  // the event that brings it to 0 throws; -1: never

/// One event: throws std::runtime_error when the countdown reaches 0.
inline void tick() {
  if (g_countdown > 0 && --g_countdown == 0) throw std::runtime_error("injected");
}

/// An element whose copies, moves and assignments are events; counts live instances.
struct Thrower {
  static inline long live = 0;
  int v;
  explicit Thrower(int x = 0) : v(x) { ++live; }
  Thrower(const Thrower& o) : v(o.v) { tick(), ++live; }
  Thrower(Thrower&& o) : v(o.v) { tick(), ++live; }  // not noexcept: containers must copy to stay strong
  Thrower& operator=(const Thrower& o) { return tick(), v = o.v, *this; }
  Thrower& operator=(Thrower&& o) { return tick(), v = o.v, *this; }
  ~Thrower() { --live; }
};

/// std::allocator whose allocations are events: the failing one throws std::bad_alloc.
template <class T>
struct FailingAllocator {
  using value_type = T;
  FailingAllocator() = default;
  template <class U>
  FailingAllocator(const FailingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (g_countdown > 0 && --g_countdown == 0) throw std::bad_alloc();
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  friend bool operator==(FailingAllocator, FailingAllocator) noexcept { return true; }
};

}  // namespace core::memory::test
#endif
