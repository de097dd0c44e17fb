#pragma once
/// SlabDepot: the free slabs that the per-thread heaps of one concurrent pool share, in front of
/// the pool's upstream allocator. A heap's slab cache takes its slabs here and returns its spare
/// empty ones here, so memory moves between threads a whole slab at a time. Taking and returning
/// a slab are lock-free (an AtomicStack); only a call to upstream may lock (when the upstream is
/// not thread-safe itself). Slabs stay cached until release_cached (shrink_to_fit).

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/pool/detail/atomic_stack.hpp>
#include <core/memory/util/memory_barrier.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace core::memory::detail {

template <RawAllocator Upstream>
class SlabDepot {
 public:
  static constexpr bool is_thread_safe = true;
  static constexpr const char* allocator_name = "core::memory::detail::SlabDepot";

  /// `upstream_mutex` serialises the calls to upstream and guards the slab table; the depots of
  /// one pool share it, as they share the upstream.
  SlabDepot(allocator_ref<Upstream> upstream, std::mutex& upstream_mutex) noexcept
      : upstream_(upstream), upstream_mutex_(upstream_mutex) {}
  SlabDepot(const SlabDepot&) = delete;
  SlabDepot& operator=(const SlabDepot&) = delete;
  ~SlabDepot() {
    release_cached();
    std::free(slabs_);
  }

  /// The size (and alignment) of the slabs it recycles; set once, before first use.
  void set_slab_size(std::size_t n) noexcept { slab_size_ = n; }
  [[nodiscard]] std::size_t slab_size() const noexcept { return slab_size_; }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) {
    void* p = try_allocate(size, align);
    if (!p) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    return p;
  }

  /// A cached slab, else a new one from upstream (recorded for owns and the address range).
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    if (size != slab_size_ || align != slab_size_) return try_allocate_upstream(size, align);
    if (void* p = take()) {
      unpoison_memory(p, slab_size_);
      return p;
    }
    std::lock_guard lock(upstream_mutex_);
    void* p = allocator_traits<Upstream>::try_allocate(upstream_.get(), size, align);
    if (p && !record(p)) {
      allocator_traits<Upstream>::deallocate(upstream_.get(), p, size, align);
      return nullptr;
    }
    return p;
  }

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
    auto* link = static_cast<Link*>(p);
    poison_memory(static_cast<std::byte*>(p) + sizeof(Link), slab_size_ - sizeof(Link));
    free_.push(link);
  }

  /// Obtains slabs from upstream until `count` are held in all; false if upstream is exhausted.
  bool reserve(std::size_t count) noexcept {
    while (slab_count() < count) {
      void* p = nullptr;
      {
        std::lock_guard lock(upstream_mutex_);
        p = allocator_traits<Upstream>::try_allocate(upstream_.get(), slab_size_, slab_size_);
        if (p && !record(p)) {
          allocator_traits<Upstream>::deallocate(upstream_.get(), p, slab_size_, slab_size_);
          p = nullptr;
        }
      }
      if (!p) return false;
      deallocate(p, slab_size_, slab_size_);
    }
    return true;
  }

  /// Returns every cached slab upstream; returns how many. Safe while other threads take and
  /// return slabs (a slab being taken at that moment simply stays).
  std::size_t release_cached() noexcept {
    Link* list = free_.take_all();
    std::size_t n = 0;
    std::lock_guard lock(upstream_mutex_);
    while (list) {
      Link* next = list->next;
      unrecord(list);
      unpoison_memory(list, slab_size_);
      allocator_traits<Upstream>::deallocate(upstream_.get(), list, slab_size_, slab_size_);
      list = next;
      ++n;
    }
    cached_.fetch_sub(n, std::memory_order_relaxed);
    return n;
  }

  /// Slabs obtained from upstream and not returned (in use or cached).
  [[nodiscard]] std::size_t slab_count() const noexcept { return count_.load(std::memory_order_relaxed); }
  /// Slabs cached for reuse (a snapshot).
  [[nodiscard]] std::size_t cached() const noexcept { return cached_.load(std::memory_order_relaxed); }

  /// True if `p` may lie in one of the slabs (the range of every slab held): O(1), for the
  /// hardened checks before a slab header is read.
  [[nodiscard]] bool in_range(const void* p) const noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    // relaxed: the range only widens while slabs are held, and a block handed to the caller was
    // carved from a slab recorded before (happens-before through the block's own hand-over).
    return a >= lowest_.load(std::memory_order_relaxed) && a < highest_.load(std::memory_order_relaxed);
  }

  /// True if `p` lies in a slab obtained from upstream and not returned. O(log slabs), locks.
  [[nodiscard]] bool holds(const void* p) const noexcept {
    const auto base = reinterpret_cast<std::uintptr_t>(p) & ~(slab_size_ - 1);
    std::lock_guard lock(upstream_mutex_);
    return std::binary_search(slabs_, slabs_ + slab_size_count_, base);
  }

  [[nodiscard]] Upstream& upstream() const noexcept { return upstream_.get(); }

 private:
  struct Link {
    Link* next;
  };

  /// A cached slab, or null. Lock-free: takes the whole stack and puts back all but one. A taker
  /// that finds the stack empty while slabs are cached (another taker holds them for a moment)
  /// retries a few times before it goes upstream.
  void* take() noexcept {
    for (int tries = 0;; ++tries) {
      if (Link* all = free_.take_all()) {
        unpoison_memory(all, sizeof(Link));
        if (all->next) free_.put_back(all->next);
        cached_.fetch_sub(1, std::memory_order_relaxed);
        return all;
      }
      if (tries == 32 || cached_.load(std::memory_order_relaxed) == 0) return nullptr;
      cpu_pause();
    }
  }

  /// Adds a slab from upstream to the sorted table; false if out of memory. Under upstream_mutex_.
  bool record(void* p) noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    if (slab_size_count_ == slab_capacity_) {
      const std::size_t n = slab_capacity_ ? slab_capacity_ * 2 : 16;
      void* grown = std::realloc(slabs_, n * sizeof(std::uintptr_t));
      if (!grown) return false;
      slabs_ = static_cast<std::uintptr_t*>(grown);
      slab_capacity_ = n;
    }
    std::uintptr_t* at = std::lower_bound(slabs_, slabs_ + slab_size_count_, a);
    std::memmove(at + 1, at, static_cast<std::size_t>(slabs_ + slab_size_count_ - at) * sizeof(std::uintptr_t));
    *at = a;
    ++slab_size_count_;
    count_.fetch_add(1, std::memory_order_relaxed);
    // relaxed CAS loops: see in_range.
    std::uintptr_t low = lowest_.load(std::memory_order_relaxed);
    while (a < low && !lowest_.compare_exchange_weak(low, a, std::memory_order_relaxed)) {
    }
    std::uintptr_t high = highest_.load(std::memory_order_relaxed);
    while (a + slab_size_ > high && !highest_.compare_exchange_weak(high, a + slab_size_, std::memory_order_relaxed)) {
    }
    return true;
  }

  void unrecord(void* p) noexcept {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    std::uintptr_t* end = slabs_ + slab_size_count_;
    std::uintptr_t* at = std::lower_bound(slabs_, end, a);
    if (at != end && *at == a) {
      std::memmove(at, at + 1, static_cast<std::size_t>(end - at - 1) * sizeof(std::uintptr_t));
      --slab_size_count_;
      count_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  [[no_unique_address]] allocator_ref<Upstream> upstream_;
  AtomicStack<Link> free_;
  std::atomic<std::size_t> cached_{0};
  std::atomic<std::size_t> count_{0};
  std::atomic<std::uintptr_t> lowest_{UINTPTR_MAX};
  std::atomic<std::uintptr_t> highest_{0};
  std::size_t slab_size_ = 0;
  std::mutex& upstream_mutex_;  // upstream calls and the slab table
  std::uintptr_t* slabs_ = nullptr;     // sorted addresses of the slabs held
  std::size_t slab_size_count_ = 0;
  std::size_t slab_capacity_ = 0;
};

}  // namespace core::memory::detail
