#include <core/memory/system/shared_memory.hpp>
#include <core/memory/system/shared_queue.hpp>
#include <core/memory/util/error.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "system/shared_memory_support.hpp"
#include "system/system_support.hpp"

namespace cm = core::memory;
using cm::SharedMemory;
using Queue = cm::SpscQueue<std::uint64_t>;

namespace {

const std::string component = "core::memory::SpscQueue: ";

/// Aligned bytes for a queue in this process.
struct Buffer {
  explicit Buffer(std::size_t n) : bytes(n), data(std::aligned_alloc(256, (n + 255) / 256 * 256)) {}
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::size_t bytes;
  void* data;
};

/// A 24-byte element with its own alignment.
struct Message {
  std::uint64_t sequence;
  std::uint32_t parts[4];
};

/// Exit status and CPU time (user + system) of a child.
struct Finished {
  int status;
  std::chrono::microseconds cpu;
};
Finished wait_with_usage(pid_t pid) {
  int status = 0;
  rusage usage{};
  pid_t r;
  do r = ::wait4(pid, &status, 0, &usage);
  while (r < 0 && errno == EINTR);
  if (r != pid) return {-1, {}};
  const auto us = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
          std::chrono::duration_cast<std::chrono::microseconds>(us(usage.ru_utime) + us(usage.ru_stime))};
}

}  // namespace

// ---- in one process: capacity, full and empty edges -------------------------------------------

TEST(SpscQueue, CapacityIsTheLargestPowerOfTwoThatFits) {
  Buffer b(Queue::bytes_for(64) + 63 * sizeof(std::uint64_t));
  for (const std::size_t capacity : {1u, 2u, 8u, 64u}) {
    EXPECT_EQ(Queue::create(b.data, Queue::bytes_for(capacity)).capacity(), capacity);
    EXPECT_EQ(Queue::create(b.data, Queue::bytes_for(capacity) + sizeof(std::uint64_t) - 1).capacity(), capacity);
  }
  auto& q = Queue::create(b.data, b.bytes);  // just short of 128
  EXPECT_EQ(q.capacity(), 64u);
  EXPECT_EQ(q.bytes(), Queue::bytes_for(64));
  EXPECT_EQ(Queue::bytes_for(1) % Queue::alignment, sizeof(std::uint64_t));  // the ring starts on a fresh line
}

TEST(SpscQueue, BytesForHoldsAtLeastTheCapacityAsked) {
  // bytes_for(3) used to leave room for 3 elements, where create() makes a queue of 2.
  for (std::size_t n = 0; n <= 70; ++n) {
    SCOPED_TRACE(n);
    Buffer b(Queue::bytes_for(n));
    const std::size_t capacity = Queue::create(b.data, b.bytes).capacity();
    EXPECT_GE(capacity, n);
    EXPECT_EQ(capacity, n == 0 ? 1 : std::bit_ceil(n));  // no more than needed
    EXPECT_EQ(Queue::bytes_for(n), Queue::bytes_for(capacity));
  }
  EXPECT_EQ(cm::SpscQueue<char>::bytes_for(Queue::max_capacity),
            cm::SpscQueue<char>::bytes_for(1) - 1 + Queue::max_capacity);
}

#if CORE_MEMORY_EXCEPTIONS
TEST(SpscQueue, BytesForBeyondMaxCapacityThrows) {
  // It used to wrap around: ~0 elements of 8 bytes came to the header's size minus 8.
  using Big = cm::SpscQueue<std::array<char, 1024>>;
  for (const std::size_t n : {Queue::max_capacity + 1, Queue::max_capacity * 2, ~std::size_t{0}}) {
    EXPECT_THROW((void)Queue::bytes_for(n), std::length_error) << n;
    EXPECT_THROW((void)Big::bytes_for(n), std::length_error) << n;
  }
}
#endif

TEST(SpscQueueDeathTest, BytesForBeyondMaxCapacityWithoutExceptionsReachesTheHandler) {
  if (cm::exceptions_enabled) GTEST_SKIP() << "exceptions are on: bytes_for throws";
  volatile std::size_t n = Queue::max_capacity + 1;
  EXPECT_DEATH((void)Queue::bytes_for(n), "core::memory::SpscQueue.*capacity beyond max_capacity");
}

template <class T>
void fill_and_drain(std::size_t capacity, T (*make)(std::uint64_t)) {
  Buffer b(cm::SpscQueue<T>::bytes_for(capacity));
  auto& q = cm::SpscQueue<T>::create(b.data, b.bytes);
  ASSERT_EQ(q.capacity(), capacity);
  std::uint64_t pushed = 0, popped = 0;
  T out{};
  // Many rounds of fill to full, drain to empty, and half fills, so the indices wrap many times.
  for (int round = 0; round < 50; ++round) {
    EXPECT_TRUE(q.empty());
    EXPECT_FALSE(q.try_pop(out));
    const std::size_t fill = round % 3 == 2 ? capacity / 2 + 1 : capacity;
    for (std::size_t i = 0; i < fill; ++i) ASSERT_TRUE(q.try_push(make(pushed++)));
    EXPECT_EQ(q.size(), fill);
    if (fill == capacity) {
      EXPECT_FALSE(q.try_push(make(999)));  // full: refused, nothing lost
    }
    for (std::size_t i = 0; i < fill; ++i) {
      ASSERT_TRUE(q.try_pop(out));
      ASSERT_EQ(std::memcmp(&out, &static_cast<const T&>(make(popped++)), sizeof(T)), 0);
    }
    EXPECT_FALSE(q.try_pop(out));
  }
}

TEST(SpscQueue, FullAndEmptyEdgesForEveryCapacityAndElementType) {
  for (const std::size_t capacity : {1u, 2u, 4u, 16u, 256u}) {
    SCOPED_TRACE(capacity);
    fill_and_drain<std::uint64_t>(capacity, [](std::uint64_t i) { return i; });
    fill_and_drain<char>(capacity, [](std::uint64_t i) { return static_cast<char>(i); });
    fill_and_drain<Message>(capacity, [](std::uint64_t i) {
      return Message{i, {static_cast<std::uint32_t>(i), 1, 2, static_cast<std::uint32_t>(~i)}};
    });
    fill_and_drain<std::array<char, 200>>(capacity, [](std::uint64_t i) {
      std::array<char, 200> a{};
      a.fill(static_cast<char>(i));
      return a;
    });
  }
}

TEST(SpscQueue, AttachFindsTheSameQueue) {
  Buffer b(Queue::bytes_for(8));
  auto& q = Queue::create(b.data, b.bytes);
  ASSERT_TRUE(q.try_push(41));
  auto& again = Queue::attach(b.data);
  EXPECT_EQ(&again, &q);
  EXPECT_EQ(again.capacity(), 8u);
  EXPECT_EQ(again.pop(), 41u);
}

TEST(SpscQueue, ErrorsSayWhatIsWrong) {
  Buffer b(Queue::bytes_for(8) + 256);
  std::memset(b.data, 0, b.bytes);
  EXPECT_SYSTEM_ERROR((void)Queue::attach(b.data), EINVAL,
                      component + "attach (no queue there: wrong magic number or version)");
  EXPECT_SYSTEM_ERROR((void)Queue::create(static_cast<char*>(b.data) + 8, b.bytes - 8), EINVAL,
                      component + "create (the address is not aligned to 128)");
  EXPECT_SYSTEM_ERROR((void)Queue::attach(static_cast<char*>(b.data) + 64), EINVAL,
                      component + "attach (the address is not aligned to 128)");
  EXPECT_SYSTEM_ERROR((void)Queue::create(b.data, Queue::bytes_for(1) - 1), EINVAL,
                      component + "create (" + std::to_string(Queue::bytes_for(1) - 1) +
                          " bytes: a queue of one element needs " + std::to_string(Queue::bytes_for(1)) + ")");
  (void)Queue::create(b.data, b.bytes);
  EXPECT_SYSTEM_ERROR((void)cm::SpscQueue<Message>::attach(b.data), EINVAL,
                      component + "attach (the queue holds elements of 8 bytes aligned to 8, not 24 aligned to 8)");
  EXPECT_SYSTEM_ERROR((void)cm::SpscQueue<std::uint32_t>::attach(b.data), EINVAL,
                      component + "attach (the queue holds elements of 8 bytes aligned to 8, not 4 aligned to 4)");
}

namespace core::memory::detail {
/// The test's way into a queue's header (declared a friend by SpscQueue).
struct spsc_queue_test_access {
  template <class T>
  static std::uint32_t& mask(SpscQueue<T>& q) {
    return q.mask_;
  }
  /// Whether the queue says that its producer (or its consumer) sleeps.
  template <class T>
  static bool sleeps(SpscQueue<T>& q, bool producer) {
    return (producer ? q.producer_sleeps_ : q.consumer_sleeps_).load() != 0;
  }
  /// Makes an empty queue's indices (and each side's copy of the other's) start at `index`.
  template <class T>
  static void start_at(SpscQueue<T>& q, std::uint32_t index) {
    q.tail_.store(index);
    q.head_.store(index);
    q.head_cache_ = q.tail_cache_ = index;
  }
};
}  // namespace core::memory::detail

TEST(SpscQueue, AttachChecksTheRangeAndTheHeader) {
  Buffer b(Queue::bytes_for(8));
  auto& q = Queue::create(b.data, b.bytes);
  EXPECT_EQ(&Queue::attach(b.data, b.bytes), &q);
  // A range that does not hold the whole queue (a process that mapped less than was created).
  EXPECT_SYSTEM_ERROR((void)Queue::attach(b.data, Queue::bytes_for(4)), EINVAL,
                      component + "attach (the queue needs " + std::to_string(Queue::bytes_for(8)) +
                          " bytes, the range has " + std::to_string(Queue::bytes_for(4)) + ")");
  // A range too small for the header is not read.
  EXPECT_SYSTEM_ERROR((void)Queue::attach(b.data, 16), EINVAL,
                      component + "attach (16 bytes: a queue of one element needs " +
                          std::to_string(Queue::bytes_for(1)) + ")");
  // A header whose capacity is not a power of two up to max_capacity: slot() would index out of
  // the ring with any mask that is not 2^k - 1.
  auto& mask = cm::detail::spsc_queue_test_access::mask(q);
  for (const std::uint32_t bad : {5u, 6u, 0x80000000u, 0xffffffffu}) {
    mask = bad;
    const std::string text =
        component + "attach (the header is corrupt: capacity " + std::to_string(std::uint64_t{bad} + 1) + ")";
    EXPECT_SYSTEM_ERROR((void)Queue::attach(b.data), EINVAL, text);
    EXPECT_SYSTEM_ERROR((void)Queue::attach(b.data, b.bytes), EINVAL, text);
  }
  mask = 7;
  EXPECT_EQ(&Queue::attach(b.data), &q);
}

TEST(SpscQueue, IndicesWrapAround2To32) {
  // The 32-bit indices wrap after 2^32 elements: start them just before, fill and drain across.
  for (const std::size_t capacity : {1u, 2u, 8u}) {
    for (const std::uint32_t before_wrap : {0u, 1u, 3u, 7u, 8u}) {
      SCOPED_TRACE(std::to_string(capacity) + " " + std::to_string(before_wrap));
      Buffer b(Queue::bytes_for(capacity));
      auto& q = Queue::create(b.data, b.bytes);
      cm::detail::spsc_queue_test_access::start_at(q, 0u - before_wrap);
      std::uint64_t pushed = 0, popped = 0, v = 0;
      for (int round = 0; round < 6; ++round) {  // full, empty, then half full, across the wrap
        const std::size_t fill = round % 2 == 0 ? capacity : (capacity + 1) / 2;
        for (std::size_t i = 0; i < fill; ++i) ASSERT_TRUE(q.try_push(pushed++));
        EXPECT_EQ(q.size(), fill);
        EXPECT_EQ(q.try_push(pushed), fill < capacity);  // refused only when full
        if (fill < capacity) ++pushed;
        EXPECT_EQ(q.empty(), false);
        while (q.try_pop(v)) ASSERT_EQ(v, popped++);
        EXPECT_EQ(popped, pushed);
        EXPECT_EQ(q.size(), 0u);
      }
      // Blocking calls across the wrap: the producer sleeps on a full queue whose "full head"
      // value (tail - capacity) wraps, the consumer sleeps on an empty one.
      cm::detail::spsc_queue_test_access::start_at(q, 0u - before_wrap);
      std::thread producer([&] {
        for (std::uint64_t i = 0; i < 4 * capacity + 4; ++i) q.push(i);
      });
      for (std::uint64_t i = 0; i < 4 * capacity + 4; ++i) {
        if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        ASSERT_EQ(q.pop(), i);
      }
      producer.join();
    }
  }
}

#if CORE_MEMORY_CHECK_LEVEL >= 1 && !defined(__SANITIZE_THREAD__)  // a deliberate data race
namespace {
std::atomic<int> second_side_reports{0};
std::atomic<bool> second_side_recorded{false};
std::string second_side_text;
cm::error_kind second_side_kind{};
const void* second_side_address = nullptr;
/// Counts reports from any thread and keeps the first.
void record_second_side(const cm::error_report& r) {
  if (!second_side_recorded.exchange(true)) {
    char text[512];
    cm::format_report(r, text, sizeof text);
    second_side_text = text;
    second_side_kind = r.kind;
    second_side_address = r.address;
  }
  second_side_reports.fetch_add(1);
}
}  // namespace

TEST(SpscQueue, TwoProducersOrTwoConsumersAtOnceAreReportedInCheckedBuilds) {
  // Documented misuse, caught where it overlaps: each side publishes its index with a
  // compare-exchange from the value it started from (the same cost as the store on x86).
  for (const bool producers : {true, false}) {
    SCOPED_TRACE(producers ? "producers" : "consumers");
    Buffer b(Queue::bytes_for(1024));
    auto& q = Queue::create(b.data, b.bytes);
    second_side_reports = 0;
    second_side_recorded = false;
    const cm::misuse_handler previous = cm::set_misuse_handler(&record_second_side);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto side = [&](bool push) {
      std::uint64_t v = 0;
      while (second_side_reports.load() == 0 && std::chrono::steady_clock::now() < until)
        for (int i = 0; i < 1000; ++i) (void)(push ? q.try_push(1) : q.try_pop(v));
    };
    std::thread first(side, producers), second(side, producers), other_side(side, !producers);
    first.join();
    second.join();
    other_side.join();
    cm::set_misuse_handler(previous);
    ASSERT_GE(second_side_reports.load(), 1);
    EXPECT_EQ(second_side_kind, cm::error_kind::assertion);
    EXPECT_EQ(second_side_address, static_cast<const void*>(&q));
    EXPECT_NE(second_side_text.find("core::memory::SpscQueue"), std::string::npos)
        << second_side_text;
    EXPECT_NE(second_side_text.find(producers ? "two producers at once" : "two consumers at once"), std::string::npos)
        << second_side_text;
  }
}
#endif

// ---- between processes (the child is another program: the queue is elsewhere in it) ----------

namespace {

/// A segment holding one queue of `capacity` 64-bit numbers.
SharedMemory queue_segment(const std::string& name, std::size_t capacity) {
  auto m = SharedMemory::create(name, Queue::bytes_for(capacity));
  (void)Queue::create(m.data(), m.size());
  return m;
}

}  // namespace

/// True while `child` runs; else its wait status in `status` (the child is reaped).
static bool still_running(pid_t child, int& status) {
  return ::waitpid(child, &status, WNOHANG) == 0;
}

TEST(SpscQueueAcrossProcesses, ChildPopsMillionsInOrder) {
  test::ShmName name;
  for (const std::size_t capacity : {1024u, 4u}) {  // 4: full at almost every push
    SCOPED_TRACE(capacity);
    // Fewer through the small queue: there nearly every push and pop hands over to the other
    // process, which on a loaded machine may wait a scheduler time slice (ms) each time: 200k
    // took 300 s once with other tests running beside it.
    const std::uint64_t count = capacity == 4 ? 20'000 : 2'000'000;
    auto m = queue_segment(name, capacity);
    const pid_t child = test::spawn_child({"pop", name, std::to_string(count)});
    auto& q = Queue::attach(m.data());
    int status = 0;
    for (std::uint64_t i = 0; i < count; ++i)
      while (!q.push_for(i, std::chrono::seconds(1)))  // a consumer that died: a failure, not a hang
        ASSERT_TRUE(still_running(child, status)) << "the consumer ended (status " << status << ") at " << i;
    EXPECT_EQ(test::exit_status(child), 0);
    EXPECT_TRUE(q.empty());
    SharedMemory::remove(name);
  }
}

TEST(SpscQueueAcrossProcesses, ChildPushesMillionsInOrder) {
  test::ShmName name;
  constexpr std::uint64_t count = 2'000'000;
  auto m = queue_segment(name, 512);
  const pid_t child = test::spawn_child({"push", name, std::to_string(count)});
  auto& q = Queue::attach(m.data());
  std::uint64_t next = 0;
  int status = 0;
  for (; next < count; ++next) {
    std::uint64_t v = 0;
    while (!q.pop_for(v, std::chrono::seconds(1)))  // a producer that died: a failure, not a hang
      ASSERT_TRUE(still_running(child, status)) << "the producer ended (status " << status << ") at " << next;
    if (v != next) break;
  }
  EXPECT_EQ(next, count);
  EXPECT_EQ(test::exit_status(child), 0);
}

TEST(SpscQueueAcrossProcesses, AnIdleConsumerSleepsAndIsWoken) {
  test::ShmName name;
  auto m = queue_segment(name, 16);
  auto& q = Queue::attach(m.data());
  const pid_t child = test::spawn_child({"pop", name, "2"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the child waits in pop()
  q.push(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  q.push(1);
  const Finished f = wait_with_usage(child);
  EXPECT_EQ(f.status, 0);
  // Spinning through 600 ms would cost about that much CPU; sleeping costs the start-up only.
  EXPECT_LT(f.cpu, std::chrono::milliseconds(150));
}

TEST(SpscQueueAcrossProcesses, AProducerFacingAFullQueueSleepsAndIsWoken) {
  test::ShmName name;
  auto m = queue_segment(name, 4);
  auto& q = Queue::attach(m.data());
  const pid_t child = test::spawn_child({"push", name, "12"});  // 8 more than fit
  for (std::uint64_t i = 0; i < 12; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(i % 4 == 0 ? 200 : 1));  // full meanwhile
    EXPECT_EQ(q.pop(), i);
  }
  const Finished f = wait_with_usage(child);
  EXPECT_EQ(f.status, 0);
  EXPECT_LT(f.cpu, std::chrono::milliseconds(150));
}

// ---- a side that dies: the survivor's timed waits return, a new peer takes over -----------------

namespace {

using namespace std::chrono_literals;

/// Waits `timeout` in `wait()` (which must return false) and checks it waited about that long.
template <class F>
void expect_times_out(std::chrono::milliseconds timeout, F wait) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(wait(timeout));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, timeout);
  EXPECT_LT(waited, timeout + 5s);  // a loaded machine, but not forever
}

}  // namespace

TEST(SpscQueueAcrossProcesses, AConsumerOutlivesAProducerKilledAsleep) {
  test::ShmName name;
  auto m = queue_segment(name, 4);
  auto& q = Queue::attach(m.data());
  const pid_t child = test::spawn_child({"push", name, "1000"});
  while (q.size() < 4) std::this_thread::sleep_for(1ms);
  // The child goes to sleep in push() on the full queue: waited for, not assumed after a fixed
  // time (a loaded machine took longer than 100 ms).
  for (int i = 0; i < 10000 && !cm::detail::spsc_queue_test_access::sleeps(q, true); ++i)
    std::this_thread::sleep_for(1ms);
  ::kill(child, SIGKILL);
  EXPECT_EQ(test::exit_status(child), 128 + SIGKILL);
  // The dead producer still says it sleeps: the first pop's wake-up finds nobody and clears
  // that, so the others do not make a system call each.
  EXPECT_TRUE(cm::detail::spsc_queue_test_access::sleeps(q, true));
  std::uint64_t v = 99;
  for (std::uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.pop_for(v, 1s));
    EXPECT_EQ(v, i);
    EXPECT_FALSE(cm::detail::spsc_queue_test_access::sleeps(q, true));
  }
  v = 99;
  expect_times_out(100ms, [&](auto timeout) { return q.pop_for(v, timeout); });  // pop() would hang
  EXPECT_EQ(v, 99u);
  // A new producer takes over: the dead one's sleep flag and spin state do not get in its way.
  const pid_t next = test::spawn_child({"push", name, "3"});
  for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(q.pop(), i);
  EXPECT_EQ(test::exit_status(next), 0);
}

TEST(SpscQueueAcrossProcesses, AProducerOutlivesAConsumerKilledAsleep) {
  test::ShmName name;
  auto m = queue_segment(name, 4);
  auto& q = Queue::attach(m.data());
  const pid_t child = test::spawn_child({"pop", name, "1000"});
  std::this_thread::sleep_for(300ms);  // the child sleeps in pop() on the empty queue
  ::kill(child, SIGKILL);
  EXPECT_EQ(test::exit_status(child), 128 + SIGKILL);
  EXPECT_TRUE(cm::detail::spsc_queue_test_access::sleeps(q, false));
  for (std::uint64_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.push_for(i, 1s));
    EXPECT_FALSE(cm::detail::spsc_queue_test_access::sleeps(q, false));
  }
  expect_times_out(100ms, [&](auto timeout) { return q.push_for(4, timeout); });  // push() would hang
  EXPECT_EQ(q.size(), 4u);  // nothing pushed by the failed push_for
  const pid_t next = test::spawn_child({"pop", name, "4"});
  EXPECT_EQ(test::exit_status(next), 0);
  EXPECT_TRUE(q.empty());
}

TEST(SpscQueueAcrossProcesses, AProducerKilledAnywhereLeavesAnInOrderPrefix) {
  // SIGKILL lands anywhere in push(): between the copy and the publishing store, asleep, ...
  // Whatever was published is whole and in order; nothing else appears.
  test::ShmName name;
  auto m = queue_segment(name, 64);
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE(round);
    auto& q = Queue::create(m.data(), m.size());
    const pid_t child = test::spawn_child({"push", name, "4000000000"});
    std::uint64_t next = 0;
    const std::uint64_t before_kill = 1 + static_cast<std::uint64_t>(round) * 997 % 5000;
    for (; next < before_kill; ++next) ASSERT_EQ(q.pop(), next);
    ::kill(child, SIGKILL);
    EXPECT_EQ(test::exit_status(child), 128 + SIGKILL);
    std::uint64_t v = 0;
    while (q.pop_for(v, 10ms)) ASSERT_EQ(v, next++);
    EXPECT_LE(next, before_kill + 64);
    EXPECT_TRUE(q.empty());
  }
}

TEST(SpscQueueAcrossProcesses, AConsumerKilledAnywhereLeavesTheRestInOrder) {
  // SIGKILL lands anywhere in pop(): whatever the consumer did not take is still there, whole,
  // in order, and a new consumer (here the parent) takes it.
  test::ShmName name;
  auto m = queue_segment(name, 64);
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE(round);
    auto& q = Queue::create(m.data(), m.size());
    const pid_t child = test::spawn_child({"pop", name, "4000000000"});
    const std::uint64_t pushed = 1 + static_cast<std::uint64_t>(round) * 997 % 5000;
    std::uint64_t i = 0;
    for (; i < pushed; ++i) ASSERT_TRUE(q.push_for(i, 10s));
    ::kill(child, SIGKILL);
    EXPECT_EQ(test::exit_status(child), 128 + SIGKILL);
    std::uint64_t v = 0;
    if (!q.try_pop(v)) continue;  // the child took everything
    for (std::uint64_t next = v + 1; q.try_pop(v); ++next) ASSERT_EQ(v, next);
    EXPECT_EQ(v, pushed - 1);
    EXPECT_TRUE(q.empty());
  }
}
