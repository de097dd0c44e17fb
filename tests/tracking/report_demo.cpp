// Writes the HTML report of the representative workload (report_workload.hpp):
//   tracking_report_demo OUT.html [ALLOCATIONS=200000] [MS=600] [STACK_DEPTH=16] [SAMPLE_INTERVAL=0]
// Used by scripts/report_screenshot.sh (the README's picture) and to measure the report at scale.
// Prints the allocations recorded, the time to write the report and the file's size.
#include "report_workload.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace cm = core::memory;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT.html [ALLOCATIONS] [MS] [STACK_DEPTH] [SAMPLE_INTERVAL]\n", argv[0]);
    return 2;
  }
  const std::size_t allocations = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 200000;
  const unsigned ms = argc > 3 ? static_cast<unsigned>(std::strtoul(argv[3], nullptr, 10)) : 600;
  const unsigned depth = argc > 4 ? static_cast<unsigned>(std::strtoul(argv[4], nullptr, 10)) : 16;
  const std::size_t interval = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 0;
  cm::MemoryTracker t({.name = "demo server",
                       .mode = interval ? cm::tracking_mode::sampled : cm::tracking_mode::exact,
                       .sample_interval = interval ? interval : 512 * 1024,
                       .stack_depth = depth});
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point recorded, written;
  std::ofstream out(argv[1]);
  const auto leaks = report_workload::run(t, allocations, ms, [&] {
    recorded = std::chrono::steady_clock::now();
    t.generate_report(out, cm::report_format::html);
    out.close();
    written = std::chrono::steady_clock::now();
  });
  std::ifstream in(argv[1], std::ios::ate);
  std::printf("allocations %zu, recorded in %.0f ms, report written in %.0f ms, %lld bytes\n", t.allocation_count(),
              std::chrono::duration<double, std::milli>(recorded - start).count(),
              std::chrono::duration<double, std::milli>(written - recorded).count(),
              static_cast<long long>(in.tellg()));
  report_workload::free_leaks(t, leaks);
  return out ? 0 : 1;
}
