#pragma once
/// Process-shared robust mutexes and a condition variable, to be placed in shared memory.
///
/// - InterprocessMutex / InterprocessRecursiveMutex: robust, process-shared mutexes on a futex
///   (Linux robust futexes, what PTHREAD_MUTEX_ROBUST is built on). The lock word holds the
///   holder's thread id; a holder links the mutex into its thread's robust list (the one glibc
///   registers with the kernel, shared with glibc's own robust mutexes), so when a thread dies
///   holding it the kernel marks it owner-died and wakes a waiter. The pointers it keeps are only
///   read in the holder's process, so one object works in every process that maps it, at any
///   address; only one process runs the constructor (the others use the bytes as they find
///   them) and one runs the destructor. Needs glibc's robust list layout on a 64-bit target
///   (checked at a thread's first lock: fatal otherwise).
///   Uncontended, a lock/unlock pair costs about 1.1x pthread's default mutex in a process with
///   threads, less than pthread's robust mutex (1.26x) (bench/shm_mutex_bench.cpp).
/// - When a holder dies (a thread exits or a process is killed while holding it) the next lock()
///   returns LockStatus::owner_died: the caller holds the mutex, must check and repair the data
///   it guards, then call consistent(). Unlocking without consistent() makes the mutex not
///   recoverable: every later lock() and try_lock() throws lock_not_recoverable (without
///   exceptions: the misuse handler, error_kind::system_error, then abort).
/// - The std guards work (std::lock_guard, std::unique_lock, std::scoped_lock) but ignore the
///   status: under them an owner's death is never repaired, so it surfaces to every later locker
///   as lock_not_recoverable, never as silently reused data. Code that can repair calls lock() /
///   try_lock_status() itself.
/// - try_lock(): Lockable shape (bool: the caller holds the mutex, also when its previous owner
///   died, with the same consequence as under the guards); try_lock_status(): std::nullopt when
///   another thread or process holds it, else the LockStatus as lock() returns it.
/// - Misuse goes to the misuse handler (error_kind::assertion, naming the mutex and its address)
///   at every check level: unlock() by a thread that does not hold it, consistent() when the mutex
///   is not in the owner-died state or by a thread that does not hold it, lock()/try_lock() of an
///   InterprocessMutex by its holder (a self-deadlock), destroying a locked mutex. If the handler
///   returns the operation is abandoned.
/// - InterprocessCondition: a sequence word and a waiter count on a process-shared futex; it keeps
///   no per-waiter state, so a waiter killed while waiting loses no notification and blocks no
///   one (unlike pthread_cond_t). Waits return the LockStatus of reacquiring the mutex.

#include <core/memory/util/config.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace core::memory {

class InterprocessCondition;

/// What lock() found: the mutex was free or released (acquired), or its holder died holding it
/// (owner_died: the caller holds it now, repairs the data and calls consistent()).
enum class LockStatus : unsigned char { acquired, owner_died };

/// What a timed wait found: woken (or spuriously: check the condition), the time passed, or the
/// mutex's holder died (the caller holds the mutex in the owner-died state; see LockStatus).
enum class WaitStatus : unsigned char { no_timeout, timeout, owner_died };

/// Thrown by lock() of a mutex that is not recoverable (ENOTRECOVERABLE): a holder died and the
/// next holder unlocked it without consistent(). what() says so and names the mutex's address.
class lock_not_recoverable : public std::system_error {
 public:
  lock_not_recoverable(const char* component, const void* mutex);
  /// The mutex (its address in the process that threw).
  [[nodiscard]] const void* mutex() const noexcept { return mutex_; }

 private:
  const void* mutex_;
};

namespace detail {

/// What both mutexes share: a robust futex lock word on the thread's robust list (see the file
/// comment) and the error paths.
class RobustMutex {
 public:
  RobustMutex(const RobustMutex&) = delete;
  RobustMutex& operator=(const RobustMutex&) = delete;

  /// Blocks until the caller holds the mutex. owner_died: see the file comment. Throws
  /// lock_not_recoverable if the mutex is not recoverable.
  [[nodiscard]] LockStatus lock();

  /// std::nullopt if another thread or process holds the mutex, else as lock().
  [[nodiscard]] std::optional<LockStatus> try_lock_status();

  /// Lockable: true if the caller now holds the mutex (also when its previous owner died: the
  /// death is then repaired only by a consistent() call; see the file comment).
  [[nodiscard]] bool try_lock() { return try_lock_status().has_value(); }

  /// Releases the mutex. In the owner-died state without consistent(): makes it not recoverable.
  void unlock() { (void)release(); }

  /// Marks the data repaired after lock() returned owner_died; the caller still holds the mutex.
  void consistent();

 protected:
  explicit RobustMutex(bool recursive) noexcept : recursive_(recursive) {}
  ~RobustMutex();

 private:
  friend class ::core::memory::InterprocessCondition;
  friend struct RobustMutexAccess;

  [[nodiscard]] const char* name() const noexcept;
  void report(const char* message) const;
  [[noreturn]] void throw_not_recoverable() const;
  /// unlock() that tells whether it released the mutex (false: misuse, reported).
  bool release();

  // Laid out as glibc's pthread_mutex_t on 64-bit targets: the kernel finds the lock word of every
  // robust mutex a thread holds at one fixed offset from its list node (the robust list head's
  // futex_offset), the same for glibc's mutexes and these, which share the thread's list.
  std::uint32_t word_ = 0;       ///< Holder's thread id | FUTEX_WAITERS | FUTEX_OWNER_DIED (0: free).
  std::uint32_t count_ = 0;      ///< Levels held beyond the first (recursive).
  std::uint32_t state_ = 0;      ///< 1: taken from a dead owner, consistent() not called yet; 2: not recoverable.
  std::uint32_t recursive_ = 0;  ///< InterprocessRecursiveMutex.
  [[maybe_unused]] std::uint64_t reserved_ = 0;  ///< Places the links where glibc's are.
  void* prev_ = nullptr;  ///< Links on the holder's robust list (addresses in the holder's process).
  void* next_ = nullptr;
};

}  // namespace detail

/// A robust, process-shared, non-recursive mutex (see the file comment). Not copyable or movable.
class InterprocessMutex : public detail::RobustMutex {
 public:
  InterprocessMutex() noexcept : RobustMutex(false) {}
};

/// The recursive variant: its holder may lock it again (and unlocks it as often). owner_died is
/// returned by the first lock of a thread that did not hold it; the count starts again at one.
class InterprocessRecursiveMutex : public detail::RobustMutex {
 public:
  InterprocessRecursiveMutex() noexcept : RobustMutex(true) {}
};

/// A process-shared condition variable for InterprocessMutex (see the file comment). Every wait
/// must be called with the mutex held and returns with it held (unless reacquiring throws
/// lock_not_recoverable); wakeups may be spurious, so wait in a loop or with a predicate.
class InterprocessCondition {
 public:
  InterprocessCondition() noexcept = default;
  InterprocessCondition(const InterprocessCondition&) = delete;
  InterprocessCondition& operator=(const InterprocessCondition&) = delete;

  /// Releases `mutex`, sleeps until notified, reacquires it; returns how it was reacquired.
  [[nodiscard]] LockStatus wait(InterprocessMutex& mutex) {
    return wait_status(mutex, 0, nullptr) == WaitStatus::owner_died ? LockStatus::owner_died : LockStatus::acquired;
  }

  /// Waits until pred() is true. Returns owner_died as soon as reacquiring finds the holder dead,
  /// without calling pred() on data that may be inconsistent.
  template <class Predicate>
  [[nodiscard]] LockStatus wait(InterprocessMutex& mutex, Predicate pred) {
    while (!pred()) {
      if (wait(mutex) == LockStatus::owner_died) return LockStatus::owner_died;
    }
    return LockStatus::acquired;
  }

  /// As wait(), until `deadline` at the latest (timeout if it has passed on return).
  template <class Clock, class Duration>
  [[nodiscard]] WaitStatus wait_until(InterprocessMutex& mutex, const std::chrono::time_point<Clock, Duration>& deadline) {
    using namespace std::chrono;
    const nanoseconds at = nanoseconds_of(deadline.time_since_epoch());
    WaitStatus s{};
    if constexpr (std::is_same_v<Clock, system_clock> || std::is_same_v<Clock, steady_clock>) {
      timespec ts{};
      if (at.count() > 0) ts = {static_cast<std::time_t>(at.count() / 1'000'000'000), static_cast<long>(at.count() % 1'000'000'000)};
      s = wait_status(mutex, std::is_same_v<Clock, system_clock> ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    } else {
      const nanoseconds now = nanoseconds_of(Clock::now().time_since_epoch());
      s = wait_until(mutex, steady_after(at <= now ? nanoseconds(0) : now.count() < 0 ? nanoseconds::max() : at - now));
    }
    if (s == WaitStatus::owner_died) return s;
    return nanoseconds_of(Clock::now().time_since_epoch()) < at ? WaitStatus::no_timeout : WaitStatus::timeout;
  }

  /// As wait(), for `timeout` at most.
  template <class Rep, class Period>
  [[nodiscard]] WaitStatus wait_for(InterprocessMutex& mutex, const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until(mutex, steady_after(nanoseconds_of(timeout)));
  }

  /// Waits until pred() is true (no_timeout) or `deadline` passed with pred() false (timeout);
  /// owner_died as soon as reacquiring finds the holder dead (pred() not called).
  template <class Clock, class Duration, class Predicate>
  [[nodiscard]] WaitStatus wait_until(InterprocessMutex& mutex, const std::chrono::time_point<Clock, Duration>& deadline,
                                      Predicate pred) {
    while (!pred()) {
      const WaitStatus s = wait_until(mutex, deadline);
      if (s == WaitStatus::owner_died) return s;
      if (s == WaitStatus::timeout) return pred() ? WaitStatus::no_timeout : WaitStatus::timeout;
    }
    return WaitStatus::no_timeout;
  }

  /// As the predicate wait_until, for `timeout` at most.
  template <class Rep, class Period, class Predicate>
  [[nodiscard]] WaitStatus wait_for(InterprocessMutex& mutex, const std::chrono::duration<Rep, Period>& timeout,
                                    Predicate pred) {
    return wait_until(mutex, steady_after(nanoseconds_of(timeout)), std::move(pred));
  }

  /// Wakes one waiter (of any process), if any. As with std::condition_variable, change what is
  /// waited for while holding the mutex (notifying after unlocking is fine); without waiters this
  /// is one load.
  void notify_one() noexcept { notify(1); }
  /// Wakes every waiter (of every process); see notify_one().
  void notify_all() noexcept { notify(0x7fffffff); }

 private:
  /// `d` rounded up to nanoseconds, saturated: a deadline too far to represent waits (for ~292
  /// years) instead of overflowing into the past.
  template <class Rep, class Period>
  static constexpr std::chrono::nanoseconds nanoseconds_of(const std::chrono::duration<Rep, Period>& d) {
    using namespace std::chrono;
    const long double ns = duration<long double, std::nano>(d).count();
    if (!(ns < 9.2e18L)) return nanoseconds::max();  // also NaN
    if (ns <= -9.2e18L) return nanoseconds::min();
    return ceil<nanoseconds>(d);
  }
  /// steady_clock::now() + d, saturated.
  static std::chrono::steady_clock::time_point steady_after(std::chrono::nanoseconds d) {
    const auto now = std::chrono::steady_clock::now();
    return d > std::chrono::steady_clock::time_point::max() - now ? std::chrono::steady_clock::time_point::max() : now + d;
  }
  /// Waits on the sequence word until notified, or until `*deadline` on `clock` if not null.
  WaitStatus wait_status(InterprocessMutex& mutex, clockid_t clock, const timespec* deadline);
  void notify(int count) noexcept;

  alignas(4) std::uint32_t sequence_ = 0;  // bumped by every notify; the futex word
  std::uint32_t waiters_ = 0;              // threads in wait; one killed in wait stays counted (a spare wake call)
};

}  // namespace core::memory
