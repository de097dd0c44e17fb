// ManagedSharedMemory from several threads of one process (the tsan preset runs this): allocate
// and free race on the heap's mutex, find_or_construct races build one object.
#include <core/memory/system/managed_shared_memory.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#define CORE_MEMORY_SHM_CHILD "unused"  // this test starts no child
#include "system/shared_memory_support.hpp"

namespace cm = core::memory;

namespace {

TEST(ManagedSharedMemoryThreads, AllocateFreeAndFindOrConstructFromFourThreads) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, {.max_size = 64 << 20});  // grows while they run
  std::atomic<int> constructed{0};
  struct Counted {
    explicit Counted(std::atomic<int>& c) { c.fetch_add(1); }
    std::atomic<int> hits{0};
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<unsigned char*, std::size_t>> live;
      for (int i = 0; i < 5000; ++i) {
        const std::size_t size = static_cast<std::size_t>((i * 31 + t * 7) % 3000 + 1);
        auto* p = static_cast<unsigned char*>(m.allocate(size));
        ASSERT_TRUE(m.owns(p));  // reads the heap's end while others may grow it
        std::memset(p, t, size);
        live.emplace_back(p, size);
        if (live.size() > 50) {
          for (std::size_t k = 0; k < live.front().second; ++k) ASSERT_EQ(live.front().first[k], t);
          m.deallocate(live.front().first, live.front().second);
          live.erase(live.begin());
        }
        if (i % 100 == 0) m.find_or_construct<Counted>("shared", constructed)->hits.fetch_add(1);
      }
      for (auto& [p, size] : live) m.deallocate(p, size);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(constructed.load(), 1);
  EXPECT_EQ(m.find<Counted>("shared")->hits.load(), 200);
  EXPECT_EQ(m.validate(), nullptr);
  EXPECT_EQ(m.statistics().live_blocks, 1u);
  EXPECT_GT(m.segment().refresh(), std::size_t{64} << 10);
}

}  // namespace
