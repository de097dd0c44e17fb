#include <core/memory/allocator/arena.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/system/virtual_memory.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "support/misuse_capture.hpp"
#include "system/system_support.hpp"

namespace cm = core::memory;
namespace os = core::memory::detail::os;

namespace {

std::size_t resident_bytes(const void* p) {
  os::page_report r;
  EXPECT_EQ(os::query_pages(p, &r), 0);
  return r.resident;
}

}  // namespace

TEST(SystemQueries, PageAndHugePageSizesMatchTheSystem) {
  EXPECT_EQ(cm::page_size(), static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
  const bool thp = std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
  if (thp) EXPECT_TRUE(cm::is_power_of_two(cm::huge_page_size()) && cm::huge_page_size() > cm::page_size());
  else EXPECT_EQ(cm::huge_page_size(), 0u);
  // Every directory hugepages-<n>kB is one pool, reported in increasing order.
  std::size_t dirs = 0;
  if (std::filesystem::exists("/sys/kernel/mm/hugepages"))
    for (const auto& e : std::filesystem::directory_iterator("/sys/kernel/mm/hugepages")) {
      ++dirs;
      const std::string name = e.path().filename().string();
      const std::size_t kib = std::stoul(name.substr(10));
      bool found = false;
      for (const cm::HugePagePool& pool : cm::huge_page_pools()) found |= pool.page_size == kib * 1024;
      EXPECT_TRUE(found) << name;
    }
  const cm::HugePagePools pools = cm::huge_page_pools();
  EXPECT_EQ(pools.count, dirs);
  for (std::size_t i = 1; i < pools.count; ++i) EXPECT_LT(pools.pools[i - 1].page_size, pools.pools[i].page_size);
}

TEST(VirtualMemory, ReserveRoundsToPagesAndAligns) {
  const std::size_t page = cm::page_size();
  cm::VirtualMemory vm(3 * page + 1, std::size_t{1} << 21);
  ASSERT_TRUE(vm);
  EXPECT_EQ(vm.size(), 4 * page);
  EXPECT_TRUE(cm::is_aligned(vm.data(), std::size_t{1} << 21));
  EXPECT_TRUE(vm.contains(vm.data() + 4 * page - 1));
  EXPECT_FALSE(vm.contains(vm.data() + 4 * page));
  EXPECT_EQ(resident_bytes(vm.data()), 0u);  // reserved, nothing backed
}

TEST(VirtualMemory, CommitDecommitAndRecommit) {
  const std::size_t page = cm::page_size();
  cm::VirtualMemory vm(16 * page);
  vm.commit(page + 10, 2 * page);  // widened to pages 1..3
  std::byte* p = vm.data();
  std::memset(p + page, 0xab, 3 * page);
  EXPECT_EQ(resident_bytes(p + page), 3 * page);
  // Decommit takes only the pages wholly inside: [page + 1, 3 * page + 1) frees page 2 alone.
  vm.decommit(page + 1, 2 * page);
  EXPECT_EQ(static_cast<unsigned char>(p[page]), 0xab);
  EXPECT_EQ(static_cast<unsigned char>(p[3 * page]), 0xab);
  EXPECT_EQ(resident_bytes(p + 2 * page), 0u);
  vm.commit(2 * page, 1);
  EXPECT_EQ(p[2 * page], std::byte{0});  // recommitted pages read as zero
  EXPECT_EQ(static_cast<unsigned char>(p[page]), 0xab);  // committing again keeps contents
  vm.commit(page, page);
  EXPECT_EQ(static_cast<unsigned char>(p[page]), 0xab);
}

TEST(VirtualMemory, ProtectReadOnlyStillReads) {
  const std::size_t page = cm::page_size();
  cm::VirtualMemory vm(2 * page);
  vm.commit(0, 2 * page);
  vm.data()[0] = std::byte{7};
  vm.protect(0, 1, cm::PageAccess::read);
  EXPECT_EQ(test::touch(vm.data()), 7);
  vm.protect(0, page, cm::PageAccess::read_write);
  test::poke(vm.data(), 8);
  EXPECT_EQ(test::touch(vm.data()), 8);
}

TEST(VirtualMemory, MoveTransfersAndReleaseEmpties) {
  cm::VirtualMemory a(cm::page_size());
  std::byte* p = a.data();
  cm::VirtualMemory b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data(), p);
  cm::VirtualMemory c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  c.release();
  EXPECT_FALSE(c);
  EXPECT_EQ(c.size(), 0u);
  os::page_report r;
  EXPECT_EQ(os::query_pages(p, &r), ENOENT);  // the address space went back
}

TEST(VirtualMemory, ExhaustionIsOutOfMemory) {
  EXPECT_FALSE(cm::VirtualMemory::try_reserve(std::size_t{1} << 62));
  EXPECT_FALSE(cm::VirtualMemory::try_reserve(0));
  EXPECT_FALSE(cm::VirtualMemory::try_reserve(SIZE_MAX));
#if CORE_MEMORY_EXCEPTIONS
  try {
    cm::VirtualMemory vm(std::size_t{1} << 62);
    ADD_FAILURE();
  } catch (const cm::out_of_memory& e) {
    EXPECT_STREQ(e.allocator(), "core::memory::VirtualMemory");
    EXPECT_EQ(e.size(), std::size_t{1} << 62);
  }
#endif
}

// Every range operation checks its range against the reservation, whatever the check level.
TEST(VirtualMemory, RangesOutsideTheReservationAreMisuse) {
  const std::size_t page = cm::page_size();
  cm::VirtualMemory vm(2 * page);
  test::MisuseCapture capture;
  EXPECT_FALSE(vm.try_commit(page, 2 * page));
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size);
  EXPECT_EQ(capture.last().address, vm.data() + page);
  EXPECT_NE(capture.last().text.find("commit: range outside the reservation"), std::string::npos);
  EXPECT_FALSE(vm.try_commit(SIZE_MAX, 2));
  vm.decommit(1, SIZE_MAX);
  EXPECT_NE(capture.last().text.find("decommit: range outside"), std::string::npos);
  vm.protect(2 * page, 1, cm::PageAccess::read);
  EXPECT_NE(capture.last().text.find("protect: range outside"), std::string::npos);
  EXPECT_EQ(capture.count(), 4u);
  EXPECT_TRUE(vm.try_commit(0, 2 * page));  // still usable
  (void)cm::VirtualMemory::try_reserve(page, 3 * page);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
}

TEST(VirtualMemoryDeathTest, RangeMisuseReportsByDefault) {
  cm::VirtualMemory vm(cm::page_size());
  EXPECT_DEATH(vm.commit(0, 2 * cm::page_size()),
               "invalid size in core::memory::VirtualMemory at 0x[0-9a-f]+, size 8192: commit: range outside the "
               "reservation");
}

// A reserved page, a decommitted page and a guard page all fault on access: each is a death
// test checking the faulting address.
TEST(VirtualMemoryDeathTest, UncommittedDecommittedAndGuardPagesFault) {
  const std::size_t page = cm::page_size();
  cm::VirtualMemory vm(8 * page);
  vm.commit(0, 6 * page);
  std::byte* p = vm.data();
  std::memset(p, 1, 6 * page);
  EXPECT_DEATH((test::report_faults(p), test::touch(p + 7 * page)), test::fault_at(7 * page));
  vm.decommit(2 * page, page);
  EXPECT_DEATH((test::report_faults(p), test::touch(p + 2 * page + 5)), test::fault_at(2 * page + 5));
  vm.guard(4 * page, 1);
  EXPECT_DEATH((test::report_faults(p), test::touch(p + 4 * page)), test::fault_at(4 * page));
  vm.protect(5 * page, page, cm::PageAccess::read);
  EXPECT_DEATH((test::report_faults(p), test::poke(p + 5 * page + 1)), test::fault_at(5 * page + 1));
  EXPECT_EQ(test::touch(p + 3 * page), 1);  // the neighbours are intact
  EXPECT_EQ(test::touch(p + 5 * page), 1);
}

// ---- PageAllocator -------------------------------------------------------------------------

TEST(PageAllocator, PageAlignedZeroedBlocksAndOverAlignment) {
  cm::PageAllocator pages;
  for (std::size_t align : {std::size_t{1}, std::size_t{4096}, std::size_t{1} << 16, std::size_t{1} << 21}) {
    auto* p = static_cast<unsigned char*>(pages.allocate(10000, align));
    EXPECT_TRUE(cm::is_aligned(p, align > cm::page_size() ? align : cm::page_size()));
    EXPECT_EQ(p[9999], 0);
    p[12287] = 1;  // the rest of the last page is usable too
    pages.deallocate(p, 10000, align);
  }
  void* z = pages.allocate(0);
  pages.deallocate(z, 0);
  EXPECT_EQ(pages.try_allocate(std::size_t{1} << 62), nullptr);
  test::MisuseCapture capture;
  EXPECT_EQ(pages.try_allocate(16, 3), nullptr);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
}

// ---- VirtualMemoryAllocator: an upstream that grows in place -------------------------------

TEST(VirtualMemoryAllocator, ArenaGrowsInPlaceInsideOneReservation) {
  cm::VirtualMemoryAllocator region({.reserve = std::size_t{64} << 20, .commit_step = std::size_t{64} << 10});
  EXPECT_EQ(region.bytes_committed(), 0u);
  EXPECT_FALSE(region.region()) << "reserved at first use";
  {
    cm::BasicArena<cm::VirtualMemoryAllocator> arena(4096, region);
    std::vector<std::byte*> blocks;
    std::byte* highest = nullptr;
    (void)arena.allocate(1);
    for (int i = 0; i < 2000; ++i) {
      auto* p = static_cast<std::byte*>(arena.allocate(1000));
      std::memset(p, i & 0xff, 1000);
      EXPECT_TRUE(region.region().contains(p));
      if (p > highest) highest = p;
      blocks.push_back(p);
    }
    EXPECT_GT(arena.block_count(), 4u);
    // All of it is one contiguous run from the start: committed = what the blocks use, rounded.
    EXPECT_LE(static_cast<std::size_t>(highest - region.region().data()), region.bytes_committed());
    EXPECT_LT(region.bytes_committed() - (arena.bytes_allocated()), std::size_t{64} << 10) << "commit tracks use";
    for (std::size_t i = 0; i < blocks.size(); ++i) EXPECT_EQ(static_cast<unsigned>(blocks[i][999]), i & 0xff);
    arena.clear();
    EXPECT_EQ(region.bytes_allocated(), 0u);
    EXPECT_EQ(region.bytes_committed(), 0u);  // everything went back to the system
  }
  // The next user starts at the start again.
  cm::BasicArena<cm::VirtualMemoryAllocator> again(4096, region);
  EXPECT_LT(static_cast<std::byte*>(again.allocate(8)), region.region().data() + 64);
}

TEST(VirtualMemoryAllocator, MemoryPoolChunksComeFromTheReservation) {
  cm::VirtualMemoryAllocator region({.reserve = std::size_t{16} << 20});
  {
    cm::BasicMemoryPool<cm::VirtualMemoryAllocator> pool(region, 48, 16, 64);
    std::vector<void*> nodes;
    for (int i = 0; i < 5000; ++i) nodes.push_back(pool.allocate_node());
    for (void* n : nodes) EXPECT_TRUE(region.region().contains(n));
    for (void* n : nodes) pool.deallocate_node(n);
  }
  EXPECT_EQ(region.bytes_allocated(), 0u);
  EXPECT_EQ(region.bytes_committed(), 0u);
}

TEST(VirtualMemoryAllocator, NewestBlockFreedMovesTheTopBack) {
  cm::VirtualMemoryAllocator region({.reserve = 1 << 20, .retain = 1 << 16});
  void* a = region.allocate(100, 16);
  void* b = region.allocate(200, 64);
  EXPECT_TRUE(cm::is_aligned(b, 64));
  region.deallocate(b, 200, 64);
  void* c = region.allocate(200, 64);
  EXPECT_EQ(c, b);
  region.deallocate(a, 100, 16);  // not the newest: the top stays
  EXPECT_EQ(region.bytes_allocated(), 200u);
  EXPECT_TRUE(region.owns(c));
  region.deallocate(c, 200, 64);
  EXPECT_EQ(region.bytes_allocated(), 0u);
  EXPECT_EQ(region.bytes_committed(), std::size_t{1} << 16);  // retain
  EXPECT_EQ(region.allocate(1, 1), static_cast<void*>(region.region().data()));
}

TEST(VirtualMemoryAllocator, ExhaustionOfTheReservation) {
  cm::VirtualMemoryAllocator region({.reserve = 1 << 20});
  EXPECT_EQ(region.max_size(), std::size_t{1} << 20);
  EXPECT_EQ(region.try_allocate((1 << 20) + 1, 1), nullptr);
  void* all = region.try_allocate(1 << 20, 1);
  EXPECT_NE(all, nullptr);
  EXPECT_EQ(region.bytes_available(), 0u);
  EXPECT_EQ(region.try_allocate(1, 1), nullptr);
  region.deallocate(all, 1 << 20, 1);
  cm::BasicArena<cm::VirtualMemoryAllocator> arena(4096, region);
  EXPECT_EQ(arena.try_allocate(2 << 20), nullptr);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)arena.allocate(2 << 20), cm::out_of_memory);
  EXPECT_THROW((void)region.allocate(2 << 20, 1), cm::out_of_memory);
#endif
  EXPECT_NE(arena.allocate(1000), nullptr);  // still usable
}

TEST(VirtualMemoryAllocatorDeathTest, PastTheCommittedTopFaults) {
  cm::VirtualMemoryAllocator region({.reserve = 1 << 20, .commit_step = 4096});
  auto* p = static_cast<std::byte*>(region.allocate(4096, 4096));
  p[4095] = std::byte{1};
  EXPECT_DEATH((test::report_faults(p), test::touch(p + 4096)), test::fault_at(4096));
}

// Hardened builds reject frees that cannot be this allocator's live blocks, and stay intact.
TEST(VirtualMemoryAllocator, BadFreesAreReportedInHardenedBuilds) {
  if constexpr (!cm::checks::hardened) GTEST_SKIP() << "checks off";
  cm::VirtualMemoryAllocator region({.reserve = 1 << 20});
  void* a = region.allocate(100, 16);
  int outside = 0;
  test::MisuseCapture capture;
  region.deallocate(&outside, 4, 4);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  EXPECT_EQ(capture.last().address, &outside);
  region.deallocate(a, 200, 16);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size);
  EXPECT_NE(capture.last().text.find("more bytes than are live or below the top"), std::string::npos);
  region.deallocate(a, 100, 16);
  EXPECT_EQ(capture.count(), 2u);
  region.deallocate(a, 100, 16);  // a double free: nothing is live any more
  EXPECT_EQ(capture.count(), 3u);
  EXPECT_EQ(region.bytes_allocated(), 0u);
  EXPECT_EQ(region.allocate(8, 8), region.region().data());
}

// Construction parameters: 0 is misuse (the default is used), address space that cannot be had
// is exhaustion at first use.
TEST(VirtualMemoryAllocator, ParameterLimits) {
  {
    test::MisuseCapture capture;
    cm::VirtualMemoryAllocator zero({.reserve = 0});
    ASSERT_EQ(capture.count(), 1u);
    EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_size);
    EXPECT_NE(capture.last().text.find("reserve must not be 0"), std::string::npos);
    EXPECT_EQ(zero.max_size(), cm::VirtualMemoryAllocator::Options{}.reserve);
    EXPECT_NE(zero.allocate(10, 1), nullptr);
  }
  for (std::size_t reserve : {SIZE_MAX, std::size_t{1} << 62}) {
    cm::VirtualMemoryAllocator huge({.reserve = reserve, .commit_step = SIZE_MAX / 2});
    EXPECT_EQ(huge.try_allocate(1, 1), nullptr);
#if CORE_MEMORY_EXCEPTIONS
    EXPECT_THROW((void)huge.allocate(1, 1), cm::out_of_memory);
#endif
  }
  for (std::size_t step : {std::size_t{0}, std::size_t{1}, SIZE_MAX}) {  // a step beyond the reservation
    cm::VirtualMemoryAllocator one_page({.reserve = 1, .commit_step = step});
    EXPECT_EQ(one_page.max_size(), cm::page_size());
    std::memset(one_page.allocate(cm::page_size(), 1), 1, cm::page_size());
    EXPECT_EQ(one_page.bytes_committed(), cm::page_size());
  }
}
