#pragma once
// Shared by the system-layer tests: temporary directories, a fault reporter for death tests, and
// one check for errors that throw std::system_error (or, without exceptions, abort with the same
// text through the misuse handler).

#include <core/memory/util/config.hpp>
#include <core/memory/util/sanitizer.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace test {

/// Under ThreadSanitizer, which does not follow a lock or a block into another process.
inline constexpr bool under_tsan = core::memory::tsan_enabled;
/// Under a sanitizer (ASan or TSan builds run 5-20x slower).
inline constexpr bool under_sanitizer = core::memory::asan_enabled || core::memory::tsan_enabled;
/// `full` repetitions of a randomised or repeated test in optimized builds, a tenth (at least
/// `least`) under a sanitizer: the same cases, fewer random draws.
constexpr int rounds(int full, int least = 1) noexcept {
  return under_sanitizer ? (full / 10 > least ? full / 10 : least) : full;
}

/// Empty if this process may trace its children (PTRACE_TRACEME in a child), else why not.
inline std::string ptrace_forbidden() {
  static const std::string why = [] {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0 ? 0 : errno);
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return std::string("fork failed");
    if (WEXITSTATUS(status) == 0) return std::string();
    std::string text = "ptrace is forbidden here (PTRACE_TRACEME: " + std::string(std::strerror(WEXITSTATUS(status))) + ")";
    if (std::FILE* f = std::fopen("/proc/sys/kernel/yama/ptrace_scope", "r")) {
      const int scope = std::fgetc(f);
      std::fclose(f);
      if (scope != EOF) text += std::string(", yama ptrace_scope ") + static_cast<char>(scope);
    }
    return text;
  }();
  return why;
}

}  // namespace test

/// Skips a test that forks processes under ThreadSanitizer.
#define SKIP_PROCESSES_UNDER_TSAN() \
  if (test::under_tsan) GTEST_SKIP() << "processes: not under ThreadSanitizer"

/// Skips a test that traces its children where ptrace is forbidden (seccomp, yama ptrace_scope 3).
#define SKIP_WITHOUT_PTRACE()                                 \
  if (const std::string why_ = test::ptrace_forbidden(); !why_.empty()) \
  GTEST_SKIP() << why_

namespace test {

/// A fresh directory under the system's temporary directory, removed with everything in it.
/// Its name is the test's and the process's, so a death test's child (which runs the test again
/// in a new process) uses the same path (emptied first), and paths in expected messages match.
class TempDir {
 public:
  TempDir() {
    const bool death_test_child = !GTEST_FLAG_GET(internal_run_death_test).empty();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("core-memory-" + std::string(info->test_suite_name()) + "." + info->name() + "-" +
             std::to_string(death_test_child ? ::getppid() : ::getpid()));
    std::error_code ec;
    if (death_test_child) std::filesystem::remove_all(path_, ec);  // start as the parent did
    std::filesystem::create_directory(path_, ec);
    if (ec || !std::filesystem::is_directory(path_)) std::abort();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const char* name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// For death tests: a SIGSEGV/SIGBUS handler that prints "fault at offset <n>" (the faulting
/// address less `base`) and exits, so a test can check which address faulted. (Death tests
/// re-run the test in a new process, so absolute addresses differ from the parent's.)
inline const volatile void* fault_base = nullptr;
inline void report_faults(const volatile void* base) {
  fault_base = base;
  struct sigaction sa {};
  sa.sa_flags = SA_SIGINFO;
  sa.sa_sigaction = [](int sig, siginfo_t* info, void*) {
    char text[80];
    const long offset = static_cast<const char*>(info->si_addr) - static_cast<const volatile char*>(fault_base);
    const int n = std::snprintf(text, sizeof text, "%s at offset %ld\n", sig == SIGBUS ? "bus error" : "fault", offset);
    (void)!::write(2, text, static_cast<std::size_t>(n));
    ::_exit(3);
  };
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
}

/// The regex a death test expects when `base + offset` faults.
inline std::string fault_at(std::size_t offset) { return "fault at offset " + std::to_string(offset) + "\n"; }

/// Reads one byte through a volatile pointer (the access a guard page must catch).
inline int touch(const volatile void* p) { return *static_cast<const volatile unsigned char*>(p); }
inline void poke(volatile void* p, unsigned char v = 1) { *static_cast<volatile unsigned char*>(p) = v; }

/// `checked.validate()` (a managed segment, a segment heap) finds nothing wrong; the failure
/// says what it found.
template <class Checked>
void expect_valid(const Checked& checked) {
  const char* why = checked.validate();
  EXPECT_EQ(why, nullptr) << why;
}

/// Concatenates its arguments (g++ 12 warns falsely, -Wrestrict, on some chains of string +).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string r;
  (r.append(parts), ...);
  return r;
}

inline std::string regex_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) r += '\\';
    r += c;
  }
  return r;
}

}  // namespace test

/// `statement` fails with errno `code` and a what() equal to `text` (the errno text appended as
/// std::system_error does); without exceptions it dies with "system error in <text>".
#if CORE_MEMORY_EXCEPTIONS
#define EXPECT_SYSTEM_ERROR(statement, errno_value, text)                                          \
  do {                                                                                      \
    try {                                                                                   \
      statement;                                                                            \
      ADD_FAILURE() << "no exception from " #statement;                                     \
    } catch (const std::system_error& e_) {                                                 \
      EXPECT_EQ(e_.code(), std::error_code((errno_value), std::generic_category()));               \
      EXPECT_EQ(std::string(e_.what()),                                                     \
                std::string(text) + ": " + std::generic_category().message(errno_value));          \
    }                                                                                       \
  } while (0)
#else
#define EXPECT_SYSTEM_ERROR(statement, errno_value, text) \
  EXPECT_DEATH(statement, test::regex_escape("system error in " + std::string(text) + ": " + \
                                             std::generic_category().message(errno_value)))
#endif
