#pragma once
/// The containers keep every pointer they store as their allocator's `pointer` type (an
/// offset_ptr<T> for shared memory, where the same bytes are mapped at different addresses in
/// different processes) and work on the elements through raw T* (std::to_address). With
/// `pointer = T*` both conversions are the identity: the code is what it was with T* members.

#include <core/memory/container/detail/std_core.hpp>

namespace core::memory::detail {

/// A pointer of type `P` (the allocator's pointer) to what `p` points to, null if `p` is null.
template <class P, class T>
[[gnu::always_inline]] inline P pointer_from(T* p) noexcept {
  if constexpr (std::is_same_v<P, T*>) {
    return p;
  } else {
    return p == nullptr ? P(nullptr) : std::pointer_traits<P>::pointer_to(*p);
  }
}

/// Whether a container annotates its memory for AddressSanitizer (unused capacity, free slots):
/// only when its allocator's pointer is a raw pointer. With a fancy pointer the memory may be
/// shared with other processes, whose shadow memory would not follow the changes made in this
/// one: an element another process added would be reported as a container overflow.
template <class P>
inline constexpr bool sanitizer_annotations = std::is_pointer_v<P>;

}  // namespace core::memory::detail
