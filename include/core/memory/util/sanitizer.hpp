#pragma once
/// Every sanitizer hook the library uses, in one place. Under AddressSanitizer, memory an
/// allocator holds but has not handed out is poisoned, and containers annotate their unused
/// capacity, so a stray access is reported. Without sanitizers (or with
/// -DCORE_MEMORY_NO_SANITIZER_HOOKS) every hook is an empty inline function.

#include <cstddef>

#if !defined(CORE_MEMORY_NO_SANITIZER_HOOKS)
#if defined(__SANITIZE_ADDRESS__)
#define CORE_MEMORY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORE_MEMORY_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CORE_MEMORY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORE_MEMORY_TSAN 1
#endif
#endif
#endif

#ifndef CORE_MEMORY_ASAN
#define CORE_MEMORY_ASAN 0
#endif
#ifndef CORE_MEMORY_TSAN
#define CORE_MEMORY_TSAN 0
#endif

#if CORE_MEMORY_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if CORE_MEMORY_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace core::memory {

/// True when AddressSanitizer hooks are active in this translation unit.
inline constexpr bool asan_enabled = CORE_MEMORY_ASAN != 0;
/// True when ThreadSanitizer hooks are active in this translation unit.
inline constexpr bool tsan_enabled = CORE_MEMORY_TSAN != 0;

/// Marks [p, p + n) as not addressable: any access is reported by AddressSanitizer.
inline void poison_memory(const volatile void* p, std::size_t n) noexcept {
#if CORE_MEMORY_ASAN
  __asan_poison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}

/// Marks [p, p + n) as addressable again.
inline void unpoison_memory(const volatile void* p, std::size_t n) noexcept {
#if CORE_MEMORY_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}

/// Poisons only the whole 8-byte granules inside [p, p + n), so that neighbours sharing a granule
/// with the block stay addressable. For freeing small, densely packed blocks.
inline void poison_memory_inside(const volatile void* p, std::size_t n) noexcept {
#if CORE_MEMORY_ASAN
  const auto b = (reinterpret_cast<unsigned long>(p) + 7u) & ~7ul;
  const auto e = (reinterpret_cast<unsigned long>(p) + n) & ~7ul;
  if (e > b) __asan_poison_memory_region(reinterpret_cast<const volatile void*>(b), e - b);
#else
  (void)p, (void)n;
#endif
}

/// True if AddressSanitizer considers the byte at `p` poisoned (always false without ASan).
[[nodiscard]] inline bool is_poisoned(const volatile void* p) noexcept {
#if CORE_MEMORY_ASAN
  return __asan_address_is_poisoned(p) != 0;
#else
  (void)p;
  return false;
#endif
}

/// Tells AddressSanitizer that the contiguous container [begin, end) now uses [begin, new_mid)
/// where it used [begin, old_mid): accesses to [new_mid, end) are then reported. As the ASan
/// runtimes of g++ 12 and clang 14 require, it is skipped unless `begin` is 8-byte aligned; and
/// only whole 8-byte granules are ever poisoned (the container's last partial granule may be
/// shared with a neighbour, e.g. another buffer carved from the same arena, which must stay
/// addressable).
inline void annotate_contiguous_container(const void* begin, const void* end, const void* old_mid,
                                          const void* new_mid) noexcept {
#if CORE_MEMORY_ASAN
  const auto b = reinterpret_cast<unsigned long>(begin);
  const auto e = reinterpret_cast<unsigned long>(end) & ~7ul;
  if ((b & 7u) != 0 || e <= b) return;
  auto clamp = [e](const void* m) {
    const auto v = reinterpret_cast<unsigned long>(m);
    return reinterpret_cast<const void*>(v < e ? v : e);
  };
  __sanitizer_annotate_contiguous_container(begin, reinterpret_cast<const void*>(e), clamp(old_mid), clamp(new_mid));
#else
  (void)begin, (void)end, (void)old_mid, (void)new_mid;
#endif
}

/// Tells ThreadSanitizer of a happens-before edge it cannot see (e.g. through a tagged pointer):
/// call release on the publishing side and acquire on the consuming side with the same address.
inline void tsan_release(void* addr) noexcept {
#if CORE_MEMORY_TSAN
  __tsan_release(addr);
#else
  (void)addr;
#endif
}

/// See tsan_release.
inline void tsan_acquire(void* addr) noexcept {
#if CORE_MEMORY_TSAN
  __tsan_acquire(addr);
#else
  (void)addr;
#endif
}

}  // namespace core::memory
