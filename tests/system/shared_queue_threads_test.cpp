// SpscQueue between two threads of one process: the ordering and the sleeping and waking,
// under ThreadSanitizer (label concurrent).
#include <core/memory/system/shared_queue.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <pthread.h>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>

namespace cm = core::memory;

namespace {

struct Item {
  std::uint64_t sequence;
  std::uint64_t check;
};

template <class F>
void with_queue(std::size_t capacity, F f) {
  using Queue = cm::SpscQueue<Item>;
  const std::size_t bytes = (Queue::bytes_for(capacity) + 255) / 256 * 256;
  void* at = std::aligned_alloc(256, bytes);
  auto& q = Queue::create(at, Queue::bytes_for(capacity));  // not `bytes`: that holds more
  ASSERT_EQ(q.capacity(), capacity);
  f(q);
  std::free(at);
}

/// Items per test: fewer under ThreadSanitizer, where every blocked wait spins slowly.
#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t count = 100'000;
#else
constexpr std::uint64_t count = 1'000'000;
#endif

constexpr std::uint64_t scramble(std::uint64_t i) { return i * 0x9E3779B97F4A7C15ull ^ 0x5555; }

}  // namespace

TEST(SpscQueueThreads, WaitFreeCallsKeepOrder) {
  // A tenth of the items: both sides and the monitor spin with yield, which on two loaded cores
  // (the CI runs two tests at once) took the full count past a minute.
  const std::uint64_t items = count / 10;
  with_queue(64, [&](auto& q) {
    std::thread producer([&] {
      for (std::uint64_t i = 0; i < items; ++i)
        while (!q.try_push(Item{i, scramble(i)})) std::this_thread::yield();
    });
    // A third thread watching size() while both sides move (a monitor may call it).
    std::atomic<bool> done{false};
    std::size_t bad_size = 0;
    std::thread monitor([&] {
      while (!done.load(std::memory_order_relaxed)) {
        if (const std::size_t n = q.size(); n > q.capacity()) bad_size = n;
        std::this_thread::yield();
      }
    });
    std::uint64_t next = 0;
    Item item{};
    while (next < items) {
      if (!q.try_pop(item)) {
        std::this_thread::yield();
        continue;
      }
      if (item.sequence != next || item.check != scramble(next)) break;
      ++next;
    }
    producer.join();
    done = true;
    monitor.join();
    EXPECT_EQ(next, items);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(bad_size, 0u);
  });
}

TEST(SpscQueueThreads, BlockingCallsKeepOrder) {
  for (const std::size_t capacity : {1u, 8u, 1024u}) {
    // Fewer through the small queues: on a loaded machine nearly every item there sleeps.
    const std::uint64_t items = capacity < 1024 ? count / 10 : count;
    with_queue(capacity, [&](auto& q) {
      std::thread producer([&] {
        for (std::uint64_t i = 0; i < items; ++i) q.push(Item{i, scramble(i)});
      });
      std::uint64_t next = 0;
      for (; next < items; ++next) {
        const Item item = q.pop();
        if (item.sequence != next || item.check != scramble(next)) break;
      }
      producer.join();
      EXPECT_EQ(next, items) << capacity;
    });
  }
}

TEST(SpscQueueThreads, SleepersAreWokenEveryTime) {
  // The consumer sleeps before nearly every item and the producer before nearly every push:
  // a lost wake-up hangs the test.
  constexpr std::uint64_t items = 200;
  with_queue(2, [&](auto& q) {
    std::thread consumer([&] {
      for (std::uint64_t i = 0; i < items; ++i) {
        const Item item = q.pop();
        EXPECT_EQ(item.sequence, i);
        if (i % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    for (std::uint64_t i = 0; i < items; ++i) {
      if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
      q.push(Item{i, scramble(i)});
    }
    consumer.join();
  });
}

// ---- timed waits: they end at the deadline, not before (signals, spurious wake-ups), nor never ----

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// A handler for SIGUSR1 installed without SA_RESTART, so a signal ends the futex wait with EINTR.
struct InterruptingSignal {
  InterruptingSignal() {
    struct sigaction a {};
    a.sa_handler = [](int) { handled.fetch_add(1, std::memory_order_relaxed); };
    sigemptyset(&a.sa_mask);
    sigaction(SIGUSR1, &a, &previous);
  }
  ~InterruptingSignal() { sigaction(SIGUSR1, &previous, nullptr); }
  InterruptingSignal(const InterruptingSignal&) = delete;
  InterruptingSignal& operator=(const InterruptingSignal&) = delete;
  struct sigaction previous {};
  static inline std::atomic<int> handled{0};
};

/// Sends SIGUSR1 to `thread` every 2 ms until `stop` (set before `thread` ends: a joined thread
/// cannot be signalled).
void pester(pthread_t thread, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    pthread_kill(thread, SIGUSR1);
    std::this_thread::sleep_for(2ms);
  }
}

}  // namespace

TEST(SpscQueueThreads, TimedWaitsEndAtTheDeadline) {
  with_queue(2, [&](auto& q) {
    Item item{7, 7};
    auto start = Clock::now();
    EXPECT_FALSE(q.pop_for(item, 50ms));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_EQ(item.sequence, 7u);  // untouched
    EXPECT_FALSE(q.pop_for(item, 0ms));
    EXPECT_FALSE(q.pop_for(item, -5s));
    ASSERT_TRUE(q.push_for(Item{0, 0}, 0ms));
    for (std::uint64_t i = 1; i < q.capacity(); ++i) ASSERT_TRUE(q.push_for(Item{i, i}, 1h));
    start = Clock::now();
    EXPECT_FALSE(q.push_for(Item{99, 99}, 50ms));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_FALSE(q.push_for(Item{99, 99}, std::chrono::nanoseconds(1)));
    EXPECT_EQ(q.size(), q.capacity());
    ASSERT_TRUE(q.pop_for(item, 0ms));
    EXPECT_EQ(item.sequence, 0u);
    ASSERT_TRUE(q.pop_for(item, std::chrono::hours::max()));  // no overflow computing the deadline
    EXPECT_EQ(item.sequence, 1u);
  });
}

TEST(SpscQueueThreads, TimedWaitsReturnWhatArrivesMeanwhile) {
  with_queue(1, [&](auto& q) {
    std::thread producer([&] {
      std::this_thread::sleep_for(30ms);
      q.push(Item{1, scramble(1)});
      EXPECT_TRUE(q.push_for(Item{2, scramble(2)}, std::chrono::hours::max()));  // waits for the pop
    });
    Item item{};
    EXPECT_TRUE(q.pop_for(item, 10s));  // sleeps about 30 ms
    EXPECT_EQ(item.sequence, 1u);
    std::this_thread::sleep_for(30ms);  // the producer sleeps in push_for meanwhile
    EXPECT_TRUE(q.pop_for(item, std::chrono::seconds::max()));
    EXPECT_EQ(item.sequence, 2u);
    producer.join();
  });
}

TEST(SpscQueueThreads, SignalsDoNotEndOrShortenAWait) {
  InterruptingSignal signal;
  with_queue(4, [&](auto& q) {
    // pop() interrupted again and again returns the item that comes later, whole.
    std::atomic<bool> stop{false};
    const int before = InterruptingSignal::handled.load();
    std::uint64_t got = 0;
    std::thread consumer([&] {
      got = q.pop().check;
      while (!stop.load()) std::this_thread::yield();
    });
    std::thread pesterer([&, t = consumer.native_handle()] { pester(t, stop); });
    std::this_thread::sleep_for(100ms);
    q.push(Item{5, scramble(5)});
    while (!q.empty()) std::this_thread::yield();
    stop = true;
    pesterer.join();
    consumer.join();
    EXPECT_EQ(got, scramble(5));
    EXPECT_GT(InterruptingSignal::handled.load(), before);  // the signals did reach the sleeper
    // pop_for interrupted keeps waiting for what is left of its timeout.
    stop = false;
    bool popped = true;
    Clock::duration waited{};
    std::atomic<bool> returned{false};
    std::thread timed([&] {
      Item item{};
      const auto start = Clock::now();
      popped = q.pop_for(item, 150ms);
      waited = Clock::now() - start;
      returned = true;
      while (!stop.load()) std::this_thread::yield();
    });
    std::thread pesterer2([&, t = timed.native_handle()] { pester(t, stop); });
    while (!returned.load()) std::this_thread::sleep_for(1ms);
    stop = true;
    pesterer2.join();
    timed.join();
    EXPECT_FALSE(popped);
    EXPECT_GE(waited, 150ms);
  });
}
