// libcore_memory_malloc: core-memory as the process allocator. malloc, free and the rest of the
// C interface, and every form of operator new and delete, on one GeneralAllocator (its size
// classes on the per-thread concurrent engine, large blocks mapped for themselves). Use it with
// LD_PRELOAD=libcore_memory_malloc.so or by linking to core::memory_malloc.
//
// Environment, read once at the first allocation:
//   CORE_MEMORY_MALLOC_CHECK=1  hardened checks on every free: double frees, foreign and interior
//                               pointers and wrong sizes (sized delete) are reported in the
//                               library's misuse format (with the address), then the program
//                               aborts.
//   CORE_MEMORY_MALLOC_STATS=1  statistics printed to stderr at exit: blocks and bytes held, and
//                               the slabs of each size class.
//
// C semantics as glibc's: null and errno ENOMEM on failure; calloc and reallocarray overflow
// give null and ENOMEM; realloc(NULL, n) is malloc(n) and realloc(p, 0) frees p and returns
// null; posix_memalign returns EINVAL for an alignment that is not a power of two multiple of
// sizeof(void*); aligned_alloc and memalign take any alignment and round one that is not a
// power of two up to the next (glibc 2.36's aligned_alloc is memalign; 2.38 refuses them with
// EINVAL: taking them never breaks a program that works with either); free(NULL) does nothing,
// and free never changes errno (glibc since 2.33, POSIX.1-2024).

#include <core/memory/pool/general_allocator.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <unistd.h>

namespace cm = core::memory;

namespace {

using Fast = cm::BasicGeneralAllocator<false>;
using Checked = cm::BasicGeneralAllocator<true>;

alignas(Fast) unsigned char fast_storage[sizeof(Fast)];
alignas(Checked) unsigned char checked_storage[sizeof(Checked)];
Fast* fast = nullptr;
Checked* checked = nullptr;
/// `fast` once it is set up (null until then, and in checked mode): the one load malloc's and
/// free's fast paths test.
std::atomic<Fast*> fast_ready{nullptr};

// 0: not yet, 1: being set up, 2: ready.
std::atomic<int> state{0};
constinit thread_local bool initialising = false;
bool print_stats = false;

/// Memory for the calls the set-up itself makes (none today; a guard against the C library's),
/// carved from a static buffer and never freed. Each block carries its size before it.
alignas(64) unsigned char bootstrap[256 * 1024];
std::atomic<std::size_t> bootstrap_top{0};

bool in_bootstrap(const void* p) noexcept {
  const auto* b = static_cast<const unsigned char*>(p);
  return b >= bootstrap && b < bootstrap + sizeof bootstrap;
}

[[gnu::noinline]] void* bootstrap_allocate(std::size_t size, std::size_t align) noexcept {
  if (align < 16) align = 16;
  for (;;) {
    std::size_t top = bootstrap_top.load(std::memory_order_relaxed);
    const std::size_t start = (top + 16 + align - 1) & ~(align - 1);
    if (start > sizeof bootstrap || size > sizeof bootstrap - start) return nullptr;
    // relaxed: the buffer is static; each caller only needs a distinct range.
    if (bootstrap_top.compare_exchange_weak(top, start + size, std::memory_order_relaxed)) {
      std::memcpy(bootstrap + start - sizeof(std::size_t), &size, sizeof size);
      return bootstrap + start;
    }
  }
}
std::size_t bootstrap_size(const void* p) noexcept {
  std::size_t n = 0;
  std::memcpy(&n, static_cast<const unsigned char*>(p) - sizeof n, sizeof n);
  return n;
}

void write_line(const char* line, int n) noexcept {
  if (n > 0) (void)!::write(2, line, std::strlen(line));  // (snprintf truncates a long line)
}

/// Totals, then one line per size class that holds slabs.
template <class Allocator>
void report_statistics(const Allocator& a, const char* mode) noexcept {
  char line[256];
  write_line(line, std::snprintf(line, sizeof line,
                                 "core-memory malloc%s: %zu small blocks live in %zu bytes of slabs, %zu large blocks "
                                 "(%zu bytes), %zu thread caches\n",
                                 mode, a.small_blocks(), a.slab_bytes(), a.large_blocks(), a.large_bytes(), a.thread_caches()));
  for (std::size_t c = 0; c < Allocator::class_count; ++c) {
    const auto s = a.statistics_of_class(c);
    if (s.slabs == 0) continue;
    write_line(line, std::snprintf(line, sizeof line,
                                   "  class %5zu bytes: %6zu slabs of %7zu bytes (%zu spare), %zu blocks in thread caches\n",
                                   s.block_size, s.slabs, s.slab_size, s.spare_slabs, s.cached_blocks));
  }
}

[[gnu::destructor]] void at_unload() {
  if (print_stats && fast) report_statistics(*fast, "");
  if (print_stats && checked) report_statistics(*checked, " (checked)");
}

/// Sets the allocator up on the first call (any thread); false if the calling thread is the one
/// setting it up (a re-entrant call: the caller uses the bootstrap buffer).
[[gnu::noinline]] bool initialise() noexcept {
  int expected = 0;
  if (state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
    initialising = true;
    const char* check = std::getenv("CORE_MEMORY_MALLOC_CHECK");
    const char* stats = std::getenv("CORE_MEMORY_MALLOC_STATS");
    print_stats = stats && *stats && *stats != '0';
    if (check && *check && *check != '0') checked = ::new (checked_storage) Checked;
    else fast = ::new (fast_storage) Fast;
    // Warm up on this thread: the registry's one-time set-up (pthread key, fork hooks) runs
    // now, while re-entrant calls are recognised.
    if (fast) fast->deallocate(fast->try_allocate(16));
    if (checked) checked->deallocate(checked->try_allocate(16));
    initialising = false;
    // release: other threads that see 2 (or fast_ready) see the constructed allocator.
    state.store(2, std::memory_order_release);
    fast_ready.store(fast, std::memory_order_release);
    return true;
  }
  if (initialising) return false;
  while (state.load(std::memory_order_acquire) != 2) cm::cpu_pause();
  return true;
}

inline bool ready() noexcept {
  // acquire: pairs with initialise's release.
  return state.load(std::memory_order_acquire) == 2 || initialise();
}

// Everything but the fast allocator's common path is kept out of line, so that path saves no
// registers: malloc and free stay leaf functions of a few dozen instructions. The fast paths
// below are forced inline: when g++ stopped inlining them (the engine's take grew), malloc
// called them and kept a frame, and a malloc/free pair went from 3.2 to 5.9 ns
// (tests/process/leaf_fast_paths.sh checks the exported functions).
[[gnu::noinline]] void* allocate_slow(std::size_t size, std::size_t align) noexcept {
  if (!ready()) return bootstrap_allocate(size, align);
  void* p = fast ? fast->try_allocate(size, align) : checked->try_allocate(size, align);
  if (!p) errno = ENOMEM;
  return p;
}

/// The fast path of malloc and operator new: a block of the calling thread's cache, or null
/// (set-up not done, checked mode, or an empty cache).
CORE_MEMORY_ALWAYS_INLINE void* cached_block(std::size_t size) noexcept {
  // acquire: pairs with initialise's release (a plain load on x86).
  Fast* f = fast_ready.load(std::memory_order_acquire);
  return f ? f->try_allocate_cached(size) : nullptr;
}

/// The same for any alignment (aligned_alloc, posix_memalign, aligned new): a block of the class
/// that serves it, or null (also for an alignment no class serves).
CORE_MEMORY_ALWAYS_INLINE void* cached_block(std::size_t size, std::size_t align) noexcept {
  Fast* f = fast_ready.load(std::memory_order_acquire);  // acquire: as above
  return f ? f->try_allocate_cached(size, align) : nullptr;
}

CORE_MEMORY_ALWAYS_INLINE void* allocate(std::size_t size, std::size_t align) noexcept {
  if (void* p = align <= 16 ? cached_block(size) : cached_block(size, align)) [[likely]]
    return p;
  return allocate_slow(size, align);
}

[[gnu::noinline]] void deallocate_slow(void* p) noexcept {
  if (!p || in_bootstrap(p)) return;
  const int saved = errno;  // a failed munmap or metadata mmap, a refused probe: not the caller's
  if (fast) fast->deallocate(p);
  else if (checked) checked->deallocate(p);
  errno = saved;
}

/// The fast path of free and every operator delete: true if `p` went to the calling thread's
/// cache. Null and bootstrap blocks are outside the class ranges: the slow paths sort them out.
CORE_MEMORY_ALWAYS_INLINE bool cached_free(void* p) noexcept {
  Fast* f = fast_ready.load(std::memory_order_acquire);
  return f && f->try_deallocate_cached(p);
}

CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p) noexcept {
  if (!cached_free(p)) [[unlikely]]
    deallocate_slow(p);
}

[[gnu::noinline]] void deallocate_sized_slow(void* p, std::size_t size, std::size_t align) noexcept {
  if (!checked) return deallocate_slow(p);
  if (!p || in_bootstrap(p)) return;
  const int saved = errno;  // as deallocate_slow
  checked->deallocate(p, size, align);
  errno = saved;
}

/// Sized delete: free's fast path (the fast allocator does not check sizes); checked mode, on the
/// slow path, verifies that the size and alignment name the block's class.
CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
  if (!cached_free(p)) [[unlikely]]
    deallocate_sized_slow(p, size, align);
}

std::size_t usable(const void* p) noexcept {
  if (!p) return 0;
  if (in_bootstrap(p)) return bootstrap_size(p);
  return fast ? fast->usable_size(p) : checked ? checked->usable_size(p) : 0;
}

void* reallocate(void* p, std::size_t size) noexcept {
  if (!p) return allocate(size, alignof(std::max_align_t));
  if (size == 0) {
    deallocate(p);
    return nullptr;
  }
  if (in_bootstrap(p) || !ready()) {
    void* q = allocate(size, alignof(std::max_align_t));
    if (q) std::memcpy(q, p, size < usable(p) ? size : usable(p));
    if (q) deallocate(p);
    return q;
  }
  void* q = fast ? fast->try_reallocate(p, size) : checked->try_reallocate(p, size);
  if (!q) errno = ENOMEM;
  return q;
}

bool is_power_of_two(std::size_t a) noexcept { return a && !(a & (a - 1)); }

/// memalign: an alignment that is not a power of two rounds up to the next (0 and 1 are malloc's);
/// EINVAL beyond glibc's limit. Not the exported memalign, which a program may interpose.
void* allocate_rounding_up(std::size_t align, std::size_t size) noexcept {
  if (align > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  std::size_t a = 1;
  while (a < align) a <<= 1;
  return allocate(size, a);
}

[[noreturn]] void out_of_memory() {
#if CORE_MEMORY_EXCEPTIONS
  throw std::bad_alloc();
#else
  std::abort();
#endif
}

/// operator new's loop: retry after the new-handler, null when there is none.
void* new_block_or_null(std::size_t size, std::size_t align) {
  for (;;) {
    if (void* p = allocate(size, align)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) return nullptr;
    handler();
  }
}

[[gnu::noinline]] void* new_block(std::size_t size, std::size_t align) {
  void* p = new_block_or_null(size, align);
  if (!p) out_of_memory();
  return p;
}

/// The nothrow forms run the new-handler too; one that throws bad_alloc means null.
[[gnu::noinline]] void* new_block_nothrow(std::size_t size, std::size_t align) noexcept {
#if CORE_MEMORY_EXCEPTIONS
  try {
    return new_block_or_null(size, align);
  } catch (...) {
    return nullptr;
  }
#else
  return new_block_or_null(size, align);
#endif
}

/// operator new: malloc's fast path, then (tail-called) the loop over the new-handler. With the
/// loop inline, operator new saved four registers on every call and took 1 ns more than malloc.
CORE_MEMORY_ALWAYS_INLINE void* new_fast(std::size_t size) {
  if (void* p = cached_block(size)) [[likely]]
    return p;
  return new_block(size, alignof(std::max_align_t));
}
CORE_MEMORY_ALWAYS_INLINE void* new_fast_nothrow(std::size_t size) noexcept {
  if (void* p = cached_block(size)) [[likely]]
    return p;
  return new_block_nothrow(size, alignof(std::max_align_t));
}
CORE_MEMORY_ALWAYS_INLINE void* new_fast(std::size_t size, std::align_val_t align) {
  if (void* p = cached_block(size, static_cast<std::size_t>(align))) [[likely]]
    return p;
  return new_block(size, static_cast<std::size_t>(align));
}
CORE_MEMORY_ALWAYS_INLINE void* new_fast_nothrow(std::size_t size, std::align_val_t align) noexcept {
  if (void* p = cached_block(size, static_cast<std::size_t>(align))) [[likely]]
    return p;
  return new_block_nothrow(size, static_cast<std::size_t>(align));
}

}  // namespace

#define CM_EXPORT extern "C" __attribute__((visibility("default")))

CM_EXPORT void* malloc(std::size_t size) noexcept { return allocate(size, alignof(std::max_align_t)); }

CM_EXPORT void free(void* p) noexcept { deallocate(p); }

CM_EXPORT void* calloc(std::size_t n, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (!ready()) [[unlikely]] {
    void* p = bootstrap_allocate(bytes, alignof(std::max_align_t));
    if (p) std::memset(p, 0, bytes);
    return p;
  }
  void* p = fast ? fast->try_allocate_zeroed(bytes) : checked->try_allocate_zeroed(bytes);
  if (!p) [[unlikely]]
    errno = ENOMEM;
  return p;
}

CM_EXPORT void* realloc(void* p, std::size_t size) noexcept { return reallocate(p, size); }

CM_EXPORT void* reallocarray(void* p, std::size_t n, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return reallocate(p, bytes);
}

CM_EXPORT int posix_memalign(void** out, std::size_t align, std::size_t size) noexcept {
  if (!is_power_of_two(align) || align % sizeof(void*) != 0) return EINVAL;
  if (void* p = cached_block(size, align)) [[likely]] {
    *out = p;
    return 0;
  }
  const int saved = errno;  // (__errno_location is a call: not on the fast path)
  void* p = allocate_slow(size, align);
  errno = saved;  // posix_memalign reports through its result, not errno
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

CM_EXPORT void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  if (!is_power_of_two(align)) [[unlikely]]
    return allocate_rounding_up(align, size);  // as glibc 2.36 does (see the top)
  return allocate(size, align);
}

CM_EXPORT void* memalign(std::size_t align, std::size_t size) noexcept { return allocate_rounding_up(align, size); }

CM_EXPORT void* valloc(std::size_t size) noexcept { return allocate(size, static_cast<std::size_t>(::getpagesize())); }

CM_EXPORT void* pvalloc(std::size_t size) noexcept {
  const auto page = static_cast<std::size_t>(::getpagesize());
  std::size_t rounded = 0;
  if (__builtin_add_overflow(size, page - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded &= ~(page - 1);
  return allocate(rounded ? rounded : page, page);
}

CM_EXPORT std::size_t malloc_usable_size(void* p) noexcept { return usable(p); }
/// glibc's malloc_trim: gives back what is held for reuse (the calling thread's cached blocks,
/// empty slabs, kept large mappings). Returns 1: memory may have gone back. `pad` is not used.
CM_EXPORT int malloc_trim(std::size_t) noexcept {
  if (!ready()) return 0;
  if (fast) {
    fast->flush_thread_cache();
    fast->shrink_to_fit();
  }
  if (checked) {
    checked->flush_thread_cache();
    checked->shrink_to_fit();
  }
  return 1;
}

// --- C++ -------------------------------------------------------------------------------------

#define CM_NEW __attribute__((visibility("default")))

CM_NEW void* operator new(std::size_t n) { return new_fast(n); }
CM_NEW void* operator new[](std::size_t n) { return new_fast(n); }
CM_NEW void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return new_fast_nothrow(n); }
CM_NEW void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return new_fast_nothrow(n); }
CM_NEW void* operator new(std::size_t n, std::align_val_t a) { return new_fast(n, a); }
CM_NEW void* operator new[](std::size_t n, std::align_val_t a) { return new_fast(n, a); }
CM_NEW void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_fast_nothrow(n, a);
}
CM_NEW void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_fast_nothrow(n, a);
}

CM_NEW void operator delete(void* p) noexcept { deallocate(p); }
CM_NEW void operator delete[](void* p) noexcept { deallocate(p); }
CM_NEW void operator delete(void* p, const std::nothrow_t&) noexcept { deallocate(p); }
CM_NEW void operator delete[](void* p, const std::nothrow_t&) noexcept { deallocate(p); }
CM_NEW void operator delete(void* p, std::size_t n) noexcept { deallocate(p, n, alignof(std::max_align_t)); }
CM_NEW void operator delete[](void* p, std::size_t n) noexcept { deallocate(p, n, alignof(std::max_align_t)); }
CM_NEW void operator delete(void* p, std::align_val_t) noexcept { deallocate(p); }
CM_NEW void operator delete[](void* p, std::align_val_t) noexcept { deallocate(p); }
CM_NEW void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
CM_NEW void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
CM_NEW void operator delete(void* p, std::size_t n, std::align_val_t a) noexcept {
  deallocate(p, n, static_cast<std::size_t>(a));
}
CM_NEW void operator delete[](void* p, std::size_t n, std::align_val_t a) noexcept {
  deallocate(p, n, static_cast<std::size_t>(a));
}
