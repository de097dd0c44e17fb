#include <core/memory/allocator/arena.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/system/huge_pages.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "support/misuse_capture.hpp"
#include "system/system_support.hpp"

namespace cm = core::memory;

namespace {

std::size_t sysfs_number(const std::string& path) {
  std::ifstream in(path);
  std::size_t n = 0;
  in >> n;
  return n;
}

/// Explicit pages of `page` bytes this process could get now: free ones plus overcommit.
std::size_t explicit_pages_available(std::size_t page) {
  const std::string dir = "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page / 1024) + "kB/";
  return sysfs_number(dir + "free_hugepages") + sysfs_number(dir + "nr_overcommit_hugepages");
}

/// Checks the backing the allocator claims against what the kernel reports for the block.
void expect_kernel_agrees(const cm::HugePageAllocator::Block& b, std::size_t huge_page) {
  std::memset(b.ptr, 1, b.size);  // fault every page in
  const cm::PageReport r = cm::page_report(b.ptr);
  EXPECT_LE(r.begin, reinterpret_cast<std::uintptr_t>(b.ptr));
  EXPECT_GE(r.end, reinterpret_cast<std::uintptr_t>(b.ptr) + b.size);
  switch (b.backing) {
    case cm::PageBacking::explicit_huge_pages:
      EXPECT_EQ(r.kernel_page_size, huge_page);
      EXPECT_EQ(r.hugetlb, b.size);
      break;
    case cm::PageBacking::transparent_huge_pages:
      EXPECT_EQ(r.kernel_page_size, cm::page_size());
      EXPECT_TRUE(r.huge_page_advised);
      EXPECT_EQ(r.hugetlb, 0u);
      // Whether the kernel found huge pages depends on the machine (THP mode, fragmentation).
      EXPECT_LE(r.anon_huge_pages, b.size);
      std::printf("transparent: %zu of %zu bytes on huge pages\n", r.anon_huge_pages, b.size);
      break;
    case cm::PageBacking::base_pages:
      EXPECT_EQ(r.kernel_page_size, cm::page_size());
      EXPECT_EQ(r.anon_huge_pages, 0u);
      break;
  }
}

}  // namespace

TEST(HugePageAllocator, TakesThePathTheKernelReports) {
  cm::HugePageAllocator huge;
  const std::size_t page = huge.page_size();
  ASSERT_EQ(page, cm::huge_page_size() != 0 ? cm::huge_page_size() : cm::page_size());
  const cm::HugePageAllocator::Block b = huge.allocate_block(3 * page - 100);
  ASSERT_NE(b.ptr, nullptr);
  EXPECT_EQ(b.size, 3 * page);
  EXPECT_TRUE(cm::is_aligned(b.ptr, page));
  // The path follows from the machine's configuration.
  const bool can_explicit = cm::huge_page_size() != 0 && explicit_pages_available(page) >= 3;
  const bool none_explicit = explicit_pages_available(page) == 0;
  if (can_explicit) {
    EXPECT_EQ(b.backing, cm::PageBacking::explicit_huge_pages);
  }
  if (none_explicit) {
    EXPECT_EQ(b.backing, cm::huge_page_size() ? cm::PageBacking::transparent_huge_pages : cm::PageBacking::base_pages);
  }
  std::printf("backing: %s\n", cm::to_string(b.backing));
  expect_kernel_agrees(b, page);
  EXPECT_EQ(huge.explicit_blocks() + huge.transparent_blocks() + huge.base_blocks(), 1u);
  huge.deallocate(b.ptr, 3 * page - 100);
}

TEST(HugePageAllocator, EveryPolicyOnEveryPageSize) {
  std::vector<std::size_t> sizes = {0};
  for (const cm::HugePagePool& pool : cm::huge_page_pools()) sizes.push_back(pool.page_size);
  for (std::size_t size : sizes) {
    for (auto policy : {cm::HugePagePolicy::explicit_or_transparent, cm::HugePagePolicy::explicit_only,
                        cm::HugePagePolicy::transparent_only}) {
      cm::HugePageAllocator huge({.page_size = size, .policy = policy});
      // 1 GiB pages: ask for one page's worth only when it can be explicit (no 1 GiB touch).
      const bool gib = huge.page_size() >= (std::size_t{1} << 30);
      const cm::HugePageAllocator::Block b = huge.try_allocate_block(100);
      if (policy == cm::HugePagePolicy::explicit_only && explicit_pages_available(huge.page_size()) == 0) {
        EXPECT_EQ(b.ptr, nullptr);
#if CORE_MEMORY_EXCEPTIONS
        EXPECT_THROW((void)huge.allocate_block(100), cm::out_of_memory);
#endif
        continue;
      }
      ASSERT_NE(b.ptr, nullptr) << size;
      EXPECT_EQ(b.size, huge.page_size());
      if (policy == cm::HugePagePolicy::transparent_only) {
        EXPECT_NE(b.backing, cm::PageBacking::explicit_huge_pages);
      }
      if (!gib || b.backing == cm::PageBacking::explicit_huge_pages) expect_kernel_agrees(b, huge.page_size());
      huge.deallocate(b.ptr, b.size);
    }
  }
}

TEST(HugePageAllocator, UpstreamOfArenaAndPool) {
  cm::HugePageAllocator huge;
  {
    cm::BasicArena<cm::HugePageAllocator> arena(huge.page_size() - 64, huge);
    for (int i = 0; i < 1000; ++i) std::memset(arena.allocate(3000), i & 0xff, 3000);
    EXPECT_GE(huge.explicit_blocks() + huge.transparent_blocks() + huge.base_blocks(), 2u);
  }
  cm::BasicMemoryPool<cm::HugePageAllocator> pool(huge, 64, 64, 1 << 14);
  void* n = pool.allocate_node();
  EXPECT_TRUE(cm::is_aligned(n, 64));
  pool.deallocate_node(n);
  const cm::allocation_result r = huge.allocate_at_least(10);
  EXPECT_EQ(r.size, huge.page_size());
  static_cast<char*>(r.ptr)[r.size - 1] = 1;
  huge.deallocate(r.ptr, r.size);
  EXPECT_EQ(huge.try_allocate(10, huge.page_size() * 2), nullptr);  // beyond a huge page's alignment
  EXPECT_EQ(huge.try_allocate(std::size_t{1} << 62), nullptr);
}

TEST(HugePageAllocator, UnknownPageSizeAndBadAlignmentAreReported) {
  test::MisuseCapture capture;
  cm::HugePageAllocator huge({.page_size = 12345});
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size);
  EXPECT_NE(capture.last().text.find("page size is not a huge page size of this system"), std::string::npos);
  EXPECT_EQ(huge.page_size(), cm::huge_page_size() != 0 ? cm::huge_page_size() : cm::page_size());
  EXPECT_EQ(huge.try_allocate(8, 3), nullptr);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
}

TEST(PageReport, UnmappedAddressIsAnError) {
  EXPECT_SYSTEM_ERROR((void)cm::page_report(nullptr), ENOENT,
                      "core::memory::page_report: query '/proc/self/smaps' (null address)");
}
