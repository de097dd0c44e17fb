#pragma once
// What the interprocess mutex tests and their exec'd child share: the layout of the shared page
// and how it is mapped (a memfd, inherited by the child, which maps it at another address).

#include <core/memory/system/interprocess_mutex.hpp>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include <sys/mman.h>
#include <unistd.h>

namespace test {

/// Everything the processes share. Only the test process runs the constructors.
struct SharedState {
  core::memory::InterprocessMutex mutex;
  core::memory::InterprocessRecursiveMutex recursive;
  core::memory::InterprocessCondition condition;
  volatile std::uint64_t a = 0;  // the two-word invariant a == b, guarded by the mutex
  volatile std::uint64_t b = 0;
  std::atomic<std::uint64_t> iterations{0};  // a child's progress
  std::atomic<int> stage{0};                 // where a child is (set by the child)
  int flag = 0;                              // guarded by the mutex; the condition's predicate
  std::uint64_t counter = 0;                 // guarded by the mutex
};

inline constexpr std::size_t shared_bytes = 4096;
static_assert(sizeof(SharedState) <= shared_bytes);

/// Maps `fd` (a shared_bytes memfd) read-write, at `hint` if the kernel agrees; null on failure.
inline void* map_shared(int fd, void* hint = nullptr) {
  void* p = ::mmap(hint, shared_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

/// A child's part of the condition test: says it waits (stage 1), waits for flag 1, answers with
/// flag 2. Returns the exit code: 0, or 4 if a lock did not find the mutex as expected.
inline int answer_flag(SharedState& s) {
  using core::memory::LockStatus;
  if (s.mutex.lock() != LockStatus::acquired) return 4;
  s.stage.store(1);
  if (s.condition.wait(s.mutex, [&] { return s.flag == 1; }) != LockStatus::acquired) return 4;
  s.flag = 2;
  s.condition.notify_all();
  s.mutex.unlock();
  return 0;
}

}  // namespace test
