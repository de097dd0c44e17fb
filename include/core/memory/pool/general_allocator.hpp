#pragma once
/// GeneralAllocator: a general-purpose, thread-safe RawAllocator, the engine of the process
/// allocator (libcore_memory_malloc, see src/process/) and usable directly. It adds no strategy
/// of its own: requests up to 1 MiB are served by size class from ThreadPoolAllocator's
/// per-thread heaps over slab caches (the concurrent engine); larger ones are mapped from the OS
/// for themselves.
///
/// - Each size class draws its slabs from its own range of one address-space reservation, so a
///   block's class is its address's range: a free needs no size (free(), realloc()) and costs a
///   subtraction and a shift before the engine's lock-free free.
/// - Large blocks (over 1 MiB, or aligned beyond their class) are mappings with a 64-byte
///   header; reallocate grows one with mremap, without copying. Freeing one unmaps it, except
///   that freed mappings of up to 32 MiB are kept, with their memory, up to the most such blocks
///   ever held at once (64-256 MiB; the oldest unmapped to make room, the idle ones decaying),
///   for the next large requests of about their size: buffers of a few MiB allocated and freed
///   in turn would otherwise cost a mapping, a page fault per 4 KiB and an unmapping every time
///   (330x mimalloc's time, 9x glibc's, whose heap keeps up to 64 MiB free). Such mappings are
///   made in steps of a quarter of their power of two, so that one kept serves any later
///   request of its step. shrink_to_fit (malloc_trim) unmaps them.
/// - Any alignment (a power of two) is served; allocate_at_least and usable_size report the class
///   size or the mapping's room.
/// - The class ranges are reserved (not committed) up front: 92 x 4 GiB of address space, or less
///   if the system refuses (at most 1/4 of an RLIMIT_AS, at least 2 MiB a class). A class whose
///   range is full (or that has none) grows by chunks of 1 MiB mapped elsewhere, found by a hash
///   table from address to class (ClassExtensions; their frees take the slow path). When no chunk
///   can be mapped, a request is served from a larger class with room (one no larger than the
///   page mapping it would take instead), else as a large block, a page mapping of its own (so
///   are classes whose slab is larger than a range).
/// - `Checked` selects the hardened checks on frees (double free, foreign and interior pointers,
///   wrong sizes, except a smaller class's size for a block of a class that spills reached: see
///   may_be_spilled), independently of the build's check level, so the process allocator can
///   offer them as a run-time switch.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/pool/detail/thread_cached_pool.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/memory_barrier.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace core::memory {

namespace detail {

/// The chunks that class ranges took beyond their reservations (a class whose range is full
/// grows by chunks mapped elsewhere), and each one's class: a hash table from a chunk's address
/// to its class, for the frees and checks of the blocks in them, which find no class from their
/// address alone. Written under the engine's upstream lock (one for all classes), read without
/// it. Chunks stay mapped (read-write, committed whole) until the table goes, so a slab header
/// anywhere in one may be read.
class ClassExtensions {
 public:
  static constexpr unsigned chunk_shift = 20;  // 1 MiB, aligned: a key is the address >> chunk_shift
  static constexpr std::size_t chunk_bytes = std::size_t{1} << chunk_shift;
  /// At most half full: 8192 chunks (8 GiB of extensions in all).
  static constexpr std::size_t slots = 16384;

  ClassExtensions() = default;
  ClassExtensions(const ClassExtensions&) = delete;
  ClassExtensions& operator=(const ClassExtensions&) = delete;
  ~ClassExtensions() {
    std::atomic<std::uint64_t>* t = table_.load(std::memory_order_relaxed);
    if (!t) return;
    for (std::size_t i = 0; i < slots; ++i)
      if (const std::uint64_t e = t[i].load(std::memory_order_relaxed))
        (void)os::release(reinterpret_cast<void*>((e >> 8) << chunk_shift), chunk_bytes);
    free_metadata(t, slots * sizeof(std::uint64_t));
  }

  static constexpr std::size_t none = 256;  // no class (classes are below 256)
  /// The class of the chunk holding `p`, or none.
  [[nodiscard]] std::size_t find(const void* p) const noexcept {
    // relaxed, both: a block of a chunk is handed out after the chunk's entry was written, and
    // its free is ordered after that hand-out; a lookup of anything else finds what it finds.
    const std::atomic<std::uint64_t>* t = table_.load(std::memory_order_relaxed);
    if (!t) [[likely]]
      return none;
    const std::uint64_t key = reinterpret_cast<std::uintptr_t>(p) >> chunk_shift;
    for (std::size_t i = slot_of(key);; i = (i + 1) % slots) {
      const std::uint64_t e = t[i].load(std::memory_order_relaxed);
      if (e == 0) return none;
      if (e >> 8 == key) return static_cast<std::size_t>(e & 0xff);
    }
  }

  /// Maps a chunk of `bytes` (a multiple of chunk_bytes) aligned to `align` (at least
  /// chunk_bytes) for class `klass` and enters it; null if the system or the table refuses.
  /// Under the upstream lock.
  [[nodiscard]] std::byte* add(std::size_t bytes, std::size_t align, std::size_t klass) noexcept {
    const std::size_t pieces = bytes >> chunk_shift;
    if (used_ + pieces > slots / 2) return nullptr;
    std::atomic<std::uint64_t>* t = table_.load(std::memory_order_relaxed);
    if (!t) {
      t = static_cast<std::atomic<std::uint64_t>*>(allocate_metadata(slots * sizeof(std::uint64_t)));
      if (!t) return nullptr;
      for (std::size_t i = 0; i < slots; ++i) ::new (static_cast<void*>(t + i)) std::atomic<std::uint64_t>(0);
      table_.store(t, std::memory_order_release);  // release: the zeroed slots before the table
    }
    void* chunk = nullptr;
    if (os::reserve(bytes, align, &chunk) != 0) return nullptr;
    if (os::commit(chunk, bytes) != 0) {
      (void)os::release(chunk, bytes);
      return nullptr;
    }
    const std::uint64_t first = reinterpret_cast<std::uintptr_t>(chunk) >> chunk_shift;
    for (std::uint64_t key = first; key < first + pieces; ++key) {
      std::size_t i = slot_of(key);
      while (t[i].load(std::memory_order_relaxed) != 0) i = (i + 1) % slots;
      t[i].store(key << 8 | klass, std::memory_order_relaxed);  // relaxed: see find
    }
    used_ += pieces;
    return static_cast<std::byte*>(chunk);
  }

 private:
  static std::size_t slot_of(std::uint64_t key) noexcept {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 50);  // 14 bits: slots
  }
  std::atomic<std::atomic<std::uint64_t>*> table_{nullptr};
  std::size_t used_ = 0;  // chunks entered (under the lock)
};
static_assert(ClassExtensions::slots == std::size_t{1} << 14);

/// The slabs of one size class: a bump pointer over its part of the reservation, committed as it
/// goes, with returned slabs decommitted and reused first; then chunks mapped for it elsewhere
/// (ClassExtensions). Serialised by the engine's upstream lock (not thread-safe itself).
class ClassRange {
 public:
  static constexpr const char* allocator_name = "core::memory::GeneralAllocator";
  /// Bytes of spare slabs a class's depot keeps resident (none if its slabs are larger) before it
  /// purges the next ones: a purged slab costs its page faults again when it is reused, so a
  /// program that frees and reallocates up to this much per class at a time pays none.
  static constexpr std::size_t resident_spare_bytes = std::size_t{256} << 10;
  /// And all classes' depots together at most this much: a program that passed through many
  /// classes once (Redis's list nodes, 3 to 8 KiB as they grow) does not keep a slab of each.
  static constexpr std::size_t resident_spare_total = std::size_t{1} << 20;
  /// A class whose slabs are larger (blocks of 10 KiB and up) keeps this much of spare slabs
  /// resident (at least one), within resident_large_spare_total over all such classes: a
  /// program that frees all its buffers of 16 KiB to 1 MiB and allocates them again (a request,
  /// a frame, a compiler's pass) would otherwise fault in every page of them anew each time
  /// (3900 faults a round of 200 such buffers, 4x mimalloc's time). Decays as the others do.
  static constexpr std::size_t resident_large_spare_class = std::size_t{32} << 20;
  static constexpr std::size_t resident_large_spare_total = std::size_t{128} << 20;

  ClassRange() = default;
  ClassRange(const ClassRange&) = delete;
  ClassRange& operator=(const ClassRange&) = delete;
  ~ClassRange() { free_metadata(listed_, listed_capacity_ * sizeof(void*)); }

  void assign(std::byte* begin, std::byte* end, ClassExtensions* extensions, std::size_t klass) noexcept {
    begin_ = top_ = committed_ = begin, end_ = end;
    extensions_ = extensions;
    class_ = klass;
  }

  /// True if a slab header at `p` may be read: `p` lies where a slab was handed out once (every
  /// slab it ever gave stays mapped; a purged one reads as zero). Lock-free (SlabDepot::may_hold).
  [[nodiscard]] bool readable(const void* p) const noexcept {
    const auto* b = static_cast<const std::byte*>(p);
    // relaxed, both: they only grow, and a block is handed out after its slab was taken.
    if (b >= begin_ && b < end_) return b < readable_top_.load(std::memory_order_relaxed);
    if (!extensions_ || extensions_->find(p) != class_) return false;
    const std::byte* top = extension_top_.load(std::memory_order_relaxed);
    return !(b >= top && b < extension_end_.load(std::memory_order_relaxed));  // not the current chunk's untaken rest
  }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) {
    void* p = try_allocate(size, align);
    if (!p) throw_out_of_memory(allocator_name, size, align);
    return p;
  }
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align) noexcept {
    if (size == returned_size_) {  // a returned slab (the depot's slabs of a class are all one size)
      if (listed_size_ != 0) return listed_[--listed_size_];
      if (Link* l = free_) {
        free_ = l->next;
        return l;
      }
    }
    std::byte* p = align_up(top_, align);
    // (p past end_: a slab larger than the range, aligned to its size.)
    if (p < top_ || p > end_ || static_cast<std::size_t>(end_ - p) < size) return extend(size, align);
    if (p + size > committed_) {
      constexpr std::size_t step = std::size_t{1} << 21;  // commit 2 MiB at a time
      std::byte* want = p + size;
      std::size_t grow = align_up(static_cast<std::size_t>(want - committed_), step);
      if (grow > static_cast<std::size_t>(end_ - committed_)) grow = static_cast<std::size_t>(end_ - committed_);
      if (os::commit(committed_, grow) != 0) return extend(size, align);
      committed_ += grow;
    }
    top_ = p + size;
    readable_top_.store(top_, std::memory_order_relaxed);  // relaxed: see readable
    return p;
  }
  /// Gives a cached slab's memory back to the OS (the depot lists it in a table, not in its
  /// memory); the slab stays usable and reads as zero.
  void purge(void* p, std::size_t size) const noexcept { purge_pages(p, size); }
  /// Keeps the slab for reuse and gives its memory back to the OS: listed in a table; if the
  /// table cannot grow, linked through its first word, whose page then stays.
  void deallocate(void* p, std::size_t size, std::size_t) noexcept {
    returned_size_ = size;
    if (list(p)) {
      purge_pages(p, size);
      return;
    }
    purge_pages(static_cast<std::byte*>(p) + sizeof(Link), size - sizeof(Link));
    auto* l = static_cast<Link*>(p);
    l->next = free_;
    free_ = l;
  }
  [[nodiscard]] std::size_t max_size() const noexcept { return static_cast<std::size_t>(end_ - begin_); }

 private:
  struct Link {
    Link* next;
  };
  /// The range is full (or refused a commit): a slab from the current extension chunk, else a
  /// new chunk. Under an address-space limit the ranges are a few MiB a class; before, a full
  /// class took blocks of larger classes (spills) and then a page mapping for every block, so a
  /// perl hash of a million keys ran out of memory under `ulimit -v 1000000` (glibc: 202 MB).
  void* extend(std::size_t size, std::size_t align) noexcept {
    if (!extensions_) return nullptr;
    // relaxed, all: we are their one writer (see readable for the readers).
    std::byte* top = extension_top_.load(std::memory_order_relaxed);
    std::byte* end = extension_end_.load(std::memory_order_relaxed);
    std::byte* p = align_up(top, align);
    if (!top || p < top || p > end || static_cast<std::size_t>(end - p) < size) {
      constexpr std::size_t grain = ClassExtensions::chunk_bytes;
      if (size > (std::size_t{1} << 40)) return nullptr;
      const std::size_t bytes = align_up(size, grain);
      if (!(p = extensions_->add(bytes, align > grain ? align : grain, class_))) return nullptr;
      // (A reader may see one store without the other: chunks are committed whole, so any part
      // of one reads safely; only a report on a pointer into the untaken rest may be less exact.)
      extension_top_.store(p + size, std::memory_order_relaxed);
      extension_end_.store(p + bytes, std::memory_order_relaxed);
      return p;
    }
    extension_top_.store(p + size, std::memory_order_relaxed);
    return p;
  }
  /// Purges the whole pages inside [p, p + size): a slab smaller than a page (16 or 64 KiB pages)
  /// shares its pages with other slabs, which may be in use.
  static void purge_pages(void* p, std::size_t size) noexcept {
    const std::size_t page = os::page_size();
    auto* begin = align_up(static_cast<std::byte*>(p), page);
    auto* end = reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(p) + size) / page * page);
    if (begin < end) (void)os::purge(begin, static_cast<std::size_t>(end - begin));
  }
  /// Lists a returned slab; false if the table cannot grow.
  bool list(void* p) noexcept {
    if (listed_size_ == listed_capacity_ && !grow_metadata(listed_, listed_size_, listed_capacity_, 512)) return false;
    listed_[listed_size_++] = p;
    return true;
  }
  std::byte* begin_ = nullptr;
  std::byte* top_ = nullptr;
  std::byte* committed_ = nullptr;
  std::byte* end_ = nullptr;
  std::atomic<std::byte*> readable_top_{nullptr};  // top_, for readers without the lock
  ClassExtensions* extensions_ = nullptr;
  std::size_t class_ = 0;
  std::atomic<std::byte*> extension_top_{nullptr};  // the current chunk's bump pointer
  std::atomic<std::byte*> extension_end_{nullptr};
  std::size_t returned_size_ = 0;  // the size of the slabs returned (all one size)
  Link* free_ = nullptr;           // returned slabs that could not be listed
  void** listed_ = nullptr;        // returned slabs, memory given back whole
  std::size_t listed_size_ = 0;
  std::size_t listed_capacity_ = 0;
};

}  // namespace detail

template <bool Checked = checks::hardened>
class CORE_MEMORY_LEVEL_ABI BasicGeneralAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::GeneralAllocator";
  static constexpr bool is_thread_safe = true;
  /// 16-byte steps to 512 bytes, then eight classes per doubling to 8 KiB (at most 11% of a block
  /// unused), then four per doubling to 1 MiB: 16, 32, ... 496, 512, 576, ... 7680, 8192, 10240,
  /// ... 57344, 65536, 81920, ... 917504, 1048576. The 16-byte steps are glibc's: a Redis
  /// server's 260-byte strings take 272 bytes, not 288 (eight per doubling) or 320 (four, as
  /// mimalloc and jemalloc have it). The classes above 64 KiB are what keeps buffers of 64 KiB
  /// to 1 MiB off mmap and munmap (a mapping, its page faults and its unmapping for every
  /// block: 18x glibc's time on a mix of 16-512 KiB blocks, whose heap serves them).
  static constexpr std::array<std::size_t, 92> size_classes = [] {
    std::array<std::size_t, 92> c{};
    std::size_t n = 0;
    for (std::size_t s = 16; s < 512; s += 16) c[n++] = s;
    for (std::size_t base = 512; base < 8192; base *= 2)
      for (std::size_t k = 0; k < 8; ++k) c[n++] = base + k * (base / 8);
    for (std::size_t base = 8192; base < (std::size_t{1} << 20); base *= 2)
      for (std::size_t k = 0; k < 4; ++k) c[n++] = base + k * (base / 4);
    c[n++] = std::size_t{1} << 20;
    return c;
  }();
  static_assert(size_classes.back() == std::size_t{1} << 20 && size_classes[size_classes.size() - 2] == 917504);
  static_assert([] {
    for (std::size_t s : size_classes)
      if (s % (s <= 1024 ? 16 : 128) != 0) return false;
    return true;
  }(), "small_class_of's tables are exact only for these steps");
  static constexpr std::size_t class_count = size_classes.size();
  static_assert(class_count <= 256, "the class lookup tables hold class indices as unsigned char");
  static constexpr std::size_t max_small = size_classes.back();

  BasicGeneralAllocator() noexcept : BasicGeneralAllocator(reserve_ranges(std::size_t{1} << 32)) {}
  /// With class ranges of at most `range_bytes` each (rounded down to a power of two; none below
  /// 2 MiB): less address space reserved up front, and a class that fills its range grows by
  /// chunks mapped elsewhere (whose frees take a look-up more).
  explicit BasicGeneralAllocator(std::size_t range_bytes) noexcept : BasicGeneralAllocator(reserve_ranges(range_bytes)) {}
  BasicGeneralAllocator(const BasicGeneralAllocator&) = delete;
  BasicGeneralAllocator& operator=(const BasicGeneralAllocator&) = delete;
  ~BasicGeneralAllocator() {
    engine_.~Engine();  // returns every slab to its range first
    for (std::size_t i = 0; i < kept_count_; ++i) (void)detail::os::release(kept_[i].base, kept_[i].length);
    if (base_) (void)detail::os::release(base_, range_bytes_ * class_count);
  }

  /// Throws out_of_memory.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    void* p = try_allocate(size, align);
    if (!p) [[unlikely]]
      throw_out_of_memory(allocator_name, size, align);
    return p;
  }
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t size,
                                                             std::size_t align = alignof(std::max_align_t)) noexcept {
    const std::size_t c = class_of(size, align);
    if (c < served_) [[likely]] {
      if (void* p = engine_.try_allocate_cached(c)) [[likely]]
        return p;
    }
    return allocate_slow(size, align, c);
  }
  /// As try_allocate, the block zeroed (calloc). A fresh large mapping is zero already and is not
  /// written: a huge sparse calloc costs no memory until touched. A block of a class and a kept
  /// large mapping are cleared up to `size`.
  [[nodiscard]] void* try_allocate_zeroed(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    const std::size_t c = class_of(size, align);
    void* p = c < served_ ? engine_.try_allocate_cached(c) : nullptr;
    if (!p) return allocate_slow(size, align, c, true);
    // Written, as glibc and mimalloc clear reused memory. (Giving a block's pages back instead,
    // for sparse use, made a calloc that is then filled 17-38x slower: 599 us for 1 MB against
    // 32. Skipping the write for blocks never written before needs a slab to know it is zero.)
    std::memset(p, 0, size);
    return p;
  }
  /// Frees a block of this allocator from any thread; the size is not needed.
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p) noexcept {
    const std::size_t c = class_at(p);
    if (c < class_count) [[likely]]
      engine_.deallocate(p, c);
    else
      deallocate_large(p, 0);
  }
  /// The RawAllocator form: `size` and `align` are checked against the block in checked mode.
  CORE_MEMORY_ALWAYS_INLINE void deallocate(void* p, std::size_t size, std::size_t align) noexcept {
    if constexpr (Checked) {
      if (!size_fits(p, size, align)) return;
    }
    deallocate(p);
  }
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    void* p = allocate(size, align);
    return {p, usable_size(p)};
  }
  /// Bytes the block may hold: its class's size, or the room in its mapping.
  [[nodiscard]] std::size_t usable_size(const void* p) const noexcept {
    const std::size_t c = block_class(p);
    return c < class_count ? size_classes[c] : room_in(large_header(p), p);
  }
  /// Resizes a block keeping its contents (up to the smaller size), in place when the block's
  /// room allows (a large block grows with mremap); null if out of memory (the block is intact).
  /// A shrink moves to a smaller class when more than half the block would be unused, and never
  /// fails (it stays when no smaller block can be had).
  [[nodiscard]] void* try_reallocate(void* p, std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if (!p) return try_allocate(size, align);  // as realloc(NULL, n)
    const std::size_t c = block_class(p);
    LargeHeader* const h = c < class_count ? nullptr : large_header(p);  // read once (in checked mode, a system call)
    if constexpr (Checked) {  // a freed or foreign block is reported, not resized (nor handed back)
      if (c < class_count ? !engine_.validate_free(p, c) : !h) {
        if (c == class_count) report_not_large(p);
        return nullptr;
      }
    }
    const std::size_t room = c < class_count ? size_classes[c] : room_in(h, p);
    if (!is_aligned(p, align)) {
      // Moves: the block is not aligned as now asked.
    } else if (c < class_count) {
      // Kept when it fits and is at most twice too large (as mimalloc), or when no smaller class
      // would serve the request (the smallest class; a block aligned beyond the size's class).
      if (size <= room && (size >= room / 2 || class_of(size, align) >= c)) return p;
    } else if (h && size > max_small && align <= detail::os::page_size()) {
      // Remapping keeps the block's offset in its mapping, so an alignment up to a page.
      return remap_large(h, p, size);
    }
    void* q = try_allocate(size, align);
    if (!q) return size <= room && is_aligned(p, align) ? p : nullptr;  // a shrink never fails: it stays
    std::memcpy(q, p, size < room ? size : room);
    deallocate(p);
    return q;
  }

  [[nodiscard]] std::size_t max_size() const noexcept { return static_cast<std::size_t>(PTRDIFF_MAX) - 2 * 4096; }
  /// True if `p` is a block of a size class (live or free) or the start of a large block.
  [[nodiscard]] bool owns(const void* p) const noexcept {
    const std::size_t c = block_class(p);
    if (c < class_count) return engine_.owns(p, c);
    return large_header(p, large_magic, true) != nullptr;  // any pointer: read without a fault
  }

  /// Gives back what is held for reuse: empty slabs, thread caches' surplus, kept mappings.
  void shrink_to_fit() noexcept {
    engine_.shrink_to_fit();
    release_kept();
  }
  void flush_thread_cache() noexcept { engine_.flush_thread_cache(); }

  /// Blocks of the size classes allocated and not freed (exact when no thread is mid-call).
  [[nodiscard]] std::size_t small_blocks() const noexcept { return engine_.live_blocks(); }
  /// Large blocks mapped now, and their bytes.
  [[nodiscard]] std::size_t large_blocks() const noexcept { return large_count_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t large_bytes() const noexcept { return large_bytes_.load(std::memory_order_relaxed); }
  /// Bytes of freed large mappings kept, with their memory, for the next large requests.
  [[nodiscard]] std::size_t kept_large_bytes() const noexcept { return kept_bytes_.load(std::memory_order_relaxed); }
  /// Bytes of slabs held (committed in the class ranges and not given back).
  [[nodiscard]] std::size_t slab_bytes() const noexcept { return engine_.bytes_allocated(); }
  [[nodiscard]] std::size_t thread_caches() const noexcept { return engine_.heap_count(); }
  /// Bytes of spare slabs (no block in use) that keep their memory, counted whole (only the pages
  /// their blocks touched are resident): for slabs of up to 256 KiB at most 256 KiB a class and
  /// 1 MiB in all, for larger ones 32 MiB a class and 128 MiB in all; the others are given back
  /// to the OS as they come back.
  [[nodiscard]] std::size_t spare_resident_bytes() const noexcept { return engine_.spare_resident_bytes(); }
  /// Blocks of class `c` the calling thread may cache (none above 64 KiB): 64 KiB worth (at most 2048), up to 8x
  /// that for a thread that cycles more (1 MiB of growth per thread in all, undone by
  /// flush_thread_cache).
  [[nodiscard]] std::size_t thread_cache_limit(std::size_t c) const noexcept { return engine_.thread_cache_limit(c); }
  /// One size class's figures: its block size, its slabs' size, the slabs it holds (in use or
  /// spare), the blocks a slab holds, the spare slabs (no block in use; their memory given back
  /// to the OS beyond the first 256 KiB), and the free blocks cached in threads' fronts.
  struct class_statistics {
    std::size_t block_size, slab_size, slabs, blocks_per_slab, spare_slabs, cached_blocks;
  };
  [[nodiscard]] class_statistics statistics_of_class(std::size_t c) const noexcept {
    return {size_classes[c],        engine_.slab_size(c),   engine_.slabs(c),
            engine_.blocks_per_slab(c), engine_.spare_slabs(c), engine_.cached_blocks(c)};
  }

  /// The index of the class serving `size` at `align`, or class_count (a large block). O(1): the
  /// smallest class holding the smallest multiple of `align` that holds `size`. Each range's
  /// classes are the multiples of its step (16; 64 from 512; 128 from 1024 ...), so that multiple
  /// is a class, or `align` is below the step and the next class, a multiple of the step, is
  /// aligned enough.
  CORE_MEMORY_ALWAYS_INLINE static constexpr std::size_t class_of(std::size_t size, std::size_t align) noexcept {
    if (size > max_small || !is_valid_alignment_up_to(align, max_class_alignment)) return class_count;
    if (align <= 16) [[likely]]
      return small_class_of(size);
    // A multiple of `align`, at most max_small (a multiple of 4096): no overflow, a class.
    const std::size_t rounded = (size + align - 1) & ~(align - 1);
    return small_class_of(rounded ? rounded : align);
  }
  /// The smallest class of at least `size` bytes (at most max_small): one table look-up, exact
  /// because the classes up to 1 KiB are multiples of 16 bytes and those above multiples of 128.
  static constexpr std::size_t small_class_of(std::size_t size) noexcept {
    return size <= 1024 ? small_table[(size + 15) / 16] : large_table[(size + 127) / 128];
  }

  /// malloc's fast path: a block for `size` bytes (16-byte aligned) from the calling thread's
  /// cache, or null (then try_allocate). No call, so a caller whose slow path is a tail call
  /// saves no registers.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate_cached(std::size_t size) noexcept {
    if (size > max_small) [[unlikely]]
      return nullptr;
    return engine_.try_allocate_cached(small_class_of(size));
  }
  /// aligned_alloc's fast path: a block for `size` bytes at `align` (any value: a class serves
  /// powers of two up to 4096) from the calling thread's cache, or null (then try_allocate).
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate_cached(std::size_t size, std::size_t align) noexcept {
    const std::size_t c = class_of(size, align);
    return c < class_count ? engine_.try_allocate_cached(c) : nullptr;
  }
  /// free's fast path in the unchecked allocator: true if `p`, a block of a class, went to the
  /// calling thread's cache; false for anything else (then deallocate: null, large blocks,
  /// pointers from elsewhere, a full cache).
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE bool try_deallocate_cached(void* p) noexcept
    requires(!Checked)
  {
    const std::size_t c = class_at(p);
    return c < class_count && engine_.try_deallocate_cached(p, c);
  }
  /// A class serves blocks aligned to the largest power of two dividing its size, up to 4096.
  static constexpr std::size_t class_alignment(std::size_t size) noexcept {
    const std::size_t low = size & (~size + 1);
    return low > max_class_alignment ? max_class_alignment : low;
  }
  static constexpr std::size_t max_class_alignment = 4096;

 private:
  using Engine = detail::ThreadCachedPool<detail::ClassRange, class_count, Checked>;
  static constexpr std::size_t large_alignment = 64;  // large blocks start 64 bytes into their mapping
  static constexpr std::uint64_t large_magic = 0xC07E'3E3B'10C4'1A26ull;
  /// A large block's magic once freed, while its mapping is kept for reuse: a second free is then
  /// known for what it is.
  static constexpr std::uint64_t freed_large_magic = 0xF4EE'D3B1'0C4F'4EEDull;

  struct alignas(large_alignment) LargeHeader {
    std::byte* base;     // the mapping
    std::size_t length;  // its bytes
    std::size_t klass;   // the class it stands in for when its range was full, or class_count
    std::uint64_t magic;
    std::size_t slot;    // checked mode: its index in LargeBlocks (checked there before it is trusted)
  };

  /// Checked mode: the live large blocks' headers, in a table of metadata pages out of any block's
  /// reach, so that a free inside a large block is reported as an interior pointer (not a foreign
  /// one), a free of a forged or damaged header is refused, and of two threads freeing a block at
  /// once only one frees it. A header keeps its index in the table, and the table is checked
  /// against it: an underrun that rewrote the index costs a search, never a write elsewhere.
  /// Under the engine's upstream lock, which fork() holds across; a misuse report walks it.
  class LargeBlocks {
   public:
    LargeBlocks() = default;
    LargeBlocks(const LargeBlocks&) = delete;
    LargeBlocks& operator=(const LargeBlocks&) = delete;
    ~LargeBlocks() { detail::free_metadata(slots_, capacity_ * sizeof(LargeHeader*)); }

    /// The table's first page (512 entries); false if the OS refused it.
    bool reserve() noexcept { return capacity_ || detail::grow_metadata(slots_, size_, capacity_, 512); }
    /// Enters `h`; false if the table could not grow.
    bool add(LargeHeader* h) noexcept {
      if (size_ == capacity_ && !detail::grow_metadata(slots_, size_, capacity_, 512)) return false;
      h->slot = size_;
      slots_[size_++] = h;
      return true;
    }
    /// Takes `h` out; false if it is not there (never entered, or taken out already).
    bool remove(const LargeHeader* h) noexcept {
      std::size_t i = h->slot;
      if (i >= size_ || slots_[i] != h) i = std::find(slots_, slots_ + size_, h) - slots_;
      if (i == size_) return false;
      slots_[i] = slots_[--size_];
      slots_[i]->slot = i;
      return true;
    }
    /// The block whose mapping holds `p` (its header included), or null. O(blocks).
    [[nodiscard]] const LargeHeader* around(const void* p) const noexcept {
      const auto* b = static_cast<const std::byte*>(p);
      for (std::size_t i = 0; i < size_; ++i)
        if (b >= slots_[i]->base && b < slots_[i]->base + slots_[i]->length) return slots_[i];
      return nullptr;
    }

   private:
    LargeHeader** slots_ = nullptr;
    std::size_t size_ = 0, capacity_ = 0;
  };
  struct NoLargeBlocks {};  // release builds: no table
  [[nodiscard]] std::lock_guard<std::mutex> lock_large_blocks() const noexcept {
    return std::lock_guard<std::mutex>(engine_.upstream_mutex());
  }

  static constexpr auto small_table = [] {
    std::array<unsigned char, 1024 / 16 + 1> t{};
    std::size_t c = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      while (size_classes[c] < i * 16) ++c;
      t[i] = static_cast<unsigned char>(c);
    }
    return t;
  }();
  /// Above 1 KiB: the first class at or above each multiple of 128 bytes.
  static constexpr auto large_table = [] {
    std::array<unsigned char, max_small / 128 + 1> t{};
    std::size_t c = 0;  // one pass (clang's constant evaluation stops at a million steps)
    for (std::size_t i = 0; i < t.size(); ++i) {
      while (size_classes[c] < i * 128) ++c;
      t[i] = static_cast<unsigned char>(c);
    }
    return t;
  }();

  struct Ranges {
    std::byte* base;
    std::size_t range_bytes;  // a power of two
  };
  /// The ranges: 4 GiB a class (or `max_range_bytes`), halved until the system agrees, down to a
  /// slab of class 64 KiB (2 MiB: the classes above, whose slabs are larger, are then served as
  /// large blocks). Under an address-space limit (RLIMIT_AS, `ulimit -v`) they take at most a
  /// quarter of it: most classes of a program use little of theirs, and a class that fills its
  /// range grows by chunks mapped elsewhere, from the rest. (With ranges of 3/4 of the limit and
  /// no chunks, a perl hash of a million keys ran out of memory under 1 GB; now it runs under
  /// 300 MB, as with glibc. Without ranges, every class takes chunks.)
  static Ranges reserve_ranges(std::size_t max_range_bytes) noexcept {
    constexpr std::size_t min_range_bytes = slab_size_of(65536);
    static_assert([] {  // served_classes' prefix: slabs never shrink from one class to the next
      for (std::size_t c = 1; c < class_count; ++c)
        if (slab_size_of(size_classes[c]) < slab_size_of(size_classes[c - 1]) &&
            slab_size_of(size_classes[c - 1]) > slab_size_of(65536))
          return false;
      for (std::size_t size : size_classes)
        if (size <= 65536 && slab_size_of(size) > slab_size_of(65536)) return false;
      return true;
    }());
    static_assert(min_range_bytes == std::size_t{2} << 20);
    const std::size_t budget = detail::os::address_space_limit() / 4;
    for (std::size_t bytes = std::size_t{1} << 32; bytes >= min_range_bytes; bytes >>= 1) {
      if (bytes > budget / class_count || bytes > max_range_bytes) continue;
      if (void* p = nullptr; detail::os::reserve(bytes * class_count, bytes, &p) == 0)
        return {static_cast<std::byte*>(p), bytes};
    }
    return {nullptr, 0};
  }
  explicit BasicGeneralAllocator(Ranges r) noexcept
      : base_(r.base), range_bytes_(r.range_bytes), shift_(r.base ? log2_floor(r.range_bytes) : 0),
        served_(served_classes(r.base ? r.range_bytes : slab_size_of(65536))), engine_(upstreams(r), specs(), allocator_name, cache_growth) {
    engine_.set_scavenge_hook(&decay_kept, this);
    // Checked mode: the large blocks' table's first page now, while the address space has room
    // (a first large block must not fail for want of it).
    if constexpr (Checked) (void)live_large_.reserve();
  }

  /// The classes whose slab fits a range of `range_bytes` (a prefix: the slabs of the classes
  /// above 64 KiB grow with them, those below are at most the floor, 2 MiB).
  static std::size_t served_classes(std::size_t range_bytes) noexcept {
    std::size_t c = 0;
    while (c < class_count && slab_size_of(size_classes[c]) <= range_bytes) ++c;
    return c;
  }

  typename Engine::upstream_refs upstreams(Ranges r) noexcept {
    for (std::size_t c = 0; c < class_count; ++c) {
      if (r.base) ranges_[c].assign(r.base + c * r.range_bytes, r.base + (c + 1) * r.range_bytes, &extensions_, c);
      else ranges_[c].assign(nullptr, nullptr, &extensions_, c);  // chunks only
    }
    return make_refs(std::make_index_sequence<class_count>{});
  }
  template <std::size_t... I>
  typename Engine::upstream_refs make_refs(std::index_sequence<I...>) noexcept {
    return {{detail::allocator_ref<detail::ClassRange>(ranges_[I])...}};
  }
  /// How far a thread's caches may grow beyond their 64 KiB per class, in all.
  static constexpr std::size_t cache_growth = std::size_t{1} << 20;
  static std::array<detail::size_class_spec, class_count> specs() noexcept {
    // per_slab for every class at compile time: its loop ends, and it asks at most what a slab
    // cache accepts (8 to 1024 blocks).
    static_assert([] {
      for (std::size_t size : size_classes)
        if (per_slab(size) > 1024) return false;
      return true;
    }());
    std::array<detail::size_class_spec, class_count> s{};
    for (std::size_t c = 0; c < class_count; ++c) {
      const std::size_t size = size_classes[c];
      std::size_t limit = (64 * 1024) / size;  // about 64 KiB cached per class and thread (DESIGN-NOTES)
      limit = limit < 2 ? 2 : (limit > 2048 ? 2048 : limit);
      // Up to 8x that for a thread that cycles more, within cache_growth per thread.
      s[c] = {size, class_alignment(size), per_slab(size), limit, std::min<std::size_t>(8 * limit, 8192)};
      // Above 64 KiB no thread caches blocks (jemalloc's threads cache to 32 KiB): two blocks of
      // each class in each idle thread's front, and an empty slab in its heap, held 9 MiB a
      // thread after buffers of 64 KiB to 1 MiB went through it.
      s[c].uncached = size > 65536;
    }
    return s;
  }

  /// The fewest blocks (at least 8) that a class's slab, a power of two, holds while losing at
  /// most 1/32 of itself to the slab's header and the tail too short for a block (in 4 KiB, class
  /// 288 lost 9% and class 448 12.5%; in 8 KiB class 272 3.7%, in 16 KiB 0.4%). Slabs are
  /// carved as used, so a larger slab costs no memory until its blocks are (with slabs threaded
  /// whole when made, 1/32 cost python3 and g++ 1% more memory than 1/16). Above 64 KiB a slab
  /// is the smallest power of two of 8 blocks: its tail (at most a block) is address space that
  /// is never touched, and a slab twice as large (32 MiB for class 1 MiB) would only make the
  /// class ranges' floor under an address-space limit higher.
  static constexpr std::size_t per_slab(std::size_t size) noexcept {
    const std::size_t header = BasicSlabCache<>::header_bytes(class_alignment(size));
    return (slab_size_of(size) - header) / size;
  }
  /// The size of that slab.
  static constexpr std::size_t slab_size_of(std::size_t size) noexcept {
    const std::size_t header = BasicSlabCache<>::header_bytes(class_alignment(size));
    for (std::size_t slab = 4096;; slab *= 2) {
      const std::size_t n = (slab - header) / size;
      if (n >= 8 && (size > 65536 || (slab - n * size) * 32 <= slab)) return slab;
    }
  }



  /// The class whose range holds `p`, or class_count.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE std::size_t class_at(const void* p) const noexcept {
    const auto offset = static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(base_));
    const std::size_t c = offset >> shift_;
    return base_ && c < class_count ? c : class_count;
  }

  /// The class of the block at `p` (in a class range or in a chunk one took beyond it), or
  /// class_count.
  [[nodiscard]] std::size_t block_class(const void* p) const noexcept {
    const std::size_t c = class_at(p);
    if (c < class_count) [[likely]]
      return c;
    const std::size_t e = extensions_.find(p);
    return e < class_count ? e : class_count;
  }

  /// The header of a large block (with `magic`), or null. `untrusted` (checked mode, owns): `p`
  /// may be anything, so the header is read without a fault (the kernel copies it): a large
  /// block freed twice (unmapped), a pointer from another allocator after an unmapped or
  /// PROT_NONE page (a guard page) is then no block, not a crash.
  LargeHeader* large_header(const void* p, std::uint64_t magic = large_magic, bool untrusted = Checked) const noexcept {
    if (!p || reinterpret_cast<std::uintptr_t>(p) % large_alignment != 0) return nullptr;
    auto* h = reinterpret_cast<LargeHeader*>(const_cast<void*>(p)) - 1;
    if (untrusted) {
      LargeHeader copy;
      return detail::os::read_safely(&copy, h, sizeof copy) == 0 && copy.magic == magic ? h : nullptr;
    }
    return h->magic == magic ? h : nullptr;
  }

  /// The bytes from `p` to the end of the large block's mapping (`h` its header, or null: 0).
  static std::size_t room_in(const LargeHeader* h, const void* p) noexcept {
    return h ? h->length - static_cast<std::size_t>(static_cast<const std::byte*>(p) - h->base) : 0;
  }

  /// A block of class `c` when the thread's cache has none: the class's slow path, else one of a
  /// larger class (spill), else a large block.
  CORE_MEMORY_NOINLINE void* allocate_slow(std::size_t size, std::size_t align, std::size_t c,
                                           bool zeroed = false) noexcept {
    void* p = nullptr;
    // A class marked full is asked again before a large block serves (or fails): blocks may have
    // come back since. (The mark alone made 42 of 100 requests fail under an address-space limit
    // with every block of the class freed.)
    if (c < served_ && !(p = allocate_from_class(c)) && !(p = spill(size, align, c)) &&
        full_[c].load(std::memory_order_relaxed))
      p = allocate_from_class(c, true);
    if (!p) return allocate_large(size, align, c, zeroed);
    if (zeroed) std::memset(p, 0, size);
    return p;
  }
  /// Class `c`'s range is full (under an address-space limit, RLIMIT_AS, ranges are a few MiB): a
  /// block of the smallest larger class that has one, aligned as asked and no larger than the
  /// large block that would serve instead (the mapping's pages, the header's included). A page
  /// mapping for every block cost a system call and a page each: a million 16-byte blocks under
  /// `ulimit -v 1000000` got 412,000, where glibc gives millions. The scan starts where the last
  /// spill of `c` was served, and every full_retry_period-th one from c + 1 (blocks of lower
  /// classes freed meanwhile), so it is not a walk over every full class each time.
  void* spill(std::size_t size, std::size_t align, std::size_t c) noexcept {
    const std::size_t bound = spill_bound(size);
    Spill& s = spills_[c];
    // relaxed, all: hints (an allocation that reads a stale one scans a little more or less).
    const std::size_t hint = s.hint.load(std::memory_order_relaxed);
    std::size_t first = hint > c && s.count.fetch_add(1, std::memory_order_relaxed) % full_retry_period != 0 ? hint : c + 1;
    for (;;) {
      for (std::size_t d = first; d < served_ && size_classes[d] <= bound; ++d) {
        if (class_alignment(size_classes[d]) < align) continue;
        if (void* p = allocate_from_class(d)) {
          if (d != hint) s.hint.store(static_cast<unsigned char>(d), std::memory_order_relaxed);
          // Before the block is handed out: a free of it, ordered after by the hand-over, sees
          // these (relaxed suffices; they only move outwards).
          atomic_store_min(spill_floor_, c);
          atomic_store_max(spill_ceiling_, d);
          return p;
        }
      }
      if (first == c + 1) return nullptr;
      first = c + 1;  // from the hint up all were full: the classes below it may have room again
    }
  }
  /// True if a block of class `real` freed with `size` and `align` (of class `named`) may have been
  /// spilled to it by a request of that size or less (and then any size up to its usable size is
  /// its to free with, as allocate_at_least allows): the checked frees accept it. Spills have
  /// gone from classes at or below `named` to classes at or above `real`, and `real` is aligned
  /// enough and no larger than a mapping for `size` would be.
  bool may_be_spilled(std::size_t named, std::size_t real, std::size_t size, std::size_t align) const noexcept {
    return named < real && real < class_count && spill_floor_.load(std::memory_order_relaxed) <= named &&
           real <= spill_ceiling_.load(std::memory_order_relaxed) && class_alignment(size_classes[real]) >= align &&
           size_classes[real] <= spill_bound(size);
  }
  /// The largest block a spill of `size` may take: the pages a large block of it would map.
  static std::size_t spill_bound(std::size_t size) noexcept {
    return align_up(size + sizeof(LargeHeader), detail::os::page_size());
  }
  /// A block of class `d` (cache, then slow path). A class whose slow path found nothing last
  /// time (its range full) takes it again only every full_retry_period-th call, and otherwise
  /// only looks in the thread's cache: a slow path that finds nothing drains every class's
  /// inbox and asks every depot (700 ns a block, where a spill takes 60).
  void* allocate_from_class(std::size_t d, bool ask = false) noexcept {
    // relaxed, both: hints (a stale one costs one slow path more or less).
    if (!ask && full_[d].load(std::memory_order_relaxed) &&
        misses_[d].fetch_add(1, std::memory_order_relaxed) % full_retry_period != 0)
      return engine_.try_allocate_cached(d);
    void* p = engine_.try_allocate(d);
    if (full_[d].load(std::memory_order_relaxed) != !p) full_[d].store(!p, std::memory_order_relaxed);
    return p;
  }
  static constexpr std::uint32_t full_retry_period = 64;

  /// A block mapped for itself; `klass` is the size class it replaces, or class_count. `zeroed`:
  /// a fresh mapping (zero), never a kept one.
  CORE_MEMORY_NOINLINE void* allocate_large(std::size_t size, std::size_t align, std::size_t klass,
                                            bool zeroed = false) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    if (align < large_alignment) align = large_alignment;
    const std::size_t page = detail::os::page_size();
    if (size > max_size() || align > max_size() / 2) return nullptr;
    // Room for the header before the block, which starts at most `align` (beyond 64) into the
    // page-aligned mapping, past the header.
    const std::size_t before = align > large_alignment ? align : sizeof(LargeHeader);
    const std::size_t exact = align_up(size + before, page), length = mapped_length(exact, align_up(before, page));
    void* mapping = nullptr;
    std::size_t mapped = length, dirty = 0;
    const bool kept = (mapping = take_kept(mapped, dirty)) != nullptr;  // (the length holds the alignment's slack)
    if (!kept && detail::os::map_anonymous(mapped = length, &mapping) != 0 &&
        (length == exact || detail::os::map_anonymous(mapped = exact, &mapping) != 0))  // the step's rest refused
      return nullptr;
    auto* base = static_cast<std::byte*>(mapping);
    std::byte* p = align_up(base + sizeof(LargeHeader), align);
    auto* h = ::new (static_cast<void*>(p - sizeof(LargeHeader))) LargeHeader{base, mapped, klass, large_magic, 0};
    if constexpr (Checked) {
      const auto guard = lock_large_blocks();
      if (!live_large_.add(h)) {
        h->magic = 0;
        unmap(base, mapped);
        return nullptr;
      }
    }
    // A kept mapping holds what its last block left: calloc clears it, as glibc and mimalloc
    // clear reused memory, up to what was kept (the pages mremap added, like a fresh mapping's,
    // are zero already and never written here: a sparse calloc stays sparse).
    if (const auto offset = static_cast<std::size_t>(p - base); zeroed && kept && dirty > offset)
      std::memset(p, 0, std::min(size, dirty - offset));
    large_count_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
    large_bytes_.fetch_add(mapped, std::memory_order_relaxed);
    add_keepable(0, mapped);
    return p;
  }
  /// The length to map for `exact` bytes, about `slack` of them (whole pages) before the block's:
  /// up to kept_max, the block's part rounded up to a quarter of its power of two, as size
  /// classes (a request of a power of two takes no more, at any alignment), so a kept mapping
  /// serves any later block of its step; never beyond kept_max, so a mapping that could be kept
  /// still is. (Mapped to the page, 1-5 MiB buffers took the one kept mapping larger than each,
  /// unmapped its tail, and grew another by mremap: 10x mimalloc's page faults, 1.3x its time.)
  static std::size_t mapped_length(std::size_t exact, std::size_t slack) noexcept {
    if (exact > kept_max || exact <= slack) return exact;
    const std::size_t bytes = exact - slack, step = std::bit_floor(bytes) / 4;
    return step > detail::os::page_size() ? std::min(align_up(bytes, step) + slack, kept_max) : exact;
  }
  /// A large mapping of `old` bytes is now `now` bytes (0: none): counts what kept_budget_floor's
  /// peak measures, the mappings small enough to be kept.
  void add_keepable(std::size_t old, std::size_t now) noexcept {
    const std::size_t add = now <= kept_max ? now : 0, sub = old <= kept_max ? old : 0;
    // relaxed: statistics that bound a cache, nothing published through them.
    const std::size_t live = keepable_.fetch_add(add - sub, std::memory_order_relaxed) + (add - sub);
    atomic_store_max(keepable_peak_, live);
  }

  /// A block outside the class ranges: one of a chunk a class took beyond its range, or a large
  /// block.
  CORE_MEMORY_NOINLINE void deallocate_large(void* p, std::size_t) noexcept {
    if (const std::size_t c = extensions_.find(p); c < class_count) return engine_.deallocate(p, c);
    LargeHeader* h = large_header(p);
    if (!h) {
      if (p) report_not_large(p);
      return;
    }
    if constexpr (Checked) {
      const auto guard = lock_large_blocks();
      if (!live_large_.remove(h)) {  // forged, damaged, or freed by another thread just now
        report_misuse({error_kind::double_free, allocator_name, p, 0, 0,
                       "no live large block (freed already, or its header forged)", nullptr, 0});
        return;
      }
    }
    h->magic = freed_large_magic;  // a second free of it is then reported, not unmapped twice
    large_count_.fetch_sub(1, std::memory_order_relaxed);
    large_bytes_.fetch_sub(h->length, std::memory_order_relaxed);
    add_keepable(h->length, 0);
    if (!keep(h->base, h->length)) unmap(h->base, h->length);
  }
  /// Reports `p`, no block of a class and no live large block: a large block freed already (its
  /// mapping kept for reuse, not reused yet) or a pointer that is no block.
  CORE_MEMORY_NOINLINE void report_not_large(void* p) const noexcept {
    if (large_header(p, freed_large_magic))
      return report_misuse({error_kind::double_free, allocator_name, p, 0, 0, "large block freed already", nullptr, 0});
    const std::byte* block = nullptr;
    std::size_t size = 0;
    if constexpr (Checked) {
      const auto guard = lock_large_blocks();
      if (const LargeHeader* h = live_large_.around(p)) {
        block = reinterpret_cast<const std::byte*>(h + 1);
        size = room_in(h, block);
      }
    }
    if (block == p)  // its header is in the table but no longer says so
      return report_misuse({error_kind::buffer_overrun, allocator_name, p, size, 0,
                            "the header before this large block was overwritten (an underrun?); not freed", nullptr, 0});
    if (block) {
      char text[96];
      std::snprintf(text, sizeof text, "inside the large block at %p of %zu bytes", static_cast<const void*>(block), size);
      return report_misuse({error_kind::interior_pointer, allocator_name, p, 0, 0, text, nullptr, 0});
    }
    report_misuse({error_kind::foreign_pointer, allocator_name, p, 0, 0,
                   "not a block of this allocator (or a large block freed already, its memory unmapped)", nullptr, 0});
  }
  /// Unmaps a large block's mapping. At the process's mapping limit (vm.max_map_count) munmap
  /// fails when it would split a merged mapping: the memory then goes back to the system all the
  /// same (MADV_DONTNEED), only its address range stays mapped (it was lost whole, resident).
  static void unmap(std::byte* base, std::size_t length) noexcept {
    if (detail::os::release(base, length) != 0) (void)detail::os::purge(base, length);
  }

  // The kept mappings. Only try-locked: they never make a thread wait, and a child forked while
  // another thread held the lock merely goes without them.
  static constexpr std::size_t kept_slots = 32;
  static constexpr std::size_t kept_max = std::size_t{32} << 20;     // glibc's largest mmap threshold
  /// Kept mappings hold at most the most bytes large blocks of up to kept_max ever held at once,
  /// at least kept_budget_floor (glibc's largest trim threshold) and at most kept_budget_cap: a
  /// program that frees its buffers and allocates them again finds them all (a fixed 64 MiB
  /// budget cost a mix of 1-5 MiB buffers, 60 MiB live, 11x mimalloc's time, in page faults),
  /// and never holds more than it once used. They decay: one not taken for kept_decay ticks of
  /// the engine's clock (a scavenge of any thread's cache, every 64 refills) is unmapped.
  static constexpr std::size_t kept_budget_floor = std::size_t{64} << 20;
  static constexpr std::size_t kept_budget_cap = std::size_t{256} << 20;
  static constexpr std::uint64_t kept_decay = 16;
  struct Kept {
    std::byte* base;
    std::size_t length;
    std::uint64_t kept_at;  // the engine's clock when it was kept
  };

  /// A kept mapping of at least `length` bytes (and at most four times that), or null: the
  /// smallest that holds `length` (its tail unmapped if it is more than four times as long),
  /// else the largest, grown by mremap. Either way the pages it kept stay resident and only the
  /// rest fault in. (Taking only mappings of `length` to 1.5 x `length` bytes, a mix of 1-5 MiB
  /// buffers found one for a third of its requests; unmapping tails beyond twice the request
  /// cost it 20x the page faults of beyond four times.) `length` becomes the mapping's size,
  /// `dirty` how much of it may hold what earlier blocks wrote (the rest is fresh, zero).
  void* take_kept(std::size_t& length, std::size_t& dirty) noexcept {
    if (length > kept_max || kept_lock_.test_and_set(std::memory_order_acquire)) return nullptr;
    std::size_t best = kept_count_;
    for (std::size_t i = 0; i < kept_count_; ++i) {
      if (best == kept_count_) {
        best = i;
        continue;
      }
      const std::size_t a = kept_[i].length, b = kept_[best].length;
      if (b < length ? a > b : (a >= length && a < b)) best = i;  // the smallest that holds it, else the largest
    }
    Kept k{};
    if (best != kept_count_) {
      k = kept_[best];
      add_kept_bytes(0 - k.length);
      erase_kept(best);
    }
    kept_lock_.clear(std::memory_order_release);
    if (!k.base) return nullptr;
    dirty = std::min(k.length, length);
    if (k.length < length) {
      void* moved = nullptr;
      if (detail::os::remap(k.base, k.length, length, &moved) != 0) {
        unmap(k.base, k.length);
        return nullptr;
      }
      return moved;
    }
    if (k.length / 4 > length && detail::os::release(k.base + length, k.length - length) == 0) return k.base;
    length = dirty = k.length;
    return k.base;
  }
  /// Takes slot `i` out, the later ones moving down (they stay oldest first). Under the lock.
  void erase_kept(std::size_t i) noexcept {
    for (--kept_count_; i < kept_count_; ++i) kept_[i] = kept_[i + 1];
  }
  /// Keeps a freed mapping; false if the caller must release it (too large, or the lock taken).
  /// The oldest kept mappings make room (in slots and in bytes) and are unmapped: else
  /// mappings freed once, early, would hold the room for good, and a buffer freed and allocated
  /// again in a loop later would be mapped and faulted in anew every time.
  bool keep(std::byte* base, std::size_t length) noexcept {
    if (length > kept_max || kept_lock_.test_and_set(std::memory_order_acquire)) return false;
    std::array<Kept, kept_slots> evicted;
    std::size_t n = 0;
    const std::size_t budget =
        std::clamp(keepable_peak_.load(std::memory_order_relaxed), kept_budget_floor, kept_budget_cap);
    while (kept_count_ == kept_slots || kept_bytes_.load(std::memory_order_relaxed) + length > budget) {
      evicted[n++] = kept_[0];
      add_kept_bytes(0 - kept_[0].length);
      erase_kept(0);
    }
    kept_[kept_count_++] = {base, length, engine_.clock()};
    add_kept_bytes(length);
    kept_lock_.clear(std::memory_order_release);
    for (std::size_t i = 0; i < n; ++i) unmap(evicted[i].base, evicted[i].length);  // outside the lock
    return true;
  }
  /// Under the lock (relaxed: the lock orders it; atomic only for kept_large_bytes' readers).
  void add_kept_bytes(std::size_t n) noexcept {
    kept_bytes_.store(kept_bytes_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  /// The engine's scavenge hook: unmaps the kept mappings not taken for kept_decay ticks.
  static void decay_kept(void* self, std::uint64_t now) noexcept {
    auto& a = *static_cast<BasicGeneralAllocator*>(self);
    if (a.kept_lock_.test_and_set(std::memory_order_acquire)) return;
    std::array<Kept, kept_slots> old;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.kept_count_;) {
      if (a.kept_[i].kept_at < now && now - a.kept_[i].kept_at > kept_decay) {
        old[n++] = a.kept_[i];
        a.add_kept_bytes(0 - a.kept_[i].length);
        a.erase_kept(i);
      } else {
        ++i;
      }
    }
    a.kept_lock_.clear(std::memory_order_release);
    for (std::size_t i = 0; i < n; ++i) unmap(old[i].base, old[i].length);
  }
  /// Unmaps every kept mapping (shrink_to_fit).
  void release_kept() noexcept {
    // A few tries: the lock is held for a few instructions (but forever in a child forked while
    // another thread held it: then the child keeps what it inherited).
    for (int tries = 0; kept_lock_.test_and_set(std::memory_order_acquire); ++tries) {
      if (tries == 1000) return;
      cpu_pause();
    }
    const std::array<Kept, kept_slots> kept = kept_;
    const std::size_t n = kept_count_;
    kept_count_ = 0;
    kept_bytes_.store(0, std::memory_order_relaxed);
    kept_lock_.clear(std::memory_order_release);
    for (std::size_t i = 0; i < n; ++i) unmap(kept[i].base, kept[i].length);
  }

  void* remap_large(LargeHeader* h, void* p, std::size_t size) noexcept {
    const std::size_t page = detail::os::page_size();
    const std::size_t offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - h->base);
    if (size > max_size()) return nullptr;
    const std::size_t exact = align_up(offset + size, page);
    std::size_t length = mapped_length(exact, align_up(offset, page));  // as allocate_large maps
    if (length == h->length || (exact <= h->length && length > h->length)) {  // within its mapping: no call
      h->klass = class_count;  // larger than any class now (size > max_small): a large block in its own right
      return p;
    }
    const std::size_t old = h->length;
    void* moved_to = nullptr;
    // Checked mode: the table's lock is held across the remap (the header may move): a free or a
    // misuse report never sees it half moved, and the table cannot fill up meanwhile.
    [[maybe_unused]] const auto guard = Checked ? std::unique_lock<std::mutex>(engine_.upstream_mutex())
                                                : std::unique_lock<std::mutex>();
    if constexpr (Checked) {
      if (!live_large_.remove(h)) {
        report_misuse({error_kind::double_free, allocator_name, p, size, 0,
                       "large block freed (by another thread) while it was being reallocated", nullptr, 0});
        return nullptr;
      }
    }
    if (detail::os::remap(h->base, old, length, &moved_to) != 0 &&
        (length == exact || detail::os::remap(h->base, old, length = exact, &moved_to) != 0)) {
      // The step's rest refused (an address-space limit), or a shrink refused (a split at
      // vm.max_map_count): a shrink stays where it is.
      if constexpr (Checked) (void)live_large_.add(h);  // (room: it was just taken out, under the lock)
      if (exact > old) return nullptr;
      h->klass = class_count;
      return p;
    }
    auto* base = static_cast<std::byte*>(moved_to);
    auto* moved = reinterpret_cast<LargeHeader*>(base + offset) - 1;
    moved->base = base;
    moved->length = length;
    moved->klass = class_count;  // larger than any class now: a large block in its own right
    if constexpr (Checked) (void)live_large_.add(moved);  // (room, as above)
    large_bytes_.fetch_add(length - old, std::memory_order_relaxed);  // wraps back when it shrank
    add_keepable(old, length);
    return base + offset;
  }

  /// Checked mode: the size given to deallocate must name the block's class (or a large block).
  bool size_fits(void* p, std::size_t size, std::size_t align) const noexcept {
    const std::size_t named = class_of(size, align);
    const std::size_t real = block_class(p);
    bool fits = named == real;
    if (real < class_count) {
      fits = fits || may_be_spilled(named, real, size, align);
    } else if (const LargeHeader* h = large_header(p)) {
      // A mapping that stands in for a block of class klass (its range full): any size from the
      // one asked to its usable size.
      fits = named == h->klass || (h->klass < class_count && named > h->klass && size <= room_in(h, p));
    } else {
      return true;  // deallocate reports it
    }
    if (fits) return true;
    report_misuse({error_kind::invalid_size, allocator_name, p, size, align,
                   "freed with a size or alignment of another size class", nullptr, 0});
    return false;
  }

  std::byte* base_;
  std::size_t range_bytes_;
  unsigned shift_;
  /// Classes below it are served from their ranges; those above, whose slab is larger than a
  /// range (under an address-space limit), as large blocks.
  std::size_t served_;
  detail::ClassExtensions extensions_;  // before the ranges and the engine: outlives their slabs
  std::array<detail::ClassRange, class_count> ranges_{};
  /// Per class: where its last spill was served (0: never spilled), and its spills.
  struct Spill {
    std::atomic<unsigned char> hint{0};
    std::atomic<std::uint32_t> count{0};
  };
  std::array<Spill, class_count> spills_{};
  /// The smallest class that spilled and the largest class spilled to (size_fits).
  std::atomic<std::size_t> spill_floor_{class_count};
  std::atomic<std::size_t> spill_ceiling_{0};
  /// Classes whose last slow path found nothing, and the calls since (allocate_from_class).
  std::array<std::atomic<bool>, class_count> full_{};
  std::array<std::atomic<std::uint32_t>, class_count> misses_{};
  std::atomic<std::size_t> large_count_{0};
  std::atomic<std::size_t> large_bytes_{0};
  std::atomic<std::size_t> keepable_{0};       // bytes of large mappings of at most kept_max
  std::atomic<std::size_t> keepable_peak_{0};  // the most keepable_ has been
  std::atomic_flag kept_lock_;  // clear (C++20)
  std::array<Kept, kept_slots> kept_{};
  std::size_t kept_count_ = 0;
  std::atomic<std::size_t> kept_bytes_{0};  // their lengths (see kept_budget_floor); relaxed: under the lock
  [[no_unique_address]] std::conditional_t<Checked, LargeBlocks, NoLargeBlocks> live_large_;
  union {
    Engine engine_;  // destroyed explicitly, before the ranges are released
  };
};

using GeneralAllocator = BasicGeneralAllocator<>;
static_assert(RawAllocator<GeneralAllocator>);

}  // namespace core::memory
