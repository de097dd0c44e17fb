#pragma once
/// Huge pages: HugePageAllocator hands out blocks on explicit huge pages (MAP_HUGETLB, from the
/// pools the administrator reserved: 2 MiB, 1 GiB) or, when none are free, on memory advised
/// for transparent huge pages (madvise(MADV_HUGEPAGE)); page_report() says what the kernel
/// really gave (from /proc/self/smaps), so a caller can check instead of hoping.
///
/// Fewer, larger pages mean fewer TLB misses on large random-access working sets. The cost:
/// every block is a whole number of huge pages (a 2 MiB minimum), and explicit pages are a
/// fixed pool shared by the whole machine.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/system/error.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/system/virtual_memory.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/error.hpp>

#include <cerrno>
#include <cstddef>

namespace core::memory {

/// What backs a block.
enum class PageBacking : unsigned char {
  base_pages,              ///< Ordinary pages (the system has no transparent huge pages).
  transparent_huge_pages,  ///< Advised for THP: the kernel uses huge pages where it can.
  explicit_huge_pages,     ///< Reserved huge pages (MAP_HUGETLB): guaranteed, never split.
};

[[nodiscard]] constexpr const char* to_string(PageBacking b) noexcept {
  return b == PageBacking::explicit_huge_pages      ? "explicit huge pages"
         : b == PageBacking::transparent_huge_pages ? "transparent huge pages"
                                                    : "base pages";
}

/// What the kernel reports for the mapping (VMA) holding an address.
using PageReport = detail::os::page_report;

/// The kernel's report (/proc/self/smaps) on the mapping holding `p`: page size, resident bytes,
/// bytes on transparent huge pages (anon_huge_pages) and on explicit ones (hugetlb). O(mappings
/// of the process): for tests and diagnostics, not hot paths. Throws std::system_error (ENOENT
/// if nothing is mapped at `p`).
[[nodiscard]] inline PageReport page_report(const void* p) {
  PageReport r;
  if (const int e = detail::os::query_pages(p, &r); e != 0)
    detail::throw_system_error(e, "core::memory::page_report", "query", "/proc/self/smaps",
                               p ? "(no mapping holds the address)" : "(null address)");
  return r;
}

/// Which pages HugePageAllocator tries.
enum class HugePagePolicy : unsigned char {
  explicit_or_transparent,  ///< Explicit huge pages if the pool has them, else transparent.
  explicit_only,            ///< Explicit huge pages or nothing (exhaustion).
  transparent_only,         ///< Transparent huge pages only.
};

struct HugePageOptions {
  /// Huge page size: 0 for the default (huge_page_size(), 2 MiB on x86-64), or one of
  /// huge_page_pools() (1 GiB for explicit pages; transparent pages are then 2 MiB ones).
  std::size_t page_size = 0;
  HugePagePolicy policy = HugePagePolicy::explicit_or_transparent;
};

/// A RawAllocator of huge-page-backed blocks, one mapping each: the upstream of an Arena or a
/// pool whose blocks are large (a block is rounded up to whole huge pages and aligned to one).
/// Blocks are zeroed. Exhaustion (no explicit pages under explicit_only, or the system refuses)
/// is out_of_memory / null. Not thread-safe (it counts what it did); held by reference.
class HugePageAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::HugePageAllocator";

  /// A block and what backs it.
  struct Block {
    void* ptr;
    std::size_t size;  ///< Bytes mapped: the request rounded up to whole huge pages.
    PageBacking backing;
  };

  /// A page size that is neither the transparent one nor an explicit pool's is reported
  /// (invalid_size); the default is used if the handler returns.
  explicit HugePageAllocator(HugePageOptions options = {}) : policy_(options.policy) {
    const std::size_t thp = huge_page_size();
    const std::size_t base = detail::os::page_size();
    page_size_ = options.page_size != 0 ? options.page_size : (thp != 0 ? thp : base);
    bool known = page_size_ == thp || page_size_ == base;
    for (const HugePagePool& pool : huge_page_pools()) known |= pool.page_size == page_size_;
    if (!known) [[unlikely]] {
      report_misuse({error_kind::invalid_size, allocator_name, nullptr, options.page_size, 0,
                     "page size is not a huge page size of this system", nullptr, 0});
      page_size_ = thp != 0 ? thp : base;
    }
  }

  HugePageAllocator(const HugePageAllocator&) = delete;
  HugePageAllocator& operator=(const HugePageAllocator&) = delete;

  /// A block of at least `size` bytes, with what backs it; ptr null on exhaustion.
  [[nodiscard]] Block try_allocate_block(std::size_t size) noexcept {
    if (size > max_size()) return {nullptr, 0, PageBacking::base_pages};
    const std::size_t bytes = align_up(size != 0 ? size : 1, page_size_);
    void* p = nullptr;
    if (policy_ != HugePagePolicy::transparent_only && detail::os::map_huge(bytes, page_size_, &p) == 0) {
      ++explicit_blocks_;
      return {p, bytes, PageBacking::explicit_huge_pages};
    }
    if (policy_ == HugePagePolicy::explicit_only) return {nullptr, 0, PageBacking::base_pages};
    if (detail::os::reserve(bytes, page_size_, &p) != 0) return {nullptr, 0, PageBacking::base_pages};
    if (detail::os::commit(p, bytes) != 0) {
      (void)detail::os::release(p, bytes);
      return {nullptr, 0, PageBacking::base_pages};
    }
    const bool thp = huge_page_size() != 0 && detail::os::advise(p, bytes, detail::os::advice::huge_page) == 0;
    ++(thp ? transparent_blocks_ : base_blocks_);
    return {p, bytes, thp ? PageBacking::transparent_huge_pages : PageBacking::base_pages};
  }

  /// As try_allocate_block; throws out_of_memory.
  [[nodiscard]] Block allocate_block(std::size_t size) {
    const Block b = try_allocate_block(size);
    if (!b.ptr) throw_out_of_memory(allocator_name, size, page_size_);
    return b;
  }

  [[nodiscard]] void* allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    return detail::allocate_or_throw(*this, size, align);
  }

  /// `size` bytes aligned to `align` (at most page_size()); null on exhaustion.
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t align = alignof(std::max_align_t)) noexcept {
    if (!is_valid_alignment(align)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, align);
      return nullptr;
    }
    return align <= page_size_ ? try_allocate_block(size).ptr : nullptr;
  }

  /// Returns a block (any of its sizes from the one asked for to the one reported).
  void deallocate(void* p, std::size_t size, std::size_t /*align*/ = alignof(std::max_align_t)) noexcept {
    (void)detail::os::release(p, align_up(size != 0 ? size : 1, page_size_));
  }

  /// Usable size is the request rounded up to whole huge pages.
  [[nodiscard]] allocation_result allocate_at_least(std::size_t size, std::size_t align = alignof(std::max_align_t)) {
    void* p = allocate(size, align);
    return {p, align_up(size != 0 ? size : 1, page_size_)};
  }

  /// The huge page size blocks are made of (and aligned to).
  [[nodiscard]] std::size_t page_size() const noexcept { return page_size_; }
  [[nodiscard]] HugePagePolicy policy() const noexcept { return policy_; }
  [[nodiscard]] std::size_t max_size() const noexcept {
    return static_cast<std::size_t>(PTRDIFF_MAX) / 2;
  }
  /// Blocks handed out so far on each kind of page.
  [[nodiscard]] std::size_t explicit_blocks() const noexcept { return explicit_blocks_; }
  [[nodiscard]] std::size_t transparent_blocks() const noexcept { return transparent_blocks_; }
  [[nodiscard]] std::size_t base_blocks() const noexcept { return base_blocks_; }

 private:
  std::size_t page_size_ = 0;
  HugePagePolicy policy_;
  std::size_t explicit_blocks_ = 0, transparent_blocks_ = 0, base_blocks_ = 0;
};

static_assert(RawAllocator<HugePageAllocator>);

}  // namespace core::memory
