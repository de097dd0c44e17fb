// Uncontended lock/unlock pair of the process-shared robust mutexes against the alternatives, all
// placed in one shared mapping (a memfd mapped MAP_SHARED, as they would be in a segment). Rows:
//   mutex_lock_unlock/<impl>   one lock() + unlock() by one thread (ns per pair)
//     core_InterprocessMutex, core_InterprocessRecursiveMutex   ours (robust, process-shared)
//     pthread_default          pthread_mutex_t, default attributes (not robust, not shared)
//     pthread_robust_pshared   pthread_mutex_t, PTHREAD_MUTEX_ROBUST + PTHREAD_PROCESS_SHARED
//     boost_interprocess_mutex boost::interprocess::interprocess_mutex (not robust)
//     std_mutex                std::mutex
//   condition_notify_one_no_waiter/<impl>  notify_one() with nobody waiting (ns per call)
// Each row twice: .../single_threaded (the process has one thread) and .../multi_threaded (a
// second thread sleeps in the process): glibc skips the atomic instructions of its private
// mutexes in a single-threaded process, which a process-shared mutex cannot do.

#include <core/memory/system/interprocess_mutex.hpp>

#include <boost/interprocess/sync/interprocess_condition.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <new>

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

namespace cm = core::memory;

namespace {

/// Every object of the benchmark, each on its own cache line, in one shared mapping.
struct alignas(64) Line {
  unsigned char bytes[128];
};
struct Objects {
  Line core_mutex, core_recursive, pthread_default, pthread_robust, boost_mutex, std_mutex, core_condition,
      boost_condition;
};

Objects& objects() {
  static Objects* o = [] {
    const int fd = ::memfd_create("shm_mutex_bench", 0);
    if (fd < 0 || ::ftruncate(fd, sizeof(Objects)) != 0) std::abort();
    void* p = ::mmap(nullptr, sizeof(Objects), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) std::abort();
    auto* objs = static_cast<Objects*>(p);
    new (objs->core_mutex.bytes) cm::InterprocessMutex;
    new (objs->core_recursive.bytes) cm::InterprocessRecursiveMutex;
    new (objs->pthread_default.bytes) pthread_mutex_t(PTHREAD_MUTEX_INITIALIZER);
    pthread_mutexattr_t attributes;
    ::pthread_mutexattr_init(&attributes);
    ::pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    ::pthread_mutex_init(reinterpret_cast<pthread_mutex_t*>(objs->pthread_robust.bytes), &attributes);
    ::pthread_mutexattr_destroy(&attributes);
    new (objs->boost_mutex.bytes) boost::interprocess::interprocess_mutex;
    new (objs->std_mutex.bytes) std::mutex;
    new (objs->core_condition.bytes) cm::InterprocessCondition;
    new (objs->boost_condition.bytes) boost::interprocess::interprocess_condition;
    return objs;
  }();
  return *o;
}

template <class T>
T& object(Line& line) {
  return *std::launder(reinterpret_cast<T*>(line.bytes));
}

void core_mutex(benchmark::State& state) {
  auto& m = object<cm::InterprocessMutex>(objects().core_mutex);
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.lock());
    m.unlock();
  }
}

void core_recursive(benchmark::State& state) {
  auto& m = object<cm::InterprocessRecursiveMutex>(objects().core_recursive);
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.lock());
    m.unlock();
  }
}

void pthread_mutex(benchmark::State& state, Line Objects::*which) {
  auto& m = object<pthread_mutex_t>(objects().*which);
  for (auto _ : state) {
    benchmark::DoNotOptimize(::pthread_mutex_lock(&m));
    ::pthread_mutex_unlock(&m);
  }
}

template <class M>
void lockable(benchmark::State& state, Line Objects::*which) {
  auto& m = object<M>(objects().*which);
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
}

void boost_mutex(benchmark::State& state) { lockable<boost::interprocess::interprocess_mutex>(state, &Objects::boost_mutex); }
void std_mutex(benchmark::State& state) { lockable<std::mutex>(state, &Objects::std_mutex); }

void core_notify(benchmark::State& state) {
  auto& c = object<cm::InterprocessCondition>(objects().core_condition);
  for (auto _ : state) c.notify_one();
}

void boost_notify(benchmark::State& state) {
  auto& c = object<boost::interprocess::interprocess_condition>(objects().boost_condition);
  for (auto _ : state) c.notify_one();
}

/// glibc takes its private mutexes without atomic instructions while a process has one thread
/// (pthread_default and std_mutex only: a process-shared mutex cannot know who else uses it), so
/// every row runs twice: single-threaded, then with a second thread (asleep) in the process.
void start_second_thread() {
  static const bool started = [] {
    std::thread([] {
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }).detach();
    return true;
  }();
  (void)started;
}

template <void (*Row)(benchmark::State&)>
void multi_threaded(benchmark::State& state) {
  start_second_thread();
  Row(state);
}

void pthread_default(benchmark::State& state) { pthread_mutex(state, &Objects::pthread_default); }
void pthread_robust(benchmark::State& state) { pthread_mutex(state, &Objects::pthread_robust); }

struct Row {
  const char* name;
  void (*single)(benchmark::State&);
  void (*multi)(benchmark::State&);
};
template <void (*F)(benchmark::State&)>
constexpr Row row(const char* name) {
  return {name, F, multi_threaded<F>};
}
constexpr Row rows[] = {
    row<core_mutex>("mutex_lock_unlock/core_InterprocessMutex"),
    row<core_recursive>("mutex_lock_unlock/core_InterprocessRecursiveMutex"),
    row<pthread_default>("mutex_lock_unlock/pthread_default"),
    row<pthread_robust>("mutex_lock_unlock/pthread_robust_pshared"),
    row<boost_mutex>("mutex_lock_unlock/boost_interprocess_mutex"),
    row<std_mutex>("mutex_lock_unlock/std_mutex"),
    row<core_notify>("condition_notify_one_no_waiter/core_InterprocessCondition"),
    row<boost_notify>("condition_notify_one_no_waiter/boost_interprocess_condition"),
};

[[maybe_unused]] const bool registered = [] {
  for (const Row& r : rows) benchmark::RegisterBenchmark((std::string(r.name) + "/single_threaded").c_str(), r.single);
  for (const Row& r : rows) benchmark::RegisterBenchmark((std::string(r.name) + "/multi_threaded").c_str(), r.multi);
  return true;
}();

}  // namespace
