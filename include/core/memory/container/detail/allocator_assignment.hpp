#pragma once
/// Copy and move assignment of the containers that exchange their contents whole (CircularBuffer,
/// StableVector), with allocators as in std containers: the source's allocator is taken along if
/// it propagates (propagate_on_container_copy/move_assignment); equal allocators let a move take
/// the source's memory; otherwise the elements are copied or moved into memory of the target's
/// own allocator. The new contents are built aside first, so a copy assignment is strong.
///
/// A container C befriends allocator_assignment and has: alloc_, the constructors (const C&,
/// const Alloc&) and (C&&, const Alloc&), a non-throwing move constructor that takes the memory,
/// and swap_contents<with_allocators>(C&), non-throwing.

#include <core/memory/container/detail/std_core.hpp>

namespace core::memory::detail {

struct allocator_assignment {
  template <class C>
  static void copy(C& self, const C& o) {
    if (&self == &o) return;
    constexpr bool propagate = std::allocator_traits<decltype(self.alloc_)>::propagate_on_container_copy_assignment::value;
    C copy(o, propagate ? o.alloc_ : self.alloc_);
    self.template swap_contents<propagate>(copy);
  }

  /// `o` is left empty.
  template <class C>
  static void move(C& self, C& o) {
    if (&self == &o) return;
    constexpr bool propagate = std::allocator_traits<decltype(self.alloc_)>::propagate_on_container_move_assignment::value;
    if (propagate || self.alloc_ == o.alloc_) {
      C taken(std::move(o));
      self.template swap_contents<propagate>(taken);
    } else {
      C moved(std::move(o), self.alloc_);
      self.template swap_contents<false>(moved);
      o.clear();
    }
  }
};

}  // namespace core::memory::detail
