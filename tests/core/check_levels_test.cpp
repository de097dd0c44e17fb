// Two translation units at different check levels in one program, each with its own allocators
// (see check_levels_workload.hpp): both work, in either order.
#undef CORE_MEMORY_CHECK_LEVEL
#define CORE_MEMORY_CHECK_LEVEL 1
#include "check_levels_workload.hpp"

#include <gtest/gtest.h>

std::string level_0_workload();

TEST(CheckLevels, UnitsAtTwoLevelsEachRunTheirOwnAllocators) {
  EXPECT_EQ(level_0_workload(), "level 0: ");
  EXPECT_EQ(level_workload(), "level 1: ");
  EXPECT_EQ(level_0_workload(), "level 0: ");
}
