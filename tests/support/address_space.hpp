#pragma once
// Using up the address space, for tests of what happens when no mapping can be made (a forked
// child only: the memory is never given back).

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>

namespace test {

/// Limits the address space (RLIMIT_AS) to what the process maps now plus `room` bytes; false if
/// it cannot.
inline bool limit_address_space_to(std::size_t room) noexcept {
  std::size_t pages = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%zu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  const std::size_t bytes = pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) + room;
  const rlimit limit{bytes, bytes};
  return pages != 0 && setrlimit(RLIMIT_AS, &limit) == 0;
}

/// Maps inaccessible, unreserved regions until no mapping of even a page can be made.
inline void use_up_address_space() noexcept {
  for (std::size_t chunk = std::size_t{1} << 30; chunk >= 4096; chunk /= 2)
    while (mmap(nullptr, chunk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) != MAP_FAILED) {
    }
}

}  // namespace test
