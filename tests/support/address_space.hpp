#pragma once
// Using up the address space, for tests of what happens when no mapping can be made (a forked
// child only: the memory is never given back).

#include <sys/mman.h>

#include <cstddef>

namespace test {

/// Maps inaccessible, unreserved regions until no mapping of even a page can be made.
inline void use_up_address_space() noexcept {
  for (std::size_t chunk = std::size_t{1} << 30; chunk >= 4096; chunk /= 2)
    while (mmap(nullptr, chunk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) != MAP_FAILED) {
    }
}

}  // namespace test
