// Compiled to assembly by macros_zero_cost.cmake with and without the tracking macros: with
// CORE_MEMORY_TRACKING off, both must give identical code.
#include <core/memory/tracking/memory_tracker.hpp>

#include <cstdlib>

void* make(std::size_t n) {
  void* p = std::malloc(n);
#if USE_MACROS
  TRACK_SCOPE(scope);
  TRACK_ALLOCATION(p, n);
  TRACK_ALLOCATION_AS(p, n, "probe");
#endif
  return p;
}

void drop(void* p) {
#if USE_MACROS
  TRACK_DEALLOCATION(p);
#endif
  std::free(p);
}
