// The lock-free core of the concurrent pools (AtomicStack: pushes, chains, take_all and the
// depot's take-one-put-back-the-rest) driven through every interleaving of its atomic
// operations by a small stateless model checker: real threads, but only the one the scheduler
// picks runs, and it is stopped before each atomic operation; a depth-first search over the
// scheduler's choices replays every execution. After each one, every node must be exactly once
// either on the stack or in a thread's hands (no loss, no duplicate, no cycle).

#include <core/memory/pool/detail/atomic_stack.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

/// Runs one thread at a time, switching only at yield points, and enumerates every schedule.
class ModelScheduler {
 public:
  static ModelScheduler*& current() {
    static ModelScheduler* s = nullptr;
    return s;
  }

  /// Runs `threads` copies of body(tid) under every schedule: reset() before each execution,
  /// check() after it. Returns how many executions there were.
  std::size_t explore(int threads, const std::function<void(int)>& body, const std::function<void()>& reset,
                      const std::function<void()>& check) {
    current() = this;
    std::size_t executions = 0;
    choices_.clear();
    // The same threads run every execution (creating three threads for each of thousands of
    // executions took most of the test's time under the sanitizers).
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { work(t, body); });
    for (;;) {
      reset();
      run_once(threads);
      check();
      ++executions;
      while (!choices_.empty() && choices_.back().taken + 1 == choices_.back().options) choices_.pop_back();
      if (choices_.empty()) break;
      ++choices_.back().taken;
    }
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers) w.join();
    current() = nullptr;
    return executions;
  }

  /// Called by a running thread before each atomic operation: the scheduler may switch. (The
  /// main thread, self == -1, runs set-up and checks unscheduled.)
  void yield(int me) {
    std::unique_lock lock(m_);
    pick();
    cv_.notify_all();
    cv_.wait(lock, [&] { return turn_ == me; });
  }

  static thread_local int self;

 private:
  struct Choice {
    std::size_t taken;
    std::size_t options;
  };

  /// One execution: every worker runs body once, one at a time in the order pick() chooses.
  void run_once(int threads) {
    std::unique_lock lock(m_);
    depth_ = 0;
    finished_.assign(static_cast<std::size_t>(threads), false);
    ++generation_;
    pick();
    cv_.notify_all();
    cv_.wait(lock, [&] { return std::find(finished_.begin(), finished_.end(), false) == finished_.end(); });
  }

  /// A worker: runs body(t) once in each execution, when the scheduler gives it its turn.
  void work(int t, const std::function<void(int)>& body) {
    self = t;
    std::uint64_t done = 0;  // the last execution this worker ran in
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || (generation_ != done && turn_ == t); });
      if (stop_) return;
      done = generation_;
      lock.unlock();
      body(t);
      lock.lock();
      finished_[static_cast<std::size_t>(t)] = true;
      pick();
      cv_.notify_all();
    }
  }

  /// Chooses the next thread to run (under m_): replays the recorded choice at this depth, or
  /// records a new decision point taking its first option.
  void pick() {
    std::vector<int> enabled;
    for (std::size_t t = 0; t < finished_.size(); ++t)
      if (!finished_[t]) enabled.push_back(static_cast<int>(t));
    if (enabled.empty()) {
      turn_ = -1;
      return;
    }
    if (depth_ == choices_.size()) choices_.push_back({0, enabled.size()});
    turn_ = enabled[choices_[depth_].taken];
    ++depth_;
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Choice> choices_;
  std::size_t depth_ = 0;
  std::vector<bool> finished_;
  int turn_ = -1;
  std::uint64_t generation_ = 0;  // counts executions
  bool stop_ = false;
};
thread_local int ModelScheduler::self = -1;

/// std::atomic with a scheduling point before every operation.
template <class T>
class ModelAtomic {
 public:
  ModelAtomic(T v = T{}) noexcept : v_(v) {}
  T load(std::memory_order o = std::memory_order_seq_cst) const {
    sync();
    return v_.load(o);
  }
  T exchange(T desired, std::memory_order o = std::memory_order_seq_cst) {
    sync();
    return v_.exchange(desired, o);
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order s, std::memory_order f) {
    sync();
    return v_.compare_exchange_strong(expected, desired, s, f);
  }
  void store_unchecked(T v) { v_.store(v); }  // set-up between executions

 private:
  static void sync() {
    if (ModelScheduler* s = ModelScheduler::current(); s && ModelScheduler::self >= 0) s->yield(ModelScheduler::self);
  }
  std::atomic<T> v_;
};

struct Node {
  Node* next = nullptr;
  int id = 0;
};
using Stack = core::memory::detail::AtomicStack<Node, ModelAtomic>;

/// The depot's take: the whole stack out, the first node kept, the rest put back.
Node* take_one(Stack& s) {
  Node* all = s.take_all();
  if (!all) return nullptr;
  if (all->next) s.put_back(all->next);
  all->next = nullptr;
  return all;
}

/// Every node of `expected` exactly once in the stack (walked after the run) or in `held`.
void expect_conserved(Stack& s, const std::vector<Node*>& held, const std::set<int>& expected) {
  std::multiset<int> seen;
  for (Node* n : held)
    if (n) seen.insert(n->id);
  std::size_t steps = 0;
  for (Node* n = s.take_all(); n; n = n->next) {
    seen.insert(n->id);
    ASSERT_LT(++steps, 100u) << "cycle in the stack";
  }
  EXPECT_EQ(seen, std::multiset<int>(expected.begin(), expected.end()));
}

TEST(AtomicStackModel, PushesChainsAndATakerConserveEveryNode) {
  Node nodes[4];
  for (int i = 0; i < 4; ++i) nodes[i].id = i;
  Stack stack;
  Node* held = nullptr;
  ModelScheduler sched;
  const std::size_t runs = sched.explore(
      3,
      [&](int t) {
        if (t == 0) {
          stack.push(&nodes[0]);
        } else if (t == 1) {
          nodes[2].next = &nodes[3];
          stack.push_chain(&nodes[2], &nodes[3]);
        } else {
          held = take_one(stack);
        }
      },
      [&] {
        for (Node& n : nodes) n.next = nullptr;
        stack.push(&nodes[1]);  // one node before the threads start (scheduler not running yet)
        held = nullptr;
      },
      [&] {
        expect_conserved(stack, {held}, {0, 1, 2, 3});
      });
  EXPECT_GT(runs, 20u) << "the scheduler explored the interleavings";
  std::printf("%zu executions\n", runs);
}

TEST(AtomicStackModel, TwoTakersAndAPusherConserveEveryNode) {
  Node nodes[5];
  for (int i = 0; i < 5; ++i) nodes[i].id = i;
  Stack stack;
  Node* held[2] = {nullptr, nullptr};
  ModelScheduler sched;
  const std::size_t runs = sched.explore(
      3,
      [&](int t) {
        if (t < 2) held[t] = take_one(stack);
        else stack.push(&nodes[4]);
      },
      [&] {
        (void)stack.take_all();
        for (Node& n : nodes) n.next = nullptr;
        for (int i = 3; i >= 0; --i) stack.push(&nodes[i]);
        held[0] = held[1] = nullptr;
      },
      [&] {
        EXPECT_TRUE(held[0] != held[1] || !held[0]) << "one node taken twice";
        expect_conserved(stack, {held[0], held[1]}, {0, 1, 2, 3, 4});
      });
  EXPECT_GT(runs, 100u);
  std::printf("%zu executions\n", runs);
}

}  // namespace
