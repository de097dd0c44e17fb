#pragma once
// Allocators whose pointer is offset_ptr<T>, for testing the containers on fancy pointers:
// - OffsetHeapAllocator<T>: stateless, over operator new (the containers' code paths with an
//   offset_ptr, in ordinary memory).
// - RegionArena + RegionAllocator<T>: an arena whose header and blocks live in one memory region
//   (a memfd that a test maps twice, at two addresses), with an allocator that holds an offset_ptr
//   to the header, so the allocator object is itself position-independent, like the managed
//   segment's SharedMemoryAllocator: not always equal, never propagated. The arena checks every
//   deallocation against the block it was given (size, double free) and counts live blocks.
// - TwoMappings: one memfd mapped at two addresses (writes through one are read through the other).
// - WithAllocator<T, A>: an element type and an allocator template, the parameter of the typed
//   tests that run once with std::allocator and once with OffsetHeapAllocator.

#include <core/memory/system/offset_ptr.hpp>
#include <core/memory/system/os.hpp>
#include <core/memory/util/sanitizer.hpp>

#include "support/element_types.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

namespace core::memory::test {

template <class T>
struct OffsetHeapAllocator {
  using value_type = T;
  using pointer = offset_ptr<T>;
  using const_pointer = offset_ptr<const T>;
  using void_pointer = offset_ptr<void>;
  using const_void_pointer = offset_ptr<const void>;
  OffsetHeapAllocator() = default;
  template <class U>
  OffsetHeapAllocator(const OffsetHeapAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  pointer allocate(std::size_t n) { return pointer(std::allocator<T>().allocate(n)); }
  void deallocate(pointer p, std::size_t n) noexcept { std::allocator<T>().deallocate(p.get(), n); }
  friend bool operator==(OffsetHeapAllocator, OffsetHeapAllocator) noexcept { return true; }
};

/// An element type and an allocator template: the parameter of typed tests over both.
template <class T, template <class> class A>
struct WithAllocator {
  using value_type = T;
  template <class U>
  using allocator = A<U>;
  static constexpr bool offset = !std::is_same_v<A<T>, std::allocator<T>>;
};

/// ElementTypes, each with std::allocator and with OffsetHeapAllocator (the differential tests').
using ElementAllocatorTypes =
    ::testing::Types<WithAllocator<int, std::allocator>, WithAllocator<std::string, std::allocator>,
                     WithAllocator<std::unique_ptr<int>, std::allocator>, WithAllocator<Counted, std::allocator>,
                     WithAllocator<int, OffsetHeapAllocator>, WithAllocator<std::string, OffsetHeapAllocator>,
                     WithAllocator<std::unique_ptr<int>, OffsetHeapAllocator>,
                     WithAllocator<Counted, OffsetHeapAllocator>>;

/// A bump arena living at the start of the region it carves (offsets only, no address inside).
/// Blocks are never reused; each has a header with its size and a live mark.
class RegionArena {
 public:
  /// Builds an arena over [at, at + bytes).
  static RegionArena* create(void* at, std::size_t bytes) noexcept { return ::new (at) RegionArena(bytes); }

  void* allocate(std::size_t bytes, std::size_t alignment) {
    const std::size_t align = alignment > alignof(Block) ? alignment : alignof(Block);
    const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(this);
    std::uintptr_t user = (base + top_ + sizeof(Block) + align - 1) & ~(std::uintptr_t{align} - 1);
    if (bytes > capacity_ || user + bytes > base + capacity_) {
#if CORE_MEMORY_EXCEPTIONS
      throw std::bad_alloc();
#else
      ADD_FAILURE() << "RegionArena exhausted";
      std::abort();
#endif
    }
    auto* block = reinterpret_cast<Block*>(user - sizeof(Block));
    block->size = bytes;
    block->magic = live_magic;
    top_ = user + bytes - base;
    ++live_blocks_;
    return reinterpret_cast<void*>(user);
  }
  void deallocate(void* p, std::size_t bytes) noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(p), base = reinterpret_cast<std::uintptr_t>(this);
    if (at < base + sizeof(RegionArena) + sizeof(Block) || at >= base + top_) {
      ADD_FAILURE() << "RegionArena: " << p << " is not a block of this arena (a pointer into another mapping?)";
      return;
    }
    auto* block = reinterpret_cast<Block*>(at - sizeof(Block));
    if (block->magic != live_magic) {
      ADD_FAILURE() << "RegionArena: " << p << " freed twice or never allocated";
      return;
    }
    if (block->size != bytes) ADD_FAILURE() << "RegionArena: block of " << block->size << " bytes freed as " << bytes;
    block->magic = freed_magic;
    --live_blocks_;
  }
  /// Blocks allocated and not yet freed.
  [[nodiscard]] std::size_t live_blocks() const noexcept { return live_blocks_; }
  /// Bytes used from the start of the region (the arena never reuses them).
  [[nodiscard]] std::size_t used() const noexcept { return top_; }

 private:
  struct alignas(16) Block {
    std::size_t size;
    std::uint64_t magic;
  };
  static constexpr std::uint64_t live_magic = 0x4C495645424C4B31u, freed_magic = 0x4652454544424C4Bu;
  explicit RegionArena(std::size_t capacity) noexcept : capacity_(capacity) {}

  std::size_t capacity_;
  std::size_t top_ = sizeof(RegionArena);
  std::size_t live_blocks_ = 0;
};

/// A std allocator over a RegionArena, with offset_ptr as its pointer; it holds an offset_ptr to
/// the arena, so an allocator stored in the region (inside a container) works through any mapping.
template <class T>
class RegionAllocator {
 public:
  using value_type = T;
  using pointer = offset_ptr<T>;
  using const_pointer = offset_ptr<const T>;
  using void_pointer = offset_ptr<void>;
  using const_void_pointer = offset_ptr<const void>;
  // As SharedMemoryAllocator: equal iff the same arena; never propagated.
  using is_always_equal = std::false_type;

  explicit RegionAllocator(RegionArena* arena) noexcept : arena_(arena) {}
  RegionAllocator(const RegionAllocator& o) noexcept : arena_(o.arena()) {}
  template <class U>
  RegionAllocator(const RegionAllocator<U>& o) noexcept : arena_(o.arena()) {}  // NOLINT(google-explicit-constructor)
  RegionAllocator& operator=(const RegionAllocator& o) noexcept {
    arena_ = o.arena();
    return *this;
  }

  pointer allocate(std::size_t n) {
    return pointer(static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T))));
  }
  void deallocate(pointer p, std::size_t n) noexcept { arena_->deallocate(p.get(), n * sizeof(T)); }

  [[nodiscard]] RegionArena* arena() const noexcept { return arena_.get(); }
  template <class U>
  friend bool operator==(const RegionAllocator& a, const RegionAllocator<U>& b) noexcept {
    return a.arena() == b.arena();
  }

 private:
  offset_ptr<RegionArena> arena_;
};

/// One memfd of `size` bytes mapped twice, at two different addresses.
class TwoMappings {
 public:
  explicit TwoMappings(std::size_t size) : size_(size) {
    namespace os = detail::os;
    if (os::create_anonymous_file(&fd_) != 0 || os::resize_file(fd_, size) != 0 ||
        os::map(fd_, 0, size, os::map_mode::read_write, false, nullptr, &a_) != 0 ||
        os::map(fd_, 0, size, os::map_mode::read_write, false, nullptr, &b_) != 0) {
      ADD_FAILURE() << "cannot map a memfd twice";
      std::abort();
    }
  }
  TwoMappings(const TwoMappings&) = delete;
  TwoMappings& operator=(const TwoMappings&) = delete;
  ~TwoMappings() {
    lock_a(false);
    // Containers annotated their buffers for AddressSanitizer at addresses of both mappings: clear
    // that before the address ranges can be reused.
    unpoison_memory(a_, size_);
    unpoison_memory(b_, size_);
    detail::os::release(a_, size_);
    detail::os::release(b_, size_);
    detail::os::close_file(fd_);
  }
  [[nodiscard]] void* a() const noexcept { return a_; }
  [[nodiscard]] void* b() const noexcept { return b_; }
  /// The address in mapping b of what is at `p` in mapping a.
  template <class T>
  [[nodiscard]] T* in_b(T* p) const noexcept {
    return reinterpret_cast<T*>(static_cast<char*>(b_) + (reinterpret_cast<char*>(p) - static_cast<char*>(a_)));
  }
  /// The address in mapping a of what is at `p` in mapping b.
  template <class T>
  [[nodiscard]] T* in_a(T* p) const noexcept {
    return reinterpret_cast<T*>(static_cast<char*>(a_) + (reinterpret_cast<char*>(p) - static_cast<char*>(b_)));
  }
  /// Makes mapping a inaccessible (or accessible again): any address into it that a container
  /// kept instead of an offset faults when used through mapping b.
  void lock_a(bool locked) const noexcept {
    namespace os = detail::os;
    EXPECT_EQ(os::protect(a_, size_, locked ? os::protection::none : os::protection::read_write), 0);
  }

 private:
  std::size_t size_;
  int fd_ = -1;
  void* a_ = nullptr;
  void* b_ = nullptr;
};

}  // namespace core::memory::test
