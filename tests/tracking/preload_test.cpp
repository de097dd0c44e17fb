// The whole-program tracker: an unchanged program run with LD_PRELOAD=libcore_memory_preload.so gets
// a leak report at exit naming each leaked block's size and the function that allocated it, and
// "no leaks" when it frees everything; the JSON form parses; the HTML form is written; a signal
// writes a report meanwhile.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace {

/// Runs the test program under the preloaded tracker with `args` and extra environment; returns
/// the report it wrote.
std::string run(const std::string& args, const std::string& environment = "") {
  const std::string out = std::string(::testing::TempDir()) + "core_memory_preload_report.txt";
  std::remove(out.c_str());
  const std::string command = "env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY " CORE_MEMORY_TRACK_OUTPUT=" + out +
                              " " + environment + " " CORE_MEMORY_PRELOAD_PROGRAM " " + args;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream in(out);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(PreloadTracker, ReportsTheLeaksOfAnUnchangedProgramWithTheirFunctions) {
  const std::string report = run("leak");
  EXPECT_NE(report.find("2 blocks (163 bytes) leaked"), std::string::npos) << report;
  // Grouped by stack: live bytes, live count, total bytes, total count.
  EXPECT_TRUE(std::regex_search(report, std::regex(R"(\s123\s+1\s+123\s+1\s)"))) << report;
  EXPECT_TRUE(std::regex_search(report, std::regex(R"(\s40\s+1\s+40\s+1\s)"))) << report;  // the Widget
  EXPECT_NE(report.find("make_leak"), std::string::npos) << report;
  EXPECT_NE(report.find("leak_widget()"), std::string::npos) << report;
  EXPECT_NE(report.find("main"), std::string::npos) << report;
}

// A stack's first frame is malloc's caller (the hook's and record's frames are skipped), with
// every stack method, exact and sampled.
TEST(PreloadTracker, StacksStartAtTheCallerOfMalloc) {
  for (const char* environment : {"", "CORE_MEMORY_TRACK_METHOD=frame_pointers", "CORE_MEMORY_NO_LIBUNWIND=1",
                                   "CORE_MEMORY_TRACK_SAMPLE=1",
                                   "CORE_MEMORY_TRACK_SAMPLE=1 CORE_MEMORY_TRACK_METHOD=frame_pointers"}) {
    const std::string report = run("leak", environment);
    EXPECT_NE(report.find("#0 make_leak"), std::string::npos) << environment << "\n" << report;
    // Sampled (every byte: both blocks are samples), worded as the tracker's own leak reports.
    if (std::strstr(environment, "SAMPLE")) {
      EXPECT_NE(report.find("about 2 blocks (163 bytes) leaked, estimated from 2 sampled blocks:"), std::string::npos)
          << report;
    }
  }
}

// The program's own behaviour is unchanged: errno survives a recorded allocation (libunwind's
// stack walk left EAGAIN), and the report at exit reaches the standard error the program started
// with even when the program closed descriptor 2 and reopened it on a file of its own.
TEST(PreloadTracker, ErrnoAndTheProgramsOwnDescriptorsAreLeftAlone) {
  for (const char* environment : {"", "CORE_MEMORY_TRACK_METHOD=frame_pointers", "CORE_MEMORY_TRACK_SAMPLE=1"}) {
    const std::string command = std::string("env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY " ") + environment +
                                " " CORE_MEMORY_PRELOAD_PROGRAM " errno 2>/dev/null";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
  const std::string dir = ::testing::TempDir();
  const std::string own = dir + "core_memory_preload_own.txt", err = dir + "core_memory_preload_err.txt";
  const std::string command = "env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY " " CORE_MEMORY_PRELOAD_PROGRAM
                              " close_stderr " + own + " 2>" + err;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::stringstream a, b;
  a << std::ifstream(own).rdbuf();
  b << std::ifstream(err).rdbuf();
  EXPECT_EQ(a.str(), "the program's own\n") << "the report went into the program's file";
  EXPECT_NE(b.str().find("55 bytes"), std::string::npos) << "no report on the original standard error:\n" << b.str();
}

// Left by reviews: what the C runtime keeps on purpose was counted as the program's leaks: the
// thread-local storage glibc keeps for new threads (found by the stack only, so not with frame
// pointers), stdio buffers, locale and time-zone data. It is set apart (in every format), while
// a string the program leaks through strdup is still its leak.
TEST(PreloadTracker, WhatTheCRuntimeKeepsIsNoLeak) {
  for (const char* environment : {"", "CORE_MEMORY_TRACK_SAMPLE=1", "CORE_MEMORY_TRACK_METHOD=frame_pointers",
                                   "CORE_MEMORY_TRACK_STACK=1"}) {
    const std::string report = run("threads", environment);
    EXPECT_NE(report.find("1 blocks (123 bytes) leaked"), std::string::npos) << environment << "\n" << report;
    EXPECT_NE(report.find("not counted: "), std::string::npos) << environment << "\n" << report;
    EXPECT_NE(report.find("kept by the C runtime"), std::string::npos) << environment << "\n" << report;
    EXPECT_EQ(report.find("_dl_allocate_tls"), std::string::npos) << environment << "\n" << report;
  }
  const std::string libc = run("libc");
  EXPECT_NE(libc.find("1 blocks (27 bytes) leaked"), std::string::npos) << libc;
  EXPECT_NE(libc.find("strdup"), std::string::npos) << libc;
  EXPECT_NE(libc.find("kept by the C runtime"), std::string::npos) << libc;
  // Review: malloc's own state in the C library's data points at chunks inside live blocks; only
  // a word that points at a block's start makes it the runtime's.
  const std::string chunks = run("chunks");
  EXPECT_NE(chunks.find("20 blocks (800 bytes) leaked"), std::string::npos) << chunks;
  const std::string json = run("libc", "CORE_MEMORY_TRACK_FORMAT=json");
  const std::size_t live = json.find("\"live\":[");
  ASSERT_NE(live, std::string::npos) << json;
  const std::size_t first = json.find("{\"address\"", live);
  EXPECT_NE(first, std::string::npos) << json;
  EXPECT_EQ(json.find("{\"address\"", first + 1), std::string::npos) << "one live block:\n" << json;
  EXPECT_NE(json.find("\"size\":27,", live), std::string::npos) << json;
}

// Defect (review): the report for standard error went to descriptor 100 (the tracker's copy of
// it) after the program had put a file of its own there.
TEST(PreloadTracker, AReportNeverGoesIntoAFileOfTheProgramsOwn) {
  const std::string dir = ::testing::TempDir();
  const std::string own = dir + "core_memory_preload_fd100.txt", err = dir + "core_memory_preload_fd100_err.txt";
  const std::string command = "env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY " " CORE_MEMORY_PRELOAD_PROGRAM
                              " fd100 " + own + " 2>" + err;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::stringstream a, b;
  a << std::ifstream(own).rdbuf();
  b << std::ifstream(err).rdbuf();
  EXPECT_EQ(a.str(), "the program's own\n");
  EXPECT_NE(b.str().find("1 blocks (55 bytes) leaked"), std::string::npos) << b.str();
}

TEST(PreloadTracker, ACleanProgramHasNoLeaks) {
  const std::string report = run("clean");
  EXPECT_NE(report.find("no leaks"), std::string::npos) << report;
  EXPECT_NE(report.find("core-memory preload: "), std::string::npos) << report;
}

// Defects (review): a relative output path was resolved at exit, after the program changed
// directory (a daemon's report went to / or was lost); valloc and pvalloc were not hooked (their
// blocks unrecorded, their frees unmatched); a report that could not be written vanished.
TEST(PreloadTracker, ARelativeOutputIsTheStartingDirectorysAndEveryAllocationFunctionIsHooked) {
  const std::string dir = std::string(::testing::TempDir());
  const std::string out = dir + "core_memory_preload_relative.txt";
  std::remove(out.c_str());
  const std::string command = "cd " + dir + " && env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY
                              " CORE_MEMORY_TRACK_OUTPUT=core_memory_preload_relative.txt " CORE_MEMORY_PRELOAD_PROGRAM
                              " chdir";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::stringstream report;
  report << std::ifstream(out).rdbuf();
  const long page = ::sysconf(_SC_PAGESIZE);
  EXPECT_NE(report.str().find("2 blocks (" + std::to_string(1000 + page) + " bytes) leaked"), std::string::npos)
      << report.str();
  std::remove(out.c_str());

  const std::string err = dir + "core_memory_preload_stderr.txt";
  const std::string unwritable = "env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY
                                 " CORE_MEMORY_TRACK_OUTPUT=/nonexistent-dir/report.txt " CORE_MEMORY_PRELOAD_PROGRAM
                                 " leak 2> " + err;
  EXPECT_EQ(std::system(unwritable.c_str()), 0) << unwritable;
  std::stringstream text;
  text << std::ifstream(err).rdbuf();
  EXPECT_NE(text.str().find("cannot write the report to /nonexistent-dir/report.txt"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("2 blocks (163 bytes) leaked"), std::string::npos) << text.str();
  std::remove(err.c_str());
}

TEST(PreloadTracker, AnOutputThatIsNotARegularFileIsWrittenInPlace) {
  // A report sent to a FIFO (as to /dev/null or /dev/stderr) is written into it; renaming a
  // finished file over it would replace the node with a regular file.
  const std::string dir = std::string(::testing::TempDir());
  const std::string fifo = dir + "core_memory_preload_fifo";
  const std::string copy = dir + "core_memory_preload_fifo_copy.txt";
  std::remove(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string command = "cat " + fifo + " > " + copy + " & env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY
                              " CORE_MEMORY_TRACK_OUTPUT=" + fifo + " " CORE_MEMORY_PRELOAD_PROGRAM " leak; wait";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  struct stat st{};
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  std::stringstream report;
  report << std::ifstream(copy).rdbuf();
  EXPECT_NE(report.str().find("leaked"), std::string::npos) << report.str();
  std::remove(fifo.c_str());
  std::remove(copy.c_str());
}

TEST(PreloadTracker, EveryStackMethodSamplingAndJson) {
  EXPECT_NE(run("leak", "CORE_MEMORY_TRACK_METHOD=frame_pointers").find("make_leak"), std::string::npos);
  EXPECT_NE(run("leak", "CORE_MEMORY_NO_LIBUNWIND=1").find("make_leak"), std::string::npos);  // libgcc's
  const std::string json = run("leak", "CORE_MEMORY_TRACK_FORMAT=json");
  std::ofstream(std::string(::testing::TempDir()) + "core_memory_preload.json") << json;
  const std::string check = "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                            "sys.exit(0 if sorted(b[\"size\"] for b in d[\"live\"]) == [40, 123] else 1)' " +
                            std::string(::testing::TempDir()) + "core_memory_preload.json";
  if (std::system("python3 -c pass >/dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(check.c_str()), 0) << json;
  }
  // Sampled every byte on average: still runs and reports.
  EXPECT_NE(run("clean", "CORE_MEMORY_TRACK_SAMPLE=1").find("core-memory preload: "), std::string::npos);
}

TEST(PreloadTracker, WritesTheHtmlReportAtExit) {
  const std::string html = run("leak", "CORE_MEMORY_TRACK_FORMAT=html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u) << html.substr(0, 200);
  EXPECT_NE(html.find("\"current_bytes\":163,"), std::string::npos);  // the two leaked blocks
  EXPECT_NE(html.find("make_leak"), std::string::npos);                // in the frame names
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(PreloadTracker, WritesAReportOnASignalWhileTheProgramRuns) {
  const std::string out = std::string(::testing::TempDir()) + "core_memory_preload_report.txt";
  std::remove((out + ".1").c_str());
  const std::string final_report = run("signal " + out + ".1", "CORE_MEMORY_TRACK_SIGNAL=" + std::to_string(SIGUSR2));
  std::ifstream in(out + ".1");
  std::stringstream snapshot;
  snapshot << in.rdbuf();
  // While running, the program's vector of strings is live too: the snapshot lists it, not as leaks.
  EXPECT_NE(snapshot.str().find(" bytes) live:"), std::string::npos) << snapshot.str();
  EXPECT_NE(snapshot.str().find("make_leak"), std::string::npos) << snapshot.str();
  EXPECT_NE(snapshot.str().find("leak_widget()"), std::string::npos) << snapshot.str();
  EXPECT_NE(final_report.find("2 blocks (163 bytes) leaked"), std::string::npos) << final_report;
}

// %p in the output names each process's report; a forked child is not tracked (no report of its
// own, its leak not in the parent's).
TEST(PreloadTracker, ForkedChildrenAreNotTrackedAndOutputNamesTheProcess) {
  const std::string dir = std::string(::testing::TempDir()) + "core_memory_preload_fork";
  ASSERT_EQ(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  const std::string command = "env LD_PRELOAD=" CORE_MEMORY_PRELOAD_LIBRARY " CORE_MEMORY_TRACK_OUTPUT=" + dir +
                              "/report.%p " CORE_MEMORY_PRELOAD_PROGRAM " fork";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::string reports;
  if (FILE* p = popen(("cat " + dir + "/report.*; ls " + dir + " | wc -l").c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, p)) reports += buffer;
    pclose(p);
  }
  EXPECT_NE(reports.find("1 blocks (123 bytes) leaked"), std::string::npos) << reports;
  EXPECT_EQ(reports.substr(reports.size() - 2), "1\n") << reports;  // one report file
}

}  // namespace
