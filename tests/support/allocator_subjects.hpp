#pragma once
// Every RawAllocator of the library, each in a "subject" that owns it (and whatever it draws
// from) and says what a matrix test may expect of it. The matrix tests (alignment, usable
// memory) are typed tests over test::subjects::All with Fixture; a new allocator is added here once and is covered by all of them.
//
// A subject has
//   using allocator = ...;   allocator& get();
//   static constexpr bool bounded:   max_size() is reachable: a fresh allocator serves max_size()
//                                    bytes (else max_size() is only an upper bound, e.g. the heap's).
//   static constexpr bool graceful:  exhaustion returns null / throws in this build (not so for a
//                                    std::pmr resource without exceptions: it throws
//                                    std::bad_alloc, or aborts as our allocate does).

#include <core/memory.hpp>
#include <core/memory/system/huge_pages.hpp>
#include <core/memory/system/numa.hpp>
#include <core/memory/system/virtual_memory.hpp>
#include <core/memory/tracking/debug_allocator.hpp>
#include <core/memory/tracking/tracking_allocator.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>

namespace test::subjects {

namespace cm = core::memory;

/// A subject that owns an allocator built from the constant arguments `Args`.
template <class A, bool Bounded, auto... Args>
struct Built {
  using allocator = A;
  static constexpr bool bounded = Bounded;
  static constexpr bool graceful = true;
  A& get() { return a; }
  A a{Args...};
};

constexpr std::size_t MiB = std::size_t{1} << 20;

struct Malloc : Built<cm::MallocAllocator, false> {};
struct Aligned : Built<cm::AlignedAllocator<>, false> {};
struct Arena : Built<cm::Arena, false> {};
struct Slab : Built<cm::SlabAllocator, false> {};
struct PoolOfU64 : Built<cm::PoolAllocator<std::uint64_t>, false> {};
struct Stack : Built<cm::StackAllocator, true, MiB> {};
struct FreeList : Built<cm::FreeListAllocator, true, MiB> {};
struct FreeListBestFit : Built<cm::FreeListAllocator, true, MiB, cm::fit_policy::best> {};
struct Buddy : Built<cm::BuddyAllocator, true, std::size_t{64}, MiB> {};
struct Pool : Built<cm::MemoryPool, false, std::size_t{64}, std::size_t{16}> {};
struct Growing : Built<cm::GrowingPool, false, std::size_t{24}, std::size_t{8}> {};
struct Concurrent : Built<cm::ConcurrentPool, false, std::size_t{64}, std::size_t{16}> {};
struct ConcurrentOfU64 : Built<cm::ConcurrentPoolAllocator<std::uint64_t>, false> {};
struct ThreadPool : Built<cm::ThreadPoolAllocator, false> {};
struct General : Built<cm::GeneralAllocator, false> {};

/// A pool used through the calling thread's cache (its ThreadCache), taken on the test's thread.
template <class Pool, auto... Args>
struct ThroughThreadCache {
  using allocator = typename Pool::ThreadCache;
  static constexpr bool bounded = false;
  static constexpr bool graceful = true;
  allocator& get() { return a; }
  Pool pool{Args...};
  allocator a = pool.thread_cache();
};
struct ConcurrentCache : ThroughThreadCache<cm::ConcurrentPool, std::size_t{64}, std::size_t{16}> {};
struct ThreadPoolCache : ThroughThreadCache<cm::ThreadPoolAllocator> {};

struct Node128 {
  alignas(16) std::byte bytes[128];
};

struct Segregated : Built<cm::Segregator<128, cm::PoolAllocator<Node128>, cm::MallocAllocator>, false> {};

struct StackThenHeap {
  using allocator = cm::FallbackAllocator<cm::StackAllocator, cm::MallocAllocator>;
  static constexpr bool bounded = false;
  static constexpr bool graceful = true;
  allocator& get() { return a; }
  allocator a{cm::StackAllocator(8192), cm::MallocAllocator{}};
};

/// An Arena::ResourceScope (a std::pmr::memory_resource) reached through MemoryResourceAllocator.
struct ArenaScope {
  using allocator = cm::MemoryResourceAllocator;
  static constexpr bool bounded = false;
  static constexpr bool graceful = cm::exceptions_enabled;
  allocator& get() { return a; }
  cm::Arena arena;
  cm::Arena::ResourceScope scope{arena};
  allocator a{&scope};
};

/// MemoryResourceAdapter (RawAllocator -> pmr) and MemoryResourceAllocator (pmr -> RawAllocator)
/// back to back, over an Arena.
struct PmrRoundTrip {
  using allocator = cm::MemoryResourceAllocator;
  static constexpr bool bounded = false;
  static constexpr bool graceful = cm::exceptions_enabled;
  allocator& get() { return a; }
  cm::Arena arena;
  cm::MemoryResourceAdapter<cm::Arena> adapter{arena};
  allocator a{&adapter};
};

/// MemoryResourceAllocator over a standard resource with a fixed buffer and no upstream.
struct PmrMonotonic {
  using allocator = cm::MemoryResourceAllocator;
  static constexpr bool bounded = false;
  static constexpr bool graceful = cm::exceptions_enabled;
  allocator& get() { return a; }
  alignas(4096) std::array<std::byte, 1 << 22> buffer;
  std::pmr::monotonic_buffer_resource resource{buffer.data(), buffer.size(), std::pmr::null_memory_resource()};
  allocator a{&resource};
};

// The system layer's allocators.
struct Pages : Built<cm::PageAllocator, false> {};
struct Reservation : Built<cm::VirtualMemoryAllocator, true, cm::VirtualMemoryAllocator::Options{.reserve = MiB}> {};
struct HugePages : Built<cm::HugePageAllocator, false> {};
struct NumaBound {
  using allocator = cm::NumaAllocator<>;
  static constexpr bool bounded = false;
  static constexpr bool graceful = true;
  allocator& get() { return a; }
  allocator a{cm::NumaPolicy::bind, cm::NodeSet::online()};
};

// The tracking layer's wrappers: over the heap, and (the debug one) over a bounded stack, without a
// quarantine so that its frees reach the stack newest first.
struct Tracked {
  using allocator = cm::TrackingAllocator<cm::MallocAllocator>;
  static constexpr bool bounded = false;
  static constexpr bool graceful = true;
  allocator& get() { return a; }
  cm::MemoryTracker tracker;
  allocator a{{.name = "subject", .tracker = &tracker}};
};
struct Debug : Built<cm::DebugAllocator<cm::MallocAllocator>, false, cm::DebugAllocatorOptions{}> {};
struct DebugOverStack
    : Built<cm::DebugAllocator<cm::StackAllocator>, true, cm::DebugAllocatorOptions{.quarantine_blocks = 0}, MiB> {};

using All = ::testing::Types<Malloc, Aligned, Arena, ArenaScope, Stack, FreeList, FreeListBestFit, Buddy, Slab, Pool,
                             PoolOfU64, Growing, Concurrent, ConcurrentOfU64, ConcurrentCache, ThreadPool,
                             ThreadPoolCache, General, Segregated,
                             StackThenHeap, PmrRoundTrip, PmrMonotonic, Pages, Reservation, HugePages, NumaBound,
                             Tracked, Debug, DebugOverStack>;

/// A fresh subject for each test (on the heap: some hold large buffers); `a` is its allocator.
template <class S>
class Fixture : public ::testing::Test {
 protected:
  std::unique_ptr<S> subject = std::make_unique<S>();
  typename S::allocator& a = subject->get();
};

/// Names the subjects in test output.
struct Names {
  template <class S>
  static std::string GetName(int) {
    std::string n = ::testing::internal::GetTypeName<S>();
    const auto colon = n.rfind(':');
    return colon == std::string::npos ? n : n.substr(colon + 1);
  }
};

}  // namespace test::subjects
