#pragma once
/// PoolAllocator<T, ChunkSize>: the typed pool of the spec. O(1) allocate/deallocate of single
/// objects of T, chunks of ChunkSize objects, no per-object header. It is also a RawAllocator
/// (requests that fit a T come from the pool, anything else from upstream), so node-based std
/// containers can run on it through StdAllocator.

#include <core/memory/pool/memory_pool.hpp>

namespace core::memory {

template <class T, std::size_t ChunkSize = 1024, RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI PoolAllocator : public BasicMemoryPool<Upstream> {
  using base = BasicMemoryPool<Upstream>;
  static_assert(ChunkSize > 0, "PoolAllocator: ChunkSize must be positive");

 public:
  static constexpr const char* allocator_name = "core::memory::PoolAllocator";
  using value_type = T;

  PoolAllocator()
    requires allocator_traits<Upstream>::is_stateless
      : base(detail::allocator_ref<Upstream>(Upstream{}), sizeof(T), alignof(T), ChunkSize, ChunkSize, SIZE_MAX,
             allocator_name) {}
  explicit PoolAllocator(Upstream& upstream)
      : base(detail::allocator_ref<Upstream>(upstream), sizeof(T), alignof(T), ChunkSize, ChunkSize, SIZE_MAX,
             allocator_name) {}

  /// The RawAllocator interface (see MemoryPool): a node if the request fits a T, else upstream.
  [[nodiscard]] void* allocate(std::size_t size, std::size_t align) { return base::allocate(size, align); }
  void deallocate(void* p, std::size_t size, std::size_t align) noexcept { base::deallocate(p, size, align); }

  /// Storage for one T (n == 1, from the pool) or n contiguous T (from upstream). Throws
  /// out_of_memory, or std::bad_array_new_length if n * sizeof(T) overflows.
  [[nodiscard]] T* allocate(std::size_t n = 1) {
    if (n == 1) [[likely]]
      return static_cast<T*>(base::allocate_node());
    return static_cast<T*>(base::allocate(array_bytes<T>(n, allocator_name), alignof(T)));
  }

  /// Returns storage from allocate(n).
  void deallocate(T* p, std::size_t n = 1) noexcept {
    if (n == 1) [[likely]]
      base::deallocate_node(p);
    else
      base::deallocate(p, n * sizeof(T), alignof(T));
  }

  /// Objects currently allocated from the pool.
  [[nodiscard]] std::size_t objects_allocated() const noexcept { return base::nodes_allocated(); }
};

static_assert(RawAllocator<PoolAllocator<int>>);

}  // namespace core::memory
