#pragma once
/// Bridges between our allocators and std::pmr, both ways:
/// - MemoryResourceAdapter<A>: any RawAllocator as a std::pmr::memory_resource, so
///   std::pmr::vector and every pmr-aware library can run on an Arena, a pool, ...
/// - MemoryResourceAllocator: any std::pmr::memory_resource as a RawAllocator, so our containers
///   and StdAllocator can draw from monotonic_buffer_resource, a pool resource, or a user resource.
/// Prefer the direct template path (StdAllocator<T, A>) in hot code: each pmr call is virtual.

#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/util/align.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/error.hpp>

#include <cstddef>
#include <memory_resource>

namespace core::memory {

/// Exposes the RawAllocator `A` as a std::pmr::memory_resource. Holds `A` as StdAllocator does:
/// by value if stateless or a handle, else by reference (keep the allocator alive).
/// Two adapters compare equal if they use the same allocator (stateless: always).
template <RawAllocator A>
class MemoryResourceAdapter final : public std::pmr::memory_resource {
  using traits = allocator_traits<A>;

 public:
  MemoryResourceAdapter() noexcept
    requires traits::is_stateless
  = default;

  explicit MemoryResourceAdapter(A& a) noexcept : ref_(a) {}

  /// Copies a stateless or handle allocator.
  explicit MemoryResourceAdapter(const A& a) noexcept
    requires traits::stored_by_value
      : ref_(a) {}

  /// The wrapped allocator.
  [[nodiscard]] A& allocator() const noexcept { return ref_.get(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    return traits::allocate(ref_.get(), bytes, alignment);
  }

  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    traits::deallocate(ref_.get(), p, bytes, alignment);
  }

  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    if (this == &other) return true;
#if CORE_MEMORY_RTTI
    const auto* o = dynamic_cast<const MemoryResourceAdapter*>(&other);
    return o != nullptr && o->ref_ == ref_;
#else
    return false;  // Without RTTI only identity is known; containers then copy instead of steal.
#endif
  }

  [[no_unique_address]] detail::allocator_ref<A> ref_;
};

/// A std::pmr::memory_resource as a RawAllocator. A handle: copies share the resource, which
/// must outlive them. Exhaustion is whatever the resource throws (std::bad_alloc for the standard
/// ones). Thread-safe only if the resource is, so declared not thread-safe.
class MemoryResourceAllocator {
 public:
  static constexpr const char* allocator_name = "core::memory::MemoryResourceAllocator";
  static constexpr bool is_handle = true;
  static constexpr bool is_thread_safe = false;

  /// Uses std::pmr::get_default_resource().
  MemoryResourceAllocator() noexcept : resource_(std::pmr::get_default_resource()) {}

  /// Uses `resource` (must not be null).
  MemoryResourceAllocator(std::pmr::memory_resource* resource) noexcept  // NOLINT: as polymorphic_allocator
      : resource_(resource) {
    CORE_MEMORY_HARDEN_ASSERT(allocator_name, resource != nullptr, "null memory resource");
  }

  /// `size` bytes from the resource. An alignment that is not a power of two (a precondition of
  /// std::pmr) is reported here, then fails as exhaustion.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t alignment) {
    if (!is_valid_alignment(alignment)) [[unlikely]]
      detail::fail_invalid_alignment(allocator_name, size, alignment);
    return resource_->allocate(size, alignment);
  }

  /// As allocate, but nullptr when the resource throws std::bad_alloc (without exceptions, only
  /// for an invalid alignment: a resource's exhaustion then terminates).
  [[nodiscard]] void* try_allocate(std::size_t size, std::size_t alignment) noexcept {
    if (!is_valid_alignment(alignment)) [[unlikely]] {
      detail::report_invalid_alignment(allocator_name, size, alignment);
      return nullptr;
    }
#if CORE_MEMORY_EXCEPTIONS
    try {
      return resource_->allocate(size, alignment);
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
#else
    return resource_->allocate(size, alignment);
#endif
  }

  void deallocate(void* p, std::size_t size, std::size_t alignment) noexcept {
    resource_->deallocate(p, size, alignment);
  }

  /// The resource drawn from.
  [[nodiscard]] std::pmr::memory_resource* resource() const noexcept { return resource_; }

  /// Equal if the resources are equal (pmr's is_equal).
  friend bool operator==(const MemoryResourceAllocator& a, const MemoryResourceAllocator& b) noexcept {
    return a.resource_ == b.resource_ || a.resource_->is_equal(*b.resource_);
  }

 private:
  std::pmr::memory_resource* resource_;
};

static_assert(RawAllocator<MemoryResourceAllocator>);

}  // namespace core::memory
