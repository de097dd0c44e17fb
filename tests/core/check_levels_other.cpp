// The level-0 half of check_levels_test (see check_levels_workload.hpp).
#undef CORE_MEMORY_CHECK_LEVEL
#define CORE_MEMORY_CHECK_LEVEL 0
#include "check_levels_workload.hpp"

std::string level_0_workload() { return level_workload(); }
