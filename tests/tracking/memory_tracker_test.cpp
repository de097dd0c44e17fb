// MemoryTracker: leaks found exactly with their call sites, usage/peak/counts exact, sites,
// stacks, instance trackers, scoped tracking and leak reporting through the misuse handler.
#include <core/memory/tracking/memory_budget.hpp>
#include <core/memory/tracking/memory_tracker.hpp>

#include "support/misuse_capture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>

namespace cm = core::memory;

// Stack helpers with external linkage: the test binary exports them (-rdynamic) so dladdr can name
// them in symbolised stacks (functions in an anonymous namespace are not in the dynamic table).
namespace tracker_test {

CORE_MEMORY_NOINLINE void allocate_with_stack(cm::MemoryTracker& t, void* p) {
  t.record_allocation(p, 16, "stacked");
  asm volatile("" ::: "memory");  // not a tail call
}

CORE_MEMORY_NOINLINE void path_a(cm::MemoryTracker& t, void* p) {
  allocate_with_stack(t, p);
  asm volatile("" ::: "memory");
}
CORE_MEMORY_NOINLINE void path_b(cm::MemoryTracker& t, void* p) {
  allocate_with_stack(t, p);
  asm volatile("" ::: "memory");
}

}  // namespace tracker_test

namespace {

std::string file_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

TEST(MemoryTracker, FindsExactlyTheLeakedBlocksWithTheirCallSites) {
  cm::MemoryTracker t;
  alignas(16) static char blocks[4][64];
  t.record_allocation(blocks[0], 10, "A");
  const unsigned line_b = __LINE__ + 1;
  t.record_allocation(blocks[1], 20, "B");
  t.record_allocation(blocks[2], 30, "C");
  const unsigned line_d = __LINE__ + 1;
  t.record_allocation(blocks[3], 40);
  t.record_deallocation(blocks[0]);
  t.record_deallocation(blocks[2]);

  const auto leaks = t.find_leaks();
  ASSERT_EQ(leaks.size(), 2u);
  std::set<const void*> addresses;
  for (const auto& l : leaks) addresses.insert(l.address);
  EXPECT_EQ(addresses, (std::set<const void*>{blocks[1], blocks[3]}));
  for (const auto& l : leaks) {
    EXPECT_EQ(file_name(l.location.file), "memory_tracker_test.cpp");
    EXPECT_NE(std::string(l.location.function).find("TestBody"), std::string::npos) << l.location.function;
    if (l.address == blocks[1]) {
      EXPECT_EQ(l.location.line, line_b);
      EXPECT_EQ(l.size, 20u);
      EXPECT_STREQ(l.type_name, "B");
    } else {
      EXPECT_EQ(l.location.line, line_d);
      EXPECT_EQ(l.size, 40u);
      EXPECT_STREQ(l.type_name, "");
    }
    EXPECT_EQ(l.weight, 1.0);
    EXPECT_FALSE(l.stack_trace.has_value());
  }
  EXPECT_EQ(t.current_usage(), 60u);
  EXPECT_EQ(t.live_count(), 2u);
}

void record_from_named_function(cm::MemoryTracker& t, void* p) { t.record_allocation(p, 1); }

// g++ gives the whole signature (std::source_location), clang 14 the bare name (__builtin_FUNCTION).
TEST(MemoryTracker, CallSiteNamesTheFunction) {
  cm::MemoryTracker t;
  int x = 0;
  record_from_named_function(t, &x);
  ASSERT_EQ(t.find_leaks().size(), 1u);
  EXPECT_NE(std::string(t.find_leaks()[0].location.function).find("record_from_named_function"), std::string::npos)
      << t.find_leaks()[0].location.function;
}

TEST(MemoryTracker, UsagePeakAndCountsAreExact) {
  cm::MemoryTracker t;
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_EQ(t.peak_usage(), 0u);
  std::vector<void*> blocks;
  std::size_t expected_peak = 0, now = 0, total = 0;
  // A saw-tooth: grow by k blocks, free half of them; the peak is at a known point.
  for (std::size_t round = 1; round <= 20; ++round) {
    for (std::size_t k = 0; k < round; ++k) {
      const std::size_t size = 8 * (k + 1);
      void* p = std::malloc(size);
      t.record_allocation(p, size, 8, "int", "malloc", cm::SourceLocation::current());
      blocks.push_back(p);
      now += size;
      total += size;
      expected_peak = std::max(expected_peak, now);
    }
    for (std::size_t k = 0; k < round / 2; ++k) {
      void* p = blocks.back();
      blocks.pop_back();
      const auto leaks = t.find_leaks();
      const auto it = std::find_if(leaks.begin(), leaks.end(), [&](const auto& a) { return a.address == p; });
      ASSERT_NE(it, leaks.end());
      now -= it->size;
      t.record_deallocation(p);
      std::free(p);
    }
    ASSERT_EQ(t.current_usage(), now);
    ASSERT_EQ(t.peak_usage(), expected_peak);
    ASSERT_EQ(t.live_count(), blocks.size());
  }
  EXPECT_EQ(t.allocation_count(), 210u);
  EXPECT_EQ(t.total_allocated(), total);
  EXPECT_EQ(t.unmatched_frees(), 0u);
  for (void* p : blocks) {
    t.record_deallocation(p);
    std::free(p);
  }
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_EQ(t.peak_usage(), expected_peak);
  EXPECT_TRUE(t.find_leaks().empty());
}

TEST(MemoryTracker, UnknownAndRepeatedFreesAreCountedNotApplied) {
  cm::MemoryTracker t;
  int a = 0, b = 0;
  t.record_allocation(&a, 4);
  t.record_deallocation(&b);  // never recorded
  t.record_deallocation(&a);
  t.record_deallocation(&a);  // twice
  t.record_deallocation(nullptr);
  t.record_allocation(nullptr, 100);  // ignored
  EXPECT_EQ(t.unmatched_frees(), 2u);
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_EQ(t.allocation_count(), 1u);
}

TEST(MemoryTracker, ABlockRecordedAgainReplacesItsOldRecord) {
  cm::MemoryTracker t;
  int a = 0;
  t.record_allocation(&a, 100);
  t.record_allocation(&a, 4);  // the first block was freed behind the tracker's back
  EXPECT_EQ(t.current_usage(), 4u);
  EXPECT_EQ(t.live_count(), 1u);
  ASSERT_EQ(t.find_leaks().size(), 1u);
  EXPECT_EQ(t.find_leaks()[0].size, 4u);
}

// A reallocation takes the record out before the call (the freed address may be recorded by
// another thread at once) and, if the call fails, puts it back as it was: same size, site and
// stack, counted once. (The process-wide tracker re-recorded it as a new block of realloc's.)
TEST(MemoryTracker, AWithdrawnRecordIsRestoredAsItWas) {
  cm::MemoryTracker t({.stack_depth = 8});
  int a = 0, b = 0;
  const int line = __LINE__ + 1;
  t.record_allocation(&a, 100, "original");
  const auto before = t.find_leaks();
  ASSERT_EQ(before.size(), 1u);
  const cm::MemoryTracker::Withdrawn w = t.withdraw(&a);
  EXPECT_EQ(w.ptr, &a);
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_TRUE(t.find_leaks().empty());
  EXPECT_EQ(t.withdraw(&b).ptr, nullptr) << "not recorded";
  t.restore(w);
  t.restore({});  // nothing withdrawn: nothing happens
  const auto after = t.find_leaks();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].size, 100u);
  EXPECT_STREQ(after[0].type_name, "original");
  EXPECT_EQ(after[0].location.line, static_cast<std::uint_least32_t>(line));
  ASSERT_TRUE(after[0].stack_trace && before[0].stack_trace);
  ASSERT_EQ(after[0].stack_trace->depth, before[0].stack_trace->depth);
  EXPECT_GT(after[0].stack_trace->depth, 0u);
  for (std::uint32_t i = 0; i < after[0].stack_trace->depth; ++i)
    EXPECT_EQ(after[0].stack_trace->frames[i], before[0].stack_trace->frames[i]) << i;
  EXPECT_EQ(after[0].timestamp, before[0].timestamp);
  EXPECT_EQ(t.current_usage(), 100u);
  EXPECT_EQ(t.peak_usage(), 100u);
  EXPECT_EQ(t.allocation_count(), 1u) << "not a new allocation";
  EXPECT_EQ(t.live_count(), 1u);
  t.record_deallocation(&a);
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_EQ(t.unmatched_frees(), 1u) << "the withdrawal of &b";
  // Sampled: a block never sampled has nothing to withdraw.
  cm::MemoryTracker sampled({.mode = cm::tracking_mode::sampled, .sample_interval = std::size_t{1} << 30});
  sampled.record_allocation(&a, 8);
  EXPECT_EQ(sampled.withdraw(&a).ptr, nullptr);
}

TEST(MemoryTracker, InstanceTrackersAreIndependentOfEachOtherAndOfTheGlobalOne) {
  cm::MemoryTracker a({.name = "a"}), b({.name = "b"});
  const std::size_t global_before = cm::MemoryTracker::instance().current_usage();
  int x = 0;
  a.record_allocation(&x, 10);
  b.record_allocation(&x, 20);
  EXPECT_EQ(a.current_usage(), 10u);
  EXPECT_EQ(b.current_usage(), 20u);
  EXPECT_EQ(cm::MemoryTracker::instance().current_usage(), global_before);
  a.record_deallocation(&x);
  EXPECT_EQ(a.current_usage(), 0u);
  EXPECT_EQ(b.current_usage(), 20u);
  EXPECT_STREQ(a.name(), "a");
}

TEST(MemoryTracker, SitesAggregateLiveAndTotalFiguresPerCallSite) {
  cm::MemoryTracker t;
  static char blocks[10][8];
  unsigned line_loop = 0;
  for (int i = 0; i < 10; ++i) {
    line_loop = __LINE__ + 1;
    t.record_allocation(blocks[i], 8, "node");
  }
  for (int i = 0; i < 6; ++i) t.record_deallocation(blocks[i]);
  static char big[100];
  t.record_allocation(big, 100, "big");
  const auto sites = t.sites();
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_STREQ(sites[0].type_name, "big");  // most live bytes first
  EXPECT_EQ(sites[0].live_bytes, 100);
  EXPECT_EQ(sites[1].location.line, line_loop);
  EXPECT_EQ(sites[1].live_bytes, 32);
  EXPECT_EQ(sites[1].live_count, 4);
  EXPECT_EQ(sites[1].total_bytes, 80);
  EXPECT_EQ(sites[1].total_count, 10);
}

TEST(MemoryTracker, StacksAreCapturedAsAddressesAndSymbolisedInReports) {
  for (const auto method : {cm::stack_method::unwind, cm::stack_method::frame_pointers}) {
    cm::MemoryTracker t({.stack_depth = 8, .stack = method});
    int x = 0;
    tracker_test::allocate_with_stack(t, &x);
    const auto leaks = t.find_leaks();
    ASSERT_EQ(leaks.size(), 1u);
    ASSERT_TRUE(leaks[0].stack_trace.has_value());
    const auto& st = *leaks[0].stack_trace;
    ASSERT_GE(st.depth, 1u);
    EXPECT_LE(st.depth, 8u);
    // The frames name the test's helper (the test binary is linked with -rdynamic, so dladdr sees
    // its symbols), in the stack itself and in the dump.
    std::ostringstream frames, dump;
    st.print(frames, "      ");  // the dump's indent
    EXPECT_NE(frames.str().find("tracker_test::allocate_with_stack"), std::string::npos) << frames.str();
    t.dump_allocations(dump);
    EXPECT_NE(dump.str().find(frames.str()), std::string::npos) << dump.str();
    t.set_stack_depth(0);
    int y = 0;
    t.record_allocation(&y, 1);
    for (const auto& l : t.find_leaks()) {
      if (l.address == &y) {
        EXPECT_FALSE(l.stack_trace.has_value());
      }
    }
  }
}

// The first frame of a stack is the function that called record_allocation (record's own frame
// and capture's are skipped), in exact and in sampled mode, with either method.
TEST(MemoryTracker, StacksStartAtTheCallersFrame) {
  for (const auto mode : {cm::tracking_mode::exact, cm::tracking_mode::sampled}) {
    for (const auto method : {cm::stack_method::unwind, cm::stack_method::frame_pointers}) {
      cm::MemoryTracker t({.mode = mode, .sample_interval = 1, .stack_depth = 4, .stack = method});
      int x = 0;
      tracker_test::allocate_with_stack(t, &x);
      const auto leaks = t.find_leaks();
      ASSERT_EQ(leaks.size(), 1u);
      ASSERT_TRUE(leaks[0].stack_trace.has_value());
      std::ostringstream frames;
      leaks[0].stack_trace->print(frames);
      const std::string first = frames.str().substr(0, frames.str().find('\n'));
      EXPECT_NE(first.find("tracker_test::allocate_with_stack"), std::string::npos) << frames.str();
    }
  }
}

// One call site reached through two paths: one site, and stacks that tell the paths apart, with
// their own figures. (How many stacks each path gives depends on inlining and unrolling, so the
// figures are summed per path.)
TEST(MemoryTracker, StacksSplitASiteByTheWayItWasReached) {
  cm::MemoryTracker t({.stack_depth = 8, .stack = cm::stack_method::frame_pointers});
  static char blocks[5][16];
  tracker_test::path_a(t, blocks[0]);
  tracker_test::path_a(t, blocks[1]);
  tracker_test::path_a(t, blocks[2]);
  tracker_test::path_b(t, blocks[3]);
  tracker_test::path_b(t, blocks[4]);
  t.record_deallocation(blocks[0]);
  ASSERT_EQ(t.sites().size(), 1u);
  double live_a = 0, total_a = 0, live_b = 0, total_b = 0;
  double last_live = 1e300;
  for (const auto& st : t.stacks()) {
    std::ostringstream frames;
    st.stack.print(frames);
    const bool a = frames.str().find("path_a") != std::string::npos;
    const bool b = frames.str().find("path_b") != std::string::npos;
    ASSERT_NE(a, b) << frames.str();
    (a ? live_a : live_b) += st.site.live_bytes;
    (a ? total_a : total_b) += st.site.total_count;
    EXPECT_STREQ(st.site.type_name, "stacked");
    EXPECT_LE(st.site.live_bytes, last_live);  // sorted by live bytes
    last_live = st.site.live_bytes;
  }
  EXPECT_EQ(live_a, 32);
  EXPECT_EQ(total_a, 3);
  EXPECT_EQ(live_b, 32);
  EXPECT_EQ(total_b, 2);
  cm::MemoryTracker no_stacks;
  no_stacks.record_allocation(blocks[0], 1);
  EXPECT_TRUE(no_stacks.stacks().empty());
}

TEST(MemoryTracker, IdenticalStacksAreStoredOnce) {
  cm::MemoryTracker t({.stack_depth = 16});
  static char blocks[100];
  for (auto& b : blocks) tracker_test::allocate_with_stack(t, &b);
  const auto leaks = t.find_leaks();
  ASSERT_EQ(leaks.size(), 100u);
  for (const auto& l : leaks) {
    ASSERT_TRUE(l.stack_trace);
    EXPECT_EQ(l.stack_trace->depth, leaks[0].stack_trace->depth);
    EXPECT_TRUE(std::equal(l.stack_trace->frames, l.stack_trace->frames + l.stack_trace->depth,
                           leaks[0].stack_trace->frames));
  }
}

TEST(MemoryTracker, ScopedTrackerMeasuresWhatTheScopeDid) {
  cm::MemoryTracker t;
  static char before[8], in[3][8];
  t.record_allocation(before, 8);
  cm::ScopedMemoryTracker scope(t);
  t.record_allocation(in[0], 100);
  t.record_allocation(in[1], 50);
  t.record_allocation(in[2], 25);
  t.record_deallocation(in[1]);
  EXPECT_EQ(scope.memory_used(), 125u);
  EXPECT_EQ(scope.bytes_allocated(), 175u);
  EXPECT_EQ(scope.allocations(), 3u);
  t.record_deallocation(before);
  t.record_deallocation(in[0]);
  t.record_deallocation(in[2]);
  EXPECT_EQ(scope.memory_used(), 0u);  // more freed than allocated: 0, not a wrapped number
}

TEST(MemoryTracker, CheckLeaksReportsThroughTheMisuseHandler) {
  cm::MemoryTracker t({.name = "leaky"});
  EXPECT_EQ(t.check_leaks_and_report(), 0u);
  test::MisuseCapture capture;
  static char block[24];
  const unsigned line = __LINE__ + 1;
  t.record_allocation(block, 24, "Leaked");
  testing::internal::CaptureStderr();
  EXPECT_EQ(t.check_leaks_and_report(), 1u);
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::leak);
  EXPECT_EQ(capture.last().allocator, "leaky");
  EXPECT_EQ(capture.last().address, block);
  EXPECT_EQ(capture.last().size, 24u);
  EXPECT_NE(capture.last().text.find("1 blocks (24 bytes) leaked"), std::string::npos) << capture.last().text;
  EXPECT_NE(err.find("memory_tracker_test.cpp:" + std::to_string(line)), std::string::npos) << err;
  EXPECT_NE(err.find("Leaked"), std::string::npos) << err;
}

TEST(MemoryTrackerDeathTest, LeaksAbortWithTheDefaultHandler) {
  EXPECT_DEATH(
      {
        cm::MemoryTracker t({.name = "leaky"});
        static char block[24];
        t.record_allocation(block, 24, "Leaked");
        t.check_leaks_and_report();
      },
      "leak.*leaky.*1 blocks \\(24 bytes\\) leaked; first at .*memory_tracker_test.cpp");
}

TEST(MemoryTracker, ClearForgetsEverything) {
  cm::MemoryTracker t;
  static char block[8];
  t.record_allocation(block, 8);
  t.clear();
  EXPECT_EQ(t.current_usage(), 0u);
  EXPECT_EQ(t.peak_usage(), 0u);
  EXPECT_EQ(t.allocation_count(), 0u);
  EXPECT_TRUE(t.find_leaks().empty());
  EXPECT_TRUE(t.sites().empty());
}

// Defect (review): a scope (and a budget) that began before a clear() subtracted its start from
// the figures that restarted at zero: 2^64 - 190 bytes in 2^64 - 1 allocations, and a budget
// failed. After a clear, a scope counts from the clear.
TEST(MemoryTracker, AScopeSpanningAClearCountsFromTheClear) {
  test::MisuseCapture capture;
  cm::MemoryTracker t;
  static char blocks[3][100];
  t.record_allocation(blocks[0], 100);
  t.record_allocation(blocks[1], 100);
  cm::ScopedMemoryTracker scope(t);
  cm::ScopedMemoryBudget budget({.bytes = 1000, .allocations = 10}, t);
  t.clear();
  t.record_allocation(blocks[2], 10);
  EXPECT_EQ(scope.bytes_allocated(), 10u);
  EXPECT_EQ(scope.allocations(), 1u);
  EXPECT_EQ(scope.memory_used(), 10u);
  EXPECT_EQ(t.clears(), 1u);
  EXPECT_TRUE(budget.check()) << budget.usage().bytes;
  EXPECT_EQ(capture.count(), 0u);
}

TEST(MemoryTracker, GlobalInstanceIsConfiguredOnlyBeforeFirstUse) {
  (void)cm::MemoryTracker::instance();
  EXPECT_FALSE(cm::MemoryTracker::configure_instance({.mode = cm::tracking_mode::sampled}));
  EXPECT_EQ(cm::MemoryTracker::instance().options().mode, cm::tracking_mode::exact);
  EXPECT_EQ(&cm::MemoryTracker::instance(), &cm::MemoryTracker::instance());
}

TEST(MemoryTracker, TextReportNamesTotalsSitesAndBlocks) {
  cm::MemoryTracker t({.name = "report"});
  static char block[48];
  t.record_allocation(block, 48, "Widget");
  std::ostringstream os;
  t.generate_report(os);
  const std::string s = os.str();
  EXPECT_NE(s.find("report (exact): 48 bytes live in 1 blocks, peak 48 bytes; 1 allocations of 48 bytes"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("type Widget"), std::string::npos) << s;
  EXPECT_NE(s.find("live blocks:"), std::string::npos) << s;
}

}  // namespace
