#pragma once
/// detail::SegmentCache: the lock-free front of a managed segment's heap for small blocks. It lives
/// in the segment's header and stores offsets only (from the heap), so it works at any address in
/// every process that maps the segment.
///
/// - Classes: the heap's own TLSF lists up to 8 KiB, i.e. every 16-byte block size below 512
///   bytes, then 16 classes per power of two (32-byte steps to 1 KiB, 64 to 2 KiB, ...). A request
///   is rounded up to its class's block size (waste at most 1/16, none below 512 bytes), so the
///   blocks of a class all have exactly its size: the figures stay exact, and 94 classes cover the
///   sizes of nodes, strings and messages.
/// - Per class, a lock-free stack of freed blocks: one 64-bit word holds the top block's offset
///   (payload offset / 16: 32 bits, so blocks in the first 64 GiB), the number of blocks (12 bits)
///   and a tag (20 bits) bumped by every change, so a compare-exchange on a stale top (ABA) fails.
///   A stacked block's first payload word links to the next one (offset / 16), its second holds a
///   mark (a key xor its offset: a second free of a cached block is a double free).
/// - Blocks in the stacks are live blocks to the heap, so its crash recovery stays valid: every
///   change of a stack is one compare-exchange, and a process killed between taking a block (from
///   a stack or the heap) and handing it on leaks that block only, as a dead process's blocks
///   leak today.
/// - Bounded: a class holds at most max_size/256 bytes (at most 256 KiB, at most 4000 blocks). A
///   free that finds its class full goes to the heap under its mutex and takes `batch` blocks with
///   it; a miss takes `batch` more blocks from the heap under the same lock. Exhaustion returns
///   every cached block to the heap (trim) before the segment grows or out_of_memory is reported.
/// - Reading the link of a block that another process took meanwhile is safe (the segment stays
///   mapped, and the tag makes the compare-exchange fail); that read is deliberately racy and
///   hidden from ThreadSanitizer.

#include <core/memory/system/detail/segment_heap.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace core::memory::detail {

/// A managed segment's figures: the heap's, where used_bytes and live_blocks count what users hold
/// and the blocks the cache holds are counted apart (used + cached + free = size, less headers).
struct segment_stats : segment_heap_stats {
  std::size_t cached_bytes = 0;   ///< Bytes of blocks in the cache (live to the heap, free to users).
  std::size_t cached_blocks = 0;  ///< Blocks in the cache.
};

/// A word read while another thread or process may write it: a block's link or header that is
/// only trusted if a later compare-exchange (or the heap's tag) confirms it. One aligned load.
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("thread")))
#endif
inline std::uint64_t racy_load(const void* p) noexcept {
  return *static_cast<const volatile std::uint64_t*>(p);
}

class SegmentCache {
 public:
  static constexpr unsigned class_count = 14 + 5 * 16;  // 32..496 by 16, then 16 per power of two to 8 KiB
  static constexpr unsigned no_class = class_count;
  static constexpr std::size_t max_request = 8192 - 256 - SegmentHeap::header;  // the largest class, less its header

  /// Sets the bounds for a segment that may grow to `max_size` bytes (when it is formatted).
  void format(std::size_t max_size) noexcept {
    const std::size_t budget = max_size / 16 < (std::size_t{4} << 20) ? max_size / 16 : std::size_t{4} << 20;
    for (unsigned k = 0; k < class_count; ++k) {
      Bin& b = bins_[k];
      b.head.store(0, std::memory_order_relaxed);  // formatting: nobody else sees the segment yet
      b.block = static_cast<std::uint32_t>(class_block(k));
      const std::size_t bound = budget / b.block < max_bound ? budget / b.block : max_bound;
      b.bound = static_cast<std::uint16_t>(bound);
      b.batch = static_cast<std::uint16_t>(bound / 4 < 32 ? bound / 4 : 32);
    }
  }

  /// The class serving `size` bytes aligned to `align` (a power of two), or no_class (too large,
  /// or aligned beyond the 16 every block has).
  [[nodiscard]] static unsigned request_class(std::size_t size, std::size_t align) noexcept {
    if (size > max_request || align > SegmentHeap::granule) return no_class;
    std::uint64_t need = (size + SegmentHeap::header + SegmentHeap::granule - 1) & ~std::uint64_t{SegmentHeap::granule - 1};
    if (need < small_limit) return need < SegmentHeap::min_block ? 0 : static_cast<unsigned>(need / 16 - 2);
    const std::uint64_t step = std::uint64_t{1} << (63 - std::countl_zero(need) - 4);
    need = (need + step - 1) & ~(step - 1);
    return block_class(need);
  }
  /// The request that makes the heap carve a block of class `k`'s size.
  [[nodiscard]] std::size_t class_request(unsigned k) const noexcept { return bins_[k].block - SegmentHeap::header; }

  /// A block of class `k` from its stack, or null if it is empty. Lock-free.
  [[nodiscard]] void* pop(SegmentHeap& heap, unsigned k) noexcept {
    Bin& b = bins_[k];
    // acquire: the pusher's link (and every earlier push's, through the compare-exchanges'
    // release sequence) is visible before it is read.
    std::uint64_t h = b.head.load(std::memory_order_acquire);
    for (;;) {
      const std::uint64_t top = h & offset_mask;
      if (top == 0) return nullptr;
      std::byte* p = base(heap) + (top << 4);
      const std::uint64_t next = racy_load(p) & offset_mask;  // stale if taken meanwhile: the tag then fails the CAS
      // acquire on both outcomes: a retry reads the link of the block the new top's pusher wrote.
      if (b.head.compare_exchange_weak(h, ((h & ~offset_mask) - one_count + one_tag) | next, std::memory_order_acquire,
                                       std::memory_order_acquire)) {
        store_word(p + 8, 0);  // no longer cached (ours now: plain store)
        return p;
      }
    }
  }

  /// What free_block did: cached the block, or left it to the caller, who frees it to the heap
  /// (and, if its class was `full`, flushes class `k`).
  struct free_result {
    bool cached;
    bool full;
    unsigned k;
  };
  /// Pushes the live block `p` (asked with `size` bytes) on its class's stack. Lock-free. Leaves
  /// to the caller (the heap, which reports misuse) a block that is not a live block of a class's
  /// exact size, or that `size` does not fit, or that lies beyond the stacks' 64 GiB. A second
  /// free of a cached block is reported (hardened builds) and ignored.
  [[nodiscard]] free_result free_block(SegmentHeap& heap, void* p, std::size_t size, std::size_t align) noexcept {
    auto* c = static_cast<std::byte*>(p);
    const std::uint64_t po = static_cast<std::uint64_t>(c - base(heap));
    if ((po & 15) != 0 || po >= max_offset) return {false, false, no_class};
    if constexpr (checks::hardened) {
      if (!heap.owns(p)) return {false, false, no_class};
    }
    const std::uint64_t s = SegmentHeap::live_size(po - SegmentHeap::header, racy_load(c - SegmentHeap::header));
    if (s == 0 || size > s - SegmentHeap::header) return {false, false, no_class};
    const unsigned k = block_class(s);
    if (k == no_class) return {false, false, no_class};
    if constexpr (checks::hardened) {
      if (load_word(c + 8) == mark(po)) {
        report_misuse({error_kind::double_free, SegmentHeap::component, p, size, align,
                       "block is already free (in the segment's cache)", nullptr, 0});
        return {true, false, k};
      }
    }
    return {push(heap, k, c), true, k};
  }

  // Under the heap's mutex -------------------------------------------------------------------

  /// A miss of class `k`: a block of its size from the heap (null if none) and up to `batch`
  /// more on its stack, one at a time (a process killed here leaks one block).
  [[nodiscard]] void* refill(SegmentHeap& heap, unsigned k) noexcept {
    const std::size_t request = class_request(k);
    void* p = heap.try_allocate(request, SegmentHeap::granule);
    for (unsigned i = 0; p != nullptr && i < bins_[k].batch; ++i) {
      void* q = heap.try_allocate(request, SegmentHeap::granule);
      if (q == nullptr) break;
      if (heap.usable_size(q) != request || !push(heap, k, static_cast<std::byte*>(q))) {
        heap.deallocate(q, request, SegmentHeap::granule);
        break;
      }
    }
    return p;
  }

  /// Returns up to `count` blocks of class `k` to the heap, one at a time. Returns how many.
  std::size_t flush(SegmentHeap& heap, unsigned k, std::size_t count) noexcept {
    std::size_t n = 0;
    for (void* p; n < count && (p = pop(heap, k)) != nullptr; ++n) heap.deallocate(p, 0, SegmentHeap::granule);
    return n;
  }
  /// After a free found class `k` full: returns `batch` of its blocks to the heap.
  void flush(SegmentHeap& heap, unsigned k) noexcept { (void)flush(heap, k, bins_[k].batch); }
  /// Returns every cached block to the heap; how many.
  std::size_t trim(SegmentHeap& heap) noexcept {
    std::size_t n = 0;
    for (unsigned k = 0; k < class_count; ++k) n += flush(heap, k, SIZE_MAX);
    return n;
  }

  /// Checks each stack: its count, and that each block is a live heap block of the class's size
  /// with its mark. Each stack is detached while it is walked (pushes meanwhile start a new one)
  /// and put back; a stack found corrupt is left out (its blocks leak). Null, or what is wrong.
  [[nodiscard]] const char* validate(SegmentHeap& heap) noexcept {
    for (unsigned k = 0; k < class_count; ++k) {
      Bin& b = bins_[k];
      std::uint64_t h = b.head.load(std::memory_order_relaxed);
      if (((h >> 32) & count_max) == count_max) continue;  // disabled
      // acquire: the links and marks of every pushed block are visible to the walk.
      while (!b.head.compare_exchange_weak(h, (h & tag_mask) + one_tag, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
      }
      const std::uint64_t count = (h >> 32) & count_max;
      if (count > b.bound) return "a cache stack holds more blocks than its bound";
      std::uint64_t top = h & offset_mask, tail = 0;
      for (std::uint64_t i = 0; i < count; ++i) {
        if (top == 0) return "a cache stack holds fewer blocks than its count";
        const std::uint64_t po = top << 4;
        if (po + 16 > heap.extent()) return "a cache stack links outside the heap";
        std::byte* p = base(heap) + po;
        if (SegmentHeap::live_size(po - SegmentHeap::header, load_word(p - SegmentHeap::header)) != b.block)
          return "a cached block is not a live heap block of its class's size";
        if (load_word(p + 8) != mark(po)) return "a cached block's mark is overwritten";
        tail = top;
        top = load_word(p) & offset_mask;
      }
      if (top != 0) return "a cache stack holds more blocks than its count";
      if (count != 0) put_back(heap, k, h & offset_mask, tail, count);
    }
    return nullptr;
  }

  /// Adds the cached blocks to `s` (approximate while other processes use the stacks).
  void add_to(segment_stats& s) const noexcept {
    for (unsigned k = 0; k < class_count; ++k) {
      // relaxed: a count, read nowhere near the blocks
      const std::uint64_t n = (bins_[k].head.load(std::memory_order_relaxed) >> 32) & count_max;
      if (n == count_max) continue;  // disabled
      s.cached_blocks += n;
      s.cached_bytes += n * bins_[k].block;
    }
  }

  /// The heap cannot be repaired: every stack reads as empty and full, so every allocation and
  /// free goes to the heap (and learns it is not recoverable). The cached blocks are lost with it.
  void disable() noexcept {
    // relaxed: no block is published; a concurrent compare-exchange fails and rereads it.
    for (Bin& b : bins_) b.head.store(count_max << 32, std::memory_order_relaxed);
  }

 private:
  static constexpr std::uint64_t offset_mask = 0xffffffffu;
  static constexpr std::uint64_t one_count = std::uint64_t{1} << 32;
  static constexpr std::uint64_t count_max = 0xfff;
  static constexpr std::uint64_t one_tag = std::uint64_t{1} << 44;
  static constexpr std::uint64_t tag_mask = ~((one_tag) - 1);
  static constexpr std::uint64_t max_offset = std::uint64_t{1} << 36;
  static constexpr std::size_t max_bound = 4000;
  static constexpr std::uint64_t small_limit = 512;  // below: every 16-byte size is a class
  static constexpr std::uint64_t cache_key = 0x6d63616368656421ull;

  struct Bin {
    std::atomic<std::uint64_t> head{0};  // top offset / 16 | count << 32 | tag << 44
    std::uint32_t block = 0;             // the class's block size
    std::uint16_t bound = 0;             // most blocks it holds
    std::uint16_t batch = 0;             // blocks moved per refill or flush
  };
  static_assert(sizeof(std::atomic<std::uint64_t>) == 8 && std::atomic<std::uint64_t>::is_always_lock_free);

  static std::byte* base(SegmentHeap& heap) noexcept { return reinterpret_cast<std::byte*>(&heap); }
  static std::uint64_t mark(std::uint64_t po) noexcept { return cache_key ^ po; }
  static std::uint64_t load_word(const std::byte* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store_word(std::byte* p, std::uint64_t v) noexcept { std::memcpy(p, &v, sizeof v); }

  /// The block size of class `k`.
  static constexpr std::uint64_t class_block(unsigned k) noexcept {
    if (k < 14) return (k + 2) * 16;
    const unsigned j = k - 14, l = 8 + j / 16;
    return std::uint64_t{16 + j % 16} << (l - 4);
  }
  /// The class whose block size is exactly `s` (a multiple of 16, at least 32), else no_class.
  static constexpr unsigned block_class(std::uint64_t s) noexcept {
    if (s < 256) return static_cast<unsigned>(s / 16 - 2);
    if (s >= 8192) return no_class;
    const unsigned l = 63u - static_cast<unsigned>(std::countl_zero(s));
    if ((s & ((std::uint64_t{1} << (l - 4)) - 1)) != 0) return no_class;
    return 14 + (l - 8) * 16 + static_cast<unsigned>((s >> (l - 4)) & 15);
  }

  /// Pushes the block at `p` (ours) on stack `k` unless it is full or beyond the first 64 GiB.
  bool push(SegmentHeap& heap, unsigned k, std::byte* p) noexcept {
    Bin& b = bins_[k];
    const std::uint64_t po = static_cast<std::uint64_t>(p - base(heap));
    if (po >= max_offset) return false;
    store_word(p + 8, mark(po));
    std::uint64_t h = b.head.load(std::memory_order_relaxed);  // relaxed: the CAS checks it
    do {
      if (((h >> 32) & count_max) >= b.bound) {
        store_word(p + 8, 0);
        return false;
      }
      // relaxed, atomic: stale poppers may read the link at any time (racy_load).
      __atomic_store_n(reinterpret_cast<std::uint64_t*>(p), h & offset_mask, __ATOMIC_RELAXED);
      // release: the link and the mark are visible to whoever acquires the new top.
    } while (!b.head.compare_exchange_weak(h, ((h & ~offset_mask) + one_count + one_tag) | (po >> 4),
                                           std::memory_order_release, std::memory_order_relaxed));
    return true;
  }

  /// Puts back the chain `top`..`tail` of `count` blocks detached from stack `k`, freeing to the
  /// heap what no longer fits under the bound (pushes came meanwhile).
  void put_back(SegmentHeap& heap, unsigned k, std::uint64_t top, std::uint64_t tail, std::uint64_t count) noexcept {
    Bin& b = bins_[k];
    std::uint64_t h = b.head.load(std::memory_order_relaxed);
    for (;;) {
      while (count != 0 && ((h >> 32) & count_max) + count > b.bound) {  // free the chain's top
        std::byte* p = base(heap) + (top << 4);
        top = load_word(p) & offset_mask;
        store_word(p + 8, 0);
        heap.deallocate(p, 0, SegmentHeap::granule);
        --count;
      }
      if (count == 0) return;
      __atomic_store_n(reinterpret_cast<std::uint64_t*>(base(heap) + (tail << 4)), h & offset_mask, __ATOMIC_RELAXED);
      // release: the chain's links and marks are visible to whoever acquires the new top.
      if (b.head.compare_exchange_weak(h, ((h & ~offset_mask) + count * one_count + one_tag) | top,
                                       std::memory_order_release, std::memory_order_relaxed))
        return;
    }
  }

  Bin bins_[class_count];
};

}  // namespace core::memory::detail
