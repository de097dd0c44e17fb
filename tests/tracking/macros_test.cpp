// The tracking macros with CORE_MEMORY_TRACKING on (this file) record on the global tracker; with
// it off (macros_off.cpp) they record nothing and evaluate nothing.
#define CORE_MEMORY_TRACKING 1
#include <core/memory/tracking/memory_tracker.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace cm = core::memory;

std::size_t use_macros_when_off(int& evaluated);  // macros_off.cpp

namespace {

TEST(TrackingMacros, OnTheyRecordOnTheGlobalTracker) {
  cm::MemoryTracker& g = cm::MemoryTracker::instance();
  TRACK_SCOPE(scope);
  void* buffer = std::malloc(40);
  const unsigned line = __LINE__ + 1;
  TRACK_ALLOCATION(buffer, 40);
  void* other = std::malloc(8);
  TRACK_ALLOCATION_AS(other, 8, "Other");
  EXPECT_EQ(scope.allocations(), 2u);
  EXPECT_EQ(scope.memory_used(), 48u);
  bool found = false;
  for (const auto& a : g.find_leaks()) {
    if (a.address == buffer) {
      found = true;
      EXPECT_STREQ(a.type_name, "buffer");  // the spec's #ptr
      EXPECT_EQ(a.location.line, line);
    }
  }
  EXPECT_TRUE(found);
  TRACK_DEALLOCATION(buffer);
  TRACK_DEALLOCATION(other);
  std::free(buffer);
  std::free(other);
  EXPECT_EQ(scope.memory_used(), 0u);
}

TEST(TrackingMacros, OffTheyRecordAndEvaluateNothing) {
  const std::size_t before = cm::MemoryTracker::instance().allocation_count();
  int evaluated = 0;
  EXPECT_EQ(use_macros_when_off(evaluated), 0u);
  EXPECT_EQ(evaluated, 0);
  EXPECT_EQ(cm::MemoryTracker::instance().allocation_count(), before);
}

}  // namespace
