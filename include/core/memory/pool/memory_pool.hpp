#pragma once
/// MemoryPool: fixed-size blocks ("nodes") with O(1) allocate and free in any order, carved from
/// chunks obtained upstream, no per-node header. The engine of PoolAllocator, ObjectPool and
/// GrowingPool.
///
/// - Nothing is allocated until the first request, so a pool can be a cheap global.
/// - Nodes can be over-aligned (up to and beyond the page size); chunks are aligned to match.
/// - A fresh chunk is carved lazily, node by node: no O(chunk) threading of a free list.
/// - Freed nodes go on an intrusive free list (LIFO, so the hottest node is reused first).
/// - As a RawAllocator, requests that do not fit a node go straight to the upstream allocator
///   (deallocate tells them apart by size and alignment), so std::vector works on a pool too.
/// - Hardened builds detect double frees (a cookie in each free node, confirmed off the fast
///   path) and pointers outside the pool's address range. That range is fooled by another pool
///   whose chunks interleave with this one's, and by interior pointers: debug builds (level 2) and
///   above check that a pointer is a node boundary of one of the pool's chunks (O(chunks)).
/// - Parameters: a node size whose stride overflows throws std::bad_array_new_length (without
///   exceptions: reported, then abort); an invalid node alignment is reported (then the default
///   is used); chunk counts and max_nodes may be anything (too much is out_of_memory when asked).
/// Not thread-safe.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/pool/detail/page_set.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace core::memory {

/// (object_pool.hpp; declared here with its ABI tag, as the pool's friend.)
template <class T, RawAllocator Upstream, class NodePool>
class CORE_MEMORY_LEVEL_ABI ObjectPool;

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicMemoryPool {
 public:
  static constexpr const char* allocator_name = "core::memory::MemoryPool";
  /// owns() tells only the nodes: requests it cannot serve go to upstream, whose blocks it does not know.
  static constexpr bool owns_every_block = false;

  /// A pool of nodes of `node_size` bytes aligned to `node_alignment`, in chunks of
  /// `nodes_per_chunk` nodes growing geometrically up to `max_nodes_per_chunk` (equal: fixed
  /// chunks), holding at most `max_nodes` nodes in all (then exhaustion).
  explicit BasicMemoryPool(std::size_t node_size, std::size_t node_alignment = alignof(std::max_align_t),
                           std::size_t nodes_per_chunk = 0, std::size_t max_nodes_per_chunk = 0,
                           std::size_t max_nodes = SIZE_MAX)
    requires allocator_traits<Upstream>::is_stateless
      : BasicMemoryPool(Upstream{}, node_size, node_alignment, nodes_per_chunk, max_nodes_per_chunk, max_nodes) {}

  /// As above, drawing chunks from `upstream` (by reference unless stateless or a handle).
  BasicMemoryPool(Upstream& upstream, std::size_t node_size, std::size_t node_alignment = alignof(std::max_align_t),
                  std::size_t nodes_per_chunk = 0, std::size_t max_nodes_per_chunk = 0,
                  std::size_t max_nodes = SIZE_MAX)
      : BasicMemoryPool(detail::allocator_ref<Upstream>(upstream), node_size, node_alignment, nodes_per_chunk,
                        max_nodes_per_chunk, max_nodes) {}

  BasicMemoryPool(const BasicMemoryPool&) = delete;
  BasicMemoryPool& operator=(const BasicMemoryPool&) = delete;
  template <class, RawAllocator, class>
  friend class ObjectPool;

  BasicMemoryPool(BasicMemoryPool&& o) noexcept
      : upstream_(o.upstream_),
        free_(std::exchange(o.free_, nullptr)),
        fresh_(std::exchange(o.fresh_, nullptr)),
        fresh_end_(std::exchange(o.fresh_end_, nullptr)),
        chunks_(std::exchange(o.chunks_, nullptr)),
        chunk_count_(std::exchange(o.chunk_count_, 0)),
        capacity_nodes_(std::exchange(o.capacity_nodes_, 0)),
        lowest_(std::exchange(o.lowest_, UINTPTR_MAX)),
        highest_(std::exchange(o.highest_, 0)),
        pages_(std::move(o.pages_)),
        node_size_(o.node_size_),
        node_alignment_(o.node_alignment_),
        stride_(o.stride_),
        next_chunk_nodes_(o.next_chunk_nodes_),
        first_chunk_nodes_(o.first_chunk_nodes_),
        max_chunk_nodes_(o.max_chunk_nodes_),
        max_nodes_(o.max_nodes_),
        name_(o.name_) {
    vg_pool_move(&o, this);
    vg_pool_create(&o);
  }

  ~BasicMemoryPool() {
    release_chunks();
    vg_pool_destroy(this);
  }

  // --- nodes -------------------------------------------------------------------------------

  /// One node; throws out_of_memory when upstream is exhausted or max_nodes is reached. O(1).
  [[nodiscard]] void* allocate_node() {
    void* p = try_allocate_node();
    if (!p) [[unlikely]]
      throw_out_of_memory(name_, node_size_, node_alignment_);
    return p;
  }

  /// One node, or nullptr. O(1).
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate_node() noexcept {
    if (Node* n = free_) [[likely]] {
      unpoison_memory(n, sizeof(Node));
      free_ = n->next;
      mark_used(n);
      poison_memory(n, stride_);
      unpoison_memory(n, node_size_);
      vg_alloc(this, n, node_size_);
      return n;
    }
    return allocate_fresh();
  }

  /// Returns a node. O(1) in any order. Hardened builds report a double free or a pointer outside
  /// the pool's address range, debug builds any pointer that is not a node of this pool's chunks
  /// (foreign_pointer, interior_pointer), and ignore the call.
  CORE_MEMORY_ALWAYS_INLINE void deallocate_node(void* p) noexcept {
    if constexpr (checks::hardened) {
      if (!validate_free(p)) [[unlikely]]
        return;
    }
    deallocate_node_unchecked(p);
  }

  /// deallocate_node without the hardened checks (for callers that ran validate_free already).
  CORE_MEMORY_ALWAYS_INLINE void deallocate_node_unchecked(void* p) noexcept {
    auto* n = static_cast<Node*>(p);
    vg_free(this, n);
    unpoison_memory(n, sizeof(Node));
    n->next = free_;
    mark_free(n);
    poison_memory(n, stride_);
    free_ = n;
  }

  /// The check deallocate_node runs in hardened builds: reports a double free or a pointer that is
  /// not a node of this pool and returns false; true if `p` may be freed.
  bool validate_free(void* p) noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    if (a < lowest_ || a >= highest_) [[unlikely]]
      return report_bad_free(error_kind::foreign_pointer, p, "not in the address range of this pool's chunks");
    // Between the chunks, or in one given back, the memory may not even be mapped: the check
    // below reads the node's first bytes only on pages of chunks held. (A chunk given back that
    // shared a page with one held passes this; debug builds tell it by the exact chunk lookup.)
    const bool two_pages = (a & 4095) > 4096 - sizeof(Node);  // (the set's pages are 4 KiB)
    if (!on_chunk_page(p) || (two_pages && !on_chunk_page(static_cast<const std::byte*>(p) + sizeof(Node) - 1)))
        [[unlikely]]
      return report_bad_free(error_kind::foreign_pointer, p, "not in a chunk of this pool");
    // The newest chunk's nodes not carved yet: free already (the next allocations carve them).
    if (static_cast<std::byte*>(p) >= fresh_ && static_cast<std::byte*>(p) < fresh_end_) [[unlikely]]
      return report_bad_free(error_kind::double_free, p, "node is already free (never handed out)");
    if constexpr (checks::debug) {
      const Chunk* c = find_chunk(p);
      if (!c) return report_bad_free(error_kind::foreign_pointer, p, "not in a chunk of this pool");
      if ((a - reinterpret_cast<std::uintptr_t>(c->begin)) % stride_ != 0)
        return report_bad_free(error_kind::interior_pointer, p, "inside a node of this pool, not at its start");
    }
    if constexpr (checks::hardened) {
      auto* n = static_cast<Node*>(p);
      unpoison_memory(n, sizeof(Node));
      const bool suspicious = looks_free(n);
      if (suspicious && is_on_free_list(n)) [[unlikely]] {
        poison_memory(n, sizeof(Node));
        return report_bad_free(error_kind::double_free, p, "node is already free");
      }
    }
    return true;
  }

  // --- RawAllocator ------------------------------------------------------------------------

  /// A node if the request fits one, else a block from upstream. Throws out_of_memory.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    void* p = try_allocate(size, align);
    if (!p) [[unlikely]]
      throw_out_of_memory(name_, size, align);
    return p;
  }

  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t size,
                                                             std::size_t align = alignof(std::max_align_t)) noexcept {
    if (fits(size, align)) [[likely]]
      return try_allocate_node();
    return allocate_large(size, align);
  }

  /// Frees a node, or a larger block to upstream (by `size` and `align`, as allocated). Hardened
  /// builds report a node freed with a size or alignment that does not fit a node (invalid_size,
  /// O(chunks) when `p` lies in the pool's address range), which would reach upstream's free.
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t size,
                                            std::size_t align = alignof(std::max_align_t)) noexcept {
    if (fits(size, align)) [[likely]]
      deallocate_node(p);
    else
      deallocate_upstream(p, size, align);
  }

  /// Like allocate, and says how much of the block may be used: a whole node for small requests
  /// (in the spirit of C++23 allocate_at_least).
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    void* p = allocate(size, align);
    return {p, fits(size, align) ? node_size_ : size};
  }

  /// True if a request of `size` bytes at `align` is served by a node (never for an invalid
  /// alignment: 0 or not a power of two).
  [[nodiscard]] bool fits(std::size_t size, std::size_t align) const noexcept {
    return size <= node_size_ && is_valid_alignment_up_to(align, node_alignment_);
  }

  /// True if `p` is a node of this pool (live or free). O(chunks).
  [[nodiscard]] bool owns(const void* p) const noexcept { return find_chunk(p) != nullptr; }

  [[nodiscard]] std::size_t max_size() const noexcept { return allocator_traits<Upstream>::max_size(upstream_.get()); }

  // --- management --------------------------------------------------------------------------

  /// Makes room for `count` nodes in total without further upstream calls; throws out_of_memory
  /// if that is more than max_nodes or upstream cannot give it.
  void reserve(std::size_t count) {
    if (count <= capacity_nodes_) return;
    if (count > max_nodes_ || !add_chunk(count - capacity_nodes_)) {
      std::size_t bytes = 0;
      throw_out_of_memory(name_, mul_overflows(count - capacity_nodes_, stride_, bytes) ? SIZE_MAX : bytes,
                          node_alignment_);
    }
  }

  /// Returns to upstream every chunk whose nodes are all free. O(n log chunks).
  void shrink_to_fit() noexcept {
    std::vector<ChunkUse> use;
    if (!count_free_per_chunk(use)) return;
    set_free_list_poison(false);
    Node** link = &free_;  // drop the free nodes of chunks that are about to go
    for (Node* n = free_; n; n = n->next) {
      const ChunkUse* u = lookup(use, n);
      if (u->free != u->nodes) {
        *link = n;
        link = &n->next;
      }
    }
    *link = nullptr;
    set_free_list_poison(true);
    Chunk** c = &chunks_;
    while (*c) {
      Chunk* chunk = *c;
      const ChunkUse* u = lookup(use, chunk->begin);
      if (u->free == chunk->nodes) {
        if (fresh_ >= chunk->begin && fresh_ <= chunk->begin + chunk->nodes * stride_) fresh_ = fresh_end_ = nullptr;
        *c = chunk->next;
        free_chunk(chunk);
      } else {
        c = &chunk->next;
      }
    }
    recompute_bounds();
  }

  /// Frees every node (live ones too: the caller must be done with them) and returns all chunks.
  /// Growth starts again from the first chunk's size (a pool cleared between cycles of the same
  /// work grew to 65,536-node chunks after 12 cycles of 100 nodes).
  void clear() noexcept {
    release_chunks();
    next_chunk_nodes_ = first_chunk_nodes_;
    free_ = nullptr;
    fresh_ = fresh_end_ = nullptr;
  }

  // --- statistics --------------------------------------------------------------------------

  /// Live nodes. O(free nodes): the fast paths keep no counter, so they cost what a bare free
  /// list costs.
  [[nodiscard]] std::size_t nodes_allocated() const noexcept { return capacity_nodes_ - free_nodes(); }
  /// Nodes the chunks hold (live, free and not yet carved).
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_nodes_; }
  /// Chunks held.
  [[nodiscard]] std::size_t chunks_allocated() const noexcept { return chunk_count_; }
  /// Bytes obtained from upstream for chunks.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return capacity_nodes_ * stride_ + chunk_count_ * sizeof(Chunk); }
  /// Bytes of the nodes that are free (or not yet carved).
  /// Bytes of the free (and not yet carved) nodes. O(free nodes).
  [[nodiscard]] std::size_t bytes_available() const noexcept { return free_nodes() * stride_; }
  /// Bytes a node may hold, the alignment every node has, and the distance between nodes.
  [[nodiscard]] std::size_t node_size() const noexcept { return node_size_; }
  [[nodiscard]] std::size_t node_alignment() const noexcept { return node_alignment_; }
  [[nodiscard]] std::size_t node_stride() const noexcept { return stride_; }

  /// Share of the pool's nodes that are free but stranded in chunks that still hold live nodes,
  /// so shrink_to_fit cannot return them: 0 when every free node sits in an empty chunk (or there
  /// are none), towards 1 when live nodes are scattered thinly over many chunks. O(n log chunks).
  [[nodiscard]] double fragmentation() const noexcept {
    std::vector<ChunkUse> use;
    if (capacity_nodes_ == 0 || !count_free_per_chunk(use)) return 0.0;
    std::size_t stranded = 0;
    for (const ChunkUse& u : use)
      if (u.free != u.nodes) stranded += u.free;
    return static_cast<double>(stranded) / static_cast<double>(capacity_nodes_);
  }

  /// The upstream allocator.
  [[nodiscard]] Upstream& upstream() const noexcept { return upstream_.get(); }

  /// The name reports give: that of the adapter built on this pool (PoolAllocator, ObjectPool...).
  [[nodiscard]] const char* name() const noexcept { return name_; }

 protected:
  BasicMemoryPool(detail::allocator_ref<Upstream> upstream, std::size_t node_size, std::size_t node_alignment,
                  std::size_t nodes_per_chunk, std::size_t max_nodes_per_chunk, std::size_t max_nodes,
                  const char* name = allocator_name)
      : upstream_(upstream),
        node_size_(node_size),
        node_alignment_(node_alignment < alignof(Node) ? alignof(Node) : node_alignment),
        max_nodes_(max_nodes),
        name_(name) {
    if (!is_valid_alignment(node_alignment)) {
      report_misuse({error_kind::invalid_alignment, name_, nullptr, node_size, node_alignment,
                     "node alignment must be a power of two", nullptr, 0});
      node_alignment_ = alignof(std::max_align_t);
    }
    stride_ = checked_align_up(node_size_ < sizeof(Node) ? sizeof(Node) : node_size_, node_alignment_, name_);
    if (nodes_per_chunk == 0) nodes_per_chunk = std::max<std::size_t>(8, 4096 / stride_);
    next_chunk_nodes_ = first_chunk_nodes_ = nodes_per_chunk;
    max_chunk_nodes_ = max_nodes_per_chunk < nodes_per_chunk ? nodes_per_chunk : max_nodes_per_chunk;
    vg_pool_create(this);
  }

 private:
  struct Node {
    Node* next;
#if CORE_MEMORY_CHECK_LEVEL >= 1
    std::uintptr_t cookie;  // marks a free node, to catch double frees
#endif
  };
  /// Chunk bookkeeping lives after the nodes, so over-aligned nodes waste nothing on it.
  struct Chunk {
    Chunk* next;
    std::byte* begin;
    std::size_t nodes;
  };
  struct ChunkUse {  // copies of the chunk's fields: the chunk may be released while this is used
    const std::byte* begin;
    std::size_t nodes;
    std::size_t free;
  };

  CORE_MEMORY_NOINLINE void deallocate_upstream(void* p, std::size_t size, std::size_t align) noexcept {
    if constexpr (checks::hardened) {
      const auto a = reinterpret_cast<std::uintptr_t>(p);
      if (a >= lowest_ && a < highest_ && find_chunk(p)) [[unlikely]] {
        report_misuse({error_kind::invalid_size, name_, p, size, align,
                       "a node of this pool, freed with a size or alignment that does not fit a node", nullptr, 0});
        return;
      }
    }
    allocator_traits<Upstream>::deallocate(upstream_.get(), p, size, align);
  }

  CORE_MEMORY_NOINLINE bool report_bad_free(error_kind kind, void* p, const char* message) const noexcept {
    report_misuse({kind, name_, p, node_size_, node_alignment_, message, nullptr, 0});
    return false;
  }

  static std::uintptr_t cookie_of(const Node* n) noexcept {
    return reinterpret_cast<std::uintptr_t>(n) * 0x9E3779B97F4A7C15ull ^ 0xC0DEC0DEC0DEC0DEull;
  }
  // The free-node cookie exists in hardened builds only.
  static void mark_free([[maybe_unused]] Node* n) noexcept {
#if CORE_MEMORY_CHECK_LEVEL >= 1
    n->cookie = cookie_of(n);
#endif
  }
  static void mark_used([[maybe_unused]] Node* n) noexcept {
#if CORE_MEMORY_CHECK_LEVEL >= 1
    n->cookie = 0;
#endif
  }
  static bool looks_free([[maybe_unused]] const Node* n) noexcept {
#if CORE_MEMORY_CHECK_LEVEL >= 1
    return n->cookie == cookie_of(n);
#else
    return false;
#endif
  }

  /// Nodes on the free list plus those not yet carved. O(free nodes).
  std::size_t free_nodes() const noexcept {
    set_free_list_poison(false);
    std::size_t n = static_cast<std::size_t>(fresh_end_ - fresh_) / (stride_ ? stride_ : 1);
    for (Node* f = free_; f; f = f->next) ++n;
    set_free_list_poison(true);
    return n;
  }

  /// Unpoisons (false) or poisons (true) the free nodes, for the rare walks over the free list.
  void set_free_list_poison(bool poisoned) const noexcept {
    if constexpr (poisoning_enabled) {
      for (Node* n = free_; n;) {
        unpoison_memory(n, sizeof(Node));
        Node* next = n->next;
        if (poisoned) poison_memory(n, stride_);
        n = next;
      }
    }
  }

  CORE_MEMORY_NOINLINE bool is_on_free_list(const Node* target) const noexcept {
    for (Node* n = free_; n;) {
      if (n == target) return true;
      unpoison_memory(n, sizeof(Node));
      Node* next = n->next;
      if (n != target) poison_memory(n, sizeof(Node));
      n = next;
    }
    return false;
  }

  /// A request that does not fit a node: from upstream, unless its alignment is invalid.
  CORE_MEMORY_NOINLINE void* allocate_large(std::size_t size, std::size_t align) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(name_, size, align);
      return nullptr;
    }
    return allocator_traits<Upstream>::try_allocate(upstream_.get(), size, align);
  }

  CORE_MEMORY_NOINLINE void* allocate_fresh() noexcept {
    if (fresh_ == fresh_end_ && !add_chunk(0)) return nullptr;
    std::byte* p = fresh_;
    fresh_ += stride_;
    if constexpr (checks::hardened) {  // memory upstream used before may hold a stale cookie
      unpoison_memory(p, sizeof(Node));
      mark_used(reinterpret_cast<Node*>(p));
      poison_memory(p, stride_);
    }
    unpoison_memory(p, node_size_);
    vg_alloc(this, p, node_size_);
    return p;
  }

  /// Adds a chunk of at least `min_nodes` nodes (or the next growth step) and makes it the fresh
  /// region; the rest of the previous fresh region goes on the free list.
  bool add_chunk(std::size_t min_nodes) noexcept {
    std::size_t nodes = min_nodes > next_chunk_nodes_ ? min_nodes : next_chunk_nodes_;
    if (capacity_nodes_ >= max_nodes_) return false;
    if (nodes > max_nodes_ - capacity_nodes_) nodes = max_nodes_ - capacity_nodes_;
    std::size_t bytes = 0;
    if (mul_overflows(nodes, stride_, bytes) || add_overflows(bytes, sizeof(Chunk), bytes)) return false;
    const std::size_t align = node_alignment_ > alignof(Chunk) ? node_alignment_ : alignof(Chunk);
    auto* mem = static_cast<std::byte*>(allocator_traits<Upstream>::try_allocate(upstream_.get(), bytes, align));
    if (!mem) return false;
    if constexpr (checks::hardened) {
      if (!pages_.insert(mem, nodes * stride_)) {
        allocator_traits<Upstream>::deallocate(upstream_.get(), mem, bytes, align);
        return false;
      }
    }
    auto* chunk = ::new (static_cast<void*>(mem + nodes * stride_)) Chunk{chunks_, mem, nodes};
    chunks_ = chunk;
    ++chunk_count_;
    capacity_nodes_ += nodes;
    lowest_ = std::min(lowest_, reinterpret_cast<std::uintptr_t>(mem));
    highest_ = std::max(highest_, reinterpret_cast<std::uintptr_t>(mem + nodes * stride_));
    poison_memory(mem, nodes * stride_);
    while (fresh_ != fresh_end_) {  // keep the old fresh nodes
      auto* n = reinterpret_cast<Node*>(fresh_);
      fresh_ += stride_;
      unpoison_memory(n, sizeof(Node));
      n->next = free_;
      mark_free(n);
      poison_memory(n, stride_);
      free_ = n;
    }
    fresh_ = mem;
    fresh_end_ = mem + nodes * stride_;
    if (next_chunk_nodes_ < max_chunk_nodes_)
      next_chunk_nodes_ = next_chunk_nodes_ > max_chunk_nodes_ / 2 ? max_chunk_nodes_ : next_chunk_nodes_ * 2;
    return true;
  }

  void free_chunk(Chunk* chunk) noexcept {
    const std::size_t nodes = chunk->nodes;
    std::byte* begin = chunk->begin;
    const std::size_t align = node_alignment_ > alignof(Chunk) ? node_alignment_ : alignof(Chunk);
    --chunk_count_;
    capacity_nodes_ -= nodes;
    if constexpr (checks::hardened) pages_.erase(begin, nodes * stride_);
    unpoison_memory(begin, nodes * stride_);
    allocator_traits<Upstream>::deallocate(upstream_.get(), begin, nodes * stride_ + sizeof(Chunk), align);
  }

  void release_chunks() noexcept {
    if constexpr (valgrind_enabled) {  // every node goes: memcheck's pool starts afresh
      vg_pool_destroy(this);
      vg_pool_create(this);
    }
    while (chunks_) {
      Chunk* c = chunks_;
      chunks_ = c->next;
      free_chunk(c);
    }
    lowest_ = UINTPTR_MAX;
    highest_ = 0;
  }

  void recompute_bounds() noexcept {
    lowest_ = UINTPTR_MAX;
    highest_ = 0;
    for (Chunk* c = chunks_; c; c = c->next) {
      lowest_ = std::min(lowest_, reinterpret_cast<std::uintptr_t>(c->begin));
      highest_ = std::max(highest_, reinterpret_cast<std::uintptr_t>(c->begin + c->nodes * stride_));
    }
  }

  /// True if `p` lies on a page of a chunk (hardened builds; else true: nothing is checked).
  bool on_chunk_page([[maybe_unused]] const void* p) const noexcept {
    if constexpr (checks::hardened) return pages_.contains(p);
    return true;
  }

  const Chunk* find_chunk(const void* p) const noexcept {
    const auto* b = static_cast<const std::byte*>(p);
    for (Chunk* c = chunks_; c; c = c->next)
      if (b >= c->begin && b < c->begin + c->nodes * stride_) return c;
    return nullptr;
  }

  static const ChunkUse* lookup(const std::vector<ChunkUse>& use, const void* p) noexcept {
    auto it = std::upper_bound(use.begin(), use.end(), p, [](const void* q, const ChunkUse& u) {
      return static_cast<const std::byte*>(q) < u.begin;
    });
    return &*(it - 1);
  }

  /// Free nodes per chunk (free list plus the uncarved fresh region), chunks sorted by address.
  /// False if the scratch vector could not be allocated.
  bool count_free_per_chunk(std::vector<ChunkUse>& use) const noexcept {
#if CORE_MEMORY_EXCEPTIONS
    try {
#endif
      use.reserve(chunk_count_);
#if CORE_MEMORY_EXCEPTIONS
    } catch (const std::bad_alloc&) {
      return false;
    }
#endif
    for (Chunk* c = chunks_; c; c = c->next) use.push_back({c->begin, c->nodes, 0});
    std::sort(use.begin(), use.end(), [](const ChunkUse& a, const ChunkUse& b) { return a.begin < b.begin; });
    set_free_list_poison(false);
    for (Node* n = free_; n; n = n->next) const_cast<ChunkUse*>(lookup(use, n))->free++;
    set_free_list_poison(true);
    if (fresh_ != fresh_end_)
      const_cast<ChunkUse*>(lookup(use, fresh_))->free += static_cast<std::size_t>(fresh_end_ - fresh_) / stride_;
    return true;
  }

  [[no_unique_address]] detail::allocator_ref<Upstream> upstream_;
  Node* free_ = nullptr;
  std::byte* fresh_ = nullptr;  // uncarved part of the newest chunk
  std::byte* fresh_end_ = nullptr;
  Chunk* chunks_ = nullptr;
  std::size_t chunk_count_ = 0;
  std::size_t capacity_nodes_ = 0;
  std::uintptr_t lowest_ = UINTPTR_MAX;  // address range of all chunks, for the foreign check
  std::uintptr_t highest_ = 0;
  [[no_unique_address]] std::conditional_t<checks::hardened, detail::PageSet, detail::NoPageSet> pages_;  // chunks' pages
  std::size_t node_size_;
  std::size_t node_alignment_;
  std::size_t stride_ = 0;
  std::size_t next_chunk_nodes_ = 0;
  std::size_t first_chunk_nodes_ = 0;
  std::size_t max_chunk_nodes_ = 0;
  std::size_t max_nodes_;
  const char* name_;
};

using MemoryPool = BasicMemoryPool<>;
static_assert(RawAllocator<MemoryPool>);

}  // namespace core::memory
