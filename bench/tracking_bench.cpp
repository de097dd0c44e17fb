// What tracking adds per allocation: TrackingAllocator and the global tracker over malloc, exact
// (no stack, a 16-frame stack by unwinding or frame pointers) and sampled (every ~512 KiB), on the
// allocate-then-free hot path (lifo), batches of 1024 (fifo: 1024 live records), and an
// allocation-heavy workload (std::map<int, int> built and destroyed).
#include "bench_common.hpp"

#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/std_allocator.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/tracking/tracking_allocator.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <map>
#include <string>
#include <optional>

namespace cm = core::memory;

namespace {

constexpr std::size_t size = 64;
constexpr std::size_t align = 16;

/// Runs `f` 16 frames below the caller, so a 16-frame stack is really 16 frames deep.
template <class F>
CORE_MEMORY_NOINLINE void at_depth(int depth, F& f) {
  if (depth > 0) at_depth(depth - 1, f);
  else f();
  benchmark::ClobberMemory();  // no tail call
}

template <class Pattern>
void with_stack_depth(benchmark::State& state, Pattern pattern) {
  auto run = [&] { pattern(state); };
  at_depth(16, run);
}

cm::TrackerOptions exact_options(unsigned depth = 0, cm::stack_method m = cm::stack_method::unwind) {
  return {.name = "bench", .stack_depth = depth, .stack = m};
}

void tracking_lifo(benchmark::State& state, const cm::TrackerOptions* options) {
  std::optional<cm::MemoryTracker> tracker;
  if (options) tracker.emplace(*options);
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "bench", .tracker = tracker ? &*tracker : nullptr});
  with_stack_depth(state, [&](benchmark::State& s) { bench::lifo(s, a, size, align); });
}

void tracking_fifo(benchmark::State& state, const cm::TrackerOptions* options) {
  std::optional<cm::MemoryTracker> tracker;
  if (options) tracker.emplace(*options);
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "bench", .tracker = tracker ? &*tracker : nullptr});
  with_stack_depth(state, [&](benchmark::State& s) { bench::fifo(s, a, size, align); });
}

/// A tracker around malloc/free (the global one by default), as TRACK_ALLOCATION would use it;
/// with a null tracker, the baseline of the same shape (a stateful allocator, one branch).
struct Tracked {
  cm::MemoryTracker* tracker = &cm::MemoryTracker::instance();
  void* allocate(std::size_t n, std::size_t) {
    void* p = std::malloc(n);
    if (tracker) tracker->record_allocation(p, n, "bench");
    return p;
  }
  void deallocate(void* p, std::size_t, std::size_t) noexcept {
    if (tracker) tracker->record_deallocation(p);
    std::free(p);
  }
};
using GlobalTracked = Tracked;

const cm::TrackerOptions exact = exact_options();
const cm::TrackerOptions exact_unwind16 = exact_options(16, cm::stack_method::unwind);
const cm::TrackerOptions exact_fp16 = exact_options(16, cm::stack_method::frame_pointers);
const cm::TrackerOptions sampled = {.name = "bench", .mode = cm::tracking_mode::sampled};

/// A map of 1000 ints built and destroyed: one small allocation per element, little other work.
struct IntMap {
  template <class A>
  CORE_MEMORY_ALWAYS_INLINE void operator()(A& a) const {
    std::map<int, int, std::less<>, cm::StdAllocator<std::pair<const int, int>, A>> m(a);
    for (int i = 0; i < 1000; ++i) m.emplace(i * 7919 % 1000, i);
    benchmark::DoNotOptimize(m);
  }
};
/// A map of 1000 strings of 40 characters (two allocations per element: the node and the string).
struct StringMap {
  template <class A>
  CORE_MEMORY_ALWAYS_INLINE void operator()(A& a) const {
    using String = std::basic_string<char, std::char_traits<char>, cm::StdAllocator<char, A>>;
    std::map<String, int, std::less<>, cm::StdAllocator<std::pair<const String, int>, A>> m(a);
    for (int i = 0; i < 1000; ++i) {
      String key(40, 'k', a);
      for (int v = i * 7919 % 1000, d = 0; d < 4; ++d, v /= 10) key[static_cast<std::size_t>(d)] = char('0' + v % 10);
      m.emplace(std::move(key), i);
    }
    benchmark::DoNotOptimize(m);
  }
};

template <class Build = IntMap, class A>
void build_map(benchmark::State& state, A& a) {
  for (auto _ : state) Build{}(a);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1000);
}

void BM_malloc_lifo(benchmark::State& state) {
  cm::MallocAllocator a;
  with_stack_depth(state, [&](benchmark::State& s) { bench::lifo(s, a, size, align); });
}
void BM_malloc_fifo(benchmark::State& state) {
  cm::MallocAllocator a;
  with_stack_depth(state, [&](benchmark::State& s) { bench::fifo(s, a, size, align); });
}
void BM_global_tracker_lifo(benchmark::State& state) {
  GlobalTracked a;
  bench::lifo(state, a, size, align);
}
void BM_global_tracker_fifo(benchmark::State& state) {
  GlobalTracked a;
  bench::fifo(state, a, size, align);
}

void BM_string_map_untracked(benchmark::State& state) {
  Tracked a{nullptr};
  build_map<StringMap>(state, a);
}
void BM_string_map_sampled_tracker(benchmark::State& state) {
  cm::MemoryTracker t(sampled);
  Tracked a{&t};
  build_map<StringMap>(state, a);
}

void BM_sampled_tracker_lifo(benchmark::State& state) {
  cm::MemoryTracker t(sampled);
  Tracked a{&t};
  bench::lifo(state, a, size, align);
}
void BM_map_untracked(benchmark::State& state) {
  Tracked a{nullptr};
  build_map(state, a);
}
void BM_map_sampled_tracker(benchmark::State& state) {
  cm::MemoryTracker t(sampled);
  Tracked a{&t};
  build_map(state, a);
}
void BM_map_exact_tracker(benchmark::State& state) {
  cm::MemoryTracker t(exact);
  Tracked a{&t};
  build_map(state, a);
}

/// The sampled tracker's cost on a map workload, both rows in one loop: each iteration builds
/// the map without a tracker and with the sampled one, in alternating order (ABBA), so both see
/// the same heap state and any drift hits both. Separate rows, or separate processes, differ by
/// +-15% from heap layout alone, more than the cost measured. Reports the per-row times (ns per
/// element) and `overhead_pct`.
template <class Build>
void sampled_overhead(benchmark::State& state) {
  cm::MemoryTracker t(sampled);
  Tracked plain{nullptr}, tracked{&t};
  using Clock = std::chrono::steady_clock;
  Clock::duration base{}, with{};
  auto one = [](Tracked& a) {
    const auto start = Clock::now();
    Build{}(a);
    return Clock::now() - start;
  };
  std::uint64_t round = 0;
  for (auto _ : state) {
    if (round++ % 2 == 0) {
      base += one(plain);
      with += one(tracked);
    } else {
      with += one(tracked);
      base += one(plain);
    }
  }
  const double n = static_cast<double>(state.iterations()) * 1000;
  state.counters["untracked_ns"] = static_cast<double>(std::chrono::nanoseconds(base).count()) / n;
  state.counters["sampled_ns"] = static_cast<double>(std::chrono::nanoseconds(with).count()) / n;
  state.counters["overhead_pct"] =
      100.0 * (static_cast<double>(with.count()) / static_cast<double>(base.count()) - 1.0);
}
void BM_map_sampled_overhead(benchmark::State& state) { sampled_overhead<IntMap>(state); }
void BM_string_map_sampled_overhead(benchmark::State& state) { sampled_overhead<StringMap>(state); }

/// Over a pool (not thread-safe: the wrapper's counters are plain loads and stores).
void BM_pool_lifo(benchmark::State& state) {
  cm::MemoryPool a(size);
  bench::lifo(state, a, size, align);
}
void BM_pool_tracking_lifo(benchmark::State& state, const cm::TrackerOptions* options) {
  std::optional<cm::MemoryTracker> tracker;
  if (options) tracker.emplace(*options);
  cm::TrackingAllocator<cm::MemoryPool> a({.name = "pool", .tracker = tracker ? &*tracker : nullptr}, size);
  bench::lifo(state, a, size, align);
}

void BM_map_malloc(benchmark::State& state) {
  cm::MallocAllocator a;
  build_map(state, a);
}
void BM_map_tracking(benchmark::State& state, const cm::TrackerOptions* options) {
  std::optional<cm::MemoryTracker> tracker;
  if (options) tracker.emplace(*options);
  cm::TrackingAllocator<cm::MallocAllocator> a({.name = "map", .tracker = tracker ? &*tracker : nullptr});
  build_map(state, a);
}

}  // namespace

BENCHMARK(BM_malloc_lifo);
BENCHMARK_CAPTURE(tracking_lifo, counters_only, nullptr);
BENCHMARK_CAPTURE(tracking_lifo, exact, &exact);
BENCHMARK_CAPTURE(tracking_lifo, exact_stack16_unwind, &exact_unwind16);
BENCHMARK_CAPTURE(tracking_lifo, exact_stack16_frame_pointers, &exact_fp16);
BENCHMARK_CAPTURE(tracking_lifo, sampled, &sampled);
BENCHMARK(BM_global_tracker_lifo);
BENCHMARK(BM_global_tracker_lifo)->Threads(2);
BENCHMARK(BM_sampled_tracker_lifo);
BENCHMARK(BM_pool_lifo);
BENCHMARK_CAPTURE(BM_pool_tracking_lifo, counters_only, nullptr);
BENCHMARK_CAPTURE(BM_pool_tracking_lifo, exact, &exact);
BENCHMARK(BM_malloc_fifo);
BENCHMARK_CAPTURE(tracking_fifo, exact, &exact);
BENCHMARK_CAPTURE(tracking_fifo, sampled, &sampled);
BENCHMARK(BM_global_tracker_fifo);
BENCHMARK(BM_string_map_untracked);
BENCHMARK(BM_string_map_sampled_tracker);
BENCHMARK(BM_map_malloc);
BENCHMARK(BM_map_untracked);
BENCHMARK(BM_map_sampled_tracker);
BENCHMARK(BM_map_sampled_overhead);
BENCHMARK(BM_string_map_sampled_overhead);
BENCHMARK(BM_map_exact_tracker);
BENCHMARK_CAPTURE(BM_map_tracking, counters_only, nullptr);
BENCHMARK_CAPTURE(BM_map_tracking, exact, &exact);
BENCHMARK_CAPTURE(BM_map_tracking, sampled, &sampled);
