#pragma once
/// GrowingPool: a MemoryPool whose chunks start small and double in size up to a bound, so a pool
/// that stays small costs little and one that grows needs few upstream calls.

#include <core/memory/pool/memory_pool.hpp>

namespace core::memory {

template <RawAllocator Upstream = MallocAllocator>
class CORE_MEMORY_LEVEL_ABI BasicGrowingPool : public BasicMemoryPool<Upstream> {
 public:
  static constexpr const char* allocator_name = "core::memory::GrowingPool";

  /// Nodes of `node_size` bytes; the first chunk holds `initial_nodes`, each next one twice as
  /// many up to `max_nodes_per_chunk`; at most `max_nodes` nodes in all.
  explicit BasicGrowingPool(std::size_t node_size, std::size_t node_alignment = alignof(std::max_align_t),
                            std::size_t initial_nodes = 16, std::size_t max_nodes_per_chunk = 65536,
                            std::size_t max_nodes = SIZE_MAX)
    requires allocator_traits<Upstream>::is_stateless
      : BasicMemoryPool<Upstream>(detail::allocator_ref<Upstream>(Upstream{}), node_size, node_alignment,
                                  initial_nodes, max_nodes_per_chunk, max_nodes, allocator_name) {}

  BasicGrowingPool(Upstream& upstream, std::size_t node_size, std::size_t node_alignment = alignof(std::max_align_t),
                   std::size_t initial_nodes = 16, std::size_t max_nodes_per_chunk = 65536,
                   std::size_t max_nodes = SIZE_MAX)
      : BasicMemoryPool<Upstream>(detail::allocator_ref<Upstream>(upstream), node_size, node_alignment,
                                  initial_nodes, max_nodes_per_chunk, max_nodes, allocator_name) {}
};

using GrowingPool = BasicGrowingPool<>;
static_assert(RawAllocator<GrowingPool>);

}  // namespace core::memory
