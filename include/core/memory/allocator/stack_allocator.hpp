#pragma once
/// StackAllocator: LIFO allocation in one fixed region. Allocation bumps the top (at the speed of
/// an Arena); freeing the most recent allocation moves the top back in place; mark()/rewind()
/// free everything since a marker. For growth without bound, use Arena and its scopes.
///
/// A free that is not exactly the most recent live allocation is misuse. Hardened and debug builds
/// keep a 16-byte header per allocation (the previous top and the previous allocation), so a free
/// must name the most recent allocation's start with its size; anything else is reported with
/// what it is (lifo_violation: an older live allocation; interior_pointer: inside one;
/// invalid_size: the most recent one with another size; double_free: beyond the top, already
/// freed or rewound; foreign_pointer: outside the region) and ignored. Release builds keep no
/// header and ignore a free that does not end at the top (the memory comes back at the next
/// rewind or reset). Not thread-safe.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

namespace core::memory {

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicStackAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::StackAllocator";
  static constexpr std::size_t default_alignment = alignof(std::max_align_t);
  /// Sizes round up to this, so the top stays aligned and the common case is one add.
  static constexpr std::size_t granule = alignof(std::max_align_t);
  /// One region, never grown: bytes_available() bounds every request.
  static constexpr bool is_fixed_capacity = true;
  /// Only the most recent allocation can be freed (see allocator_traits).
  static constexpr bool frees_newest_first = true;

  /// A position of the stack (see mark / rewind).
  struct Marker {
    std::byte* top = nullptr;
  };

  /// A stack of `capacity` bytes (rounded down to 16) from the upstream allocator, obtained on
  /// first use; a region upstream cannot give makes every request fail (out_of_memory).
  explicit BasicStackAllocator(std::size_t capacity)
    requires allocator_traits<Upstream>::is_stateless
      : capacity_(align_down(capacity, granule)) {}

  BasicStackAllocator(std::size_t capacity, Upstream& upstream)
      : upstream_(upstream), capacity_(align_down(capacity, granule)) {}

  /// A stack in caller-provided memory (never freed by the allocator).
  explicit BasicStackAllocator(std::span<std::byte> buffer) noexcept
    requires allocator_traits<Upstream>::is_stateless
  {
    std::byte* start = align_up(buffer.data(), granule);
    const std::size_t lost = static_cast<std::size_t>(start - buffer.data());
    if (buffer.size() > lost) set_region(start, align_down(buffer.size() - lost, granule), false);
  }

  BasicStackAllocator(const BasicStackAllocator&) = delete;
  BasicStackAllocator& operator=(const BasicStackAllocator&) = delete;
  BasicStackAllocator(BasicStackAllocator&& other) noexcept
      : upstream_(other.upstream_),
        base_(std::exchange(other.base_, nullptr)),
        top_(std::exchange(other.top_, nullptr)),
        end_(std::exchange(other.end_, nullptr)),
        last_(std::exchange(other.last_, nullptr)),
        padded_(std::exchange(other.padded_, nullptr)),
        capacity_(std::exchange(other.capacity_, 0)),
        owned_(other.owned_) {}

  ~BasicStackAllocator() {
    if (!base_) return;
    unpoison_memory(base_, capacity_);
    if (owned_) allocator_traits<Upstream>::deallocate(upstream_.get(), base_, capacity_, granule);
  }

  /// `size` bytes aligned to `align`; throws out_of_memory when the region is full.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* allocate(std::size_t size, std::size_t align = default_alignment) {
    return bump<true>(size, align);
  }

  /// As allocate, but nullptr when the region is full.
  [[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* try_allocate(std::size_t size,
                                                             std::size_t align = default_alignment) noexcept {
    return bump<false>(size, align);
  }

 private:
  /// The fast path shared by allocate (Throw) and try_allocate; the slow path is out of line, so
  /// the inlined code is the bump and one compare, with no test of the result.
  template <bool Throw>
  CORE_MEMORY_ALWAYS_INLINE void* bump(std::size_t size, std::size_t align) noexcept(!Throw) {
    const std::size_t n = (size + granule - 1) & ~(granule - 1);  // 0 for size 0: slow path
    auto p = reinterpret_cast<std::uintptr_t>(top_) + header;
    const auto end = reinterpret_cast<std::uintptr_t>(end_);
    if (!is_valid_alignment_up_to(align, granule)) {  // over-aligned, or invalid (reported by slow)
      if (!is_valid_alignment(align)) return slow<Throw>(size, align);
      if constexpr (header == 0) p += granule;  // room below the block for the top (see deallocate)
      p += (0 - p) & (align - 1);               // a huge alignment lands beyond end, never wraps
    }
    if (p <= end && n - 1 < end - p) [[likely]] {
      const std::uintptr_t new_top = p + n;
      if constexpr (header != 0) {
        auto* h = reinterpret_cast<std::byte*>(p - header);
        unpoison_memory(h, header);
        std::memcpy(h, &top_, sizeof top_);
        std::memcpy(h + sizeof top_, &last_, sizeof last_);
        poison_memory(h, header);
        last_ = reinterpret_cast<std::byte*>(p);
      } else if (align > granule) {  // release builds: the padding's last two words (see padded_)
        auto* w = reinterpret_cast<std::byte*>(p - 2 * sizeof top_);
        unpoison_memory(w, 2 * sizeof top_);
        std::memcpy(w + sizeof top_, &top_, sizeof top_);
        std::memcpy(w, &padded_, sizeof padded_);
        poison_memory(w, 2 * sizeof top_);
        padded_ = reinterpret_cast<std::byte*>(p);
      }
      top_ = reinterpret_cast<std::byte*>(new_top);
      unpoison_memory(reinterpret_cast<void*>(p), size);
      return reinterpret_cast<void*>(p);
    }
    return slow<Throw>(size, align);
  }

 public:
  /// Frees the most recent live allocation in place (`size` as allocated). Anything else is
  /// misuse: reported when checks are on (see the file comment), ignored otherwise.
  void deallocate(void* p, std::size_t size, [[maybe_unused]] std::size_t align = default_alignment) noexcept {
    auto* b = static_cast<std::byte*>(p);
    const std::size_t n = (size + granule - 1) & ~(granule - 1);
    const bool at_top = reinterpret_cast<std::uintptr_t>(p) + (n ? n : granule) == reinterpret_cast<std::uintptr_t>(top_);
    if (!at_top || (header != 0 && b != last_)) [[unlikely]] {
      if constexpr (checks::hardened) report_bad_free(b, size, align);
      return;
    }
    std::byte* restored = b;
    if constexpr (header != 0) {
      // g++ -O3 threads a foreign `p` (say, a local array) into this read and warns
      // (-Warray-bounds), though the check above excludes it; hide where h points.
      auto h = reinterpret_cast<std::uintptr_t>(b) - header;
      __asm__("" : "+r"(h));
      unpoison_memory(reinterpret_cast<void*>(h), header);
      std::memcpy(&restored, reinterpret_cast<void*>(h), sizeof restored);
      std::memcpy(&last_, reinterpret_cast<void*>(h + sizeof restored), sizeof last_);
    } else if (b == padded_) [[unlikely]] {  // (any other block is newer than padded_, or not at the top)
      restored = padding_word(b, 1);
      padded_ = padding_word(b, 2);
    }
    poison_memory(restored, static_cast<std::size_t>(top_ - restored));
    top_ = restored;
  }

  /// The current position.
  [[nodiscard]] Marker mark() const noexcept { return {top_}; }

  /// Frees everything allocated since `marker` (markers must be rewound newest first). Checked
  /// builds accept only a position of the live stack: the top, or where a live allocation began
  /// (its header holds the top it was taken from). Any other marker is reported and ignored: one
  /// from elsewhere, one newer than the top, or one made stale by a rewind to an older marker
  /// after which the stack grew back past it (rewinding there would free part of a live block).
  void rewind(Marker marker) noexcept {
    if (!marker.top) marker.top = base_;  // a marker taken before first use
    if constexpr (header != 0) {
      std::byte* last = last_;  // the allocations the rewind frees: those from the marker on
      std::byte* top_then = top_;
      for (; last && last >= marker.top; last = previous_allocation(last)) top_then = previous_top(last);
      if (top_then != marker.top) [[unlikely]]
        return report_bad_marker(marker.top);
      last_ = last;
    }
    poison_memory(marker.top, static_cast<std::size_t>(top_ - marker.top));
    top_ = marker.top;
    forget_padded_above_top();
  }

  /// Frees everything.
  void reset() noexcept { rewind(Marker{base_}); }

  /// Bytes in use, including alignment padding and, in checked builds, headers.
  [[nodiscard]] std::size_t bytes_used() const noexcept { return static_cast<std::size_t>(top_ - base_); }
  /// Bytes left.
  [[nodiscard]] std::size_t bytes_available() const noexcept {
    return base_ ? static_cast<std::size_t>(end_ - top_) : capacity_;
  }
  /// Size of the region.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  /// True if `p` lies in the used part of the region.
  [[nodiscard]] bool owns(const void* p) const noexcept {
    const auto* c = static_cast<const std::byte*>(p);
    return c >= base_ && c < top_;
  }
  /// The largest request a fresh stack serves: its capacity less the checked builds' header.
  [[nodiscard]] std::size_t max_size() const noexcept { return capacity_ > header ? capacity_ - header : 0; }

 private:
  /// Bytes before each block holding the previous top and the previous allocation's start, in
  /// checked builds only.
  static constexpr std::size_t header = checks::hardened ? granule : 0;
  static_assert(header == 0 || header >= 2 * sizeof(std::byte*));

  /// The allocation before `block` (null for the first), from `block`'s header.
  static std::byte* previous_allocation(std::byte* block) noexcept { return header_word(block, 1); }
  /// The top before `block` was allocated, from its header.
  static std::byte* previous_top(std::byte* block) noexcept { return header_word(block, 0); }
  static std::byte* header_word(std::byte* block, std::size_t i) noexcept {
    std::byte* word = nullptr;
    std::byte* at = block - header + i * sizeof word;
    unpoison_memory(at, sizeof word);
    std::memcpy(&word, at, sizeof word);
    poison_memory(at, sizeof word);
    return word;
  }

  /// Release builds: word `i` below the over-aligned block `b` (1: the top it was carved from,
  /// 2: the over-aligned block before it).
  static std::byte* padding_word(std::byte* b, std::size_t i) noexcept {
    std::byte* word = nullptr;
    auto at = reinterpret_cast<std::uintptr_t>(b) - i * sizeof word;
    __asm__("" : "+r"(at));  // g++ threads a foreign `b` here and warns (see deallocate)
    unpoison_memory(reinterpret_cast<void*>(at), sizeof word);
    std::memcpy(&word, reinterpret_cast<void*>(at), sizeof word);
    poison_memory(reinterpret_cast<void*>(at), sizeof word);
    return word;
  }
  /// Release builds: drops the over-aligned blocks that a free or rewind has gone back past.
  void forget_padded_above_top() noexcept {
    if constexpr (header == 0) {
      while (padded_ && padded_ >= top_) padded_ = padding_word(padded_, 2);
    }
  }

  /// Says what a rejected marker is (checked builds).
  CORE_MEMORY_NOINLINE void report_bad_marker(std::byte* top) const noexcept {
    const char* what = !base_ || top < base_ || top > end_ ? "marker is not from this stack"
                       : top > top_ ? "marker is newer than the top (a rewind has gone back past it)"
                                    : "marker is stale: a rewind went back past it and the stack grew again, so it is "
                                      "no longer a position of the live stack (markers must be rewound newest first)";
    report_misuse({error_kind::lifo_violation, allocator_name, top, 0, 0, what, nullptr, 0});
  }

  /// Says what a rejected free is (hardened builds).
  CORE_MEMORY_NOINLINE void report_bad_free(std::byte* b, std::size_t size, std::size_t align) const noexcept {
    error_kind kind = error_kind::foreign_pointer;
    const char* what = "not in this stack's region";
    if (base_ && b >= base_ && b < end_) {
      kind = error_kind::double_free, what = "beyond the top: already freed (or rewound)";
      if (b == last_) {
        kind = error_kind::invalid_size, what = "the most recent allocation, freed with another size";
      } else if (b < top_) {
        kind = error_kind::interior_pointer, what = "inside a live allocation, not at its start";
        for (std::byte* q = last_; q && q >= b; q = previous_allocation(q))
          if (q == b) kind = error_kind::lifo_violation, what = "not the most recent allocation (free newest first)";
      }
    }
    report_misuse({kind, allocator_name, b, size, align, what, nullptr, 0});
  }

  void set_region(std::byte* base, std::size_t capacity, bool owned) noexcept {
    base_ = top_ = base;
    end_ = base + capacity;
    capacity_ = capacity;
    owned_ = owned;
    poison_memory(base, capacity);
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
    if (!base_ && capacity_ != 0) {  // first use: get the region
      void* region = allocator_traits<Upstream>::try_allocate(upstream_.get(), capacity_, granule);
      if (!region) return nullptr;
      set_region(static_cast<std::byte*>(region), capacity_, true);
      return try_allocate(size, align);
    }
    if (size == 0 && top_ != end_) return try_allocate(1, align);
    return nullptr;  // full
  }

  [[no_unique_address]] detail::allocator_ref<Upstream> upstream_{};
  std::byte* base_ = nullptr;
  std::byte* top_ = nullptr;
  std::byte* end_ = nullptr;
  std::byte* last_ = nullptr;  // start of the most recent live allocation (checked builds)
  // Release builds: the most recent live over-aligned allocation. Its padding (a granule at
  // least) holds the top it was carved from and the one before it, so its free restores the top
  // exactly; a free of any other block never reads padding.
  std::byte* padded_ = nullptr;
  std::size_t capacity_ = 0;
  bool owned_ = false;
};

using StackAllocator = BasicStackAllocator<>;
static_assert(RawAllocator<StackAllocator>);

}  // namespace core::memory
