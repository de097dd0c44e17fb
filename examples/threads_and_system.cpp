// The layers beyond one thread: objects and blocks shared by threads, a file mapped into memory,
// an arena that grows inside one reservation, and a report of where memory went.

#include <core/memory.hpp>
#include <core/memory/system/memory_mapped.hpp>
#include <core/memory/system/virtual_memory.hpp>
#include <core/memory/tracking/tracking_allocator.hpp>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

namespace cm = core::memory;

struct Order {
  int id;
  double price;
};

struct Tick {
  long time;
  double price;
};

int main() {
  // Objects made on one thread and released on others: no lock on the common path.
  cm::ConcurrentObjectPool<Order> orders;
  std::vector<cm::ConcurrentObjectPool<Order>::UniquePtr> made;
  for (int i = 0; i < 1000; ++i) made.push_back(orders.make_unique(Order{i, 1.5 * i}));
  std::thread([&] { made.clear(); }).join();

  // Thread-local pools for any size: each thread allocates from its own cache.
  cm::ThreadPoolAllocator shared;
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&shared] {
      std::vector<int, cm::StdAllocator<int, cm::ThreadPoolAllocator>> v(shared);
      for (int i = 0; i < 10000; ++i) v.push_back(i);
      // A worker's loop holding its thread's cache: no lookup of the cache per call.
      auto cache = shared.thread_cache();
      for (int i = 0; i < 1000; ++i) cache.deallocate(cache.allocate(200), 200);
    });
  for (auto& w : workers) w.join();

  // A file as memory: grows without moving when address space was reserved up front.
  const auto path = std::filesystem::temp_directory_path() / "core_memory_ticks.bin";
  {
    auto file = cm::MemoryMappedFile::create(path, sizeof(Tick) * 1024, {.reserve = 1 << 24});
    const void* before = file.data();
    file.resize(sizeof(Tick) * 4096);
    auto ticks = file.as_span<Tick>();
    for (std::size_t i = 0; i < ticks.size(); ++i) ticks[i] = {static_cast<long>(i), 100.0 + 0.01 * double(i)};
    file.flush();
    std::printf("mapped %zu ticks, same address after resize: %s\n", ticks.size(), before == file.data() ? "yes" : "no");
  }
  std::filesystem::remove(path);

  // An arena inside one reservation of address space: it grows in place, page by page.
  cm::VirtualMemoryAllocator region({.reserve = std::size_t{1} << 30});
  cm::BasicArena<cm::VirtualMemoryAllocator> arena(1 << 16, region);
  for (int i = 0; i < 10000; ++i) (void)arena.allocate(256);

  // Where memory went, by allocator.
  cm::MemoryTracker tracker;
  cm::TrackingAllocator<cm::MallocAllocator> messages({.name = "message buffers", .tracker = &tracker});
  void* a = messages.allocate(4096, 16);
  void* b = messages.allocate(100, 16);
  messages.deallocate(a, 4096, 16);
  std::ostringstream report;
  tracker.generate_report(report);
  std::printf("tracker: %zu bytes live after %zu allocations, peak %zu bytes\n", tracker.current_usage(),
              tracker.allocation_count(), tracker.peak_usage());
  messages.deallocate(b, 100, 16);
  return orders.size() == 0 && tracker.current_usage() == 0 ? 0 : 1;
}
