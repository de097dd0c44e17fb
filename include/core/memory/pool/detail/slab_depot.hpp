#pragma once
/// SlabDepot: the free slabs that the per-thread heaps of one concurrent pool share, in front of
/// the pool's upstream allocator. A heap's slab cache takes its slabs here and returns its spare
/// empty ones here, so memory moves between threads a whole slab at a time. Taking and returning
/// a slab are lock-free (an AtomicStack, and an atomic cursor over reserved memory); only a call
/// to upstream locks (one lock per pool, shared by its depots, as they share the upstream).
/// reserve() obtains one region from upstream in a single call (so an absurd request fails at
/// once) and hands its slabs out lazily; reserved slabs stay until the depot is destroyed, the
/// others go back upstream in release_cached (shrink_to_fit; and when a thread exits, all but a
/// few, so that what many threads took at once does not stay after them).

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/pool/detail/atomic_stack.hpp>
#include <core/memory/pool/detail/thread_registry.hpp>
#include <core/memory/util/memory_barrier.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>

namespace core::memory::detail {

template <RawAllocator Upstream>
class SlabDepot {
 public:
  static constexpr bool is_thread_safe = true;
  static constexpr const char* allocator_name = "core::memory::detail::SlabDepot";
  /// Blocks reach the slab caches over a depot only after the pool checked them (validate_free):
  /// the caches need not keep their own record of their slabs' pages.
  static constexpr bool vouches_for_blocks = true;

  /// `upstream_mutex` serialises the calls to upstream and guards the tables; the depots of one
  /// pool share it, as they share the upstream.
  SlabDepot(allocator_ref<Upstream> upstream, std::mutex& upstream_mutex) noexcept
      : upstream_(upstream), upstream_mutex_(upstream_mutex) {}
  SlabDepot(const SlabDepot&) = delete;
  SlabDepot& operator=(const SlabDepot&) = delete;
  /// Every slab must be back (the caches that took them destroyed first).
  ~SlabDepot() {
    release_cached();
    std::lock_guard lock(upstream_mutex_);
    // relaxed: no other thread uses a depot being destroyed.
    for (Region* r = regions_.load(std::memory_order_relaxed); r;) {
      Region* next = r->next;
      unpoison_memory(reinterpret_cast<void*>(r->begin), r->end - r->begin);
      allocator_traits<Upstream>::deallocate(upstream_.get(), reinterpret_cast<void*>(r->begin), r->end - r->begin,
                                             slab_size_);
      free_metadata(r, sizeof(Region));
      r = next;
    }
    free_metadata(slabs_.load(std::memory_order_relaxed), table_capacity_ * sizeof(std::uintptr_t));
    for (std::uintptr_t* t = retired_; t;) {  // each holds the next and its capacity first
      std::uintptr_t* next = reinterpret_cast<std::uintptr_t*>(t[0]);
      free_metadata(t, t[1] * sizeof(std::uintptr_t));
      t = next;
    }
    free_metadata(purged_, purged_capacity_ * sizeof(std::uintptr_t));
  }

  /// The size (and alignment) of the slabs it recycles; set once, before first use.
  void set_slab_size(std::size_t n) noexcept {
    slab_size_ = n;
    if constexpr (requires { Upstream::resident_spare_bytes; }) {
      purge_after_ = n ? Upstream::resident_spare_bytes / n : 0;
      if constexpr (requires { Upstream::resident_large_spare_class; })  // larger slabs
        if (n && purge_after_ == 0) purge_after_ = std::max<std::size_t>(1, Upstream::resident_large_spare_class / n);
    }
  }
  /// With an upstream that can purge: the bytes of spare slabs kept resident by all the depots
  /// sharing `counter` stay within `budget` (set once, before first use).
  void set_resident_budget(std::atomic<std::size_t>* counter, std::size_t budget) noexcept {
    shared_resident_ = counter;
    resident_budget_ = budget;
  }
  [[nodiscard]] std::size_t slab_size() const noexcept { return slab_size_; }
  /// The pool's clock (advanced as its heaps scavenge): the depot notes when it last gave or took
  /// a slab, for decay (set once, before first use).
  void set_clock(const std::atomic<std::uint64_t>* clock) noexcept { clock_ = clock; }

  /// With a purging upstream: if no slab came or went for `period` ticks of the clock (`now`),
  /// the memory of the spare slabs kept resident goes back to the OS, as jemalloc decays its
  /// dirty pages: a class a program stopped using does not keep its budget (256 KiB) for good
  /// (Redis's list nodes of 8 KiB through its later tests). Returns how many were purged.
  /// One slab at a time, as deallocate purges one: a fork() meanwhile loses at most that one to
  /// the child (see DESIGN-NOTES, fork).
  std::size_t decay(std::uint64_t now, std::uint64_t period) noexcept {
    if constexpr (purging) {
      // relaxed: hints (a slab taken or returned meanwhile is handled by the stack and the lock).
      // `now` was read before this scavenge's pass, so another thread's stamp may be newer.
      const std::uint64_t last = last_used_.load(std::memory_order_relaxed);
      if (resident_.load(std::memory_order_relaxed) == 0 || now <= last || now - last < period) return 0;
      std::size_t purged = 0;
      for (std::size_t n = resident_.load(std::memory_order_relaxed); n != 0; --n) {
        Link* l = take_one(free_);
        if (!l) break;
        const bool listed = purge_and_list(l);
        // relaxed: as in deallocate (the slab is published by the table's lock or the stack).
        cached_.fetch_add(1, std::memory_order_relaxed);
        if (!listed) {  // still counted as resident
          push_unlisted(l);
          stamp();  // not retried at every scavenge
          break;
        }
        leave_resident();
        ++purged;
      }
      return purged;
    } else {
      (void)now, (void)period;
      return 0;
    }
  }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) {
    void* p = try_allocate(size, align);
    if (!p) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    return p;
  }

  /// A cached slab, a reserved one, or a new one from upstream (recorded for owns and the range).
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    if (size != slab_size_ || align != slab_size_) return try_allocate_upstream(size, align);
    if (void* p = take()) {
      unpoison_memory(p, slab_size_);
      return p;
    }
    if (void* p = take_reserved()) return p;
    std::lock_guard lock(upstream_mutex_);
    void* p = allocator_traits<Upstream>::try_allocate(upstream_.get(), size, align);
    if (p && !record(p)) {
      allocator_traits<Upstream>::deallocate(upstream_.get(), p, size, align);
      return nullptr;
    }
    return p;
  }

  /// The lock that serialises upstream calls (the pool's fork hooks take it).
  [[nodiscard]] std::mutex& upstream_mutex() const noexcept { return upstream_mutex_; }

  /// Any block straight from upstream (serialised if the upstream is not thread-safe).
  [[nodiscard]] void* try_allocate_upstream(std::size_t size, std::size_t align) noexcept {
    if constexpr (allocator_traits<Upstream>::is_thread_safe) {
      return allocator_traits<Upstream>::try_allocate(upstream_.get(), size, align);
    } else {
      std::lock_guard lock(upstream_mutex_);
      return allocator_traits<Upstream>::try_allocate(upstream_.get(), size, align);
    }
  }
  void deallocate_upstream(void* p, std::size_t size, std::size_t align) noexcept {
    if constexpr (allocator_traits<Upstream>::is_thread_safe) {
      allocator_traits<Upstream>::deallocate(upstream_.get(), p, size, align);
    } else {
      std::lock_guard lock(upstream_mutex_);
      allocator_traits<Upstream>::deallocate(upstream_.get(), p, size, align);
    }
  }

  /// Caches the slab for the next taker.
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (size != slab_size_ || align != slab_size_) return deallocate_upstream(p, size, align);
    // relaxed: a count for the takers' retry decision and statistics; the slab itself is
    // published by the stack's release.
    cached_.fetch_add(1, std::memory_order_relaxed);
    stamp();
    // An upstream that can purge (the process allocator's class ranges) gets the memory of the
    // spare slabs beyond the resident budget back at once, whole: they are listed in a table,
    // not linked through their first page (which then stayed resident: a page per 256 KiB slab,
    // 0.4 MiB in Redis after a list of 8 KiB nodes was popped), taken after the resident ones,
    // and read as zero when reused.
    if constexpr (purging) {
      if (!admit_resident()) {
        if (purge_and_list(p)) return;
        count_resident();  // over the budget
        push_unlisted(p);
        return;
      }
    }
    poison_memory(static_cast<std::byte*>(p) + sizeof(Link), slab_size_ - sizeof(Link));
    free_.push(static_cast<Link*>(p));
  }

  /// Makes the depot hold `count` slabs in all, the missing ones as one region obtained from
  /// upstream in a single call. False (nothing changed) if that overflows or upstream refuses.
  bool reserve(std::size_t count) noexcept {
    std::lock_guard lock(upstream_mutex_);
    const std::size_t have = slab_count();
    if (count <= have) return true;
    std::size_t bytes = 0;
    if (mul_overflows(count - have, slab_size_, bytes)) return false;
    void* meta = allocate_metadata(sizeof(Region));
    if (!meta) return false;
    auto* region = ::new (meta) Region;
    void* p = allocator_traits<Upstream>::try_allocate(upstream_.get(), bytes, slab_size_);
    if (!p) {
      free_metadata(meta, sizeof(Region));
      return false;
    }
    region->begin = reinterpret_cast<std::uintptr_t>(p);
    region->end = region->begin + bytes;
    region->cursor.store(region->begin, std::memory_order_relaxed);
    // The rest of the previous region goes to the stack (it is handed out from one region only).
    // relaxed (here and below to the release): regions change only under the lock we hold.
    if (Region* old = current_.load(std::memory_order_relaxed)) {
      for (std::uintptr_t s = old->cursor.exchange(old->end, std::memory_order_relaxed); s < old->end; s += slab_size_) {
        // Never handed out (poisoned), so never touched: cached as a purged slab is (taken after
        // the resident ones, and not counted against their budget).
        cached_.fetch_add(1, std::memory_order_relaxed);
        if constexpr (purging) {
          if (list_purged(s)) continue;
          count_resident();  // no memory for the table (taken as a resident slab is)
        }
        push_unlisted(reinterpret_cast<void*>(s));
      }
    }
    region->next = regions_.load(std::memory_order_relaxed);
    // release: takers and range readers see the region's fields.
    regions_.store(region, std::memory_order_release);
    current_.store(region, std::memory_order_release);
    widen(region->begin, region->end);
    count_.fetch_add(count - have, std::memory_order_relaxed);
    poison_memory(p, bytes);
    return true;
  }

  /// Returns every cached slab that is not reserved upstream but `keep` of them; returns how
  /// many. Safe while other threads take and return slabs (a slab being taken at that moment
  /// simply stays).
  std::size_t release_cached(std::size_t keep = 0) noexcept {
    if (cached_.load(std::memory_order_relaxed) <= keep) return 0;  // relaxed: a hint
    std::size_t released = release_from(free_, keep, purging);  // the resident ones are kept first
    if constexpr (purging) released += release_purged(keep);
    return released;
  }

  /// Slabs cached here for the next taker (their memory purged beyond the first few when the
  /// upstream can purge).
  [[nodiscard]] std::size_t cached_count() const noexcept { return cached_.load(std::memory_order_relaxed); }
  /// Slabs obtained from upstream and not returned (in use, cached or reserved).
  [[nodiscard]] std::size_t slab_count() const noexcept { return count_.load(std::memory_order_relaxed); }

  /// True if `p` lies in a slab obtained from upstream and not returned, so that its header may
  /// be read (the hardened checks ask before they read one: the range of the slabs has gaps that
  /// may not be mapped, and a returned slab may not be either). O(log slabs), lock-free: the
  /// sorted table is searched under a sequence count, again if a writer changed it meanwhile
  /// (arrays it outgrew stay readable until the depot goes).
  /// With range_is_enough, holds is the upstream's readable(p) and there is no table: slabs of
  /// an upstream that grows by chunks mapped anywhere came in no address order, and the sorted
  /// table's inserts made 45 million malloc(16) under `ulimit -v` take 30 s (1.5 s without).
  [[nodiscard]] bool holds(const void* p) const noexcept {
    if constexpr (range_is_enough) return upstream_.get().readable(p);
    if (!in_range(p)) return false;
    if (in_region(p)) return true;
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t base = a & ~(slab_size_ - 1);
    for (;;) {
      // acquire: pairs with end_table_write's release; the table's words read after it are at
      // least as new as this count, and if the count is the same after them, none changed.
      const std::uint64_t version = table_version_.load(std::memory_order_acquire);
      if (version & 1) {
        cpu_pause();
        continue;
      }
      // The size once, before the array (acquire: pairs with record's release of a grown size,
      // stored after its array): the array read holds at least that many words, whatever a
      // writer does meanwhile, so no read leaves it (the version check then decides).
      const std::size_t n = table_size_.load(std::memory_order_acquire);
      // acquire: a grown array's words were copied before it was published.
      const std::uintptr_t* t = slabs_.load(std::memory_order_acquire);
      std::size_t lo = 0, hi = n;
      while (lo < hi) {  // the first word >= base
        const std::size_t mid = lo + (hi - lo) / 2;
        if (__atomic_load_n(t + mid, __ATOMIC_RELAXED) < base) lo = mid + 1;
        else hi = mid;
      }
      const bool found = lo < n && __atomic_load_n(t + lo, __ATOMIC_RELAXED) == base;
      acquire_fence();  // the reads above come before the second read of the count
      if (table_version_.load(std::memory_order_relaxed) == version) return found;
    }
  }

  /// True if `p` lies in reserved memory that no cache ever took (beyond a region's cursor): no
  /// block was ever there.
  [[nodiscard]] bool never_taken(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    for (Region* r = regions_.load(std::memory_order_acquire); r; r = r->next)  // acquire: see reserve
      if (a >= r->begin && a < r->end) return a >= r->cursor.load(std::memory_order_relaxed);
    return false;
  }

  /// Whether the upstream tells where a header may be read: it keeps every slab it ever gave
  /// mapped (a purged one reads as zero), as the process allocator's class ranges do, and says
  /// in O(1) whether `p` lies where a slab was once given (readable).
  static constexpr bool range_is_enough = requires(const Upstream& u, const void* p) {
    { u.readable(p) } -> std::same_as<bool>;
  };
  /// True if a slab header at `p` may be read: holds(p), or with range_is_enough the upstream's
  /// O(1) readable(p) (a slab that went back then still reads, as zero or as a spare's header).
  [[nodiscard]] bool may_hold(const void* p) const noexcept {
    if constexpr (range_is_enough) return upstream_.get().readable(p);
    else return holds(p);
  }

  [[nodiscard]] Upstream& upstream() const noexcept { return upstream_.get(); }

 private:
  struct Link {
    Link* next;
  };
  struct Region {
    Region* next = nullptr;
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
    std::atomic<std::uintptr_t> cursor{0};  // next slab never handed out
  };

  /// Whether the upstream can give a slab's memory back while the depot keeps it (purge).
  static constexpr bool purging = requires(Upstream& u, void* p, std::size_t n) { u.purge(p, n); };

  /// A cached slab, resident ones first, or null. Lock-free: takes a whole stack and puts back
  /// all but one. A taker that finds the stacks empty while slabs are cached (another taker
  /// holds them for a moment) retries a few times before it goes on.
  void* take() noexcept {
    stamp();
    for (int tries = 0;; ++tries) {
      if (Link* l = take_one(free_)) {
        if constexpr (purging) leave_resident();
        return l;
      }
      if constexpr (purging) {
        if (void* p = take_purged()) return p;
      }
      if (tries == 32 || cached_.load(std::memory_order_relaxed) == 0) return nullptr;
      cpu_pause();
    }
  }
  Link* take_one(AtomicStack<Link>& stack) noexcept {
    Link* all = stack.take_all();
    if (!all) return nullptr;
    unpoison_memory(all, sizeof(Link));
    if (all->next) stack.put_back(all->next);
    cached_.fetch_sub(1, std::memory_order_relaxed);
    return all;
  }

  /// Notes the clock's time as the depot's last use (see decay); never moves it back.
  void stamp() noexcept {
    if constexpr (purging) {
      if (!clock_) return;
      // relaxed: a hint for decay, which orders nothing by it.
      const std::uint64_t now = clock_->load(std::memory_order_relaxed);
      std::uint64_t last = last_used_.load(std::memory_order_relaxed);
      while (last < now && !last_used_.compare_exchange_weak(last, now, std::memory_order_relaxed)) {
      }
    }
  }

  /// True if a spare slab coming back may keep its memory: within this depot's share
  /// (resident_spare_bytes) and the budget of the depots sharing it. Counts it if so.
  bool admit_resident() noexcept {
    // relaxed: counts that bound memory, no data published through them (the stacks do that).
    if (resident_.fetch_add(1, std::memory_order_relaxed) >= purge_after_) {
      resident_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    if (shared_resident_ &&
        shared_resident_->fetch_add(slab_size_, std::memory_order_relaxed) + slab_size_ > resident_budget_) {
      shared_resident_->fetch_sub(slab_size_, std::memory_order_relaxed);
      resident_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  /// Counts a slab as resident whatever the budget (one that could not be listed as purged).
  void count_resident() noexcept {
    // relaxed: as admit_resident.
    resident_.fetch_add(1, std::memory_order_relaxed);
    if (shared_resident_) shared_resident_->fetch_add(slab_size_, std::memory_order_relaxed);
  }
  void leave_resident() noexcept {
    resident_.fetch_sub(1, std::memory_order_relaxed);
    if (shared_resident_) shared_resident_->fetch_sub(slab_size_, std::memory_order_relaxed);
  }

  /// Whether release_cached keeps a cached slab: a reserved one always (its region goes back
  /// whole, with the depot), else while `keep` lasts (counted down). Under the lock.
  bool stays(const void* slab, std::size_t& keep) const noexcept {
    if (in_region(slab)) return true;
    if (keep == 0) return false;
    --keep;
    return true;
  }
  /// Returns a cached slab to upstream. Under the lock.
  void give_back(void* slab) noexcept {
    unrecord(slab);
    unpoison_memory(slab, slab_size_);
    allocator_traits<Upstream>::deallocate(upstream_.get(), slab, slab_size_, slab_size_);
  }

  /// release_cached's pass over one stack; `resident`: its slabs are counted as resident.
  std::size_t release_from(AtomicStack<Link>& stack, std::size_t& keep, bool resident) noexcept {
    Link* list = stack.take_all();
    Link* kept = nullptr;
    std::size_t released = 0;
    {
      std::lock_guard lock(upstream_mutex_);
      while (list) {
        unpoison_memory(list, sizeof(Link));
        Link* next = list->next;
        if (stays(list, keep)) {
          list->next = kept;
          kept = list;
        } else {
          give_back(list);
          if (resident) leave_resident();
          ++released;
        }
        list = next;
      }
    }
    cached_.fetch_sub(released, std::memory_order_relaxed);
    if (kept) stack.put_back(kept);
    return released;
  }

  /// Gives the memory of spare slab `p` back and lists it as purged; false if the table cannot
  /// grow (then `p` is the caller's, for push_unlisted). Purged before the lock is taken (no
  /// other thread sees the slab until it is listed): a system call under the lock every depot of
  /// the pool shares would stall their refills.
  bool purge_and_list(void* p) noexcept {
    poison_memory(p, slab_size_);
    upstream_.get().purge(p, slab_size_);
    std::lock_guard lock(upstream_mutex_);
    return list_purged(reinterpret_cast<std::uintptr_t>(p));
  }
  /// A slab cached on the stack, not in the purged table: linked through its first word (a
  /// purged one's page faults in again, so the caller counts it as resident).
  void push_unlisted(void* p) noexcept {
    unpoison_memory(p, sizeof(Link));
    free_.push(static_cast<Link*>(p));
  }
  /// Lists a purged slab (or a reserved one never handed out); false if the table cannot grow.
  /// Under the lock.
  bool list_purged(std::uintptr_t slab) noexcept {
    if (purged_size_ == purged_capacity_ && !grow_metadata(purged_, purged_size_, purged_capacity_, 512)) return false;
    purged_[purged_size_++] = slab;
    purged_count_.store(purged_size_, std::memory_order_relaxed);  // relaxed: a hint for take_purged
    return true;
  }
  /// The most recently listed purged slab, or null. Takes the lock (a purged slab costs its page
  /// faults again anyway).
  void* take_purged() noexcept {
    // relaxed: a hint (no lock while the table is empty); the table is read under the lock.
    if (purged_count_.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard lock(upstream_mutex_);
    if (purged_size_ == 0) return nullptr;
    cached_.fetch_sub(1, std::memory_order_relaxed);
    purged_count_.store(--purged_size_, std::memory_order_relaxed);
    return reinterpret_cast<void*>(purged_[purged_size_]);
  }
  /// release_cached's pass over the purged slabs (reserved ones stay listed).
  std::size_t release_purged(std::size_t& keep) noexcept {
    std::size_t released = 0;
    std::lock_guard lock(upstream_mutex_);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < purged_size_; ++i) {
      void* slab = reinterpret_cast<void*>(purged_[i]);
      if (stays(slab, keep)) {
        purged_[kept++] = purged_[i];
      } else {
        give_back(slab);
        ++released;
      }
    }
    purged_size_ = kept;
    purged_count_.store(kept, std::memory_order_relaxed);
    cached_.fetch_sub(released, std::memory_order_relaxed);
    return released;
  }

  /// A slab of the current reserved region never handed out before, or null. Lock-free.
  void* take_reserved() noexcept {
    // acquire: pairs with reserve's release, so the region's fields are seen.
    Region* r = current_.load(std::memory_order_acquire);
    if (!r || r->cursor.load(std::memory_order_relaxed) >= r->end) return nullptr;
    // relaxed: the cursor only hands out distinct addresses; the slab's memory is fresh.
    const std::uintptr_t s = r->cursor.fetch_add(slab_size_, std::memory_order_relaxed);
    if (s >= r->end) return nullptr;
    unpoison_memory(reinterpret_cast<void*>(s), slab_size_);
    return reinterpret_cast<void*>(s);
  }

  /// True if `p` lies in the range of every slab held (which has gaps).
  bool in_range(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    // relaxed: the range only widens, and a slab is recorded before its blocks are handed out.
    return a >= lowest_.load(std::memory_order_relaxed) && a < highest_.load(std::memory_order_relaxed);
  }

  bool in_region(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    for (Region* r = regions_.load(std::memory_order_acquire); r; r = r->next)
      if (a >= r->begin && a < r->end) return true;
    return false;
  }

  void widen(std::uintptr_t begin, std::uintptr_t end) noexcept {
    // relaxed CAS loops: see holds.
    std::uintptr_t low = lowest_.load(std::memory_order_relaxed);
    while (begin < low && !lowest_.compare_exchange_weak(low, begin, std::memory_order_relaxed)) {
    }
    std::uintptr_t high = highest_.load(std::memory_order_relaxed);
    while (end > high && !highest_.compare_exchange_weak(high, end, std::memory_order_relaxed)) {
    }
  }

  // The sorted table of slabs, changed under the lock and read without it (holds): its words
  // are written with atomic stores between two increments of table_version_ (odd while a change
  // is under way), and an array it outgrows is kept, not freed, as a reader may be in it.
  void begin_table_write() noexcept {
    table_version_.store(table_version_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    release_fence();  // a reader that sees a word written below sees the odd count
  }
  void end_table_write() noexcept {
    // release: a reader that sees the even count sees the words written.
    table_version_.store(table_version_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  static void store_word(std::uintptr_t* at, std::uintptr_t v) noexcept { __atomic_store_n(at, v, __ATOMIC_RELAXED); }

  /// Adds a slab from upstream to the sorted table; false if out of memory. Under the lock.
  bool record(void* p) noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    if constexpr (range_is_enough) {  // no table (see holds)
      count_.fetch_add(1, std::memory_order_relaxed);
      widen(a, a + slab_size_);
      return true;
    }
    std::uintptr_t* t = slabs_.load(std::memory_order_relaxed);  // (under the lock: its one writer)
    const std::size_t n = table_size_.load(std::memory_order_relaxed);
    std::uintptr_t* grown = nullptr;
    if (n == table_capacity_) {
      const std::size_t capacity = table_capacity_ ? table_capacity_ * 2 : 512;
      grown = static_cast<std::uintptr_t*>(allocate_metadata(capacity * sizeof(std::uintptr_t)));
      if (!grown) return false;
      if (n) std::memcpy(grown, t, n * sizeof(std::uintptr_t));
    }
    begin_table_write();
    if (grown) {
      slabs_.store(grown, std::memory_order_release);  // see holds
      if (t) {  // retired, linked through its first words: a reader still in it retries
        store_word(t, reinterpret_cast<std::uintptr_t>(retired_));
        store_word(t + 1, table_capacity_);
        retired_ = t;
      }
      t = grown;
      table_capacity_ = table_capacity_ ? table_capacity_ * 2 : 512;
    }
    const std::size_t at = static_cast<std::size_t>(std::lower_bound(t, t + n, a) - t);
    for (std::size_t i = n; i > at; --i) store_word(t + i, t[i - 1]);
    store_word(t + at, a);
    table_size_.store(n + 1, std::memory_order_release);  // after the array it fits (see holds)
    end_table_write();
    count_.fetch_add(1, std::memory_order_relaxed);
    widen(a, a + slab_size_);
    return true;
  }

  void unrecord(void* p) noexcept {
    if constexpr (range_is_enough) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    std::uintptr_t* t = slabs_.load(std::memory_order_relaxed);
    const std::size_t n = table_size_.load(std::memory_order_relaxed);
    const std::size_t at = static_cast<std::size_t>(std::lower_bound(t, t + n, a) - t);
    if (at != n && t[at] == a) {
      begin_table_write();
      for (std::size_t i = at; i + 1 < n; ++i) store_word(t + i, t[i + 1]);
      table_size_.store(n - 1, std::memory_order_relaxed);
      end_table_write();
      count_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  [[no_unique_address]] allocator_ref<Upstream> upstream_;
  AtomicStack<Link> free_;    // spare slabs (with a purging upstream: those still resident)
  // Spare slabs whose memory went back (a purging upstream), and reserved slabs never handed
  // out: listed here, not linked through their memory. Under upstream_mutex_.
  std::uintptr_t* purged_ = nullptr;
  std::size_t purged_size_ = 0;
  std::size_t purged_capacity_ = 0;
  std::atomic<std::size_t> purged_count_{0};  // purged_size_, readable without the lock
  std::atomic<std::size_t> cached_{0};
  std::atomic<std::size_t> resident_{0};  // slabs on free_, with a purging upstream
  std::atomic<std::size_t>* shared_resident_ = nullptr;  // bytes resident in the depots sharing it
  std::size_t resident_budget_ = 0;
  const std::atomic<std::uint64_t>* clock_ = nullptr;  // the pool's (see decay)
  std::atomic<std::uint64_t> last_used_{0};            // the clock when a slab last came or went
  std::atomic<std::size_t> count_{0};
  std::atomic<std::uintptr_t> lowest_{UINTPTR_MAX};
  std::atomic<std::uintptr_t> highest_{0};
  std::atomic<Region*> current_{nullptr};  // the region reserved slabs are handed out from
  std::atomic<Region*> regions_{nullptr};  // every region; freed with the depot
  std::size_t slab_size_ = 0;
  // Spare slabs this depot keeps resident at most (a purging upstream): its resident_spare_bytes'
  // worth, or four if it names none.
  std::size_t purge_after_ = 4;
  std::mutex& upstream_mutex_;
  std::atomic<std::uintptr_t*> slabs_{nullptr};  // sorted addresses of the slabs obtained one by one
  std::atomic<std::size_t> table_size_{0};
  std::size_t table_capacity_ = 0;
  std::atomic<std::uint64_t> table_version_{0};  // odd while the table changes (see holds)
  std::uintptr_t* retired_ = nullptr;            // arrays the table outgrew (see record)
};

}  // namespace core::memory::detail
