#include <core/memory/system/error.hpp>
#include <core/memory/system/interprocess_mutex.hpp>
#include <core/memory/util/error.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstddef>
#include <string>

#include <pthread.h>

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

namespace {
/// The calling thread's robust list head (glibc's, in its thread descriptor); null until looked up.
thread_local constinit robust_list_head* self = nullptr;
}  // namespace

/// The robust futex protocol (Linux: Documentation/locking/robust-futex-ABI.rst) and the calling
/// thread's robust list, which glibc registered at the thread's start.
struct RobustMutexAccess {
  /// state_: not_recoverable is kept with the word released as FUTEX_OWNER_DIED (owner 0), so
  /// that a process killed between releasing it and waking the waiters has the kernel wake one
  /// (its list_op_pending rule), which sees the state and wakes the rest.
  enum : std::uint32_t { consistent = 0, inconsistent = 1, not_recoverable = 2 };

  /// The calling thread: its robust list head and its thread id.
  struct Thread {
    robust_list_head* head;
    std::uint32_t tid;
  };

  /// The thread id glibc keeps in the thread descriptor, 16 bytes before the robust list head
  /// (pid_t tid, an unused pid_t, robust_prev): glibc's own mutexes use it, and it is right in a
  /// child of fork() or of _Fork() (which runs no atfork handlers), unlike a copy cached here.
  static std::uint32_t tid_of(const robust_list_head* head) {
    return static_cast<std::uint32_t>(*reinterpret_cast<const pid_t*>(reinterpret_cast<const char*>(head) - 16));
  }

  static CORE_MEMORY_NOINLINE robust_list_head* look_up() {
    void* head = nullptr;
    std::size_t length = 0;
    if (::syscall(SYS_get_robust_list, 0, &head, &length) != 0 || !head) {
      throw_system_error(errno ? errno : ENOSYS, "core::memory::InterprocessMutex", "get_robust_list");
    }
    auto* h = static_cast<robust_list_head*>(head);
    // The kernel finds every mutex's lock word at one offset from its list node; glibc chose it
    // and these mutexes share glibc's list, so their layout must give the same offset.
    constexpr long offset = static_cast<long>(offsetof(RobustMutex, word_)) - static_cast<long>(offsetof(RobustMutex, next_));
    if (h->futex_offset != offset || tid_of(h) != static_cast<std::uint32_t>(::gettid())) {
      fatal_error({error_kind::system_error, "core::memory::InterprocessMutex", nullptr, 0, 0,
                   "unsupported C library: its thread descriptor does not have glibc's 64-bit layout", nullptr, 0});
    }
    self = h;
    return h;
  }

  static Thread thread() {
    robust_list_head* h = self;
    if (CORE_MEMORY_UNLIKELY(!h)) h = look_up();
    return {h, tid_of(h)};
  }

  static std::atomic_ref<std::uint32_t> word(RobustMutex& m) { return std::atomic_ref<std::uint32_t>(m.word_); }
  static std::uint32_t holder(const RobustMutex& m) {
    return std::atomic_ref<const std::uint32_t>(m.word_).load(std::memory_order_relaxed) & FUTEX_TID_MASK;
  }

  // Linking into the thread's robust list exactly as glibc does (nptl/descr.h, 64-bit: a doubly
  // linked list whose links point at the entries' next fields; the head's own "prev" is the word
  // glibc keeps just before it). Signal fences: the kernel may read the list at any instruction.
  struct Links {
    void* prev;
    void* next;
  };
  static Links* links_of(void* next_field) {
    const std::uintptr_t next = reinterpret_cast<std::uintptr_t>(next_field) & ~std::uintptr_t{1};  // bit 0: PI
    return reinterpret_cast<Links*>(next - offsetof(Links, next));
  }
  static void link(RobustMutex& m, const Thread& t) {
    void* const first = t.head->list.next;
    links_of(first)->prev = &m.next_;
    m.next_ = first;
    m.prev_ = &t.head->list;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t.head->list.next = reinterpret_cast<robust_list*>(&m.next_);
  }
  static void unlink(RobustMutex& m) {
    links_of(m.next_)->prev = m.prev_;
    links_of(m.prev_)->next = m.next_;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    m.prev_ = nullptr;
    m.next_ = nullptr;
  }
  static void set_pending(const Thread& t, RobustMutex* m) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t.head->list_op_pending = m ? reinterpret_cast<robust_list*>(&m->next_) : nullptr;
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }

  /// The caller took the word: link it and finish the pending operation.
  static LockStatus taken(RobustMutex& m, const Thread& t, bool owner_died) {
    if (owner_died) {
      m.count_ = 0;
      m.state_ = inconsistent;
    }
    link(m, t);
    set_pending(t, nullptr);
    return owner_died ? LockStatus::owner_died : LockStatus::acquired;
  }

  /// The caller took the word of a mutex that is not recoverable: gives it back as it was, wakes
  /// every waiter (each learns the same) and throws.
  [[noreturn]] static void refuse(RobustMutex& m, const Thread& t) {
    word(m).store(FUTEX_OWNER_DIED, std::memory_order_release);
    futex(&m.word_, FUTEX_WAKE, 0x7fffffff, nullptr, 0);
    set_pending(t, nullptr);
    m.throw_not_recoverable();
  }

  /// lock() and try_lock() after the fast path failed (`w`: the word it found). list_op_pending
  /// is set. std::nullopt: busy (try_only), or misuse reported.
  static std::optional<LockStatus> acquire(RobustMutex& m, const Thread& t, std::uint32_t w, bool try_only) {
    std::uint32_t waiters = 0;  // once this thread slept, others may sleep too: keep the bit
    for (;;) {
      if (w & FUTEX_OWNER_DIED) {  // the kernel released a dead holder's word, or not recoverable
        if (word(m).compare_exchange_weak(w, t.tid | waiters | (w & FUTEX_WAITERS), std::memory_order_acquire)) {
          if (m.state_ == not_recoverable) refuse(m, t);
          return taken(m, t, true);
        }
        continue;
      }
      if ((w & FUTEX_TID_MASK) == 0) {
        if (word(m).compare_exchange_weak(w, t.tid | waiters | (w & FUTEX_WAITERS), std::memory_order_acquire)) {
          return taken(m, t, false);
        }
        continue;
      }
      if ((w & FUTEX_TID_MASK) == t.tid) {  // only an InterprocessMutex gets here
        set_pending(t, nullptr);
        if (try_only) {
          m.report("try_lock() by the thread that holds it");
          return std::nullopt;
        }
        m.report("lock() by the thread that holds it (it would wait for itself forever)");
        return LockStatus::acquired;  // abandoned: the caller holds it already
      }
      if (try_only) {
        set_pending(t, nullptr);
        return std::nullopt;
      }
      if (!(w & FUTEX_WAITERS)) {
        if (!word(m).compare_exchange_weak(w, w | FUTEX_WAITERS, std::memory_order_relaxed)) continue;
        w |= FUTEX_WAITERS;
      }
      futex(&m.word_, FUTEX_WAIT, w, nullptr, 0);  // shared: waiters in other processes
      waiters = FUTEX_WAITERS;
      w = word(m).load(std::memory_order_relaxed);
    }
  }

  static std::optional<LockStatus> lock(RobustMutex& m, bool try_only) {
    const Thread t = thread();
    if (m.recursive_ && holder(m) == t.tid) {
      if (m.count_ == 0xffffffffu) throw_system_error(EAGAIN, m.name(), "lock", nullptr, "(recursion too deep)");
      ++m.count_;
      return LockStatus::acquired;
    }
    set_pending(t, &m);
    std::uint32_t w = 0;
    if (CORE_MEMORY_LIKELY(word(m).compare_exchange_strong(w, t.tid, std::memory_order_acquire))) {
      return taken(m, t, false);
    }
    return acquire(m, t, w, try_only);
  }
};

LockStatus RobustMutex::lock() { return *RobustMutexAccess::lock(*this, false); }

std::optional<LockStatus> RobustMutex::try_lock_status() { return RobustMutexAccess::lock(*this, true); }

bool RobustMutex::release() {
  using A = RobustMutexAccess;
  const A::Thread t = A::thread();
  if (CORE_MEMORY_UNLIKELY(A::holder(*this) != t.tid)) {
    report("unlock() by a thread that does not hold it");
    return false;
  }
  if (count_ != 0) {
    --count_;
    return true;
  }
  // Released in the owner-died state without consistent(): the data is lost for good.
  std::uint32_t released = 0;
  if (CORE_MEMORY_UNLIKELY(state_ != A::consistent)) {
    state_ = A::not_recoverable;
    released = FUTEX_OWNER_DIED;
  }
  A::set_pending(t, this);
  A::unlink(*this);
  const std::uint32_t w = A::word(*this).exchange(released, std::memory_order_release);
  if (CORE_MEMORY_UNLIKELY((w & FUTEX_WAITERS) || released)) {
    futex(&word_, FUTEX_WAKE, released ? 0x7fffffff : 1, nullptr, 0);
  }
  A::set_pending(t, nullptr);
  return true;
}

RobustMutex::~RobustMutex() {
  using A = RobustMutexAccess;
  const std::uint32_t w = std::atomic_ref<std::uint32_t>(word_).load(std::memory_order_acquire);
  if ((w & FUTEX_TID_MASK) == 0) return;  // free, not recoverable, or owner died
  if ((w & FUTEX_TID_MASK) == A::thread().tid) {
    report("destroyed while the calling thread holds it");
    // Release it, so that this thread's robust list does not point into memory about to be reused.
    count_ = 0;
    state_ = A::consistent;
    release();
  } else {
    report("destroyed while another thread or process holds it");
  }
}

const char* RobustMutex::name() const noexcept {
  return recursive_ ? "core::memory::InterprocessRecursiveMutex" : "core::memory::InterprocessMutex";
}

void RobustMutex::report(const char* message) const {
  report_misuse({error_kind::assertion, name(), this, 0, 0, message, nullptr, 0});
}

void RobustMutex::throw_not_recoverable() const {
#if defined(__cpp_exceptions)
  throw lock_not_recoverable(name(), this);
#else
  const std::string text = std::string(not_recoverable_text) + ": " + std::generic_category().message(ENOTRECOVERABLE);
  fatal_error({error_kind::system_error, name(), this, 0, 0, text.c_str(), nullptr, 0});
#endif
}

void RobustMutex::consistent() {
  using A = RobustMutexAccess;
  if (A::holder(*this) != A::thread().tid) {
    report("consistent() by a thread that does not hold it");
  } else if (state_ != A::inconsistent) {
    report("consistent() when the mutex is not in the owner-died state (lock() did not return owner_died, or "
           "consistent() was called already)");
  } else {
    state_ = A::consistent;
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
