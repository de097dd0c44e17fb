#pragma once
/// Poisoning of free slots in arrays of elements of any size, as finely as AddressSanitizer allows.
/// ASan records, per 8-byte granule, how long an addressable prefix it has: the free bytes at a
/// granule's end can be poisoned, free bytes followed by live ones in the same granule cannot.

#include <core/memory/container/detail/std_core.hpp>
#include <core/memory/util/sanitizer.hpp>

namespace core::memory::detail {

/// Slot `i` of the array `first` was just freed, and the `free_before` slots right before it are
/// free too. Poisons it together with those of them that share its first granule (they could not
/// be poisoned while it was live after them). ASan's poisoning never reaches past the slot's last
/// byte into a granule whose rest is addressable, so live elements and a neighbour sharing the
/// array's first or last granule (a buffer carved from an arena or pool) stay addressable.
template <class T>
inline void poison_freed_slot(T* first, std::size_t i, std::size_t free_before) noexcept {
  if constexpr (asan_enabled) {
    // Slots that can share the first granule of slot i (none if slots are whole granules).
    constexpr std::size_t reach = sizeof(T) % 8 == 0 && alignof(T) % 8 == 0 ? 0 : (sizeof(T) + 6) / sizeof(T);
    const std::size_t back = std::min(std::min(free_before, i), reach);
    poison_memory(first + (i - back), (back + 1) * sizeof(T));
  } else {
    (void)first, (void)i, (void)free_before;
  }
}

}  // namespace core::memory::detail
