#pragma once
// Fault injection for exception-safety tests: one countdown shared by an element type that throws
// on copy, move and assignment (Thrower) and an allocator that fails (FailingAllocator), so that
// "fail at the k-th event" for every k reaches every copy, move and allocation of an operation.

#include <core/memory/system/offset_ptr.hpp>
#include <core/memory/util/config.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

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

/// An element whose move cannot throw but empties its source (as std::string's does), and whose
/// copies are events: a container that moves it out of its source before a later step fails has
/// lost it (a failed bulk insert left a flat map of empty, out-of-order keys).
struct Mover {
  int v;
  explicit Mover(int x = 0) : v(x) {}
  Mover(const Mover& o) : v(o.v) { tick(); }
  Mover(Mover&& o) noexcept : v(std::exchange(o.v, -1)) {}
  Mover& operator=(const Mover& o) {
    tick();
    v = o.v;
    return *this;
  }
  Mover& operator=(Mover&& o) noexcept {
    v = std::exchange(o.v, -1);
    return *this;
  }
  friend bool operator<(const Mover& a, const Mover& b) noexcept { return a.v < b.v; }
};

/// std::allocator whose allocations are events: the failing one throws std::bad_alloc. With
/// `Offset`, its pointer is offset_ptr<T> (as a shared-memory allocator's), so the same tests run
/// the containers' fancy-pointer code.
template <class T, bool Offset = false>
struct FailingAllocator {
  using value_type = T;
  using pointer = std::conditional_t<Offset, offset_ptr<T>, T*>;
  template <class U>
  struct rebind {
    using other = FailingAllocator<U, Offset>;
  };
  FailingAllocator() = default;
  template <class U>
  FailingAllocator(const FailingAllocator<U, Offset>&) noexcept {}
  pointer allocate(std::size_t n) {
    if (g_countdown > 0 && --g_countdown == 0) throw std::bad_alloc();
    return pointer(std::allocator<T>().allocate(n));
  }
  void deallocate(pointer p, std::size_t n) noexcept { std::allocator<T>().deallocate(std::to_address(p), n); }
  friend bool operator==(FailingAllocator, FailingAllocator) noexcept { return true; }
};

/// Runs `op` on a fresh container from `make` with a failure at the k-th event, for every k until
/// the operation completes. After each failure `invariant` must hold (and, if `strong`, `snapshot`
/// must be unchanged); no Thrower may leak. C is the container type. With `invariant_on_success`
/// the invariant must also hold once the operation completed.
template <class C, class Make, class Op, class Snapshot, class Invariant>
void every_failure(const std::string& name, bool strong, Make make, Op op, Snapshot snapshot, Invariant invariant,
                   bool invariant_on_success = false) {
  bool completed = false;
  for (int k = 1; k < 400 && !completed; ++k) {
    const long live_before = Thrower::live;
    {
      C c = make();
      const auto before = snapshot(c);
      g_countdown = k;
      try {
        op(c);
        completed = true;
      } catch (const std::exception&) {  // injected: runtime_error or bad_alloc
        g_countdown = -1;
        if (strong) {
          EXPECT_EQ(snapshot(c), before) << name << ", failure " << k;
        }
        EXPECT_TRUE(invariant(c)) << name << ", failure " << k;
      }
      g_countdown = -1;
      if (completed && invariant_on_success) {
        EXPECT_TRUE(invariant(c)) << name << ", completed after " << k - 1 << " failures";
      }
    }
    EXPECT_EQ(Thrower::live, live_before) << "leak in " << name << ", failure " << k;
  }
  EXPECT_TRUE(completed) << name;
}

}  // namespace core::memory::test
#endif
