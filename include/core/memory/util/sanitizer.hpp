#pragma once
/// Every sanitizer hook the library uses, in one place. Under AddressSanitizer, memory an
/// allocator holds but has not handed out is poisoned, and containers annotate their unused
/// capacity, so a stray access is reported. Without sanitizers (or with
/// -DCORE_MEMORY_NO_SANITIZER_HOOKS) every hook is an empty inline function.
///
/// Valgrind: built with CORE_MEMORY_VALGRIND=1 (CMake option CORE_MEMORY_VALGRIND), the same
/// poisoning marks memory no-access for memcheck, and the allocators describe the blocks they hand
/// out with memcheck's client requests (the vg_* hooks below: one memcheck "memory pool" per
/// allocator or per arena block), so memcheck reports leaks, uses after free and overruns inside
/// them with the allocating call stack, as it does for malloc. Off, the hooks compile to nothing;
/// on but not under valgrind, each is a few no-op instructions.

#include <cstddef>
#include <cstdint>

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

/// A function whose memory accesses AddressSanitizer does not check: for the rare word that is
/// read or exchanged on purpose while another thread may be poisoning it.
#if defined(__GNUC__) || defined(__clang__)
#define CORE_MEMORY_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define CORE_MEMORY_NO_SANITIZE_ADDRESS
#endif

#if defined(CORE_MEMORY_VALGRIND) && CORE_MEMORY_VALGRIND && !defined(CORE_MEMORY_NO_SANITIZER_HOOKS)
#include <valgrind/memcheck.h>
#define CORE_MEMORY_VALGRIND_HOOKS 1

#else
#define CORE_MEMORY_VALGRIND_HOOKS 0
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

#if CORE_MEMORY_VALGRIND_HOOKS
namespace detail {
/// One memcheck client request, out of line and on integers: g++ 12 takes a pointer handed to
/// the request (inline asm, or a call through a pointer to const) as a read of memory that is
/// not yet initialised, which is the point of most hooks.
[[gnu::noinline]] inline void vg_request(unsigned request, std::uintptr_t a1, std::uintptr_t a2 = 0,
                                         std::uintptr_t a3 = 0, std::uintptr_t a4 = 0) noexcept {
  VALGRIND_DO_CLIENT_REQUEST_STMT(request, a1, a2, a3, a4, 0);
}
inline std::uintptr_t vg_address(const volatile void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }
}  // namespace detail
#endif

/// True when AddressSanitizer hooks are active in this translation unit.
inline constexpr bool asan_enabled = CORE_MEMORY_ASAN != 0;
/// True when ThreadSanitizer hooks are active in this translation unit.
inline constexpr bool tsan_enabled = CORE_MEMORY_TSAN != 0;
/// True when the valgrind (memcheck) hooks are compiled in.
inline constexpr bool valgrind_enabled = CORE_MEMORY_VALGRIND_HOOKS != 0;
/// True when poisoning does something (ASan or valgrind): walks that only exist to re-poison
/// memory are skipped otherwise.
inline constexpr bool poisoning_enabled = asan_enabled || valgrind_enabled;

/// While alive, memcheck reports none of the calling thread's accesses: for the rare word read or
/// written on purpose while it is marked no-access (under ASan: CORE_MEMORY_NO_SANITIZE_ADDRESS).
struct unchecked_memory_scope {
#if CORE_MEMORY_VALGRIND_HOOKS
  unchecked_memory_scope() noexcept { detail::vg_request(VG_USERREQ__CHANGE_ERR_DISABLEMENT, 1); }
  ~unchecked_memory_scope() { detail::vg_request(VG_USERREQ__CHANGE_ERR_DISABLEMENT, ~std::uintptr_t{0}); }
  unchecked_memory_scope(const unchecked_memory_scope&) = delete;
  unchecked_memory_scope& operator=(const unchecked_memory_scope&) = delete;
#endif
};

/// Marks [p, p + n) as not addressable: any access is reported by AddressSanitizer.
inline void poison_memory(const volatile void* p, std::size_t n) noexcept {
#if CORE_MEMORY_ASAN
  __asan_poison_memory_region(p, n);
#elif CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__MAKE_MEM_NOACCESS, detail::vg_address(p), n);
#else
  (void)p, (void)n;
#endif
}

/// Marks [p, p + n) as addressable again.
inline void unpoison_memory(const volatile void* p, std::size_t n) noexcept {
#if CORE_MEMORY_ASAN
  __asan_unpoison_memory_region(p, n);
#elif CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__MAKE_MEM_DEFINED, detail::vg_address(p), n);  // its links are defined
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
#elif CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__MAKE_MEM_NOACCESS, detail::vg_address(p), n);  // memcheck tracks bytes
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

// Valgrind memcheck: each allocator (or each arena block) is a memcheck "memory pool" at an
// address that identifies it; the blocks it hands out are tracked as malloc's are (leaks, uses
// after free, overruns) and all go with the pool. (Pools rather than MALLOCLIKE blocks: a pool's
// first block often starts where its malloc'd chunk does, and memcheck keys blocks by address.)
// The allocator makes the calls where it hands a block out (after its own unpoisoning) and where
// it takes one back (before its final poisoning).

/// A new pool at `pool` (whose blocks are not yet handed out).
inline void vg_pool_create(const void* pool) noexcept {
#if CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__CREATE_MEMPOOL, detail::vg_address(pool), 0, 0);
#else
  (void)pool;
#endif
}
/// The pool and every block still allocated in it are gone (its memory is no longer tracked).
inline void vg_pool_destroy(const void* pool) noexcept {
#if CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__DESTROY_MEMPOOL, detail::vg_address(pool));
#else
  (void)pool;
#endif
}
/// The allocator identifying a pool moved from `from` to `to`.
inline void vg_pool_move(const void* from, const void* to) noexcept {
#if CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__MOVE_MEMPOOL, detail::vg_address(from), detail::vg_address(to));
#else
  (void)from, (void)to;
#endif
}
/// [p, p + n) is handed out from `pool`: addressable, undefined, tracked as a block.
inline void vg_alloc(const void* pool, const void* p, std::size_t n) noexcept {
#if CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__MEMPOOL_ALLOC, detail::vg_address(pool), detail::vg_address(p), n);
#else
  (void)pool, (void)p, (void)n;
#endif
}
/// The block at `p` came back to `pool`: a later access is a use after free.
inline void vg_free(const void* pool, const void* p) noexcept {
#if CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__MEMPOOL_FREE, detail::vg_address(pool), detail::vg_address(p));
#else
  (void)pool, (void)p;
#endif
}
/// Every block of `pool` outside [p, p + n) came back (an arena rewinding).
inline void vg_trim(const void* pool, const void* p, std::size_t n) noexcept {
#if CORE_MEMORY_VALGRIND_HOOKS
  detail::vg_request(VG_USERREQ__MEMPOOL_TRIM, detail::vg_address(pool), detail::vg_address(p), n);
#else
  (void)pool, (void)p, (void)n;
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
