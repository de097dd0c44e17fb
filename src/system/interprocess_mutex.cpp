#include <core/memory/system/error.hpp>
#include <core/memory/system/interprocess_mutex.hpp>
#include <core/memory/util/error.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace core::memory {
namespace {

constexpr const char* not_recoverable_text =
    "lock: not recoverable: an owner died holding it and the next owner unlocked it without calling consistent()";

std::string not_recoverable_message(const char* component, const void* mutex) {
  char address[32];
  std::snprintf(address, sizeof address, "%p", mutex);
  return std::string(component) + " at " + address + ": " + not_recoverable_text;
}

long futex(std::uint32_t* word, int op, std::uint32_t value, const timespec* timeout, std::uint32_t bitset) {
  return ::syscall(SYS_futex, word, op, value, timeout, nullptr, bitset);
}

}  // namespace

lock_not_recoverable::lock_not_recoverable(const char* component, const void* mutex)
    : std::system_error(std::error_code(ENOTRECOVERABLE, std::generic_category()),
                        not_recoverable_message(component, mutex)),
      mutex_(mutex) {}

namespace detail {

RobustMutex::RobustMutex(bool recursive) : recursive_(recursive) {
  pthread_mutexattr_t attributes;
  int error = ::pthread_mutexattr_init(&attributes);
  if (error == 0) {
    // Error checking: a self-deadlock and an unlock by a non-owner are reported, not undefined.
    error = ::pthread_mutexattr_settype(&attributes, recursive ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_ERRORCHECK);
    if (error == 0) error = ::pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    if (error == 0) error = ::pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    if (error == 0) error = ::pthread_mutex_init(&mutex_, &attributes);
    ::pthread_mutexattr_destroy(&attributes);
  }
  if (error != 0) throw_system_error(error, name(), "create");
}

RobustMutex::~RobustMutex() {
  if (held_by_caller()) {
    report("destroyed while the calling thread holds it");
    // Release it, so that this thread's robust list does not point into memory about to be reused.
    while (held_by_caller() && ::pthread_mutex_unlock(&mutex_) == 0) {
    }
  } else {
    const int error = ::pthread_mutex_trylock(&mutex_);
    if (error == EOWNERDEAD) ::pthread_mutex_consistent(&mutex_);  // tearing down: nothing to repair
    if (error == 0 || error == EOWNERDEAD) {
      ::pthread_mutex_unlock(&mutex_);
    } else if (error == EBUSY) {
      report("destroyed while another thread or process holds it");
      return;
    }
  }
  ::pthread_mutex_destroy(&mutex_);
}

const char* RobustMutex::name() const noexcept {
  return recursive_ ? "core::memory::InterprocessRecursiveMutex" : "core::memory::InterprocessMutex";
}

bool RobustMutex::held_by_caller() const noexcept {
#if defined(__GLIBC__)
  // glibc keeps the holder's thread id in the lock word (the robust futex protocol).
  const int word = __atomic_load_n(&mutex_.__data.__lock, __ATOMIC_RELAXED);
  return (static_cast<unsigned>(word) & FUTEX_TID_MASK) == static_cast<unsigned>(::gettid());
#else
  return true;  // unknown: the checks that need it are skipped
#endif
}

void RobustMutex::report(const char* message) const {
  report_misuse({error_kind::assertion, name(), this, 0, 0, message, nullptr, 0});
}

LockStatus RobustMutex::lock_failed(int error, const char* operation) {
  switch (error) {
    case EOWNERDEAD:
      return LockStatus::owner_died;
    case ENOTRECOVERABLE:
#if defined(__cpp_exceptions)
      throw lock_not_recoverable(name(), this);
#else
    {
      const std::string text = std::string(not_recoverable_text) + ": " + std::generic_category().message(error);
      fatal_error({error_kind::system_error, name(), this, 0, 0, text.c_str(), nullptr, 0});
    }
#endif
    case EDEADLK:
      report("lock() by the thread that holds it (it would wait for itself forever)");
      return LockStatus::acquired;  // abandoned: the caller holds it already
    default:
      throw_system_error(error, name(), operation);
  }
}

std::optional<LockStatus> RobustMutex::try_lock_failed(int error) {
#if defined(__GLIBC__)
  // glibc's pthread_mutex_trylock returns ENOTRECOVERABLE with the lock word still holding the
  // caller's thread id (it compares the word's old value, 0, with the id before unlocking): every
  // other locker would wait forever. Release the word as its lock() does (not through unlock(),
  // which would make the mutex usable again and unlink a mutex that is not on the robust list).
  if (error == ENOTRECOVERABLE && held_by_caller()) {
    if (__atomic_exchange_n(&mutex_.__data.__lock, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS) {
      futex(reinterpret_cast<std::uint32_t*>(&mutex_.__data.__lock), FUTEX_WAKE, 1, nullptr, 0);
    }
  }
#endif
  if (error == EDEADLK) {
    report("try_lock() by the thread that holds it");
    return std::nullopt;
  }
  return lock_failed(error, "try_lock");
}

void RobustMutex::unlock_failed(int error) {
  if (error == EPERM) {
    report("unlock() by a thread that does not hold it");
    return;
  }
  throw_system_error(error, name(), "unlock");
}

bool RobustMutex::release() {
  const int error = ::pthread_mutex_unlock(&mutex_);
  if (CORE_MEMORY_LIKELY(error == 0)) return true;
  unlock_failed(error);
  return false;
}

void RobustMutex::consistent() {
  if (!held_by_caller()) {
    report("consistent() by a thread that does not hold it");
    return;
  }
  const int error = ::pthread_mutex_consistent(&mutex_);
  if (error == EINVAL) {
    report("consistent() when the mutex is not in the owner-died state (lock() did not return owner_died, or "
           "consistent() was called already)");
  } else if (error != 0) {
    throw_system_error(error, name(), "consistent");
  }
}

}  // namespace detail

WaitStatus InterprocessCondition::wait_status(InterprocessMutex& mutex, clockid_t clock, const timespec* deadline) {
  std::atomic_ref<std::uint32_t> sequence(sequence_);
  std::atomic_ref<std::uint32_t> waiters(waiters_);
  // Counted and the sequence read while the mutex is held: a notifier that changed the predicate
  // under the mutex afterwards sees the count and bumps the sequence, so the futex wait on the old
  // value returns at once or is woken.
  waiters.fetch_add(1);
  const std::uint32_t seen = sequence.load();
  auto& base = static_cast<detail::RobustMutex&>(mutex);
  if (!base.release()) {  // the caller did not hold it (reported): abandoned
    waiters.fetch_sub(1);
    return WaitStatus::no_timeout;
  }
  const long result =
      deadline ? futex(&sequence_, FUTEX_WAIT_BITSET | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0), seen,
                       deadline, FUTEX_BITSET_MATCH_ANY)
               : futex(&sequence_, FUTEX_WAIT, seen, nullptr, 0);
  const bool timed_out = result == -1 && errno == ETIMEDOUT;
  waiters.fetch_sub(1);
  if (mutex.lock() == LockStatus::owner_died) return WaitStatus::owner_died;
  return timed_out ? WaitStatus::timeout : WaitStatus::no_timeout;
}

void InterprocessCondition::notify(int count) noexcept {
  // A waiter counts itself while holding the mutex, and a notifier changed what is waited for
  // under the mutex before notifying: it sees the count (the mutex orders them). Without waiters
  // this is one load.
  if (std::atomic_ref<std::uint32_t>(waiters_).load(std::memory_order_relaxed) == 0) return;
  std::atomic_ref<std::uint32_t>(sequence_).fetch_add(1);
  futex(&sequence_, FUTEX_WAKE, static_cast<std::uint32_t>(count), nullptr, 0);
}

}  // namespace core::memory
