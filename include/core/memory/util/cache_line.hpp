#pragma once
/// Cache-line constants and a padded wrapper that keeps a value alone on its lines, so threads
/// writing neighbouring values do not slow each other down (false sharing).

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace core::memory {

/// Size of one data cache line on the target.
#if defined(__aarch64__) && defined(__APPLE__)
inline constexpr std::size_t cache_line_size = 128;
#else
inline constexpr std::size_t cache_line_size = 64;
#endif

/// Distance that keeps two objects from sharing a line: x86-64's adjacent-line prefetcher pulls
/// lines in pairs, so contended data is padded to two lines there (as folly does).
#if defined(__x86_64__) || defined(_M_X64) || defined(__aarch64__)
inline constexpr std::size_t false_sharing_range = 128;
#else
inline constexpr std::size_t false_sharing_range = cache_line_size;
#endif

/// Level-1 data cache line size reported by the running machine, or cache_line_size if unknown.
[[nodiscard]] std::size_t runtime_cache_line_size() noexcept;

/// True if `a` and `b` lie on the same cache line.
[[nodiscard]] inline bool same_cache_line(const volatile void* a, const volatile void* b) noexcept {
  return reinterpret_cast<std::uintptr_t>(a) / cache_line_size ==
         reinterpret_cast<std::uintptr_t>(b) / cache_line_size;
}

/// A T aligned to and padded up to false_sharing_range bytes. Use for per-thread counters and the
/// head/tail indices of concurrent queues.
template <class T>
struct alignas(false_sharing_range) CachePadded {
  T value{};

  CachePadded() = default;
  template <class... Args>
    requires std::is_constructible_v<T, Args...>
  explicit(sizeof...(Args) == 1) constexpr CachePadded(Args&&... args) : value(std::forward<Args>(args)...) {}

  constexpr T& get() noexcept { return value; }
  constexpr const T& get() const noexcept { return value; }
  constexpr T& operator*() noexcept { return value; }
  constexpr const T& operator*() const noexcept { return value; }
  constexpr T* operator->() noexcept { return &value; }
  constexpr const T* operator->() const noexcept { return &value; }
};

static_assert(sizeof(CachePadded<char>) == false_sharing_range);
static_assert(alignof(CachePadded<char>) == false_sharing_range);

}  // namespace core::memory
