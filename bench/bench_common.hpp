#pragma once
// Shared benchmark patterns. Every row reports items_per_second with one item per block, so the
// runner compares nanoseconds per allocate+free pair across rows.
//   lifo: allocate a block, touch it, free it at once (the hot path).
//   fifo: allocate a batch of 1024 blocks, touch each, free them in allocation order.

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>

namespace bench {

inline constexpr std::size_t batch = 1024;

/// Writes to the block so the allocation cannot be elided and its memory is really used.
inline void touch(void* p) {
  *static_cast<volatile unsigned char*>(p) = 1;
  benchmark::DoNotOptimize(p);
}

template <class Alloc>
void lifo(benchmark::State& state, Alloc& alloc, std::size_t size, std::size_t align) {
  for (auto _ : state) {
    void* p = alloc.allocate(size, align);
    touch(p);
    alloc.deallocate(p, size, align);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <class Alloc>
void fifo(benchmark::State& state, Alloc& alloc, std::size_t size, std::size_t align) {
  std::array<void*, batch> blocks{};
  for (auto _ : state) {
    for (auto& p : blocks) {
      p = alloc.allocate(size, align);
      touch(p);
    }
    for (void* p : blocks) alloc.deallocate(p, size, align);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}

/// Registers lifo and fifo rows named "<pattern>/<impl>/<size>" (alignment in the group name
/// when not the default).
template <class Alloc>
void register_patterns(const char* group, const char* impl, std::size_t size, std::size_t align) {
  const std::string suffix = std::string("/") + impl + "/" + std::to_string(size);
  benchmark::RegisterBenchmark((std::string(group) + "_lifo" + suffix).c_str(), [=](benchmark::State& s) {
    Alloc a;
    lifo(s, a, size, align);
  });
  benchmark::RegisterBenchmark((std::string(group) + "_fifo" + suffix).c_str(), [=](benchmark::State& s) {
    Alloc a;
    fifo(s, a, size, align);
  });
}

}  // namespace bench
