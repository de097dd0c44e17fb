#pragma once
// Shared by the system-layer tests: temporary directories, a fault reporter for death tests, and
// one check for errors that throw std::system_error (or, without exceptions, abort with the same
// text through the misuse handler).

#include <core/memory/util/config.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <unistd.h>

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
