// TrackingAllocator over every kind of strategy (heap, arena, pool, fixed stack): it still
// conforms as a RawAllocator, its figures are exact and balance to zero, its blocks are recorded
// under its name at the caller's site, the registry lists it while it lives; and the memory budget
// helpers (misuse handler and GoogleTest forms).
#include <core/memory/allocator/arena.hpp>
#include <core/memory/allocator/freelist_allocator.hpp>
#include <core/memory/allocator/stack_allocator.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/std_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/tracking/gtest_budget.hpp>
#include <core/memory/tracking/memory_budget.hpp>
#include <core/memory/tracking/tracking_allocator.hpp>

#include "support/allocator_conformance.hpp"
#include "support/misuse_capture.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace cm = core::memory;

namespace {

static_assert(cm::RawAllocator<cm::TrackingAllocator<cm::MallocAllocator>>);
static_assert(cm::allocator_traits<cm::TrackingAllocator<cm::MallocAllocator>>::is_thread_safe);
static_assert(!cm::allocator_traits<cm::TrackingAllocator<cm::Arena>>::is_thread_safe);
static_assert(cm::allocator_traits<cm::TrackingAllocator<cm::FreeListAllocator>>::is_fixed_capacity);
static_assert(!cm::allocator_traits<cm::TrackingAllocator<cm::Arena>>::stored_by_value);

/// Everything balanced: nothing in use, nothing recorded, counts agree with the tracker's.
template <class A>
void expect_balanced(const cm::TrackingAllocator<A>& a, const cm::MemoryTracker& t) {
  const cm::memory_stats s = a.stats();
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.live_count, 0u);
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_TRUE(t.find_leaks().empty());
  EXPECT_EQ(s.allocation_count, t.allocation_count());
  EXPECT_EQ(t.unmatched_frees(), 0u);
  EXPECT_GT(s.peak_bytes, 0u);
  EXPECT_EQ(s.peak_bytes, t.peak_usage());
}

TEST(TrackingAllocator, ConformsOverTheHeap) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "heap", .tracker = &t});
  test::random_model(a, 3000, 512, 64, 1);
  test::std_containers(a);
  expect_balanced(a, t);
}

TEST(TrackingAllocator, ConformsOverAPool) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::MemoryPool> a({.name = "pool", .tracker = &t}, 64);
  test::random_model(a, 3000, 64, 16, 2);
  expect_balanced(a, t);
  ASSERT_TRUE(a.stats().fragmentation.has_value());
  ASSERT_TRUE(a.stats().upstream_bytes.has_value());
  EXPECT_GT(*a.stats().upstream_bytes, 0u);
}

TEST(TrackingAllocator, ConformsOverAnArena) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::Arena> a({.name = "frame arena", .tracker = &t}, 4096);
  test::random_model(a, 2000, 300, 32, 3);
  test::std_containers(a);
  expect_balanced(a, t);
  EXPECT_GT(a.stats().upstream_bytes.value_or(0), 0u);  // the arena keeps its blocks
}

TEST(TrackingAllocator, ExhaustionOfAFixedRegionIsNotRecorded) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::FreeListAllocator> a({.name = "free list", .tracker = &t}, 4096);
  test::exhaustion_and_recovery(a, 64, 8);
  expect_balanced(a, t);
  EXPECT_EQ(a.try_allocate(1 << 20, 8), nullptr);
  EXPECT_EQ(a.stats().allocation_count, t.allocation_count());
}

TEST(TrackingAllocator, RecordsUnderItsNameAtTheCallersSite) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "message pool", .tracker = &t});
  const unsigned line = __LINE__ + 1;
  void* p = a.allocate(100, 16);
  const auto leaks = t.find_leaks();
  ASSERT_EQ(leaks.size(), 1u);
  EXPECT_EQ(leaks[0].address, p);
  EXPECT_EQ(leaks[0].size, 100u);
  EXPECT_EQ(leaks[0].alignment, 16u);
  EXPECT_STREQ(leaks[0].allocator, "message pool");
  EXPECT_EQ(leaks[0].location.line, line);
  EXPECT_NE(std::string(leaks[0].location.file).find("tracking_allocator_test.cpp"), std::string::npos);
  const cm::memory_stats s = a.stats();
  EXPECT_STREQ(s.name, "message pool");
  EXPECT_EQ(s.bytes_in_use, 100u);
  EXPECT_EQ(s.live_count, 1u);
  EXPECT_EQ(s.tracker, &t);
  EXPECT_EQ(a.bytes_allocated(), 100u);
  a.deallocate(p, 100, 16);
  EXPECT_EQ(a.bytes_allocated(), 0u);
  EXPECT_EQ(a.stats().peak_bytes, 100u);
}

// Defect (review): a block allocated through allocator_traits (generic code, allocate_many,
// composites) was recorded at allocator_traits.hpp, every one at the same site; the traits pass
// their caller's site on to an allocator that takes one. Containers still allocate from their
// adapter (StdAllocator): stacks show the frames above it.
TEST(TrackingAllocator, AllocationsThroughTheTraitsAreRecordedAtTheirCaller) {
  using A = cm::TrackingAllocator<cm::MallocAllocator>;
  using traits = cm::allocator_traits<A>;
  static_assert(traits::takes_location);
  cm::MemoryTracker t;
  A a({.name = "through traits", .tracker = &t});
  const unsigned line = __LINE__ + 1;
  void* p = traits::allocate(a, 32, 8);
  void* q = traits::try_allocate(a, 48, 8);
  const cm::allocation_result r = traits::allocate_at_least(a, 64, 8);
  for (const cm::AllocationInfo& info : t.find_leaks()) {
    EXPECT_NE(std::string(info.location.file).find("tracking_allocator_test.cpp"), std::string::npos)
        << info.location.file << ":" << info.location.line;
    EXPECT_GE(info.location.line, line);
    EXPECT_LE(info.location.line, line + 2);
  }
  EXPECT_EQ(t.find_leaks().size(), 3u);
  traits::deallocate(a, p, 32, 8);
  traits::deallocate(a, q, 48, 8);
  traits::deallocate(a, r.ptr, 64, 8);
  {
    std::vector<int, cm::StdAllocator<int, A>> v{cm::StdAllocator<int, A>(a)};
    v.resize(10);
    ASSERT_EQ(t.find_leaks().size(), 1u);
    EXPECT_EQ(std::string(t.find_leaks()[0].location.file).find("allocator_traits.hpp"), std::string::npos)
        << t.find_leaks()[0].location.file;
  }
}

// Defect (review): the options' default tracker was the global one, taken when the options were
// written: writing options made the global tracker, and configuring it afterwards failed.
TEST(TrackingAllocator, OptionsDoNotMakeTheGlobalTracker) {
  const cm::TrackingAllocatorOptions unset;
  EXPECT_FALSE(unset.tracker.has_value());
  const cm::TrackingAllocatorOptions none{.name = "none", .tracker = nullptr};
  ASSERT_TRUE(none.tracker.has_value());
  EXPECT_EQ(*none.tracker, nullptr);
  cm::TrackingAllocator<cm::MallocAllocator> global({.name = "global"});
  EXPECT_EQ(global.stats().tracker, &cm::MemoryTracker::instance());
}

TEST(TrackingAllocator, WithoutATrackerKeepsItsFiguresOnly) {
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "untracked", .tracker = nullptr});
  const std::size_t global = cm::MemoryTracker::instance().allocation_count();
  void* p = a.allocate(10, 8);
  EXPECT_EQ(a.stats().bytes_in_use, 10u);
  EXPECT_EQ(cm::MemoryTracker::instance().allocation_count(), global);
  a.deallocate(p, 10, 8);
}

TEST(TrackingAllocator, ForwardsOwnsAndMaxSize) {
  cm::TrackingAllocator<cm::StackAllocator> a({.name = "stack", .tracker = nullptr}, 1024);
  void* p = a.allocate(16, 8);
  EXPECT_TRUE(a.owns(p));
  int outside = 0;
  EXPECT_FALSE(a.owns(&outside));
  EXPECT_EQ(a.max_size(), a.upstream().max_size());
  a.deallocate(p, 16, 8);
}

bool listed(const char* name) {
  const auto all = cm::live_allocator_stats();
  return std::any_of(all.begin(), all.end(), [&](const cm::memory_stats& s) { return std::string(s.name) == name; });
}

TEST(TrackingAllocator, RegistryListsLiveAllocatorsOnly) {
  EXPECT_FALSE(listed("entity vector"));
  {
    cm::TrackingAllocator<cm::MallocAllocator> a({.name = "entity vector", .tracker = nullptr});
    cm::TrackingAllocator<cm::Arena> b({.name = "frame arena 2", .tracker = nullptr});
    void* p = a.allocate(32, 8);
    EXPECT_TRUE(listed("entity vector"));
    EXPECT_TRUE(listed("frame arena 2"));
    for (const auto& s : cm::live_allocator_stats()) {
      if (std::string(s.name) == "entity vector") {
        EXPECT_EQ(s.bytes_in_use, 32u);
      }
    }
    a.deallocate(p, 32, 8);
  }
  EXPECT_FALSE(listed("entity vector"));
  EXPECT_FALSE(listed("frame arena 2"));
}

// ---- Budgets ------------------------------------------------------------------------------------

TEST(MemoryBudget, WithinBudgetPasses) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "a", .tracker = &t});
  test::MisuseCapture capture;
  {
    cm::ScopedMemoryBudget budget({.bytes = 100, .allocations = 2}, t);
    void* p = a.allocate(60, 8);
    void* q = a.allocate(40, 8);
    a.deallocate(p, 60, 8);
    a.deallocate(q, 40, 8);
    EXPECT_TRUE(budget.check());
  }
  EXPECT_EQ(capture.count(), 0u);
}

TEST(MemoryBudget, OverBytesOrCountReportsOnceThroughTheHandler) {
  cm::MemoryTracker t({.name = "budgeted"});
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "a", .tracker = &t});
  for (const auto budget : {cm::MemoryBudget{.bytes = 100}, cm::MemoryBudget{.allocations = 2}}) {
    test::MisuseCapture capture;
    unsigned line = 0;
    {
      line = __LINE__ + 1;
      cm::ScopedMemoryBudget scope(budget, t);
      for (int i = 0; i < 3; ++i) a.deallocate(a.allocate(40, 8), 40, 8);  // 120 bytes, 3 allocations
      EXPECT_FALSE(scope.check());
      EXPECT_EQ(scope.usage().bytes, 120u);
      EXPECT_EQ(scope.usage().allocations, 3u);
    }
    ASSERT_EQ(capture.count(), 1u);  // not again at the end of the scope
    EXPECT_EQ(capture.last().kind, cm::error_kind::assertion);
    EXPECT_NE(capture.last().text.find("memory budget exceeded: 120 bytes in 3 allocations"), std::string::npos)
        << capture.last().text;
    EXPECT_NE(capture.last().text.find("tracking_allocator_test.cpp:" + std::to_string(line)), std::string::npos)
        << capture.last().text;
  }
}

void exceed_in_gtest(cm::MemoryTracker& t, cm::TrackingAllocator<cm::MallocAllocator>& a) {
  CORE_MEMORY_EXPECT_BUDGET(budget, t, .bytes = 10, .allocations = 5);
  a.deallocate(a.allocate(64, 8), 64, 8);
}

TEST(MemoryBudget, GoogleTestFormFailsTheTest) {
  cm::MemoryTracker t;
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "a", .tracker = &t});
  EXPECT_NONFATAL_FAILURE(exceed_in_gtest(t, a), "memory budget exceeded: 64 bytes in 1 allocations");
}

}  // namespace

namespace {
// A limit not set is no limit: the message says "any" (it printed 18446744073709551615).
TEST(MemoryBudgetMessage, ALimitNotSetReadsAny) {
  cm::budget_report r;
  r.bytes = 10;
  r.allocations = 2;
  r.budget = {.allocations = 1};
  char text[256];
  cm::format_budget_report(r, text, sizeof text);
  EXPECT_NE(std::string(text).find("budget any bytes / 1 allocations"), std::string::npos) << text;
  r.budget = {.bytes = 8};
  cm::format_budget_report(r, text, sizeof text);
  EXPECT_NE(std::string(text).find("budget 8 bytes / any allocations"), std::string::npos) << text;
}
}  // namespace
