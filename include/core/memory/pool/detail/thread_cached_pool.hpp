#pragma once
/// ThreadCachedPool: the engine of ConcurrentPool and ThreadPoolAllocator. Blocks of a few size
/// classes, served from per-thread heaps so that the common paths take no lock and no atomic
/// read-modify-write, built from the library's single-threaded parts:
///
/// - Each thread that uses the pool gets a heap: per class, a bounded free list ("front", the
///   fast path: a pop or a push) in front of a SlabCache that owns the heap's slabs. A block's
///   slab, and so its owning heap, is found by masking its address (the slab header).
/// - A thread may free any block. It goes on the freeing thread's front first; when a front
///   overflows, half of it is flushed: the heap's own blocks back to its slab caches, the others
///   to their owners' inboxes, one CAS per owner and batch (remote frees batched as messages, as
///   snmalloc does, in magazines of block addresses). An owner empties its inbox (one exchange)
///   when its front runs dry.
/// - Slabs move between heaps only whole, through a lock-free depot per class in front of the
///   upstream allocator (SlabDepot).
/// - A thread that exits hands its heap back (blocks cached by it go home first); the heap keeps
///   its slabs and inbox, so blocks freed later still find a home, and the next new thread
///   adopts it. The depots then give back upstream their empty slabs beyond 512 KiB a class.
///   Statistics are per-heap counters with one writer each, summed when read.
/// - Every 64 refills a heap trims the classes it stopped using (scavenge): what it cached of them
///   goes home, so a few cached blocks do not pin a slab of every class a thread passed through.
///   A class's refills start at a page of blocks and double up to half the cap (slow start).
/// - An uncached class (size_class_spec::uncached: the process allocator's blocks above 64 KiB)
///   has no front: a free goes to its slab or home at once, an allocation takes one block from
///   the slab cache, and a heap keeps no empty slab of it, so an idle thread holds none.
///
/// Lock-free: allocate and free, including refills, flushes and slab exchange. Locked: a thread's
/// first use (its heap is created or adopted), its exit, calls to a non-thread-safe upstream, the
/// passes over the heaps of exited threads (shrink_to_fit's, a refill's when upstream fails), and
/// with a purging upstream (the process allocator) the listing of each purged spare slab (a
/// spare slab coming back over the budget, or a scavenge's decay of idle depots).

#include <core/memory/allocator/slab_allocator.hpp>
#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/pool/detail/atomic_stack.hpp>
#include <core/memory/pool/detail/slab_depot.hpp>
#include <core/memory/pool/detail/thread_registry.hpp>
#include <core/memory/util/cache_line.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/memory_barrier.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <new>
#include <utility>

#include <sched.h>

namespace core::memory::detail {

/// One size class of a ThreadCachedPool.
struct size_class_spec {
  std::size_t size = 0;          ///< bytes a block holds
  std::size_t alignment = 16;    ///< alignment of every block (at most 4096)
  std::size_t min_per_slab = 8;  ///< blocks a slab holds at least (8 to 1024)
  std::size_t cache_limit = 0;   ///< blocks a thread caches at most per class (0: from the size)
  /// Blocks a thread may come to cache in this class when it cycles more than cache_limit at a
  /// time (see cache_growth_bytes); at most cache_limit (no growth) when below it.
  std::size_t cache_limit_max = 0;
  /// Blocks of this class bypass the threads' fronts: each free goes back to its slab (or home)
  /// at once, each allocation takes one block from the thread's slab cache, and a thread's heap
  /// keeps no empty slab of it (empty slabs go to the depot, whose budget is the pool's, not a
  /// thread's). For large blocks (the process allocator's 80 KiB to 1 MiB), which a front of
  /// two per class and thread would let each idle thread hold by the MiB.
  bool uncached = false;
};

/// The word that marks a free block when frees are checked (exchanged atomically by each).
template <bool Checked>
struct free_cookie {};
template <>
struct free_cookie<true> {
  std::uintptr_t value;
};

/// `Checked`: the hardened checks on frees (on in hardened builds; the process allocator
/// chooses at run time between two instances).
template <RawAllocator Upstream, std::size_t Classes, bool Checked = checks::hardened>
class CORE_MEMORY_LEVEL_ABI ThreadCachedPool final : public HeapOwner {
  using Depot = SlabDepot<Upstream>;
  using Cache = BasicSlabCache<Depot>;

 public:
  using upstream_refs = std::array<allocator_ref<Upstream>, Classes>;

  ThreadCachedPool(allocator_ref<Upstream> upstream, const std::array<size_class_spec, Classes>& specs,
                   const char* name)
      : ThreadCachedPool(same_upstream(upstream, std::make_index_sequence<Classes>{}), specs, name) {}

  /// Each class draws its slabs from its own upstream (the process allocator gives each class a
  /// range of addresses, so a block's class is known from its address alone).
  /// `cache_growth_bytes`: how far a thread's caps may grow in all above the classes'
  /// cache_limit, for a thread whose frees overflow a class's cap after refills (it cycles more
  /// blocks than the cap, as tcmalloc's thread caches grow); back to cache_limit at every trim
  /// (flush_thread_cache, shrink_to_fit, thread exit).
  ThreadCachedPool(const upstream_refs& upstreams, const std::array<size_class_spec, Classes>& specs, const char* name,
                   std::size_t cache_growth_bytes = 0)
      : depots_(make_depots(upstreams, upstream_mutex_, std::make_index_sequence<Classes>{})),
        growth_bytes_(cache_growth_bytes),
        name_(name) {
    for (std::size_t c = 0; c < Classes; ++c) {
      // A probe cache computes the slab geometry (it allocates nothing).
      Cache probe(depots_[c], block_bytes(specs[c].size), specs[c].alignment, nullptr, nullptr, 1,
                  specs[c].min_per_slab, name);
      size_[c] = specs[c].size;
      alignment_[c] = probe.object_alignment();
      min_per_slab_[c] = specs[c].min_per_slab;
      per_slab_[c] = probe.objects_per_slab();
      slab_size_[c] = probe.slab_size();
      depots_[c].set_slab_size(slab_size_[c]);
      if constexpr (requires { Upstream::resident_large_spare_total; }) {
        if (slab_size_[c] > Upstream::resident_spare_bytes)
          depots_[c].set_resident_budget(&resident_large_spare_, Upstream::resident_large_spare_total);
        else
          depots_[c].set_resident_budget(&resident_spare_, Upstream::resident_spare_total);
      } else if constexpr (requires { Upstream::resident_spare_total; }) {
        depots_[c].set_resident_budget(&resident_spare_, Upstream::resident_spare_total);
      }
      depots_[c].set_clock(&clock_);
      std::size_t limit = specs[c].cache_limit;
      if (limit == 0) limit = std::max<std::size_t>(16, std::min<std::size_t>(512, 32768 / block_bytes(specs[c].size)));
      limit_[c] = limit < 2 ? 2 : limit;
      max_limit_[c] = std::max(limit_[c], specs[c].cache_limit_max);
      first_batch_[c] = static_cast<std::uint32_t>(std::clamp<std::size_t>(4096 / probe.stride(), 1, limit_[c] / 2));
      if (specs[c].uncached) {
        limit_[c] = max_limit_[c] = 0;  // no room: every push and pop takes the slow path
        first_batch_[c] = 1;
      }
    }
  }

  ThreadCachedPool(const ThreadCachedPool&) = delete;
  ThreadCachedPool& operator=(const ThreadCachedPool&) = delete;

  ~ThreadCachedPool() {
    retire();  // exiting threads no longer hand heaps back
    // Live blocks are released with their slabs, as MemoryPool does (ObjectPool reports them).
    for (Heap* h = heaps_.load(std::memory_order_acquire); h;) {
      Heap* next = h->next_heap;
      h->~Heap();
      h = next;
    }
    for (HeapChunk* k = chunks_.load(std::memory_order_acquire); k;) {
      HeapChunk* next = k->next;
      const std::size_t bytes = k->bytes();
      k->~HeapChunk();
      free_metadata(k, bytes);
      k = next;
    }
  }

  /// A block of class `c`, or null when upstream is exhausted. No lock, no atomic RMW while the
  /// thread's front holds blocks.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t c) noexcept {
    return try_allocate_from(static_cast<Heap*>(cached_thread_heap()), c);
  }
  /// try_allocate's fast path alone: a block from the calling thread's cache, or null (then
  /// try_allocate takes the slow path). No call: a caller whose own slow path is a tail call
  /// (malloc) saves no registers.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate_cached(std::size_t c) noexcept {
    return take(static_cast<Heap*>(cached_thread_heap()), c);
  }
  /// deallocate's fast path alone, for the unchecked engine: true if the block went to the calling
  /// thread's cache, false if it has no room (then call deallocate).
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE bool try_deallocate_cached(void* p, std::size_t c) noexcept
    requires(!Checked)
  {
    return push_cached(static_cast<Node*>(p), c);
  }

  /// A caller's size not given (a size of 0 is one).
  static constexpr std::size_t unknown_size = SIZE_MAX;

  /// Frees a block of class `c` from any thread. Hardened builds report a double free (also one
  /// racing on two threads), a foreign or interior pointer, or a block of another class, with
  /// the caller's `size` and `align` (unknown_size, 0: the class's).
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t c, std::size_t size = unknown_size, std::size_t align = 0) noexcept {
    if constexpr (Checked) {
      if (!validate_free(p, c, size, align)) [[unlikely]]
        return;
    }
    deallocate_unchecked(p, c);
  }

  /// deallocate without validate_free's checks, for callers that ran them already (ObjectPool,
  /// before the destructor). Hardened builds mark the block free here, by an atomic exchange of
  /// a word of it (so only once the object is destroyed): of two threads freeing the block at
  /// once, exactly one frees it and the other's free is reported.
  CORE_MEMORY_ALWAYS_INLINE void deallocate_unchecked(void* p, std::size_t c) noexcept {
    free_to(static_cast<Heap*>(cached_thread_heap()), static_cast<Node*>(p), c);
  }

  class Local;

  /// The pool's clock: scavenges so far, of any thread's heap.
  [[nodiscard]] std::uint64_t clock() const noexcept { return clock_.load(std::memory_order_relaxed); }
  /// `hook(arg, now)` runs after each scavenge (on the scavenging thread, out of line): an
  /// owner's own caches may decay by the same clock. Set before first use.
  void set_scavenge_hook(void (*hook)(void*, std::uint64_t), void* arg) noexcept {
    scavenge_hook_ = hook;
    scavenge_arg_ = arg;
  }

  /// Hands the calling thread's cached blocks back (its own to its slabs, others to their owners)
  /// and its empty slabs to the depot.
  void flush_thread_cache() noexcept {
    if (auto* h = static_cast<Heap*>(find_thread_heap())) trim(h);
  }

  /// Returns to upstream every slab that is empty: now for the calling thread's heap and those of
  /// exited threads, at their next refill or flush for other live threads. Safe while other
  /// threads allocate and free.
  void shrink_to_fit() noexcept {
    flush_thread_cache();
    {
      std::lock_guard lock(mutex_);
      for (Heap* h = abandoned_; h; h = h->next_abandoned) trim(h);
    }
    // relaxed: a request, not a hand-over of data; each heap acts on it by itself.
    trim_epoch_.fetch_add(1, std::memory_order_relaxed);
    for (Depot& d : depots_) d.release_cached();
  }

  /// Makes room for `count` blocks of class `c` in all without upstream calls (as whole slabs in
  /// the depot, for any thread to take). False if upstream could not give them.
  bool reserve(std::size_t c, std::size_t count) noexcept {
    return depots_[c].reserve(count / per_slab_[c] + (count % per_slab_[c] != 0));
  }

  /// Blocks allocated and not freed, over all threads: exact when no other thread is allocating
  /// or freeing at the same moment, even while blocks move between caches on slow paths (thread
  /// exits, refills, flushes); during traffic, off by the blocks allocated and freed while it
  /// reads, and never below 0.
  [[nodiscard]] std::size_t live_blocks() const noexcept {
    // A heap's allocations minus its frees are the blocks its fronts received on slow paths
    // minus those they hold now (each pop is an allocation, each push a free).
    // Frees sent home by threads without a heap are counted apart. relaxed: as below.
    std::uint64_t live = 0 - sent_home_.load(std::memory_order_relaxed);
    // acquire: pairs with take_heap's release (constructed heaps).
    for (Heap* h = heaps_.load(std::memory_order_acquire); h; h = h->next_heap) {
      std::uint64_t heap_live = 0;
      for (int tries = 0;; ++tries) {  // between two equal even `moves` (see begin_move)
        // acquire: pairs with end_move's release. Relaxed counter reads: each has one writer.
        const std::uint64_t before = h->moves.load(std::memory_order_acquire);
        heap_live = h->received.load(std::memory_order_relaxed);
        for (const Front& f : h->front) heap_live -= f.count.load(std::memory_order_relaxed);
        // acquire fence: pairs with begin_move's release fence (a counter read that saw a write
        // of a move makes this load see that move's odd value).
        acquire_fence();
        // A writer preempted mid-move must not stall the reader for long: it spins 64 times,
        // then yields (the writer may need this core) up to 1024 times; then the last reading
        // stands (off by the one block moving).
        if ((before % 2 == 0 && h->moves.load(std::memory_order_relaxed) == before) || tries == 1024) break;
        if (tries < 64) cpu_pause();
        else ::sched_yield();
      }
      live += heap_live;
    }
    // During traffic the counters of a heap are read at slightly different moments, so the sum
    // may be off by the blocks moved meanwhile: never report less than none (it would wrap).
    const auto signed_live = static_cast<std::int64_t>(live);
    return signed_live < 0 ? 0 : static_cast<std::size_t>(signed_live);
  }
  /// Slabs of class `c` obtained from upstream (in use or cached).
  [[nodiscard]] std::size_t slabs(std::size_t c) const noexcept { return depots_[c].slab_count(); }
  /// Bytes of spare slabs that kept their memory, over all classes (with a purging upstream).
  [[nodiscard]] std::size_t spare_resident_bytes() const noexcept {
    return resident_spare_.load(std::memory_order_relaxed) + resident_large_spare_.load(std::memory_order_relaxed);
  }
  /// Spare slabs of class `c` in its depot (see SlabDepot::cached_count).
  [[nodiscard]] std::size_t spare_slabs(std::size_t c) const noexcept { return depots_[c].cached_count(); }
  /// Free blocks of class `c` cached in the threads' fronts (a snapshot during traffic).
  [[nodiscard]] std::size_t cached_blocks(std::size_t c) const noexcept {
    std::size_t n = 0;
    // acquire: as live_blocks; relaxed counts: a snapshot.
    for (Heap* h = heaps_.load(std::memory_order_acquire); h; h = h->next_heap)
      n += h->front[c].count.load(std::memory_order_relaxed);
    return n;
  }
  /// Blocks the slabs of class `c` hold (live, cached or free).
  [[nodiscard]] std::size_t capacity(std::size_t c) const noexcept { return slabs(c) * per_slab_[c]; }
  /// Bytes obtained from upstream for slabs.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept {
    std::size_t n = 0;
    for (std::size_t c = 0; c < Classes; ++c) n += slabs(c) * slab_size_[c];
    return n;
  }
  /// Heaps created so far (at most the number of threads that used the pool at once).
  [[nodiscard]] std::size_t heap_count() const noexcept {
    std::size_t n = 0;
    for (Heap* h = heaps_.load(std::memory_order_acquire); h; h = h->next_heap) ++n;
    return n;
  }

  [[nodiscard]] std::size_t block_size(std::size_t c) const noexcept { return size_[c]; }
  [[nodiscard]] std::size_t block_alignment(std::size_t c) const noexcept { return alignment_[c]; }
  [[nodiscard]] std::size_t slab_size(std::size_t c) const noexcept { return slab_size_[c]; }
  [[nodiscard]] std::size_t blocks_per_slab(std::size_t c) const noexcept { return per_slab_[c]; }
  [[nodiscard]] std::size_t cache_limit(std::size_t c) const noexcept { return limit_[c]; }
  /// The calling thread's cap on the blocks it caches of class `c`: cache_limit, or more if it
  /// grew (see the constructor).
  [[nodiscard]] std::size_t thread_cache_limit(std::size_t c) const noexcept {
    const auto* h = static_cast<const Heap*>(cached_thread_heap());
    return h ? h->front[c].limit : limit_[c];
  }
  [[nodiscard]] const char* name() const noexcept { return name_; }
  [[nodiscard]] Upstream& upstream() const noexcept { return depots_[0].upstream(); }
  /// A block straight from upstream, for requests no class serves (serialised if needed).
  [[nodiscard]] void* upstream_try_allocate(std::size_t size, std::size_t align) noexcept {
    if (void* p = depots_[0].try_allocate_upstream(size, align)) return p;
    return release_spare(Classes) ? depots_[0].try_allocate_upstream(size, align) : nullptr;
  }
  void upstream_deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    depots_[0].deallocate_upstream(p, size, align);
  }

  /// True if `p` is a block of class `c` of this pool (live or free). O(log slabs). Takes the
  /// upstream lock, so that the slab it reads cannot go back upstream meanwhile (shrink_to_fit).
  [[nodiscard]] bool owns(const void* p, std::size_t c) const noexcept {
    std::lock_guard lock(depots_[c].upstream_mutex());
    if (!depots_[c].holds(p)) return false;
    const ClassCache* owner = owner_cache(p, c);
    return owner && owner->is_object_start(p);
  }

  /// The class whose slabs hold `p`, or Classes if none. O(classes log slabs), locks (as owns): for the
  /// expensive checks of frees that go upstream (it reads no memory outside the slabs).
  [[nodiscard]] std::size_t class_holding(const void* p) const noexcept {
    std::lock_guard lock(depots_[0].upstream_mutex());  // one lock for all the depots
    for (std::size_t c = 0; c < Classes; ++c)
      if (depots_[c].holds(p) && owner_cache(p, c)) return c;
    return Classes;
  }

 private:
  struct Node {
    Node* next;  // first: a slab cache's own link overwrites only this word
    [[no_unique_address]] free_cookie<Checked> cookie;
  };
  struct Heap;
  /// A heap's slab cache of one class; the slab header names it, and it names its heap.
  struct ClassCache : Cache {
    ClassCache(Depot& depot, std::size_t size, std::size_t alignment, std::size_t min_per_slab, Heap* h,
               std::size_t keep_empty, const char* name)
        : Cache(depot, block_bytes(size), alignment, nullptr, nullptr, keep_empty, min_per_slab, name), heap(h) {}
    Heap* heap;
  };
  struct Front {
    Node* head = nullptr;
    std::atomic<std::size_t> count{0};  // one writer, the owner; read by statistics
    std::size_t limit = 0;              // the owner's cap on count: the class's, or grown
    std::uint32_t batch = 0;            // blocks the next refill takes from the slab cache
    bool refilled = false;              // a refill came since the last overflow
    bool active = false;                // a refill or an overflow came since the last scavenge
  };
  // 32 bytes on 64-bit targets: malloc's fast path finds a class's front with one shift (a
  // 40-byte Front took a lea and a shift, on the path of every malloc and free).
  static_assert(sizeof(void*) != 8 || sizeof(Front) == 32);
  /// A thread's heap. The owner alone touches front, the caches and the counters' values; other
  /// threads push to inbox and read the counters.
  struct alignas(false_sharing_range) Heap {
    explicit Heap(ThreadCachedPool& pool) noexcept {
      for (std::size_t c = 0; c < Classes; ++c) {
        front[c].limit = pool.limit_[c];
        front[c].batch = pool.first_batch_[c];
      }
      for (std::size_t c = 0; c < Classes; ++c)
        ::new (static_cast<void*>(storage + c * sizeof(ClassCache)))
            ClassCache(pool.depots_[c], pool.size_[c], pool.alignment_[c], pool.min_per_slab_[c], this,
                       pool.limit_[c] == 0 ? 0 : 1, pool.name_);
    }
    ~Heap() {
      for (std::size_t c = 0; c < Classes; ++c) cache(c).~ClassCache();
    }
    ClassCache& cache(std::size_t c) noexcept {
      return *std::launder(reinterpret_cast<ClassCache*>(storage + c * sizeof(ClassCache)));
    }

    std::array<Front, Classes> front{};
    std::atomic<std::uint64_t> received{0};  // blocks moved into the fronts on slow paths, net
    std::atomic<std::uint64_t> moves{0};     // odd while a slow path moves a block (begin_move)
    std::uint64_t trim_seen = 0;
    std::size_t grown_bytes = 0;     // what the fronts' caps grew by, in block bytes
    std::size_t refills = 0;         // refills since the last scavenge
    Heap* next_heap = nullptr;       // every heap of the pool; immutable once published
    Heap* next_abandoned = nullptr;  // heaps of exited threads; under the pool's mutex
    alignas(ClassCache) std::byte storage[Classes * sizeof(ClassCache)];
    alignas(false_sharing_range) std::array<AtomicStack<Node>, Classes> inbox;  // remote frees
  };

  /// Heaps are made in chunks of 1, 2, 4 ... 64, so that the hardened checks find the heap a slab
  /// header names among O(log heaps + heaps / 64) chunks, not among every heap (a free of a
  /// pool that 512 threads used at once took 15 us so). The heaps follow the header.
  struct alignas(false_sharing_range) HeapChunk {
    HeapChunk(HeapChunk* n, std::size_t cap) noexcept : next(n), capacity(cap) {}
    Heap* heaps() noexcept { return reinterpret_cast<Heap*>(this + 1); }
    std::size_t bytes() const noexcept { return sizeof(HeapChunk) + capacity * sizeof(Heap); }
    HeapChunk* next;
    std::size_t capacity;
    std::atomic<std::size_t> used{0};  // heaps constructed; grows under mutex_
  };
  static_assert(sizeof(HeapChunk) % alignof(Heap) == 0);

  template <std::size_t... I>
  static std::array<Depot, Classes> make_depots(const upstream_refs& upstreams, std::mutex& m,
                                                std::index_sequence<I...>) {
    return {{Depot(upstreams[I], m)...}};
  }
  template <std::size_t... I>
  static upstream_refs same_upstream(allocator_ref<Upstream> upstream, std::index_sequence<I...>) {
    return {{((void)I, upstream)...}};
  }

  /// The bytes a block takes in its slab: room for the free-list link (and hardened cookie).
  static constexpr std::size_t block_bytes(std::size_t size) noexcept { return size < sizeof(Node) ? sizeof(Node) : size; }

  // One writer per counter, so a relaxed load and store suffice (no locked instruction); the
  // statistics read them with relaxed loads.
  template <class T>
  CORE_MEMORY_ALWAYS_INLINE static void add(std::atomic<T>& counter, T n) noexcept {
#if defined(__x86_64__) && defined(__LP64__) && (defined(__GNUC__) || defined(__clang__)) && !CORE_MEMORY_TSAN
    // The same as one instruction (compilers never fuse atomic loads and stores): x86 writes an
    // aligned word whole, so a reader sees the old or the new value, and the owner alone writes.
    static_assert(sizeof(T) == 8 && sizeof(std::atomic<T>) == 8 && std::atomic<T>::is_always_lock_free);
    asm volatile("addq %1, %0" : "+m"(*reinterpret_cast<T*>(&counter)) : "er"(n));
#else
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#endif
  }

  static std::uintptr_t cookie_of(const Node* n) noexcept {
    return reinterpret_cast<std::uintptr_t>(n) * 0x9E3779B97F4A7C15ull ^ 0x5EED5EED5EED5EEDull;
  }
  /// Marks a block free; true if it already was (a double free). The exchange makes the check
  /// exact when two threads free the same block at once: only one of them sees it live.
  static bool mark_free([[maybe_unused]] Node* n) noexcept {
    if constexpr (Checked) {
      return exchange_cookie(n, cookie_of(n)) == cookie_of(n);
    } else {
      return false;
    }
  }
  /// True if the block is marked free (a snapshot; mark_free decides between racing frees).
  static bool is_marked_free([[maybe_unused]] Node* n) noexcept {
    if constexpr (Checked) {
      return load_cookie(n) == cookie_of(n);
    } else {
      return false;
    }
  }
  // The cookie of a block that two threads free at once: the one that wins may have put it on a
  // list (and poisoned it) by the time the other reads it, so ASan does not check these accesses;
  // nor memcheck, which also sees the cookies of free blocks written and read (a double free).
  // relaxed: only the atomicity matters; the block's hand-over is ordered by the lists.
  CORE_MEMORY_NO_SANITIZE_ADDRESS static std::uintptr_t exchange_cookie(Node* n, std::uintptr_t v) noexcept {
    [[maybe_unused]] unchecked_memory_scope unchecked;
    return __atomic_exchange_n(&n->cookie.value, v, __ATOMIC_RELAXED);
  }
  CORE_MEMORY_NO_SANITIZE_ADDRESS static std::uintptr_t load_cookie(Node* n) noexcept {
    [[maybe_unused]] unchecked_memory_scope unchecked;
    return __atomic_load_n(&n->cookie.value, __ATOMIC_RELAXED);
  }
  /// (A block of a slab the calling thread just made: its blocks reach others through the lists.)
  CORE_MEMORY_NO_SANITIZE_ADDRESS static void store_cookie(Node* n, std::uintptr_t v) noexcept {
    [[maybe_unused]] unchecked_memory_scope unchecked;
    __atomic_store_n(&n->cookie.value, v, __ATOMIC_RELAXED);
  }
  static void mark_used([[maybe_unused]] Node* n) noexcept {
    if constexpr (Checked) std::atomic_ref<std::uintptr_t>(n->cookie.value).store(0, std::memory_order_relaxed);
  }

  /// A block of class `c` from heap `h` (the calling thread's, or null: none cached), else the
  /// slow path. The fast path has no call: anything else goes out of line.
  /// `held`: the heap of the Local the call came through (null otherwise), which its slow path
  /// checks against the thread's (see Local).
  CORE_MEMORY_ALWAYS_INLINE void* try_allocate_from(Heap* h, std::size_t c, Heap* held = nullptr) noexcept {
    if (void* p = take(h, c)) [[likely]]
      return p;
    return allocate_slow(c, held);
  }
  /// A block from the front of `h` (or null), or null.
  CORE_MEMORY_ALWAYS_INLINE void* take(Heap* h, std::size_t c) noexcept {
    if (h && h->front[c].head) [[likely]]
      return pop(h, c);
    return nullptr;
  }
  /// Frees `n`, checked by validate_free already, into heap `h` (the calling thread's, or null:
  /// none cached). Hardened builds mark the block free first (see deallocate_unchecked).
  CORE_MEMORY_ALWAYS_INLINE void free_to(Heap* h, Node* n, std::size_t c, Heap* held = nullptr) noexcept {
    if (!marked_free(n, c)) [[unlikely]]
      return;
    if (h && push_if_room(h->front[c], n, c)) [[likely]]
      return;
    deallocate_slow(n, c, held);
  }
  /// Hardened builds: marks `n` free, or reports a double free (false). True in other builds.
  CORE_MEMORY_ALWAYS_INLINE bool marked_free([[maybe_unused]] Node* n, [[maybe_unused]] std::size_t c) noexcept {
    if constexpr (Checked) {
      if (mark_free(n)) [[unlikely]] {
        report(error_kind::double_free, n, c, unknown_size, 0, "block is already free");
        return false;
      }
    }
    return true;
  }

  CORE_MEMORY_ALWAYS_INLINE void* pop(Heap* h, std::size_t c) noexcept { return pop(h->front[c], c); }
  /// A block off front `f` (of class `c`; not empty).
  CORE_MEMORY_ALWAYS_INLINE void* pop(Front& f, std::size_t c) noexcept {
    Node* n = f.head;
    unpoison_memory(n, sizeof(Node));
    f.head = n->next;
    add(f.count, std::size_t(-1));
    mark_used(n);
    unpoison_memory(n, size_[c]);
    return n;
  }

  /// Puts a free block (cookie already set) on the calling thread's front if it has room.
  CORE_MEMORY_ALWAYS_INLINE bool push_cached(Node* n, std::size_t c) noexcept {
    auto* h = static_cast<Heap*>(cached_thread_heap());
    return h && push_if_room(h->front[c], n, c);
  }
  /// Puts a free block on front `f` (of class `c`, the calling thread's) if it has room.
  CORE_MEMORY_ALWAYS_INLINE bool push_if_room(Front& f, Node* n, std::size_t c) noexcept {
    // relaxed: the thread's own counter.
    if (f.count.load(std::memory_order_relaxed) < f.limit) [[likely]] {
      push(f, n, c);
      return true;
    }
    return false;
  }

  /// Links a free block (cookie already set) into the front.
  CORE_MEMORY_ALWAYS_INLINE void push(Heap* h, Node* n, std::size_t c) noexcept { push(h->front[c], n, c); }
  CORE_MEMORY_ALWAYS_INLINE void push(Front& f, Node* n, std::size_t c) noexcept {
    unpoison_memory(n, sizeof(Node));
    n->next = f.head;
    poison_memory(n, block_bytes(size_[c]));
    f.head = n;
    add(f.count, std::size_t{1});
  }

  // A slow path moves a block between a front and the heap's received count in two updates;
  // live_blocks reads a heap's counters between two even values of its `moves` (a sequence lock
  // with one writer), so it never sees half a move.
  void begin_move(Heap* h) noexcept {
    const std::uint64_t m = h->moves.load(std::memory_order_relaxed);  // its one writer
    h->moves.store(m + 1, std::memory_order_relaxed);
    // release fence: a reader whose counter reads see a write after this sees the odd value.
    release_fence();
  }
  void end_move(Heap* h) noexcept {
    // release: a reader that reads the even value after the move sees the counters' writes.
    h->moves.store(h->moves.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  /// Takes a block off the front on a slow path (it leaves the front, not to a user).
  Node* pop_raw(Heap* h, Front& f) noexcept {
    Node* n = f.head;
    unpoison_memory(n, sizeof(Node));
    f.head = n->next;
    begin_move(h);
    add(f.count, std::size_t(-1));
    add(h->received, std::uint64_t(-1));
    end_move(h);
    return n;
  }
  /// Puts a block on the front on a slow path (it did not come from a user).
  void push_raw(Heap* h, Node* n, std::size_t c) noexcept {
    begin_move(h);
    add(h->received, std::uint64_t{1});
    push(h, n, c);
    end_move(h);
  }

  /// The heap cache of class `c` whose slab holds `p`, if that cache belongs to this pool
  /// (its address checked against the heap chunks before the header's pointer is followed),
  /// else null. O(chunks): O(log heaps + heaps / 64).
  const ClassCache* owner_cache(const void* p, std::size_t c) const noexcept {
    const auto named = reinterpret_cast<std::uintptr_t>(Cache::cache_of(p, slab_size_[c]));
    // acquire (chunks and their counts): pairs with take_heap's releases, so the heaps counted
    // are constructed.
    for (HeapChunk* k = chunks_.load(std::memory_order_acquire); k; k = k->next) {
      const auto base = reinterpret_cast<std::uintptr_t>(k->heaps());
      if (named < base) continue;
      const std::size_t i = (named - base) / sizeof(Heap);
      if (i >= k->used.load(std::memory_order_acquire)) continue;
      ClassCache& cache = std::launder(k->heaps() + i)->cache(c);
      if (reinterpret_cast<std::uintptr_t>(&cache) == named) return &cache;
    }
    return nullptr;
  }
  static ClassCache* cache_of(const void* p, std::size_t slab_size) noexcept {
    return static_cast<ClassCache*>(Cache::cache_of(p, slab_size));
  }

  /// Reports misuse of `p`, freed as a block of class `c` with the caller's size and alignment
  /// (unknown_size, 0: the class's).
  CORE_MEMORY_NOINLINE void report(error_kind kind, void* p, std::size_t c, std::size_t size, std::size_t align,
                                   const char* message) const noexcept {
    report_misuse({kind, name_, p, size != unknown_size ? size : size_[c], align ? align : alignment_[c], message, nullptr, 0});
  }


 public:
  /// The hardened check of deallocate: reports a double free, a foreign or interior pointer, or
  /// a block of another class, and returns false for them. Writes nothing to the block (it may
  /// still hold a live object): deallocate_unchecked marks it free. `size` and `align`: the
  /// caller's, for the report (unknown_size, 0: the class's).
  CORE_MEMORY_NOINLINE bool validate_free(void* p, std::size_t c, std::size_t size = unknown_size, std::size_t align = 0) noexcept {
    auto bad = [&](error_kind kind, const char* message) {
      report(kind, p, c, size, align, message);
      return false;
    };
    if (!p) return bad(error_kind::foreign_pointer, "null pointer freed");
    // A slab header is read only where a slab is held (an exact, lock-free lookup: the range of
    // the slabs has gaps, and returned slabs, that may not be mapped), or in the range where the
    // upstream keeps every slab mapped (see SlabDepot::may_hold).
    auto in_slab = [&](std::size_t k) { return checks::expensive ? depots_[k].holds(p) : depots_[k].may_hold(p); };
    const bool held = in_slab(c);
    const ClassCache* owner = held ? owner_cache(p, c) : nullptr;
    if (!owner) {
      for (std::size_t k = 0; k < Classes; ++k) {
        if (k != c && in_slab(k) && owner_cache(p, k)) {
          char message[128];
          std::snprintf(message, sizeof message,
                        "a block of another size class of this pool (%zu bytes), freed with the size of the %zu-byte class",
                        size_[k], size_[c]);
          return bad(error_kind::invalid_size, message);
        }
      }
      // Held exactly, and taken by a cache once: a spare slab. (With range_is_enough, the
      // upstream's readable part is where it gave slabs: every slab in it was obtained once.)
      if (held && !depots_[c].never_taken(p))
        return bad(error_kind::double_free, "block is already free (its slab is spare)");
      return bad(error_kind::foreign_pointer, "not a block of this pool");
    }
    if (!owner->is_object_start(p)) return bad(error_kind::interior_pointer, "inside a block of this pool, not at its start");
    // A block its slab never handed out carries no cookie (new slabs are not written, so that
    // their pages are touched only as used): free as far as the slab knows.
    if (!owner->handed_out(p)) return bad(error_kind::double_free, "block is already free (never handed out)");
    auto* n = static_cast<Node*>(p);
    // A poisoned block is on some free list already (under ASan), a marked one too. Two threads
    // freeing it at once both pass: the exchange in deallocate_unchecked decides between them.
    if (is_poisoned(n) || is_marked_free(n)) return bad(error_kind::double_free, "block is already free");
    return true;
  }

 private:
  // --- slow paths --------------------------------------------------------------------------

  /// The calling thread's heap, attached now if it has none; null if out of memory or exiting.
  Heap* thread_heap() noexcept {
    auto* h = static_cast<Heap*>(find_thread_heap());
    return h ? h : attach_heap();
  }

  /// A Local's heap that is not the calling thread's: the Local is used off its thread (another
  /// thread, or its own after the thread's exit handling). Found on slow paths in every build
  /// (the fast path may already have used the heap: the report says so).
  CORE_MEMORY_NOINLINE void report_held_heap(const void* block) const noexcept {
    report_misuse({error_kind::assertion, name_, block, 0, 0,
                   "thread cache used off the thread that took it (on another thread, or after its thread's exit)",
                   nullptr, 0});
  }

  CORE_MEMORY_NOINLINE void* allocate_slow(std::size_t c, Heap* held = nullptr) noexcept {
    Heap* h = thread_heap();
    if (held && h != held) [[unlikely]]
      report_held_heap(nullptr);
    if (!h) return allocate_stray(c);
    // relaxed: a trim request carries no data (see shrink_to_fit).
    if (trim_epoch_.load(std::memory_order_relaxed) != h->trim_seen) trim(h);
    if (limit_[c] == 0) return allocate_uncached(h, c);
    return refill(h, c) ? pop(h, c) : nullptr;
  }
  /// An uncached class: its own remote frees home, then one block from the slab cache. (A refill
  /// would drain every class's inbox, on every allocation of this one; counted as a refill, it
  /// ran the pool's clock, and so the decay of every class's spare slabs, 10x faster: a mix of
  /// 16-512 KiB buffers faulted its pages in 4x as often.)
  void* allocate_uncached(Heap* h, std::size_t c) noexcept {
    drain(h, c);
    if (refill_from_cache(h, c) || reclaim_abandoned(h, c)) return pop(h, c);
    return nullptr;
  }

  CORE_MEMORY_NOINLINE void deallocate_slow(Node* n, std::size_t c, Heap* held = nullptr) noexcept {
    Heap* h = thread_heap();
    if (held && h != held) [[unlikely]]
      report_held_heap(n);
    if (!h) {
      send_home(n, c);
      return;
    }
    free_into(h, n, c);
    if (trim_epoch_.load(std::memory_order_relaxed) != h->trim_seen) trim(h);
  }

  void free_into(Heap* h, Node* n, std::size_t c) noexcept {
    Front& f = h->front[c];
    if (f.limit == 0) {  // uncached: straight back to its slab, or home
      push(h, n, c);
      flush(h, c, 0);
      return;
    }
    if (f.count.load(std::memory_order_relaxed) >= f.limit) {
      // Overflowing after a refill, the thread cycles more blocks than the cap: doubled, within
      // the class's maximum and the heap's growth budget, the next cycle stays in the front
      // (a FIFO batch of 1024 blocks of 256 B went through the slab caches at 3x mimalloc's time).
      if (f.refilled && f.limit < max_limit_[c]) {
        const std::size_t grown = std::min(2 * f.limit, max_limit_[c]);
        const std::size_t bytes = (grown - f.limit) * size_[c];
        if (h->grown_bytes + bytes <= growth_bytes_) {
          h->grown_bytes += bytes;
          f.limit = grown;
        }
      }
      f.refilled = false;
      f.active = true;
      if (f.count.load(std::memory_order_relaxed) >= f.limit) flush(h, c, f.limit / 2);
    }
    push(h, n, c);
  }

  /// Fills the front of class `c`: remote frees first, then a batch from the slab cache (which
  /// takes a slab from the depot or upstream when it has none), then, with upstream exhausted,
  /// what the heaps of exited threads hold. False if nothing was found.
  bool refill(Heap* h, std::size_t c) noexcept {
    h->front[c].active = true;  // (before a scavenge: its own class is in use)
    if (++h->refills == scavenge_period) scavenge(h);
    drain(h);
    h->front[c].refilled = true;
    if (h->front[c].head || refill_from_cache(h, c)) return true;
    return reclaim_abandoned(h, c);
  }

  /// A batch from the heap's slab cache of class `c` (one new slab at most). Slow start, as
  /// tcmalloc's thread caches: a class's first refill takes a page's worth of blocks (at least
  /// one), each next one twice as many, up to half the cap. Every block taken is written (its
  /// link), so its page becomes resident: a batch of half the cap for a class a thread uses
  /// once (a 2 KiB buffer: 16 blocks, 32 KiB) cost Redis 0.6 MiB over its classes.
  bool refill_from_cache(Heap* h, std::size_t c) noexcept {
    ClassCache& cache = h->cache(c);
    Front& f = h->front[c];
    if (f.limit == 0) {  // uncached: one block, for the caller
      auto* n = static_cast<Node*>(cache.try_allocate_object());
      if (!n) return false;
      mark_free(n);
      push_raw(h, n, c);
      return true;
    }
    const std::size_t batch = std::min<std::size_t>(f.batch, f.limit / 2);
    f.batch = static_cast<std::uint32_t>(std::min<std::size_t>({2 * batch, f.limit / 2, UINT32_MAX}));
    for (std::size_t i = 0; i < batch && (i == 0 || cache.has_free_object()); ++i) {  // one new slab at most
      auto* n = static_cast<Node*>(cache.try_allocate_object());
      if (!n) break;
      mark_free(n);
      push_raw(h, n, c);
    }
    return h->front[c].head != nullptr;
  }

  /// Upstream is exhausted: what the heaps of exited threads hold of class `c` is the calling
  /// thread's to use (else a thread that adopts an empty heap fails while free blocks sit in the
  /// others): each one's class is trimmed (inbox drained, empty slabs to the depot) and its free
  /// blocks move to h's front. Under the pool's lock, as shrink_to_fit's pass: nothing here
  /// allocates from upstream (a slab going to the depot may be purged, and listed under the
  /// upstream lock, which is always taken after this one), and a thread that attaches meanwhile
  /// waits to adopt one of these heaps (with the
  /// list taken away it made a heap of its own, a concurrent refill found nothing, and a fork()
  /// lost them). O(exited heaps), only when upstream fails.
  CORE_MEMORY_NOINLINE bool reclaim_abandoned(Heap* h, std::size_t c) noexcept {
    {
      std::lock_guard lock(mutex_);
      for (Heap* a = abandoned_; a; a = a->next_abandoned) {
        trim(a, c);
        ClassCache& cache = a->cache(c);
        while (h->front[c].count.load(std::memory_order_relaxed) < h->front[c].limit / 2 && cache.has_free_object()) {
          auto* n = static_cast<Node*>(cache.try_allocate_object());  // a partial slab's: no upstream call
          mark_free(n);
          push_raw(h, n, c);
        }
      }
    }
    // The trims gave the depot the exited heaps' empty slabs.
    if (h->front[c].head || refill_from_cache(h, c)) return true;
    return release_spare(c) && refill_from_cache(h, c);
  }

  /// Upstream refused a request for class `c` (Classes: a block beyond the classes): the depots
  /// of the other classes that draw from the same upstream give it their spare slabs (else the
  /// slabs one class freed stay cached for it while another fails). True if any went back.
  CORE_MEMORY_NOINLINE bool release_spare(std::size_t c) noexcept {
    Upstream& u = depots_[c < Classes ? c : 0].upstream();
    bool released = false;
    for (std::size_t k = 0; k < Classes; ++k)
      if (k != c && (allocator_traits<Upstream>::is_stateless || &depots_[k].upstream() == &u))
        released = depots_[k].release_cached() != 0 || released;
    return released;
  }

  /// Takes the blocks other threads freed into this heap: to the fronts while they have room,
  /// the rest to the slab caches.
  void drain(Heap* h) noexcept {
    for (std::size_t c = 0; c < Classes; ++c) drain(h, c);
  }
  void drain(Heap* h, std::size_t c) noexcept {
    const std::size_t capacity = magazine_capacity(c);
    Node* m = h->inbox[c].take_all();
    while (m) {
      unpoison_memory(m, sizeof(Node) + capacity * sizeof(Node*));
      Node* next = m->next;
      Node* const* items = magazine_items(m);
      for (std::size_t i = 0; i < capacity && items[i]; ++i) take_home(h, items[i], c);
      take_home(h, m, c);  // last: its items are read until then
      m = next;
    }
  }
  /// A block of h's that another thread freed: to the front if it has room, else to the slab cache.
  void take_home(Heap* h, Node* n, std::size_t c) noexcept {
    if (h->front[c].count.load(std::memory_order_relaxed) < h->front[c].limit) {
      push_raw(h, n, c);
    } else {
      unpoison_memory(n, sizeof(Node));
      h->cache(c).deallocate_object(n);
    }
  }

  /// Remote frees travel home in magazines (as Bonwick's vmem and tcmalloc's transfer cache move
  /// objects): the first block of each group holds the addresses of up to magazine_capacity more,
  /// after its link (and hardened builds' cookie, which a racing double free may still write),
  /// and the groups are linked. The owner so waits on one cache miss per group, then loads the
  /// items' lines in parallel; a chain linked through every block took one miss per block, each
  /// on a line the other core wrote last (producer/consumer: 90-160 cycles a block when the
  /// hypervisor puts the two vCPUs far apart). The items themselves are not written in transit.
  std::size_t magazine_capacity(std::size_t c) const noexcept {
    return std::min<std::size_t>((block_bytes(size_[c]) - sizeof(Node)) / sizeof(Node*), max_magazine);
  }
  static constexpr std::size_t max_magazine = 63;
  static Node** magazine_items(Node* m) noexcept { return reinterpret_cast<Node**>(m + 1); }
  /// Makes `n` a magazine of class `c` holding no item yet (it stays addressable until closed).
  void open_magazine(Node* n, Node* next, std::size_t c) noexcept {
    unpoison_memory(n, sizeof(Node) + magazine_capacity(c) * sizeof(Node*));
    n->next = next;
  }
  /// Ends magazine `m` at `filled` items; poisoned in transit, but for its link if `open_link`
  /// (a push writes the last one's).
  void close_magazine(Node* m, std::size_t filled, std::size_t c, bool open_link) noexcept {
    const std::size_t capacity = magazine_capacity(c);
    if (filled < capacity) magazine_items(m)[filled] = nullptr;
    poison_memory(m, sizeof(Node) + capacity * sizeof(Node*));
    if (open_link) unpoison_memory(m, sizeof(Node));
  }

  /// Empties the front of class `c` down to `keep` blocks: the heap's own back to its slab
  /// cache, the others to their owners' inboxes in magazines, one push per owner and batch.
  void flush(Heap* h, std::size_t c, std::size_t keep) noexcept {
    struct Batch {
      Heap* owner;
      Node* first;         // the open magazine
      Node* last;          // the first one opened, last in the chain
      std::size_t filled;  // items in the open magazine
    };
    constexpr std::size_t max_batches = 4;
    Batch batches[max_batches];
    std::size_t used = 0;
    const std::size_t capacity = magazine_capacity(c);
    Front& f = h->front[c];
    while (f.count.load(std::memory_order_relaxed) > keep) {
      Node* n = pop_raw(h, f);
      ClassCache* owner = cache_of(n, slab_size_[c]);
      if (owner->heap == h) {
        owner->deallocate_object(n);
        continue;
      }
      Batch* b = nullptr;
      for (std::size_t i = 0; i < used; ++i)
        if (batches[i].owner == owner->heap) b = &batches[i];
      if (!b) {
        if (used == max_batches) {
          send(batches[0], c);
          batches[0] = batches[--used];
        }
        b = &batches[used++];
        open_magazine(n, nullptr, c);
        *b = {owner->heap, n, n, 0};
      } else if (b->filled < capacity) {
        magazine_items(b->first)[b->filled++] = n;
        poison_memory(n, sizeof(Node));
      } else {
        close_magazine(b->first, b->filled, c, b->first == b->last);
        open_magazine(n, b->first, c);
        b->first = n;
        b->filled = 0;
      }
    }
    for (std::size_t i = 0; i < used; ++i) send(batches[i], c);
  }

  /// Frees a block on a thread that has no heap (it is exiting, or none could be allocated):
  /// straight to its owner's inbox as a magazine of no items, one CAS and no memory needed,
  /// counted for the statistics.
  void send_home(Node* n, std::size_t c) noexcept {
    poison_memory(n, block_bytes(size_[c]));
    open_magazine(n, nullptr, c);
    close_magazine(n, 0, c, true);
    cache_of(n, slab_size_[c])->heap->inbox[c].push(n);
    // relaxed: a statistic; the block's hand-over is ordered by the inbox.
    sent_home_.fetch_add(1, std::memory_order_relaxed);
  }

  template <class B>
  void send(const B& b, std::size_t c) noexcept {
    close_magazine(b.first, b.filled, c, b.first == b.last);
    b.owner->inbox[c].push_chain(b.first, b.last);
  }

  /// Refills between two scavenges of a heap.
  static constexpr std::size_t scavenge_period = 64;
  /// Scavenges (of any heap) after which a depot that saw no slab come or go gives back the
  /// memory of its resident spare slabs (see SlabDepot::decay).
  static constexpr std::uint64_t decay_period = 8;
  /// Empties the classes that saw neither a refill nor an overflow since the last pass: what a
  /// thread caches of a class it stopped using goes back (as whole empty slabs, to the depot and
  /// then the OS), not only at its exit. Else the few blocks cached of each class a program
  /// passed through pin a slab each (Redis, after popping a list whose nodes went through the
  /// 3-8 KiB classes: 1.2 MiB). Runs every scavenge_period refills, so only for a thread that
  /// allocates; a class cycling within its front meanwhile loses its cached blocks and starts
  /// its refills over from the first batch (a few refills) but keeps its grown cap. Then the
  /// depots that saw no slab come or go for decay_period passes purge their resident spares
  /// (their memory back to the OS, at most the 1 MiB of all classes' budgets).
  CORE_MEMORY_NOINLINE void scavenge(Heap* h) noexcept {
    h->refills = 0;
    for (std::size_t c = 0; c < Classes; ++c) {
      Front& f = h->front[c];
      if (!f.active) {
        if (f.count.load(std::memory_order_relaxed) != 0 || h->cache(c).empty_slabs() != 0)
          empty_class(h, c);
        else
          f.batch = first_batch_[c];  // slow start again, as empty_class does
      }
      f.active = false;
    }
    // relaxed: a clock for decay, which orders nothing by it.
    const std::uint64_t now = clock_.fetch_add(1, std::memory_order_relaxed) + 1;
    for (std::size_t c = 0; c < Classes; ++c) depots_[c].decay(now, decay_period);
    if (scavenge_hook_) scavenge_hook_(scavenge_arg_, now);
  }

  /// Hands back what the heap caches of class `c`: inbox drained, front flushed, empty slabs to
  /// the depot.
  void empty_class(Heap* h, std::size_t c) noexcept {
    drain(h, c);
    flush(h, c, 0);
    h->cache(c).reclaim();
    h->front[c].batch = first_batch_[c];  // slow start again
  }

  /// Hands back what the heap caches: fronts flushed, inbox drained, empty slabs to the depot.
  void trim(Heap* h) noexcept {
    h->trim_seen = trim_epoch_.load(std::memory_order_relaxed);
    for (std::size_t c = 0; c < Classes; ++c) trim(h, c);
  }
  void trim(Heap* h, std::size_t c) noexcept {
    empty_class(h, c);
    Front& f = h->front[c];
    h->grown_bytes -= (f.limit - limit_[c]) * size_[c];
    f.limit = limit_[c];
    f.refilled = false;  // (a heap given back would let its next thread grow on a refill it never made)
  }

  /// Gives the calling thread a heap: one of an exited thread, or a new one. Null if out of
  /// memory or if the thread is exiting.
  CORE_MEMORY_NOINLINE Heap* attach_heap() noexcept {
    if (!enlist()) return nullptr;
    Heap* h = take_heap();
    if (!h) return nullptr;
    if (!attach_thread_heap(*this, h)) {
      give_back(h);
      return nullptr;
    }
    return h;
  }

  /// Puts a heap no thread holds on the list of heaps to adopt.
  void give_back(Heap* h) noexcept {
    std::lock_guard lock(mutex_);
    h->next_abandoned = abandoned_;
    abandoned_ = h;
  }

  /// An abandoned heap, else a new published one; null if out of memory.
  Heap* take_heap() noexcept {
    std::lock_guard lock(mutex_);
    if (Heap* h = abandoned_) {
      abandoned_ = h->next_abandoned;
      return h;
    }
    // relaxed (chunks and counts): they change only under mutex_, which we hold.
    HeapChunk* k = chunks_.load(std::memory_order_relaxed);
    if (!k || k->used.load(std::memory_order_relaxed) == k->capacity) {
      const std::size_t capacity = k ? std::min<std::size_t>(2 * k->capacity, 64) : 1;
      // From the OS, never malloc (the process allocator stands on this); page-aligned.
      void* mem = allocate_metadata(sizeof(HeapChunk) + capacity * sizeof(Heap));
      if (!mem) return nullptr;
      k = ::new (mem) HeapChunk(k, capacity);
      // release: owner_cache sees the chunk's fields.
      chunks_.store(k, std::memory_order_release);
    }
    const std::size_t used = k->used.load(std::memory_order_relaxed);
    Heap* h = ::new (static_cast<void*>(k->heaps() + used)) Heap(*this);
    // release: owner_cache counts the heap only once it is constructed.
    k->used.store(used + 1, std::memory_order_release);
    h->next_heap = heaps_.load(std::memory_order_relaxed);
    // release: readers walking the list (statistics, hardened checks) see a constructed heap.
    heaps_.store(h, std::memory_order_release);
    return h;
  }

  /// A block for a thread that cannot keep a heap (it is exiting, or out of memory): from a heap
  /// taken off the list for the call, so used exclusively and without the pool's lock held (a
  /// refill may call upstream, which may take the registry's lock and other pools' locks),
  /// trimmed and given back. Null if no heap could be had at all.
  CORE_MEMORY_NOINLINE void* allocate_stray(std::size_t c) noexcept {
    Heap* h = take_heap();
    if (!h) return nullptr;
    void* p = refill(h, c) ? pop(h, c) : nullptr;
    trim(h);
    give_back(h);
    return p;
  }

 public:
  /// Called by the registry when a thread holding `heap` exits.
  void abandon_heap(void* heap) noexcept override {
    auto* h = static_cast<Heap*>(heap);
    trim(h);
    give_back(h);
    for (std::size_t c = 0; c < Classes; ++c) {
      const std::size_t keep = kept_at_exit / slab_size_[c];
      depots_[c].release_cached(keep > 0 ? keep : 1);
    }
  }

  /// fork(): the pool's locks are held across it, so its shared state (depots, the heaps of
  /// exited threads, upstream) is consistent in the child. The heaps of the other threads, which
  /// do not exist in the child, are left alone there: one of them may have been in the middle of
  /// an allocation. What they cache is lost to the child; blocks it frees into them wait in
  /// their inboxes. The forking thread keeps its heap; new threads adopt or create others.
  /// The lock of calls to upstream, which fork() holds across: an owner's own rarely changed
  /// state may share it (GeneralAllocator's list of large blocks in checked mode).
  std::mutex& upstream_mutex() const noexcept { return upstream_mutex_; }

  bool try_prepare_fork() noexcept override {
    if (!mutex_.try_lock()) return false;
    if (upstream_mutex_.try_lock()) return true;
    mutex_.unlock();
    return false;
  }
  void after_fork(bool, void*) noexcept override {
    upstream_mutex_.unlock();
    mutex_.unlock();
  }

 private:
  // Bytes of empty slabs (at least one) a depot keeps when a thread exits: enough for threads
  // that come and go to find their slabs there, not what many threads held at once.
  static constexpr std::size_t kept_at_exit = std::size_t{512} << 10;
  mutable std::mutex upstream_mutex_;  // shared by the depots: calls to upstream, slab tables
  std::atomic<std::size_t> resident_spare_{0};  // bytes of spare slabs resident in all depots (outlives them)
  std::atomic<std::size_t> resident_large_spare_{0};  // the same, of the depots whose slabs are larger
  std::atomic<std::uint64_t> clock_{0};  // scavenges so far, of any heap (depots decay by it; outlives them)
  void (*scavenge_hook_)(void*, std::uint64_t) = nullptr;  // see set_scavenge_hook
  void* scavenge_arg_ = nullptr;
  mutable std::array<Depot, Classes> depots_;
  std::array<std::size_t, Classes> size_{}, alignment_{}, min_per_slab_{}, per_slab_{}, slab_size_{}, limit_{}, max_limit_{};
  std::array<std::uint32_t, Classes> first_batch_{};  // a refill's first batch (see refill_from_cache)
  std::size_t growth_bytes_ = 0;
  const char* name_;
  std::atomic<Heap*> heaps_{nullptr};  // pushed under mutex_, walked without it
  std::atomic<HeapChunk*> chunks_{nullptr};  // where the heaps live; pushed under mutex_
  std::mutex mutex_;                   // heap creation and adoption, heaps of exited threads
  Heap* abandoned_ = nullptr;
  std::atomic<std::uint64_t> trim_epoch_{0};
  std::atomic<std::uint64_t> sent_home_{0};  // frees by threads without a heap (send_home)
};

/// The calling thread's heap of a pool, held by the caller (the faces' ThreadCache): its fast
/// paths skip finding the thread's heap, which is most of what a thread-safe pool costs over a
/// single-threaded one in a tight loop (see DESIGN-NOTES). For the thread that took it only, and
/// not after that thread's exit handling (its heap then goes to the next new thread): hardened
/// builds check every call and serve one off its thread through the pool; all builds check on
/// slow paths (about once per refill) and report it.
template <RawAllocator Upstream, std::size_t Classes, bool Checked>
class ThreadCachedPool<Upstream, Classes, Checked>::Local {
 public:
  /// The calling thread's heap, attached now if it has none (none if out of memory or exiting:
  /// then every call goes through the pool).
  explicit Local(ThreadCachedPool& pool) noexcept
      : pool_(&pool), heap_(pool.thread_heap()), fronts_(heap_ ? heap_->front.data() : no_fronts.data()) {}

  // The fast paths work on the heap's fronts, which are never missing (a Local without a heap
  // has fronts that are empty and full at once): no test of the heap, no load of it.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t c) noexcept {
    if constexpr (Checked) {
      if (!on_own_thread(nullptr)) [[unlikely]]
        return pool_->try_allocate(c);
    }
    if (fronts_[c].head) [[likely]]
      return pool_->pop(fronts_[c], c);
    return pool_->allocate_slow(c, heap_);
  }
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t c, std::size_t size = unknown_size, std::size_t align = 0) noexcept {
    if constexpr (Checked) {
      if (!on_own_thread(p)) [[unlikely]]
        return pool_->deallocate(p, c, size, align);
      if (!pool_->validate_free(p, c, size, align)) [[unlikely]]
        return;
    }
    auto* n = static_cast<Node*>(p);
    if (!pool_->marked_free(n, c)) [[unlikely]]
      return;
    if (pool_->push_if_room(fronts_[c], n, c)) [[likely]]
      return;
    pool_->deallocate_slow(n, c, heap_);
  }
  [[nodiscard]] ThreadCachedPool& pool() const noexcept { return *pool_; }

 private:
  /// True if the calling thread holds the heap (the direct lookup first, inline); else reports
  /// it (`block`: the one being freed).
  CORE_MEMORY_ALWAYS_INLINE bool on_own_thread(const void* block) const noexcept {
    if (heap_ == pool_->cached_thread_heap() || !heap_) [[likely]]
      return true;
    return on_own_thread_slow(block);
  }
  CORE_MEMORY_NOINLINE bool on_own_thread_slow(const void* block) const noexcept {
    if (heap_ == pool_->find_thread_heap()) return true;
    pool_->report_held_heap(block);
    return false;
  }

  /// The fronts of a Local without a heap: no block, no room (never written).
  static inline std::array<Front, Classes> no_fronts{};

  ThreadCachedPool* pool_;
  Heap* heap_;
  Front* fronts_;  // heap_'s, or no_fronts
};

/// The RawAllocator functions of a face's ThreadCache (ConcurrentPool's, ThreadPoolAllocator's):
/// the face's own, from the heap the cache holds. A face provides Engine and the *_in functions
/// (allocate_in, try_allocate_in, deallocate_in, allocate_at_least_in), taking the cache's Local
/// as their source of blocks, and befriends this class.
template <class Face>
class FaceThreadCache {
 public:
  static constexpr const char* allocator_name = Face::allocator_name;
  /// Copies are the same cache; caches of one pool free each other's blocks (so containers move
  /// them between caches of one thread as between equal allocators).
  static constexpr bool is_handle = true;

  explicit FaceThreadCache(Face& face) noexcept : face_(&face), local_(face.engine_) {}
  friend bool operator==(const FaceThreadCache& a, const FaceThreadCache& b) noexcept { return a.face_ == b.face_; }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return face_->allocate_in(local_, size, align);
  }
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t size,
                                                             std::size_t align = alignof(std::max_align_t)) noexcept {
    return face_->try_allocate_in(local_, size, align);
  }
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t size,
                                            std::size_t align = alignof(std::max_align_t)) noexcept {
    face_->deallocate_in(local_, p, size, align);
  }
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return face_->allocate_at_least_in(local_, size, align);
  }
  [[nodiscard]] std::size_t max_size() const noexcept { return face_->max_size(); }

 protected:
  Face* face_;
  typename Face::Engine::Local local_;
};

}  // namespace core::memory::detail
