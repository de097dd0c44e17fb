// Allocation in a managed shared memory segment: ManagedSharedMemory (a lock-free cache of blocks
// up to 8 KiB in front of a TLSF heap under a robust process-shared mutex) against
// boost::interprocess::managed_shared_memory (rbtree_best_fit under its interprocess_mutex), one
// process, no contention. Each row is one allocate + free pair (items_per_second), for sizes 32,
// 256 and 4096 bytes:
//   shm_lifo/<impl>/<size>        allocate a block, touch it, free it at once
//   shm_fifo/<impl>/<size>        allocate 1024 blocks, touch each, free them in allocation order
//   shm_lifo_batch/<impl>/<size>  allocate 1024 blocks, touch each, free them newest first
//   shm_mixed/<impl>/0            1024 blocks of random sizes (16..2048) freed in random order
//   shm_lifo_align64/<impl>/<size> as shm_lifo, aligned to 64: never cached, the heap under its
//                                 lock on every call (Boost: allocate_aligned)
//   shm_many/core/<size>          allocate_many of 1024 blocks, touch each, deallocate_many (one
//                                 lock each way); compare with shm_fifo (Boost's allocate_many
//                                 threw bad_alloc here on a 64 MiB segment, so it has no row)

#include <core/memory/system/managed_shared_memory.hpp>

#include <boost/interprocess/managed_shared_memory.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <type_traits>
#include <unistd.h>
#include <vector>

#include "bench_common.hpp"

namespace cm = core::memory;
namespace bip = boost::interprocess;

namespace {

constexpr std::size_t segment_bytes = 64 << 20;

std::string unique_name(const char* impl) {
  static int n = 0;
  return std::string("core-memory-bench-") + impl + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

struct Core {
  cm::ManagedSharedMemory m = cm::ManagedSharedMemory::create(unique_name("core"), segment_bytes, {.remove_on_destroy = true});
  void* allocate(std::size_t size, std::size_t align) { return m.allocate(size, align); }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept { m.deallocate(p, size, align); }
  void many(benchmark::State& state, std::size_t size) {
    std::array<void*, bench::batch> blocks{};
    for (auto _ : state) {
      m.allocate_many(blocks.data(), blocks.size(), size);
      for (void* p : blocks) bench::touch(p);
      m.deallocate_many(blocks.data(), blocks.size(), size);
    }
  }
};

struct Boost {
  std::string name = unique_name("boost");
  bip::managed_shared_memory m{bip::create_only, name.c_str(), segment_bytes};
  ~Boost() { bip::shared_memory_object::remove(name.c_str()); }
  void* allocate(std::size_t size, std::size_t align) {
    return align <= 16 ? m.allocate(size) : m.allocate_aligned(size, align);
  }
  void deallocate(void* p, std::size_t, std::size_t) noexcept { m.deallocate(p); }
};

template <class Alloc>
void lifo_batch(benchmark::State& state, Alloc& alloc, std::size_t size) {
  std::array<void*, bench::batch> blocks{};
  for (auto _ : state) {
    for (auto& p : blocks) {
      p = alloc.allocate(size, 16);
      bench::touch(p);
    }
    for (std::size_t i = blocks.size(); i > 0; --i) alloc.deallocate(blocks[i - 1], size, 16);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * bench::batch));
}

template <class Alloc>
void mixed(benchmark::State& state, Alloc& alloc) {
  std::mt19937 rng(7);
  std::vector<std::size_t> sizes(bench::batch), order(bench::batch);
  for (auto& s : sizes) s = 16 + rng() % 2033;
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<void*> blocks(bench::batch);
  for (auto _ : state) {
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      blocks[i] = alloc.allocate(sizes[i], 16);
      bench::touch(blocks[i]);
    }
    for (std::size_t i : order) alloc.deallocate(blocks[i], sizes[i], 16);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * bench::batch));
}

template <class Alloc>
void register_rows(const char* impl) {
  for (std::size_t size : {32, 256, 4096}) {
    const std::string suffix = std::string("/") + impl + "/" + std::to_string(size);
    benchmark::RegisterBenchmark(("shm_lifo" + suffix).c_str(), [=](benchmark::State& s) {
      Alloc a;
      bench::lifo(s, a, size, 16);
    });
    benchmark::RegisterBenchmark(("shm_fifo" + suffix).c_str(), [=](benchmark::State& s) {
      Alloc a;
      bench::fifo(s, a, size, 16);
    });
    benchmark::RegisterBenchmark(("shm_lifo_batch" + suffix).c_str(), [=](benchmark::State& s) {
      Alloc a;
      lifo_batch(s, a, size);
    });
    benchmark::RegisterBenchmark(("shm_lifo_align64" + suffix).c_str(), [=](benchmark::State& s) {
      Alloc a;
      bench::lifo(s, a, size, 64);
    });
    if constexpr (std::is_same_v<Alloc, Core>) {
      benchmark::RegisterBenchmark(("shm_many" + suffix).c_str(), [=](benchmark::State& s) {
        Alloc a;
        a.many(s, size);
        s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * bench::batch));
      });
    }
  }
  benchmark::RegisterBenchmark((std::string("shm_mixed/") + impl + "/0").c_str(), [](benchmark::State& s) {
    Alloc a;
    mixed(s, a);
  });
}

const bool registered = [] {
  register_rows<Core>("core");
  register_rows<Boost>("boost");
  return true;
}();

}  // namespace
