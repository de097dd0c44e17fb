#pragma once
/// Prefetch hints: ask the CPU to start loading a line before it is needed. Hints only: they never
/// fault, not even on an invalid address, and compile to nothing where unsupported.

#include <core/memory/util/cache_line.hpp>

#include <cstddef>
#include <cstdint>

namespace core::memory {

/// How long the prefetched line should stay in cache.
enum class locality : int {
  none = 0,      ///< Streaming: used once, do not pollute the caches (non-temporal).
  low = 1,       ///< Keep in the outer cache levels only.
  moderate = 2,  ///< Keep in L2 and beyond.
  high = 3,      ///< Keep in all levels: reused soon.
};

/// Prefetches the line holding `p` for reading.
template <locality L = locality::high>
inline void prefetch_read(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, static_cast<int>(L));
#else
  (void)p;
#endif
}

/// Prefetches the line holding `p` for writing (requests it in exclusive state).
template <locality L = locality::high>
inline void prefetch_write(const void* p) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1, static_cast<int>(L));
#else
  (void)p;
#endif
}

/// Prefetches every line of [p, p + bytes) for reading.
template <locality L = locality::high>
inline void prefetch_range(const void* p, std::size_t bytes) noexcept {
  if (bytes == 0) return;
  const auto first = reinterpret_cast<std::uintptr_t>(p) & ~(cache_line_size - 1);
  const auto last = reinterpret_cast<std::uintptr_t>(p) + bytes - 1;
  for (auto line = first; line <= last; line += cache_line_size) prefetch_read<L>(reinterpret_cast<const void*>(line));
}

}  // namespace core::memory
