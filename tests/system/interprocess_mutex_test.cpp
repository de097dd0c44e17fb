// InterprocessMutex, InterprocessRecursiveMutex and InterprocessCondition with real processes
// (fork, and fork+exec of a child that maps the page at another address) and with threads.

#include "interprocess_mutex_shared.hpp"
#include "support/misuse_capture.hpp"
#include "system/system_support.hpp"

#include <core/memory/system/interprocess_mutex.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace {

using core::memory::InterprocessCondition;
using core::memory::InterprocessMutex;
using core::memory::InterprocessRecursiveMutex;
using core::memory::LockStatus;
using core::memory::WaitStatus;
using namespace std::chrono_literals;

/// A page of shared memory (a memfd) with a SharedState built in it, mapped twice: `state` and
/// `other_view` are the same objects at two addresses.
class SharedPage {
 public:
  SharedPage() {
    fd_ = ::memfd_create("interprocess_mutex_test", 0);  // inherited across exec on purpose
    if (fd_ < 0 || ::ftruncate(fd_, test::shared_bytes) != 0) std::abort();
    first_ = test::map_shared(fd_);
    second_ = test::map_shared(fd_);
    if (!first_ || !second_) std::abort();
    state_ = new (first_) test::SharedState;
  }
  ~SharedPage() {
    state_->~SharedState();
    ::munmap(first_, test::shared_bytes);
    ::munmap(second_, test::shared_bytes);
    ::close(fd_);
  }
  SharedPage(const SharedPage&) = delete;
  SharedPage& operator=(const SharedPage&) = delete;

  test::SharedState& state() { return *state_; }
  test::SharedState& other_view() { return *static_cast<test::SharedState*>(second_); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  void* first_ = nullptr;
  void* second_ = nullptr;
  test::SharedState* state_ = nullptr;
};

/// Runs `body` in a forked child, which exits with its result (0: success).
template <class Body>
pid_t fork_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  if (pid < 0) std::abort();
  return pid;
}

/// Starts the exec'd child in `mode` on the page.
pid_t exec_child(SharedPage& page, const char* mode) {
  char fd[16];
  char address[32];
  std::snprintf(fd, sizeof fd, "%d", page.fd());
  std::snprintf(address, sizeof address, "%lx", static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(&page.state())));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(CORE_MEMORY_IPC_CHILD, CORE_MEMORY_IPC_CHILD, fd, address, mode, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) std::abort();
  return pid;
}

/// Waits (at most `seconds`) for the child to end; its exit code, 128 + signal, or -1 if it hung (killed).
int reap(pid_t pid, int seconds = 30) {
  int status = 0;
  // Polled from 20 us, doubling to 1 ms: most children end within a millisecond, and the kill
  // tests reap a few thousand of them.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (std::chrono::microseconds pause = 20us; std::chrono::steady_clock::now() < deadline;
       pause = std::min<std::chrono::microseconds>(pause * 2, 1ms)) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(pause);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

/// Waits (at most 30 s) until `stage` reaches `value`.
bool await_stage(const std::atomic<int>& stage, int value) {
  for (int i = 0; i < 300000 && stage.load() < value; ++i) std::this_thread::sleep_for(100us);
  return stage.load() >= value;
}

/// lock(), but failing the test instead of hanging if the mutex stays held for 30 s (a holder's
/// death the kernel did not see).
template <class M>
LockStatus lock_within_30s(M& m) {
  for (int i = 0; i < 300000; ++i) {
    if (const auto status = m.try_lock_status()) return *status;
    std::this_thread::sleep_for(100us);
  }
  ADD_FAILURE() << "still held after 30 s";
  std::abort();
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  EXPECT_EQ(reap(pid), 128 + SIGKILL);
}

// Both mutexes, through every test that applies to both.
template <class M>
M& mutex_of(test::SharedState& s) {
  if constexpr (std::is_same_v<M, InterprocessMutex>) {
    return s.mutex;
  } else {
    return s.recursive;
  }
}

template <class M>
constexpr const char* name_of() {
  return std::is_same_v<M, InterprocessMutex> ? "core::memory::InterprocessMutex"
                                              : "core::memory::InterprocessRecursiveMutex";
}

/// A forked child that holds `m` (once this returns) until it is killed.
template <class M>
pid_t fork_holder(test::SharedState& s, M& m) {
  s.stage.store(0);
  const pid_t child = fork_child([&] {
    if (m.lock() != LockStatus::acquired) return 4;
    s.stage.store(1);
    for (;;) ::pause();
  });
  EXPECT_TRUE(await_stage(s.stage, 1));
  return child;
}

/// A forked child locks `m` and is killed while it holds it.
template <class M>
void kill_holder(test::SharedState& s, M& m) {
  kill_and_reap(fork_holder(s, m));
}

template <class M>
class BothMutexes : public ::testing::Test {};
using MutexTypes = ::testing::Types<InterprocessMutex, InterprocessRecursiveMutex>;
TYPED_TEST_SUITE(BothMutexes, MutexTypes);

// ---------------------------------------------------------------------------------------------
// The owner's death.

TYPED_TEST(BothMutexes, ChildKilledHoldingItGivesOwnerDiedThenRepairedItWorksAgain) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  auto& m = mutex_of<TypeParam>(s);
  const pid_t child = fork_child([&] {
    if (m.lock() != LockStatus::acquired) return 4;
    if constexpr (std::is_same_v<TypeParam, InterprocessRecursiveMutex>) {
      if (m.lock() != LockStatus::acquired) return 4;  // held twice: the death releases every level
    }
    s.a = 1;  // half of an update
    s.stage.store(1);
    for (;;) ::pause();
  });
  ASSERT_TRUE(await_stage(s.stage, 1));
  EXPECT_EQ(m.try_lock_status(), std::nullopt);  // held by the child
  kill_and_reap(child);

  ASSERT_EQ(m.lock(), LockStatus::owner_died);
  EXPECT_NE(s.a, s.b);
  s.b = s.a;  // repair
  m.consistent();
  m.unlock();
  ASSERT_EQ(m.lock(), LockStatus::acquired);
  m.unlock();
  // ...and in another process too.
  EXPECT_EQ(reap(fork_child([&] {
              if (m.lock() != LockStatus::acquired) return 4;
              m.unlock();
              return 0;
            })),
            0);
}

/// Waits (at most 30 s) until `done` reaches `value`; aborts the test binary if it does not (a
/// thread is stuck in lock()).
void await_or_abort(const std::atomic<int>& done, int value) {
  for (int i = 0; i < 300000 && done.load() < value; ++i) std::this_thread::sleep_for(100us);
  if (done.load() < value) {
    std::fprintf(stderr, "threads still blocked in lock() after 30 s\n");
    std::abort();
  }
}

// Threads asleep in lock() (the waiters bit set) while the holder is killed: the kernel wakes
// one, which gets owner_died; the rest follow, with acquired if it repaired, or with
// lock_not_recoverable (all woken at once) if it did not.
TYPED_TEST(BothMutexes, SleepingWaitersAreWokenByTheOwnersDeath) {
  SKIP_PROCESSES_UNDER_TSAN();
  for (const bool repair : {true, false}) {
#if !CORE_MEMORY_EXCEPTIONS
    if (!repair) continue;  // lock_not_recoverable would abort
#endif
    SharedPage page;
    auto& s = page.state();
    auto& m = mutex_of<TypeParam>(s);
    const pid_t child = fork_holder(s, m);
    constexpr int waiters = 3;
    std::atomic<int> started{0}, done{0}, owner_died{0}, acquired{0}, not_recoverable{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < waiters; ++t) {
      threads.emplace_back([&] {
        started.fetch_add(1);
#if CORE_MEMORY_EXCEPTIONS
        try {
#endif
          if (m.lock() == LockStatus::owner_died) {
            owner_died.fetch_add(1);
            if (repair) m.consistent();
          } else {
            acquired.fetch_add(1);
          }
          m.unlock();
#if CORE_MEMORY_EXCEPTIONS
        } catch (const core::memory::lock_not_recoverable&) {
          not_recoverable.fetch_add(1);
        }
#endif
        done.fetch_add(1);
      });
    }
    await_or_abort(started, waiters);
    std::this_thread::sleep_for(50ms);  // let them fall asleep in the futex
    EXPECT_EQ(done.load(), 0);
    kill_and_reap(child);
    await_or_abort(done, waiters);
    for (auto& t : threads) t.join();
    EXPECT_EQ(owner_died.load(), 1) << "repair " << repair;
    EXPECT_EQ(acquired.load(), repair ? waiters - 1 : 0);
    EXPECT_EQ(not_recoverable.load(), repair ? 0 : waiters - 1);
  }
}

TYPED_TEST(BothMutexes, TryLockStatusReportsTheOwnersDeath) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& m = mutex_of<TypeParam>(page.state());
  ASSERT_NO_FATAL_FAILURE(kill_holder(page.state(), m));
  ASSERT_EQ(m.try_lock_status(), LockStatus::owner_died);
  m.consistent();
  m.unlock();
  ASSERT_EQ(m.try_lock_status(), LockStatus::acquired);
  m.unlock();
}

TYPED_TEST(BothMutexes, HolderThreadThatExitsIsADeathToo) {
  SharedPage page;
  auto& m = mutex_of<TypeParam>(page.state());
  std::thread([&] { ASSERT_EQ(m.lock(), LockStatus::acquired); }).join();
  ASSERT_EQ(m.lock(), LockStatus::owner_died);
  m.consistent();
  m.unlock();
}

TEST(InterprocessMutex, ExecdChildAtAnotherAddressThatExitsHoldingItIsADeath) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  EXPECT_EQ(reap(exec_child(page, "exit-holding")), 0);
  EXPECT_EQ(s.stage.load(), 1);
  ASSERT_EQ(s.mutex.lock(), LockStatus::owner_died);
  s.mutex.consistent();
  s.mutex.unlock();
}

TEST(InterprocessMutex, ExecdChildAtAnotherAddressKilledHoldingEitherMutex) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  pid_t child = exec_child(page, "hold");
  ASSERT_TRUE(await_stage(s.stage, 1));
  EXPECT_FALSE(s.mutex.try_lock());
  kill_and_reap(child);
  ASSERT_EQ(s.mutex.lock(), LockStatus::owner_died);
  s.mutex.consistent();
  s.mutex.unlock();

  s.stage.store(0);
  child = exec_child(page, "hold-recursive");
  ASSERT_TRUE(await_stage(s.stage, 1));
  EXPECT_FALSE(s.recursive.try_lock());
  kill_and_reap(child);
  ASSERT_EQ(s.recursive.lock(), LockStatus::owner_died);
  ASSERT_EQ(s.recursive.lock(), LockStatus::acquired);  // recursion in the owner-died state
  s.recursive.consistent();
  s.recursive.unlock();
  s.recursive.unlock();
  EXPECT_EQ(reap(fork_child([&] { return s.recursive.try_lock() ? 0 : 4; })), 0);  // released: count was 2
}

TYPED_TEST(BothMutexes, UnlockWithoutConsistentMakesItNotRecoverableForEveryone) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& m = mutex_of<TypeParam>(page.state());
  ASSERT_NO_FATAL_FAILURE(kill_holder(page.state(), m));
  ASSERT_EQ(m.lock(), LockStatus::owner_died);
  m.unlock();  // no consistent(): the data is declared lost

  char address[32];
  std::snprintf(address, sizeof address, "%p", static_cast<const void*>(&m));
  const std::string expected = std::string(name_of<TypeParam>()) + " at " + address +
                               ": lock: not recoverable: an owner died holding it and the next owner unlocked it "
                               "without calling consistent(): State not recoverable";
#if CORE_MEMORY_EXCEPTIONS
  for (int attempt = 0; attempt < 2; ++attempt) {  // lock(), then try_lock()
    try {
      if (attempt == 0) {
        (void)m.lock();
      } else {
        (void)m.try_lock();
      }
      ADD_FAILURE() << "no lock_not_recoverable";
    } catch (const core::memory::lock_not_recoverable& e) {
      EXPECT_EQ(e.code(), std::error_code(ENOTRECOVERABLE, std::generic_category()));
      EXPECT_EQ(std::string(e.what()), expected);
      EXPECT_EQ(e.mutex(), &m);
    }
  }
  // Every other process learns it too.
  EXPECT_EQ(reap(fork_child([&] {
              try {
                (void)m.lock();
              } catch (const core::memory::lock_not_recoverable&) {
                return 0;
              }
              return 4;
            })),
            0);
#else
  // The death test runs in a re-executed process: the mapping's address differs there.
  const std::string tail = ": lock: not recoverable: an owner died holding it and the next owner unlocked it "
                           "without calling consistent(): State not recoverable";
  const std::string pattern = test::regex_escape(std::string("system error in ") + name_of<TypeParam>() + " at ") +
                              "0x[0-9a-f]+" + test::regex_escape(tail);
  EXPECT_DEATH((void)m.lock(), pattern);
  EXPECT_DEATH((void)m.try_lock(), pattern);
#endif
}

// A child loops lock / break the invariant a == b / restore it / unlock; the parent kills it at
// a random moment, locks, and must find the invariant intact after a clean acquisition, or be
// told owner_died (and then repairs it). 1,000 times (a tenth under sanitizers, whose forks are
// slow), each bounded in time.
TYPED_TEST(BothMutexes, KilledAtRandomPointsAThousandTimesNeverDeadlocksNorHidesADeath) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  auto& m = mutex_of<TypeParam>(s);
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> delay_us(0, 200);
  int owner_died = 0, repaired = 0, clean = 0;
  const auto start = std::chrono::steady_clock::now();
  const int kills = test::rounds(1000);
  for (int round = 0; round < kills; ++round) {
    s.iterations.store(0);
    const pid_t child = fork_child([&] {
      for (std::uint64_t i = 1;; ++i) {
        if (m.lock() == LockStatus::owner_died) return 4;  // the parent never dies holding it
        for (int k = 0; k < 50; ++k) s.a = i;  // volatile: 50 stores, a window with a != b
        s.b = i;
        m.unlock();
        s.iterations.fetch_add(1, std::memory_order_relaxed);
      }
    });
    while (s.iterations.load() == 0) std::this_thread::yield();  // the child is looping
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
    ::kill(child, SIGKILL);
    const int result = reap(child);
    ASSERT_EQ(result, 128 + SIGKILL) << "round " << round;
    const LockStatus status = lock_within_30s(m);
    if (status == LockStatus::owner_died) {
      ++owner_died;
      if (s.a != s.b) {
        ++repaired;
        s.b = s.a;
      }
      m.consistent();
    } else {
      ++clean;
      ASSERT_EQ(s.a, s.b) << "a clean acquisition found a broken invariant, round " << round;
    }
    m.unlock();
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d kills: %d owner_died (%d with a broken invariant), %d clean, %.2f s\n", kills, owner_died,
              repaired, clean, seconds);
  EXPECT_GT(owner_died, 0);
  EXPECT_GT(repaired, 0);  // some kills landed inside the critical section
  EXPECT_LT(seconds, 240.0);
}

// These mutexes share each thread's robust list with glibc's robust mutexes: a child holding
// any mix of both, taken and released in any order, then killed, leaves every one it held
// owner-died and none of the others.
TEST(InterprocessMutex, SharesTheRobustListWithGlibcsRobustMutexesInAnyOrder) {
  SKIP_PROCESSES_UNDER_TSAN();
  constexpr int ours = 4, theirs = 3, all = ours + theirs;
  struct Mix {
    InterprocessMutex ours[4];
    pthread_mutex_t theirs[3];
    int held[7];
  };
  void* memory = ::mmap(nullptr, sizeof(Mix), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  auto* mix = new (memory) Mix;
  pthread_mutexattr_t attributes;
  ::pthread_mutexattr_init(&attributes);
  ::pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  ::pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  for (auto& m : mix->theirs) ::pthread_mutex_init(&m, &attributes);
  ::pthread_mutexattr_destroy(&attributes);

  std::mt19937 random(7);
  for (int round = 0; round < 150; ++round) {
    const unsigned seed = static_cast<unsigned>(random());
    const pid_t child = fork_child([&] {
      std::mt19937 steps(seed);
      bool held[all] = {};
      for (int step = 0; step < 24; ++step) {
        const int i = static_cast<int>(steps() % all);
        if (i < ours) {
          if (held[i]) {
            mix->ours[i].unlock();
          } else if (mix->ours[i].lock() != LockStatus::acquired) {
            return 4;
          }
        } else if ((held[i] ? ::pthread_mutex_unlock(&mix->theirs[i - ours]) : ::pthread_mutex_lock(&mix->theirs[i - ours])) != 0) {
          return 4;
        }
        held[i] = !held[i];
      }
      for (int i = 0; i < all; ++i) mix->held[i] = held[i];
      ::raise(SIGKILL);
      return 5;
    });
    ASSERT_EQ(reap(child), 128 + SIGKILL) << "round " << round;
    for (int i = 0; i < all; ++i) {
      if (i < ours) {
        const LockStatus status = lock_within_30s(mix->ours[i]);
        EXPECT_EQ(status, mix->held[i] ? LockStatus::owner_died : LockStatus::acquired) << "round " << round << " ours " << i;
        if (status == LockStatus::owner_died) mix->ours[i].consistent();
        mix->ours[i].unlock();
      } else {
        const int error = ::pthread_mutex_lock(&mix->theirs[i - ours]);
        EXPECT_EQ(error, mix->held[i] ? EOWNERDEAD : 0) << "round " << round << " glibc's " << i - ours;
        if (error == EOWNERDEAD) ::pthread_mutex_consistent(&mix->theirs[i - ours]);
        ::pthread_mutex_unlock(&mix->theirs[i - ours]);
      }
    }
  }
  for (auto& m : mix->theirs) ::pthread_mutex_destroy(&m);
  mix->~Mix();
  ::munmap(memory, sizeof(Mix));
}

// ---------------------------------------------------------------------------------------------
// The condition variable.

TEST(InterprocessCondition, SignalsAcrossProcessesBothWays) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  for (const bool exec : {false, true}) {
    s.flag = 0;
    s.stage.store(0);
    const pid_t child = exec ? exec_child(page, "wait") : fork_child([&] { return test::answer_flag(s); });
    ASSERT_TRUE(await_stage(s.stage, 1));
    ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);  // the child is waiting (it released the mutex)
    s.flag = 1;
    s.condition.notify_one();
    EXPECT_EQ(s.condition.wait_for(s.mutex, 30s, [&] { return s.flag == 2; }), WaitStatus::no_timeout);
    s.mutex.unlock();
    EXPECT_EQ(reap(child), 0) << (exec ? "exec" : "fork");
  }
}

TEST(InterprocessCondition, NotifyAllWakesEveryProcess) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  std::vector<pid_t> children;
  for (int i = 0; i < 3; ++i) {
    children.push_back(fork_child([&] {
      if (s.mutex.lock() != LockStatus::acquired) return 4;
      ++s.counter;
      s.condition.notify_all();  // tell the parent
      if (s.condition.wait(s.mutex, [&] { return s.flag == 1; }) != LockStatus::acquired) return 4;
      s.mutex.unlock();
      return 0;
    }));
  }
  ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);
  EXPECT_EQ(s.condition.wait_for(s.mutex, 30s, [&] { return s.counter == 3; }), WaitStatus::no_timeout);
  s.flag = 1;
  s.condition.notify_all();
  s.mutex.unlock();
  for (const pid_t child : children) EXPECT_EQ(reap(child), 0);
}

// pthread_cond_t counts its waiters inside itself: a waiter killed while waiting can absorb a
// signal. This condition keeps no per-waiter state.
TEST(InterprocessCondition, WaiterKilledWhileWaitingLosesNoNotification) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  auto waiter = [&] {
    if (s.mutex.lock() != LockStatus::acquired) return 4;
    s.stage.fetch_add(1);
    if (s.condition.wait(s.mutex, [&] { return s.flag == 1; }) != LockStatus::acquired) return 4;
    s.mutex.unlock();
    return 0;
  };
  const pid_t doomed = fork_child(waiter);
  ASSERT_TRUE(await_stage(s.stage, 1));
  ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);  // the doomed child is in wait
  s.mutex.unlock();
  kill_and_reap(doomed);

  const pid_t survivor = fork_child(waiter);
  ASSERT_TRUE(await_stage(s.stage, 2));
  ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);  // acquired, not owner_died: the dead child was waiting
  s.flag = 1;
  s.condition.notify_one();  // must reach the survivor, not the dead
  s.mutex.unlock();
  EXPECT_EQ(reap(survivor), 0);
}

TEST(InterprocessCondition, WaiterWhoseMutexOwnerDiesGetsOwnerDied) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  for (const bool timed : {false, true}) {
    s.flag = 0;
    ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);
    const pid_t child = fork_child([&] {
      if (s.mutex.lock() != LockStatus::acquired) return 4;  // once the parent waits
      s.flag = 1;
      s.a = s.b + 1;  // broken, then dies holding the mutex
      s.condition.notify_one();
      ::raise(SIGKILL);
      return 5;
    });
    bool predicate_called_after_death = false;
    auto pred = [&] {
      if (s.flag == 1) predicate_called_after_death = true;
      return s.flag == 1;
    };
    if (timed) {
      EXPECT_EQ(s.condition.wait_for(s.mutex, 30s, pred), WaitStatus::owner_died);
    } else {
      EXPECT_EQ(s.condition.wait(s.mutex, pred), LockStatus::owner_died);
    }
    EXPECT_FALSE(predicate_called_after_death) << "the predicate ran on data the dead owner left";
    EXPECT_EQ(reap(child), 128 + SIGKILL);
    s.b = s.a;  // repair
    s.mutex.consistent();
    s.mutex.unlock();
  }
}

// A clock the futex does not know: its deadlines are converted to the steady clock.
struct OtherClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<OtherClock>;
  [[maybe_unused]] static constexpr bool is_steady = true;
  static time_point now() { return time_point(std::chrono::steady_clock::now().time_since_epoch() + 1h); }
};

TEST(InterprocessCondition, TimedWaitsTimeOutHoldingTheMutex) {
  SharedPage page;
  auto& s = page.state();
  ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);
  for (int which = 0; which < 4; ++which) {
    const auto start = std::chrono::steady_clock::now();
    const auto start_realtime = std::chrono::system_clock::now();
    WaitStatus status{};
    switch (which) {
      case 0: status = s.condition.wait_for(s.mutex, 20ms); break;
      case 1: status = s.condition.wait_until(s.mutex, std::chrono::system_clock::now() + 20ms); break;
      case 2: status = s.condition.wait_until(s.mutex, std::chrono::steady_clock::now() + 20ms); break;
      case 3: status = s.condition.wait_until(s.mutex, OtherClock::now() + 20ms); break;
    }
    EXPECT_EQ(status, WaitStatus::timeout) << which;
    // Elapsed on the deadline's own clock: the realtime clock may be slewed or stepped against
    // the steady one (a CI machine's ran 0.3 ms short of 20 ms by the steady clock).
    if (which == 1)
      EXPECT_GE(std::chrono::system_clock::now() - start_realtime, 20ms) << which;
    else
      EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms) << which;
    bool other_thread_locked = true;
    std::thread([&] { other_thread_locked = s.mutex.try_lock(); }).join();
    EXPECT_FALSE(other_thread_locked) << which;  // held again
  }
  EXPECT_EQ(s.condition.wait_for(s.mutex, 1ms, [] { return false; }), WaitStatus::timeout);
  EXPECT_EQ(s.condition.wait_for(s.mutex, 1ms, [] { return true; }), WaitStatus::no_timeout);
  EXPECT_EQ(s.condition.wait_until(s.mutex, std::chrono::steady_clock::now() - 1s), WaitStatus::timeout);
  s.mutex.unlock();
}

// ---------------------------------------------------------------------------------------------
// Threads (these run under ThreadSanitizer too).

TYPED_TEST(BothMutexes, ThreadsAtTwoAddressesExcludeEachOtherThroughStdGuards) {
  SharedPage page;
  auto& first = mutex_of<TypeParam>(page.state());
  // The same mutex, mapped elsewhere; not under ThreadSanitizer, to which two addresses are two
  // objects (it would see the counter guarded by two different locks).
  auto& second = test::under_tsan ? first : mutex_of<TypeParam>(page.other_view());
  ASSERT_TRUE(test::under_tsan || static_cast<void*>(&first) != static_cast<void*>(&second));
  std::uint64_t& counter = page.state().counter;
  constexpr int threads = 4, rounds = 5000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        if ((i + t) % 3 == 0) {
          std::lock_guard<TypeParam> guard(t % 2 ? first : second);
          ++counter;
        } else if ((i + t) % 3 == 1) {
          std::unique_lock<TypeParam> guard(t % 2 ? first : second, std::try_to_lock);
          if (!guard.owns_lock()) guard.lock();
          ++counter;
        } else {
          std::scoped_lock guard(t % 2 ? first : second);
          ++counter;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(counter, std::uint64_t{threads} * rounds);
}

TEST(InterprocessMutex, ScopedLockTakesBothMutexes) {
  SharedPage page;
  auto& s = page.state();
  std::uint64_t done = 0;
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (t == 0) {
          std::scoped_lock both(s.mutex, s.recursive);
          ++done;
        } else {
          std::scoped_lock both(s.recursive, s.mutex);
          ++done;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(done, 4000u);
}

TEST(InterprocessMutex, ProcessesAndThreadsContend) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  const pid_t child = exec_child(page, "count");
  std::vector<std::thread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        std::lock_guard guard(s.mutex);
        ++s.counter;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(reap(child), 0);
  EXPECT_EQ(s.counter, 60000u);
}

TEST(InterprocessCondition, ProducerConsumerThreads) {
  SharedPage page;
  auto& s = page.state();
  constexpr int items = 2000;
  std::thread consumer([&] {
    for (int taken = 0; taken < items; ++taken) {
      ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);
      ASSERT_EQ(s.condition.wait(s.mutex, [&] { return s.counter > 0; }), LockStatus::acquired);
      --s.counter;
      s.condition.notify_all();
      s.mutex.unlock();
    }
  });
  for (int given = 0; given < items; ++given) {
    ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);
    ASSERT_EQ(s.condition.wait_for(s.mutex, 30s, [&] { return s.counter < 4; }), WaitStatus::no_timeout);
    ++s.counter;
    s.condition.notify_one();
    s.mutex.unlock();
  }
  consumer.join();
  EXPECT_EQ(s.counter, 0u);
}

TEST(InterprocessRecursiveMutex, NestsAndReleasesAtTheLastUnlock) {
  SharedPage page;
  auto& m = page.state().recursive;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(m.lock(), LockStatus::acquired);
  ASSERT_EQ(m.try_lock_status(), LockStatus::acquired);
  auto other_can_lock = [&] {
    bool locked = false;
    std::thread([&] {
      locked = m.try_lock();
      if (locked) m.unlock();
    }).join();
    return locked;
  };
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(other_can_lock()) << i;
    m.unlock();
  }
  EXPECT_TRUE(other_can_lock());
}

// ---------------------------------------------------------------------------------------------
// Misuse: every kind, for both mutexes, reaches the handler naming the mutex; the operation is
// abandoned when the handler returns.

template <class M>
void expect_report(const test::MisuseCapture& capture, std::size_t count, const void* mutex, const char* text) {
  ASSERT_EQ(capture.count(), count);
  EXPECT_EQ(capture.last().kind, core::memory::error_kind::assertion);
  EXPECT_EQ(capture.last().allocator, name_of<M>());
  EXPECT_EQ(capture.last().address, mutex);
  EXPECT_NE(capture.last().text.find(text), std::string::npos) << capture.last().text;
}

TYPED_TEST(BothMutexes, MisuseIsReportedAndAbandoned) {
  SharedPage page;
  auto& m = mutex_of<TypeParam>(page.state());
  test::MisuseCapture capture;
  std::size_t reports = 0;

  m.unlock();  // not held by anyone
  expect_report<TypeParam>(capture, ++reports, &m, "unlock() by a thread that does not hold it");

  ASSERT_EQ(m.lock(), LockStatus::acquired);
  std::thread([&] { m.unlock(); }).join();  // held by another thread
  expect_report<TypeParam>(capture, ++reports, &m, "unlock() by a thread that does not hold it");
  std::thread([&] { EXPECT_FALSE(m.try_lock()); }).join();  // the bad unlock was abandoned: still held

  m.consistent();  // held, but not in the owner-died state
  expect_report<TypeParam>(capture, ++reports, &m, "consistent() when the mutex is not in the owner-died state");
  std::thread([&] { m.consistent(); }).join();
  expect_report<TypeParam>(capture, ++reports, &m, "consistent() by a thread that does not hold it");

  if constexpr (std::is_same_v<TypeParam, InterprocessMutex>) {
    EXPECT_EQ(m.lock(), LockStatus::acquired);  // self-deadlock: reported, not waited for
    expect_report<TypeParam>(capture, ++reports, &m, "lock() by the thread that holds it");
    EXPECT_FALSE(m.try_lock());
    expect_report<TypeParam>(capture, ++reports, &m, "try_lock() by the thread that holds it");
  }
  m.unlock();
  m.unlock();
  expect_report<TypeParam>(capture, ++reports, &m, "unlock() by a thread that does not hold it");
  EXPECT_EQ(m.lock(), LockStatus::acquired);
  m.unlock();
}

TYPED_TEST(BothMutexes, ConsistentByAnotherThreadDuringTheOwnerDiedStateIsReported) {
  SharedPage page;
  auto& m = mutex_of<TypeParam>(page.state());
  std::thread([&] { ASSERT_EQ(m.lock(), LockStatus::acquired); }).join();  // dies holding it
  ASSERT_EQ(m.lock(), LockStatus::owner_died);
  {
    test::MisuseCapture capture;
    std::thread([&] { m.consistent(); }).join();
    expect_report<TypeParam>(capture, 1, &m, "consistent() by a thread that does not hold it");
  }
  m.consistent();  // the holder can still repair it
  m.unlock();
  EXPECT_EQ(m.lock(), LockStatus::acquired);
  m.unlock();
}

TYPED_TEST(BothMutexes, DestroyingALockedMutexIsReported) {
  alignas(TypeParam) unsigned char storage[sizeof(TypeParam)];
  test::MisuseCapture capture;
  {  // held by the calling thread (twice, for the recursive one): reported, then released
    auto* m = new (storage) TypeParam;
    ASSERT_EQ(m->lock(), LockStatus::acquired);
    if constexpr (std::is_same_v<TypeParam, InterprocessRecursiveMutex>) {
      ASSERT_EQ(m->lock(), LockStatus::acquired);
    }
    m->~TypeParam();
    expect_report<TypeParam>(capture, 1, m, "destroyed while the calling thread holds it");
  }
  {  // a fresh one in the same place works: this thread's robust list was left clean
    auto* m = new (storage) TypeParam;
    ASSERT_EQ(m->lock(), LockStatus::acquired);
    m->unlock();
    m->~TypeParam();
    EXPECT_EQ(capture.count(), 1u);
  }
  {  // held by another thread
    auto* m = new (storage) TypeParam;
    std::atomic<int> stage{0};
    std::thread holder([&] {
      ASSERT_EQ(m->lock(), LockStatus::acquired);
      stage = 1;
      while (stage.load() != 2) std::this_thread::yield();
      m->unlock();
    });
    while (stage.load() != 1) std::this_thread::yield();
    m->~TypeParam();
    expect_report<TypeParam>(capture, 2, m, "destroyed while another thread or process holds it");
    stage = 2;
    holder.join();
    m->~TypeParam();  // released now: no report
    EXPECT_EQ(capture.count(), 2u);
  }
  {  // whose owner died: tearing down is fine
    auto* m = new (storage) TypeParam;
    std::thread([&] { ASSERT_EQ(m->lock(), LockStatus::acquired); }).join();
    m->~TypeParam();
    EXPECT_EQ(capture.count(), 2u);
  }
}

TEST(InterprocessMutex, MisuseWithTheDefaultHandlerAborts) {
  InterprocessMutex m;
  EXPECT_DEATH(m.unlock(), "assertion failed in core::memory::InterprocessMutex at 0x[0-9a-f]+: unlock\\(\\) by a "
                           "thread that does not hold it");
  EXPECT_DEATH(
      {
        (void)m.lock();
        m.consistent();
      },
      "consistent\\(\\) when the mutex is not in the owner-died state");
}


// ---------------------------------------------------------------------------------------------
// Deaths at chosen instructions: a traced (ptrace) child is stopped where a test wants it, then
// killed or let go.

/// True once `pid` sleeps in a futex (its /proc wchan says so); waits at most 10 s.
bool await_futex_sleep(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/wchan", static_cast<int>(pid));
  for (int i = 0; i < 100000; ++i) {
    if (std::FILE* f = std::fopen(path, "r")) {
      char text[128] = {};
      const std::size_t n = std::fread(text, 1, sizeof text - 1, f);
      std::fclose(f);
      if (n > 0 && std::strstr(text, "futex")) return true;
    }
    std::this_thread::sleep_for(100us);
  }
  return false;
}

/// A forked child traced by the calling thread: it runs `body` (its exit code is the result),
/// stopping at each raise(SIGSTOP) in it (a mark) and wherever the tracer asks.
class Tracee {
 public:
  enum class Stop { mark, step, syscall, ended };

  template <class Body>
  explicit Tracee(Body body) : pid_(::fork()) {
    if (pid_ == 0) {
      ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
      ::raise(SIGSTOP);
      ::_exit(body());
    }
    if (pid_ < 0 || wait() != Stop::mark) std::abort();
    ::ptrace(PTRACE_SETOPTIONS, pid_, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
  }
  ~Tracee() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Tracee(const Tracee&) = delete;
  Tracee& operator=(const Tracee&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  /// Lets it run (`request`: PTRACE_CONT, PTRACE_SYSCALL, PTRACE_SINGLESTEP) without waiting.
  void resume(int request) { ::ptrace(static_cast<__ptrace_request>(request), pid_, nullptr, nullptr); }
  /// Waits for its next stop (passing on signals other than its marks and traps).
  Stop wait() {
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, 0) != pid_ || !WIFSTOPPED(status)) return Stop::ended;
      const int signal = WSTOPSIG(status);
      if (signal == SIGSTOP) return Stop::mark;
      if (signal == (SIGTRAP | 0x80)) return Stop::syscall;
      if (signal == SIGTRAP) return Stop::step;
      ::ptrace(PTRACE_CONT, pid_, nullptr, reinterpret_cast<void*>(static_cast<std::intptr_t>(signal)));
    }
  }
  Stop run(int request) {
    resume(request);
    return wait();
  }
  /// Runs it to the entry of its next futex call of operation `op` on `word` (false: it ended
  /// or stopped at a mark first).
  bool run_to_futex(const void* word, int op) {
    for (;;) {
      if (run(PTRACE_SYSCALL) != Stop::syscall) return false;
      __ptrace_syscall_info info{};
      ::ptrace(PTRACE_GET_SYSCALL_INFO, pid_, reinterpret_cast<void*>(sizeof info), &info);
      if (info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == SYS_futex &&
          info.entry.args[0] == reinterpret_cast<std::uintptr_t>(word) &&
          (info.entry.args[1] & FUTEX_CMD_MASK) == static_cast<unsigned>(op)) {
        return true;
      }
    }
  }
  /// Lets it go untraced; the caller reaps the returned pid.
  pid_t detach() {
    ::ptrace(PTRACE_DETACH, pid_, nullptr, nullptr);
    return std::exchange(pid_, -1);
  }
  /// Kills it; its end as reap() says it.
  int kill() {
    ::kill(pid_, SIGKILL);
    return reap(std::exchange(pid_, -1));
  }

 private:
  pid_t pid_;
};

/// Locks `m`, repairs if its owner died, unlocks; 0, or 5 if it was not recoverable.
template <class M>
int lock_repair_unlock(M& m) {
#if CORE_MEMORY_EXCEPTIONS
  try {
#endif
    if (m.lock() == LockStatus::owner_died) m.consistent();
    m.unlock();
    return 0;
#if CORE_MEMORY_EXCEPTIONS
  } catch (const core::memory::lock_not_recoverable&) {
    return 5;
  }
#endif
}

// The waiters bit: a waiter woken by an unlock finds that the next holder died holding the mutex
// (which it took without the bit: the unlock had cleared it). The woken waiter takes it as
// owner_died and must set the bit again, or its unlock does not wake those still asleep.
TYPED_TEST(BothMutexes, AWokenWaiterThatTakesADeadOwnersMutexWakesTheOthersLater) {
  SKIP_PROCESSES_UNDER_TSAN();
  SKIP_WITHOUT_PTRACE();
  SharedPage page;
  auto& m = mutex_of<TypeParam>(page.state());
  std::atomic<int> step{0};
  std::thread holder([&] {
    if (m.lock() != LockStatus::acquired) std::abort();
    step = 1;
    while (step.load() != 2) std::this_thread::sleep_for(100us);
    m.unlock();        // wakes the first waiter
    (void)m.lock();    // before it runs...
  });                  // ...and dies holding it (the thread ends)
  while (step.load() != 1) std::this_thread::sleep_for(100us);
  Tracee first([&] { return lock_repair_unlock(m); });
  ASSERT_TRUE(first.run_to_futex(&m, FUTEX_WAIT));
  first.resume(PTRACE_SYSCALL);  // into the futex; the next stop is its return from there
  ASSERT_TRUE(await_futex_sleep(first.pid()));
  const pid_t second = fork_child([&] { return lock_repair_unlock(m); });
  ASSERT_TRUE(await_futex_sleep(second));
  step = 2;
  holder.join();
  ASSERT_EQ(first.wait(), Tracee::Stop::syscall);  // woken, back from the futex, not yet looking
  EXPECT_EQ(reap(first.detach(), 10), 0);
  EXPECT_EQ(reap(second, 10), 0) << "the second waiter was never woken";
}

// glibc's _Fork() runs no atfork handlers: the child's thread must still be told apart from the
// parent's (its thread id), or it "holds" what the parent holds and its death goes unseen.
TYPED_TEST(BothMutexes, AChildOfUnderscoreForkIsAnotherThread) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  auto& m = mutex_of<TypeParam>(s);
  ASSERT_EQ(m.lock(), LockStatus::acquired);  // this thread looked itself up
  pid_t child = ::_Fork();
  if (child == 0) ::_exit(m.try_lock() ? 4 : 0);  // held by the parent
  ASSERT_GT(child, 0);
  EXPECT_EQ(reap(child), 0) << "the child took what the parent holds";
  m.unlock();

  s.stage.store(0);
  child = ::_Fork();
  if (child == 0) {
    if (m.lock() != LockStatus::acquired) ::_exit(4);
    s.stage.store(1);
    ::raise(SIGKILL);
  }
  ASSERT_GT(child, 0);
  EXPECT_EQ(reap(child), 128 + SIGKILL);
  ASSERT_EQ(s.stage.load(), 1);
  test::MisuseCapture capture;  // the parent must not believe it holds it
  std::optional<LockStatus> status;
  for (int i = 0; i < 1000 && !status; ++i) {
    status = m.try_lock_status();
    if (!status) std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(capture.count(), 0u) << capture.last().text;
  ASSERT_EQ(status, LockStatus::owner_died) << "the child's death went unseen";
  m.consistent();
  m.unlock();
}

// exec() ends the process image: the kernel releases the robust list then, as at an exit.
TEST(InterprocessMutex, AHolderThatExecsHasDied) {
  SKIP_PROCESSES_UNDER_TSAN();
  SharedPage page;
  auto& s = page.state();
  const pid_t child = fork_child([&] {
    if (s.mutex.lock() != LockStatus::acquired) return 4;
    s.stage.store(1);
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    return 127;
  });
  ASSERT_TRUE(await_stage(s.stage, 1));
  ASSERT_EQ(lock_within_30s(s.mutex), LockStatus::owner_died);
  EXPECT_EQ(::kill(child, 0), 0);  // while the new image runs
  s.mutex.consistent();
  s.mutex.unlock();
  kill_and_reap(child);
}

// Deadlines too far to represent in nanoseconds wait (for the notification) instead of
// overflowing into the past.
TEST(InterprocessCondition, FarDeadlinesWaitForTheNotification) {
  SharedPage page;
  auto& s = page.state();
  using namespace std::chrono;
  for (int which = 0; which < 6; ++which) {
    s.flag = 0;
    std::thread notifier([&] {
      std::this_thread::sleep_for(30ms);
      ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);
      s.flag = 1;
      s.condition.notify_all();
      s.mutex.unlock();
    });
    ASSERT_EQ(s.mutex.lock(), LockStatus::acquired);
    const auto start = steady_clock::now();
    const auto pred = [&] { return s.flag == 1; };
    WaitStatus status{};
    switch (which) {
      case 0: status = s.condition.wait_for(s.mutex, hours::max(), pred); break;
      case 1: status = s.condition.wait_for(s.mutex, nanoseconds::max(), pred); break;
      case 2: status = s.condition.wait_until(s.mutex, steady_clock::time_point::max(), pred); break;
      case 3: status = s.condition.wait_until(s.mutex, time_point<system_clock, hours>::max(), pred); break;
      case 4: status = s.condition.wait_until(s.mutex, OtherClock::time_point::max(), pred); break;
      case 5: status = s.condition.wait_for(s.mutex, duration<double>(1e300), pred); break;
    }
    EXPECT_EQ(status, WaitStatus::no_timeout) << which;
    EXPECT_GE(steady_clock::now() - start, 20ms) << which;
    s.mutex.unlock();
    notifier.join();
  }
}


// Killed at every instruction of lock() and unlock(), from each state the mutex can be in: the
// mutexes the child held already (one of ours, one of glibc's) are always owner-died (the robust
// list is never left broken), the one it worked on is free or owner-died (or not recoverable,
// if it was on its way there), and the processes asleep on it always wake.
TYPED_TEST(BothMutexes, KilledAtEveryInstructionOfLockAndUnlock) {
  SKIP_PROCESSES_UNDER_TSAN();
  SKIP_WITHOUT_PTRACE();
  SharedPage page;
  auto& s = page.state();
  auto& m = mutex_of<TypeParam>(s);
  using Other = std::conditional_t<std::is_same_v<TypeParam, InterprocessMutex>, InterprocessRecursiveMutex, InterprocessMutex>;
  auto& held = mutex_of<Other>(s);
  void* memory = ::mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  auto* glibc = static_cast<pthread_mutex_t*>(memory);
  pthread_mutexattr_t attributes;
  ::pthread_mutexattr_init(&attributes);
  ::pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  ::pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  ::pthread_mutex_init(glibc, &attributes);
  ::pthread_mutexattr_destroy(&attributes);

  enum Op { lock_free, lock_owner_died, unlock, unlock_contended, unlock_not_recoverable };
  for (const Op op : {lock_free, lock_owner_died, unlock, unlock_contended, unlock_not_recoverable}) {
    const bool owner_died_first = op == lock_owner_died || op == unlock_not_recoverable;
    const int sleepers = op == unlock_contended || op == unlock_not_recoverable ? 2 : 0;
    // One round: the child is killed after `steps` instructions of the operation (or when done); `ran`: how many it ran.
    const auto round = [&](int steps, int& ran) {
      bool finished = false;
      ran = 0;
      if (owner_died_first) std::thread([&] { (void)m.lock(); }).join();  // dies holding it
      Tracee child([&] {
        if (held.lock() != LockStatus::acquired || ::pthread_mutex_lock(glibc) != 0) return 4;
        if (op == unlock || op == unlock_contended) (void)m.lock();
        if (op == unlock_not_recoverable && m.lock() != LockStatus::owner_died) return 4;
        ::raise(SIGSTOP);  // the operation starts
        if (op == lock_free || op == lock_owner_died) {
          (void)m.lock();
        } else {
          m.unlock();
        }
        ::raise(SIGSTOP);  // done
        for (;;) ::pause();
      });
      ASSERT_EQ(child.run(PTRACE_CONT), Tracee::Stop::mark) << op;
      std::vector<pid_t> asleep;
      for (int i = 0; i < sleepers; ++i) {
        asleep.push_back(fork_child([&] { return lock_repair_unlock(m); }));
        ASSERT_TRUE(await_futex_sleep(asleep.back()));
      }
      for (; ran < steps && !finished; ++ran) finished = child.run(PTRACE_SINGLESTEP) != Tracee::Stop::step;
      EXPECT_EQ(child.kill(), 128 + SIGKILL);

      const auto where = [&] { return "operation " + std::to_string(op) + ", killed after " + std::to_string(ran) + " instructions"; };
      ASSERT_EQ(lock_within_30s(held), LockStatus::owner_died) << where();
      held.consistent();
      held.unlock();
      ASSERT_EQ(::pthread_mutex_lock(glibc), EOWNERDEAD) << where();
      ::pthread_mutex_consistent(glibc);
      ::pthread_mutex_unlock(glibc);
      for (const pid_t p : asleep) {
        const int end = reap(p, 10);
        ASSERT_TRUE(end == 0 || end == 5 || (!CORE_MEMORY_EXCEPTIONS && end == 128 + SIGABRT)) << where() << ": " << end;
      }
      // The mutex itself, seen by another process: 0 acquired, 1 owner_died, 5 not recoverable.
      const int found = reap(fork_child([&] {
#if CORE_MEMORY_EXCEPTIONS
                               try {
#endif
                                 const auto status = m.try_lock_status();
                                 return !status ? 3 : *status == LockStatus::owner_died ? 1 : 0;
#if CORE_MEMORY_EXCEPTIONS
                               } catch (const core::memory::lock_not_recoverable&) {
                                 return 5;
                               }
#endif
                             }),
                             10);
      const bool may_be_not_recoverable = op == unlock_not_recoverable;
      ASSERT_TRUE(found == 0 || found == 1 || (may_be_not_recoverable && (found == 5 || found == 128 + SIGABRT)))
          << where() << ": " << found;
      if (op == lock_owner_died) {
        ASSERT_EQ(found, 1) << where();
      }
      m.~TypeParam();  // a fresh one for the next round (the probe exited holding it)
      new (&m) TypeParam;
    };
    int total = 0;
    round(1 << 30, total);  // to the end: how many there are
    if (::testing::Test::HasFatalFailure()) return;
    // Every instruction in optimized builds (100 to 140: 8 s); 12 evenly spread in debug builds
    // with sanitizers (1,300 to 2,300 instructions: every fourth took 250 s, 60 points 37 s).
    const int stride = total <= 400 ? 1 : total / 12;
    for (int steps = 0; steps < total && !::testing::Test::HasFatalFailure(); steps += stride) {
      int ran = 0;
      round(steps, ran);
    }
    std::printf("operation %d: killed after 0 to %d instructions, every %d\n", static_cast<int>(op), total, stride);
  }
  ::pthread_mutex_destroy(glibc);
  ::munmap(memory, sizeof(pthread_mutex_t));
}

}  // namespace
