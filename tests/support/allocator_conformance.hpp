#pragma once
// Checks every RawAllocator strategy goes through: alignment of every result, no overlap (fill
// patterns), reuse, exhaustion with recovery, random allocate/free against a model, and std and
// std::pmr containers on it.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/memory_resource.hpp>
#include <core/memory/core/std_allocator.hpp>

#include <gtest/gtest.h>

#include <list>
#include <map>
#include <memory_resource>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/block_checker.hpp"
#include "support/test_allocators.hpp"

namespace test {

struct LiveBlock {
  void* p;
  std::size_t size;
  std::size_t align;
};

/// Random allocations (sizes below max_size, alignments up to max_align) and frees in random
/// order, every block checked; frees everything at the end. Returns the number of allocations
/// that failed (the allocator ran out).
template <class A>
std::size_t random_model(A& a, int steps, std::size_t max_size, std::size_t max_align, unsigned seed) {
  BlockChecker blocks;
  std::vector<LiveBlock> live;
  std::mt19937 rng(seed);
  std::size_t failures = 0;
  for (int step = 0; step < steps; ++step) {
    if (live.empty() || rng() % 100 < 55) {
      const std::size_t align = std::size_t{1} << (rng() % (core::memory::log2_floor(max_align) + 1));
      const std::size_t size = 1 + rng() % max_size;
      void* p = core::memory::allocator_traits<A>::try_allocate(a, size, align);
      if (!p) {
        ++failures;
        continue;
      }
      blocks.add(p, size, align);
      live.push_back({p, size, align});
    } else {
      const std::size_t i = rng() % live.size();
      blocks.remove(live[i].p);
      a.deallocate(live[i].p, live[i].size, live[i].align);
      live[i] = live.back();
      live.pop_back();
    }
  }
  blocks.verify_all();
  for (const LiveBlock& b : live) a.deallocate(b.p, b.size, b.align);
  return failures;
}

/// Allocates `size`-byte blocks until the allocator is exhausted; then allocate must throw
/// out_of_memory (with exceptions), and after one free the allocator must serve again.
template <class A>
void exhaustion_and_recovery(A& a, std::size_t size, std::size_t align) {
  std::vector<void*> blocks;
  while (void* p = a.try_allocate(size, align)) {
    blocks.push_back(p);
    ASSERT_LT(blocks.size(), 10'000'000u) << "never exhausted";
  }
  ASSERT_FALSE(blocks.empty());
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)a.allocate(size, align), core::memory::out_of_memory);
#endif
  a.deallocate(blocks.back(), size, align);
  blocks.pop_back();
  void* again = a.try_allocate(size, align);
  EXPECT_NE(again, nullptr) << "usable after a free";
  if (again) blocks.push_back(again);
  for (void* p : blocks) a.deallocate(p, size, align);
}

/// std and pmr containers on the allocator.
template <class A>
void std_containers(A& a) {
  {
    std::vector<int, core::memory::StdAllocator<int, A>> v(a);
    std::map<int, std::string, std::less<>, core::memory::StdAllocator<std::pair<const int, std::string>, A>> m(a);
    std::list<long, core::memory::StdAllocator<long, A>> l(a);
    for (int i = 0; i < 300; ++i) {
      v.push_back(i);
      m.emplace(i, std::to_string(i));
      l.push_back(i);
    }
    for (int i = 0; i < 300; i += 2) m.erase(i);
    EXPECT_EQ(v[299], 299);
    EXPECT_EQ(m.size(), 150u);
    EXPECT_EQ(m.at(299), "299");
    EXPECT_EQ(l.back(), 299);
  }
  core::memory::MemoryResourceAdapter<A> resource(a);
  std::pmr::vector<std::pmr::string> pv(&resource);
  std::pmr::set<int> ps(&resource);
  for (int i = 0; i < 200; ++i) {
    pv.emplace_back(30, 'x');
    ps.insert(i);
  }
  EXPECT_EQ(ps.size(), 200u);
}

}  // namespace test
