#pragma once
/// SpscQueue<T>: a single-producer / single-consumer ring of trivially copyable T that lives in
/// memory shared between processes (a SharedMemory segment, or any memory both sides map), so
/// one process pushes and another pops, each with the queue at its own address.
///
/// - create(at, bytes) builds a queue in place over [at, at + bytes) (at aligned to
///   SpscQueue::alignment); attach(at, bytes) finds one built there by another process (or
///   earlier) and checks that it is a queue of the same element size and alignment that fits in
///   the range. The queue holds only indices, never a pointer, so it works at any address.
/// - try_push / try_pop are wait-free (a few loads and stores, no lock, no system call unless
///   the other side sleeps). push / pop block: they spin a little (a budget each side adapts to
///   whether spinning pays, detail::SpinThenSleep), then sleep on a futex in the
///   queue (not process-private), so an idle consumer or a producer facing a full ring uses no
///   CPU; the other side wakes it with one system call, only when someone sleeps. push / pop
///   wait forever for a side that died; push_for / pop_for give up after a timeout (signals
///   and spurious wake-ups do not shorten it), so the survivor can check and go on. A side
///   killed anywhere leaves the queue whole: what was published, in order.
/// - One producer and one consumer at a time (any process or thread each); more of either side
///   is a data race, which checked builds (CORE_MEMORY_CHECK_LEVEL >= 1) report to the misuse
///   handler when two calls of one side overlap. The capacity is a power of two (at most 2^31).
///
/// Layout: a header (magic, version, element size and alignment, capacity; then the producer's
/// index, the consumer's index and the sleepers' flags each on its own cache line pair), followed
/// by the ring.

#include <core/memory/system/error.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/util/cache_line.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/memory_barrier.hpp>

#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>

namespace core::memory {

namespace detail {

[[noreturn]] inline void spsc_fail(const char* operation, const char* text) {
  throw_system_error(EINVAL, "core::memory::SpscQueue", operation, nullptr, text);
}
[[noreturn]] inline void spsc_too_small(const char* operation, std::size_t bytes, std::size_t needed) {
  char text[96];
  std::snprintf(text, sizeof text, "(%zu bytes: a queue of one element needs %zu)", bytes, needed);
  spsc_fail(operation, text);
}
[[noreturn]] inline void spsc_misaligned(const char* operation, std::size_t alignment) {
  char text[64];
  std::snprintf(text, sizeof text, "(the address is not aligned to %zu)", alignment);
  spsc_fail(operation, text);
}

struct spsc_queue_test_access;  // tests only: defined by tests/system/shared_queue_test.cpp

/// How one side of a queue waits for the other: spins a budget of checks of the word (each
/// followed by a pause instruction: 10 to 80 ns depending on the processor and the hypervisor),
/// then sleeps on it. The budget adapts: doubled when spinning saw the change, halved when the
/// side had to sleep, so on a loaded machine (the other side waits for a core) it stops feeding
/// spins that delay the other side; and one wait in probe_every spins the full max_spin, so a
/// budget that fell below the round trip (where spinning never succeeds and would never grow
/// back) finds out when spinning pays again. Lives in the queue, used by one side only.
struct SpinThenSleep {
  static constexpr std::uint32_t min_spin = 4, max_spin = 512, probe_every = 256;
  std::uint32_t budget = max_spin;
  std::uint32_t waits = 0;

  /// Waits while `word` holds `value`: spins, then announces itself in `sleeps` and sleeps on
  /// the word (the other side wakes it after changing the word, seeing the flag).
  /// Returns false if `until` passed first (time_point::max(): never); true when the word
  /// changed, or maybe not (a spurious wake-up, a signal): the caller checks and waits again.
  bool wait_while(const std::atomic<std::uint32_t>& word, std::uint32_t value, std::atomic<std::uint32_t>& sleeps,
                  std::chrono::steady_clock::time_point until) noexcept {
    const std::uint32_t checks = ++waits % probe_every == 0 ? max_spin : budget;
    for (std::uint32_t i = 0; i < checks; ++i) {
      if (word.load(std::memory_order_relaxed) != value) {
        budget = checks < max_spin / 2 ? 2 * checks : max_spin;
        return true;
      }
      cpu_pause();
    }
    budget = budget > 2 * min_spin ? budget / 2 : min_spin;
    const bool forever = until == std::chrono::steady_clock::time_point::max();
    using std::chrono::nanoseconds;
    const std::int64_t left =
        forever ? 0 : std::chrono::duration_cast<nanoseconds>(until - std::chrono::steady_clock::now()).count();
    if (!forever && left <= 0) return false;
    // The flag names this sleep (never 0), so that wake() clears this one only.
    sleeps.store(waits << 1 | 1, std::memory_order_seq_cst);
    int r = 0;
    // A wait "forever" sleeps at most 100 ms at a time and then looks again: across processes a
    // wake-up was lost twice on this machine (both sides asleep with an element in the queue;
    // cause not found yet), which without this hung both sides for good.
    constexpr std::int64_t recheck_ns = 100'000'000;
    if (word.load(std::memory_order_seq_cst) == value)
      r = os::wait_on_address(&word, value, forever || left > recheck_ns ? recheck_ns : left);
    sleeps.store(0, std::memory_order_relaxed);
    return forever || left > recheck_ns || r != ETIMEDOUT;
  }

  /// Wakes the side whose flag `sleeps` read `sleeper` (not 0) from sleeping on `word`. If
  /// nobody slept there, it clears that flag, unless a new sleep replaced it: a side that died
  /// asleep (or has not gone to sleep yet, and will find the word changed) costs the other side
  /// one system call, not one per operation.
  static void wake(const std::atomic<std::uint32_t>& word, std::atomic<std::uint32_t>& sleeps,
                   std::uint32_t sleeper) noexcept {
    if (os::wake_by_address(&word, 1) == 0)
      sleeps.compare_exchange_strong(sleeper, 0, std::memory_order_relaxed, std::memory_order_relaxed);
  }

  /// `timeout` from now, saturating (a timeout too long to represent never expires).
  template <class Rep, class Period>
  static std::chrono::steady_clock::time_point deadline_after(const std::chrono::duration<Rep, Period>& timeout) noexcept {
    using namespace std::chrono;
    const auto now = steady_clock::now();
    if (timeout <= duration<Rep, Period>::zero()) return now;
    // Compared in seconds first, so that converting a huge timeout cannot overflow.
    if (duration_cast<duration<double>>(timeout).count() >=
        duration_cast<duration<double>>(steady_clock::time_point::max() - now).count() / 2)
      return steady_clock::time_point::max();
    return now + ceil<steady_clock::duration>(timeout);
  }
};

}  // namespace detail

template <class T>
class CORE_MEMORY_LEVEL_ABI SpscQueue {
  static_assert(std::is_trivially_copyable_v<T>, "SpscQueue<T>: T must be trivially copyable (it is copied as bytes)");

 public:
  using value_type = T;
  /// `at` must be aligned to this.
  static constexpr std::size_t alignment = false_sharing_range > alignof(T) ? false_sharing_range : alignof(T);
  /// Largest capacity.
  static constexpr std::size_t max_capacity = std::size_t{1} << 31;

  /// Bytes a queue of at least `capacity` elements occupies: the capacity rounded up to a power
  /// of two (0 counts as 1), so create(at, bytes_for(n)) holds n. Throws std::length_error
  /// beyond max_capacity.
  [[nodiscard]] static constexpr std::size_t bytes_for(std::size_t capacity) {
    if (capacity > max_capacity) throw_length_error("core::memory::SpscQueue", "bytes_for: capacity beyond max_capacity");
    return ring_offset() + std::bit_ceil(capacity) * sizeof(T);
  }

  /// Builds an empty queue over [at, at + bytes) with the largest power-of-two capacity that
  /// fits (at most max_capacity). Throws std::system_error (EINVAL) if `at` is misaligned or
  /// `bytes` cannot hold a queue of one element.
  static SpscQueue& create(void* at, std::size_t bytes) {
    check_range(at, bytes, "create");
    std::size_t capacity = std::bit_floor((bytes - ring_offset()) / sizeof(T));
    if (capacity > max_capacity) capacity = max_capacity;
    auto* q = ::new (at) SpscQueue(static_cast<std::uint32_t>(capacity));
    q->magic_.store(magic, std::memory_order_release);  // last: attach() sees a whole header
    return *q;
  }

  /// The queue another process (or this one) created at `at`, within [at, at + bytes) (what this
  /// process mapped there). Throws std::system_error (EINVAL) if there is none, if it holds
  /// elements of another size or alignment, if its header is corrupt, or if it does not fit in
  /// the range. (Another T of the same size and alignment cannot be told apart.)
  static SpscQueue& attach(void* at, std::size_t bytes) {
    check_range(at, bytes, "attach");
    SpscQueue& q = attach(at);
    if (q.bytes() > bytes) {
      char text[96];
      std::snprintf(text, sizeof text, "(the queue needs %zu bytes, the range has %zu)", q.bytes(), bytes);
      detail::spsc_fail("attach", text);
    }
    return q;
  }
  /// As attach(at, bytes), trusting the header's capacity: the caller knows that all of
  /// [at, at + bytes()) is mapped.
  static SpscQueue& attach(void* at) {
    check_alignment(at, "attach");
    auto* q = std::launder(static_cast<SpscQueue*>(at));
    if (q->magic_.load(std::memory_order_acquire) != magic || q->version_ != version)
      detail::spsc_fail("attach", "(no queue there: wrong magic number or version)");
    if (q->element_size_ != sizeof(T) || q->element_alignment_ != alignof(T)) {
      char text[128];
      std::snprintf(text, sizeof text, "(the queue holds elements of %u bytes aligned to %u, not %zu aligned to %zu)",
                    q->element_size_, q->element_alignment_, sizeof(T), alignof(T));
      detail::spsc_fail("attach", text);
    }
    // slot() masks indices into the ring: any mask but 2^k - 1 would index out of it.
    if (q->mask_ >= max_capacity || (q->mask_ & (q->mask_ + 1)) != 0) {
      char text[96];
      std::snprintf(text, sizeof text, "(the header is corrupt: capacity %llu)",
                    static_cast<unsigned long long>(q->mask_) + 1);
      detail::spsc_fail("attach", text);
    }
    return *q;
  }

  friend struct detail::spsc_queue_test_access;
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + std::size_t{1}; }
  /// Bytes the queue occupies from its address (bytes_for(capacity())).
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_for(capacity()); }
  /// Elements in the queue: exact when neither side is running, else a value from 0 to
  /// capacity() that it held during the call or soon before.
  [[nodiscard]] std::size_t size() const noexcept {
    // The head first: a head read after the tail could be past it.
    const std::uint32_t head = head_.load(std::memory_order_acquire);
    const std::uint32_t n = tail_.load(std::memory_order_acquire) - head;
    return n <= mask_ ? n : capacity();
  }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  /// Producer: appends `value`; false if the queue is full. Wait-free.
  bool try_push(const T& value) noexcept {
    std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ > mask_) return false;
    }
    std::memcpy(static_cast<void*>(slot(tail)), &value, sizeof(T));
    // seq_cst publish then load: either a consumer about to sleep sees the new tail, or this sees
    // its flag and wakes it (the futex rechecks the tail before sleeping).
    if (!publish(tail_, tail, "two producers at once (the tail moved during try_push)")) [[unlikely]]
      return false;
    if (const std::uint32_t sleeper = consumer_sleeps_.load(std::memory_order_seq_cst); sleeper != 0) [[unlikely]]
      detail::SpinThenSleep::wake(tail_, consumer_sleeps_, sleeper);
    return true;
  }

  /// Consumer: takes the oldest element into `out`; false if the queue is empty. Wait-free.
  bool try_pop(T& out) noexcept {
    std::uint32_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) return false;
    }
    std::memcpy(static_cast<void*>(&out), slot(head), sizeof(T));
    if (!publish(head_, head, "two consumers at once (the head moved during try_pop)")) [[unlikely]]
      return false;
    if (const std::uint32_t sleeper = producer_sleeps_.load(std::memory_order_seq_cst); sleeper != 0) [[unlikely]]
      detail::SpinThenSleep::wake(head_, producer_sleeps_, sleeper);
    return true;
  }

  /// Producer: appends `value`, waiting (spinning briefly, then sleeping) while the queue is full.
  /// Waits forever if the consumer is gone: see push_for.
  void push(const T& value) noexcept {
    while (!try_push(value)) (void)wait_to_push(std::chrono::steady_clock::time_point::max());
  }

  /// Consumer: takes the oldest element, waiting (spinning briefly, then sleeping) while the
  /// queue is empty. Waits forever if the producer is gone: see pop_for.
  [[nodiscard]] T pop() noexcept {
    T out;
    while (!try_pop(out)) (void)wait_to_pop(std::chrono::steady_clock::time_point::max());
    return out;
  }

  /// Producer: push() for `timeout` at most; false if the queue stayed full (nothing pushed).
  /// For a producer that must notice a consumer that died (or stopped) instead of hanging.
  template <class Rep, class Period>
  bool push_for(const T& value, const std::chrono::duration<Rep, Period>& timeout) noexcept {
    if (try_push(value)) return true;
    const auto until = detail::SpinThenSleep::deadline_after(timeout);
    while (!try_push(value))
      if (!wait_to_push(until)) return try_push(value);
    return true;
  }

  /// Consumer: pop() for `timeout` at most; false if the queue stayed empty (`out` untouched).
  template <class Rep, class Period>
  bool pop_for(T& out, const std::chrono::duration<Rep, Period>& timeout) noexcept {
    if (try_pop(out)) return true;
    const auto until = detail::SpinThenSleep::deadline_after(timeout);
    while (!try_pop(out))
      if (!wait_to_pop(until)) return try_pop(out);
    return true;
  }

 private:
  static constexpr std::uint32_t magic = 0x51505343;  // "CSPQ"
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t ring_offset() noexcept {
    return (sizeof(SpscQueue) + alignof(T) - 1) / alignof(T) * alignof(T);
  }

  explicit SpscQueue(std::uint32_t capacity) noexcept
      : element_size_(sizeof(T)), element_alignment_(alignof(T)), mask_(capacity - 1) {}

  static void check_alignment(void* at, const char* operation) {
    if (reinterpret_cast<std::uintptr_t>(at) % alignment != 0) detail::spsc_misaligned(operation, alignment);
  }
  static void check_range(void* at, std::size_t bytes, const char* operation) {
    check_alignment(at, operation);
    if (bytes < bytes_for(1)) detail::spsc_too_small(operation, bytes, bytes_for(1));
  }

  /// Waits while the queue looks full (the head is a capacity behind the tail); false at `until`.
  bool wait_to_push(std::chrono::steady_clock::time_point until) noexcept {
    const std::uint32_t full_head = tail_.load(std::memory_order_relaxed) - static_cast<std::uint32_t>(capacity());
    return producer_spin_.wait_while(head_, full_head, producer_sleeps_, until);
  }
  /// Waits while the queue looks empty (the tail is at the head); false at `until`.
  bool wait_to_pop(std::chrono::steady_clock::time_point until) noexcept {
    return consumer_spin_.wait_while(tail_, head_.load(std::memory_order_relaxed), consumer_sleeps_, until);
  }

  /// Moves this side's index from `from` to from + 1 (seq_cst). Checked builds do it with a
  /// compare-exchange (on x86 a locked instruction as the seq_cst store is), so a second
  /// producer or consumer that overlaps this one is reported (false: the handler returned).
  bool publish(std::atomic<std::uint32_t>& index, std::uint32_t from, const char* misuse) noexcept {
    if constexpr (check_level >= 1) {
      if (!index.compare_exchange_strong(from, from + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
        report_misuse({error_kind::assertion, "core::memory::SpscQueue", this, sizeof(T), alignof(T), misuse, nullptr, 0});
        return false;
      }
    } else {
      index.store(from + 1, std::memory_order_seq_cst);
    }
    return true;
  }

  [[nodiscard]] std::byte* slot(std::uint32_t index) noexcept {
    return reinterpret_cast<std::byte*>(this) + ring_offset() + (index & mask_) * sizeof(T);
  }

  // Header: written once by create().
  std::atomic<std::uint32_t> magic_{0};
  std::uint32_t version_ = version;
  std::uint32_t element_size_;
  std::uint32_t element_alignment_;
  std::uint32_t mask_;
  // The producer's line: its index, its copy of the consumer's (read again when full), its
  // spin budget.
  alignas(false_sharing_range) std::atomic<std::uint32_t> tail_{0};
  std::uint32_t head_cache_ = 0;
  detail::SpinThenSleep producer_spin_;
  // The consumer's line.
  alignas(false_sharing_range) std::atomic<std::uint32_t> head_{0};
  std::uint32_t tail_cache_ = 0;
  detail::SpinThenSleep consumer_spin_;
  // Who sleeps: written only around sleeping, read by the other side after each operation.
  alignas(false_sharing_range) std::atomic<std::uint32_t> consumer_sleeps_{0};
  std::atomic<std::uint32_t> producer_sleeps_{0};
};

}  // namespace core::memory
