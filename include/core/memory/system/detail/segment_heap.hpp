#pragma once
/// detail::SegmentHeap: the heap of a managed shared memory segment. It lives in the memory it
/// manages, at any address in every process that maps it, so it stores offsets (from itself),
/// never a pointer.
///
/// - TLSF (two-level segregated fit): free blocks sit in 41 x 16 lists by size, two levels of
///   bitmaps find a list that fits with two bit scans, so allocate and free are O(1); boundary
///   tags (a header word per block, a footer in free blocks) merge a freed block with its free
///   neighbours in O(1). Blocks are multiples of 16 bytes with a 16-aligned payload after an
///   8-byte header; a power-of-two alignment up to max_alignment (2 MiB, what every process's
///   mapping keeps) is served by splitting off a leading free block.
/// - A block's header is one word: size | free | previous-is-free | a 16-bit tag derived from the
///   block's offset, so a corrupt header or a pointer that is not a block's start is caught.
/// - Crash consistency: every change of the block chain is one store of a header word, ordered
///   (compiler fences) so that a process killed at any instruction leaves a chain that can be
///   walked from the first block to the end sentinel by sizes alone: a split writes the new
///   tail's header before shrinking the head; a free marks the block free before merging; a
///   merge is one store of the surviving header; growth writes the new sentinel before turning the
///   old one into a free block. Everything else (lists, bitmaps, footers, previous-is-free bits,
///   statistics) is derived: recover() rebuilds it from the chain after a crash, merging
///   adjacent free blocks a crash left behind. A killed process leaks what it had taken.
/// - Not synchronised: the managed segment calls it under its robust mutex.

#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/size_math.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

namespace core::memory::detail {

/// What a heap holds (bytes include the 8-byte headers and rounding).
struct segment_heap_stats {
  std::size_t size = 0;                ///< Bytes from the first block to the end sentinel.
  std::size_t used_bytes = 0;          ///< Bytes of live blocks.
  std::size_t free_bytes = 0;          ///< Bytes of free blocks.
  std::size_t live_blocks = 0;         ///< Blocks handed out and not freed.
  std::size_t free_blocks = 0;         ///< Free blocks (none adjacent to another).
  std::size_t largest_free_block = 0;  ///< The largest request one free block can serve (16-aligned).
};

/// Test hook: called at each ordered step of a chain change in debug builds (crash tests kill the
/// process there). Null otherwise.
inline void (*segment_heap_step_hook)(int step) noexcept = nullptr;

class SegmentHeap {
 public:
  static constexpr const char* component = "core::memory::ManagedSharedMemory";
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t header = 8;
  static constexpr std::size_t min_block = 32;  // header, two list links, footer
  static constexpr std::size_t max_block = std::size_t{1} << 47;
  /// The largest alignment served: alignment is of addresses, and only this much of it is the
  /// same in every process (SharedMemory::mapping_alignment).
  static constexpr std::size_t max_alignment = std::size_t{2} << 20;

  /// Formats `bytes` of memory starting at `this` (16-aligned) as a heap: the heap's own fields,
  /// one free block and the end sentinel. False if `bytes` leaves no room for a block.
  [[nodiscard]] static SegmentHeap* format(void* at, std::size_t bytes) noexcept {
    auto* h = ::new (at) SegmentHeap();
    h->begin_ = first_block_offset();
    if (bytes < h->begin_ + min_block + header) return nullptr;
    h->end_ = h->begin_;
    h->write(h->end_, sentinel_word(h->end_));
    h->extend(bytes);
    return h;
  }

  SegmentHeap(const SegmentHeap&) = delete;
  SegmentHeap& operator=(const SegmentHeap&) = delete;

  /// A block of `size` bytes aligned to `align` (a power of two), or nullptr. O(1).
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    std::size_t need = 0;
    const std::size_t search = search_size(size, align, need);
    if (search == 0) return nullptr;
    const std::uint64_t o = take_free(search);
    if (o == 0) return nullptr;
    return base() + carve(o, need, align) + header;
  }

  /// The bytes from `this` the heap must span (extend()) for try_allocate(size, align) to succeed
  /// with the free block growth appends (merged with a free last block); 0 if no heap can serve it.
  [[nodiscard]] std::size_t bytes_for(std::size_t size, std::size_t align) const noexcept {
    std::size_t need = 0;
    const std::size_t search = search_size(size, align, need);
    if (search == 0) return 0;
    const std::uint64_t w = read(end_);
    const std::uint64_t tail = prev_free(w) ? end_ - read(end_ - header) : end_;  // the free last block
    return tail + search + header;  // end_offset() of it is tail + search
  }

  /// Returns the block at `p` (from try_allocate; `size` at most what was asked). O(1). Hardened
  /// builds report a pointer outside the heap (foreign_pointer), a block already free
  /// (double_free), a header that does not describe a block here (interior_pointer: not a block's
  /// start, or its header was overwritten), an overwritten header after the block
  /// (buffer_overrun) and a size beyond the block (invalid_size); the free is then ignored. Expensive builds also walk the chain to confirm `p` starts a block.
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if (p == nullptr) return;
    const std::uint64_t o = static_cast<std::uint64_t>(static_cast<std::byte*>(p) - base()) - header;
    if constexpr (checks::hardened) {
      if (!check_live(p, size, align)) return;
    }
    const std::uint64_t w = read(o);
    const std::uint64_t s = size_of(w);
    used_ -= s;
    --live_;
    write(o, word(o, s, true, prev_free(w)));  // free, with its own size: the chain stays walkable
    step(20);
    release(o, s, prev_free(w));
  }

  /// True if `p` lies in the heap's blocks. Needs no lock: the end only grows, and is read
  /// atomically.
  [[nodiscard]] bool owns(const void* p) const noexcept {
    const auto* c = static_cast<const std::byte*>(p);
    return c >= base() + begin_ + header && c < base() + __atomic_load_n(&end_, __ATOMIC_RELAXED);
  }

  /// Appends the range up to `bytes` from `this` (more than now) as a free block, merged with a
  /// free last block. Crash-safe: the new sentinel is written before the old one becomes a block.
  void extend(std::size_t bytes) noexcept {
    const std::uint64_t e = end_offset(bytes);
    if (e <= end_ || e - end_ < min_block) return;
    const std::uint64_t old = end_;
    const bool pf = prev_free(read(old));
    write(e, sentinel_word(e));
    step(30);
    write(old, word(old, e - old, true, pf));  // the old sentinel is now a free block
    step(31);
    __atomic_store_n(&end_, e, __ATOMIC_RELAXED);
    release(old, e - old, pf);
  }

  /// The figures (largest_free_block walks the top list: O(blocks in it)).
  [[nodiscard]] segment_heap_stats stats() const noexcept {
    segment_heap_stats r{end_ - begin_, used_, free_bytes_, live_, free_count_, 0};
    if (fl_bitmap_ != 0) {
      const unsigned fl = 63u - static_cast<unsigned>(std::countl_zero(fl_bitmap_));
      const unsigned sl = 31u - static_cast<unsigned>(std::countl_zero(std::uint32_t{sl_bitmap_[fl]}));
      std::uint64_t best = 0;
      for (std::uint64_t o = heads_[fl][sl]; o != 0; o = read(o + header)) best = size_of(read(o)) > best ? size_of(read(o)) : best;
      r.largest_free_block = best - header;
    }
    return r;
  }
  /// Bytes from `this` to the end of the end sentinel (read atomically, as owns() does).
  [[nodiscard]] std::size_t extent() const noexcept { return __atomic_load_n(&end_, __ATOMIC_RELAXED) + header; }
  /// The largest request a heap spanning `bytes` from `this` can serve when empty.
  [[nodiscard]] static std::size_t max_request(std::size_t bytes) noexcept {
    const std::uint64_t b = first_block_offset();
    return bytes < b + min_block + header ? 0 : end_offset(bytes) - b - header;
  }

  /// After a crash: walks the chain from the first block (bounded by `limit` bytes from `this`),
  /// merges adjacent free blocks, rewrites footers and previous-is-free bits and rebuilds the
  /// lists, bitmaps and statistics. Null, or what is wrong with the chain itself (a header whose
  /// tag, size or place is wrong) with its offset in `where`. Not a misuse: the caller decides
  /// (a default misuse handler would abort the survivor while it holds the heap's mutex).
  [[nodiscard]] const char* recover(std::size_t limit, std::uint64_t* where = nullptr) noexcept {
    fl_bitmap_ = 0;
    std::memset(sl_bitmap_, 0, sizeof sl_bitmap_);
    std::memset(heads_, 0, sizeof heads_);
    used_ = free_bytes_ = live_ = free_count_ = 0;
    std::uint64_t o = begin_;
    bool pf = false;
    for (;;) {
      std::uint64_t w = read_checked(o, limit);
      if (w == bad_word) return corrupt(o, where);
      if (size_of(w) == 0) break;  // the sentinel (it may lie past end_ if growth was cut short)
      std::uint64_t s = size_of(w);
      if (!is_free(w)) {
        write(o, word(o, s, false, pf));
        used_ += s;
        ++live_;
        pf = false;
        o += s;
        continue;
      }
      for (;;) {  // a free run: merge it into one block
        const std::uint64_t nw = read_checked(o + s, limit);
        if (nw == bad_word) return corrupt(o + s, where);
        if (!is_free(nw) || size_of(nw) == 0) break;
        s += size_of(nw);
        write(o, word(o, s, true, pf));
      }
      write(o, word(o, s, true, pf));
      write(o + s - header, s);
      link(o, s);
      free_bytes_ += s;
      ++free_count_;
      pf = true;
      o += s;
    }
    write(o, sentinel_word(o) | (pf ? prev_free_bit : 0));
    __atomic_store_n(&end_, o, __ATOMIC_RELAXED);
    return nullptr;
  }

  /// Checks every invariant (chain, tags, footers, bits, lists, bitmaps, statistics); returns
  /// null, or what is wrong and at which offset. O(blocks).
  [[nodiscard]] const char* validate(std::uint64_t* where = nullptr) const noexcept {
    std::uint64_t dummy = 0;
    std::uint64_t& at = where ? *where : dummy;
    std::size_t used = 0, free_bytes = 0, live = 0, frees = 0;
    bool pf = false;
    std::uint64_t o = begin_;
    for (; o < end_;) {
      at = o;
      const std::uint64_t w = read(o);
      const std::uint64_t s = size_of(w);
      if (tag_of(w) != tag(o)) return "block tag does not match its offset";
      if (s < min_block || s % granule != 0 || o + s > end_) return "block size out of range";
      if (prev_free(w) != pf) return "previous-is-free bit is wrong";
      if (is_free(w)) {
        if (pf) return "two adjacent free blocks";
        if (read(o + s - header) != s) return "free block footer is wrong";
        free_bytes += s;
        ++frees;
      } else {
        used += s;
        ++live;
      }
      pf = is_free(w);
      o += s;
    }
    at = o;
    if (o != end_ || read(o) != (sentinel_word(o) | (pf ? prev_free_bit : 0))) return "end sentinel is wrong";
    std::size_t listed = 0;
    for (unsigned fl = 0; fl < fl_count; ++fl) {
      if (((fl_bitmap_ >> fl) & 1u) != (sl_bitmap_[fl] != 0)) return "first-level bitmap is wrong";
      for (unsigned sl = 0; sl < sl_count; ++sl) {
        if (((sl_bitmap_[fl] >> sl) & 1u) != (heads_[fl][sl] != 0)) return "second-level bitmap is wrong";
        std::uint64_t prev = 0;
        for (std::uint64_t f = heads_[fl][sl]; f != 0; prev = f, f = read(f + header)) {
          at = f;
          if (f < begin_ || f >= end_ || tag_of(read(f)) != tag(f)) return "a free list links to no block";
          if (read(f + 2 * header) != prev) return "free list back link is wrong";
          if (!is_free(read(f))) return "a live block is in a free list";
          unsigned bfl = 0, bsl = 0;
          mapping(size_of(read(f)), bfl, bsl);
          if (bfl != fl || bsl != sl) return "a free block is in the wrong list";
          if (++listed > frees) return "free lists hold more blocks than the chain";
        }
      }
    }
    if (listed != frees) return "a free block is in no list";
    if (used != used_ || free_bytes != free_bytes_ || live != live_ || frees != free_count_)
      return "statistics do not match the blocks";
    return nullptr;
  }

  /// The usable bytes of the live block at `p` (for tests and allocate_at_least).
  [[nodiscard]] std::size_t usable_size(const void* p) const noexcept {
    return size_of(read(static_cast<std::uint64_t>(static_cast<const std::byte*>(p) - base()) - header)) - header;
  }

  /// For the segment's lock-free cache, which reads a block's header word `w` (at offset `o`)
  /// without the lock (only a live block's previous-is-free bit changes under it): the size of
  /// the live block it describes, else 0.
  [[nodiscard]] static constexpr std::uint64_t live_size(std::uint64_t o, std::uint64_t w) noexcept {
    return tag_of(w) == tag(o) && !is_free(w) && size_of(w) >= min_block ? size_of(w) : 0;
  }

 private:
  static constexpr unsigned sl_log2 = 4, sl_count = 1u << sl_log2;
  static constexpr unsigned fl_count = 41;  // up to max_block
  static constexpr std::uint64_t free_bit = 1, prev_free_bit = 2, size_mask = ((std::uint64_t{1} << 48) - 1) & ~std::uint64_t{15};
  static constexpr std::uint64_t bad_word = ~std::uint64_t{0};

  SegmentHeap() noexcept = default;

  /// The free block size try_allocate searches for (0: none can serve the request); `need` gets
  /// the block's own size.
  static std::size_t search_size(std::size_t size, std::size_t align, std::size_t& need) noexcept {
    if (add_overflows(size, header + granule - 1, need) || need > max_block || align > max_alignment) return 0;
    need = need & ~(granule - 1);
    if (need < min_block) need = min_block;
    const std::size_t search = align <= granule ? need : need + align + granule;
    return search > max_block ? 0 : search;
  }

  static constexpr std::uint64_t first_block_offset() noexcept {
    return align_up(sizeof(SegmentHeap) + header, granule) - header;
  }
  /// The sentinel's offset for a heap spanning `bytes`: the last one with a 16-aligned payload.
  static constexpr std::uint64_t end_offset(std::size_t bytes) noexcept { return align_down(bytes - 2 * header, granule) + header; }

  static constexpr std::uint64_t tag(std::uint64_t o) noexcept {
    return ((o | 1u) * 0x9E3779B97F4A7C15ull) & ~((std::uint64_t{1} << 48) - 1);
  }
  static constexpr std::uint64_t tag_of(std::uint64_t w) noexcept { return w & ~((std::uint64_t{1} << 48) - 1); }
  static constexpr std::uint64_t word(std::uint64_t o, std::uint64_t size, bool free, bool pf) noexcept {
    return tag(o) | size | (free ? free_bit : 0) | (pf ? prev_free_bit : 0);
  }
  static constexpr std::uint64_t sentinel_word(std::uint64_t o) noexcept { return tag(o); }
  static constexpr std::uint64_t size_of(std::uint64_t w) noexcept { return w & size_mask; }
  static constexpr bool is_free(std::uint64_t w) noexcept { return (w & free_bit) != 0; }
  static constexpr bool prev_free(std::uint64_t w) noexcept { return (w & prev_free_bit) != 0; }

  std::byte* base() noexcept { return reinterpret_cast<std::byte*>(this); }
  const std::byte* base() const noexcept { return reinterpret_cast<const std::byte*>(this); }
  std::uint64_t read(std::uint64_t o) const noexcept {
    std::uint64_t v;
    std::memcpy(&v, base() + o, sizeof v);
    return v;
  }
  void write(std::uint64_t o, std::uint64_t v) noexcept { std::memcpy(base() + o, &v, sizeof v); }
  /// The header at `o` if it lies inside `limit` and its tag and size are those of a block or
  /// the sentinel, else bad_word.
  std::uint64_t read_checked(std::uint64_t o, std::size_t limit) const noexcept {
    if (o + header > limit) return bad_word;
    const std::uint64_t w = read(o);
    const std::uint64_t s = size_of(w);
    if (tag_of(w) != tag(o) || s % granule != 0 || (s != 0 && s < min_block) || o + s + header > limit ||
        (s == 0 && is_free(w)))
      return bad_word;
    return w;
  }

  /// An ordered step of a chain change: the compiler may not move stores across it (a SIGKILL is
  /// an asynchronous signal); debug builds call the crash-test hook.
  static void step([[maybe_unused]] int n) noexcept {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if constexpr (checks::debug) {
      if (segment_heap_step_hook) segment_heap_step_hook(n);
    }
  }

  /// Files the block at `o` (already marked free, `s` bytes, previous-is-free `pf`): merges it with
  /// free neighbours (one header store each), writes its footer and links it.
  void release(std::uint64_t o, std::uint64_t s, bool pf) noexcept {
    free_bytes_ += s;
    ++free_count_;
    const std::uint64_t nw = read(o + s);
    if (is_free(nw)) {  // merge with the next block
      unlink(o + s, size_of(nw));
      s += size_of(nw);
      --free_count_;
      write(o, word(o, s, true, pf));
      step(21);
    }
    if (pf) {  // merge into the previous block (its footer gives its size)
      const std::uint64_t ps = read(o - header);
      const std::uint64_t po = o - ps;
      const std::uint64_t pw = read(po);
      unlink(po, ps);
      s += ps;
      --free_count_;
      o = po;
      write(o, word(o, s, true, prev_free(pw)));
      step(22);
    }
    write(o + s - header, s);  // footer
    set_prev_free(o + s, true);
    link(o, s);
  }

  void set_prev_free(std::uint64_t o, bool on) noexcept {
    const std::uint64_t w = read(o);
    write(o, on ? (w | prev_free_bit) : (w & ~prev_free_bit));
  }

  static void mapping(std::uint64_t s, unsigned& fl, unsigned& sl) noexcept {
    if (s < (std::uint64_t{1} << (sl_log2 + 4))) {
      fl = 0;
      sl = static_cast<unsigned>(s >> 4);
    } else {
      const unsigned l = 63u - static_cast<unsigned>(std::countl_zero(s));
      fl = l - (sl_log2 + 3);
      sl = static_cast<unsigned>(s >> (l - sl_log2)) & (sl_count - 1);
    }
  }

  void link(std::uint64_t o, std::uint64_t s) noexcept {
    unsigned fl, sl;
    mapping(s, fl, sl);
    const std::uint64_t head = heads_[fl][sl];
    write(o + header, head);
    write(o + 2 * header, 0);
    if (head != 0) write(head + 2 * header, o);
    heads_[fl][sl] = o;
    fl_bitmap_ |= std::uint64_t{1} << fl;
    sl_bitmap_[fl] = static_cast<std::uint16_t>(sl_bitmap_[fl] | (1u << sl));
  }
  void unlink(std::uint64_t o, std::uint64_t s) noexcept {
    unsigned fl, sl;
    mapping(s, fl, sl);
    const std::uint64_t next = read(o + header), prev = read(o + 2 * header);
    if (next != 0) write(next + 2 * header, prev);
    if (prev != 0) {
      write(prev + header, next);
    } else {
      heads_[fl][sl] = next;
      if (next == 0) {
        sl_bitmap_[fl] = static_cast<std::uint16_t>(sl_bitmap_[fl] & ~(1u << sl));
        if (sl_bitmap_[fl] == 0) fl_bitmap_ &= ~(std::uint64_t{1} << fl);
      }
    }
  }

  /// Unlinks and returns a free block of at least `s` bytes (0 if none): the head of the first
  /// non-empty list whose every block is large enough, else the head of the list `s` falls in if
  /// that one is (so a fresh heap serves its whole block).
  std::uint64_t take_free(std::uint64_t s) noexcept {
    unsigned fl, sl;
    mapping(s, fl, sl);
    const unsigned exact_fl = fl, exact_sl = sl;
    if (s >= (std::uint64_t{1} << (sl_log2 + 4))) {
      const std::uint64_t r = s + (std::uint64_t{1} << (63u - static_cast<unsigned>(std::countl_zero(s)) - sl_log2)) - 1;
      mapping(r, fl, sl);
    }
    std::uint32_t bits = sl_bitmap_[fl] & (~0u << sl);
    if (bits == 0) {
      const std::uint64_t fbits = fl_bitmap_ & (~std::uint64_t{0} << (fl + 1));
      if (fbits == 0) {
        const std::uint64_t o = heads_[exact_fl][exact_sl];
        if (o == 0 || size_of(read(o)) < s) return 0;
        unlink(o, size_of(read(o)));
        return o;
      }
      fl = static_cast<unsigned>(std::countr_zero(fbits));
      bits = sl_bitmap_[fl];
    }
    sl = static_cast<unsigned>(std::countr_zero(bits));
    const std::uint64_t o = heads_[fl][sl];
    unlink(o, size_of(read(o)));
    return o;
  }

  /// Makes the taken free block at `o` a live block of `need` bytes with a payload aligned to
  /// `align`, returning what is left before and after it to the lists. Returns the block's offset.
  std::uint64_t carve(std::uint64_t o, std::uint64_t need, std::size_t align) noexcept {
    std::uint64_t w = read(o);
    std::uint64_t s = size_of(w);
    free_bytes_ -= s;
    --free_count_;
    if (align > granule) {
      const std::uint64_t at = reinterpret_cast<std::uintptr_t>(base() + o + header);
      std::uint64_t lead = align_up(at, align) - at;
      if (lead != 0 && lead < min_block) lead += align;
      if (lead != 0) {  // split off a free leading block: the new header first, then the lead's
        const std::uint64_t b = o + lead;
        write(b, word(b, s - lead, true, true));
        step(10);
        write(o, word(o, lead, true, prev_free(w)));
        step(11);
        write(o + lead - header, lead);
        link(o, lead);
        free_bytes_ += lead;
        ++free_count_;
        o = b;
        s -= lead;
        w = read(o);
      }
    }
    if (s - need >= min_block) {  // split off the tail: its header and footer, then the head's
      const std::uint64_t t = o + need;
      write(t, word(t, s - need, true, false));
      write(o + s - header, s - need);
      step(1);
      write(o, word(o, need, false, prev_free(w)));
      step(2);
      link(t, s - need);
      free_bytes_ += s - need;
      ++free_count_;
      s = need;
    } else {
      write(o, word(o, s, false, prev_free(w)));
      step(3);
      set_prev_free(o + s, false);
    }
    used_ += s;
    ++live_;
    return o;
  }

  // The checks of deallocate, without freeing (public for the segment's cache, under the lock).
 public:
  bool check_live(void* p, std::size_t size, std::size_t align) noexcept {
    const char* what = nullptr;
    error_kind kind = error_kind::interior_pointer;
    const auto* c = static_cast<std::byte*>(p);
    if (c < base() + begin_ + header || c >= base() + end_) {
      kind = error_kind::foreign_pointer;
      what = "pointer is not in this segment's heap";
    } else {
      const std::uint64_t o = static_cast<std::uint64_t>(c - base()) - header;
      const std::uint64_t w = (o - begin_) % granule == 0 ? read(o) : bad_word;
      const std::uint64_t s = size_of(w);
      if (w == bad_word || tag_of(w) != tag(o) || s < min_block || o + s > end_) {
        what = "not the start of a block, or the block's header is corrupt";
      } else if (tag_of(read(o + s)) != tag(o + s)) {
        kind = error_kind::buffer_overrun;
        what = "the header of the next block is overwritten (this block was overrun?)";
      } else if (is_free(w)) {
        kind = error_kind::double_free;
        what = "block is already free";
      } else if (size > s - header) {
        kind = error_kind::invalid_size;
        what = "size is larger than the block";
      } else if constexpr (checks::expensive) {
        std::uint64_t b = begin_;
        while (b < o) b += size_of(read(b));
        if (b != o) what = "not the start of a block, or the block's header is corrupt";
      }
    }
    if (what == nullptr) return true;
    report_misuse({kind, component, p, size, align, what, nullptr, 0});
    return false;
  }

 private:
  static const char* corrupt(std::uint64_t o, std::uint64_t* where) noexcept {
    if (where) *where = o;
    return "block header is corrupt";
  }

  std::uint64_t begin_ = 0;  // offset of the first block's header
  std::uint64_t end_ = 0;    // offset of the end sentinel's header
  std::uint64_t used_ = 0, free_bytes_ = 0, live_ = 0, free_count_ = 0;
  std::uint64_t fl_bitmap_ = 0;
  std::uint16_t sl_bitmap_[fl_count] = {};
  std::uint64_t heads_[fl_count][sl_count] = {};  // offsets of list heads, 0: empty
};

}  // namespace core::memory::detail
