#pragma once
/// ConcurrentPool: MemoryPool's fixed-size nodes for any number of threads. Each thread
/// allocates from and frees into a cache of its own (no lock, no atomic read-modify-write on
/// the common path); a node freed on another thread than the one that allocated it goes home in
/// batches, one atomic operation per batch; memory moves between threads a whole slab at a time
/// through a lock-free depot. See detail/thread_cached_pool.hpp for the design.
///
/// - Lock-free on every path that does not call upstream, ABA-free by construction (no list is
///   ever popped one node at a time by several threads).
/// - A thread that exits hands its cache and its nodes back; nodes freed later still go home,
///   and the next new thread adopts the heap. Several pools coexist, each with its own caches.
/// - Per-thread caching is bounded (cache_limit nodes): a thread that only frees hoards nothing.
/// - Statistics are per-thread counters summed when read: exact while no thread is mid-call.
/// - Hardened builds report double frees (also two threads freeing one node at once), foreign
///   and interior pointers; a free costs one atomic exchange more there.
/// - Exhaustion is reported when the calling thread's cache, its remote frees, the depot and
///   upstream are all empty: nodes cached by other threads (at most cache_limit each) or free in
///   their partially used slabs are not taken from them.
/// - Nodes are aligned to at most 4096 bytes (larger is reported as invalid_alignment).
/// Not movable: threads find their cache by the pool's identity.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/pool/detail/thread_cached_pool.hpp>
#include <core/memory/pool/object_pool.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>

namespace core::memory {

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicConcurrentPool {
 public:
  static constexpr const char* allocator_name = "core::memory::ConcurrentPool";
  /// owns() tells only the nodes: requests it cannot serve go to upstream, whose blocks it does not know.
  static constexpr bool owns_every_block = false;
  static constexpr bool is_thread_safe = true;

  /// Nodes of `node_size` bytes aligned to `node_alignment`, in slabs of at least
  /// `nodes_per_chunk` nodes (8 to 1024; 0: as few as fill 4 KiB), each thread caching at most
  /// `cache_limit` free nodes (0: about 32 KiB worth, 16 to 512 nodes). Allocates nothing yet.
  explicit BasicConcurrentPool(std::size_t node_size, std::size_t node_alignment = alignof(std::max_align_t),
                               std::size_t nodes_per_chunk = 0, std::size_t cache_limit = 0)
    requires allocator_traits<Upstream>::is_stateless
      : BasicConcurrentPool(detail::allocator_ref<Upstream>(Upstream{}), node_size, node_alignment, nodes_per_chunk,
                            cache_limit) {}
  /// As above, drawing slabs from `upstream` (by reference unless stateless or a handle; this
  /// pool's calls to it are serialised unless it is thread-safe: an upstream that is not must
  /// serve one pool only).
  BasicConcurrentPool(Upstream& upstream, std::size_t node_size, std::size_t node_alignment = alignof(std::max_align_t),
                      std::size_t nodes_per_chunk = 0, std::size_t cache_limit = 0)
      : BasicConcurrentPool(detail::allocator_ref<Upstream>(upstream), node_size, node_alignment, nodes_per_chunk,
                            cache_limit) {}

  BasicConcurrentPool(const BasicConcurrentPool&) = delete;
  BasicConcurrentPool& operator=(const BasicConcurrentPool&) = delete;

  class ThreadCache;

  // --- nodes -------------------------------------------------------------------------------

  /// One node; throws out_of_memory. O(1), lock-free.
  [[nodiscard]] void* allocate_node() { return allocate_node_in(engine_); }
  /// One node, or nullptr. O(1), lock-free.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate_node() noexcept { return engine_.try_allocate(0); }
  /// Returns a node, from any thread. O(1), lock-free. Hardened builds report misuse and ignore
  /// the call.
  CORE_MEMORY_ALWAYS_INLINE void deallocate_node(void* p) noexcept { engine_.deallocate(p, 0); }

  /// The check deallocate_node runs in hardened builds; true if `p` may be freed. Writes nothing
  /// to the node (ObjectPool runs it before the destructor): follow with
  /// deallocate_node_unchecked, which marks it free (and reports a free racing on another thread).
  bool validate_free(void* p) noexcept { return engine_.validate_free(p, 0); }
  CORE_MEMORY_ALWAYS_INLINE void deallocate_node_unchecked(void* p) noexcept { engine_.deallocate_unchecked(p, 0); }

  /// The calling thread's cache, for the caller to hold: allocations and frees through it skip
  /// finding the thread's cache, about a fifth of what a pair costs (see ThreadCache).
  [[nodiscard]] ThreadCache thread_cache() noexcept { return ThreadCache(*this); }

  // --- RawAllocator ------------------------------------------------------------------------

  /// A node if the request fits one, else a block from upstream. Throws out_of_memory.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return allocate_in(engine_, size, align);
  }
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t size,
                                                             std::size_t align = alignof(std::max_align_t)) noexcept {
    return try_allocate_in(engine_, size, align);
  }
  /// Frees a node, or a larger block to upstream (by `size` and `align`, as allocated). A node
  /// freed with a larger size is reported in expensive builds.
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t size,
                                            std::size_t align = alignof(std::max_align_t)) noexcept {
    deallocate_in(engine_, p, size, align);
  }
  /// Like allocate, and says how much of the block may be used (a whole node for small requests).
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return allocate_at_least_in(engine_, size, align);
  }
  /// True if a request of `size` bytes at `align` is served by a node.
  [[nodiscard]] bool fits(std::size_t size, std::size_t align) const noexcept {
    return size <= node_size() && is_valid_alignment_up_to(align, node_alignment());
  }
  /// True if `p` is a node of this pool (live or free). O(log chunks), takes a lock.
  [[nodiscard]] bool owns(const void* p) const noexcept { return engine_.owns(p, 0); }
  [[nodiscard]] std::size_t max_size() const noexcept { return allocator_traits<Upstream>::max_size(engine_.upstream()); }

  // --- management --------------------------------------------------------------------------

  /// Makes room for `count` nodes in all, as whole chunks any thread can take; throws
  /// out_of_memory if upstream cannot give them.
  void reserve(std::size_t count) {
    if (!engine_.reserve(0, count)) throw_out_of_memory(engine_.name(), checked_array_bytes(count), node_alignment());
  }
  /// Returns empty chunks upstream: now for this thread's cache and exited threads', at their
  /// next slow path for other running threads. Safe while other threads run.
  void shrink_to_fit() noexcept { engine_.shrink_to_fit(); }
  /// Hands this thread's cached nodes back (nodes of other threads go home).
  void flush_thread_cache() noexcept { engine_.flush_thread_cache(); }

  // --- statistics --------------------------------------------------------------------------

  /// Live nodes over all threads (exact when no thread is mid-call).
  [[nodiscard]] std::size_t nodes_allocated() const noexcept { return engine_.live_blocks(); }
  /// Nodes the chunks hold.
  [[nodiscard]] std::size_t capacity() const noexcept { return engine_.capacity(0); }
  /// Chunks (slabs) held.
  [[nodiscard]] std::size_t chunks_allocated() const noexcept { return engine_.slabs(0); }
  /// Bytes obtained from upstream for chunks.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return engine_.bytes_allocated(); }
  /// Share of the chunks' nodes that are not live.
  [[nodiscard]] double fragmentation() const noexcept {
    const std::size_t cap = capacity();
    return cap ? 1.0 - static_cast<double>(nodes_allocated()) / static_cast<double>(cap) : 0.0;
  }
  [[nodiscard]] std::size_t node_size() const noexcept { return engine_.block_size(0); }
  [[nodiscard]] std::size_t node_alignment() const noexcept { return engine_.block_alignment(0); }
  /// Nodes per chunk, and the most free nodes one thread keeps cached.
  [[nodiscard]] std::size_t nodes_per_chunk() const noexcept { return engine_.blocks_per_slab(0); }
  [[nodiscard]] std::size_t cache_limit() const noexcept { return engine_.cache_limit(0); }
  /// Threads' caches created so far (threads that used the pool at the same time, at most).
  [[nodiscard]] std::size_t thread_caches() const noexcept { return engine_.heap_count(); }
  [[nodiscard]] Upstream& upstream() const noexcept { return engine_.upstream(); }
  [[nodiscard]] const char* name() const noexcept { return engine_.name(); }

 protected:
  BasicConcurrentPool(detail::allocator_ref<Upstream> upstream, std::size_t node_size, std::size_t node_alignment,
                      std::size_t nodes_per_chunk, std::size_t cache_limit, const char* name = allocator_name)
      : engine_(upstream, {spec(node_size, node_alignment, nodes_per_chunk, cache_limit, name)}, name) {}

  template <class, RawAllocator, class>
  friend class ObjectPool;

 private:
  static detail::size_class_spec spec(std::size_t size, std::size_t align, std::size_t per_chunk, std::size_t limit,
                                      const char* name) noexcept {
    if (!is_valid_alignment(align) || align > 4096) {
      report_misuse({error_kind::invalid_alignment, name, nullptr, size, align,
                     "node alignment must be a power of two up to 4096", nullptr, 0});
      align = is_valid_alignment(align) ? 4096 : alignof(std::max_align_t);
    }
    return {size, align, per_chunk, limit};
  }

  std::size_t checked_array_bytes(std::size_t count) const noexcept {
    std::size_t bytes = 0;
    return mul_overflows(count, node_size(), bytes) ? SIZE_MAX : bytes;
  }

  using Engine = detail::ThreadCachedPool<Upstream, 1>;
  friend class detail::FaceThreadCache<BasicConcurrentPool>;

  // The allocation functions, from the calling thread's cache as the engine finds it, or as a
  // ThreadCache holds it (`source`: the engine, or an Engine::Local).
  template <class Source>
  void* allocate_node_in(Source& source) {
    void* p = source.try_allocate(0);
    if (!p) [[unlikely]]
      throw_out_of_memory(engine_.name(), node_size(), node_alignment());
    return p;
  }
  template <class Source>
  void* allocate_in(Source& source, std::size_t size, std::size_t align) {
    void* p = try_allocate_in(source, size, align);
    if (!p) [[unlikely]]
      throw_out_of_memory(engine_.name(), size, align);
    return p;
  }
  template <class Source>
  CORE_MEMORY_ALWAYS_INLINE void* try_allocate_in(Source& source, std::size_t size, std::size_t align) noexcept {
    if (fits(size, align)) [[likely]]
      return source.try_allocate(0);
    return allocate_large(size, align);
  }
  template <class Source>
  CORE_MEMORY_ALWAYS_INLINE void deallocate_in(Source& source, void* p, std::size_t size, std::size_t align) noexcept {
    if (fits(size, align)) [[likely]]
      source.deallocate(p, 0);
    else
      deallocate_large(p, size, align);
  }
  template <class Source>
  allocation_result allocate_at_least_in(Source& source, std::size_t size, std::size_t align) {
    void* p = allocate_in(source, size, align);
    return {p, fits(size, align) ? node_size() : size};
  }

  CORE_MEMORY_NOINLINE void* allocate_large(std::size_t size, std::size_t align) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(engine_.name(), size, align);
      return nullptr;
    }
    return engine_.upstream_try_allocate(size, align);
  }
  CORE_MEMORY_NOINLINE void deallocate_large(void* p, std::size_t size, std::size_t align) noexcept {
    // Expensive builds only, as SlabAllocator: an exact lookup of the slabs (a lock); masking the
    // address to read a slab header would read memory outside the block.
    if constexpr (checks::expensive) {
      if (engine_.class_holding(p) == 0) [[unlikely]] {
        report_misuse({error_kind::invalid_size, engine_.name(), p, size, align,
                       "a node of this pool, freed with a size or alignment that does not fit a node", nullptr, 0});
        return;
      }
    }
    engine_.upstream_deallocate(p, size, align);
  }

  Engine engine_;
};

/// The calling thread's cache of a ConcurrentPool, held by the caller (as mimalloc's heaps are):
/// the same pool, without finding the thread's cache at each call. Allocations and frees in
/// batches cost 1.15x a single-threaded MemoryPool's, one pair at a time 1.7x (see DESIGN-NOTES).
/// - A cache, and any container whose allocator is a cache, stays on the thread that took it,
///   and is not used after that thread's exit handling (pthread key destructors), when its heap
///   goes to the next new thread. Hardened builds check every call (and serve one off its thread
///   through the pool); release builds report such a use on a slow path, after the fact.
/// - Nodes are the pool's: a node may be freed on any thread, through that thread's own cache or
///   the pool. A RawAllocator (not thread-safe), a handle (copies are the same cache; caches of
///   one pool compare equal), three words.
template <RawAllocator Upstream>
class BasicConcurrentPool<Upstream>::ThreadCache : public detail::FaceThreadCache<BasicConcurrentPool> {
 public:
  using detail::FaceThreadCache<BasicConcurrentPool>::FaceThreadCache;

  /// One node; throws out_of_memory.
  [[nodiscard]] void* allocate_node() { return this->face_->allocate_node_in(this->local_); }
  /// One node, or nullptr.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate_node() noexcept { return this->local_.try_allocate(0); }
  /// Returns a node of the pool (taken by any thread).
  CORE_MEMORY_ALWAYS_INLINE void deallocate_node(void* p) noexcept { this->local_.deallocate(p, 0); }
  /// The pool whose cache this is.
  [[nodiscard]] BasicConcurrentPool& pool() const noexcept { return *this->face_; }
};

using ConcurrentPool = BasicConcurrentPool<>;
static_assert(RawAllocator<ConcurrentPool>);
static_assert(RawAllocator<ConcurrentPool::ThreadCache>);
static_assert(allocator_traits<ConcurrentPool>::is_thread_safe);

/// The spec's ConcurrentPoolAllocator<T, ChunkSize>: PoolAllocator's interface on a
/// ConcurrentPool (chunks of ChunkSize objects, at most 1024). Any thread may allocate and free.
template <class T, std::size_t ChunkSize = 1024, RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI ConcurrentPoolAllocator : public BasicConcurrentPool<Upstream> {
  using base = BasicConcurrentPool<Upstream>;
  static_assert(ChunkSize > 0, "ConcurrentPoolAllocator: ChunkSize must be positive");

 public:
  static constexpr const char* allocator_name = "core::memory::ConcurrentPoolAllocator";
  using value_type = T;

  ConcurrentPoolAllocator()
    requires allocator_traits<Upstream>::is_stateless
      : base(detail::allocator_ref<Upstream>(Upstream{}), sizeof(T), alignof(T), ChunkSize, 0, allocator_name) {}
  explicit ConcurrentPoolAllocator(Upstream& upstream)
      : base(detail::allocator_ref<Upstream>(upstream), sizeof(T), alignof(T), ChunkSize, 0, allocator_name) {}

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) { return base::allocate(size, align); }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept { base::deallocate(p, size, align); }

  /// Storage for one T (n == 1, a node) or n contiguous T (from upstream). Throws out_of_memory,
  /// or std::bad_array_new_length if n * sizeof(T) overflows.
  [[nodiscard]] T* allocate(std::size_t n = 1) {
    if (n == 1) [[likely]]
      return static_cast<T*>(base::allocate_node());
    return static_cast<T*>(base::allocate(array_bytes<T>(n, allocator_name), alignof(T)));
  }
  void deallocate(T* p, std::size_t n = 1) noexcept {
    if (n == 1) [[likely]]
      base::deallocate_node(p);
    else
      base::deallocate(p, n * sizeof(T), alignof(T));
  }

  /// Objects currently allocated from the pool, over all threads.
  [[nodiscard]] std::size_t objects_allocated() const noexcept { return base::nodes_allocated(); }
};

static_assert(RawAllocator<ConcurrentPoolAllocator<int>>);

/// ObjectPool on a ConcurrentPool: acquire and release (and make_unique's UniquePtr) from any
/// thread.
template <class T, RawAllocator Upstream = MallocAllocator>
using ConcurrentObjectPool = ObjectPool<T, Upstream, BasicConcurrentPool<Upstream>>;

}  // namespace core::memory
