#include <core/memory/allocator/slab_allocator.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <vector>

#include "support/allocator_conformance.hpp"
#include "support/misuse_capture.hpp"

namespace cm = core::memory;

TEST(SlabCache, SlabsMoveBetweenPartialFullAndEmpty) {
  test::CountingAllocator upstream;
  cm::BasicSlabCache<test::CountingAllocator> cache(upstream, 100, 16);
  EXPECT_EQ(upstream.allocations(), 0u) << "nothing before first use";
  const std::size_t per_slab = cache.objects_per_slab();
  EXPECT_GE(per_slab, 8u);
  std::vector<void*> objs;
  for (std::size_t i = 0; i < per_slab; ++i) objs.push_back(cache.allocate_object());
  EXPECT_EQ(cache.full_slabs(), 1u);
  EXPECT_EQ(cache.partial_slabs(), 0u);
  objs.push_back(cache.allocate_object());
  EXPECT_EQ(cache.partial_slabs(), 1u);
  cache.deallocate_object(objs[0]);
  EXPECT_EQ(cache.full_slabs(), 0u);
  EXPECT_EQ(cache.partial_slabs(), 2u);
  for (void* p : objs)
    if (p != objs[0]) cache.deallocate_object(p);
  EXPECT_EQ(cache.objects_in_use(), 0u);
  EXPECT_EQ(cache.empty_slabs(), 1u) << "one empty slab kept for reuse, the other released";
  EXPECT_EQ(upstream.live_blocks(), 1u);
  EXPECT_EQ(cache.reclaim(), 1u);
  EXPECT_EQ(upstream.live_blocks(), 0u);
  EXPECT_EQ(upstream.errors(), 0u);
}

namespace {
struct Connection {
  static inline int constructed = 0, destroyed = 0;
  int fd;
  char buffer[60];
};
void construct_connection(void* p) {
  ++Connection::constructed;
  auto* c = ::new (p) Connection;
  c->fd = -1;
}
void destroy_connection(void* p) {
  ++Connection::destroyed;
  static_cast<Connection*>(p)->~Connection();
}
}  // namespace

TEST(SlabCache, ConstructorCachingKeepsObjectsConstructed) {
  {
    cm::SlabCache cache(sizeof(Connection), alignof(Connection), construct_connection, destroy_connection, 0);
    auto* c = static_cast<Connection*>(cache.allocate_object());
    EXPECT_EQ(c->fd, -1) << "handed out constructed";
    EXPECT_EQ(Connection::constructed, 1) << "constructed as first handed out, not the whole slab at once";
    c->fd = -1;  // callers return objects in their constructed state
    cache.deallocate_object(c);
    EXPECT_EQ(Connection::destroyed, 1) << "slab released (keep 0), with the one object ever handed out";
    auto* again = static_cast<Connection*>(cache.allocate_object());
    EXPECT_EQ(again->fd, -1);
    auto* second = static_cast<Connection*>(cache.allocate_object());
    EXPECT_EQ(second->fd, -1);
    cache.deallocate_object(again);  // to the slab's free list: its first word holds the link
    auto* third = static_cast<Connection*>(cache.allocate_object());
    EXPECT_EQ(third, again) << "the free list first";
    EXPECT_EQ(third->fd, -1) << "the first word survives the free list";
    EXPECT_EQ(Connection::constructed, 3);
    cache.deallocate_object(second);
    cache.deallocate_object(third);
  }
  EXPECT_EQ(Connection::constructed, Connection::destroyed);
}

// The header is what the slab's bookkeeping needs: 64 bytes, plus the free bitmap that only the
// hardened checks read. Objects aligned beyond it start at their alignment.
TEST(SlabCache, HeaderHoldsOnlyWhatTheChecksNeed) {
  if constexpr (!cm::checks::hardened) {
    EXPECT_EQ(cm::SlabCache::header_bytes(), 64u);
  }
  for (std::size_t size : {16u, 32u, 48u, 272u, 1024u}) {
    cm::SlabCache cache(size, 16);
    EXPECT_EQ(cache.objects_per_slab(),
              std::min<std::size_t>(1024, (cache.slab_size() - cm::SlabCache::header_bytes()) / size))
        << size;
  }
  cm::SlabCache aligned(4096, 4096);
  EXPECT_EQ(cm::SlabCache::header_bytes(4096), 4096u);
  EXPECT_EQ(aligned.objects_per_slab(), (aligned.slab_size() - 4096) / 4096);
  void* p = aligned.allocate_object();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 4096, 0u);
  aligned.deallocate_object(p);
}

// Objects are handed out in address order from a new slab, the free list (most recently freed
// first) before the objects never handed out.
TEST(SlabCache, FreedObjectsFirstThenNewOnesInAddressOrder) {
  cm::SlabCache cache(64, 16);
  auto* a = static_cast<std::byte*>(cache.allocate_object());
  auto* b = static_cast<std::byte*>(cache.allocate_object());
  auto* c = static_cast<std::byte*>(cache.allocate_object());
  EXPECT_EQ(b - a, 64);
  EXPECT_EQ(c - b, 64);
  cache.deallocate_object(a);
  cache.deallocate_object(c);
  EXPECT_EQ(cache.allocate_object(), c);
  EXPECT_EQ(cache.allocate_object(), a);
  auto* d = static_cast<std::byte*>(cache.allocate_object());
  EXPECT_EQ(d - c, 64) << "then the next never handed out";
  for (void* p : {static_cast<void*>(a), static_cast<void*>(b), static_cast<void*>(c), static_cast<void*>(d)})
    cache.deallocate_object(p);
  EXPECT_EQ(cache.objects_in_use(), 0u);
}

TEST(SlabAllocator, SizeClassesAndAlignment) {
  cm::SlabAllocator slab;
  EXPECT_EQ(slab.cache_for(1)->object_size(), 16u);
  EXPECT_EQ(slab.cache_for(17)->object_size(), 32u);
  EXPECT_EQ(slab.cache_for(40, 64)->object_size(), 64u) << "alignment picks a class that has it";
  EXPECT_EQ(slab.cache_for(2049), nullptr) << "large requests go upstream";
  test::BlockChecker blocks;
  std::vector<test::LiveBlock> live;
  for (std::size_t align = 1; align <= 4096; align <<= 1) {
    for (std::size_t size : {std::size_t{1}, std::size_t{33}, std::size_t{700}, std::size_t{5000}}) {
      void* p = slab.allocate(size, align);
      blocks.add(p, size, align);
      live.push_back({p, size, align});
    }
  }
  blocks.verify_all();
  for (auto& b : live) slab.deallocate(b.p, b.size, b.align);
}

TEST(SlabAllocator, Conformance) {
  cm::SlabAllocator slab;
  EXPECT_EQ(test::random_model(slab, 40000, 2500, 128, 21), 0u);
  EXPECT_GT(slab.bytes_allocated(), 0u) << "empty slabs kept";
  slab.reclaim();
  EXPECT_EQ(slab.bytes_allocated(), 0u);
  test::std_containers(slab);
}

TEST(SlabAllocator, FragmentationFigure) {
  cm::SlabAllocator slab;
  std::vector<void*> objs;
  for (int i = 0; i < 1000; ++i) objs.push_back(slab.allocate(64));
  const double packed = slab.fragmentation();
  EXPECT_LT(packed, 0.1);
  for (std::size_t i = 0; i < objs.size(); ++i)
    if (i % 10) slab.deallocate(objs[i], 64);
  EXPECT_GT(slab.fragmentation(), 0.8) << "one live object in ten keeps most slabs alive";
  for (std::size_t i = 0; i < objs.size(); i += 10) slab.deallocate(objs[i], 64);
}

TEST(SlabCache, ExhaustionAndUpstreamFailure) {
  test::CountingAllocator upstream(64 * 1024);
  cm::BasicSlabCache<test::CountingAllocator> cache(upstream, 64);
  std::vector<void*> objs;
  while (void* p = cache.try_allocate_object()) objs.push_back(p);
  EXPECT_EQ(objs.size(), cache.objects_per_slab() * 16u - 0u);
#if CORE_MEMORY_EXCEPTIONS
  EXPECT_THROW((void)cache.allocate_object(), cm::out_of_memory);
#endif
  cache.deallocate_object(objs.back());
  objs.pop_back();
  EXPECT_NE(cache.try_allocate_object(), nullptr);
}

TEST(SlabCache, MisuseIsReportedWhenChecked) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  test::MisuseCapture capture;
  cm::SlabCache cache(48);
  void* a = cache.allocate_object();
  void* b = cache.allocate_object();
  cache.deallocate_object(a);
  cache.deallocate_object(a);
  ASSERT_EQ(capture.count(), 1u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::double_free);
  alignas(64) char local[256];
  cache.deallocate_object(local + 64);
  ASSERT_EQ(capture.count(), 2u);
  EXPECT_EQ(capture.last().kind, cm::error_kind::foreign_pointer);
  cache.deallocate_object(b);
  EXPECT_EQ(cache.objects_in_use(), 0u);
}

TEST(SlabCacheDeathTest, DoubleFreeAbortsByDefault) {
  if (!cm::checks::hardened) GTEST_SKIP() << "checks are off";
  cm::SlabCache cache(48);
  void* a = cache.allocate_object();
  (void)cache.allocate_object();
  cache.deallocate_object(a);
  EXPECT_DEATH(cache.deallocate_object(a), "double free in core::memory::SlabCache");
}

TEST(SlabCacheDeathTest, AsanSeesUseOfAFreedObject) {
  if (!cm::asan_enabled) GTEST_SKIP() << "AddressSanitizer is not on";
  EXPECT_DEATH(
      {
        cm::SlabCache cache(48);
        auto* p = static_cast<volatile char*>(cache.allocate_object());
        (void)cache.allocate_object();
        cache.deallocate_object(const_cast<char*>(p));
        (void)p[20];
      },
      "use-after-poison");
}

namespace {
/// An object that owns a buffer through its first word.
struct Buffer {
  char* data;
  std::size_t capacity;
};
void construct_buffer(void* p) { ::new (p) Buffer{static_cast<char*>(std::malloc(16)), 16}; }
void destroy_buffer(void* p) { std::free(static_cast<Buffer*>(p)->data); }
}  // namespace

// Defect (review): a cache destroyed with objects still live put back every object's saved first
// word, the live ones' too, so their destructors saw what the constructor wrote, not what the
// owner wrote since (here: a buffer freed twice, the new one leaked). Only free objects' first
// words hold the free list's links; only theirs are put back.
TEST(SlabCache, ADestroyedCacheDestroysLiveObjectsAsTheirOwnersLeftThem) {
  {
    cm::SlabCache cache(sizeof(Buffer), alignof(Buffer), construct_buffer, destroy_buffer, 0);
    std::vector<Buffer*> objects;
    for (int i = 0; i < 40; ++i) objects.push_back(static_cast<Buffer*>(cache.allocate_object()));
    for (int i = 0; i < 40; i += 2) cache.deallocate_object(objects[static_cast<std::size_t>(i)]);  // free, constructed
    for (int i = 1; i < 40; i += 2) {  // live: their owners swap the buffer
      Buffer* b = objects[static_cast<std::size_t>(i)];
      std::free(b->data);
      b->data = static_cast<char*>(std::malloc(64));
      b->capacity = 64;
    }
  }  // ASan: no double free, no leak; a free object's link was not taken for its buffer
  SUCCEED();
}

// Defect (review): each slab that became empty counted the list of empty slabs to compare it with
// keep_empty, so a free cost O(empty slabs) (20 us with 32,000 kept). The count is kept now.
TEST(SlabCache, EmptySlabsAreCountedNotWalked) {
  cm::SlabCache cache(512, 16, nullptr, nullptr, SIZE_MAX);
  std::vector<void*> objects;
  for (int i = 0; i < 4000; ++i) objects.push_back(cache.allocate_object());
  const std::size_t slabs = cache.partial_slabs() + cache.full_slabs();
  for (void* p : objects) cache.deallocate_object(p);
  EXPECT_EQ(cache.empty_slabs(), slabs);
  void* p = cache.allocate_object();
  EXPECT_EQ(cache.empty_slabs(), slabs - 1);
  cache.deallocate_object(p);
  EXPECT_EQ(cache.reclaim(), slabs);
  EXPECT_EQ(cache.empty_slabs(), 0u);
}
