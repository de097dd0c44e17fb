#pragma once
// Shared by the shared memory tests: unique segment names that are removed even when a test
// fails, and running the child program (tests/system/shm_child.cpp) in a new process.

#include <core/memory/system/os.hpp>

#include <gtest/gtest.h>

#include <cerrno>

#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace test {

/// "/core-memory-<suite>.<test>-<pid>[-<tag>]": unique per test and run, removed (shm_unlink) by
/// the constructor of a death test's child (which re-runs the test: it starts as the parent did)
/// and by the destructor, so a failing test leaves nothing in /dev/shm.
class ShmName {
 public:
  explicit ShmName(const std::string& tag = "") {
    const bool death_test_child = !GTEST_FLAG_GET(internal_run_death_test).empty();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = "/core-memory-" + std::string(info->test_suite_name()) + "." + info->name() + "-" +
            std::to_string(death_test_child ? ::getppid() : ::getpid()) + (tag.empty() ? "" : "-" + tag);
    if (death_test_child) (void)core::memory::detail::os::unlink_shared(name_.c_str());
  }
  ~ShmName() { (void)core::memory::detail::os::unlink_shared(name_.c_str()); }
  ShmName(const ShmName&) = delete;
  ShmName& operator=(const ShmName&) = delete;
  [[nodiscard]] const std::string& str() const { return name_; }
  [[nodiscard]] const char* c_str() const { return name_.c_str(); }
  operator const std::string&() const { return name_; }  // NOLINT(google-explicit-constructor)
  operator std::string_view() const { return name_; }    // NOLINT(google-explicit-constructor)

 private:
  std::string name_;
};

/// Exit status of a process (128 + signal if killed; -1 if it is not a child to wait for).
inline int exit_status(pid_t pid) {
  int status = 0;
  pid_t r;
  do r = ::waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// True once the child has ended (it stays to be waited for: exit_status still works).
inline bool has_ended(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

/// Starts the child program (a new image: it maps segments wherever its own address space
/// puts them) with `args`; returns its pid.
inline pid_t spawn_child(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string program = CORE_MEMORY_SHM_CHILD;
  argv.push_back(program.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

/// Runs the child program to the end; its exit status.
inline int run_child(const std::vector<std::string>& args) { return exit_status(spawn_child(args)); }

/// Runs `child` in a forked process (same image, same addresses); its exit status.
template <class F>
int in_fork(F child) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(child());
  return exit_status(pid);
}

}  // namespace test
