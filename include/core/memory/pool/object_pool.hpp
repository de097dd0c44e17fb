#pragma once
/// ObjectPool<T>: type-safe pool of constructed objects. acquire() constructs a T in a pooled
/// node, release() destroys it and recycles the node, both O(1); make_unique() returns a
/// move-only RAII handle that releases on destruction.

#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/util/assert.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace core::memory {

/// `NodePool` is the node pool underneath: BasicMemoryPool (single-threaded) or
/// BasicConcurrentPool (ConcurrentObjectPool: any thread may acquire and release).
template <class T, RawAllocator Upstream = MallocAllocator, class NodePool = BasicMemoryPool<Upstream>>
class CORE_MEMORY_LEVEL_ABI ObjectPool {
 public:
  static constexpr const char* allocator_name = "core::memory::ObjectPool";
  using value_type = T;

  /// Move-only owner of one pooled object; releases it to its pool when destroyed or reset.
  class UniquePtr {
   public:
    UniquePtr() noexcept = default;
    UniquePtr(T* ptr, ObjectPool* pool) noexcept : ptr_(ptr), pool_(pool) {}
    UniquePtr(UniquePtr&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), pool_(o.pool_) {}
    UniquePtr& operator=(UniquePtr&& o) noexcept {
      if (this != &o) {
        reset();
        ptr_ = std::exchange(o.ptr_, nullptr);
        pool_ = o.pool_;
      }
      return *this;
    }
    UniquePtr(const UniquePtr&) = delete;
    UniquePtr& operator=(const UniquePtr&) = delete;
    ~UniquePtr() { reset(); }

    /// Releases the object (if any) to its pool.
    void reset() noexcept {
      if (ptr_) pool_->release(std::exchange(ptr_, nullptr));
    }
    /// Gives up ownership without releasing; the caller must release() it to the pool.
    [[nodiscard]] T* detach() noexcept { return std::exchange(ptr_, nullptr); }

    [[nodiscard]] T* get() const noexcept { return ptr_; }
    [[nodiscard]] ObjectPool* pool() const noexcept { return pool_; }
    T& operator*() const noexcept { return *ptr_; }
    T* operator->() const noexcept { return ptr_; }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

   private:
    T* ptr_ = nullptr;
    ObjectPool* pool_ = nullptr;
  };

  /// A pool whose chunks hold `block_size` objects (nothing is allocated before first use).
  explicit ObjectPool(std::size_t block_size = 32)
    requires allocator_traits<Upstream>::is_stateless
      : ObjectPool(detail::allocator_ref<Upstream>(Upstream{}), block_size) {}
  ObjectPool(Upstream& upstream, std::size_t block_size = 32)
      : ObjectPool(detail::allocator_ref<Upstream>(upstream), block_size) {}

  ObjectPool(const ObjectPool&) = delete;
  ObjectPool& operator=(const ObjectPool&) = delete;

  /// Objects still acquired when the pool dies are reported as a leak in debug builds; their
  /// destructors are not run (the pool cannot know which nodes are live).
  ~ObjectPool() {
    if constexpr (checks::debug) {
      if (pool_.nodes_allocated() != 0)
        report_misuse({error_kind::leak, pool_.name(), nullptr, pool_.nodes_allocated() * sizeof(T), alignof(T),
                       "objects still acquired when the pool was destroyed", nullptr, 0});
    }
  }

  /// Constructs a T from `args` in a pooled node. Throws out_of_memory, or whatever T's
  /// constructor throws (the node is then returned).
  template <class... Args>
  [[nodiscard]] T* acquire(Args&&... args) {
    void* node = pool_.allocate_node();
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      return ::new (node) T(std::forward<Args>(args)...);
    } else {
      struct Guard {
        NodePool* pool;
        void* node;
        ~Guard() {
          if (node) pool->deallocate_node(node);
        }
      } guard{&pool_, node};
      T* obj = ::new (node) T(std::forward<Args>(args)...);
      guard.node = nullptr;
      return obj;
    }
  }

  /// Destroys `obj` and recycles its node. O(1). Misuse is caught before the destructor runs, as
  /// MemoryPool::deallocate_node catches it: a double release or a pointer outside the pool's
  /// address range in hardened builds; also an object of another pool whose chunks interleave
  /// with this one's, or an interior pointer, in debug builds.
  void release(T* obj) noexcept {
    if (!obj) return;
    if constexpr (checks::hardened) {
      if (!pool_.validate_free(obj)) [[unlikely]]
        return;
    }
    std::destroy_at(obj);
    pool_.deallocate_node_unchecked(obj);
  }

  /// acquire() wrapped in a UniquePtr.
  template <class... Args>
  [[nodiscard]] UniquePtr make_unique(Args&&... args) {
    return UniquePtr(acquire(std::forward<Args>(args)...), this);
  }

  /// Makes room for `count` objects in total.
  void reserve(std::size_t count) { pool_.reserve(count); }
  /// Returns empty chunks upstream.
  void shrink_to_fit() noexcept { pool_.shrink_to_fit(); }

  /// Objects currently acquired.
  [[nodiscard]] std::size_t size() const noexcept { return pool_.nodes_allocated(); }
  /// Objects the pool can hold without allocating.
  [[nodiscard]] std::size_t capacity() const noexcept { return pool_.capacity(); }
  /// See MemoryPool::fragmentation.
  [[nodiscard]] double fragmentation() const noexcept { return pool_.fragmentation(); }
  /// True if `p` points into one of the pool's nodes.
  [[nodiscard]] bool owns(const T* p) const noexcept { return pool_.owns(p); }
  /// The node pool underneath.
  [[nodiscard]] const NodePool& memory_pool() const noexcept { return pool_; }

 private:
  ObjectPool(detail::allocator_ref<Upstream> upstream, std::size_t block_size)
      : pool_(make_pool(upstream, block_size)) {}

  static NodePool make_pool(detail::allocator_ref<Upstream> upstream, std::size_t block_size) {
    if constexpr (std::is_same_v<NodePool, BasicMemoryPool<Upstream>>)
      return NodePool(upstream, sizeof(T), alignof(T), block_size, block_size, SIZE_MAX, allocator_name);
    else
      return NodePool(upstream, sizeof(T), alignof(T), block_size, 0, "core::memory::ConcurrentObjectPool");
  }

  NodePool pool_;
};

}  // namespace core::memory
