#pragma once
/// Memory-ordering primitives: compiler-only and CPU fences, the CPU's spin-wait hint, and an
/// exponential backoff for spin loops. Prefer acquire/release operations on the atomic itself;
/// stand-alone fences are for pairing with relaxed atomics (ThreadSanitizer does not model them).

#include <atomic>
#include <cstdint>

#include <sched.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define CORE_MEMORY_DETAIL_NO_TSAN_FENCE_WARNING_BEGIN \
  _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wtsan\"")
#define CORE_MEMORY_DETAIL_NO_TSAN_FENCE_WARNING_END _Pragma("GCC diagnostic pop")
#else
#define CORE_MEMORY_DETAIL_NO_TSAN_FENCE_WARNING_BEGIN
#define CORE_MEMORY_DETAIL_NO_TSAN_FENCE_WARNING_END
#endif

namespace core::memory {

/// Stops the compiler from moving memory accesses across this point; emits no instruction.
inline void compiler_barrier() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

CORE_MEMORY_DETAIL_NO_TSAN_FENCE_WARNING_BEGIN
/// Later loads and stores stay after earlier loads (pairs with a release fence or store).
inline void acquire_fence() noexcept { std::atomic_thread_fence(std::memory_order_acquire); }

/// Earlier loads and stores stay before later stores (pairs with an acquire fence or load).
inline void release_fence() noexcept { std::atomic_thread_fence(std::memory_order_release); }

/// Sequentially consistent fence: also orders earlier stores before later loads (mfence on x86).
inline void full_fence() noexcept { std::atomic_thread_fence(std::memory_order_seq_cst); }
CORE_MEMORY_DETAIL_NO_TSAN_FENCE_WARNING_END

/// Tells the CPU the thread is spinning (x86 `pause`, ARM `yield`): saves power and lets the
/// sibling hyper-thread run.
inline void cpu_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  compiler_barrier();
#endif
}

/// Raises `a` to `v` if `v` is larger (lowers it if smaller, for atomic_store_min): a peak or a
/// bound that only moves one way, kept by several threads. `order` applies to the store.
template <class T>
void atomic_store_max(std::atomic<T>& a, T v, std::memory_order order = std::memory_order_relaxed) noexcept {
  for (T now = a.load(std::memory_order_relaxed); now < v && !a.compare_exchange_weak(now, v, order, std::memory_order_relaxed);) {
  }
}
template <class T>
void atomic_store_min(std::atomic<T>& a, T v, std::memory_order order = std::memory_order_relaxed) noexcept {
  for (T now = a.load(std::memory_order_relaxed); v < now && !a.compare_exchange_weak(now, v, order, std::memory_order_relaxed);) {
  }
}

/// Exponential backoff for spin loops: pauses 1, 2, 4, ... times up to a limit, then yields the
/// thread to the scheduler. Not thread-safe; one per waiting thread.
class Backoff {
 public:
  /// Spin limit (in pause instructions) before yielding.
  static constexpr std::uint32_t spin_limit = 64;

  /// Waits a little longer than the previous call.
  void pause() noexcept {
    if (spins_ <= spin_limit) {
      for (std::uint32_t i = 0; i < spins_; ++i) cpu_pause();
      spins_ *= 2;
    } else {
      ::sched_yield();  // std::this_thread::yield without <thread>'s compile cost
    }
  }

  /// True once the backoff has given up spinning and yields.
  [[nodiscard]] bool is_yielding() const noexcept { return spins_ > spin_limit; }

  /// Starts over with the shortest wait.
  void reset() noexcept { spins_ = 1; }

 private:
  std::uint32_t spins_ = 1;
};

}  // namespace core::memory
