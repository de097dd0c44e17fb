#pragma once
// Multi-threaded workloads for the concurrent pools, in the style of mimalloc's test-stress:
// threads recreated every round exchange blocks through a shared array of atomic slots, so most
// blocks are freed by another thread than the one that allocated them; every block carries a
// cookie (its address and size, mixed) written at allocation and checked before it is freed.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace test {

/// Scaled down under ThreadSanitizer, which runs threaded code 5-15x slower.
#if defined(__SANITIZE_THREAD__)
inline constexpr int stress_scale = 8;
#else
inline constexpr int stress_scale = 1;
#endif

struct StressResult {
  std::size_t bad_cookies = 0;
  std::size_t allocations = 0;
  std::size_t failed = 0;
  std::size_t peak_live_bytes = 0;
};

inline std::uint64_t cookie_for(const void* p, std::size_t size) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) ^ (std::uint64_t{size} << 48)) * 0x9E3779B97F4A7C15ull;
}

/// `allocate(size)` returns a block or null; `free_block(p, size)` frees it. Sizes are drawn
/// from `sizes` (each at least 16 bytes). Each round starts `threads` threads that each perform
/// `ops` allocations; a block is written into a random slot, and the block it displaces is
/// checked and freed. After the last round the slots are emptied on the calling thread.
template <class Allocate, class Free>
StressResult exchange_stress(Allocate allocate, Free free_block, const std::vector<std::size_t>& sizes, int threads,
                             int rounds, int ops, std::size_t slot_count = 512) {
  // The block itself carries its size (second word), so a slot holds only the pointer.
  std::vector<std::atomic<void*>> slots(slot_count);
  std::atomic<std::size_t> bad{0}, allocations{0}, failed{0}, live{0}, peak{0};
  auto check_and_free = [&](void* q) {
    auto* words = static_cast<std::uint64_t*>(q);
    const std::size_t size = static_cast<std::size_t>(words[1]);
    if (words[0] != cookie_for(q, size)) bad.fetch_add(1, std::memory_order_relaxed);
    const auto* bytes = static_cast<const unsigned char*>(q);
    if (size > 16 && bytes[size - 1] != static_cast<unsigned char>(size)) bad.fetch_add(1, std::memory_order_relaxed);
    live.fetch_sub(size, std::memory_order_relaxed);
    free_block(q, size);
  };
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, seed = static_cast<unsigned>(round * 1000 + t)] {
        std::mt19937_64 rng(seed);
        for (int i = 0; i < ops; ++i) {
          const std::size_t size = sizes[rng() % sizes.size()];
          void* p = allocate(size);
          if (!p) {
            failed.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          allocations.fetch_add(1, std::memory_order_relaxed);
          auto* words = static_cast<std::uint64_t*>(p);
          words[0] = cookie_for(p, size);
          words[1] = size;
          if (size > 16) static_cast<unsigned char*>(p)[size - 1] = static_cast<unsigned char>(size);
          const std::size_t now = live.fetch_add(size, std::memory_order_relaxed) + size;
          std::size_t seen = peak.load(std::memory_order_relaxed);
          while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
          }
          // acq_rel: the block's contents travel with the pointer to whoever takes it out.
          if (void* old = slots[rng() % slots.size()].exchange(p, std::memory_order_acq_rel)) check_and_free(old);
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  for (auto& s : slots)
    if (void* p = s.exchange(nullptr, std::memory_order_acquire)) check_and_free(p);
  return {bad.load(), allocations.load(), failed.load(), peak.load()};
}

}  // namespace test
