#pragma once
/// memory_stats: the figures of one named allocator, and the registry that lists every live
/// TrackingAllocator's figures (so a report can say how much "the frame arena" or "the message
/// pool" holds).

#include <cstddef>
#include <optional>
#include <vector>

namespace core::memory {

class MemoryTracker;

/// Figures of one allocator. Counts are exact (kept by the wrapper, whatever the tracker's mode).
struct memory_stats {
  const char* name = "";
  std::size_t bytes_in_use = 0;      ///< Handed out and not yet freed.
  std::size_t peak_bytes = 0;        ///< Highest bytes_in_use.
  std::size_t allocation_count = 0;  ///< Allocations since the allocator was made.
  std::size_t live_count = 0;        ///< Blocks handed out and not yet freed.
  /// What the wrapped allocator holds from its own upstream (its bytes_allocated(), e.g. an
  /// arena's blocks), when it reports it.
  std::optional<std::size_t> upstream_bytes;
  /// The wrapped allocator's fragmentation() (0..1), when it has one.
  std::optional<double> fragmentation;
  const MemoryTracker* tracker = nullptr;  ///< Where its blocks are recorded (null: none).
};

/// The figures of every live registered allocator, in registration order. Takes the registry's
/// lock; reading the wrapped allocator's upstream_bytes/fragmentation is not synchronised with
/// that allocator's own use, so for allocators that are not thread-safe call it from the thread
/// that uses them (the wrapper's own counters may be read from anywhere).
[[nodiscard]] std::vector<memory_stats> live_allocator_stats();

namespace detail {

/// A registry entry: TrackingAllocator embeds one and links it for its lifetime.
struct StatsSource {
  StatsSource* prev = nullptr;
  StatsSource* next = nullptr;
  const void* owner = nullptr;
  memory_stats (*read)(const void* owner) = nullptr;
};

void register_stats_source(StatsSource* source) noexcept;
void unregister_stats_source(StatsSource* source) noexcept;

}  // namespace detail
}  // namespace core::memory
