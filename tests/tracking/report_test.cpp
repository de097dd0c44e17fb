// Reports: the JSON report parses (python3's json module) and says what the live tracker holds
// (totals, every live block with its site and stack, every site, the allocators recording into it);
// strings are escaped.
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/tracking/memory_tracker.hpp>
#include <core/memory/tracking/tracking_allocator.hpp>

#include <gtest/gtest.h>

#include <cmath>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace cm = core::memory;

namespace {

bool have_python() { return std::system("python3 -c pass >/dev/null 2>&1") == 0; }

/// Runs `script` with python3 on `json` and returns its standard output.
std::string run_python(const std::string& json, const std::string& script) {
  char path[] = "/tmp/core_memory_report_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << json;
  const std::string command = "python3 -c '" + script + "' " + path;
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, p)) out += buffer;
    EXPECT_EQ(pclose(p), 0) << out;
  }
  std::remove(path);
  return out;
}

CORE_MEMORY_NOINLINE void allocate_here(cm::MemoryTracker& t, void* p, std::size_t n) {
  t.record_allocation(p, n, "Node");
  asm volatile("" ::: "memory");
}

TEST(Report, JsonParsesAndMatchesTheLiveState) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  // One frame: the loop below may be unrolled, each call its own return address one frame up.
  cm::MemoryTracker t({.name = "json \"quoted\" \\ tracker", .stack_depth = 1});
  static char blocks[5][64];
  for (auto& b : blocks) allocate_here(t, b, 64);
  t.record_deallocation(blocks[1]);
  t.record_allocation(blocks[1], 7, "line\nbreak\ttab\x01", cm::SourceLocation::current());
  std::ostringstream os;
  t.generate_report(os, cm::report_format::json);

  // One line per fact, in an order the test rebuilds from the tracker itself.
  const std::string script =
      "import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "print(d[\"tracker\"])\n"
      "print(d[\"mode\"], d[\"sample_interval\"], d[\"current_bytes\"], d[\"peak_bytes\"], d[\"allocation_count\"],"
      " d[\"live_count\"], d[\"total_bytes\"], d[\"unmatched_frees\"])\n"
      "for b in d[\"live\"]: print(b[\"address\"], b[\"size\"], repr(b[\"type\"]), b[\"line\"], b[\"weight\"],"
      " len(b[\"stack\"]) > 0, b[\"age_ms\"] >= 0)\n"
      "for s in d[\"sites\"]: print(repr(s[\"type\"]), s[\"line\"], s[\"live_bytes\"], s[\"live_count\"],"
      " s[\"total_bytes\"], s[\"total_count\"])\n"
      "for s in d[\"stacks\"]: print(len(s[\"frames\"]), s[\"line\"], s[\"live_bytes\"], s[\"total_count\"])\n";
  const std::string parsed = run_python(os.str(), script);

  std::ostringstream expected;
  expected << "json \"quoted\" \\ tracker\n";
  expected << "exact 0 " << t.current_usage() << ' ' << t.peak_usage() << ' ' << t.allocation_count() << ' '
           << t.live_count() << ' ' << t.total_allocated() << " 0\n";
  for (const auto& a : t.find_leaks()) {
    char address[32];
    std::snprintf(address, sizeof address, "%p", a.address);
    const std::string type = a.size == 7 ? "'line\\nbreak\\ttab\\x01'" : "'Node'";
    expected << address << ' ' << a.size << ' ' << type << ' ' << a.location.line << " 1 True True\n";
  }
  for (const auto& s : t.sites()) {
    const std::string type = std::string(s.type_name) == "Node" ? "'Node'" : "'line\\nbreak\\ttab\\x01'";
    expected << type << ' ' << s.location.line << ' ' << s.live_bytes << ' ' << s.live_count << ' '
             << s.total_bytes << ' ' << s.total_count << '\n';
  }
  for (const auto& st : t.stacks())
    expected << st.stack.depth << ' ' << st.site.location.line << ' ' << st.site.live_bytes << ' '
             << st.site.total_count << '\n';
  EXPECT_EQ(t.stacks().size(), 2u);  // the helper's site, and the one of the 7-byte block
  EXPECT_EQ(parsed, expected.str()) << os.str();
  EXPECT_EQ(t.current_usage(), 4u * 64 + 7);
}

TEST(Report, SampledJsonCarriesEstimatesAndTheInterval) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  cm::MemoryTracker t({.mode = cm::tracking_mode::sampled, .sample_interval = 1000});
  cm::MemoryTracker::set_sampling_seed(3);
  for (std::size_t i = 0; i < 1000; ++i) t.record_allocation(reinterpret_cast<void*>(0x1000 + 64 * i), 50, "s");
  std::ostringstream os;
  t.generate_report(os, cm::report_format::json);
  const std::string parsed = run_python(
      os.str(),
      "import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "print(d[\"mode\"], d[\"sample_interval\"], len(d[\"live\"]), d[\"current_bytes\"])\n"
      "print(round(sum(b[\"weight\"]*b[\"size\"] for b in d[\"live\"])))\n");
  std::ostringstream expected;
  double estimate = 0;
  for (const auto& a : t.find_leaks()) estimate += a.weight * double(a.size);
  expected << "sampled 1000 " << t.find_leaks().size() << ' ' << t.current_usage() << '\n'
           << static_cast<long long>(estimate + 0.5) << '\n';
  EXPECT_EQ(parsed, expected.str());
}

TEST(Report, ListsTheAllocatorsRecordingIntoTheTracker) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  cm::MemoryTracker t, other;
  cm::TrackingAllocator<cm::MemoryPool> pool({.name = "message pool", .tracker = &t}, 64);
  cm::TrackingAllocator<cm::MallocAllocator> heap({.name = "heap", .tracker = &t});
  cm::TrackingAllocator<cm::MallocAllocator> elsewhere({.name = "elsewhere", .tracker = &other});
  void* a = pool.allocate(64, 8);
  void* b = pool.allocate(64, 8);
  pool.deallocate(a, 64, 8);
  void* c = heap.allocate(10, 8);
  std::ostringstream os;
  t.generate_report(os, cm::report_format::json);
  const std::string parsed = run_python(
      os.str(),
      "import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "for a in d[\"allocators\"]: print(a[\"name\"], a[\"bytes_in_use\"], a[\"peak_bytes\"], a[\"allocation_count\"],"
      " a[\"live_count\"], a[\"upstream_bytes\"] is None, a[\"fragmentation\"] is None)\n");
  EXPECT_EQ(parsed, "message pool 64 128 2 1 False False\nheap 10 10 1 1 True True\n") << os.str();
  std::ostringstream text;
  t.generate_report(text);
  EXPECT_NE(text.str().find("message pool: 64 bytes in 1 blocks, peak 128, 2 allocations, holds "), std::string::npos)
      << text.str();
  EXPECT_EQ(text.str().find("elsewhere"), std::string::npos);
  pool.deallocate(b, 64, 8);
  heap.deallocate(c, 10, 8);
}

// Names come from the program: a null one is "", and bytes that are not UTF-8 (a Latin-1 path, a
// stray byte) become U+FFFD, so the document still parses (a null name crashed; such bytes made
// the whole report unreadable to a JSON parser).
TEST(Report, NullAndNonUtf8NamesGiveAValidReport) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  cm::MemoryTracker t({.name = nullptr});
  cm::TrackingAllocator<cm::MallocAllocator> heap({.name = nullptr, .tracker = &t});
  void* p = heap.allocate(10, 8);
  const char* site = "dir\xe9/file\xff.cpp";  // Latin-1 and a byte that is never UTF-8
  t.record_allocation(reinterpret_cast<void*>(0x1000), 7, 0, "caf\xc3\xa9 \xed\xa0\x80", "a\xc3", {site, "f", 3});
  std::ostringstream os;
  t.generate_report(os, cm::report_format::json);
  EXPECT_EQ(run_python(os.str(), "import json,sys\nd=json.load(open(sys.argv[1],encoding=\"utf-8\"))\n"
                                 "print(repr(d[\"tracker\"]), [a[\"name\"] for a in d[\"allocators\"]],"
                                 " [x[\"file\"] for x in d[\"sites\"] if x[\"file\"].startswith(\"dir\")])\n"),
            "'' [''] ['dir\ufffd/file\ufffd.cpp']\n")
      << os.str();
  EXPECT_NE(os.str().find("caf\xc3\xa9"), std::string::npos) << "well-formed UTF-8 is kept";
  std::ostringstream text, html;
  t.generate_report(text);
  t.generate_report(html, cm::report_format::html);
  t.record_deallocation(reinterpret_cast<void*>(0x1000));
  heap.deallocate(p, 10, 8);
}

// The sampling clock takes intervals up to 2^32 bytes: a longer one is used as 2^32, and the
// reports say so (they gave the interval asked for while the estimates used 2^32).
TEST(Report, ASampleIntervalBeyondTheClocksRangeIsReportedAsUsed) {
  cm::MemoryTracker t({.mode = cm::tracking_mode::sampled, .sample_interval = std::size_t{1} << 40});
  EXPECT_EQ(t.snapshot().sample_interval, std::size_t{1} << 32);
  EXPECT_DOUBLE_EQ(t.sample_weight(std::size_t{1} << 32), 1.0 / (1.0 - std::exp(-1.0)));
}

TEST(Report, EmptyTrackerGivesAValidReport) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  cm::MemoryTracker t;
  std::ostringstream os;
  t.generate_report(os, cm::report_format::json);
  EXPECT_EQ(run_python(os.str(), "import json,sys\nd=json.load(open(sys.argv[1]))\n"
                       "print(len(d[\"live\"]), len(d[\"sites\"]), len(d[\"allocators\"]))\n"),
            "0 0 0\n");
}

}  // namespace
