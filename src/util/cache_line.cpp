#include <core/memory/util/cache_line.hpp>

#include <unistd.h>

namespace core::memory {

std::size_t runtime_cache_line_size() noexcept {
  static const std::size_t size = [] {
#ifdef _SC_LEVEL1_DCACHE_LINESIZE
    const long n = ::sysconf(_SC_LEVEL1_DCACHE_LINESIZE);
    if (n > 0 && (n & (n - 1)) == 0) return static_cast<std::size_t>(n);
#endif
    return cache_line_size;
  }();
  return size;
}

}  // namespace core::memory
