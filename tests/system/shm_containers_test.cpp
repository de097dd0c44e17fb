// The library's containers (SmallVector, StableVector, CircularBuffer, FlatMap, FlatSet, and a
// std::vector of SmallVectors) in a managed shared memory segment, used by three processes that
// map it at three addresses: a child (fork+exec) builds them, this process reads and changes
// them, a second child checks the changes; the heap validates after each.
#include <gtest/gtest.h>

#include "system/shared_memory_support.hpp"
#include "system/shm_containers_support.hpp"

namespace {

using namespace test::shm_containers;

TEST(SharedMemoryContainers, BuiltByOneProcessReadAndChangedByAnotherAtAnotherAddress) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 16, {.max_size = 64 << 20});  // grows while filled
  ASSERT_EQ(test::run_child({"fill", name.str()}), 0);
  const auto* child_base = m.find<std::uintptr_t>("child_base");
  ASSERT_NE(child_base, nullptr);
  EXPECT_NE(*child_base, reinterpret_cast<std::uintptr_t>(m.data()));  // another address
  EXPECT_GT(m.segment().refresh(), std::size_t{1} << 16);              // the child grew it
  EXPECT_EQ(check_filled(m), "");
  modify(m);
  EXPECT_EQ(check_modified(m), "");
  ASSERT_EQ(test::run_child({"check-modified", name.str()}), 0);
  // Destroyed here, every block goes back: the heap holds only the directory's own storage.
  EXPECT_TRUE(m.destroy<Small>("small"));
  EXPECT_TRUE(m.destroy<Orders>("orders"));
  EXPECT_TRUE(m.destroy<Ring>("ring"));
  EXPECT_TRUE(m.destroy<Index>("index"));
  EXPECT_TRUE(m.destroy<Keys>("keys"));
  EXPECT_TRUE(m.destroy<Nested>("nested"));
  EXPECT_TRUE(m.destroy<std::uintptr_t>("child_base"));
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  EXPECT_EQ(m.validate(), nullptr);
}

TEST(SharedMemoryContainers, TheSameInOneProcessThroughTwoMappings) {
  test::ShmName name;
  auto a = cm::ManagedSharedMemory::create(name, 1 << 20);
  auto b = cm::ManagedSharedMemory::open(name);
  ASSERT_NE(a.data(), b.data());
  fill(a);
  EXPECT_EQ(check_filled(b), "");
  modify(b);
  EXPECT_EQ(check_modified(a), "");
}

}  // namespace
