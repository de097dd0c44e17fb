#pragma once
/// FreeListAllocator: variable-size blocks in one region, managed with boundary tags. Each block
/// carries an 8-byte header (size and two flag bits); a free block also keeps a footer and its
/// free-list links, so freeing coalesces with both neighbours in O(1). Allocation searches the
/// free list first-fit or best-fit (chosen at construction). Blocks are 16-byte aligned; larger
/// alignments split off a leading free block. Not thread-safe.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace core::memory {

/// How FreeListAllocator picks a free block.
enum class fit_policy {
  first,  ///< The first block that fits: fastest.
  best,   ///< The smallest block that fits: least fragmentation, scans the whole list.
};

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicFreeListAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::FreeListAllocator";
  /// Every block is aligned to this.
  static constexpr std::size_t alignment = 16;
  /// One region, never grown: bytes_available() bounds every request.
  static constexpr bool is_fixed_capacity = true;

  /// A region of `capacity` bytes (rounded down to 16) from upstream, obtained on first use; a
  /// region upstream cannot give, or one under 64 bytes, makes every request fail (out_of_memory).
  explicit BasicFreeListAllocator(std::size_t capacity, fit_policy policy = fit_policy::first)
    requires allocator_traits<Upstream>::is_stateless
      : capacity_(align_down(capacity, granule)), policy_(policy) {}
  BasicFreeListAllocator(Upstream& upstream, std::size_t capacity, fit_policy policy = fit_policy::first)
      : upstream_(upstream), capacity_(align_down(capacity, granule)), policy_(policy) {}
  /// A region in caller-provided memory (never freed by the allocator).
  BasicFreeListAllocator(std::span<std::byte> buffer, fit_policy policy = fit_policy::first) noexcept
    requires allocator_traits<Upstream>::is_stateless
      : policy_(policy) {
    std::byte* start = align_up(buffer.data(), granule);
    const std::size_t lost = static_cast<std::size_t>(start - buffer.data());
    if (buffer.size() > lost) {
      capacity_ = align_down(buffer.size() - lost, granule);
      if (capacity_ >= 4 * granule) format(start, false);
    }
  }

  BasicFreeListAllocator(const BasicFreeListAllocator&) = delete;
  BasicFreeListAllocator& operator=(const BasicFreeListAllocator&) = delete;
  ~BasicFreeListAllocator() {
    if (!base_) return;
    unpoison_memory(base_, capacity_);
    if (owned_) allocator_traits<Upstream>::deallocate(upstream_.get(), base_, capacity_, granule);
  }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignment) {
    return detail::allocate_or_throw(*this, size, align);
  }

  /// A block of `size` bytes aligned to `align`, or nullptr. O(free blocks).
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignment) noexcept {
    if (!is_valid_alignment(align)) {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    std::size_t need = 0;
    if (add_overflows(size, header + granule - 1, need)) return nullptr;
    need = align_down(need, granule);
    if (need < min_block) need = min_block;
    if (!base_ && !init()) return nullptr;

    std::byte* best = nullptr;
    std::size_t best_size = SIZE_MAX, best_lead = 0;
    for (std::byte* h = free_head_; h; h = next_free(h)) {
      const std::size_t s = block_size(h);
      const std::size_t lead = lead_for(h, align);
      if (s < lead || s - lead < need) continue;
      if (policy_ == fit_policy::first || s == need + lead) {
        best = h, best_size = s, best_lead = lead;
        break;
      }
      if (s < best_size) best = h, best_size = s, best_lead = lead;
    }
    if (!best) return nullptr;
    std::byte* h = take(best, best_lead, need);
    used_ += block_size(h);
    void* p = h + header;
    unpoison_memory(p, size);
    return p;
  }

  /// Returns a block and merges it with free neighbours. O(1). Hardened builds check the block's
  /// boundary tags and report a pointer outside the region (foreign_pointer), a free block
  /// (double_free), a size larger than the block (invalid_size), or tags that do not describe a
  /// block (interior_pointer: not a block's start, or its header was overwritten); expensive
  /// builds also walk the blocks to confirm `p` starts one (O(blocks)). The free is then ignored.
  void deallocate(void* p, std::size_t size, [[maybe_unused]] std::size_t align = alignment) noexcept {
    std::byte* h = static_cast<std::byte*>(p) - header;
    if constexpr (checks::hardened) {
      if (!is_block(p, size, align)) [[unlikely]]
        return;
    }
    std::size_t s = block_size(h);
    used_ -= s;
    bool prev_alloc = load(h) & prev_alloc_bit;
    std::byte* next = h + s;
    if (!(load(next) & alloc_bit)) {  // merge with the next block
      unlink(next);
      s += block_size(next);
    }
    if (!prev_alloc) {  // merge with the previous block (its footer is the word before h)
      if constexpr (checks::hardened) store(h, load(h) & ~alloc_bit);  // a second free of p sees "free"
      const std::size_t ps = load(h - header) & size_mask;
      h -= ps;
      unlink(h);
      s += ps;
      prev_alloc = load(h) & prev_alloc_bit;
    }
    make_free(h, s, prev_alloc);
    set_prev_alloc(h + s, false);
  }

  /// True if `p` lies inside the region.
  [[nodiscard]] bool owns(const void* p) const noexcept {
    const auto* c = static_cast<const std::byte*>(p);
    return base_ && c > base_ && c < base_ + capacity_;
  }
  /// The largest request a fresh allocator serves: the one free block (the region less the first
  /// pad and the sentinel) less its header.
  [[nodiscard]] std::size_t max_size() const noexcept { return capacity_ >= 4 * granule ? usable() - header : 0; }

  /// Bytes of live blocks, headers and rounding included.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return used_; }
  /// Bytes of free blocks.
  [[nodiscard]] std::size_t bytes_available() const noexcept { return base_ ? usable() - used_ : capacity_; }
  /// Size of the region.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  /// Largest free block (its usable bytes). O(free blocks).
  [[nodiscard]] std::size_t largest_free_block() const noexcept {
    if (!base_) return max_size();
    std::size_t m = 0;
    for (std::byte* h = free_head_; h; h = next_free(h)) m = block_size(h) > m ? block_size(h) : m;
    return m > header ? m - header : 0;
  }
  /// Number of free blocks. O(free blocks).
  [[nodiscard]] std::size_t free_block_count() const noexcept {
    std::size_t n = 0;
    for (std::byte* h = free_head_; h; h = next_free(h)) ++n;
    return n;
  }
  /// External fragmentation: 1 - largest free block / all free bytes (0: one free block).
  [[nodiscard]] double fragmentation() const noexcept {
    const std::size_t free_bytes = bytes_available();
    if (!base_ || free_bytes == 0) return 0.0;
    return 1.0 - static_cast<double>(largest_free_block() + header) / static_cast<double>(free_bytes);
  }

 private:
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t header = 8;
  static constexpr std::size_t min_block = 32;  // header + two links + footer
  static constexpr std::size_t alloc_bit = 1, prev_alloc_bit = 2, size_mask = ~std::size_t{15};

  // Metadata words are kept poisoned under ASan; every access goes through load/store.
  static std::size_t load(const std::byte* at) noexcept {
    unpoison_memory(at, sizeof(std::size_t));
    std::size_t v;
    std::memcpy(&v, at, sizeof v);
    poison_memory(at, sizeof(std::size_t));
    return v;
  }
  static void store(std::byte* at, std::size_t v) noexcept {
    unpoison_memory(at, sizeof v);
    std::memcpy(at, &v, sizeof v);
    poison_memory(at, sizeof v);
  }
  static std::byte* load_ptr(const std::byte* at) noexcept { return reinterpret_cast<std::byte*>(load(at)); }
  static void store_ptr(std::byte* at, std::byte* p) noexcept { store(at, reinterpret_cast<std::size_t>(p)); }

  static std::size_t block_size(const std::byte* h) noexcept { return load(h) & size_mask; }
  static std::byte* next_free(const std::byte* h) noexcept { return load_ptr(h + header + sizeof(void*)); }
  static std::byte* prev_free(const std::byte* h) noexcept { return load_ptr(h + header); }
  static void set_prev_alloc(std::byte* h, bool on) noexcept {
    const std::size_t w = load(h);
    store(h, on ? (w | prev_alloc_bit) : (w & ~prev_alloc_bit));
  }

  std::size_t usable() const noexcept { return capacity_ - granule; }  // minus the first pad and sentinel

  /// The hardened check of a free: true if `p` is a live block of at least `size` bytes, else
  /// reports what it is and returns false.
  CORE_MEMORY_NOINLINE bool is_block(void* p, std::size_t size, std::size_t align) const noexcept {
    std::byte* h = static_cast<std::byte*>(p) - header;
    error_kind kind = error_kind::foreign_pointer;
    const char* what = "not in this allocator's region";
    if (owns(p)) {
      kind = error_kind::interior_pointer, what = "not the start of a block (or its header was overwritten)";
      // Headers are kept poisoned: an addressable word before p is inside a live block.
      const bool tagged = is_aligned(p, granule) && (!asan_enabled || is_poisoned(h));
      const std::size_t word = tagged ? load(h) : 0;
      const std::size_t s = word & size_mask;
      std::byte* end = base_ + capacity_ - header;  // the sentinel
      if (s >= min_block && s <= static_cast<std::size_t>(end - h)) {
        if (!(word & alloc_bit)) {
          kind = error_kind::double_free;
          what = load(h + s - header) == s ? "block is already free"
                                           : "block is already free (merged into the free block before it)";
        } else if (load(h + s) & prev_alloc_bit) {
          kind = error_kind::invalid_size, what = "size is larger than the block: not the size it was allocated with";
          if (s >= size + header) what = nullptr;
        }
      }
      if constexpr (checks::expensive) {
        if (!what) {
          std::byte* b = base_ + header;
          while (b < h) b += block_size(b);
          if (b != h) kind = error_kind::interior_pointer, what = "not the start of a block";
        }
      }
    }
    if (!what) return true;
    report_misuse({kind, allocator_name, p, size, align, what, nullptr, 0});
    return false;
  }

  /// Bytes to skip at the start of free block `h` so the payload is aligned to `align`: 0, or at
  /// least min_block so the skipped part can stay a free block.
  static std::size_t lead_for(const std::byte* h, std::size_t align) noexcept {
    if (align <= granule) return 0;
    std::size_t lead = align_offset(h + header, align);
    while (lead != 0 && lead < min_block) lead += align;
    return lead;
  }

  void make_free(std::byte* h, std::size_t s, bool prev_alloc) noexcept {
    store(h, s | (prev_alloc ? prev_alloc_bit : 0));
    store(h + s - header, s);  // footer
    poison_memory(h + header, s - header);
    store_ptr(h + header, nullptr);  // prev link
    store_ptr(h + header + sizeof(void*), free_head_);
    if (free_head_) store_ptr(free_head_ + header, h);
    free_head_ = h;
  }

  void unlink(std::byte* h) noexcept {
    std::byte* prev = prev_free(h);
    std::byte* next = next_free(h);
    if (prev) store_ptr(prev + header + sizeof(void*), next);
    else free_head_ = next;
    if (next) store_ptr(next + header, prev);
  }

  /// Carves an allocated block of `need` bytes from free block `h` after `lead` bytes.
  std::byte* take(std::byte* h, std::size_t lead, std::size_t need) noexcept {
    unlink(h);
    std::size_t s = block_size(h);
    bool prev_alloc = load(h) & prev_alloc_bit;
    if (lead) {  // the leading part stays free
      make_free(h, lead, prev_alloc);
      h += lead;
      s -= lead;
      prev_alloc = false;
    }
    if (s - need >= min_block) {  // split off the tail
      make_free(h + need, s - need, true);
      s = need;
    } else {
      set_prev_alloc(h + s, true);
    }
    store(h, s | alloc_bit | (prev_alloc ? prev_alloc_bit : 0));
    return h;
  }

  void format(std::byte* base, bool owned) noexcept {
    base_ = base;
    owned_ = owned;
    poison_memory(base, capacity_);
    // [8 pad][first block ... ][8-byte sentinel header]: headers sit 8 bytes before 16-aligned payloads.
    std::byte* first = base + header;
    make_free(first, capacity_ - granule, true);
    store(base + capacity_ - header, alloc_bit);  // sentinel: size 0, allocated
  }

  bool init() noexcept {
    if (capacity_ < 4 * granule) return false;
    void* mem = allocator_traits<Upstream>::try_allocate(upstream_.get(), capacity_, granule);
    if (!mem) return false;
    format(static_cast<std::byte*>(mem), true);
    return true;
  }

  [[no_unique_address]] detail::allocator_ref<Upstream> upstream_{};
  std::byte* base_ = nullptr;
  std::byte* free_head_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  fit_policy policy_;
  bool owned_ = false;
};

using FreeListAllocator = BasicFreeListAllocator<>;
static_assert(RawAllocator<FreeListAllocator>);

}  // namespace core::memory
