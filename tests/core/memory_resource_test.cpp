// The std::pmr bridges, both ways, and round trips through them.

#include <core/memory/core/memory_resource.hpp>
#include <core/memory/core/std_allocator.hpp>

#include <gtest/gtest.h>

#include <map>
#include <memory_resource>
#include <string>
#include <vector>

#include "support/test_allocators.hpp"

namespace cm = core::memory;
using test::CountingAllocator;

TEST(MemoryResourceAdapter, PmrContainersRunOnOurAllocator) {
  CountingAllocator counting;
  cm::MemoryResourceAdapter<CountingAllocator> resource(counting);
  {
    std::pmr::vector<std::pmr::string> v(&resource);
    std::pmr::map<int, std::pmr::string> m(&resource);
    for (int i = 0; i < 500; ++i) {
      v.emplace_back(std::string(static_cast<std::size_t>(i % 60), 'a'));  // long strings allocate too
      m.emplace(i, v.back());
    }
    EXPECT_EQ(std::string_view(v[499]), std::string(499 % 60, 'a'));
    EXPECT_EQ(std::string_view(m.at(123)), std::string(123 % 60, 'a'));
    EXPECT_GT(counting.live_blocks(), 500u);
    for (auto& s : v) EXPECT_EQ(s.get_allocator().resource(), &resource);
  }
  EXPECT_EQ(counting.live_blocks(), 0u);
  EXPECT_EQ(counting.errors(), 0u);
}

TEST(MemoryResourceAdapter, EqualityMeansSameAllocator) {
  CountingAllocator a, b;
  cm::MemoryResourceAdapter<CountingAllocator> ra1(a), ra2(a), rb(b);
  EXPECT_TRUE(ra1.is_equal(ra1));
#if CORE_MEMORY_RTTI
  EXPECT_TRUE(ra1.is_equal(ra2));
#endif
  EXPECT_FALSE(ra1.is_equal(rb));
  EXPECT_FALSE(ra1.is_equal(*std::pmr::new_delete_resource()));
  cm::MemoryResourceAdapter<cm::MallocAllocator> m1, m2;
#if CORE_MEMORY_RTTI
  EXPECT_TRUE(m1.is_equal(m2));
#endif
  EXPECT_FALSE(m1.is_equal(ra1));
  static_assert(sizeof(cm::MemoryResourceAdapter<cm::MallocAllocator>) == sizeof(void*),
                "a stateless allocator costs nothing beyond the vtable pointer");
}

TEST(MemoryResourceAdapter, HonoursAlignment) {
  cm::MemoryResourceAdapter<cm::MallocAllocator> resource;
  for (std::size_t align = 1; align <= 65536; align <<= 1) {
    void* p = resource.allocate(100, align);
    EXPECT_TRUE(cm::is_aligned(p, align)) << align;
    resource.deallocate(p, 100, align);
  }
}

#if CORE_MEMORY_EXCEPTIONS
TEST(MemoryResourceAdapter, ExhaustionIsBadAlloc) {
  CountingAllocator budgeted(256);
  cm::MemoryResourceAdapter<CountingAllocator> resource(budgeted);
  std::pmr::vector<int> v(&resource);
  EXPECT_THROW(v.resize(1000), std::bad_alloc);
  EXPECT_NO_THROW(v.resize(10));
}
#endif

TEST(MemoryResourceAllocator, OurContainersDrawFromAnyResource) {
  alignas(64) std::byte buffer[4096];
  std::pmr::monotonic_buffer_resource arena(buffer, sizeof buffer, std::pmr::null_memory_resource());
  cm::MemoryResourceAllocator raw(&arena);
  std::vector<int, cm::StdAllocator<int, cm::MemoryResourceAllocator>> v(raw);
  v.reserve(100);
  for (int i = 0; i < 100; ++i) v.push_back(i);
  const auto* begin = reinterpret_cast<const std::byte*>(v.data());
  EXPECT_GE(begin, buffer);
  EXPECT_LE(begin + 100 * sizeof(int), buffer + sizeof buffer);
  EXPECT_EQ(v.get_allocator().raw_allocator().resource(), &arena);
  // Handles: copies compare equal; different resources do not.
  EXPECT_TRUE(raw == cm::MemoryResourceAllocator(&arena));
  EXPECT_FALSE(raw == cm::MemoryResourceAllocator());
  EXPECT_EQ(cm::MemoryResourceAllocator().resource(), std::pmr::get_default_resource());
}

TEST(MemoryResourceBridges, RoundTripReachesTheOriginalAllocator) {
  // ours -> pmr -> ours -> std::vector, and back out to pmr again.
  CountingAllocator counting;
  cm::MemoryResourceAdapter<CountingAllocator> outer(counting);
  cm::MemoryResourceAllocator raw(&outer);
  {
    std::vector<double, cm::StdAllocator<double, cm::MemoryResourceAllocator>> v(raw);
    for (int i = 0; i < 1000; ++i) v.push_back(i * 0.5);
    EXPECT_GT(counting.live_blocks(), 0u);
    EXPECT_TRUE(counting.owns(v.data()));
    cm::MemoryResourceAdapter<cm::MemoryResourceAllocator> again(raw);
    std::pmr::vector<int> pv(&again);
    pv.assign(300, 7);
    EXPECT_TRUE(counting.owns(pv.data()));
    EXPECT_EQ(counting.alignment_of(v.data()), alignof(double));
  }
  EXPECT_EQ(counting.live_blocks(), 0u);
  EXPECT_EQ(counting.errors(), 0u);
}
