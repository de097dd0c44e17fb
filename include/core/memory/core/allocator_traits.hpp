#pragma once
/// The allocator model at the byte level: the RawAllocator concept and allocator_traits, which
/// detects what an allocator offers and fills in what it leaves out.
///
/// A RawAllocator has
///   void* allocate(std::size_t size, std::size_t alignment);       // throws out_of_memory
///   void  deallocate(void* p, std::size_t size, std::size_t alignment) noexcept;
/// and may add
///   void* try_allocate(size, alignment) noexcept;  // nullptr instead of throwing
///   bool owns(const void* p) const noexcept;       // p came from this allocator
///   std::size_t max_size() const noexcept;          // largest request that can succeed
///   std::size_t bytes_allocated() const noexcept;   // bytes handed out and not yet freed
///   std::size_t bytes_available() const noexcept;   // bytes that can still be handed out
/// and these member constants, which override what the traits would detect:
///   is_stateless    instances are interchangeable and hold nothing (default: empty class)
///   is_thread_safe  may be called from several threads at once (default: false)
///   is_handle       copies refer to the same memory, so containers hold it by value (default: false)
///   is_fixed_capacity  bytes_available() bounds every request: the allocator never grows (default: false)
///   owns_every_block  owns(p) holds for every block allocate returned (default: has owns()); false for
///                   a pool that passes the requests it cannot serve to its upstream
///   alignment       alignment every block has whatever was requested (default: 1)
///   allocator_name  const char* used in error messages
/// allocate(0, a) must succeed and return a pointer that deallocate(p, 0, a) accepts. A size and
/// alignment given to deallocate are those given to allocate.
/// An alignment must be a power of two; 0 is not one (as for std::pmr and posix_memalign). Any
/// other value is reported to the misuse handler as invalid_alignment, at every check level, and
/// the request then fails as exhaustion (allocate throws out_of_memory, try_allocate returns
/// null). A power of two too large to serve (2^40, 2^63) is plain exhaustion. max_size() is exact:
/// a larger request always fails.

#include <core/memory/util/error.hpp>
#include <core/memory/util/source_location.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace core::memory {

/// What allocate_at_least returns: the block and how many bytes of it may be used (at least the
/// size asked for), in the spirit of C++23 std::allocator::allocate_at_least.
struct allocation_result {
  void* ptr;
  std::size_t size;
};

/// The byte-level allocator interface every strategy implements.
template <class A>
concept RawAllocator = requires(A& a, void* p, std::size_t n, std::size_t al) {
  { a.allocate(n, al) } -> std::same_as<void*>;
  { a.deallocate(p, n, al) } noexcept;
};

namespace detail {

template <class A>
concept declares_stateless = requires { { A::is_stateless } -> std::convertible_to<bool>; };
template <class A>
concept declares_thread_safe = requires { { A::is_thread_safe } -> std::convertible_to<bool>; };
template <class A>
concept declares_handle = requires { { A::is_handle } -> std::convertible_to<bool>; };
template <class A>
concept declares_fixed_capacity = requires { { A::is_fixed_capacity } -> std::convertible_to<bool>; };
template <class A>
concept declares_owns_every_block = requires { { A::owns_every_block } -> std::convertible_to<bool>; };
template <class A>
concept declares_alignment = requires { { A::alignment } -> std::convertible_to<std::size_t>; };
template <class A>
concept declares_name = requires { { A::allocator_name } -> std::convertible_to<const char*>; };

template <class A>
concept has_try_allocate = requires(A& a, std::size_t n) {
  { a.try_allocate(n, n) } noexcept -> std::same_as<void*>;
};
template <class A>
concept has_owns = requires(const A& a, const void* p) { { a.owns(p) } -> std::convertible_to<bool>; };
template <class A>
concept has_max_size = requires(const A& a) { { a.max_size() } -> std::convertible_to<std::size_t>; };
template <class A>
concept has_bytes_allocated = requires(const A& a) { { a.bytes_allocated() } -> std::convertible_to<std::size_t>; };
template <class A>
concept has_bytes_available = requires(const A& a) { { a.bytes_available() } -> std::convertible_to<std::size_t>; };
template <class A>
concept has_allocate_many = requires(A& a, void** out, std::size_t n) {
  { a.allocate_many(out, n, n, n) } -> std::same_as<void>;
  { a.deallocate_many(out, n, n, n) } noexcept;
};

template <class A>
concept has_allocate_at_least = requires(A& a, std::size_t n) {
  { a.allocate_at_least(n, n) } -> std::same_as<allocation_result>;
};

template <class A>
constexpr bool detect_stateless() {
  if constexpr (declares_stateless<A>) return A::is_stateless;
  else return std::is_empty_v<A> && std::is_default_constructible_v<A>;
}

}  // namespace detail

/// What an allocator is and can do, detected from its type; member constants of the allocator
/// override the detection (see the file comment). Specialise it for a type you cannot change.
template <RawAllocator A>
struct allocator_traits {
  using allocator_type = A;

  /// Instances hold no state and are interchangeable: containers store it by value for free.
  static constexpr bool is_stateless = detail::detect_stateless<A>();

  /// Safe to call from several threads at once.
  static constexpr bool is_thread_safe = [] {
    if constexpr (detail::declares_thread_safe<A>) return bool(A::is_thread_safe);
    else return false;
  }();

  /// Copies refer to the same memory (like a pointer to a resource).
  static constexpr bool is_handle = [] {
    if constexpr (detail::declares_handle<A>) return bool(A::is_handle);
    else return false;
  }();

  /// bytes_available() bounds every request (a fixed region or budget, never grown), so a larger
  /// request is certain to fail. False for allocators that grow (arenas, pools), whose
  /// bytes_available() is only what is left before they next grow.
  static constexpr bool is_fixed_capacity = [] {
    if constexpr (detail::declares_fixed_capacity<A>) return bool(A::is_fixed_capacity);
    else return false;
  }();

  /// A frees only its most recent block (StackAllocator; declared as `frees_newest_first`): an
  /// owner of several of its blocks must give them back newest first.
  static constexpr bool frees_newest_first = [] {
    if constexpr (requires { A::frees_newest_first; }) return bool(A::frees_newest_first);
    else return false;
  }();

  /// Containers hold the allocator by value (else by reference to one the user keeps alive).
  static constexpr bool stored_by_value = is_stateless || is_handle;

  /// Alignment every block has, whatever alignment was requested.
  static constexpr std::size_t alignment = [] {
    if constexpr (detail::declares_alignment<A>) return std::size_t(A::alignment);
    else return std::size_t(1);
  }();

  /// Name used in error messages.
  static constexpr const char* name = [] {
    if constexpr (detail::declares_name<A>) return static_cast<const char*>(A::allocator_name);
    else return "allocator";
  }();

  static constexpr bool has_try_allocate = detail::has_try_allocate<A>;
  static constexpr bool has_owns = detail::has_owns<A>;
  /// owns(p) tells every block of this allocator (what routing by owns() needs, as
  /// FallbackAllocator's deallocate does).
  static constexpr bool owns_every_block = [] {
    if constexpr (detail::declares_owns_every_block<A>) return bool(A::owns_every_block);
    else return has_owns;
  }();
  static constexpr bool has_bytes_allocated = detail::has_bytes_allocated<A>;
  static constexpr bool has_bytes_available = detail::has_bytes_available<A>;

  /// Whether A takes the caller's site (TrackingAllocator, DebugAllocator): the functions below
  /// then pass on their own caller's, so a block allocated through them is recorded where the
  /// call was made, not here.
  static constexpr bool takes_location = requires(A& a, std::size_t n, SourceLocation loc) { a.allocate(n, n, loc); };

  /// Allocates `size` bytes aligned to `alignment`; throws out_of_memory on exhaustion.
  [[nodiscard]] static void* allocate(A& a, std::size_t size, std::size_t align,
                                      [[maybe_unused]] SourceLocation loc = SourceLocation::current()) {
    if constexpr (takes_location) return a.allocate(size, align, loc);
    else return a.allocate(size, align);
  }

  /// Returns a block obtained from allocate or try_allocate with the same size and alignment.
  static void deallocate(A& a, void* p, std::size_t size, std::size_t align) noexcept {
    a.deallocate(p, size, align);
  }

  /// Like allocate, but returns nullptr on exhaustion. Falls back to catching std::bad_alloc
  /// from allocate (without exceptions, to allocate itself) when A has no try_allocate.
  [[nodiscard]] static void* try_allocate(A& a, std::size_t size, std::size_t align,
                                          [[maybe_unused]] SourceLocation loc = SourceLocation::current()) noexcept {
    if constexpr (has_try_allocate && takes_location) {
      return a.try_allocate(size, align, loc);
    } else if constexpr (has_try_allocate) {
      return a.try_allocate(size, align);
    } else {
#if CORE_MEMORY_EXCEPTIONS
      try {
        return allocate(a, size, align, loc);
      } catch (const std::bad_alloc&) {
        return nullptr;
      }
#else
      return allocate(a, size, align, loc);
#endif
    }
  }

  /// Largest size that could ever succeed (PTRDIFF_MAX if A does not say).
  [[nodiscard]] static std::size_t max_size(const A& a) noexcept {
    if constexpr (detail::has_max_size<A>) return a.max_size();
    else return static_cast<std::size_t>(PTRDIFF_MAX);
  }

  /// A block of at least `size` bytes and how much of it may be used: allocators that round up
  /// (pools, buddy, slab, arena) report the rounded size, others exactly `size`. Every reported
  /// byte may be written. Free it with deallocate(p, n, align) for any n from the size asked for
  /// to the size reported (C++23's rule).
  [[nodiscard]] static allocation_result allocate_at_least(A& a, std::size_t size, std::size_t align,
                                                          SourceLocation loc = SourceLocation::current()) {
    if constexpr (detail::has_allocate_at_least<A>) return a.allocate_at_least(size, align);
    else return {allocate(a, size, align, loc), size};
  }

  /// True if `p` came from `a`. Only for allocators that can tell.
  [[nodiscard]] static bool owns(const A& a, const void* p) noexcept
    requires has_owns
  {
    return a.owns(p);
  }

  /// Allocates `count` separate blocks into out[0..count); all or nothing: on exhaustion frees
  /// what it got and throws out_of_memory.
  static void allocate_many(A& a, void** out, std::size_t count, std::size_t size, std::size_t align) {
    if constexpr (detail::has_allocate_many<A>) {
      a.allocate_many(out, count, size, align);
    } else {
      for (std::size_t i = 0; i < count; ++i) {
        out[i] = try_allocate(a, size, align);
        if (!out[i]) [[unlikely]] {
          deallocate_many(a, out, i, size, align);
          throw_out_of_memory(name, size, align);
        }
      }
    }
  }

  /// Frees `count` blocks of the same size and alignment, the last first (blocks in the order
  /// allocate_many gave them, so a StackAllocator gets them back in LIFO order).
  static void deallocate_many(A& a, void* const* blocks, std::size_t count, std::size_t size,
                              std::size_t align) noexcept {
    if constexpr (detail::has_allocate_many<A>) {
      a.deallocate_many(const_cast<void**>(blocks), count, size, align);
    } else {
      // Newest first: the order every allocator takes, a stack's the only one it takes.
      for (std::size_t i = count; i-- > 0;) a.deallocate(blocks[i], size, align);
    }
  }
};

namespace detail {

/// The allocate of an allocator that has try_allocate: throws out_of_memory where it returns null.
template <class A>
[[nodiscard]] CORE_MEMORY_ALWAYS_INLINE void* allocate_or_throw(A& a, std::size_t size, std::size_t align) {
  void* p = a.try_allocate(size, align);
  if (!p) [[unlikely]]
    throw_out_of_memory(allocator_traits<A>::name, size, align);
  return p;
}

/// How containers and adapters hold an allocator: by value if it is stateless or a handle, by
/// pointer otherwise (the user keeps it alive). Empty for stateless allocators.
template <RawAllocator A, bool ByValue = allocator_traits<A>::stored_by_value>
class allocator_ref;

template <RawAllocator A>
class allocator_ref<A, true> {
 public:
  allocator_ref() noexcept(std::is_nothrow_default_constructible_v<A>)
    requires std::is_default_constructible_v<A>
  = default;
  allocator_ref(const A& a) noexcept(std::is_nothrow_copy_constructible_v<A>) : a_(a) {}
  A& get() const noexcept { return a_; }
  friend bool operator==(const allocator_ref& x, const allocator_ref& y) noexcept {
    if constexpr (allocator_traits<A>::is_stateless) return true;
    else return x.a_ == y.a_;
  }

 private:
  [[no_unique_address]] mutable A a_{};
};

template <RawAllocator A>
class allocator_ref<A, false> {
 public:
  allocator_ref(A& a) noexcept : a_(&a) {}
  A& get() const noexcept { return *a_; }
  friend bool operator==(const allocator_ref& x, const allocator_ref& y) noexcept { return x.a_ == y.a_; }

 private:
  A* a_;
};

}  // namespace detail
}  // namespace core::memory
