// ManagedSharedMemory and SharedMemoryAllocator across real processes: children started with
// fork+exec (tests/system/managed_child.cpp) map the segment at their own address; std::vector,
// vectors of vectors and vectors of text built by one process are read and changed by the other; named
// objects with their type checks; the allocation matrix, exhaustion and growth; a child killed
// with SIGKILL mid-allocation 1,000 times with the parent repairing the segment each time; a
// process killed mid-construction; and every error with its message.
#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/system/managed_shared_memory.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "support/misuse_capture.hpp"
#include "system/managed_shared_memory_support.hpp"
#include "system/shared_memory_support.hpp"
#include "system/system_support.hpp"

namespace cm = core::memory;
using namespace test::shm;
using test::expect_valid;

namespace {

constexpr const char* component = "core::memory::ManagedSharedMemory: ";

TEST(ManagedSharedMemory, CreateOpenAndTheirErrors) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  EXPECT_TRUE(m.created());
  EXPECT_EQ(m.name(), name.str());
  EXPECT_EQ(m.segment().permissions(), 0600u);
  expect_valid(m);
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  EXPECT_GT(m.max_size(), (1u << 20) - 10000);
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::create(name, 1 << 20), EEXIST,
                      "core::memory::SharedMemory: create '" + name.str() + "'");
  auto o = cm::ManagedSharedMemory::open(name);
  EXPECT_FALSE(o.created());
  EXPECT_NE(o.data(), m.data());  // two mappings in this process
  auto oc = cm::ManagedSharedMemory::open_or_create(name, 1 << 20);
  EXPECT_FALSE(oc.created());

  test::ShmName missing("missing");
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open(missing), ENOENT,
                      "core::memory::SharedMemory: open '" + missing.str() + "'");
  auto created = cm::ManagedSharedMemory::open_or_create(missing, 1 << 16);
  EXPECT_TRUE(created.created());

  test::ShmName small("small");
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::create(small, 100), EINVAL,
                      std::string(component) + "create '" + small.str() + "' size 100 is below the minimum " +
                          std::to_string(cm::ManagedSharedMemory::min_size()));
  auto smallest = cm::ManagedSharedMemory::create(small, cm::ManagedSharedMemory::min_size());
  EXPECT_NE(smallest.allocate(16), nullptr);

  test::ShmName plain("plain");
  {
    auto raw = cm::SharedMemory::create(plain, 1 << 16);
    std::memset(raw.data(), 0x77, 64);
  }
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open(plain), EINVAL,
                      std::string(component) + "open '" + plain.str() + "' is not a managed segment (bad magic)");
  test::ShmName tiny("tiny");
  (void)cm::SharedMemory::create(tiny, 100);
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open(tiny), EINVAL,
                      std::string(component) + "open '" + tiny.str() + "' is not a managed segment (too small)");
}

TEST(ManagedSharedMemory, OpenRefusesSegmentsNotFormattedOrFromAnotherVersion) {
  // The header starts with the magic (8 bytes, stored last by the creator) and the version (4).
  test::ShmName unformatted("unformatted"), other("other");
  // Zeros: not made by ManagedSharedMemory (whose segments are named only once formatted), so
  // there is no creator to wait for.
  auto raw = cm::SharedMemory::create(unformatted, 1 << 16);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open(unformatted), EINVAL,
                      std::string(component) + "open '" + unformatted.str() + "' is not a managed segment (not formatted)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  {
    auto m = cm::ManagedSharedMemory::create(other, 1 << 16);
    const std::uint32_t version = 99;
    std::memcpy(static_cast<std::byte*>(m.data()) + 8, &version, sizeof version);
  }
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open(other), EINVAL,
                      std::string(component) + "open '" + other.str() +
                          "' was made by another version of the library (layout differs)");
}

TEST(ManagedSharedMemory, OpenOrCreateOpensAnExistingObjectAsItIs) {
  // The size given is for a new segment. An existing one keeps its size and its limit (the
  // pages of a larger size would be allocated in /dev/shm for nothing: the heap never uses them),
  // and an object that turns out not to be a managed segment is refused unchanged.
  test::ShmName name, plain("plain");
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, {.max_size = 1 << 20});
  const std::size_t limit = m.max_size();
  auto o = cm::ManagedSharedMemory::open_or_create(name, 256 << 20);
  EXPECT_FALSE(o.created());
  EXPECT_EQ(o.segment().size(), std::size_t{64} << 10);
  EXPECT_EQ(m.segment().refresh(), std::size_t{64} << 10);
  EXPECT_EQ(o.max_size(), limit);
  expect_valid(o);

  (void)cm::SharedMemory::create(plain, 4096);
  EXPECT_SYSTEM_ERROR((void)cm::ManagedSharedMemory::open_or_create(plain, 64 << 20), EINVAL,
                      std::string(component) + "open '" + plain.str() + "' is not a managed segment (not formatted)");
  EXPECT_EQ(cm::SharedMemory::open(plain).size(), 4096u);
}

TEST(ManagedSharedMemory, AllocationMatrixThroughTwoMappings) {
  test::ShmName name;
  auto a = cm::ManagedSharedMemory::create(name, 4 << 20);
  auto b = cm::ManagedSharedMemory::open(name);
  const std::size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 4096, 50000};
  const std::size_t aligns[] = {1, 8, 16, 32, 64, 4096, 65536};
  struct Block {
    std::byte* p;
    std::size_t size, align;
  };
  std::vector<Block> blocks;
  unsigned char fill = 0;
  for (std::size_t al : aligns)
    for (std::size_t s : sizes) {
      auto* p = static_cast<std::byte*>(a.allocate(s, al));
      EXPECT_TRUE(cm::is_aligned(p, al));
      EXPECT_TRUE(a.owns(p));
      std::memset(p, ++fill, s);
      blocks.push_back({p, s, al});
    }
  fill = 0;
  for (const Block& k : blocks) {  // read and free through the other mapping
    auto* q = static_cast<std::byte*>(b.address_of(a.offset_of(k.p)));
    EXPECT_TRUE(b.owns(q));
    ++fill;
    for (std::size_t i = 0; i < k.size; ++i) ASSERT_EQ(q[i], std::byte{fill});
    b.deallocate(q, k.size, k.align);
  }
  expect_valid(a);
  EXPECT_EQ(a.statistics().live_blocks, 0u);
  EXPECT_EQ(a.bytes_allocated(), 0u);
  b.trim();  // the cache of small blocks holds some
  EXPECT_EQ(b.statistics().free_blocks, 1u);
}

TEST(ManagedSharedMemory, ExhaustionAndGrowthUpToMaxSize) {
  test::ShmName name;
  cm::SharedMemoryOptions options;
  options.max_size = 1 << 20;
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, options);
  auto other = cm::ManagedSharedMemory::open(name);  // reserves max_size from the header
  EXPECT_EQ(other.segment().max_size(), std::size_t{1} << 20);
  {
    auto remover = cm::ManagedSharedMemory::open(name, {.remove_on_destroy = true});
    EXPECT_EQ(remover.segment().max_size(), std::size_t{1} << 20);  // reopened over the reservation ...
    EXPECT_TRUE(cm::SharedMemory::exists(name));                    // ... without unlinking the name
  }
  EXPECT_FALSE(cm::SharedMemory::exists(name));  // the remover unlinked it at the end (the mappings stay)
  EXPECT_EQ(m.max_size(), other.max_size());
  EXPECT_GT(m.bytes_available(), (1u << 20) - 20000);
  // Larger than the segment now: it grows.
  void* big = m.allocate(200 << 10);
  EXPECT_GE(m.segment().size(), 200u << 10);
  std::memset(big, 1, 200 << 10);
  // The other process-local mapping uses the grown range at once, without remapping.
  void* in_other = other.allocate(300 << 10);
  std::memset(in_other, 2, 300 << 10);
  EXPECT_EQ(other.segment().data(), other.data());
  expect_valid(m);
  // Exhaustion at max_size: out_of_memory / null, and nothing changes.
  const auto before = m.statistics();
  EXPECT_EQ(m.try_allocate(m.max_size()), nullptr);
  EXPECT_EQ(m.try_allocate(SIZE_MAX), nullptr);
  EXPECT_EQ(m.try_allocate(16, std::size_t{1} << 40), nullptr);
#if CORE_MEMORY_EXCEPTIONS
  try {
    (void)m.allocate(1 << 20);
    ADD_FAILURE() << "no out_of_memory";
  } catch (const cm::out_of_memory& e) {
    EXPECT_STREQ(e.allocator(), "core::memory::ManagedSharedMemory");
    EXPECT_EQ(e.size(), std::size_t{1} << 20);
  }
#else
  EXPECT_DEATH((void)m.allocate(1 << 20), "out of memory in core::memory::ManagedSharedMemory");
#endif
  EXPECT_EQ(m.statistics().live_blocks, before.live_blocks);
  // Fill to the end: everything up to max_size is usable.
  std::vector<void*> rest;
  while (void* p = m.try_allocate(4000)) rest.push_back(p);
  EXPECT_EQ(m.segment().refresh(), std::size_t{1} << 20);
  EXPECT_LT(m.statistics().free_bytes, 4100u);
  for (void* p : rest) m.deallocate(p, 4000);
  m.deallocate(big, 200 << 10);
  other.deallocate(in_other, 300 << 10);
  expect_valid(m);
  m.trim();  // the cache of small blocks holds some
  EXPECT_EQ(m.statistics().largest_free_block, m.max_size());
}

TEST(ManagedSharedMemory, AllocateManyIsAllOrNothing) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 256 << 10);
  static_assert(cm::RawAllocator<cm::ManagedSharedMemory> && cm::detail::has_allocate_many<cm::ManagedSharedMemory>);
  static_assert(cm::allocator_traits<cm::ManagedSharedMemory>::is_thread_safe);
  std::vector<void*> blocks(100);
  m.allocate_many(blocks.data(), blocks.size(), 100, 64);
  std::vector<void*> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_TRUE(cm::is_aligned(sorted[i], 64));
    if (i > 0) {
      EXPECT_GE(static_cast<char*>(sorted[i]) - static_cast<char*>(sorted[i - 1]), 100);
    }
  }
  EXPECT_EQ(m.statistics().live_blocks, 100u);
  std::vector<void*> more(10000);  // 10000 x 100 bytes do not fit in 256 KiB
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW(m.allocate_many(more.data(), more.size(), 100, 16), cm::out_of_memory);
#else
  EXPECT_DEATH(m.allocate_many(more.data(), more.size(), 100, 16), "out of memory in core::memory::ManagedSharedMemory");
#endif
  EXPECT_EQ(m.statistics().live_blocks, 100u);  // nothing kept
  m.deallocate_many(blocks.data(), blocks.size(), 100, 64);
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  expect_valid(m);
}

TEST(ManagedSharedMemory, InvalidAlignmentIsMisuseThenExhaustion) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 16);
  test::MisuseCapture capture;
  EXPECT_EQ(m.try_allocate(16, 3), nullptr);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::invalid_alignment);
  EXPECT_EQ(capture.last().allocator, "core::memory::ManagedSharedMemory");
  EXPECT_EQ(capture.last().alignment, 3u);
}

TEST(ManagedSharedMemory, MisuseOfTheHeapIsReported) {
  if constexpr (!cm::checks::hardened) GTEST_SKIP() << "checks off";
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 16);
  void* p = m.allocate(64);
  m.deallocate(p, 64);
  EXPECT_DEATH(m.deallocate(p, 64),
               "double free in core::memory::ManagedSharedMemory at 0x[0-9a-f]+, size 64, alignment 16: block is "
               "already free");
  int x = 0;
  EXPECT_DEATH(m.deallocate(&x, 4, 4), "foreign pointer in core::memory::ManagedSharedMemory");
}

// Containers across processes ------------------------------------------------------------------

TEST(ManagedSharedMemory, ContainersFilledByAChildAreReadByTheParentAtAnotherAddress) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, {.max_size = 16 << 20});
  ASSERT_EQ(test::run_child({"fill", name.str()}), 0);
  expect_valid(m);
  auto* base = m.find<std::uintptr_t>("child_base");
  ASSERT_NE(base, nullptr);
  auto second = cm::ManagedSharedMemory::open(name);  // surely at another address than the first
  for (cm::ManagedSharedMemory* view : {&m, &second}) {
    auto* numbers = view->find<IntVec>("numbers");
    auto* table = view->find<Table>("table");
    auto* strings = view->find<Strings>("strings");
    ASSERT_TRUE(numbers && table && strings);
    ASSERT_EQ(numbers->size(), static_cast<std::size_t>(fill_numbers));
    for (int i = 0; i < fill_numbers; ++i) ASSERT_EQ((*numbers)[static_cast<std::size_t>(i)], i);
    ASSERT_EQ(table->size(), static_cast<std::size_t>(fill_rows));
    for (int r = 0; r < fill_rows; ++r) {
      ASSERT_EQ((*table)[static_cast<std::size_t>(r)].size(), static_cast<std::size_t>(r + 1));
      for (int c = 0; c <= r; ++c) ASSERT_EQ((*table)[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)], r * 1000 + c);
    }
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(same((*strings)[static_cast<std::size_t>(i)], long_text(i)));
  }
  std::printf("child mapped at %#zx, parent at %p and %p\n", static_cast<std::size_t>(*base), m.data(), second.data());
  // The segment grew (16 MiB reserved, 64 KiB at first) while the child filled it.
  EXPECT_GT(m.statistics().size, std::size_t{64} << 10);
  EXPECT_GT(m.segment().refresh(), std::size_t{64} << 10);
  // The parent changes them, a new child checks and changes them, the parent sees the change.
  auto* numbers = m.find<IntVec>("numbers");
  ASSERT_EQ(test::run_child({"check", name.str()}), 0);
  EXPECT_EQ(numbers->back(), -1);
  EXPECT_TRUE(same((*m.find<Strings>("strings"))[0], "changed by the child"));
  // Destroying frees every block the containers held.
  EXPECT_TRUE(m.destroy<IntVec>("numbers"));
  EXPECT_TRUE(m.destroy<Table>("table"));
  EXPECT_TRUE(m.destroy<Strings>("strings"));
  EXPECT_TRUE(m.destroy<std::uintptr_t>("child_base"));
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  EXPECT_EQ(m.named_count(), 0u);
  expect_valid(m);
}

TEST(ManagedSharedMemory, AChildGrowsTheSegmentAndTheParentUsesItWithoutRemapping) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 64 << 10, {.max_size = 64 << 20});
  const std::size_t mapped = m.segment().size();
  ASSERT_EQ(test::run_child({"grow", name.str(), std::to_string(8 << 20)}), 0);
  EXPECT_EQ(m.segment().size(), mapped);  // this process did nothing
  auto* offset = m.find<std::uint64_t>("grown");
  ASSERT_NE(offset, nullptr);
  auto* p = static_cast<unsigned char*>(m.address_of(*offset));
  for (std::size_t i = 0; i < (8u << 20); i += 4093) ASSERT_EQ(p[i], 0x5a);
  EXPECT_EQ(p[(8u << 20) - 1], 0x5a);
  m.deallocate(p, 8 << 20);
  void* q = m.allocate(6 << 20);  // the grown range, from this process
  std::memset(q, 1, 6 << 20);
  expect_valid(m);
}

TEST(ManagedSharedMemory, AllocatorsCompareBySegmentAndWorkFromInsideIt) {
  test::ShmName name, other_name("other");
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  auto n = cm::ManagedSharedMemory::create(other_name, 1 << 20);
  cm::SharedMemoryAllocator<int> a = m.get_allocator<int>();
  cm::SharedMemoryAllocator<double> b(a);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == n.get_allocator<int>());
  static_assert(std::is_same_v<std::allocator_traits<decltype(a)>::pointer, cm::offset_ptr<int>>);
  static_assert(!std::allocator_traits<decltype(a)>::propagate_on_container_copy_assignment::value);
  // An allocator stored in the segment, read through another mapping, allocates in the segment.
  auto* stored = m.construct<cm::SharedMemoryAllocator<int>>("alloc", a);
  auto second = cm::ManagedSharedMemory::open(name);
  auto* there = second.find<cm::SharedMemoryAllocator<int>>("alloc");
  ASSERT_NE(there, nullptr);
  EXPECT_EQ(there->control(), second.control());
  cm::offset_ptr<int> p = there->allocate(10);
  EXPECT_TRUE(second.owns(p.get()));
  there->deallocate(p, 10);
  EXPECT_EQ(stored->control(), m.control());
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)a.allocate(SIZE_MAX / 2), std::bad_array_new_length);
  EXPECT_THROW((void)a.allocate(1 << 20), cm::out_of_memory);
#endif
}

// Named objects --------------------------------------------------------------------------------

struct Point {
  int x, y;
  Point(int a, int b) : x(a), y(b) {}
};

TEST(ManagedSharedMemory, NamedObjectsConstructFindDestroy) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  Point* p = m.construct<Point>("origin", 1, 2);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->y, 2);
  EXPECT_EQ(m.find<Point>("origin"), p);
  EXPECT_EQ(m.find<Point>("nothing"), nullptr);
  EXPECT_EQ(m.find_or_construct<Point>("origin", 5, 5), p);
  Point* q = m.find_or_construct<Point>("other", 5, 6);
  EXPECT_NE(q, p);
  EXPECT_EQ(q->x, 5);
  std::span<double> arr = m.construct_array<double>("samples", 100, 2.5);
  ASSERT_EQ(arr.size(), 100u);
  EXPECT_EQ(arr[99], 2.5);
  EXPECT_TRUE(cm::is_aligned(arr.data(), alignof(double)));
  EXPECT_EQ(m.find_array<double>("samples").size(), 100u);
  EXPECT_EQ(m.named_count(), 3u);
  // Found through another mapping (and so from another process).
  auto o = cm::ManagedSharedMemory::open(name);
  EXPECT_EQ(o.find<Point>("origin")->x, 1);
  EXPECT_EQ(test::in_fork([&] { return o.find<Point>("other")->y == 6 && o.find_array<double>("samples")[3] == 2.5 ? 0 : 1; }), 0);
  EXPECT_TRUE(m.destroy<Point>("origin"));
  EXPECT_FALSE(m.destroy<Point>("origin"));
  EXPECT_EQ(o.find<Point>("origin"), nullptr);
  EXPECT_TRUE(m.destroy<double>("samples"));
  EXPECT_TRUE(m.destroy<Point>("other"));
  EXPECT_EQ(m.named_count(), 0u);
  EXPECT_EQ(m.statistics().live_blocks, 0u);
  // Aggregates are built with braces.
  struct Pair {
    int a;
    double b;
  };
  Pair* pair = m.construct<Pair>("pair", 1, 2.5);
  EXPECT_EQ(pair->a, 1);
  EXPECT_EQ(pair->b, 2.5);
  EXPECT_TRUE(m.destroy<Pair>("pair"));
  // Over-aligned types.
  struct alignas(256) Wide {
    char c = 'w';
  };
  Wide* w = m.construct<Wide>("wide");
  EXPECT_TRUE(cm::is_aligned(w, 256));
  EXPECT_TRUE(m.destroy<Wide>("wide"));
}

TEST(ManagedSharedMemory, NamedObjectErrorsNameTheObjectAndTheTypes) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  (void)m.construct<int>("counter", 7);
  EXPECT_SYSTEM_ERROR((void)m.construct<int>("counter", 8), EEXIST, std::string(component) + "construct 'counter'");
  EXPECT_SYSTEM_ERROR((void)m.construct<double>("counter", 8.0), EEXIST, std::string(component) + "construct 'counter'");
  const std::string mismatch = "'counter' is a 'int' (size 4, alignment 4), not a 'double' (size 8, alignment 8)";
  EXPECT_SYSTEM_ERROR((void)m.find<double>("counter"), EINVAL, std::string(component) + "find " + mismatch);
  EXPECT_SYSTEM_ERROR((void)m.find_or_construct<double>("counter", 1.0), EINVAL,
                      std::string(component) + "find_or_construct " + mismatch);
  EXPECT_SYSTEM_ERROR((void)m.destroy<double>("counter"), EINVAL, std::string(component) + "destroy " + mismatch);
  EXPECT_SYSTEM_ERROR((void)m.construct<int>("", 1), EINVAL, std::string(component) + "construct '' (an empty name)");
  EXPECT_EQ(*m.find<int>("counter"), 7);  // untouched by every failure
  EXPECT_EQ(m.named_count(), 1u);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)m.construct_array<double>("huge", SIZE_MAX / 4), std::bad_array_new_length);
  EXPECT_THROW((void)m.construct_array<char>("big", 2 << 20), cm::out_of_memory);
  EXPECT_EQ(m.find<char>("big"), nullptr);
#endif
  EXPECT_EQ(m.named_count(), 1u);
  expect_valid(m);
}

#if CORE_MEMORY_EXCEPTIONS
struct ThrowsOnNth {
  static inline int countdown = 0;
  std::vector<int, cm::SharedMemoryAllocator<int>> data;
  explicit ThrowsOnNth(cm::ManagedSharedMemory& m) : data(100, 1, m.get_allocator<int>()) {
    if (--countdown == 0) throw std::runtime_error("constructor failed");
  }
};

TEST(ManagedSharedMemory, AThrowingConstructorLeavesNoEntryAndNoBlock) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  for (int n = 1; n <= 4; ++n) {
    ThrowsOnNth::countdown = n;
    EXPECT_THROW((void)m.construct_array<ThrowsOnNth>("t", 4, m), std::runtime_error) << n;
    EXPECT_EQ(m.find<ThrowsOnNth>("t"), nullptr);
    EXPECT_EQ(m.named_count(), 0u);
    EXPECT_EQ(m.statistics().live_blocks, 0u) << n;  // elements built before the throw were destroyed
    ThrowsOnNth::countdown = n;
    if (n <= 1) {
      EXPECT_THROW((void)m.find_or_construct<ThrowsOnNth>("t", m), std::runtime_error);
    }
  }
  ThrowsOnNth::countdown = 100;
  EXPECT_EQ(m.construct_array<ThrowsOnNth>("t", 4, m).size(), 4u);
  expect_valid(m);
}
#endif

/// A constructor that allocates from the segment and builds another named object in it (the
/// directory's mutex is recursive and taken before the heap's: no deadlock).
struct Nested {
  IntVec values;
  int* side;
  explicit Nested(cm::ManagedSharedMemory& m) : values(10, 3, m.get_allocator<int>()), side(m.construct<int>("side", 42)) {}
};

TEST(ManagedSharedMemory, ConstructorsMayAllocateAndConstructInTheSegment) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  Nested* n = m.construct<Nested>("nested", m);
  EXPECT_EQ(n->values.size(), 10u);
  EXPECT_EQ(m.find<int>("side"), n->side);
  EXPECT_EQ(m.named_count(), 2u);
  EXPECT_TRUE(m.destroy<Nested>("nested"));
  EXPECT_TRUE(m.destroy<int>("side"));
  EXPECT_EQ(m.statistics().live_blocks, 0u);
}

// Processes that die -----------------------------------------------------------------------------

TEST(ManagedSharedMemory, AChildKilledMidAllocationAThousandTimesTheParentRepairs) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 4 << 20);
  std::mt19937_64 rng(99);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  int runs = 0;
  std::size_t repairs = 0;
  std::vector<void*> mine;
  const int kills = test::rounds(1000);  // (a tenth under sanitizers, whose forks are slow)
  for (; runs < kills && std::chrono::steady_clock::now() < deadline; ++runs) {
    if (m.statistics().free_bytes < (1u << 20)) {  // what the killed children held is leaked
      repairs += m.repairs();
      m = cm::ManagedSharedMemory();
      cm::SharedMemory::remove(name);
      m = cm::ManagedSharedMemory::create(name, 4 << 20);
      mine.clear();
    }
    // The child says when it is in its loop: on a loaded machine a child killed after a fixed
    // delay had often not started yet, and too few died holding the lock for the test to count.
    int running[2];
    ASSERT_EQ(::pipe(running), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::vector<std::pair<void*, std::size_t>> live;
      live.reserve(64);
      for (std::uint64_t i = 0;; ++i) {
        if (i == 1) (void)!::write(running[1], "r", 1);
        if (live.size() < 64 && (live.empty() || i % 3 != 0)) {
          const std::size_t s = (i * 37) % 700;
          if (void* p = m.try_allocate(s, std::size_t{16} << (i % 3))) live.emplace_back(p, s);
        } else {
          m.deallocate(live[i % live.size()].first, 0);
          live[i % live.size()] = live.back();
          live.pop_back();
        }
      }
    }
    char byte = 0;
    ASSERT_EQ(::read(running[0], &byte, 1), 1);
    ::close(running[0]);
    ::close(running[1]);
    ::usleep(static_cast<useconds_t>(rng() % 500));
    ::kill(pid, SIGKILL);
    ASSERT_EQ(test::exit_status(pid), 128 + SIGKILL);
    // The next operation finds the owner dead (if it died holding the lock) and repairs.
    ASSERT_EQ(m.validate(), nullptr) << "run " << runs;
    void* p = m.allocate(100);
    mine.push_back(p);
    if (mine.size() > 20) {
      m.deallocate(mine.front(), 100);
      mine.erase(mine.begin());
    }
  }
  EXPECT_EQ(runs, kills);
  expect_valid(m);
  repairs += m.repairs();
  std::printf("%zu of %d children died holding the segment's mutex\n", repairs, runs);
  EXPECT_GT(repairs, static_cast<std::size_t>(kills / 10));  // most die inside an allocation or a free
}

TEST(ManagedSharedMemory, AProcessKilledMidConstructionLeavesNoEntry) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  struct Slow {
    explicit Slow(int* ready) {
      *ready = 1;
      for (;;) ::pause();
    }
  };
  int* ready = m.construct<int>("ready", 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    (void)m.construct<Slow>("slow", ready);
    ::_exit(0);
  }
  while (__atomic_load_n(ready, __ATOMIC_ACQUIRE) == 0) ::usleep(100);
  ::kill(pid, SIGKILL);
  EXPECT_EQ(test::exit_status(pid), 128 + SIGKILL);
  EXPECT_EQ(m.find<Slow>("slow"), nullptr);  // repaired: the half-built entry is gone
  EXPECT_EQ(m.repairs(), 1u);
  EXPECT_EQ(m.named_count(), 1u);
  EXPECT_EQ(m.statistics().live_blocks, 1u);  // "ready" only: the entry's block was freed
  expect_valid(m);
  EXPECT_NE(m.construct<int>("slow", 5), nullptr);  // the name is free again
}

/// A constructor that allocates forever: a process killed in it may hold both mutexes.
struct Greedy {
  IntVec values;
  explicit Greedy(cm::ManagedSharedMemory& m, int* started) : values(m.get_allocator<int>()) {
    __atomic_store_n(started, 1, __ATOMIC_RELEASE);
    for (int i = 0;; ++i) {
      values.push_back(i);
      if (values.size() > 10000) values.clear(), values.shrink_to_fit();
    }
  }
};

struct SlowToDie {
  int* started;
  ~SlowToDie() {
    __atomic_store_n(started, 1, __ATOMIC_RELEASE);
    for (;;) ::pause();
  }
};

TEST(ManagedSharedMemory, KilledInAConstructorThatAllocatesOrInADestructor) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 32 << 20);  // room for what the killed children leak
  int* started = m.construct<int>("started", 0);
  std::mt19937 rng(5);
  for (int run = 0; run < 50; ++run) {
    *started = 0;
    const pid_t pid = ::fork();
    if (pid == 0) {
      (void)m.construct<Greedy>("greedy", m, started);
      ::_exit(0);
    }
    while (__atomic_load_n(started, __ATOMIC_ACQUIRE) == 0) ::usleep(50);
    ::usleep(static_cast<useconds_t>(rng() % 300));
    ::kill(pid, SIGKILL);
    ASSERT_EQ(test::exit_status(pid), 128 + SIGKILL);
    ASSERT_EQ(m.find<Greedy>("greedy"), nullptr) << run;  // the directory was repaired
    ASSERT_EQ(m.named_count(), 1u);
    ASSERT_EQ(m.validate(), nullptr) << run;  // and the heap, if it died inside an allocation
  }
  // Killed in a destructor: the entry is dropped, not left half destroyed.
  *started = 0;
  (void)m.construct<SlowToDie>("slow", started);
  const pid_t pid = ::fork();
  if (pid == 0) {
    (void)m.destroy<SlowToDie>("slow");
    ::_exit(0);
  }
  while (__atomic_load_n(started, __ATOMIC_ACQUIRE) == 0) ::usleep(50);
  ::kill(pid, SIGKILL);
  ASSERT_EQ(test::exit_status(pid), 128 + SIGKILL);
  EXPECT_EQ(m.find<SlowToDie>("slow"), nullptr);
  EXPECT_EQ(m.named_count(), 1u);
  expect_valid(m);
}

TEST(ManagedSharedMemory, AHeapCorruptedBeyondRepairIsNotRecoverable) {
  test::ShmName name;
  auto m = cm::ManagedSharedMemory::create(name, 1 << 20);
  auto* p = static_cast<std::byte*>(m.allocate(64));
  const int status = test::in_fork([&] {
    cm::detail::heap_lock_for_test(m.control());  // dies holding the lock, after an overrun
    std::memset(p - 8, 0x41, 8);
    return 0;
  });
  EXPECT_EQ(status, 0);
  EXPECT_SYSTEM_ERROR((void)m.statistics(), ENOTRECOVERABLE,
                      std::string(component) + "repair (block header is corrupt at segment offset " +
                          std::to_string(m.offset_of(p) - 8) + ")");
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)m.statistics(), std::system_error);  // and stays so for everybody
  EXPECT_THROW((void)m.allocate(16), std::system_error);
  EXPECT_EQ(m.try_allocate(16), nullptr);
  m.deallocate(p, 64);  // abandoned, not a crash
#endif
}

}  // namespace
