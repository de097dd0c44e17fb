#pragma once
/// Alignment math: power-of-two checks and rounding of sizes and pointers.
/// Every function taking an `alignment` requires it to be a power of two (is_valid_alignment).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace core::memory {

/// True if `x` is a power of two (0 is not). (Not std::has_single_bit: without -mpopcnt, g++
/// makes that a call to libgcc's __popcountdi2.)
[[nodiscard]] constexpr bool is_power_of_two(std::size_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

/// True if `alignment` can be requested from an allocator: a non-zero power of two.
[[nodiscard]] constexpr bool is_valid_alignment(std::size_t alignment) noexcept {
  return is_power_of_two(alignment);
}

/// True if `alignment` is a power of two no larger than `limit` (a power of two, at most 2^63), in
/// one compare: for fast paths that serve small alignments inline and send the rest, larger or
/// invalid (0 included), to a slow path that tells the two apart. With a constant `alignment` it
/// folds to nothing, or to the `alignment <= limit` the fast path needed anyway.
[[nodiscard]] constexpr bool is_valid_alignment_up_to(std::size_t alignment, std::size_t limit) noexcept {
  // A second set bit makes alignment & (alignment - 1) non-zero and below `limit`; negated, it is
  // at least 2^64 - limit >= limit. alignment - 1 wraps for 0.
  return ((alignment - 1) | (std::size_t{0} - (alignment & (alignment - 1)))) < limit;
}

/// Smallest power of two >= x (1 for 0). Precondition: the result fits in size_t.
[[nodiscard]] constexpr std::size_t next_power_of_two(std::size_t x) noexcept { return std::bit_ceil(x); }

/// floor(log2(x)) for x > 0.
[[nodiscard]] constexpr unsigned log2_floor(std::size_t x) noexcept {
  return static_cast<unsigned>(std::bit_width(x)) - 1u;
}

/// ceil(log2(x)) for x > 0.
[[nodiscard]] constexpr unsigned log2_ceil(std::size_t x) noexcept {
  return x <= 1 ? 0u : static_cast<unsigned>(std::bit_width(x - 1));
}

/// Rounds `n` up to a multiple of `alignment`. Wraps if the result does not fit: use
/// checked_align_up (size_math.hpp) for untrusted sizes.
[[nodiscard]] constexpr std::size_t align_up(std::size_t n, std::size_t alignment) noexcept {
  return (n + alignment - 1) & ~(alignment - 1);
}

/// Rounds `n` down to a multiple of `alignment`.
[[nodiscard]] constexpr std::size_t align_down(std::size_t n, std::size_t alignment) noexcept {
  return n & ~(alignment - 1);
}

/// True if `n` is a multiple of `alignment`.
[[nodiscard]] constexpr bool is_aligned(std::size_t n, std::size_t alignment) noexcept {
  return (n & (alignment - 1)) == 0;
}

/// True if `p` is aligned to `alignment`.
[[nodiscard]] inline bool is_aligned(const volatile void* p, std::size_t alignment) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

/// Bytes to add to `p` to reach the next multiple of `alignment` (0 if already aligned).
[[nodiscard]] inline std::size_t align_offset(const volatile void* p, std::size_t alignment) noexcept {
  return static_cast<std::size_t>(-reinterpret_cast<std::uintptr_t>(p)) & (alignment - 1);
}

/// `p` rounded up to `alignment`.
template <class T>
[[nodiscard]] inline T* align_up(T* p, std::size_t alignment) noexcept {
  auto* bytes = reinterpret_cast<std::byte*>(const_cast<std::remove_cv_t<T>*>(p));
  return reinterpret_cast<T*>(bytes + align_offset(p, alignment));
}

/// `p` rounded down to `alignment`.
template <class T>
[[nodiscard]] inline T* align_down(T* p, std::size_t alignment) noexcept {
  auto* bytes = reinterpret_cast<std::byte*>(const_cast<std::remove_cv_t<T>*>(p));
  return reinterpret_cast<T*>(bytes - (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)));
}

}  // namespace core::memory
