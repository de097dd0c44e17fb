#pragma once
/// Address space and pages: VirtualMemory (one reservation, committed and decommitted by page
/// ranges, guard pages), PageAllocator (whole pages from the system, one mapping per block) and
/// VirtualMemoryAllocator (a RawAllocator over one reservation, so an Arena or a pool drawing
/// from it grows in place: its blocks are adjacent, never move, and are committed page by page).
///
/// Addresses: a reservation never moves. commit, decommit and protect change what the pages of a
/// range hold or allow, never where they are; only release (or destruction) gives the address
/// space back. Errors follow system/error.hpp: exhaustion is out_of_memory / null / false, a
/// range outside the reservation is misuse (invalid_size).

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/system/error.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/size_math.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace core::memory {

/// Size of a base page (4096 on x86-64 Linux). Every range below is rounded to it.
[[nodiscard]] inline std::size_t page_size() noexcept { return detail::os::page_size(); }

/// Size of a transparent huge page (2 MiB on x86-64), 0 where the system has none.
[[nodiscard]] inline std::size_t huge_page_size() noexcept { return detail::os::transparent_huge_page_size(); }

/// An explicit huge page size the kernel supports and how many pages of it are free now
/// (0 unless the administrator reserved some: /proc/sys/vm/nr_hugepages).
using HugePagePool = detail::os::huge_page_pool;

/// The explicit huge page sizes, smallest first (on x86-64: 2 MiB and 1 GiB).
struct HugePagePools {
  HugePagePool pools[8];
  std::size_t count = 0;
  [[nodiscard]] const HugePagePool* begin() const noexcept { return pools; }
  [[nodiscard]] const HugePagePool* end() const noexcept { return pools + count; }
};

/// The explicit huge page sizes the kernel supports, with their free pages. Reads sysfs.
[[nodiscard]] inline HugePagePools huge_page_pools() noexcept {
  HugePagePools r;
  const std::size_t n = detail::os::huge_page_pools(r.pools, 8);
  r.count = n < 8 ? n : 8;
  return r;
}

/// What the pages of a committed range allow.
enum class PageAccess : unsigned char { none, read, read_write };
static_assert(static_cast<int>(PageAccess::read_write) == static_cast<int>(detail::os::protection::read_write) &&
              static_cast<int>(PageAccess::read) == static_cast<int>(detail::os::protection::read));

/// One reservation of address space: owns it (move-only RAII) and never moves it. Pages are
/// inaccessible until committed, so touching a reserved but uncommitted page, a decommitted page
/// or a guard page is a segmentation fault, never a silent read.
/// Not thread-safe (as any object); distinct reservations are independent.
class VirtualMemory {
 public:
  static constexpr const char* component = "core::memory::VirtualMemory";

  /// Holds nothing.
  VirtualMemory() noexcept = default;

  /// Reserves `size` bytes rounded up to whole pages, aligned to `alignment` (a power of two;
  /// less than a page means a page). Nothing is committed. Throws out_of_memory if the address
  /// space cannot be had (or `size` rounds beyond it); a bad alignment is reported
  /// (invalid_alignment), then out_of_memory.
  explicit VirtualMemory(std::size_t size, std::size_t alignment = 0) : VirtualMemory(try_reserve(size, alignment)) {
    if (!base_) throw_out_of_memory(component, size, alignment);
  }

  /// As the constructor, but an empty VirtualMemory (false) on failure.
  [[nodiscard]] static VirtualMemory try_reserve(std::size_t size, std::size_t alignment = 0) noexcept {
    VirtualMemory vm;
    const std::size_t page = page_size();
    if (alignment != 0 && !is_valid_alignment(alignment)) {
      detail::report_invalid_alignment(component, size, alignment);
      return vm;
    }
    if (alignment < page) alignment = page;
    if (size == 0 || size > static_cast<std::size_t>(PTRDIFF_MAX) - alignment) return vm;
    size = align_up(size, page);
    void* p = nullptr;
    if (detail::os::reserve(size, alignment, &p) != 0) return vm;
    vm.base_ = static_cast<std::byte*>(p);
    vm.size_ = size;
    return vm;
  }

  VirtualMemory(VirtualMemory&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  VirtualMemory& operator=(VirtualMemory&& o) noexcept {
    if (this != &o) {
      release();
      base_ = std::exchange(o.base_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~VirtualMemory() { release(); }

  /// Start of the reservation (aligned as asked), null if empty.
  [[nodiscard]] std::byte* data() const noexcept { return base_; }
  /// Bytes reserved (a multiple of the page size).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] explicit operator bool() const noexcept { return base_ != nullptr; }
  [[nodiscard]] bool contains(const void* p) const noexcept {
    return p >= base_ && p < base_ + size_;
  }

  /// Makes [offset, offset + length), widened to whole pages, readable and writable; pages not
  /// committed before read as zero (committed pages keep their contents). Physical memory is
  /// taken on first touch. Throws out_of_memory if the system refuses.
  void commit(std::size_t offset, std::size_t length) {
    if (!try_commit(offset, length)) throw_out_of_memory(component, length, page_size());
  }

  /// As commit; false if the system refuses (or the range is misuse and the handler returned).
  [[nodiscard]] bool try_commit(std::size_t offset, std::size_t length) noexcept {
    std::byte* first = nullptr;
    std::size_t bytes = 0;
    if (!outer_pages(offset, length, "commit: range outside the reservation", first, bytes)) return false;
    return bytes == 0 || detail::os::commit(first, bytes) == 0;
  }

  /// Gives back to the system the pages lying wholly inside [offset, offset + length) (a page
  /// partly outside keeps its contents) and makes them inaccessible; they stay reserved, and a
  /// later commit brings them back zeroed.
  void decommit(std::size_t offset, std::size_t length) noexcept {
    if (!in_range(offset, length, "decommit: range outside the reservation")) return;
    const std::size_t page = page_size();
    const std::size_t begin = align_up(offset, page), end = align_down(offset + length, page);
    if (end > begin) (void)detail::os::decommit(base_ + begin, end - begin);  // cannot fail on our own range
  }

  /// Sets the access of the committed pages of [offset, offset + length) widened to whole pages.
  /// Throws std::system_error if the system refuses (ENOMEM: too many distinct mappings).
  void protect(std::size_t offset, std::size_t length, PageAccess access) {
    std::byte* first = nullptr;
    std::size_t bytes = 0;
    if (!outer_pages(offset, length, "protect: range outside the reservation", first, bytes) || bytes == 0) return;
    if (const int e = detail::os::protect(first, bytes, static_cast<detail::os::protection>(access)); e != 0)
      detail::throw_system_error(e, component, "protect");
  }

  /// Makes the pages of the range a guard: any access faults. Same as protect(..., none); the
  /// pages stay committed (decommit also guards, and gives the memory back).
  void guard(std::size_t offset, std::size_t length) { protect(offset, length, PageAccess::none); }

  /// Gives the whole reservation back to the system; this becomes empty. Addresses in it are
  /// invalid from then on.
  void release() noexcept {
    if (base_) (void)detail::os::release(base_, size_);
    base_ = nullptr;
    size_ = 0;
  }

 private:
  /// Reports a range beyond the reservation (misuse); false then.
  bool in_range(std::size_t offset, std::size_t length, const char* message) const noexcept {
    if (offset <= size_ && length <= size_ - offset) [[likely]]
      return true;
    report_misuse({error_kind::invalid_size, component, base_ + (offset <= size_ ? offset : size_), length, 0,
                   message, nullptr, 0});
    return false;
  }
  /// The range widened to whole pages.
  bool outer_pages(std::size_t offset, std::size_t length, const char* message, std::byte*& first,
                   std::size_t& bytes) const noexcept {
    if (!in_range(offset, length, message)) return false;
    const std::size_t page = page_size();
    const std::size_t begin = align_down(offset, page), end = align_up(offset + length, page);
    first = base_ + begin;
    bytes = length == 0 ? 0 : end - begin;
    return true;
  }

  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
};

/// Whole pages straight from the system, one mapping per block: for large blocks, and as the
/// upstream of allocators that need page-aligned memory (NumaAllocator). Blocks are zeroed,
/// aligned to at least a page, and their pages are given back to the system on deallocate.
/// Stateless and thread-safe. Each block costs a system call both ways: not for small blocks.
class PageAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::PageAllocator";
  static constexpr bool is_stateless = true;
  static constexpr bool is_thread_safe = true;

  /// `size` bytes (rounded up to pages) aligned to `align`; throws out_of_memory.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = 1) {
    return detail::allocate_or_throw(*this, size, align);
  }

  /// As allocate; null if the system refuses.
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = 1) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    const std::size_t page = page_size();
    if (size > max_size()) return nullptr;
    const std::size_t bytes = align_up(size != 0 ? size : 1, page);
    void* p = nullptr;
    if (align <= page)
      return detail::os::map(-1, 0, bytes, detail::os::map_mode::copy_on_write, false, nullptr, &p) == 0 ? p : nullptr;
    if (align > max_size() || detail::os::reserve(bytes, align, &p) != 0) return nullptr;
    if (detail::os::commit(p, bytes) != 0) {
      (void)detail::os::release(p, bytes);
      return nullptr;
    }
    return p;
  }

  void deallocate(void* p, std::size_t size, std::size_t /*align*/ = 1) noexcept {
    (void)detail::os::release(p, align_up(size != 0 ? size : 1, page_size()));
  }

  [[nodiscard]] std::size_t max_size() const noexcept {
    return static_cast<std::size_t>(PTRDIFF_MAX) - (std::size_t{1} << 30);
  }

  friend bool operator==(PageAllocator, PageAllocator) noexcept { return true; }
};

/// A RawAllocator over one VirtualMemory reservation: blocks are bumped upward and pages
/// committed just ahead of the top, `commit_step` bytes at a time. An Arena or a MemoryPool
/// taking it as upstream therefore grows in place: each new block follows the previous one in
/// the same reservation, nothing is ever moved or copied, and the memory committed is what the
/// blocks use (rounded to the step). Freeing the newest block moves the top back; when every
/// block is free the top returns to the start and committed memory beyond `retain` bytes goes
/// back to the system. Pages beyond the committed top are inaccessible, so running off the end
/// of the newest block's pages faults. Exhaustion (the reservation is full, or the system refuses
/// a commit) is out_of_memory / null. Not thread-safe; held by reference by arenas and pools.
class VirtualMemoryAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::VirtualMemoryAllocator";
  /// bytes_available() bounds every request: the reservation never grows.
  static constexpr bool is_fixed_capacity = true;

  struct Options {
    std::size_t reserve = std::size_t{1} << 30;   ///< Address space to reserve (rounded to pages).
    std::size_t commit_step = std::size_t{64} << 10;  ///< Commit granularity (rounded to pages, at most 1 GiB).
    std::size_t retain = 0;  ///< Committed bytes kept when everything is freed.
  };

  /// Reserves `options.reserve` bytes of address space at first use (nothing committed);
  /// address space that cannot be had is exhaustion then (out_of_memory / null). A reserve of 0
  /// is reported (invalid_size) and the default is used if the handler returns.
  explicit VirtualMemoryAllocator(Options options) : options_(options) {
    if (options_.reserve == 0) [[unlikely]] {
      report_misuse({error_kind::invalid_size, allocator_name, nullptr, 0, 0, "reserve must not be 0", nullptr, 0});
      options_.reserve = Options{}.reserve;
    }
    constexpr std::size_t max_step = std::size_t{1} << 30;
    const std::size_t step = options.commit_step == 0 ? 1 : (options.commit_step > max_step ? max_step : options.commit_step);
    options_.commit_step = align_up(step, page_size());
  }
  VirtualMemoryAllocator() : VirtualMemoryAllocator(Options{}) {}

  VirtualMemoryAllocator(const VirtualMemoryAllocator&) = delete;
  VirtualMemoryAllocator& operator=(const VirtualMemoryAllocator&) = delete;

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return detail::allocate_or_throw(*this, size, align);
  }

  /// `size` bytes aligned to `align` at the top of the reservation, committing pages as needed;
  /// null if the reservation is full or the system refuses the commit.
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    if (!region_ && !reserve()) [[unlikely]]
      return nullptr;
    const std::size_t n = size != 0 ? size : 1;
    const auto top = reinterpret_cast<std::uintptr_t>(top_);
    const auto limit = reinterpret_cast<std::uintptr_t>(region_.data() + region_.size());
    const std::size_t pad = (0 - top) & (align - 1);
    if (pad > limit - top || n > limit - top - pad) return nullptr;
    std::byte* p = top_ + pad;
    if (p + n > committed_ && !commit_to(p + n)) return nullptr;
    top_ = p + n;
    live_ += n;
    return p;
  }

  /// Frees a block: the newest one moves the top back; when none is left the top returns to the
  /// start and committed memory beyond `retain` is decommitted. Hardened builds report a block
  /// that is not below the top (foreign_pointer) or larger than all live bytes (invalid_size),
  /// and ignore it.
  void deallocate(void* p, std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    const std::size_t n = size != 0 ? size : 1;
    if constexpr (checks::hardened) {
      const auto* b = static_cast<const std::byte*>(p);
      if (!owns(p) || n > static_cast<std::size_t>(top_ - b) || n > live_) [[unlikely]] {
        report_misuse({owns(p) ? error_kind::invalid_size : error_kind::foreign_pointer, allocator_name, p, size,
                       align, owns(p) ? "more bytes than are live or below the top" : "not in this reservation's blocks",
                       nullptr, 0});
        return;
      }
    }
    if (static_cast<std::byte*>(p) + n == top_) top_ = static_cast<std::byte*>(p);
    live_ -= n;
    if (live_ == 0) {
      top_ = region_.data();
      trim(options_.retain);
    }
  }

  /// Decommits the committed pages above max(top, start + keep).
  void trim(std::size_t keep = 0) noexcept {
    if (!region_) return;
    const std::size_t used = static_cast<std::size_t>(top_ - region_.data());
    const std::size_t from = align_up(used > keep ? used : (keep < region_.size() ? keep : region_.size()), page_size());
    const std::size_t committed = static_cast<std::size_t>(committed_ - region_.data());
    if (committed > from) {
      region_.decommit(from, committed - from);
      committed_ = region_.data() + from;
    }
  }

  /// True if `p` lies below the top of the reservation.
  [[nodiscard]] bool owns(const void* p) const noexcept { return p >= region_.data() && p < top_; }
  /// Bytes of live blocks.
  [[nodiscard]] std::size_t bytes_allocated() const noexcept { return live_; }
  /// Bytes between the top and the end of the reservation.
  [[nodiscard]] std::size_t bytes_available() const noexcept {
    return region_ ? static_cast<std::size_t>(region_.data() + region_.size() - top_) : max_size();
  }
  /// Bytes committed (what the blocks may use without another commit).
  [[nodiscard]] std::size_t bytes_committed() const noexcept {
    return static_cast<std::size_t>(committed_ - region_.data());
  }
  [[nodiscard]] std::size_t max_size() const noexcept {
    constexpr std::size_t limit = static_cast<std::size_t>(PTRDIFF_MAX) / 2;  // what reserve() tries
    return region_ ? region_.size() : (options_.reserve > limit ? 0 : align_up(options_.reserve, page_size()));
  }
  /// The reservation (its start never changes; empty until the first allocation).
  [[nodiscard]] const VirtualMemory& region() const noexcept { return region_; }

 private:
  bool reserve() noexcept {
    if (options_.reserve > static_cast<std::size_t>(PTRDIFF_MAX) / 2) return false;
    region_ = VirtualMemory::try_reserve(options_.reserve);
    top_ = committed_ = region_.data();
    return static_cast<bool>(region_);
  }

  bool commit_to(std::byte* end) noexcept {
    const std::size_t from = static_cast<std::size_t>(committed_ - region_.data());
    std::size_t to = static_cast<std::size_t>(end - region_.data());
    const std::size_t step = options_.commit_step;  // at most 1 GiB, and to <= 2^62: no overflow
    const std::size_t rounded = (to + step - 1) / step * step;
    to = rounded > region_.size() ? region_.size() : rounded;
    if (!region_.try_commit(from, to - from)) return false;
    committed_ = region_.data() + to;
    return true;
  }

  VirtualMemory region_;
  Options options_;
  std::byte* top_ = nullptr;
  std::byte* committed_ = nullptr;
  std::size_t live_ = 0;
};

static_assert(RawAllocator<PageAllocator>);
static_assert(RawAllocator<VirtualMemoryAllocator>);

}  // namespace core::memory
