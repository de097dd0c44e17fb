// Snapshots and what the tracker aggregates while recording: the diff of two snapshots to the byte
// (API, text and JSON), temporary allocations by their definition (per thread), the size classes,
// and the timeline's bounds on usage.
#include <core/memory/tracking/memory_tracker.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <algorithm>
#include <atomic>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace cm = core::memory;

namespace {

// Fake addresses: the tracker never touches the memory.
void* at(std::size_t i) { return reinterpret_cast<void*>(0x10000 + 0x100 * i); }

constexpr unsigned line_a = __LINE__ + 1;
void site_a(cm::MemoryTracker& t, std::size_t i, std::size_t n) { t.record_allocation(at(i), n, "A"); }
constexpr unsigned line_b = __LINE__ + 1;
void site_b(cm::MemoryTracker& t, std::size_t i, std::size_t n) { t.record_allocation(at(i), n, "B"); }
constexpr unsigned line_c = __LINE__ + 1;
void site_c(cm::MemoryTracker& t, std::size_t i, std::size_t n) { t.record_allocation(at(i), n, "C"); }

std::map<std::string, cm::SiteStats> by_type(const std::vector<cm::StackStats>& d) {
  std::map<std::string, cm::SiteStats> out;
  for (const auto& s : d) out[s.site.type_name] = s.site;
  return out;
}

TEST(Snapshot, DiffHasExactFigures) {
  cm::MemoryTracker t({.name = "diff"});
  for (std::size_t i = 0; i < 4; ++i) site_a(t, i, 100);  // 400 bytes live at A
  for (std::size_t i = 10; i < 12; ++i) site_b(t, i, 1000);  // 2000 at B
  const cm::TrackerSnapshot before = t.snapshot();

  for (std::size_t i = 4; i < 7; ++i) site_a(t, i, 100);  // A grows by 3 blocks, 300 bytes
  t.record_deallocation(at(10));                           // B shrinks by one block
  for (std::size_t i = 20; i < 25; ++i) {                  // C: 5 temporaries of 48 bytes
    site_c(t, i, 48);
    t.record_deallocation(at(i));
  }
  site_c(t, 30, 64);  // and one that stays
  const cm::TrackerSnapshot after = t.snapshot();

  EXPECT_EQ(before.current_bytes, 2400u);
  EXPECT_EQ(after.current_bytes, 2400u + 300 - 1000 + 64);
  auto d = by_type(cm::diff_stacks(before, after, false));
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d["A"].live_bytes, 300);
  EXPECT_EQ(d["A"].live_count, 3);
  EXPECT_EQ(d["A"].total_bytes, 300);
  EXPECT_EQ(d["A"].total_count, 3);
  EXPECT_EQ(d["A"].temporary_count, 0);
  EXPECT_EQ(d["A"].location.line, line_a);
  EXPECT_EQ(d["B"].live_bytes, -1000);
  EXPECT_EQ(d["B"].live_count, -1);
  EXPECT_EQ(d["B"].total_bytes, 0);
  EXPECT_EQ(d["B"].total_count, 0);
  EXPECT_EQ(d["B"].location.line, line_b);
  EXPECT_EQ(d["C"].live_bytes, 64);
  EXPECT_EQ(d["C"].live_count, 1);
  EXPECT_EQ(d["C"].total_bytes, 5 * 48 + 64);
  EXPECT_EQ(d["C"].total_count, 6);
  EXPECT_EQ(d["C"].temporary_count, 5);
  EXPECT_EQ(d["C"].temporary_bytes, 5 * 48);
  EXPECT_EQ(d["C"].location.line, line_c);
  // Sorted by growth of live bytes.
  const auto order = cm::diff_stacks(before, after, false);
  EXPECT_STREQ(order[0].site.type_name, "A");
  EXPECT_STREQ(order[1].site.type_name, "C");
  EXPECT_STREQ(order[2].site.type_name, "B");
  // Nothing changed: an empty diff.
  EXPECT_TRUE(cm::diff_stacks(after, after, false).empty());

  std::ostringstream text;
  cm::write_diff(text, before, after);
  const std::string s = text.str();
  EXPECT_NE(s.find("live: 2400 -> 1764 bytes (-636) in 6 -> 9 blocks (+3)"), std::string::npos) << s;
  EXPECT_NE(s.find("allocated in between: 9 allocations of 604 bytes, 5 temporary"), std::string::npos) << s;
  EXPECT_NE(s.find("  +300 " ), std::string::npos) << s;

  if (std::system("python3 -c pass >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not found";
  std::ostringstream json;
  cm::write_diff(json, before, after, cm::report_format::json);
  char path[] = "/tmp/core_memory_diff_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << json.str();
  const std::string command = std::string("python3 -c 'import json,sys\n"
                                          "d=json.load(open(sys.argv[1]))\n"
                                          "print(d[\"kind\"], d[\"before\"][\"current_bytes\"], d[\"after\"][\"current_bytes\"],"
                                          " d[\"after\"][\"allocation_count\"]-d[\"before\"][\"allocation_count\"])\n"
                                          "for s in d[\"sites\"]: print(s[\"type\"], s[\"line\"], s[\"live_bytes\"], s[\"live_count\"],"
                                          " s[\"total_bytes\"], s[\"total_count\"], s[\"temporary_count\"])\n"
                                          "print(d[\"sizes\"], len(d[\"stacks\"]))' ") + path;
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, p)) out += buffer;
    EXPECT_EQ(pclose(p), 0) << json.str();
  }
  std::remove(path);
  EXPECT_EQ(out, "diff 2400 1764 9\n"
                 "A " + std::to_string(line_a) + " 300 3 300 3 0\n"
                 "C " + std::to_string(line_c) + " 64 1 304 6 5\n"
                 "B " + std::to_string(line_b) + " -1000 -1 0 0 0\n"
                 "[[32, 63, 5, 240], [64, 127, 4, 364]] 0\n")
      << json.str();
  t.clear();
}

TEST(Snapshot, TemporaryMeansFreedBeforeTheThreadAllocatedAgain) {
  cm::MemoryTracker t;
  site_a(t, 0, 10);
  t.record_deallocation(at(0));  // temporary
  site_a(t, 1, 10);
  site_a(t, 2, 10);
  t.record_deallocation(at(1));  // not: the thread allocated at(2) in between
  t.record_deallocation(at(2));  // temporary (freeing at(1) is no allocation)
  site_a(t, 3, 10);
  std::thread([&] {  // another thread's allocation does not hide this thread's temporary
    site_b(t, 4, 10);
    t.record_deallocation(at(3));  // freed by another thread: not temporary
    t.record_deallocation(at(4));  // temporary on that thread
  }).join();
  site_a(t, 5, 10);
  t.record_deallocation(at(5));  // temporary
  t.record_deallocation(at(5));  // unmatched: counted once only
  const cm::TrackerSnapshot s = t.snapshot();
  EXPECT_EQ(s.temporary_count, 4);
  EXPECT_EQ(s.temporary_bytes, 40);
  auto sites = by_type(s.stacks);
  EXPECT_EQ(sites["A"].temporary_count, 3);
  EXPECT_EQ(sites["B"].temporary_count, 1);
  EXPECT_EQ(s.unmatched_frees, 1u);
}

// Threads allocating and at once freeing, while another takes snapshots and writes reports: every
// one of those blocks is temporary, whatever the interleaving (the definition is per thread), and
// the figures add up exactly.
TEST(Snapshot, ConcurrentRecordingAndSnapshots) {
  // Frame pointers: libunwind's per-thread cache crashes at thread exit under TSan.
  cm::MemoryTracker t({.name = "threads", .stack_depth = 4, .stack = cm::stack_method::frame_pointers});
  constexpr std::size_t threads = 3, rounds = 20000;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      std::ostringstream html;
      t.generate_report(html, cm::report_format::html);
      EXPECT_NE(html.str().find("</html>"), std::string::npos);
    }
  });
  std::vector<std::thread> workers;
  for (std::size_t k = 0; k < threads; ++k)
    workers.emplace_back([&, k] {
      for (std::size_t i = 0; i < rounds; ++i) {
        void* p = at(1000 + k * 100000 + i % 100);
        site_a(t, 1000 + k * 100000 + i % 100, 32);
        t.record_deallocation(p);
      }
    });
  for (auto& w : workers) w.join();
  done = true;
  reader.join();
  const cm::TrackerSnapshot s = t.snapshot();
  EXPECT_EQ(s.allocation_count, threads * rounds);
  EXPECT_EQ(s.temporary_count, double(threads * rounds));
  EXPECT_EQ(s.current_bytes, 0u);
  EXPECT_EQ(s.peak_bytes % 32, 0u);
  EXPECT_LE(s.peak_bytes, threads * 32);
  ASSERT_EQ(s.sizes.size(), 1u);
  EXPECT_EQ(s.sizes[0].count, double(threads * rounds));
  EXPECT_EQ(s.timeline.back().high, 0u);
}

TEST(Snapshot, SizeClassesArePowersOfTwo) {
  cm::MemoryTracker t;
  const std::size_t sizes[] = {1, 2, 3, 4, 7, 8, 100, 127, 128, 4096, std::size_t(1) << 40};
  for (std::size_t i = 0; i < std::size(sizes); ++i) site_a(t, i, sizes[i]);
  const cm::TrackerSnapshot s = t.snapshot();
  std::ostringstream out;
  for (const cm::SizeClassStats& c : s.sizes) out << c.min_size << '-' << c.max_size << ':' << c.count << '/' << c.bytes << ' ';
  EXPECT_EQ(out.str(), "1-1:1/1 2-3:2/5 4-7:2/11 8-15:1/8 64-127:2/227 128-255:1/128 4096-8191:1/4096 "
                       "1099511627776-2199023255551:1/1.09951e+12 ");
  t.clear();
  EXPECT_TRUE(t.snapshot().sizes.empty());
}

TEST(Snapshot, TimelineBoundsUsage) {
  cm::MemoryTracker t;
  std::size_t peak = 0, live = 0;
  for (std::size_t i = 0; i < 3000; ++i) {  // up and down over a few coarse-clock ticks
    if (i % 3 == 2) {
      t.record_deallocation(at(i - 1));
      live -= 64;
    } else {
      site_a(t, i, 64);
      live += 64;
    }
    peak = std::max(peak, live);
    if (i % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const cm::TrackerSnapshot s = t.snapshot();
  ASSERT_GE(s.timeline.size(), 2u);
  std::size_t high = 0;
  double last = -1;
  for (const cm::UsagePoint& p : s.timeline) {
    EXPECT_LE(p.low, p.high);
    // Intervals in order; the closing point (the snapshot's moment) may share the last one's ms.
    if (&p != &s.timeline.back()) EXPECT_GT(p.start_ms, last);
    else EXPECT_GE(p.start_ms, last);
    last = p.start_ms;
    high = std::max(high, p.high);
  }
  EXPECT_EQ(high, peak);
  EXPECT_EQ(s.timeline.back().low, live);
  EXPECT_EQ(s.timeline.back().high, live);
  EXPECT_EQ(s.timeline.front().low, 0u);  // the usage before the first allocation
  EXPECT_LE(s.timeline.size(), 513u);
  t.clear();
}

// Frees with no allocation after them (as at exit) are placed at their time (within 16 frees),
// not at the last allocation's or the report's.
TEST(Snapshot, TimelinePlacesARunOfFrees) {
  for (const std::size_t blocks : {40, 100, 1000}) {
    cm::MemoryTracker t;
    for (std::size_t i = 0; i < blocks; ++i) site_a(t, i, 64);
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    for (std::size_t i = 0; i < blocks; ++i) t.record_deallocation(at(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    const cm::TrackerSnapshot s = t.snapshot();
    ASSERT_GE(s.timeline.size(), 3u);
    const cm::UsagePoint& fall = s.timeline[s.timeline.size() - 2];  // the last before the report's
    EXPECT_GE(fall.start_ms, 50) << blocks;
    EXPECT_LT(fall.start_ms, s.elapsed_ms - 40) << blocks;
    EXPECT_LE(fall.low, 64 * 15) << blocks;  // the last frees may go to the last clock read's ms
    std::size_t high = 0;
    for (const cm::UsagePoint& p : s.timeline) high = std::max(high, p.high);
    EXPECT_EQ(high, 64 * blocks) << blocks;
  }
}

// A long run widens the intervals (pairs merged) and keeps at most 512 of them: simulated by
// recording with the clock far ahead is not possible from outside, so this runs ~1.1 s of events.
TEST(Snapshot, TimelineStaysBounded) {
  cm::MemoryTracker t;
  const auto start = std::chrono::steady_clock::now();
  std::size_t i = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1100)) {
    site_a(t, i % 64, 8);
    t.record_deallocation(at(i % 64));
    ++i;
    if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const cm::TrackerSnapshot s = t.snapshot();
  EXPECT_GE(s.timeline_interval_ms, 2);  // 1100 ms do not fit 512 intervals of 1 ms
  EXPECT_LE(s.timeline.size(), 513u);
  for (const cm::UsagePoint& p : s.timeline) EXPECT_LE(p.high, 8u);
}

}  // namespace
