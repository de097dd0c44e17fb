#pragma once
/// Arena: bump allocation in blocks that grow geometrically. O(1) allocation of any size and
/// alignment, no per-allocation header, and memory given back all at once: by reset() (keeps the
/// blocks for reuse), clear() (returns them upstream), or an Arena::Scope that rolls back exactly
/// to where it began (Arena::ResourceScope is one that is also a std::pmr::memory_resource).
/// Not thread-safe: use one arena per thread.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/std_allocator.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <span>
#include <utility>

namespace core::memory {

namespace detail {
/// What a marker and a scope hold instead of a count when the checks are off.
struct NoCount {
  friend constexpr bool operator==(NoCount, NoCount) noexcept { return true; }
};
/// A count kept in hardened builds only.
using HardenedCount = std::conditional_t<checks::hardened, std::uint64_t, NoCount>;

/// Hardened arenas: the rewinds since a marker was taken, to tell a stale marker (one a rewind
/// went back past, after which the arena grew again: rewinding there would free part of a live
/// block) from a valid one. A marker at position p taken at epoch e is valid while every rewind
/// since went to p or later. The log keeps, of the rewinds so far, those to a position lower than
/// every later one's (their positions rise with their epochs): the earliest after e is then the
/// lowest since e. Bounded: when full it forgets its second entry, which can only make it accept
/// a stale marker, never reject a valid one; the first (the lowest, 0 after a reset or clear) it
/// never forgets.
class RewindLog {
 public:
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }
  /// Whether a marker at `position` taken at `epoch` is still valid, as far as the log knows.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE bool valid(std::uint64_t epoch, std::size_t position) const noexcept {
    return epoch == epoch_ || valid_since(epoch, position);
  }
  /// Whether a marker taken at `epoch` is from before the last clear() (its block was given back).
  [[nodiscard]] bool before_clear(std::uint64_t epoch) const noexcept { return epoch < cleared_; }
  /// A clear(): a rewind to 0 that gives the blocks back.
  void record_clear() noexcept {
    record(0);
    cleared_ = epoch_;
  }
  /// A rewind to `position`.
  void record(std::size_t position) noexcept {
    ++epoch_;
    while (size_ && entries_[size_ - 1].position >= position) --size_;
    if (size_ == capacity) {
      for (std::size_t i = 1; i + 1 < capacity; ++i) entries_[i] = entries_[i + 1];
      --size_;
    }
    entries_[size_++] = {epoch_, position};
  }

 private:
  bool valid_since(std::uint64_t epoch, std::size_t position) const noexcept {
    for (std::size_t i = 0; i < size_; ++i)
      if (entries_[i].epoch > epoch) return entries_[i].position >= position;
    return true;
  }
  struct Entry {
    std::uint64_t epoch;
    std::size_t position;
  };
  static constexpr std::size_t capacity = 16;
  Entry entries_[capacity]{};
  std::size_t size_ = 0;
  std::uint64_t epoch_ = 0;
  std::uint64_t cleared_ = 0;  // the epoch of the last clear()
};
/// RewindLog's place when the checks are off: no state, every marker valid.
struct NoRewindLog {
  [[nodiscard]] NoCount epoch() const noexcept { return {}; }
  [[nodiscard]] bool valid(NoCount, std::size_t) const noexcept { return true; }
  [[nodiscard]] bool before_clear(NoCount) const noexcept { return false; }
  void record(std::size_t) noexcept {}
  void record_clear() noexcept {}
};
}  // namespace detail

/// Bump allocator over blocks from `Upstream`. `Arena` is BasicArena<MallocAllocator>.
///
/// Requests larger than half the next block get a block of their own, so a big allocation does
/// not waste the rest of the current block (it takes one byte of it, so that rewinds see it: see
/// Marker; in an arena with no regular block yet, the first is made). deallocate() does nothing (under AddressSanitizer it
/// poisons the bytes, so a use after free is reported); memory comes back through reset(),
/// clear(), rewind() or a Scope.
template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicArena {
  struct Block;

 public:
  static constexpr const char* allocator_name = "core::memory::Arena";
  /// Default alignment of allocate(size).
  static constexpr std::size_t default_alignment = alignof(std::max_align_t);
  /// Every allocation's size is rounded up to a multiple of this (see try_allocate).
  static constexpr std::size_t granule = alignof(std::max_align_t);
  /// Every block is aligned to at least this.
  static constexpr std::size_t alignment = 1;
  /// Largest block the geometric growth reaches (larger requests still get their own block).
  static constexpr std::size_t max_block_size = std::size_t{64} << 20;

  /// Position to rewind to; taken by mark(), used by rewind() and Scope. Two words, the top and
  /// the end of the current block, which every oversized allocation moves down by a byte: so a
  /// rewind that finds the same end is in the marker's block with nothing but the top to undo,
  /// and a scope costs one compare more than a hand-written bump pointer (see DESIGN-NOTES).
  struct Marker {
    std::byte* top = nullptr;
    std::byte* end = nullptr;
    /// Hardened builds: the arena's rewinds (and clears) so far when it was taken, to tell it
    /// stale once a rewind went back past it (see detail::RewindLog). A block that clear() gave
    /// back may come back at the same address, where the older marker's addresses match again.
    [[no_unique_address]] detail::HardenedCount epoch{};
  };

  class Scope;
  class ResourceScope;

  /// An arena whose first block (allocated on first use) holds `block_size` bytes, clamped to
  /// [64, max_block_size]: any value is valid.
  explicit BasicArena(std::size_t block_size = 4096)
    requires allocator_traits<Upstream>::is_stateless
      : next_block_size_(clamp_block_size(block_size)) {}

  /// As above, drawing blocks from `upstream` (kept by reference unless stateless or a handle).
  BasicArena(std::size_t block_size, Upstream& upstream)
      : upstream_(upstream), next_block_size_(clamp_block_size(block_size)) {}

  /// An arena that starts in `buffer` (e.g. on the stack; never freed by the arena) and grows
  /// into upstream blocks of `block_size` bytes and more once it is full.
  explicit BasicArena(std::span<std::byte> buffer, std::size_t block_size = 4096)
    requires allocator_traits<Upstream>::is_stateless
      : next_block_size_(clamp_block_size(block_size)) {
    adopt_buffer(buffer);
  }

  BasicArena(const BasicArena&) = delete;
  BasicArena& operator=(const BasicArena&) = delete;

  BasicArena(BasicArena&& other) noexcept
      : upstream_(other.upstream_),
        top_(std::exchange(other.top_, nullptr)),
        current_(std::exchange(other.current_, nullptr)),
        end_(std::exchange(other.end_, nullptr)),
        first_(std::exchange(other.first_, nullptr)),
        oversized_(std::exchange(other.oversized_, nullptr)),
        serials_(other.serials_),  // (its blocks' serials go on: releases are newest first)
        next_block_size_(other.next_block_size_),
        first_block_size_(other.first_block_size_),
        used_before_(std::exchange(other.used_before_, 0)),
        oversized_bytes_(std::exchange(other.oversized_bytes_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        rewinds_(other.rewinds_),
        open_scopes_(other.open_scopes_) {}

  ~BasicArena() {
    release_all();
    if (first_) {  // hand a caller's buffer back clean
      vg_pool_destroy(first_);
      unpoison_memory(first_->data(), first_->capacity);
    }
  }

  /// `size` bytes aligned to `align` (a power of two). Throws out_of_memory. O(1).
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* allocate(std::size_t size, std::size_t align = default_alignment) {
    return bump<true>(size, align);
  }

  /// Storage for `n` objects of T (not constructed). Throws out_of_memory, or
  /// std::bad_array_new_length if n * sizeof(T) overflows.
  template <class T>
  [[nodiscard]] T* allocate(std::size_t n = 1) {
    return static_cast<T*>(allocate(array_bytes<T>(n, allocator_name), alignof(T)));
  }

  /// As allocate, but nullptr when the upstream allocator is exhausted.
  ///
  /// Sizes are rounded up to `granule` bytes so the top stays granule-aligned: a request aligned
  /// to at most the granule (the default) then costs one add on its critical path instead of an
  /// align-up, which makes the arena run at the speed of a bare bump pointer.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t size,
                                                             std::size_t align = default_alignment) noexcept {
    return bump<false>(size, align);
  }

 private:
  /// The fast path shared by allocate (Throw) and try_allocate; the slow path is out of line, so
  /// the inlined code is the bump and one compare, with no test of the result.
  template <bool Throw>
  CORE_MEMORY_ALWAYS_INLINE void* bump(std::size_t size, std::size_t align) noexcept(!Throw) {
    // One compare covers all: n - 1 wraps for size 0 (and sizes that overflow the rounding), so
    // those take the slow path, as does anything beyond the end of the block.
    const std::size_t n = (size + granule - 1) & ~(granule - 1);
    auto p = reinterpret_cast<std::uintptr_t>(top_);
    const auto end = reinterpret_cast<std::uintptr_t>(end_);
    if (!is_valid_alignment_up_to(align, granule)) {  // over-aligned, or invalid (reported by slow)
      const std::size_t pad = (0 - p) & (align - 1);
      if (!is_valid_alignment(align) || pad > end - p) return slow<Throw>(size, align);
      p += pad;
    }
    if (n - 1 < end - p) [[likely]] {
      top_ = reinterpret_cast<std::byte*>(p + n);
      unpoison_memory(reinterpret_cast<void*>(p), size);
      vg_alloc(current_, reinterpret_cast<void*>(p), size);
      return reinterpret_cast<void*>(p);
    }
    return slow<Throw>(size, align);
  }

 public:
  /// Like allocate, and reports the size rounded up to the granule as usable: the arena asks for
  /// the rounded size itself, so an oversized request's own block holds it and ASan sees it in use.
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = default_alignment) {
    if (!is_valid_alignment(align)) [[unlikely]]  // reported with the size asked for
      detail::fail_invalid_alignment(allocator_name, size, align);
    const std::size_t usable = size == 0 ? granule : (size <= max_size() ? align_up(size, granule) : size);
    return {allocate(usable, align), usable};
  }

  /// Does nothing: the arena frees in bulk. Under AddressSanitizer the block is poisoned.
  void deallocate(void* p, std::size_t size, std::size_t /*align*/ = default_alignment) noexcept {
    if constexpr (valgrind_enabled) vg_free(block_of(p), p);
    poison_memory_inside(p, size);
  }

  /// The current position.
  [[nodiscard]] Marker mark() const noexcept { return {top_, end_, rewinds_.epoch()}; }

  /// Frees everything allocated since `marker` was taken (markers must be rewound newest first).
  /// Blocks reached since then are kept for reuse; blocks of oversized requests are released.
  /// O(1) when still in the marker's block with no oversized allocation since, else O(blocks).
  /// Rewinding to a marker newer than the current position (e.g. scopes ended out of order), or to
  /// one of blocks the arena no longer uses (another arena's, from before a clear()), is reported
  /// as lifo_violation in hardened builds, and ignored (release builds move the top to a newer
  /// marker in the current block: the bytes between come back at the next rewind or reset); debug builds also check that the marker's
  /// top is in the used part of its block. So is a stale marker: one that a rewind to an older
  /// marker went back past, after which the arena grew again (see detail::RewindLog).
  CORE_MEMORY_ALWAYS_INLINE void rewind(const Marker& marker) noexcept {
    // The common case, inlined: the same end (and, in hardened builds, the marker not beyond the
    // top). The top is stored before the test (the slow path sees the old one as an argument): a
    // compiler may then drop the allocations' own stores of the top in a scope it sees whole.
    std::byte* const old_top = top_;
    if constexpr (!checks::hardened) {
      // A marker beyond the top (scopes ended out of order, or one ending after a reset) is
      // misuse release builds do not check: the top moves to it, and the bytes in between wait
      // for the next rewind or reset. Under AddressSanitizer, whose poisoning needs the top to go
      // back, it stays (3 instructions a rewind otherwise).
      top_ = poisoning_enabled && marker.top > old_top ? old_top : marker.top;
      if (marker.end == end_) [[likely]] {
        rewound_in_block(old_top);
        return;
      }
    } else if (!checks::debug && marker.end == end_ && marker.top <= top_) [[likely]] {
      // In the current block, with every oversized block allocated before the marker.
      const std::size_t position = current_ ? in_block_position(marker.top) : 0;
      if (rewinds_.valid(marker.epoch, position)) [[likely]] {
        top_ = marker.top;
        rewound_in_block(old_top);
        rewinds_.record(position);
        return;
      }
    }
    // The marker's words as arguments, not its address: a scope then needs no copy in memory.
    rewind_slow(marker.top, marker.end, marker.epoch, old_top);
  }

 private:
  /// Poisons (and tells memcheck) what a rewind in the current block freed, from the new top to
  /// `old_top`.
  CORE_MEMORY_ALWAYS_INLINE void rewound_in_block(std::byte* old_top) noexcept {
    poison_memory(top_, static_cast<std::size_t>(old_top - top_));
    if constexpr (valgrind_enabled) {
      if (current_) vg_trim(current_, current_->data(), static_cast<std::size_t>(top_ - current_->data()));
    }
  }

  /// The position of `top` in the current block (bytes_used() with that top).
  std::size_t in_block_position(const std::byte* top) const noexcept {
    return used_before_ + oversized_bytes_ + static_cast<std::size_t>(top - current_->data());
  }

  CORE_MEMORY_NOINLINE void rewind_slow(std::byte* top, std::byte* end, detail::HardenedCount marker_epoch,
                                        std::byte* old_top) noexcept {
    const Marker marker{top, end, marker_epoch};
    top_ = old_top;
    Block* const block = marker_block(marker);
    if (!rewindable(marker, block)) [[unlikely]]
      return;
    // The oversized blocks allocated after the marker: a prefix of their list, newest first.
    Block* released = nullptr;
    Block** cut = &released;
    for (released = oversized_; *cut && allocated_after(*cut, marker, block);) cut = &(*cut)->next;
    oversized_ = *cut;
    *cut = nullptr;
    oversized_bytes_ = oversized_ ? oversized_->bytes_before : 0;
    // A stack upstream frees its newest block only: the spare regular blocks that came after
    // the oldest of those go back too, all newest first.
    Block* newer = nullptr;
    if constexpr (allocator_traits<Upstream>::frees_newest_first) {
      if (released) {
        std::uint64_t oldest = released->serial;
        for (Block* b = released; b; b = b->next) oldest = b->serial;
        for (Block** link = block ? &block->next : &first_; *link;) {
          Block* b = *link;
          if (b->serial > oldest && b->owned) {
            *link = b->next;
            b->next = newer;
            newer = b;
          } else {
            link = &b->next;
          }
        }
      }
    }
    release_newest_first(newest_first(newer), released);
    current_ = block ? block : first_;
    used_before_ = block ? block->bytes_before : 0;
    if (current_) {
      top_ = block ? marker.top : current_->data();
      end_ = block ? marker.end : current_->data() + current_->capacity;
      poison_memory(top_, static_cast<std::size_t>(current_->data() + current_->capacity - top_));
      vg_trim(current_, current_->data(), static_cast<std::size_t>(top_ - current_->data()));
      for (Block* b = current_->next; b; b = b->next) {
        poison_memory(b->data(), b->capacity);
        vg_trim(b, b->data(), 0);
      }
    } else {  // (a stack upstream took every block back)
      top_ = end_ = nullptr;
    }
    rewinds_.record(bytes_used());
  }

 public:
  /// Frees everything; keeps the blocks for reuse (releases those of oversized requests).
  void reset() noexcept { rewind(Marker{}); }

  /// Frees everything and returns every block upstream (a caller-provided buffer is kept). The
  /// next block is as large as the first was (the growth starts again: an arena cleared between
  /// frames of the same work otherwise took a 64 MiB block for 16 bytes after 12 of them).
  void clear() noexcept {
    release_all();
    next_block_size_ = first_block_size_;
    rewinds_.record_clear();
    current_ = first_;
    top_ = first_ ? first_->data() : nullptr;
    end_ = first_ ? first_->data() + first_->capacity : nullptr;
  }

  /// RAII rollback: everything allocated during the scope's lifetime is freed at its end. As cheap
  /// as mark() + rewind(); a ResourceScope is also a std::pmr::memory_resource.
  [[nodiscard]] Scope make_scope() noexcept { return Scope(*this); }

  /// Bytes handed out since the last reset, including alignment padding.
  [[nodiscard]] std::size_t bytes_used() const noexcept {
    return used_before_ + oversized_bytes_ + (current_ ? static_cast<std::size_t>(top_ - current_->data()) : 0);
  }

  /// Bytes of all blocks the arena holds (its footprint), including a caller-provided buffer.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return capacity_; }

  /// What can be allocated (at alignment 1) without a new block: the bytes left in the current
  /// block, in whole granules (sizes round up to one).
  [[nodiscard]] std::size_t bytes_available() const noexcept {
    return static_cast<std::size_t>(end_ - top_) & ~(granule - 1);
  }

  /// Number of blocks held (regular, spare and oversized).
  [[nodiscard]] std::size_t block_count() const noexcept {
    std::size_t n = 0;
    for (Block* b = first_; b; b = b->next) ++n;
    for (Block* b = oversized_; b; b = b->next) ++n;
    return n;
  }

  /// True if `p` lies in memory the arena handed out since the last reset. O(blocks).
  [[nodiscard]] bool owns(const void* p) const noexcept {
    const auto* c = static_cast<const std::byte*>(p);
    for (Block* b = first_; b; b = b->next) {
      const std::byte* used_end = b == current_ ? top_ : b->data() + b->capacity;
      if (c >= b->data() && c < used_end) return true;
      if (b == current_) break;
    }
    for (Block* b = oversized_; b; b = b->next)
      if (c >= b->data() && c < b->data() + b->capacity) return true;
    return false;
  }

  [[nodiscard]] std::size_t max_size() const noexcept {
    const std::size_t m = allocator_traits<Upstream>::max_size(upstream_.get());
    return m > header_size ? m - header_size : 0;
  }

  /// The upstream allocator.
  [[nodiscard]] Upstream& upstream() const noexcept { return upstream_.get(); }

 private:
  struct Block {
    Block* next;
    std::size_t capacity;     // bytes of data
    bool owned;               // false for a caller-provided buffer
    // A regular block: its place in the chain, and the bytes used in the blocks before it, when it
    // became current. An oversized block: the place of the regular block current when it was
    // allocated, the bytes of the oversized blocks up to and including it, and `key`, the end it
    // moved the current block's down to (see Marker).
    std::uint32_t index = 0;
    std::size_t bytes_before = 0;
    std::byte* key = nullptr;
    std::uint64_t serial = 0;  // allocation order (the list order is not: a new block goes before spares)
    std::byte* data() noexcept { return reinterpret_cast<std::byte*>(this) + header_size; }
    const std::byte* data() const noexcept { return reinterpret_cast<const std::byte*>(this) + header_size; }
  };
  static constexpr std::size_t header_size = align_up(sizeof(Block), granule);

  /// The block holding `p` (its memcheck pool), or null. O(blocks); used with valgrind only.
  const Block* block_of(const void* p) const noexcept {
    const auto* c = static_cast<const std::byte*>(p);
    for (const Block* list : {current_, oversized_, first_})
      for (const Block* b = list; b; b = b->next)
        if (c >= b->data() && c < b->data() + b->capacity) return b;
    return nullptr;
  }

  /// The block in use (first_ .. current_) that holds marker `m`, or null (Marker{}, or a marker
  /// of no block in use). Only addresses are compared, so a block that is gone is not read.
  /// O(blocks).
  Block* marker_block(const Marker& m) const noexcept {
    if (!m.end) return nullptr;
    const auto top = reinterpret_cast<std::uintptr_t>(m.top), end = reinterpret_cast<std::uintptr_t>(m.end);
    for (Block* b = first_; b; b = b == current_ ? nullptr : b->next) {
      const auto data = reinterpret_cast<std::uintptr_t>(b->data());
      if (data <= top && top <= end && end <= data + b->capacity) return b;
    }
    return nullptr;
  }

  /// True if oversized block `o` was allocated after marker `m` (in regular block `block`): in a
  /// later block, or in the same one with an end it moved below the marker's.
  static bool allocated_after(const Block* o, const Marker& m, const Block* block) noexcept {
    return !block || o->index > block->index || (o->index == block->index && o->key < m.end);
  }

  /// Bytes used at `m` (in `block`, from marker_block): positions only grow while allocating, so
  /// a marker beyond the current position was taken after something that was rewound since.
  std::size_t position(const Marker& m, const Block* block) const noexcept {
    if (!block) return 0;
    const Block* o = oversized_;
    while (o && allocated_after(o, m, block)) o = o->next;
    return (o ? o->bytes_before : 0) + block->bytes_before + static_cast<std::size_t>(m.top - block->data());
  }

  /// The hardened check of rewind(m) to a marker of a block in use, on its slow path: reports a
  /// marker newer than the top (debug builds: also a top beyond the used part of its block) and
  /// returns false. O(blocks).
  bool can_rewind(const Marker& m, const Block* block, bool stale_check) const noexcept {
    const char* what = nullptr;
    const std::size_t at = position(m, block);
    if (block == current_ && block && m.end < end_) [[unlikely]]
      what = "marker is newer than the top: it was taken after an oversized allocation that a rewind has released "
             "since";
    else if (at > bytes_used() || (block == current_ && block && m.top > top_)) [[unlikely]]
      what = "marker is newer than the top: a rewind, reset or scope that ended before it went back past it (markers and scopes must end newest first)";
    else if (stale_check && !rewinds_.valid(m.epoch, at)) [[unlikely]]
      what = "marker is stale: a rewind went back past it and the arena grew again (markers and scopes must end "
             "newest first)";
    if constexpr (checks::debug) {
      if (!what && block && block != current_ && m.top > block->data() + block->next->bytes_before - block->bytes_before)
        what = "marker's top is beyond the used part of its block";
    }
    if (!what) [[likely]]
      return true;
    report_lifo_violation(m, at, what);
    return false;
  }

  /// Hardened builds: a Scope ends after an outer one ended (its marker is stale). Reported as a
  /// marker out of use or newer than the top when it is, else as a scope ended out of order (the
  /// arena grew back past its marker); never rewound.
  CORE_MEMORY_NOINLINE void end_stale_scope(const Marker& m) noexcept {
    Block* const block = marker_block(m);
    if (rewindable(m, block, false))  // (else reported)
      report_lifo_violation(m, position(m, block),
                            "scope ended after an outer scope that began before it (scopes must end in reverse order)");
  }
  /// Whether the arena may rewind to `m` (in `block`): the marker belongs to the blocks in use
  /// (else there is nothing to read) and, in hardened builds, passes can_rewind (`stale_check`:
  /// with its test of the rewind log). Hardened builds report why not.
  bool rewindable(const Marker& m, Block* block, bool stale_check = true) const noexcept {
    if constexpr (checks::hardened) {
      if (m.end && (!block || rewinds_.before_clear(m.epoch))) [[unlikely]] {
        report_lifo_violation(m, 0, not_in_use);
        return false;
      }
      return can_rewind(m, block, stale_check);
    } else {
      return !m.end || block;
    }
  }
  static constexpr const char* not_in_use = "marker does not belong to this arena's blocks in use: it is newer than the top (a rewind has gone back past its block) or from before a clear() or another arena's";

  void report_lifo_violation(const Marker& m, std::size_t position, const char* what) const noexcept {
    report_misuse({error_kind::lifo_violation, allocator_name, m.top, position, 0, what, nullptr, 0});
  }

  static constexpr std::size_t clamp_block_size(std::size_t n) noexcept {
    return n < 64 ? 64 : (n > max_block_size ? max_block_size : n);
  }

  void adopt_buffer(std::span<std::byte> buffer) noexcept {
    std::byte* start = align_up(buffer.data(), granule);
    const std::size_t lost = static_cast<std::size_t>(start - buffer.data());
    if (buffer.size() < lost + header_size + 1) return;  // too small to be useful: ignore it
    auto* b = ::new (static_cast<void*>(start)) Block{nullptr, buffer.size() - lost - header_size, false};
    first_ = current_ = b;
    top_ = b->data();
    end_ = b->data() + b->capacity;
    capacity_ = b->capacity;
    poison_memory(top_, b->capacity);
    vg_pool_create(b);
  }

  Block* new_block(std::size_t capacity) noexcept {
    std::size_t total = 0;
    if (add_overflows(capacity, header_size, total)) return nullptr;
    void* mem = allocator_traits<Upstream>::try_allocate(upstream_.get(), total, alignof(std::max_align_t));
    if (!mem) return nullptr;
    auto* b = ::new (mem) Block{nullptr, capacity, true};
    b->serial = ++serials_;
    capacity_ += capacity;
    poison_memory(b->data(), capacity);
    vg_pool_create(b);
    return b;
  }

  void release_block(Block* b) noexcept {
    capacity_ -= b->capacity;
    if (b->owned) {
      vg_pool_destroy(b);
      unpoison_memory(b->data(), b->capacity);
      allocator_traits<Upstream>::deallocate(upstream_.get(), b, b->capacity + header_size,
                                             alignof(std::max_align_t));
    }
  }

  void release_all() noexcept {
    // Every block newest first (by serial, over both lists), as a stack upstream (StackAllocator)
    // needs; a caller-provided first block survives.
    Block* keep = nullptr;
    Block* regular = nullptr;
    for (Block* b = first_; b;) {
      Block* next = b->next;
      if (b->owned) {
        b->next = regular;
        regular = b;
      } else {
        keep = b;
      }
      b = next;
    }
    release_newest_first(newest_first(regular), oversized_);
    oversized_ = nullptr;
    oversized_bytes_ = 0;
    used_before_ = 0;
    first_ = current_ = keep;
    top_ = end_ = nullptr;
    if (keep) {  // as a reset leaves it
      keep->next = nullptr;
      top_ = keep->data();
      end_ = top_ + keep->capacity;
      poison_memory(top_, keep->capacity);
      vg_trim(keep, top_, 0);
    }
    rewinds_.record(0);
  }

  /// The list sorted newest first (by serial): a merge sort of the links, no memory needed.
  static Block* newest_first(Block* list) noexcept {
    if (!list || !list->next) return list;
    Block* half = list;  // split after the middle
    for (Block* fast = list->next; fast && fast->next; fast = fast->next->next) half = half->next;
    Block* second = half->next;
    half->next = nullptr;
    Block* a = newest_first(list);
    Block* b = newest_first(second);
    Block* head = nullptr;
    for (Block** tail = &head;; tail = &(*tail)->next) {
      if (!a || !b) {
        *tail = a ? a : b;
        return head;
      }
      Block*& from = a->serial > b->serial ? a : b;
      *tail = from;
      from = from->next;
    }
  }
  /// Releases the blocks of two lists, each newest first, in one newest-first order.
  void release_newest_first(Block* a, Block* b) noexcept {
    while (a || b) {
      Block*& from = !b || (a && a->serial > b->serial) ? a : b;
      Block* x = from;
      from = x->next;
      release_block(x);
    }
  }

  template <bool Throw>
  CORE_MEMORY_NOINLINE void* slow(std::size_t size, std::size_t align) noexcept(!Throw) {
    void* p = allocate_slow(size, align);
    if constexpr (Throw) {
      if (!p) throw_out_of_memory(allocator_name, size, align);
    }
    return p;
  }

  CORE_MEMORY_NOINLINE void* allocate_slow(std::size_t size, std::size_t align) noexcept {
    if (!is_valid_alignment(align)) {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    if (size == 0) return try_allocate(1, align);
    // Room for the block at any alignment the block's data might have.
    std::size_t need = 0;
    if (add_overflows(size, align > alignof(std::max_align_t) ? align - 1 : 0, need)) return nullptr;
    if (need > next_block_size_ / 2) return allocate_oversized(size, align, need);
    return advance(need) ? try_allocate(size, align) : nullptr;
  }

  /// A block of its own for a request of `need` bytes at most. It takes a byte off the end of the
  /// current block (the next one if the current is full, or the first): rewinds see the end move.
  void* allocate_oversized(std::size_t size, std::size_t align, std::size_t need) noexcept {
    Block* b = new_block(need);
    if (!b) return nullptr;
    if (top_ == end_ && !advance(1)) {
      release_block(b);
      return nullptr;
    }
    --end_;
    b->next = oversized_;
    oversized_ = b;
    oversized_bytes_ += need;
    b->bytes_before = oversized_bytes_;
    b->index = current_->index;
    b->key = end_;
    void* p = align_up(b->data(), align);
    unpoison_memory(p, size);
    vg_alloc(b, p, size);
    return p;
  }

  /// Makes the next spare block current if it holds `need` bytes, else a new block inserted after
  /// the current one. False when the upstream allocator is exhausted.
  bool advance(std::size_t need) noexcept {
    Block* next = current_ ? current_->next : first_;
    if (!next || next->capacity < need) {
      Block* b = new_block(next_block_size_ > need ? next_block_size_ : need);
      if (!b) return false;
      next_block_size_ = next_block_size_ * 2 > max_block_size ? max_block_size : next_block_size_ * 2;
      b->next = next;
      if (current_) current_->next = b;
      else first_ = b;
      next = b;
    }
    if (current_) used_before_ += static_cast<std::size_t>(top_ - current_->data());
    next->bytes_before = used_before_;
    next->index = current_ ? current_->index + 1 : 0;
    current_ = next;
    top_ = next->data();
    end_ = next->data() + next->capacity;
    return true;
  }

  [[no_unique_address]] detail::allocator_ref<Upstream> upstream_{};
  // top_ and end_ are not adjacent: g++ would copy them to a marker with one 16-byte load, which
  // a store of top_ just before (the previous rewind) cannot forward to (a scope was 2.5x slower).
  std::byte* top_ = nullptr;
  Block* current_ = nullptr;
  std::byte* end_ = nullptr;    // the current block's end, less a byte per oversized allocation in it
  Block* first_ = nullptr;      // regular blocks in order: first_ .. current_ in use, after it spares
  Block* oversized_ = nullptr;  // blocks of oversized requests, newest first
  std::uint64_t serials_ = 0;   // blocks made so far (Block::serial)
  std::size_t next_block_size_;
  std::size_t first_block_size_ = next_block_size_;
  std::size_t used_before_ = 0;      // bytes used in the blocks before current_
  std::size_t oversized_bytes_ = 0;  // bytes used in oversized blocks
  std::size_t capacity_ = 0;         // bytes of all blocks held
  // Hardened builds: the rewinds (and clears) that may have made a marker stale, and the Scopes open.
  [[no_unique_address]] std::conditional_t<checks::hardened, detail::RewindLog, detail::NoRewindLog> rewinds_{};
  [[no_unique_address]] decltype(Marker::epoch) open_scopes_{};
};

/// RAII rollback to a mark: everything allocated from the arena while the scope lives is released
/// when it ends. Scopes nest and must end in reverse order: an outer scope that ends first ends
/// the inner ones with it, and hardened builds count the open scopes to report (lifo_violation)
/// and ignore an inner one's end after that. (Checking its marker against the top alone missed it
/// once the arena had grown back past the marker: the rewind then freed part of a live block.)
/// Costs what mark() + rewind() cost (and a count in hardened builds).
template <RawAllocator Upstream>
class BasicArena<Upstream>::Scope {
 public:
  explicit Scope(BasicArena& arena) noexcept : arena_(&arena), marker_(arena.mark()) {
    if constexpr (checks::hardened) depth_ = ++arena.open_scopes_;
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  // Inlined even on cold paths (an exception's cleanup): an out-of-line call there would keep
  // the scope in memory on the hot path too.
  CORE_MEMORY_ALWAYS_INLINE ~Scope() {
    if constexpr (checks::hardened) {
      if (depth_ > arena_->open_scopes_) [[unlikely]] {  // an outer scope ended first
        arena_->end_stale_scope(marker_);
        return;
      }
      arena_->open_scopes_ = depth_ - 1;  // an outer scope may end first: it ends the inner ones
    }
    arena_->rewind(marker_);
  }

  /// The arena this scope rolls back.
  [[nodiscard]] BasicArena& arena() const noexcept { return *arena_; }
  /// Arena bytes used since the scope began.
  [[nodiscard]] std::size_t bytes_used() const noexcept {
    // O(blocks): the marker's block is looked up first. Rolled back past its start (scopes ended
    // out of order), nothing of the scope is left, and its block may be released.
    const Block* block = arena_->marker_block(marker_);
    if (marker_.end && !block) [[unlikely]]
      return 0;
    const std::size_t start = arena_->position(marker_, block), used = arena_->bytes_used();
    return used > start ? used - start : 0;
  }

 private:
  BasicArena* arena_;
  Marker marker_;
  [[no_unique_address]] decltype(Marker::epoch) depth_{};  // its place among the open scopes (hardened)
};

/// A Scope that is also a std::pmr::memory_resource, so pmr containers can allocate in it:
/// `std::pmr::vector<int> v(&scope)`. Counts what is requested through it. Opening and closing it
/// costs one call more than a Scope (libstdc++ defines ~memory_resource out of line), which is
/// why it is a type of its own.
template <RawAllocator Upstream>
class BasicArena<Upstream>::ResourceScope final : public Scope, public std::pmr::memory_resource {
 public:
  explicit ResourceScope(BasicArena& arena) noexcept : Scope(arena) {}

  /// Allocations requested through this scope as a memory_resource.
  [[nodiscard]] std::size_t allocation_count() const noexcept { return allocations_; }
  /// Bytes requested through this scope as a memory_resource.
  [[nodiscard]] std::size_t bytes_requested() const noexcept { return requested_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    void* p = this->arena().allocate(bytes, align);
    ++allocations_;
    requested_ += bytes;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
    this->arena().deallocate(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  std::size_t allocations_ = 0;
  std::size_t requested_ = 0;
};

using Arena = BasicArena<>;

/// The spec's typed arena allocator: any std container allocating from an Arena.
template <class T>
using ArenaAllocator = StdAllocator<T, Arena>;

static_assert(RawAllocator<Arena>);

}  // namespace core::memory
