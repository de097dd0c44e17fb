// The tracking macros with CORE_MEMORY_TRACKING off (the default): see macros_test.cpp.
#include <core/memory/tracking/memory_tracker.hpp>

#include <cstdlib>

static_assert(CORE_MEMORY_TRACKING == 0);

std::size_t use_macros_when_off(int& evaluated) {
  TRACK_SCOPE(scope);
  void* p = std::malloc(16);
  TRACK_ALLOCATION(p, (++evaluated, 16));
  TRACK_ALLOCATION_AS(p, 16, (++evaluated, "type"));
  TRACK_DEALLOCATION((++evaluated, p));
  std::free(p);
  static_assert(scope.allocations() == 0);
  return scope.memory_used() + scope.bytes_allocated();
}
