#pragma once
/// Memory manipulation: zeroing the optimiser cannot remove (for secrets), fills, and pattern
/// checks used by the debug allocators to detect writes into free or fence memory.

#include <cstddef>
#include <cstring>

namespace core::memory {

/// Debug fill bytes, as the field uses them (recognisable in a debugger).
namespace fill_byte {
inline constexpr unsigned char allocated = 0xCD;  ///< Fresh memory handed out, never written.
inline constexpr unsigned char freed = 0xDD;      ///< Memory returned to an allocator.
inline constexpr unsigned char fence = 0xFD;      ///< Guard bytes around a block.
}  // namespace fill_byte

/// Zeroes [p, p + n) such that the stores survive even if the memory is never read again
/// (unlike memset before free, which compilers may delete).
inline void secure_zero(void* p, std::size_t n) noexcept {
  if (n == 0) return;
  std::memset(p, 0, n);
#if defined(__GNUC__) || defined(__clang__)
  // The asm claims to read all memory through p, so the memset above is observable.
  __asm__ __volatile__("" : : "r"(p) : "memory");
#else
  auto* volatile vp = static_cast<volatile unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) vp[i] = 0;
#endif
}

/// Fills [p, p + n) with `value`.
inline void fill(void* p, std::size_t n, unsigned char value) noexcept {
  if (n != 0) std::memset(p, value, n);
}

/// First byte in [p, p + n) that differs from `expected`, or nullptr if all match.
[[nodiscard]] const unsigned char* find_mismatch(const void* p, std::size_t n, unsigned char expected) noexcept;

/// True if every byte of [p, p + n) equals `expected`.
[[nodiscard]] inline bool check_pattern(const void* p, std::size_t n, unsigned char expected) noexcept {
  return find_mismatch(p, n, expected) == nullptr;
}

}  // namespace core::memory
