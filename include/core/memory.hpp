#pragma once
/// core-memory: every public header of the library.

#include <core/memory/util/align.hpp>
#include <core/memory/util/aligned_storage.hpp>
#include <core/memory/util/assert.hpp>
#include <core/memory/util/cache_line.hpp>
#include <core/memory/util/config.hpp>
#include <core/memory/util/error.hpp>
#include <core/memory/util/memory_barrier.hpp>
#include <core/memory/util/memory_utils.hpp>
#include <core/memory/util/prefetch.hpp>
#include <core/memory/util/sanitizer.hpp>
#include <core/memory/util/size_math.hpp>
#include <core/memory/util/source_location.hpp>

#include <core/memory/core/aligned_allocator.hpp>
#include <core/memory/core/allocator_traits.hpp>
#include <core/memory/core/malloc_allocator.hpp>
#include <core/memory/core/memory_resource.hpp>
#include <core/memory/core/std_allocator.hpp>

#include <core/memory/allocator/arena.hpp>
#include <core/memory/allocator/buddy_allocator.hpp>
#include <core/memory/allocator/fallback_allocator.hpp>
#include <core/memory/allocator/freelist_allocator.hpp>
#include <core/memory/allocator/pool_allocator.hpp>
#include <core/memory/allocator/segregator.hpp>
#include <core/memory/allocator/slab_allocator.hpp>
#include <core/memory/allocator/stack_allocator.hpp>

#include <core/memory/pool/concurrent_pool.hpp>
#include <core/memory/pool/general_allocator.hpp>
#include <core/memory/pool/growing_pool.hpp>
#include <core/memory/pool/memory_pool.hpp>
#include <core/memory/pool/object_pool.hpp>
#include <core/memory/pool/thread_pool_allocator.hpp>

#include <core/memory/container/bump_vector.hpp>
#include <core/memory/container/circular_buffer.hpp>
#include <core/memory/container/flat_map.hpp>
#include <core/memory/container/flat_set.hpp>
#include <core/memory/container/intrusive_list.hpp>
#include <core/memory/container/small_vector.hpp>
#include <core/memory/container/stable_vector.hpp>
