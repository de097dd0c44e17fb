#pragma once
/// Per-thread heaps of the concurrent pools: which heap the calling thread has in a given pool
/// (a lookup in a small thread-local table, no atomic instruction), and the hand-over of a
/// thread's heaps to their pools when the thread exits. Several pools coexist: each has a
/// process-unique id, never reused, so a table entry of a destroyed pool never matches again.
///
/// Nothing here calls malloc (the process allocator is built on it): its own memory comes from
/// allocate_metadata (whole pages from the OS), the thread-exit hook is a pthread key (which,
/// unlike a C++ thread_local destructor, allocates nothing to register, and runs after the
/// thread's C++ thread_local destructors, which may still use the pools), and fork() is handled:
/// every pool is locked across it, so its shared state is whole in the child. The heaps of the
/// threads that did not survive are left alone there (one may have been mid-operation): what
/// they cached is lost to the child. Compiled part: src/pool/thread_registry.cpp.

#include <core/memory/util/config.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace core::memory::detail {

/// A pool that gives each thread a heap of its own. The registry calls abandon_heap when a
/// thread that holds one of its heaps exits, and the fork hooks around fork().
class HeapOwner {
 public:
  HeapOwner() noexcept;
  HeapOwner(const HeapOwner&) = delete;
  HeapOwner& operator=(const HeapOwner&) = delete;

  /// Process-unique, never 0.
  [[nodiscard]] std::uint64_t owner_id() const noexcept { return id_; }

  /// The calling thread's heap in this pool if the thread's tables hold it, else null (then
  /// find_thread_heap). The fast paths' lookup: a pool with a direct slot finds it with one load
  /// from the pool and one from the thread's array, no compare; others by the keyed table.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* cached_thread_heap() const noexcept;
  /// The calling thread's heap in this pool, or null if it has none or is exiting: the keyed
  /// table, then every heap the thread holds (the result is cached in both tables).
  [[nodiscard]] void* find_thread_heap() noexcept;

  /// Takes back the heap of a thread that is exiting. Runs on that thread, without the registry's
  /// lock (it may call upstream, which may take it) but pinned: retire waits for it.
  virtual void abandon_heap(void* heap) noexcept = 0;
  /// Before fork(): takes every lock of the pool if all are free, else none and returns false
  /// (the registry's is held; it retries, so that a thread holding one can finish).
  virtual bool try_prepare_fork() noexcept = 0;
  /// After fork(), in the parent: releases them. In the child: releases them; `survivor` is the
  /// forking thread's heap (or null). The other threads' heaps are the owner's to handle: their
  /// threads do not exist in the child, and one may have stopped mid-operation.
  virtual void after_fork(bool child, void* survivor) noexcept = 0;

 protected:
  ~HeapOwner();
  /// Makes the registry hand this owner the heaps of exiting threads. Idempotent; false if out of
  /// memory. Call before giving a thread its first heap, with no lock of the pool held.
  bool enlist() noexcept;
  /// Stops the hand-overs; after it returns no abandon_heap call is running or will run. The
  /// derived destructor calls it first, before it destroys the heaps.
  void retire() noexcept;

 private:
  friend bool attach_thread_heap(HeapOwner& owner, void* heap) noexcept;
  friend struct RegistryAccess;
  void cache_direct(void* heap) noexcept;
  void unlist() noexcept;

  std::uint64_t id_;
  std::size_t slot_offset_;  // bytes from the keyed table's start to this pool's slot (no scaling)
  // Bytes from the direct array's start to this pool's entry; the never-written last entry while
  // the pool has none. Set under the registry's lock; release/acquire: a thread that sees an
  // entry given to this pool sees it cleared of its previous pool's heaps (see retire).
  std::atomic<std::size_t> direct_offset_;
  bool enlisted_ = false;
  // Exiting threads handing a heap back to this pool right now (pinned under the registry's lock).
  std::atomic<std::size_t> exit_pins_{0};
};

/// One entry of the calling thread's heap table.
struct HeapSlot {
  std::uint64_t owner;
  void* heap;
};
inline constexpr std::size_t heap_slots = 8;
/// The calling thread's heaps, direct-mapped by owner id (trivial, so access is one TLS load).
inline constinit thread_local HeapSlot thread_heap_slots[heap_slots] = {};

/// The first `direct_slots` pools that are live at once each own an entry of every thread's
/// direct array: the thread's heap in that pool, or null; found without a key, since an entry
/// belongs to one live pool at a time. When the pool retires, the registry clears its entry in
/// every thread's array (under its lock) before it gives the entry to another pool. The last
/// entry is never written: pools without one of their own point there.
inline constexpr std::size_t direct_slots = 32;
inline constinit thread_local void* thread_direct_heaps[direct_slots + 1] = {};

/// The calling thread's heap in pool `owner`: one load and a compare when the pool's slot holds it.
inline void* find_thread_heap(std::uint64_t owner) noexcept;
/// Where pool `owner` caches its heap in each thread's table.
constexpr std::size_t heap_slot_of(std::uint64_t owner) noexcept { return owner % heap_slots; }

/// The slow path of find_thread_heap: searches every heap the thread holds and caches the result.
/// Null if the thread has no heap in that pool, or is exiting.
void* find_thread_heap_slow(std::uint64_t owner) noexcept;

/// Records that the calling thread now owns `heap` of `owner` (handed back when it exits). False
/// if out of memory or if the thread is exiting: then the caller must not keep the heap.
bool attach_thread_heap(HeapOwner& owner, void* heap) noexcept;

/// Zeroed, page-aligned memory for the pools' own bookkeeping, straight from the OS (never from
/// malloc); null if the OS refuses. Free with the same size.
[[nodiscard]] void* allocate_metadata(std::size_t bytes) noexcept;
void free_metadata(void* p, std::size_t bytes) noexcept;

/// Grows an array of metadata to twice its capacity (at least `first`), keeping its `size`
/// elements; false (nothing changed) if out of memory.
template <class T>
bool grow_metadata(T*& data, std::size_t size, std::size_t& capacity, std::size_t first) noexcept {
  const std::size_t n = capacity ? capacity * 2 : first;
  auto* grown = static_cast<T*>(allocate_metadata(n * sizeof(T)));
  if (!grown) return false;
  if (size) std::memcpy(static_cast<void*>(grown), data, size * sizeof(T));
  free_metadata(data, capacity * sizeof(T));
  data = grown;
  capacity = n;
  return true;
}

inline void* find_thread_heap(std::uint64_t owner) noexcept {
  const HeapSlot& s = thread_heap_slots[heap_slot_of(owner)];
  if (s.owner == owner) [[likely]]
    return s.heap;
  return find_thread_heap_slow(owner);
}

CORE_MEMORY_ALWAYS_INLINE void* HeapOwner::cached_thread_heap() const noexcept {
  // Entries by byte offsets kept in the pool: no index arithmetic on the fast path. acquire:
  // pairs with the release in enlist (a plain load on x86).
  const std::size_t direct = direct_offset_.load(std::memory_order_acquire);
  if (void* h = *reinterpret_cast<void* const*>(reinterpret_cast<const unsigned char*>(thread_direct_heaps) + direct))
      [[likely]]
    return h;
  const auto& s =
      *reinterpret_cast<const HeapSlot*>(reinterpret_cast<const unsigned char*>(thread_heap_slots) + slot_offset_);
  if (s.owner != id_) return nullptr;
#if defined(__GNUC__) || defined(__clang__)
  if (!s.heap) __builtin_unreachable();  // a slot that names an owner holds a heap: no null test
#endif
  return s.heap;
}

}  // namespace core::memory::detail
