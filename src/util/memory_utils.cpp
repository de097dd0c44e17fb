#include <core/memory/util/memory_utils.hpp>

#include <cstdint>

namespace core::memory {

const unsigned char* find_mismatch(const void* p, std::size_t n, unsigned char expected) noexcept {
  const auto* c = static_cast<const unsigned char*>(p);
  const auto* end = c + n;
  // Compare a word at a time once aligned; fall back to bytes to locate the mismatch.
  const std::uint64_t word = 0x0101010101010101ull * expected;
  while (c != end && (reinterpret_cast<std::uintptr_t>(c) & 7u) != 0) {
    if (*c != expected) return c;
    ++c;
  }
  for (; end - c >= 8; c += 8) {
    std::uint64_t w;
    std::memcpy(&w, c, 8);
    if (w != word) break;
  }
  for (; c != end; ++c)
    if (*c != expected) return c;
  return nullptr;
}

}  // namespace core::memory
