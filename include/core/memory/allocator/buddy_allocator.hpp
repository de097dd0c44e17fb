#pragma once
/// BuddyAllocator: power-of-two blocks between a minimum and a maximum size carved from one
/// region. A request takes the smallest block that fits; a block is split in halves ("buddies")
/// until it has that size, and merged with its buddy again when both are free. Allocation and
/// free are O(log(max / min)); there is no per-block header (the size passed to deallocate gives
/// the block's order); blocks are naturally aligned to their size. The price is internal
/// fragmentation (up to half a block), which internal_fragmentation() reports. Not thread-safe.
///
/// Hardened builds check every free in O(levels) against a second bitmap saying which blocks are
/// split: the block named by the pointer and the size must be exactly a live block, else the
/// report says what it is (double_free: the block, or one enclosing it, is free; interior_pointer:
/// inside a live block; invalid_size: the start of a live block of another size; foreign_pointer:
/// outside the region), and the free is ignored.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

namespace core::memory {

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicBuddyAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::BuddyAllocator";
  /// One region, never grown: bytes_available() bounds every request.
  static constexpr bool is_fixed_capacity = true;

  /// A region of `max_block` bytes split down to blocks of `min_block` bytes (both powers of
  /// two, 16 <= min_block <= max_block, at most 47 levels: max_block <= min_block << 47). The
  /// region is obtained on first use (then out_of_memory if upstream cannot give it), aligned to
  /// min(max_block, 2 MiB), so every block is aligned to its size up to that. Other sizes are
  /// reported as invalid_size; if the handler returns, the defaults (64, 1 MiB) are used.
  explicit BasicBuddyAllocator(std::size_t min_block = 64, std::size_t max_block = std::size_t{1} << 20)
    requires allocator_traits<Upstream>::is_stateless
      : BasicBuddyAllocator(detail::allocator_ref<Upstream>(Upstream{}), min_block, max_block) {}
  BasicBuddyAllocator(Upstream& upstream, std::size_t min_block = 64, std::size_t max_block = std::size_t{1} << 20)
      : BasicBuddyAllocator(detail::allocator_ref<Upstream>(upstream), min_block, max_block) {}

  BasicBuddyAllocator(const BasicBuddyAllocator&) = delete;
  BasicBuddyAllocator& operator=(const BasicBuddyAllocator&) = delete;
  ~BasicBuddyAllocator() {
    if (!base_) return;
    unpoison_memory(base_, region_size());
    allocator_traits<Upstream>::deallocate(upstream_.get(), base_, region_size() + bitmap_bytes(), region_alignment());
  }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return detail::allocate_or_throw(*this, size, align);
  }

  /// The smallest free block of at least max(size, align) bytes, or nullptr. O(levels).
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if (!is_valid_alignment(align)) {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    const unsigned order = order_for(size, align);
    if (order > levels_ || align > region_alignment()) return nullptr;
    if (!base_ && !init()) return nullptr;
    unsigned j = order;
    while (j <= levels_ && !free_[j]) ++j;
    if (j > levels_) return nullptr;
    FreeBlock* b = free_[j];
    unlink(b, j);
    while (j > order) {  // split: the upper half becomes a free buddy one level down
      set_split(static_cast<std::size_t>(reinterpret_cast<std::byte*>(b) - base_), j, true);
      --j;
      auto* buddy = reinterpret_cast<FreeBlock*>(reinterpret_cast<std::byte*>(b) + block_size(j));
      push(buddy, j);
    }
    used_bytes_ += block_size(order);
    requested_bytes_ += size;
    unpoison_memory(b, size);
    return b;
  }

  /// Like allocate, and reports the whole block as usable (and unpoisons it for ASan).
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    void* p = allocate(size, align);
    const unsigned order = order_for(size, align);
    const std::size_t usable = block_size(order);
    unpoison_memory(p, usable);
    // The caller may use the whole block, and may free it with any size from `size` to `usable`:
    // it counts as requested whole, and its bit says so to deallocate.
    requested_bytes_ += usable - size;
    put_bit(whole_bits() + bit_of(static_cast<std::size_t>(static_cast<std::byte*>(p) - base_), order), true);
    ++whole_live_;
    return {p, usable};
  }

  /// Returns a block; `size` and `align` must be those given to allocate. Merges with free
  /// buddies. O(levels). Hardened builds report a free that is not exactly a live block (see the
  /// file comment) and ignore it.
  void deallocate(void* p, std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    unsigned order = order_for(size, align);
    if constexpr (checks::hardened) {
      if (!is_live_block(p, size, align, order)) [[unlikely]]
        return;
    }
    auto offset = static_cast<std::size_t>(static_cast<std::byte*>(p) - base_);
    used_bytes_ -= block_size(order);
    // (The map is looked at only while such blocks live: a random free over a large region would
    // otherwise touch one more cache line, 5% of its time.)
    if (const std::size_t whole = whole_bits() + bit_of(offset, order); whole_live_ != 0 && test_bit(whole)) {
      put_bit(whole, false);
      --whole_live_;
      requested_bytes_ -= block_size(order);
    } else {
      requested_bytes_ -= size;
    }
    while (order < levels_) {
      const std::size_t buddy = offset ^ block_size(order);
      if (!is_free(buddy, order)) break;
      unlink(reinterpret_cast<FreeBlock*>(base_ + buddy), order);
      offset = offset < buddy ? offset : buddy;
      ++order;
      set_split(offset, order, false);
    }
    push(reinterpret_cast<FreeBlock*>(base_ + offset), order);
  }

  /// True if `p` lies in the region.
  [[nodiscard]] bool owns(const void* p) const noexcept {
    const auto* c = static_cast<const std::byte*>(p);
    return base_ && c >= base_ && c < base_ + region_size();
  }
  [[nodiscard]] std::size_t max_size() const noexcept { return region_size(); }

  /// Smallest and largest block size.
  [[nodiscard]] std::size_t min_block_size() const noexcept { return std::size_t{1} << min_shift_; }
  [[nodiscard]] std::size_t max_block_size() const noexcept { return region_size(); }
  /// Bytes in live blocks (what the allocator handed out, rounded to block sizes).
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return used_bytes_; }
  /// Bytes the live allocations asked for (a block from allocate_at_least counts whole).
  [[nodiscard]] std::size_t bytes_requested() const noexcept { return requested_bytes_; }
  /// Free bytes in the region.
  [[nodiscard]] std::size_t bytes_available() const noexcept { return region_size() - used_bytes_; }
  /// Largest block that can be allocated now. O(levels).
  [[nodiscard]] std::size_t largest_free_block() const noexcept {
    if (!base_) return region_size();
    for (unsigned k = levels_ + 1; k-- > 0;)
      if (free_[k]) return block_size(k);
    return 0;
  }
  /// Share of the live blocks' bytes that rounding to powers of two wasted (0 when empty).
  [[nodiscard]] double internal_fragmentation() const noexcept {
    return used_bytes_ ? 1.0 - static_cast<double>(requested_bytes_) / static_cast<double>(used_bytes_) : 0.0;
  }

 private:
  struct FreeBlock {
    FreeBlock* prev;
    FreeBlock* next;
  };
  static constexpr unsigned max_levels = 48;

  BasicBuddyAllocator(detail::allocator_ref<Upstream> upstream, std::size_t min_block, std::size_t max_block)
      : upstream_(upstream) {
    if (!is_power_of_two(min_block) || !is_power_of_two(max_block) || min_block < sizeof(FreeBlock) ||
        max_block < min_block || log2_floor(max_block) - log2_floor(min_block) >= max_levels) [[unlikely]] {
      char message[160];
      std::snprintf(message, sizeof message,
                    "block sizes must be powers of two with 16 <= min_block <= max_block <= min_block << %u "
                    "(min_block %zu, max_block %zu)",
                    max_levels - 1, min_block, max_block);
      report_misuse({error_kind::invalid_size, allocator_name, nullptr, max_block, 0, message, nullptr, 0});
      min_block = 64;
      max_block = std::size_t{1} << 20;
    }
    min_shift_ = log2_floor(min_block);
    levels_ = log2_floor(max_block) - min_shift_;
    if (levels_ >= max_levels) levels_ = max_levels - 1;
  }

  /// The hardened check of a free: true if `p` with this size and alignment (of `order`) is a
  /// live block; otherwise reports what it is and returns false. O(levels).
  CORE_MEMORY_NOINLINE bool is_live_block(void* p, std::size_t size, std::size_t align, unsigned order) noexcept {
    const auto* c = static_cast<const std::byte*>(p);
    if (!base_ || c < base_ || c >= base_ + region_size()) {
      report_misuse({error_kind::foreign_pointer, allocator_name, p, size, align, "not in this allocator's region",
                     nullptr, 0});
      return false;
    }
    const auto offset = static_cast<std::size_t>(c - base_);
    unsigned k = levels_;  // descend through split blocks to the block that holds `offset`
    while (k > 0 && is_split(align_down(offset, block_size(k)), k)) --k;
    const std::size_t start = align_down(offset, block_size(k));
    const char* what = nullptr;
    error_kind kind = error_kind::double_free;
    if (is_free(start, k)) what = "block is already free";
    else if (start != offset) kind = error_kind::interior_pointer, what = "inside a live block, not at its start";
    else if (k != order)
      kind = error_kind::invalid_size, what = "size/alignment name another block size than the allocation's";
    if (!what) return true;
    char message[160];
    std::snprintf(message, sizeof message, "%s (the block at %p holds %zu bytes)", what,
                  static_cast<const void*>(base_ + start), block_size(k));
    report_misuse({kind, allocator_name, p, size, align, message, nullptr, 0});
    return false;
  }

  std::size_t block_size(unsigned order) const noexcept { return std::size_t{1} << (min_shift_ + order); }
  std::size_t region_size() const noexcept { return block_size(levels_); }
  std::size_t region_alignment() const noexcept { return region_size() < (std::size_t{2} << 20) ? region_size() : std::size_t{2} << 20; }
  /// Bits for every block at every level: 2 * (blocks at the lowest level), saying which are free;
  /// hardened builds keep a second such map saying which blocks are split; the last one says
  /// which live blocks allocate_at_least handed out (counted as requested whole).
  std::size_t bitmap_bits() const noexcept { return std::size_t{2} << levels_; }
  std::size_t whole_bits() const noexcept { return (checks::hardened ? 2 : 1) * bitmap_bits(); }
  std::size_t bitmap_bytes() const noexcept { return (whole_bits() + bitmap_bits() + 7) / 8; }

  unsigned order_for(std::size_t size, std::size_t align) const noexcept {
    std::size_t need = size > align ? size : align;
    if (need <= min_block_size()) return 0;
    if (need > region_size()) return levels_ + 1;
    return log2_ceil(need) - min_shift_;
  }

  /// Bit index of the block at `offset` on level `order`: levels stacked from the top.
  std::size_t bit_of(std::size_t offset, unsigned order) const noexcept {
    const unsigned depth = levels_ - order;  // level with 2^depth blocks
    return ((std::size_t{1} << depth) - 1) + (offset >> (min_shift_ + order));
  }
  bool test_bit(std::size_t bit) const noexcept { return (bitmap_[bit / 8] >> (bit % 8)) & 1u; }
  void put_bit(std::size_t bit, bool on) noexcept {
    if (on) bitmap_[bit / 8] = static_cast<unsigned char>(bitmap_[bit / 8] | (1u << (bit % 8)));
    else bitmap_[bit / 8] = static_cast<unsigned char>(bitmap_[bit / 8] & ~(1u << (bit % 8)));
  }
  bool is_free(std::size_t offset, unsigned order) const noexcept { return test_bit(bit_of(offset, order)); }
  void set_free(std::size_t offset, unsigned order, bool free) noexcept { put_bit(bit_of(offset, order), free); }
  bool is_split(std::size_t offset, unsigned order) const noexcept {
    return test_bit(bitmap_bits() + bit_of(offset, order));
  }
  void set_split([[maybe_unused]] std::size_t offset, [[maybe_unused]] unsigned order,
                 [[maybe_unused]] bool split) noexcept {
    if constexpr (checks::hardened) put_bit(bitmap_bits() + bit_of(offset, order), split);
  }

  void push(FreeBlock* b, unsigned order) noexcept {
    unpoison_memory(b, sizeof(FreeBlock));
    b->prev = nullptr;
    b->next = free_[order];
    if (free_[order]) {
      unpoison_memory(free_[order], sizeof(FreeBlock));
      free_[order]->prev = b;
      poison_memory(free_[order], sizeof(FreeBlock));
    }
    free_[order] = b;
    set_free(static_cast<std::size_t>(reinterpret_cast<std::byte*>(b) - base_), order, true);
    poison_memory(b, block_size(order));
  }

  void unlink(FreeBlock* b, unsigned order) noexcept {
    unpoison_memory(b, sizeof(FreeBlock));
    if (b->prev) {
      unpoison_memory(b->prev, sizeof(FreeBlock));
      b->prev->next = b->next;
      poison_memory(b->prev, sizeof(FreeBlock));
    } else {
      free_[order] = b->next;
    }
    if (b->next) {
      unpoison_memory(b->next, sizeof(FreeBlock));
      b->next->prev = b->prev;
      poison_memory(b->next, sizeof(FreeBlock));
    }
    set_free(static_cast<std::size_t>(reinterpret_cast<std::byte*>(b) - base_), order, false);
  }

  bool init() noexcept {
    auto* mem = static_cast<std::byte*>(allocator_traits<Upstream>::try_allocate(
        upstream_.get(), region_size() + bitmap_bytes(), region_alignment()));
    if (!mem) return false;
    base_ = mem;
    bitmap_ = reinterpret_cast<unsigned char*>(mem + region_size());
    std::memset(bitmap_, 0, bitmap_bytes());
    push(reinterpret_cast<FreeBlock*>(base_), levels_);
    return true;
  }

  [[no_unique_address]] detail::allocator_ref<Upstream> upstream_;
  std::byte* base_ = nullptr;
  unsigned char* bitmap_ = nullptr;
  FreeBlock* free_[max_levels] = {};
  unsigned min_shift_ = 6;
  unsigned levels_ = 14;
  std::size_t used_bytes_ = 0;
  std::size_t requested_bytes_ = 0;
  std::size_t whole_live_ = 0;  // live blocks from allocate_at_least
};

using BuddyAllocator = BasicBuddyAllocator<>;
static_assert(RawAllocator<BuddyAllocator>);

}  // namespace core::memory
