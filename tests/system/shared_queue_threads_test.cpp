// SpscQueue between two threads of one process: the ordering and the sleeping and waking,
// under ThreadSanitizer (label concurrent).
#include <core/memory/system/shared_queue.hpp>

#include <gtest/gtest.h>

#include <atomic>
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
  f(Queue::create(at, bytes));
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
  with_queue(64, [&](auto& q) {
    std::thread producer([&] {
      for (std::uint64_t i = 0; i < count; ++i)
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
    while (next < count) {
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
    EXPECT_EQ(next, count);
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
