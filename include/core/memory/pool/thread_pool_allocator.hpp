#pragma once
/// ThreadPoolAllocator: thread-local pools as one thread-safe RawAllocator. Requests up to 2 KiB
/// are served by size class (SlabAllocator's classes, 16 B to 2 KiB) from a cache of the calling
/// thread, with no lock and no atomic instruction on the fast path; larger ones go to upstream.
/// Frees from any thread: a block freed by another thread than its owner's goes home through
/// the owner's remote-free list, in batches. A thread that exits hands its cache and its blocks
/// back; nothing leaks and later frees still find a home. Per-thread caching is bounded per
/// class. Several instances coexist, each with its own per-thread caches (it is not a global).
/// Same engine as ConcurrentPool (detail/thread_cached_pool.hpp), with fourteen classes.

#include <core/memory/allocator/slab_allocator.hpp>
#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/pool/detail/thread_cached_pool.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>

#include <array>
#include <cstddef>

namespace core::memory {

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicThreadPoolAllocator {
  using Classes = BasicSlabAllocator<MallocAllocator>;
  static constexpr std::size_t class_count = Classes::size_classes.size();

 public:
  static constexpr const char* allocator_name = "core::memory::ThreadPoolAllocator";
  /// owns() tells only the nodes: requests it cannot serve go to upstream, whose blocks it does not know.
  static constexpr bool owns_every_block = false;
  static constexpr bool is_thread_safe = true;

  /// Each thread caches at most `cache_bytes` per class (0: about 32 KiB, 16 to 512 blocks).
  explicit BasicThreadPoolAllocator(std::size_t cache_bytes = 0)
    requires allocator_traits<Upstream>::is_stateless
      : engine_(detail::allocator_ref<Upstream>(Upstream{}), specs(cache_bytes), allocator_name) {}
  /// As above, drawing slabs and large blocks from `upstream` (this allocator's calls to it are
  /// serialised unless it is thread-safe: an upstream that is not must serve one allocator only).
  explicit BasicThreadPoolAllocator(Upstream& upstream, std::size_t cache_bytes = 0)
      : engine_(detail::allocator_ref<Upstream>(upstream), specs(cache_bytes), allocator_name) {}

  BasicThreadPoolAllocator(const BasicThreadPoolAllocator&) = delete;
  BasicThreadPoolAllocator& operator=(const BasicThreadPoolAllocator&) = delete;

  class ThreadCache;

  /// Throws out_of_memory.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return allocate_in(engine_, size, align);
  }
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t size,
                                                             std::size_t align = alignof(std::max_align_t)) noexcept {
    return try_allocate_in(engine_, size, align);
  }
  /// Frees a block from any thread; `size` and `align` are those given to allocate. Hardened
  /// builds report a double free, a foreign or interior pointer, and a block freed with the size
  /// of another class; expensive builds also one freed with a size beyond the classes.
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t size,
                                            std::size_t align = alignof(std::max_align_t)) noexcept {
    deallocate_in(engine_, p, size, align);
  }
  /// Like allocate, and reports the whole size class as usable.
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return allocate_at_least_in(engine_, size, align);
  }

  /// The calling thread's cache, for the caller to hold: allocations and frees through it skip
  /// finding the thread's cache, about a fifth of what a pair costs (see ThreadCache).
  [[nodiscard]] ThreadCache thread_cache() noexcept { return ThreadCache(*this); }

  [[nodiscard]] std::size_t max_size() const noexcept { return allocator_traits<Upstream>::max_size(engine_.upstream()); }
  /// True if `p` is a block of one of the classes (live or free). O(classes log slabs), locks.
  [[nodiscard]] bool owns(const void* p) const noexcept {
    for (std::size_t c = 0; c < class_count; ++c)
      if (engine_.owns(p, c)) return true;
    return false;
  }

  /// Returns empty slabs upstream: now for this thread's cache and exited threads', at their next
  /// slow path for other running threads. Safe while other threads run.
  void shrink_to_fit() noexcept { engine_.shrink_to_fit(); }
  /// Hands this thread's cached blocks back (blocks of other threads go home).
  void flush_thread_cache() noexcept { engine_.flush_thread_cache(); }

  /// Blocks of the size classes allocated and not freed, over all threads (exact when no thread
  /// is mid-call; large blocks are not counted).
  [[nodiscard]] std::size_t blocks_allocated() const noexcept { return engine_.live_blocks(); }
  /// Bytes of slabs obtained from upstream.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return engine_.bytes_allocated(); }
  /// Threads' caches created so far.
  [[nodiscard]] std::size_t thread_caches() const noexcept { return engine_.heap_count(); }
  [[nodiscard]] Upstream& upstream() const noexcept { return engine_.upstream(); }

 private:
  static std::array<detail::size_class_spec, class_count> specs(std::size_t cache_bytes) noexcept {
    std::array<detail::size_class_spec, class_count> s{};
    for (std::size_t c = 0; c < class_count; ++c) {
      const std::size_t size = Classes::size_classes[c];
      const std::size_t limit = cache_bytes ? (cache_bytes / size < 2 ? 2 : cache_bytes / size) : 0;
      s[c] = {size, Classes::class_alignment(size), 8, limit};
    }
    return s;
  }

  using Engine = detail::ThreadCachedPool<Upstream, class_count>;
  friend class detail::FaceThreadCache<BasicThreadPoolAllocator>;

  // The allocation functions, from the calling thread's cache as the engine finds it, or as a
  // ThreadCache holds it (`source`: the engine, or an Engine::Local).
  template <class Source>
  void* allocate_in(Source& source, std::size_t size, std::size_t align) {
    void* p = try_allocate_in(source, size, align);
    if (!p) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    return p;
  }
  template <class Source>
  CORE_MEMORY_ALWAYS_INLINE void* try_allocate_in(Source& source, std::size_t size, std::size_t align) noexcept {
    const std::size_t c = Classes::class_of(size, align);
    if (c != Classes::no_class) [[likely]]
      return source.try_allocate(c);
    return allocate_large(size, align);
  }
  template <class Source>
  CORE_MEMORY_ALWAYS_INLINE void deallocate_in(Source& source, void* p, std::size_t size, std::size_t align) noexcept {
    const std::size_t c = Classes::class_of(size, align);
    if (c != Classes::no_class) [[likely]]
      source.deallocate(p, c, size, align);  // (size and align: for a misuse report)
    else
      deallocate_large(p, size, align);
  }
  template <class Source>
  allocation_result allocate_at_least_in(Source& source, std::size_t size, std::size_t align) {
    void* p = allocate_in(source, size, align);
    const std::size_t c = Classes::class_of(size, align);
    return {p, c == Classes::no_class ? size : Classes::size_classes[c]};
  }

  CORE_MEMORY_NOINLINE void* allocate_large(std::size_t size, std::size_t align) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    return engine_.upstream_try_allocate(size, align);
  }
  CORE_MEMORY_NOINLINE void deallocate_large(void* p, std::size_t size, std::size_t align) noexcept {
    // Expensive builds only, as SlabAllocator: an exact lookup of the slabs (a lock); masking the
    // address to read a slab header would read memory outside the block.
    if constexpr (checks::expensive) {
      if (engine_.class_holding(p) != class_count) [[unlikely]] {
        report_misuse({error_kind::invalid_size, allocator_name, p, size, align,
                       "a block of a size class, freed with a size or alignment beyond the classes", nullptr, 0});
        return;
      }
    }
    engine_.upstream_deallocate(p, size, align);
  }

  Engine engine_;
};

/// The calling thread's cache of a ThreadPoolAllocator, held by the caller (as mimalloc's heaps
/// are): the same allocator, without finding the thread's cache at each call. Allocations and
/// frees in batches cost 1.15x a single-threaded pool's, one pair at a time 1.7x (see DESIGN-NOTES).
/// - A cache, and any container whose allocator is a cache, stays on the thread that took it,
///   and is not used after that thread's exit handling (pthread key destructors), when its heap
///   goes to the next new thread. Hardened builds check every call (and serve one off its thread
///   through the allocator); release builds report such a use on a slow path, after the fact.
/// - Blocks are the allocator's: a block may be freed on any thread, through that thread's own
///   cache or the allocator. A RawAllocator (not thread-safe), a handle (copies are the same
///   cache; caches of one allocator compare equal), three words.
template <RawAllocator Upstream>
class BasicThreadPoolAllocator<Upstream>::ThreadCache : public detail::FaceThreadCache<BasicThreadPoolAllocator> {
 public:
  using detail::FaceThreadCache<BasicThreadPoolAllocator>::FaceThreadCache;
  /// The allocator whose cache this is.
  [[nodiscard]] BasicThreadPoolAllocator& allocator() const noexcept { return *this->face_; }
};

using ThreadPoolAllocator = BasicThreadPoolAllocator<>;
static_assert(RawAllocator<ThreadPoolAllocator>);
static_assert(RawAllocator<ThreadPoolAllocator::ThreadCache>);

}  // namespace core::memory
