#pragma once
/// Overflow-checked size arithmetic. The checked_ functions throw std::bad_array_new_length on
/// overflow (without exceptions: the misuse handler gets error_kind::bad_array_length naming
/// `component` and the operands, then abort); the _overflows functions report it.

#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>

#include <cstddef>

namespace core::memory {

/// Stores a * b in `out`; returns true if it overflowed.
[[nodiscard]] constexpr bool mul_overflows(std::size_t a, std::size_t b, std::size_t& out) noexcept {
  return __builtin_mul_overflow(a, b, &out);
}

/// Stores a + b in `out`; returns true if it overflowed.
[[nodiscard]] constexpr bool add_overflows(std::size_t a, std::size_t b, std::size_t& out) noexcept {
  return __builtin_add_overflow(a, b, &out);
}

/// a * b, or throws std::bad_array_new_length.
[[nodiscard]] constexpr std::size_t checked_mul(std::size_t a, std::size_t b, const char* component = nullptr) {
  std::size_t r = 0;
  if (mul_overflows(a, b, r)) [[unlikely]]
    throw_bad_array_length(component, a, '*', b);
  return r;
}

/// a + b, or throws std::bad_array_new_length.
[[nodiscard]] constexpr std::size_t checked_add(std::size_t a, std::size_t b, const char* component = nullptr) {
  std::size_t r = 0;
  if (add_overflows(a, b, r)) [[unlikely]]
    throw_bad_array_length(component, a, '+', b);
  return r;
}

/// `n` rounded up to `alignment` (a power of two), or throws std::bad_array_new_length.
[[nodiscard]] constexpr std::size_t checked_align_up(std::size_t n, std::size_t alignment,
                                                     const char* component = nullptr) {
  return checked_add(n, alignment - 1, component) & ~(alignment - 1);
}

/// Bytes taken by `n` objects of type T, or throws std::bad_array_new_length.
template <class T>
[[nodiscard]] constexpr std::size_t array_bytes(std::size_t n, const char* component = nullptr) {
  return checked_mul(n, sizeof(T), component);
}

}  // namespace core::memory
