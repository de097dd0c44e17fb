// The HTML report in a real browser: headless Chromium (Debian's `chromium`) opens the file with no
// network, the page's script draws every section and marks it, and records script errors in the
// DOM, which --dump-dom shows. Skipped only when chromium is not installed.
#include "report_workload.hpp"

#include <core/memory/tracking/memory_tracker.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace cm = core::memory;

namespace {

bool have_chromium() { return std::system("command -v chromium >/dev/null 2>&1") == 0; }

/// A fresh directory for one page and one browser profile.
std::string temp_dir() {
  char dir[] = "/tmp/core_memory_html_XXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr);
  return dir;
}

/// Opens `html` in headless Chromium and returns the DOM after its scripts ran.
std::string render(const std::string& html) {
  const std::string dir = temp_dir();
  std::ofstream(dir + "/report.html") << html;
  const std::string command = "timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir=" + dir +
                              "/profile --dump-dom file://" + dir + "/report.html 2>/dev/null";
  std::string dom;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buffer[65536];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, p)) > 0;) dom.append(buffer, n);
    EXPECT_EQ(pclose(p), 0);
  }
  EXPECT_EQ(std::system(("rm -rf " + dir).c_str()), 0);
  return dom;
}

/// The opening tag of the element with id `id`, or "" if there is none.
std::string tag_of(const std::string& dom, const std::string& id) {
  const std::size_t at = dom.find(" id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const std::size_t open = dom.rfind('<', at);
  return dom.substr(open, dom.find('>', at) - open + 1);
}

/// The number in attribute `name` of the first tag holding it, or -1.
long attribute_number(const std::string& dom, const std::string& name) {
  const std::size_t at = dom.find(' ' + name + "=\"");
  return at == std::string::npos ? -1 : std::strtol(dom.c_str() + at + name.size() + 3, nullptr, 10);
}

void expect_rendered(const std::string& dom, std::initializer_list<const char*> sections) {
  EXPECT_NE(tag_of(dom, "main"), "") << dom.substr(0, 2000);
  EXPECT_NE(dom.find("<body data-errors=\"0\""), std::string::npos) << "script errors: " << tag_of(dom, "errors")
                                                                     << dom.substr(dom.find("id=\"errors\""), 2000);
  EXPECT_NE(dom.find(" data-done=\"1\""), std::string::npos);
  for (const char* id : sections) EXPECT_NE(tag_of(dom, id).find("data-rendered=\"1\""), std::string::npos) << id;
}

TEST(HtmlReport, EverySectionRendersWithoutScriptErrors) {
  if (!have_chromium()) GTEST_SKIP() << "chromium not installed (Debian package chromium)";
  cm::MemoryTracker t({.name = "demo <server> & \"friends\"", .stack_depth = 12});
  std::ostringstream html;
  cm::TrackerSnapshot snap;
  const auto leaks = report_workload::run(t, 20000, 80, [&] {
    t.generate_report(html, cm::report_format::html);
    snap = t.snapshot();
  });
  report_workload::free_leaks(t, leaks);

  const std::string dom = render(html.str());
  expect_rendered(dom, {"summary", "timeline", "flamegraph", "top-sites", "sizes", "temporary", "leaks", "allocators"});
  // What was drawn, not only that something was: the flame graph has frames, the chart a path per
  // series, the leaks name the leaking function and its hand-recorded type, the allocators both.
  EXPECT_GT(attribute_number(dom, "data-nodes"), 10) << tag_of(dom, "flamegraph");
  EXPECT_NE(dom.find("open_session"), std::string::npos);
  EXPECT_NE(dom.find("[Session]"), std::string::npos);
  EXPECT_NE(dom.find("message pool"), std::string::npos);
  EXPECT_NE(dom.find("request heap"), std::string::npos);
  EXPECT_NE(dom.find("parse_request"), std::string::npos);  // the temporaries' site
  EXPECT_NE(dom.find("load_config"), std::string::npos);    // the other leak
  EXPECT_EQ(snap.allocators.size(), 2u);
  EXPECT_NE(dom.find("Memory report: demo &lt;server&gt; &amp; \"friends\""), std::string::npos);
  EXPECT_GT(snap.temporary_count, 0);
  EXPECT_GT(snap.timeline.size(), 2u);
}

TEST(HtmlReport, EmptyTrackerAndSampledTrackerRender) {
  if (!have_chromium()) GTEST_SKIP() << "chromium not installed (Debian package chromium)";
  cm::MemoryTracker empty({.name = "empty"});
  std::ostringstream a;
  empty.generate_report(a, cm::report_format::html);
  expect_rendered(render(a.str()), {"summary", "timeline", "flamegraph", "top-sites", "sizes", "temporary", "leaks",
                                    "allocators"});
  cm::MemoryTracker sampled({.name = "sampled", .mode = cm::tracking_mode::sampled, .sample_interval = 4096});
  const auto leaks = report_workload::run(sampled, 20000, 0);
  std::ostringstream b;
  sampled.generate_report(b, cm::report_format::html);
  report_workload::free_leaks(sampled, leaks);
  const std::string dom = render(b.str());
  expect_rendered(dom, {"summary", "timeline", "flamegraph", "top-sites", "sizes", "temporary", "leaks", "allocators"});
  EXPECT_NE(dom.find("figures are estimates"), std::string::npos);
}

TEST(HtmlReport, DiffRenders) {
  if (!have_chromium()) GTEST_SKIP() << "chromium not installed (Debian package chromium)";
  cm::MemoryTracker t({.name = "diff", .stack_depth = 8});
  const auto first = report_workload::run(t, 5000, 0);
  const cm::TrackerSnapshot before = t.snapshot();
  const auto second = report_workload::run(t, 20000, 0);
  std::ostringstream html;
  cm::write_diff(html, before, t.snapshot(), cm::report_format::html);
  report_workload::free_leaks(t, first);
  report_workload::free_leaks(t, second);
  const std::string dom = render(html.str());
  expect_rendered(dom, {"summary", "flamegraph", "top-sites", "sizes"});
  EXPECT_GT(attribute_number(dom, "data-nodes"), 3);
  EXPECT_NE(dom.find("open_session"), std::string::npos);
}

// The checks above can fail: a page whose script throws is reported as such, and its section is
// not marked.
TEST(HtmlReport, ScriptErrorsAreCaught) {
  if (!have_chromium()) GTEST_SKIP() << "chromium not installed (Debian package chromium)";
  cm::MemoryTracker t;
  std::ostringstream os;
  t.generate_report(os, cm::report_format::html);
  std::string html = os.str();
  // Break one section's drawing (the timeline reads D.timeline) and add a stray failing script.
  const std::size_t at = html.find("\"timeline\":[");
  ASSERT_NE(at, std::string::npos);
  html.replace(at, 12, "\"timeline\":7,\"unused\":[");
  html.insert(html.rfind("</body>"), "<script>no_such_function();</script>");
  const std::string dom = render(html);
  EXPECT_EQ(attribute_number(dom, "data-errors"), 2) << tag_of(dom, "errors");
  EXPECT_EQ(tag_of(dom, "timeline").find("data-rendered"), std::string::npos);
  EXPECT_NE(tag_of(dom, "summary").find("data-rendered=\"1\""), std::string::npos);
  EXPECT_NE(dom.find("no_such_function"), std::string::npos);
}

// The file's size depends on the sites and stacks, not on the number of allocations.
TEST(HtmlReport, SizeDoesNotGrowWithAllocations) {
  auto size_for = [](std::size_t allocations) {
    cm::MemoryTracker t({.stack_depth = 8});
    const auto leaks = report_workload::run(t, allocations, 0);
    std::ostringstream os;
    t.generate_report(os, cm::report_format::html);
    report_workload::free_leaks(t, leaks);
    return os.str().size();
  };
  const std::size_t small = size_for(20000), big = size_for(200000);
  EXPECT_LT(big, small + 16 * 1024) << small << " bytes for 20000 allocations, " << big << " for 200000";
}

volatile int path_taken = 0;

/// Records at the end of one of 2^depth paths (each level calls on from one of two call sites), so
/// every `bits` gives its own stack.
CORE_MEMORY_NOINLINE void branch(cm::MemoryTracker& t, unsigned bits, int depth, void* p) {
  if (depth == 0) {
    t.record_allocation(p, 16 + bits % 7, "leaf");
    return;
  }
  if (bits & 1) {
    path_taken = 1;
    branch(t, bits >> 1, depth - 1, p);
    path_taken = 3;
  } else {
    path_taken = 2;
    branch(t, bits >> 1, depth - 1, p);
    path_taken = 4;
  }
}

// A program with many stacks (here 2^14) gets the largest whole and the others merged on their
// outermost frames: the page stays small, and every figure keeps its total.
TEST(HtmlReport, ManyStacksAreBoundedAndTotalsKept) {
  if (std::system("python3 -c pass >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not found";
  cm::MemoryTracker t({.stack_depth = 24});
  constexpr unsigned paths = 1u << 14;
  static char blocks[paths];
  for (unsigned i = 0; i < paths; ++i) branch(t, i, 14, &blocks[i]);
  for (unsigned i = 0; i < paths; i += 2) t.record_deallocation(&blocks[i]);
  ASSERT_EQ(t.stacks().size(), paths);
  std::ostringstream html;
  t.generate_report(html, cm::report_format::html);
  const std::string dir = temp_dir();
  std::ofstream(dir + "/report.html") << html.str();
  // The page's data, from after its tag to the end of its script element.
  std::ofstream(dir + "/check.py") << R"py(import json, sys
t = open(sys.argv[1]).read()
a = t.index('id="report-data">') + len('id="report-data">')
s = json.loads(t[a:t.index('</script>', a)])["stacks"]
merged = [x for x in s if x.get("merged")]
print(len(s) <= 4 * 2000 + 100, len(merged) <= 2000 and len(merged) > 0, sum(x["total_count"] for x in s),
      sum(x["live_count"] for x in s), sum(x["total_bytes"] for x in s))
)py";
  const std::string command = "python3 " + dir + "/check.py " + dir + "/report.html";
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, p)) out += buffer;
    EXPECT_EQ(pclose(p), 0);
  }
  EXPECT_EQ(std::system(("rm -rf " + dir).c_str()), 0);
  EXPECT_EQ(out, "True True " + std::to_string(paths) + ' ' + std::to_string(paths / 2) + ' ' +
                     std::to_string(t.total_allocated()) + '\n');
  EXPECT_LT(html.str().size(), 4u << 20);
  if (have_chromium()) {
    const std::string dom = render(html.str());
    expect_rendered(dom, {"summary", "timeline", "flamegraph", "top-sites", "sizes", "temporary", "leaks", "allocators"});
  }
  t.clear();
}

}  // namespace
